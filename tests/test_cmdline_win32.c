/*
 * Windows command lines through Windows itself: safefs_cmdline_to_utf16
 * builds the UTF-16 command line CreateProcessW gets, and
 * safefs_cmdline_split_utf8 (CommandLineToArgvW, then UTF-8: what the
 * safefs tool's main() uses) must give the argv back byte for byte, for
 * the cases test_cmdline.c sends through the model. And the model itself
 * is checked against CommandLineToArgvW on command lines it accepts.
 *
 * Under Wine (where this has been run) CommandLineToArgvW is Wine's own
 * implementation of the rules, not Microsoft's; the C runtime's split in a
 * real child process is checked by cli_argv_test.cmake.
 */
#include "testutil.h"
#include "testutil_cmdline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "safefs_cmdline.h"

#define LINES 20000

/* What CommandLineToArgvW makes of cmd: -1 if it gives argv back, else
 * the index of the first argument it gets wrong. */
static int shell32_diff(const wchar_t *cmd, int argc, const char *const *argv) {
  int got_argc, diff;
  char **got = safefs_cmdline_split_utf8(cmd, &got_argc);
  assert_non_null(got);
  diff = tu_cmdline_diff(argc, argv, got_argc, got);
  free(got);
  return diff;
}

/* The check: argv built into a UTF-16 command line, then given back by
 * CommandLineToArgvW. */
static void round_trip(int argc, const char *const *argv, void *ctx) {
  wchar_t *cmd = safefs_cmdline_to_utf16(argc, argv);
  int diff;
  (void)ctx;
  if (cmd == NULL)
    fail_msg("safefs_cmdline_to_utf16: Windows error %lu", (unsigned long)GetLastError());
  diff = shell32_diff(cmd, argc, argv);
  if (diff != -1)
    fail_msg("CommandLineToArgvW: wrong argument %d of %d", diff, argc);
  free(cmd);
}

static void nasty_arguments(void **state) {
  int n = tu_cmdline_for_nasty(round_trip, NULL);
  (void)state;
  print_message("CommandLineToArgvW: %d nasty arguments given back together and alone\n", n);
}

static void generated_arguments(void **state) {
  long args = tu_cmdline_for_random(round_trip, NULL, LINES, 0x9e3779b9u);
  (void)state;
  print_message("CommandLineToArgvW: %d generated command lines, %ld arguments given back\n",
                LINES, args);
}

/* Longer than CreateProcessW takes (32767 units), which is its limit, not
 * the builder's or the parser's. */
static void long_arguments(void **state) {
  (void)state;
  tu_cmdline_for_long(round_trip, NULL);
  print_message("CommandLineToArgvW: three arguments of %d bytes given back\n", TU_CMDLINE_LONG);
}

static void refused(void **state) {
  const char *quote[2] = {"a\"b.exe", "x"};
  const char *bad_utf8[2] = {"prog", "\xc3("};
  const char *surrogate[2] = {"prog", "\xed\xa0\x80"}; /* U+D800 in UTF-8 form */
  (void)state;
  assert_null(safefs_cmdline_to_utf16(2, quote));
  assert_int_equal(GetLastError(), ERROR_INVALID_PARAMETER);
  assert_null(safefs_cmdline_to_utf16(2, bad_utf8));
  assert_int_equal(GetLastError(), ERROR_NO_UNICODE_TRANSLATION);
  assert_null(safefs_cmdline_to_utf16(2, surrogate));
  assert_int_equal(GetLastError(), ERROR_NO_UNICODE_TRANSLATION);
}

/* A lone surrogate has no UTF-8 form: refused, not replaced. */
static void lone_surrogate_refused(void **state) {
  static const wchar_t cmd[] = {L'p', L' ', 0xD800, L'x', 0};
  int argc = -1;
  (void)state;
  assert_null(safefs_cmdline_split_utf8(cmd, &argc));
}

/* ---- negative control: the old quoting fails the same check ---------------- */

/* The same check on the old quoting: counts the command lines it fails. */
static void old_round_trip(int argc, const char *const *argv, void *ctx) {
  int *caught = (int *)ctx;
  char *old = tu_cmdline_old_build(argc, argv);
  wchar_t *w;
  assert_non_null(old);
  w = tu_wide(old);
  *caught += shell32_diff(w, argc, argv) != -1;
  free(w);
  free(old);
}

static void old_quoting_is_caught(void **state) {
  int caught = 0, n = tu_cmdline_for_nasty(old_round_trip, &caught);
  (void)state;
  print_message("old quoting: CommandLineToArgvW catches it on %d of %d command lines (all "
                "nasty arguments, then each alone)\n",
                caught, n + 1);
  assert_true(caught >= 1 + 3);
}

/* ---- the model against CommandLineToArgvW ------------------------------------ */

/* Random strings as command lines: where the model accepts one, it must
 * read it as CommandLineToArgvW does. */
static void model_agrees_with_shell32(void **state) {
  char buf[5 + 256];
  uint32_t rng = 777;
  int line, accepted = 0;
  (void)state;
  for (line = 0; line < LINES; line++) {
    char **model;
    int argc;
    memcpy(buf, "prog ", 5);
    tu_cmdline_random_arg(&rng, buf + 5, sizeof buf - 5, 16);
    argc = tu_cmdline_split(buf, &model);
    if (argc >= 0) {
      wchar_t *w = tu_wide(buf);
      int diff = shell32_diff(w, argc, (const char *const *)model);
      if (diff != -1)
        fail_msg("model and CommandLineToArgvW differ at argument %d of [%s]", diff, buf);
      accepted++;
      free(w);
      free(model);
    }
  }
  print_message("model = CommandLineToArgvW on %d random command lines (%d refused as "
                "ambiguous)\n",
                accepted, LINES - accepted);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(nasty_arguments),
    cmocka_unit_test(generated_arguments),
    cmocka_unit_test(long_arguments),
    cmocka_unit_test(refused),
    cmocka_unit_test(lone_surrogate_refused),
    cmocka_unit_test(old_quoting_is_caught),
    cmocka_unit_test(model_agrees_with_shell32),
};
TU_SUITE("cmdline_win32", tests, NULL);
