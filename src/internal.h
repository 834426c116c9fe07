/*
 * Declarations shared by the platform-independent files in src/. Nothing
 * here talks to the OS; that goes through src/platform.h.
 */
#ifndef SAFEFS_INTERNAL_H
#define SAFEFS_INTERNAL_H

#include "safefs.h"

#include <stddef.h>

/* Thread-local storage class. C11 spells it _Thread_local; C99 compilers
 * all have an extension for it. This is a compiler difference, not an OS
 * one, so it lives here rather than in a backend. */
#if defined(_MSC_VER)
#define SAFEFS__TLS __declspec(thread)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L && !defined(__STDC_NO_THREADS__)
#define SAFEFS__TLS _Thread_local
#else
#define SAFEFS__TLS __thread
#endif

/* Unused-parameter marker that every compiler accepts. */
#define SAFEFS__UNUSED(x) ((void)(x))

/* A retryable outcome of one attempt (positive, so never a public status). */
#define SAFEFS__AGAIN 1

/* ---- error.c: this thread's error state ---------------------------------
 * A failing public call leaves, per thread, the raw OS error
 * (safefs_last_os_error) and a sentence (safefs_last_error_message):
 *   - every failed OS call is recorded as it happens, by the seam
 *     (safefs__seam_done -> safefs__record_failed_call): its verb and
 *     paths, copied, since the pointers die with the call. Nothing is
 *     published yet: a failure the caller tolerates (a directory fsync a
 *     filesystem cannot do, a fallback) leaves the message alone;
 *   - the code that turns a failure into a status publishes it:
 *     safefs__fail_os / safefs__fail_os_at build the sentence from the
 *     recorded call, adding the context only the caller knows (the file an
 *     fd-based call was about, the directory), and the OS error text;
 *     safefs__fail_msg writes one for a failure no OS call made (argument
 *     errors, "is a directory");
 *   - cleanup after a failure may fail too: safefs__error_save /
 *     safefs__error_restore keep the first failure's error and message.
 * The message is a fixed per-thread buffer; nothing here allocates. */
#define SAFEFS__MESSAGE_MAX 512

/* The failing functions below are inline so that a reader, and the static
 * analyzer, see at the call site which status comes back: the constant
 * passed in, or (platform.h) a mapped OS error that is always negative.
 * What they record lives in error.c. */
#if defined(_MSC_VER) && !defined(__cplusplus)
#define SAFEFS__INLINE __inline
#else
#define SAFEFS__INLINE inline
#endif

#if defined(__GNUC__) && !defined(__MINGW32__)
#define SAFEFS__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SAFEFS__PRINTF(f, a)
#endif

/* error.c: the recording itself. */
void safefs__set_os_error(long oserr);
void safefs__set_message(const char *fmt, ...) SAFEFS__PRINTF(1, 2);
void safefs__set_input_message(const char *what);

/* Record `oserr` as this thread's last OS error and return `status`; the
 * message is left as it is (a status passed on, or a retry verdict). */
static SAFEFS__INLINE int safefs__fail(int status, long oserr) {
  safefs__set_os_error(oserr);
  return status;
}

/* Fail with `status` and `oserr` and the message printf(fmt, ...) (only
 * %s, %d, %ld, %lu, %x are used); for failures that are no OS call's:
 *   safefs__fail_msg(status, oserr, fmt, ...) */
#define safefs__fail_msg(status, oserr, ...) \
  (safefs__set_message(__VA_ARGS__), safefs__fail((status), (oserr)))

/* Add printf(fmt, ...) to the end of the current message (", retried for
 * 2000 ms"), cutting it as the rest is cut. */
void safefs__message_append(const char *fmt, ...) SAFEFS__PRINTF(1, 2);

/* A bad argument found below the public call (invalid UTF-8 in a path, on
 * Windows): fail with `what` as the message, which safefs__result then
 * prefixes with the public function's name. */
static SAFEFS__INLINE int safefs__fail_input(int status, long oserr, const char *what) {
  safefs__set_input_message(what);
  return safefs__fail(status, oserr);
}

/* The result of the public call `function` on `path`, passed through, for
 * the context only the public call knows: an out-of-memory message, which
 * no path was known for where it was made, gets " in <function> '<path>'";
 * a safefs__fail_input message gets "<function>: " in front. */
int safefs__result(int rc, const char *function, const char *path);

/* Argument errors: "<function>: <what>", SAFEFS_EINVAL, no OS error. */
#define safefs__fail_arg(function, what) \
  safefs__fail_msg(SAFEFS_EINVAL, 0, "%s: %s", (function), (what))

/* Keep the first failure across a cleanup that may fail too:
 *   struct safefs__saved_error e; safefs__error_save(&e);
 *   ...cleanup...; return safefs__error_restore(&e, rc);
 * (A copy of the message on the stack: the failure path only.) */
struct safefs__saved_error {
  long os;
  int cut;
  char message[SAFEFS__MESSAGE_MAX];
};
void safefs__error_save(struct safefs__saved_error *e);
void safefs__error_put_back(const struct safefs__saved_error *e);
static SAFEFS__INLINE int safefs__error_restore(const struct safefs__saved_error *e, int status) {
  safefs__error_put_back(e);
  return safefs__fail(status, e->os);
}

/* ---- retry.c: the one retry policy --------------------------------------
 * Call attempt(ctx) until it returns something other than SAFEFS__AGAIN or
 * the budget is spent. Sleeps 1 ms, then doubling, each sleep at most
 * SAFEFS__RETRY_MAX_SLEEP_MS, never past the budget. budget_ms < 0 means the
 * process default (safefs_retry_budget_ms()). Returns the attempt's result,
 * or SAFEFS_EBUSY when the budget ran out (the attempt has already recorded
 * the OS error of the last try). */
#define SAFEFS__RETRY_FIRST_SLEEP_MS 1
#define SAFEFS__RETRY_MAX_SLEEP_MS 100
typedef int (*safefs__attempt_fn)(void *ctx);
int safefs__retry(safefs__attempt_fn attempt, void *ctx, long budget_ms);

/* The backoff both waiting loops use (safefs__retry, and src/lock.c's
 * polling for a lock the OS cannot wait for with a timeout): sleeps from
 * SAFEFS__RETRY_FIRST_SLEEP_MS, doubling up to max_ms, each cut to end at
 * the deadline. With `jitter` each sleep is +-25% at random, so that
 * waiters started together (processes polling one lock) do not retry in
 * lockstep. */
struct safefs__backoff {
  long sleep_ms, max_ms;
  int jitter;
  unsigned rnd; /* xorshift state for the jitter; 0 until first needed */
};
void safefs__backoff_init(struct safefs__backoff *b, long max_ms, int jitter);

/* Sleep the next step, never past `deadline` (safefs__now_ms() time;
 * SAFEFS__NO_DEADLINE for none). Returns 0 without sleeping if the
 * deadline has passed, else 1. */
#define SAFEFS__NO_DEADLINE (-1LL)
int safefs__backoff_sleep(struct safefs__backoff *b, long long deadline);

/* (safefs__attempt_failed, the verdict on one failed attempt, is in
 * platform.h beside the error mapping it uses.)
 *
 * A remediation inside one attempt, as libgit2's do_with_retries takes one
 * (its ensure_writable): try_once(ctx) makes one OS call and returns 0 or
 * its OS error. If it fails, remedy->fix(remedy->ctx, oserr) may cure the
 * cause (clear the read-only attribute) and return 0, and the call is made
 * once more; should that fail too, remedy->undo puts back what fix changed,
 * so a failure leaves things as they were. fix returns the OS error to
 * report when it cannot help: oserr itself when it does not apply, or its
 * own error. Returns 0 or the OS error for the caller's verdict. */
typedef long (*safefs__try_fn)(void *ctx);
struct safefs__remedy {
  long (*fix)(void *ctx, long oserr);
  void (*undo)(void *ctx);
  void *ctx;
};
long safefs__try_with_remedy(safefs__try_fn try_once, void *ctx,
                             const struct safefs__remedy *remedy);

/* Resolve a caller's budget argument: < 0 gives the process default. */
long safefs__budget(long budget_ms);

/* ---- names.c: the names safefs creates on disk ---------------------------
 * Every temporary or trash entry safefs creates is named
 *   .<base>.safefs-<16 lowercase hex>.<kind>
 * with <kind> one of "tmp" (atomic-write temp), "old" (the previous content
 * kept during a replace) or "trash" (renamed aside for deletion). <base> is
 * shortened, on a UTF-8 character boundary, so the whole name fits in
 * SAFEFS__NAME_MAX bytes. The random part comes from the OS CSPRNG. */
#define SAFEFS__NAME_MAX 255
#define SAFEFS__KIND_TMP "tmp"
#define SAFEFS__KIND_OLD "old"
#define SAFEFS__KIND_TRASH "trash"

/* Fill buf with bytes from the OS CSPRNG (through the seam, as RANDOM).
 * Returns 0 or a status. */
int safefs__random(void *buf, size_t size);

/* Build a fresh name into out[SAFEFS__NAME_MAX + 1] from the file name
 * `base` (no directory part). Returns 0 or a status (random source failed). */
int safefs__make_name(char *out, const char *base, const char *kind);

/* Create something under a fresh name: draw a name into
 * out[SAFEFS__NAME_MAX + 1] and call create(ctx, out), drawing again while
 * it returns SAFEFS_EEXIST (a name taken by chance, or planted by someone
 * who can write the directory: never opened, never replaced), at most
 * SAFEFS__NAME_TRIES times. Returns create's result, or SAFEFS_EEXIST with
 * a message when every name drawn was taken. */
#define SAFEFS__NAME_TRIES 16
typedef int (*safefs__create_fn)(void *ctx, const char *name);
int safefs__with_fresh_name(char *out, const char *base, const char *kind,
                            safefs__create_fn create, void *ctx);

/* 1 if `name` (no directory part) has the exact shape make_name produces,
 * whatever its kind; 0 otherwise. */
int safefs__is_own_name(const char *name);

/* 1 if `name` is a backup ("old") name whose base was kept whole, with
 * that base copied to base[SAFEFS__NAME_MAX + 1]; 0 otherwise. */
int safefs__own_backup_target(const char *name, char *base);

/* Split `path` at its last separator. *dir_len is the length of the
 * directory part to use (0 means the current directory) and *base points at
 * the last component inside `path`. Returns SAFEFS_EINVAL when the path ends
 * in a separator or names "." or "..": there is no file name to replace. */
int safefs__split_path(const char *path, size_t *dir_len, const char **base);

/* The same, with the directory part as a new string in *dir ("." for a
 * bare name, "/" for a file in the root). SAFEFS_EINVAL or SAFEFS_ENOMEM,
 * recorded, on failure (then *dir is NULL). */
int safefs__split_dir(const char *path, char **dir, const char **base);

/* The argument check every public call makes on its path: not NULL, not
 * empty and, with need_name, naming a file (see safefs__split_path).
 * SAFEFS_EINVAL with a message naming `function` and what is wrong. */
int safefs__check_path(const char *function, const char *path, int need_name);

/* ---- utf8.c: strict UTF-8 <-> UTF-16 -------------------------------------
 * safefs__utf8_to_utf16: the UTF-16 length (code units, no NUL) of the
 * NUL-terminated UTF-8 string s, or -1 if s is not strictly valid UTF-8.
 * If out is not NULL, up to cap - 1 units and a NUL are stored; call once
 * with out NULL to measure, then with cap = length + 1.
 * safefs__utf16_to_utf8: the same the other way for len units of w (-1 on
 * a lone surrogate), storing up to cap - 1 bytes and a NUL. */
long safefs__utf8_to_utf16(const char *s, unsigned short *out, size_t cap);
long safefs__utf16_to_utf8(const unsigned short *w, size_t len, char *out, size_t cap);

/* ---- alloc.c: every allocation, so tests can make them fail ------------- */
void *safefs__malloc(size_t size);
void *safefs__realloc(void *p, size_t size);
void safefs__free(void *p);
/* A copy of s with safefs__malloc; NULL (ENOMEM recorded) if refused. */
char *safefs__strdup(const char *s);

#endif /* SAFEFS_INTERNAL_H */
