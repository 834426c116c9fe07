#define _GNU_SOURCE
#include "scratch.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

const char *fuzz_scratch_dir(void) {
  static char dir[256];
  if (dir[0] == '\0') {
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/safefs-fuzz-XXXXXX", t && *t ? t : "/tmp");
    if (mkdtemp(dir) == NULL)
      abort();
  }
  return dir;
}

void fuzz_write_raw(const char *path, const void *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
    abort();
}

char *fuzz_read_raw(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  char *buf;
  size_t n;
  if (f == NULL)
    return NULL;
  buf = (char *)malloc(1 << 16);
  n = fread(buf, 1, 1 << 16, f);
  fclose(f);
  *size = n;
  return buf;
}

static int ends_with_kind(const char *name, const char *kind) {
  size_t n = strlen(name), k = strlen(kind);
  return n > k + 1 && name[n - k - 1] == '.' && strcmp(name + n - k, kind) == 0;
}

int fuzz_count_other_entries(const char *dir, const char *keep, const char *allow_kind) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  if (d == NULL)
    abort();
  while ((e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, keep))
      continue;
    if (allow_kind && safefs__is_own_name(e->d_name) && ends_with_kind(e->d_name, allow_kind))
      continue;
    n++;
  }
  closedir(d);
  return n;
}

void fuzz_clear_dir(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char p[4096];
  if (d == NULL)
    return;
  while ((e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    unlink(p);
  }
  closedir(d);
}

long fuzz_err_io(void) { return EIO; }
long fuzz_err_nospace(void) { return ENOSPC; }
long fuzz_err_access(void) { return EACCES; }
