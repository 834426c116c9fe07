/*
 * Test helper for cli_argv_test.cmake: prints the arguments it was started
 * with, argv[0] too, one a line as "<index> <hex of the bytes>", so that
 * the test compares them byte for byte (no quoting, encoding or newline can
 * hide a difference).
 *
 * On Windows these are the C runtime's arguments (wmain: the runtime split
 * the command line, as it does for any program safefs starts), in UTF-8.
 * CommandLineToArgvW, which the safefs tool reads its own arguments with,
 * must split the same command line the same way: if not, exit 3.
 */
#include <stdio.h>
#include <string.h>

#ifdef _WIN32
#include <fcntl.h>
#include <io.h>
#include <stdlib.h>
#include <windows.h>

#include "safefs_cmdline.h"
#endif

static void print_hex(FILE *f, int argc, char **argv) {
  int i;
  for (i = 0; i < argc; i++) {
    const unsigned char *p = (const unsigned char *)argv[i];
    fprintf(f, "%d ", i);
    for (; *p != '\0'; p++)
      fprintf(f, "%02x", *p);
    fprintf(f, "\n");
  }
}

#ifdef _WIN32
int wmain(int argc, wchar_t **wargv);
int wmain(int argc, wchar_t **wargv) {
  char **argv = safefs_cmdline_argv_utf8(argc, wargv);
  int shell_argc = -1, i, same;
  char **shell = safefs_cmdline_split_utf8(GetCommandLineW(), &shell_argc);

  if (argv == NULL || shell == NULL) {
    fprintf(stderr, "argv_echo: the arguments are not valid UTF-16\n");
    return 2;
  }
  _setmode(_fileno(stdout), _O_BINARY);
  print_hex(stdout, argc, argv);
  same = shell_argc == argc;
  for (i = 0; same && i < argc; i++)
    same = strcmp(argv[i], shell[i]) == 0;
  if (!same) {
    fprintf(stderr, "argv_echo: CommandLineToArgvW splits the command line otherwise:\n");
    print_hex(stderr, shell_argc, shell);
  }
  free(argv);
  free(shell);
  return same ? 0 : 3;
}
#else
int main(int argc, char **argv) {
  print_hex(stdout, argc, argv);
  return 0;
}
#endif
