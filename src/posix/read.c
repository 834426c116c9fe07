/*
 * A file opened for a whole-file read (the loop is in src/read.c).
 * open(O_RDONLY|O_CLOEXEC) follows symbolic links, as a reader expects.
 */
#include "sys.h"

#include <errno.h>
#include <fcntl.h>

int safefs__rfile_open(const char *path, long long *handle, size_t *size_hint) {
  struct stat st;
  int fd = safefs__sys_openat(AT_FDCWD, path, O_RDONLY, 0, SAFEFS__OP_OPEN_READ);
  int e;

  if (fd < 0)
    return safefs__fail_os(errno);
  if (safefs__sys_fstat(fd, &st) != 0) {
    e = errno;
    safefs__sys_close(fd);
    return safefs__fail_os(e);
  }
  if (S_ISDIR(st.st_mode)) {
    safefs__sys_close(fd);
    return safefs__fail(SAFEFS_EISDIR, EISDIR);
  }
  *size_hint = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size : 0;
  *handle = fd;
  return 0;
}

int safefs__rfile_read(long long handle, void *buf, size_t cap, size_t *got) {
  long n = safefs__sys_read((int)handle, buf, cap);
  if (n < 0)
    return safefs__fail_os(errno);
  *got = (size_t)n;
  return 0;
}

void safefs__rfile_close(long long handle) {
  safefs__sys_close((int)handle);
}
