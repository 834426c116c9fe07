/*
 * The retrying deleter on POSIX: what only the POSIX backend has to get
 * right. A directory swapped for a link between the walk listing it and
 * entering it (CVE-2022-21658); read-only directories as a user whom the
 * modes really bind; names of open files removed at once. Built only on
 * POSIX (see tests/CMakeLists.txt); the cross-platform cases are in
 * test_remove.c.
 */
#include "testutil.h"
#include "testutil_proc.h"

#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* The CVE-2022-21658 race: a directory inside the tree is swapped for a
 * link to somewhere else between the walk listing it and entering it. The
 * seam runs the swap just before the walk opens that directory. */
static struct {
  const char *target; /* where the planted link points */
  int done;
} swap;

static long swap_hook(void *ctx, const struct safefs__call *call) {
  (void)ctx;
  if (!swap.done && call->op == SAFEFS__OP_OPEN_DIR && call->path != NULL &&
      strcmp(call->path, "victim") == 0) {
    /* call->handle is the trash copy's descriptor: swap inside it */
    int fd = (int)call->handle;
    assert_int_equal(renameat(fd, "victim", fd, "victim-moved"), 0);
    assert_int_equal(symlinkat(swap.target, fd, "victim"), 0);
    swap.done = 1;
  }
  return 0;
}

static void swapped_directory_is_not_followed(void **state) {
  const char *dir = (const char *)*state;
  const char *outside = tu_path(dir, "outside");
  const char *outside_file = tu_path(outside, "precious.txt");
  const char *root = tu_path(dir, "tree");
  const char *victim = tu_path(root, "victim");
  const char *victim_file = tu_path(victim, "f");

  tu_mkdir(outside);
  tu_write_raw(outside_file, "precious", 8);
  tu_mkdir(root);
  tu_mkdir(victim);
  tu_write_raw(victim_file, "v", 1);
  swap.target = outside;
  swap.done = 0;
  safefs__seam_set(swap_hook, NULL);
  assert_int_equal(safefs_remove_tree(root, -1), 0);
  safefs__seam_set(NULL, NULL);
  assert_true(swap.done);
  assert_true(tu_file_is(outside_file, "precious"));
  assert_int_equal(tu_count_entries(outside), 1);
  assert_false(tu_exists(root));
  assert_int_equal(tu_count_entries(dir), 1);
}

/* ---- read-only directories ------------------------------------------------------ */

/* As an unprivileged user the u+wx really is needed (root ignores modes). */
static void read_only_dirs_as_unprivileged_user(void **state) {
  const char *dir = (const char *)*state;
  char *home = tu_join(dir, "home");
  if (geteuid() != 0) {
    char *root = tu_make_read_only_tree(dir);
    assert_int_equal(safefs_remove_tree(root, -1), 0);
    assert_false(tu_exists(root));
    free(root);
    free(home);
    return;
  }
  tu_mkdir(home);
  assert_int_equal(chown(home, 65534, 65534), 0);
  assert_int_equal(chmod(dir, 0711), 0);
  assert_int_equal(tu_proc_wait(tu_proc_start("ro-tree-as-nobody", home, (char *)NULL), 60000), 0);
  assert_int_equal(tu_count_entries(home), 0);
  chmod(dir, 0700);
  free(home);
}

/* Child: become nobody and remove a read-only tree built as nobody. */
static int child_ro_tree(const char *home) {
  char *root;
  int rc;
  if (setgid(65534) != 0 || setuid(65534) != 0)
    return 90;
  root = tu_make_read_only_tree(home);
  rc = safefs_remove_tree(root, -1);
  rc = rc != 0 ? 100 - rc : tu_exists(root) ? 91 : 0;
  free(root);
  return rc;
}

/* ---- files held open ------------------------------------------------------------ */

/* POSIX removes names of open files at once: no waiting at all. */
static void open_files_are_removed_at_once(void **state) {
  const char *dir = (const char *)*state;
  const char *f = tu_path(dir, "open.txt");
  const char *root = tu_path(dir, "tree");
  const char *inner = tu_path(root, "f0.txt");
  int fd1, fd2;
  long long t0;
  tu_write_raw(f, "x", 1);
  tu_make_tree(root, 1, 2, 2);
  fd1 = open(f, O_RDONLY);
  fd2 = open(inner, O_RDONLY);
  assert_true(fd1 >= 0 && fd2 >= 0);
  t0 = tu_now_ms();
  assert_int_equal(safefs_remove(f, 2000), 0);
  assert_int_equal(safefs_remove_tree(root, 2000), 0);
  assert_true(tu_now_ms() - t0 < 500);
  assert_int_equal(tu_count_entries(dir), 0);
  close(fd1);
  close(fd2);
}

static int run_helper(const char *mode, int argc, char **argv) {
  if (strcmp(mode, "ro-tree-as-nobody") == 0 && argc == 1)
    return child_ro_tree(argv[0]);
  return 2;
}

static const struct CMUnitTest tests[] = {
    TU_TEST(swapped_directory_is_not_followed),
    TU_TEST(read_only_dirs_as_unprivileged_user),
    TU_TEST(open_files_are_removed_at_once),
};
TU_SUITE("remove_posix", tests, run_helper);
