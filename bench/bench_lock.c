/*
 * bench_lock: what safefs's inter-process lock costs against plain flock,
 * and how it behaves between processes.
 *
 *   bench_lock [DIR] [ROUNDS]
 *   bench_lock --calls VARIANT DIR N   (N uncontended acquire+release of
 *                                       one variant only, for strace -c)
 *
 * Three parts, each interleaving its variants round by round
 * (bench_util.h). Lock files are DIR/bench-lock-*.lock.
 *
 * 1. Uncontended acquire + release, microseconds per pair (each sample is
 *    the mean of BATCH pairs):
 *      flock-ex / flock-sh    open + flock(LOCK_EX / LOCK_SH) + close
 *      safefs-ex / safefs-sh  safefs_lock_acquire(timeout 1000 ms) +
 *                             safefs_lock_release
 * 2. Hand-off: this process holds the lock exclusively; a child process,
 *    told to acquire it, is blocked in the call; after HOLD_MS this process
 *    takes a CLOCK_MONOTONIC timestamp and releases; the child takes one as
 *    soon as its call returns and sends it back through a pipe. The sample
 *    is the difference (one clock for both processes):
 *      flock            flock(LOCK_EX) blocking, released by close
 *      safefs-forever   safefs_lock_acquire(-1): the OS call blocks
 *      safefs-timeout   safefs_lock_acquire(10000): one attempt, then
 *                       sleeps of 1, 2, 4 ... 50 ms (+-25%) between
 *                       attempts, so its latency depends on how long it
 *                       has waited when the lock comes free
 * 3. An exclusive acquirer against SHARED_HOLDERS processes that take the
 *    shared lock back to back (hold 1 ms, release, take it again at once).
 *    Four holders use safefs on one lock file, four more plain flock on
 *    another, all running throughout, so both sides see the same machine.
 *    This process sleeps 2 ms, then times one exclusive acquisition, holds
 *    it 1 ms and releases:
 *      safefs-forever / safefs-timeout   as above, on the safefs file
 *      flock            flock(LOCK_EX) blocking, on the flock file, cut
 *                       off by a timer after FLOCK_CUTOFF_MS (counted as a
 *                       time-out; plain flock lets shared holders overtake
 *                       a waiting exclusive one, so it may never get in)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "safefs.h"

#define BATCH 20
#define HOLD_MS 5
#define SHARED_HOLDERS 4
#define FLOCK_CUTOFF_MS 200

static char g_path_a[4096], g_path_b[4096];

/* ---- plain flock ---------------------------------------------------------- */

static int flock_open(const char *path, int op) {
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0)
    bench_die("open lock");
  if (flock(fd, op) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

static safefs_lock *safefs_take(const char *path, unsigned flags, long timeout_ms) {
  safefs_lock *l;
  bench_check(safefs_lock_acquire(&l, path, flags, timeout_ms), "safefs_lock_acquire");
  return l;
}

/* ---- 1. uncontended --------------------------------------------------------- */

enum { U_FLOCK_EX, U_SAFEFS_EX, U_FLOCK_SH, U_SAFEFS_SH, N_UNCONTENDED };
static const char *const u_names[N_UNCONTENDED] = {"flock-ex", "safefs-ex", "flock-sh",
                                                   "safefs-sh"};

static void uncontended_once(int v) {
  int fd;
  switch (v) {
  case U_FLOCK_EX:
  case U_FLOCK_SH:
    fd = flock_open(g_path_a, v == U_FLOCK_EX ? LOCK_EX : LOCK_SH);
    if (fd < 0 || close(fd) != 0)
      bench_die("flock");
    break;
  default:
    bench_check(safefs_lock_release(safefs_take(
                    g_path_a, v == U_SAFEFS_SH ? SAFEFS_LOCK_SHARED : 0, 1000)),
                "safefs_lock_release");
  }
}

static double uncontended_sample(void *ctx, int v, int r) {
  double t0 = bench_now_us();
  int i;
  (void)ctx;
  (void)r;
  for (i = 0; i < BATCH; i++)
    uncontended_once(v);
  return (bench_now_us() - t0) / BATCH;
}

static void bench_uncontended(int rounds) {
  bench_table t;
  bench_table_init(&t, u_names, N_UNCONTENDED, rounds);
  bench_interleave(&t, uncontended_sample, NULL);
  bench_table_print(&t, "uncontended acquire + release", "microseconds per pair",
                    U_FLOCK_EX);
  bench_target("time of safefs-ex vs flock-ex",
               bench_median(&t, U_SAFEFS_EX) / bench_median(&t, U_FLOCK_EX), 0, 1.5);
  bench_target("time of safefs-sh vs flock-sh",
               bench_median(&t, U_SAFEFS_SH) / bench_median(&t, U_FLOCK_SH), 0, 1.5);
  bench_table_free(&t);
}

/* ---- 2. hand-off ------------------------------------------------------------ */

enum { H_FLOCK, H_SAFEFS_FOREVER, H_SAFEFS_TIMEOUT, N_HANDOFF };
static const char *const h_names[N_HANDOFF] = {"flock", "safefs-forever", "safefs-timeout"};

struct held {
  int fd;
  safefs_lock *lock;
};

static struct held take_exclusive(int v, const char *path) {
  struct held h;
  h.fd = -1;
  h.lock = NULL;
  if (v == H_FLOCK) {
    if ((h.fd = flock_open(path, LOCK_EX)) < 0)
      bench_die("flock");
  } else {
    h.lock = safefs_take(path, 0, v == H_SAFEFS_FOREVER ? -1 : 10000);
  }
  return h;
}

static void give_back(struct held h) {
  if (h.lock != NULL)
    bench_check(safefs_lock_release(h.lock), "safefs_lock_release");
  else if (close(h.fd) != 0)
    bench_die("close");
}

static void read_exact(int fd, void *p, size_t n) {
  if (read(fd, p, n) != (ssize_t)n)
    bench_die("read pipe");
}

static void write_exact(int fd, const void *p, size_t n) {
  if (write(fd, p, n) != (ssize_t)n)
    bench_die("write pipe");
}

/* The child: for each variant number it reads, say it is about to wait,
 * acquire, timestamp, send, release. A negative number ends it. */
static void handoff_child(int in, int out) {
  int v;
  for (;;) {
    struct held h;
    double t;
    read_exact(in, &v, sizeof v);
    if (v < 0)
      _exit(0);
    write_exact(out, "r", 1);
    h = take_exclusive(v, g_path_a);
    t = bench_now_us();
    write_exact(out, &t, sizeof t);
    give_back(h);
  }
}

struct handoff {
  int to_child, from_child;
};

static double handoff_sample(void *ctx, int v, int r) {
  struct handoff *c = (struct handoff *)ctx;
  struct held h = take_exclusive(v, g_path_a);
  double t_release, t_acquired;
  char ready;
  (void)r;
  write_exact(c->to_child, &v, sizeof v);
  read_exact(c->from_child, &ready, 1);
  bench_sleep_us(HOLD_MS * 1000.0); /* the child is in its acquire call by now */
  t_release = bench_now_us();
  give_back(h);
  read_exact(c->from_child, &t_acquired, sizeof t_acquired);
  return t_acquired - t_release;
}

static void bench_handoff(int rounds) {
  struct handoff c;
  bench_table t;
  int down[2], up[2], quit = -1;
  pid_t pid;

  if (pipe(down) != 0 || pipe(up) != 0)
    bench_die("pipe");
  fflush(stdout);
  if ((pid = fork()) < 0)
    bench_die("fork");
  if (pid == 0) {
    close(down[1]);
    close(up[0]);
    handoff_child(down[0], up[1]);
  }
  close(down[0]);
  close(up[1]);
  c.to_child = down[1];
  c.from_child = up[0];
  bench_table_init(&t, h_names, N_HANDOFF, rounds);
  bench_interleave(&t, handoff_sample, &c);
  write_exact(c.to_child, &quit, sizeof quit);
  waitpid(pid, NULL, 0);
  close(c.to_child);
  close(c.from_child);
  printf("\n(hand-off: the child waits %d ms in its acquire call before the release)", HOLD_MS);
  bench_table_print(&t, "hand-off, release in one process to acquisition in another",
                    "microseconds from release to acquisition", H_FLOCK);
  bench_table_free(&t);
}

/* ---- 3. exclusive against back-to-back shared holders ----------------------- */

enum { S_SAFEFS_FOREVER, S_SAFEFS_TIMEOUT, S_FLOCK, N_STARVE };
static const char *const s_names[N_STARVE] = {"safefs-forever", "safefs-timeout", "flock"};

static void shared_holder(int use_safefs) {
  for (;;) {
    if (use_safefs) {
      safefs_lock *l = safefs_take(g_path_a, SAFEFS_LOCK_SHARED, -1);
      bench_sleep_us(1000);
      bench_check(safefs_lock_release(l), "safefs_lock_release");
    } else {
      int fd = flock_open(g_path_b, LOCK_SH);
      if (fd < 0)
        bench_die("flock shared");
      bench_sleep_us(1000);
      close(fd);
    }
  }
}

static void on_alarm(int sig) {
  (void)sig;
}

static int g_flock_timeouts;

static double starve_sample(void *ctx, int v, int r) {
  struct held h;
  double t0, waited;
  (void)ctx;
  (void)r;
  bench_sleep_us(2000);
  t0 = bench_now_us();
  if (v == S_FLOCK) {
    struct itimerval it;
    memset(&it, 0, sizeof it);
    it.it_value.tv_usec = FLOCK_CUTOFF_MS * 1000;
    setitimer(ITIMER_REAL, &it, NULL);
    h.lock = NULL;
    h.fd = flock_open(g_path_b, LOCK_EX);
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_REAL, &it, NULL);
    waited = bench_now_us() - t0;
    if (h.fd < 0) {
      if (errno != EINTR)
        bench_die("flock");
      g_flock_timeouts++;
      return waited;
    }
  } else {
    h = take_exclusive(v == S_SAFEFS_FOREVER ? H_SAFEFS_FOREVER : H_SAFEFS_TIMEOUT, g_path_a);
    waited = bench_now_us() - t0;
  }
  bench_sleep_us(1000);
  give_back(h);
  return waited;
}

static void bench_starvation(int rounds) {
  pid_t pids[2 * SHARED_HOLDERS];
  struct sigaction sa;
  bench_table t;
  int i;

  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm; /* no SA_RESTART: the timer interrupts flock */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  fflush(stdout);
  for (i = 0; i < 2 * SHARED_HOLDERS; i++) {
    if ((pids[i] = fork()) < 0)
      bench_die("fork");
    if (pids[i] == 0)
      shared_holder(i < SHARED_HOLDERS);
  }
  bench_sleep_us(100000); /* let the holders get going */
  bench_table_init(&t, s_names, N_STARVE, rounds);
  bench_interleave(&t, starve_sample, NULL);
  for (i = 0; i < 2 * SHARED_HOLDERS; i++) {
    kill(pids[i], SIGTERM);
    waitpid(pids[i], NULL, 0);
  }
  printf("\n(%d processes hold the shared lock back to back, 1 ms each)", SHARED_HOLDERS);
  bench_table_print(&t, "exclusive acquirer's wait against back-to-back shared holders",
                    "microseconds of waiting per exclusive acquisition", S_SAFEFS_FOREVER);
  printf("flock: %d of %d acquisitions cut off after %d ms (counted as %d ms)\n",
         g_flock_timeouts, rounds, FLOCK_CUTOFF_MS, FLOCK_CUTOFF_MS);
  bench_table_free(&t);
}

/* ---- main ------------------------------------------------------------------- */

static void set_paths(const char *dir) {
  int fd;
  snprintf(g_path_a, sizeof g_path_a, "%.4000s/bench-lock-a.lock", dir);
  snprintf(g_path_b, sizeof g_path_b, "%.4000s/bench-lock-b.lock", dir);
  if ((fd = open(g_path_a, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) < 0 || close(fd) != 0 ||
      (fd = open(g_path_b, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) < 0 || close(fd) != 0)
    bench_die("create lock files");
}

int main(int argc, char **argv) {
  const char *dir;
  int rounds;

  if (argc == 5 && strcmp(argv[1], "--calls") == 0) {
    int v, n = atoi(argv[4]), i;
    for (v = 0; v < N_UNCONTENDED && strcmp(argv[2], u_names[v]) != 0; v++)
      ;
    if (v == N_UNCONTENDED) {
      fprintf(stderr, "variants: flock-ex safefs-ex flock-sh safefs-sh\n");
      return 2;
    }
    set_paths(argv[3]);
    for (i = 0; i < n; i++)
      uncontended_once(v);
    return 0;
  }
  dir = argc > 1 ? argv[1] : ".";
  rounds = argc > 2 ? atoi(argv[2]) : 200;
  if (rounds < 1)
    rounds = 200;
  set_paths(dir);
  printf("safefs %s bench_lock: %d rounds, dir %s\n", safefs_version_string(), rounds, dir);
  bench_uncontended(rounds * 5);
  bench_handoff(rounds);
  bench_starvation(rounds / 2 > 0 ? rounds / 2 : 1);
  unlink(g_path_a);
  unlink(g_path_b);
  return 0;
}
