/*
 * The Win32 backend's system calls, each passed through the test seam
 * (../seam.h) first, and the path conversion every one of them needs.
 * They follow the Win32 convention (FALSE or INVALID_HANDLE_VALUE, then
 * GetLastError()) so callers read like ordinary Win32 code; an error
 * injected by the seam arrives through SetLastError too.
 *
 * Paths: the library's UTF-8 paths become UTF-16 once, at the edge, in
 * safefs__sys_wide_path; every wrapper below takes that wide path, plus
 * an optional UTF-8 `label` that is only shown to the seam (tests match on
 * it; NULL is fine).
 *
 * src/posix/sys.h is this file's mirror for the POSIX calls.
 */
#ifndef SAFEFS_WIN32_SYS_H
#define SAFEFS_WIN32_SYS_H

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <wchar.h>

#include "../platform.h"

/* ---- paths ---------------------------------------------------------------- */

/* Convert a UTF-8 path to the UTF-16 path every Win32 call gets: strict
 * conversion (invalid UTF-8 is SAFEFS_EINVAL with
 * ERROR_NO_UNICODE_TRANSLATION, never replaced by U+FFFD),
 * made absolute with GetFullPathNameW (both '/' and '\\' separate), and
 * given the \\?\ prefix (\\?\UNC\ for \\server\share) so that paths longer
 * than MAX_PATH work. A path that already starts with \\?\ or \\.\ is only
 * converted. *out is a new safefs__malloc string. Returns 0 or a status
 * (recorded with safefs__fail). */
int safefs__sys_wide_path(const char *path, wchar_t **out);

/* Offset of the last component of an absolute wide path (just after its
 * last backslash): path[0 .. offset) is the directory with its separator. */
size_t safefs__sys_base_offset(const wchar_t *path);

/* dir[0 .. dir_len) followed by the UTF-8 name `name`, as a new string. */
int safefs__sys_wide_join(const wchar_t *dir, size_t dir_len, const char *name, wchar_t **out);

/* The first `len` UTF-16 units of w (len < 0: up to the NUL) as a new
 * UTF-8 string. A lone surrogate cannot be UTF-8: SAFEFS_EINVAL, with
 * ERROR_NO_UNICODE_TRANSLATION as the OS error. */
int safefs__sys_utf8(const wchar_t *w, int len, char **out);

/* Fail with the Win32 error `err` met on `path`, as safefs__fail_os does,
 * except that ERROR_PATH_NOT_FOUND is told apart the way POSIX does: if
 * the nearest existing ancestor is a file rather than a directory the
 * status is SAFEFS_ENOTDIR, otherwise SAFEFS_ENOENT. */
int safefs__sys_fail_path(DWORD err, const wchar_t *path);

/* A FILETIME count (100 ns ticks since 1601) as ns since 1970 (src/win32/os.c). */
long long safefs__filetime_ns(long long ticks);

/* ---- calls ---------------------------------------------------------------- */

/* CreateFileW, not inheritable. `op` says what the open is for
 * (CREATE_TEMP, OPEN_READ, OPEN_LOCK, OPEN_DIR, STAT). */
HANDLE safefs__sys_create_file(const wchar_t *path, const char *label, DWORD access,
                               DWORD share, DWORD disposition, DWORD flags_and_attrs,
                               enum safefs__op op);

/* Write all bytes: short writes are continued, and sizes beyond a DWORD
 * are split into chunks. A write that makes no progress is
 * ERROR_DISK_FULL. */
BOOL safefs__sys_write_all(HANDLE h, const void *data, size_t size);

/* Read up to size bytes (at most a DWORD's worth) into buf; *got is 0 at
 * end of file. */
BOOL safefs__sys_read(HANDLE h, void *buf, size_t size, size_t *got);

/* FlushFileBuffers: the file's data and metadata to stable storage. The
 * seam may answer SAFEFS__SEAM_SKIP: no flush, reported as done. */
BOOL safefs__sys_flush(HANDLE h);

/* CloseHandle. The handle is closed whatever the seam says, so an
 * injected failure never leaks it. */
BOOL safefs__sys_close(HANDLE h);

/* GetFileAttributesW (INVALID_FILE_ATTRIBUTES on failure) and
 * GetFileInformationByHandle; both are STAT for the seam. */
DWORD safefs__sys_attributes(const wchar_t *path, const char *label);
BOOL safefs__sys_file_info(HANDLE h, BY_HANDLE_FILE_INFORMATION *info);

/* Set the FILE_ATTRIBUTE_* bits of an open file (FILE_ATTRIBUTE_NORMAL
 * for none), by handle; or of a path. SET_MODE for the seam. */
BOOL safefs__sys_set_attributes_by_handle(HANDLE h, DWORD attrs);
BOOL safefs__sys_set_attributes(const wchar_t *path, const char *label, DWORD attrs);

/* GetFinalPathNameByHandleW (VOLUME_NAME_DOS, so \\?\-prefixed): the path
 * of the file a handle refers to after every link. READLINK for the seam.
 * *out is a new string. */
BOOL safefs__sys_final_path(HANDLE h, wchar_t **out);

/* ReplaceFileW(target, replacement, backup (may be NULL), ignore merge and
 * ACL errors). RENAME for the seam, with path = replacement, path2 =
 * target as for a rename, and data = the backup's UTF-8 name (or NULL), so
 * that a test can act out what Windows does to it. */
BOOL safefs__sys_replace_file(const wchar_t *target, const wchar_t *replacement,
                              const wchar_t *backup, const char *target_label,
                              const char *replacement_label, const char *backup_label);

/* MoveFileExW(from, to, flags). RENAME for the seam. */
BOOL safefs__sys_move_file(const wchar_t *from, const wchar_t *to, DWORD flags,
                           const char *from_label, const char *to_label);

/* CreateDirectoryW with no security descriptor: the new directory
 * inherits its parent's ACL. MKDIR for the seam. */
BOOL safefs__sys_create_directory(const wchar_t *path, const char *label);

/* DeleteFileW. UNLINK for the seam. */
BOOL safefs__sys_delete_file(const wchar_t *path, const char *label);

/* Open `name`, one UTF-8 path component, inside the open directory `dir`
 * (NtCreateFile relative to a directory handle, as openat is on POSIX:
 * no path is parsed again, so no length limit and no race with renames
 * above `dir`). `options` are NtCreateFile create options
 * (FILE_DIRECTORY_FILE, FILE_OPEN_REPARSE_POINT, ...); the handle is
 * synchronous. Fails like CreateFileW, except that a delete-pending file is
 * ERROR_DELETE_PENDING, not the ERROR_ACCESS_DENIED Win32 would make of
 * it, so callers can tell waiting from a real permission error. `op` as
 * for safefs__sys_create_file. */
HANDLE safefs__sys_open_at(HANDLE dir, const char *name, DWORD access, DWORD share,
                           DWORD options, enum safefs__op op);

/* SetFileInformationByHandle; `op` says what it does (UNLINK or RMDIR for
 * a delete disposition, SET_MODE). `cls` may be a class newer than the
 * headers know (cast from its number). */
BOOL safefs__sys_set_file_info(HANDLE h, const char *label, FILE_INFO_BY_HANDLE_CLASS cls,
                               void *info, DWORD size, enum safefs__op op);

/* GetFileInformationByHandleEx. STAT for the seam. */
BOOL safefs__sys_file_info_ex(HANDLE h, FILE_INFO_BY_HANDLE_CLASS cls, void *info, DWORD size);

/* GetVolumeInformationByHandleW: the name of the filesystem holding the
 * open file ("NTFS", "ReFS", "FAT32", "exFAT", ...) into name[size].
 * STAT for the seam. */
BOOL safefs__sys_volume_fs_name(HANDLE h, wchar_t *name, DWORD size);

/* The next FILE_ID_BOTH_DIR_INFO entries of the directory `dir` into buf
 * (from its first entry again if `restart`); ERROR_NO_MORE_FILES at the
 * end. LIST_DIR for the seam. */
BOOL safefs__sys_list_dir(HANDLE dir, int restart, void *buf, DWORD size);

#endif /* SAFEFS_WIN32_SYS_H */
