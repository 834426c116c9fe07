/*
 * The deleter's steps on Windows (the order and the retries are in
 * ../remove.c).
 *
 * Everything below a directory is reached through its handle, as on POSIX
 * through a descriptor: entries are opened relative to the directory
 * handle (NtCreateFile with a root directory, safefs__sys_open_at), always
 * with FILE_OPEN_REPARSE_POINT so that a symbolic link or junction is
 * opened itself and never its target, and the kind is checked on the
 * handle, i.e. on the object actually opened. The listing comes from the
 * handle too. So a directory swapped for a junction while the walk is
 * inside the tree cannot send the deletion elsewhere, the depth of a tree
 * is not limited by the 32767-character path limit, and each step costs
 * the same at any depth (path-based calls re-parse the whole path; see
 * BENCHMARKS.md, "Windows design measurements").
 *
 * Deleting: the entry is opened with DELETE access, sharing everything so
 * we never block anyone, and given a delete disposition on that handle:
 *   - FileDispositionInfoEx with POSIX semantics and IGNORE_READONLY
 *     (Windows 10 1809+ on NTFS): the name goes at once, even while others
 *     hold the file with FILE_SHARE_DELETE, and read-only does not matter;
 *   - where that is refused (older Windows, FAT, some network
 *     filesystems, Wine 8: ERROR_INVALID_PARAMETER), the classic
 *     FileDispositionInfo; a read-only entry refuses it, and the remedy
 *     (safefs__try_with_remedy) clears the attribute and tries once more,
 *     putting it back if the delete still fails. The name then stays, delete-pending,
 *     until every holder has closed the file: why ../remove.c renames a
 *     file aside first, and why a directory whose children are still
 *     delete-pending gets ERROR_DIR_NOT_EMPTY for a while.
 *
 * Waiting: a holder without FILE_SHARE_DELETE makes our open fail with a
 * sharing violation; a delete-pending entry fails with ERROR_DELETE_PENDING
 * (safefs__sys_open_at keeps it apart from ERROR_ACCESS_DENIED). Those are
 * SAFEFS__AGAIN for the shared retry loop. ERROR_ACCESS_DENIED when opening
 * is therefore a real permission error, reported at once as SAFEFS_EACCES;
 * ERROR_ACCESS_DENIED once we hold a DELETE handle (a running program's
 * image, a directory with open files below it being renamed) means "in
 * use" and is waited for.
 *
 * The only path-based call is the rename (MoveFileExW), done in the
 * directory the caller named. That directory is held open without
 * FILE_SHARE_DELETE for the whole call, so it cannot be renamed or replaced
 * by a junction underneath us: the path keeps naming the directory whose
 * handle we use.
 */
#include "sys.h"

#include <string.h>
#include <winternl.h>

/* FileDispositionInfoEx and its flags are in MinGW-w64's headers only when
 * _WIN32_WINNT targets Windows 10; safefs targets Windows 7 and asks at run
 * time, so they are spelled out here (values from the Windows SDK). */
#define DISPOSITION_INFO_EX ((FILE_INFO_BY_HANDLE_CLASS)21) /* FileDispositionInfoEx */
#define DISPOSITION_DELETE 0x00000001u                     /* FILE_DISPOSITION_FLAG_DELETE */
#define DISPOSITION_POSIX_SEMANTICS 0x00000002u            /* ..._POSIX_SEMANTICS */
#define DISPOSITION_IGNORE_READONLY 0x00000010u            /* ..._IGNORE_READONLY_ATTRIBUTE */
struct disposition_info_ex {
  DWORD Flags; /* FILE_DISPOSITION_INFO_EX */
};

/* NtCreateFile options for an entry opened itself, never through a link;
 * FILE_OPEN_FOR_BACKUP_INTENT lets a directory be opened as well. */
#define OPEN_ENTRY (FILE_OPEN_REPARSE_POINT | FILE_OPEN_FOR_BACKUP_INTENT)
#define SHARE_ALL (FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)

/* One listing batch; a parked directory gives its batch back. */
#define LIST_BUFFER_SIZE 16384u

/* 100 ns ticks per second, for FILETIME arithmetic. */
#define TICKS_PER_SECOND 10000000LL

struct safefs__dir {
  HANDLE h;
  char *label;         /* for messages: the path the caller named (open_path),
                          or a child's name in its parent */
  wchar_t *path;       /* \\?\ path with a trailing backslash, for renames;
                          NULL until needed for a directory opened by handle */
  size_t len;          /* of path */
  unsigned char *list; /* the current listing batch, or NULL */
  size_t pos;          /* offset of the next entry in list */
  int more;            /* list holds entries not returned yet */
  int restart;         /* the next batch starts a new pass */
  char *name;          /* the entry last returned, UTF-8 */
  int removed;         /* names removed through this directory in this pass */
};

static int kind_of(DWORD attrs) {
  if (attrs & FILE_ATTRIBUTE_REPARSE_POINT)
    return SAFEFS__ENTRY_LINK; /* symlink, junction, other reparse point */
  if (attrs & FILE_ATTRIBUTE_DIRECTORY)
    return SAFEFS__ENTRY_DIR;
  return SAFEFS__ENTRY_FILE;
}

/* Record a failed attempt on an entry of d; SAFEFS__AGAIN if it is worth
 * another (the shared verdict). A directory's ERROR_DIR_NOT_EMPTY is
 * transient too, but only while removing a tree (in_tree): its children
 * are delete-pending and go when their holders close them. */
static int attempt_failed(const safefs__dir *d, DWORD e, int in_tree) {
  int rc = safefs__attempt_failed((long)e, NULL, d->label);
  return in_tree && e == ERROR_DIR_NOT_EMPTY ? SAFEFS__AGAIN : rc;
}

/* Open `name` in d itself with DELETE access. Without the right to change
 * its attributes we may still be allowed to delete it: then the open is
 * tried without FILE_WRITE_ATTRIBUTES (only a read-only file needs it). */
static int open_for_delete(safefs__dir *d, const char *name, enum safefs__op op, HANDLE *out,
                           BY_HANDLE_FILE_INFORMATION *info) {
  HANDLE h = safefs__sys_open_at(d->h, name,
                                 DELETE | FILE_READ_ATTRIBUTES | FILE_WRITE_ATTRIBUTES,
                                 SHARE_ALL, OPEN_ENTRY, op);
  DWORD e;
  *out = INVALID_HANDLE_VALUE;
  if (h == INVALID_HANDLE_VALUE && GetLastError() == ERROR_ACCESS_DENIED)
    h = safefs__sys_open_at(d->h, name, DELETE | FILE_READ_ATTRIBUTES, SHARE_ALL, OPEN_ENTRY,
                            op);
  if (h == INVALID_HANDLE_VALUE) {
    e = GetLastError();
    if (e == ERROR_ACCESS_DENIED) /* a real permission error: at once (top of the file) */
      return safefs__fail_os_at((long)e, NULL, d->label);
    return attempt_failed(d, e, 0);
  }
  if (!safefs__sys_file_info(h, info)) {
    e = GetLastError();
    safefs__sys_close(h);
    return safefs__fail_os_at((long)e, name, d->label);
  }
  *out = h;
  return 0;
}

/* The classic delete disposition on an open entry, and its remedy: a
 * read-only entry refuses it (STATUS_CANNOT_DELETE, ERROR_ACCESS_DENIED),
 * so the attribute is cleared and the disposition tried once more; if the
 * entry is still not deleted, the attribute is put back. */
struct classic_delete {
  HANDLE h;
  DWORD attrs;
  const char *name;
  enum safefs__op op;
  int cleared;
};

static long try_classic_delete(void *ctx) {
  struct classic_delete *c = (struct classic_delete *)ctx;
  FILE_DISPOSITION_INFO info;
  info.DeleteFile = TRUE;
  if (safefs__sys_set_file_info(c->h, c->name, FileDispositionInfo, &info, sizeof info, c->op))
    return 0;
  return (long)GetLastError();
}

static long clear_readonly(void *ctx, long oserr) {
  struct classic_delete *c = (struct classic_delete *)ctx;
  if (oserr != ERROR_ACCESS_DENIED || !(c->attrs & FILE_ATTRIBUTE_READONLY) || c->cleared)
    return oserr;
  if (!safefs__sys_set_attributes(c->h, c->attrs & ~(DWORD)FILE_ATTRIBUTE_READONLY, 0))
    return (long)GetLastError();
  c->cleared = 1;
  return 0;
}

static void put_readonly_back(void *ctx) {
  struct classic_delete *c = (struct classic_delete *)ctx;
  safefs__sys_set_attributes(c->h, c->attrs, 0);
}

/* Give the open entry `name` of d a delete disposition (see the top of
 * this file). */
static int delete_by_handle(const safefs__dir *d, HANDLE h, DWORD attrs, const char *name,
                            enum safefs__op op, int in_tree) {
  struct disposition_info_ex ex;
  struct classic_delete c;
  struct safefs__remedy remedy;
  DWORD e;

  ex.Flags = DISPOSITION_DELETE | DISPOSITION_POSIX_SEMANTICS | DISPOSITION_IGNORE_READONLY;
  if (safefs__sys_set_file_info(h, name, DISPOSITION_INFO_EX, &ex, sizeof ex, op))
    return 0;
  e = GetLastError();
  if (e != ERROR_INVALID_PARAMETER && e != ERROR_NOT_SUPPORTED && e != ERROR_INVALID_FUNCTION)
    return attempt_failed(d, e, in_tree);

  c.h = h;
  c.attrs = attrs;
  c.name = name;
  c.op = op;
  c.cleared = 0;
  remedy.fix = clear_readonly;
  remedy.undo = put_readonly_back;
  remedy.ctx = &c;
  e = (DWORD)safefs__try_with_remedy(try_classic_delete, &c, &remedy);
  return e == 0 ? 0 : attempt_failed(d, e, in_tree);
}

/* Wrap an open directory handle (and its path and label, if known); all
 * are taken over, also on failure. */
static int wrap_dir(safefs__dir **out, HANDLE h, wchar_t *path, char *label) {
  safefs__dir *d = (safefs__dir *)safefs__malloc(sizeof *d);
  if (d == NULL) {
    safefs__free(path);
    safefs__free(label);
    safefs__sys_close(h);
    return safefs__fail(SAFEFS_ENOMEM, 0);
  }
  d->h = h;
  d->label = label;
  d->path = path;
  d->len = path != NULL ? wcslen(path) : 0;
  d->list = NULL;
  d->pos = 0;
  d->more = 0;
  d->restart = 1;
  d->name = NULL;
  d->removed = 0;
  *out = d;
  return 0;
}

/* A full path with a trailing backslash, as a new string; takes over p. */
static int with_backslash(wchar_t *p, wchar_t **out) {
  size_t len = wcslen(p);
  wchar_t *q;
  *out = NULL;
  if (len > 0 && p[len - 1] == L'\\') {
    *out = p;
    return 0;
  }
  q = (wchar_t *)safefs__malloc(sizeof(wchar_t) * (len + 2));
  if (q == NULL) {
    safefs__free(p);
    return safefs__fail(SAFEFS_ENOMEM, 0);
  }
  memcpy(q, p, sizeof(wchar_t) * len);
  q[len] = L'\\';
  q[len + 1] = L'\0';
  safefs__free(p);
  *out = q;
  return 0;
}

/* The directory the caller named: opened by path (links in it followed,
 * as any path lookup does), and shared for read and write only, which
 * keeps it from being renamed or removed while we work in it. */
int safefs__dir_open_path(safefs__dir **out, const char *dir) {
  BY_HANDLE_FILE_INFORMATION info;
  struct safefs__wpath p;
  wchar_t *full;
  char *label;
  HANDLE h;
  int rc;

  *out = NULL;
  if ((rc = safefs__path_from_utf8(&p, dir)) != 0)
    return rc;
  h = safefs__sys_create_file(&p, FILE_LIST_DIRECTORY | FILE_READ_ATTRIBUTES | SYNCHRONIZE,
                              FILE_SHARE_READ | FILE_SHARE_WRITE, OPEN_EXISTING,
                              FILE_FLAG_BACKUP_SEMANTICS, SAFEFS__OP_OPEN_DIR);
  if (h == INVALID_HANDLE_VALUE) {
    rc = safefs__path_fail(GetLastError(), &p, NULL);
  } else if (!safefs__sys_file_info(h, &info)) {
    rc = safefs__fail_os_at((long)GetLastError(), dir, NULL);
  } else if (!(info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)) {
    rc = safefs__fail_msg(SAFEFS_ENOTDIR, ERROR_DIRECTORY, "'%s' is not a directory", dir);
  } else if ((label = safefs__strdup(dir)) == NULL) {
    rc = SAFEFS_ENOMEM;
  } else {
    if ((rc = with_backslash(p.wide, &full)) != 0) { /* takes p.wide over */
      safefs__free(label);
      safefs__sys_close(h);
      return rc;
    }
    return wrap_dir(out, h, full, label);
  }
  if (h != INVALID_HANDLE_VALUE) {
    struct safefs__saved_error e;
    safefs__error_save(&e);
    safefs__sys_close(h);
    safefs__error_restore(&e, rc);
  }
  safefs__path_free(&p);
  return rc;
}

/* FILE_DIRECTORY_FILE refuses a file (ERROR_DIRECTORY); a directory link
 * or junction opens as itself, and the attribute check refuses it. */
int safefs__dir_open_child(safefs__dir **out, safefs__dir *parent, const char *name) {
  BY_HANDLE_FILE_INFORMATION info;
  char *label;
  HANDLE h;
  DWORD e;

  *out = NULL;
  h = safefs__sys_open_at(parent->h, name, FILE_LIST_DIRECTORY | FILE_READ_ATTRIBUTES,
                          SHARE_ALL, FILE_DIRECTORY_FILE | OPEN_ENTRY, SAFEFS__OP_OPEN_DIR);
  if (h == INVALID_HANDLE_VALUE) {
    e = GetLastError();
    if (e == ERROR_DIRECTORY)
      return safefs__fail_msg(SAFEFS_ENOTDIR, (long)e, "'%s' is not a directory", name);
    return safefs__fail_os_at((long)e, NULL, parent->label);
  }
  if (!safefs__sys_file_info(h, &info)) {
    e = GetLastError();
    safefs__sys_close(h);
    return safefs__fail_os_at((long)e, name, parent->label);
  }
  if (info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) {
    safefs__sys_close(h);
    return safefs__fail_msg(SAFEFS_ENOTDIR, ERROR_DIRECTORY, "'%s' is a link, not a directory",
                            name);
  }
  if ((label = safefs__strdup(name)) == NULL) {
    safefs__sys_close(h);
    return SAFEFS_ENOMEM;
  }
  return wrap_dir(out, h, NULL, label);
}

/* The next raw entry of the listing: 1 with *out, 0 at the end of a pass,
 * or a status. */
static int next_raw(safefs__dir *d, const FILE_ID_BOTH_DIR_INFO **out) {
  for (;;) {
    if (d->more) {
      const FILE_ID_BOTH_DIR_INFO *e = (const FILE_ID_BOTH_DIR_INFO *)(d->list + d->pos);
      if (e->NextEntryOffset == 0)
        d->more = 0;
      else
        d->pos += e->NextEntryOffset;
      *out = e;
      return 1;
    }
    if (d->list == NULL) {
      d->list = (unsigned char *)safefs__malloc(LIST_BUFFER_SIZE);
      if (d->list == NULL)
        return safefs__fail(SAFEFS_ENOMEM, 0);
    }
    if (!safefs__sys_list_dir(d->h, d->restart, d->list, LIST_BUFFER_SIZE)) {
      DWORD e = GetLastError();
      if (e != ERROR_NO_MORE_FILES)
        return safefs__fail_os_at((long)e, d->label, NULL);
      d->restart = 1;
      return 0;
    }
    if (d->restart)
      d->removed = 0;
    d->restart = 0;
    d->pos = 0;
    d->more = 1;
  }
}

/* The next entry of the pass, "." and ".." left out (see platform.h). */
int safefs__dir_read(safefs__dir *d, const char **name, int *kind) {
  for (;;) {
    const FILE_ID_BOTH_DIR_INFO *e = NULL; /* set whenever next_raw returns 1 */
    const wchar_t *n;
    int units, rc = next_raw(d, &e);
    if (rc <= 0)
      return rc;
    n = e->FileName;
    units = (int)(e->FileNameLength / sizeof(wchar_t));
    if ((units == 1 && n[0] == L'.') || (units == 2 && n[0] == L'.' && n[1] == L'.'))
      continue;
    safefs__free(d->name);
    d->name = NULL;
    if ((rc = safefs__path_utf8(n, units, 0, &d->name)) != 0)
      return rc;
    *name = d->name;
    *kind = kind_of(e->FileAttributes);
    return 1;
  }
}

int safefs__dir_removed(const safefs__dir *d) {
  return d->removed;
}

/* An open for FILE_READ_ATTRIBUTES only is not subject to share modes, so
 * this works on files others hold exclusively. The age counts from the
 * later of the last write and the last change: ChangeTime moves on a
 * rename, as into the trash, and the last write time does not. */
int safefs__dir_stat(safefs__dir *d, const char *name, int *kind, long long *age_s) {
  FILE_BASIC_INFO info;
  FILETIME now_ft;
  long long t, now;
  HANDLE h;
  DWORD e;

  h = safefs__sys_open_at(d->h, name, FILE_READ_ATTRIBUTES, SHARE_ALL, OPEN_ENTRY,
                          SAFEFS__OP_STAT);
  if (h == INVALID_HANDLE_VALUE)
    return safefs__fail_os_at((long)GetLastError(), NULL, d->label);
  if (!safefs__sys_file_info_ex(h, FileBasicInfo, &info, sizeof info)) {
    e = GetLastError();
    safefs__sys_close(h);
    return safefs__fail_os_at((long)e, name, d->label);
  }
  safefs__sys_close(h);
  t = info.LastWriteTime.QuadPart > info.ChangeTime.QuadPart ? info.LastWriteTime.QuadPart
                                                              : info.ChangeTime.QuadPart;
  GetSystemTimeAsFileTime(&now_ft);
  now = (long long)(((unsigned long long)now_ft.dwHighDateTime << 32) | now_ft.dwLowDateTime);
  *kind = kind_of(info.FileAttributes);
  *age_s = (now - t) / TICKS_PER_SECOND;
  return 0;
}

/* One attempt at removing `name`: a real directory (is_dir) or anything
 * else (a link to a directory, being a link, is "anything else"). The kind
 * is checked on the handle, so on the object that is deleted. */
static int remove_entry(safefs__dir *d, const char *name, int is_dir) {
  BY_HANDLE_FILE_INFORMATION info;
  HANDLE h;
  int rc = open_for_delete(d, name, is_dir ? SAFEFS__OP_RMDIR : SAFEFS__OP_UNLINK, &h, &info);
  if (rc != 0)
    return rc;
  if (is_dir && kind_of(info.dwFileAttributes) != SAFEFS__ENTRY_DIR)
    rc = safefs__fail_msg(SAFEFS_ENOTDIR, ERROR_DIRECTORY, "remove directory '%s': not a directory",
                          name);
  else if (!is_dir && kind_of(info.dwFileAttributes) == SAFEFS__ENTRY_DIR)
    rc = safefs__fail_msg(SAFEFS_EISDIR, ERROR_ACCESS_DENIED, /* as DeleteFileW says */
                          "delete '%s': is a directory", name);
  else
    rc = delete_by_handle(d, h, info.dwFileAttributes, name,
                          is_dir ? SAFEFS__OP_RMDIR : SAFEFS__OP_UNLINK, is_dir);
  safefs__sys_close(h); /* the classic disposition takes effect here */
  if (rc == 0)
    d->removed++;
  return rc;
}

int safefs__dir_unlink(safefs__dir *d, const char *name) {
  return remove_entry(d, name, 0);
}

int safefs__dir_rmdir(safefs__dir *d, const char *name) {
  return remove_entry(d, name, 1);
}

/* d's path, for the path-based rename: known for the directory the caller
 * named, asked of the handle otherwise. */
static int dir_path(safefs__dir *d) {
  wchar_t *p;
  int rc;
  if (d->path != NULL)
    return 0;
  if (!safefs__sys_final_path(d->h, &p))
    return safefs__fail_os_at((long)GetLastError(), NULL, d->label);
  if ((rc = with_backslash(p, &d->path)) != 0)
    return rc;
  d->len = wcslen(d->path);
  return 0;
}

/* MoveFileExW without MOVEFILE_REPLACE_EXISTING never replaces `to`. It
 * says ERROR_ACCESS_DENIED both for a real permission problem and for
 * something in use (a directory with files open below it on Windows, a
 * delete-pending file): opening `from` for deletion tells them apart.
 * (Renaming by handle, FileRenameInfo relative to the directory, would
 * avoid the path, but Wine 8 refuses it.) */
int safefs__dir_rename(safefs__dir *d, const char *from, const char *to) {
  BY_HANDLE_FILE_INFORMATION info;
  struct safefs__wpath wfrom, wto;
  HANDLE h;
  DWORD e;
  int rc;

  wfrom.wide = NULL;
  wto.wide = NULL;
  if ((rc = dir_path(d)) != 0 || (rc = safefs__path_join(&wfrom, d->path, d->len, from)) != 0 ||
      (rc = safefs__path_join(&wto, d->path, d->len, to)) != 0) {
    safefs__path_free(&wfrom);
    return rc;
  }
  if (safefs__sys_move_file(&wfrom, &wto, 0)) {
    rc = 0;
  } else if ((e = GetLastError()) == ERROR_ACCESS_DENIED) {
    rc = open_for_delete(d, from, SAFEFS__OP_RENAME, &h, &info);
    if (rc == 0) {
      safefs__sys_close(h);
      rc = attempt_failed(d, e, 0); /* we may delete it: something holds it */
    }
  } else {
    rc = attempt_failed(d, e, 0);
  }
  safefs__path_free(&wfrom);
  safefs__path_free(&wto);
  return rc;
}

/* The directory's entries to stable storage: a flush of the directory
 * (sys.h). Filesystems and rights that cannot do it are tolerated, as
 * POSIX tolerates a directory fsync that some filesystems refuse: there
 * the NTFS-like journal (or nothing, on FAT) is all there is. */
int safefs__dir_sync(safefs__dir *d) {
  DWORD e;
  if (safefs__sys_flush_dir(d->h))
    return 0;
  e = GetLastError();
  if (safefs__dir_flush_tolerated(e))
    return 0;
  return safefs__fail_os_at((long)e, d->label, NULL);
}

/* A deleted name lingers while others hold the file: the general path
 * renames it aside first. */
int safefs__unlink_fast(const char *path) {
  SAFEFS__UNUSED(path);
  return SAFEFS__AGAIN;
}

int safefs__unlink_leaves_name(void) {
  return 1;
}

/* The handle is kept (handles are plentiful on Windows, and it is what the
 * walk works through); only the listing batch is given back, and the
 * listing starts over when the walk comes back. */
void safefs__dir_park(safefs__dir *d) {
  safefs__free(d->list);
  d->list = NULL;
  d->more = 0;
  d->restart = 1;
}

/* Asked of the open handle; a directory that cannot be asked gets an id
 * of its own (it is then synced on its own, which costs only time). */
void safefs__dir_id(const safefs__dir *d, unsigned long long id[2]) {
  BY_HANDLE_FILE_INFORMATION info;
  if (!safefs__sys_file_info(d->h, &info)) {
    id[0] = ~0ull;
    id[1] = (unsigned long long)(size_t)d;
    return;
  }
  id[0] = info.dwVolumeSerialNumber;
  id[1] = ((unsigned long long)info.nFileIndexHigh << 32) | info.nFileIndexLow;
}

int safefs__dir_unpark(safefs__dir *d, safefs__dir *child) {
  SAFEFS__UNUSED(d);
  SAFEFS__UNUSED(child);
  return 0;
}

void safefs__dir_close(safefs__dir *d) {
  if (d == NULL)
    return;
  safefs__sys_close(d->h);
  safefs__free(d->label);
  safefs__free(d->path);
  safefs__free(d->list);
  safefs__free(d->name);
  safefs__free(d);
}
