/* Randomness, time and path syntax for the POSIX backend. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#if defined(__APPLE__) && !defined(_DARWIN_C_SOURCE)
#define _DARWIN_C_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/random.h>
#endif

#include "../platform.h"

/* Linux: getrandom (never blocks once the pool is initialised, no fd).
 * macOS and the BSDs: arc4random_buf, which cannot fail. Anything else:
 * /dev/urandom. */
int safefs__random(void *buf, size_t size) {
  unsigned char *p = (unsigned char *)buf;
  long inj = safefs__seam_op(SAFEFS__OP_RANDOM, NULL);
  if (inj > 0)
    return safefs__fail_os(inj);
#if defined(__linux__)
  while (size > 0) {
    ssize_t n = getrandom(p, size, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return safefs__fail_os(errno);
    }
    p += n;
    size -= (size_t)n;
  }
  return 0;
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
  arc4random_buf(p, size);
  return 0;
#else
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return safefs__fail_os(errno);
  while (size > 0) {
    ssize_t n = read(fd, p, size);
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      if (e == EINTR)
        continue;
      close(fd);
      return safefs__fail_os(e);
    }
    p += n;
    size -= (size_t)n;
  }
  close(fd);
  return 0;
#endif
}

long long safefs__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long safefs__wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void safefs__sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  /* sleep the remainder after a signal: callers budget their time */
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

int safefs__is_sep(int c) {
  return c == '/';
}
