/*
 * The test seam: every OS call either backend makes, and every allocation,
 * first asks safefs__seam() whether to go ahead. In production no hook is
 * installed and the check is one load and one branch. Tests install a hook
 * to count calls (fsyncs, handles), record the sequence of calls, or make
 * any one of them fail (the idea of SQLite's aSyscall table and libgit2's
 * p_fsync__cnt, done as one hook so that both backends share it).
 *
 * The hook is process-wide and must be installed or removed while no other
 * thread is inside safefs.
 */
#ifndef SAFEFS_SEAM_H
#define SAFEFS_SEAM_H

#include <stddef.h>

/* The operations, named by what they do to the disk, not by the OS call:
 * X(NAME, name for tests and traces, verb for safefs_last_error_message). */
#define SAFEFS__OP_MAP(X)                                                                  \
  X(OPEN_DIR, "open_dir", "open directory")   /* open a directory handle             */  \
  X(STAT, "stat", "look at")                  /* look at a path without opening it   */  \
  X(READLINK, "readlink", "read link")        /* read a symbolic link                */  \
  X(CREATE_TEMP, "create_temp", "create")     /* create the temp file exclusively    */  \
  X(CREATE_ANON, "create_anon", "create a nameless temp for") /* O_TMPFILE: no name  */ \
  X(LINK_TEMP, "link_temp", "name the temp as") /* give a nameless temp its name      */  \
  X(DOOM_TEMP, "doom_temp", "mark delete-on-close") /* Win32: temp dies with handle   */  \
  X(KEEP_TEMP, "keep_temp", "clear delete-on-close of") /* Win32: keep it after close */ \
  X(WRITE, "write", "write")                  /* write bytes to an open file         */  \
  X(SYNC, "sync", "sync")                     /* make a file's data durable          */  \
  X(SYNC_START, "sync_start", "start writing out") /* a hint: begin writeback, no wait */ \
  X(SYNC_FS, "sync_fs", "sync the filesystem of") /* every dirty file of one filesystem */ \
  X(COUNT_DIRTY, "count_dirty", "count the unwritten data in") /* the system's, in bytes */ \
  X(SET_MODE, "set_mode", "set permissions of") /* permissions / owner / attributes  */  \
  X(CLOSE, "close", "close")                  /* close a file or handle              */  \
  X(LINK, "link", "link")                     /* hard link (backup of the old target) */ \
  X(RENAME, "rename", "rename")               /* rename or replace                   */  \
  X(SYNC_DIR, "sync_dir", "sync directory")   /* make directory entries durable      */  \
  X(UNLINK, "unlink", "delete")               /* remove a name                       */  \
  X(OPEN_READ, "open_read", "open")           /* open a file for reading             */  \
  X(READ, "read", "read")                     /* read bytes                          */  \
  X(OPEN_LOCK, "open_lock", "open lock file") /* open or create a lock file          */  \
  X(LOCK, "lock", "lock")                     /* take or wait for a file lock        */  \
  X(UNLOCK, "unlock", "unlock")               /* drop a file lock                    */  \
  X(LIST_DIR, "list_dir", "list directory")   /* enumerate a directory               */  \
  X(RMDIR, "rmdir", "remove directory")       /* remove an empty directory           */  \
  X(MKDIR, "mkdir", "create directory")       /* create a directory                  */  \
  X(RANDOM, "random", "read random bytes")    /* read the OS random source           */  \
  X(ALLOC, "alloc", "allocate")               /* allocate memory                     */  \
  X(FREE, "free", "free") /* release memory (the hook's answer is ignored)            */

enum safefs__op {
#define SAFEFS__OP_ENUM(name, str, verb) SAFEFS__OP_##name,
  SAFEFS__OP_MAP(SAFEFS__OP_ENUM)
#undef SAFEFS__OP_ENUM
  SAFEFS__OP_COUNT
};

/* One call about to be made. Pointers are valid only during the hook. */
struct safefs__call {
  enum safefs__op op;
  const char *path;      /* UTF-8 or NULL; the main path or name involved   */
  const char *path2;     /* second path (rename/link target) or NULL        */
  const char *backup;    /* RENAME by ReplaceFileW: the backup's UTF-8 name,
                            or NULL                                         */
  unsigned flags;        /* RENAME, and a LINK_TEMP that names a named temp
                            anew (Win32): SAFEFS__RENAME_* flags;
                            CREATE_TEMP: SAFEFS__CREATE_DOOMED            */
  const void *data;      /* WRITE: the bytes about to be written; ALLOC: the
                            block being grown (NULL for a new one); FREE:
                            the block                                       */
  size_t size;           /* WRITE/READ/ALLOC: the size asked for            */
  long long handle;      /* the descriptor or handle involved, or -1        */
};

/* Flags, in `flags`, so a test can see what kind of call it is:
 *   RENAME_NOREPLACE  (RENAME, LINK_TEMP) fails if the destination exists
 *              (renameat2 RENAME_NOREPLACE, MoveFileExW without
 *              MOVEFILE_REPLACE_EXISTING, a link without ReplaceIfExists);
 *   RENAME_DURABLE  (RENAME) durable when it returns
 *              (MOVEFILE_WRITE_THROUGH); on POSIX a rename is durable only
 *              after its directory's fsync;
 *   CREATE_DOOMED  (CREATE_TEMP) the file is created delete-on-close for
 *              good (Win32 FILE_FLAG_DELETE_ON_CLOSE): the name it was
 *              created with goes when its handle is closed, whatever
 *              other names it gets meanwhile. */
#define SAFEFS__RENAME_NOREPLACE 1u
#define SAFEFS__RENAME_DURABLE 2u
#define SAFEFS__CREATE_DOOMED 4u

/* What a hook returns:
 *   0                  go ahead with the real call;
 *   > 0                fail the call with this OS error (errno value on
 *                      POSIX, Win32 error code on Windows), without making it;
 *   SAFEFS__SEAM_SHORT (WRITE/READ only) make the call with half the size,
 *                      at least 1 byte: a short write or read;
 *   SAFEFS__SEAM_SKIP  (SYNC/SYNC_DIR/SYNC_FS only) do not make the call and
 *                      report success, as a filesystem that ignores fsync
 *                      would: the broken protocol that the power-loss and
 *                      crash-model tests must catch (their negative
 *                      control). For COUNT_DIRTY: do not look, and report
 *                      that nothing is dirty (so that a test can choose
 *                      the batch's whole-filesystem sync; an error
 *                      answer makes it sync file by file). */
#define SAFEFS__SEAM_SHORT (-1L)
#define SAFEFS__SEAM_SKIP (-2L)
typedef long (*safefs__seam_fn)(void *ctx, const struct safefs__call *call);

void safefs__seam_set(safefs__seam_fn fn, void *ctx);
long safefs__seam(const struct safefs__call *call);

/* The outcome of a call, for hooks that record what happened (descriptors
 * returned by opens, which calls failed). Optional: set it after
 * safefs__seam_set (which clears it); it gets the same ctx and the call
 * as the hook saw it.
 *
 * Every wrapper in src/<backend>/sys.c (all the OS calls either backend
 * makes, the Win32 lock's included) asks about its call with
 * safefs__seam_call or safefs__seam_rename and reports the outcome exactly
 * once, after it, with safefs__seam_done:
 *   result  opens (OPEN_DIR, CREATE_TEMP, OPEN_READ, OPEN_LOCK, and on
 *           Windows the opens made by handle-relative NtCreateFile under
 *           the op they prepare: STAT, UNLINK, RMDIR, RENAME): the new
 *           descriptor or handle (a HANDLE as (long long)(intptr_t));
 *           WRITE/READ: the bytes transferred; every other op: 0;
 *           -1 for a failure, including one the hook injected;
 *   oserr   the OS error (errno / GetLastError()) when result is -1, else 0.
 * A call the hook skipped (SAFEFS__SEAM_SKIP) reports result 0. A wrapper
 * that asks the seam again before retrying (EINTR) reports each attempt.
 * The wrapper keeps its errno / last error across the report. ALLOC, FREE
 * and RANDOM do not report. With no hook installed this is one load and
 * one branch, like safefs__seam(). */
typedef void (*safefs__seam_after_fn)(void *ctx, const struct safefs__call *call, long long result,
                                      long oserr);
void safefs__seam_set_after(safefs__seam_after_fn fn);
const char *safefs__op_name(enum safefs__op op);

/* The verb safefs_last_error_message uses for op ("rename", "sync"). */
const char *safefs__op_verb(enum safefs__op op);

/* Shorthand for the common case: only the op and one path. */
long safefs__seam_op(enum safefs__op op, const char *path);

/* The whole call in one go (handle -1 if none); remembered per thread for
 * safefs__seam_done. */
long safefs__seam_call(enum safefs__op op, const char *path, const char *path2, const void *data,
                       size_t size, long long handle);

/* The same for a call that takes flags (see above), and no data. */
long safefs__seam_flagged(enum safefs__op op, const char *path, const char *path2, unsigned flags,
                          long long handle);

/* The same for a RENAME of `from` to `to` (over it unless flags has
 * SAFEFS__RENAME_NOREPLACE), keeping the old `to` at `backup` if not NULL. */
long safefs__seam_rename(const char *from, const char *to, const char *backup, unsigned flags,
                         long long handle);

/* Report the outcome of this thread's last safefs__seam_call to the
 * after-hook, and, for a failure (result < 0), record the call and its OS
 * error for safefs_last_error_message (error.c). Called with or without a
 * hook. It may change errno / the last error: wrappers keep theirs. */
void safefs__seam_done(long long result, long oserr);

/* error.c: copy a failed call's verb and paths for the message. */
void safefs__record_failed_call(const struct safefs__call *call, long oserr);

#endif /* SAFEFS_SEAM_H */
