/*
 * Helpers shared by the test programs: scratch directories, raw file
 * access that does not go through safefs, and the seam-driven fault
 * injector. Works on POSIX and Windows (tests may use #ifdef; the library's
 * shared code may not).
 */
#ifndef SAFEFS_TESTUTIL_H
#define SAFEFS_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "safefs.h"
#include "internal.h"
#include "seam.h"

/* A fresh empty scratch directory (absolute, UTF-8) for one test; removed
 * with everything in it by tu_dir_free. */
char *tu_dir_new(void);
void tu_dir_free(char *dir);

/* dir + separator + name, malloc'd. */
char *tu_join(const char *dir, const char *name);

/* Write or read a file without safefs. Read returns a malloc'd buffer
 * (NUL-terminated) or NULL if the file cannot be opened. */
void tu_write_raw(const char *path, const void *data, size_t size);
char *tu_read_raw(const char *path, size_t *size);
int tu_exists(const char *path);
/* Remove a file without safefs; 0 on success. */
int tu_remove(const char *path);
/* Remove every safefs-made name in dir without safefs; returns how many. */
int tu_remove_own_names(const char *dir);

/* 1 if the file holds exactly `data`. */
int tu_file_is(const char *path, const char *data);

/* Number of entries in dir (not counting . and ..), and how many of them
 * are names safefs creates (temp/backup/trash). */
int tu_count_entries(const char *dir);
/* Call fn for each entry name of dir; returns how many. */
typedef void (*tu_entry_fn)(const char *name, void *ctx);
int tu_for_each_entry(const char *dir, tu_entry_fn fn, void *ctx);
int tu_count_own_names(const char *dir);

/* Self-checking file versions for concurrency and crash tests:
 * "safefs-v <a> <b> <len>\n" then len (500..20499) bytes that depend on
 * (a, b) and the position. A mix of two versions, a truncation or an empty
 * file does not parse. Thread-safe. */
#define TU_VERSION_MAX 20600
size_t tu_version_make(char *buf, size_t cap, unsigned a, unsigned b);
/* 1 and (*a, *b) if data is exactly one whole version, else 0. */
int tu_version_parse(const char *data, size_t n, unsigned *a, unsigned *b);

/* Peak resident memory of this process so far, in KiB. */
long tu_peak_rss_kib(void);

/* Open descriptors (POSIX) or handles (Windows) of this process. */
long tu_open_handles(void);

/* 1 when the Windows build runs under Wine (its ntdll exports
 * wine_get_version), for the few documented places where Wine's emulation
 * differs from Windows; 0 on Windows and POSIX. */
int tu_running_on_wine(void);

/* Milliseconds from a monotonic clock. */
long long tu_now_ms(void);
void tu_sleep_ms(long ms);

/* ---- fault injection through the seam -----------------------------------
 * tu_faults_reset() installs a counting hook and clears every rule.
 * tu_fault_add(op, nth, err, times): the nth call (1-based, counted from
 * the reset) of op and the `times - 1` calls after it fail with OS error
 * err (SAFEFS__SEAM_SHORT for a short transfer). tu_calls(op) counts the
 * calls made. tu_faults_off() removes the hook. */
void tu_faults_reset(void);
void tu_fault_add(enum safefs__op op, int nth, long err, int times);
int tu_calls(enum safefs__op op);
/* Blocks safefs allocated and has not freed since the reset (allocations
 * refused by a rule are not counted). */
long tu_live_blocks(void);
void tu_faults_off(void);

/* The OS error numbers tests inject, named the same on both platforms. */
long tu_err_io(void);
long tu_err_nospace(void);
long tu_err_access(void);
long tu_err_interrupted(void); /* EINTR on POSIX; 0 (none) on Windows */

#endif
