/*
 * The one list of statuses. SAFEFS__STATUS_MAP generates both the names
 * and the messages, so they cannot drift from the enum in safefs.h.
 */
#include "internal.h"

#define SAFEFS__STATUS_MAP(X)                                            \
  X(SAFEFS_OK, "success")                                                \
  X(SAFEFS_EINVAL, "invalid argument")                                   \
  X(SAFEFS_ENOENT, "no such file or directory")                          \
  X(SAFEFS_EEXIST, "file already exists")                                \
  X(SAFEFS_EACCES, "permission denied")                                  \
  X(SAFEFS_EBUSY, "file in use by another process, retries exhausted")   \
  X(SAFEFS_ETIMEDOUT, "lock not acquired in time")                       \
  X(SAFEFS_ENOSPC, "no space left on device")                            \
  X(SAFEFS_EIO, "input/output error")                                    \
  X(SAFEFS_ENOMEM, "out of memory")                                      \
  X(SAFEFS_ENAMETOOLONG, "file name too long")                           \
  X(SAFEFS_ENOTSUP, "operation not supported by the filesystem")         \
  X(SAFEFS_EISDIR, "is a directory")                                     \
  X(SAFEFS_ENOTDIR, "not a directory")                                   \
  X(SAFEFS_EROFS, "read-only filesystem")                                \
  X(SAFEFS_EUNKNOWN, "unknown OS error")

static SAFEFS__TLS long last_os_error;

int safefs__fail(int status, long oserr) {
  last_os_error = oserr;
  return status;
}

long safefs_last_os_error(void) {
  return last_os_error;
}

const char *safefs_strerror(int status) {
  switch (status) {
#define SAFEFS__STATUS_MSG(code, msg) \
  case code:                          \
    return msg;
    SAFEFS__STATUS_MAP(SAFEFS__STATUS_MSG)
#undef SAFEFS__STATUS_MSG
  default:
    return "unknown error";
  }
}

const char *safefs_status_name(int status) {
  switch (status) {
#define SAFEFS__STATUS_NAME(code, msg) \
  case code:                           \
    return #code;
    SAFEFS__STATUS_MAP(SAFEFS__STATUS_NAME)
#undef SAFEFS__STATUS_NAME
  default:
    return 0;
  }
}

unsigned safefs_version(void) {
  return SAFEFS_VERSION_NUMBER;
}

const char *safefs_version_string(void) {
  return SAFEFS_VERSION_STRING;
}
