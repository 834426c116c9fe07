#include "testutil.h"

#include <errno.h>
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

#ifdef _WIN32
static wchar_t *to_wide(const char *s) {
  int n = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
  wchar_t *w = (wchar_t *)malloc(sizeof(wchar_t) * (size_t)n);
  MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n);
  return w;
}

static char *to_utf8(const wchar_t *w) {
  int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
  char *s = (char *)malloc((size_t)n);
  WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL);
  return s;
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
      char *s = to_utf8(path);
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

void tu_dir_free(char *dir) {
  wchar_t *w;
  if (dir == NULL)
    return;
  w = to_wide(dir);
  rm_rf_w(w);
  free(w);
  free(dir);
}

int tu_remove(const char *path) {
  wchar_t *w = to_wide(path);
  int ok = DeleteFileW(w);
  free(w);
  return ok ? 0 : -1;
}

static int list_dir(const char *dir, int own_only, int remove, tu_entry_fn fn, void *ctx) {
  WIN32_FIND_DATAW fd;
  char *pat = tu_join(dir, "*");
  wchar_t *w = to_wide(pat);
  HANDLE h = FindFirstFileW(w, &fd);
  int count = 0;
  free(pat);
  free(w);
  if (h == INVALID_HANDLE_VALUE)
    return 0;
  do {
    char *name;
    if (wcscmp(fd.cFileName, L".") == 0 || wcscmp(fd.cFileName, L"..") == 0)
      continue;
    name = to_utf8(fd.cFileName);
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
  wchar_t *w = to_wide(path);
  DWORD a = GetFileAttributesW(w);
  free(w);
  return a != INVALID_FILE_ATTRIBUTES;
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
#ifdef _WIN32
  wchar_t *w = to_wide(path);
  FILE *f = _wfopen(w, L"wb");
  free(w);
#else
  FILE *f = fopen(path, "wb");
#endif
  assert_non_null(f);
  if (size > 0)
    assert_int_equal(fwrite(data, 1, size, f), size);
  assert_int_equal(fclose(f), 0);
}

char *tu_read_raw(const char *path, size_t *size) {
  char *buf = NULL;
  size_t cap = 0, used = 0;
#ifdef _WIN32
  wchar_t *w = to_wide(path);
  FILE *f = _wfopen(w, L"rb");
  free(w);
#else
  FILE *f = fopen(path, "rb");
#endif
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

static long fault_hook(void *ctx, const struct safefs__call *call) {
  int i, n;
  (void)ctx;
  n = ++faults.calls[call->op];
  for (i = 0; i < faults.n_rules; i++) {
    const struct rule *r = &faults.rules[i];
    if (r->op == call->op && n >= r->first && n <= r->last)
      return r->err;
  }
  if (call->op == SAFEFS__OP_ALLOC && call->data == NULL)
    faults.live_blocks++;
  else if (call->op == SAFEFS__OP_FREE)
    faults.live_blocks--;
  return 0;
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
