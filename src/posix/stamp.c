/*
 * File identity on POSIX (the rules are in src/stamp.c and safefs.h):
 * st_dev and st_ino, the inode generation where Linux has one, the size,
 * st_mtim and st_ctim in nanoseconds, and the settling window from the
 * filesystem type.
 */
#include "sys.h"

#include <errno.h>
#include <fcntl.h>

#if defined(__APPLE__)
#define MTIME_NS(st) ((long long)(st).st_mtimespec.tv_sec * 1000000000 + (st).st_mtimespec.tv_nsec)
#define CTIME_NS(st) ((long long)(st).st_ctimespec.tv_sec * 1000000000 + (st).st_ctimespec.tv_nsec)
#else
#define MTIME_NS(st) ((long long)(st).st_mtim.tv_sec * 1000000000 + (st).st_mtim.tv_nsec)
#define CTIME_NS(st) ((long long)(st).st_ctim.tv_sec * 1000000000 + (st).st_ctim.tv_nsec)
#endif

/* A regular file's identity from its attributes, without the optional
 * parts (generation; settle is the safe, coarse window). */
static int from_stat(const struct stat *st, const char *path, struct safefs__identity *id) {
  if (S_ISDIR(st->st_mode))
    return safefs__fail_msg(SAFEFS_EISDIR, EISDIR, "stamp '%s': is a directory", path);
  if (!S_ISREG(st->st_mode))
    return safefs__fail_msg(SAFEFS_EINVAL, 0, "stamp '%s': not a regular file", path);
  id->file[0] = (unsigned long long)st->st_dev;
  id->file[1] = (unsigned long long)st->st_ino;
  id->file[2] = id->file[3] = 0;
  id->size = (long long)st->st_size;
  id->mtime = MTIME_NS(*st);
  id->ctime = CTIME_NS(*st);
  id->settle = SAFEFS__SETTLE_COARSE_NS;
  return 0;
}

/* The clock is read before fstat (see platform.h). The generation and the
 * filesystem type are optional: a filesystem without them still gives a
 * sound stamp (the ctime tells reused inode numbers apart), so their
 * failures only keep the safe defaults. */
int safefs__identity_of_fd(int fd, const char *path, struct safefs__identity *id) {
  struct stat st;
  unsigned long long gen;
  int rc;

  id->now = safefs__wall_ns();
  if (safefs__sys_fstat(fd, &st) != 0)
    return safefs__fail_os_at(errno, path, NULL);
  if ((rc = from_stat(&st, path, id)) != 0)
    return rc;
  if (safefs__sys_generation(fd, &gen) == 0)
    id->file[3] = gen;
  if (safefs__sys_coarse_times(fd) == 0)
    id->settle = SAFEFS__SETTLE_FINE_NS;
  return 0;
}

/* O_NONBLOCK so that a FIFO at the path is not waited on (it is then
 * refused as not a regular file); O_NOCTTY so that a terminal is never
 * acquired. Read permission is not needed for a stamp, but the ioctl and
 * fstatfs want a descriptor: where it is denied, open() fails and the
 * stamp comes from stat() instead, with the safe defaults. */
int safefs__identity_path(const char *path, struct safefs__identity *id) {
  int fd = safefs__sys_openat(AT_FDCWD, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0,
                              SAFEFS__OP_OPEN_READ);
  int rc;
  if (fd < 0) {
    struct stat st;
    if (errno != EACCES)
      return safefs__fail_os(errno);
    id->now = safefs__wall_ns();
    if (safefs__sys_fstatat(AT_FDCWD, path, &st, 0) != 0)
      return safefs__fail_os(errno);
    return from_stat(&st, path, id);
  }
  rc = safefs__identity_of_fd(fd, path, id);
  safefs__sys_close(fd);
  return rc;
}
