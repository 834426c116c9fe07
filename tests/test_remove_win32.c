/*
 * The retrying deleter on Windows: what only the Win32 backend has to get
 * right. Files held open by another thread, with and without
 * FILE_SHARE_DELETE, alone and inside a tree: waited for within the
 * budget, SAFEFS_EBUSY past it with nothing lost, the sweep finishing
 * later; and the retry loop itself with transient errors injected. Built
 * only on Windows (see tests/CMakeLists.txt); the cross-platform cases are
 * in test_remove.c.
 */
#include "testutil.h"

#include <stdlib.h>

#include <windows.h>

#define SHARE_RW (FILE_SHARE_READ | FILE_SHARE_WRITE)
#define SHARE_RWD (FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)

/* safefs_remove(f, budget_ms) while another thread holds f open with
 * `share` for hold_ms; *took is how long the remove took. The holder may
 * still have f open: *h is for tu_holder_join. */
static int remove_while_held(const char *f, DWORD share, DWORD hold_ms, long budget_ms,
                             long long *took, tu_holder **h) {
  long long t0;
  int rc;
  *h = tu_hold_file(f, share, hold_ms);
  t0 = tu_now_ms();
  rc = safefs_remove(f, budget_ms);
  *took = tu_now_ms() - t0;
  return rc;
}

/* Held without FILE_SHARE_DELETE for 300 ms: safefs_remove waits. */
static void held_file_is_waited_for(void **state) {
  const char *dir = (const char *)*state;
  const char *f = tu_path(dir, "held.txt");
  tu_holder *h;
  long long took;
  tu_write_raw(f, "x", 1);
  assert_int_equal(remove_while_held(f, SHARE_RW, 300, 5000, &took, &h), 0);
  tu_holder_join(h);
  print_message("[ held ] removed after %lld ms (holder kept it 300 ms)\n", took);
  assert_true(took >= 200);
  assert_true(took < 4000);
  assert_int_equal(tu_count_entries(dir), 0);
}

/* Held past the budget: EBUSY in about the budget. The file cannot even be
 * renamed aside (that needs the same DELETE access), so it is still there,
 * under its own name, with its content. */
static void held_past_budget_is_ebusy(void **state) {
  const char *dir = (const char *)*state;
  const char *f = tu_path(dir, "held.txt");
  tu_holder *h;
  long long took;
  tu_write_raw(f, "content", 7);
  assert_int_equal(remove_while_held(f, SHARE_RW, 2500, 400, &took, &h), SAFEFS_EBUSY);
  print_message("[ held ] EBUSY after %lld ms (budget 400)\n", took);
  assert_true(took >= 350);
  assert_true(took < 2000);
  assert_true(safefs_last_os_error() != 0);
  assert_true(tu_file_is(f, "content"));
  assert_int_equal(tu_count_entries(dir), 1);
  assert_int_equal(tu_count_own_names(dir), 0);
  tu_holder_join(h);
  assert_int_equal(safefs_remove(f, -1), 0);
  assert_int_equal(tu_count_entries(dir), 0);
}

/* Held WITH FILE_SHARE_DELETE: removed at once, and the name is free at
 * once even though the holder still has the file open. */
static void held_with_share_delete(void **state) {
  const char *dir = (const char *)*state;
  const char *f = tu_path(dir, "shared.txt");
  tu_holder *h;
  int trash;
  tu_write_raw(f, "x", 1);
  h = tu_hold_file(f, SHARE_RWD, 700);
  assert_int_equal(safefs_remove(f, 0), 0);
  assert_false(tu_exists(f));
  trash = tu_count_own_names(dir);
  print_message("[ held ] share-delete holder: %d trash name(s) visible while held\n", trash);
  assert_true(trash <= 1);
  tu_write_raw(f, "new", 3); /* the name can be reused at once */
  assert_true(tu_file_is(f, "new"));
  tu_holder_join(h);
  assert_int_equal(tu_count_own_names(dir), 0);
  assert_int_equal(tu_count_entries(dir), 1);
}

/* A tree with a file held inside. Short hold: remove_tree waits and
 * succeeds. Hold past the budget: EBUSY; the sweep finishes after release. */
static void tree_with_held_file(void **state) {
  const char *dir = (const char *)*state;
  const char *root = tu_path(dir, "tree");
  const char *inner = tu_path(root, "d0/f1.txt");
  const char *sibling = tu_path(dir, "sibling");
  tu_holder *h;
  long long t0, took;
  int rc;

  tu_write_raw(sibling, "s", 1);
  tu_make_tree(root, 2, 2, 2);
  h = tu_hold_file(inner, SHARE_RW, 400);
  t0 = tu_now_ms();
  assert_int_equal(safefs_remove_tree(root, 5000), 0);
  took = tu_now_ms() - t0;
  tu_holder_join(h);
  print_message("[ held ] tree removed after %lld ms (file inside held 400 ms)\n", took);
  assert_true(took >= 300);
  assert_false(tu_exists(root));
  assert_int_equal(tu_count_entries(dir), 1);

  tu_make_tree(root, 2, 2, 2);
  h = tu_hold_file(inner, SHARE_RW, 2000);
  t0 = tu_now_ms();
  rc = safefs_remove_tree(root, 300);
  took = tu_now_ms() - t0;
  assert_int_equal(rc, SAFEFS_EBUSY);
  assert_true(took < 1800);
  if (tu_exists(root)) {
    /* Windows proper refuses to rename a directory with open files below:
       then nothing was touched */
    print_message("[ held ] EBUSY in %lld ms: tree left whole under its name\n", took);
    assert_int_equal(tu_count_files(root), 14);
    assert_int_equal(tu_count_own_names(dir), 0);
  } else {
    print_message("[ held ] EBUSY in %lld ms: name free, trash copy kept\n", took);
    assert_int_equal(tu_count_own_names(dir), 1);
  }
  safefs_set_retry_budget_ms(100); /* the sweep's budget: shorter than the hold */
  assert_int_equal(safefs_sweep(dir, 0), SAFEFS_EBUSY);
  assert_int_equal(tu_count_own_names(dir), 1);
  safefs_set_retry_budget_ms(-1);
  tu_holder_join(h);
  if (tu_exists(root))
    assert_int_equal(safefs_remove_tree(root, -1), 0);
  assert_int_equal(safefs_sweep(dir, 0), 0);
  assert_int_equal(tu_count_entries(dir), 1);
  assert_true(tu_file_is(sibling, "s"));
}

/* The retry loop itself, with transient errors injected. */
static void transient_errors_are_retried(void **state) {
  const char *dir = (const char *)*state;
  const char *f = tu_path(dir, "f");
  long long t0;
  tu_write_raw(f, "x", 1);
  tu_faults_reset();
  tu_fault_add(SAFEFS__OP_UNLINK, 1, ERROR_SHARING_VIOLATION, 5);
  assert_int_equal(safefs_remove(f, 5000), 0);
  assert_true(tu_calls(SAFEFS__OP_UNLINK) > 5); /* the 6th open went through */
  assert_false(tu_exists(f));

  tu_write_raw(f, "x", 1);
  tu_faults_reset();
  tu_fault_add(SAFEFS__OP_UNLINK, 1, ERROR_SHARING_VIOLATION, 1000000);
  t0 = tu_now_ms();
  assert_int_equal(safefs_remove(f, 300), SAFEFS_EBUSY);
  assert_true(tu_now_ms() - t0 >= 250);
  assert_int_equal(safefs_last_os_error(), ERROR_SHARING_VIOLATION);
  tu_faults_off();
  /* renamed aside, then the delete stayed "busy": name free, trash left */
  assert_false(tu_exists(f));
  assert_int_equal(tu_count_own_names(dir), 1);
  assert_int_equal(safefs_sweep(dir, 0), 0);
  assert_int_equal(tu_count_entries(dir), 0);
}

static const struct CMUnitTest tests[] = {
    TU_TEST(held_file_is_waited_for),
    TU_TEST(held_past_budget_is_ebusy),
    TU_TEST(held_with_share_delete),
    TU_TEST(tree_with_held_file),
    TU_TEST(transient_errors_are_retried),
};
TU_SUITE("remove_win32", tests, NULL);
