/*
 * A file opened for a whole-file read (the loop is in src/read.c).
 * open(O_RDONLY|O_CLOEXEC) follows symbolic links, as a reader expects.
 */
#include "sys.h"

#include <errno.h>
#include <fcntl.h>

struct safefs__rfile {
  int fd;
  const char *path; /* the caller's, for messages */
};

/* Open, then fstat the descriptor (not the path, which may have been
 * replaced in between) for the kind and the size. */
int safefs__rfile_open(safefs__rfile **out, const char *path, size_t *size_hint) {
  safefs__rfile *f;
  struct stat st;
  int fd, rc;

  *out = NULL;
  f = (safefs__rfile *)safefs__malloc(sizeof *f);
  if (f == NULL)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  fd = safefs__sys_openat(AT_FDCWD, path, O_RDONLY, 0, SAFEFS__OP_OPEN_READ);
  if (fd < 0) {
    rc = safefs__fail_os(errno);
  } else if (safefs__sys_fstat(fd, &st) != 0) {
    rc = safefs__fail_os_at(errno, path, NULL);
  } else if (S_ISDIR(st.st_mode)) {
    rc = safefs__fail_msg(SAFEFS_EISDIR, EISDIR, "read '%s': is a directory", path);
  } else {
    *size_hint = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size : 0;
    f->fd = fd;
    f->path = path;
    *out = f;
    return 0;
  }
  if (fd >= 0)
    safefs__sys_close(fd);
  safefs__free(f);
  return rc;
}

int safefs__rfile_read(safefs__rfile *f, void *buf, size_t cap, size_t *got) {
  long n = safefs__sys_read(f->fd, buf, cap);
  if (n < 0)
    return safefs__fail_os_at(errno, f->path, NULL);
  *got = (size_t)n;
  return 0;
}

void safefs__rfile_close(safefs__rfile *f) {
  safefs__sys_close(f->fd);
  safefs__free(f);
}

int safefs__rfile_identity(safefs__rfile *f, struct safefs__identity *id) {
  return safefs__identity_of_fd(f->fd, f->path, id);
}
