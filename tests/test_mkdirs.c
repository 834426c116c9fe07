/*
 * SAFEFS_MKDIRS: missing parent directories created by safefs_write_file
 * and safefs_writer_open, each made durable (its parent synced) before
 * anything is created inside it; racing creators; what a failure leaves.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void creates_missing_parents(void **state) {
  const char *dir = (const char *)*state;
  const char *p = tu_path(dir, "a/b/c/settings.json");
  const char *q = tu_path(dir, "a/b/other.json");
  const char *r = tu_path(dir, "x//y///f");
  const char *s = tu_path(dir, "x/y/f");
  assert_int_equal(safefs_write_file(p, "{}", 2, 0), SAFEFS_ENOENT); /* not asked */
  assert_int_equal(tu_count_entries(dir), 0);
  assert_int_equal(safefs_write_file(p, "{}", 2, SAFEFS_MKDIRS), 0);
  assert_true(tu_file_is(p, "{}"));
  /* some exist, some do not; nothing exists twice */
  assert_int_equal(safefs_write_file(q, "1", 1, SAFEFS_MKDIRS | SAFEFS_NOSYNC), 0);
  assert_true(tu_file_is(q, "1"));
  assert_int_equal(safefs_write_file(p, "{\"v\":2}", 7, SAFEFS_MKDIRS), 0);
  assert_true(tu_file_is(p, "{\"v\":2}"));
  assert_int_equal(safefs_write_file(r, "z", 1, SAFEFS_MKDIRS), 0); /* repeated separators */
  assert_true(tu_file_is(s, "z")); /* the same file, spelled plainly */
  assert_int_equal(tu_count_entries(dir), 2); /* a, x */
}

static void writer_creates_parents(void **state) {
  const char *dir = (const char *)*state;
  const char *p = tu_path(dir, "dl/pkg/1.0/blob");
  const char *d = tu_path(dir, "dl/pkg/1.0");
  const char *q = tu_path(dir, "dl2/x/blob");
  const char *qd = tu_path(dir, "dl2/x");
  safefs_writer *w;
  assert_int_equal(safefs_writer_open(&w, p, SAFEFS_MKDIRS), 0);
  assert_int_equal(safefs_writer_write(w, "data", 4), 0);
  assert_int_equal(safefs_writer_commit(w), 0);
  assert_true(tu_file_is(p, "data"));
  assert_int_equal(tu_count_entries(d), 1);
  /* an aborted writer leaves the new directories, empty, and no temp */
  assert_int_equal(safefs_writer_open(&w, q, SAFEFS_MKDIRS | SAFEFS_NOREPLACE), 0);
  safefs_writer_abort(w);
  assert_int_equal(tu_count_entries(qd), 0);
}

static void component_that_is_a_file(void **state) {
  const char *dir = (const char *)*state;
  const char *f = tu_path(dir, "file");
  const char *p = tu_path(dir, "file/sub/x");
  const char *q = tu_path(dir, "new/file/x");
  const char *nf = tu_path(dir, "new/file");
  safefs_writer *w = (safefs_writer *)&w;
  tu_write_raw(f, "keep", 4);
  assert_int_equal(safefs_write_file(p, "x", 1, SAFEFS_MKDIRS), SAFEFS_ENOTDIR);
  assert_int_equal(safefs_writer_open(&w, p, SAFEFS_MKDIRS), SAFEFS_ENOTDIR);
  assert_null(w);
  assert_true(tu_file_is(f, "keep"));
  assert_int_equal(tu_count_entries(dir), 1);
  /* deeper: new/ is created, then new/file is a file */
  assert_int_equal(safefs_write_file(nf, "f", 1, SAFEFS_MKDIRS), 0);
  assert_int_equal(safefs_write_file(q, "x", 1, SAFEFS_MKDIRS), SAFEFS_ENOTDIR);
  assert_true(tu_file_is(nf, "f"));
  assert_int_equal(safefs_write_file(f, "x", 1, SAFEFS_MKDIRS | 1u << 9), SAFEFS_EINVAL);
}

/* ---- durability: the order of the calls ---------------------------------- */

/* Every MKDIR is followed by a SYNC_DIR (its parent) before the next
 * MKDIR and before the temp file is created; with SAFEFS_NOSYNC there is
 * none. Returns the number of MKDIRs. POSIX only: on Windows the NTFS
 * journal orders directory creation and there is nothing to sync. */
static int check_order(const struct tu_call_log *log, int durable) {
  int i, mkdirs = 0, pending = 0;
  for (i = 0; i < log->n; i++) {
    switch (log->op[i]) {
    case SAFEFS__OP_MKDIR:
      assert_false(pending && durable);
      mkdirs++;
      pending = 1;
      break;
    case SAFEFS__OP_SYNC_DIR:
      assert_true(durable);
      pending = 0;
      break;
    case SAFEFS__OP_CREATE_TEMP:
    case SAFEFS__OP_CREATE_ANON:
      assert_false(pending && durable);
      return mkdirs;
    default:
      break;
    }
  }
  fail_msg("%s", "no temp file was created");
  return mkdirs;
}

static void new_directories_are_synced_in_order(void **state) {
  const char *dir = (const char *)*state;
  const char *p = tu_path(dir, "d1/d2/d3/f");
  const char *q = tu_path(dir, "e1/e2/f");
  static struct tu_call_log log;
#ifdef _WIN32
  skip(); /* no directory sync on Windows (see check_order) */
#endif
  tu_log_start(&log);
  assert_int_equal(safefs_write_file(p, "x", 1, SAFEFS_MKDIRS), 0);
  tu_log_stop();
  assert_int_equal(check_order(&log, 1), 3);
  /* negative control: NOSYNC makes no directory sync at all, and
     check_order would catch a missing one */
  tu_log_start(&log);
  assert_int_equal(safefs_write_file(q, "x", 1, SAFEFS_MKDIRS | SAFEFS_NOSYNC), 0);
  tu_log_stop();
  assert_int_equal(check_order(&log, 0), 2);
}

/* ---- racing creators ------------------------------------------------------- */

#define RACERS 6
#define ROUNDS 25

struct racer {
  const char *dir;
  int id, failures;
};

static void *race(void *arg) {
  struct racer *r = (struct racer *)arg;
  char rel[96];
  int round;
  for (round = 0; round < ROUNDS; round++) {
    char *p;
    snprintf(rel, sizeof rel, "r%d/shared/deeper/deepest/file%d", round, r->id);
    p = tu_join(r->dir, rel); /* not tu_path: that is the main thread's */
    if (safefs_write_file(p, "x", 1, SAFEFS_MKDIRS | SAFEFS_NOSYNC) != 0)
      r->failures++;
    else if (!tu_file_is(p, "x"))
      r->failures++;
    free(p);
  }
  return NULL;
}

static void racing_creators_all_succeed(void **state) {
  struct racer r[RACERS];
  pthread_t t[RACERS];
  int i, failures = 0;
  for (i = 0; i < RACERS; i++) {
    r[i].dir = (const char *)*state;
    r[i].id = i;
    r[i].failures = 0;
    assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
  }
  for (i = 0; i < RACERS; i++) {
    pthread_join(t[i], NULL);
    failures += r[i].failures;
  }
  assert_int_equal(failures, 0);
  assert_int_equal(tu_count_entries((const char *)*state), ROUNDS);
}

/* ---- every call failing in turn -------------------------------------------- */

static void faults_leave_no_file(void **state) {
  static const enum safefs__op ops[] = {SAFEFS__OP_MKDIR, SAFEFS__OP_OPEN_DIR,
                                        SAFEFS__OP_SYNC_DIR, SAFEFS__OP_ALLOC};
  const char *dir = (const char *)*state;
  char rel[64];
  size_t k;
  int n, calls, round = 0, failed = 0;
  for (k = 0; k < sizeof ops / sizeof ops[0]; k++) {
    const char *p;
    snprintf(rel, sizeof rel, "count%d/a/b/f", (int)k);
    p = tu_path(dir, rel);
    tu_faults_reset();
    assert_int_equal(safefs_write_file(p, "x", 1, SAFEFS_MKDIRS), 0);
    calls = tu_calls(ops[k]);
    for (n = 1; n <= calls; n++) {
      int rc;
      snprintf(rel, sizeof rel, "f%d/a/b/f", round++);
      p = tu_path(dir, rel);
      tu_faults_reset();
      tu_fault_add(ops[k], n, tu_err_io(), 1);
      rc = safefs_write_file(p, "x", 1, SAFEFS_MKDIRS);
      if (rc != 0) {
        failed++;
        assert_true(rc == SAFEFS_EIO || rc == SAFEFS_ENOMEM);
        assert_false(tu_exists(p));
      } else {
        assert_true(tu_file_is(p, "x"));
      }
      assert_int_equal(tu_live_blocks(), 0);
      tu_faults_off();
    }
  }
  assert_true(failed > 0);
  /* nothing but directories, and no temp anywhere under them */
  assert_int_equal(tu_count_own_names(dir), 0);
}

static const struct CMUnitTest tests[] = {
    TU_TEST(creates_missing_parents),
    TU_TEST(writer_creates_parents),
    TU_TEST(component_that_is_a_file),
    TU_TEST(new_directories_are_synced_in_order),
    TU_TEST(racing_creators_all_succeed),
    TU_TEST(faults_leave_no_file),
};
TU_SUITE("mkdirs", tests, NULL);
