/* The POSIX backend's system calls; see sys.h for the contract. */
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
#include <string.h>
#include <sys/mount.h>
#include <sys/param.h>
#endif

/* Every wrapper asks the seam before its call and reports the outcome
 * after it (seam.h). ask() returns the hook's answer, with errno set when
 * it is an error to inject (> 0). */
static long ask(enum safefs__op op, const char *path, const char *path2, long long handle,
                const void *data, size_t size) {
  long r = safefs__seam_call(op, path, path2, data, size, handle);
  if (r > 0)
    errno = (int)r;
  return r;
}

/* 1 (with errno set) if the seam says the call must fail. */
static int refused(enum safefs__op op, const char *path, const char *path2, long long handle) {
  return ask(op, path, path2, handle, NULL, 0) > 0;
}

/* Report the outcome of the call last asked about (-1: failed, with
 * errno) to the seam's after-hook; errno survives. Returns result. */
static long long done(long long result) {
  int e = errno;
  safefs__seam_done(result, result < 0 ? e : 0);
  errno = e;
  return result;
}

/* The calls a signal can interrupt are retried on EINTR, and the seam is
 * asked again on every try, so a test can inject EINTR like the kernel. */
#define RETRY_EINTR(result, op, path, handle, call) \
  do {                                              \
    if (refused(op, path, NULL, handle))            \
      (result) = -1;                                \
    else                                            \
      (result) = (call);                            \
    done(result);                                   \
  } while ((result) < 0 && errno == EINTR)

int safefs__sys_openat(int dirfd, const char *name, int flags, mode_t mode, enum safefs__op op) {
  int fd;
  RETRY_EINTR(fd, op, name, dirfd, openat(dirfd, name, flags | O_CLOEXEC, mode));
  return fd;
}

int safefs__sys_write_all(int fd, const void *data, size_t size) {
  const char *p = (const char *)data;
  while (size > 0) {
    size_t chunk = size;
    ssize_t n;
    long r = ask(SAFEFS__OP_WRITE, NULL, NULL, fd, p, size);
    if (r > 0) {
      done(-1);
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (r == SAFEFS__SEAM_SHORT && chunk > 1)
      chunk /= 2;
    n = (ssize_t)done(write(fd, p, chunk));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (n == 0) { /* no progress and no error: treat as out of space */
      errno = ENOSPC;
      return -1;
    }
    p += n;
    size -= (size_t)n;
  }
  return 0;
}

long safefs__sys_read(int fd, void *buf, size_t size) {
  for (;;) {
    ssize_t n;
    long r = ask(SAFEFS__OP_READ, NULL, NULL, fd, NULL, size);
    if (r > 0) {
      done(-1);
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (r == SAFEFS__SEAM_SHORT && size > 1)
      size /= 2;
    n = (ssize_t)done(read(fd, buf, size));
    if (n < 0 && errno == EINTR)
      continue;
    return (long)n;
  }
}

/* F_FULLFSYNC asks the drive to flush its cache too; where the filesystem
 * does not support it (network, FAT) plain fsync is the best there is. */
static int full_fsync(int fd) {
#if defined(F_FULLFSYNC)
  if (fcntl(fd, F_FULLFSYNC) == 0)
    return 0;
#endif
  return fsync(fd);
}

/* A hook may skip the fsync (SAFEFS__SEAM_SKIP): it then "succeeds"
 * without reaching the disk, as on a filesystem that ignores fsync. */
/* A sync of any kind (op SYNC, SYNC_DIR, SYNC_FS) through the seam, which
 * may skip it (SAFEFS__SEAM_SKIP: reported as done); EINTR retried. */
static int seam_sync(enum safefs__op op, int fd, int (*sync_fn)(int)) {
  int rc;
  do {
    long r = ask(op, NULL, NULL, fd, NULL, 0);
    if (r > 0)
      rc = -1;
    else if (r == SAFEFS__SEAM_SKIP)
      rc = 0;
    else
      rc = sync_fn(fd);
    done(rc);
  } while (rc < 0 && errno == EINTR);
  return rc;
}

int safefs__sys_fsync(int fd, enum safefs__op op) {
  return seam_sync(op, fd, full_fsync);
}

#if defined(__linux__)
int safefs__sys_syncfs(int fd) {
  return seam_sync(SAFEFS__OP_SYNC_FS, fd, syncfs);
}

/* The running kernel's version, major * 1000 + minor, read once with
 * uname (relaxed atomics, as for the nameless files below): 0 until then,
 * -1 if it cannot be told. */
static int kernel_version;

static int linux_at_least(int major, int minor) {
  int v = __atomic_load_n(&kernel_version, __ATOMIC_RELAXED);
  if (v == 0) {
    struct utsname u;
    unsigned a = 0, b = 0;
    v = uname(&u) == 0 && sscanf(u.release, "%u.%u", &a, &b) == 2 && a < 1000 && b < 1000
            ? (int)(a * 1000 + b)
            : -1;
    __atomic_store_n(&kernel_version, v, __ATOMIC_RELAXED);
  }
  return v >= major * 1000 + minor;
}

/* syncfs reports writeback errors since Linux 5.8 (the per-superblock
 * error sequence). */
int safefs__sys_syncfs_reports_errors(void) {
  return linux_at_least(5, 8);
}

/* Linux 6.0 applies the umask to an O_TMPFILE file on every filesystem
 * (commit ac6800e279a2, "fs: Add missing umask strip in vfs_tmpfile");
 * before it, filesystems without POSIX ACLs (or mounted noacl) ignored
 * it. */
int safefs__sys_anon_takes_umask(void) {
  return linux_at_least(6, 0);
}

/* The value in kB of the /proc/meminfo line `key` ("Dirty:") in text, in
 * bytes added to *sum: 1, or 0 if the line is not there. */
static int add_meminfo(const char *text, const char *key, unsigned long long *sum) {
  const char *at = strstr(text, key);
  unsigned long long kb;
  if (at == NULL || (at != text && at[-1] != '\n') ||
      sscanf(at + strlen(key), "%llu", &kb) != 1)
    return 0;
  *sum += kb * 1024;
  return 1;
}

int safefs__sys_dirty_bytes(unsigned long long *bytes) {
  char text[4096]; /* Dirty and Writeback are in the first thirty lines */
  size_t have = 0;
  long r = ask(SAFEFS__OP_COUNT_DIRTY, "/proc/meminfo", NULL, -1, NULL, 0);
  int fd, ok;
  *bytes = 0;
  if (r == SAFEFS__SEAM_SKIP)
    return (int)done(0);
  if (r > 0)
    return (int)done(-1);
  if ((fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC)) < 0)
    return (int)done(-1);
  for (;;) {
    ssize_t n = read(fd, text + have, sizeof text - 1 - have);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    have += (size_t)n;
  }
  close(fd);
  text[have] = '\0';
  ok = add_meminfo(text, "Dirty:", bytes) && add_meminfo(text, "Writeback:", bytes);
  if (!ok)
    errno = ENOENT;
  return (int)done(ok ? 0 : -1);
}
#else
int safefs__sys_syncfs(int fd) {
  SAFEFS__UNUSED(fd);
  errno = ENOSYS;
  return -1;
}

int safefs__sys_syncfs_reports_errors(void) {
  return 0;
}

int safefs__sys_anon_takes_umask(void) {
  return 0;
}

int safefs__sys_syncfs_flushes(int fd) {
  SAFEFS__UNUSED(fd);
  return 0;
}

int safefs__sys_dirty_bytes(unsigned long long *bytes) {
  *bytes = 0;
  errno = ENOSYS;
  return -1;
}
#endif

int safefs__sys_sync_start(int fd) {
#if defined(SYNC_FILE_RANGE_WRITE)
  int rc;
  RETRY_EINTR(rc, SAFEFS__OP_SYNC_START, NULL, fd,
              sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE));
  return rc;
#else
  SAFEFS__UNUSED(fd);
  return 0;
#endif
}

int safefs__dir_sync_tolerated(int e) {
  return e == EINVAL || e == ENOTSUP || e == EOPNOTSUPP;
}

int safefs__sys_close(int fd) {
  if (refused(SAFEFS__OP_CLOSE, NULL, NULL, fd)) {
    int e = errno;
    close(fd); /* the descriptor must not leak whatever the seam says */
    errno = e;
    return (int)done(-1);
  }
  if (close(fd) != 0 && errno != EINTR)
    return (int)done(-1);
  return (int)done(0);
}

int safefs__sys_fstatat(int dirfd, const char *name, struct stat *st, int flags) {
  if (refused(SAFEFS__OP_STAT, name, NULL, dirfd))
    return (int)done(-1);
  return (int)done(fstatat(dirfd, name, st, flags));
}

int safefs__sys_fstat(int fd, struct stat *st) {
  if (refused(SAFEFS__OP_STAT, NULL, NULL, fd))
    return (int)done(-1);
  return (int)done(fstat(fd, st));
}

long safefs__sys_readlinkat(int dirfd, const char *name, char *buf, size_t size) {
  if (refused(SAFEFS__OP_READLINK, name, NULL, dirfd))
    return (long)done(-1);
  return (long)done(readlinkat(dirfd, name, buf, size));
}

int safefs__sys_generation(int fd, unsigned long long *gen) {
#if defined(__linux__) && defined(FS_IOC_GETVERSION)
  int v = 0; /* the kernel stores an int, whatever the ioctl's type says */
  int rc;
  RETRY_EINTR(rc, SAFEFS__OP_STAT, NULL, fd, ioctl(fd, FS_IOC_GETVERSION, &v));
  if (rc == 0)
    *gen = (unsigned int)v;
  return rc;
#else
  (void)fd;
  *gen = 0;
  errno = ENOTTY;
  return -1;
#endif
}

/* Kinds of filesystem, as statfs names them: f_type values on Linux
 * (linux/magic.h, not always installed), f_fstypename on macOS and the
 * BSDs. coarse_fs: coarse times or another machine's clock; memory_fs:
 * files kept in memory only. */
#if defined(__linux__)
#define HAS_STATFS 1
#define FS_IS(st, v) (((unsigned long)(st).f_type & 0xFFFFFFFFUL) == (v))
typedef unsigned long fs_kind;
static const fs_kind memory_fs[] = {
    0x01021994UL, /* tmpfs */
    0x858458F6UL, /* ramfs */
};
/* filesystems whose syncfs commits their journal with a drive cache flush
 * (ext4's ext4_sync_fs, also for ext2 and ext3; XFS's log force), as an
 * fsync does, and on which the power-loss trials ran: btrfs would too, but
 * was not tried; FAT's and FUSE's may flush no cache or reach no server's
 * disk */
static const fs_kind syncfs_fs[] = {
    0xEF53UL,     /* ext4 (ext2, ext3) */
    0x58465342UL, /* xfs */
};
static const fs_kind coarse_fs[] = {
    0x4d44UL,     /* msdos / vfat */
    0x2011BAB0UL, /* exfat */
    0x6969UL,     /* nfs */
    0x517BUL,     /* smb */
    0xFF534D42UL, /* cifs */
    0xFE534D42UL, /* smb2 */
    0x65735546UL, /* fuse */
    0x01021997UL, /* 9p */
    0x00C36400UL, /* ceph */
    0x5346414FUL, /* afs */
};
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
#define HAS_STATFS 1
#define FS_IS(st, v) (strcmp((st).f_fstypename, (v)) == 0)
typedef const char *fs_kind;
static const fs_kind memory_fs[] = {"tmpfs", "mfs"};
static const fs_kind coarse_fs[] = {"msdos", "exfat", "nfs", "smbfs", "afpfs",
                                        "webdav", "osxfuse", "macfuse", "fusefs"};
#endif

#ifdef HAS_STATFS
/* 1 if fd's filesystem is one of kinds[0..n), 0 if not, -1 with errno. */
static int fs_is_one_of(int fd, const fs_kind *kinds, size_t n) {
  struct statfs st;
  size_t i;
  int rc;
  RETRY_EINTR(rc, SAFEFS__OP_STAT, NULL, fd, fstatfs(fd, &st));
  if (rc != 0)
    return -1;
  for (i = 0; i < n; i++)
    if (FS_IS(st, kinds[i]))
      return 1;
  return 0;
}
#define FS_IS_ONE_OF(fd, kinds) fs_is_one_of(fd, kinds, sizeof kinds / sizeof kinds[0])

int safefs__sys_coarse_times(int fd) {
  return FS_IS_ONE_OF(fd, coarse_fs);
}

int safefs__sys_in_memory(int fd) {
  return FS_IS_ONE_OF(fd, memory_fs);
}

#if defined(__linux__)
int safefs__sys_syncfs_flushes(int fd) {
  return FS_IS_ONE_OF(fd, syncfs_fs);
}
#endif
#else
int safefs__sys_coarse_times(int fd) {
  (void)fd;
  return 1; /* unknown: assume the worst */
}

int safefs__sys_in_memory(int fd) {
  (void)fd;
  return 0; /* unknown: assume a disk */
}
#endif

int safefs__sys_faccessat(int dirfd, const char *name, int mode, int flags) {
  if (refused(SAFEFS__OP_STAT, name, NULL, dirfd))
    return (int)done(-1);
  return (int)done(faccessat(dirfd, name, mode, flags));
}

int safefs__sys_fchmod(int fd, mode_t mode) {
  int rc;
  RETRY_EINTR(rc, SAFEFS__OP_SET_MODE, NULL, fd, fchmod(fd, mode));
  return rc;
}

int safefs__sys_fchown(int fd, uid_t uid, gid_t gid) {
  int rc;
  RETRY_EINTR(rc, SAFEFS__OP_SET_MODE, NULL, fd, fchown(fd, uid, gid));
  return rc;
}

int safefs__sys_linkat(int fromfd, const char *from, int tofd, const char *to) {
  if (refused(SAFEFS__OP_LINK, from, to, fromfd))
    return (int)done(-1);
  return (int)done(linkat(fromfd, from, tofd, to, 0));
}

#if defined(__linux__) && defined(O_TMPFILE)
/* Naming needs /proc/self/fd; it is looked at until it has been seen once
 * (a racing first look stores the same answer; relaxed atomics, the GCC
 * and Clang builtins every compiler of this Linux-only code has, so that
 * the threads' accesses are no data race). The look is part of this one
 * call for the seam, so that a test sees the same calls in every run. */
static int proc_fd_seen;
/* Set once a nameless file could not be named (safefs__sys_anon_refuse). */
static int anon_refused;

void safefs__sys_anon_refuse(void) {
  __atomic_store_n(&anon_refused, 1, __ATOMIC_RELAXED);
}

/* O_RDWR, not O_WRONLY: where the naming is refused the content is read
 * back into a named temp (src/posix/replace.c, name_by_copy). */
int safefs__sys_open_anon(int dirfd, mode_t mode) {
  int fd;
  if (__atomic_load_n(&anon_refused, __ATOMIC_RELAXED)) {
    errno = EOPNOTSUPP; /* no call is made */
    return -1;
  }
  do {
    if (refused(SAFEFS__OP_CREATE_ANON, NULL, NULL, dirfd)) {
      fd = -1;
    } else if (!__atomic_load_n(&proc_fd_seen, __ATOMIC_RELAXED) &&
               access("/proc/self/fd", X_OK) != 0) {
      errno = EOPNOTSUPP;
      fd = -1;
    } else {
      __atomic_store_n(&proc_fd_seen, 1, __ATOMIC_RELAXED);
      fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
    }
    done(fd);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

/* Set once linkat(AT_EMPTY_PATH) was refused for want of the right
 * (relaxed atomics, as proc_fd_seen). */
static int empty_path_refused;

/* AT_EMPTY_PATH first: it names the file by its descriptor in one lookup,
 * where /proc/self/fd/N costs a walk through procfs and a symlink follow,
 * about twice as long (9-12 against 21-27 us here: BENCHMARKS.md, "Naming
 * the nameless temp"), and the naming is the window in which a killed
 * process leaves a temp. Kernels
 * before 6.10 allow it only with CAP_DAC_READ_SEARCH, later ones also for
 * a file the caller opened itself, and refuse it with ENOENT (EPERM and
 * EINVAL from older or stricter ones): then /proc/self/fd/N, from then on.
 * Any other failure (EEXIST, ENOSPC, ...) is the link's own. One call for
 * the seam either way. */
int safefs__sys_link_anon(int fd, int dirfd, const char *name) {
  char proc[40];
  if (refused(SAFEFS__OP_LINK_TEMP, name, NULL, fd))
    return (int)done(-1);
#ifdef AT_EMPTY_PATH
  if (!__atomic_load_n(&empty_path_refused, __ATOMIC_RELAXED)) {
    if (linkat(fd, "", dirfd, name, AT_EMPTY_PATH) == 0)
      return (int)done(0);
    if (errno != ENOENT && errno != EPERM && errno != EINVAL)
      return (int)done(-1);
    __atomic_store_n(&empty_path_refused, 1, __ATOMIC_RELAXED);
  }
#endif
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  return (int)done(linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW));
}
#else
void safefs__sys_anon_refuse(void) {}

int safefs__sys_open_anon(int dirfd, mode_t mode) {
  (void)dirfd;
  (void)mode;
  errno = EOPNOTSUPP; /* no call is made */
  return -1;
}

int safefs__sys_link_anon(int fd, int dirfd, const char *name) {
  (void)fd;
  (void)dirfd;
  (void)name;
  errno = EOPNOTSUPP;
  return -1;
}
#endif

/* The portable exclusive rename: a hard link fails atomically if `to`
 * exists; then the temp name is dropped. Filesystems without hard links
 * cannot do an atomic create-if-absent this way: ENOTSUP. */
static int link_then_unlink(int fromfd, const char *from, int tofd, const char *to) {
  if (linkat(fromfd, from, tofd, to, 0) != 0) {
    if (errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS)
      errno = ENOTSUP;
    return -1;
  }
  unlinkat(fromfd, from, 0); /* a leftover temp name is swept later */
  return 0;
}

static int rename_now(int fromfd, const char *from, int tofd, const char *to, int noreplace) {
  if (!noreplace)
    return renameat(fromfd, from, tofd, to);
#if defined(__linux__) && defined(SYS_renameat2)
  if (syscall(SYS_renameat2, fromfd, from, tofd, to, 1 /* RENAME_NOREPLACE */) == 0)
    return 0;
  if (errno != EINVAL && errno != ENOSYS)
    return -1;
#elif defined(__APPLE__) && defined(RENAME_EXCL)
  if (renameatx_np(fromfd, from, tofd, to, RENAME_EXCL) == 0)
    return 0;
  if (errno != ENOTSUP && errno != EINVAL)
    return -1;
#endif
  return link_then_unlink(fromfd, from, tofd, to);
}

int safefs__sys_renameat(int fromfd, const char *from, int tofd, const char *to, int noreplace) {
  long r = safefs__seam_rename(from, to, NULL, noreplace ? SAFEFS__RENAME_NOREPLACE : 0u, fromfd);
  if (r > 0) {
    errno = (int)r;
    return (int)done(-1);
  }
  return (int)done(rename_now(fromfd, from, tofd, to, noreplace));
}

int safefs__sys_mkdirat(int dirfd, const char *name, mode_t mode) {
  if (refused(SAFEFS__OP_MKDIR, name, NULL, dirfd))
    return (int)done(-1);
  return (int)done(mkdirat(dirfd, name, mode));
}

int safefs__sys_unlinkat(int dirfd, const char *name, int flags) {
  enum safefs__op op = (flags & AT_REMOVEDIR) ? SAFEFS__OP_RMDIR : SAFEFS__OP_UNLINK;
  if (refused(op, name, NULL, dirfd))
    return (int)done(-1);
  return (int)done(unlinkat(dirfd, name, flags));
}

int safefs__sys_flock(int fd, int operation) {
  int rc;
  enum safefs__op op = (operation & LOCK_UN) ? SAFEFS__OP_UNLOCK : SAFEFS__OP_LOCK;
  RETRY_EINTR(rc, op, NULL, fd, flock(fd, operation));
  return rc;
}

/* The struct flock of a byte range (OFD locks require l_pid 0). */
static void range_of(struct flock *fl, int type, off_t start, off_t len) {
  memset(fl, 0, sizeof *fl);
  fl->l_type = (short)type;
  fl->l_whence = SEEK_SET;
  fl->l_start = start;
  fl->l_len = len;
}

int safefs__sys_lock_range(int fd, int type, off_t start, off_t len, int wait) {
  enum safefs__op op = type == F_UNLCK ? SAFEFS__OP_UNLOCK : SAFEFS__OP_LOCK;
  struct flock fl;
  int rc;
#if defined(F_OFD_SETLK)
  int cmd = wait ? F_OFD_SETLKW : F_OFD_SETLK;
#else
  int cmd = wait ? F_SETLKW : F_SETLK;
#endif
  range_of(&fl, type, start, len);
  RETRY_EINTR(rc, op, NULL, fd, fcntl(fd, cmd, &fl));
  return rc;
}

int safefs__sys_lock_range_free(int fd, int type, off_t start, off_t len) {
  struct flock fl;
  int rc;
#if defined(F_OFD_GETLK)
  int cmd = F_OFD_GETLK;
#else
  int cmd = F_GETLK;
#endif
  range_of(&fl, type, start, len);
  RETRY_EINTR(rc, SAFEFS__OP_STAT, NULL, fd, fcntl(fd, cmd, &fl));
  return rc != 0 ? -1 : fl.l_type == F_UNLCK;
}

DIR *safefs__sys_fdopendir(int fd) {
  DIR *dir;
  if (refused(SAFEFS__OP_LIST_DIR, NULL, NULL, fd)) {
    done(-1);
    return NULL;
  }
  dir = fdopendir(fd);
  done(dir == NULL ? -1 : 0);
  return dir;
}

/* The end of the listing (NULL, errno 0) is reported as 0, an error as -1. */
struct dirent *safefs__sys_readdir(DIR *dir) {
  struct dirent *e;
  if (refused(SAFEFS__OP_LIST_DIR, NULL, NULL, dirfd(dir))) {
    done(-1);
    return NULL;
  }
  errno = 0;
  e = readdir(dir);
  done(e == NULL && errno != 0 ? -1 : 0);
  return e;
}

int safefs__sys_closedir(DIR *dir) {
  if (refused(SAFEFS__OP_CLOSE, NULL, NULL, dirfd(dir))) {
    int e = errno;
    closedir(dir); /* as close: never leak whatever the seam says */
    errno = e;
    return (int)done(-1);
  }
  return (int)done(closedir(dir));
}

/* The seam for a positioned transfer (it sees the bytes of a WRITE).
 * Returns 1 with errno set to refuse. */
static int transfer_refused(enum safefs__op op, int fd, const void *data, size_t size) {
  return ask(op, NULL, NULL, fd, data, size) > 0;
}

long safefs__sys_pread(int fd, void *buf, size_t size, off_t offset) {
  long n;
  do
    n = (long)done(transfer_refused(SAFEFS__OP_READ, fd, NULL, size)
                       ? -1
                       : (long)pread(fd, buf, size, offset));
  while (n < 0 && errno == EINTR);
  return n;
}

long safefs__sys_pwrite(int fd, const void *data, size_t size, off_t offset) {
  long n;
  do
    n = (long)done(transfer_refused(SAFEFS__OP_WRITE, fd, data, size)
                       ? -1
                       : (long)pwrite(fd, data, size, offset));
  while (n < 0 && errno == EINTR);
  return n;
}
