/*
 * The inter-process lock on Windows: LockFileEx on a handle of our own.
 *
 * Why LockFileEx:
 *   - A byte-range lock belongs to the handle (file object) that took it.
 *     Each safefs_lock opens the file itself, so each is its own holder:
 *     two objects exclude each other in two processes, in two threads and
 *     in one thread alike, and closing some other handle of the file
 *     leaves the lock alone.
 *   - It has a shared mode, and the OS releases it when the holder dies.
 * A named mutex would report a dead holder (WAIT_ABANDONED), but it is
 * owned by the thread that took it (another thread cannot release it, and
 * there is no shared mode) and lives in a per-session namespace, so it
 * cannot give the semantics above.
 *
 * The locked range is one byte at LOCK_OFFSET, far past the marker byte at
 * offset 0; the gate of src/lock.c (writer preference) is the next byte. Windows byte-range locks are mandatory: locking byte 0 would
 * stop anyone else from even reading the marker while the lock is held.
 * Locking past the end of a file is allowed.
 *
 * Waiting: the handle is opened with FILE_FLAG_OVERLAPPED, so LockFileEx
 * without LOCKFILE_FAIL_IMMEDIATELY returns at once with ERROR_IO_PENDING
 * and the wait is WaitForSingleObject on its event for the time left; on
 * timeout CancelIoEx withdraws the request, and GetOverlappedResult tells
 * whether it was granted just before the cancel (then we hold the lock).
 * All of that is one call, safefs__sys_lock in sys.c, one LOCK for the
 * seam.
 * Wine (8.0, measured) accepts such a pending request but never completes
 * it, not even when the holder unlocks, and after CancelIoEx (which finds
 * nothing to cancel) GetOverlappedResult reports success although nothing
 * was granted. So under Wine every call is one LOCKFILE_FAIL_IMMEDIATELY
 * attempt and src/lock.c polls, exactly as on POSIX.
 *
 * A symbolic link or junction at the lock path is opened itself
 * (FILE_FLAG_OPEN_REPARSE_POINT) and refused, never followed into the file
 * it names. Not verified under Wine 8, whose CreateSymbolicLinkW creates
 * nothing.
 *
 * Opening: OPEN_ALWAYS with every share mode, so the lock file never
 * stands in the way of anyone else's open, rename or delete. Our open can
 * still meet a sharing violation (someone opened it without sharing) or a
 * delete-pending file (someone else is deleting it): safefs__path_open
 * waits those out within the retry budget, and tells them from a real
 * refusal by the one ERROR_ACCESS_DENIED policy (path.h). The handle is not
 * inheritable, so child processes never keep the lock.
 *
 * The marker byte is read and written with positioned overlapped I/O on
 * the same handle (an overlapped handle has no file pointer to use):
 * safefs__sys_transfer_at, the mirror of POSIX pread / pwrite.
 */
#include "sys.h"

#include <string.h>

#define LOCK_OFFSET 0x40000000u /* 1 GiB */
#define LOCK_LENGTH 1u

struct safefs__lockfile {
  HANDLE h;
  HANDLE event;             /* for timed waits; created on the first one */
  char *path;               /* for messages */
  unsigned long long id[2]; /* volume serial number, file index */
};

/* ---- opening ---------------------------------------------------------------- */

int safefs__lockfile_open(safefs__lockfile **out, const char *path) {
  safefs__lockfile *f;
  BY_HANDLE_FILE_INFORMATION info;
  struct safefs__wpath p;
  HANDLE h;
  int rc;

  *out = NULL;
  if ((rc = safefs__path_from_utf8(&p, path)) != 0)
    return rc;
  rc = safefs__path_open(&p, GENERIC_READ | GENERIC_WRITE,
                         FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, OPEN_ALWAYS,
                         FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED |
                             FILE_FLAG_OPEN_REPARSE_POINT,
                         SAFEFS__OP_OPEN_LOCK, &h);
  safefs__path_free(&p);
  if (rc != 0)
    return rc;
  /* Mirrors the POSIX fstat: a device or pipe opened by name is refused
   * here, and so is a read-only file, which Windows refuses to open for
   * writing anyway (Wine running as root opens it). */
  rc = 0;
  if (!safefs__sys_file_info(h, &info))
    rc = safefs__fail_os_at((long)GetLastError(), path, NULL);
  else if (info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT)
    rc = safefs__fail_msg(SAFEFS_EINVAL, 0,
                          "lock '%s': is a symbolic link or junction; a lock file is never "
                          "followed",
                          path);
  else if (info.dwFileAttributes & FILE_ATTRIBUTE_READONLY)
    rc = safefs__fail_msg(SAFEFS_EACCES, ERROR_ACCESS_DENIED,
                          "open lock file '%s': the read-only attribute is set", path);
  if (rc != 0) {
    struct safefs__saved_error e;
    safefs__error_save(&e);
    safefs__sys_close(h);
    return safefs__error_restore(&e, rc);
  }
  f = (safefs__lockfile *)safefs__malloc(sizeof *f);
  if (f != NULL && (f->path = safefs__strdup(path)) == NULL) {
    safefs__free(f);
    f = NULL;
  }
  if (f == NULL) {
    safefs__sys_close(h);
    return SAFEFS_ENOMEM;
  }
  f->h = h;
  f->event = NULL;
  f->id[0] = info.dwVolumeSerialNumber;
  f->id[1] = ((unsigned long long)info.nFileIndexHigh << 32) | info.nFileIndexLow;
  *out = f;
  return 0;
}

/* ---- locking ------------------------------------------------------------------ */

/* 1 if a LockFileEx that has to wait completes when the lock is granted;
 * not under Wine (see the top of the file). Decided once; a racing first
 * call computes the same answer. */
static int os_can_wait(void) {
  static volatile int answer = -1;
  if (answer < 0) {
    HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
    answer = !(ntdll != NULL && GetProcAddress(ntdll, "wine_get_version") != NULL);
  }
  return answer;
}

int safefs__lockfile_lock(safefs__lockfile *f, int which, int shared, long wait_ms) {
  int wait = wait_ms != 0 && os_can_wait();
  DWORD e;

  if (wait && f->event == NULL && (f->event = safefs__sys_create_event()) == NULL)
    return safefs__fail_os_at((long)GetLastError(), f->path, NULL);
  /* a positive long is < INFINITE */
  if (safefs__sys_lock(f->h, !shared, LOCK_OFFSET + (DWORD)which, LOCK_LENGTH,
                       wait ? f->event : NULL, wait_ms < 0 ? INFINITE : (DWORD)wait_ms))
    return 0;
  e = GetLastError();
  if (e == ERROR_LOCK_VIOLATION)
    return safefs__fail(SAFEFS__AGAIN, (long)e);
  return safefs__fail_os_at((long)e, f->path, NULL);
}

int safefs__lockfile_unlock(safefs__lockfile *f, int which) {
  if (!safefs__sys_unlock(f->h, LOCK_OFFSET + (DWORD)which, LOCK_LENGTH))
    return safefs__fail_os_at((long)GetLastError(), f->path, NULL);
  return 0;
}

/* LockFileEx has no way to ask without taking: every acquirer goes
 * through the gate (platform.h). */
int safefs__lockfile_gate_free(safefs__lockfile *f, int shared) {
  SAFEFS__UNUSED(f);
  SAFEFS__UNUSED(shared);
  return 0;
}

/* ---- the marker byte and closing ------------------------------------------ */

/* Two bytes asked for, so that a file holding more than the marker shows. */
int safefs__lockfile_read_byte(safefs__lockfile *f, int *byte) {
  unsigned char b[2] = {0, 0};
  DWORD n;
  if (!safefs__sys_transfer_at(f->h, SAFEFS__OP_READ, b, 2, 0, &n))
    return safefs__fail_os_at((long)GetLastError(), f->path, NULL);
  *byte = n == 0 ? -1 : n == 1 ? b[0] : SAFEFS__LOCK_NOT_MARKER;
  return 0;
}

void safefs__lockfile_id(const safefs__lockfile *f, unsigned long long id[2]) {
  id[0] = f->id[0];
  id[1] = f->id[1];
}

int safefs__lockfile_write_byte(safefs__lockfile *f, unsigned char byte) {
  DWORD n;
  if (!safefs__sys_transfer_at(f->h, SAFEFS__OP_WRITE, &byte, 1, 0, &n))
    return safefs__fail_os_at((long)GetLastError(), f->path, NULL);
  if (n != 1)
    return safefs__fail_os_at(ERROR_DISK_FULL, f->path, NULL);
  return 0;
}

int safefs__lockfile_close(safefs__lockfile *f) {
  int rc = 0;
  if (f->event != NULL)
    safefs__sys_close(f->event);
  if (!safefs__sys_close(f->h))
    rc = safefs__fail_os_at((long)GetLastError(), f->path, NULL);
  safefs__free(f->path);
  safefs__free(f);
  return rc;
}
