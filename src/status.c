/*
 * Status names and messages, generated from the one list in safefs.h
 * (SAFEFS_STATUS_MAP), so they cannot drift from the enum; and the
 * version. The per-thread error state is in error.c.
 */
#include "internal.h"

const char *safefs_strerror(int status) {
  switch (status) {
#define SAFEFS__STATUS_MSG(name, value, msg) \
  case SAFEFS_##name:                        \
    return msg;
    SAFEFS_STATUS_MAP(SAFEFS__STATUS_MSG)
#undef SAFEFS__STATUS_MSG
  default:
    return "unknown error";
  }
}

const char *safefs_status_name(int status) {
  switch (status) {
#define SAFEFS__STATUS_NAME(name, value, msg) \
  case SAFEFS_##name:                         \
    return "SAFEFS_" #name;
    SAFEFS_STATUS_MAP(SAFEFS__STATUS_NAME)
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
