/* Uses the public API only: writes, reads back, checks, prints one line. */
#include <safefs.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "consumer-out.txt";
  void *data;
  size_t size;
  int rc = safefs_write_file(path, "vendored", 8, 0);
  if (rc != 0) {
    fprintf(stderr, "write: %s\n", safefs_strerror(rc));
    return 1;
  }
  rc = safefs_read_file(path, &data, &size);
  if (rc != 0 || size != 8 || memcmp(data, "vendored", 8) != 0) {
    fprintf(stderr, "read back failed\n");
    return 1;
  }
  safefs_free(data);
  printf("consumer ok, safefs %s\n", safefs_version_string());
  return safefs_version() == SAFEFS_VERSION_NUMBER ? 0 : 1;
}
