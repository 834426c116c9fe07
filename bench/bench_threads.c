/*
 * bench_threads: several threads of one process replacing different files
 * in one directory at once, and how the throughput scales.
 *
 *   bench_threads [DIR] [ROUNDS] [REPLACES]
 *
 * Each sample starts T threads (1, 2, 4, 8); each replaces its own file
 * DIR/bench-thread-<i>.dat (4 KiB, existing) REPLACES times (default 100);
 * the sample is replaces per second over all threads, from the first
 * thread's start (they wait at a barrier first) to the last one's end. Four kinds, each at every T,
 * all interleaved round by round (bench_util.h):
 *   safefs          safefs_write_file(0)
 *   full-protocol   temp + fsync + rename + directory fsync, hand-written
 *   safefs-nosync   safefs_write_file(SAFEFS_NOSYNC)
 *   tmp-rename      temp + rename, hand-written
 * The hand-written kinds share nothing between threads but the directory
 * descriptor, so they show what the kernel and the filesystem serialise;
 * where safefs scales as they do, safefs itself serialises nothing.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "safefs.h"

#define SIZE 4096
#define MAX_THREADS 8
#define N_COUNTS 4
#define N_KINDS 4

enum { K_SAFEFS, K_FULL, K_SAFEFS_NOSYNC, K_TMP };
static const char *const kind_names[N_KINDS] = {"safefs", "full-protocol", "safefs-nosync",
                                                "tmp-rename"};
static const int counts[N_COUNTS] = {1, 2, 4, 8};

struct shared {
  int dirfd, kind, replaces;
  char paths[MAX_THREADS][4096];
  pthread_barrier_t start;
};

struct worker {
  struct shared *s;
  int index;
  double start_us, end_us; /* after the barrier, after the last replace */
};

static void replace(const struct shared *s, int kind, const char *path, const char *data) {
  switch (kind) {
  case K_SAFEFS:
  case K_SAFEFS_NOSYNC:
    bench_check(safefs_write_file(path, data, SIZE, kind == K_SAFEFS ? 0 : SAFEFS_NOSYNC),
                "safefs_write_file");
    break;
  default:
    bench_replace_floor(s->dirfd, path, data, SIZE, kind == K_FULL, kind == K_FULL);
  }
}

static void *work(void *arg) {
  struct worker *w = (struct worker *)arg;
  char data[SIZE];
  int i;
  memset(data, 'a' + w->index, sizeof data);
  pthread_barrier_wait(&w->s->start);
  w->start_us = bench_now_us();
  for (i = 0; i < w->s->replaces; i++) {
    data[0] = (char)i;
    replace(w->s, w->s->kind, w->s->paths[w->index], data);
  }
  w->end_us = bench_now_us();
  return NULL;
}

/* Variant v is kind v / N_COUNTS at counts[v % N_COUNTS] threads. */
static double run_one(void *ctx, int v, int r) {
  struct shared *s = (struct shared *)ctx;
  pthread_t th[MAX_THREADS];
  struct worker w[MAX_THREADS];
  int n = counts[v % N_COUNTS], i;
  double first, last;
  (void)r;
  s->kind = v / N_COUNTS;
  if (pthread_barrier_init(&s->start, NULL, (unsigned)n + 1) != 0)
    bench_die("pthread_barrier_init");
  for (i = 0; i < n; i++) {
    w[i].s = s;
    w[i].index = i;
    if (pthread_create(&th[i], NULL, work, &w[i]) != 0)
      bench_die("pthread_create");
  }
  pthread_barrier_wait(&s->start);
  for (i = 0; i < n; i++)
    pthread_join(th[i], NULL);
  pthread_barrier_destroy(&s->start);
  first = w[0].start_us;
  last = w[0].end_us;
  for (i = 1; i < n; i++) {
    first = w[i].start_us < first ? w[i].start_us : first;
    last = w[i].end_us > last ? w[i].end_us : last;
  }
  return (double)n * s->replaces / ((last - first) / 1e6);
}

int main(int argc, char **argv) {
  static struct shared s;
  static char names[N_KINDS * N_COUNTS][32];
  const char *name_ptrs[N_KINDS * N_COUNTS];
  const char *dir = argc > 1 ? argv[1] : ".";
  int rounds = argc > 2 ? atoi(argv[2]) : 15;
  bench_table t;
  char data[SIZE];
  int k, c, i;

  s.replaces = argc > 3 ? atoi(argv[3]) : 100;
  if (rounds < 1)
    rounds = 15;
  if (s.replaces < 1)
    s.replaces = 100;
  s.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s.dirfd < 0)
    bench_die(dir);
  memset(data, 'x', sizeof data);
  for (i = 0; i < MAX_THREADS; i++) {
    snprintf(s.paths[i], sizeof s.paths[i], "%.4000s/bench-thread-%d.dat", dir, i);
    replace(&s, K_TMP, s.paths[i], data); /* the files exist from now on */
  }
  for (k = 0; k < N_KINDS; k++)
    for (c = 0; c < N_COUNTS; c++) {
      snprintf(names[k * N_COUNTS + c], sizeof names[0], "%s x%d", kind_names[k], counts[c]);
      name_ptrs[k * N_COUNTS + c] = names[k * N_COUNTS + c];
    }
  printf("safefs %s bench_threads: %d rounds, %d replaces of %d bytes per thread, dir %s\n",
         safefs_version_string(), rounds, s.replaces, SIZE, dir);

  bench_table_init(&t, name_ptrs, N_KINDS * N_COUNTS, rounds);
  bench_interleave(&t, run_one, &s);
  bench_table_print(&t, "replaces of different files in one directory by T threads",
                    "replaces per second, all threads together", 0);
  printf("\nscaling: median replaces/s at T threads / at 1 thread\n%-16s", "kind");
  for (c = 0; c < N_COUNTS; c++)
    printf(" %8s%d", "T=", counts[c]);
  printf("\n");
  for (k = 0; k < N_KINDS; k++) {
    double one = bench_median(&t, k * N_COUNTS);
    printf("%-16s", kind_names[k]);
    for (c = 0; c < N_COUNTS; c++)
      printf(" %9.2f", bench_median(&t, k * N_COUNTS + c) / one);
    printf("\n");
  }
  printf("safefs vs hand-written at the same T (speed):\n");
  for (k = 0; k < N_KINDS; k += 2) {
    printf("%-16s", kind_names[k]);
    for (c = 0; c < N_COUNTS; c++)
      printf(" %9.2f",
             bench_median(&t, k * N_COUNTS + c) / bench_median(&t, (k + 1) * N_COUNTS + c));
    printf("\n");
  }
  bench_table_free(&t);
  for (i = 0; i < MAX_THREADS; i++)
    unlink(s.paths[i]);
  close(s.dirfd);
  return 0;
}
