/*
 * Windows command lines (tools/cmdline/safefs_cmdline.h): safefs_cmdline_build
 * against an independent model of the Microsoft C runtime's parser
 * (testutil_cmdline.c), on every platform, since the builder is portable.
 * The same argv goes in, is built, is split by the model and must come
 * back byte for byte; the model also refuses the command lines that the
 * runtimes read differently, so the builder must never produce one.
 * test_cmdline_win32.c sends the same cases through CommandLineToArgvW.
 *
 * The old quoting (kept as a reference in testutil_cmdline.c) is put
 * through the same checks as a negative control: they must catch it.
 */
#include "testutil.h"
#include "testutil_cmdline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safefs_cmdline.h"


/* Build argv, check that measuring and writing agree and that nothing is
 * written past the NUL; returns the malloc'd command line. */
static char *build(int argc, const char *const *argv) {
  size_t n = safefs_cmdline_build(argc, argv, NULL, 0), i;
  char *buf;
  assert_true(n != SAFEFS_CMDLINE_ERROR);
  buf = (char *)malloc(n + 2);
  assert_non_null(buf);
  memset(buf, 'X', n + 2);
  /* one byte short: nothing is written */
  assert_int_equal(safefs_cmdline_build(argc, argv, buf, n), n);
  for (i = 0; i < n + 2; i++)
    assert_int_equal(buf[i], 'X');
  assert_int_equal(safefs_cmdline_build(argc, argv, buf, n + 1), n);
  assert_int_equal(strlen(buf), n);
  assert_int_equal(buf[n + 1], 'X');
  return buf;
}

/* What the model makes of cmd: -1 if it gives argv back, -2 if it refuses
 * cmd as ambiguous, else the index of the first argument it gets wrong. */
static int model_diff(const char *cmd, int argc, const char *const *argv) {
  char **got;
  int got_argc = tu_cmdline_split(cmd, &got), diff;
  if (got_argc < 0)
    return -2;
  diff = tu_cmdline_diff(argc, argv, got_argc, got);
  free(got);
  return diff;
}

static int model_gives_back(const char *cmd, int argc, const char *const *argv) {
  return model_diff(cmd, argc, argv) == -1;
}

/* The check: argv built, then given back by the model. */
static void round_trip(int argc, const char *const *argv, void *ctx) {
  char *cmd = build(argc, argv);
  int diff = model_diff(cmd, argc, argv);
  (void)ctx;
  if (diff != -1)
    fail_msg("%s %d; command line (up to 300 bytes): [%.300s]",
             diff == -2 ? "refused as ambiguous, argc" : "wrong argument", diff == -2 ? argc : diff,
             cmd);
  free(cmd);
}

/* ---- the format, as a reader would check it by hand ------------------------ */

struct golden {
  const char *arg;
  const char *quoted;
};

static void golden_arguments(void **state) {
  static const struct golden cases[] = {
      {"a", "a"},
      {"", "\"\""},
      {"''", "''"},
      {"two words", "\"two words\""},
      {"trail\\", "trail\\"},                      /* no quotes: literal */
      {"two words\\", "\"two words\\\\\""},        /* before the closing quote: doubled */
      {"a\\\"b", "\"a\\\\\\\"b\""},                /* a\"b -> "a\\\"b" */
      {"c\\\\\\\\\"d", "\"c\\\\\\\\\\\\\\\\\\\"d\""}, /* 4 -> 9 before the quote */
      {"a\\b c", "\"a\\b c\""},                    /* not before a quote: as is */
      {"\t", "\"\t\""},
      {"x\ny", "\"x\ny\""},
      {"\xc3\xa9\xf0\x9f\x98\x80", "\xc3\xa9\xf0\x9f\x98\x80"},
  };
  size_t i;
  (void)state;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *argv[2];
    char want[64], *got;
    argv[0] = "prog";
    argv[1] = cases[i].arg;
    snprintf(want, sizeof want, "prog %s", cases[i].quoted);
    got = build(2, argv);
    if (strcmp(got, want) != 0)
      fail_msg("case %u: got [%s], want [%s]", (unsigned)i, got, want);
    free(got);
  }
}

/* The program name keeps its backslashes (the runtime reads them
 * literally there) and is quoted only for white space. */
static void program_name(void **state) {
  static const struct golden cases[] = {
      {"C:\\tools\\x.exe", "C:\\tools\\x.exe"},
      {"C:\\Program Files\\x.exe", "\"C:\\Program Files\\x.exe\""},
      {"C:\\a b\\", "\"C:\\a b\\\""},
      {"", "\"\""},
  };
  size_t i;
  (void)state;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *argv[1];
    char *got;
    argv[0] = cases[i].arg;
    got = build(1, argv);
    assert_string_equal(got, cases[i].quoted);
    assert_true(model_gives_back(got, 1, argv));
    free(got);
  }
}

static void refused(void **state) {
  const char *quoted[2] = {"a\"b.exe", "x"};
  const char *none[1] = {"x"};
  char buf[16];
  (void)state;
  memset(buf, 'X', sizeof buf);
  assert_true(safefs_cmdline_build(2, quoted, buf, sizeof buf) == SAFEFS_CMDLINE_ERROR);
  assert_true(safefs_cmdline_build(0, none, buf, sizeof buf) == SAFEFS_CMDLINE_ERROR);
  assert_true(safefs_cmdline_build(-1, none, buf, sizeof buf) == SAFEFS_CMDLINE_ERROR);
  assert_int_equal(buf[0], 'X');
}

/* ---- round trips -------------------------------------------------------------- */

#define LINES 20000

static void nasty_arguments(void **state) {
  int n = tu_cmdline_for_nasty(round_trip, NULL);
  (void)state;
  print_message("model: %d nasty arguments given back together and alone\n", n);
}

static void generated_arguments(void **state) {
  long args = tu_cmdline_for_random(round_trip, NULL, LINES, 0x9e3779b9u);
  (void)state;
  print_message("model: %d generated command lines, %ld arguments given back\n", LINES, args);
}

static void long_arguments(void **state) {
  (void)state;
  tu_cmdline_for_long(round_trip, NULL);
  print_message("model: three arguments of %d bytes given back\n", TU_CMDLINE_LONG);
}

/* ---- negative control: the old quoting must fail these checks ---------------- */

struct caught {
  int lines;
  int caught;
};

/* The same check on the old quoting: counts the command lines it fails. */
static void old_round_trip(int argc, const char *const *argv, void *ctx) {
  struct caught *c = (struct caught *)ctx;
  char *cmd = tu_cmdline_old_build(argc, argv);
  assert_non_null(cmd);
  c->lines++;
  c->caught += model_diff(cmd, argc, argv) != -1;
  free(cmd);
}

/* Caught on the command line of all nasty arguments and on each with a
 * backslash run before a quote; the longer runs also overran the old size
 * rule, so the buffer allocated by it. */
static void old_quoting_is_caught(void **state) {
  struct caught c = {0, 0};
  int n = tu_cmdline_for_nasty(old_round_trip, &c), i, overruns = 0;
  (void)state;
  for (i = 0; tu_cmdline_nasty[i] != NULL; i++)
    overruns += tu_cmdline_old_quoted_len(tu_cmdline_nasty[i]) >
                TU_CMDLINE_OLD_QUOTED_MAX(strlen(tu_cmdline_nasty[i]));
  print_message("old quoting: caught on %d of %d command lines (all %d nasty arguments, then "
                "each alone); %d arguments past the old size rule\n",
                c.caught, c.lines, n, overruns);
  assert_true(c.caught >= 1 + 3);
  /* c\\\\"d: 6 bytes, the old rule allowed 14, it wrote 18 */
  assert_int_equal(tu_cmdline_old_quoted_len("c\\\\\\\\\"d"), 18);
  assert_true(overruns >= 2);
}

static void old_quoting_is_caught_generated(void **state) {
  struct caught c = {0, 0};
  (void)state;
  tu_cmdline_for_random(old_round_trip, &c, LINES, 0x9e3779b9u);
  print_message("old quoting: caught on %d of %d generated command lines\n", c.caught, c.lines);
  assert_true(c.caught > LINES / 4);
}

/* ---- the model itself ------------------------------------------------------------ */

/* The examples of Microsoft Learn's "Parsing C++ command-line arguments"
 * table (with a program name in front), so that the model is checked by
 * something other than the builder; the table's last row is a `""` inside
 * quotes, which the model must refuse. */
static void model_reads_documented_examples(void **state) {
  struct example {
    const char *cmd;
    int argc;
    const char *argv[4];
  };
  static const struct example ex[] = {
      {"p \"a b c\" d e", 4, {"p", "a b c", "d", "e"}},
      {"p \"ab\\\"c\" \"\\\\\" d", 4, {"p", "ab\"c", "\\", "d"}},
      {"p a\\\\\\b d\"e f\"g h", 4, {"p", "a\\\\\\b", "de fg", "h"}},
      {"p a\\\\\\\"b c d", 4, {"p", "a\\\"b", "c", "d"}},
      {"p a\\\\\\\\\"b c\" d e", 4, {"p", "a\\\\b c", "d", "e"}},
      /* and: program names, tabs, runs of blanks, an unclosed quote */
      {"\"C:\\a b\\p.exe\"\tx", 2, {"C:\\a b\\p.exe", "x"}},
      {"p \"\" \"\\\\\"", 3, {"p", "", "\\"}},
      {"p  a\t\tb  ", 3, {"p", "a", "b"}},
      {"p \"a b", 2, {"p", "a b"}},
  };
  static const char *const ambiguous[] = {"p a\"b\"\" c d", "p \"a\"\"b\"", "p\"x\" a",
                                          "\"p\"x a", "p \"\"\""};
  size_t i;
  (void)state;
  for (i = 0; i < sizeof ex / sizeof ex[0]; i++)
    if (!model_gives_back(ex[i].cmd, ex[i].argc, ex[i].argv))
      fail_msg("model misreads [%s]", ex[i].cmd);
  for (i = 0; i < sizeof ambiguous / sizeof ambiguous[0]; i++) {
    char **got;
    assert_int_equal(tu_cmdline_split(ambiguous[i], &got), -1);
    assert_null(got);
  }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(golden_arguments),
    cmocka_unit_test(program_name),
    cmocka_unit_test(refused),
    cmocka_unit_test(model_reads_documented_examples),
    cmocka_unit_test(nasty_arguments),
    cmocka_unit_test(generated_arguments),
    cmocka_unit_test(long_arguments),
    cmocka_unit_test(old_quoting_is_caught),
    cmocka_unit_test(old_quoting_is_caught_generated),
};
TU_SUITE("cmdline", tests, NULL);
