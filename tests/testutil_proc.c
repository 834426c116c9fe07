/* Helper processes for tests; see testutil_proc.h. */
#include "testutil.h"
#include "testutil_proc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>

#include "safefs_cmdline.h"
#else
#include <limits.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#define MAX_ARGS 32

static char *self_path;
#ifdef _WIN32
static wchar_t *self_path_w; /* for CreateProcessW's lpApplicationName */
#endif

void tu_signal(const char *path) {
  tu_write_raw(path, "", 0);
}

int tu_wait_signal(const char *path, long timeout_ms) {
  long long deadline = tu_now_ms() + timeout_ms;
  while (!tu_exists(path)) {
    if (tu_now_ms() >= deadline)
      return 0;
    tu_sleep_ms(2);
  }
  return 1;
}

/* Gather "self, TU_PROC_HELPER, mode, args..., NULL". */
static int collect_args(const char **argv, const char *mode, va_list ap) {
  int n = 0;
  const char *a;
  argv[n++] = self_path;
  argv[n++] = TU_PROC_HELPER;
  argv[n++] = mode;
  while ((a = va_arg(ap, const char *)) != NULL) {
    assert_true(n < MAX_ARGS - 1);
    argv[n++] = a;
  }
  argv[n] = NULL;
  return n;
}

#ifdef _WIN32

struct tu_proc {
  HANDLE process;
};

void tu_proc_init(const char *argv0) {
  wchar_t w[32768];
  DWORD n = GetModuleFileNameW(NULL, w, 32768);
  (void)argv0;
  assert_true(n > 0 && n < 32768);
  self_path = tu_utf8(w);
  self_path_w = tu_wide(self_path);
}

/* The helper's C runtime splits the command line back into the argv
 * collected here (the same builder as `safefs lock`, tested by
 * test_cmdline*.c). */
tu_proc *tu_proc_start(const char *mode, ...) {
  const char *argv[MAX_ARGS];
  wchar_t *cmd;
  int n;
  va_list ap;
  STARTUPINFOW si;
  PROCESS_INFORMATION pi;
  tu_proc *p;

  va_start(ap, mode);
  n = collect_args(argv, mode, ap);
  va_end(ap);
  cmd = safefs_cmdline_to_utf16(n, argv);
  if (cmd == NULL)
    fail_msg("cannot build the command line: Windows error %lu", (unsigned long)GetLastError());
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  if (!CreateProcessW(self_path_w, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi))
    fail_msg("CreateProcessW failed: %lu", (unsigned long)GetLastError());
  free(cmd);
  CloseHandle(pi.hThread);
  p = (tu_proc *)malloc(sizeof *p);
  p->process = pi.hProcess;
  return p;
}

int tu_proc_running(tu_proc *p) {
  return WaitForSingleObject(p->process, 0) == WAIT_TIMEOUT;
}

static int reap(tu_proc *p) {
  DWORD code = 0;
  WaitForSingleObject(p->process, INFINITE);
  GetExitCodeProcess(p->process, &code);
  CloseHandle(p->process);
  free(p);
  return (int)code;
}

int tu_proc_wait(tu_proc *p, long timeout_ms) {
  DWORD w = WaitForSingleObject(p->process, timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms);
  if (w != WAIT_OBJECT_0) {
    tu_proc_kill(p);
    fail_msg("helper process did not exit within %ld ms", timeout_ms);
  }
  return reap(p);
}

int tu_proc_kill(tu_proc *p) {
  TerminateProcess(p->process, TU_PROC_KILLED);
  return reap(p);
}

#else /* POSIX */

struct tu_proc {
  pid_t pid;
  int exited; /* reaped by tu_proc_running */
  int status;
};

void tu_proc_init(const char *argv0) {
  char buf[PATH_MAX];
  const char *p = argv0;
#if defined(__linux__)
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    buf[n] = '\0';
    p = buf;
  } else
#endif
  if (realpath(argv0, buf) != NULL)
    p = buf;
  self_path = (char *)malloc(strlen(p) + 1);
  strcpy(self_path, p);
}

tu_proc *tu_proc_start(const char *mode, ...) {
  const char *argv[MAX_ARGS];
  va_list ap;
  tu_proc *p;
  pid_t pid;

  va_start(ap, mode);
  collect_args(argv, mode, ap);
  va_end(ap);
  fflush(NULL); /* no buffered output written twice */
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    execv(self_path, (char *const *)argv);
    _exit(127);
  }
  p = (tu_proc *)malloc(sizeof *p);
  p->pid = pid;
  p->exited = 0;
  p->status = 0;
  return p;
}

static int decode(int st) {
  return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}

int tu_proc_running(tu_proc *p) {
  int st;
  if (!p->exited && waitpid(p->pid, &st, WNOHANG) == p->pid) {
    p->exited = 1;
    p->status = decode(st);
  }
  return !p->exited;
}

static int reap(tu_proc *p) {
  int st, rc;
  if (!p->exited) {
    while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR) {
    }
    p->status = decode(st);
  }
  rc = p->status;
  free(p);
  return rc;
}

int tu_proc_wait(tu_proc *p, long timeout_ms) {
  long long deadline = tu_now_ms() + timeout_ms;
  while (timeout_ms >= 0 && tu_proc_running(p)) {
    if (tu_now_ms() >= deadline) {
      tu_proc_kill(p);
      fail_msg("helper process did not exit within %ld ms", timeout_ms);
    }
    tu_sleep_ms(2);
  }
  return reap(p);
}

int tu_proc_kill(tu_proc *p) {
  if (!p->exited)
    kill(p->pid, SIGKILL);
  return reap(p);
}

#endif
