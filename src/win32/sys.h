/*
 * The Win32 backend's system calls, each passed through the test seam
 * (../seam.h) first and its outcome reported to the seam after it, which
 * also records a failure for safefs_last_error_message. They follow the
 * Win32 convention (FALSE or INVALID_HANDLE_VALUE, then GetLastError()) so
 * callers read like ordinary Win32 code; an error injected by the seam
 * arrives through SetLastError too.
 *
 * Calls by path take a struct safefs__wpath (path.h): the wide path the
 * call needs and the UTF-8 name the message and the seam show. Calls by
 * handle show no name; the caller adds it to the message.
 *
 * src/posix/sys.h is this file's mirror for the POSIX calls.
 */
#ifndef SAFEFS_WIN32_SYS_H
#define SAFEFS_WIN32_SYS_H

#include "path.h"

/* A FILETIME count (100 ns ticks since 1601) as ns since 1970 (src/win32/os.c). */
long long safefs__filetime_ns(long long ticks);

/* The identity of an open file, for a stamp (src/win32/stamp.c; read.c
 * uses it on the file it reads); `path` names it in messages. */
int safefs__identity_of_handle(HANDLE h, const char *path, struct safefs__identity *id);

/* CreateFileW, not inheritable. `op` says what the open is for
 * (CREATE_TEMP, OPEN_READ, OPEN_LOCK, OPEN_DIR, STAT). */
HANDLE safefs__sys_create_file(const struct safefs__wpath *p, DWORD access, DWORD share,
                               DWORD disposition, DWORD flags_and_attrs, enum safefs__op op);

/* safefs__sys_create_file for a file that only the current user may open
 * (SAFEFS_PRIVATE): a new file gets a security descriptor whose DACL is
 * protected (no ACE inherited from the directory, then or later) and
 * holds one ACE, FILE_ALL_ACCESS for the user of the thread's effective
 * token (the impersonation token if the thread has one, else the
 * process's: the user the file is created as). The descriptor is built
 * for each call, on the stack: nothing is cached or freed. Its owner is
 * the token's default owner, as for any new file. Reading the token is
 * part of the same call for the seam (`op`), and its failure is the
 * call's (GetLastError). */
HANDLE safefs__sys_create_private_file(const struct safefs__wpath *p, DWORD access, DWORD share,
                                       DWORD disposition, DWORD flags_and_attrs,
                                       enum safefs__op op);

/* Write all bytes: short writes are continued, and sizes beyond a DWORD
 * are split into chunks. A write that makes no progress is
 * ERROR_DISK_FULL. */
BOOL safefs__sys_write_all(HANDLE h, const void *data, size_t size);

/* Read up to size bytes (at most a DWORD's worth) into buf; *got is 0 at
 * end of file. */
BOOL safefs__sys_read(HANDLE h, void *buf, size_t size, size_t *got);

/* One byte-sized or larger positioned transfer on an overlapped handle
 * (op READ or WRITE) at `offset`, waited for; *moved is the byte count, 0
 * at end of file. The mirror of POSIX pread / pwrite. */
BOOL safefs__sys_transfer_at(HANDLE h, enum safefs__op op, void *buf, DWORD size,
                             unsigned long long offset, DWORD *moved);

/* FlushFileBuffers: the file's data and metadata to stable storage. The
 * seam may answer SAFEFS__SEAM_SKIP: no flush, reported as done. */
BOOL safefs__sys_flush(HANDLE h);

/* Make the entries of the directory open as `dir` (any access) durable:
 * FlushFileBuffers on a second handle to it opened with FILE_ADD_FILE and
 * FILE_FLAG_BACKUP_SEMANTICS (ReOpenFile). MS-FSA 2.1.5.7: a flush of a
 * directory "ensures that the directory structure is persisted to stable
 * storage"; MS-SMB2 3.3.5.11: a directory flush needs FILE_ADD_FILE or
 * FILE_ADD_SUBDIRECTORY (FILE_WRITE_DATA / FILE_APPEND_DATA are the same
 * bits), which whoever may create a file there has, where FlushFileBuffers'
 * documented GENERIC_WRITE would also ask for the right to write the
 * directory's attributes. One SYNC_DIR for the seam (the second handle is
 * part of it); SAFEFS__SEAM_SKIP makes it a no-op. */
BOOL safefs__sys_flush_dir(HANDLE dir);

/* 1 if a directory flush failing with e only says that this filesystem or
 * these rights cannot flush a directory: ERROR_ACCESS_DENIED (no
 * FILE_ADD_FILE, e.g. a directory the user may replace a file in through
 * an ACL that grants only that file), ERROR_INVALID_FUNCTION and
 * ERROR_NOT_SUPPORTED (FAT and exFAT on some versions, network
 * redirectors, FUSE-like drivers), ERROR_INVALID_PARAMETER (Wine on some
 * hosts). The rename is then as durable as the filesystem makes it, as on
 * POSIX for safefs__dir_sync_tolerated. */
int safefs__dir_flush_tolerated(DWORD e);

/* CloseHandle. The handle is closed whatever the seam says, so an
 * injected failure never leaks it. */
BOOL safefs__sys_close(HANDLE h);

/* GetFileAttributesW (INVALID_FILE_ATTRIBUTES on failure) and
 * GetFileInformationByHandle; both are STAT for the seam. */
DWORD safefs__sys_attributes(const struct safefs__wpath *p);
BOOL safefs__sys_file_info(HANDLE h, BY_HANDLE_FILE_INFORMATION *info);

/* Set the FILE_ATTRIBUTE_* bits of an open file (FILE_ATTRIBUTE_NORMAL
 * for none) and, unless `created` is 0, its creation time (FILETIME
 * ticks), in one FileBasicInfo call. SET_MODE for the seam. */
BOOL safefs__sys_set_attributes(HANDLE h, DWORD attrs, long long created);

/* The DACL of the file open as h (GetKernelObjectSecurity), as a new
 * self-relative security descriptor in *sd for safefs__free. h needs
 * READ_CONTROL. STAT for the seam. */
BOOL safefs__sys_dacl_of(HANDLE h, void **sd);

/* GetFinalPathNameByHandleW (VOLUME_NAME_DOS, so \\?\-prefixed): the path
 * of the file a handle refers to after every link. READLINK for the seam.
 * *out is a new string. */
BOOL safefs__sys_final_path(HANDLE h, wchar_t **out);

/* ReplaceFileW(target, replacement, backup (may be NULL), ignore merge and
 * ACL errors). RENAME for the seam, replacement over target, with the
 * backup's name, so that a test can act out what Windows does to it. */
BOOL safefs__sys_replace_file(const struct safefs__wpath *target,
                              const struct safefs__wpath *replacement,
                              const struct safefs__wpath *backup);

/* Rename the file open as h, whose name is `from` (for the seam and
 * messages), to `to`: SetFileInformationByHandle(FileRenameInfo) with the
 * full path, replacing an existing `to` only with `replace` (else
 * ERROR_ALREADY_EXISTS). h needs DELETE access. RENAME for the seam, as a
 * MoveFileExW of the same names without write-through; its buffer is
 * allocated first (ALLOC: ERROR_NOT_ENOUGH_MEMORY, no call made). */
BOOL safefs__sys_rename_handle(HANDLE h, const char *from, const struct safefs__wpath *to,
                               int replace);

/* Give the file open as h one more name, `to` (the file keeps its other
 * names): NtSetInformationFile(FileLinkInformation) with the NT form of
 * the full path, replacing an existing `to` only with `replace` (else
 * ERROR_ALREADY_EXISTS). A file opened FILE_FLAG_DELETE_ON_CLOSE loses at
 * its close only the name it was opened by (MS-FSA: delete-on-close marks
 * the open's link; MS-FSCC's FileStandardLinkInformation counts links
 * marked for delete apart), so the new name outlives the handle. Fails
 * with ERROR_ACCESS_DENIED over a target someone holds open (MS-FSCC
 * 2.4.27), and with ERROR_INVALID_FUNCTION, ERROR_NOT_SUPPORTED or
 * ERROR_INVALID_PARAMETER on a filesystem without hard links (FAT,
 * exFAT). LINK_TEMP for the seam, with h and `to`'s name and
 * SAFEFS__RENAME_NOREPLACE without `replace`; its buffer is allocated
 * first (ERROR_NOT_ENOUGH_MEMORY, no call made). Checked under Wine 8
 * only. */
BOOL safefs__sys_link_handle(HANDLE h, const struct safefs__wpath *to, int replace);

/* MoveFileExW(from, to, flags). RENAME for the seam. */
BOOL safefs__sys_move_file(const struct safefs__wpath *from, const struct safefs__wpath *to,
                           DWORD flags);

/* CreateDirectoryW with no security descriptor: the new directory
 * inherits its parent's ACL. MKDIR for the seam. */
BOOL safefs__sys_create_directory(const struct safefs__wpath *p);

/* DeleteFileW. UNLINK for the seam. */
BOOL safefs__sys_delete_file(const struct safefs__wpath *p);

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

/* SetFileInformationByHandle on the open entry `name`; `op` says what it
 * does (UNLINK or RMDIR for a delete disposition, SET_MODE). `cls` may be
 * a class newer than the headers know (cast from its number). */
BOOL safefs__sys_set_file_info(HANDLE h, const char *name, FILE_INFO_BY_HANDLE_CLASS cls,
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

/* LockFileEx of `length` bytes at `offset` on an overlapped handle, one
 * LOCK for the seam whatever it takes: with `event` NULL a single
 * LOCKFILE_FAIL_IMMEDIATELY attempt; with an event (manual-reset), a
 * request that may wait: pending, it is waited for up to wait_ms
 * (INFINITE: no limit), and on timeout cancelled (CancelIoEx) and its
 * outcome collected, which may still be "granted" when it raced the
 * cancel. A lock held by someone else fails with ERROR_LOCK_VIOLATION. */
BOOL safefs__sys_lock(HANDLE h, int exclusive, DWORD offset, DWORD length, HANDLE event,
                      DWORD wait_ms);

/* UnlockFileEx of the same range. UNLOCK for the seam. */
BOOL safefs__sys_unlock(HANDLE h, DWORD offset, DWORD length);

/* CreateEventW(manual reset, not signalled) for safefs__sys_lock; NULL on
 * failure. LOCK for the seam (it is part of taking a lock). */
HANDLE safefs__sys_create_event(void);

#endif /* SAFEFS_WIN32_SYS_H */
