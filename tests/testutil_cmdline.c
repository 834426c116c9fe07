/* The command-line model and test data; see testutil_cmdline.h. */
#include "testutil_cmdline.h"

#include <stdlib.h>
#include <string.h>

static int is_blank(char c) {
  return c == ' ' || c == '\t';
}

/* The program name: unquoted up to a blank, or quoted whole. */
static const char *split_program(const char *p, char **dst) {
  if (*p == '"') {
    for (p++; *p != '\0' && *p != '"'; p++)
      *(*dst)++ = *p;
    if (*p == '"')
      p++;
  } else {
    for (; *p != '\0' && !is_blank(*p); p++) {
      if (*p == '"')
        return NULL; /* a quote inside: the parsers disagree */
      *(*dst)++ = *p;
    }
  }
  if (*p != '\0' && !is_blank(*p))
    return NULL; /* "name"more: the parsers disagree */
  *(*dst)++ = '\0';
  return p;
}

/* One argument at p (not blank); returns where it ends. */
static const char *split_argument(const char *p, char **dst) {
  int quoted = 0;
  for (;;) {
    size_t slashes = 0, i;
    while (*p == '\\') {
      slashes++;
      p++;
    }
    if (*p == '"') {
      for (i = 0; i < slashes / 2; i++)
        *(*dst)++ = '\\';
      if (slashes % 2 == 1) {
        *(*dst)++ = '"';
      } else {
        if (quoted && p[1] == '"')
          return NULL; /* `""` inside quotes: the runtimes disagree */
        quoted = !quoted;
      }
      p++;
      continue;
    }
    for (i = 0; i < slashes; i++)
      *(*dst)++ = '\\';
    if (*p == '\0' || (!quoted && is_blank(*p)))
      break;
    *(*dst)++ = *p++;
  }
  *(*dst)++ = '\0';
  return p;
}

/* Every argument takes at least one byte of cmd, or is the program name,
 * and gives at most as many bytes as it takes plus a NUL: so len + 2
 * pointers and 2 * len + 2 bytes are enough. */
int tu_cmdline_split(const char *cmd, char ***out) {
  size_t len = strlen(cmd);
  char **argv = (char **)malloc((len + 2) * sizeof *argv + 2 * len + 2);
  char *dst;
  const char *p = cmd;
  int argc = 0;

  *out = NULL;
  if (argv == NULL)
    return -1;
  dst = (char *)(argv + len + 2);
  argv[argc++] = dst;
  p = split_program(p, &dst);
  while (p != NULL) {
    while (is_blank(*p))
      p++;
    if (*p == '\0')
      break;
    argv[argc++] = dst;
    p = split_argument(p, &dst);
  }
  if (p == NULL) {
    free(argv);
    return -1;
  }
  argv[argc] = NULL;
  *out = argv;
  return argc;
}

int tu_cmdline_diff(int want_argc, const char *const *want, int got_argc, char *const *got) {
  int i;
  for (i = 0; i < want_argc && i < got_argc; i++)
    if (strcmp(want[i], got[i]) != 0)
      return i;
  return want_argc == got_argc ? -1 : i;
}

/* tools/quote_win32.h's safefs_quote_arg, as it was, on bytes. The run of
 * backslashes is copied as it comes, then 2n + 1 more go before a quote. */
static size_t old_quote_arg(char *out, const char *arg) {
  size_t i = 0, slashes = 0;
  if (arg[0] != 0 && strpbrk(arg, " \t\n\v\"") == NULL) {
    for (; *arg; arg++)
      out[i++] = *arg;
    return i;
  }
  out[i++] = '"';
  for (; *arg; arg++) {
    if (*arg == '\\') {
      slashes++;
    } else {
      if (*arg == '"')
        for (slashes = slashes * 2 + 1; slashes > 0; slashes--)
          out[i++] = '\\';
      slashes = 0;
    }
    out[i++] = *arg;
  }
  for (; slashes > 0; slashes--)
    out[i++] = '\\';
  out[i++] = '"';
  return i;
}

/* 3n + 2 bytes for n + 1 of the argument at most, plus the quotes. */
static size_t old_room(const char *arg) {
  return 3 * strlen(arg) + 2;
}

size_t tu_cmdline_old_quoted_len(const char *arg) {
  char *buf = (char *)malloc(old_room(arg));
  size_t n = buf != NULL ? old_quote_arg(buf, arg) : 0;
  free(buf);
  return n;
}

char *tu_cmdline_old_build(int argc, const char *const *argv) {
  size_t cap = 1, pos = 0;
  char *cmd;
  int i;
  for (i = 0; i < argc; i++)
    cap += old_room(argv[i]) + 1;
  cmd = (char *)malloc(cap);
  if (cmd == NULL)
    return NULL;
  for (i = 0; i < argc; i++) {
    if (i > 0)
      cmd[pos++] = ' ';
    pos += old_quote_arg(cmd + pos, argv[i]);
  }
  cmd[pos] = '\0';
  return cmd;
}

const char *const tu_cmdline_nasty[] = {
    "",                     /* empty */
    "''",                   /* a shell's empty string, two literal apostrophes */
    "a\\\"b",               /* a\"b */
    "c\\\\\\\\\"d",         /* c\\\\"d: four backslashes before a quote */
    "trail\\",              /* a backslash at the end, unquoted */
    "two words",
    "tab\there",
    "\\\\\\\\\\\"",         /* five backslashes before a quote */
    "two words\\\\",        /* two backslashes before the closing quote */
    "\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80", /* été 日本 U+1F600 */
    "\xf0\x90\x8d\x88\xef\xbf\xbf",                                 /* U+10348 U+FFFF */
    "\"",
    "\"\"",
    "\"quoted\"",
    "\\",
    "\\\\",
    " ",
    "\t",
    "line\nbreak",
    "vertical\vtab",
    "\\\\\\\\\\\\\"x y",    /* six backslashes, a quote, a space */
    "a\\\\b c\\d",          /* backslashes not before a quote, quoted */
    "\\\"\\\"\\\\\"\"",     /* \"\"\\"" */
    "--",
    "%PATH%",               /* cmd.exe syntax: no shell here, so literal */
    "^&|<>()",
    NULL};

static uint32_t next_random(uint32_t *state) {
  uint32_t x = *state; /* xorshift32 */
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *state = x;
}

static const char *const pieces[] = {
    "\\", "\\", "\\", "\\\\\\", "\"", "\"", " ", "\t", "\n", "\v", "a", "Z", "'", "-",
    "\xc3\xa9",         /* é */
    "\xe6\x97\xa5",     /* 日 */
    "\xf0\x9f\x98\x80", /* U+1F600, beyond the BMP: a surrogate pair in UTF-16 */
};

void tu_cmdline_random_arg(uint32_t *state, char *buf, size_t cap, size_t max_pieces) {
  size_t n = max_pieces > 0 ? next_random(state) % (max_pieces + 1) : 0, len = 0, i;
  for (i = 0; i < n; i++) {
    const char *p = pieces[next_random(state) % (sizeof pieces / sizeof pieces[0])];
    size_t k = strlen(p);
    if (len + k >= cap)
      break;
    memcpy(buf + len, p, k);
    len += k;
  }
  if (cap > 0)
    buf[len] = '\0';
}

int tu_cmdline_for_nasty(tu_cmdline_check check, void *ctx) {
  const char *argv[64], *one[2];
  int argc = 0, i;
  argv[argc++] = "C:\\dir with space\\prog.exe";
  for (; tu_cmdline_nasty[argc - 1] != NULL && argc < 63; argc++)
    argv[argc] = tu_cmdline_nasty[argc - 1];
  argv[argc] = NULL;
  check(argc, argv, ctx);
  one[0] = "prog";
  for (i = 1; i < argc; i++) {
    one[1] = argv[i];
    check(2, one, ctx);
  }
  return argc - 1;
}

long tu_cmdline_for_random(tu_cmdline_check check, void *ctx, int lines, uint32_t seed) {
  static char bufs[9][256];
  const char *argv[9];
  long args = 0;
  int line;
  argv[0] = "prog";
  for (line = 0; line < lines; line++) {
    int argc = 1 + (int)(next_random(&seed) % 9), i;
    for (i = 1; i < argc; i++) {
      tu_cmdline_random_arg(&seed, bufs[i], sizeof bufs[i], 12);
      argv[i] = bufs[i];
    }
    check(argc, argv, ctx);
    args += argc - 1;
  }
  return args;
}

void tu_cmdline_for_long(tu_cmdline_check check, void *ctx) {
  char *run_quote = (char *)malloc(TU_CMDLINE_LONG + 1);
  char *run_end = (char *)malloc(TU_CMDLINE_LONG + 1);
  char *mix = (char *)malloc(TU_CMDLINE_LONG + 1);
  const char *argv[4];
  uint32_t seed = 12345;
  size_t len = 0;
  if (run_quote == NULL || run_end == NULL || mix == NULL)
    abort();
  memset(run_quote, '\\', TU_CMDLINE_LONG);
  run_quote[TU_CMDLINE_LONG - 1] = '"';
  run_quote[TU_CMDLINE_LONG] = '\0';
  memset(run_end, '\\', TU_CMDLINE_LONG);
  run_end[0] = ' ';
  run_end[TU_CMDLINE_LONG] = '\0';
  while (TU_CMDLINE_LONG - len > 40) { /* pieces of at most 40 bytes, then backslashes */
    tu_cmdline_random_arg(&seed, mix + len, TU_CMDLINE_LONG + 1 - len, 10);
    len += strlen(mix + len);
  }
  memset(mix + len, '\\', TU_CMDLINE_LONG - len);
  mix[TU_CMDLINE_LONG] = '\0';
  argv[0] = "prog";
  argv[1] = run_quote;
  argv[2] = run_end;
  argv[3] = mix;
  check(4, argv, ctx);
  free(run_quote);
  free(run_end);
  free(mix);
}
