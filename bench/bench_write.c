/*
 * bench_write: what atomic, durable replacement costs, measured side by side
 * in one run so that the machine's noise hits every variant alike.
 *
 *   bench_write [DIR] [ROUNDS]
 *
 * Variants, each replacing one existing file ROUNDS times per size, in an
 * interleaved order (variant A round 1, B round 1, ... A round 2, ...):
 *   plain-overwrite   fopen("w") + fwrite + fclose: not atomic, not durable
 *   tmp-rename        temp + rename: atomic, not durable
 *   safefs-nosync     safefs_write_file(SAFEFS_NOSYNC)
 *   tmp-fsync-rename  temp + fsync + rename, no directory fsync (what GLib's
 *                     g_file_set_contents does)
 *   full-protocol     temp + fsync + rename + directory fsync, hand-written
 *   safefs            safefs_write_file(0): the full protocol plus the
 *                     backup link that makes a failed directory fsync
 *                     recoverable
 * Prints the median and p90 per variant and size, and the ratio of each
 * median to the hand-written full protocol.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "safefs.h"

#define MAX_ROUNDS 2000

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      die("write");
    }
    p += w;
    n -= (size_t)w;
  }
}

static const char *g_dir;
static int g_dirfd;

static void plain_overwrite(const char *path, const char *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0)
    die("plain");
}

static void tmp_rename(const char *path, const char *data, size_t n, int file_sync,
                       int dir_sync) {
  char tmp[4096];
  int fd;
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    die("open tmp");
  write_all(fd, data, n);
  if (file_sync && fsync(fd) != 0)
    die("fsync");
  if (close(fd) != 0)
    die("close");
  if (rename(tmp, path) != 0)
    die("rename");
  if (dir_sync && fsync(g_dirfd) != 0)
    die("fsync dir");
}

enum { V_PLAIN, V_TMP, V_SAFEFS_NOSYNC, V_TMP_FSYNC, V_FULL, V_SAFEFS, N_VARIANTS };
static const char *names[N_VARIANTS] = {"plain-overwrite", "tmp-rename",       "safefs-nosync",
                                        "tmp-fsync-rename", "full-protocol",   "safefs"};

static void run_variant(int v, const char *path, const char *data, size_t n) {
  int rc = 0;
  switch (v) {
  case V_PLAIN:
    plain_overwrite(path, data, n);
    break;
  case V_TMP:
    tmp_rename(path, data, n, 0, 0);
    break;
  case V_SAFEFS_NOSYNC:
    rc = safefs_write_file(path, data, n, SAFEFS_NOSYNC);
    break;
  case V_TMP_FSYNC:
    tmp_rename(path, data, n, 1, 0);
    break;
  case V_FULL:
    tmp_rename(path, data, n, 1, 1);
    break;
  case V_SAFEFS:
    rc = safefs_write_file(path, data, n, 0);
    break;
  }
  if (rc != 0) {
    fprintf(stderr, "safefs: %s\n", safefs_strerror(rc));
    exit(1);
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  static double samples[N_VARIANTS][MAX_ROUNDS];
  const size_t sizes[] = {4096, 1024 * 1024};
  int rounds, s, v, r;
  char path[N_VARIANTS][4096];

  g_dir = argc > 1 ? argv[1] : ".";
  rounds = argc > 2 ? atoi(argv[2]) : 200;
  if (rounds < 1 || rounds > MAX_ROUNDS)
    rounds = 200;
  g_dirfd = open(g_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (g_dirfd < 0)
    die(g_dir);
  printf("safefs %s bench_write: %d rounds per variant and size, dir %s\n",
         safefs_version_string(), rounds, g_dir);

  for (s = 0; s < (int)(sizeof sizes / sizeof sizes[0]); s++) {
    size_t n = sizes[s];
    char *data = (char *)malloc(n);
    double full_median = 0;
    memset(data, 'x', n);
    for (v = 0; v < N_VARIANTS; v++) {
      snprintf(path[v], sizeof path[v], "%s/bench-%s.dat", g_dir, names[v]);
      run_variant(v, path[v], data, n); /* warm-up; the file exists from now on */
    }
    for (r = 0; r < rounds; r++)
      for (v = 0; v < N_VARIANTS; v++) {
        double t0 = now_us();
        data[r % n] = (char)('a' + r % 26);
        run_variant(v, path[v], data, n);
        samples[v][r] = now_us() - t0;
      }
    printf("\nsize %lu bytes\n%-18s %12s %12s %10s\n", (unsigned long)n, "variant",
           "median us", "p90 us", "x full");
    for (v = 0; v < N_VARIANTS; v++)
      qsort(samples[v], (size_t)rounds, sizeof(double), cmp_double);
    full_median = samples[V_FULL][rounds / 2];
    for (v = 0; v < N_VARIANTS; v++)
      printf("%-18s %12.1f %12.1f %10.2f\n", names[v], samples[v][rounds / 2],
             samples[v][(rounds * 9) / 10], samples[v][rounds / 2] / full_median);
    for (v = 0; v < N_VARIANTS; v++)
      unlink(path[v]);
    free(data);
  }
  close(g_dirfd);
  return 0;
}
