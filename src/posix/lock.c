/*
 * The inter-process lock on POSIX: flock() on a descriptor of our own.
 *
 * Why flock:
 *   - It belongs to the open file description. Each safefs_lock opens the
 *     file itself, so each is its own holder: two objects exclude each
 *     other in two processes, in two threads and in one thread alike.
 *   - Closing some other descriptor of the same file (the application
 *     reading the lock file, a library's fopen) leaves it alone.
 *   - The kernel drops it when the holder dies, with no delay.
 * Classic fcntl(F_SETLK) locks fail all three: they belong to the process,
 * and any close() of the file by that process drops them. OFD fcntl locks
 * (F_OFD_SETLK) behave like flock but exist only on Linux >= 3.15 and
 * FreeBSD >= 14, while flock is on Linux, macOS and the BSDs alike; and on
 * Linux's NFS client flock is already emulated by a whole-file byte-range
 * lock, which is what an OFD lock would send to the server. So flock,
 * everywhere, and no #ifdef.
 *
 * The gate (writer preference, src/lock.c) cannot be a second flock, which
 * locks the whole file. On Linux it is an OFD byte-range lock on one byte
 * far past the marker (GATE_OFFSET): it belongs to the open file
 * description as flock does, is released with it, and is independent of
 * flock locks on the same file. Other systems have no OFD locks (macOS;
 * FreeBSD before 14), and there the gate is a classic fcntl lock: it
 * belongs to the process, so it holds back shared acquirers in other
 * processes only, and any close() of the lock file in the holder's
 * process drops it (fairness is lost for that wait; exclusion, which is
 * flock's, never is). A lock file on NFS: Linux turns both into byte-range
 * locks on the server, at different offsets, so they still do not
 * conflict.
 *
 * Children: the descriptor is O_CLOEXEC, so a program the holder execs
 * never keeps the lock. A child forked without exec shares the open file
 * description until it exits; release unlocks explicitly (LOCK_UN acts on
 * the shared description) so a clean release still frees the lock, but if
 * the holder dies, such a child keeps it until it exits too.
 */
#include "sys.h"

#include <errno.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

/* How often to go back to the plain open when creating the file fails
 * because someone else just created it (see open_lock_file). */
#define CREATE_TRIES 3

/* The gate's byte: far past the marker at 0, and a byte range lock there
 * never stops anyone reading or writing the file. */
#define GATE_OFFSET 0x40000001L

struct safefs__lockfile {
  int fd;
  char *path;              /* for messages */
  unsigned long long id[2]; /* st_dev, st_ino */
};

/* 1 if the directory that would hold `path` exists: then a create that
 * says ENOENT met a server racing it (NFS, FUSE), not a missing directory. */
static int parent_exists(const char *path) {
  const char *base;
  size_t dir_len;
  char *dir;
  struct stat st;
  int yes;
  if (safefs__split_path(path, &dir_len, &base) != 0)
    return 0;
  if (dir_len == 0)
    return 1;
  if ((dir = (char *)safefs__malloc(dir_len + 1)) == NULL)
    return 0;
  memcpy(dir, path, dir_len);
  dir[dir_len] = '\0';
  yes = safefs__sys_fstatat(AT_FDCWD, dir, &st, 0) == 0 && S_ISDIR(st.st_mode);
  safefs__free(dir);
  return yes;
}

/* Open read-write: the holder writes the marker, and NFS needs a file open
 * for writing to grant an exclusive flock. O_NOFOLLOW: a symbolic link
 * planted at the lock path is refused (ELOOP), never followed into the file
 * it names. First without O_CREAT, because Linux's fs.protected_regular
 * refuses O_CREAT on an existing file owned by someone else in a sticky
 * world-writable directory such as /tmp, even when the file's mode lets us
 * write it. Only a missing file is created (mode 0666, less the umask,
 * applied by the kernel). If the create is refused, someone may have
 * created the file between the two opens, so the plain open is tried
 * again, a bounded number of times: a real permission error comes back
 * after CREATE_TRIES quick rounds. A create that says ENOENT although the
 * directory exists (NFS and FUSE servers racing the create) is tried again
 * within the retry budget, with the shared backoff. */
static int open_lock_file(const char *path) {
  long long deadline = safefs__now_ms() + safefs__budget(-1);
  struct safefs__backoff b;
  int tries;
  safefs__backoff_init(&b, SAFEFS__RETRY_MAX_SLEEP_MS, 0);
  for (tries = 0;; tries++) {
    int fd = safefs__sys_openat(AT_FDCWD, path, O_RDWR | O_NOCTTY | O_NOFOLLOW, 0,
                                SAFEFS__OP_OPEN_LOCK);
    if (fd >= 0 || errno != ENOENT)
      return fd;
    fd = safefs__sys_openat(AT_FDCWD, path, O_RDWR | O_NOCTTY | O_NOFOLLOW | O_CREAT, 0666,
                            SAFEFS__OP_OPEN_LOCK);
    if (fd >= 0)
      return fd;
    if (errno == ENOENT && parent_exists(path) && safefs__backoff_sleep(&b, deadline)) {
      errno = ENOENT;
      continue;
    }
    if (errno != EACCES || tries >= CREATE_TRIES)
      return fd;
  }
}

int safefs__lockfile_open(safefs__lockfile **out, const char *path) {
  safefs__lockfile *f;
  struct stat st;
  int rc;

  *out = NULL;
  f = (safefs__lockfile *)safefs__malloc(sizeof *f);
  if (f == NULL)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  if ((f->path = safefs__strdup(path)) == NULL) {
    safefs__free(f);
    return SAFEFS_ENOMEM;
  }
  f->fd = open_lock_file(path);
  if (f->fd < 0 && (errno == ELOOP || errno == EMLINK)) { /* EMLINK: FreeBSD's O_NOFOLLOW */
    rc = safefs__fail_msg(SAFEFS_EINVAL, errno,
                          "lock '%s': is a symbolic link; a lock file is never followed", path);
    safefs__free(f->path);
    safefs__free(f);
    return rc;
  }
  if (f->fd < 0) {
    rc = safefs__fail_os(errno);
    safefs__free(f->path);
    safefs__free(f);
    return rc;
  }
  /* A directory fails the O_RDWR open with EISDIR already. A FIFO or a
   * device is refused: the marker needs a file with an offset. */
  rc = 0;
  if (safefs__sys_fstat(f->fd, &st) != 0)
    rc = safefs__fail_os_at(errno, path, NULL);
  else if (S_ISDIR(st.st_mode))
    rc = safefs__fail_msg(SAFEFS_EISDIR, EISDIR, "lock '%s': is a directory", path);
  else if (!S_ISREG(st.st_mode))
    rc = safefs__fail_msg(SAFEFS_EINVAL, EINVAL, "lock '%s': not a regular file", path);
  f->id[0] = (unsigned long long)st.st_dev;
  f->id[1] = (unsigned long long)st.st_ino;
  if (rc != 0) {
    struct safefs__saved_error e;
    safefs__error_save(&e);
    safefs__lockfile_close(f);
    return safefs__error_restore(&e, rc);
  }
  *out = f;
  return 0;
}

/* flock for the lock itself, a byte-range lock for the gate; neither has
 * a timeout: with wait_ms >= 0 one attempt, and the caller polls. */
int safefs__lockfile_lock(safefs__lockfile *f, int which, int shared, long wait_ms) {
  int rc;
  if (which == SAFEFS__LOCK_GATE)
    rc = safefs__sys_lock_range(f->fd, shared ? F_RDLCK : F_WRLCK, GATE_OFFSET, 1, wait_ms < 0);
  else
    rc = safefs__sys_flock(f->fd, (shared ? LOCK_SH : LOCK_EX) | (wait_ms >= 0 ? LOCK_NB : 0));
  if (rc == 0)
    return 0;
  if (errno == EWOULDBLOCK || errno == EAGAIN || errno == EACCES)
    return safefs__fail(SAFEFS__AGAIN, errno); /* fcntl says EACCES or EAGAIN */
  return safefs__fail_os_at(errno, f->path, NULL);
}

int safefs__lockfile_unlock(safefs__lockfile *f, int which) {
  int rc = which == SAFEFS__LOCK_GATE ? safefs__sys_lock_range(f->fd, F_UNLCK, GATE_OFFSET, 1, 0)
                                      : safefs__sys_flock(f->fd, LOCK_UN);
  if (rc != 0)
    return safefs__fail_os_at(errno, f->path, NULL);
  return 0;
}

/* One F_OFD_GETLK; a failure is "not free", and the gate's own lock
 * reports it. */
int safefs__lockfile_gate_free(safefs__lockfile *f, int shared) {
  return safefs__sys_lock_range_free(f->fd, shared ? F_RDLCK : F_WRLCK, GATE_OFFSET, 1) == 1;
}

/* Two bytes asked for, so that a file holding more than the marker shows. */
int safefs__lockfile_read_byte(safefs__lockfile *f, int *byte) {
  unsigned char b[2];
  long n = safefs__sys_pread(f->fd, b, 2, 0);
  if (n < 0)
    return safefs__fail_os_at(errno, f->path, NULL);
  *byte = n == 0 ? -1 : n == 1 ? b[0] : SAFEFS__LOCK_NOT_MARKER;
  return 0;
}

void safefs__lockfile_id(const safefs__lockfile *f, unsigned long long id[2]) {
  id[0] = f->id[0];
  id[1] = f->id[1];
}

int safefs__lockfile_write_byte(safefs__lockfile *f, unsigned char byte) {
  long n = safefs__sys_pwrite(f->fd, &byte, 1, 0);
  if (n != 1)
    return safefs__fail_os_at(n < 0 ? errno : ENOSPC, f->path, NULL);
  return 0;
}

int safefs__lockfile_close(safefs__lockfile *f) {
  int rc = 0;
  if (safefs__sys_close(f->fd) != 0)
    rc = safefs__fail_os_at(errno, f->path, NULL);
  safefs__free(f->path);
  safefs__free(f);
  return rc;
}
