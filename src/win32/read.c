/*
 * A file opened for a whole-file read (the loop is in src/read.c). It is
 * opened with every share mode (read, write and delete), so a reader never
 * stops a writer from replacing or removing the file. Opening can still
 * meet a file that another process holds without sharing, or one caught
 * mid-replace (sharing violation, access denied on a delete-pending name):
 * that is waited out through safefs__retry, and after the budget the
 * status is SAFEFS_EBUSY with the last Windows error kept.
 */
#include "sys.h"

#include <stdint.h>

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

int safefs__rfile_open(const char *path, long long *handle, size_t *size_hint) {
  struct open_read o;
  BY_HANDLE_FILE_INFORMATION info;
  wchar_t *wpath;
  unsigned long long n;
  int rc;
  long os;

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
    safefs__sys_close(o.h);
    return safefs__fail_os(os);
  }
  if (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) {
    safefs__sys_close(o.h);
    return safefs__fail(SAFEFS_EISDIR, ERROR_DIRECTORY);
  }
  /* a size this process could not hold anyway is no use as a guess */
  n = ((unsigned long long)info.nFileSizeHigh << 32) | info.nFileSizeLow;
  *size_hint = n < (unsigned long long)((size_t)-1 / 2) ? (size_t)n : 0;
  *handle = (long long)(intptr_t)o.h;
  return 0;
}

int safefs__rfile_read(long long handle, void *buf, size_t cap, size_t *got) {
  if (!safefs__sys_read((HANDLE)(intptr_t)handle, buf, cap, got))
    return safefs__fail_os((long)GetLastError());
  return 0;
}

void safefs__rfile_close(long long handle) {
  safefs__sys_close((HANDLE)(intptr_t)handle);
}
