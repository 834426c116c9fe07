/* The Win32 backend's system calls and path conversion; see sys.h. */
#include "sys.h"

#include <string.h>
#include <winternl.h>

/* Writes are issued in pieces of at most this size: WriteFile takes a
 * DWORD, and very large single writes to network redirectors have been
 * known to fail with ERROR_NO_SYSTEM_RESOURCES. */
#define MAX_IO_CHUNK (32u * 1024u * 1024u)

#define LONG_PREFIX L"\\\\?\\"
#define LONG_PREFIX_LEN 4
#define UNC_PREFIX L"\\\\?\\UNC\\"
#define UNC_PREFIX_LEN 8

/* Describe one call to the seam and return its verdict (see seam.h).
 * Every wrapper asks before its call and reports the outcome after it. */
static long ask_seam(enum safefs__op op, const char *path, const char *path2, const void *data,
                     size_t size, HANDLE h) {
  return safefs__seam_call(op, path, path2, data, size,
                           h == NULL ? -1 : (long long)(INT_PTR)h);
}

/* Report the outcome of the call last asked about (-1: failed, with the
 * last error) to the seam's after-hook; the last error survives. */
static long long done(long long result) {
  DWORD e = GetLastError();
  safefs__seam_done(result, result < 0 ? (long)e : 0);
  SetLastError(e);
  return result;
}

/* done() for the calls that return a BOOL. */
static BOOL done_ok(BOOL ok) {
  done(ok ? 0 : -1);
  return ok;
}

/* 1 (with the injected error set as the last error) if the seam fails
 * this call. */
static int refused(enum safefs__op op, const char *path, const char *path2, HANDLE h) {
  long r = ask_seam(op, path, path2, NULL, 0, h);
  if (r > 0) {
    SetLastError((DWORD)r);
    return 1;
  }
  return 0;
}

/* The same for a WRITE or READ of `size` bytes; a SAFEFS__SEAM_SHORT
 * verdict halves *chunk. */
static int transfer_refused(enum safefs__op op, HANDLE h, const void *data, size_t size,
                            DWORD *chunk) {
  long r = ask_seam(op, NULL, NULL, data, size, h);
  if (r > 0) {
    SetLastError((DWORD)r);
    return 1;
  }
  if (r == SAFEFS__SEAM_SHORT && *chunk > 1)
    *chunk /= 2;
  return 0;
}

/* ---- paths ---------------------------------------------------------------- */

/* UTF-8 -> UTF-16: measure, allocate, convert, with the strict shared
 * converter (src/utf8.c): invalid input (stray bytes, overlong forms,
 * encoded surrogates) is refused, never replaced by U+FFFD, so two
 * different byte strings never name one file. The refusal is reported as
 * Windows would (ERROR_NO_UNICODE_TRANSLATION). wchar_t is the 16-bit
 * unsigned type the converter writes on every Windows compiler. */
static int to_wide(const char *s, wchar_t **out) {
  long n = safefs__utf8_to_utf16(s, NULL, 0);
  wchar_t *w;
  *out = NULL;
  if (n < 0)
    return safefs__fail_os(ERROR_NO_UNICODE_TRANSLATION);
  w = (wchar_t *)safefs__malloc(sizeof(wchar_t) * ((size_t)n + 1));
  if (w == NULL)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  safefs__utf8_to_utf16(s, (unsigned short *)w, (size_t)n + 1);
  *out = w;
  return 0;
}

int safefs__sys_utf8(const wchar_t *w, int len, char **out) {
  size_t units = len < 0 ? wcslen(w) : (size_t)len;
  long n = safefs__utf16_to_utf8((const unsigned short *)w, units, NULL, 0);
  char *s;
  *out = NULL;
  if (n < 0)
    return safefs__fail_os(ERROR_NO_UNICODE_TRANSLATION);
  s = (char *)safefs__malloc((size_t)n + 1);
  if (s == NULL)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  safefs__utf16_to_utf8((const unsigned short *)w, units, s, (size_t)n + 1);
  *out = s;
  return 0;
}

static int starts_with(const wchar_t *s, const wchar_t *prefix) {
  return wcsncmp(s, prefix, wcslen(prefix)) == 0;
}

/* GetFullPathNameW resolves the current directory, "." and "..", turns
 * '/' into '\\', and works past MAX_PATH for the wide version. The \\?\
 * prefix then switches off further parsing, which is why it comes last. */
int safefs__sys_wide_path(const char *path, wchar_t **out) {
  wchar_t *w, *full, *res;
  DWORD need, got;
  size_t len, pre;
  int rc;

  *out = NULL;
  if ((rc = to_wide(path, &w)) != 0)
    return rc;
  if (starts_with(w, LONG_PREFIX) || starts_with(w, L"\\\\.\\")) {
    *out = w;
    return 0;
  }
  need = GetFullPathNameW(w, 0, NULL, NULL);
  if (need == 0) {
    DWORD e = GetLastError();
    safefs__free(w);
    return safefs__fail_os((long)e);
  }
  full = (wchar_t *)safefs__malloc(sizeof(wchar_t) * need);
  if (full == NULL) {
    safefs__free(w);
    return safefs__fail(SAFEFS_ENOMEM, 0);
  }
  got = GetFullPathNameW(w, need, full, NULL);
  safefs__free(w);
  if (got == 0 || got >= need) { /* error, or the current dir changed in between */
    DWORD e = got == 0 ? GetLastError() : ERROR_BUFFER_OVERFLOW;
    safefs__free(full);
    return safefs__fail_os((long)e);
  }
  if (starts_with(full, L"\\\\.\\") || starts_with(full, LONG_PREFIX)) {
    *out = full; /* a device name such as NUL: no prefix applies */
    return 0;
  }
  len = wcslen(full);
  /* \\server\share\x -> \\?\UNC\server\share\x; C:\x -> \\?\C:\x */
  pre = starts_with(full, L"\\\\") ? UNC_PREFIX_LEN - 2 : LONG_PREFIX_LEN;
  res = (wchar_t *)safefs__malloc(sizeof(wchar_t) * (pre + len + 1));
  if (res == NULL) {
    safefs__free(full);
    return safefs__fail(SAFEFS_ENOMEM, 0);
  }
  if (pre == LONG_PREFIX_LEN) {
    memcpy(res, LONG_PREFIX, sizeof(wchar_t) * LONG_PREFIX_LEN);
    memcpy(res + pre, full, sizeof(wchar_t) * (len + 1));
  } else {
    memcpy(res, UNC_PREFIX, sizeof(wchar_t) * UNC_PREFIX_LEN);
    memcpy(res + UNC_PREFIX_LEN, full + 2, sizeof(wchar_t) * (len - 1));
  }
  safefs__free(full);
  *out = res;
  return 0;
}

size_t safefs__sys_base_offset(const wchar_t *path) {
  const wchar_t *slash = wcsrchr(path, L'\\');
  return slash ? (size_t)(slash - path) + 1 : 0;
}

int safefs__sys_wide_join(const wchar_t *dir, size_t dir_len, const char *name, wchar_t **out) {
  wchar_t *wname, *res;
  size_t n;
  int rc;

  *out = NULL;
  if ((rc = to_wide(name, &wname)) != 0)
    return rc;
  n = wcslen(wname);
  res = (wchar_t *)safefs__malloc(sizeof(wchar_t) * (dir_len + n + 1));
  if (res == NULL) {
    safefs__free(wname);
    return safefs__fail(SAFEFS_ENOMEM, 0);
  }
  memcpy(res, dir, sizeof(wchar_t) * dir_len);
  memcpy(res + dir_len, wname, sizeof(wchar_t) * (n + 1));
  safefs__free(wname);
  *out = res;
  return 0;
}

/* Windows says ERROR_PATH_NOT_FOUND both for a missing directory and for a
 * file used as one; POSIX says ENOENT and ENOTDIR. The nearest ancestor
 * that exists tells which. Only failures pay for this walk. */
int safefs__sys_fail_path(DWORD err, const wchar_t *path) {
  size_t len;
  wchar_t *copy;
  int status = SAFEFS_ENOENT;

  if (err != ERROR_PATH_NOT_FOUND)
    return safefs__fail_os((long)err);
  len = wcslen(path);
  copy = (wchar_t *)safefs__malloc(sizeof(wchar_t) * (len + 1));
  if (copy == NULL)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  memcpy(copy, path, sizeof(wchar_t) * (len + 1));
  for (;;) {
    size_t cut = safefs__sys_base_offset(copy);
    DWORD attrs, e;
    if (cut <= LONG_PREFIX_LEN)
      break;
    copy[cut - 1] = L'\0';
    attrs = safefs__sys_attributes(copy, NULL);
    if (attrs != INVALID_FILE_ATTRIBUTES) {
      if (!(attrs & FILE_ATTRIBUTE_DIRECTORY))
        status = SAFEFS_ENOTDIR;
      break;
    }
    e = GetLastError();
    if (e != ERROR_FILE_NOT_FOUND && e != ERROR_PATH_NOT_FOUND)
      break;
  }
  safefs__free(copy);
  return safefs__fail(status, (long)err);
}

/* ---- calls ---------------------------------------------------------------- */

HANDLE safefs__sys_create_file(const wchar_t *path, const char *label, DWORD access,
                               DWORD share, DWORD disposition, DWORD flags_and_attrs,
                               enum safefs__op op) {
  HANDLE h;
  if (refused(op, label, NULL, NULL)) {
    done(-1);
    return INVALID_HANDLE_VALUE;
  }
  /* no SECURITY_ATTRIBUTES: the handle is not inherited by child processes */
  h = CreateFileW(path, access, share, NULL, disposition, flags_and_attrs, NULL);
  done(h == INVALID_HANDLE_VALUE ? -1 : (long long)(INT_PTR)h);
  return h;
}

BOOL safefs__sys_write_all(HANDLE h, const void *data, size_t size) {
  const char *p = (const char *)data;
  while (size > 0) {
    DWORD chunk = size > MAX_IO_CHUNK ? MAX_IO_CHUNK : (DWORD)size, written = 0;
    if (transfer_refused(SAFEFS__OP_WRITE, h, p, size, &chunk))
      return done_ok(FALSE);
    if (!WriteFile(h, p, chunk, &written, NULL))
      return done_ok(FALSE);
    done((long long)written);
    if (written == 0) { /* no progress and no error: treat as out of space */
      SetLastError(ERROR_DISK_FULL);
      return FALSE;
    }
    p += written;
    size -= written;
  }
  return TRUE;
}

BOOL safefs__sys_read(HANDLE h, void *buf, size_t size, size_t *got) {
  DWORD chunk = size > MAX_IO_CHUNK ? MAX_IO_CHUNK : (DWORD)size, read = 0;
  *got = 0;
  if (transfer_refused(SAFEFS__OP_READ, h, NULL, size, &chunk))
    return done_ok(FALSE);
  if (!ReadFile(h, buf, chunk, &read, NULL)) {
    if (GetLastError() == ERROR_HANDLE_EOF || GetLastError() == ERROR_BROKEN_PIPE)
      return done_ok(TRUE); /* end of file, said the other way */
    return done_ok(FALSE);
  }
  *got = read;
  done((long long)read);
  return TRUE;
}

BOOL safefs__sys_flush(HANDLE h) {
  long r = ask_seam(SAFEFS__OP_SYNC, NULL, NULL, NULL, 0, h);
  if (r == SAFEFS__SEAM_SKIP)
    return done_ok(TRUE);
  if (r > 0) {
    SetLastError((DWORD)r);
    return done_ok(FALSE);
  }
  return done_ok(FlushFileBuffers(h));
}

BOOL safefs__sys_close(HANDLE h) {
  if (refused(SAFEFS__OP_CLOSE, NULL, NULL, h)) {
    DWORD e = GetLastError();
    CloseHandle(h);
    SetLastError(e);
    return done_ok(FALSE);
  }
  return done_ok(CloseHandle(h));
}

DWORD safefs__sys_attributes(const wchar_t *path, const char *label) {
  DWORD attrs;
  if (refused(SAFEFS__OP_STAT, label, NULL, NULL)) {
    done(-1);
    return INVALID_FILE_ATTRIBUTES;
  }
  attrs = GetFileAttributesW(path);
  done(attrs == INVALID_FILE_ATTRIBUTES ? -1 : 0);
  return attrs;
}

BOOL safefs__sys_file_info(HANDLE h, BY_HANDLE_FILE_INFORMATION *info) {
  if (refused(SAFEFS__OP_STAT, NULL, NULL, h))
    return done_ok(FALSE);
  return done_ok(GetFileInformationByHandle(h, info));
}

BOOL safefs__sys_set_attributes_by_handle(HANDLE h, DWORD attrs) {
  FILE_BASIC_INFO info;
  if (refused(SAFEFS__OP_SET_MODE, NULL, NULL, h))
    return done_ok(FALSE);
  /* zero times mean "leave unchanged"; zero attributes would too, hence
     FILE_ATTRIBUTE_NORMAL for "none" */
  memset(&info, 0, sizeof info);
  info.FileAttributes = attrs != 0 ? attrs : FILE_ATTRIBUTE_NORMAL;
  return done_ok(SetFileInformationByHandle(h, FileBasicInfo, &info, sizeof info));
}

BOOL safefs__sys_set_attributes(const wchar_t *path, const char *label, DWORD attrs) {
  if (refused(SAFEFS__OP_SET_MODE, label, NULL, NULL))
    return done_ok(FALSE);
  return done_ok(SetFileAttributesW(path, attrs != 0 ? attrs : FILE_ATTRIBUTE_NORMAL));
}

BOOL safefs__sys_final_path(HANDLE h, wchar_t **out) {
  DWORD need, got;
  wchar_t *buf;
  *out = NULL;
  if (refused(SAFEFS__OP_READLINK, NULL, NULL, h))
    return done_ok(FALSE);
  need = GetFinalPathNameByHandleW(h, NULL, 0, FILE_NAME_NORMALIZED | VOLUME_NAME_DOS);
  if (need == 0)
    return done_ok(FALSE);
  buf = (wchar_t *)safefs__malloc(sizeof(wchar_t) * (need + 1));
  if (buf == NULL) {
    SetLastError(ERROR_NOT_ENOUGH_MEMORY);
    return done_ok(FALSE);
  }
  got = GetFinalPathNameByHandleW(h, buf, need + 1, FILE_NAME_NORMALIZED | VOLUME_NAME_DOS);
  if (got == 0 || got > need) { /* renamed in between to a longer name */
    DWORD e = got == 0 ? GetLastError() : ERROR_BUFFER_OVERFLOW;
    safefs__free(buf);
    SetLastError(e);
    return done_ok(FALSE);
  }
  *out = buf;
  return done_ok(TRUE);
}

BOOL safefs__sys_replace_file(const wchar_t *target, const wchar_t *replacement,
                              const wchar_t *backup, const char *target_label,
                              const char *replacement_label, const char *backup_label) {
  /* no SAFEFS__RENAME_DURABLE: ReplaceFileW has no write-through */
  long r = ask_seam(SAFEFS__OP_RENAME, replacement_label, target_label, backup_label, 0, NULL);
  if (r > 0) {
    SetLastError((DWORD)r);
    return done_ok(FALSE);
  }
  return done_ok(ReplaceFileW(target, replacement, backup,
                              REPLACEFILE_IGNORE_MERGE_ERRORS | REPLACEFILE_IGNORE_ACL_ERRORS,
                              NULL, NULL));
}

BOOL safefs__sys_move_file(const wchar_t *from, const wchar_t *to, DWORD flags,
                           const char *from_label, const char *to_label) {
  size_t kind = ((flags & MOVEFILE_REPLACE_EXISTING) ? 0 : SAFEFS__RENAME_NOREPLACE) |
                ((flags & MOVEFILE_WRITE_THROUGH) ? SAFEFS__RENAME_DURABLE : 0);
  long r = ask_seam(SAFEFS__OP_RENAME, from_label, to_label, NULL, kind, NULL);
  if (r > 0) {
    SetLastError((DWORD)r);
    return done_ok(FALSE);
  }
  return done_ok(MoveFileExW(from, to, flags));
}

BOOL safefs__sys_create_directory(const wchar_t *path, const char *label) {
  if (refused(SAFEFS__OP_MKDIR, label, NULL, NULL))
    return done_ok(FALSE);
  return done_ok(CreateDirectoryW(path, NULL));
}

BOOL safefs__sys_delete_file(const wchar_t *path, const char *label) {
  if (refused(SAFEFS__OP_UNLINK, label, NULL, NULL))
    return done_ok(FALSE);
  return done_ok(DeleteFileW(path));
}

/* ntdll's NtCreateFile, found at run time as libuv does (no import library
 * needed, MSVC or MinGW). Racing first calls store the same pointer. */
typedef NTSTATUS(NTAPI *nt_create_file_fn)(PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES,
                                           PIO_STATUS_BLOCK, PLARGE_INTEGER, ULONG, ULONG,
                                           ULONG, ULONG, PVOID, ULONG);
typedef ULONG(NTAPI *nt_status_to_error_fn)(NTSTATUS);
static nt_create_file_fn nt_create_file;
static nt_status_to_error_fn nt_status_to_error;

#define NT_STATUS_DELETE_PENDING ((NTSTATUS)0xC0000056L)

static int load_ntdll(void) {
  if (nt_create_file == NULL || nt_status_to_error == NULL) {
    HMODULE nt = GetModuleHandleW(L"ntdll.dll");
    if (nt == NULL)
      return 0;
    /* through void (*)(void): a FARPROC cast straight to another function
       pointer type draws -Wcast-function-type */
    nt_status_to_error =
        (nt_status_to_error_fn)(void (*)(void))GetProcAddress(nt, "RtlNtStatusToDosError");
    nt_create_file = (nt_create_file_fn)(void (*)(void))GetProcAddress(nt, "NtCreateFile");
  }
  return nt_create_file != NULL && nt_status_to_error != NULL;
}

HANDLE safefs__sys_open_at(HANDLE dir, const char *name, DWORD access, DWORD share,
                           DWORD options, enum safefs__op op) {
  UNICODE_STRING uname;
  OBJECT_ATTRIBUTES attrs;
  IO_STATUS_BLOCK io;
  HANDLE h = NULL;
  NTSTATUS st;
  wchar_t *w;
  size_t len;

  if (refused(op, name, NULL, dir)) {
    done(-1);
    return INVALID_HANDLE_VALUE;
  }
  if (!load_ntdll()) {
    SetLastError(ERROR_CALL_NOT_IMPLEMENTED);
    done(-1);
    return INVALID_HANDLE_VALUE;
  }
  if (to_wide(name, &w) != 0) { /* invalid UTF-8, or out of memory */
    long e = safefs_last_os_error();
    SetLastError(e != 0 ? (DWORD)e : ERROR_NOT_ENOUGH_MEMORY);
    done(-1);
    return INVALID_HANDLE_VALUE;
  }
  len = wcslen(w) * sizeof(wchar_t);
  if (len > 0xFFFE) {
    safefs__free(w);
    SetLastError(ERROR_FILENAME_EXCED_RANGE);
    done(-1);
    return INVALID_HANDLE_VALUE;
  }
  uname.Buffer = w;
  uname.Length = (USHORT)len;
  uname.MaximumLength = (USHORT)len;
  InitializeObjectAttributes(&attrs, &uname, OBJ_CASE_INSENSITIVE, dir, NULL);
  st = nt_create_file(&h, access | SYNCHRONIZE, &attrs, &io, NULL, 0, share, FILE_OPEN,
                      options | FILE_SYNCHRONOUS_IO_NONALERT, NULL, 0);
  safefs__free(w);
  if (st < 0) {
    SetLastError(st == NT_STATUS_DELETE_PENDING ? ERROR_DELETE_PENDING : nt_status_to_error(st));
    done(-1);
    return INVALID_HANDLE_VALUE;
  }
  done((long long)(INT_PTR)h);
  return h;
}

BOOL safefs__sys_set_file_info(HANDLE h, const char *label, FILE_INFO_BY_HANDLE_CLASS cls,
                               void *info, DWORD size, enum safefs__op op) {
  if (refused(op, label, NULL, h))
    return done_ok(FALSE);
  return done_ok(SetFileInformationByHandle(h, cls, info, size));
}

BOOL safefs__sys_file_info_ex(HANDLE h, FILE_INFO_BY_HANDLE_CLASS cls, void *info, DWORD size) {
  if (refused(SAFEFS__OP_STAT, NULL, NULL, h))
    return done_ok(FALSE);
  return done_ok(GetFileInformationByHandleEx(h, cls, info, size));
}

BOOL safefs__sys_volume_fs_name(HANDLE h, wchar_t *name, DWORD size) {
  if (refused(SAFEFS__OP_STAT, NULL, NULL, h))
    return done_ok(FALSE);
  return done_ok(GetVolumeInformationByHandleW(h, NULL, 0, NULL, NULL, NULL, name, size));
}

BOOL safefs__sys_list_dir(HANDLE dir, int restart, void *buf, DWORD size) {
  BOOL ok;
  if (refused(SAFEFS__OP_LIST_DIR, NULL, NULL, dir))
    return done_ok(FALSE);
  ok = GetFileInformationByHandleEx(
      dir, restart ? FileIdBothDirectoryRestartInfo : FileIdBothDirectoryInfo, buf, size);
  done(ok || GetLastError() == ERROR_NO_MORE_FILES ? 0 : -1); /* the end is no failure */
  return ok;
}
