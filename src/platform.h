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

/* Record `oserr` as the last OS error and return its status: the usual way
 * a backend function fails. */
int safefs__fail_os(long oserr);

/* 1 if `oserr` means another process holds the file for a moment (sharing
 * or lock violation, access denied on a delete-pending file...): worth
 * retrying through safefs__retry. Always 0 on POSIX. */
int safefs__os_transient(long oserr);

/* ---- os.c --------------------------------------------------------------- */
/* Fill buf with bytes from the OS CSPRNG. Returns 0 or a status. */
int safefs__random(void *buf, size_t size);

/* Monotonic clock in milliseconds; only differences are meaningful. */
long long safefs__now_ms(void);

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

/* ---- read.c ------------------------------------------------------------- */
/* Read a whole file into a new safefs__malloc buffer with a NUL after it. */
int safefs__read_whole(const char *path, void **data, size_t *size);

/* ---- lock.c: the inter-process lock (issue 4) ---------------------------- */

/* ---- remove.c: the retrying deleter (issue 5) ----------------------------- */

#endif /* SAFEFS_PLATFORM_H */
