/* Runs a fuzz target over saved inputs without libFuzzer, so the corpus
 * (seeds and every crash the fuzzer found, kept as regressions) is
 * replayed by ctest in ordinary builds:  fuzz_replay_X DIR... */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  uint8_t *buf;
  size_t n;
  if (f == NULL)
    return 0;
  buf = (uint8_t *)malloc(1 << 20);
  n = fread(buf, 1, 1 << 20, f);
  fclose(f);
  LLVMFuzzerTestOneInput(buf, n);
  free(buf);
  return 1;
}

int main(int argc, char **argv) {
  int i, runs = 0;
  for (i = 1; i < argc; i++) {
    DIR *d = opendir(argv[i]);
    struct dirent *e;
    if (d == NULL) {
      runs += run_file(argv[i]);
      continue;
    }
    while ((e = readdir(d)) != NULL) {
      char p[4096];
      if (e->d_name[0] == '.')
        continue;
      snprintf(p, sizeof p, "%s/%s", argv[i], e->d_name);
      runs += run_file(p);
    }
    closedir(d);
  }
  printf("%d passed, 0 failed\n", runs);
  return runs > 0 ? 0 : 1;
}
