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
 * Wine (8.0, measured) accepts such a pending request but never completes
 * it, not even when the holder unlocks, and after CancelIoEx (which finds
 * nothing to cancel) GetOverlappedResult reports success although nothing
 * was granted. So under Wine every call is one LOCKFILE_FAIL_IMMEDIATELY
 * attempt and src/lock.c polls, exactly as on POSIX.
 *
 * Opening: OPEN_ALWAYS with every share mode, so the lock file never
 * stands in the way of anyone else's open, rename or delete. Our open can
 * still meet a sharing violation (someone opened it without sharing) or a
 * delete-pending file (someone else is deleting it): those are waited out
 * through safefs__retry within the retry budget. The handle is not
 * inheritable, so child processes never keep the lock.
 *
 * The marker byte is read and written with positioned overlapped I/O on
 * the same handle (an overlapped handle has no file pointer to use).
 */
#include "sys.h"

#include <string.h>

#define LOCK_OFFSET 0x40000000u /* 1 GiB */
#define LOCK_LENGTH 1u

/* How often an open refused as "access denied" on a file that is then
 * gone is tried again before it counts as a permission error (a file
 * deleted between our open and our look at it). */
#define VANISHED_TRIES 3

struct safefs__lockfile {
  HANDLE h;
  HANDLE event; /* for timed waits; created on the first one */
};

/* ---- seam-checked wrappers for the calls sys.c does not have ------------
 * The wait on a pending request (WaitForSingleObject, CancelIoEx,
 * GetOverlappedResult) belongs to the LOCK call the seam already saw. */

static int refused(enum safefs__op op, HANDLE h, const void *data, size_t size) {
  long r = safefs__seam_call(op, NULL, NULL, data, size, h == NULL ? -1 : (long long)(INT_PTR)h);
  if (r > 0)
    SetLastError((DWORD)r);
  return r > 0;
}

/* ov->Offset says which byte (LOCK_OFFSET + SAFEFS__LOCK_HOLD or _GATE). */
static BOOL lock_range(HANDLE h, DWORD flags, OVERLAPPED *ov) {
  if (refused(SAFEFS__OP_LOCK, h, NULL, 0))
    return FALSE;
  return LockFileEx(h, flags, 0, LOCK_LENGTH, 0, ov);
}

static BOOL unlock_range(HANDLE h, int which) {
  OVERLAPPED ov;
  if (refused(SAFEFS__OP_UNLOCK, h, NULL, 0))
    return FALSE;
  memset(&ov, 0, sizeof ov);
  ov.Offset = LOCK_OFFSET + (DWORD)which;
  return UnlockFileEx(h, 0, LOCK_LENGTH, 0, &ov);
}

static HANDLE create_event(void) {
  if (refused(SAFEFS__OP_LOCK, NULL, NULL, 0))
    return NULL;
  return CreateEventW(NULL, TRUE, FALSE, NULL);
}

/* One byte at offset 0, read (op READ) or written (op WRITE); *moved is
 * the byte count, 0 at end of file. */
static BOOL marker_io(HANDLE h, enum safefs__op op, unsigned char *byte, DWORD *moved) {
  OVERLAPPED ov;
  BOOL ok;
  *moved = 0;
  if (refused(op, h, op == SAFEFS__OP_WRITE ? byte : NULL, 1))
    return FALSE;
  memset(&ov, 0, sizeof ov); /* offset 0; no event: the handle is signalled */
  ok = op == SAFEFS__OP_WRITE ? WriteFile(h, byte, 1, NULL, &ov) : ReadFile(h, byte, 1, NULL, &ov);
  if (!ok && GetLastError() != ERROR_IO_PENDING)
    return FALSE;
  return GetOverlappedResult(h, &ov, moved, TRUE);
}

/* ---- opening ---------------------------------------------------------------- */

struct open_lock {
  const wchar_t *path;
  const char *label;
  HANDLE h;
  int vanished;
};

/* One open. ERROR_ACCESS_DENIED means many things on Windows; the
 * attributes tell them apart so that only the passing ones are retried:
 * a directory (EISDIR), the read-only attribute or an ACL (EACCES at
 * once), a delete-pending file (its attributes are refused too: wait), no
 * file at all (no right to create it, unless it was deleted just now). */
static int open_attempt(void *ctx) {
  struct open_lock *o = (struct open_lock *)ctx;
  DWORD e, attrs;

  o->h = safefs__sys_create_file(o->path, o->label, GENERIC_READ | GENERIC_WRITE,
                                 FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                                 OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED,
                                 SAFEFS__OP_OPEN_LOCK);
  if (o->h != INVALID_HANDLE_VALUE)
    return 0;
  e = GetLastError();
  if (e == ERROR_ACCESS_DENIED) {
    DWORD why;
    attrs = safefs__sys_attributes(o->path, o->label);
    if (attrs != INVALID_FILE_ATTRIBUTES) {
      if (attrs & FILE_ATTRIBUTE_DIRECTORY)
        return safefs__fail(SAFEFS_EISDIR, (long)e);
      return safefs__fail(SAFEFS_EACCES, (long)e); /* read-only attribute or ACL */
    }
    why = GetLastError();
    if ((why == ERROR_FILE_NOT_FOUND && ++o->vanished > VANISHED_TRIES) ||
        why == ERROR_PATH_NOT_FOUND)
      return safefs__fail(SAFEFS_EACCES, (long)e);
  }
  if (safefs__os_transient((long)e)) {
    safefs__fail_os((long)e);
    return SAFEFS__AGAIN;
  }
  return safefs__sys_fail_path(e, o->path);
}

int safefs__lockfile_open(safefs__lockfile **out, const char *path) {
  safefs__lockfile *f;
  BY_HANDLE_FILE_INFORMATION info;
  struct open_lock o;
  wchar_t *wpath;
  int rc;

  *out = NULL;
  if ((rc = safefs__sys_wide_path(path, &wpath)) != 0)
    return rc;
  o.path = wpath;
  o.label = path;
  o.h = INVALID_HANDLE_VALUE;
  o.vanished = 0;
  rc = safefs__retry(open_attempt, &o, -1);
  safefs__free(wpath);
  if (rc != 0)
    return rc;
  /* Mirrors the POSIX fstat: a device or pipe opened by name is refused
   * here, and so is a read-only file, which Windows refuses to open for
   * writing anyway (Wine running as root opens it). */
  rc = 0;
  if (!safefs__sys_file_info(o.h, &info))
    rc = safefs__fail_os((long)GetLastError());
  else if (info.dwFileAttributes & FILE_ATTRIBUTE_READONLY)
    rc = safefs__fail(SAFEFS_EACCES, ERROR_ACCESS_DENIED);
  if (rc != 0) {
    long os = safefs_last_os_error();
    safefs__sys_close(o.h);
    return safefs__fail(rc, os);
  }
  f = (safefs__lockfile *)safefs__malloc(sizeof *f);
  if (f == NULL) {
    safefs__sys_close(o.h);
    return safefs__fail(SAFEFS_ENOMEM, 0);
  }
  f->h = o.h;
  f->event = NULL;
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

/* A request is pending: wait for it for wait_ms (< 0: no limit). On
 * timeout, cancel it and collect its outcome, which may still be "granted"
 * (it raced the cancel). */
static int wait_pending(safefs__lockfile *f, OVERLAPPED *ov, long wait_ms) {
  DWORD n, w, e;
  DWORD ms = wait_ms < 0 ? INFINITE : (DWORD)wait_ms; /* a positive long is < INFINITE */

  w = WaitForSingleObject(ov->hEvent, ms);
  if (w != WAIT_OBJECT_0)
    CancelIoEx(f->h, ov);
  if (GetOverlappedResult(f->h, ov, &n, TRUE))
    return 0;
  e = GetLastError();
  if (e == ERROR_OPERATION_ABORTED)
    return safefs__fail(SAFEFS__AGAIN, ERROR_LOCK_VIOLATION);
  return safefs__fail_os((long)e);
}

int safefs__lockfile_lock(safefs__lockfile *f, int which, int shared, long wait_ms) {
  OVERLAPPED ov;
  DWORD flags = shared ? 0 : LOCKFILE_EXCLUSIVE_LOCK, e;
  int wait = wait_ms != 0 && os_can_wait();

  memset(&ov, 0, sizeof ov);
  ov.Offset = LOCK_OFFSET + (DWORD)which;
  if (!wait) {
    flags |= LOCKFILE_FAIL_IMMEDIATELY;
  } else {
    if (f->event == NULL && (f->event = create_event()) == NULL)
      return safefs__fail_os((long)GetLastError());
    ResetEvent(f->event); /* signalled by the previous wait's completion */
    ov.hEvent = f->event;
  }
  if (lock_range(f->h, flags, &ov))
    return 0;
  e = GetLastError();
  if (e == ERROR_IO_PENDING && wait)
    return wait_pending(f, &ov, wait_ms);
  if (e == ERROR_LOCK_VIOLATION)
    return safefs__fail(SAFEFS__AGAIN, (long)e);
  return safefs__fail_os((long)e);
}

int safefs__lockfile_unlock(safefs__lockfile *f, int which) {
  if (!unlock_range(f->h, which))
    return safefs__fail_os((long)GetLastError());
  return 0;
}

/* ---- the marker byte and closing ------------------------------------------ */

int safefs__lockfile_read_byte(safefs__lockfile *f, int *byte) {
  unsigned char b = 0;
  DWORD n;
  if (!marker_io(f->h, SAFEFS__OP_READ, &b, &n)) {
    DWORD e = GetLastError();
    if (e != ERROR_HANDLE_EOF)
      return safefs__fail_os((long)e);
    n = 0;
  }
  *byte = n == 1 ? b : -1;
  return 0;
}

int safefs__lockfile_write_byte(safefs__lockfile *f, unsigned char byte) {
  DWORD n;
  if (!marker_io(f->h, SAFEFS__OP_WRITE, &byte, &n))
    return safefs__fail_os((long)GetLastError());
  if (n != 1)
    return safefs__fail_os(ERROR_DISK_FULL);
  return 0;
}

int safefs__lockfile_close(safefs__lockfile *f) {
  int rc = 0;
  if (f->event != NULL)
    safefs__sys_close(f->event);
  if (!safefs__sys_close(f->h))
    rc = safefs__fail_os((long)GetLastError());
  safefs__free(f);
  return rc;
}
