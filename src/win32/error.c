/* GetLastError() -> SAFEFS_E*, in one place for the Win32 backend, and
 * the system's text for the error message. */
#include "sys.h"

#include <stdio.h>

/* Not in every SDK's winerror.h (MinGW-w64 lacks it). */
#ifndef ERROR_DISK_QUOTA_EXCEEDED
#define ERROR_DISK_QUOTA_EXCEEDED 1295L
#endif

int safefs__status_from_os(long oserr) {
  switch (oserr) {
  case 0:
    return SAFEFS_OK;
  case ERROR_FILE_NOT_FOUND:
  case ERROR_PATH_NOT_FOUND:
  case ERROR_INVALID_DRIVE:
  case ERROR_BAD_NETPATH:
  case ERROR_BAD_NET_NAME:
    return SAFEFS_ENOENT;
  case ERROR_FILE_EXISTS:
  case ERROR_ALREADY_EXISTS:
  case ERROR_DIR_NOT_EMPTY: /* as ENOTEMPTY on POSIX */
    return SAFEFS_EEXIST;
  case ERROR_ACCESS_DENIED:
  case ERROR_NETWORK_ACCESS_DENIED:
  case ERROR_PRIVILEGE_NOT_HELD:
  case ERROR_CANT_ACCESS_FILE:
    return SAFEFS_EACCES;
  case ERROR_SHARING_VIOLATION:
  case ERROR_LOCK_VIOLATION:
  case ERROR_UNABLE_TO_REMOVE_REPLACED:
  case ERROR_USER_MAPPED_FILE:
  case ERROR_DELETE_PENDING:
  case ERROR_BUSY:
  case ERROR_DRIVE_LOCKED:
    return SAFEFS_EBUSY;
  case ERROR_TIMEOUT:
  case ERROR_SEM_TIMEOUT:
  case WAIT_TIMEOUT:
    return SAFEFS_ETIMEDOUT;
  case ERROR_DISK_FULL:
  case ERROR_HANDLE_DISK_FULL:
  case ERROR_DISK_QUOTA_EXCEEDED:
  case ERROR_FILE_TOO_LARGE: /* as EFBIG on POSIX */
    return SAFEFS_ENOSPC;
  case ERROR_WRITE_FAULT:
  case ERROR_READ_FAULT:
  case ERROR_CRC:
  case ERROR_GEN_FAILURE:
  case ERROR_SECTOR_NOT_FOUND:
  case ERROR_IO_DEVICE:
  case ERROR_NOT_READY:
  case ERROR_NETNAME_DELETED:
  case ERROR_UNEXP_NET_ERR:
  case ERROR_UNABLE_TO_MOVE_REPLACEMENT:
  case ERROR_UNABLE_TO_MOVE_REPLACEMENT_2:
    return SAFEFS_EIO;
  case ERROR_NOT_ENOUGH_MEMORY:
  case ERROR_OUTOFMEMORY:
  case ERROR_NO_SYSTEM_RESOURCES:
    return SAFEFS_ENOMEM;
  case ERROR_FILENAME_EXCED_RANGE:
  case ERROR_BUFFER_OVERFLOW:
    return SAFEFS_ENAMETOOLONG;
  case ERROR_NOT_SUPPORTED:
  case ERROR_INVALID_FUNCTION:
  case ERROR_CALL_NOT_IMPLEMENTED:
  case ERROR_NOT_SAME_DEVICE: /* as EXDEV on POSIX */
    return SAFEFS_ENOTSUP;
  case ERROR_DIRECTORY: /* "the directory name is invalid": a file where a
                           directory was expected */
    return SAFEFS_ENOTDIR;
  case ERROR_WRITE_PROTECT:
    return SAFEFS_EROFS;
  case ERROR_NO_UNICODE_TRANSLATION:
  case ERROR_INVALID_NAME:
  case ERROR_BAD_PATHNAME:
  case ERROR_INVALID_PARAMETER:
  case ERROR_INVALID_HANDLE:
  case ERROR_CANT_RESOLVE_FILENAME: /* a loop of links, as ELOOP on POSIX */
    return SAFEFS_EINVAL;
  default:
    return SAFEFS_EUNKNOWN;
  }
}

/* FormatMessageW into a fixed buffer (no FORMAT_MESSAGE_ALLOCATE_BUFFER:
 * the failure path must not allocate), on one line, without the final
 * period, then to UTF-8. An error the system has no text for (an NTSTATUS
 * from BCryptGenRandom) is just its number. */
void safefs__os_error_text(long oserr, char *buf, size_t cap) {
  wchar_t wide[256];
  char text[3 * 256 + 1];
  DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS |
                               FORMAT_MESSAGE_MAX_WIDTH_MASK,
                           NULL, (DWORD)oserr, 0, wide, sizeof wide / sizeof wide[0], NULL);
  while (n > 0 && (wide[n - 1] == L' ' || wide[n - 1] == L'.' || wide[n - 1] == L'\r' ||
                   wide[n - 1] == L'\n'))
    n--;
  if (n == 0 || safefs__utf16_to_utf8((const unsigned short *)wide, n, text, sizeof text) < 0)
    snprintf(buf, cap, "unknown error (error %ld)", oserr);
  else
    snprintf(buf, cap, "%s (error %ld)", text, oserr);
}

/* Windows refuses to rename over, delete or open a file that another
 * process holds without the right share mode, and says so with these.
 * ERROR_ACCESS_DENIED is here because it is also what a file in the
 * delete-pending state gives (and what MoveFileExW says when the target is
 * open): callers that can tell a real permission error apart (the
 * read-only attribute) check for it before retrying, so that one does not
 * burn the budget. */
int safefs__os_transient(long oserr) {
  switch (oserr) {
  case ERROR_SHARING_VIOLATION:
  case ERROR_LOCK_VIOLATION:
  case ERROR_ACCESS_DENIED:
  case ERROR_UNABLE_TO_REMOVE_REPLACED:
  case ERROR_USER_MAPPED_FILE:
  case ERROR_DELETE_PENDING:
    return 1;
  default:
    return 0;
  }
}
