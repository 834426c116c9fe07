/*
 * What every bench program shares: the clock, the round-by-round
 * interleaving of variants, medians and the result table, and the
 * hand-written replace floor the safefs variants are compared with.
 *
 * Interleaving: every round runs each variant once, and the order is
 * rotated by one each round (round 0: A B C, round 1: B C A, ...), so the
 * shared machine's noise, and whatever one variant leaves behind for the
 * next (dirty pages, a journal commit), falls on all of them alike. Ratios
 * are always between medians of one run.
 */
#ifndef SAFEFS_BENCH_UTIL_H
#define SAFEFS_BENCH_UTIL_H

#include <stddef.h>

/* CLOCK_MONOTONIC in microseconds: one clock for every process on the
 * machine, so timestamps taken in two processes can be subtracted. */
double bench_now_us(void);
void bench_sleep_us(double us);

/* perror and exit(1): a benchmark has no failure path worth keeping. */
void bench_die(const char *what);
/* Exit with safefs's message if rc is not 0. */
void bench_check(int rc, const char *what);

void bench_write_all(int fd, const void *data, size_t size);

/* The hand-written floor of an atomic replace of `path` in the directory
 * open as dirfd: write "<path>.tmp", fsync it (file_sync), rename it over
 * `path`, fsync the directory (dir_sync). No checks beyond the calls'
 * return values. It is bench_temp_write then bench_temp_install. */
void bench_replace_floor(int dirfd, const char *path, const void *data, size_t size,
                         int file_sync, int dir_sync);
/* The floor's first half: create "<path>.tmp" (its name into tmp, of
 * tmp_size bytes), write data to it and return the open descriptor. */
int bench_temp_write(const char *path, const void *data, size_t size, char *tmp,
                     size_t tmp_size);
/* The second half: fsync fd (file_sync), close it, rename tmp over path,
 * fsync the directory open as dirfd (dir_sync). */
void bench_temp_install(int dirfd, int fd, const char *tmp, const char *path, int file_sync,
                        int dir_sync);

/* Free bytes on the filesystem holding `dir`. */
double bench_free_bytes(const char *dir);

/* One sample per variant and round. */
typedef struct bench_table {
  const char *const *names;
  int variants, rounds;
  double *samples; /* samples[v * rounds + r] */
  int sorted;
} bench_table;

/* Runs variant v (an index into the table's names) once in round r and
 * returns its sample. */
typedef double (*bench_run_fn)(void *ctx, int v, int r);

void bench_table_init(bench_table *t, const char *const *names, int variants, int rounds);
void bench_table_free(bench_table *t);
/* Every round, every variant once, in the rotated order described above. */
void bench_interleave(bench_table *t, bench_run_fn run, void *ctx);
/* Quantile q (0.5: median, 1: max) of variant v's samples. */
double bench_quantile(bench_table *t, int v, double q);
double bench_median(bench_table *t, int v);
/* A table: one line per variant with median, p90 and max in `unit`, and
 * the ratio of each median to variant ref's median. */
void bench_table_print(bench_table *t, const char *title, const char *unit, int ref);
/* One line: "what: 0.97x (target >= 0.95x: met)". at_least says which
 * side of the target passes. */
void bench_target(const char *what, double value, int at_least, double target);

#endif
