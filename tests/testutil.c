#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#include <psapi.h>
#else
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/resource.h>
#include <sys/stat.h>
#if defined(__linux__)
#include <sys/utsname.h>
#include <sys/vfs.h>
#endif
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#endif

/* ---- paths and scratch dirs ---------------------------------------------- */

char *tu_join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *p = (char *)malloc(a + b + 2);
  assert_non_null(p);
  memcpy(p, dir, a);
  p[a] = '/';
  memcpy(p + a + 1, name, b + 1);
  return p;
}

/* The paths tu_path made for the running test, freed by its teardown. */
static char **test_paths;
static size_t n_test_paths, cap_test_paths;

const char *tu_path(const char *dir, const char *name) {
  char *p = tu_join(dir, name);
  if (n_test_paths == cap_test_paths) {
    size_t cap = cap_test_paths ? cap_test_paths * 2 : 32;
    char **grown = (char **)realloc(test_paths, cap * sizeof *grown);
    assert_non_null(grown);
    test_paths = grown;
    cap_test_paths = cap;
  }
  test_paths[n_test_paths++] = p;
  return p;
}

static void free_test_paths(void) {
  while (n_test_paths > 0)
    free(test_paths[--n_test_paths]);
}

#ifdef _WIN32
wchar_t *tu_wide(const char *s) {
  int n = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
  wchar_t *w;
  assert_true(n > 0);
  w = (wchar_t *)malloc(sizeof(wchar_t) * (size_t)n);
  assert_non_null(w);
  assert_int_equal(MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n), n);
  return w;
}

char *tu_utf8(const wchar_t *w) {
  int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
  char *s;
  assert_true(n > 0);
  s = (char *)malloc((size_t)n);
  assert_non_null(s);
  assert_int_equal(WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL), n);
  return s;
}

wchar_t *tu_wide_path(const char *path) {
  wchar_t *w = tu_wide(path), *res, *p;
  int absolute = ((path[0] >= 'A' && path[0] <= 'Z') || (path[0] >= 'a' && path[0] <= 'z')) &&
                 path[1] == ':' && (path[2] == '/' || path[2] == '\\');
  if (!absolute)
    return w;
  res = (wchar_t *)malloc(sizeof(wchar_t) * (wcslen(w) + 5));
  assert_non_null(res);
  wcscpy(res, L"\\\\?\\");
  wcscat(res, w);
  free(w);
  for (p = res + 4; *p; p++)
    if (*p == L'/')
      *p = L'\\';
  return res;
}

char *tu_dir_new(void) {
  wchar_t base[MAX_PATH + 1], path[MAX_PATH + 40];
  static LONG counter;
  GetTempPathW(MAX_PATH, base);
  for (;;) {
    swprintf(path, sizeof path / sizeof path[0], L"%lssafefs-test-%lu-%ld-%lu", base,
             (unsigned long)GetCurrentProcessId(), (long)InterlockedIncrement(&counter),
             (unsigned long)GetTickCount());
    if (CreateDirectoryW(path, NULL)) {
      char *s = tu_utf8(path);
      size_t i, n = strlen(s);
      for (i = 0; i < n; i++)
        if (s[i] == '\\')
          s[i] = '/';
      if (n > 0 && s[n - 1] == '/')
        s[n - 1] = '\0';
      return s;
    }
    assert_int_equal(GetLastError(), ERROR_ALREADY_EXISTS);
  }
}

static void rm_rf_w(const wchar_t *dir) {
  WIN32_FIND_DATAW fd;
  size_t n = wcslen(dir);
  wchar_t *pat = (wchar_t *)malloc(sizeof(wchar_t) * (n + 3));
  HANDLE h;
  memcpy(pat, dir, n * sizeof(wchar_t));
  wcscpy(pat + n, L"\\*");
  h = FindFirstFileW(pat, &fd);
  free(pat);
  if (h != INVALID_HANDLE_VALUE) {
    do {
      size_t m = wcslen(fd.cFileName);
      wchar_t *child;
      if (wcscmp(fd.cFileName, L".") == 0 || wcscmp(fd.cFileName, L"..") == 0)
        continue;
      child = (wchar_t *)malloc(sizeof(wchar_t) * (n + m + 2));
      memcpy(child, dir, n * sizeof(wchar_t));
      child[n] = L'\\';
      memcpy(child + n + 1, fd.cFileName, (m + 1) * sizeof(wchar_t));
      SetFileAttributesW(child, FILE_ATTRIBUTE_NORMAL);
      if ((fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) &&
          !(fd.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT))
        rm_rf_w(child);
      else if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)
        RemoveDirectoryW(child);
      else
        DeleteFileW(child);
      free(child);
    } while (FindNextFileW(h, &fd));
    FindClose(h);
  }
  RemoveDirectoryW(dir);
}

int tu_syncfs_used(const char *dir) {
  (void)dir;
  return 0;
}

char *tu_dir_new_in_memory(void) { return NULL; }
int tu_dir_in_memory(const char *dir) {
  (void)dir;
  return 0;
}

void tu_dir_free(char *dir) {
  wchar_t *w;
  if (dir == NULL)
    return;
  w = tu_wide_path(dir);
  rm_rf_w(w);
  free(w);
  free(dir);
}

int tu_remove(const char *path) {
  wchar_t *w = tu_wide_path(path);
  int ok = DeleteFileW(w);
  free(w);
  return ok ? 0 : -1;
}

/* FindFirstFileW on dir's entries. */
static HANDLE find_first(const char *dir, WIN32_FIND_DATAW *fd) {
  char *pat = tu_join(dir, "*");
  wchar_t *w = tu_wide_path(pat);
  HANDLE h = FindFirstFileW(w, fd);
  free(pat);
  free(w);
  return h;
}

static int list_dir(const char *dir, int own_only, int remove, tu_entry_fn fn, void *ctx) {
  WIN32_FIND_DATAW fd;
  HANDLE h = find_first(dir, &fd);
  int count = 0;
  if (h == INVALID_HANDLE_VALUE)
    return 0;
  do {
    char *name;
    if (wcscmp(fd.cFileName, L".") == 0 || wcscmp(fd.cFileName, L"..") == 0)
      continue;
    name = tu_utf8(fd.cFileName);
    if (!own_only || safefs__is_own_name(name)) {
      count++;
      if (fn)
        fn(name, ctx);
      if (remove) {
        char *p = tu_join(dir, name);
        tu_remove(p);
        free(p);
      }
    }
    free(name);
  } while (FindNextFileW(h, &fd));
  FindClose(h);
  return count;
}

int tu_exists(const char *path) {
  wchar_t *w = tu_wide_path(path);
  DWORD a = GetFileAttributesW(w);
  free(w);
  return a != INVALID_FILE_ATTRIBUTES;
}

void tu_mkdir(const char *path) {
  wchar_t *w = tu_wide_path(path);
  assert_true(CreateDirectoryW(w, NULL));
  free(w);
}

FILE *tu_fopen(const char *path, const char *mode) {
  wchar_t *w = tu_wide_path(path), *m = tu_wide(mode);
  FILE *f = _wfopen(w, m);
  free(w);
  free(m);
  return f;
}

long tu_count_files(const char *dir) {
  WIN32_FIND_DATAW fd;
  HANDLE h = find_first(dir, &fd);
  long n = 0;
  if (h == INVALID_HANDLE_VALUE) /* gone, or opened by someone for a moment */
    return GetLastError() == ERROR_FILE_NOT_FOUND || GetLastError() == ERROR_PATH_NOT_FOUND ? -1
                                                                                          : -2;
  do {
    if (wcscmp(fd.cFileName, L".") == 0 || wcscmp(fd.cFileName, L"..") == 0)
      continue;
    if ((fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) &&
        !(fd.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT)) {
      char *name = tu_utf8(fd.cFileName), *sub = tu_join(dir, name);
      long m = tu_count_files(sub);
      free(sub);
      free(name);
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
  return n;
}

int tu_symlink(const char *target, const char *link, int is_dir) {
  wchar_t *t = tu_wide_path(target), *l = tu_wide_path(link);
  DWORD flags = (is_dir ? SYMBOLIC_LINK_FLAG_DIRECTORY : 0) | 0x2 /* ALLOW_UNPRIVILEGED_CREATE */;
  BOOLEAN ok = CreateSymbolicLinkW(l, t, flags);
  DWORD attrs = GetFileAttributesW(l);
  free(t);
  free(l);
  return ok && attrs != INVALID_FILE_ATTRIBUTES && (attrs & FILE_ATTRIBUTE_REPARSE_POINT) ? 0 : -1;
}

void tu_set_read_only(const char *path) {
  wchar_t *w = tu_wide_path(path);
  assert_true(SetFileAttributesW(w, FILE_ATTRIBUTE_READONLY));
  free(w);
}

struct tu_holder {
  wchar_t *path;
  DWORD share;
  DWORD hold_ms;
  HANDLE opened; /* event: set once the file is open */
  HANDLE thread;
};

static DWORD WINAPI hold_thread(LPVOID arg) {
  tu_holder *h = (tu_holder *)arg;
  HANDLE f = CreateFileW(h->path, GENERIC_READ, h->share, NULL, OPEN_EXISTING,
                         FILE_ATTRIBUTE_NORMAL, NULL);
  SetEvent(h->opened);
  if (f == INVALID_HANDLE_VALUE)
    return 1;
  Sleep(h->hold_ms);
  CloseHandle(f);
  return 0;
}

tu_holder *tu_hold_file(const char *path, unsigned long share, unsigned long hold_ms) {
  tu_holder *h = (tu_holder *)calloc(1, sizeof *h);
  assert_non_null(h);
  h->path = tu_wide_path(path);
  h->share = (DWORD)share;
  h->hold_ms = (DWORD)hold_ms;
  h->opened = CreateEventW(NULL, TRUE, FALSE, NULL);
  assert_non_null(h->opened);
  h->thread = CreateThread(NULL, 0, hold_thread, h, 0, NULL);
  assert_non_null(h->thread);
  assert_int_equal(WaitForSingleObject(h->opened, 10000), WAIT_OBJECT_0);
  return h;
}

void tu_holder_join(tu_holder *h) {
  DWORD code = 99;
  assert_int_equal(WaitForSingleObject(h->thread, h->hold_ms + 10000), WAIT_OBJECT_0);
  assert_true(GetExitCodeThread(h->thread, &code));
  assert_int_equal(code, 0); /* the holder did open the file: it really was held */
  CloseHandle(h->thread);
  CloseHandle(h->opened);
  free(h->path);
  free(h);
}

long tu_open_handles(void) {
  DWORD n = 0;
  GetProcessHandleCount(GetCurrentProcess(), &n);
  return (long)n;
}

long tu_peak_rss_kib(void) {
  PROCESS_MEMORY_COUNTERS pmc;
  if (!GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc))
    return -1;
  return (long)(pmc.PeakWorkingSetSize / 1024);
}

int tu_running_on_wine(void) {
  HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  return ntdll != NULL && GetProcAddress(ntdll, "wine_get_version") != NULL;
}

long long tu_now_ms(void) {
  return (long long)GetTickCount64();
}

void tu_sleep_ms(long ms) {
  Sleep((DWORD)ms);
}

long tu_err_io(void) { return ERROR_WRITE_FAULT; }
long tu_err_nospace(void) { return ERROR_DISK_FULL; }
long tu_err_access(void) { return ERROR_ACCESS_DENIED; }
long tu_err_interrupted(void) { return 0; }

#else /* POSIX */

char *tu_dir_new(void) {
  const char *base = getenv("TMPDIR");
  char *tmpl;
  if (base == NULL || base[0] == '\0')
    base = "/tmp";
  tmpl = tu_join(base, "safefs-test-XXXXXX");
  assert_non_null(mkdtemp(tmpl));
  return tmpl;
}

#if defined(__linux__)
/* 1 if dir's filesystem is of statfs type a or b. */
static int dir_fs_is(const char *dir, unsigned long a, unsigned long b) {
  struct statfs st;
  return statfs(dir, &st) == 0 &&
         ((unsigned long)st.f_type == a || (unsigned long)st.f_type == b);
}
#endif

int tu_syncfs_used(const char *dir) {
#if defined(__linux__)
  struct utsname u;
  unsigned major, minor;
  return uname(&u) == 0 && sscanf(u.release, "%u.%u", &major, &minor) == 2 &&
         (major > 5 || (major == 5 && minor >= 8)) &&
         dir_fs_is(dir, 0xEF53UL /* ext4 */, 0x58465342UL /* xfs */);
#else
  (void)dir;
  return 0;
#endif
}

int tu_dir_in_memory(const char *dir) {
#if defined(__linux__)
  return dir_fs_is(dir, 0x01021994UL /* tmpfs */, 0x858458F6UL /* ramfs */);
#else
  (void)dir;
  return 0;
#endif
}

char *tu_dir_new_in_memory(void) {
  char *tmpl;
  if (!tu_dir_in_memory("/dev/shm"))
    return NULL;
  tmpl = tu_join("/dev/shm", "safefs-test-XXXXXX");
  assert_non_null(mkdtemp(tmpl));
  return tmpl;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  if (flag == FTW_DP)
    return rmdir(path) != 0 && errno != ENOENT ? 0 : 0;
  return unlink(path) != 0 && errno != ENOENT ? 0 : 0;
}

void tu_dir_free(char *dir) {
  if (dir == NULL)
    return;
  nftw(dir, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
  free(dir);
}

int tu_remove(const char *path) {
  return unlink(path);
}

static int list_dir(const char *dir, int own_only, int remove, tu_entry_fn fn, void *ctx) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int count = 0;
  if (d == NULL)
    return 0;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    if (!own_only || safefs__is_own_name(e->d_name)) {
      count++;
      if (fn)
        fn(e->d_name, ctx);
      if (remove) {
        char *p = tu_join(dir, e->d_name);
        tu_remove(p);
        free(p);
      }
    }
  }
  closedir(d);
  return count;
}

int tu_exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

void tu_mkdir(const char *path) {
  assert_int_equal(mkdir(path, 0755), 0);
}

FILE *tu_fopen(const char *path, const char *mode) {
  return fopen(path, mode);
}

long tu_count_files(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  long n = 0;
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
      long m = tu_count_files(sub);
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
  return n;
}

int tu_symlink(const char *target, const char *link, int is_dir) {
  (void)is_dir;
  return symlink(target, link) == 0 ? 0 : -1;
}

void tu_set_read_only(const char *path) {
  assert_int_equal(chmod(path, 0444), 0);
}

long tu_open_handles(void) {
  long n = 0, fd, max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536)
    max = 65536;
  for (fd = 0; fd < max; fd++)
    if (fcntl((int)fd, F_GETFD) != -1)
      n++;
  return n;
}

long tu_peak_rss_kib(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return -1;
#ifdef __APPLE__
  return ru.ru_maxrss / 1024;
#else
  return ru.ru_maxrss;
#endif
}

int tu_running_on_wine(void) {
  return 0;
}

long long tu_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tu_sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

long tu_err_io(void) { return EIO; }
long tu_err_nospace(void) { return ENOSPC; }
long tu_err_access(void) { return EACCES; }
long tu_err_interrupted(void) { return EINTR; }

#endif

int tu_count_entries(const char *dir) {
  return list_dir(dir, 0, 0, NULL, NULL);
}

int tu_count_own_names(const char *dir) {
  return list_dir(dir, 1, 0, NULL, NULL);
}

int tu_for_each_entry(const char *dir, tu_entry_fn fn, void *ctx) {
  return list_dir(dir, 0, 0, fn, ctx);
}

int tu_remove_own_names(const char *dir) {
  return list_dir(dir, 1, 1, NULL, NULL);
}

void tu_write_raw(const char *path, const void *data, size_t size) {
  FILE *f = tu_fopen(path, "wb");
  assert_non_null(f);
  if (size > 0)
    assert_int_equal(fwrite(data, 1, size, f), size);
  assert_int_equal(fclose(f), 0);
}

char *tu_read_raw(const char *path, size_t *size) {
  char *buf = NULL;
  size_t cap = 0, used = 0;
  FILE *f = tu_fopen(path, "rb");
  if (f == NULL)
    return NULL;
  for (;;) {
    size_t n;
    if (cap - used < 4096) {
      cap = cap * 2 + 8192;
      buf = (char *)realloc(buf, cap + 1);
      assert_non_null(buf);
    }
    n = fread(buf + used, 1, cap - used, f);
    used += n;
    if (n == 0)
      break;
  }
  fclose(f);
  buf[used] = '\0';
  if (size)
    *size = used;
  return buf;
}

int tu_file_is(const char *path, const char *data) {
  size_t n;
  char *got = tu_read_raw(path, &n);
  int same = got != NULL && n == strlen(data) && memcmp(got, data, n) == 0;
  free(got);
  return same;
}

long tu_make_tree(const char *root, int levels, int fanout, int files) {
  long n = 0;
  int i;
  tu_mkdir(root);
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
      n += tu_make_tree(p, levels - 1, fanout, files);
      free(p);
    }
  return n;
}

char *tu_make_read_only_tree(const char *dir) {
  static const char *const files[] = {"ro-file", "rosub/a", "rosub/b"};
  char *root = tu_join(dir, "tree");
  char *sub = tu_join(root, "rosub");
  size_t i;
  tu_mkdir(root);
  tu_mkdir(sub);
  for (i = 0; i < sizeof files / sizeof files[0]; i++) {
    char *p = tu_join(root, files[i]);
    tu_write_raw(p, files[i] + strlen(files[i]) - 1, 1); /* "f", "a", "b" */
    tu_set_read_only(p);
    free(p);
  }
#ifdef _WIN32
  tu_set_read_only(sub);
#else
  assert_int_equal(chmod(sub, 0555), 0);
  assert_int_equal(chmod(root, 0555), 0);
#endif
  free(sub);
  return root;
}

int tu_run_with_fd_limit(int fds, int (*fn)(void *ctx), void *ctx) {
#ifdef _WIN32
  (void)fds;
  return fn(ctx);
#else
  pid_t pid;
  int st;
  fflush(NULL); /* no buffered output written twice */
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct rlimit rl;
    /* the soft limit only: valgrind refuses to lower the hard one */
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
      _exit(90);
    rl.rlim_cur = (rlim_t)fds;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
      _exit(90);
    _exit(fn(ctx));
  }
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  return WEXITSTATUS(st);
#endif
}

/* ---- fixtures and the runner ---------------------------------------------- */

/* The defaults every test starts from and is left with. */
static void library_defaults(void) {
  tu_faults_off();
  safefs_set_retry_budget_ms(-1);
}

int tu_setup_dir(void **state) {
  library_defaults();
  *state = tu_dir_new();
  return 0;
}

int tu_teardown_dir(void **state) {
  library_defaults();
  free_test_paths();
  tu_dir_free((char *)*state);
  return 0;
}

int tu_setup_scratch(void **state, const char *name) {
  struct tu_scratch *s = (struct tu_scratch *)malloc(sizeof *s);
  assert_non_null(s);
  library_defaults();
  s->dir = tu_dir_new();
  s->file = tu_join(s->dir, name);
  *state = s;
  return 0;
}

int tu_teardown_scratch(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  library_defaults();
  free_test_paths();
  free(s->file);
  tu_dir_free(s->dir);
  free(s);
  return 0;
}

/* ---- self-checking versions ---------------------------------------------- */

static size_t version_len(unsigned a, unsigned b) {
  return 500 + (size_t)((a * 7919u + b * 2654435761u) % 20000u);
}

static char version_byte(unsigned a, unsigned b, size_t i) {
  return (char)('a' + (a * 31u + b * 17u + (unsigned)(i % 1000003u)) % 26u);
}

size_t tu_version_make(char *buf, size_t cap, unsigned a, unsigned b) {
  size_t len = version_len(a, b), head, i;
  head = (size_t)snprintf(buf, cap, "safefs-v %u %u %lu\n", a, b, (unsigned long)len);
  assert_true(head + len <= cap);
  for (i = 0; i < len; i++)
    buf[head + i] = version_byte(a, b, i);
  return head + len;
}

int tu_version_parse(const char *data, size_t n, unsigned *a, unsigned *b) {
  char head[64];
  unsigned va, vb;
  unsigned long len;
  size_t hlen, i;
  if (n < 8 || memcmp(data, "safefs-v ", 9) != 0)
    return 0;
  memcpy(head, data, n < sizeof head - 1 ? n : sizeof head - 1);
  head[n < sizeof head - 1 ? n : sizeof head - 1] = '\0';
  if (sscanf(head, "safefs-v %u %u %lu", &va, &vb, &len) != 3 || len != version_len(va, vb))
    return 0;
  hlen = (size_t)snprintf(head, sizeof head, "safefs-v %u %u %lu\n", va, vb, len);
  if (n != hlen + len || memcmp(head, data, hlen) != 0)
    return 0;
  for (i = 0; i < len; i++)
    if (data[hlen + i] != version_byte(va, vb, i))
      return 0;
  *a = va;
  *b = vb;
  return 1;
}

/* ---- fault injection ------------------------------------------------------ */

#define MAX_RULES 8
struct rule {
  enum safefs__op op;
  int first, last;
  long err;
};
static struct {
  int calls[SAFEFS__OP_COUNT];
  struct rule rules[MAX_RULES];
  int n_rules;
  long live_blocks;
} faults;

/* The hooks below may be called from several threads at once (a batch
 * syncs its temps from several: src/batch.c); one mutex keeps their
 * counts and logs whole. */
static pthread_mutex_t hook_mutex = PTHREAD_MUTEX_INITIALIZER;

static long fault_hook(void *ctx, const struct safefs__call *call) {
  long answer = 0;
  int i, n;
  (void)ctx;
  pthread_mutex_lock(&hook_mutex);
  n = ++faults.calls[call->op];
  for (i = 0; i < faults.n_rules && answer == 0; i++) {
    const struct rule *r = &faults.rules[i];
    if (r->op == call->op && n >= r->first && n <= r->last)
      answer = r->err;
  }
  if (answer == 0 && call->op == SAFEFS__OP_ALLOC && call->data == NULL)
    faults.live_blocks++;
  else if (answer == 0 && call->op == SAFEFS__OP_FREE)
    faults.live_blocks--;
  pthread_mutex_unlock(&hook_mutex);
  return answer;
}

void tu_faults_reset(void) {
  memset(&faults, 0, sizeof faults);
  safefs__seam_set(fault_hook, NULL);
}

void tu_fault_add(enum safefs__op op, int nth, long err, int times) {
  struct rule *r;
  assert_true(faults.n_rules < MAX_RULES);
  r = &faults.rules[faults.n_rules++];
  r->op = op;
  r->first = nth;
  r->last = nth + times - 1;
  r->err = err;
}

long tu_live_blocks(void) {
  return faults.live_blocks;
}

int tu_calls(enum safefs__op op) {
  return faults.calls[op];
}

void tu_faults_off(void) {
  safefs__seam_set(NULL, NULL);
}

/* ---- recording the calls -------------------------------------------------- */

static long log_call(void *ctx, const struct safefs__call *call) {
  struct tu_call_log *log = (struct tu_call_log *)ctx;
  pthread_mutex_lock(&hook_mutex);
  if (call->op != SAFEFS__OP_ALLOC && call->op != SAFEFS__OP_FREE && log->n < TU_MAX_LOG)
    log->op[log->n++] = call->op;
  pthread_mutex_unlock(&hook_mutex);
  return call->op == SAFEFS__OP_COUNT_DIRTY ? log->count_dirty : 0;
}

void tu_log_start(struct tu_call_log *log) {
  log->n = 0;
  log->count_dirty = TU_SYNC_EACH;
  safefs__seam_set(log_call, log);
}

void tu_log_stop(void) {
  safefs__seam_set(NULL, NULL);
}

int tu_log_count(const struct tu_call_log *log, enum safefs__op op) {
  int i, n = 0;
  for (i = 0; i < log->n; i++)
    n += log->op[i] == op;
  return n;
}
