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

/* ---- status.c: the one error list ---------------------------------------
 * Record `oserr` as this thread's last OS error and return `status`.
 * Every failing public call ends in exactly one of these. */
int safefs__fail(int status, long oserr);

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

/* Build a fresh name into out[SAFEFS__NAME_MAX + 1] from the file name
 * `base` (no directory part). Returns 0 or a status (random source failed). */
int safefs__make_name(char *out, const char *base, const char *kind);

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

#endif /* SAFEFS_INTERNAL_H */
