/*
 * Whole-file read on Windows. The file is opened with every share mode
 * (read, write and delete), so a reader never stops a writer from
 * replacing or removing the file. Opening can still meet a file that
 * another process holds without sharing, or one caught mid-replace
 * (sharing violation, access denied on a delete-pending name): that is
 * waited out through safefs__retry, and after the budget the status is
 * SAFEFS_EBUSY with the last Windows error kept.
 *
 * As on POSIX, the size is only a first guess for the buffer: the file is
 * read until ReadFile returns 0 bytes, so a file that grows while it is
 * read is read to its end, and one that shrinks is not padded.
 */
#include "sys.h"

#include <string.h>

#define MIN_CHUNK 4096

struct open_read {
  const wchar_t *path;
  const char *label;
  HANDLE h;
};

/* CreateFileW cannot open a directory without FILE_FLAG_BACKUP_SEMANTICS
 * and says ERROR_ACCESS_DENIED; the attributes tell that case from a
 * holder or a real permission problem. */
static int open_attempt(void *ctx) {
  struct open_read *o = (struct open_read *)ctx;
  DWORD e, attrs;

  o->h = safefs__sys_create_file(o->path, o->label, GENERIC_READ,
                                 FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                                 OPEN_EXISTING, FILE_FLAG_SEQUENTIAL_SCAN, SAFEFS__OP_OPEN_READ);
  if (o->h != INVALID_HANDLE_VALUE)
    return 0;
  e = GetLastError();
  if (e == ERROR_ACCESS_DENIED) {
    attrs = safefs__sys_attributes(o->path, o->label);
    if (attrs != INVALID_FILE_ATTRIBUTES && (attrs & FILE_ATTRIBUTE_DIRECTORY))
      return safefs__fail(SAFEFS_EISDIR, (long)e);
  }
  if (safefs__os_transient((long)e)) {
    safefs__fail_os((long)e);
    return SAFEFS__AGAIN;
  }
  return safefs__sys_fail_path(e, o->path);
}

int safefs__read_whole(const char *path, void **data, size_t *size) {
  struct open_read o;
  BY_HANDLE_FILE_INFORMATION info;
  wchar_t *wpath;
  unsigned char *buf = NULL;
  size_t cap, used = 0;
  int rc;
  long os = 0;

  if ((rc = safefs__sys_wide_path(path, &wpath)) != 0)
    return rc;
  o.path = wpath;
  o.label = path;
  o.h = INVALID_HANDLE_VALUE;
  rc = safefs__retry(open_attempt, &o, -1);
  safefs__free(wpath);
  if (rc != 0)
    return rc;

  if (!safefs__sys_file_info(o.h, &info)) {
    os = (long)GetLastError();
    rc = safefs__status_from_os(os);
    goto out;
  }
  if (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) {
    os = ERROR_DIRECTORY;
    rc = SAFEFS_EISDIR;
    goto out;
  }
  {
    unsigned long long n = ((unsigned long long)info.nFileSizeHigh << 32) | info.nFileSizeLow;
    /* a size this process could not hold anyway is no use as a guess */
    cap = MIN_CHUNK + (n < (unsigned long long)((size_t)-1 / 2) ? (size_t)n : 0);
  }
  buf = (unsigned char *)safefs__malloc(cap + 1);
  if (buf == NULL) {
    rc = SAFEFS_ENOMEM;
    goto out;
  }
  for (;;) {
    size_t n;
    if (used == cap) {
      size_t ncap = cap * 2;
      unsigned char *nb;
      if (ncap < cap) {
        rc = SAFEFS_ENOMEM;
        goto out;
      }
      nb = (unsigned char *)safefs__realloc(buf, ncap + 1);
      if (nb == NULL) {
        rc = SAFEFS_ENOMEM;
        goto out;
      }
      buf = nb;
      cap = ncap;
    }
    if (!safefs__sys_read(o.h, buf + used, cap - used, &n)) {
      os = (long)GetLastError();
      rc = safefs__status_from_os(os);
      goto out;
    }
    if (n == 0)
      break;
    used += n;
  }
  buf[used] = '\0';

out:
  safefs__sys_close(o.h);
  if (rc != 0) {
    safefs__free(buf);
    return safefs__fail(rc, os);
  }
  *data = buf;
  *size = used;
  return 0;
}
