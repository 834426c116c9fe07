/*
 * Windows command lines, built from an argv and split back into one.
 *
 * CreateProcessW takes one string, not an argv: the started program's C
 * runtime (or CommandLineToArgvW) splits it into argv again. This builds
 * the string that gives back exactly the argv it was built from, under the
 * Microsoft C runtime's rules before and after 2008 and CommandLineToArgvW
 * alike. It is used by the safefs tool (`safefs lock`, tools/lock.c) and by
 * the test helpers that start processes (tests/testutil_proc.c).
 *
 * The builder works on UTF-8 bytes and is portable C, so it is tested and
 * fuzzed natively (tests/test_cmdline.c, fuzz/fuzz_cmdline.c): the quoting
 * rules only concern ASCII space, tab, newline, vertical tab, `"` and `\`,
 * and every other byte, including those of UTF-8 sequences, passes through
 * unchanged. The Windows functions below convert at the edge, once.
 *
 * Not part of libsafefs: a small static library of its own (cmdline/),
 * linked by the tool and the tests.
 */
#ifndef SAFEFS_CMDLINE_H
#define SAFEFS_CMDLINE_H

#include <stddef.h>

/* What safefs_cmdline_build returns when there is no command line. */
#define SAFEFS_CMDLINE_ERROR ((size_t)-1)

/*
 * The command line for argv[0..argc-1]: argv[0] is the program name, the
 * rest its arguments, each a NUL-terminated UTF-8 (or any 8-bit) string.
 *
 * Returns its length in bytes, not counting the terminating NUL, whatever
 * cap is. If out is not NULL and cap is greater than that length, also
 * writes it and the NUL to out; otherwise writes nothing to out at all (no
 * truncated command line). So: measure with (NULL, 0), allocate length + 1,
 * build. The length is always below SAFEFS_CMDLINE_ERROR, so length + 1
 * does not overflow.
 *
 * Returns SAFEFS_CMDLINE_ERROR, writing nothing, if argc < 1, if argv[0]
 * holds a `"` (no Windows file name does, and the C runtime drops quotes
 * from a program name), or if the length would not fit in a size_t.
 *
 * The format: arguments separated by one space; an argument that is
 * non-empty and has no space, tab, newline, vertical tab or `"` as is;
 * any other inside quotes, with each `"` escaped and the backslashes
 * before it and before the closing quote doubled. The program name is
 * quoted when it is empty or has white space, its backslashes never
 * doubled (the runtime takes them literally there).
 */
size_t safefs_cmdline_build(int argc, const char *const *argv, char *out, size_t cap);

#ifdef _WIN32
#include <wchar.h>

/*
 * The command line for argv[0..argc-1] (UTF-8) as a malloc'd UTF-16
 * string for CreateProcessW, which may write to it. NULL on failure, with
 * GetLastError() set: ERROR_INVALID_PARAMETER (see safefs_cmdline_build),
 * ERROR_NO_UNICODE_TRANSLATION (an argument is not valid UTF-8),
 * ERROR_NOT_ENOUGH_MEMORY. The length limit of CreateProcessW (32767
 * units) is left to CreateProcessW to report.
 */
wchar_t *safefs_cmdline_to_utf16(int argc, const char *const *argv);

/*
 * Split a UTF-16 command line with CommandLineToArgvW and convert each
 * argument to UTF-8. Returns a NULL-terminated argv in one malloc'd block
 * (one free() releases it) and sets *argc, or NULL if the split fails or an
 * argument is not valid UTF-16 (a lone surrogate has no UTF-8 form; it is
 * refused rather than replaced, so a file name is never changed into
 * another one). main() of a program that takes UTF-8 file names calls it
 * with GetCommandLineW(), since the runtime's char argv is in the ANSI code
 * page and cannot hold every name.
 */
char **safefs_cmdline_split_utf8(const wchar_t *cmd, int *argc);

/*
 * The same conversion for an argv that is already split (e.g. wmain's):
 * UTF-8 copies of wargv[0..argc-1] in one malloc'd, NULL-terminated block,
 * or NULL (invalid UTF-16, no memory).
 */
char **safefs_cmdline_argv_utf8(int argc, wchar_t *const *wargv);
#endif

#endif
