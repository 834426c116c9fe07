/*
 * The Windows edge of the command-line helpers (see safefs_cmdline.h):
 * UTF-8 <-> UTF-16, measured, allocated and converted once, strictly (an
 * invalid sequence fails instead of becoming U+FFFD).
 */
#include "safefs_cmdline.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <windows.h>
#include <shellapi.h>

/* The UTF-8 command line is built first, then converted as a whole: the
 * quoting only looks at ASCII, which UTF-16 keeps one unit per byte. */
wchar_t *safefs_cmdline_to_utf16(int argc, const char *const *argv) {
  size_t len = safefs_cmdline_build(argc, argv, NULL, 0);
  char *utf8;
  wchar_t *wide = NULL;
  int units;
  DWORD e = 0;

  if (len == SAFEFS_CMDLINE_ERROR || len >= INT_MAX) {
    SetLastError(ERROR_INVALID_PARAMETER);
    return NULL;
  }
  utf8 = (char *)malloc(len + 1);
  if (utf8 == NULL) {
    SetLastError(ERROR_NOT_ENOUGH_MEMORY);
    return NULL;
  }
  safefs_cmdline_build(argc, argv, utf8, len + 1);
  /* length + 1: the NUL is converted too, and counted in units */
  units = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8, (int)len + 1, NULL, 0);
  if (units <= 0)
    e = GetLastError();
  else if ((wide = (wchar_t *)malloc((size_t)units * sizeof *wide)) == NULL)
    e = ERROR_NOT_ENOUGH_MEMORY;
  else if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8, (int)len + 1, wide,
                               units) != units)
    e = GetLastError();
  free(utf8);
  if (e != 0) {
    free(wide);
    SetLastError(e);
    return NULL;
  }
  return wide;
}

/* Measure every argument, allocate the pointers and the strings as one
 * block, then convert into it. */
char **safefs_cmdline_argv_utf8(int argc, wchar_t *const *wargv) {
  size_t bytes = ((size_t)argc + 1) * sizeof(char *);
  char **argv, *next;
  int i, n;

  if (argc < 0)
    return NULL;
  for (i = 0; i < argc; i++) {
    n = WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, wargv[i], -1, NULL, 0, NULL, NULL);
    if (n <= 0 || (size_t)n > SIZE_MAX - bytes)
      return NULL;
    bytes += (size_t)n;
  }
  argv = (char **)malloc(bytes);
  if (argv == NULL)
    return NULL;
  next = (char *)(argv + argc + 1);
  for (i = 0; i < argc; i++) {
    size_t room = bytes - (size_t)(next - (char *)argv);
    n = WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, wargv[i], -1, next,
                            room > INT_MAX ? INT_MAX : (int)room, NULL, NULL);
    if (n <= 0) {
      free(argv);
      return NULL;
    }
    argv[i] = next;
    next += n;
  }
  argv[argc] = NULL;
  return argv;
}

char **safefs_cmdline_split_utf8(const wchar_t *cmd, int *argc) {
  wchar_t **wargv = CommandLineToArgvW(cmd, argc);
  char **argv;
  if (wargv == NULL)
    return NULL;
  argv = safefs_cmdline_argv_utf8(*argc, wargv);
  LocalFree(wargv);
  return argv;
}
