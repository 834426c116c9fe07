/*
 * safefs: command-line front end to the library.
 *
 *   safefs write [--nosync] [--noreplace] [--private] [--mkdirs] PATH
 *                                               stdin -> PATH, atomically
 *   safefs lock [--shared] [--timeout MS] LOCKFILE -- COMMAND [ARGS...]
 *                                                run COMMAND holding the lock (tools/lock.c)
 *   safefs rm [-r] [--timeout MS] PATH...         retrying delete
 *   safefs sweep [--min-age S] DIR                remove safefs leftovers
 *   safefs version
 *
 * Exit status 0 on success, 1 on a library failure (with one line on
 * stderr naming the status), 2 on a usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <fcntl.h>
#include <io.h>
#include <windows.h>
#endif

#include "safefs.h"
#include "cli.h"
#ifdef _WIN32
#include "safefs_cmdline.h"
#endif

struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *usage;
};

static int run_version(int argc, char **argv);

static const struct command commands[] = {
    {"write", safefs_cli_write,
     "write [--nosync] [--noreplace] [--private] [--mkdirs] PATH   (content from stdin)"},
    {"lock", safefs_cli_lock,
     "lock [--shared] [--timeout MS] LOCKFILE -- COMMAND [ARGS...]\n"
     "      run COMMAND holding the lock; exit status: COMMAND's (128+N: killed by signal N),\n"
     "      1 lock not acquired (timeout) or other failure, 126 cannot run, 127 not found"},
    {"rm", safefs_cli_rm, "rm [-r] [--timeout MS] PATH...   (-r: directories as whole trees)"},
    {"sweep", safefs_cli_sweep, "sweep [--min-age SECONDS] DIR   (safefs leftovers; default age 3600)"},
    {"version", run_version, "version"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static int usage(void) {
  size_t i;
  fprintf(stderr, "usage:\n");
  for (i = 0; i < N_COMMANDS; i++)
    fprintf(stderr, "  safefs %s\n", commands[i].usage);
  return 2;
}

int safefs_cli_fail(const char *what, int status) {
  const char *name = safefs_status_name(status);
  const char *detail = safefs_last_error_message();
  fprintf(stderr, "safefs: %s: %s (%s, os error %ld)\n", what, safefs_strerror(status),
          name ? name : "?", safefs_last_os_error());
  if (detail[0] != '\0') /* which call failed, on which path, and why */
    fprintf(stderr, "safefs: %s\n", detail);
  return 1;
}

static int run_version(int argc, char **argv) {
  (void)argv;
  if (argc != 1)
    return usage();
  printf("safefs %s\n", safefs_version_string());
  return 0;
}

/* Stream standard input into PATH through the atomic writer: nothing
 * reaches PATH unless all of stdin was read and written. */
int safefs_cli_write(int argc, char **argv) {
  struct safefs_cli_args a;
  unsigned flags;
  const char *path;
  safefs_writer *w;
  static char buf[64 * 1024];
  int rc;

  if (safefs_cli_parse(SAFEFS_CLI_WRITE, argc, argv, &a) != 0)
    return usage();
  flags = a.flags;
  path = argv[a.first];
#ifdef _WIN32
  _setmode(_fileno(stdin), _O_BINARY);
#endif
  rc = safefs_writer_open(&w, path, flags);
  if (rc != 0)
    return safefs_cli_fail(path, rc);
  for (;;) {
    size_t n = fread(buf, 1, sizeof buf, stdin);
    if (n > 0 && (rc = safefs_writer_write(w, buf, n)) != 0) {
      safefs_writer_abort(w);
      return safefs_cli_fail(path, rc);
    }
    if (n < sizeof buf) {
      if (ferror(stdin)) {
        safefs_writer_abort(w);
        fprintf(stderr, "safefs: %s: error reading standard input; %s left unchanged\n", path,
                path);
        return 1;
      }
      break;
    }
  }
  rc = safefs_writer_commit(w);
  if (rc != 0)
    return safefs_cli_fail(path, rc);
  return 0;
}

static int run(int argc, char **argv) {
  size_t i;
  if (argc < 2)
    return usage();
  for (i = 0; i < N_COMMANDS; i++)
    if (strcmp(argv[1], commands[i].name) == 0)
      return commands[i].run(argc - 1, argv + 1);
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage();
    return 0;
  }
  return usage();
}

int main(int argc, char **argv) {
#ifdef _WIN32
  int rc;
  /* The C runtime's argv is in the ANSI code page, which cannot hold every
   * file name; safefs takes UTF-8, so it is rebuilt from the UTF-16
   * command line instead (one block). */
  char **wide_argv = safefs_cmdline_split_utf8(GetCommandLineW(), &argc);
  (void)argv;
  if (wide_argv == NULL) {
    fprintf(stderr, "safefs: cannot read the command line\n");
    return 2;
  }
  rc = run(argc, wide_argv);
  free(wide_argv);
  return rc;
#else
  return run(argc, argv);
#endif
}
