/* Fuzz the command-line parser of every subcommand (tools/args.c): the
 * input, split at NUL bytes, is argv. Parsing does nothing to the disk, so
 * any argv is safe. Properties: no crash or overrun (ASan), and whatever
 * is accepted is well formed: operands inside argv, exactly one operand
 * for write/lock/sweep, a "--" and a COMMAND for lock, only known flags,
 * numbers never negative unless absent (-1). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "safefs.h"
#include "cli.h"

#define MAX_ARGS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *copy = (char *)malloc(size + 1), *argv[MAX_ARGS + 1];
  int argc = 0, which;
  size_t i, start = 0;

  memcpy(copy, data, size);
  copy[size] = '\0';
  argv[argc++] = (char *)"sub";
  for (i = 0; i <= size && argc < MAX_ARGS; i++)
    if (copy[i] == '\0') {
      argv[argc++] = copy + start;
      start = i + 1;
    }
  argv[argc] = NULL;
  for (which = SAFEFS_CLI_WRITE; which <= SAFEFS_CLI_SWEEP; which++) {
    struct safefs_cli_args a;
    int rc = safefs_cli_parse(which, argc, argv, &a);
    if (rc != 0) {
      if (rc != SAFEFS_CLI_USAGE)
        abort();
      continue;
    }
    if (a.first < 1 || a.count < 1 || a.first + a.count > argc || a.number < -1)
      abort();
    if (which != SAFEFS_CLI_RM && a.count != 1)
      abort();
    if (which == SAFEFS_CLI_WRITE &&
        (a.flags & ~(unsigned)(SAFEFS_NOSYNC | SAFEFS_NOREPLACE | SAFEFS_PRIVATE | SAFEFS_MKDIRS)))
      abort();
    if (which == SAFEFS_CLI_LOCK &&
        (a.flags & ~(unsigned)SAFEFS_LOCK_SHARED || a.command <= a.first || a.command >= argc ||
         strcmp(argv[a.command - 1], "--") != 0))
      abort();
    if (which != SAFEFS_CLI_RM && argv[a.first][0] == '-' && argv[a.first][1] != '\0')
      abort(); /* an option taken as the operand */
  }
  free(copy);
  return 0;
}
