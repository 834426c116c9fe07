/*
 * The retry budget (src/retry.c): its default, a setting, and a negative
 * value that puts the default back. The retries themselves are exercised
 * where they happen: test_replace_win32.c, test_remove_win32.c,
 * test_lock.c, test_faults.c.
 */
#include "testutil.h"

static void retry_budget_setting(void **state) {
  (void)state;
  assert_int_equal(safefs_retry_budget_ms(), 2000);
  safefs_set_retry_budget_ms(150);
  assert_int_equal(safefs_retry_budget_ms(), 150);
  safefs_set_retry_budget_ms(-5);
  assert_int_equal(safefs_retry_budget_ms(), 2000);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(retry_budget_setting),
};
TU_SUITE("retry", tests, NULL);
