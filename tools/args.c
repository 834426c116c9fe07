/*
 * Command-line parsing for every subcommand, kept apart from what the
 * subcommands do so that it can be fuzzed (fuzz/fuzz_cli.c) without
 * running, locking or deleting anything.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "safefs.h"
#include "cli.h"

int safefs_cli_parse_long(const char *s, long *out) {
  char *end;
  long v;
  if (s == NULL || *s == '\0')
    return -1;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno != 0 || *end != '\0')
    return -1;
  *out = v;
  return 0;
}

static int is_option(const char *s) {
  return s[0] == '-' && s[1] != '\0'; /* "-" alone is an operand */
}

/* The value after an option: a decimal number >= 0 in argv[*i + 1]. */
static int option_number(int argc, char **argv, int *i, long *out) {
  if (*i + 1 >= argc || safefs_cli_parse_long(argv[*i + 1], out) != 0 || *out < 0)
    return SAFEFS_CLI_USAGE;
  (*i)++;
  return 0;
}

int safefs_cli_parse(int which, int argc, char **argv, struct safefs_cli_args *a) {
  int i;
  memset(a, 0, sizeof *a);
  a->number = -1;
  for (i = 1; i < argc; i++) {
    const char *s = argv[i];
    if (which == SAFEFS_CLI_LOCK && strcmp(s, "--") == 0) {
      if (a->count != 1 || i + 1 >= argc)
        return SAFEFS_CLI_USAGE; /* one LOCKFILE, then a COMMAND */
      a->command = i + 1;
      return 0;
    }
    if (which == SAFEFS_CLI_RM && strcmp(s, "--") == 0) {
      i++;
      break;
    }
    if (!is_option(s)) {
      if (which == SAFEFS_CLI_RM)
        break; /* the rest are paths, whatever they look like */
      if (a->count++ == 0)
        a->first = i;
      if (a->count > 1)
        return SAFEFS_CLI_USAGE;
    } else if (which == SAFEFS_CLI_WRITE && strcmp(s, "--nosync") == 0) {
      a->flags |= SAFEFS_NOSYNC;
    } else if (which == SAFEFS_CLI_WRITE && strcmp(s, "--noreplace") == 0) {
      a->flags |= SAFEFS_NOREPLACE;
    } else if (which == SAFEFS_CLI_WRITE && strcmp(s, "--private") == 0) {
      a->flags |= SAFEFS_PRIVATE;
    } else if (which == SAFEFS_CLI_WRITE && strcmp(s, "--mkdirs") == 0) {
      a->flags |= SAFEFS_MKDIRS;
    } else if (which == SAFEFS_CLI_LOCK && strcmp(s, "--shared") == 0) {
      a->flags |= SAFEFS_LOCK_SHARED;
    } else if (which == SAFEFS_CLI_RM && (strcmp(s, "-r") == 0 || strcmp(s, "-R") == 0)) {
      a->recursive = 1;
    } else if ((which == SAFEFS_CLI_LOCK || which == SAFEFS_CLI_RM) &&
               strcmp(s, "--timeout") == 0) {
      if (option_number(argc, argv, &i, &a->number) != 0)
        return SAFEFS_CLI_USAGE;
    } else if (which == SAFEFS_CLI_SWEEP && strcmp(s, "--min-age") == 0) {
      if (option_number(argc, argv, &i, &a->number) != 0)
        return SAFEFS_CLI_USAGE;
    } else {
      return SAFEFS_CLI_USAGE;
    }
  }
  if (which == SAFEFS_CLI_RM) {
    a->first = i;
    a->count = argc - i;
    return a->count > 0 ? 0 : SAFEFS_CLI_USAGE;
  }
  if (which == SAFEFS_CLI_LOCK)
    return SAFEFS_CLI_USAGE; /* no "--" COMMAND */
  return a->count == 1 ? 0 : SAFEFS_CLI_USAGE;
}
