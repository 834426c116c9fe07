/*
 * The POSIX backend's system calls, each passed through the test seam
 * (../seam.h) first, its outcome reported to the seam after it (the
 * descriptor an open returned, or the failure), and made robust the way
 * SQLite's os_unix.c does it:
 * EINTR and short transfers are retried, close() never is. They follow the
 * POSIX convention (-1 and errno) so callers read like ordinary POSIX code;
 * an error injected by the seam arrives as errno too.
 *
 * src/win32/sys.h is this file's mirror for the Win32 calls.
 *
 * Every file of the backend includes this header first, so the
 * feature-test macros below are defined once, before any system header.
 */
#ifndef SAFEFS_POSIX_SYS_H
#define SAFEFS_POSIX_SYS_H

#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#if defined(__APPLE__) && !defined(_DARWIN_C_SOURCE)
#define _DARWIN_C_SOURCE
#endif

#include <dirent.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "../platform.h"

/* Open `name` relative to dirfd (AT_FDCWD for a plain path), O_CLOEXEC
 * always added. `op` says what the open is for (OPEN_DIR, CREATE_TEMP,
 * OPEN_READ, OPEN_LOCK). */
int safefs__sys_openat(int dirfd, const char *name, int flags, mode_t mode, enum safefs__op op);

/* Write all bytes, retrying EINTR and short writes. 0 or -1/errno. */
int safefs__sys_write_all(int fd, const void *data, size_t size);

/* Read up to size bytes, retrying EINTR. Bytes read (0 at EOF) or -1. */
long safefs__sys_read(int fd, void *buf, size_t size);

/* Make a file's data and metadata durable: F_FULLFSYNC where the OS has it
 * (macOS's fsync does not flush the drive cache), falling back to fsync
 * when the filesystem refuses it. `op` is SYNC or SYNC_DIR. */
int safefs__sys_fsync(int fd, enum safefs__op op);

/* Start writing out the file's dirty data without waiting for it (Linux
 * sync_file_range SYNC_FILE_RANGE_WRITE; SYNC_START for the seam), so that
 * the fsyncs of many files that follow overlap their I/O. Only a hint: it
 * makes nothing durable (no metadata, no drive cache flush), and where
 * there is no such call it does nothing and returns 0. 0 or -1/errno. */
int safefs__sys_sync_start(int fd);

/* Flush the whole filesystem that holds fd, every dirty file of it and
 * its journal (Linux syncfs; SYNC_FS for the seam, which may skip it as a
 * SYNC). Its errors are those of any writeback on that filesystem since fd
 * was opened, from Linux 5.8 on (safefs__sys_syncfs_reports_errors);
 * before, it reports none. -1 with errno ENOSYS where there is no such
 * call. */
int safefs__sys_syncfs(int fd);

/* 1 if safefs__sys_syncfs reports writeback errors (Linux 5.8 or later),
 * else 0. Asked of uname() once. */
int safefs__sys_syncfs_reports_errors(void);

/* 1 if fd's filesystem is one whose syncfs is known to make its data
 * durable as an fsync does (ext4, XFS: a journal commit with a drive cache
 * flush), 0 if not or unknown (everywhere but Linux), -1 with errno. STAT
 * for the seam. */
int safefs__sys_syncfs_flushes(int fd);

/* The data of the whole system waiting to be written or being written
 * (Linux: Dirty + Writeback of /proc/meminfo), in bytes: 0 with *bytes
 * set, or -1 with errno (ENOSYS elsewhere). One COUNT_DIRTY for the seam,
 * whose SAFEFS__SEAM_SKIP answer reports 0 bytes without looking. */
int safefs__sys_dirty_bytes(unsigned long long *bytes);

/* 1 if a directory fsync failing with errno value e means only that the
 * filesystem cannot sync directories (EINVAL, ENOTSUP: some network and
 * FUSE filesystems); their renames are as durable as they can make them,
 * so the failure is tolerated. */
int safefs__dir_sync_tolerated(int e);

/* close(), never retried: after EINTR the descriptor is gone on Linux and
 * may be reused by another thread, so a retry could close someone else's. */
int safefs__sys_close(int fd);

int safefs__sys_fstatat(int dirfd, const char *name, struct stat *st, int flags);
int safefs__sys_fstat(int fd, struct stat *st);
long safefs__sys_readlinkat(int dirfd, const char *name, char *buf, size_t size);
int safefs__sys_fchmod(int fd, mode_t mode);
/* faccessat; STAT for the seam. */
int safefs__sys_faccessat(int dirfd, const char *name, int mode, int flags);
int safefs__sys_fchown(int fd, uid_t uid, gid_t gid);

/* renameat; with `noreplace` the rename fails with EEXIST if `to` exists,
 * atomically (renameat2 RENAME_NOREPLACE on Linux, renameatx_np RENAME_EXCL
 * on macOS, link + unlink elsewhere or where the filesystem refuses). */
int safefs__sys_renameat(int fromfd, const char *from, int tofd, const char *to, int noreplace);
int safefs__sys_linkat(int fromfd, const char *from, int tofd, const char *to);

/* A nameless file in the directory dirfd, open for writing (Linux
 * O_TMPFILE; CREATE_ANON for the seam): it vanishes with the last
 * descriptor unless safefs__sys_link_anon names it. -1 with errno
 * EOPNOTSUPP where there is no such thing (every other system, or Linux
 * without /proc, which the naming needs), and EOPNOTSUPP, EISDIR or EINVAL
 * from kernels and filesystems that refuse it: the caller then makes a
 * named temp. */
int safefs__sys_open_anon(int dirfd, mode_t mode);

/* 1 where the kernel applies the umask (or a default ACL) to the mode of
 * a nameless file as to any new file (Linux 6.0 and later), 0 where the
 * caller must apply it itself. */
int safefs__sys_anon_takes_umask(void);

/* From now on safefs__sys_open_anon fails with EOPNOTSUPP (no call made):
 * a nameless file could not be named in this process, so the next temps
 * are named from the start. */
void safefs__sys_anon_refuse(void);

/* Give the nameless file fd the name `name` in dirfd (linkat with
 * AT_EMPTY_PATH where the process may, else of /proc/self/fd/N with
 * AT_SYMLINK_FOLLOW; LINK_TEMP for the seam). Fails with EEXIST if the
 * name exists, atomically, like any link. */
int safefs__sys_link_anon(int fd, int dirfd, const char *name);

/* mkdirat. MKDIR for the seam. */
int safefs__sys_mkdirat(int dirfd, const char *name, mode_t mode);

/* unlinkat; AT_REMOVEDIR in flags makes it an RMDIR for the seam. */
int safefs__sys_unlinkat(int dirfd, const char *name, int flags);

/* Directory listing, a LIST_DIR for the seam. fdopendir takes over fd
 * only when it succeeds. readdir returns NULL at the end with errno 0, or
 * on an error with errno set. closedir is a CLOSE. */
DIR *safefs__sys_fdopendir(int fd);
struct dirent *safefs__sys_readdir(DIR *dir);
int safefs__sys_closedir(DIR *dir);

/* The inode generation (Linux FS_IOC_GETVERSION, where the filesystem
 * keeps one): 0 with *gen set, or -1 with errno (ENOTTY, EOPNOTSUPP,
 * EINVAL where there is none, and everywhere but Linux). STAT for the seam. */
int safefs__sys_generation(int fd, unsigned long long *gen);

/* 1 if the filesystem of fd keeps coarse times or another machine's
 * clock (FAT/exFAT, network, FUSE), 0 if not, -1 with errno. STAT for the
 * seam. */
int safefs__sys_coarse_times(int fd);

/* 1 if the filesystem of fd keeps its files in memory only (tmpfs,
 * ramfs), 0 if not or unknown, -1 with errno. STAT for the seam. */
int safefs__sys_in_memory(int fd);

/* The identity of an open file, for a stamp (src/posix/stamp.c; read.c
 * uses it on the file it reads); `path` names it in messages. */
int safefs__identity_of_fd(int fd, const char *path, struct safefs__identity *id);

/* A safefs__dir (src/posix/remove.c) for the open directory descriptor
 * fd, which it takes over, also on failure; `path` (copied) names it in
 * messages. The atomic replace hands its directory to the batch so. */
int safefs__dir_adopt(safefs__dir **out, int fd, const char *path);

/* flock(), retrying EINTR. */
int safefs__sys_flock(int fd, int operation);

/* A byte-range lock of `len` bytes at `start`: type F_RDLCK, F_WRLCK or
 * F_UNLCK (UNLOCK for the seam, else LOCK); `wait` blocks until granted.
 * Linux: an open-file-description lock (F_OFD_SETLK/F_OFD_SETLKW), which
 * like flock belongs to this descriptor's open file and is independent of
 * flock locks. Elsewhere: a classic process-owned lock (F_SETLK/F_SETLKW).
 * EINTR is retried. */
int safefs__sys_lock_range(int fd, int type, off_t start, off_t len, int wait);

/* 1 if a lock of `type` (F_RDLCK, F_WRLCK) on those bytes would be
 * granted now, 0 if another holder's lock stands in its way, -1 with
 * errno: F_OFD_GETLK on Linux (open-file-description locks, as
 * safefs__sys_lock_range takes), F_GETLK elsewhere. STAT for the seam: it
 * only looks. */
int safefs__sys_lock_range_free(int fd, int type, off_t start, off_t len);

/* pread / pwrite, retrying EINTR (the seam sees READ / WRITE). Bytes
 * moved or -1; a short transfer is the caller's to handle. */
long safefs__sys_pread(int fd, void *buf, size_t size, off_t offset);
long safefs__sys_pwrite(int fd, const void *data, size_t size, off_t offset);

#endif /* SAFEFS_POSIX_SYS_H */
