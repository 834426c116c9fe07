/* The public header compiles alone, at the strictest warnings, and its
 * constants are what the documentation says. */
#include "safefs.h"
#include "safefs.h" /* include guard */

#include <stdio.h>
#include <string.h>

int main(void) {
  int failures = 0;
  if (safefs_version() != SAFEFS_VERSION_NUMBER) {
    printf("version mismatch\n");
    failures++;
  }
  if (strcmp(safefs_strerror(SAFEFS_ENOENT), "no such file or directory") != 0) {
    printf("strerror mismatch\n");
    failures++;
  }
  if (SAFEFS_EUNKNOWN != -99 || SAFEFS_EROFS != -14 || SAFEFS_NOREPLACE != 2u) {
    printf("constant mismatch\n");
    failures++;
  }
  /* no failure on this thread yet: the message is there, and empty */
  if (safefs_last_error_message() == NULL || safefs_last_error_message()[0] != '\0') {
    printf("last_error_message not empty before any failure\n");
    failures++;
  }
  printf("%d passed, %d failed\n", 4 - failures, failures);
  return failures != 0;
}
