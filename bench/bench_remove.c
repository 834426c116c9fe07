/*
 * bench_remove: what the retrying deleter costs against the plain calls.
 *
 *   bench_remove [DIR] [ROUNDS]
 *   bench_remove --calls VARIANT DIR N   (N creations + removals of one
 *                                         variant only, for strace -c)
 *
 * Two parts, each interleaving its variants round by round (bench_util.h):
 * 1. One empty file, microseconds per removal (each sample is the mean of
 *    BATCH files, created beforehand, untimed):
 *      unlink          unlink(path)
 *      safefs-remove   safefs_remove(path, -1)
 * 2. A tree of TREE_DIRS directories of TREE_FILES empty files each
 *    (10,000 files by default), built beforehand, untimed; milliseconds per
 *    tree:
 *      rm-rf           fork + exec of /bin/rm -rf, waited for
 *      nftw            nftw(FTW_DEPTH | FTW_PHYS) calling remove() on each
 *                      path: hand-written, path-based (follows no link but
 *                      is open to a directory swapped for a link mid-walk,
 *                      which safefs's descriptor-based walk is not)
 *      safefs-tree     safefs_remove_tree(path, -1): rename aside, fsync
 *                      the parent, then the walk
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "safefs.h"

#define BATCH 20
#define TREE_DIRS 100
#define TREE_FILES 100

enum { V_UNLINK, V_SAFEFS, V_RM_RF, V_NFTW, V_SAFEFS_TREE, N_VARIANTS };
static const char *const all_names[N_VARIANTS] = {"unlink", "safefs-remove", "rm-rf", "nftw",
                                                  "safefs-tree"};

static const char *g_dir;

static void create_empty(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || close(fd) != 0)
    bench_die(path);
}

/* ---- 1. one file -------------------------------------------------------- */

static void file_path(char *out, size_t size, int i) {
  snprintf(out, size, "%.4000s/bench-remove-%d.dat", g_dir, i);
}

static void remove_file(int v, const char *path) {
  if (v == V_UNLINK) {
    if (unlink(path) != 0)
      bench_die("unlink");
  } else {
    bench_check(safefs_remove(path, -1), "safefs_remove");
  }
}

static double file_sample(void *ctx, int i, int r) {
  char path[4096];
  double t0;
  int k;
  (void)ctx;
  (void)r;
  for (k = 0; k < BATCH; k++) {
    file_path(path, sizeof path, k);
    create_empty(path);
  }
  t0 = bench_now_us();
  for (k = 0; k < BATCH; k++) {
    file_path(path, sizeof path, k);
    remove_file(i == 0 ? V_UNLINK : V_SAFEFS, path);
  }
  return (bench_now_us() - t0) / BATCH;
}

/* ---- 2. a tree ---------------------------------------------------------- */

static void tree_path(char *out, size_t size) {
  snprintf(out, size, "%.4000s/bench-remove-tree", g_dir);
}

static void build_tree(const char *root) {
  char path[4200];
  int d, f;
  if (mkdir(root, 0755) != 0)
    bench_die(root);
  for (d = 0; d < TREE_DIRS; d++) {
    snprintf(path, sizeof path, "%s/d%03d", root, d);
    if (mkdir(path, 0755) != 0)
      bench_die(path);
    for (f = 0; f < TREE_FILES; f++) {
      snprintf(path, sizeof path, "%s/d%03d/f%03d", root, d, f);
      create_empty(path);
    }
  }
}

static int nftw_remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st;
  (void)type;
  (void)ftw;
  if (remove(path) != 0)
    bench_die(path);
  return 0;
}

static void remove_tree(int v, const char *root) {
  pid_t pid;
  int status;
  switch (v) {
  case V_RM_RF:
    fflush(stdout);
    if ((pid = fork()) < 0)
      bench_die("fork");
    if (pid == 0) {
      execl("/bin/rm", "rm", "-rf", root, (char *)NULL);
      _exit(127);
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "/bin/rm -rf failed\n");
      exit(1);
    }
    break;
  case V_NFTW:
    if (nftw(root, nftw_remove_one, 64, FTW_DEPTH | FTW_PHYS) != 0)
      bench_die("nftw");
    break;
  default:
    bench_check(safefs_remove_tree(root, -1), "safefs_remove_tree");
  }
}

static double tree_sample(void *ctx, int i, int r) {
  char root[4096];
  double t0;
  (void)ctx;
  (void)r;
  tree_path(root, sizeof root);
  build_tree(root);
  t0 = bench_now_us();
  remove_tree(V_RM_RF + i, root);
  return (bench_now_us() - t0) / 1000.0;
}

/* ---- main --------------------------------------------------------------- */

static int calls_mode(const char *name, int n) {
  char path[4096];
  int v, i;
  for (v = 0; v < N_VARIANTS && strcmp(name, all_names[v]) != 0; v++)
    ;
  if (v == N_VARIANTS) {
    fprintf(stderr, "variants: unlink safefs-remove rm-rf nftw safefs-tree\n");
    return 2;
  }
  for (i = 0; i < n; i++) {
    if (v <= V_SAFEFS) {
      file_path(path, sizeof path, 0);
      create_empty(path);
      remove_file(v, path);
    } else {
      tree_path(path, sizeof path);
      build_tree(path);
      remove_tree(v, path);
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  bench_table files, trees;
  int rounds;

  if (argc == 5 && strcmp(argv[1], "--calls") == 0) {
    g_dir = argv[3];
    return calls_mode(argv[2], atoi(argv[4]));
  }
  g_dir = argc > 1 ? argv[1] : ".";
  rounds = argc > 2 ? atoi(argv[2]) : 10;
  if (rounds < 1)
    rounds = 10;
  printf("safefs %s bench_remove: dir %s\n", safefs_version_string(), g_dir);

  bench_table_init(&files, all_names + V_UNLINK, 2, rounds * 50);
  bench_interleave(&files, file_sample, NULL);
  bench_table_print(&files, "remove one empty file", "microseconds per removal", 0);
  bench_target("time of safefs-remove vs unlink", bench_median(&files, 1) / bench_median(&files, 0),
               0, 1.2);
  bench_table_free(&files);

  bench_table_init(&trees, all_names + V_RM_RF, 3, rounds);
  bench_interleave(&trees, tree_sample, NULL);
  printf("\n(%d directories of %d empty files)", TREE_DIRS, TREE_FILES);
  bench_table_print(&trees, "remove a tree", "milliseconds per tree", 1);
  bench_table_free(&trees);
  return 0;
}
