/*
 * Helper processes for multi-process tests (libuv's runner style): a test
 * program starts copies of itself in a "helper mode", named on the command
 * line, and talks to them through files in its scratch directory.
 *
 *   static int run_helper(const char *mode, int argc, char **argv) {...}
 *   static const struct CMUnitTest tests[] = {...};
 *   TU_SUITE("group", tests, run_helper);
 *
 * (The shared main() in testutil_main.c calls tu_proc_init and, in a helper
 * process, run_helper; see struct tu_suite in testutil.h.)
 *
 * POSIX: fork + exec of this program. Windows: CreateProcessW of this
 * program (under Wine, that starts it under the same Wine), arguments quoted
 * the way the C runtime splits them (tools/cmdline/safefs_cmdline.h), with
 * bInheritHandles TRUE so that a handle someone made inheritable would
 * really be inherited.
 */
#ifndef SAFEFS_TESTUTIL_PROC_H
#define SAFEFS_TESTUTIL_PROC_H

#define TU_PROC_HELPER "--tu-helper"

/* The exit status tu_proc_kill reports (and gives TerminateProcess). */
#define TU_PROC_KILLED 137

typedef struct tu_proc tu_proc;

/* Record how to start this program again; the shared main() calls it
 * first. */
void tu_proc_init(const char *argv0);

/* Start this program as helper `mode` with the string arguments that
 * follow, ended by NULL. Standard streams are shared. Fails the test if the
 * process cannot be started. */
tu_proc *tu_proc_start(const char *mode, ...);

/* 1 while the process runs, 0 once it has exited. */
int tu_proc_running(tu_proc *p);

/* Wait for the exit and free p. Returns the exit status (POSIX: 128 +
 * signal number if a signal ended it). If it has not exited within
 * timeout_ms (< 0: no limit), it is killed and the test fails. */
int tu_proc_wait(tu_proc *p, long timeout_ms);

/* Kill (SIGKILL / TerminateProcess), wait until the OS has reaped it, free
 * p. Returns the exit status (TU_PROC_KILLED on Windows, 128 + 9 on POSIX
 * unless it exited by itself first). */
int tu_proc_kill(tu_proc *p);

/* Files as signals between processes. tu_signal creates an empty file;
 * tu_wait_signal waits up to timeout_ms for one to exist (1) or not (0). */
void tu_signal(const char *path);
int tu_wait_signal(const char *path, long timeout_ms);

#endif
