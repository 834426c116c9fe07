/*
 * The retrying deleter: safefs_remove, safefs_remove_tree, safefs_sweep.
 *
 * Every documented status; links never followed; read-only files and
 * directories; deep and wide trees; files held open by another thread
 * (Windows); two processes removing one tree while a third reads it; the
 * sweep's name and age rules; and fault injection at every OS call, after
 * which nothing outside the tree is lost and the tree is either whole
 * under its name or gone from it (with a trash copy that a sweep removes).
 *
 * The multi-process tests run helper processes of this binary
 * (testutil_proc.h).
 */
#include "testutil.h"
#include "testutil_proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

static int setup(void **state) {
  *state = tu_dir_new();
  return 0;
}

static int teardown(void **state) {
  tu_faults_off();
  safefs_set_retry_budget_ms(-1);
  tu_dir_free((char *)*state);
  return 0;
}

/* ---- platform helpers ---------------------------------------------------- */

#ifdef _WIN32
/* \\?\ + absolute path with backslashes, for paths longer than MAX_PATH. */
static wchar_t *wide_long(const char *path) {
  int n = MultiByteToWideChar(CP_UTF8, 0, path, -1, NULL, 0);
  wchar_t *w = (wchar_t *)malloc(sizeof(wchar_t) * ((size_t)n + 4)), *p;
  assert_non_null(w);
  wcscpy(w, L"\\\\?\\");
  MultiByteToWideChar(CP_UTF8, 0, path, -1, w + 4, n);
  for (p = w + 4; *p; p++)
    if (*p == L'/')
      *p = L'\\';
  return w;
}
#endif

static void make_dir(const char *path) {
#ifdef _WIN32
  wchar_t *w = wide_long(path);
  assert_true(CreateDirectoryW(w, NULL));
  free(w);
#else
  assert_int_equal(mkdir(path, 0755), 0);
#endif
}

/* 0 if the link was made; -1 if this system will not let us (Windows
 * without the privilege or developer mode; Wine 8, whose
 * CreateSymbolicLinkW returns TRUE and creates nothing). */
static int make_symlink(const char *target, const char *link, int is_dir) {
#ifdef _WIN32
  wchar_t *t = wide_long(target), *l = wide_long(link);
  DWORD flags = (is_dir ? SYMBOLIC_LINK_FLAG_DIRECTORY : 0) | 0x2 /* ALLOW_UNPRIVILEGED_CREATE */;
  BOOLEAN ok = CreateSymbolicLinkW(l, t, flags);
  DWORD attrs = GetFileAttributesW(l);
  free(t);
  free(l);
  return ok && attrs != INVALID_FILE_ATTRIBUTES && (attrs & FILE_ATTRIBUTE_REPARSE_POINT) ? 0 : -1;
#else
  (void)is_dir;
  return symlink(target, link) == 0 ? 0 : -1;
#endif
}

static void set_read_only(const char *path) {
#ifdef _WIN32
  wchar_t *w = wide_long(path);
  assert_true(SetFileAttributesW(w, FILE_ATTRIBUTE_READONLY));
  free(w);
#else
  assert_int_equal(chmod(path, 0444), 0);
#endif
}

/* The file holds exactly `content`. */
static void assert_file(const char *path, const char *content) {
  assert_true(tu_file_is(path, content));
}

/* Count files below `dir` by path, as an unrelated program would: -1 if
 * the directory, or any part of it, vanished during the walk; -2 (Windows)
 * if a directory could not be opened for a moment (a sharing violation
 * while a remover has it open for the rename): no view at all. */
static long count_files(const char *dir) {
  long n = 0;
#ifdef _WIN32
  WIN32_FIND_DATAW fd;
  char *pat = tu_join(dir, "*");
  wchar_t *w = wide_long(pat);
  HANDLE h = FindFirstFileW(w, &fd);
  free(pat);
  free(w);
  if (h == INVALID_HANDLE_VALUE) /* gone, or opened by someone for a moment */
    return GetLastError() == ERROR_FILE_NOT_FOUND || GetLastError() == ERROR_PATH_NOT_FOUND ? -1
                                                                                          : -2;
  do {
    char name[MAX_PATH * 3];
    if (wcscmp(fd.cFileName, L".") == 0 || wcscmp(fd.cFileName, L"..") == 0)
      continue;
    if ((fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) &&
        !(fd.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT)) {
      char *sub;
      long m;
      WideCharToMultiByte(CP_UTF8, 0, fd.cFileName, -1, name, (int)sizeof name, NULL, NULL);
      sub = tu_join(dir, name);
      m = count_files(sub);
      free(sub);
      if (m < 0) {
        n = m;
        break;
      }
      n += m;
    } else {
      n++;
    }
  } while (FindNextFileW(h, &fd));
  FindClose(h);
#else
  DIR *d = opendir(dir);
  struct dirent *e;
  if (d == NULL)
    return -1;
  while ((e = readdir(d)) != NULL) {
    struct stat st;
    char *sub;
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    sub = tu_join(dir, e->d_name);
    if (lstat(sub, &st) != 0) {
      free(sub);
      n = -1;
      break;
    }
    if (S_ISDIR(st.st_mode)) {
      long m = count_files(sub);
      if (m < 0) {
        free(sub);
        n = -1;
        break;
      }
      n += m;
    } else {
      n++;
    }
    free(sub);
  }
  closedir(d);
#endif
  return n;
}

/* A tree `levels` deep below root, `fanout` subdirectories and `files`
 * files in each directory. Returns the number of files. */
static long make_tree(const char *root, int levels, int fanout, int files) {
  long n = 0;
  int i;
  make_dir(root);
  for (i = 0; i < files; i++) {
    char name[32];
    char *p;
    snprintf(name, sizeof name, "f%d.txt", i);
    p = tu_join(root, name);
    tu_write_raw(p, name, strlen(name));
    free(p);
    n++;
  }
  if (levels > 0)
    for (i = 0; i < fanout; i++) {
      char name[32];
      char *p;
      snprintf(name, sizeof name, "d%d", i);
      p = tu_join(root, name);
      n += make_tree(p, levels - 1, fanout, files);
      free(p);
    }
  return n;
}

/* ---- files held open by another thread (Windows sharing) ------------------- */

#ifdef _WIN32
struct holder {
  wchar_t *path;
  DWORD share;
  DWORD hold_ms;
  HANDLE opened; /* event: the file is open */
  HANDLE thread;
};

static DWORD WINAPI hold_thread(LPVOID arg) {
  struct holder *h = (struct holder *)arg;
  HANDLE f = CreateFileW(h->path, GENERIC_READ, h->share, NULL, OPEN_EXISTING,
                         FILE_ATTRIBUTE_NORMAL, NULL);
  SetEvent(h->opened);
  if (f == INVALID_HANDLE_VALUE)
    return 1;
  Sleep(h->hold_ms);
  CloseHandle(f);
  return 0;
}

/* Open `path` in another thread with the given share mode for hold_ms. */
static struct holder *hold_file(const char *path, DWORD share, DWORD hold_ms) {
  struct holder *h = (struct holder *)calloc(1, sizeof *h);
  assert_non_null(h);
  h->path = wide_long(path);
  h->share = share;
  h->hold_ms = hold_ms;
  h->opened = CreateEventW(NULL, TRUE, FALSE, NULL);
  h->thread = CreateThread(NULL, 0, hold_thread, h, 0, NULL);
  assert_non_null(h->thread);
  WaitForSingleObject(h->opened, INFINITE);
  return h;
}

static void release_holder(struct holder *h) {
  DWORD code = 1;
  WaitForSingleObject(h->thread, INFINITE);
  GetExitCodeThread(h->thread, &code);
  assert_int_equal(code, 0); /* the file really was held */
  CloseHandle(h->thread);
  CloseHandle(h->opened);
  free(h->path);
  free(h);
}
#endif

/* ---- statuses ---------------------------------------------------------------- */

static void remove_file_and_statuses(void **state) {
  const char *dir = (const char *)*state;
  char *f = tu_join(dir, "file.txt");
  char *sub = tu_join(dir, "sub");
  char *missing = tu_join(dir, "missing");
  char *under_missing = tu_join(dir, "nope/child");
  char *under_file = tu_join(f, "child");
  char *slash = tu_join(dir, "");

  tu_write_raw(f, "data", 4);
  make_dir(sub);

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

  free(f);
  free(sub);
  free(missing);
  free(under_missing);
  free(under_file);
  free(slash);
}

static void remove_tree_whole(void **state) {
  const char *dir = (const char *)*state;
  char *root = tu_join(dir, "tree");
  char *sibling = tu_join(dir, "sibling.txt");
  char *sibling_dir = tu_join(dir, "tree2");
  long n;

  n = make_tree(root, 3, 3, 4);
  assert_int_equal(count_files(root), n);
  tu_write_raw(sibling, "keep", 4);
  make_tree(sibling_dir, 1, 1, 1);
  assert_int_equal(safefs_remove_tree(root, -1), 0);
  assert_false(tu_exists(root));
  assert_file(sibling, "keep");
  assert_int_equal(count_files(sibling_dir), 2);
  assert_int_equal(tu_count_entries(dir), 2);
  assert_int_equal(tu_count_own_names(dir), 0);

  /* an empty directory, and the name is reusable at once */
  make_dir(root);
  assert_int_equal(safefs_remove_tree(root, 0), 0);
  make_dir(root);
  assert_true(tu_exists(root));
  free(root);
  free(sibling);
  free(sibling_dir);
}

/* Non-ASCII names all the way: the tree, its entries, a trash name made
 * from a non-ASCII base, and a sweep that must recognise it. */
static void unicode_names(void **state) {
  const char *dir = (const char *)*state;
  char *root = tu_join(dir, "Gr\xc3\xbc\xc3\x9f" "e-\xe6\x97\xa5\xe6\x9c\xac");
  char *sub = tu_join(root, "\xc3\xbc");
  char *f1 = tu_join(root, "\xd1\x84\xd0\xb0\xd0\xb9\xd0\xbb.txt");
  char *f2 = tu_join(sub, "\xf0\x9f\x98\x80.txt"); /* outside the BMP */
  char *lone = tu_join(dir, "\xc3\xa9t\xc3\xa9.txt");
  char *trash = tu_join(dir, ".\xc3\xa9t\xc3\xa9.safefs-0123456789abcdef.trash");
  make_dir(root);
  make_dir(sub);
  tu_write_raw(f1, "1", 1);
  tu_write_raw(f2, "2", 1);
  tu_write_raw(lone, "x", 1);
  make_tree(trash, 1, 2, 1);
  assert_int_equal(count_files(root), 2);
  assert_int_equal(safefs_remove_tree(root, -1), 0);
  assert_false(tu_exists(root));
  assert_int_equal(safefs_remove(lone, -1), 0);
  assert_false(tu_exists(lone));
  assert_int_equal(tu_count_own_names(dir), 1);
  assert_int_equal(safefs_sweep(dir, 0), 0);
  assert_int_equal(tu_count_entries(dir), 0);
  free(root);
  free(sub);
  free(f1);
  free(f2);
  free(lone);
  free(trash);
}

/* ---- links --------------------------------------------------------------------- */

static void links_are_never_followed(void **state) {
  const char *dir = (const char *)*state;
  char *outside = tu_join(dir, "outside");
  char *outside_file = tu_join(outside, "precious.txt");
  char *lone = tu_join(dir, "lone.txt");
  char *root = tu_join(dir, "tree");
  char *inner = tu_join(root, "sub");
  char *link_dir = tu_join(inner, "to-outside");
  char *link_file = tu_join(root, "to-file");
  char *link_root = tu_join(dir, "root-link");
  char *link_lone = tu_join(dir, "lone-link");

  make_dir(outside);
  tu_write_raw(outside_file, "precious", 8);
  tu_write_raw(lone, "lone", 4);
  make_tree(root, 1, 1, 2);
  make_dir(inner);
  if (make_symlink(outside, link_dir, 1) != 0) {
    print_message("symbolic links cannot be created here: skipped\n");
    skip();
  }
  assert_int_equal(make_symlink(outside_file, link_file, 0), 0);

  /* links inside a tree are removed themselves */
  assert_int_equal(safefs_remove_tree(root, -1), 0);
  assert_false(tu_exists(root));
  assert_file(outside_file, "precious");
  assert_int_equal(tu_count_entries(outside), 1);

  /* a link as the root of remove_tree: the link goes, its target stays */
  assert_int_equal(make_symlink(outside, link_root, 1), 0);
  assert_int_equal(safefs_remove_tree(link_root, -1), 0);
  assert_false(tu_exists(link_root));
  assert_file(outside_file, "precious");

  /* safefs_remove on links: to a file, to a directory, dangling */
  assert_int_equal(make_symlink(lone, link_lone, 0), 0);
  assert_int_equal(safefs_remove(link_lone, -1), 0);
  assert_false(tu_exists(link_lone));
  assert_file(lone, "lone");
  assert_int_equal(make_symlink(outside, link_root, 1), 0);
  assert_int_equal(safefs_remove(link_root, -1), 0);
  assert_false(tu_exists(link_root));
  assert_file(outside_file, "precious");
  assert_int_equal(make_symlink(link_file /* gone */, link_lone, 0), 0);
  assert_int_equal(safefs_remove(link_lone, -1), 0);
  assert_false(tu_exists(link_lone));

  assert_int_equal(tu_count_entries(dir), 2);
  assert_int_equal(tu_count_own_names(dir), 0);
  free(outside);
  free(outside_file);
  free(lone);
  free(root);
  free(inner);
  free(link_dir);
  free(link_file);
  free(link_root);
  free(link_lone);
}

#ifndef _WIN32
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
  char *outside = tu_join(dir, "outside");
  char *outside_file = tu_join(outside, "precious.txt");
  char *root = tu_join(dir, "tree");
  char *victim = tu_join(root, "victim");
  char *victim_file = tu_join(victim, "f");

  make_dir(outside);
  tu_write_raw(outside_file, "precious", 8);
  make_dir(root);
  make_dir(victim);
  tu_write_raw(victim_file, "v", 1);
  swap.target = outside;
  swap.done = 0;
  safefs__seam_set(swap_hook, NULL);
  assert_int_equal(safefs_remove_tree(root, -1), 0);
  safefs__seam_set(NULL, NULL);
  assert_true(swap.done);
  assert_file(outside_file, "precious");
  assert_int_equal(tu_count_entries(outside), 1);
  assert_false(tu_exists(root));
  assert_int_equal(tu_count_entries(dir), 1);
  free(outside);
  free(outside_file);
  free(root);
  free(victim);
  free(victim_file);
}
#endif

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
  char *root = tu_join(dir, "tree");
  char *real = tu_join(dir, "tree-real");
  char *sub = tu_join(root, "sub");

  /* between the look and the rename: the file is put back, ENOTDIR */
  make_tree(root, 1, 2, 2);
  kind_swap.dir = dir;
  kind_swap.op = SAFEFS__OP_RENAME;
  kind_swap.name = "tree";
  kind_swap.done = 0;
  safefs__seam_set(kind_swap_hook, NULL);
  assert_int_equal(safefs_remove_tree(root, -1), SAFEFS_ENOTDIR);
  safefs__seam_set(NULL, NULL);
  assert_true(kind_swap.done);
  assert_file(root, "file");
  assert_int_equal(count_files(real), 6);
  assert_int_equal(tu_count_own_names(dir), 0);
  assert_int_equal(safefs_remove(root, -1), 0);
  assert_int_equal(safefs_remove_tree(real, -1), 0);

#ifndef _WIN32
  /* deep inside: a failure, but the half-deleted copy is never put back */
  make_tree(root, 0, 0, 1);
  make_dir(sub);
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
  free(root);
  free(real);
  free(sub);
}

/* ---- read-only ---------------------------------------------------------------- */

/* Build tree/ro-file, tree/rosub/{a,b} with read-only files and (POSIX) a
 * read-only subdirectory, and remove it. Returns remove_tree's status. */
static int remove_read_only_tree(const char *dir) {
  char *root = tu_join(dir, "tree");
  char *f = tu_join(root, "ro-file");
  char *sub = tu_join(root, "rosub");
  char *a = tu_join(sub, "a");
  char *b = tu_join(sub, "b");
  int rc;
  make_dir(root);
  make_dir(sub);
  tu_write_raw(f, "f", 1);
  tu_write_raw(a, "a", 1);
  tu_write_raw(b, "b", 1);
  set_read_only(f);
  set_read_only(a);
  set_read_only(b);
#ifdef _WIN32
  {
    wchar_t *w = wide_long(sub);
    assert_true(SetFileAttributesW(w, FILE_ATTRIBUTE_READONLY));
    free(w);
  }
#else
  assert_int_equal(chmod(sub, 0555), 0);
  assert_int_equal(chmod(root, 0555), 0);
#endif
  rc = safefs_remove_tree(root, -1);
  if (rc == 0 && tu_exists(root))
    rc = -100;
  free(root);
  free(f);
  free(sub);
  free(a);
  free(b);
  return rc;
}

static void read_only_entries(void **state) {
  const char *dir = (const char *)*state;
  char *lone = tu_join(dir, "lone");
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
  set_read_only(lone);
  tu_faults_reset();
  assert_int_equal(safefs_remove(lone, -1), 0);
#ifdef _WIN32
  /* where the delete refuses a read-only file, the remedy cleared it */
  print_message("  read-only file: %d delete dispositions, %d attribute changes\n",
                tu_calls(SAFEFS__OP_UNLINK), tu_calls(SAFEFS__OP_SET_MODE));
#endif
  tu_faults_off();
  assert_int_equal(tu_count_entries(dir), 0);
  free(lone);
}

#ifndef _WIN32
/* As an unprivileged user the u+wx really is needed (root ignores modes). */
static void read_only_dirs_as_unprivileged_user(void **state) {
  const char *dir = (const char *)*state;
  char *home = tu_join(dir, "home");
  if (geteuid() != 0) {
    assert_int_equal(remove_read_only_tree(dir), 0);
    free(home);
    return;
  }
  make_dir(home);
  assert_int_equal(chown(home, 65534, 65534), 0);
  assert_int_equal(chmod(dir, 0711), 0);
  assert_int_equal(tu_proc_wait(tu_proc_start("ro-tree-as-nobody", home, (char *)NULL), 60000), 0);
  assert_int_equal(tu_count_entries(home), 0);
  chmod(dir, 0700);
  free(home);
}

/* Child: become nobody and remove a read-only tree built as nobody. */
static int child_ro_tree(const char *home) {
  int rc;
  if (setgid(65534) != 0 || setuid(65534) != 0)
    return 90;
  rc = remove_read_only_tree(home);
  return rc == 0 ? 0 : rc == -100 ? 91 : 100 - rc;
}
#endif

/* ---- big trees ---------------------------------------------------------------- */

/* Wine maps every handle-relative open back to a full Unix path, so each
 * step costs time in proportion to the depth (a 1000-level tree takes over
 * a minute to create and remove there, against well under a second on
 * Linux); Windows itself does not. Under Wine the big trees are smaller. */
static void deep_tree(void **state) {
  const char *dir = (const char *)*state;
  const int levels = tu_under_wine() ? 300 : 1000;
  char *root = tu_join(dir, "deep");
  char *path = (char *)malloc(strlen(root) + 3 * (size_t)levels + 16);
  long long t0;
  int i;
  assert_non_null(path);
  strcpy(path, root);
  make_dir(path);
  for (i = 0; i < levels; i++) {
    strcat(path, "/d");
    make_dir(path);
  }
  strcat(path, "/leaf");
#ifdef _WIN32
  {
    wchar_t *w = wide_long(path);
    HANDLE h = CreateFileW(w, GENERIC_WRITE, 0, NULL, CREATE_NEW, FILE_ATTRIBUTE_NORMAL, NULL);
    assert_true(h != INVALID_HANDLE_VALUE);
    CloseHandle(h);
    free(w);
  }
#else
  tu_write_raw(path, "leaf", 4);
#endif

#ifndef _WIN32
  {
    /* in a child with only 64 descriptors allowed: the walk must not hold
       one per level */
    pid_t pid = fork();
    int st;
    assert_true(pid >= 0);
    if (pid == 0) {
      struct rlimit rl;
      rl.rlim_cur = 64;
      rl.rlim_max = 64;
      if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        _exit(90);
      t0 = tu_now_ms();
      i = safefs_remove_tree(root, -1);
      fprintf(stderr, "[ deep ] %d levels removed in %lld ms with 64 fds allowed\n",
              levels, tu_now_ms() - t0);
      _exit(i == 0 ? 0 : 100 - i);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
  }
#else
  t0 = tu_now_ms();
  assert_int_equal(safefs_remove_tree(root, -1), 0);
  print_message("[ deep ] %d levels removed in %lld ms\n", levels, tu_now_ms() - t0);
#endif
  assert_false(tu_exists(root));
  assert_int_equal(tu_count_entries(dir), 0);
  free(path);
  free(root);
}

static void wide_tree(void **state) {
  const char *dir = (const char *)*state;
  const int files = tu_under_wine() ? 2000 : 10000; /* Wine creates files slowly */
  char *root = tu_join(dir, "wide");
  long long t0;
  int i;
  make_dir(root);
  for (i = 0; i < files; i++) {
    char name[32];
    char *p;
    snprintf(name, sizeof name, "file-%05d", i);
    p = tu_join(root, name);
    tu_write_raw(p, "", 0);
    free(p);
  }
  t0 = tu_now_ms();
  assert_int_equal(safefs_remove_tree(root, -1), 0);
  print_message("[ wide ] %d files removed in %lld ms\n", files, tu_now_ms() - t0);
  assert_false(tu_exists(root));
  assert_int_equal(tu_count_entries(dir), 0);
  free(root);
}

/* ---- files held open ------------------------------------------------------------ */

#ifndef _WIN32
/* POSIX removes names of open files at once: no waiting at all. */
static void open_files_are_removed_at_once(void **state) {
  const char *dir = (const char *)*state;
  char *f = tu_join(dir, "open.txt");
  char *root = tu_join(dir, "tree");
  char *inner = tu_join(root, "f0.txt");
  int fd1, fd2;
  long long t0;
  tu_write_raw(f, "x", 1);
  make_tree(root, 1, 2, 2);
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
  free(f);
  free(root);
  free(inner);
}
#else
#define SHARE_RW (FILE_SHARE_READ | FILE_SHARE_WRITE)
#define SHARE_RWD (FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)

/* Held without FILE_SHARE_DELETE for 300 ms: safefs_remove waits. */
static void held_file_is_waited_for(void **state) {
  const char *dir = (const char *)*state;
  char *f = tu_join(dir, "held.txt");
  struct holder *h;
  long long t0, took;
  tu_write_raw(f, "x", 1);
  h = hold_file(f, SHARE_RW, 300);
  t0 = tu_now_ms();
  assert_int_equal(safefs_remove(f, 5000), 0);
  took = tu_now_ms() - t0;
  release_holder(h);
  print_message("[ held ] removed after %lld ms (holder kept it 300 ms)\n", took);
  assert_true(took >= 200);
  assert_true(took < 4000);
  assert_int_equal(tu_count_entries(dir), 0);
  free(f);
}

/* Held past the budget: EBUSY in about the budget. The file cannot even be
 * renamed aside (that needs the same DELETE access), so it is still there,
 * under its own name, with its content. */
static void held_past_budget_is_ebusy(void **state) {
  const char *dir = (const char *)*state;
  char *f = tu_join(dir, "held.txt");
  struct holder *h;
  long long t0, took;
  tu_write_raw(f, "content", 7);
  h = hold_file(f, SHARE_RW, 2500);
  t0 = tu_now_ms();
  assert_int_equal(safefs_remove(f, 400), SAFEFS_EBUSY);
  took = tu_now_ms() - t0;
  print_message("[ held ] EBUSY after %lld ms (budget 400)\n", took);
  assert_true(took >= 350);
  assert_true(took < 2000);
  assert_true(safefs_last_os_error() != 0);
  assert_file(f, "content");
  assert_int_equal(tu_count_entries(dir), 1);
  assert_int_equal(tu_count_own_names(dir), 0);
  release_holder(h);
  assert_int_equal(safefs_remove(f, -1), 0);
  assert_int_equal(tu_count_entries(dir), 0);
  free(f);
}

/* Held WITH FILE_SHARE_DELETE: removed at once, and the name is free at
 * once even though the holder still has the file open. */
static void held_with_share_delete(void **state) {
  const char *dir = (const char *)*state;
  char *f = tu_join(dir, "shared.txt");
  struct holder *h;
  int trash;
  tu_write_raw(f, "x", 1);
  h = hold_file(f, SHARE_RWD, 700);
  assert_int_equal(safefs_remove(f, 0), 0);
  assert_false(tu_exists(f));
  trash = tu_count_own_names(dir);
  print_message("[ held ] share-delete holder: %d trash name(s) visible while held\n", trash);
  assert_true(trash <= 1);
  tu_write_raw(f, "new", 3); /* the name can be reused at once */
  assert_file(f, "new");
  release_holder(h);
  assert_int_equal(tu_count_own_names(dir), 0);
  assert_int_equal(tu_count_entries(dir), 1);
  free(f);
}

/* A tree with a file held inside. Short hold: remove_tree waits and
 * succeeds. Hold past the budget: EBUSY; the sweep finishes after release. */
static void tree_with_held_file(void **state) {
  const char *dir = (const char *)*state;
  char *root = tu_join(dir, "tree");
  char *inner = tu_join(root, "d0/f1.txt");
  char *sibling = tu_join(dir, "sibling");
  struct holder *h;
  long long t0, took;
  int rc;

  tu_write_raw(sibling, "s", 1);
  make_tree(root, 2, 2, 2);
  h = hold_file(inner, SHARE_RW, 400);
  t0 = tu_now_ms();
  assert_int_equal(safefs_remove_tree(root, 5000), 0);
  took = tu_now_ms() - t0;
  release_holder(h);
  print_message("[ held ] tree removed after %lld ms (file inside held 400 ms)\n", took);
  assert_true(took >= 300);
  assert_false(tu_exists(root));
  assert_int_equal(tu_count_entries(dir), 1);

  make_tree(root, 2, 2, 2);
  h = hold_file(inner, SHARE_RW, 2000);
  t0 = tu_now_ms();
  rc = safefs_remove_tree(root, 300);
  took = tu_now_ms() - t0;
  assert_int_equal(rc, SAFEFS_EBUSY);
  assert_true(took < 1800);
  if (tu_exists(root)) {
    /* Windows proper refuses to rename a directory with open files below:
       then nothing was touched */
    print_message("[ held ] EBUSY in %lld ms: tree left whole under its name\n", took);
    assert_int_equal(count_files(root), 14);
    assert_int_equal(tu_count_own_names(dir), 0);
  } else {
    print_message("[ held ] EBUSY in %lld ms: name free, trash copy kept\n", took);
    assert_int_equal(tu_count_own_names(dir), 1);
  }
  safefs_set_retry_budget_ms(100); /* the sweep's budget: shorter than the hold */
  assert_int_equal(safefs_sweep(dir, 0), SAFEFS_EBUSY);
  assert_int_equal(tu_count_own_names(dir), 1);
  safefs_set_retry_budget_ms(-1);
  release_holder(h);
  if (tu_exists(root))
    assert_int_equal(safefs_remove_tree(root, -1), 0);
  assert_int_equal(safefs_sweep(dir, 0), 0);
  assert_int_equal(tu_count_entries(dir), 1);
  assert_file(sibling, "s");
  free(root);
  free(inner);
  free(sibling);
}

/* The retry loop itself, with transient errors injected. */
static void transient_errors_are_retried(void **state) {
  const char *dir = (const char *)*state;
  char *f = tu_join(dir, "f");
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
  free(f);
}
#endif

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
  char *trash_dir = tu_join(dir, ".tree.safefs-1111111111111111.trash");
  char *trash_inner = tu_join(trash_dir, "sub");
  char *outside = tu_join(dir, "outside");
  char *outside_file = tu_join(outside, "precious");
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
  make_dir(outside);
  tu_write_raw(outside_file, "precious", 8);
  make_tree(trash_dir, 2, 2, 2);
  make_dir(trash_inner);
  p = tu_join(trash_inner, "link");
  if (make_symlink(outside, p, 1) != 0)
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
  free(trash_dir);
  free(trash_inner);
  free(outside);
  free(outside_file);
}

static void sweep_statuses(void **state) {
  const char *dir = (const char *)*state;
  char *f = tu_join(dir, "file");
  char *missing = tu_join(dir, "missing");
  tu_write_raw(f, "x", 1);
  assert_int_equal(safefs_sweep(NULL, 0), SAFEFS_EINVAL);
  assert_int_equal(safefs_sweep("", 0), SAFEFS_EINVAL);
  assert_int_equal(safefs_sweep(dir, -1), SAFEFS_EINVAL);
  assert_int_equal(safefs_sweep(missing, 0), SAFEFS_ENOENT);
  assert_int_equal(safefs_sweep(f, 0), SAFEFS_ENOTDIR);
  assert_int_equal(safefs_sweep(dir, 0), 0); /* nothing of ours: nothing done */
  assert_file(f, "x");
  free(f);
  free(missing);
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
  char *sibling = tu_join(dir, "sibling");
  if (!tu_file_is(sibling, "keep"))
    fail_msg("%s #%d: sibling lost", safefs__op_name(op), nth);
  if (tu_exists(root)) {
    if (rc == 0)
      fail_msg("%s #%d: success but the tree is still there", safefs__op_name(op), nth);
    if (count_files(root) != files)
      fail_msg("%s #%d (%s): tree left partial: %ld of %ld files", safefs__op_name(op), nth,
               safefs_status_name(rc), count_files(root), files);
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
  free(sibling);
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
  char *root = tu_join(dir, "tree");
  char *sibling = tu_join(dir, "sibling");
  size_t k;
  int total = 0;

  tu_write_raw(sibling, "keep", 4);
  for (k = 0; k < sizeof ops / sizeof ops[0]; k++) {
    int nth;
    for (nth = 1;; nth++) {
      long files = make_tree(root, 2, 2, 2), handles = tu_open_handles();
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
  free(root);
  free(sibling);
}

static void faults_in_remove(void **state) {
  static const enum safefs__op ops[] = {SAFEFS__OP_OPEN_DIR, SAFEFS__OP_STAT,
                                        SAFEFS__OP_UNLINK,   SAFEFS__OP_RENAME,
                                        SAFEFS__OP_RANDOM,   SAFEFS__OP_ALLOC};
  const char *dir = (const char *)*state;
  char *f = tu_join(dir, "file");
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
  free(f);
}

/* A real permission error is reported at once, not retried for the whole
 * budget (on Windows ERROR_ACCESS_DENIED is also what a file being
 * deleted by someone else says, and that one is waited for). */
static void permission_error_fails_fast(void **state) {
  const char *dir = (const char *)*state;
  char *f = tu_join(dir, "f");
  char *root = tu_join(dir, "tree");
  long long t0;
  tu_write_raw(f, "content", 7);
  make_tree(root, 1, 1, 1);

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
  assert_int_equal(count_files(root), 2);
  assert_int_equal(tu_count_own_names(dir), 0);
  free(f);
  free(root);
}

/* ---- two removers and a reader, in three processes ----------------------------------- */

#define RACE_ROUNDS 12
#define RACE_LEVELS 2
#define RACE_FANOUT 3
#define RACE_FILES 5

static char *round_path(const char *dir, const char *what, int r) {
  char name[64];
  snprintf(name, sizeof name, "%.40s-%d", what, r); /* short words: "go", "tree", a child's tag */
  return tu_join(dir, name);
}

/* Wait for the parent's go file of round r (at most 60 s). */
static int wait_go(const char *dir, int r) {
  char *go = round_path(dir, "go", r);
  int ok = tu_wait_signal(go, 60000);
  free(go);
  return ok;
}

static void put_result(const char *dir, const char *who, int r, long value) {
  char name[64], text[32];
  char *p;
  snprintf(name, sizeof name, "res-%s", who);
  p = round_path(dir, name, r);
  snprintf(text, sizeof text, "%ld", value);
  if (safefs_write_file(p, text, strlen(text), SAFEFS_NOSYNC) != 0)
    exit(3);
  free(p);
}

static long get_result(const char *dir, const char *who, int r) {
  char name[64];
  char *p, *text;
  long long t0 = tu_now_ms();
  long v;
  snprintf(name, sizeof name, "res-%s", who);
  p = round_path(dir, name, r);
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
      n = count_files(tree);
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
    files = make_tree(probe, RACE_LEVELS, RACE_FANOUT, RACE_FILES);
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
    assert_int_equal(make_tree(tree, RACE_LEVELS, RACE_FANOUT, RACE_FILES), files);
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
#ifndef _WIN32
  if (strcmp(mode, "ro-tree-as-nobody") == 0 && argc == 1)
    return child_ro_tree(argv[0]);
#endif
  return 2;
}

/* A backup whose target is missing is the old content a crash in the
 * middle of a replace left (Windows: ReplaceFileW is two renames); the
 * sweep puts it back instead of deleting the only copy. A backup beside a
 * target is deleted and the target kept. */
static void sweep_restores_orphaned_backup(void **state) {
  const char *dir = (const char *)*state;
  char *target = tu_join(dir, "data.json");
  char *orphan = tu_join(dir, ".data.json.safefs-0123456789abcdef.old");
  char *stale = tu_join(dir, ".data.json.safefs-fedcba9876543210.old");
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
  free(stale);
  free(orphan);
  free(target);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(remove_file_and_statuses, setup, teardown),
      cmocka_unit_test_setup_teardown(sweep_restores_orphaned_backup, setup, teardown),
      cmocka_unit_test_setup_teardown(remove_tree_whole, setup, teardown),
      cmocka_unit_test_setup_teardown(unicode_names, setup, teardown),
      cmocka_unit_test_setup_teardown(links_are_never_followed, setup, teardown),
#ifndef _WIN32
      cmocka_unit_test_setup_teardown(swapped_directory_is_not_followed, setup, teardown),
#endif
      cmocka_unit_test_setup_teardown(kind_changes_under_the_remover, setup, teardown),
      cmocka_unit_test_setup_teardown(read_only_entries, setup, teardown),
#ifndef _WIN32
      cmocka_unit_test_setup_teardown(read_only_dirs_as_unprivileged_user, setup, teardown),
#endif
      cmocka_unit_test_setup_teardown(deep_tree, setup, teardown),
      cmocka_unit_test_setup_teardown(wide_tree, setup, teardown),
#ifndef _WIN32
      cmocka_unit_test_setup_teardown(open_files_are_removed_at_once, setup, teardown),
#else
      cmocka_unit_test_setup_teardown(held_file_is_waited_for, setup, teardown),
      cmocka_unit_test_setup_teardown(held_past_budget_is_ebusy, setup, teardown),
      cmocka_unit_test_setup_teardown(held_with_share_delete, setup, teardown),
      cmocka_unit_test_setup_teardown(tree_with_held_file, setup, teardown),
      cmocka_unit_test_setup_teardown(transient_errors_are_retried, setup, teardown),
#endif
      cmocka_unit_test_setup_teardown(sweep_rules, setup, teardown),
      cmocka_unit_test_setup_teardown(sweep_statuses, setup, teardown),
      cmocka_unit_test_setup_teardown(sweep_tries_every_entry, setup, teardown),
      cmocka_unit_test_setup_teardown(faults_in_remove_tree, setup, teardown),
      cmocka_unit_test_setup_teardown(faults_in_remove, setup, teardown),
      cmocka_unit_test_setup_teardown(permission_error_fails_fast, setup, teardown),
      cmocka_unit_test_setup_teardown(concurrent_removers_and_reader, setup, teardown),
  };
  tu_proc_init(argv[0]);
  if (argc >= 3 && strcmp(argv[1], TU_PROC_HELPER) == 0)
    return run_helper(argv[2], argc - 3, argv + 3);
  if (getenv("SAFEFS_TEST_FILTER") != NULL) /* e.g. "held*": run only those */
    cmocka_set_test_filter(getenv("SAFEFS_TEST_FILTER"));
  return cmocka_run_group_tests_name("remove", tests, NULL, NULL);
}
