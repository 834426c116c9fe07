/*
 * The crash-state model checker (testutil_crash.h) run on safefs's own call
 * sequences, and on protocols broken on purpose to show that every check
 * can fail.
 *
 *   enumeration_*        the checker explores exactly the states its model
 *                        documents (counted on small hand-made traces)
 *   removal_of_a_tree    a directory target: whole tree or none (hand-made)
 *   *_crash_states       every API of the atomic write, recorded through the
 *                        seam on this platform's backend, checked under this
 *                        platform's durability model (POSIX natively, Windows
 *                        under Wine): no violation, except the known gap of
 *                        ReplaceFileW on Windows, pinned below
 *   injected_failures_*  the same with each OS call of the clean run failing
 *                        in turn; a failed fsync is never followed by a
 *                        rename, and the invariants hold on every trace
 *   unnameable_temp_*    Linux: the named copy made where a nameless temp's
 *                        linkat is refused, each trace in a helper process
 *                        (the refusal is remembered process-wide); clean,
 *                        and flagged when the copy's sync is skipped
 *   negative_controls    broken protocols (skipped fsyncs through the seam,
 *                        NOSYNC, hand-written POSIX- and Win32-shaped traces
 *                        under either model) each produce the violations they
 *                        must; every check fires at least once
 *   batch_*              safefs_batch_commit of three files in two
 *                        directories, one trace checked per target with the
 *                        others declared (cm_expect.others): hand-written
 *                        broken batches fire for the broken target only; the
 *                        recorded commit is clean, with NOSYNC and skipped
 *                        directory fsyncs it is not; with each OS call failing
 *                        in turn the files counted as installed are new, the
 *                        others old, and the invariants hold
 *
 * A summary (traces, crash points, crash states, violations found in the
 * negative controls) is printed at the end.
 */
#include "testutil.h"
#include "testutil_crash.h"
#include "testutil_proc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TARGET "target.json"
#define NEIGHBOUR "neighbour.txt"

/* Totals for the summary. */
static struct {
  long traces, points, states;
  long neg_traces, neg_violations;
  long gap_traces, gap_violations;
  long finding_traces, finding_violations;
  long batch_neg_traces, batch_neg_violations;
  long per_api_traces[6], per_api_states[6];
} tally;

#define API_REMOVE 4
#define API_BATCH 5 /* one trace counted once per target */
static const char *const api_names[6] = {"safefs_write_file", "safefs_writer",
                                          "SAFEFS_NOREPLACE", "synthetic", "removal",
                                          "batch, per target"};

static void tally_report(int api, const struct cm_report *r) {
  tally.traces++;
  tally.points += r->points;
  tally.states += r->states;
  tally.per_api_traces[api]++;
  tally.per_api_states[api] += r->states;
}

static int teardown(void **state) {
  cm_stop();
  return tu_teardown_dir(state);
}

#define CRASH_TEST(f) cmocka_unit_test_setup_teardown(f, tu_setup_dir, teardown)

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

/* ---- a known gap of the Win32 backend ---------------------------------------
 * On Windows an existing target is replaced with ReplaceFileW (with a
 * backup name). The Windows model (testutil_crash.h) holds that call to be
 * two renames, target -> backup then temp -> target, with no write-through:
 *   TORN_TARGET         a crash between the two leaves no target (the old
 *                       content only under the backup name, which
 *                       safefs_sweep later deletes as a leftover).
 * (A crash soon after the return no longer brings back the old content:
 * the directory is flushed after the replace, before success, which the
 * model checks; NOT_DURABLE and RENAME_NOT_DURABLE were in this list
 * before.) A trace with a ReplaceFileW may show this and nothing else; a
 * clean run must show it, so that the test notices when it is fixed. */
static const enum cm_check replace_file_gaps[] = {CM_TORN_TARGET};
#define N_GAPS (sizeof replace_file_gaps / sizeof replace_file_gaps[0])

static int uses_replace_file(const struct cm_trace *t) {
  size_t i;
  for (i = 0; i < t->n; i++)
    if (t->ev[i].op == SAFEFS__OP_RENAME && t->ev[i].backup != NULL && t->ev[i].result == 0)
      return 1;
  return 0;
}

/* expect_clean, except for the known gap above; all_gaps: each must show. */
static void expect_clean_or_gap(const struct cm_trace *t, const struct cm_report *r,
                                const char *what, int all_gaps) {
  size_t g;
  int c, other = 0;
  if (!uses_replace_file(t)) {
    expect_clean(t, r, what);
    return;
  }
  for (c = 0; c < CM_CHECK_COUNT; c++) {
    int known = 0;
    for (g = 0; g < N_GAPS; g++)
      known |= replace_file_gaps[g] == (enum cm_check)c;
    other |= r->violations[c] > 0 && !known;
  }
  for (g = 0; g < N_GAPS; g++)
    other |= all_gaps && r->violations[replace_file_gaps[g]] == 0;
  if (other) {
    fprintf(stderr, "%s: violations other than the known ReplaceFileW gap\n", what);
    cm_trace_print(t, stderr);
    cm_report_print(r, stderr);
    fail_msg("%s: unexpected violations", what);
  }
  tally.gap_traces++;
  tally.gap_violations += cm_total(r);
  if (tally.gap_traces == 1) {
    print_message("  known gap (ReplaceFileW), first seen in %s:\n", what);
    for (g = 0; g < N_GAPS; g++)
      if (r->violations[replace_file_gaps[g]] > 0)
        print_message("    %s: %s\n", cm_check_name(replace_file_gaps[g]),
                      r->first[replace_file_gaps[g]]);
  }
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

/* A directory target: "old" means the whole tree under its name. A tree
 * removed by renaming it aside and then deleting the copy stays whole under
 * its name in every crash state only if the rename is durable before the
 * deletions start; without a directory fsync between, a filesystem that
 * commits directories independently (CM_SUBSET) may keep the deletions and
 * lose the rename, while an in-order journal (CM_PREFIX) may not. */
static void synth_remove_tree(struct cm_trace *t, const char *dir, int sync_after_rename) {
  char trash[SAFEFS__NAME_MAX + 1];
  assert_int_equal(safefs__make_name(trash, "tree", SAFEFS__KIND_TRASH), 0);
  cm_initial_dir(t, "tree");
  cm_initial_file(t, "tree/a", "a", 1);
  cm_initial_dir(t, "tree/sub");
  cm_initial_file(t, "tree/sub/b", "b", 1);
  cm_add(t, SAFEFS__OP_OPEN_DIR, dir, NULL, ROOT_FD, NULL, 0, FAKE_DIRFD);
  cm_add_rename(t, "tree", trash, FAKE_DIRFD, SAFEFS__RENAME_NOREPLACE);
  if (sync_after_rename)
    cm_add(t, SAFEFS__OP_SYNC_DIR, NULL, NULL, FAKE_DIRFD, NULL, 0, 0);
  cm_add(t, SAFEFS__OP_OPEN_DIR, trash, NULL, FAKE_DIRFD, NULL, 0, 6);
  cm_add(t, SAFEFS__OP_UNLINK, "a", NULL, 6, NULL, 0, 0);
  cm_add(t, SAFEFS__OP_OPEN_DIR, "sub", NULL, 6, NULL, 0, 7);
  cm_add(t, SAFEFS__OP_UNLINK, "b", NULL, 7, NULL, 0, 0);
  cm_add(t, SAFEFS__OP_CLOSE, NULL, NULL, 7, NULL, 0, 0);
  cm_add(t, SAFEFS__OP_RMDIR, "sub", NULL, 6, NULL, 0, 0);
  cm_add(t, SAFEFS__OP_CLOSE, NULL, NULL, 6, NULL, 0, 0);
  cm_add(t, SAFEFS__OP_RMDIR, trash, NULL, FAKE_DIRFD, NULL, 0, 0);
  cm_add(t, SAFEFS__OP_CLOSE, NULL, NULL, FAKE_DIRFD, NULL, 0, 0);
}

static void removal_of_a_tree(void **state) {
  const char *dir = (const char *)*state;
  struct cm_trace t;
  struct cm_expect e;
  struct cm_report r;

  memset(&e, 0, sizeof e);
  e.target = "tree";
  e.new_absent = 1;
  e.not_durable = 1; /* removal does not promise durability */

  cm_trace_init(&t, dir);
  synth_remove_tree(&t, dir, 1);
  memset(&r, 0, sizeof r);
  cm_check(&t, &e, CM_POSIX, &r);
  expect_clean(&t, &r, "tree renamed aside, synced, then deleted");
  tally_report(3, &r);
  cm_trace_free(&t);

  cm_trace_init(&t, dir);
  synth_remove_tree(&t, dir, 0);
  memset(&r, 0, sizeof r);
  cm_check_order(&t, &e, CM_POSIX, CM_PREFIX, &r);
  expect_clean(&t, &r, "tree renamed aside then deleted, in-order journal");
  tally_report(3, &r);
  memset(&r, 0, sizeof r);
  cm_check(&t, &e, CM_POSIX, &r);
  assert_true(r.violations[CM_TORN_TARGET] > 0);
  print_message("  tree deleted after an unsynced rename aside: %s x%ld under CM_SUBSET (%s)\n",
                cm_check_name(CM_TORN_TARGET), r.violations[CM_TORN_TARGET],
                r.first[CM_TORN_TARGET]);
  tally_report(3, &r);
  tally.neg_traces++;
  tally.neg_violations += cm_total(&r);
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

static int has_op(const struct cm_trace *t, enum safefs__op op) {
  size_t i;
  for (i = 0; i < t->n; i++)
    if (t->ev[i].op == op)
      return 1;
  return 0;
}

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
  long states = 0, points = 0, gaps_before = tally.gap_traces;
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
    expect_clean_or_gap(&t, &r, api_names[api], 1);
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
  print_message("  %s: %u traces, %ld crash points, %ld crash states, no violation%s\n",
                api_names[api], (unsigned)n, points, states,
                tally.gap_traces > gaps_before ? " but the known gap" : "");
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

/* An aborted writer: the target stays old in every crash state, and the
 * temp goes. */
static void writer_abort(const char *dir) {
  struct scenario sc = {6000, 70000, 0}; /* above the buffer: it reaches the temp */
  struct cm_trace t;
  struct cm_expect e;
  struct cm_report r;
  unsigned char *old, *nw;
  safefs_writer *w;
  char *target = tu_join(dir, TARGET);

  prepare(dir, API_WRITER, &sc, 0, &t, &e, &old, &nw);
  cm_record(&t);
  assert_int_equal(safefs_writer_open(&w, target, 0), 0);
  assert_int_equal(safefs_writer_write(w, nw, sc.new_size), 0);
  safefs_writer_abort(w);
  cm_stop();
  assert_true(file_holds(target, old, sc.old_size));
  e.status = SAFEFS_EINVAL; /* "did not replace": the target must stay old */
  memset(&r, 0, sizeof r);
  cm_check(&t, &e, cm_native_model(), &r);
  expect_clean(&t, &r, "safefs_writer_abort");
  assert_true(has_op(&t, SAFEFS__OP_WRITE));
  tally_report(API_WRITER, &r);
  free(old);
  free(nw);
  free(target);
  cm_trace_free(&t);
}

static void writer_crash_states(void **state) {
  run_scenarios((const char *)*state, API_WRITER, writer_scenarios,
                sizeof writer_scenarios / sizeof writer_scenarios[0]);
  writer_abort((const char *)*state);
}

static const struct scenario noreplace_scenarios[] = {
    {ABSENT, 100, 0}, {ABSENT, 10000, 0}, {ABSENT, 0, 0}, {6000, 100, 0}};

static void noreplace_crash_states(void **state) {
  run_scenarios((const char *)*state, API_NOREPLACE, noreplace_scenarios,
                sizeof noreplace_scenarios / sizeof noreplace_scenarios[0]);
}

/* ---- every OS call failing in turn ------------------------------------------ */


/* The scenario of the failure and fallback runs: an old target (none for
 * NOREPLACE), new content of `new_size`, written in pieces of 3000. */
static struct scenario replace_scenario(enum api api, size_t new_size) {
  struct scenario sc;
  sc.old_size = api == API_NOREPLACE ? ABSENT : 6000;
  sc.new_size = new_size;
  sc.piece = 3000;
  return sc;
}

/* Record the clean run to learn the calls, then fail each one in turn (and
 * every later call of the same op, as a broken disk would) and check every
 * trace. A failed fsync of the temp must end the protocol before any
 * rename. */
static void fail_each_call(const char *dir, enum api api) {
  struct scenario sc = replace_scenario(api, 10000);
  struct cm_trace t;
  struct cm_expect e;
  struct cm_report r;
  unsigned char *old, *nw;
  char *target = tu_join(dir, TARGET);
  int calls[SAFEFS__OP_COUNT], op, nth, runs = 0, failed = 0;
  long states = 0, gaps_before = tally.gap_traces;

  prepare(dir, api, &sc, 0, &t, &e, &old, &nw);
  cm_record(&t);
  assert_int_equal(run_api(api, target, nw, sc.new_size, 0, sc.piece), 0);
  cm_stop();
  memcpy(calls, t.calls, sizeof calls);
  assert_int_equal(calls[SAFEFS__OP_SYNC], 1);
  /* the commit: one rename, or (NOREPLACE with a nameless temp, and on
     Windows the sealed temp) the link of the temp onto the target */
#ifdef _WIN32
  assert_int_equal(calls[SAFEFS__OP_RENAME], 0);
  assert_int_equal(calls[SAFEFS__OP_LINK_TEMP], 1);
#else
  assert_int_equal(calls[SAFEFS__OP_RENAME] +
                       (api == API_NOREPLACE ? calls[SAFEFS__OP_LINK_TEMP] : 0),
                   1);
#endif
  free(old);
  free(nw);
  cm_trace_free(&t);

  for (op = 0; op < SAFEFS__OP_COUNT; op++) {
    for (nth = 1; nth <= calls[op]; nth++) {
      prepare(dir, api, &sc, 0, &t, &e, &old, &nw);
      cm_inject(&t, (enum safefs__op)op, nth, tu_err_io(), 1000);
      cm_record(&t);
      e.status = run_api(api, target, nw, sc.new_size, 0, sc.piece);
      cm_stop();
      /* a failed cleanup of the backup leaves it for safefs_sweep */
      e.allow_leftover = op == SAFEFS__OP_UNLINK;
#ifdef _WIN32
      /* after the link onto an existing target, a failed close of the temp
         or flush of the directory leaves the new content (safefs.h) */
      e.failure_may_finish = api != API_NOREPLACE &&
                             (op == SAFEFS__OP_CLOSE || op == SAFEFS__OP_SYNC_DIR);
#endif
      memset(&r, 0, sizeof r);
      cm_check(&t, &e, cm_native_model(), &r);
      expect_clean_or_gap(&t, &r, safefs__op_name((enum safefs__op)op), 0);
      if (op == SAFEFS__OP_SYNC) {
        assert_int_equal(e.status, SAFEFS_EIO);
        if (has_op(&t, SAFEFS__OP_RENAME) || has_op(&t, SAFEFS__OP_LINK_TEMP)) {
          cm_trace_print(&t, stderr);
          fail_msg("%s", "renamed after a failed fsync");
        }
      }
      runs++;
      failed += e.status != 0;
      states += r.states;
      tally_report(api, &r);
      free(old);
      free(nw);
      cm_trace_free(&t);
    }
  }
  print_message("  %s: %d injected failures (%d failed the call), %ld crash states, no "
                "violation%s\n",
                api_names[api], runs, failed, states,
                tally.gap_traces > gaps_before ? " but the known gap" : "");
  assert_true(runs >= 6);
  free(target);
}

static void injected_failures_write_file(void **state) {
  fail_each_call((const char *)*state, API_WRITE_FILE);
}

static void injected_failures_writer(void **state) {
  fail_each_call((const char *)*state, API_WRITER);
}

static void injected_failures_noreplace(void **state) {
  fail_each_call((const char *)*state, API_NOREPLACE);
}

/* ---- a nameless temp that cannot be named ----------------------------------- */

/* Where the nameless temp's linkat is refused (src/posix/replace.c,
 * name_by_copy), its content is copied into a named temp, which gets its
 * own sync before the rename. The first refusal switches the process to
 * named temps for good, so each trace runs in a helper process of its
 * own (child_unnameable); `control` skips the copy's sync (the second
 * SYNC of the trace), which the model must flag. Returns 0 when the
 * outcome is the expected one: the call succeeded through a named copy,
 * the target is new, and the trace is clean (or, for the control, shows
 * CM_TEMP_NOT_SYNCED). */
#if defined(__linux__)
static int child_unnameable(const char *dir, const char *which, const char *how) {
  enum api api = (enum api)atoi(which);
  int control = strcmp(how, "control") == 0, ok;
  struct scenario sc = replace_scenario(api, 40000); /* more than one 16 KiB piece of the copy */
  struct cm_report r;
  struct cm_expect e;
  struct cm_trace t;
  unsigned char *old, *nw;
  char *target = tu_join(dir, TARGET);

  prepare(dir, api, &sc, 0, &t, &e, &old, &nw);
  cm_inject(&t, SAFEFS__OP_LINK_TEMP, 1, EOPNOTSUPP, 1);
  if (control)
    cm_inject(&t, SAFEFS__OP_SYNC, 2, SAFEFS__SEAM_SKIP, 1);
  cm_record(&t);
  e.status = run_api(api, target, nw, sc.new_size, 0, sc.piece);
  cm_stop();
  memset(&r, 0, sizeof r);
  cm_check(&t, &e, cm_native_model(), &r);
  ok = e.status == 0 && file_holds(target, nw, sc.new_size) && t.calls[SAFEFS__OP_CREATE_ANON] == 1 &&
       t.calls[SAFEFS__OP_CREATE_TEMP] == 1 && t.calls[SAFEFS__OP_READ] >= 3 &&
       (control ? r.violations[CM_TEMP_NOT_SYNCED] > 0 : cm_total(&r) == 0);
  printf("  %s%s: status %d, %d reads of the nameless temp, %ld crash states, %ld violations\n",
         api_names[api], control ? " (copy not synced)" : "", e.status,
         t.calls[SAFEFS__OP_READ], r.states, cm_total(&r));
  if (!ok || getenv("SAFEFS_CM_VERBOSE") != NULL) {
    cm_trace_print(&t, stdout);
    cm_report_print(&r, stdout);
  }
  free(old);
  free(nw);
  free(target);
  cm_trace_free(&t);
  return ok ? 0 : 1;
}
#endif

static void unnameable_temp_crash_states(void **state) {
#if !defined(__linux__)
  (void)state;
  skip(); /* nameless temps are Linux's */
#else
  const char *dir = (const char *)*state;
  static const char *const apis[] = {"0", "1", "2"}; /* enum api */
  size_t i;
  for (i = 0; i < sizeof apis / sizeof apis[0]; i++) {
    assert_int_equal(tu_proc_wait(tu_proc_start("unnameable", dir, apis[i], "clean", (char *)NULL),
                                  60000),
                     0);
    assert_int_equal(
        tu_proc_wait(tu_proc_start("unnameable", dir, apis[i], "control", (char *)NULL), 60000), 0);
  }
#endif
}

static int run_helper(const char *mode, int argc, char **argv) {
#if defined(__linux__)
  if (argc == 3 && strcmp(mode, "unnameable") == 0)
    return child_unnameable(argv[0], argv[1], argv[2]);
#else
  (void)mode;
  (void)argc;
  (void)argv;
#endif
  return 2;
}

/* ---- negative controls: every check must be able to fail ------------------- */

/* How a hand-written protocol is broken (0: the correct one). */
enum {
  BAD_RENAME_FIRST = 1 << 0,  /* rename before the temp's fsync */
  BAD_NO_SYNC = 1 << 1,       /* no fsync / FlushFileBuffers of the temp */
  BAD_NO_DIR_SYNC = 1 << 2,   /* no fsync of the directory after the rename */
  BAD_SYNC_FAILS = 1 << 3,    /* the temp's fsync fails and the rename goes on */
  BAD_IN_PLACE = 1 << 4,      /* the target opened and written in place */
  BAD_PLAIN_NAME = 1 << 5,    /* temp named "target.json.tmp" */
  BAD_NOT_EXCL = 1 << 6,      /* temp opened create-or-open, not CREATE_TEMP */
  BAD_SUBDIR = 1 << 7,        /* temp made in a subdirectory */
  BAD_CLOBBER = 1 << 8,       /* NOREPLACE done with a replacing rename */
  BAD_STRAY = 1 << 9,         /* backup link under a foreign name */
  BAD_NEIGHBOUR = 1 << 10,    /* the neighbour file unlinked */
  BAD_KEEP_BACKUP = 1 << 11,  /* backup link never removed */
  BAD_NO_RENAME = 1 << 12,    /* success reported without the rename */
  BAD_IMPOSSIBLE = 1 << 13,   /* exclusive create of a name that exists */
  BAD_NO_WRITE_THROUGH = 1 << 14, /* Windows: rename not write-through */
  WIN32_SHAPE = 1 << 15,      /* Win32 calls: full paths, no directory
                                 handle, write-through rename, no dir sync,
                                 the temp delete-on-close until the commit */
  BAD_DOOMED = 1 << 16,       /* Windows: put in place still delete-on-close */
  ANON_SHAPE = 1 << 17,       /* POSIX: a nameless temp (O_TMPFILE), named
                                 just before the rename (NOREPLACE: linked
                                 straight to the target) */
  SEALED_SHAPE = 1 << 18      /* Win32: the temp created delete-on-close
                                 for good, linked onto the target through
                                 its handle, closed, the directory flushed
                                 (with BAD_NO_DIR_SYNC, BAD_RENAME_FIRST:
                                 the link before the flush, BAD_CLOBBER) */
};

#define SUBDIR "sub"

/* A name in the root, spelt as the calls of each backend spell it: relative
 * to the directory handle on POSIX, full with '\' on Windows (where
 * renames are labelled with bare names and no handle, as the Win32 backend
 * does). */
static const char *spell(char *buf, size_t cap, const char *dir, const char *name, int win) {
  size_t i;
  if (!win)
    return name;
  snprintf(buf, cap, "%s\\%s", dir, name);
  for (i = 0; buf[i]; i++)
    if (buf[i] == '/')
      buf[i] = '\\';
  return buf;
}

/* The Win32 backend's sealed temp (SEALED_SHAPE), broken as `how` says:
 * CREATE_TEMP with CREATE_DOOMED, the data, FlushFileBuffers, the link
 * onto the target (replacing unless NOREPLACE), the close that takes the
 * temp's name, the directory flush. */
static void synth_sealed(struct cm_trace *t, const char *dir, unsigned how, int noreplace,
                         const unsigned char *data, size_t n) {
  long long d = 7, f = 5;
  char temp[SAFEFS__NAME_MAX + 1], b1[1024];
  unsigned link_flags = noreplace && !(how & BAD_CLOBBER) ? SAFEFS__RENAME_NOREPLACE : 0u;
  assert_int_equal(safefs__make_name(temp, TARGET, SAFEFS__KIND_TMP), 0);
  cm_add(t, SAFEFS__OP_OPEN_DIR, dir, NULL, -1, NULL, 0, d);
  cm_add(t, SAFEFS__OP_CREATE_TEMP, spell(b1, sizeof b1, dir, temp, 1), NULL, -1, NULL, 0, f);
  t->ev[t->n - 1].flags = SAFEFS__CREATE_DOOMED;
  cm_add(t, SAFEFS__OP_WRITE, NULL, NULL, f, data, n, (long long)n);
  if (how & BAD_RENAME_FIRST) {
    cm_add(t, SAFEFS__OP_LINK_TEMP, TARGET, NULL, f, NULL, 0, 0);
    t->ev[t->n - 1].flags = link_flags;
  }
  cm_add(t, SAFEFS__OP_SYNC, NULL, NULL, f, NULL, 0, 0);
  if (!(how & BAD_RENAME_FIRST)) {
    cm_add(t, SAFEFS__OP_LINK_TEMP, TARGET, NULL, f, NULL, 0, 0);
    t->ev[t->n - 1].flags = link_flags;
  }
  cm_add(t, SAFEFS__OP_CLOSE, NULL, NULL, f, NULL, 0, 0);
  if (!(how & BAD_NO_DIR_SYNC))
    cm_add(t, SAFEFS__OP_SYNC_DIR, NULL, NULL, d, NULL, 0, 0);
  cm_add(t, SAFEFS__OP_CLOSE, NULL, NULL, d, NULL, 0, 0);
}

/* The replace protocol as each backend makes it, broken as `how` says. */
static void synth(struct cm_trace *t, const char *dir, unsigned how, int has_old,
                  int noreplace, const unsigned char *data, size_t n) {
  int win = (how & WIN32_SHAPE) != 0;
  long long d = win ? -1 : FAKE_DIRFD, f = 5;
  char temp[SAFEFS__NAME_MAX + 40], backup[SAFEFS__NAME_MAX + 1];
  char b1[1024];
  unsigned flags = 0;

  assert_int_equal(safefs__make_name(backup, TARGET, SAFEFS__KIND_OLD), 0);
  if (how & BAD_STRAY)
    strcpy(backup, TARGET ".bak");
  if (how & BAD_PLAIN_NAME) {
    strcpy(temp, TARGET ".tmp");
  } else {
    size_t k = 0;
    if (how & BAD_SUBDIR) {
      strcpy(temp, SUBDIR "/");
      k = strlen(temp);
    }
    assert_int_equal(safefs__make_name(temp + k, TARGET, SAFEFS__KIND_TMP), 0);
  }
  if (how & BAD_IMPOSSIBLE)
    strcpy(temp, NEIGHBOUR);
  if (how & SEALED_SHAPE) {
    synth_sealed(t, dir, how, noreplace, data, n);
    return;
  }

  if (!win)
    cm_add(t, SAFEFS__OP_OPEN_DIR, dir, NULL, ROOT_FD, NULL, 0, d);
  if (how & BAD_IN_PLACE) {
    cm_add(t, SAFEFS__OP_OPEN_LOCK, spell(b1, sizeof b1, dir, TARGET, win), NULL, d, NULL, 0, f);
    cm_add(t, SAFEFS__OP_WRITE, NULL, NULL, f, data, n, (long long)n);
    cm_add(t, SAFEFS__OP_SYNC, NULL, NULL, f, NULL, 0, 0);
    cm_add(t, SAFEFS__OP_CLOSE, NULL, NULL, f, NULL, 0, 0);
    return;
  }
  if (how & ANON_SHAPE)
    cm_add(t, SAFEFS__OP_CREATE_ANON, NULL, NULL, d, NULL, 0, f);
  else
    cm_add(t, (how & BAD_NOT_EXCL) ? SAFEFS__OP_OPEN_LOCK : SAFEFS__OP_CREATE_TEMP,
           spell(b1, sizeof b1, dir, temp, win), NULL, d, NULL, 0, f);
  if (win)
    cm_add(t, SAFEFS__OP_DOOM_TEMP, NULL, NULL, f, NULL, 0, 0);
  cm_add(t, SAFEFS__OP_WRITE, NULL, NULL, f, data, n, (long long)n);
  if (win && !(how & BAD_NO_WRITE_THROUGH))
    flags |= SAFEFS__RENAME_DURABLE;
  if (noreplace && !(how & BAD_CLOBBER))
    flags |= SAFEFS__RENAME_NOREPLACE;
  if (how & BAD_RENAME_FIRST)
    cm_add_rename(t, temp, TARGET, d, flags);
  if (how & BAD_SYNC_FAILS)
    cm_add_failed(t, SAFEFS__OP_SYNC, NULL, f, tu_err_io());
  else if (!(how & BAD_NO_SYNC))
    cm_add(t, SAFEFS__OP_SYNC, NULL, NULL, f, NULL, 0, 0);
  if (how & ANON_SHAPE)
    cm_add(t, SAFEFS__OP_LINK_TEMP, noreplace ? TARGET : temp, NULL, f, NULL, 0, 0);
  if (win && (how & BAD_DOOMED))
    cm_add_rename(t, temp, TARGET, d, flags); /* by handle, before the close */
  else if (win)
    cm_add(t, SAFEFS__OP_KEEP_TEMP, NULL, NULL, f, NULL, 0, 0);
  cm_add(t, SAFEFS__OP_CLOSE, NULL, NULL, f, NULL, 0, 0);
  if (!win && has_old)
    cm_add(t, SAFEFS__OP_LINK, TARGET, backup, d, NULL, 0, 0);
  if (!(how & (BAD_RENAME_FIRST | BAD_NO_RENAME | BAD_DOOMED)) &&
      !((how & ANON_SHAPE) && noreplace))
    cm_add_rename(t, temp, TARGET, d, flags);
  if (!win && !(how & BAD_NO_DIR_SYNC))
    cm_add(t, SAFEFS__OP_SYNC_DIR, NULL, NULL, d, NULL, 0, 0);
  if (how & BAD_NEIGHBOUR)
    cm_add(t, SAFEFS__OP_UNLINK, spell(b1, sizeof b1, dir, NEIGHBOUR, win), NULL, d, NULL, 0, 0);
  if (!win && has_old && !(how & BAD_KEEP_BACKUP))
    cm_add(t, SAFEFS__OP_UNLINK, backup, NULL, d, NULL, 0, 0);
  if (!win)
    cm_add(t, SAFEFS__OP_CLOSE, NULL, NULL, d, NULL, 0, 0);
}

#define MAX_EXPECTED 4

struct control {
  const char *what;
  unsigned how;          /* synth(); 0 with `inject` = the real library */
  int noreplace;
  enum cm_model model;   /* hand-written traces; the real library's run
                            under the native model */
  int real;              /* 1: safefs_write_file itself, with `inject` */
  enum safefs__op inject_op;
  unsigned api_flags;
  int expected[MAX_EXPECTED]; /* checks that must fire; -1 ends */
};

static long fired[CM_CHECK_COUNT];

/* Run one control; returns its report. A control with no expected check
 * is a positive one and must be clean. */
static void run_control(const char *dir, const struct control *c) {
  struct cm_trace t;
  struct cm_expect e;
  struct cm_report r;
  struct scenario sc;
  unsigned char *old, *nw;
  int k, expected_any = 0;
  char line[512];
  size_t used;

  sc.old_size = c->noreplace ? ABSENT : 6000;
  sc.new_size = 10000;
  sc.piece = 0;
  prepare(dir, API_WRITE_FILE, &sc, c->api_flags, &t, &e, &old, &nw);
  if (c->noreplace)
    e.flags |= SAFEFS_NOREPLACE;
  if (c->real) {
    char *target = tu_join(dir, TARGET);
    if (c->inject_op != SAFEFS__OP_COUNT)
      cm_inject(&t, c->inject_op, 1, SAFEFS__SEAM_SKIP, 1000);
    cm_record(&t);
    e.status = safefs_write_file(target, nw, sc.new_size,
                                 c->api_flags | (c->noreplace ? SAFEFS_NOREPLACE : 0));
    cm_stop();
    assert_int_equal(e.status, 0);
    free(target);
  } else {
    cm_initial_dir(&t, SUBDIR);
    synth(&t, dir, c->how, old != NULL, c->noreplace, nw, sc.new_size);
    e.status = 0;
  }
  memset(&r, 0, sizeof r);
  cm_check(&t, &e, c->real ? cm_native_model() : c->model, &r);
  for (k = 0; k < MAX_EXPECTED && c->expected[k] >= 0; k++) {
    expected_any = 1;
    if (r.violations[c->expected[k]] == 0) {
      fprintf(stderr, "control '%s': %s not reported\n", c->what,
              cm_check_name((enum cm_check)c->expected[k]));
      cm_trace_print(&t, stderr);
      cm_report_print(&r, stderr);
      fail_msg("negative control '%s' not caught", c->what);
    }
  }
  if (!expected_any)
    expect_clean_or_gap(&t, &r, c->what, 1);
  used = (size_t)snprintf(line, sizeof line, "  %-52s", c->what);
  for (k = 0; k < CM_CHECK_COUNT; k++) {
    fired[k] += r.violations[k];
    if (r.violations[k] > 0 && used < sizeof line)
      used += (size_t)snprintf(line + used, sizeof line - used, " %s x%ld",
                               cm_check_name((enum cm_check)k), r.violations[k]);
  }
  print_message("%s%s\n", line, expected_any ? "" : " clean (positive control)");
  if (expected_any) {
    tally.neg_traces++;
    tally.neg_violations += cm_total(&r);
  }
  tally_report(c->real ? API_WRITE_FILE : 3, &r);
  free(old);
  free(nw);
  cm_trace_free(&t);
}

#define NONE_EXPECTED {-1}
#define NO_INJECT SAFEFS__OP_COUNT

static const struct control controls[] = {
    /* positive controls: the hand-written protocols themselves are right */
    {"correct POSIX protocol (hand-written)", 0, 0, CM_POSIX, 0, NO_INJECT, 0, NONE_EXPECTED},
    {"correct POSIX protocol, NOREPLACE", 0, 1, CM_POSIX, 0, NO_INJECT, 0, NONE_EXPECTED},
    {"correct POSIX protocol, nameless temp (O_TMPFILE)", ANON_SHAPE, 0, CM_POSIX, 0, NO_INJECT,
     0, NONE_EXPECTED},
    {"correct POSIX protocol, nameless temp, NOREPLACE", ANON_SHAPE, 1, CM_POSIX, 0, NO_INJECT, 0,
     NONE_EXPECTED},
    {"correct Win32 protocol (hand-written)", WIN32_SHAPE, 0, CM_WIN32, 0, NO_INJECT, 0,
     NONE_EXPECTED},
    {"correct Win32 protocol, NOREPLACE", WIN32_SHAPE, 1, CM_WIN32, 0, NO_INJECT, 0,
     NONE_EXPECTED},
    {"correct Win32 protocol, sealed temp linked", SEALED_SHAPE, 0, CM_WIN32, 0, NO_INJECT, 0,
     NONE_EXPECTED},
    {"correct Win32 protocol, sealed temp linked, NOREPLACE", SEALED_SHAPE, 1, CM_WIN32, 0,
     NO_INJECT, 0, NONE_EXPECTED},
    /* the real library, made to forget a sync through the seam */
    {"safefs_write_file, temp fsync skipped (SEAM_SKIP)", 0, 0, CM_POSIX, 1, SAFEFS__OP_SYNC, 0,
     {CM_TEMP_NOT_SYNCED, CM_TORN_TARGET, CM_NOT_DURABLE, -1}},
    {"safefs_write_file, directory fsync skipped (SEAM_SKIP)", 0, 0, CM_POSIX, 1,
     SAFEFS__OP_SYNC_DIR, 0, {CM_RENAME_NOT_DURABLE, CM_NOT_DURABLE, -1}},
    {"safefs_write_file with SAFEFS_NOSYNC (documented)", 0, 0, CM_POSIX, 1, NO_INJECT,
     SAFEFS_NOSYNC, {CM_TORN_TARGET, CM_NOT_DURABLE, -1}},
    /* hand-written broken protocols, POSIX model */
    {"rename before the temp's fsync", BAD_RENAME_FIRST, 0, CM_POSIX, 0, NO_INJECT, 0,
     {CM_TEMP_NOT_SYNCED, CM_TORN_TARGET, -1}},
    {"no fsync of the temp", BAD_NO_SYNC, 0, CM_POSIX, 0, NO_INJECT, 0,
     {CM_TEMP_NOT_SYNCED, CM_TORN_TARGET, CM_NOT_DURABLE, -1}},
    {"no fsync of the directory", BAD_NO_DIR_SYNC, 0, CM_POSIX, 0, NO_INJECT, 0,
     {CM_RENAME_NOT_DURABLE, CM_NOT_DURABLE, -1}},
    {"rename after a failed fsync", BAD_SYNC_FAILS, 0, CM_POSIX, 0, NO_INJECT, 0,
     {CM_RENAME_AFTER_FAILED_SYNC, CM_TEMP_NOT_SYNCED, CM_TORN_TARGET, -1}},
    {"target opened and written in place", BAD_IN_PLACE, 0, CM_POSIX, 0, NO_INJECT, 0,
     {CM_TARGET_WRITTEN, CM_TORN_TARGET, -1}},
    {"temp under a foreign name", BAD_PLAIN_NAME, 0, CM_POSIX, 0, NO_INJECT, 0,
     {CM_TEMP_NOT_EXCL, CM_STRAY_NAME, -1}},
    {"temp opened without O_EXCL", BAD_NOT_EXCL, 0, CM_POSIX, 0, NO_INJECT, 0,
     {CM_TEMP_NOT_EXCL, -1}},
    {"temp in another directory", BAD_SUBDIR, 0, CM_POSIX, 0, NO_INJECT, 0,
     {CM_TEMP_ELSEWHERE, -1}},
    {"NOREPLACE with a replacing rename", BAD_CLOBBER, 1, CM_POSIX, 0, NO_INJECT, 0,
     {CM_NOREPLACE_CLOBBERS, -1}},
    {"backup under a foreign name", BAD_STRAY, 0, CM_POSIX, 0, NO_INJECT, 0,
     {CM_STRAY_NAME, -1}},
    {"neighbour file removed", BAD_NEIGHBOUR, 0, CM_POSIX, 0, NO_INJECT, 0, {CM_LOST_NAME, -1}},
    {"backup left behind", BAD_KEEP_BACKUP, 0, CM_POSIX, 0, NO_INJECT, 0, {CM_LEFTOVER, -1}},
    {"success reported without the rename", BAD_NO_RENAME, 0, CM_POSIX, 0, NO_INJECT, 0,
     {CM_WRONG_RESULT, CM_NOT_DURABLE, -1}},
    {"impossible trace (exclusive create of an existing name)", BAD_IMPOSSIBLE, 0, CM_POSIX, 0,
     NO_INJECT, 0, {CM_MODEL_MISMATCH, -1}},
    /* hand-written broken protocols, Windows model */
    {"Win32: no FlushFileBuffers of the temp", WIN32_SHAPE | BAD_NO_SYNC, 0, CM_WIN32, 0,
     NO_INJECT, 0, {CM_TEMP_NOT_SYNCED, CM_TORN_TARGET, CM_NOT_DURABLE, -1}},
    {"Win32: rename not write-through", WIN32_SHAPE | BAD_NO_WRITE_THROUGH, 0, CM_WIN32, 0,
     NO_INJECT, 0, {CM_RENAME_NOT_DURABLE, CM_NOT_DURABLE, -1}},
    {"Win32: rename before FlushFileBuffers", WIN32_SHAPE | BAD_RENAME_FIRST, 0, CM_WIN32, 0,
     NO_INJECT, 0, {CM_TEMP_NOT_SYNCED, CM_TORN_TARGET, -1}},
    {"Win32: put in place while still delete-on-close", WIN32_SHAPE | BAD_DOOMED, 0, CM_WIN32, 0,
     NO_INJECT, 0, {CM_TEMP_DOOMED, CM_WRONG_RESULT, -1}},
    {"Win32: sealed temp linked, no directory flush", SEALED_SHAPE | BAD_NO_DIR_SYNC, 0,
     CM_WIN32, 0, NO_INJECT, 0, {CM_RENAME_NOT_DURABLE, CM_NOT_DURABLE, -1}},
    {"Win32: sealed temp linked before FlushFileBuffers", SEALED_SHAPE | BAD_RENAME_FIRST, 0,
     CM_WIN32, 0, NO_INJECT, 0, {CM_TEMP_NOT_SYNCED, CM_TORN_TARGET, -1}},
    {"Win32: sealed temp, NOREPLACE with a replacing link", SEALED_SHAPE | BAD_CLOBBER, 1,
     CM_WIN32, 0, NO_INJECT, 0, {CM_NOREPLACE_CLOBBERS, -1}},
    {"nameless temp linked before its fsync", ANON_SHAPE | BAD_NO_SYNC, 0, CM_POSIX, 0, NO_INJECT,
     0, {CM_TEMP_NOT_SYNCED, CM_TORN_TARGET, -1}},
    {"POSIX protocol without the directory sync, Windows model", BAD_NO_DIR_SYNC, 0, CM_WIN32, 0,
     NO_INJECT, 0, {CM_RENAME_NOT_DURABLE, CM_NOT_DURABLE, -1}},
};

static void negative_controls(void **state) {
  size_t i;
  int c;
  memset(fired, 0, sizeof fired);
  for (i = 0; i < sizeof controls / sizeof controls[0]; i++) {
    const struct control *ctl = &controls[i];
    /* The real library's controls run under the native model; a skipped
     * directory fsync exists only where there is one. */
    if (ctl->real && ctl->inject_op == SAFEFS__OP_SYNC_DIR && cm_native_model() != CM_POSIX)
      continue;
    run_control((const char *)*state, ctl);
  }
  for (c = 0; c < CM_CHECK_COUNT; c++) {
    if (fired[c] == 0)
      fail_msg("check %s never fired in a negative control", cm_check_name((enum cm_check)c));
  }
  print_message("  every one of the %d checks fired in at least one negative control\n",
                CM_CHECK_COUNT);
}

/* ---- batches: several targets in one call --------------------------------------
 * safefs_batch_commit replaces several files, here in two directories, in
 * one call. Its trace is checked once per target, the batch's other
 * targets declared as names that may change (cm_expect.others); every
 * other invariant and rule holds for the target under check. A failed
 * commit leaves the first files it counts (safefs_batch_commit_report)
 * new, not promised durable, and the others as they were. */

#define BATCH_N 3
static const char *const batch_names[BATCH_N] = {"a.json", "b.json", SUBDIR "/c.json"};
static const size_t batch_old[BATCH_N] = {6000, ABSENT, 3000}; /* b.json is new */
static const size_t batch_new[BATCH_N] = {10000, 100, 5000};

struct batch {
  unsigned char *old[BATCH_N], *nw[BATCH_N];
  const char *others[BATCH_N][BATCH_N - 1]; /* for each target: the other names */
};

static void batch_init(struct batch *b) {
  size_t k, j, n;
  for (k = 0; k < BATCH_N; k++) {
    b->old[k] = batch_old[k] == ABSENT ? NULL : pattern(batch_old[k], 1 + 2 * (unsigned)k);
    b->nw[k] = pattern(batch_new[k], 2 + 2 * (unsigned)k);
    for (j = n = 0; j < BATCH_N; j++)
      if (j != k)
        b->others[k][n++] = batch_names[j];
  }
}

static void batch_free(struct batch *b) {
  size_t k;
  for (k = 0; k < BATCH_N; k++) {
    free(b->old[k]);
    free(b->nw[k]);
  }
}

/* The neighbour, the subdirectory and the old targets; on disk too if
 * `put`. */
static void batch_initial(struct cm_trace *t, const struct batch *b, int put) {
  size_t k;
  (put ? cm_put_file : cm_initial_file)(t, NEIGHBOUR, "neighbour", 9);
  (put ? cm_put_dir : cm_initial_dir)(t, SUBDIR);
  for (k = 0; k < BATCH_N; k++)
    if (b->old[k] != NULL)
      (put ? cm_put_file : cm_initial_file)(t, batch_names[k], b->old[k], batch_old[k]);
}

/* Target k after a commit that returned `status`: new if counted as
 * installed (after a failure, not promised durable), else as it was. */
static void batch_expect(const struct batch *b, size_t k, int status, int installed,
                         unsigned flags, struct cm_expect *e) {
  memset(e, 0, sizeof *e);
  e->target = batch_names[k];
  e->old_data = b->old[k];
  e->old_size = b->old[k] != NULL ? batch_old[k] : 0;
  e->new_data = b->nw[k];
  e->new_size = batch_new[k];
  e->flags = flags;
  e->status = installed ? 0 : status;
  e->not_durable = installed && status != 0;
  e->others = b->others[k];
  e->n_others = BATCH_N - 1;
}

/* How a hand-written batch is broken (0: the correct one). */
enum {
  BATCH_EARLY_DIR_SYNC = 1 << 0, /* the root synced after the first rename only */
  BATCH_NO_SYNC_2ND = 1 << 1,    /* the second temp renamed without its fsync */
  BATCH_NO_SUBDIR_SYNC = 1 << 2, /* the subdirectory never synced */
  BATCH_SUB_TEMP_IN_ROOT = 1 << 3, /* the subdirectory's temp made in the root */
  BATCH_WIN32_SHAPE = 1 << 4,     /* the Win32 backend's calls */
  BATCH_LAST_NOT_THROUGH = 1 << 5 /* Win32: the last rename not write-through,
                                     no directory flushed */
};

static int batch_in_sub(size_t k) {
  return strchr(batch_names[k], '/') != NULL;
}

/* The batch protocol as each backend makes it: every temp created and
 * written, then each synced and put in place, then each directory synced
 * once. Win32: targets looked at by their full path, the temps and renames
 * labelled with bare names and no handle, write-through renames. */
static void synth_batch(struct cm_trace *t, const char *dir, unsigned how, const struct batch *b) {
  int win = (how & BATCH_WIN32_SHAPE) != 0;
  long long d[2] = {FAKE_DIRFD, FAKE_DIRFD + 1};
  char temp[BATCH_N][SAFEFS__NAME_MAX + 1], full[1024];
  size_t k;

  cm_add(t, SAFEFS__OP_OPEN_DIR, win ? spell(full, sizeof full, dir, "", 1) : dir, NULL,
         win ? -1 : ROOT_FD, NULL, 0, d[0]);
  cm_add(t, SAFEFS__OP_OPEN_DIR, win ? spell(full, sizeof full, dir, SUBDIR, 1) : SUBDIR, NULL,
         win ? -1 : d[0], NULL, 0, d[1]);
  for (k = 0; k < BATCH_N; k++) {
    const char *leaf = batch_names[k] + (batch_in_sub(k) ? strlen(SUBDIR "/") : 0);
    long long f = 10 + (long long)k;
    assert_int_equal(safefs__make_name(temp[k], leaf, SAFEFS__KIND_TMP), 0);
    if (win)
      cm_add(t, SAFEFS__OP_STAT, spell(full, sizeof full, dir, batch_names[k], 1), NULL, -1,
             NULL, 0, 0);
    cm_add(t, SAFEFS__OP_CREATE_TEMP, temp[k], NULL,
           win ? -1 : d[batch_in_sub(k) && !(how & BATCH_SUB_TEMP_IN_ROOT)], NULL, 0, f);
    if (win)
      cm_add(t, SAFEFS__OP_DOOM_TEMP, NULL, NULL, f, NULL, 0, 0);
    cm_add(t, SAFEFS__OP_WRITE, NULL, NULL, f, b->nw[k], batch_new[k], (long long)batch_new[k]);
  }
  for (k = 0; k < BATCH_N; k++) {
    const char *leaf = batch_names[k] + (batch_in_sub(k) ? strlen(SUBDIR "/") : 0);
    long long f = 10 + (long long)k;
    int last = k == BATCH_N - 1;
    if (!(k == 1 && (how & BATCH_NO_SYNC_2ND)))
      cm_add(t, SAFEFS__OP_SYNC, NULL, NULL, f, NULL, 0, 0);
    if (win) {
      cm_add(t, SAFEFS__OP_KEEP_TEMP, NULL, NULL, f, NULL, 0, 0);
      cm_add(t, SAFEFS__OP_CLOSE, NULL, NULL, f, NULL, 0, 0);
      cm_add_rename(t, temp[k], leaf, -1,
                    last && (how & BATCH_LAST_NOT_THROUGH) ? 0u : SAFEFS__RENAME_DURABLE);
      continue;
    }
    if (batch_in_sub(k) && (how & BATCH_SUB_TEMP_IN_ROOT))
      cm_add_rename(t, temp[k], batch_names[k], d[0], 0); /* "sub/c.json" from the root */
    else
      cm_add_rename(t, temp[k], leaf, d[batch_in_sub(k)], 0);
    cm_add(t, SAFEFS__OP_CLOSE, NULL, NULL, f, NULL, 0, 0);
    if (k == 0 && (how & BATCH_EARLY_DIR_SYNC))
      cm_add(t, SAFEFS__OP_SYNC_DIR, NULL, NULL, d[0], NULL, 0, 0);
  }
  if (!(how & (BATCH_EARLY_DIR_SYNC | BATCH_LAST_NOT_THROUGH)))
    cm_add(t, SAFEFS__OP_SYNC_DIR, NULL, NULL, d[0], NULL, 0, 0);
  if (!(how & (BATCH_NO_SUBDIR_SYNC | BATCH_LAST_NOT_THROUGH)))
    cm_add(t, SAFEFS__OP_SYNC_DIR, NULL, NULL, d[1], NULL, 0, 0);
  cm_add(t, SAFEFS__OP_CLOSE, NULL, NULL, d[1], NULL, 0, 0);
  cm_add(t, SAFEFS__OP_CLOSE, NULL, NULL, d[0], NULL, 0, 0);
}

struct batch_control {
  const char *what;
  unsigned how;
  enum cm_model model;
  int undeclared; /* checked without cm_expect.others */
  int expected[BATCH_N][MAX_EXPECTED]; /* per target: exactly the checks
                                          that must fire; -1 ends */
};

static const struct batch_control batch_controls[] = {
    {"batch, correct POSIX protocol (hand-written)", 0, CM_POSIX, 0, {{-1}, {-1}, {-1}}},
    {"batch, correct Win32 protocol (hand-written)", BATCH_WIN32_SHAPE, CM_WIN32, 0,
     {{-1}, {-1}, {-1}}},
    {"batch, root synced before the second rename", BATCH_EARLY_DIR_SYNC, CM_POSIX, 0,
     {{-1}, {CM_RENAME_NOT_DURABLE, CM_NOT_DURABLE, -1}, {-1}}},
    {"batch, second temp renamed without its fsync", BATCH_NO_SYNC_2ND, CM_POSIX, 0,
     {{-1}, {CM_TEMP_NOT_SYNCED, CM_TORN_TARGET, CM_NOT_DURABLE, -1}, {-1}}},
    {"batch, subdirectory never synced", BATCH_NO_SUBDIR_SYNC, CM_POSIX, 0,
     {{-1}, {-1}, {CM_RENAME_NOT_DURABLE, CM_NOT_DURABLE, -1}}},
    {"batch, the subdirectory's temp made in the root", BATCH_SUB_TEMP_IN_ROOT, CM_POSIX, 0,
     {{-1}, {-1}, {CM_TEMP_ELSEWHERE, -1}}},
    {"batch, the other targets not declared", 0, CM_POSIX, 1,
     {{CM_STRAY_NAME, -1}, {CM_LOST_NAME, -1}, {-1}}},
    {"batch, Win32: second temp not flushed", BATCH_WIN32_SHAPE | BATCH_NO_SYNC_2ND, CM_WIN32, 0,
     {{-1}, {CM_TEMP_NOT_SYNCED, CM_TORN_TARGET, CM_NOT_DURABLE, -1}, {-1}}},
    {"batch, Win32: last rename not write-through, no flush", BATCH_WIN32_SHAPE |
     BATCH_LAST_NOT_THROUGH, CM_WIN32, 0, {{-1}, {-1}, {CM_RENAME_NOT_DURABLE, CM_NOT_DURABLE,
     -1}}},
};

/* Whether exactly the checks in `expected` fired in r. */
static int fired_exactly(const struct cm_report *r, const int *expected) {
  int c, k, want;
  for (c = 0; c < CM_CHECK_COUNT; c++) {
    for (want = 0, k = 0; k < MAX_EXPECTED && expected[k] >= 0; k++)
      want |= expected[k] == c;
    if ((r->violations[c] > 0) != want)
      return 0;
  }
  return 1;
}

static void batch_hand_written(void **state) {
  const char *dir = (const char *)*state;
  size_t i, k;
  struct batch b;

  batch_init(&b);
  for (i = 0; i < sizeof batch_controls / sizeof batch_controls[0]; i++) {
    const struct batch_control *c = &batch_controls[i];
    struct cm_trace t;
    char line[512];
    size_t used = (size_t)snprintf(line, sizeof line, "  %s:", c->what);
    int broken = 0;

    cm_trace_init(&t, dir);
    batch_initial(&t, &b, 0);
    synth_batch(&t, dir, c->how, &b);
    for (k = 0; k < BATCH_N; k++) {
      struct cm_expect e;
      struct cm_report r;
      int ck;
      batch_expect(&b, k, 0, 1, 0, &e);
      if (c->undeclared)
        e.n_others = 0;
      memset(&r, 0, sizeof r);
      cm_check(&t, &e, c->model, &r);
      if (!fired_exactly(&r, c->expected[k])) {
        fprintf(stderr, "batch control '%s', target %s: not the expected checks\n", c->what,
                batch_names[k]);
        cm_trace_print(&t, stderr);
        cm_report_print(&r, stderr);
        fail_msg("batch control '%s' wrong for %s", c->what, batch_names[k]);
      }
      if (used < sizeof line)
        used += (size_t)snprintf(line + used, sizeof line - used, " %s", batch_names[k]);
      for (ck = 0; ck < CM_CHECK_COUNT; ck++)
        if (r.violations[ck] > 0 && used < sizeof line)
          used += (size_t)snprintf(line + used, sizeof line - used, " %s x%ld",
                                   cm_check_name((enum cm_check)ck), r.violations[ck]);
      if (cm_total(&r) == 0 && used < sizeof line)
        used += (size_t)snprintf(line + used, sizeof line - used, " clean");
      broken |= cm_total(&r) > 0;
      tally.batch_neg_violations += cm_total(&r);
      tally_report(3, &r);
    }
    print_message("%s\n", line);
    tally.batch_neg_traces += broken;
    cm_trace_free(&t);
  }
  batch_free(&b);
}

/* Record one commit of the batch in a fresh root below dir, syncing as
 * `how` chooses (TU_SYNC_EACH, TU_SYNC_WHOLE_FS), the nth and every later
 * call of op answered `answer` (op SAFEFS__OP_COUNT: none), and check
 * each target under the native model into r[k]. The files on disk must
 * be as the count says. Returns the status; t is the caller's to free. */
static int batch_run(const char *dir, const struct batch *b, unsigned flags, long how,
                     enum safefs__op op, int nth, long answer, struct cm_trace *t,
                     struct cm_report *r, size_t *installed) {
  static int runs;
  char name[32], *root, *path;
  safefs_batch *sb;
  size_t k;
  int status;

  snprintf(name, sizeof name, "batch%d", runs++);
  root = tu_join(dir, name);
  tu_mkdir(root);
  cm_trace_init(t, root);
  batch_initial(t, b, 1);
  assert_int_equal(safefs_batch_begin(&sb, flags), 0);
  for (k = 0; k < BATCH_N; k++) {
    path = tu_join(root, batch_names[k]);
    assert_int_equal(safefs_batch_add(sb, path, b->nw[k], batch_new[k]), 0);
    free(path);
  }
  cm_inject(t, SAFEFS__OP_COUNT_DIRTY, 1, how, 1000000); /* (the later rule wins) */
  if (op != SAFEFS__OP_COUNT)
    cm_inject(t, op, nth, answer, 1000);
  cm_record(t);
  status = safefs_batch_commit_report(sb, installed);
  cm_stop();
  assert_true(*installed <= BATCH_N);
  if (status == 0)
    assert_int_equal(*installed, BATCH_N);
  for (k = 0; k < BATCH_N; k++) {
    struct cm_expect e;
    int is_new = k < *installed;
    path = tu_join(root, batch_names[k]);
    if (is_new)
      assert_true(file_holds(path, b->nw[k], batch_new[k]));
    else if (b->old[k] != NULL)
      assert_true(file_holds(path, b->old[k], batch_old[k]));
    else
      assert_false(tu_exists(path));
    free(path);
    batch_expect(b, k, status, is_new, flags, &e);
    /* a failed cleanup of a backup or temp leaves it for safefs_sweep */
    e.allow_leftover = op == SAFEFS__OP_UNLINK;
    memset(&r[k], 0, sizeof r[k]);
    cm_check(t, &e, cm_native_model(), &r[k]);
    if (getenv("SAFEFS_CM_VERBOSE") != NULL) {
      printf("target %s:\n", batch_names[k]);
      cm_report_print(&r[k], stdout);
    }
    tally_report(API_BATCH, &r[k]);
  }
  if (getenv("SAFEFS_CM_VERBOSE") != NULL)
    cm_trace_print(t, stdout);
  free(root);
  return status;
}

/* Target k clean; one that existed may show the known ReplaceFileW gap
 * (all_gaps: must), a new one (MoveFileExW) nothing. */
static void batch_expect_clean(const struct cm_trace *t, const struct batch *b,
                               const struct cm_report *r, size_t k, const char *what,
                               int all_gaps) {
  if (b->old[k] != NULL)
    expect_clean_or_gap(t, &r[k], what, all_gaps);
  else
    expect_clean(t, &r[k], what);
}

static long batch_states(const struct cm_report *r) {
  long n = 0;
  size_t k;
  for (k = 0; k < BATCH_N; k++)
    n += r[k].states;
  return n;
}

/* The clean commit: each target clean (but the known gap); then the
 * negative controls on the real library: NOSYNC (documented), and the
 * directory fsyncs skipped. */
static void batch_crash_states(void **state) {
  const char *dir = (const char *)*state;
  struct cm_trace t;
  struct cm_report r[BATCH_N];
  struct batch b;
  size_t installed, k;
  long gaps_before = tally.gap_traces;
  int c;

  batch_init(&b);
  for (c = 0; c < 2; c++) {
    assert_int_equal(batch_run(dir, &b, 0, c == 0 ? TU_SYNC_EACH : TU_SYNC_WHOLE_FS,
                               SAFEFS__OP_COUNT, 0, 0, &t, r, &installed),
                     0);
    for (k = 0; k < BATCH_N; k++)
      batch_expect_clean(&t, &b, r, k, batch_names[k], 1);
    print_message("  safefs_batch_commit of %d files (%s new, one in %s/), %s: %ld crash "
                  "states, no violation%s\n",
                  BATCH_N, batch_names[1], SUBDIR,
                  t.calls[SAFEFS__OP_SYNC_FS] > 0 ? "one syncfs" : "each temp synced",
                  batch_states(r), tally.gap_traces > gaps_before ? " but the known gap" : "");
    cm_trace_free(&t);
  }

  for (c = 0; c < 3; c++) {
    /* c == 1: a skipped directory fsync exists only where there is one;
       c == 2: a skipped syncfs only where it is made */
    unsigned flags = c == 0 ? SAFEFS_NOSYNC : 0;
    enum safefs__op op = c == 0   ? SAFEFS__OP_COUNT
                         : c == 1 ? SAFEFS__OP_SYNC_DIR
                                  : SAFEFS__OP_SYNC_FS;
    static const char *const what[] = {"batch with SAFEFS_NOSYNC (documented)",
                                       "batch, directory fsyncs skipped (SEAM_SKIP)",
                                       "batch, its syncfs skipped (SEAM_SKIP)"};
    char line[512];
    size_t used;
    if ((c == 1 && cm_native_model() != CM_POSIX) || (c == 2 && !tu_syncfs_used(dir)))
      continue;
    used = (size_t)snprintf(line, sizeof line, "  %s:", what[c]);
    assert_int_equal(batch_run(dir, &b, flags, c == 2 ? TU_SYNC_WHOLE_FS : TU_SYNC_EACH, op, 1,
                               SAFEFS__SEAM_SKIP, &t, r, &installed),
                     0);
    for (k = 0; k < BATCH_N; k++) {
      if (r[k].violations[CM_NOT_DURABLE] == 0 ||
          (c == 1 && r[k].violations[CM_RENAME_NOT_DURABLE] == 0) ||
          (c == 2 && r[k].violations[CM_TEMP_NOT_SYNCED] == 0)) {
        cm_trace_print(&t, stderr);
        cm_report_print(&r[k], stderr);
        fail_msg("batch negative control not caught for %s", batch_names[k]);
      }
      if (used < sizeof line)
        used += (size_t)snprintf(line + used, sizeof line - used,
                                 " %s NOT_DURABLE x%ld RENAME_NOT_DURABLE x%ld (%ld in all)",
                                 batch_names[k], r[k].violations[CM_NOT_DURABLE],
                                 r[k].violations[CM_RENAME_NOT_DURABLE], cm_total(&r[k]));
      tally.batch_neg_violations += cm_total(&r[k]);
    }
    tally.batch_neg_traces++;
    print_message("%s\n", line);
    cm_trace_free(&t);
  }
  batch_free(&b);
}

/* Each OS call of the clean commit failing in turn (and every later call
 * of the same op): the commit fails, the files it counts as installed are
 * new and the others as they were, on disk and in the model, and the
 * invariants hold for every target in every crash state. A failed data
 * write, sync, rename or directory sync must fail the commit; a failure
 * the library tolerates (a writeback hint, a directory's identity, the
 * delete-on-close mark, a directory handle's close after its sync: listed
 * in the output) may leave it a success, which is then checked as one:
 * every file new and durable. */
static void injected_failures_batch(void **state) {
  const char *dir = (const char *)*state;
  struct cm_trace t;
  struct cm_report r[BATCH_N];
  struct batch b;
  size_t installed, k, counts[BATCH_N + 1];
  int calls[SAFEFS__OP_COUNT], op, nth, runs = 0, failed = 0, status, c;
  long states = 0, gaps_before = tally.gap_traces;
  char tolerated[512] = "";
  size_t used = 0;

  batch_init(&b);
  memset(counts, 0, sizeof counts);
  for (c = 0; c < 2; c++) {
    long how = c == 0 ? TU_SYNC_EACH : TU_SYNC_WHOLE_FS;
    assert_int_equal(batch_run(dir, &b, 0, how, SAFEFS__OP_COUNT, 0, 0, &t, r, &installed), 0);
    memcpy(calls, t.calls, sizeof calls);
    if (c == 0 || !tu_syncfs_used(dir)) {
      assert_int_equal(calls[SAFEFS__OP_SYNC], BATCH_N);
    } else {
      assert_int_equal(calls[SAFEFS__OP_SYNC], 0);
      assert_int_equal(calls[SAFEFS__OP_SYNC_FS], 1);
    }
    cm_trace_free(&t);

    for (op = 0; op < SAFEFS__OP_COUNT; op++) {
      for (nth = 1; nth <= calls[op]; nth++) {
        status = batch_run(dir, &b, 0, how, (enum safefs__op)op, nth, tu_err_io(), &t, r,
                           &installed);
        if (status == 0 && (op == SAFEFS__OP_WRITE || op == SAFEFS__OP_SYNC ||
                            op == SAFEFS__OP_SYNC_FS || op == SAFEFS__OP_RENAME ||
                            op == SAFEFS__OP_SYNC_DIR)) {
          cm_trace_print(&t, stderr);
          fail_msg("the %dth %s failing did not fail the commit", nth,
                   safefs__op_name((enum safefs__op)op));
        }
        /* one sync and one rename a file, in the order added, all the syncs
           of a group before its renames: a failing sync leaves the whole
           group old, a failing rename the files before it in place */
        if (((op == SAFEFS__OP_SYNC || op == SAFEFS__OP_SYNC_FS) && installed != 0) ||
            (op == SAFEFS__OP_RENAME && installed != (size_t)nth - 1)) {
          cm_trace_print(&t, stderr);
          fail_msg("the %dth %s failing left %u files installed", nth,
                   safefs__op_name((enum safefs__op)op), (unsigned)installed);
        }
        if (status == 0 && used < sizeof tolerated)
          used += (size_t)snprintf(tolerated + used, sizeof tolerated - used, " %s#%d",
                                   safefs__op_name((enum safefs__op)op), nth);
        for (k = 0; k < BATCH_N; k++)
          batch_expect_clean(&t, &b, r, k, safefs__op_name((enum safefs__op)op), 0);
        counts[installed]++;
        failed += status != 0;
        runs++;
        states += batch_states(r);
        cm_trace_free(&t);
      }
    }
  }
  print_message("  safefs_batch_commit, syncing each temp and flushing the filesystem whole: "
                "%d injected failures (%d failed the call; installed 0/1/2/3: %u/%u/%u/%u), "
                "%ld crash states, no violation%s; a success after:%s\n",
                runs, failed, (unsigned)counts[0], (unsigned)counts[1], (unsigned)counts[2],
                (unsigned)counts[3], states,
                tally.gap_traces > gaps_before ? " but the known gap" : "", tolerated);
  assert_true(runs >= 10);
  batch_free(&b);
}

/* ---- the deleter ----------------------------------------------------------------
 * safefs_remove and safefs_remove_tree promise no durability (safefs.h): a
 * crash after they returned may still show the old state. Before and after,
 * the target is whole (a directory: its whole tree, entry for entry) or
 * absent, and nothing but the target, the neighbour and trash names appear.
 * A failure after the rename aside leaves the name free (safefs.h). Each
 * call of the clean run is failed in turn as for the writes. */

enum removal { REMOVE_FILE, REMOVE_TREE };

static void put_removal_target(struct cm_trace *t, enum removal what, struct cm_expect *e) {
  cm_put_file(t, NEIGHBOUR, "neighbour", 9);
  memset(e, 0, sizeof *e);
  e->new_absent = 1;
  e->not_durable = 1;
  e->failure_may_finish = 1;
  if (what == REMOVE_FILE) {
    cm_put_file(t, TARGET, "old content", 11);
    e->target = TARGET;
    e->old_data = "old content";
    e->old_size = 11;
    return;
  }
  e->target = "tree";
  cm_put_dir(t, "tree");
  cm_put_file(t, "tree/a", "a", 1);
  cm_put_dir(t, "tree/sub");
  cm_put_file(t, "tree/sub/b", "b", 1);
  cm_put_dir(t, "tree/sub/deep");
  cm_put_file(t, "tree/sub/deep/c", "c", 1);
}

/* One recorded removal (the nth call of op failing with err if op is not
 * SAFEFS__OP_COUNT), checked under `order`. Returns the violations. */
static long record_removal(const char *dir, enum removal what, enum cm_order order,
                           enum safefs__op op, int nth, struct cm_report *r, int *calls) {
  static int runs;
  struct cm_trace t;
  struct cm_expect e;
  char name[32], *root, *path;
  long found;

  /* a fresh root for each run: a failed removal leaves trash behind */
  snprintf(name, sizeof name, "run%d", runs++);
  root = tu_join(dir, name);
  tu_mkdir(root);
  cm_trace_init(&t, root);
  put_removal_target(&t, what, &e);
  path = tu_join(root, e.target);
  if (op != SAFEFS__OP_COUNT)
    cm_inject(&t, op, nth, tu_err_io(), 1000);
  cm_record(&t);
  e.status = what == REMOVE_FILE ? safefs_remove(path, 0) : safefs_remove_tree(path, 0);
  cm_stop();
  if (op == SAFEFS__OP_COUNT)
    assert_int_equal(e.status, 0);
  e.allow_leftover = e.status != 0 || op == SAFEFS__OP_UNLINK || op == SAFEFS__OP_RMDIR;
  memset(r, 0, sizeof *r);
  found = cm_check_order(&t, &e, cm_native_model(), order, r);
  if (calls != NULL)
    memcpy(calls, t.calls, sizeof t.calls);
  if (getenv("SAFEFS_CM_VERBOSE") != NULL || (found != 0 && order == CM_PREFIX)) {
    cm_trace_print(&t, stdout);
    cm_report_print(r, stdout);
  }
  tally_report(API_REMOVE, r);
  free(path);
  free(root);
  cm_trace_free(&t);
  return found;
}

static void removal_crash_states(const char *dir, enum removal what) {
  struct cm_report r;
  int calls[SAFEFS__OP_COUNT], op, nth, runs = 0;
  long states = 0, subset;

  /* An in-order metadata journal (ext4, XFS, NTFS): clean. */
  assert_int_equal(record_removal(dir, what, CM_PREFIX, SAFEFS__OP_COUNT, 0, &r, calls), 0);
  states += r.states;
  for (op = 0; op < SAFEFS__OP_COUNT; op++)
    for (nth = 1; nth <= calls[op]; nth++) {
      assert_int_equal(record_removal(dir, what, CM_PREFIX, (enum safefs__op)op, nth, &r, NULL),
                       0);
      states += r.states;
      runs++;
    }
  /* Directories committed independently (CM_SUBSET): nothing but a tree
   * torn under its name can show, and only if the rename aside is not
   * made durable before the deletions below it. */
  subset = record_removal(dir, what, CM_SUBSET, SAFEFS__OP_COUNT, 0, &r, NULL);
  assert_int_equal(subset, r.violations[CM_TORN_TARGET]);
  states += r.states;
  print_message("  %s: %d injected failures + clean runs, %ld crash states, no violation "
                "(in-order journal); independent directory commits: %s\n",
                what == REMOVE_FILE ? "safefs_remove" : "safefs_remove_tree", runs, states,
                subset == 0 ? "no violation" : r.first[CM_TORN_TARGET]);
  if (subset != 0) {
    tally.finding_traces++;
    tally.finding_violations += subset;
  }
}

static void remove_crash_states(void **state) {
  removal_crash_states((const char *)*state, REMOVE_FILE);
}

static void remove_tree_crash_states(void **state) {
  removal_crash_states((const char *)*state, REMOVE_TREE);
}

/* After the run: what the checker went through, and the findings. */
static int summary(int failed) {
  int i;
  printf("\ncrash model summary (%s model):\n",
         cm_native_model() == CM_WIN32 ? "Windows" : "POSIX");
  for (i = 0; i < 6; i++)
    printf("  %-18s %4ld traces, %8ld crash states\n", api_names[i], tally.per_api_traces[i],
           tally.per_api_states[i]);
  printf("  total: %ld traces, %ld crash points, %ld crash states\n", tally.traces, tally.points,
         tally.states);
  printf("  negative controls: %ld broken traces, %ld violations found\n", tally.neg_traces,
         tally.neg_violations);
  printf("  batch negative controls: %ld broken traces, %ld violations found (checked per "
         "target)\n",
         tally.batch_neg_traces, tally.batch_neg_violations);
  if (tally.finding_traces > 0)
    printf("  finding (independent directory commits only, see remove_tree_crash_states): "
           "%ld traces, %ld violations\n",
           tally.finding_traces, tally.finding_violations);
  if (tally.gap_traces > 0)
    printf("  known gap (ReplaceFileW, see the test): %ld traces, %ld violations\n",
           tally.gap_traces, tally.gap_violations);
  return failed;
}

static const struct CMUnitTest tests[] = {
    CRASH_TEST(enumeration_of_torn_blocks),
    CRASH_TEST(enumeration_of_directory_operations),
    CRASH_TEST(removal_of_a_tree),
    CRASH_TEST(write_file_crash_states),
    CRASH_TEST(writer_crash_states),
    CRASH_TEST(noreplace_crash_states),
    CRASH_TEST(injected_failures_write_file),
    CRASH_TEST(injected_failures_writer),
    CRASH_TEST(injected_failures_noreplace),
    /* Linux: the named copy of a temp whose linkat is refused, each trace
     * in a helper process (the refusal is remembered process-wide) */
    CRASH_TEST(unnameable_temp_crash_states),
    /* both backends' deleters: every Win32 wrapper reports its outcome
     * too, and the model follows the handle-relative opens and the
     * dispositions set on an entry's own handle (testutil_crash.c) */
    CRASH_TEST(remove_crash_states),
    CRASH_TEST(remove_tree_crash_states),
    CRASH_TEST(negative_controls),
    /* a batch: one trace, several targets in two directories */
    CRASH_TEST(batch_hand_written),
    CRASH_TEST(batch_crash_states),
    CRASH_TEST(injected_failures_batch),
};
const struct tu_suite tu_suite = {"crashmodel", tests, sizeof tests / sizeof tests[0], run_helper,
                                  summary};
