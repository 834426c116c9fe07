/*
 * The Win32 backend's one error map (src/win32/error.c): each Windows error
 * to its status, which of them are transient (retried within the budget),
 * and the OS error kept for safefs_last_os_error. Built only on Windows
 * (see tests/CMakeLists.txt); the names and messages of the statuses are in
 * test_status.c.
 */
#include "testutil.h"

#include <windows.h>

#include "platform.h"

/* The one error map. */
static void error_map(void **state) {
  struct {
    long os;
    int status;
    int transient;
  } cases[] = {
      {ERROR_FILE_NOT_FOUND, SAFEFS_ENOENT, 0},
      {ERROR_PATH_NOT_FOUND, SAFEFS_ENOENT, 0},
      {ERROR_ACCESS_DENIED, SAFEFS_EACCES, 1},
      {ERROR_SHARING_VIOLATION, SAFEFS_EBUSY, 1},
      {ERROR_LOCK_VIOLATION, SAFEFS_EBUSY, 1},
      {ERROR_UNABLE_TO_REMOVE_REPLACED, SAFEFS_EBUSY, 1},
      {ERROR_USER_MAPPED_FILE, SAFEFS_EBUSY, 1},
      {ERROR_DELETE_PENDING, SAFEFS_EBUSY, 1},
      {ERROR_FILE_EXISTS, SAFEFS_EEXIST, 0},
      {ERROR_ALREADY_EXISTS, SAFEFS_EEXIST, 0},
      {ERROR_DISK_FULL, SAFEFS_ENOSPC, 0},
      {ERROR_HANDLE_DISK_FULL, SAFEFS_ENOSPC, 0},
      {ERROR_FILENAME_EXCED_RANGE, SAFEFS_ENAMETOOLONG, 0},
      {ERROR_BUFFER_OVERFLOW, SAFEFS_ENAMETOOLONG, 0},
      {ERROR_DIRECTORY, SAFEFS_ENOTDIR, 0},
      {ERROR_WRITE_PROTECT, SAFEFS_EROFS, 0},
      {ERROR_NOT_ENOUGH_MEMORY, SAFEFS_ENOMEM, 0},
      {ERROR_OUTOFMEMORY, SAFEFS_ENOMEM, 0},
      {ERROR_NO_UNICODE_TRANSLATION, SAFEFS_EINVAL, 0},
      {ERROR_INVALID_NAME, SAFEFS_EINVAL, 0},
      {ERROR_NOT_SUPPORTED, SAFEFS_ENOTSUP, 0},
      {ERROR_INVALID_FUNCTION, SAFEFS_ENOTSUP, 0},
      {ERROR_WRITE_FAULT, SAFEFS_EIO, 0},
      {ERROR_READ_FAULT, SAFEFS_EIO, 0},
      {ERROR_CRC, SAFEFS_EIO, 0},
      {ERROR_UNABLE_TO_MOVE_REPLACEMENT, SAFEFS_EIO, 0},
      {0, SAFEFS_OK, 0},
      {987654, SAFEFS_EUNKNOWN, 0},
  };
  size_t i;
  (void)state;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (safefs__status_from_os(cases[i].os) != cases[i].status ||
        safefs__os_transient(cases[i].os) != cases[i].transient)
      fail_msg("os error %ld -> %d (transient %d)", cases[i].os,
               safefs__status_from_os(cases[i].os), safefs__os_transient(cases[i].os));
  }
  assert_int_equal(safefs__fail_os(ERROR_DISK_FULL), SAFEFS_ENOSPC);
  assert_int_equal(safefs_last_os_error(), ERROR_DISK_FULL);
}

static const struct CMUnitTest tests[] = {
    TU_TEST(error_map),
};
TU_SUITE("status_win32", tests, NULL);
