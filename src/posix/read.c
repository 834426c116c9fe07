/*
 * Whole-file read on POSIX. The size from fstat is only a first guess for
 * the buffer: the file is read until read() returns 0, so a file that grows
 * while it is read is read to its end, and one that shrinks is not padded.
 */
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#define MIN_CHUNK 4096

int safefs__read_whole(const char *path, void **data, size_t *size) {
  struct stat st;
  unsigned char *buf = NULL;
  size_t cap, used = 0;
  int fd, rc = 0;
  long os = 0;

  fd = safefs__sys_openat(AT_FDCWD, path, O_RDONLY, 0, SAFEFS__OP_OPEN_READ);
  if (fd < 0)
    return safefs__fail_os(errno);
  if (safefs__sys_fstat(fd, &st) != 0) {
    os = errno;
    rc = safefs__status_from_os(os);
    goto out;
  }
  if (S_ISDIR(st.st_mode)) {
    os = EISDIR;
    rc = SAFEFS_EISDIR;
    goto out;
  }
  cap = (S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size : 0) + MIN_CHUNK;
  buf = (unsigned char *)safefs__malloc(cap + 1);
  if (buf == NULL) {
    rc = SAFEFS_ENOMEM;
    goto out;
  }
  for (;;) {
    long n;
    if (used == cap) {
      size_t ncap = cap * 2;
      unsigned char *nb;
      if (ncap < cap) {
        rc = SAFEFS_ENOMEM;
        goto out;
      }
      nb = (unsigned char *)safefs__realloc(buf, ncap + 1);
      if (nb == NULL) {
        rc = SAFEFS_ENOMEM;
        goto out;
      }
      buf = nb;
      cap = ncap;
    }
    n = safefs__sys_read(fd, buf + used, cap - used);
    if (n < 0) {
      os = errno;
      rc = safefs__status_from_os(os);
      goto out;
    }
    if (n == 0)
      break;
    used += (size_t)n;
  }
  buf[used] = '\0';

out:
  safefs__sys_close(fd);
  if (rc != 0) {
    safefs__free(buf);
    return safefs__fail(rc, os);
  }
  *data = buf;
  *size = used;
  return 0;
}
