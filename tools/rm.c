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
  struct safefs_cli_args a;
  int failed = 0, i;

  if (safefs_cli_parse(SAFEFS_CLI_RM, argc, argv, &a) != 0)
    return rm_usage();
  for (i = a.first; i < a.first + a.count; i++) {
    int rc = a.recursive ? safefs_remove_tree(argv[i], a.number) : safefs_remove(argv[i], a.number);
    if (a.recursive && rc == SAFEFS_ENOTDIR)
      rc = safefs_remove(argv[i], a.number);
    if (rc != 0) {
      safefs_cli_fail(argv[i], rc);
      failed = 1;
    }
  }
  return failed;
}

int safefs_cli_sweep(int argc, char **argv) {
  struct safefs_cli_args a;
  const char *dir;
  int rc;

  if (safefs_cli_parse(SAFEFS_CLI_SWEEP, argc, argv, &a) != 0)
    return sweep_usage();
  dir = argv[a.first];
  rc = safefs_sweep(dir, a.number < 0 ? DEFAULT_MIN_AGE_S : a.number);
  return rc != 0 ? safefs_cli_fail(dir, rc) : 0;
}
