/* The main() every test program shares; see struct tu_suite in testutil.h.
 * A file of its own so that a program with a main() of its own
 * (test_powerloss) links with the rest of safefs_testutil without it. */
#include "testutil.h"
#include "testutil_proc.h"

#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  const char *filter = getenv("SAFEFS_TEST_FILTER");
  int failed;
  tu_proc_init(argv[0]);
  if (argc >= 3 && strcmp(argv[1], TU_PROC_HELPER) == 0)
    return tu_suite.helper != NULL ? tu_suite.helper(argv[2], argc - 3, argv + 3) : 2;
  if (filter != NULL && filter[0] != '\0')
    cmocka_set_test_filter(filter);
  failed = _cmocka_run_group_tests(tu_suite.group, tu_suite.tests, tu_suite.count, NULL, NULL);
  return tu_suite.after != NULL ? tu_suite.after(failed) : failed;
}
