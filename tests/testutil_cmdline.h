/*
 * What the command-line tests (test_cmdline*.c) and the fuzzer
 * (fuzz/fuzz_cmdline.c) check safefs_cmdline_build against. No CMocka
 * here, so the fuzzer links it too.
 */
#ifndef SAFEFS_TESTUTIL_CMDLINE_H
#define SAFEFS_TESTUTIL_CMDLINE_H

#include <stddef.h>
#include <stdint.h>

/*
 * A model of how the Microsoft C runtime splits a command line into argv,
 * written from its documented rules, apart from the builder (which it is
 * there to check):
 *
 *   argv[0], the program name: up to the first space or tab outside
 *     quotes; quotes are dropped; backslashes are literal.
 *   then each argument, after any spaces and tabs:
 *     2n backslashes + `"`   -> n backslashes; the quote opens or closes
 *                               quoting and is dropped
 *     2n+1 backslashes + `"` -> n backslashes and a literal `"`
 *     other backslashes      -> themselves
 *     space or tab outside quotes ends the argument; so does the end.
 *
 * Stricter than any one runtime where they disagree, so that a command
 * line it accepts reads the same under each: it refuses (returns -1) a
 * `""` inside quotes whose first quote would close them (the C runtime
 * since 2008 reads a literal `"` and stays inside; older msvcrt and
 * CommandLineToArgvW do otherwise), and a program name with a quote
 * anywhere but around the whole of it (CommandLineToArgvW takes a leading
 * quote to the next one, the runtime toggles).
 *
 * On success returns argc and sets *argv to a NULL-terminated array in one
 * malloc'd block (free() it); on -1, *argv is NULL.
 */
int tu_cmdline_split(const char *cmd, char ***argv);

/* -1 if got[0..got_argc-1] equals want[0..want_argc-1] byte for byte;
 * otherwise the index of the first argument that differs. */
int tu_cmdline_diff(int want_argc, const char *const *want, int got_argc, char *const *got);

/*
 * The quoting safefs used before (tools/quote_win32.h, on UTF-16; here on
 * bytes, the same rules), kept as a reference to show the checks catch
 * it: a run of n backslashes before a `"` came out as 3n + 1 instead of
 * 2n + 1. A malloc'd command line for argv[0..argc-1], every argument,
 * argv[0] too, quoted by the old rule.
 */
char *tu_cmdline_old_build(int argc, const char *const *argv);
/* The old size rule, SAFEFS_QUOTED_MAX, that buffers were allocated by,
 * and the length the old quoting really wrote for one argument. */
#define TU_CMDLINE_OLD_QUOTED_MAX(len) ((len) * 2 + 2)
size_t tu_cmdline_old_quoted_len(const char *arg);

/* Arguments meant to break quoting: empty, quotes, backslash runs before a
 * quote and at the end, white space, non-ASCII incl. beyond the BMP.
 * NULL-terminated. */
extern const char *const tu_cmdline_nasty[];

/*
 * The cases every parser is checked on. Each calls check(argc, argv, ctx)
 * once per command line, argv[0] a program name; check fails or counts.
 *
 * for_nasty: all the nasty arguments in one command line, then each alone;
 *   returns how many nasty arguments there are.
 * for_random: `lines` random command lines of 0 to 8 arguments of up to 12
 *   pieces (backslashes, quotes, space, tab, newline, vertical tab,
 *   letters, UTF-8 of 2, 3 and 4 bytes); returns how many arguments.
 * for_long: one command line of three TU_CMDLINE_LONG-byte arguments: a
 *   backslash run ending in a quote, a space and then backslashes, a
 *   random mix ending in backslashes.
 */
typedef void (*tu_cmdline_check)(int argc, const char *const *argv, void *ctx);
int tu_cmdline_for_nasty(tu_cmdline_check check, void *ctx);
long tu_cmdline_for_random(tu_cmdline_check check, void *ctx, int lines, uint32_t seed);
#define TU_CMDLINE_LONG 40000
void tu_cmdline_for_long(tu_cmdline_check check, void *ctx);

/* A random argument of up to `pieces` pieces into buf, NUL-terminated,
 * never more than cap bytes. *state is a xorshift state (nonzero). */
void tu_cmdline_random_arg(uint32_t *state, char *buf, size_t cap, size_t pieces);

#endif
