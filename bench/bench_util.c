#define _GNU_SOURCE
#include "bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "safefs.h"

double bench_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

void bench_sleep_us(double us) {
  struct timespec ts;
  ts.tv_sec = (time_t)(us / 1e6);
  ts.tv_nsec = (long)((us - (double)ts.tv_sec * 1e6) * 1e3);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

void bench_die(const char *what) {
  perror(what);
  exit(1);
}

void bench_check(int rc, const char *what) {
  if (rc != 0) {
    fprintf(stderr, "%s: %s (os error %ld)\n", what, safefs_strerror(rc),
            safefs_last_os_error());
    exit(1);
  }
}

void bench_write_all(int fd, const void *data, size_t size) {
  const char *p = (const char *)data;
  while (size > 0) {
    ssize_t w = write(fd, p, size);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      bench_die("write");
    }
    p += w;
    size -= (size_t)w;
  }
}

int bench_temp_write(const char *path, const void *data, size_t size, char *tmp,
                     size_t tmp_size) {
  int fd;
  snprintf(tmp, tmp_size, "%s.tmp", path);
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    bench_die("open tmp");
  bench_write_all(fd, data, size);
  return fd;
}

void bench_temp_install(int dirfd, int fd, const char *tmp, const char *path, int file_sync,
                        int dir_sync) {
  if (file_sync && fsync(fd) != 0)
    bench_die("fsync");
  if (close(fd) != 0)
    bench_die("close");
  if (rename(tmp, path) != 0)
    bench_die("rename");
  if (dir_sync && fsync(dirfd) != 0)
    bench_die("fsync dir");
}

void bench_replace_floor(int dirfd, const char *path, const void *data, size_t size,
                         int file_sync, int dir_sync) {
  char tmp[4096];
  int fd = bench_temp_write(path, data, size, tmp, sizeof tmp);
  bench_temp_install(dirfd, fd, tmp, path, file_sync, dir_sync);
}

double bench_free_bytes(const char *dir) {
  struct statvfs sv;
  if (statvfs(dir, &sv) != 0)
    bench_die(dir);
  return (double)sv.f_bavail * (double)sv.f_frsize;
}

void bench_table_init(bench_table *t, const char *const *names, int variants, int rounds) {
  t->names = names;
  t->variants = variants;
  t->rounds = rounds;
  t->sorted = 0;
  t->samples = (double *)calloc((size_t)variants * (size_t)rounds, sizeof(double));
  if (t->samples == NULL)
    bench_die("calloc");
}

void bench_table_free(bench_table *t) {
  free(t->samples);
  t->samples = NULL;
}

void bench_interleave(bench_table *t, bench_run_fn run, void *ctx) {
  int r, i;
  for (r = 0; r < t->rounds; r++)
    for (i = 0; i < t->variants; i++) {
      int v = (i + r) % t->variants;
      t->samples[v * t->rounds + r] = run(ctx, v, r);
    }
  t->sorted = 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double bench_quantile(bench_table *t, int v, double q) {
  int i;
  if (!t->sorted) {
    for (i = 0; i < t->variants; i++)
      qsort(t->samples + i * t->rounds, (size_t)t->rounds, sizeof(double), cmp_double);
    t->sorted = 1;
  }
  i = (int)(q * (t->rounds - 1) + 0.5);
  return t->samples[v * t->rounds + i];
}

double bench_median(bench_table *t, int v) {
  return bench_quantile(t, v, 0.5);
}

void bench_table_print(bench_table *t, const char *title, const char *unit, int ref) {
  char ratio[32];
  double ref_median = bench_median(t, ref);
  int v;
  snprintf(ratio, sizeof ratio, "x %.18s", t->names[ref]);
  printf("\n%s (%d rounds)\n%-22s %10s %10s %10s %20s\n", title, t->rounds, "variant", "median",
         "p90", "max", ratio);
  for (v = 0; v < t->variants; v++)
    printf("%-22s %10.1f %10.1f %10.1f %20.2f\n", t->names[v], bench_median(t, v),
           bench_quantile(t, v, 0.9), bench_quantile(t, v, 1.0),
           bench_median(t, v) / ref_median);
  printf("(%s)\n", unit);
}

void bench_target(const char *what, double value, int at_least, double target) {
  int met = at_least ? value >= target : value <= target;
  printf("%s: %.2fx (target %s %.2fx: %s)\n", what, value, at_least ? ">=" : "<=", target,
         met ? "met" : "MISSED");
}
