/*
 * A crash-state model checker for safefs's disk protocols, in the spirit of
 * ALICE (Pillai et al., OSDI'14) and SQLite's crash-test VFS.
 *
 *   1. RECORD  A seam hook (src/seam.h) records every OS call one API call
 *              makes, with its outcome (the descriptor an open returned,
 *              the bytes a write wrote, the error of a failed call).
 *   2. REPLAY  The trace is replayed on an in-memory model of the
 *              filesystem that keeps, beside the live state, what is durable
 *              and what is still pending (not yet synced).
 *   3. CRASH   After every call that changed the model, every state a
 *              crash could leave is enumerated (see the durability models
 *              below), and the invariants are checked on each:
 *                - before the call returns, the target holds exactly the old
 *                  or exactly the new content (or is absent if it was);
 *                - after it returned success, exactly the new content;
 *                - nothing but the target, the names that were there before
 *                  and safefs's own temp/backup names (safefs__is_own_name).
 *              A batch, which replaces several targets in one call, is
 *              checked once per target, its other targets declared in
 *              cm_expect.others: names that may appear, vanish or change.
 *              Every other invariant and rule holds for the target under
 *              check, which may be in a directory below the root.
 *   4. RULES   Ordering rules are checked on the trace itself: the temp is
 *              created exclusively (CREATE_TEMP) under an own name in the
 *              target's directory, synced after its last write and before
 *              the rename; the rename is made durable (POSIX: directory
 *              fsync after it; Windows: write-through rename) before success
 *              is reported; nothing renamed after its sync failed; the
 *              target never opened for writing; NOREPLACE renames exclusive.
 *
 * Traces can also be written by hand (cm_add), which is how the negative
 * controls feed the checker protocols that are broken on purpose.
 *
 * ---- POSIX durability model (CM_POSIX) -----------------------------------
 * Directory entries: create, link, unlink and rename are pending until an
 * fsync of their directory; then they are durable. At a crash any subset of
 * a directory's pending operations may have reached the disk, applied in
 * trace order (CM_SUBSET), except subsets that are impossible because an
 * operation depends on a lost earlier one (renaming a name whose creation
 * was lost). This contains the "lost suffix" states of an in-order journal
 * (ext4 data=ordered, XFS) and also the reorderings of filesystems that
 * commit directory operations independently (ext2, or ext4 across its
 * fast-commit and full-commit paths); a rename is atomic in every state, as
 * POSIX requires. Above CM_MAX_SUBSET_OPS pending operations it falls back
 * to the prefixes (CM_PREFIX), and counts that as a cap. fsync of a file
 * makes its data durable but not its name (no ext4 "fsync also commits the
 * create" help), and no data is flushed by a rename (no auto_da_alloc).
 *
 * File data: the size is either the synced one or the current one, and
 * each 4 KiB block inside it that was written since the file's last
 * successful fsync either reached the disk as written or kept its synced
 * bytes (zeros past the synced size). A failed fsync syncs nothing. With up
 * to CM_MAX_TORN_BLOCKS such blocks every combination is explored; above
 * that a bounded family of 4n (every prefix and suffix of the blocks, each
 * block alone, each block missing), and the cap is counted.
 *
 * ---- Windows durability model (CM_WIN32) ---------------------------------
 * NTFS keeps one sequential metadata log, so pending directory operations
 * reach the disk as a prefix, in order (CM_PREFIX). A rename with
 * SAFEFS__RENAME_DURABLE (MOVEFILE_WRITE_THROUGH / ReplaceFileW) is durable
 * when it returns, and with it every metadata operation logged before it.
 * A SYNC_DIR (FlushFileBuffers on the directory: MS-FSA 2.1.5.7, "the
 * directory structure is persisted to stable storage") makes the whole log
 * durable, as a write-through rename does; a commit that is neither must
 * be followed by one before success. File data is durable after SYNC
 * (FlushFileBuffers), and until then torn at 4 KiB blocks as above.
 * ReplaceFileW with a backup name (the seam's RENAME with `data`) is two
 * renames in the log, target -> backup then replacement -> target: neither
 * Windows nor Wine documents it as one atomic step (Wine's is two moves),
 * and it has no write-through, so it is durable only once a later
 * write-through operation flushes the log. (Windows documents
 * MOVEFILE_WRITE_THROUGH itself only for moves done as copies. The model
 * takes the flag at its word anyway, on purpose: it checks safefs's call
 * order against what the flag promises, which is what safefs relies on; a
 * Windows that flushed less on a same-volume rename would break that
 * promise below safefs, where no trace can show it.)
 *
 * Crash states are built for the target's directory (the root or one
 * below it: the names checked are the ones in it) and, when the target
 * is a directory (removal), for every directory of its tree: "old" then
 * means the whole tree is under its name, entry for entry. Operations in
 * other directories are replayed but not enumerated (the invariants do not
 * look there). The rename is made durable by a sync of the target's own
 * directory.
 *
 * Nameless temps, links and delete-on-close (both models): CREATE_ANON
 * (Linux O_TMPFILE) makes a file with no name in the directory of its
 * handle, and LINK_TEMP gives it its name, a pending create like any other
 * (straight to the target's name for NOREPLACE: that link is then the
 * commit). On a named temp (Win32 FileLinkInformation through its handle)
 * LINK_TEMP adds a name, replacing unless SAFEFS__RENAME_NOREPLACE; onto
 * the target it is the commit, not write-through (a directory flush must
 * follow). DOOM_TEMP marks a file delete-on-close (Win32
 * FileDispositionInfo), KEEP_TEMP clears the mark, and CREATE_TEMP with
 * SAFEFS__CREATE_DOOMED creates it marked for good; closing a handle of a
 * marked file removes the name that handle was created with (NTFS keeps
 * the mark per link), or, where the model does not know it or it no
 * longer names the file, the file's one name (a pending removal). Putting
 * a marked file in place by a rename is a violation; a link is not, as the
 * mark takes only the temp's own name.
 * A process kill is not modelled (test_killloop does that); only what the
 * marks do to the names.
 *
 * What is not modelled: sector-level tearing inside a 4 KiB block, the
 * content of files other than the target (only their names are checked;
 * their torn variants are not enumerated), and metadata (modes, owners).
 *
 * Paths in the trace are absolute, or relative to the directory handle of
 * the call (POSIX), or, with no handle (-1), names beside the target (the
 * Win32 backend labels names so): in the directory of the last STAT by
 * full path (each target's is looked at before its temp is made), else in
 * the directory that holds the name (a batch renames its temps after all
 * are made; the names must then be unique across directories); a path of
 * several components is relative to the root. The seam
 * passes a rename's or link's source directory handle only; both names
 * (and ReplaceFileW's backup) are resolved against it, or with no handle
 * the second beside the first (safefs always renames within one
 * directory).
 */
#ifndef SAFEFS_TESTUTIL_CRASH_H
#define SAFEFS_TESTUTIL_CRASH_H

#include <stddef.h>
#include <stdio.h>

#include "seam.h"

#define CM_BLOCK 4096
#define CM_MAX_SUBSET_OPS 12
#define CM_MAX_TORN_BLOCKS 10

/* Every check the checker makes, with what a violation means. */
#define CM_CHECK_MAP(X)                                                                      \
  X(TORN_TARGET, "crash before return: target is neither the old nor the new content")      \
  X(NOT_DURABLE, "crash after success: target is not the new content")                      \
  X(WRONG_RESULT, "no crash: target does not match the status (success: new, failure: old)") \
  X(STRAY_NAME, "a name that is neither the target nor safefs's own appeared")              \
  X(LOST_NAME, "a name that was there before vanished or changed")                          \
  X(LEFTOVER, "a temp or backup name is left after the call returned")                      \
  X(TEMP_NOT_EXCL, "what was renamed onto the target was not made by CREATE_TEMP with an own name") \
  X(TEMP_ELSEWHERE, "the temp file was created outside the target's directory")             \
  X(TEMP_NOT_SYNCED, "no successful sync of the temp between its last write and the rename") \
  X(RENAME_NOT_DURABLE, "success reported before the rename was durable")                   \
  X(RENAME_AFTER_FAILED_SYNC, "a file was renamed into place after its sync failed")         \
  X(TEMP_DOOMED, "a temp still marked delete-on-close was put in place (it vanishes at close)") \
  X(TARGET_WRITTEN, "the target was opened for writing or written in place")                \
  X(NOREPLACE_CLOBBERS, "NOREPLACE put the file in place with a rename that may replace")   \
  X(MODEL_MISMATCH, "the trace cannot happen on the model (recorder or checker bug)")

enum cm_check {
#define CM_CHECK_ENUM(name, text) CM_##name,
  CM_CHECK_MAP(CM_CHECK_ENUM)
#undef CM_CHECK_ENUM
  CM_CHECK_COUNT
};
const char *cm_check_name(enum cm_check c);
const char *cm_check_text(enum cm_check c);

/* ---- traces ----------------------------------------------------------- */
struct cm_event {
  enum safefs__op op;
  char *path, *path2; /* copies, or NULL */
  char *backup;       /* RENAME by ReplaceFileW: where the replaced file goes */
  long long handle;
  unsigned flags;     /* RENAME: SAFEFS__RENAME_* */
  unsigned char *data; /* WRITE: the bytes the call wrote (result of them) */
  size_t size;
  long long result;   /* as reported by the after-hook; -1 failed */
  long oserr;
  int skipped;        /* the hook answered SAFEFS__SEAM_SKIP */
  int reported;       /* the after-hook reported this call */
};

struct cm_initial {
  char *name; /* relative to the root, '/'-separated */
  int is_dir;
  unsigned char *data;
  size_t size;
};

struct cm_rule {
  enum safefs__op op;
  int first, last; /* 1-based call numbers of op */
  long answer;     /* errno / Win32 error, or SAFEFS__SEAM_SKIP */
};

#define CM_MAX_RULES 4

struct cm_trace {
  char *root; /* the directory the model covers (the target's) */
  struct cm_initial *initial;
  size_t n_initial;
  struct cm_event *ev;
  size_t n, cap;
  struct cm_rule rules[CM_MAX_RULES];
  int n_rules;
  int calls[SAFEFS__OP_COUNT];
};

/* A trace for the directory `root` (absolute), with nothing in it yet. */
void cm_trace_init(struct cm_trace *t, const char *root);
void cm_trace_free(struct cm_trace *t);

/* Declare what the root held before the trace (durable), parents first.
 * cm_put_file and cm_put_dir also make it on disk, without safefs. */
void cm_initial_file(struct cm_trace *t, const char *name, const void *data, size_t size);
void cm_initial_dir(struct cm_trace *t, const char *name);
void cm_put_file(struct cm_trace *t, const char *name, const void *data, size_t size);
void cm_put_dir(struct cm_trace *t, const char *name);

/* Recording: install the hooks; every OS call safefs makes until cm_stop is
 * appended to t (allocations and random draws are not recorded). A rule
 * makes the nth..(nth+times-1)th call of op get `answer` instead of being
 * made: an OS error, or SAFEFS__SEAM_SKIP for a sync. Rules persist until
 * cm_trace_free. */
void cm_inject(struct cm_trace *t, enum safefs__op op, int nth, long answer, int times);
void cm_record(struct cm_trace *t);
void cm_stop(void);

/* Hand-written traces: append one call that succeeded with `result` (the
 * new descriptor for opens, bytes for WRITE, else 0) or failed (result -1,
 * oserr). Paths are relative to the handle (a directory descriptor) or
 * absolute. */
void cm_add(struct cm_trace *t, enum safefs__op op, const char *path, const char *path2,
            long long handle, const void *data, size_t size, long long result);
void cm_add_failed(struct cm_trace *t, enum safefs__op op, const char *path, long long handle,
                   long oserr);
void cm_add_rename(struct cm_trace *t, const char *from, const char *to, long long handle,
                   unsigned flags);
/* ReplaceFileW(to, from, backup): `to` goes to `backup`, `from` to `to`. */
void cm_add_replace(struct cm_trace *t, const char *from, const char *to, const char *backup,
                    unsigned flags);

void cm_trace_print(const struct cm_trace *t, FILE *out);

/* ---- checking ------------------------------------------------------------ */
enum cm_model { CM_POSIX, CM_WIN32 };
enum cm_order { CM_SUBSET, CM_PREFIX };

/* What the API call was meant to do: take the target from its old state
 * to its new one (replace: new content; remove: absent). */
struct cm_expect {
  const char *target;        /* name relative to the root ("sub/c.json":
                                its directory declared with cm_initial_dir) */
  const void *old_data;      /* NULL: the target did not exist, or is a
                                directory declared with cm_initial_dir */
  size_t old_size;
  const void *new_data;
  size_t new_size;
  int new_absent;            /* the new state is "no target" (removal) */
  int not_durable;           /* success promises no durability (a crash
                                after it may still show the old state, and
                                no RENAME_NOT_DURABLE) */
  int failure_may_finish;    /* a failure may leave the new state too (a
                                removal that failed after its rename; a
                                Win32 replace whose close or directory
                                flush failed after the link that put the
                                new content in place) */
  unsigned flags;            /* SAFEFS_NOREPLACE, SAFEFS_NOSYNC */
  int status;                /* what the call returned */
  int allow_leftover;        /* an own name may stay (a failed cleanup) */
  const char *const *others; /* names relative to the root that the call may
                                change too (a batch's other targets): no
                                STRAY_NAME or LOST_NAME for them */
  size_t n_others;
};

struct cm_report {
  long points;       /* crash points (after each call that changed the model) */
  long states;       /* crash states checked */
  long impossible;   /* directory subsets skipped as impossible */
  long capped;       /* enumerations that hit a bound */
  long violations[CM_CHECK_COUNT];
  char first[CM_CHECK_COUNT][200]; /* the first violation of each check */
};

/* Replay t under `model` (dir order CM_SUBSET for CM_POSIX, CM_PREFIX for
 * CM_WIN32) and check everything; results are added to *r. Returns the
 * number of violations found. */
long cm_check(const struct cm_trace *t, const struct cm_expect *e, enum cm_model model,
              struct cm_report *r);
long cm_check_order(const struct cm_trace *t, const struct cm_expect *e, enum cm_model model,
                    enum cm_order order, struct cm_report *r);

long cm_total(const struct cm_report *r);
void cm_report_print(const struct cm_report *r, FILE *out);

/* The model the library's own backend must satisfy on this platform. */
enum cm_model cm_native_model(void);

#endif
