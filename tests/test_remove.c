/*
 * The retrying deleter: safefs_remove, safefs_remove_tree, safefs_sweep,
 * the cases that are the same on every platform.
 *
 * Every documented status; links never followed; read-only files and
 * directories; deep and wide trees; two processes removing one tree while a
 * third reads it; the sweep's name and age rules; and fault injection at
 * every OS call, after which nothing outside the tree is lost and the tree
 * is either whole under its name or gone from it (with a trash copy that a
 * sweep removes). One platform's own cases are in test_remove_posix.c
 * (a directory swapped for a link mid-walk, another user, open files) and
 * test_remove_win32.c (files held open by another thread).
 *
 * The multi-process tests run helper processes of this binary
 * (testutil_proc.h).
 */
#include "testutil.h"
#include "testutil_proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef _WIN32
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

/* The file holds exactly `content`. */
static void assert_file(const char *path, const char *content) {
  assert_true(tu_file_is(path, content));
}

/* ---- statuses ---------------------------------------------------------------- */

static void remove_file_and_statuses(void **state) {
  const char *dir = (const char *)*state;
  const char *f = tu_path(dir, "file.txt");
  const char *sub = tu_path(dir, "sub");
  const char *missing = tu_path(dir, "missing");
  const char *under_missing = tu_path(dir, "nope/child");
  const char *under_file = tu_path(f, "child");
  const char *slash = tu_path(dir, "");

  tu_write_raw(f, "data", 4);
  tu_mkdir(sub);

  assert_int_equal(safefs_remove(NULL, -1), SAFEFS_EINVAL);
  assert_int_equal(safefs_remove("", -1), SAFEFS_EINVAL);
  assert_int_equal(safefs_last_os_error(), 0);
  assert_int_equal(safefs_remove_tree(NULL, -1), SAFEFS_EINVAL);
  assert_int_equal(safefs_remove_tree("", -1), SAFEFS_EINVAL);
  assert_int_equal(safefs_remove_tree(slash, -1), SAFEFS_EINVAL); /* no name to remove */
  assert_int_equal(safefs_remove_tree(".", -1), SAFEFS_EINVAL);
  assert_int_equal(safefs_remove_tree("..", -1), SAFEFS_EINVAL);

  assert_int_equal(safefs_remove(missing, -1), SAFEFS_ENOENT);
  assert_true(safefs_last_os_error() != 0);
  assert_int_equal(safefs_remove_tree(missing, -1), SAFEFS_ENOENT);
  assert_int_equal(safefs_remove(under_missing, -1), SAFEFS_ENOENT);
  assert_int_equal(safefs_remove_tree(under_missing, -1), SAFEFS_ENOENT);

  /* wrong kinds fail at once and touch nothing */
  assert_int_equal(safefs_remove(sub, 5000), SAFEFS_EISDIR);
  assert_int_equal(safefs_remove_tree(f, 5000), SAFEFS_ENOTDIR);
  assert_int_equal(safefs_remove(under_file, -1), SAFEFS_ENOTDIR);
  assert_true(tu_exists(sub));
  assert_file(f, "data");
  assert_int_equal(tu_count_entries(dir), 2);

  assert_int_equal(safefs_remove(f, -1), 0);
  assert_false(tu_exists(f));
  assert_int_equal(safefs_remove(f, -1), SAFEFS_ENOENT); /* a second deleter */
  assert_int_equal(safefs_remove_tree(sub, -1), 0);
  assert_int_equal(safefs_remove_tree(sub, -1), SAFEFS_ENOENT);
  assert_int_equal(tu_count_entries(dir), 0);
}

static void remove_tree_whole(void **state) {
  const char *dir = (const char *)*state;
  const char *root = tu_path(dir, "tree");
  const char *sibling = tu_path(dir, "sibling.txt");
  const char *sibling_dir = tu_path(dir, "tree2");
  long n;

  n = tu_make_tree(root, 3, 3, 4);
  assert_int_equal(tu_count_files(root), n);
  tu_write_raw(sibling, "keep", 4);
  tu_make_tree(sibling_dir, 1, 1, 1);
  assert_int_equal(safefs_remove_tree(root, -1), 0);
  assert_false(tu_exists(root));
  assert_file(sibling, "keep");
  assert_int_equal(tu_count_files(sibling_dir), 2);
  assert_int_equal(tu_count_entries(dir), 2);
  assert_int_equal(tu_count_own_names(dir), 0);

  /* an empty directory, and the name is reusable at once */
  tu_mkdir(root);
  assert_int_equal(safefs_remove_tree(root, 0), 0);
  tu_mkdir(root);
  assert_true(tu_exists(root));
}

/* Non-ASCII names all the way: the tree, its entries, a trash name made
 * from a non-ASCII base, and a sweep that must recognise it. */
static void unicode_names(void **state) {
  const char *dir = (const char *)*state;
  const char *root = tu_path(dir, "Gr\xc3\xbc\xc3\x9f" "e-\xe6\x97\xa5\xe6\x9c\xac");
  const char *sub = tu_path(root, "\xc3\xbc");
  const char *f1 = tu_path(root, "\xd1\x84\xd0\xb0\xd0\xb9\xd0\xbb.txt");
  const char *f2 = tu_path(sub, "\xf0\x9f\x98\x80.txt"); /* outside the BMP */
  const char *lone = tu_path(dir, "\xc3\xa9t\xc3\xa9.txt");
  const char *trash = tu_path(dir, ".\xc3\xa9t\xc3\xa9.safefs-0123456789abcdef.trash");
  tu_mkdir(root);
  tu_mkdir(sub);
  tu_write_raw(f1, "1", 1);
  tu_write_raw(f2, "2", 1);
  tu_write_raw(lone, "x", 1);
  tu_make_tree(trash, 1, 2, 1);
  assert_int_equal(tu_count_files(root), 2);
  assert_int_equal(safefs_remove_tree(root, -1), 0);
  assert_false(tu_exists(root));
  assert_int_equal(safefs_remove(lone, -1), 0);
  assert_false(tu_exists(lone));
  assert_int_equal(tu_count_own_names(dir), 1);
  assert_int_equal(safefs_sweep(dir, 0), 0);
  assert_int_equal(tu_count_entries(dir), 0);
}

/* ---- links --------------------------------------------------------------------- */

static void links_are_never_followed(void **state) {
  const char *dir = (const char *)*state;
  const char *outside = tu_path(dir, "outside");
  const char *outside_file = tu_path(outside, "precious.txt");
  const char *lone = tu_path(dir, "lone.txt");
  const char *root = tu_path(dir, "tree");
  const char *inner = tu_path(root, "sub");
  const char *link_dir = tu_path(inner, "to-outside");
  const char *link_file = tu_path(root, "to-file");
  const char *link_root = tu_path(dir, "root-link");
  const char *link_lone = tu_path(dir, "lone-link");

  tu_mkdir(outside);
  tu_write_raw(outside_file, "precious", 8);
  tu_write_raw(lone, "lone", 4);
  tu_make_tree(root, 1, 1, 2);
  tu_mkdir(inner);
  if (tu_symlink(outside, link_dir, 1) != 0) {
    print_message("symbolic links cannot be created here: skipped\n");
    skip();
  }
  assert_int_equal(tu_symlink(outside_file, link_file, 0), 0);

  /* links inside a tree are removed themselves */
  assert_int_equal(safefs_remove_tree(root, -1), 0);
  assert_false(tu_exists(root));
  assert_file(outside_file, "precious");
  assert_int_equal(tu_count_entries(outside), 1);

  /* a link as the root of remove_tree: the link goes, its target stays */
  assert_int_equal(tu_symlink(outside, link_root, 1), 0);
  assert_int_equal(safefs_remove_tree(link_root, -1), 0);
  assert_false(tu_exists(link_root));
  assert_file(outside_file, "precious");

  /* safefs_remove on links: to a file, to a directory, dangling */
  assert_int_equal(tu_symlink(lone, link_lone, 0), 0);
  assert_int_equal(safefs_remove(link_lone, -1), 0);
  assert_false(tu_exists(link_lone));
  assert_file(lone, "lone");
  assert_int_equal(tu_symlink(outside, link_root, 1), 0);
  assert_int_equal(safefs_remove(link_root, -1), 0);
  assert_false(tu_exists(link_root));
  assert_file(outside_file, "precious");
  assert_int_equal(tu_symlink(link_file /* gone */, link_lone, 0), 0);
  assert_int_equal(safefs_remove(link_lone, -1), 0);
  assert_false(tu_exists(link_lone));

  assert_int_equal(tu_count_entries(dir), 2);
  assert_int_equal(tu_count_own_names(dir), 0);
}

/* Swaps acted out through the seam just before the rename aside ("tree")
 * or the removal of an emptied directory ("sub", POSIX: through the
 * parent's descriptor the seam sees). */
static struct {
  const char *dir;
  enum safefs__op op;
  const char *name;
  int done;
} kind_swap;

static long kind_swap_hook(void *ctx, const struct safefs__call *call) {
  (void)ctx;
  if (kind_swap.done || call->op != kind_swap.op || call->path == NULL ||
      strcmp(call->path, kind_swap.name) != 0)
    return 0;
  kind_swap.done = 1;
  if (call->op == SAFEFS__OP_RENAME) { /* the directory becomes a file */
    char *from = tu_join(kind_swap.dir, "tree"), *to = tu_join(kind_swap.dir, "tree-real");
    assert_int_equal(rename(from, to), 0);
    tu_write_raw(from, "file", 4);
    free(from);
    free(to);
  }
#ifndef _WIN32
  else { /* the emptied directory becomes a file */
    int fd = (int)call->handle;
    assert_int_equal(unlinkat(fd, "sub", AT_REMOVEDIR), 0);
    close(openat(fd, "sub", O_WRONLY | O_CREAT | O_EXCL, 0644));
  }
#endif
  return 0;
}

static void kind_changes_under_the_remover(void **state) {
  const char *dir = (const char *)*state;
  const char *root = tu_path(dir, "tree");
  const char *real = tu_path(dir, "tree-real");
#ifndef _WIN32
  const char *sub = tu_path(root, "sub"); /* only the POSIX case below */
#endif

  /* between the look and the rename: the file is put back, ENOTDIR */
  tu_make_tree(root, 1, 2, 2);
  kind_swap.dir = dir;
  kind_swap.op = SAFEFS__OP_RENAME;
  kind_swap.name = "tree";
  kind_swap.done = 0;
  safefs__seam_set(kind_swap_hook, NULL);
  assert_int_equal(safefs_remove_tree(root, -1), SAFEFS_ENOTDIR);
  safefs__seam_set(NULL, NULL);
  assert_true(kind_swap.done);
  assert_file(root, "file");
  assert_int_equal(tu_count_files(real), 6);
  assert_int_equal(tu_count_own_names(dir), 0);
  assert_int_equal(safefs_remove(root, -1), 0);
  assert_int_equal(safefs_remove_tree(real, -1), 0);

#ifndef _WIN32
  /* deep inside: a failure, but the half-deleted copy is never put back */
  tu_make_tree(root, 0, 0, 1);
  tu_mkdir(sub);
  kind_swap.op = SAFEFS__OP_RMDIR;
  kind_swap.name = "sub";
  kind_swap.done = 0;
  safefs__seam_set(kind_swap_hook, NULL);
  assert_int_equal(safefs_remove_tree(root, -1), SAFEFS_ENOTDIR);
  safefs__seam_set(NULL, NULL);
  assert_true(kind_swap.done);
  assert_false(tu_exists(root));
  assert_int_equal(tu_count_own_names(dir), 1);
  assert_int_equal(safefs_sweep(dir, 0), 0);
#endif
  assert_int_equal(tu_count_entries(dir), 0);
}

/* ---- read-only ---------------------------------------------------------------- */

/* Remove the tree tu_make_read_only_tree builds in dir. Returns
 * remove_tree's status, or -100 if it returned 0 but the tree is still
 * there. */
static int remove_read_only_tree(const char *dir) {
  char *root = tu_make_read_only_tree(dir);
  int rc = safefs_remove_tree(root, -1);
  if (rc == 0 && tu_exists(root))
    rc = -100;
  free(root);
  return rc;
}

static void read_only_entries(void **state) {
  const char *dir = (const char *)*state;
  const char *lone = tu_path(dir, "lone");
  tu_faults_reset();
  assert_int_equal(remove_read_only_tree(dir), 0);
#ifndef _WIN32
  /* the two 0555 directories were given u+wx before being emptied */
  assert_int_equal(tu_calls(SAFEFS__OP_SET_MODE), 2);
#endif
  tu_faults_off();
  assert_int_equal(tu_count_entries(dir), 0);

  /* a single read-only file: removed too (POSIX needs only the directory
   * writable; on Windows safefs clears the attribute, for the same result) */
  tu_write_raw(lone, "x", 1);
  tu_set_read_only(lone);
  tu_faults_reset();
  assert_int_equal(safefs_remove(lone, -1), 0);
#ifdef _WIN32
  /* where the delete refuses a read-only file, the remedy cleared it */
  print_message("  read-only file: %d delete dispositions, %d attribute changes\n",
                tu_calls(SAFEFS__OP_UNLINK), tu_calls(SAFEFS__OP_SET_MODE));
#endif
  tu_faults_off();
  assert_int_equal(tu_count_entries(dir), 0);
}

/* ---- big trees ---------------------------------------------------------------- */

/* Wine maps every handle-relative open back to a full Unix path, so each
 * step costs time in proportion to the depth (a 1000-level tree takes over
 * a minute to create and remove there, against well under a second on
 * Linux); Windows itself does not. Under Wine the big trees are smaller. */
struct deep {
  const char *root;
  int levels;
};

/* Remove the deep tree; the exit status of a child: 0 or 100 - status. */
static int remove_deep(void *ctx) {
  const struct deep *d = (const struct deep *)ctx;
  long long t0 = tu_now_ms();
  int rc = safefs_remove_tree(d->root, -1);
  fprintf(stderr, "[ deep ] %d levels removed in %lld ms (POSIX: 64 descriptors allowed)\n",
          d->levels, tu_now_ms() - t0);
  return rc == 0 ? 0 : 100 - rc;
}

static void deep_tree(void **state) {
  const char *dir = (const char *)*state;
  const int levels = tu_running_on_wine() ? 300 : 1000;
  char *root = tu_join(dir, "deep");
  char *path = (char *)malloc(strlen(root) + 3 * (size_t)levels + 16);
  struct deep d;
  int i;
  assert_non_null(path);
  strcpy(path, root);
  tu_mkdir(path);
  for (i = 0; i < levels; i++) {
    strcat(path, "/d");
    tu_mkdir(path);
  }
  strcat(path, "/leaf");
  tu_write_raw(path, "leaf", 4);

  /* (POSIX) in a child with only 64 descriptors allowed: the walk must not
     hold one per level */
  d.root = root;
  d.levels = levels;
  assert_int_equal(tu_run_with_fd_limit(64, remove_deep, &d), 0);
  assert_false(tu_exists(root));
  assert_int_equal(tu_count_entries(dir), 0);
  free(path);
  free(root);
}

static void wide_tree(void **state) {
  const char *dir = (const char *)*state;
  const int files = tu_running_on_wine() ? 2000 : 10000; /* Wine creates files slowly */
  const char *root = tu_path(dir, "wide");
  long long t0;
  assert_int_equal(tu_make_tree(root, 0, 0, files), files); /* one level, all files */
  t0 = tu_now_ms();
  assert_int_equal(safefs_remove_tree(root, -1), 0);
  print_message("[ wide ] %d files removed in %lld ms\n", files, tu_now_ms() - t0);
  assert_false(tu_exists(root));
  assert_int_equal(tu_count_entries(dir), 0);
}

/* ---- sweep ----------------------------------------------------------------------- */

static void sweep_rules(void **state) {
  const char *dir = (const char *)*state;
  /* safefs's own names, made "old" by waiting */
  static const char *const own[] = {
      ".data.json.safefs-0123456789abcdef.tmp",
      ".data.json.safefs-fedcba9876543210.old",
      ".x.safefs-00000000000000ff.trash",
      "..safefs-0123456789abcdef.tmp", /* empty base */
  };
  /* look-alikes that are not safefs's and must always stay */
  static const char *const others[] = {
      ".data.json.safefs-0123456789abcde.tmp",   /* 15 hex */
      ".data.json.safefs-0123456789abcdef0.tmp", /* 17 hex */
      ".other.safefs-0123456789ABCDEF.tmp",      /* uppercase (another base: the
                                                    filesystem may ignore case) */
      "data.json.safefs-0123456789abcdef.tmp",   /* no leading dot */
      ".data.json.safefs-0123456789abcdef.bak",  /* other kind */
      ".data.json.safefs-0123456789abcdef.tmp~", /* trailing junk */
      ".data.json.safefs_0123456789abcdef.tmp",  /* other separator */
      ".data.json-0123456789abcdef.tmp",         /* no marker */
      "data.json",
  };
  const char *young = ".data.json.safefs-aaaaaaaaaaaaaaaa.tmp";
  const char *trash_dir = tu_path(dir, ".tree.safefs-1111111111111111.trash");
  const char *trash_inner = tu_path(trash_dir, "sub");
  const char *outside = tu_path(dir, "outside");
  const char *outside_file = tu_path(outside, "precious");
  char *p;
  size_t i;
  long long t0;
  int nothers = (int)(sizeof others / sizeof others[0]);

  for (i = 0; i < sizeof own / sizeof own[0]; i++) {
    p = tu_join(dir, own[i]);
    tu_write_raw(p, "own", 3);
    free(p);
  }
  for (i = 0; i < sizeof others / sizeof others[0]; i++) {
    p = tu_join(dir, others[i]);
    tu_write_raw(p, "other", 5);
    free(p);
  }
  tu_mkdir(outside);
  tu_write_raw(outside_file, "precious", 8);
  tu_make_tree(trash_dir, 2, 2, 2);
  tu_mkdir(trash_inner);
  p = tu_join(trash_inner, "link");
  if (tu_symlink(outside, p, 1) != 0)
    print_message("(no symbolic links here: trash without a link)\n");
  free(p);

  /* the ages: wait so the entries above are >= 2 s old, then a young one */
  t0 = tu_now_ms();
  tu_sleep_ms(2100);
  p = tu_join(dir, young);
  tu_write_raw(p, "young", 5);
  free(p);

  assert_int_equal(safefs_sweep(dir, 3600), 0); /* nothing is that old */
  assert_int_equal(tu_count_own_names(dir), 6);
  assert_int_equal(safefs_sweep(dir, 2), 0);
  print_message("[ sweep ] after %lld ms: %d own name(s) left\n", tu_now_ms() - t0,
                tu_count_own_names(dir));
  assert_int_equal(tu_count_own_names(dir), 1); /* the young one */
  p = tu_join(dir, young);
  assert_file(p, "young");
  free(p);
  assert_int_equal(tu_count_entries(dir), 1 + nothers + 1);
  assert_file(outside_file, "precious");

  assert_int_equal(safefs_sweep(dir, 0), 0);
  assert_int_equal(tu_count_own_names(dir), 0);
  assert_int_equal(tu_count_entries(dir), nothers + 1);
  for (i = 0; i < sizeof others / sizeof others[0]; i++) {
    p = tu_join(dir, others[i]);
    assert_file(p, "other");
    free(p);
  }
  assert_file(outside_file, "precious");
}

static void sweep_statuses(void **state) {
  const char *dir = (const char *)*state;
  const char *f = tu_path(dir, "file");
  const char *missing = tu_path(dir, "missing");
  tu_write_raw(f, "x", 1);
  assert_int_equal(safefs_sweep(NULL, 0), SAFEFS_EINVAL);
  assert_int_equal(safefs_sweep("", 0), SAFEFS_EINVAL);
  assert_int_equal(safefs_sweep(dir, -1), SAFEFS_EINVAL);
  assert_int_equal(safefs_sweep(missing, 0), SAFEFS_ENOENT);
  assert_int_equal(safefs_sweep(f, 0), SAFEFS_ENOTDIR);
  assert_int_equal(safefs_sweep(dir, 0), 0); /* nothing of ours: nothing done */
  assert_file(f, "x");
}

/* A failure on one entry does not stop the sweep: the others still go,
 * and the first failure is what it returns. */
static long refuse_f1(void *ctx, const struct safefs__call *call) {
  (void)ctx;
  if (call->op == SAFEFS__OP_UNLINK && call->path != NULL && strstr(call->path, ".f1.") != NULL)
    return tu_err_io();
  return 0;
}

static void sweep_tries_every_entry(void **state) {
  const char *dir = (const char *)*state;
  int i;
  for (i = 0; i < 4; i++) {
    char name[64];
    char *p;
    snprintf(name, sizeof name, ".f%d.safefs-000000000000000%d.tmp", i, i);
    p = tu_join(dir, name);
    tu_write_raw(p, "x", 1);
    free(p);
  }
  safefs__seam_set(refuse_f1, NULL);
  assert_int_equal(safefs_sweep(dir, 0), SAFEFS_EIO);
  assert_int_equal(safefs_last_os_error(), tu_err_io());
  safefs__seam_set(NULL, NULL);
  assert_int_equal(tu_count_entries(dir), 1);
  assert_int_equal(safefs_sweep(dir, 0), 0);
  assert_int_equal(tu_count_entries(dir), 0);
}

/* ---- fault injection ---------------------------------------------------------------- */

/* After any failure: the sibling outside is intact, and the tree is either
 * whole under its name, or gone from it with at most one trash copy that
 * a sweep removes. */
static void check_after_failure(const char *dir, const char *root, long files, int rc,
                                enum safefs__op op, int nth) {
  const char *sibling = tu_path(dir, "sibling");
  if (!tu_file_is(sibling, "keep"))
    fail_msg("%s #%d: sibling lost", safefs__op_name(op), nth);
  if (tu_exists(root)) {
    if (rc == 0)
      fail_msg("%s #%d: success but the tree is still there", safefs__op_name(op), nth);
    if (tu_count_files(root) != files)
      fail_msg("%s #%d (%s): tree left partial: %ld of %ld files", safefs__op_name(op), nth,
               safefs_status_name(rc), tu_count_files(root), files);
    if (tu_count_own_names(dir) != 0)
      fail_msg("%s #%d: tree kept but a trash name appeared", safefs__op_name(op), nth);
  } else {
    if (tu_count_own_names(dir) > 1)
      fail_msg("%s #%d: %d trash names", safefs__op_name(op), nth, tu_count_own_names(dir));
    if (rc == 0 && tu_count_own_names(dir) != 0)
      fail_msg("%s #%d: success but trash left", safefs__op_name(op), nth);
    assert_int_equal(safefs_sweep(dir, 0), 0);
  }
  if (tu_exists(root))
    assert_int_equal(safefs_remove_tree(root, -1), 0);
  if (tu_count_entries(dir) != 1)
    fail_msg("%s #%d (%s): %d entries left after the sweep", safefs__op_name(op), nth,
             safefs_status_name(rc), tu_count_entries(dir));
}

/* A failure's message names the failing step (the op's verb, or running
 * out of memory) and, quoted, the path or entry it failed on. One sample per op
 * is printed. */
static void check_fault_message(enum safefs__op op, int nth, int rc) {
  static int shown[SAFEFS__OP_COUNT];
  const char *msg = safefs_last_error_message();
  /* an allocation: "out of memory", or the OS's words for the open whose
     name conversion it was (Windows: "Not enough memory") */
  const char *step = op == SAFEFS__OP_ALLOC ? "memory" : safefs__op_verb(op);
  const char *quote = strchr(msg, '\'');
  if (rc == 0)
    return;
  if (strstr(msg, step) == NULL || quote == NULL || strchr(quote + 1, '\'') == NULL)
    fail_msg("%s #%d (%s): message \"%s\" does not name \"%s\" and a path",
             safefs__op_name(op), nth, safefs_status_name(rc), msg, step);
  if (!shown[op]++)
    print_message("  %s: %s\n", safefs__op_name(op), msg);
}

static void faults_in_remove_tree(void **state) {
  static const enum safefs__op ops[] = {
      SAFEFS__OP_OPEN_DIR, SAFEFS__OP_STAT,   SAFEFS__OP_LIST_DIR, SAFEFS__OP_UNLINK,
      SAFEFS__OP_RMDIR,    SAFEFS__OP_RENAME, SAFEFS__OP_SET_MODE, SAFEFS__OP_CLOSE,
      SAFEFS__OP_RANDOM,   SAFEFS__OP_ALLOC};
  const char *dir = (const char *)*state;
  const char *root = tu_path(dir, "tree");
  const char *sibling = tu_path(dir, "sibling");
  size_t k;
  int total = 0;

  tu_write_raw(sibling, "keep", 4);
  for (k = 0; k < sizeof ops / sizeof ops[0]; k++) {
    int nth;
    for (nth = 1;; nth++) {
      long files = tu_make_tree(root, 2, 2, 2), handles = tu_open_handles();
      int rc;
#ifndef _WIN32
      if (ops[k] == SAFEFS__OP_SET_MODE) {
        char *sub = tu_join(root, "d1");
        assert_int_equal(chmod(sub, 0555), 0);
        free(sub);
      }
#endif
      tu_faults_reset();
      tu_fault_add(ops[k], nth, ops[k] == SAFEFS__OP_ALLOC ? 1 : tu_err_io(), 1);
      rc = safefs_remove_tree(root, 0);
      if (tu_live_blocks() != 0 || tu_open_handles() != handles)
        fail_msg("%s #%d: %ld blocks and %ld handles leaked", safefs__op_name(ops[k]), nth,
                 tu_live_blocks(), tu_open_handles() - handles);
      tu_faults_off();
      if (tu_calls(ops[k]) < nth) { /* the fault never fired: done with this op */
        assert_int_equal(rc, 0);
        check_after_failure(dir, root, files, rc, ops[k], nth);
        break;
      }
      total++;
      check_fault_message(ops[k], nth, rc);
      if (ops[k] == SAFEFS__OP_ALLOC && rc != 0)
        assert_int_equal(rc, SAFEFS_ENOMEM);
      else if (rc != 0 && ops[k] != SAFEFS__OP_SET_MODE)
        assert_int_equal(rc, SAFEFS_EIO);
      check_after_failure(dir, root, files, rc, ops[k], nth);
    }
  }
  print_message("[ faults ] remove_tree: %d injected failures checked\n", total);
}

static void faults_in_remove(void **state) {
  static const enum safefs__op ops[] = {SAFEFS__OP_OPEN_DIR, SAFEFS__OP_STAT,
                                        SAFEFS__OP_UNLINK,   SAFEFS__OP_RENAME,
                                        SAFEFS__OP_RANDOM,   SAFEFS__OP_ALLOC};
  const char *dir = (const char *)*state;
  const char *f = tu_path(dir, "file");
  size_t k;
  for (k = 0; k < sizeof ops / sizeof ops[0]; k++) {
    int nth;
    for (nth = 1;; nth++) {
      long handles = tu_open_handles();
      int rc;
      tu_write_raw(f, "content", 7);
      tu_faults_reset();
      tu_fault_add(ops[k], nth, ops[k] == SAFEFS__OP_ALLOC ? 1 : tu_err_io(), 1);
      rc = safefs_remove(f, 0);
      assert_int_equal(tu_live_blocks(), 0);
      assert_int_equal(tu_open_handles(), handles);
      tu_faults_off();
      if (rc == 0) {
        assert_false(tu_exists(f));
      } else {
        assert_int_equal(rc, ops[k] == SAFEFS__OP_ALLOC ? SAFEFS_ENOMEM : SAFEFS_EIO);
        check_fault_message(ops[k], nth, rc);
        assert_file(f, "content"); /* a failure leaves it as it was */
      }
      assert_int_equal(tu_count_own_names(dir), 0);
      if (tu_calls(ops[k]) < nth)
        break;
    }
  }
  assert_int_equal(tu_count_entries(dir), tu_exists(f) ? 1 : 0);
}

/* A real permission error is reported at once, not retried for the whole
 * budget (on Windows ERROR_ACCESS_DENIED is also what a file being
 * deleted by someone else says, and that one is waited for). */
static void permission_error_fails_fast(void **state) {
  const char *dir = (const char *)*state;
  const char *f = tu_path(dir, "f");
  const char *root = tu_path(dir, "tree");
  long long t0;
  tu_write_raw(f, "content", 7);
  tu_make_tree(root, 1, 1, 1);

  tu_faults_reset();
  tu_fault_add(SAFEFS__OP_UNLINK, 1, tu_err_access(), 1000000);
  t0 = tu_now_ms();
  assert_int_equal(safefs_remove(f, 5000), SAFEFS_EACCES);
  assert_true(tu_now_ms() - t0 < 2000);
  assert_int_equal(safefs_last_os_error(), tu_err_access());

  tu_faults_reset();
  tu_fault_add(SAFEFS__OP_RENAME, 1, tu_err_access(), 1000000);
  t0 = tu_now_ms();
  assert_int_equal(safefs_remove_tree(root, 5000), SAFEFS_EACCES);
  assert_true(tu_now_ms() - t0 < 2000);
  tu_faults_off();

  assert_file(f, "content"); /* both as they were */
  assert_int_equal(tu_count_files(root), 2);
  assert_int_equal(tu_count_own_names(dir), 0);
}

/* ---- two removers and a reader, in three processes ----------------------------------- */

#define RACE_ROUNDS 12
#define RACE_LEVELS 2
#define RACE_FANOUT 3
#define RACE_FILES 5

static char *round_path(const char *dir, const char *what, int r) {
  char name[64];
  int n = snprintf(name, sizeof name, "%s-%d", what, r);
  assert_true(n > 0 && (size_t)n < sizeof name);
  return tu_join(dir, name);
}

/* The file in which `who` reports its result of round r. */
static char *result_path(const char *dir, const char *who, int r) {
  char what[32];
  snprintf(what, sizeof what, "res-%s", who);
  return round_path(dir, what, r);
}

/* Wait for the parent's go file of round r (at most 60 s). */
static int wait_go(const char *dir, int r) {
  char *go = round_path(dir, "go", r);
  int ok = tu_wait_signal(go, 60000);
  free(go);
  return ok;
}

static void put_result(const char *dir, const char *who, int r, long value) {
  char text[32];
  char *p = result_path(dir, who, r);
  snprintf(text, sizeof text, "%ld", value);
  if (safefs_write_file(p, text, strlen(text), SAFEFS_NOSYNC) != 0)
    exit(3);
  free(p);
}

static long get_result(const char *dir, const char *who, int r) {
  char *p = result_path(dir, who, r), *text;
  long long t0 = tu_now_ms();
  long v;
  while ((text = tu_read_raw(p, NULL)) == NULL) {
    if (tu_now_ms() - t0 > 60000)
      fail_msg("no result from %s in round %d", who, r);
    tu_sleep_ms(1);
  }
  v = strtol(text, NULL, 10);
  free(text);
  free(p);
  return v;
}

/* Child: remove tree-r in each round; the status is the result. */
static int child_remover(const char *dir, int rounds, const char *who) {
  int r;
  for (r = 0; r < rounds; r++) {
    char *tree = round_path(dir, "tree", r);
    if (!wait_go(dir, r))
      return 2;
    /* let the reader walk the whole tree a few times first, and vary the
       moment of the rename against its walks from round to round */
    tu_sleep_ms(10 + (r * 7 + (who[0] == 'a' ? 0 : 3)) % 20);
    put_result(dir, who, r, safefs_remove_tree(tree, -1));
    free(tree);
  }
  return 0;
}

/* Child: walk tree-r by path until it is gone. A walk that finished while
 * the tree still had its name must have seen every file. The result is the
 * number of partial views (0 expected) times 100000 plus complete views. */
static int child_reader(const char *dir, int rounds, long expected) {
  int r;
  for (r = 0; r < rounds; r++) {
    char *tree = round_path(dir, "tree", r);
    long complete = 0, partial = 0, bad = 0;
    if (!wait_go(dir, r))
      return 2;
    for (;;) {
      long n;
      /* a pause between walks: on Windows a directory being listed cannot
         be renamed (FindFirstFileW does not share it for deletion under
         Wine), so a reader that never stops would keep the removers out */
      tu_sleep_ms(5);
      n = tu_count_files(tree);
      if (!tu_exists(tree))
        break;
      if (n == -2)
        continue;
      if (n == expected) {
        complete++;
      } else {
        partial++;
        bad = n;
      }
    }
    put_result(dir, "reader", r, partial * 100000 + complete);
    if (partial)
      fprintf(stderr, "reader: round %d: saw %ld files of %ld (-1: vanished mid-walk)\n", r,
              bad, expected);
    free(tree);
  }
  return 0;
}

static void concurrent_removers_and_reader(void **state) {
  const char *dir = (const char *)*state;
  char rounds[16], expected[32];
  tu_proc *rm1, *rm2, *rd;
  long files = 0, seen = 0;
  int r;

  /* a throwaway tree to learn its file count */
  {
    char *probe = tu_join(dir, "probe");
    files = tu_make_tree(probe, RACE_LEVELS, RACE_FANOUT, RACE_FILES);
    assert_int_equal(safefs_remove_tree(probe, -1), 0);
    free(probe);
  }
  snprintf(rounds, sizeof rounds, "%d", RACE_ROUNDS);
  snprintf(expected, sizeof expected, "%ld", files);
  rm1 = tu_proc_start("remover", dir, rounds, "a", (char *)NULL);
  rm2 = tu_proc_start("remover", dir, rounds, "b", (char *)NULL);
  rd = tu_proc_start("reader", dir, rounds, expected, (char *)NULL);
  for (r = 0; r < RACE_ROUNDS; r++) {
    char *tree = round_path(dir, "tree", r);
    char *go = round_path(dir, "go", r);
    long a, b, reader;
    assert_int_equal(tu_make_tree(tree, RACE_LEVELS, RACE_FANOUT, RACE_FILES), files);
    tu_signal(go);
    a = get_result(dir, "a", r);
    b = get_result(dir, "b", r);
    reader = get_result(dir, "reader", r);
    if (!((a == 0 && b == SAFEFS_ENOENT) || (a == SAFEFS_ENOENT && b == 0)))
      fail_msg("round %d: removers returned %ld and %ld", r, a, b);
    if (reader / 100000 != 0)
      fail_msg("round %d: reader saw %ld partial trees", r, reader / 100000);
    seen += reader % 100000;
    assert_false(tu_exists(tree));
    free(tree);
    free(go);
  }
  assert_int_equal(tu_proc_wait(rm1, 60000), 0);
  assert_int_equal(tu_proc_wait(rm2, 60000), 0);
  assert_int_equal(tu_proc_wait(rd, 60000), 0);
  assert_true(seen > 0); /* the reader did look while the trees were there */
  print_message("[ race ] %d rounds: one winner and one ENOENT each; reader saw %ld "
                "complete trees and no partial one\n",
                RACE_ROUNDS, seen);
  assert_int_equal(tu_count_own_names(dir), 0);
}

/* ---- main ---------------------------------------------------------------------------- */

static int run_helper(const char *mode, int argc, char **argv) {
  if (strcmp(mode, "remover") == 0 && argc == 3)
    return child_remover(argv[0], atoi(argv[1]), argv[2]);
  if (strcmp(mode, "reader") == 0 && argc == 3)
    return child_reader(argv[0], atoi(argv[1]), strtol(argv[2], NULL, 10));
  return 2;
}

/* A backup whose target is missing is the old content a crash in the
 * middle of a replace left (Windows: ReplaceFileW is two renames); the
 * sweep puts it back instead of deleting the only copy, and keeps it when
 * that rename fails. A backup beside a target is deleted and the target
 * kept. */
static void sweep_restores_orphaned_backup(void **state) {
  const char *dir = (const char *)*state;
  const char *target = tu_path(dir, "data.json");
  const char *orphan = tu_path(dir, ".data.json.safefs-0123456789abcdef.old");
  const char *stale = tu_path(dir, ".data.json.safefs-fedcba9876543210.old");
  tu_write_raw(orphan, "old content", 11);
  assert_int_equal(safefs_sweep(dir, 0), 0);
  assert_true(tu_file_is(target, "old content"));
  assert_int_equal(tu_count_entries(dir), 1);
  tu_write_raw(stale, "older", 5);
  assert_int_equal(safefs_sweep(dir, 0), 0);
  assert_true(tu_file_is(target, "old content"));
  assert_int_equal(tu_count_entries(dir), 1);
  /* two orphans: no way to tell the newer, both stay, EEXIST */
  assert_int_equal(tu_remove(target), 0);
  tu_write_raw(orphan, "one", 3);
  tu_write_raw(stale, "two", 3);
  assert_int_equal(safefs_sweep(dir, 0), SAFEFS_EEXIST);
  assert_false(tu_exists(target));
  assert_true(tu_file_is(orphan, "one"));
  assert_true(tu_file_is(stale, "two"));
  /* one orphan whose rename back fails: it is kept (it may be the only
     copy), the failure reported; the next sweep puts it back. Before, the
     failed rename fell through to the delete. */
  assert_int_equal(tu_remove(stale), 0);
  tu_faults_reset();
  tu_fault_add(SAFEFS__OP_RENAME, 1, tu_err_io(), 1);
  assert_int_equal(safefs_sweep(dir, 0), SAFEFS_EIO);
  tu_faults_off();
  assert_true(tu_file_is(orphan, "one"));
  assert_false(tu_exists(target));
  assert_int_equal(safefs_sweep(dir, 0), 0);
  assert_true(tu_file_is(target, "one"));
  assert_int_equal(tu_count_entries(dir), 1);
}

static const struct CMUnitTest tests[] = {
    TU_TEST(remove_file_and_statuses),
    TU_TEST(sweep_restores_orphaned_backup),
    TU_TEST(remove_tree_whole),
    TU_TEST(unicode_names),
    TU_TEST(links_are_never_followed),
    TU_TEST(kind_changes_under_the_remover),
    TU_TEST(read_only_entries),
    TU_TEST(deep_tree),
    TU_TEST(wide_tree),
    TU_TEST(sweep_rules),
    TU_TEST(sweep_statuses),
    TU_TEST(sweep_tries_every_entry),
    TU_TEST(faults_in_remove_tree),
    TU_TEST(faults_in_remove),
    TU_TEST(permission_error_fails_fast),
    TU_TEST(concurrent_removers_and_reader),
};
TU_SUITE("remove", tests, run_helper);
