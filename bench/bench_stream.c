/*
 * bench_stream: streaming a large file through safefs_writer_* against the
 * same bytes written by hand, and the writer's memory.
 *
 *   bench_stream [DIR] [ROUNDS] [MIB]
 *
 * Variants, interleaved round by round (bench_util.h), each writing MIB
 * MiB (default 1024) in 64 KiB application writes to a new file DIR/...:
 *   hand-written   open a temp, write(), fsync, close, rename, fsync the
 *                  directory: the floor of a durable streamed replace
 *   safefs-writer  safefs_writer_open + safefs_writer_write + commit
 * Every sample runs in a fresh child process, so each variant's peak RSS
 * (getrusage ru_maxrss) is its own: the child reports its peak before the
 * stream (after allocating the application's 64 KiB buffer) and after the
 * commit. The target is removed between samples (not timed), so the
 * filesystem needs MIB once, plus a margin; where it has less than twice
 * that free (a small /dev/shm) MIB is scaled down, with a message.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "safefs.h"

#define CHUNK (64 * 1024)

enum { V_HAND, V_SAFEFS, N_VARIANTS };
static const char *const names[N_VARIANTS] = {"hand-written", "safefs-writer"};

struct report {
  double us;
  long rss_before_kib, rss_after_kib;
};

struct run {
  const char *dir;
  int dirfd;
  size_t chunks;
  double *rss_growth; /* [v * rounds + r], KiB */
  int rounds;
};

static long peak_rss_kib(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    bench_die("getrusage");
  return ru.ru_maxrss;
}

static void stream_by_hand(const struct run *c, const char *path, char *buf) {
  char tmp[4200];
  size_t i;
  int fd;
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    bench_die("open tmp");
  for (i = 0; i < c->chunks; i++) {
    buf[0] = (char)i;
    bench_write_all(fd, buf, CHUNK);
  }
  if (fsync(fd) != 0 || close(fd) != 0)
    bench_die("fsync/close");
  if (rename(tmp, path) != 0)
    bench_die("rename");
  if (fsync(c->dirfd) != 0)
    bench_die("fsync dir");
}

static void stream_safefs(const struct run *c, const char *path, char *buf) {
  safefs_writer *w;
  size_t i;
  bench_check(safefs_writer_open(&w, path, 0), "safefs_writer_open");
  for (i = 0; i < c->chunks; i++) {
    buf[0] = (char)i;
    bench_check(safefs_writer_write(w, buf, CHUNK), "safefs_writer_write");
  }
  bench_check(safefs_writer_commit(w), "safefs_writer_commit");
}

/* The child: the application's buffer, the peak before, the stream, the
 * peak after, all reported through the pipe. */
static void child(const struct run *c, int v, const char *path, int out) {
  struct report rep;
  char *buf = (char *)malloc(CHUNK);
  double t0;
  if (buf == NULL)
    bench_die("malloc");
  memset(buf, 'x', CHUNK);
  rep.rss_before_kib = peak_rss_kib();
  t0 = bench_now_us();
  if (v == V_HAND)
    stream_by_hand(c, path, buf);
  else
    stream_safefs(c, path, buf);
  rep.us = bench_now_us() - t0;
  rep.rss_after_kib = peak_rss_kib();
  if (write(out, &rep, sizeof rep) != (ssize_t)sizeof rep)
    bench_die("write report");
  _exit(0);
}

/* One sample: MiB/s of a fresh child; its RSS growth goes to the side. */
static double run_one(void *ctx, int v, int r) {
  struct run *c = (struct run *)ctx;
  struct report rep;
  char path[4096];
  int fds[2], status;
  pid_t pid;

  snprintf(path, sizeof path, "%s/bench-stream-%s.dat", c->dir, names[v]);
  unlink(path);
  if (pipe(fds) != 0)
    bench_die("pipe");
  fflush(stdout);
  pid = fork();
  if (pid < 0)
    bench_die("fork");
  if (pid == 0) {
    close(fds[0]);
    child(c, v, path, fds[1]);
  }
  close(fds[1]);
  if (read(fds[0], &rep, sizeof rep) != (ssize_t)sizeof rep)
    bench_die("read report");
  close(fds[0]);
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "child failed\n");
    exit(1);
  }
  unlink(path);
  c->rss_growth[v * c->rounds + r] = (double)(rep.rss_after_kib - rep.rss_before_kib);
  return (double)c->chunks * CHUNK / (1024.0 * 1024.0) / (rep.us / 1e6);
}

int main(int argc, char **argv) {
  struct run c;
  bench_table t, rss;
  double free_b, want;
  long mib;
  int v;

  c.dir = argc > 1 ? argv[1] : ".";
  c.rounds = argc > 2 ? atoi(argv[2]) : 5;
  mib = argc > 3 ? atol(argv[3]) : 1024;
  if (c.rounds < 1)
    c.rounds = 5;
  if (mib < 1)
    mib = 1024;
  c.dirfd = open(c.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (c.dirfd < 0)
    bench_die(c.dir);
  free_b = bench_free_bytes(c.dir);
  want = 2.0 * (double)mib * 1024 * 1024 + 256.0 * 1024 * 1024;
  if (free_b < want) {
    long fit = (long)((free_b - 256.0 * 1024 * 1024) / 2 / (1024 * 1024));
    if (fit < 16) {
      fprintf(stderr, "%s: only %.0f MiB free\n", c.dir, free_b / (1024 * 1024));
      return 1;
    }
    printf("%s has %.0f MiB free, less than twice %ld MiB plus 256: streaming %ld MiB\n",
           c.dir, free_b / (1024 * 1024), mib, fit);
    mib = fit;
  }
  c.chunks = (size_t)mib * 16;
  printf("safefs %s bench_stream: %d rounds of %ld MiB in 64 KiB writes, dir %s\n",
         safefs_version_string(), c.rounds, mib, c.dir);

  bench_table_init(&t, names, N_VARIANTS, c.rounds);
  bench_table_init(&rss, names, N_VARIANTS, c.rounds);
  c.rss_growth = rss.samples;
  bench_interleave(&t, run_one, &c);
  bench_table_print(&t, "streamed durable replace", "MiB/s, higher is faster", V_HAND);
  bench_target("throughput of safefs-writer vs hand-written",
               bench_median(&t, V_SAFEFS) / bench_median(&t, V_HAND), 1, 0.9);
  printf("\npeak RSS growth over the child's peak before the stream, KiB\n%-22s %10s %10s\n",
         "variant", "median", "max");
  for (v = 0; v < N_VARIANTS; v++)
    printf("%-22s %10.0f %10.0f\n", names[v], bench_median(&rss, v),
           bench_quantile(&rss, v, 1.0));
  printf("safefs-writer minus hand-written (medians): %.0f KiB; the rest is the child\n"
         "faulting in code and stdio pages both variants touch\n",
         bench_median(&rss, V_SAFEFS) - bench_median(&rss, V_HAND));
  printf("safefs-writer peak RSS growth: %.0f KiB (target < 2048 KiB: %s)\n",
         bench_quantile(&rss, V_SAFEFS, 1.0),
         bench_quantile(&rss, V_SAFEFS, 1.0) < 2048 ? "met" : "MISSED");
  bench_table_free(&t);
  bench_table_free(&rss);
  close(c.dirfd);
  return 0;
}
