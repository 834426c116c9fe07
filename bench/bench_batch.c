/*
 * bench_batch: what a batch of atomic, durable replaces costs
 * (safefs_batch_*), against the same files replaced one by one and against
 * hand-written ways of syncing many temps, measured side by side in one run.
 *
 *   bench_batch [DIR] [ROUNDS] [ROUNDS_512]
 *
 * For N = 8, 64 and 512 existing files of 4 KiB in one directory
 * (DIR/bench-batch-N), each sample replaces all N files; the variants,
 * interleaved round by round (bench_util.h), ROUNDS rounds (default 10;
 * ROUNDS_512 for N = 512, default ROUNDS):
 *   safefs-batch     safefs_batch_begin(0), N adds, commit
 *   safefs-separate  N safefs_write_file(0)
 *   syncfs-floor     every temp written (plain write), one syncfs, every
 *                    temp renamed, one directory fsync: the floor, but
 *                    syncfs flushes everything dirty on the whole
 *                    filesystem, other programs' data too
 *   fsync-each       every temp written, then each fsynced and renamed in
 *                    turn, one directory fsync
 *   sfr-fsync        every temp written, sync_file_range(WRITE) on each,
 *                    then each fsynced and renamed in turn, one directory
 *                    fsync: what the batch does, hand-written
 *   sfr-chmod-fsync  sfr-fsync with an fchmod of each temp just before its
 *                    fsync, as safefs sets the final mode there (its temp
 *                    is made 0600): whether dirtying the inode again, in
 *                    the journal transaction that holds the previous
 *                    rename, costs the fsync a journal commit of its own
 *   fsync-4-threads  every temp written, fsynced by 4 threads (file i by
 *   fsync-8-threads  thread i mod T; the threads started in the sample),
 *                    then each renamed, one directory fsync
 *   batch-nosync     safefs_batch_begin(SAFEFS_NOSYNC), N adds, commit
 *   tmp-rename       N hand-written temp + rename, nothing synced
 * Then 64 files spread over 4 directories (DIR/bench-batch-spread/d0..d3,
 * 16 each, added directory by directory): safefs-batch vs safefs-separate.
 * Prints median, p90 and max per variant (microseconds per N files), each
 * median's ratio to the syncfs floor's, and the ratios the targets are
 * about. Linux only (syncfs, sync_file_range).
 *
 *   bench_batch --calls VARIANT DIR N
 *
 * makes N files (tmp-rename) in DIR/bench-batch-calls and runs VARIANT
 * once on them, for strace -c (bench/run_all.sh).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"
#include "safefs.h"

#define SIZE 4096
#define MAX_FILES 512
#define SPREAD_DIRS 4
#define SPREAD_FILES 64

enum {
  V_BATCH,
  V_SEPARATE,
  V_SYNCFS,
  V_FSYNC_EACH,
  V_SFR_FSYNC,
  V_SFR_CHMOD,
  V_THREADS_4,
  V_THREADS_8,
  V_BATCH_NOSYNC,
  V_TMP_RENAME,
  N_VARIANTS
};
static const char *const all_names[N_VARIANTS] = {
    "safefs-batch",    "safefs-separate", "syncfs-floor",    "fsync-each",   "sfr-fsync",
    "sfr-chmod-fsync", "fsync-4-threads", "fsync-8-threads", "batch-nosync", "tmp-rename"};

struct run {
  int dirfd;      /* the one directory the hand-written variants sync */
  const int *ids; /* table index -> variant */
  int n;          /* files per sample */
  char (*paths)[4096];
  char (*tmps)[4096];
  int fds[MAX_FILES];
  char data[SIZE];
};

struct syncer {
  const struct run *c;
  int first, step;
};

static void *sync_slice(void *arg) {
  const struct syncer *s = (const struct syncer *)arg;
  int i;
  for (i = s->first; i < s->c->n; i += s->step)
    if (fsync(s->c->fds[i]) != 0)
      bench_die("fsync");
  return NULL;
}

/* fsync every temp from `threads` threads at once. */
static void sync_parallel(const struct run *c, int threads) {
  pthread_t th[8];
  struct syncer s[8];
  int i;
  for (i = 0; i < threads; i++) {
    s[i].c = c;
    s[i].first = i;
    s[i].step = threads;
    if (pthread_create(&th[i], NULL, sync_slice, &s[i]) != 0)
      bench_die("pthread_create");
  }
  for (i = 0; i < threads; i++)
    pthread_join(th[i], NULL);
}

static void batch_commit(const struct run *c, unsigned flags) {
  safefs_batch *b;
  int i;
  bench_check(safefs_batch_begin(&b, flags), "safefs_batch_begin");
  for (i = 0; i < c->n; i++)
    bench_check(safefs_batch_add(b, c->paths[i], c->data, SIZE), "safefs_batch_add");
  bench_check(safefs_batch_commit(b), "safefs_batch_commit");
}

/* The hand-written batches: every temp written, synced as variant v says,
 * each renamed, the directory fsynced once. */
static void hand_batch(struct run *c, int v) {
  int i;
  for (i = 0; i < c->n; i++)
    c->fds[i] = bench_temp_write(c->paths[i], c->data, SIZE, c->tmps[i], sizeof c->tmps[i]);
  if (v == V_SYNCFS && syncfs(c->dirfd) != 0)
    bench_die("syncfs");
  if (v == V_SFR_FSYNC || v == V_SFR_CHMOD)
    for (i = 0; i < c->n; i++)
      if (sync_file_range(c->fds[i], 0, 0, SYNC_FILE_RANGE_WRITE) != 0)
        bench_die("sync_file_range");
  if (v == V_THREADS_4 || v == V_THREADS_8)
    sync_parallel(c, v == V_THREADS_4 ? 4 : 8);
  for (i = 0; i < c->n; i++) {
    if (v == V_SFR_CHMOD && fchmod(c->fds[i], 0644) != 0)
      bench_die("fchmod");
    bench_temp_install(c->dirfd, c->fds[i], c->tmps[i], c->paths[i],
                       v == V_FSYNC_EACH || v == V_SFR_FSYNC || v == V_SFR_CHMOD, 0);
  }
  if (fsync(c->dirfd) != 0)
    bench_die("fsync dir");
}

static void replace_all(struct run *c, int v) {
  int i;
  switch (v) {
  case V_BATCH:
  case V_BATCH_NOSYNC:
    batch_commit(c, v == V_BATCH ? 0 : SAFEFS_NOSYNC);
    break;
  case V_SEPARATE:
    for (i = 0; i < c->n; i++)
      bench_check(safefs_write_file(c->paths[i], c->data, SIZE, 0), "safefs_write_file");
    break;
  case V_TMP_RENAME:
    for (i = 0; i < c->n; i++)
      bench_replace_floor(c->dirfd, c->paths[i], c->data, SIZE, 0, 0);
    break;
  default:
    hand_batch(c, v);
  }
}

static double run_one(void *ctx, int i, int r) {
  struct run *c = (struct run *)ctx;
  double t0 = bench_now_us();
  c->data[r % SIZE] = (char)('a' + r % 26);
  replace_all(c, c->ids[i]);
  return bench_now_us() - t0;
}

static void make_dir(const char *path) {
  if (mkdir(path, 0755) != 0 && access(path, F_OK) != 0)
    bench_die(path);
}

/* The median time of table index a over b's; a target when target > 0. */
static void time_ratio(bench_table *t, int a, int b, double target) {
  char what[96];
  double ratio = bench_median(t, a) / bench_median(t, b);
  snprintf(what, sizeof what, "time of %s vs %s", t->names[a], t->names[b]);
  if (target > 0)
    bench_target(what, ratio, 0, target);
  else
    printf("%s: %.2fx\n", what, ratio);
}

/* Every variant in ids, `rounds` rounds, on c->n files; the files are made
 * (untimed) and removed afterwards. */
static void measure(struct run *c, const int *ids, int n_ids, int rounds, const char *title,
                    int ref) {
  const char *names[N_VARIANTS];
  bench_table t;
  int i;
  c->ids = ids;
  for (i = 0; i < n_ids; i++) {
    names[i] = all_names[ids[i]];
    replace_all(c, ids[i]); /* warm-up; the files exist from now on */
  }
  bench_table_init(&t, names, n_ids, rounds);
  bench_interleave(&t, run_one, c);
  bench_table_print(&t, title, "microseconds per batch of files", ref);
  /* ids start with V_BATCH, V_SEPARATE; all_ids is every variant in order */
  bench_target("speed of safefs-batch vs safefs-separate",
               bench_median(&t, 1) / bench_median(&t, 0), 1, 2.5);
  if (ids[n_ids - 1] == V_TMP_RENAME) {
    time_ratio(&t, V_BATCH, V_SYNCFS, 1.3);
    time_ratio(&t, V_BATCH, V_SFR_FSYNC, 0);
    time_ratio(&t, V_BATCH, V_FSYNC_EACH, 0);
    time_ratio(&t, V_BATCH, V_SFR_CHMOD, 0);
    time_ratio(&t, V_SFR_CHMOD, V_SFR_FSYNC, 0);
    time_ratio(&t, V_BATCH_NOSYNC, V_TMP_RENAME, 0);
    printf("per file: safefs-batch %.1f us, safefs-separate %.1f us, syncfs-floor %.1f us\n",
           bench_median(&t, V_BATCH) / c->n, bench_median(&t, V_SEPARATE) / c->n,
           bench_median(&t, V_SYNCFS) / c->n);
  }
  bench_table_free(&t);
  for (i = 0; i < c->n; i++)
    unlink(c->paths[i]);
}

/* c's files: n in the directory dir/name, made if missing, open as c->dirfd. */
static void one_dir(struct run *c, const char *dir, const char *name, int n) {
  char sub[4096];
  int i;
  c->n = n;
  snprintf(sub, sizeof sub, "%.4000s/%.80s", dir, name);
  make_dir(sub);
  c->dirfd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (c->dirfd < 0)
    bench_die(sub);
  for (i = 0; i < n; i++)
    snprintf(c->paths[i], sizeof c->paths[i], "%.4000s/f%03d.dat", sub, i);
}

/* --calls VARIANT DIR N: N files made with tmp-rename, then the variant
 * once on them, for strace -c. */
static int calls(struct run *c, const char *variant, const char *dir, int n) {
  int v;
  for (v = 0; v < N_VARIANTS && strcmp(all_names[v], variant) != 0; v++)
    ;
  if (v == N_VARIANTS || n < 1 || n > MAX_FILES) {
    fprintf(stderr, "bench_batch --calls VARIANT DIR N (N <= %d)\n", MAX_FILES);
    return 2;
  }
  one_dir(c, dir, "bench-batch-calls", n);
  replace_all(c, V_TMP_RENAME);
  replace_all(c, v);
  for (v = 0; v < n; v++)
    unlink(c->paths[v]);
  close(c->dirfd);
  snprintf(c->tmps[0], sizeof c->tmps[0], "%.4000s/bench-batch-calls", dir);
  rmdir(c->tmps[0]);
  return 0;
}

int main(int argc, char **argv) {
  static const int all_ids[N_VARIANTS] = {V_BATCH,        V_SEPARATE,  V_SYNCFS,    V_FSYNC_EACH,
                                          V_SFR_FSYNC,    V_SFR_CHMOD, V_THREADS_4, V_THREADS_8,
                                          V_BATCH_NOSYNC, V_TMP_RENAME};
  static const int spread_ids[2] = {V_BATCH, V_SEPARATE};
  static const int counts[3] = {8, 64, MAX_FILES};
  static char paths[MAX_FILES][4096], tmps[MAX_FILES][4096];
  static struct run c;
  char sub[4096], title[96];
  const char *dir = argc > 1 ? argv[1] : ".";
  int rounds = argc > 2 ? atoi(argv[2]) : 10;
  int rounds_512 = argc > 3 ? atoi(argv[3]) : rounds;
  int k, i;

  if (rounds < 1)
    rounds = 10;
  if (rounds_512 < 1)
    rounds_512 = rounds;
  c.paths = paths;
  c.tmps = tmps;
  memset(c.data, 'x', sizeof c.data);
  if (argc == 5 && strcmp(argv[1], "--calls") == 0)
    return calls(&c, argv[2], argv[3], atoi(argv[4]));
  printf("safefs %s bench_batch: %d rounds (%d at %d files), %d-byte files, dir %s\n",
         safefs_version_string(), rounds, rounds_512, MAX_FILES, SIZE, dir);

  for (k = 0; k < 3; k++) {
    snprintf(sub, sizeof sub, "bench-batch-%d", counts[k]);
    one_dir(&c, dir, sub, counts[k]);
    snprintf(title, sizeof title, "%d files of %d bytes in one directory", c.n, SIZE);
    measure(&c, all_ids, N_VARIANTS, c.n == MAX_FILES ? rounds_512 : rounds, title, V_SYNCFS);
    close(c.dirfd);
    snprintf(paths[0], sizeof paths[0], "%.4000s/%.80s", dir, sub);
    rmdir(paths[0]);
  }

  c.dirfd = -1; /* only safefs variants from here on */
  c.n = SPREAD_FILES;
  snprintf(sub, sizeof sub, "%.4000s/bench-batch-spread", dir);
  make_dir(sub);
  for (i = 0; i < SPREAD_DIRS; i++) {
    snprintf(paths[0], sizeof paths[0], "%.4000s/d%d", sub, i);
    make_dir(paths[0]);
  }
  for (i = 0; i < c.n; i++)
    snprintf(paths[i], sizeof paths[i], "%.4000s/d%d/f%03d.dat", sub,
             i / (SPREAD_FILES / SPREAD_DIRS), i);
  snprintf(title, sizeof title, "%d files of %d bytes over %d directories", c.n, SIZE, SPREAD_DIRS);
  measure(&c, spread_ids, 2, rounds, title, 1);
  for (i = 0; i < SPREAD_DIRS; i++) {
    snprintf(paths[0], sizeof paths[0], "%.4000s/d%d", sub, i);
    rmdir(paths[0]);
  }
  rmdir(sub);
  return 0;
}
