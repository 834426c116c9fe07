/* The safefs command-line tool: one function per subcommand. */
#ifndef SAFEFS_CLI_H
#define SAFEFS_CLI_H

/* Each returns the process exit status. argv[0] is the subcommand name. */
int safefs_cli_write(int argc, char **argv);
int safefs_cli_lock(int argc, char **argv);
/* rm, sweep (issue 5) */

/* Print "safefs: <what>: <status message>" to stderr; returns exit status 1. */
int safefs_cli_fail(const char *what, int status);

/* Parse a decimal long; returns 0 on success. */
int safefs_cli_parse_long(const char *s, long *out);

#endif
