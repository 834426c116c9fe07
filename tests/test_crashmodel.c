/*
 * The crash-state model checker (testutil_crash.h) run on safefs's own call
 * sequences, and on protocols broken on purpose to show that every check
 * can fail.
 *
 *   enumeration_*        the checker explores exactly the states its model
 *                        documents (counted on small hand-made traces)
 *   *_crash_states       every API of the atomic write, recorded through the
 *                        seam on this platform's backend, checked under this
 *                        platform's durability model: no violation
 *   injected_failures_*  the same with each OS call of the clean run failing
 *                        in turn; a failed fsync is never followed by a
 *                        rename, and the invariants hold on every trace
 *   negative_controls    broken protocols (skipped fsyncs through the seam,
 *                        NOSYNC, hand-written traces) each produce the
 *                        violations they must; every check fires at least once
 *   windows_model_*      the Windows durability model on Win32-shaped traces
 *
 * A summary (traces, crash points, crash states, violations found in the
 * negative controls) is printed at the end.
 */
#include "testutil.h"
#include "testutil_crash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TARGET "target.json"
#define NEIGHBOUR "neighbour.txt"

/* Totals for the summary. */
static struct {
  long traces, points, states;
  long neg_traces, neg_violations;
  long per_api_traces[4], per_api_states[4];
} tally;

static const char *const api_names[4] = {"safefs_write_file", "safefs_writer",
                                          "SAFEFS_NOREPLACE", "synthetic"};

static void tally_report(int api, const struct cm_report *r) {
  tally.traces++;
  tally.points += r->points;
  tally.states += r->states;
  tally.per_api_traces[api]++;
  tally.per_api_states[api] += r->states;
}

static int setup(void **state) {
  *state = tu_dir_new();
  return 0;
}

static int teardown(void **state) {
  cm_stop();
  tu_dir_free((char *)*state);
  return 0;
}

/* Distinct, recognisable content: old and new differ in every byte. */
static unsigned char *pattern(size_t n, unsigned seed) {
  unsigned char *p = (unsigned char *)malloc(n ? n : 1);
  size_t i;
  assert_non_null(p);
  for (i = 0; i < n; i++)
    p[i] = (unsigned char)('a' + (i * 7 + seed) % 26);
  return p;
}

/* Fail the test with the trace and the report if there is a violation. */
static void expect_clean(const struct cm_trace *t, const struct cm_report *r, const char *what) {
  if (cm_total(r) == 0)
    return;
  fprintf(stderr, "%s: unexpected violations\n", what);
  cm_trace_print(t, stderr);
  cm_report_print(r, stderr);
  fail_msg("%s: %ld violations", what, cm_total(r));
}

/* ---- the checker explores what it documents ------------------------------- */

#define FAKE_DIRFD 3
#define ROOT_FD (-100) /* AT_FDCWD: absolute paths */

static void enumeration_of_torn_blocks(void **state) {
  const char *dir = (const char *)*state;
  struct cm_trace t;
  struct cm_expect e;
  struct cm_report r;
  unsigned char *old = pattern(8192, 1), *nw = pattern(8292, 2), *big = pattern(20 * 4096, 3);

  /* The target written in place: at the synced size (8192) its 2 dirty
   * blocks give 2^2 combinations, at the current size (8292) 3 blocks give
   * 2^3: 12 states, of which exactly the old and the new content pass.
   * Points: the start (1 state), after the write (12), after the return
   * (12). */
  cm_trace_init(&t, dir);
  cm_initial_file(&t, TARGET, old, 8192);
  cm_add(&t, SAFEFS__OP_OPEN_DIR, dir, NULL, ROOT_FD, NULL, 0, FAKE_DIRFD);
  cm_add(&t, SAFEFS__OP_OPEN_LOCK, TARGET, NULL, FAKE_DIRFD, NULL, 0, 5);
  cm_add(&t, SAFEFS__OP_WRITE, NULL, NULL, 5, nw, 8292, 8292);
  memset(&e, 0, sizeof e);
  e.target = TARGET;
  e.old_data = old;
  e.old_size = 8192;
  e.new_data = nw;
  e.new_size = 8292;
  e.status = SAFEFS_EIO;
  memset(&r, 0, sizeof r);
  cm_check(&t, &e, CM_POSIX, &r);
  assert_int_equal(r.points, 3);
  assert_int_equal(r.states, 1 + 12 + 12);
  assert_int_equal(r.violations[CM_TORN_TARGET], 10 * 2);
  assert_int_equal(r.violations[CM_TARGET_WRITTEN], 2);
  assert_int_equal(r.violations[CM_WRONG_RESULT], 1);
  assert_int_equal(r.capped, 0);
  tally_report(3, &r);
  cm_trace_free(&t);

  /* 20 dirty blocks, above CM_MAX_TORN_BLOCKS: at the current size the
   * bounded family of 4n combinations, and the cap is counted; at the
   * synced size (10 bytes) one block, 2 combinations. */
  cm_trace_init(&t, dir);
  cm_initial_file(&t, TARGET, old, 10);
  cm_add(&t, SAFEFS__OP_OPEN_DIR, dir, NULL, ROOT_FD, NULL, 0, FAKE_DIRFD);
  cm_add(&t, SAFEFS__OP_OPEN_LOCK, TARGET, NULL, FAKE_DIRFD, NULL, 0, 5);
  cm_add(&t, SAFEFS__OP_WRITE, NULL, NULL, 5, big, 20 * 4096, 20 * 4096);
  e.old_size = 10;
  e.new_data = big;
  e.new_size = 20 * 4096;
  memset(&r, 0, sizeof r);
  cm_check(&t, &e, CM_POSIX, &r);
  assert_int_equal(r.states, 1 + 2 * (4 * 20 + 2));
  assert_int_equal(r.capped, 2);
  assert_true(r.violations[CM_TORN_TARGET] > 0);
  tally_report(3, &r);
  cm_trace_free(&t);
  free(old);
  free(nw);
  free(big);
}

static void enumeration_of_directory_operations(void **state) {
  const char *dir = (const char *)*state;
  struct cm_trace t;
  struct cm_expect e;
  struct cm_report r;
  char a[SAFEFS__NAME_MAX + 1], b[SAFEFS__NAME_MAX + 1], c[SAFEFS__NAME_MAX + 1];

  assert_int_equal(safefs__make_name(a, TARGET, SAFEFS__KIND_TMP), 0);
  assert_int_equal(safefs__make_name(b, TARGET, SAFEFS__KIND_TMP), 0);
  assert_int_equal(safefs__make_name(c, TARGET, SAFEFS__KIND_OLD), 0);
  memset(&e, 0, sizeof e);
  e.target = TARGET;
  e.old_data = "x";
  e.old_size = 1;
  e.new_data = "x";
  e.new_size = 1;
  e.allow_leftover = 1;

  /* Three independent creates, never synced: after the k-th, 2^k subsets. */
  cm_trace_init(&t, dir);
  cm_initial_file(&t, TARGET, "x", 1);
  cm_add(&t, SAFEFS__OP_OPEN_DIR, dir, NULL, ROOT_FD, NULL, 0, FAKE_DIRFD);
  cm_add(&t, SAFEFS__OP_CREATE_TEMP, a, NULL, FAKE_DIRFD, NULL, 0, 5);
  cm_add(&t, SAFEFS__OP_CREATE_TEMP, b, NULL, FAKE_DIRFD, NULL, 0, 6);
  cm_add(&t, SAFEFS__OP_CREATE_TEMP, c, NULL, FAKE_DIRFD, NULL, 0, 7);
  memset(&r, 0, sizeof r);
  expect_clean(&t, &r, "three creates");
  cm_check(&t, &e, CM_POSIX, &r);
  expect_clean(&t, &r, "three creates");
  assert_int_equal(r.points, 5);
  assert_int_equal(r.states, 1 + 2 + 4 + 8 + 8);
  assert_int_equal(r.impossible, 0);
  tally_report(3, &r);
  /* The same under the prefix order: k + 1 states. */
  memset(&r, 0, sizeof r);
  cm_check_order(&t, &e, CM_POSIX, CM_PREFIX, &r);
  expect_clean(&t, &r, "three creates, prefix");
  assert_int_equal(r.states, 1 + 2 + 3 + 4 + 4);
  tally_report(3, &r);
  cm_trace_free(&t);

  /* A rename depends on the create of its source: of the 4 subsets of
   * {create, rename}, "rename without create" is impossible. A directory
   * sync then makes both durable: 1 state. */
  cm_trace_init(&t, dir);
  cm_initial_file(&t, TARGET, "x", 1);
  cm_add(&t, SAFEFS__OP_OPEN_DIR, dir, NULL, ROOT_FD, NULL, 0, FAKE_DIRFD);
  cm_add(&t, SAFEFS__OP_CREATE_TEMP, a, NULL, FAKE_DIRFD, NULL, 0, 5);
  cm_add_rename(&t, a, b, FAKE_DIRFD, 0);
  cm_add(&t, SAFEFS__OP_SYNC_DIR, NULL, NULL, FAKE_DIRFD, NULL, 0, 0);
  memset(&r, 0, sizeof r);
  cm_check(&t, &e, CM_POSIX, &r);
  expect_clean(&t, &r, "create, rename");
  assert_int_equal(r.states, 1 + 2 + 3 + 1 + 1);
  assert_int_equal(r.impossible, 1);
  tally_report(3, &r);
  cm_trace_free(&t);
}

/* ---- safefs's own call sequences -------------------------------------------- */

enum api { API_WRITE_FILE, API_WRITER, API_NOREPLACE };

/* One call of the API; the writer gets the content in pieces of `piece`. */
static int run_api(enum api api, const char *path, const unsigned char *data, size_t size,
                   unsigned flags, size_t piece) {
  safefs_writer *w;
  size_t done;
  int rc;
  switch (api) {
  case API_WRITE_FILE:
    return safefs_write_file(path, data, size, flags);
  case API_NOREPLACE:
    return safefs_write_file(path, data, size, flags | SAFEFS_NOREPLACE);
  case API_WRITER:
    rc = safefs_writer_open(&w, path, flags);
    if (rc != 0)
      return rc;
    for (done = 0; done < size; done += piece) {
      size_t n = size - done < piece ? size - done : piece;
      if ((rc = safefs_writer_write(w, data + done, n)) != 0) {
        safefs_writer_commit(w);
        return rc;
      }
    }
    return safefs_writer_commit(w);
  }
  return -1000;
}

struct scenario {
  size_t old_size; /* (size_t)-1: no target before */
  size_t new_size;
  size_t piece;    /* writer only */
};

#define ABSENT ((size_t)-1)

/* 1 if the file at path holds exactly data. */
static int file_holds(const char *path, const unsigned char *data, size_t size) {
  size_t n;
  char *got = tu_read_raw(path, &n);
  int same = got != NULL && n == size && (size == 0 || memcmp(got, data, size) == 0);
  free(got);
  return same;
}

/* Put the old target (or none) and a neighbour in dir, without leftovers
 * from an earlier run, and describe them in a new trace and expectation. */
static void prepare(const char *dir, enum api api, const struct scenario *s, unsigned flags,
                    struct cm_trace *t, struct cm_expect *e, unsigned char **old_out,
                    unsigned char **new_out) {
  char *target = tu_join(dir, TARGET);
  unsigned char *old = s->old_size == ABSENT ? NULL : pattern(s->old_size, 1);
  unsigned char *nw = pattern(s->new_size, 2);

  tu_remove_own_names(dir);
  tu_remove(target);
  cm_trace_init(t, dir);
  cm_put_file(t, NEIGHBOUR, "neighbour", 9);
  if (old != NULL)
    cm_put_file(t, TARGET, old, s->old_size);
  memset(e, 0, sizeof *e);
  e->target = TARGET;
  e->old_data = old;
  e->old_size = old ? s->old_size : 0;
  e->new_data = nw;
  e->new_size = s->new_size;
  e->flags = flags | (api == API_NOREPLACE ? SAFEFS_NOREPLACE : 0);
  *old_out = old;
  *new_out = nw;
  free(target);
}

static void run_scenarios(const char *dir, enum api api, const struct scenario *sc, size_t n) {
  size_t i;
  long states = 0, points = 0;
  for (i = 0; i < n; i++) {
    struct cm_trace t;
    struct cm_report r;
    struct cm_expect e;
    unsigned char *old, *nw;
    char *target = tu_join(dir, TARGET);
    prepare(dir, api, &sc[i], 0, &t, &e, &old, &nw);
    cm_record(&t);
    e.status = run_api(api, target, nw, sc[i].new_size, 0, sc[i].piece ? sc[i].piece : 1);
    cm_stop();
    if (api == API_NOREPLACE && old != NULL) {
      assert_int_equal(e.status, SAFEFS_EEXIST);
    } else {
      assert_int_equal(e.status, 0);
      assert_true(file_holds(target, nw, sc[i].new_size));
    }
    memset(&r, 0, sizeof r);
    cm_check(&t, &e, cm_native_model(), &r);
    expect_clean(&t, &r, api_names[api]);
    if (getenv("SAFEFS_CM_VERBOSE") != NULL) {
      cm_trace_print(&t, stdout);
      cm_report_print(&r, stdout);
    }
    tally_report(api, &r);
    states += r.states;
    points += r.points;
    free(old);
    free(nw);
    free(target);
    cm_trace_free(&t);
  }
  print_message("  %s: %u traces, %ld crash points, %ld crash states, 0 violations\n",
                api_names[api], (unsigned)n, points, states);
}

static const struct scenario write_scenarios[] = {
    {ABSENT, 100, 0}, {6000, 100, 0}, {6000, 10000, 0}, {10000, 0, 0}, {100, 40000, 0}};

static void write_file_crash_states(void **state) {
  run_scenarios((const char *)*state, API_WRITE_FILE, write_scenarios,
                sizeof write_scenarios / sizeof write_scenarios[0]);
}

static const struct scenario writer_scenarios[] = {
    {6000, 10000, 7}, {ABSENT, 10000, 3000}, {6000, 150000, 50000}, {6000, 0, 1},
    {20000, 70000, 70000}};

static void writer_crash_states(void **state) {
  run_scenarios((const char *)*state, API_WRITER, writer_scenarios,
                sizeof writer_scenarios / sizeof writer_scenarios[0]);
}

static const struct scenario noreplace_scenarios[] = {
    {ABSENT, 100, 0}, {ABSENT, 10000, 0}, {ABSENT, 0, 0}, {6000, 100, 0}};

static void noreplace_crash_states(void **state) {
  run_scenarios((const char *)*state, API_NOREPLACE, noreplace_scenarios,
                sizeof noreplace_scenarios / sizeof noreplace_scenarios[0]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(enumeration_of_torn_blocks, setup, teardown),
      cmocka_unit_test_setup_teardown(enumeration_of_directory_operations, setup, teardown),
      cmocka_unit_test_setup_teardown(write_file_crash_states, setup, teardown),
      cmocka_unit_test_setup_teardown(writer_crash_states, setup, teardown),
      cmocka_unit_test_setup_teardown(noreplace_crash_states, setup, teardown),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  int i;
  printf("\ncrash model summary (%s model):\n",
         cm_native_model() == CM_WIN32 ? "Windows" : "POSIX");
  for (i = 0; i < 4; i++)
    printf("  %-18s %4ld traces, %8ld crash states\n", api_names[i], tally.per_api_traces[i],
           tally.per_api_states[i]);
  printf("  total: %ld traces, %ld crash points, %ld crash states\n", tally.traces, tally.points,
         tally.states);
  printf("  negative controls: %ld broken traces, %ld violations found\n", tally.neg_traces,
         tally.neg_violations);
  return failed;
}
