/* The safefs command-line tool: one function per subcommand. */
#ifndef SAFEFS_CLI_H
#define SAFEFS_CLI_H

/* Each returns the process exit status. argv[0] is the subcommand name. */
int safefs_cli_write(int argc, char **argv);
int safefs_cli_lock(int argc, char **argv);
int safefs_cli_rm(int argc, char **argv);
int safefs_cli_sweep(int argc, char **argv);

/* Print "safefs: <what>: <status message>" to stderr; returns exit status 1. */
int safefs_cli_fail(const char *what, int status);

/* Parse a decimal long; returns 0 on success. */
int safefs_cli_parse_long(const char *s, long *out);

/* ---- args.c: what a subcommand's arguments ask for, doing nothing ---- */
enum { SAFEFS_CLI_WRITE, SAFEFS_CLI_LOCK, SAFEFS_CLI_RM, SAFEFS_CLI_SWEEP };
#define SAFEFS_CLI_USAGE 2

struct safefs_cli_args {
  unsigned flags; /* write: SAFEFS_NOSYNC, _NOREPLACE, _PRIVATE, _MKDIRS; lock: _LOCK_SHARED */
  int recursive;  /* rm -r */
  long number;    /* --timeout MS (lock, rm) or --min-age S (sweep); -1 if absent */
  int first;      /* argv index of the first operand (PATH, LOCKFILE, DIR) */
  int count;      /* number of operands: 1, or for rm the paths */
  int command;    /* lock: argv index of COMMAND (after "--") */
};

/* Parse argv (argv[0] is the subcommand) for subcommand `which`: 0, or
 * SAFEFS_CLI_USAGE for a usage error. */
int safefs_cli_parse(int which, int argc, char **argv, struct safefs_cli_args *a);

#endif
