/*
 * safefs: crash-safe file replacement, inter-process locks and a retrying
 * deleter for desktop applications on Windows, Linux and macOS.
 *
 * This header is the whole public API. It is C99, usable from C++, and
 * free of compiler extensions outside the export macro below.
 *
 * Conventions, for every function in this file:
 *   - Paths are UTF-8 strings. On Windows they are converted to UTF-16 once,
 *     made absolute and given the \\?\ prefix, so paths longer than
 *     MAX_PATH work. Invalid UTF-8 is SAFEFS_EINVAL.
 *   - A function returns 0 (SAFEFS_OK) or a negative SAFEFS_E* status. After
 *     a failure, safefs_last_os_error() returns the raw OS error (errno or
 *     GetLastError()) behind it, per thread.
 *   - A failure leaves the disk as it was: an existing target keeps its old
 *     bytes and no temporary file is left behind (see each function for
 *     the exact statement).
 *   - All functions are thread-safe. The only process-wide setting is the
 *     retry budget (safefs_set_retry_budget_ms), read atomically.
 */
#ifndef SAFEFS_H
#define SAFEFS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Export macro --------------------------------------------------------
 * Static library (the default): define nothing.
 * Shared library: the build defines SAFEFS_BUILDING_SHARED, and users get
 * SAFEFS_USING_SHARED from the CMake target's interface. */
#if defined(_WIN32) && defined(SAFEFS_BUILDING_SHARED)
#define SAFEFS_EXTERN __declspec(dllexport)
#elif defined(_WIN32) && defined(SAFEFS_USING_SHARED)
#define SAFEFS_EXTERN __declspec(dllimport)
#elif defined(SAFEFS_BUILDING_SHARED) && defined(__GNUC__) && __GNUC__ >= 4
#define SAFEFS_EXTERN __attribute__((visibility("default")))
#else
#define SAFEFS_EXTERN
#endif

/* ---- Version ------------------------------------------------------------ */
#define SAFEFS_VERSION_MAJOR 0
#define SAFEFS_VERSION_MINOR 1
#define SAFEFS_VERSION_PATCH 0
#define SAFEFS_VERSION_NUMBER \
  (SAFEFS_VERSION_MAJOR * 10000 + SAFEFS_VERSION_MINOR * 100 + SAFEFS_VERSION_PATCH)
#define SAFEFS_VERSION_STRING "0.1.0"

/* The version of the library actually linked, as SAFEFS_VERSION_NUMBER. */
SAFEFS_EXTERN unsigned safefs_version(void);
SAFEFS_EXTERN const char *safefs_version_string(void);

/* ---- Status codes -------------------------------------------------------
 * The one list of statuses: SAFEFS_STATUS_MAP(X) calls X(name, value,
 * message) for each, and generates the enum below, safefs_strerror and
 * safefs_status_name, so that they cannot drift apart (libuv's
 * UV_ERRNO_MAP). An application may use it too, e.g. for a table of its
 * own. The values are stable across versions. */
#define SAFEFS_STATUS_MAP(X)                                                                  \
  X(OK, 0, "success")                                                                         \
  /* bad argument: NULL or empty path, bad flags, invalid UTF-8 */                            \
  X(EINVAL, -1, "invalid argument")                                                           \
  /* the path or its parent directory does not exist */                                       \
  X(ENOENT, -2, "no such file or directory")                                                  \
  /* SAFEFS_NOREPLACE and the target exists */                                                \
  X(EEXIST, -3, "file already exists")                                                        \
  /* permission denied (also read-only attribute on Windows) */                               \
  X(EACCES, -4, "permission denied")                                                          \
  /* in use by another process, retries exhausted */                                          \
  X(EBUSY, -5, "file in use by another process, retries exhausted")                           \
  /* lock not acquired in time */                                                             \
  X(ETIMEDOUT, -6, "lock not acquired in time")                                               \
  /* no space or quota exceeded */                                                            \
  X(ENOSPC, -7, "no space left on device")                                                    \
  /* I/O error reported by the OS (write, flush, fsync) */                                    \
  X(EIO, -8, "input/output error")                                                            \
  /* out of memory */                                                                         \
  X(ENOMEM, -9, "out of memory")                                                              \
  /* path or a component too long */                                                          \
  X(ENAMETOOLONG, -10, "file name too long")                                                  \
  /* the filesystem or OS cannot do what was asked */                                         \
  X(ENOTSUP, -11, "operation not supported by the filesystem")                                \
  /* a file was expected, the path is a directory */                                          \
  X(EISDIR, -12, "is a directory")                                                            \
  /* a directory was expected (or a parent is not one) */                                     \
  X(ENOTDIR, -13, "not a directory")                                                          \
  /* read-only filesystem */                                                                  \
  X(EROFS, -14, "read-only filesystem")                                                       \
  /* the calling thread already holds this lock and asked to wait for it forever */           \
  X(EDEADLK, -15, "the calling thread already holds this lock")                               \
  /* an OS error with no better mapping; see safefs_last_os_error */                          \
  X(EUNKNOWN, -99, "unknown OS error")

enum {
#define SAFEFS_STATUS_ENUM_(name, value, message) SAFEFS_##name = value,
  SAFEFS_STATUS_MAP(SAFEFS_STATUS_ENUM_)
#undef SAFEFS_STATUS_ENUM_
};

/* A short English description of a status ("no such file or directory").
 * Never NULL; unknown values give "unknown error". */
SAFEFS_EXTERN const char *safefs_strerror(int status);

/* The symbolic name of a status ("SAFEFS_ENOENT"), or NULL if unknown. */
SAFEFS_EXTERN const char *safefs_status_name(int status);

/* The raw OS error (errno on POSIX, GetLastError() on Windows) behind this
 * thread's most recent failing safefs call; 0 if that failure had none
 * (for example SAFEFS_EINVAL for a NULL argument). */
SAFEFS_EXTERN long safefs_last_os_error(void);

/* An English sentence saying what this thread's most recent failing
 * safefs call was doing when it failed: the operation, the path or paths
 * involved, the OS error text and number, and, where the retry budget ran
 * out, for how long it retried. For example
 *   rename '.settings.json.safefs-1f2e...tmp' over 'settings.json' in
 *   '/home/u/.app': Permission denied (errno 13)
 *   rename 'C:\Users\u\.settings.json.safefs-...tmp' over 'settings.json'
 *   in 'C:\Users\u': The process cannot access the file because it is
 *   being used by another process (error 32), retried for 2000 ms
 *   safefs_write_file: path is NULL
 * It is for people (log it, show it, put it in a bug report), not for
 * programs: the wording may change in any release; branch on the status
 * and safefs_last_os_error() instead.
 *
 * Never NULL; "" if this thread has had no failure yet. Same lifetime as
 * safefs_last_os_error(): per thread, kept until this thread's next
 * failing safefs call; a call that succeeds does not clear it (though, as
 * with safefs_last_os_error, one that retried past a transient failure
 * leaves that failure's text). The pointer stays valid for the life of
 * the thread (the text lives in a
 * fixed per-thread buffer of a few hundred bytes; a longer sentence is
 * cut, on a UTF-8 character boundary, and ends in "..."). Recording it
 * never allocates, so it cannot itself fail. UTF-8, like the paths. */
SAFEFS_EXTERN const char *safefs_last_error_message(void);

/* ---- Retry budget (Windows sharing violations; see README) -------------- */
/* Total time, in milliseconds, that one call may spend retrying transient
 * failures (another process holding the file) before SAFEFS_EBUSY. Default
 * 2000. Values < 0 restore the default; 0 means a single attempt.
 * Process-wide, read atomically by every call; set it once at start-up. */
SAFEFS_EXTERN void safefs_set_retry_budget_ms(long ms);
SAFEFS_EXTERN long safefs_retry_budget_ms(void);

/* ---- Atomic replace ----------------------------------------------------- */
enum {
  SAFEFS_NOSYNC = 1u << 0,   /* skip the fsyncs: readers and crashed processes
                                still see old or new, never a mix; after power
                                loss the target may be old, new, or (where the
                                filesystem reorders data and renames, as ext4
                                with noauto_da_alloc or XFS do) empty or torn */
  SAFEFS_NOREPLACE = 1u << 1, /* create only if absent, atomically; else SAFEFS_EEXIST */
  SAFEFS_MKDIRS = 1u << 2,    /* create missing parent directories first (see
                                 safefs_write_file) */
  SAFEFS_PRIVATE = 1u << 3    /* a new file is readable and writable by its owner
                                 only (see safefs_write_file) */
};

/* Atomically replace (or create) the file at `path` with `size` bytes of
 * `data`. Readers and crashes see either the complete old content or the
 * complete new content, never a mix and never an empty file.
 *
 * Durable by default. POSIX: when 0 is returned the new content survives
 * power loss (file fsynced, F_FULLFSYNC on macOS, then the parent directory
 * fsynced). Windows: the data is flushed (FlushFileBuffers) before the
 * replace, so a power loss never leaves a torn or empty file, and the
 * target's directory is flushed after it, before 0 is returned, so on NTFS
 * and ReFS the replace survives a power loss after the return (where the
 * filesystem or the user's rights cannot flush a directory, as on FAT or
 * some network shares, that flush is skipped and the replace is committed
 * by the filesystem's own schedule). A power loss inside ReplaceFileW can
 * leave the old content only under the .<name>.safefs-<hex>.old backup
 * name, which safefs_sweep puts back in place. See the README's table.
 *
 * A process killed while writing leaves nothing on Linux (the temp has no
 * name until just before the rename: O_TMPFILE) but inside the one call
 * that names it, and on Windows nothing at all where the new content is
 * linked into place (the temp is created delete-on-close, and the link
 * onto the target is the commit: a new file, NOREPLACE, and a target that
 * holds nothing ReplaceFileW would keep and nobody holds open); a kill
 * inside the commit of the ReplaceFileW way, or on other systems at any
 * time, may leave a .tmp or .old name for safefs_sweep.
 *
 * An existing target keeps its permission bits (and owner where the process
 * may chown) on POSIX, and its attributes and ACLs on Windows. If `path` is
 * a symbolic link, the file it points at is replaced and the link is kept.
 * A new file gets 0666 & ~umask (or what the directory's default ACL
 * gives), as any new file; with SAFEFS_PRIVATE 0600 & ~umask (the temp is
 * never wider while it is written); on Windows with SAFEFS_PRIVATE the temp is created
 * with a protected DACL (nothing inherited) whose one ACE gives the current
 * user (of the thread's effective token) full access, and the new file
 * keeps it, so nobody else may open it at any moment; an existing target
 * keeps its own ACL, as POSIX keeps the mode (checked only under Wine,
 * which keeps no ACLs of its own: see the README). A target the
 * caller may not write is refused with SAFEFS_EACCES on both platforms
 * (POSIX: an effective-ID access check, so root still may; Windows: the
 * read-only attribute), although POSIX would let the rename replace it.
 * On filesystems that keep no owners or modes (FAT, exFAT, some FUSE and
 * SMB mounts) a caller that is not root gets the file written without
 * them (chown and chmod refused with EPERM, EINVAL, ENOSYS or ENOTSUP are
 * taken as "this filesystem cannot keep it"); for root a real chown or
 * chmod failure still fails the write.
 *
 * Returns 0, or SAFEFS_EINVAL (NULL/empty path, data NULL with size > 0,
 * unknown flags), SAFEFS_ENOENT (parent missing), SAFEFS_ENOTDIR,
 * SAFEFS_EISDIR (target is a directory), SAFEFS_EEXIST (NOREPLACE and the
 * target exists), SAFEFS_EACCES, SAFEFS_EROFS, SAFEFS_ENOSPC, SAFEFS_EIO,
 * SAFEFS_ENAMETOOLONG, SAFEFS_ENOMEM, SAFEFS_EBUSY (Windows: the target
 * stayed held by another process for the whole retry budget).
 * On failure the target is untouched and no temporary file remains. (A
 * failure after the rename, a directory sync that fails with an I/O error,
 * puts the old content back: POSIX copies it from the old file, held open
 * across the rename; Windows moves it back from the backup name after
 * ReplaceFileW. Where Windows linked the new content onto an existing
 * target, nothing keeps the old content: a failed directory flush or close
 * after the link is reported, and the target holds the complete new
 * content; a new target is removed again.)
 *
 * SAFEFS_MKDIRS: missing parent directories are created first (POSIX
 * 0777 & ~umask, Windows the ACL inherited from their parent), and each
 * new directory's parent is synced right after it is created (unless
 * SAFEFS_NOSYNC), so the directories are durable before the file is
 * reported committed. Several processes creating the same directories at
 * once all succeed. An existing component that is not a directory gives
 * SAFEFS_ENOTDIR. A failure may leave some of the new directories behind,
 * empty; never a file. */
SAFEFS_EXTERN int safefs_write_file(const char *path, const void *data, size_t size,
                                    unsigned flags);

/* Read the whole file at `path` into a new buffer (*data, *size). The buffer
 * has one extra NUL byte after the content (not counted in *size) so text
 * can be used as a C string. Release it with safefs_free. Files that grow
 * while being read are read to their end.
 * On Windows the file is opened with full sharing, so a reader never blocks
 * a writer's replace.
 * Returns 0, or SAFEFS_EINVAL, SAFEFS_ENOENT, SAFEFS_EISDIR, SAFEFS_EACCES,
 * SAFEFS_EIO, SAFEFS_ENOMEM, SAFEFS_EBUSY. On failure *data is NULL and *size 0. */
SAFEFS_EXTERN int safefs_read_file(const char *path, void **data, size_t *size);

/* Release a buffer returned by safefs_read_file. NULL is fine. */
SAFEFS_EXTERN void safefs_free(void *p);

/* ---- File identity, for cache invalidation ------------------------------
 * A stamp says which file a path names and what state it is in. The
 * contract is one sentence: equal stamps mean the same content. A false
 * "changed" costs the caller a re-read; a false "unchanged" would be a
 * stale cache, and safefs_stamp_equal never gives one for the changes a
 * stamp can see (below).
 *
 * What a stamp holds: the volume and file ID (POSIX: st_dev, st_ino and,
 * on Linux where the filesystem has one, the inode generation of
 * FS_IOC_GETVERSION; Windows: volume serial number and file ID, 128-bit
 * where FileIdInfo answers (ReFS), else the 64-bit NTFS ID whose high bits
 * are the MFT record's sequence number), the size, the modification time
 * and the status-change time (POSIX st_ctime, Windows ChangeTime). A file
 * replaced by a rename (as safefs_write_file does) is another file ID,
 * or, where the filesystem reuses the number at once (ext4), a newer
 * ctime; an edit in place changes the ctime even when the editor keeps
 * the size and puts the old mtime back.
 *
 * Racily clean stamps (git's rule for its index): file times come from a
 * coarse clock, so two changes within one tick can carry equal times. A
 * stamp taken less than a settling window after the file's last change
 * (100 ms; 3 s on FAT/exFAT, whose times have 2 s steps, and on network
 * and FUSE filesystems, whose times come from another machine's clock) is
 * marked untrusted, and an untrusted stamp never compares equal, not even
 * to itself: the answer "unchanged" is only given when it is certain.
 *
 * What a stamp cannot see: a change that rewinds the ctime (only possible
 * by setting the system clock back, or by a filesystem that keeps no
 * ctime, such as FAT, where an in-place edit that keeps the size and the
 * 2 s mtime step is invisible once that step has passed); on a network
 * filesystem, a server whose clock is behind the client's by more than the
 * window, or a server that caches attributes (NFS attribute caching:
 * mount with actimeo=0 or lookupcache=positive for exactness). On Windows
 * NTFS may update a file's times only when an in-place writer closes its
 * handle; replacements are always seen (new file ID).
 *
 * A stamp is a plain value: copy it, store it in memory, compare it with
 * safefs_stamp_equal. Its fields are for debugging only. A zeroed stamp is
 * valid and equal to nothing. Stamps of one file from two machines, or
 * from before and after a reboot, may differ (a false "changed" only). */
typedef struct safefs_stamp {
  unsigned long long file[4]; /* volume, file ID (low, high), generation */
  long long size;             /* bytes */
  long long mtime;            /* modification time, ns since 1970 UTC */
  long long ctime;            /* status-change time, ns since 1970 UTC */
  int trusted;                /* 0: taken too soon after a change (see above) */
} safefs_stamp;

/* Stamp of the file at `path` (links followed, as a reader sees it). The
 * file is opened for reading attributes only and never blocks a writer.
 * Returns 0, or SAFEFS_EINVAL (NULL or empty argument, not a regular
 * file), SAFEFS_ENOENT, SAFEFS_ENOTDIR, SAFEFS_EISDIR, SAFEFS_EACCES,
 * SAFEFS_EIO, SAFEFS_ENAMETOOLONG, SAFEFS_ENOMEM, SAFEFS_EBUSY. On failure
 * *out is zeroed (equal to nothing). */
SAFEFS_EXTERN int safefs_stamp_get(const char *path, safefs_stamp *out);

/* 1 if a and b are both trusted stamps of the same file in the same state
 * (so the content is the same); 0 otherwise, including for NULL. */
SAFEFS_EXTERN int safefs_stamp_equal(const safefs_stamp *a, const safefs_stamp *b);

/* safefs_read_file, plus the stamp of exactly what was read: it is taken
 * from the open file before reading, and checked again after; if the file
 * changed in between (an in-place writer), it is read again, a few times,
 * and if it keeps changing the content is returned with an untrusted
 * stamp, so it will be re-read next time. A replacement by rename during
 * the read does not disturb it: the open file is the old one, whole, and
 * its stamp is the old file's. The statuses are safefs_read_file's. On
 * failure *data is NULL, *size 0 and *out zeroed. */
SAFEFS_EXTERN int safefs_read_file_stamped(const char *path, void **data, size_t *size,
                                           safefs_stamp *out);

/* Streaming writer: the same guarantees as safefs_write_file for content
 * produced piece by piece. Memory stays bounded (one 64 KiB buffer) for any
 * file size. The target is not touched before safefs_writer_commit. */
typedef struct safefs_writer safefs_writer;

/* Create the temporary file beside `path`. Fails early with the statuses of
 * safefs_write_file that can be known before writing (EINVAL, ENOENT,
 * ENOTDIR, EISDIR, EACCES, EROFS, ENOSPC, ENAMETOOLONG, ENOMEM, and EEXIST
 * for NOREPLACE when the target already exists; the final NOREPLACE check
 * is still the atomic one at commit). SAFEFS_MKDIRS creates the missing
 * parent directories here, as for safefs_write_file (an aborted writer
 * leaves them). On failure *out is NULL. */
SAFEFS_EXTERN int safefs_writer_open(safefs_writer **out, const char *path, unsigned flags);

/* Append bytes. On failure the writer is poisoned: later writes and the
 * commit return the same status, and the caller must still call
 * safefs_writer_commit or safefs_writer_abort to release it. */
SAFEFS_EXTERN int safefs_writer_write(safefs_writer *w, const void *data, size_t size);

/* Flush, sync and atomically put the content in place. Always releases w,
 * whatever the outcome. On failure the target is untouched and the
 * temporary file is removed. */
SAFEFS_EXTERN int safefs_writer_commit(safefs_writer *w);

/* Discard: remove the temporary file and release w. The target is never
 * touched. NULL is fine. */
SAFEFS_EXTERN void safefs_writer_abort(safefs_writer *w);

/* ---- Batches: many files for the price of a few flushes ------------------
 * A batch replaces many files, each with the guarantee of
 * safefs_write_file (after any crash each holds its complete old or its
 * complete new content, never a mix; readers see old or new), for far
 * fewer flushes: the temps are written together, their writeback started
 * together (Linux: sync_file_range), all synced at once from a few
 * threads the commit starts and joins (one per 4 files, up to 16), so that
 * the filesystem's journal folds the syncs into shared commits, then each
 * put in place, and each distinct directory synced once at the end
 * instead of once per file. On ext4 and XFS under Linux 5.8 and later,
 * while the system holds little other unwritten data (at most as much as
 * the batch, or 1 MiB), one syncfs of each filesystem takes the place of
 * the files' syncs: one journal commit for all.
 *
 *   safefs_batch *b;
 *   safefs_batch_begin(&b, 0);
 *   safefs_batch_add(b, "pkg/a.json", a, a_len);   (copies the content)
 *   safefs_batch_add(b, "pkg/b.json", b_, b_len);
 *   if (safefs_batch_commit(b) != 0) ...          (always releases b)
 *
 * The set is NOT all-or-nothing. What each moment leaves:
 *   - Before the commit nothing is on disk: safefs_batch_add only checks
 *     the path and keeps a copy of the content in memory (so a batch is
 *     meant for many small files; stream a big one with safefs_writer). A
 *     process killed before or inside the commit's first step leaves
 *     nothing.
 *   - The commit works through the files in the order they were added, up
 *     to 64 at a time: their temps are created, written and synced, then
 *     each is put in place. A crash during the commit leaves each file old
 *     or new on its own: a file added later may be new while an earlier
 *     one is old (the renames reach the disk in their own order until the
 *     directory is synced). When commit returns 0, every file is new and
 *     durable (without SAFEFS_NOSYNC).
 *   - A failure stops the commit at the file that failed, which the
 *     message names. Counted in the order added, the first files hold
 *     their new content and all the others their old one, with no temp
 *     left; safefs_batch_commit_report tells how many are new. A file that
 *     cannot be started (a bad path: a directory, a read-only target, a
 *     missing parent) or synced stops the commit before any file of its
 *     group of 64 is put in place, so among the first 64 files it leaves
 *     every file old. A directory sync that fails at the end leaves every file new but
 *     perhaps not durable (the old content is not put back, unlike
 *     safefs_write_file: holding every old file open would cost a
 *     descriptor each).
 *   - A path added twice gets the content added last.
 * Flags: SAFEFS_NOSYNC, SAFEFS_MKDIRS (created at commit, each new
 * directory durable before the files in it) and SAFEFS_PRIVATE, as for
 * safefs_write_file; SAFEFS_NOREPLACE is refused (SAFEFS_EINVAL).
 * Windows: the same, with FlushFileBuffers from the threads. */
typedef struct safefs_batch safefs_batch;

/* Start an empty batch. SAFEFS_EINVAL for unknown flags or NOREPLACE,
 * SAFEFS_ENOMEM. On failure *out is NULL. */
SAFEFS_EXTERN int safefs_batch_begin(safefs_batch **out, unsigned flags);

/* Add a file: `size` bytes of `data`, copied. Checks the path (as
 * safefs_write_file does before touching the disk) and nothing on disk.
 * SAFEFS_EINVAL, SAFEFS_ENOMEM; the batch stays usable after a failed add
 * (that file is not in it). */
SAFEFS_EXTERN int safefs_batch_add(safefs_batch *b, const char *path, const void *data,
                                   size_t size);

/* Put every file in place (above). Always releases b. Returns 0 or the
 * status of the first failure, with the statuses of safefs_write_file. */
SAFEFS_EXTERN int safefs_batch_commit(safefs_batch *b);

/* safefs_batch_commit, and *installed (if not NULL) set to how many files,
 * counted in the order they were added, hold their new content when it
 * returns (the first *installed; the others hold their old content): all
 * of them on 0, and on a failure of the final directory sync. */
SAFEFS_EXTERN int safefs_batch_commit_report(safefs_batch *b, size_t *installed);

/* Drop the batch; nothing was on disk yet. NULL is fine. */
SAFEFS_EXTERN void safefs_batch_abort(safefs_batch *b);

/* ---- Inter-process lock ------------------------------------------------- */
enum { SAFEFS_LOCK_EXCLUSIVE = 0, SAFEFS_LOCK_SHARED = 1u << 0 };

typedef struct safefs_lock safefs_lock;

/* Acquire a lock on the lock file `path` (created if absent, 0666 & ~umask
 * on POSIX; its directory must exist). The lock file should be a dedicated
 * sidecar such as "data.json.lock", not the data file: safefs writes a
 * marker byte into it, and safefs_write_file replaces the data file by a
 * rename, which a lock on the old file would not cover. The lock file is
 * never deleted by safefs (and should not be deleted while in use).
 *
 * Every safefs_lock object is its own holder: two objects on one path
 * exclude each other whether they are in two processes, two threads or one
 * thread. It is not reentrant: a thread that already holds the lock file
 * (through another object, shared or exclusive) and asks again with no
 * timeout gets SAFEFS_EDEADLK at once instead of waiting for itself; with
 * a timeout it waits and times out (a shared request can also wait behind
 * an exclusive acquirer queued at the gate, see below). Closing some other
 * descriptor or handle of the lock file does not release it. Programs the
 * holder starts never inherit it (a POSIX child forked without exec shares
 * it until it exits or execs, though release still frees it). It is
 * released when the holder dies (at once on POSIX, after a short OS delay
 * on Windows). Shared holders coexist; an exclusive holder excludes
 * everyone; a waiting exclusive acquirer holds back new shared ones
 * (writer preference). POSIX: flock() plus a byte-range lock for the
 * gate; Windows: LockFileEx on two bytes (see README).
 *
 * The lock file is never followed: a symbolic link, junction or other
 * reparse point at `path` is refused with SAFEFS_EINVAL and the file it
 * names is never touched. And safefs writes only into its own lock files:
 * a file that is empty or holds just the marker byte ('0' or '1'); any
 * other file (the data file locked by mistake) is refused with
 * SAFEFS_EINVAL, unchanged. Creating a missing lock file is retried
 * within the retry budget when a network or FUSE filesystem says ENOENT
 * although the directory exists.
 *
 * timeout_ms: 0 = one attempt, < 0 = wait forever, > 0 = wait at most that
 * long (returning within a few milliseconds after it). Returns 0, or
 * SAFEFS_ETIMEDOUT (held by someone else for the whole timeout),
 * SAFEFS_EDEADLK (no timeout, and this thread already holds it),
 * SAFEFS_EINVAL (NULL/empty path, unknown flags, not a regular file, a
 * link, not a safefs lock file),
 * SAFEFS_ENOENT (directory missing), SAFEFS_ENOTDIR, SAFEFS_EISDIR,
 * SAFEFS_EACCES, SAFEFS_EROFS, SAFEFS_ENOTSUP (the filesystem has no locks),
 * SAFEFS_ENOSPC / SAFEFS_EIO (writing the marker), SAFEFS_ENAMETOOLONG,
 * SAFEFS_ENOMEM, SAFEFS_EBUSY (Windows: another program kept the lock file
 * open without sharing for the whole retry budget). Errors other than
 * ETIMEDOUT are reported at once. On failure *out is NULL and no lock is
 * held. */
SAFEFS_EXTERN int safefs_lock_acquire(safefs_lock **out, const char *path, unsigned flags,
                                      long timeout_ms);

/* 1 if this exclusive lock was acquired after the previous exclusive
 * holder died (or its release failed) without releasing it cleanly, so the
 * data it guarded may be half written; 0 otherwise. Always 0 for shared
 * locks, and for NULL. It reports process death; after a power loss or OS
 * crash it may be either value (the marker byte is not fsynced). */
SAFEFS_EXTERN int safefs_lock_abandoned(const safefs_lock *lock);

/* Release the lock and free the object, whatever the outcome: even when a
 * status is returned (the marker could not be cleared, SAFEFS_EIO), the
 * lock is no longer held. NULL is fine (returns SAFEFS_EINVAL). */
SAFEFS_EXTERN int safefs_lock_release(safefs_lock *lock);

/* ---- Retrying deleter --------------------------------------------------- */
/* timeout_ms, for both removers: the total time the call may spend retrying
 * transient failures (Windows: another process holding a file) before
 * SAFEFS_EBUSY; < 0 means the library default (safefs_retry_budget_ms()),
 * 0 one attempt. Real errors (permission denied...) are reported at once.
 *
 * Trash names: where a name is renamed aside before deletion it becomes
 * ".<name>.safefs-<16 hex>.trash" in the same directory (hidden), which
 * safefs_sweep recognises. */

/* Remove one file, or a symbolic link (never its target; on Windows also a
 * directory symlink or junction). A read-only file is removed too: POSIX
 * needs only a writable directory, and on Windows safefs clears the
 * attribute, for the same result.
 *
 * On Windows the file is first renamed aside to a trash name, then
 * deleted, so its name is free when 0 is returned even if another process
 * still has it open with FILE_SHARE_DELETE (the trash entry vanishes when
 * that process closes it). On POSIX the name goes at once anyway.
 *
 * Returns 0, or SAFEFS_EINVAL (NULL or empty path, or one ending in a
 * separator, "." or ".."), SAFEFS_ENOENT (absent, or its directory is;
 * racing deleters may treat it as success), SAFEFS_EISDIR (a directory:
 * nothing is done, see safefs_remove_tree), SAFEFS_ENOTDIR (a parent is
 * not a directory), SAFEFS_EACCES, SAFEFS_EROFS, SAFEFS_EIO, SAFEFS_ENOMEM,
 * SAFEFS_ENAMETOOLONG, SAFEFS_EBUSY (Windows only: the budget ran out).
 * After SAFEFS_EBUSY the file is either untouched under its name (another
 * process had it open without FILE_SHARE_DELETE, so it could not even be
 * renamed) or, rarely, renamed aside with the name already free, left for
 * safefs_sweep. Every other failure leaves the file under its name. */
SAFEFS_EXTERN int safefs_remove(const char *path, long timeout_ms);

/* Remove a directory and everything below it. The directory is first
 * renamed aside atomically to a trash name in the same directory, so other
 * processes see the whole tree under its name or no tree at all, never a
 * half-deleted one, and the name can be reused as soon as the rename is
 * done; of two concurrent removers one wins and the other gets
 * SAFEFS_ENOENT. The renamed copy is then deleted, deepest entries first,
 * iteratively (any depth) with a bounded number of open handles. On POSIX
 * the parent directory is fsynced after the rename and before anything
 * inside is deleted, so after a power loss too the tree is whole under its
 * name or gone from it (a failing fsync there leaves the whole tree under
 * the trash name, for safefs_sweep).
 *
 * Links are never followed: a symbolic link or junction inside the tree is
 * removed itself, and if `path` itself is a link, the link is removed and
 * its target left alone. Read-only files inside are removed (Windows:
 * attribute cleared); on POSIX, directories inside that lack owner write or
 * search permission are given it (they are about to go); a directory that
 * cannot be read at all is SAFEFS_EACCES.
 *
 * Returns 0, or SAFEFS_EINVAL, SAFEFS_ENOENT (absent, or another remover
 * won), SAFEFS_ENOTDIR (a file: nothing is done; or a parent is not a
 * directory), SAFEFS_EACCES, SAFEFS_EROFS, SAFEFS_EIO, SAFEFS_ENOMEM,
 * SAFEFS_ENAMETOOLONG, SAFEFS_EBUSY (Windows: held for the whole budget;
 * POSIX: the copy was moved by another process while being deleted).
 * A failure before the rename (including SAFEFS_EBUSY when Windows will not
 * rename a directory with files open below it) leaves the tree whole under
 * its name. A failure after it leaves the name free and the rest of the
 * tree under the trash name, for safefs_sweep to finish. */
SAFEFS_EXTERN int safefs_remove_tree(const char *path, long timeout_ms);

/* Remove what safefs itself left in `dir` (not below it) after a crash or
 * an interrupted call: temporary files (".tmp"), replace backups (".old")
 * and trash (".trash", files or whole trees, deleted as by
 * safefs_remove_tree, no link followed). Only names of the exact shape
 * ".<name>.safefs-<16 lowercase hex>.<tmp|old|trash>" are touched; any
 * other name never is.
 *
 * An entry goes only if it is at least min_age_s seconds old, counted from
 * its last modification or status change (POSIX ctime, Windows
 * ChangeTime), whichever is later, so a rename into the trash or a backup
 * link counts as fresh. A live writer is safe as long as min_age_s is
 * longer than it leaves its temp file untouched; 0 removes every such
 * entry now, whatever the clocks say.
 * Transient failures are retried within the default budget, for the whole
 * sweep together.
 *
 * A replace backup (".old") whose target is missing is the old content a
 * crash inside a replace left (Windows: ReplaceFileW is two renames): it
 * is renamed back to the target's name, never over an existing file. If
 * several backups stand for one missing target, all stay and the status is
 * SAFEFS_EEXIST: the application must choose.
 *
 * Returns 0, or the first failure's status (it still tries every entry):
 * SAFEFS_EINVAL (NULL or empty dir, min_age_s < 0), SAFEFS_EEXIST (see
 * above), SAFEFS_ENOENT,
 * SAFEFS_ENOTDIR (dir is not a directory), SAFEFS_EACCES, SAFEFS_EBUSY,
 * SAFEFS_EIO, SAFEFS_ENOMEM. */
SAFEFS_EXTERN int safefs_sweep(const char *dir, long min_age_s);

#ifdef __cplusplus
}
#endif

#endif /* SAFEFS_H */
