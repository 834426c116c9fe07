/*
 * The seam between the shared code in src/ and the two backends,
 * src/posix/ and src/win32/. Each backend implements every function here,
 * in the file named in the section heading, and nothing else is shared
 * between them. Shared code never includes an OS header.
 */
#ifndef SAFEFS_PLATFORM_H
#define SAFEFS_PLATFORM_H

#include "internal.h"
#include "seam.h"

/* ---- error.c ------------------------------------------------------------ */
/* Map an OS error (errno / GetLastError() value) to a SAFEFS_E* status. The
 * one place each backend translates errors. */
int safefs__status_from_os(long oserr);

/* The OS's own text for `oserr` and its number, for the error message:
 * "Permission denied (errno 13)", "Access is denied (error 5)". Written
 * into buf (cap bytes, NUL-terminated, cut if need be), never allocating. */
void safefs__os_error_text(long oserr, char *buf, size_t cap);

/* 1 if `oserr` means another process holds the file for a moment (sharing
 * or lock violation, access denied on a delete-pending file...): worth
 * retrying through safefs__retry. Always 0 on POSIX. */
int safefs__os_transient(long oserr);

/* error.c: publish the message for the failed call behind `oserr` (see
 * safefs__fail_os_at) and record oserr. */
void safefs__publish_os(long oserr, const char *subject, const char *dir);

/* Fail with the status `oserr` maps to and publish the message for the
 * call that failed with it: "<verb> '<path>'[ over '<path2>']: <OS
 * text>". With context: `subject` names the file when the call itself had
 * no path (a write, sync or close on a descriptor or handle), `dir` (may
 * be NULL) is added as " in '<dir>'". Always a failure: an OS error that
 * maps to no status (0) is SAFEFS_EUNKNOWN. */
static SAFEFS__INLINE int safefs__fail_os_at(long oserr, const char *subject, const char *dir) {
  int status = safefs__status_from_os(oserr);
  safefs__publish_os(oserr, subject, dir);
  return status < 0 ? status : SAFEFS_EUNKNOWN;
}

static SAFEFS__INLINE int safefs__fail_os(long oserr) {
  return safefs__fail_os_at(oserr, 0, 0);
}

/* The verdict on one failed attempt, for the attempt functions given to
 * safefs__retry: publish the failure (as safefs__fail_os_at, with `subject`
 * and `dir` as context) and return SAFEFS__AGAIN if the OS error is
 * transient (another process holds the file for a moment), else its
 * status. The one place that decides "try again or give up". */
static SAFEFS__INLINE int safefs__attempt_failed(long oserr, const char *subject,
                                                 const char *dir) {
  int rc = safefs__fail_os_at(oserr, subject, dir);
  return safefs__os_transient(oserr) ? SAFEFS__AGAIN : rc;
}

/* ---- os.c --------------------------------------------------------------- */
/* Fill buf with bytes from the OS CSPRNG: 0, or a status with the OS error
 * in *oserr. (The seam and the message are the shared safefs__random's.) */
int safefs__os_random(void *buf, size_t size, long *oserr);

/* Monotonic clock in milliseconds; only differences are meaningful. */
long long safefs__now_ms(void);

/* 1 if this backend can create a file for its owner only
 * (SAFEFS_PRIVATE): POSIX by its mode (0600), Windows by an owner-only,
 * protected DACL on the temp (src/win32/sys.c). Both backends can; the
 * check stays for a backend that could not. */
int safefs__can_create_private(void);

/* The wall clock in nanoseconds since 1970 UTC, as stamps count file
 * times on every platform. */
long long safefs__wall_ns(void);

/* The process-wide mutex of the few tables safefs keeps (the locks each
 * thread holds, src/lock.c): 1 takes it, 0 lets it go. Never held across
 * an OS call that may wait. */
void safefs__process_mutex(int take);

/* A thread of the process: safefs__thread_start runs fn(arg) in a new
 * one (NULL if it cannot be started: the caller then does the work
 * itself), safefs__thread_join waits for it to end and frees it. Each
 * thread has its own error state (safefs_last_error_message). The batch
 * syncs its temps from a few (src/batch.c). */
typedef struct safefs__thread safefs__thread;
safefs__thread *safefs__thread_start(void (*fn)(void *arg), void *arg);
void safefs__thread_join(safefs__thread *t);

/* Sleep for ms milliseconds (0 yields). */
void safefs__sleep_ms(long ms);

/* 1 if c separates path components ('/' everywhere, also '\\' on Windows). */
int safefs__is_sep(int c);

/* ---- replace.c: the atomic-replace protocol ------------------------------
 * A temp file beside the target, filled, synced and put in place. The
 * shared writer (src/writer.c) does buffering and argument checks and
 * calls these in order: create, write*, then exactly one of commit or
 * discard. */
typedef struct safefs__temp safefs__temp;
typedef struct safefs__dir safefs__dir; /* a directory handle: remove.c below */

/* Resolve the target (following symbolic links to the file they name),
 * check it is not a directory (and, for SAFEFS_NOREPLACE, that it does not
 * exist yet), and create the temp file exclusively in its directory.
 * On failure nothing is left on disk and *out is NULL. */
int safefs__temp_create(safefs__temp **out, const char *path, unsigned flags);

/* Write all of data, retrying interrupted and short writes. */
int safefs__temp_write(safefs__temp *t, const void *data, size_t size);

/* Sync the temp (unless SAFEFS_NOSYNC), give it the final permissions and
 * put it in place atomically, then make the rename durable. Frees t and,
 * on failure, removes the temp and leaves the target as it was. */
int safefs__temp_commit(safefs__temp *t);

/* Remove the temp file and free t. Never touches the target. */
void safefs__temp_discard(safefs__temp *t);

/* The batch (src/batch.c) commits many temps with one directory sync per
 * directory instead of one per file, in steps taken for all the temps of a
 * group before the next step:
 *   safefs__temp_sync_start: start writing the temp's data out without
 *     waiting (Linux sync_file_range; elsewhere nothing), so that the syncs
 *     that follow overlap their I/O instead of waiting one by one. A hint:
 *     nothing is made durable, and nothing is reported. Nothing with
 *     SAFEFS_NOSYNC.
 *   safefs__temp_sync_is_free: 1 where the temp's filesystem keeps files
 *     in memory only (Linux tmpfs and ramfs, the BSDs' tmpfs), so that its
 *     syncs cost nothing and syncing from threads would cost only the
 *     threads; 0 elsewhere, and when the filesystem cannot be told.
 *   safefs__temps_sync_together: where one flush of each whole
 *     filesystem is known to cost little (Linux 5.8 and later, whose
 *     syncfs reports writeback errors, while the system holds little
 *     unwritten data besides the batch's own `bytes`), the final
 *     permissions of every temp of temps[0..n), then one syncfs per
 *     filesystem among them, in place of each temp's own sync; *taken is
 *     then 1. Elsewhere and otherwise *taken is 0 and nothing was done:
 *     the caller syncs each temp. On failure *failed is the index of a
 *     temp whose sync failed (the first on a filesystem whose flush did).
 *   safefs__temp_sync: the final permissions (attributes), then the data
 *     sync (unless NOSYNC): the first half of safefs__temp_commit. On
 *     failure t is still the caller's, to discard.
 *   safefs__temp_install: the rest of safefs__temp_commit but its
 *     directory sync: put in place. Frees t. *in_place says whether the
 *     new content is in place: a failure to put it there leaves the target
 *     as it was and no temp (the temp is closed before the rename, as
 *     nothing could undo a failure after it), but one in handing over the
 *     directory (POSIX: its fstat, or memory) comes after the rename. With
 *     dir, *dir receives the target's directory for the caller's one
 *     sync, or NULL.
 * All syncs before any rename: a rename between two syncs would put a
 * directory change into the journal transaction that the next sync must
 * commit, one transaction per file instead of a few shared ones. */
void safefs__temp_sync_start(safefs__temp *t);
int safefs__temp_sync_is_free(const safefs__temp *t);
int safefs__temps_sync_together(safefs__temp **temps, size_t n, unsigned long long bytes,
                                int *taken, size_t *failed);
int safefs__temp_sync(safefs__temp *t);
int safefs__temp_install(safefs__temp *t, safefs__dir **dir, int *in_place);

/* ---- read.c: one file opened for a whole-file read ----------------------
 * The growing-buffer loop is shared (src/read.c); the backend opens, reads
 * and closes. A safefs__rfile is the backend's (a descriptor or a HANDLE,
 * and the path for messages, borrowed from the caller until the close). */
typedef struct safefs__rfile safefs__rfile;

/* Open `path` for reading (on Windows with every share mode, so a reader
 * never blocks a writer; a held file is waited out for the retry budget).
 * A directory is SAFEFS_EISDIR. *size_hint is the current size, or 0 when
 * it is unknown or not a regular file. On failure *out is NULL. */
int safefs__rfile_open(safefs__rfile **out, const char *path, size_t *size_hint);

/* Read up to cap bytes into buf; *got is 0 at end of file. Interrupted
 * reads are retried. */
int safefs__rfile_read(safefs__rfile *f, void *buf, size_t cap, size_t *got);

/* Close the file and free f. */
void safefs__rfile_close(safefs__rfile *f);

/* ---- stamp.c: file identity ----------------------------------------------
 * What a backend reads off a file for a safefs_stamp (src/stamp.c decides
 * trust and equality). Times are nanoseconds since 1970 UTC, and `now` is
 * the wall clock in the same units, read just BEFORE the attributes: any
 * change after the attributes were read is then stamped no earlier than
 * now minus one tick of the filesystem's clock, which is what makes the
 * settling rule sound. `settle` is that window for the file's filesystem. */
struct safefs__identity {
  unsigned long long file[4]; /* volume, file ID low, high, generation */
  long long size, mtime, ctime, now, settle;
};

/* Settling windows: local filesystems with fine times (one clock tick is a
 * few ms on Linux, 15.6 ms on Windows), and those with coarse times or
 * another machine's clock (FAT's 2 s steps, network, FUSE). */
#define SAFEFS__SETTLE_FINE_NS (100LL * 1000000)
#define SAFEFS__SETTLE_COARSE_NS (3000LL * 1000000)

/* Identity of the file at `path`, links followed, opened for attributes
 * only. A directory is SAFEFS_EISDIR, another non-regular file
 * SAFEFS_EINVAL. */
int safefs__identity_path(const char *path, struct safefs__identity *id);

/* Identity of a file opened by safefs__rfile_open. */
int safefs__rfile_identity(safefs__rfile *f, struct safefs__identity *id);

/* Shared (src/stamp.c), not backend: the stamp for an identity, trusted
 * once the settling window has passed; and whether two stamps name the
 * same file in the same state, trust aside. */
void safefs__stamp_from(const struct safefs__identity *id, safefs_stamp *out);
int safefs__stamp_same(const safefs_stamp *a, const safefs_stamp *b);

/* ---- lock.c: the inter-process lock ---------------------------------------
 * One open lock file per safefs_lock object: the OS lock belongs to that
 * open file (POSIX open file description / Win32 handle), so two objects
 * exclude each other even inside one thread. The shared src/lock.c does the
 * argument checks, the polling with backoff where the OS cannot wait with a
 * timeout, and the abandoned marker (byte 0 of the file). */
typedef struct safefs__lockfile safefs__lockfile;

/* Open the lock file, creating it (0666 & ~umask on POSIX) if absent; its
 * directory must exist. The handle is never inherited by child processes.
 * Not a regular file: SAFEFS_EISDIR for a directory, else SAFEFS_EINVAL.
 * Errors come at once; only Windows retries transient sharing errors, within
 * the retry budget. On failure *out is NULL. */
int safefs__lockfile_open(safefs__lockfile **out, const char *path);

/* Each lock file carries two OS locks (see src/lock.c for the protocol):
 * HOLD is the lock itself; GATE is taken exclusively by an exclusive
 * acquirer while it waits, and passed through (shared, briefly) by a
 * shared acquirer, so that a waiting exclusive acquirer holds back new
 * shared ones (writer preference). Both are released by the OS when the
 * process dies. */
#define SAFEFS__LOCK_HOLD 0
#define SAFEFS__LOCK_GATE 1

/* Take lock `which` (HOLD or GATE), shared or exclusive. wait_ms 0: one
 * attempt; < 0: wait until it is free; > 0: wait at most that long where
 * the OS has a timed wait, or else make one attempt and let the caller
 * poll. Returns 0 (held), SAFEFS__AGAIN (another holder has it; its OS
 * error recorded) or a status for anything that waiting will not cure. */
int safefs__lockfile_lock(safefs__lockfile *f, int which, int shared, long wait_ms);

/* Drop lock `which` taken by safefs__lockfile_lock (explicitly: see
 * lock.c). */
int safefs__lockfile_unlock(safefs__lockfile *f, int which);

/* 1 if nobody holds the gate in a way that would stop this acquirer
 * (`shared`) from taking it, asked without taking it (POSIX: one
 * F_OFD_GETLK), so that an uncontended acquirer may go straight to one
 * try of the lock (src/lock.c); 0 if someone does, if the OS cannot ask
 * (Windows: LockFileEx has no test; a try and an unlock would cost what
 * the gate costs), or on any error (the gate itself then reports it). */
int safefs__lockfile_gate_free(safefs__lockfile *f, int shared);

/* What the lock file holds: *byte is -1 if it is empty, the byte if it
 * holds exactly one (the marker), SAFEFS__LOCK_NOT_MARKER if it holds
 * more (then it is no lock file of safefs's: src/lock.c refuses it). */
#define SAFEFS__LOCK_NOT_MARKER (-2)
int safefs__lockfile_read_byte(safefs__lockfile *f, int *byte);
int safefs__lockfile_write_byte(safefs__lockfile *f, unsigned char byte);

/* Which file f is (device and inode; volume and file index), so that
 * two lock objects on one file can be told apart from two files. */
void safefs__lockfile_id(const safefs__lockfile *f, unsigned long long id[2]);

/* Close the file (dropping any lock still held) and free f. */
int safefs__lockfile_close(safefs__lockfile *f);

/* ---- remove.c: the retrying deleter ----------------------------------------
 * The shared code in src/remove.c decides what to remove, in which order,
 * and retries; the backend supplies a directory handle and single attempts
 * at each step. Every `name` below is one component inside an open
 * safefs__dir, and no call follows a symbolic link or junction at it.
 *
 * Calls marked "one attempt" return 0, a negative status, or SAFEFS__AGAIN
 * when the failure is transient (safefs__os_transient, or on Windows a
 * directory whose delete-pending children have not gone yet), with the OS
 * error already recorded; src/remove.c retries those within its budget. */
/* (safefs__dir is declared with the replace protocol above, which hands
 * one to the batch.) */

/* What an entry is, looked at without following links. */
#define SAFEFS__ENTRY_FILE 1 /* removed by unlinking: file, fifo, socket, device */
#define SAFEFS__ENTRY_DIR 2  /* a real directory: emptied, then removed */
#define SAFEFS__ENTRY_LINK 3 /* symbolic link, junction, other reparse point:
                                removed itself, never entered */

/* Open the directory `dir`, a path the caller named, following links in
 * it as any path lookup does. */
int safefs__dir_open_path(safefs__dir **out, const char *dir);

/* Open the directory `name` inside `parent` to empty it. A link or a
 * non-directory there is SAFEFS_ENOTDIR. On POSIX the owner gets write and
 * search permission on it if they are missing, so its entries can go. */
int safefs__dir_open_child(safefs__dir **out, safefs__dir *parent, const char *name);

/* The next entry of the current pass over d, other than "." and "..": 1
 * with *name (valid until the next call on d) and *kind, 0 at the end of
 * the pass, or a status. After 0 the next call starts a new pass from the
 * first entry. (src/remove.c repeats passes while one removed something:
 * see dir_next there.) */
int safefs__dir_read(safefs__dir *d, const char **name, int *kind);

/* How many names were removed through d (dir_unlink, dir_rmdir) since
 * the current pass began. */
int safefs__dir_removed(const safefs__dir *d);

/* Kind of `name` and its age in seconds: now minus the later of its last
 * modification and its last status change (POSIX ctime, Windows
 * ChangeTime), so a fresh rename or link counts too. */
int safefs__dir_stat(safefs__dir *d, const char *name, int *kind, long long *age_s);

/* One attempt: remove the non-directory `name` (a link itself, never its
 * target); read-only files are removed too. A real directory there is
 * SAFEFS_EISDIR. */
int safefs__dir_unlink(safefs__dir *d, const char *name);

/* The fast path of safefs_remove, before any directory is opened: remove
 * the non-directory `path` with one call, where that frees its name at
 * once (POSIX unlink, which never follows a link at the last component).
 * 0 when it is gone; SAFEFS__AGAIN for anything else, and always where a
 * removed name can linger (Windows: safefs__unlink_leaves_name): the
 * general path then decides, and reports, what to do. */
int safefs__unlink_fast(const char *path);

/* One attempt: remove the empty directory `name`. */
int safefs__dir_rmdir(safefs__dir *d, const char *name);

/* One attempt: rename `from` to `to` inside d; SAFEFS_EEXIST if `to` exists
 * (never replaces it). */
int safefs__dir_rename(safefs__dir *d, const char *from, const char *to);

/* Make the renames and removals done in d durable: fsync of the directory
 * on POSIX, FlushFileBuffers of the directory on Windows (filesystems and
 * rights that cannot sync a directory are tolerated). The one "make a
 * directory's entries durable" of both backends: the deleter, the missing
 * parents (SAFEFS_MKDIRS) and, on Windows, the atomic replace use it. */
int safefs__dir_sync(safefs__dir *d);

/* Which directory d is (device and inode; volume and file index), so that
 * two handles on one directory are told apart from two directories however
 * their paths were spelled. */
void safefs__dir_id(const safefs__dir *d, unsigned long long id[2]);

/* 1 if removing a name may leave it occupied for a while, so the deleter
 * renames a file aside before removing it (Windows: a file others hold
 * with FILE_SHARE_DELETE stays listed, delete-pending, until they close it,
 * and its name cannot be reused meanwhile). 0 on POSIX. */
int safefs__unlink_leaves_name(void);

/* Let go of d's OS handle for now, keeping what identifies the directory,
 * so that walking a deep tree holds a bounded number of handles. The
 * backend may keep the handle instead (Windows does: there an open handle
 * is what stops the directory from being moved). */
void safefs__dir_park(safefs__dir *d);

/* Re-open the parked d through `child`, a directory open inside it, and
 * check that it is still the same directory (SAFEFS_EBUSY if it was moved
 * while the walk was below it). */
int safefs__dir_unpark(safefs__dir *d, safefs__dir *child);

/* Close d (parked or not). NULL is fine. */
void safefs__dir_close(safefs__dir *d);

/* ---- mkdirs.c: missing parent directories (SAFEFS_MKDIRS) ---------------
 * The walk is shared (src/mkdirs.c); it uses safefs__dir_open_path and
 * safefs__dir_sync above to look at and sync directories, and this one
 * attempt from the backend, in its replace.c: create the directory `path`
 * (POSIX 0777 & ~umask; Windows the ACL inherited from its parent).
 * SAFEFS_EEXIST if something, of any kind, already has the name. */
int safefs__mkdir(const char *path);

/* Shared (src/writer.c): the flags every write takes, and their check
 * for `function`: SAFEFS_EINVAL for a flag outside `known`, SAFEFS_ENOTSUP
 * for SAFEFS_PRIVATE where the backend cannot honour it. */
#define SAFEFS__WRITE_FLAGS (SAFEFS_NOSYNC | SAFEFS_NOREPLACE | SAFEFS_MKDIRS | SAFEFS_PRIVATE)
int safefs__check_write_flags(const char *function, unsigned flags, unsigned known);

/* Shared: create the missing directories above the file `path`, each
 * one's parent synced after it is created (unless SAFEFS_NOSYNC), so that
 * they are durable before the file is written. A component that exists
 * and is not a directory is SAFEFS_ENOTDIR. Another process creating the
 * same directories at the same time is no failure. On failure the
 * directories made so far stay (empty). */
int safefs__make_parents(const char *path, unsigned flags);

#endif /* SAFEFS_PLATFORM_H */
