/* The Win32 backend's system calls; see sys.h. */
#include "sys.h"

#include <stddef.h>
#include <string.h>
#include <winternl.h>

/* For builds that compile the sources without our CMake (which links it):
 * the token and security-descriptor calls are in advapi32. */
#if defined(_MSC_VER)
#pragma comment(lib, "advapi32.lib")
#endif

#ifndef SECURITY_MAX_SID_SIZE
#define SECURITY_MAX_SID_SIZE 68
#endif

/* Writes are issued in pieces of at most this size: WriteFile takes a
 * DWORD, and very large single writes to network redirectors have been
 * known to fail with ERROR_NO_SYSTEM_RESOURCES. */
#define MAX_IO_CHUNK (32u * 1024u * 1024u)

static long long handle_number(HANDLE h) {
  return h == NULL ? -1 : (long long)(INT_PTR)h;
}

/* Describe one call to the seam and return its verdict (see seam.h), with
 * an error to inject set as the last error. Every wrapper asks before its
 * call and reports the outcome after it. */
static long ask_seam(enum safefs__op op, const char *path, const char *path2, const void *data,
                     size_t size, HANDLE h) {
  long r = safefs__seam_call(op, path, path2, data, size, handle_number(h));
  if (r > 0)
    SetLastError((DWORD)r);
  return r;
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
  return ask_seam(op, path, path2, NULL, 0, h) > 0;
}

/* The seam's view of a create: SAFEFS__CREATE_DOOMED where the file is
 * created delete-on-close for good. */
static int create_refused(enum safefs__op op, const struct safefs__wpath *p,
                          DWORD flags_and_attrs) {
  long r = safefs__seam_flagged(
      op, p->name, NULL, (flags_and_attrs & FILE_FLAG_DELETE_ON_CLOSE) ? SAFEFS__CREATE_DOOMED : 0u,
      -1);
  if (r > 0)
    SetLastError((DWORD)r);
  return r > 0;
}

/* The same for a WRITE or READ of `size` bytes; a SAFEFS__SEAM_SHORT
 * verdict halves *chunk. */
static int transfer_refused(enum safefs__op op, HANDLE h, const void *data, size_t size,
                            DWORD *chunk) {
  long r = ask_seam(op, NULL, NULL, data, size, h);
  if (r > 0)
    return 1;
  if (r == SAFEFS__SEAM_SHORT && *chunk > 1)
    *chunk /= 2;
  return 0;
}

/* CreateFileW with `sa` (NULL: the default descriptor), asked of the
 * seam first. The handle is never inheritable (bInheritHandle FALSE). */
static HANDLE create_file(const struct safefs__wpath *p, DWORD access, DWORD share,
                          DWORD disposition, DWORD flags_and_attrs, SECURITY_ATTRIBUTES *sa) {
  HANDLE h = CreateFileW(p->wide, access, share, sa, disposition, flags_and_attrs, NULL);
  done(h == INVALID_HANDLE_VALUE ? -1 : handle_number(h));
  return h;
}

HANDLE safefs__sys_create_file(const struct safefs__wpath *p, DWORD access, DWORD share,
                               DWORD disposition, DWORD flags_and_attrs, enum safefs__op op) {
  if (create_refused(op, p, flags_and_attrs)) {
    done(-1);
    return INVALID_HANDLE_VALUE;
  }
  /* no SECURITY_ATTRIBUTES: the handle is not inherited by child processes */
  return create_file(p, access, share, disposition, flags_and_attrs, NULL);
}

/* An absolute security descriptor and the DACL it points to, in one
 * block on the caller's stack. The DACL has room for one ACE with the
 * largest SID; `align` keeps it DWORD-aligned, as AddAccessAllowedAce
 * requires. */
struct owner_only_sd {
  SECURITY_DESCRIPTOR sd;
  union {
    ACL acl;
    DWORD align;
    BYTE bytes[sizeof(ACL) + sizeof(ACCESS_ALLOWED_ACE) + SECURITY_MAX_SID_SIZE];
  } dacl;
};

/* The token of the user new files are created as: the thread's
 * impersonation token if it has one, else the process's. */
static BOOL open_effective_token(HANDLE *tok) {
  if (OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, TRUE, tok))
    return TRUE;
  return GetLastError() == ERROR_NO_TOKEN &&
         OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, tok);
}

/* Fill *out with a protected DACL granting FILE_ALL_ACCESS to the
 * effective token's user, and nothing to anyone else. Only documented
 * calls: OpenThreadToken / OpenProcessToken, GetTokenInformation
 * (TokenUser), InitializeAcl, AddAccessAllowedAce,
 * InitializeSecurityDescriptor, SetSecurityDescriptorDacl and
 * SetSecurityDescriptorControl(SE_DACL_PROTECTED). */
static BOOL build_owner_only_sd(struct owner_only_sd *out) {
  union {
    TOKEN_USER user;
    BYTE bytes[sizeof(TOKEN_USER) + SECURITY_MAX_SID_SIZE];
  } info;
  HANDLE tok;
  DWORD len = 0, e;
  BOOL ok;
  if (!open_effective_token(&tok))
    return FALSE;
  ok = GetTokenInformation(tok, TokenUser, &info, (DWORD)sizeof info, &len);
  e = GetLastError();
  CloseHandle(tok);
  if (!ok) {
    SetLastError(e);
    return FALSE;
  }
  return InitializeAcl(&out->dacl.acl, (DWORD)sizeof out->dacl, ACL_REVISION) &&
         AddAccessAllowedAce(&out->dacl.acl, ACL_REVISION, FILE_ALL_ACCESS,
                             info.user.User.Sid) &&
         InitializeSecurityDescriptor(&out->sd, SECURITY_DESCRIPTOR_REVISION) &&
         SetSecurityDescriptorDacl(&out->sd, TRUE, &out->dacl.acl, FALSE) &&
         SetSecurityDescriptorControl(&out->sd, SE_DACL_PROTECTED, SE_DACL_PROTECTED);
}

HANDLE safefs__sys_create_private_file(const struct safefs__wpath *p, DWORD access, DWORD share,
                                       DWORD disposition, DWORD flags_and_attrs,
                                       enum safefs__op op) {
  struct owner_only_sd sd;
  SECURITY_ATTRIBUTES sa;
  if (create_refused(op, p, flags_and_attrs) || !build_owner_only_sd(&sd)) {
    done(-1);
    return INVALID_HANDLE_VALUE;
  }
  sa.nLength = (DWORD)sizeof sa;
  sa.lpSecurityDescriptor = &sd.sd;
  sa.bInheritHandle = FALSE;
  return create_file(p, access, share, disposition, flags_and_attrs, &sa);
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

/* An overlapped handle has no file pointer: the offset goes in the
 * OVERLAPPED, and without an event the handle itself is signalled. End of
 * file is a successful transfer of 0 bytes. */
BOOL safefs__sys_transfer_at(HANDLE h, enum safefs__op op, void *buf, DWORD size,
                             unsigned long long offset, DWORD *moved) {
  OVERLAPPED ov;
  DWORD chunk = size;
  BOOL ok;
  *moved = 0;
  if (transfer_refused(op, h, op == SAFEFS__OP_WRITE ? buf : NULL, size, &chunk))
    return done_ok(FALSE);
  memset(&ov, 0, sizeof ov);
  ov.Offset = (DWORD)(offset & 0xFFFFFFFFu);
  ov.OffsetHigh = (DWORD)(offset >> 32);
  ok = op == SAFEFS__OP_WRITE ? WriteFile(h, buf, chunk, NULL, &ov)
                              : ReadFile(h, buf, chunk, NULL, &ov);
  if (ok || GetLastError() == ERROR_IO_PENDING)
    ok = GetOverlappedResult(h, &ov, moved, TRUE);
  if (!ok && op == SAFEFS__OP_READ && GetLastError() == ERROR_HANDLE_EOF) {
    *moved = 0;
    ok = TRUE;
  }
  done(ok ? (long long)*moved : -1);
  return ok;
}

BOOL safefs__sys_flush(HANDLE h) {
  long r = ask_seam(SAFEFS__OP_SYNC, NULL, NULL, NULL, 0, h);
  if (r == SAFEFS__SEAM_SKIP)
    return done_ok(TRUE);
  if (r > 0)
    return done_ok(FALSE);
  return done_ok(FlushFileBuffers(h));
}

BOOL safefs__sys_flush_dir(HANDLE dir) {
  HANDLE h;
  BOOL ok;
  DWORD e;
  long r = ask_seam(SAFEFS__OP_SYNC_DIR, NULL, NULL, NULL, 0, dir);
  if (r == SAFEFS__SEAM_SKIP)
    return done_ok(TRUE);
  if (r > 0)
    return done_ok(FALSE);
  h = ReOpenFile(dir, FILE_ADD_FILE | SYNCHRONIZE,
                 FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                 FILE_FLAG_BACKUP_SEMANTICS);
  if (h == INVALID_HANDLE_VALUE)
    return done_ok(FALSE);
  ok = FlushFileBuffers(h);
  e = GetLastError();
  CloseHandle(h);
  SetLastError(e);
  return done_ok(ok);
}

int safefs__dir_flush_tolerated(DWORD e) {
  return e == ERROR_ACCESS_DENIED || e == ERROR_INVALID_FUNCTION || e == ERROR_NOT_SUPPORTED ||
         e == ERROR_INVALID_PARAMETER;
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

DWORD safefs__sys_attributes(const struct safefs__wpath *p) {
  DWORD attrs;
  if (refused(SAFEFS__OP_STAT, p->name, NULL, NULL)) {
    done(-1);
    return INVALID_FILE_ATTRIBUTES;
  }
  attrs = GetFileAttributesW(p->wide);
  done(attrs == INVALID_FILE_ATTRIBUTES ? -1 : 0);
  return attrs;
}

BOOL safefs__sys_file_info(HANDLE h, BY_HANDLE_FILE_INFORMATION *info) {
  if (refused(SAFEFS__OP_STAT, NULL, NULL, h))
    return done_ok(FALSE);
  return done_ok(GetFileInformationByHandle(h, info));
}

BOOL safefs__sys_set_attributes(HANDLE h, DWORD attrs, long long created) {
  FILE_BASIC_INFO info;
  if (refused(SAFEFS__OP_SET_MODE, NULL, NULL, h))
    return done_ok(FALSE);
  /* zero times mean "leave unchanged"; zero attributes would too, hence
     FILE_ATTRIBUTE_NORMAL for "none" */
  memset(&info, 0, sizeof info);
  info.FileAttributes = attrs != 0 ? attrs : FILE_ATTRIBUTE_NORMAL;
  info.CreationTime.QuadPart = created;
  return done_ok(SetFileInformationByHandle(h, FileBasicInfo, &info, sizeof info));
}

BOOL safefs__sys_dacl_of(HANDLE h, void **sd) {
  DWORD need = 0;
  *sd = NULL;
  if (refused(SAFEFS__OP_STAT, NULL, NULL, h))
    return done_ok(FALSE);
  if (GetKernelObjectSecurity(h, DACL_SECURITY_INFORMATION, NULL, 0, &need) ||
      GetLastError() != ERROR_INSUFFICIENT_BUFFER || need == 0)
    return done_ok(FALSE);
  *sd = safefs__malloc(need);
  if (*sd == NULL) {
    SetLastError(ERROR_NOT_ENOUGH_MEMORY);
    return done_ok(FALSE);
  }
  if (!GetKernelObjectSecurity(h, DACL_SECURITY_INFORMATION, (PSECURITY_DESCRIPTOR)*sd, need,
                               &need)) {
    DWORD e = GetLastError();
    safefs__free(*sd);
    *sd = NULL;
    SetLastError(e);
    return done_ok(FALSE);
  }
  return done_ok(TRUE);
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

BOOL safefs__sys_replace_file(const struct safefs__wpath *target,
                              const struct safefs__wpath *replacement,
                              const struct safefs__wpath *backup) {
  /* no SAFEFS__RENAME_DURABLE: ReplaceFileW has no write-through */
  long r = safefs__seam_rename(replacement->name, target->name,
                               backup != NULL ? backup->name : NULL, 0, -1);
  if (r > 0) {
    SetLastError((DWORD)r);
    return done_ok(FALSE);
  }
  return done_ok(ReplaceFileW(target->wide, replacement->wide,
                              backup != NULL ? backup->wide : NULL,
                              REPLACEFILE_IGNORE_MERGE_ERRORS | REPLACEFILE_IGNORE_ACL_ERRORS,
                              NULL, NULL));
}

BOOL safefs__sys_move_file(const struct safefs__wpath *from, const struct safefs__wpath *to,
                           DWORD flags) {
  unsigned kind = ((flags & MOVEFILE_REPLACE_EXISTING) ? 0u : SAFEFS__RENAME_NOREPLACE) |
                  ((flags & MOVEFILE_WRITE_THROUGH) ? SAFEFS__RENAME_DURABLE : 0u);
  long r = safefs__seam_rename(from->name, to->name, NULL, kind, -1);
  if (r > 0) {
    SetLastError((DWORD)r);
    return done_ok(FALSE);
  }
  return done_ok(MoveFileExW(from->wide, to->wide, flags));
}

/* FILE_RENAME_INFO and ntdll's FILE_LINK_INFORMATION have one layout: a
 * BOOLEAN ReplaceIfExists (a union with newer Flags), the root directory
 * handle, the name's length in bytes and the name. One maker of that
 * buffer for both, with RootDirectory NULL and `to` in full: the \\?\ form
 * safefs uses everywhere, which FILE_RENAME_INFO takes ("an absolute path
 * (drive, directory, and filename)", Microsoft's page for the structure),
 * or with `nt` the NT form (\??\) that NtSetInformationFile itself takes.
 * NULL without memory (ALLOC for the seam). */
static FILE_RENAME_INFO *name_info(const struct safefs__wpath *to, int replace, int nt,
                                   DWORD *size) {
  size_t n = wcslen(to->wide);
  FILE_RENAME_INFO *info;
  *size = (DWORD)(offsetof(FILE_RENAME_INFO, FileName) + (n + 1) * sizeof(wchar_t));
  info = (FILE_RENAME_INFO *)safefs__malloc(*size);
  if (info == NULL)
    return NULL;
  memset(info, 0, *size);
  info->ReplaceIfExists = replace ? TRUE : FALSE;
  info->RootDirectory = NULL;
  info->FileNameLength = (DWORD)(n * sizeof(wchar_t));
  memcpy(info->FileName, to->wide, (n + 1) * sizeof(wchar_t));
  if (nt && n >= 4 && wcsncmp(info->FileName, L"\\\\?\\", 4) == 0)
    info->FileName[1] = L'?'; /* \\?\C:\... -> \??\C:\... */
  return info;
}

/* Free what name_info made, keeping the last error for the caller. */
static BOOL free_name_info(FILE_RENAME_INFO *info, BOOL ok) {
  DWORD e = GetLastError();
  safefs__free(info);
  SetLastError(e);
  return ok;
}

/* The seam sees no handle, as for MoveFileExW: the names say which
 * files. */
BOOL safefs__sys_rename_handle(HANDLE h, const char *from, const struct safefs__wpath *to,
                               int replace) {
  DWORD size;
  FILE_RENAME_INFO *info = name_info(to, replace, 0, &size);
  long r;
  if (info == NULL) {
    SetLastError(ERROR_NOT_ENOUGH_MEMORY);
    return FALSE;
  }
  r = safefs__seam_rename(from, to->name, NULL, replace ? 0u : SAFEFS__RENAME_NOREPLACE, -1);
  if (r > 0) {
    SetLastError((DWORD)r);
    return free_name_info(info, done_ok(FALSE));
  }
  return free_name_info(info, done_ok(SetFileInformationByHandle(h, FileRenameInfo, info, size)));
}

BOOL safefs__sys_create_directory(const struct safefs__wpath *p) {
  if (refused(SAFEFS__OP_MKDIR, p->name, NULL, NULL))
    return done_ok(FALSE);
  return done_ok(CreateDirectoryW(p->wide, NULL));
}

BOOL safefs__sys_delete_file(const struct safefs__wpath *p) {
  if (refused(SAFEFS__OP_UNLINK, p->name, NULL, NULL))
    return done_ok(FALSE);
  return done_ok(DeleteFileW(p->wide));
}

/* ntdll's NtCreateFile, found at run time as libuv does (no import library
 * needed, MSVC or MinGW). Racing first calls store the same pointer. */
typedef NTSTATUS(NTAPI *nt_create_file_fn)(PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES,
                                           PIO_STATUS_BLOCK, PLARGE_INTEGER, ULONG, ULONG,
                                           ULONG, ULONG, PVOID, ULONG);
typedef ULONG(NTAPI *nt_status_to_error_fn)(NTSTATUS);
typedef NTSTATUS(NTAPI *nt_set_information_file_fn)(HANDLE, PIO_STATUS_BLOCK, PVOID, ULONG,
                                                    ULONG);
static nt_create_file_fn nt_create_file;
static nt_status_to_error_fn nt_status_to_error;
static nt_set_information_file_fn nt_set_information_file;

/* FILE_INFORMATION_CLASS's FileLinkInformation (ntifs.h, MS-FSCC 2.4.27) */
#define NT_FILE_LINK_INFORMATION 11

#define NT_STATUS_DELETE_PENDING ((NTSTATUS)0xC0000056L)

static int load_ntdll(void) {
  if (nt_create_file == NULL || nt_status_to_error == NULL || nt_set_information_file == NULL) {
    HMODULE nt = GetModuleHandleW(L"ntdll.dll");
    if (nt == NULL)
      return 0;
    /* through void (*)(void): a FARPROC cast straight to another function
       pointer type draws -Wcast-function-type */
    nt_status_to_error =
        (nt_status_to_error_fn)(void (*)(void))GetProcAddress(nt, "RtlNtStatusToDosError");
    nt_create_file = (nt_create_file_fn)(void (*)(void))GetProcAddress(nt, "NtCreateFile");
    nt_set_information_file =
        (nt_set_information_file_fn)(void (*)(void))GetProcAddress(nt, "NtSetInformationFile");
  }
  return nt_create_file != NULL && nt_status_to_error != NULL && nt_set_information_file != NULL;
}

/* FileLinkInformation has no Win32 wrapper (FILE_INFO_BY_HANDLE_CLASS has
 * no link class), so it goes to NtSetInformationFile, with the NT path.
 * The seam sees the temp's handle and the new name, as POSIX's linkat. */
BOOL safefs__sys_link_handle(HANDLE h, const struct safefs__wpath *to, int replace) {
  DWORD size;
  FILE_RENAME_INFO *info = name_info(to, replace, 1, &size);
  IO_STATUS_BLOCK io;
  NTSTATUS st;
  long r;
  if (info == NULL) {
    SetLastError(ERROR_NOT_ENOUGH_MEMORY);
    return FALSE;
  }
  r = safefs__seam_flagged(SAFEFS__OP_LINK_TEMP, to->name, NULL,
                           replace ? 0u : SAFEFS__RENAME_NOREPLACE, handle_number(h));
  if (r > 0) {
    SetLastError((DWORD)r);
    return free_name_info(info, done_ok(FALSE));
  }
  if (!load_ntdll()) {
    SetLastError(ERROR_NOT_SUPPORTED);
    return free_name_info(info, done_ok(FALSE));
  }
  st = nt_set_information_file(h, &io, info, size, NT_FILE_LINK_INFORMATION);
  if (st < 0)
    SetLastError(nt_status_to_error(st));
  return free_name_info(info, done_ok(st >= 0));
}

/* The failure of safefs__sys_open_at before or instead of the call. */
static HANDLE open_at_failed(DWORD e) {
  SetLastError(e);
  done(-1);
  return INVALID_HANDLE_VALUE;
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
  int rc;

  if (refused(op, name, NULL, dir))
    return open_at_failed(GetLastError());
  if (!load_ntdll())
    return open_at_failed(ERROR_CALL_NOT_IMPLEMENTED);
  /* a name that is not UTF-8, or no memory: reported as this call's
     failure, whose message the caller publishes over the conversion's */
  rc = safefs__path_to_wide(name, &w);
  if (rc != 0) {
    long e = safefs_last_os_error();
    return open_at_failed(e != 0 ? (DWORD)e : ERROR_NOT_ENOUGH_MEMORY);
  }
  len = wcslen(w) * sizeof(wchar_t);
  if (len > 0xFFFE) {
    safefs__free(w);
    return open_at_failed(ERROR_FILENAME_EXCED_RANGE);
  }
  uname.Buffer = w;
  uname.Length = (USHORT)len;
  uname.MaximumLength = (USHORT)len;
  InitializeObjectAttributes(&attrs, &uname, OBJ_CASE_INSENSITIVE, dir, NULL);
  st = nt_create_file(&h, access | SYNCHRONIZE, &attrs, &io, NULL, 0, share, FILE_OPEN,
                      options | FILE_SYNCHRONOUS_IO_NONALERT, NULL, 0);
  safefs__free(w);
  if (st < 0)
    return open_at_failed(st == NT_STATUS_DELETE_PENDING ? ERROR_DELETE_PENDING
                                                         : nt_status_to_error(st));
  done(handle_number(h));
  return h;
}

BOOL safefs__sys_set_file_info(HANDLE h, const char *name, FILE_INFO_BY_HANDLE_CLASS cls,
                               void *info, DWORD size, enum safefs__op op) {
  if (refused(op, name, NULL, h))
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

/* A pending request is waited for on its event; on timeout it is
 * cancelled and its outcome collected (granted just before the cancel, or
 * ERROR_OPERATION_ABORTED, which is reported as the lock being held). */
BOOL safefs__sys_lock(HANDLE h, int exclusive, DWORD offset, DWORD length, HANDLE event,
                      DWORD wait_ms) {
  OVERLAPPED ov;
  DWORD flags = exclusive ? LOCKFILE_EXCLUSIVE_LOCK : 0, n;
  BOOL ok;

  if (refused(SAFEFS__OP_LOCK, NULL, NULL, h))
    return done_ok(FALSE);
  memset(&ov, 0, sizeof ov);
  ov.Offset = offset;
  if (event == NULL) {
    flags |= LOCKFILE_FAIL_IMMEDIATELY;
  } else {
    ResetEvent(event); /* signalled by the previous wait's completion */
    ov.hEvent = event;
  }
  ok = LockFileEx(h, flags, 0, length, 0, &ov);
  if (!ok && event != NULL && GetLastError() == ERROR_IO_PENDING) {
    if (WaitForSingleObject(event, wait_ms) != WAIT_OBJECT_0)
      CancelIoEx(h, &ov);
    ok = GetOverlappedResult(h, &ov, &n, TRUE);
    if (!ok && GetLastError() == ERROR_OPERATION_ABORTED)
      SetLastError(ERROR_LOCK_VIOLATION);
  }
  return done_ok(ok);
}

BOOL safefs__sys_unlock(HANDLE h, DWORD offset, DWORD length) {
  OVERLAPPED ov;
  if (refused(SAFEFS__OP_UNLOCK, NULL, NULL, h))
    return done_ok(FALSE);
  memset(&ov, 0, sizeof ov);
  ov.Offset = offset;
  return done_ok(UnlockFileEx(h, 0, length, 0, &ov));
}

HANDLE safefs__sys_create_event(void) {
  HANDLE e;
  if (refused(SAFEFS__OP_LOCK, NULL, NULL, NULL)) {
    done(-1);
    return NULL;
  }
  e = CreateEventW(NULL, TRUE, FALSE, NULL);
  done(e == NULL ? -1 : 0);
  return e;
}
