/* Fuzz the Windows command-line builder (tools/cmdline/cmdline.c) against the
 * model of the C runtime's parser (tests/testutil_cmdline.c), which is
 * written apart from it. The input after its first byte, split at NUL
 * bytes, is argv (argv[0] the program name). If the first byte is odd,
 * every other byte is first mapped onto the few the quoting is about
 * (backslash, quote, blanks, a letter, UTF-8), so that runs of backslashes
 * before quotes and at the end are common.
 *
 * Properties: a program name with a `"` is refused, and nothing else is;
 * the length measured is the length written, into a buffer of exactly that
 * size (ASan catches a byte more); a buffer one byte short is left
 * untouched; the model splits the command line back into argv byte for
 * byte and never finds it ambiguous. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "safefs_cmdline.h"
#include "testutil_cmdline.h"

#define MAX_ARGS 64

static const char alphabet[] = {'\\', '\\', '\\', '"', '"',    ' ',   '\t',
                                '\n', '\v', 'a',  '-', '\xc3', '\xa9'};

static void check(int argc, const char *const *argv) {
  size_t n = safefs_cmdline_build(argc, argv, NULL, 0), i;
  char *cmd, *shorter, **got;
  int got_argc;

  if (strchr(argv[0], '"') != NULL) {
    if (n != SAFEFS_CMDLINE_ERROR)
      abort();
    return;
  }
  if (n == SAFEFS_CMDLINE_ERROR)
    abort();
  shorter = (char *)malloc(n + 1);
  memset(shorter, 0x55, n + 1);
  if (safefs_cmdline_build(argc, argv, shorter, n) != n)
    abort();
  for (i = 0; i < n + 1; i++)
    if ((unsigned char)shorter[i] != 0x55)
      abort();
  free(shorter);
  cmd = (char *)malloc(n + 1);
  if (safefs_cmdline_build(argc, argv, cmd, n + 1) != n || strlen(cmd) != n)
    abort();
  got_argc = tu_cmdline_split(cmd, &got);
  if (got_argc < 0 || tu_cmdline_diff(argc, argv, got_argc, got) != -1)
    abort();
  free(got);
  free(cmd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *argv[MAX_ARGS];
  char *copy;
  int argc = 0, mapped;
  size_t i, start = 0;

  if (size == 0)
    return 0;
  mapped = data[0] & 1;
  data++;
  size--;
  copy = (char *)malloc(size + 1);
  for (i = 0; i < size; i++)
    copy[i] = mapped && data[i] != 0 ? alphabet[data[i] % sizeof alphabet] : (char)data[i];
  copy[size] = '\0';
  for (i = 0; i <= size && argc < MAX_ARGS; i++)
    if (copy[i] == '\0') {
      argv[argc++] = copy + start;
      start = i + 1;
    }
  check(argc, argv);
  free(copy);
  return 0;
}
