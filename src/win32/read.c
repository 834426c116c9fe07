/*
 * A file opened for a whole-file read (the loop is in src/read.c). It is
 * opened with every share mode (read, write and delete), so a reader never
 * stops a writer from replacing or removing the file. Opening can still
 * meet a file that another process holds without sharing, or one caught
 * mid-replace (sharing violation, access denied on a delete-pending name):
 * safefs__path_open waits that out, and after the budget the status is
 * SAFEFS_EBUSY with the last Windows error kept. CreateFileW cannot open a
 * directory without FILE_FLAG_BACKUP_SEMANTICS and says
 * ERROR_ACCESS_DENIED: the access-denied policy (path.h) makes that
 * SAFEFS_EISDIR.
 */
#include "sys.h"

struct safefs__rfile {
  HANDLE h;
  const char *path; /* the caller's, for messages */
};

int safefs__rfile_open(safefs__rfile **out, const char *path, size_t *size_hint) {
  BY_HANDLE_FILE_INFORMATION info;
  struct safefs__wpath p;
  safefs__rfile *f = NULL;
  unsigned long long n;
  HANDLE h;
  int rc;

  *out = NULL;
  if ((rc = safefs__path_from_utf8(&p, path)) != 0)
    return rc;
  rc = safefs__path_open(&p, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                         OPEN_EXISTING, FILE_FLAG_SEQUENTIAL_SCAN, SAFEFS__OP_OPEN_READ, &h);
  safefs__path_free(&p);
  if (rc != 0)
    return rc;
  if (!safefs__sys_file_info(h, &info))
    rc = safefs__fail_os_at((long)GetLastError(), path, NULL);
  else if (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)
    rc = safefs__fail_msg(SAFEFS_EISDIR, ERROR_DIRECTORY, "read '%s': is a directory", path);
  else if ((f = (safefs__rfile *)safefs__malloc(sizeof *f)) == NULL)
    rc = SAFEFS_ENOMEM;
  if (rc != 0) {
    struct safefs__saved_error e;
    safefs__error_save(&e);
    safefs__sys_close(h);
    return safefs__error_restore(&e, rc);
  }
  /* a size this process could not hold anyway is no use as a guess */
  n = ((unsigned long long)info.nFileSizeHigh << 32) | info.nFileSizeLow;
  *size_hint = n < (unsigned long long)((size_t)-1 / 2) ? (size_t)n : 0;
  f->h = h;
  f->path = path;
  *out = f;
  return 0;
}

int safefs__rfile_read(safefs__rfile *f, void *buf, size_t cap, size_t *got) {
  if (!safefs__sys_read(f->h, buf, cap, got))
    return safefs__fail_os_at((long)GetLastError(), f->path, NULL);
  return 0;
}

void safefs__rfile_close(safefs__rfile *f) {
  safefs__sys_close(f->h);
  safefs__free(f);
}

int safefs__rfile_identity(safefs__rfile *f, struct safefs__identity *id) {
  return safefs__identity_of_handle(f->h, f->path, id);
}
