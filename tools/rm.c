/*
 * safefs rm [-r] [--timeout MS] PATH...   remove files (and, with -r, trees)
 * safefs sweep [--min-age S] DIR          remove safefs leftovers in DIR
 *
 * Both report each failure on its own line and go on with the other
 * paths; the exit status is 1 if any failed, 2 for a usage error.
 */
#include <stdio.h>
#include <string.h>

#include "safefs.h"
#include "cli.h"

/* One hour: far longer than any live writer leaves a temp file untouched. */
#define DEFAULT_MIN_AGE_S 3600L

static int rm_usage(void) {
  fprintf(stderr, "usage: safefs rm [-r] [--timeout MS] PATH...\n");
  return 2;
}

static int sweep_usage(void) {
  fprintf(stderr, "usage: safefs sweep [--min-age SECONDS] DIR\n");
  return 2;
}

/* With -r a directory goes as a tree and anything else as a file, as
 * rm -r does; without it a directory is an error (EISDIR). */
int safefs_cli_rm(int argc, char **argv) {
  long timeout = -1;
  int recursive = 0, failed = 0, npaths = 0, i;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    }
    if (strcmp(argv[i], "-r") == 0 || strcmp(argv[i], "-R") == 0)
      recursive = 1;
    else if (strcmp(argv[i], "--timeout") == 0) {
      if (i + 1 >= argc || safefs_cli_parse_long(argv[i + 1], &timeout) != 0 || timeout < 0)
        return rm_usage();
      i++;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0')
      return rm_usage();
    else
      break;
  }
  for (; i < argc; i++) {
    int rc = recursive ? safefs_remove_tree(argv[i], timeout) : safefs_remove(argv[i], timeout);
    if (recursive && rc == SAFEFS_ENOTDIR)
      rc = safefs_remove(argv[i], timeout);
    if (rc != 0) {
      safefs_cli_fail(argv[i], rc);
      failed = 1;
    }
    npaths++;
  }
  if (npaths == 0)
    return rm_usage();
  return failed;
}

int safefs_cli_sweep(int argc, char **argv) {
  long min_age = DEFAULT_MIN_AGE_S;
  const char *dir = NULL;
  int i, rc;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--min-age") == 0) {
      if (i + 1 >= argc || safefs_cli_parse_long(argv[i + 1], &min_age) != 0 || min_age < 0)
        return sweep_usage();
      i++;
    } else if ((argv[i][0] == '-' && argv[i][1] != '\0') || dir != NULL)
      return sweep_usage();
    else
      dir = argv[i];
  }
  if (dir == NULL)
    return sweep_usage();
  rc = safefs_sweep(dir, min_age);
  return rc != 0 ? safefs_cli_fail(dir, rc) : 0;
}
