/*
 * Not the lesson: small portable helpers the four examples share (a sleep,
 * a clock, a checksum, a hard link), the naive in-place save and plain read
 * their --unsafe modes use, and the "done" markers their tests wait for.
 * Copy what you need; none of it is part of safefs.
 */
#ifndef SAFEFS_EXAMPLE_H
#define SAFEFS_EXAMPLE_H

#ifndef _WIN32
#define _POSIX_C_SOURCE 200809L /* nanosleep, clock_gettime, link, mkdir, rmdir */
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef _WIN32
#include <windows.h>
#include <direct.h>
#else
#include <time.h>
#include <unistd.h>
#endif

#include "safefs.h"

static inline void sleep_ms(long ms) {
#ifdef _WIN32
  Sleep((DWORD)ms);
#else
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
#endif
}

/* Milliseconds on a monotonic clock. */
static inline long long clock_ms(void) {
#ifdef _WIN32
  return (long long)GetTickCount64();
#else
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
#endif
}

/* FNV-1a, 64 bits: the examples' content checksums and blob names. */
static inline unsigned long long fnv1a(const void *data, size_t size) {
  const unsigned char *p = (const unsigned char *)data;
  unsigned long long h = 14695981039346656037ull;
  size_t i;
  for (i = 0; i < size; i++) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

/* A small deterministic generator, for content that can be checked later. */
static inline unsigned next_random(unsigned long long *state) {
  *state = *state * 6364136223846793005ull + 1442695040888963407ull;
  return (unsigned)(*state >> 33);
}

/* Make `to` a second name (hard link) of the file `from`. Returns 0, or the
 * OS error (errno, or GetLastError() on Windows). */
static inline long hard_link(const char *from, const char *to) {
#ifdef _WIN32
  wchar_t wfrom[MAX_PATH], wto[MAX_PATH];
  if (!MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, from, -1, wfrom, MAX_PATH) ||
      !MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, to, -1, wto, MAX_PATH))
    return (long)GetLastError();
  return CreateHardLinkW(wto, wfrom, NULL) ? 0 : (long)GetLastError();
#else
  return link(from, to) == 0 ? 0 : (long)errno;
#endif
}

/* Create a directory (its parent must exist): 0 or -1. */
static inline int make_dir(const char *path) {
#ifdef _WIN32
  return _mkdir(path);
#else
  return mkdir(path, 0777);
#endif
}

/* Remove an empty directory: 0 or -1. */
static inline int remove_dir(const char *path) {
#ifdef _WIN32
  return _rmdir(path);
#else
  return rmdir(path);
#endif
}

/* The naive save the --unsafe modes use, as most programs write a file:
 * truncate it and write the new bytes where they are. Until the last chunk
 * is written, a reader (or whoever opens it after a crash) finds a torn
 * file. The pause between chunks stands for a slow disk or a big file; it
 * makes the race certain in a test that lasts seconds. Returns 0 or -1. */
static inline int write_in_place(const char *path, const void *data, size_t size,
                                 size_t chunk, long pause_ms) {
  const char *p = (const char *)data;
  size_t done = 0;
  FILE *f = fopen(path, "wb");
  if (!f)
    return -1;
  while (done < size) {
    size_t n = size - done < chunk ? size - done : chunk;
    if (fwrite(p + done, 1, n, f) != n)
      break;
    fflush(f);
    done += n;
    if (pause_ms > 0 && done < size)
      sleep_ms(pause_ms);
  }
  return fclose(f) == 0 && done == size ? 0 : -1;
}

/* The plain read: the whole file into a malloc'd, NUL-terminated buffer, or
 * NULL (errno set) if it cannot be opened. */
static inline char *read_plain(const char *path, size_t *size) {
  size_t cap = 4096, n = 0, got;
  char *buf = (char *)malloc(cap + 1), *bigger;
  FILE *f = fopen(path, "rb");
  if (!f || !buf) {
    if (f)
      fclose(f);
    free(buf);
    return NULL;
  }
  while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap && (bigger = (char *)realloc(buf, cap * 2 + 1)) != NULL) {
      buf = bigger;
      cap *= 2;
    } else if (n == cap) {
      break;
    }
  }
  fclose(f);
  buf[n] = '\0';
  *size = n;
  return buf;
}

/* Test plumbing: process `id` says it has finished ("<prefix>.done.<id>"),
 * and the others ask whether all `count` have. */
static inline void mark_done(const char *prefix, int id) {
  char name[512];
  snprintf(name, sizeof name, "%s.done.%d", prefix, id);
  safefs_write_file(name, "", 0, SAFEFS_NOSYNC);
}

static inline int all_done(const char *prefix, int count) {
  char name[512];
  struct stat st;
  int i;
  for (i = 0; i < count; i++) {
    snprintf(name, sizeof name, "%s.done.%d", prefix, i);
    if (stat(name, &st) != 0)
      return 0;
  }
  return 1;
}

/* "--unsafe" anywhere among the arguments: leave the safefs fix out. */
static inline int unsafe_mode(int argc, char **argv) {
  int i;
  for (i = 1; i < argc; i++)
    if (strcmp(argv[i], "--unsafe") == 0)
      return 1;
  return 0;
}

#endif /* SAFEFS_EXAMPLE_H */
