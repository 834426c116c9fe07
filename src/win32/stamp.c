/*
 * File identity on Windows (the rules are in src/stamp.c and safefs.h):
 * the volume serial number and file ID (128-bit from FileIdInfo where the
 * system answers it, as ReFS needs; else the 64-bit ID, whose high 16 bits
 * on NTFS are the MFT record's sequence number, so a reused record is
 * another ID), the size, LastWriteTime and ChangeTime, and the settling
 * window from the filesystem's name.
 *
 * Checked only under Wine here: Wine answers FileIdInfo and FileBasicInfo
 * from the Unix inode and times. NTFS and ReFS themselves were not run.
 */
#include "sys.h"

#include <string.h>
#include <wchar.h>

/* FileIdInfo and FILE_ID_INFO are in MinGW-w64's headers only for
 * _WIN32_WINNT >= Windows 8; safefs targets Windows 7 and asks at run time
 * (values from the Windows SDK). */
#define ID_INFO_CLASS ((FILE_INFO_BY_HANDLE_CLASS)18) /* FileIdInfo */
struct id_info {
  ULONGLONG volume;
  BYTE id[16];
};

/* FILETIME-style 100 ns ticks since 1601 to ns since 1970, as POSIX
 * stamps count (ns since 1601 would not fit in 64 bits). */
static long long ticks_ns(LARGE_INTEGER t) {
  return safefs__filetime_ns(t.QuadPart);
}

/* The filesystems whose times are coarse (FAT's 2 s steps) or come from
 * another machine (a network redirector answers with its server's name or
 * "NTFS", so remote volumes are told by GetVolumeInformation's name only
 * when it says so; the window then errs long). */
static long long settle_of(HANDLE h) {
  static const wchar_t *const coarse[] = {L"FAT", L"FAT32", L"exFAT", L"NFS", L"CSC-CACHE"};
  wchar_t name[MAX_PATH + 1];
  size_t i;
  if (!safefs__sys_volume_fs_name(h, name, MAX_PATH + 1))
    return SAFEFS__SETTLE_COARSE_NS;
  for (i = 0; i < sizeof coarse / sizeof coarse[0]; i++)
    if (_wcsicmp(name, coarse[i]) == 0)
      return SAFEFS__SETTLE_COARSE_NS;
  return SAFEFS__SETTLE_FINE_NS;
}

/* The clock is read before the attributes (see platform.h). */
int safefs__identity_of_handle(HANDLE h, const char *path, struct safefs__identity *id) {
  BY_HANDLE_FILE_INFORMATION info;
  FILE_BASIC_INFO basic;
  struct id_info ext;

  id->now = safefs__wall_ns();
  if (!safefs__sys_file_info(h, &info) ||
      !safefs__sys_file_info_ex(h, FileBasicInfo, &basic, sizeof basic))
    return safefs__fail_os_at((long)GetLastError(), path, NULL);
  if (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)
    return safefs__fail_msg(SAFEFS_EISDIR, ERROR_DIRECTORY, "stamp '%s': is a directory", path);
  if (info.dwFileAttributes & FILE_ATTRIBUTE_DEVICE)
    return safefs__fail_msg(SAFEFS_EINVAL, 0, "stamp '%s': not a regular file", path);
  if (safefs__sys_file_info_ex(h, ID_INFO_CLASS, &ext, sizeof ext)) {
    id->file[0] = ext.volume;
    memcpy(&id->file[1], ext.id, 8);
    memcpy(&id->file[2], ext.id + 8, 8);
  } else { /* before Windows 8, or a filesystem that does not answer */
    id->file[0] = info.dwVolumeSerialNumber;
    id->file[1] = ((unsigned long long)info.nFileIndexHigh << 32) | info.nFileIndexLow;
    id->file[2] = 0;
  }
  id->file[3] = 0;
  id->size = (long long)(((unsigned long long)info.nFileSizeHigh << 32) | info.nFileSizeLow);
  id->mtime = ticks_ns(basic.LastWriteTime);
  id->ctime = ticks_ns(basic.ChangeTime);
  id->settle = settle_of(h);
  return 0;
}

/* FILE_READ_ATTRIBUTES with every share mode conflicts with no other open
 * (attribute access is outside share modes), so nothing is waited for;
 * FILE_FLAG_BACKUP_SEMANTICS lets a directory open, to be told apart as
 * SAFEFS_EISDIR rather than access denied. */
int safefs__identity_path(const char *path, struct safefs__identity *id) {
  struct safefs__wpath p;
  HANDLE h;
  int rc;
  if ((rc = safefs__path_from_utf8(&p, path)) != 0)
    return rc;
  h = safefs__sys_create_file(&p, FILE_READ_ATTRIBUTES,
                              FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                              OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, SAFEFS__OP_OPEN_READ);
  if (h == INVALID_HANDLE_VALUE) {
    rc = safefs__path_fail(GetLastError(), &p, NULL);
    safefs__path_free(&p);
    return rc;
  }
  safefs__path_free(&p);
  rc = safefs__identity_of_handle(h, path, id);
  safefs__sys_close(h);
  return rc;
}
