/*
 * Helpers shared by the test programs, one copy each: the fixtures and the
 * main() every program shares, scratch directories, raw file access that
 * does not go through safefs, trees, self-checking versions, the
 * seam-driven fault injector, and (Windows) UTF-16 paths and a thread that
 * holds a file open. Works on POSIX and Windows (tests may use #ifdef; the
 * library's shared code may not).
 */
#ifndef SAFEFS_TESTUTIL_H
#define SAFEFS_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "safefs.h"
#include "internal.h"
#include "seam.h"

/* ---- fixtures and the runner ---------------------------------------------
 * Every test starts from the library's defaults (no seam hook, the default
 * retry budget) in a scratch directory of its own, and its teardown puts the
 * defaults back whatever the test did. */

/* A fresh empty scratch directory (absolute, UTF-8) for one test; removed
 * with everything in it by tu_dir_free. */
char *tu_dir_new(void);
void tu_dir_free(char *dir);

/* A fresh empty directory on a filesystem that keeps its files in memory
 * only (Linux: tmpfs at /dev/shm), for tu_dir_free; NULL where there is
 * none (Windows, macOS). tu_dir_in_memory: 1 if dir is on such a one. */
char *tu_dir_new_in_memory(void);
int tu_dir_in_memory(const char *dir);

/* CMocka setup/teardown with *state = a scratch directory (char *). */
int tu_setup_dir(void **state);
int tu_teardown_dir(void **state);
/* A test that takes its scratch directory as (const char *)*state. */
#define TU_TEST(f) cmocka_unit_test_setup_teardown(f, tu_setup_dir, tu_teardown_dir)

/* The same with *state = a struct tu_scratch: the directory and the path of
 * the one file the tests of a program are about (a lock file, a target),
 * made with tu_setup_scratch(state, name) in a setup of the program's own. */
struct tu_scratch {
  char *dir;
  char *file; /* dir/name */
};
int tu_setup_scratch(void **state, const char *name);
int tu_teardown_scratch(void **state);

/* The suite of one test program. Every program defines one, with
 * TU_SUITE, and no main(): testutil_main.c has the main() they share. It
 * records how to start helper processes (testutil_proc.h), runs helper
 * `mode` if this process is one (2 for a mode the program does not have),
 * else runs the tests, only those whose names match SAFEFS_TEST_FILTER if
 * it is set (e.g. "held*"). The exit status is the number of failed tests,
 * or what `after` makes of it. */
typedef int (*tu_helper_fn)(const char *mode, int argc, char **argv);
struct tu_suite {
  const char *group;
  const struct CMUnitTest *tests;
  size_t count;
  tu_helper_fn helper;       /* mode, the arguments after it; NULL: none */
  int (*after)(int failed);  /* NULL, or a summary after the run */
};
extern const struct tu_suite tu_suite;
#define TU_SUITE(group, tests, helper)                                                  \
  const struct tu_suite tu_suite = {group, tests, sizeof(tests) / sizeof((tests)[0]), helper, \
                                    NULL}

/* ---- paths and files without safefs --------------------------------------- */

/* dir + separator + name, malloc'd. */
char *tu_join(const char *dir, const char *name);

/* The same, owned by the running test: freed by its teardown
 * (tu_teardown_dir, tu_teardown_scratch), so a test names its paths
 * without a free() for each. Main thread only. */
const char *tu_path(const char *dir, const char *name);

/* Make a directory (mode 0755 on POSIX); asserts. */
void tu_mkdir(const char *path);

/* fopen for a UTF-8 path (Windows: _wfopen of its UTF-16); NULL on failure. */
FILE *tu_fopen(const char *path, const char *mode);

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

/* ---- trees -------------------------------------------------------------- */

/* A tree `levels` deep at root (made here), with `fanout` subdirectories
 * d0.. and `files` files f0.txt.. (each holding its own name) in each
 * directory. Returns the number of files. */
long tu_make_tree(const char *root, int levels, int fanout, int files);

/* Count the files below dir by path, as an unrelated program would (links
 * are counted, not followed): -1 if the directory, or any part of it,
 * vanished during the walk; -2 (Windows) if a directory could not be opened
 * for a moment (a sharing violation while a remover has it open for the
 * rename): no view at all. */
long tu_count_files(const char *dir);

/* A symbolic link at `link` to `target` (is_dir: to a directory, which
 * Windows wants to know). 0 if the link was made; -1 if this system will
 * not let us (Windows without the privilege or developer mode; Wine 8,
 * whose CreateSymbolicLinkW returns TRUE and creates nothing). */
int tu_symlink(const char *target, const char *link, int is_dir);

/* Make a file read-only (POSIX 0444; Windows FILE_ATTRIBUTE_READONLY). */
void tu_set_read_only(const char *path);

/* dir/tree with read-only files ro-file and rosub/{a,b}, and rosub itself
 * read-only (POSIX: 0555, as is tree; Windows: FILE_ATTRIBUTE_READONLY on
 * rosub). Returns the path of tree, malloc'd. */
char *tu_make_read_only_tree(const char *dir);

/* ---- the process ---------------------------------------------------------- */

/* Peak resident memory of this process so far, in KiB. */
long tu_peak_rss_kib(void);

/* Open descriptors (POSIX) or handles (Windows) of this process. */
long tu_open_handles(void);

/* fn(ctx) with at most `fds` descriptors allowed. POSIX: in a forked child
 * under a soft RLIMIT_NOFILE of fds, returning its exit status (90: the limit could not
 * be set); fn must not use CMocka's asserts there. Windows, which has no
 * such limit, calls fn in this process and returns what it returns. */
int tu_run_with_fd_limit(int fds, int (*fn)(void *ctx), void *ctx);

/* 1 when the Windows build runs under Wine (its ntdll exports
 * wine_get_version), for the few documented places where Wine's emulation
 * differs from Windows and for timing margins, wider there; 0 on Windows
 * and POSIX. */
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

/* The answers to a batch's look at the system's unwritten data
 * (COUNT_DIRTY) that choose how it syncs its temps, for a hook to give:
 * TU_SYNC_EACH (an error) makes it sync each temp, from threads;
 * TU_SYNC_WHOLE_FS ("nothing is dirty") makes it flush each filesystem
 * whole where it can (tu_syncfs_used). */
#define TU_SYNC_EACH (tu_err_io())
#define TU_SYNC_WHOLE_FS SAFEFS__SEAM_SKIP
/* 1 where a batch in dir flushes its filesystem whole when little is
 * dirty: Linux 5.8 or later (whose syncfs reports writeback errors) and
 * dir on ext4 or XFS (the test's own reading of uname and statfs). */
int tu_syncfs_used(const char *dir);

/* ---- recording the calls -------------------------------------------------
 * tu_log_start(log) installs a hook that appends the op of every OS call
 * safefs makes (allocations aside) to log, up to TU_MAX_LOG, until
 * tu_log_stop(). tu_log_count counts one op in it. The hook answers
 * COUNT_DIRTY with log->count_dirty, TU_SYNC_EACH unless the test sets it
 * after the start, so that a batch's calls do not depend on what else the
 * machine is writing. */
#define TU_MAX_LOG 4096
struct tu_call_log {
  int n;
  long count_dirty;
  enum safefs__op op[TU_MAX_LOG];
};
void tu_log_start(struct tu_call_log *log);
void tu_log_stop(void);
int tu_log_count(const struct tu_call_log *log, enum safefs__op op);

/* The OS error numbers tests inject, named the same on both platforms. */
long tu_err_io(void);
long tu_err_nospace(void);
long tu_err_access(void);
long tu_err_interrupted(void); /* EINTR on POSIX; 0 (none) on Windows */

#ifdef _WIN32
/* ---- Windows only ---------------------------------------------------------- */
#include <wchar.h>

/* UTF-8 -> UTF-16 and back without safefs (invalid input becomes U+FFFD),
 * malloc'd. */
wchar_t *tu_wide(const char *s);
char *tu_utf8(const wchar_t *w);
/* A UTF-8 path as Win32 takes it past MAX_PATH: \\?\ + the absolute path
 * with backslashes (\\?\ takes no forward slashes); a relative path is
 * only converted. malloc'd. */
wchar_t *tu_wide_path(const char *path);

/* Another thread opens `path` for reading with share mode `share`
 * (FILE_SHARE_*) and keeps it open for hold_ms; tu_hold_file returns once
 * the file is open. tu_holder_join waits for the thread, asserts that it
 * did open the file, and frees h. */
typedef struct tu_holder tu_holder;
tu_holder *tu_hold_file(const char *path, unsigned long share, unsigned long hold_ms);
void tu_holder_join(tu_holder *h);
#endif

#endif
