/* Randomness, time and path syntax for the Win32 backend. */
#include <windows.h>
#include <bcrypt.h>

#include <stdlib.h>

#include "../platform.h"

/* For builds that compile the sources without our CMake (which links it). */
#if defined(_MSC_VER)
#pragma comment(lib, "bcrypt.lib")
#endif

#ifndef BCRYPT_USE_SYSTEM_PREFERRED_RNG
#define BCRYPT_USE_SYSTEM_PREFERRED_RNG 0x00000002
#endif

/* BCryptGenRandom with the system-preferred RNG (Windows 7 and later):
 * a documented API that MinGW, MSVC and Wine all provide, unlike
 * RtlGenRandom (SystemFunction036), which Microsoft says may go away. It
 * takes a ULONG size, so larger requests are made in pieces. */
int safefs__os_random(void *buf, size_t size, long *oserr) {
  unsigned char *p = (unsigned char *)buf;
  while (size > 0) {
    ULONG chunk = size > 0x40000000u ? 0x40000000u : (ULONG)size;
    NTSTATUS st = BCryptGenRandom(NULL, p, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG);
    if (st < 0) { /* !NT_SUCCESS; the status is kept as the OS error */
      *oserr = (long)st;
      return SAFEFS_EIO;
    }
    p += chunk;
    size -= chunk;
  }
  return 0;
}

long long safefs__now_ms(void) {
  return (long long)GetTickCount64();
}

static SRWLOCK process_mutex = SRWLOCK_INIT;

void safefs__process_mutex(int take) {
  (take ? AcquireSRWLockExclusive : ReleaseSRWLockExclusive)(&process_mutex);
}

struct safefs__thread {
  HANDLE h;
  void (*fn)(void *arg);
  void *arg;
};

static DWORD WINAPI thread_main(LPVOID arg) {
  safefs__thread *t = (safefs__thread *)arg;
  t->fn(t->arg);
  return 0;
}

/* A small stack: a worker makes the calls of a few syncs. Not through
 * safefs__malloc: a thread that cannot be had is no failure (the caller
 * does the work), so there is nothing for a test to inject. */
#define THREAD_STACK (64 * 1024)

safefs__thread *safefs__thread_start(void (*fn)(void *arg), void *arg) {
  safefs__thread *t = (safefs__thread *)malloc(sizeof *t);
  if (t == NULL)
    return NULL;
  t->fn = fn;
  t->arg = arg;
  t->h = CreateThread(NULL, THREAD_STACK, thread_main, t, STACK_SIZE_PARAM_IS_A_RESERVATION, NULL);
  if (t->h == NULL) {
    free(t);
    return NULL;
  }
  return t;
}

void safefs__thread_join(safefs__thread *t) {
  WaitForSingleObject(t->h, INFINITE);
  CloseHandle(t->h);
  free(t);
}

/* 100 ns ticks from 1601 to 1970. */
#define TICKS_1601_TO_1970 116444736000000000LL

long long safefs__filetime_ns(long long ticks) {
  return (ticks - TICKS_1601_TO_1970) * 100;
}

/* SAFEFS_PRIVATE: the temp is created with an owner-only, protected DACL
 * (safefs__sys_create_private_file, src/win32/sys.c). */
int safefs__can_create_private(void) {
  return 1;
}

/* GetSystemTimeAsFileTime lags the precise time by up to a tick, which
 * only makes a stamp's age look younger (safe: platform.h). */
long long safefs__wall_ns(void) {
  FILETIME ft;
  GetSystemTimeAsFileTime(&ft);
  return safefs__filetime_ns(
      (long long)(((unsigned long long)ft.dwHighDateTime << 32) | ft.dwLowDateTime));
}

void safefs__sleep_ms(long ms) {
  Sleep(ms > 0 ? (DWORD)ms : 0);
}

int safefs__is_sep(int c) {
  return c == '/' || c == '\\';
}
