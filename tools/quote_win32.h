/*
 * One Windows command-line argument, quoted. CreateProcessW takes a single
 * string and the started program's C runtime (or CommandLineToArgvW) splits
 * it back into argv; this gives back exactly `arg`. Quotes only when needed.
 * Inside quotes, backslashes are literal except before a quote, so a run of
 * them before a quote, or before the closing quote, is doubled.
 *
 * Header-only, Windows-only: used by tools/lock.c and by the test helpers
 * that start processes (tests/testutil_proc.c).
 */
#ifndef SAFEFS_QUOTE_WIN32_H
#define SAFEFS_QUOTE_WIN32_H

#include <stddef.h>
#include <wchar.h>

/* The most UTF-16 units the quoted form of an argument of len units takes. */
#define SAFEFS_QUOTED_MAX(len) ((len) * 2 + 2)

/* Write the quoted `arg` at out (no NUL); returns the units written. */
static size_t safefs_quote_arg(wchar_t *out, const wchar_t *arg) {
  size_t i = 0, slashes = 0;
  if (arg[0] != 0 && wcspbrk(arg, L" \t\n\v\"") == NULL) {
    for (; *arg; arg++)
      out[i++] = *arg;
    return i;
  }
  out[i++] = L'"';
  for (; *arg; arg++) {
    if (*arg == L'\\') {
      slashes++;
    } else {
      if (*arg == L'"')
        for (slashes = slashes * 2 + 1; slashes > 0; slashes--)
          out[i++] = L'\\';
      slashes = 0;
    }
    out[i++] = *arg;
  }
  for (; slashes > 0; slashes--)
    out[i++] = L'\\';
  out[i++] = L'"';
  return i;
}

#endif
