/*
 * safefs lock [--shared] [--timeout MS] LOCKFILE -- COMMAND [ARGS...]
 *
 * Runs COMMAND while holding the lock on LOCKFILE, like util-linux
 * flock(1), and exits with COMMAND's status. Without --timeout it waits as
 * long as it takes; --timeout 0 makes one attempt.
 *
 * Exit status: COMMAND's own (POSIX: 128 + N if signal N ended it);
 * 1 if the lock was not acquired (timeout, with a message naming
 * SAFEFS_ETIMEDOUT, or another library failure); 2 for a usage error;
 * 126 if COMMAND could not be started, 127 if it was not found.
 *
 * COMMAND does not inherit the lock (safefs never lets children keep it):
 * this process holds it and waits for COMMAND. So that it outlives COMMAND
 * and the lock covers the whole run, it ignores the console interrupt
 * (which COMMAND receives too) and, on POSIX, passes SIGTERM and SIGHUP on
 * to COMMAND instead of dying of them. Only a SIGKILL / TerminateProcess of
 * this process frees the lock while COMMAND still runs.
 */
#ifndef _WIN32
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdio.h>
#include <string.h>

#include "safefs.h"
#include "cli.h"

#ifdef _WIN32
#include <windows.h>
#include <stdlib.h>

#include "safefs_cmdline.h"
#else
#include <errno.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

static int lock_usage(void) {
  fprintf(stderr, "usage: safefs lock [--shared] [--timeout MS] LOCKFILE -- COMMAND [ARGS...]\n");
  return 2;
}

#ifdef _WIN32

/* Ignore Ctrl+C / Ctrl+Break here (COMMAND, on the same console, gets
 * them and decides). A handler, not SetConsoleCtrlHandler(NULL, TRUE),
 * because that setting would be inherited by COMMAND. */
static BOOL WINAPI outlive_command(DWORD type) {
  return type == CTRL_C_EVENT || type == CTRL_BREAK_EVENT;
}

/* argv is UTF-8 here (main rebuilds it from the UTF-16 command line).
 * CreateProcessW takes one string, which COMMAND's C runtime splits again:
 * safefs_cmdline_to_utf16 quotes it so that COMMAND gets exactly
 * argv[first..argc-1] (tests/cli_argv_test.cmake checks it byte for byte). */
static int run_command(int argc, int first, char **argv) {
  wchar_t *cmd = safefs_cmdline_to_utf16(argc - first, (const char *const *)(argv + first));
  STARTUPINFOW si;
  PROCESS_INFORMATION pi;
  DWORD code = 1;

  if (cmd == NULL) {
    fprintf(stderr, "safefs: lock: cannot build the command line (Windows error %lu)\n",
            (unsigned long)GetLastError());
    return 126;
  }
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  SetConsoleCtrlHandler(outlive_command, TRUE);
  if (!CreateProcessW(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) {
    DWORD e = GetLastError();
    fprintf(stderr, "safefs: %s: cannot run (Windows error %lu)\n", argv[first],
            (unsigned long)e);
    free(cmd);
    return e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND ? 127 : 126;
  }
  free(cmd);
  CloseHandle(pi.hThread);
  WaitForSingleObject(pi.hProcess, INFINITE);
  GetExitCodeProcess(pi.hProcess, &code);
  CloseHandle(pi.hProcess);
  return (int)code;
}

#else /* POSIX */

static volatile pid_t command_pid;

static void pass_on(int sig) {
  if (command_pid > 0)
    kill(command_pid, sig);
}

/* Signals that arrive before command_pid is set are held back (blocked
 * around the fork) so none is lost; the child gets the original handlers
 * and mask before exec. */
static int run_command(int argc, int first, char **argv) {
  struct sigaction ign, fwd, old_int, old_quit, old_term, old_hup;
  sigset_t block, old_mask;
  int status, e;
  pid_t pid;

  (void)argc; /* execvp takes argv up to its NULL at argv[argc] */
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  memset(&fwd, 0, sizeof fwd);
  fwd.sa_handler = pass_on;
  sigemptyset(&fwd.sa_mask);
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGHUP);
  sigprocmask(SIG_BLOCK, &block, &old_mask);
  sigaction(SIGINT, &ign, &old_int);
  sigaction(SIGQUIT, &ign, &old_quit);
  sigaction(SIGTERM, &fwd, &old_term);
  sigaction(SIGHUP, &fwd, &old_hup);
  fflush(NULL);
  pid = fork();
  if (pid == 0) {
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    execvp(argv[first], argv + first);
    e = errno;
    fprintf(stderr, "safefs: %s: %s\n", argv[first], strerror(e));
    _exit(e == ENOENT ? 127 : 126);
  }
  command_pid = pid;
  sigprocmask(SIG_SETMASK, &old_mask, NULL);
  if (pid < 0) {
    perror("safefs: lock: fork");
    return 126;
  }
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      perror("safefs: lock: waitpid");
      return 126;
    }
  }
  command_pid = 0;
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

#endif

int safefs_cli_lock(int argc, char **argv) {
  struct safefs_cli_args a;
  const char *path;
  safefs_lock *lock;
  int rc, status;

  if (safefs_cli_parse(SAFEFS_CLI_LOCK, argc, argv, &a) != 0)
    return lock_usage();
  path = argv[a.first];
  rc = safefs_lock_acquire(&lock, path, a.flags, a.number);
  if (rc != 0)
    return safefs_cli_fail(path, rc);
  status = run_command(argc, a.command, argv);
  rc = safefs_lock_release(lock);
  if (rc != 0) {
    safefs_cli_fail(path, rc);
    return status != 0 ? status : 1;
  }
  return status;
}
