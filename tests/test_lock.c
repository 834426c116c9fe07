/*
 * The inter-process lock: safefs_lock_acquire / _abandoned / _release.
 * Multi-process cases run helper processes of this program (see
 * testutil_proc.h and run_helper below); they talk through signal files in
 * the test's scratch directory. Every case runs on POSIX and on Windows
 * (under Wine too) unless marked.
 */
#include "testutil.h"
#include "testutil_proc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#define PROCS 4
#define BUMPS_PER_PROC 500
#define THREADS 4
#define BUMPS_PER_THREAD 250
#define HELPER_WAIT_MS 60000 /* a helper left alone never outlives this */
#define QUICK_MS 500         /* "at once", against a 5000 ms timeout */

/* ---- small helpers -------------------------------------------------------- */

/* *state: a struct tu_scratch whose file is dir/data.json.lock. */
static int setup(void **state) {
  return tu_setup_scratch(state, "data.json.lock");
}

#define LOCK_TEST(f) cmocka_unit_test_setup_teardown(f, setup, tu_teardown_scratch)

static char *in_dir(void **state, const char *name) {
  return tu_join(((struct tu_scratch *)*state)->dir, name);
}

/* Clock granularity of the tests' own clock (GetTickCount64 ticks ~16 ms). */
static long tick_ms(void) {
#ifdef _WIN32
  return 16;
#else
  return 1;
#endif
}

/* How late a timed-out acquire may return: generous, and more under Wine,
 * whose wineserver round trips are slow. */
static long late_ms(void) {
  return tu_running_on_wine() ? 500 : 150;
}

/* Acquire and report how long it took. */
static int acquire_ms(safefs_lock **l, const char *path, unsigned flags, long timeout,
                      long *elapsed) {
  long long t0 = tu_now_ms();
  int rc = safefs_lock_acquire(l, path, flags, timeout);
  *elapsed = (long)(tu_now_ms() - t0);
  return rc;
}

/* A timed-out acquire: ETIMEDOUT, *l NULL, and no earlier than the timeout
 * nor later than late_ms() after it. */
static void expect_timeout(const char *path, unsigned flags, long timeout) {
  safefs_lock *l = (safefs_lock *)&l; /* must be overwritten */
  long el;
  assert_int_equal(acquire_ms(&l, path, flags, timeout, &el), SAFEFS_ETIMEDOUT);
  assert_null(l);
  assert_true(safefs_last_os_error() != 0);
  if (el < timeout - tick_ms() || el > timeout + late_ms())
    fail_msg("timeout %ld ms returned after %ld ms", timeout, el);
  if (timeout > 0)
    print_message("  timeout %ld ms: returned after %ld ms\n", timeout, el);
}

static void acquire_ok(safefs_lock **l, const char *path, unsigned flags, long timeout) {
  int rc = safefs_lock_acquire(l, path, flags, timeout);
  if (rc != 0)
    fail_msg("acquire %s: %s", path, safefs_strerror(rc));
  assert_non_null(*l);
}

/* n times: take the lock, read the decimal counter with plain stdio, add
 * one, write it back. The read-modify-write is not atomic by itself, so
 * only the lock keeps increments from being lost. Timeouts alternate
 * between "forever" and a long one so both wait paths take part. Returns 0
 * or a status. Used by helper processes and by threads (no cmocka asserts). */
static int bump_counter(const char *lock_path, const char *counter, int n) {
  int i;
  for (i = 0; i < n; i++) {
    safefs_lock *l;
    int value = 0, rc;
    FILE *f;
    rc = safefs_lock_acquire(&l, lock_path, SAFEFS_LOCK_EXCLUSIVE, i % 2 ? 30000 : -1);
    if (rc != 0)
      return rc;
    f = fopen(counter, "rb");
    if (f != NULL) {
      if (fscanf(f, "%d", &value) != 1)
        value = -1000000; /* a torn file: poisons the total */
      fclose(f);
    }
    f = fopen(counter, "wb");
    if (f == NULL)
      return SAFEFS_EIO;
    fprintf(f, "%d", value + 1);
    if (fclose(f) != 0)
      return SAFEFS_EIO;
    if ((rc = safefs_lock_release(l)) != 0)
      return rc;
  }
  return 0;
}

static int read_counter(const char *counter) {
  char *s = tu_read_raw(counter, NULL);
  int v;
  assert_non_null(s);
  v = atoi(s);
  free(s);
  return v;
}

static unsigned parse_flags(const char *s) {
  return strcmp(s, "sh") == 0 ? SAFEFS_LOCK_SHARED : SAFEFS_LOCK_EXCLUSIVE;
}

/* ---- helper processes ------------------------------------------------------
 * Exit status: 0 for success, else the negated safefs status (so
 * SAFEFS_ETIMEDOUT exits 6, SAFEFS_EACCES 4), or 100 + that when a "try"
 * took longer than its allowed time. */

static int exit_for(int rc) {
  return rc < 0 ? -rc : rc;
}

/* hold LOCK ex|sh READY GO: take the lock, signal READY, release at GO. */
static int helper_hold(char **argv) {
  safefs_lock *l;
  int rc = safefs_lock_acquire(&l, argv[0], parse_flags(argv[1]), 30000);
  if (rc != 0)
    return exit_for(rc);
  tu_signal(argv[2]);
  if (!tu_wait_signal(argv[3], HELPER_WAIT_MS))
    return 90;
  return exit_for(safefs_lock_release(l));
}

/* try LOCK ex|sh TIMEOUT MAX_MS: one acquire; 0 if it got the lock. */
static int helper_try(char **argv) {
  safefs_lock *l;
  long long t0 = tu_now_ms();
  int rc = safefs_lock_acquire(&l, argv[0], parse_flags(argv[1]), atol(argv[2]));
  long el = (long)(tu_now_ms() - t0);
  if (rc == 0)
    rc = safefs_lock_release(l);
  return (el > atol(argv[3]) ? 100 : 0) + exit_for(rc);
}

/* sleep READY DONE STOP: signal READY, wait for STOP, signal DONE. */
static int helper_sleep(char **argv) {
  tu_signal(argv[0]);
  tu_wait_signal(argv[2], HELPER_WAIT_MS);
  tu_signal(argv[1]);
  return 0;
}

/* hold_spawn LOCK READY G_READY G_DONE STOP: take the lock, start a
 * "sleep" grandchild, signal READY once it runs, then wait to be killed. */
static int helper_hold_spawn(char **argv) {
  safefs_lock *l;
  tu_proc *g;
  int rc = safefs_lock_acquire(&l, argv[0], SAFEFS_LOCK_EXCLUSIVE, 30000);
  if (rc != 0)
    return exit_for(rc);
  g = tu_proc_start("sleep", argv[2], argv[3], argv[4], NULL);
  if (!tu_wait_signal(argv[2], HELPER_WAIT_MS))
    return 91;
  tu_signal(argv[1]);
  tu_wait_signal(argv[4], HELPER_WAIT_MS); /* normally killed long before */
  (void)g;
  return 92;
}

#ifndef _WIN32
/* try_as UID LOCK ex|sh TIMEOUT MAX_MS: "try" as another user. */
static int helper_try_as(char **argv) {
  uid_t id = (uid_t)atol(argv[0]);
  if (setgroups(0, NULL) != 0 || setgid((gid_t)id) != 0 || setuid(id) != 0)
    return 93;
  return helper_try(argv + 1);
}
#endif

static int run_helper(const char *mode, int argc, char **argv) {
  static const struct {
    const char *mode;
    int args;
    int (*run)(char **argv);
  } helpers[] = {
      {"hold", 4, helper_hold},         {"try", 4, helper_try},
      {"sleep", 3, helper_sleep},       {"hold_spawn", 5, helper_hold_spawn},
#ifndef _WIN32
      {"try_as", 5, helper_try_as},
#endif
  };
  size_t i;
  if (strcmp(mode, "count") == 0 && argc == 3)
    return exit_for(bump_counter(argv[0], argv[1], atoi(argv[2])));
  for (i = 0; i < sizeof helpers / sizeof helpers[0]; i++)
    if (strcmp(mode, helpers[i].mode) == 0 && argc == helpers[i].args)
      return helpers[i].run(argv);
  fprintf(stderr, "unknown helper mode %s/%d\n", mode, argc);
  return 99;
}

/* Start a "hold" helper and wait until it holds the lock. */
static tu_proc *start_holder(const char *lock, const char *flags, const char *ready,
                             const char *go) {
  tu_proc *p = tu_proc_start("hold", lock, flags, ready, go, NULL);
  if (!tu_wait_signal(ready, 20000)) {
    tu_proc_kill(p);
    fail_msg("%s", "holder did not take the lock");
  }
  return p;
}

/* Run a "try" helper to its end; returns its exit status. */
static int try_in_child(const char *lock, const char *flags, const char *timeout) {
  return tu_proc_wait(tu_proc_start("try", lock, flags, timeout, "100000", NULL), 30000);
}

/* ---- the tests -------------------------------------------------------------- */

static void bad_arguments(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  safefs_lock *l = (safefs_lock *)s;
  assert_int_equal(safefs_lock_acquire(NULL, s->file, 0, 0), SAFEFS_EINVAL);
  assert_int_equal(safefs_lock_acquire(&l, NULL, 0, 0), SAFEFS_EINVAL);
  assert_null(l);
  assert_int_equal(safefs_lock_acquire(&l, "", 0, 0), SAFEFS_EINVAL);
  assert_int_equal(safefs_lock_acquire(&l, s->file, 1u << 5, 0), SAFEFS_EINVAL);
  assert_null(l);
  assert_int_equal(safefs_last_os_error(), 0);
  assert_false(tu_exists(s->file)); /* nothing created for a bad call */
  assert_int_equal(safefs_lock_release(NULL), SAFEFS_EINVAL);
  assert_int_equal(safefs_lock_abandoned(NULL), 0);
}

/* Created if absent, 0666 & ~umask on POSIX, marked while held
 * exclusively, cleared and kept after release; a shared holder never
 * writes it. */
static void lock_file_created_marked_and_kept(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  char *other = in_dir(state, "shared-only.lock");
  safefs_lock *l;
  size_t n;
  char *content;
#ifndef _WIN32
  struct stat st;
  mode_t old = umask(027);
#endif
  acquire_ok(&l, s->file, SAFEFS_LOCK_EXCLUSIVE, 0);
#ifndef _WIN32
  umask(old);
  assert_int_equal(stat(s->file, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0640);
#endif
  assert_int_equal(safefs_lock_abandoned(l), 0);
  assert_true(tu_file_is(s->file, "1"));
  assert_int_equal(safefs_lock_release(l), 0);
  assert_true(tu_file_is(s->file, "0"));

  acquire_ok(&l, other, SAFEFS_LOCK_SHARED, 0);
  assert_int_equal(safefs_lock_abandoned(l), 0);
  assert_int_equal(safefs_lock_release(l), 0);
  content = tu_read_raw(other, &n);
  assert_non_null(content);
  assert_int_equal(n, 0);
  free(content);
  assert_int_equal(tu_count_entries(s->dir), 2);
  free(other);
}

/* PROCS processes each add BUMPS_PER_PROC to a counter file under the
 * exclusive lock; any overlap would lose increments. */
static void processes_count_under_lock(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  char *counter = in_dir(state, "counter.txt");
  char bumps[16];
  tu_proc *p[PROCS];
  long long t0 = tu_now_ms();
  int i;
  snprintf(bumps, sizeof bumps, "%d", BUMPS_PER_PROC);
  tu_write_raw(counter, "0", 1);
  for (i = 0; i < PROCS; i++)
    p[i] = tu_proc_start("count", s->file, counter, bumps, NULL);
  for (i = 0; i < PROCS; i++)
    assert_int_equal(tu_proc_wait(p[i], 120000), 0);
  print_message("  %d processes x %d locked increments: %d in %lld ms\n", PROCS, BUMPS_PER_PROC,
                read_counter(counter), tu_now_ms() - t0);
  assert_int_equal(read_counter(counter), PROCS * BUMPS_PER_PROC);
  assert_true(tu_file_is(s->file, "0"));
  free(counter);
}

/* Another process holds it: a try fails at once, a timed wait fails after
 * its timeout (not before, not much after), and once the holder lets go a
 * wait succeeds. */
static void contended_try_and_timed_wait(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  char *ready = in_dir(state, "ready"), *go = in_dir(state, "go");
  tu_proc *h = start_holder(s->file, "ex", ready, go);
  safefs_lock *l;
  long el;

  expect_timeout(s->file, SAFEFS_LOCK_EXCLUSIVE, 0);
  expect_timeout(s->file, SAFEFS_LOCK_SHARED, 0);
  expect_timeout(s->file, SAFEFS_LOCK_EXCLUSIVE, 200);
  expect_timeout(s->file, SAFEFS_LOCK_SHARED, 120);
  {
    long long t0 = tu_now_ms();
    assert_int_equal(safefs_lock_acquire(&l, s->file, 0, 0), SAFEFS_ETIMEDOUT);
    print_message("  try-lock against a holder: %lld ms\n", tu_now_ms() - t0);
  }
  tu_signal(go);
  assert_int_equal(acquire_ms(&l, s->file, SAFEFS_LOCK_EXCLUSIVE, 10000, &el), 0);
  print_message("  timed wait got the lock %ld ms after the holder was told to go\n", el);
  assert_int_equal(safefs_lock_abandoned(l), 0); /* the holder released cleanly */
  assert_int_equal(safefs_lock_release(l), 0);
  assert_int_equal(tu_proc_wait(h, 10000), 0);
  free(ready);
  free(go);
}

/* Shared holders coexist; an exclusive one waits for all of them, and one
 * shared release leaves the others holding. */
static void shared_holders_coexist(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  char *ra = in_dir(state, "ready-a"), *ga = in_dir(state, "go-a");
  char *rb = in_dir(state, "ready-b"), *gb = in_dir(state, "go-b");
  tu_proc *a = start_holder(s->file, "sh", ra, ga);
  tu_proc *b = start_holder(s->file, "sh", rb, gb); /* got it while a holds */
  safefs_lock *l;
  long el;

  acquire_ok(&l, s->file, SAFEFS_LOCK_SHARED, 0); /* and a third, here */
  assert_int_equal(safefs_lock_abandoned(l), 0);
  assert_int_equal(safefs_lock_release(l), 0);
  expect_timeout(s->file, SAFEFS_LOCK_EXCLUSIVE, 100);
  assert_int_equal(try_in_child(s->file, "ex", "0"), -SAFEFS_ETIMEDOUT);

  tu_signal(ga);
  assert_int_equal(tu_proc_wait(a, 10000), 0);
  expect_timeout(s->file, SAFEFS_LOCK_EXCLUSIVE, 100); /* b still holds */
  acquire_ok(&l, s->file, SAFEFS_LOCK_SHARED, 0);
  assert_int_equal(safefs_lock_release(l), 0);

  tu_signal(gb);
  assert_int_equal(acquire_ms(&l, s->file, SAFEFS_LOCK_EXCLUSIVE, 10000, &el), 0);
  assert_int_equal(safefs_lock_release(l), 0);
  assert_int_equal(tu_proc_wait(b, 10000), 0);
  free(ra);
  free(ga);
  free(rb);
  free(gb);
}

/* Kill a holder; the next acquirer gets the lock at once (Windows: after
 * the OS's short release delay) and, for an exclusive holder, is told the
 * lock was abandoned. */
static void killed_holder_is_abandoned(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  char *ready = in_dir(state, "ready"), *go = in_dir(state, "go");
  safefs_lock *l;
  long el;

  tu_proc_kill(start_holder(s->file, "ex", ready, go));
  assert_int_equal(acquire_ms(&l, s->file, SAFEFS_LOCK_EXCLUSIVE, 5000, &el), 0);
  print_message("  acquired %ld ms after the holder was killed\n", el);
  if (!tu_running_on_wine())
    assert_true(el < 1000);
  assert_int_equal(safefs_lock_abandoned(l), 1);
  assert_int_equal(safefs_lock_release(l), 0);
  acquire_ok(&l, s->file, SAFEFS_LOCK_EXCLUSIVE, 0); /* released cleanly since */
  assert_int_equal(safefs_lock_abandoned(l), 0);
  assert_int_equal(safefs_lock_release(l), 0);

  /* a killed shared holder leaves no mark */
  tu_remove(ready);
  tu_proc_kill(start_holder(s->file, "sh", ready, go));
  acquire_ok(&l, s->file, SAFEFS_LOCK_EXCLUSIVE, 5000);
  assert_int_equal(safefs_lock_abandoned(l), 0);
  assert_int_equal(safefs_lock_release(l), 0);

  /* a shared acquirer after an abandoned exclusive one is told 0, and the
   * mark stays for the next exclusive holder */
  tu_remove(ready);
  tu_proc_kill(start_holder(s->file, "ex", ready, go));
  acquire_ok(&l, s->file, SAFEFS_LOCK_SHARED, 5000);
  assert_int_equal(safefs_lock_abandoned(l), 0);
  assert_int_equal(safefs_lock_release(l), 0);
  acquire_ok(&l, s->file, SAFEFS_LOCK_EXCLUSIVE, 0);
  assert_int_equal(safefs_lock_abandoned(l), 1);
  assert_int_equal(safefs_lock_release(l), 0);
  free(ready);
  free(go);
}

/* Two objects in one thread are two holders: not reentrant. */
static void one_thread_two_objects(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  safefs_lock *a, *b, *c;

  acquire_ok(&a, s->file, SAFEFS_LOCK_EXCLUSIVE, 0);
  expect_timeout(s->file, SAFEFS_LOCK_EXCLUSIVE, 0);
  expect_timeout(s->file, SAFEFS_LOCK_EXCLUSIVE, 100);
  expect_timeout(s->file, SAFEFS_LOCK_SHARED, 0);
  assert_int_equal(safefs_lock_release(a), 0);
  acquire_ok(&b, s->file, SAFEFS_LOCK_EXCLUSIVE, 0);
  assert_int_equal(safefs_lock_release(b), 0);

  acquire_ok(&a, s->file, SAFEFS_LOCK_SHARED, 0);
  acquire_ok(&b, s->file, SAFEFS_LOCK_SHARED, 0);
  expect_timeout(s->file, SAFEFS_LOCK_EXCLUSIVE, 0);
  assert_int_equal(safefs_lock_release(a), 0);
  expect_timeout(s->file, SAFEFS_LOCK_EXCLUSIVE, 0);
  assert_int_equal(safefs_lock_release(b), 0);
  acquire_ok(&c, s->file, SAFEFS_LOCK_EXCLUSIVE, 0);
  assert_int_equal(safefs_lock_release(c), 0);

#ifndef _WIN32
  {
    /* another name for the same file (a hard link) is the same lock; a
       symbolic link is refused (lock_path_is_never_followed) */
    char *other = in_dir(state, "other-name.lock");
    assert_int_equal(link(s->file, other), 0);
    acquire_ok(&a, other, SAFEFS_LOCK_EXCLUSIVE, 0);
    expect_timeout(s->file, SAFEFS_LOCK_EXCLUSIVE, 0);
    assert_int_equal(safefs_lock_release(a), 0);
    free(other);
  }
#endif
}

struct thread_arg {
  const char *lock, *counter;
  int holding, release; /* between running threads: through flag()/set_flag() */
  int rc;               /* read after the join */
  long long acquired_at;
};

static pthread_mutex_t flag_mu = PTHREAD_MUTEX_INITIALIZER;

static void set_flag(int *f, int v) {
  pthread_mutex_lock(&flag_mu);
  *f = v;
  pthread_mutex_unlock(&flag_mu);
}

static int flag(const int *f) {
  int v;
  pthread_mutex_lock(&flag_mu);
  v = *f;
  pthread_mutex_unlock(&flag_mu);
  return v;
}

/* Takes the lock, says so, and holds it until told to release. */
static void *hold_in_thread(void *p) {
  struct thread_arg *t = (struct thread_arg *)p;
  safefs_lock *l;
  t->rc = safefs_lock_acquire(&l, t->lock, SAFEFS_LOCK_EXCLUSIVE, 10000);
  set_flag(&t->holding, t->rc == 0 ? 1 : -1);
  if (t->rc != 0)
    return NULL;
  while (!flag(&t->release))
    tu_sleep_ms(1);
  t->rc = safefs_lock_release(l);
  return NULL;
}

/* Waits with no timeout, then records when it got the lock. */
static void *wait_forever_in_thread(void *p) {
  struct thread_arg *t = (struct thread_arg *)p;
  safefs_lock *l;
  t->rc = safefs_lock_acquire(&l, t->lock, SAFEFS_LOCK_EXCLUSIVE, -1);
  t->acquired_at = tu_now_ms();
  set_flag(&t->holding, 1);
  if (t->rc == 0)
    t->rc = safefs_lock_release(l);
  return NULL;
}

static void *count_in_thread(void *p) {
  struct thread_arg *t = (struct thread_arg *)p;
  t->rc = bump_counter(t->lock, t->counter, BUMPS_PER_THREAD);
  return NULL;
}

/* Threads of one process contend like processes do. */
static void threads_contend(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  char *counter = in_dir(state, "counter.txt");
  struct thread_arg t[THREADS];
  pthread_t th[THREADS];
  safefs_lock *l;
  int i;

  memset(t, 0, sizeof t);
  t[0].lock = s->file;
  assert_int_equal(pthread_create(&th[0], NULL, hold_in_thread, &t[0]), 0);
  while (flag(&t[0].holding) == 0)
    tu_sleep_ms(1);
  assert_int_equal(flag(&t[0].holding), 1);
  expect_timeout(s->file, SAFEFS_LOCK_EXCLUSIVE, 100);
  expect_timeout(s->file, SAFEFS_LOCK_SHARED, 0);
  set_flag(&t[0].release, 1);
  pthread_join(th[0], NULL);
  assert_int_equal(t[0].rc, 0);

  /* a waiter with no timeout gets it when the holder lets go */
  acquire_ok(&l, s->file, SAFEFS_LOCK_EXCLUSIVE, 0);
  t[1].lock = s->file;
  assert_int_equal(pthread_create(&th[1], NULL, wait_forever_in_thread, &t[1]), 0);
  tu_sleep_ms(300);
  assert_false(flag(&t[1].holding));
  {
    long long released_at = tu_now_ms();
    assert_int_equal(safefs_lock_release(l), 0);
    pthread_join(th[1], NULL);
    assert_int_equal(t[1].rc, 0);
    assert_true(t[1].acquired_at >= released_at);
  }

  tu_write_raw(counter, "0", 1);
  for (i = 0; i < THREADS; i++) {
    t[i].lock = s->file;
    t[i].counter = counter;
    assert_int_equal(pthread_create(&th[i], NULL, count_in_thread, &t[i]), 0);
  }
  for (i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(t[i].rc, 0);
  }
  assert_int_equal(read_counter(counter), THREADS * BUMPS_PER_THREAD);
  free(counter);
}

/* Opening and closing the lock file some other way (as a careless
 * library would) must not drop the lock, as it would with fcntl locks. */
static void unrelated_close_keeps_lock(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  safefs_lock *l;
  acquire_ok(&l, s->file, SAFEFS_LOCK_EXCLUSIVE, 0);
#ifdef _WIN32
  {
    wchar_t *w = tu_wide(s->file);
    HANDLE h = CreateFileW(w, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                           NULL, OPEN_EXISTING, 0, NULL);
    assert_true(h != INVALID_HANDLE_VALUE);
    CloseHandle(h);
    free(w);
  }
#else
  {
    int fd = open(s->file, O_RDONLY);
    assert_true(fd >= 0);
    close(fd);
  }
#endif
  assert_int_equal(try_in_child(s->file, "ex", "0"), -SAFEFS_ETIMEDOUT);
  assert_int_equal(try_in_child(s->file, "sh", "0"), -SAFEFS_ETIMEDOUT);
  assert_int_equal(safefs_lock_release(l), 0);
  assert_int_equal(try_in_child(s->file, "ex", "0"), 0);
}

/* Children never keep the lock: a child started while the lock is held
 * does not stop a third process from taking it once the parent lets go,
 * whether the parent releases or dies. */
static void children_do_not_inherit(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  char *ready = in_dir(state, "ready"), *gready = in_dir(state, "g-ready");
  char *gdone = in_dir(state, "g-done"), *stop = in_dir(state, "stop");
  safefs_lock *l;
  tu_proc *child, *holder;

  acquire_ok(&l, s->file, SAFEFS_LOCK_EXCLUSIVE, 0);
  child = tu_proc_start("sleep", gready, gdone, stop, NULL);
  assert_true(tu_wait_signal(gready, 20000));
  assert_int_equal(safefs_lock_release(l), 0);
  assert_int_equal(try_in_child(s->file, "ex", "0"), 0);
  assert_true(tu_proc_running(child));
  tu_signal(stop);
  assert_int_equal(tu_proc_wait(child, 20000), 0);

  /* the holder dies, its child lives on */
  tu_remove(gready);
  tu_remove(gdone);
  tu_remove(stop);
  holder = tu_proc_start("hold_spawn", s->file, ready, gready, gdone, stop, NULL);
  assert_true(tu_wait_signal(ready, 20000));
  tu_proc_kill(holder);
  acquire_ok(&l, s->file, SAFEFS_LOCK_EXCLUSIVE, 5000);
  assert_false(tu_exists(gdone)); /* the grandchild was still running */
  assert_int_equal(safefs_lock_abandoned(l), 1);
  assert_int_equal(safefs_lock_release(l), 0);
  tu_signal(stop);
  assert_true(tu_wait_signal(gdone, 20000));
  free(ready);
  free(gready);
  free(gdone);
  free(stop);
}

/* Errors that waiting cannot cure come back at once, not as a timeout. */
static void expect_error_at_once(const char *path, int status) {
  safefs_lock *l = (safefs_lock *)&l;
  long el;
  int rc = acquire_ms(&l, path, SAFEFS_LOCK_EXCLUSIVE, 5000, &el);
  if (rc != status)
    fail_msg("%s: got %s, expected %s", path, safefs_status_name(rc), safefs_status_name(status));
  assert_null(l);
  assert_true(el < QUICK_MS);
  rc = acquire_ms(&l, path, SAFEFS_LOCK_SHARED, 5000, &el);
  assert_int_equal(rc, status);
  assert_true(el < QUICK_MS);
}

/* A link planted at the lock path (a shared /tmp, a synced folder) must
 * never make safefs write into the file it names. The victim's bytes are
 * compared after each acquire; the negative control writes through the
 * link as safefs once did, and the same comparison sees it. */
static void lock_path_is_never_followed(void **state) {
  char *victim = in_dir(state, "victim");
  char *planted = in_dir(state, "planted.lock");
  char *dangling = in_dir(state, "dangling.lock");
  char *nowhere = in_dir(state, "nowhere");
  FILE *f;
  tu_write_raw(victim, "sensitive", 9);
  if (tu_symlink(victim, planted, 0) != 0) {
    print_message("no symbolic links here (Wine 8 creates none): skipped\n");
    free(victim);
    free(planted);
    free(dangling);
    free(nowhere);
    skip();
  }
  expect_error_at_once(planted, SAFEFS_EINVAL);
  assert_non_null(strstr(safefs_last_error_message(), "symbolic link"));
  assert_true(tu_file_is(victim, "sensitive"));
  assert_int_equal(tu_symlink(nowhere, dangling, 0), 0);
  expect_error_at_once(dangling, SAFEFS_EINVAL);
  assert_false(tu_exists(nowhere)); /* not created through the link either */
  /* negative control: a marker written through the link is seen */
  f = tu_fopen(planted, "r+b");
  assert_non_null(f);
  fputc('0', f);
  fclose(f);
  assert_false(tu_file_is(victim, "sensitive"));
  free(victim);
  free(planted);
  free(dangling);
  free(nowhere);
}

/* safefs writes only into its own lock files: empty, or just the marker.
 * The data file locked by mistake is refused, unchanged. */
static void only_own_lock_files_are_written(void **state) {
  static const char *const own[] = {"", "0", "1"};
  char *data = in_dir(state, "data.json");
  char *lock_file = in_dir(state, "data.json.lock");
  safefs_lock *l;
  size_t i;
  tu_write_raw(data, "{\"a\": 1}", 8);
  expect_error_at_once(data, SAFEFS_EINVAL);
  assert_non_null(strstr(safefs_last_error_message(), "not a safefs lock file"));
  assert_true(tu_file_is(data, "{\"a\": 1}"));
  tu_write_raw(data, "00", 2); /* two marker bytes are no marker either */
  expect_error_at_once(data, SAFEFS_EINVAL);
  assert_true(tu_file_is(data, "00"));
  for (i = 0; i < sizeof own / sizeof own[0]; i++) {
    tu_write_raw(lock_file, own[i], strlen(own[i]));
    acquire_ok(&l, lock_file, SAFEFS_LOCK_SHARED, 0);
    assert_int_equal(safefs_lock_release(l), 0);
    acquire_ok(&l, lock_file, SAFEFS_LOCK_EXCLUSIVE, 0);
    assert_int_equal(safefs_lock_abandoned(l), own[i][0] == '1');
    assert_int_equal(safefs_lock_release(l), 0);
    /* the control that the comparison sees writes: the marker was set */
    assert_true(tu_file_is(lock_file, "0"));
  }
  free(data);
  free(lock_file);
}

struct waiter {
  const char *path;
  int rc;
};

static void *wait_forever(void *arg) {
  struct waiter *w = (struct waiter *)arg;
  safefs_lock *l;
  w->rc = safefs_lock_acquire(&l, w->path, SAFEFS_LOCK_EXCLUSIVE, -1);
  if (w->rc == 0)
    w->rc = safefs_lock_release(l);
  return NULL;
}

/* A thread asking, with no timeout, for a lock it already holds through
 * another object would wait for itself forever: SAFEFS_EDEADLK at once.
 * Another thread asking the same is no deadlock: it waits and gets it (the
 * negative control that the detection is about the calling thread). */
static void same_thread_deadlock_is_reported(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  safefs_lock *a, *b = (safefs_lock *)&b;
  struct waiter w;
  pthread_t t;
  long el;
  acquire_ok(&a, s->file, SAFEFS_LOCK_EXCLUSIVE, 0);
  assert_int_equal(acquire_ms(&b, s->file, SAFEFS_LOCK_EXCLUSIVE, -1, &el), SAFEFS_EDEADLK);
  assert_null(b);
  assert_true(el < QUICK_MS);
  assert_non_null(strstr(safefs_last_error_message(), s->file));
  assert_int_equal(acquire_ms(&b, s->file, SAFEFS_LOCK_SHARED, -1, &el), SAFEFS_EDEADLK);
  assert_int_equal(acquire_ms(&b, s->file, SAFEFS_LOCK_EXCLUSIVE, 50, &el), SAFEFS_ETIMEDOUT);
  w.path = s->file;
  w.rc = 1;
  assert_int_equal(pthread_create(&t, NULL, wait_forever, &w), 0);
  tu_sleep_ms(100);
  assert_int_equal(w.rc, 1); /* still waiting */
  assert_int_equal(safefs_lock_release(a), 0);
  pthread_join(t, NULL);
  assert_int_equal(w.rc, 0);
  /* released: the same thread may wait for it again */
  acquire_ok(&a, s->file, SAFEFS_LOCK_SHARED, -1);
  assert_int_equal(acquire_ms(&b, s->file, SAFEFS_LOCK_SHARED, -1, &el), SAFEFS_EDEADLK);
  assert_int_equal(safefs_lock_release(a), 0);
  acquire_ok(&a, s->file, SAFEFS_LOCK_EXCLUSIVE, -1);
  assert_int_equal(safefs_lock_release(a), 0);
}

#ifndef _WIN32
/* NFS and FUSE servers can answer a create in an existing directory with
 * ENOENT (the server raced it): retried within the budget. */
static void create_enoent_race_is_retried(void **state) {
  char *fresh = in_dir(state, "fresh.lock");
  safefs_lock *l;
  tu_faults_reset();
  tu_fault_add(SAFEFS__OP_OPEN_LOCK, 2, ENOENT, 1); /* the creates: calls 2 and 4 */
  tu_fault_add(SAFEFS__OP_OPEN_LOCK, 4, ENOENT, 1);
  acquire_ok(&l, fresh, SAFEFS_LOCK_EXCLUSIVE, 0);
  assert_int_equal(tu_calls(SAFEFS__OP_OPEN_LOCK), 6);
  tu_faults_off();
  assert_int_equal(safefs_lock_release(l), 0);
  free(fresh);
}
#endif

static void errors_are_reported_at_once(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  char *missing = in_dir(state, "no-such-dir/x.lock");
  char *file = in_dir(state, "plain");
  char *under_file = in_dir(state, "plain/x.lock");
  char *ro = in_dir(state, "read-only.lock");

  expect_error_at_once(missing, SAFEFS_ENOENT);
  tu_write_raw(file, "f", 1);
  expect_error_at_once(under_file, SAFEFS_ENOTDIR);
  expect_error_at_once(s->dir, SAFEFS_EISDIR);
  tu_write_raw(ro, "", 0);
#ifdef _WIN32
  {
    wchar_t *w = tu_wide(ro);
    assert_true(SetFileAttributesW(w, FILE_ATTRIBUTE_READONLY));
    expect_error_at_once(ro, SAFEFS_EACCES);
    SetFileAttributesW(w, FILE_ATTRIBUTE_NORMAL);
    free(w);
  }
#else
  if (geteuid() != 0) {
    char *sub = in_dir(state, "ro-dir"), *in_sub = in_dir(state, "ro-dir/x.lock");
    assert_int_equal(chmod(ro, 0444), 0);
    expect_error_at_once(ro, SAFEFS_EACCES);
    assert_int_equal(mkdir(sub, 0555), 0);
    expect_error_at_once(in_sub, SAFEFS_EACCES);
    chmod(sub, 0755);
    free(sub);
    free(in_sub);
  } else {
    /* root may write anything: inject the refusal */
    tu_faults_reset();
    tu_fault_add(SAFEFS__OP_OPEN_LOCK, 1, EACCES, 100);
    expect_error_at_once(ro, SAFEFS_EACCES);
    assert_int_equal(safefs_last_os_error(), EACCES);
    tu_faults_off();
  }
  {
    char *fifo = in_dir(state, "fifo.lock");
    assert_int_equal(mkfifo(fifo, 0666), 0);
    expect_error_at_once(fifo, SAFEFS_EINVAL);
    free(fifo);
  }
#endif
  assert_false(tu_exists(missing));
  free(missing);
  free(file);
  free(under_file);
  free(ro);
}

#ifndef _WIN32
/* A /tmp-like directory (mode 1777) holding a lock file of another user:
 * a clear EACCES if its mode keeps us out, and a usable lock if it lets us
 * in (Linux's fs.protected_regular refuses O_CREAT there, so the file is
 * opened without it). Needs root to play two users. */
static void sticky_directory_other_owner(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  char *sticky = in_dir(state, "tmp"), *theirs = in_dir(state, "tmp/theirs.lock");
  char *open_to_all = in_dir(state, "tmp/open.lock"), *fresh = in_dir(state, "tmp/fresh.lock");
  struct stat st;
  if (geteuid() != 0) {
    print_message("  SKIPPED: needs root to act as two users\n");
    skip();
  }
  assert_int_equal(chmod(s->dir, 0755), 0);
  assert_int_equal(mkdir(sticky, 0777), 0);
  assert_int_equal(chmod(sticky, 01777), 0);
  tu_write_raw(theirs, "0", 1);
  assert_int_equal(chown(theirs, 1234, 1234), 0);
  assert_int_equal(chmod(theirs, 0644), 0);
  tu_write_raw(open_to_all, "0", 1);
  assert_int_equal(chown(open_to_all, 1234, 1234), 0);
  assert_int_equal(chmod(open_to_all, 0666), 0);

  /* uid 4321: refused at once, and can use a file that lets it in */
  assert_int_equal(tu_proc_wait(tu_proc_start("try_as", "4321", theirs, "ex", "5000",
                                              "500", NULL), 30000), -SAFEFS_EACCES);
  assert_int_equal(tu_proc_wait(tu_proc_start("try_as", "4321", theirs, "sh", "5000",
                                              "500", NULL), 30000), -SAFEFS_EACCES);
  assert_int_equal(tu_proc_wait(tu_proc_start("try_as", "4321", open_to_all, "ex", "5000",
                                              "500", NULL), 30000), 0);
  assert_int_equal(tu_proc_wait(tu_proc_start("try_as", "4321", fresh, "ex", "0", "500", NULL),
                                30000), 0);
  assert_int_equal(stat(fresh, &st), 0);
  assert_int_equal(st.st_uid, 4321);
  free(sticky);
  free(theirs);
  free(open_to_all);
  free(fresh);
}
#endif

#ifdef _WIN32
struct closer {
  HANDLE h;
  long after_ms;
};

static void *close_later(void *p) {
  struct closer *c = (struct closer *)p;
  tu_sleep_ms(c->after_ms);
  CloseHandle(c->h);
  return NULL;
}

static HANDLE open_without_sharing(const char *path) {
  wchar_t *w = tu_wide(path);
  HANDLE h = CreateFileW(w, GENERIC_READ, 0, NULL, OPEN_ALWAYS, 0, NULL);
  free(w);
  assert_true(h != INVALID_HANDLE_VALUE);
  return h;
}

/* Another program holds the lock file open without sharing: the open is
 * retried for the retry budget, then SAFEFS_EBUSY; if the other program
 * lets go within the budget, the acquire succeeds. */
static void lock_file_held_without_sharing(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  struct closer c;
  pthread_t th;
  safefs_lock *l;
  long el;

  safefs_set_retry_budget_ms(200);
  c.h = open_without_sharing(s->file);
  assert_int_equal(acquire_ms(&l, s->file, 0, 0, &el), SAFEFS_EBUSY);
  assert_int_equal(safefs_last_os_error(), ERROR_SHARING_VIOLATION);
  assert_true(el >= 200 - tick_ms() && el < 200 + late_ms());
  c.after_ms = 100;
  assert_int_equal(pthread_create(&th, NULL, close_later, &c), 0);
  assert_int_equal(acquire_ms(&l, s->file, 0, 0, &el), 0);
  pthread_join(th, NULL);
  print_message("  lock file shared again after 100 ms: acquired after %ld ms\n", el);
  assert_true(el >= 100 - tick_ms());
  assert_int_equal(safefs_lock_release(l), 0);
}
#endif

/* The OS error an injected lock failure uses for "no locks here". */
static long err_no_locks(void) {
#ifdef _WIN32
  return ERROR_NOT_SUPPORTED;
#else
  return ENOLCK;
#endif
}

/* The OS locks an uncontended acquire takes (and its release drops): on
 * POSIX the gate is looked at without being taken (one F_OFD_GETLK, a
 * STAT for the seam, src/lock.c) and only the lock taken; on Windows the
 * gate and the lock are both taken. */
#ifdef _WIN32
#define UNCONTENDED_LOCKS 2
#else
#define UNCONTENDED_LOCKS 1
#endif

/* 1 if the nth call of op, failing, leaves the acquire to the gate instead
 * of failing it: the look at the gate (POSIX: the second STAT, after the
 * open's fstat). */
static int fails_into_the_gate(enum safefs__op op, int nth) {
  return UNCONTENDED_LOCKS == 1 && op == SAFEFS__OP_STAT && nth == 2;
}

/* Each OS call and allocation of an acquire + release fails in turn: the
 * right status, *out NULL when the acquire fails, nothing leaked, and the
 * lock free afterwards; a failed look at the gate only sends the acquire
 * through it (the gate then taken: the control that the look was made). */
static void every_call_fails_in_turn(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  static const enum safefs__op ops[] = {SAFEFS__OP_OPEN_LOCK, SAFEFS__OP_STAT,
                                        SAFEFS__OP_LOCK,      SAFEFS__OP_READ,
                                        SAFEFS__OP_WRITE,     SAFEFS__OP_UNLOCK,
                                        SAFEFS__OP_CLOSE,     SAFEFS__OP_ALLOC};
  int counts[sizeof ops / sizeof ops[0]];
  size_t i;
  int nth, cases = 0;
  safefs_lock *l;
  long handles;

  safefs_set_retry_budget_ms(50);
  acquire_ok(&l, s->file, 0, 0); /* the file exists from here on */
  assert_int_equal(safefs_lock_release(l), 0);
  handles = tu_open_handles();
  tu_faults_reset();
  acquire_ok(&l, s->file, 0, 0);
  assert_int_equal(safefs_lock_release(l), 0);
  for (i = 0; i < sizeof ops / sizeof ops[0]; i++)
    counts[i] = tu_calls(ops[i]);
  /* the lock (and on Windows the gate) taken and dropped once */
  assert_true(counts[0] >= 1 && counts[2] == UNCONTENDED_LOCKS &&
              counts[5] == UNCONTENDED_LOCKS);
  assert_int_equal(tu_live_blocks(), 0);

  for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    for (nth = 1; nth <= counts[i]; nth++) {
      int expect = ops[i] == SAFEFS__OP_ALLOC ? SAFEFS_ENOMEM : SAFEFS_EIO;
      int rc, rc2 = 0;
      tu_faults_reset();
      tu_fault_add(ops[i], nth, tu_err_io(), 1);
      l = (safefs_lock *)&l;
      rc = safefs_lock_acquire(&l, s->file, 0, 0);
      if (rc == 0)
        rc2 = safefs_lock_release(l);
      else
        assert_null(l);
      if (fails_into_the_gate(ops[i], nth)) {
        assert_int_equal(rc | rc2, 0);
        assert_int_equal(tu_calls(SAFEFS__OP_LOCK), 2); /* the gate, the lock */
        tu_faults_off();
        continue;
      }
      if ((rc != 0) == (rc2 != 0) || (rc | rc2) != expect)
        fail_msg("%s #%d: acquire %d, release %d", safefs__op_name(ops[i]), nth, rc, rc2);
      {
        /* the message names the failing step and the lock file */
        const char *msg = safefs_last_error_message();
        const char *step = ops[i] == SAFEFS__OP_ALLOC ? "out of memory" : safefs__op_verb(ops[i]);
        if (strstr(msg, step) == NULL || strstr(msg, s->file) == NULL)
          fail_msg("%s #%d: message \"%s\" does not name \"%s\" and %s",
                   safefs__op_name(ops[i]), nth, msg, step, s->file);
        if (nth == 1)
          print_message("  %s: %s\n", safefs__op_name(ops[i]), msg);
      }
      assert_int_equal(tu_live_blocks(), 0);
      tu_faults_off();
      assert_int_equal(tu_open_handles(), handles);
      /* free again (a failed clear leaves the mark: the next holder is told) */
      acquire_ok(&l, s->file, 0, 0);
      assert_int_equal(safefs_lock_abandoned(l), ops[i] == SAFEFS__OP_WRITE && nth == 2);
      assert_int_equal(safefs_lock_release(l), 0);
      cases++;
    }
  }
  print_message("  %d injected failures\n", cases);
}

#ifndef _WIN32
static const char *race_path;
static int race_calls;
static long create_meanwhile(void *ctx, const struct safefs__call *call) {
  (void)ctx;
  if (call->op != SAFEFS__OP_OPEN_LOCK || ++race_calls != 2)
    return 0;
  tu_write_raw(race_path, "", 0);
  return EACCES;
}
#endif

/* Specific OS errors map to the documented statuses, at once. */
static void injected_errors_map(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  safefs_lock *l;
  long el;

  tu_faults_reset();
  tu_fault_add(SAFEFS__OP_LOCK, 1, err_no_locks(), 1);
  assert_int_equal(acquire_ms(&l, s->file, 0, 5000, &el), SAFEFS_ENOTSUP);
  assert_true(el < QUICK_MS);
  assert_int_equal(safefs_last_os_error(), err_no_locks());

  tu_faults_reset();
  tu_fault_add(SAFEFS__OP_OPEN_LOCK, 1, tu_err_access(), 100);
  assert_int_equal(acquire_ms(&l, s->file, SAFEFS_LOCK_SHARED, 5000, &el), SAFEFS_EACCES);
  assert_true(el < QUICK_MS);

  tu_faults_reset();
  tu_fault_add(SAFEFS__OP_WRITE, 1, tu_err_nospace(), 1);
  assert_int_equal(safefs_lock_acquire(&l, s->file, 0, 5000), SAFEFS_ENOSPC);
  /* the lock (and on Windows the gate first) dropped before returning */
  assert_int_equal(tu_calls(SAFEFS__OP_UNLOCK), UNCONTENDED_LOCKS);

#ifndef _WIN32
  /* someone creates the file between our plain open and our create, in a
   * directory where protected_regular refuses O_CREAT on their file: the
   * plain open is tried again and succeeds */
  tu_faults_off();
  race_path = s->file;
  tu_remove(s->file);
  race_calls = 0;
  safefs__seam_set(create_meanwhile, NULL);
  acquire_ok(&l, s->file, 0, 0);
  safefs__seam_set(NULL, NULL);
  assert_int_equal(race_calls, 3);
  assert_int_equal(safefs_lock_release(l), 0);

  /* interrupted system calls are retried */
  tu_faults_reset();
  tu_fault_add(SAFEFS__OP_LOCK, 1, EINTR, 2);
  tu_fault_add(SAFEFS__OP_OPEN_LOCK, 1, EINTR, 1);
  acquire_ok(&l, s->file, 0, 0);
  assert_int_equal(tu_calls(SAFEFS__OP_LOCK), 3); /* 2 interrupted, then the lock */
  assert_int_equal(safefs_lock_release(l), 0);
#else
  /* a sharing violation while opening is waited out within the budget */
  tu_faults_reset();
  tu_fault_add(SAFEFS__OP_OPEN_LOCK, 1, ERROR_SHARING_VIOLATION, 3);
  acquire_ok(&l, s->file, 0, 0);
  assert_int_equal(safefs_lock_release(l), 0);
  safefs_set_retry_budget_ms(100);
  tu_faults_reset();
  tu_fault_add(SAFEFS__OP_OPEN_LOCK, 1, ERROR_SHARING_VIOLATION, 100000);
  assert_int_equal(acquire_ms(&l, s->file, 0, 5000, &el), SAFEFS_EBUSY);
  assert_true(el >= 100 - tick_ms() && el < 100 + late_ms());
#endif
  tu_faults_off();
}

static const struct CMUnitTest tests[] = {
    LOCK_TEST(bad_arguments),
    LOCK_TEST(lock_file_created_marked_and_kept),
    LOCK_TEST(processes_count_under_lock),
    LOCK_TEST(contended_try_and_timed_wait),
    LOCK_TEST(shared_holders_coexist),
    LOCK_TEST(killed_holder_is_abandoned),
    LOCK_TEST(one_thread_two_objects),
    LOCK_TEST(threads_contend),
    LOCK_TEST(unrelated_close_keeps_lock),
    LOCK_TEST(children_do_not_inherit),
    LOCK_TEST(errors_are_reported_at_once),
    LOCK_TEST(lock_path_is_never_followed),
    LOCK_TEST(only_own_lock_files_are_written),
    LOCK_TEST(same_thread_deadlock_is_reported),
#ifndef _WIN32
    LOCK_TEST(create_enoent_race_is_retried),
#endif
#ifndef _WIN32
    LOCK_TEST(sticky_directory_other_owner),
#else
    LOCK_TEST(lock_file_held_without_sharing),
#endif
    LOCK_TEST(every_call_fails_in_turn),
    LOCK_TEST(injected_errors_map),
};
TU_SUITE("lock", tests, run_helper);
