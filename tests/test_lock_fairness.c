/*
 * Writer preference of the lock (src/lock.c, "the gate"), as a property:
 * while shared holders keep coming back to back, each exclusive acquirer
 * still gets the lock again and again. The negative control runs the same
 * exclusive acquirers against shared holders that take the OS lock
 * directly, as safefs did before the gate (flock / LockFileEx on the lock
 * byte): the exclusive acquirers then starve, which shows the test can
 * tell.
 *
 * Helper processes (testutil_proc.h): "reader DIR MODE" takes the shared
 * lock back to back, holding it about a millisecond each time, until
 * DIR/stop exists; "writer DIR ID MS" takes the exclusive lock with a 10 s
 * timeout for MS milliseconds and writes what it got to DIR/writer-ID.
 */
#include "testutil.h"
#include "testutil_proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#endif

#define READERS 4
#define WRITERS 2
#define RUN_MS 4000
#define WRITER_TIMEOUT_MS 10000

/* ---- the shared holders ----------------------------------------------------- */

/* The pre-gate behaviour, for the negative control: a shared OS lock on
 * the lock itself, taken as soon as it is compatible. The byte is
 * src/win32/lock.c's LOCK_OFFSET; on POSIX the lock is a flock. */
#ifdef _WIN32
#define RAW_LOCK_OFFSET 0x40000000u
static int raw_readers(const char *lockpath, const char *stop) {
  wchar_t *w = tu_wide_path(lockpath);
  HANDLE h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE,
                  FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_ALWAYS, 0,
                  NULL);
  free(w);
  if (h == INVALID_HANDLE_VALUE)
    return 1;
  while (!tu_exists(stop)) {
    OVERLAPPED ov;
    memset(&ov, 0, sizeof ov);
    ov.Offset = RAW_LOCK_OFFSET;
    if (!LockFileEx(h, LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ov))
      continue; /* an exclusive holder: try again at once */
    tu_sleep_ms(1);
    memset(&ov, 0, sizeof ov);
    ov.Offset = RAW_LOCK_OFFSET;
    UnlockFileEx(h, 0, 1, 0, &ov);
  }
  CloseHandle(h);
  return 0;
}
#else
static int raw_readers(const char *lockpath, const char *stop) {
  int fd = open(lockpath, O_RDWR | O_CREAT, 0666);
  if (fd < 0)
    return 1;
  while (!tu_exists(stop)) {
    if (flock(fd, LOCK_SH) != 0)
      return 1;
    tu_sleep_ms(1);
    flock(fd, LOCK_UN);
  }
  close(fd);
  return 0;
}
#endif

static int reader_helper(const char *dir, const char *mode) {
  char *lockpath = tu_join(dir, "cache.lock");
  char *stop = tu_join(dir, "stop");
  int rc = 0;
  if (strcmp(mode, "raw") == 0) {
    rc = raw_readers(lockpath, stop);
  } else {
    while (rc == 0 && !tu_exists(stop)) {
      safefs_lock *l;
      if ((rc = safefs_lock_acquire(&l, lockpath, SAFEFS_LOCK_SHARED, -1)) != 0)
        break;
      tu_sleep_ms(1);
      rc = safefs_lock_release(l);
    }
  }
  free(lockpath);
  free(stop);
  return rc != 0;
}

/* ---- the exclusive acquirers ------------------------------------------------ */

static int writer_helper(const char *dir, const char *id, long run_ms) {
  char *lockpath = tu_join(dir, "cache.lock");
  char name[32];
  char *out;
  long long end = tu_now_ms() + run_ms, worst = 0;
  long got = 0, timeouts = 0, errors = 0;
  FILE *f;
  while (tu_now_ms() < end) {
    safefs_lock *l;
    long long t0 = tu_now_ms();
    int rc = safefs_lock_acquire(&l, lockpath, SAFEFS_LOCK_EXCLUSIVE, WRITER_TIMEOUT_MS);
    if (tu_now_ms() - t0 > worst)
      worst = tu_now_ms() - t0;
    if (rc == SAFEFS_ETIMEDOUT) {
      timeouts++;
      continue;
    }
    if (rc != 0) {
      errors++;
      break;
    }
    got++;
    tu_sleep_ms(1);
    if (safefs_lock_release(l) != 0)
      errors++;
  }
  snprintf(name, sizeof name, "writer-%s", id);
  out = tu_join(dir, name);
  f = fopen(out, "w");
  if (f != NULL) {
    fprintf(f, "%ld %ld %ld %lld\n", got, timeouts, errors, worst);
    fclose(f);
  }
  free(out);
  free(lockpath);
  return f == NULL || errors != 0;
}

struct outcome {
  long got[WRITERS], timeouts, worst_ms;
};

/* READERS shared holders of `mode` and WRITERS exclusive acquirers at
 * once, for RUN_MS. */
static struct outcome run(const char *dir, const char *mode) {
  tu_proc *readers[READERS], *writers[WRITERS];
  struct outcome o;
  char *stop = tu_join(dir, "stop");
  char id[8], ms[16];
  int i;

  memset(&o, 0, sizeof o);
  tu_remove(stop);
  snprintf(ms, sizeof ms, "%d", RUN_MS);
  for (i = 0; i < READERS; i++)
    readers[i] = tu_proc_start("reader", dir, mode, (char *)NULL);
  tu_sleep_ms(200); /* the shared holders are going before anyone wants it exclusively */
  for (i = 0; i < WRITERS; i++) {
    snprintf(id, sizeof id, "%d", i);
    writers[i] = tu_proc_start("writer", dir, id, ms, (char *)NULL);
  }
  for (i = 0; i < WRITERS; i++)
    assert_int_equal(tu_proc_wait(writers[i], RUN_MS + WRITER_TIMEOUT_MS + 30000), 0);
  tu_signal(stop);
  for (i = 0; i < READERS; i++)
    assert_int_equal(tu_proc_wait(readers[i], 30000), 0);
  for (i = 0; i < WRITERS; i++) {
    char name[32], *path, *text;
    long got, timeouts, errors;
    long long worst;
    snprintf(name, sizeof name, "writer-%d", i);
    path = tu_join(dir, name);
    text = tu_read_raw(path, NULL);
    assert_non_null(text);
    assert_int_equal(sscanf(text, "%ld %ld %ld %lld", &got, &timeouts, &errors, &worst), 4);
    assert_int_equal(errors, 0);
    o.got[i] = got;
    o.timeouts += timeouts;
    if (worst > o.worst_ms)
      o.worst_ms = (long)worst;
    free(text);
    free(path);
  }
  free(stop);
  print_message("%s shared holders: exclusive acquisitions in %d ms: %ld and %ld; %ld timeouts "
                "(%d s each); longest wait %ld ms\n",
                mode, RUN_MS, o.got[0], o.got[1], o.timeouts, WRITER_TIMEOUT_MS / 1000,
                o.worst_ms);
  return o;
}

/* The property, then its negative control: the same acquirers against
 * shared holders that bypass the gate must fare far worse (natively they
 * get nothing; under Wine, whose lock calls are slower, a few). */
static void exclusive_is_not_starved(void **state) {
  struct outcome fair = run((const char *)*state, "safefs");
  struct outcome raw = run((const char *)*state, "raw");
  int i;
  for (i = 0; i < WRITERS; i++)
    assert_true(fair.got[i] >= 10); /* tens to hundreds are seen; 10 is generous */
  assert_int_equal(fair.timeouts, 0);
  assert_true((raw.got[0] + raw.got[1]) * 5 < fair.got[0] + fair.got[1]);
}

static int run_helper(const char *mode, int argc, char **argv) {
  if (strcmp(mode, "reader") == 0 && argc >= 2)
    return reader_helper(argv[0], argv[1]);
  if (strcmp(mode, "writer") == 0 && argc >= 3)
    return writer_helper(argv[0], argv[1], atol(argv[2]));
  return 2;
}

static const struct CMUnitTest tests[] = {
    TU_TEST(exclusive_is_not_starved),
};
TU_SUITE("lock_fairness", tests, run_helper);
