/*
 * Statuses and versions (src/status.c): every status has a name and a
 * message from the one list in safefs.h, a number outside it has neither,
 * and the runtime version is the one the header was built with. The map
 * from OS errors to statuses is each backend's own: test_status_win32.c
 * (the POSIX one is checked through test_faults.c's injected errors).
 */
#include "testutil.h"

static void status_strings(void **state) {
  int s;
  (void)state;
  for (s = 0; s >= SAFEFS_EDEADLK; s--) { /* the list is dense from 0 to -15 */
    assert_non_null(safefs_status_name(s));
    assert_string_not_equal(safefs_strerror(s), "unknown error");
  }
  assert_string_equal(safefs_status_name(SAFEFS_EUNKNOWN), "SAFEFS_EUNKNOWN");
  assert_string_equal(safefs_status_name(SAFEFS_EBUSY), "SAFEFS_EBUSY");
  assert_string_equal(safefs_status_name(SAFEFS_EDEADLK), "SAFEFS_EDEADLK");
  assert_null(safefs_status_name(-16));
  assert_string_equal(safefs_strerror(-16), "unknown error");
  assert_int_equal(safefs_version(), SAFEFS_VERSION_NUMBER);
  assert_string_equal(safefs_version_string(), SAFEFS_VERSION_STRING);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(status_strings),
};
TU_SUITE("status", tests, NULL);
