/*
 * safefs's own names (src/names.c): the temp, backup and trash names made
 * beside a target, recognised by the exact pattern and nothing like it, and
 * shortened for long bases without cutting a UTF-8 character in half. The
 * sweep's use of them is in test_remove.c; long targets in test_replace.c.
 */
#include "testutil.h"

#include <string.h>

static void own_names(void **state) {
  char name[SAFEFS__NAME_MAX + 1];
  char big[400];
  (void)state;
  assert_int_equal(safefs__make_name(name, "data.json", "tmp"), 0);
  assert_int_equal(strncmp(name, ".data.json.safefs-", 18), 0);
  assert_true(safefs__is_own_name(name));
  assert_false(safefs__is_own_name("data.json"));
  assert_false(safefs__is_own_name(".data.json.safefs-0123456789abcdeg.tmp"));
  assert_false(safefs__is_own_name(".data.json.safefs-0123456789abcdef.tm"));
  assert_false(safefs__is_own_name("x.safefs-0123456789abcdef.tmp"));
  assert_true(safefs__is_own_name(".x.safefs-0123456789abcdef.trash"));
  assert_true(safefs__is_own_name(".x.safefs-0123456789abcdef.old"));
  /* multi-byte characters are never cut in half */
  memset(big, 0, sizeof big);
  {
    size_t i;
    for (i = 0; i + 3 < 390; i += 3)
      memcpy(big + i, "\xe6\x97\xa5", 3);
  }
  assert_int_equal(safefs__make_name(name, big, "trash"), 0);
  assert_true(strlen(name) <= SAFEFS__NAME_MAX);
  assert_true(safefs__is_own_name(name));
  assert_int_equal((unsigned char)name[1], 0xe6);
  {
    /* the kept prefix is a whole number of 3-byte characters */
    const char *mark = strstr(name, ".safefs-");
    assert_non_null(mark);
    assert_int_equal((size_t)(mark - name - 1) % 3, 0);
  }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(own_names),
};
TU_SUITE("names", tests, NULL);
