/*
 * The command-line builder (see safefs_cmdline.h). Portable: it writes
 * bytes and knows nothing of Windows but the rules the Microsoft C runtime
 * splits a command line by:
 *
 *   program name: ends at the first space or tab outside quotes; each `"`
 *     toggles quoting and is dropped; backslashes are literal.
 *   arguments:    space and tab outside quotes separate them;
 *     2n backslashes + `"`   -> n backslashes, and the quote toggles quoting;
 *     2n+1 backslashes + `"` -> n backslashes and a literal `"`;
 *     backslashes not before a `"` are literal.
 *
 * So inside quotes each `"` of an argument is written as 2n+1 backslashes
 * and `"`, where n is the run of backslashes before it, and a run at the
 * end is doubled because the closing quote follows it. The only unescaped
 * quotes are then the opening and the closing one, and the closing one is
 * followed by a space or the end: never the `""` inside quotes that the
 * C runtimes before and after 2008 read differently. Newline and vertical
 * tab are not separators for the runtime, but are quoted anyway (as
 * Microsoft's own quoting guidance does) in case a parser takes them as
 * white space; quoting costs nothing.
 */
#include "safefs_cmdline.h"

#include <stdint.h>
#include <string.h>

/* Where the command line goes: counted only (out NULL), or written. */
struct sink {
  char *out;
  size_t len;
  int too_long; /* len would have reached SAFEFS_CMDLINE_ERROR */
};

/* Append `times` copies of c. */
static void put(struct sink *s, char c, size_t times) {
  if (s->too_long || times >= SIZE_MAX - s->len) {
    s->too_long = 1;
    return;
  }
  if (s->out != NULL)
    memset(s->out + s->len, c, times);
  s->len += times;
}

static void put_program(struct sink *s, const char *name) {
  int quoted = name[0] == '\0' || strpbrk(name, " \t\n\v") != NULL;
  if (quoted)
    put(s, '"', 1);
  for (; *name != '\0'; name++)
    put(s, *name, 1);
  if (quoted)
    put(s, '"', 1);
}

/* A run of backslashes is held back until what follows it is known: a
 * `"` (2n + 1), the end inside quotes (2n), anything else (n). */
static void put_argument(struct sink *s, const char *arg) {
  size_t slashes = 0;
  if (arg[0] != '\0' && strpbrk(arg, " \t\n\v\"") == NULL) {
    for (; *arg != '\0'; arg++)
      put(s, *arg, 1); /* no quote in it, so every backslash is literal */
    return;
  }
  put(s, '"', 1);
  for (; *arg != '\0'; arg++) {
    if (*arg == '\\') {
      slashes++;
      continue;
    }
    put(s, '\\', slashes);
    if (*arg == '"') {
      put(s, '\\', slashes);
      put(s, '\\', 1);
    }
    put(s, *arg, 1);
    slashes = 0;
  }
  put(s, '\\', slashes);
  put(s, '\\', slashes);
  put(s, '"', 1);
}

static void put_all(struct sink *s, int argc, const char *const *argv) {
  int i;
  put_program(s, argv[0]);
  for (i = 1; i < argc; i++) {
    put(s, ' ', 1);
    put_argument(s, argv[i]);
  }
}

/* Measured and written by the same code (put_all), so the length
 * returned is the length written. Nothing is written unless it all fits. */
size_t safefs_cmdline_build(int argc, const char *const *argv, char *out, size_t cap) {
  struct sink s = {NULL, 0, 0};
  if (argc < 1 || strchr(argv[0], '"') != NULL)
    return SAFEFS_CMDLINE_ERROR;
  put_all(&s, argc, argv);
  if (s.too_long)
    return SAFEFS_CMDLINE_ERROR;
  if (out != NULL && cap > s.len) {
    struct sink w;
    w.out = out;
    w.len = 0;
    w.too_long = 0;
    put_all(&w, argc, argv);
    out[w.len] = '\0';
  }
  return s.len;
}
