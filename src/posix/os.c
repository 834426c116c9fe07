/* Randomness, time and path syntax for the POSIX backend. */
#include "sys.h" /* first: the feature-test macros */

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/random.h>
#endif

/* Linux: getrandom (never blocks once the pool is initialised, no fd).
 * macOS and the BSDs: arc4random_buf, which cannot fail. Anything else:
 * /dev/urandom. */
int safefs__os_random(void *buf, size_t size, long *oserr) {
  unsigned char *p = (unsigned char *)buf;
#if defined(__linux__)
  while (size > 0) {
    ssize_t n = getrandom(p, size, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      *oserr = errno;
      return safefs__status_from_os(errno);
    }
    p += n;
    size -= (size_t)n;
  }
  return 0;
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
  SAFEFS__UNUSED(oserr);
  arc4random_buf(p, size);
  return 0;
#else
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *oserr = errno;
    return safefs__status_from_os(errno);
  }
  while (size > 0) {
    ssize_t n = read(fd, p, size);
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      if (e == EINTR)
        continue;
      close(fd);
      *oserr = e;
      return safefs__status_from_os(e);
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

static pthread_mutex_t process_mutex = PTHREAD_MUTEX_INITIALIZER;

void safefs__process_mutex(int take) {
  (take ? pthread_mutex_lock : pthread_mutex_unlock)(&process_mutex);
}

struct safefs__thread {
  pthread_t tid;
  void (*fn)(void *arg);
  void *arg;
};

static void *thread_main(void *arg) {
  safefs__thread *t = (safefs__thread *)arg;
  t->fn(t->arg);
  return NULL;
}

/* A small stack, as on Windows: a worker makes the calls of a few syncs.
 * It is also quicker to start: glibc keeps the stacks of ended threads for
 * reuse up to a total size, which 16 default stacks of 8 MiB overflow
 * (BENCHMARKS.md: a 64-file batch 0.88-0.99x the time). Where the size is
 * refused (under PTHREAD_STACK_MIN) the default is used. Not through
 * safefs__malloc: a thread that cannot be had is no failure (the caller
 * does the work), so there is nothing for a test to inject. */
#define THREAD_STACK (64 * 1024)

safefs__thread *safefs__thread_start(void (*fn)(void *arg), void *arg) {
  safefs__thread *t = (safefs__thread *)malloc(sizeof *t);
  pthread_attr_t attr;
  int rc;
  if (t == NULL)
    return NULL;
  t->fn = fn;
  t->arg = arg;
  if (pthread_attr_init(&attr) != 0) {
    free(t);
    return NULL;
  }
  pthread_attr_setstacksize(&attr, THREAD_STACK); /* refused: the default */
  rc = pthread_create(&t->tid, &attr, thread_main, t);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    free(t);
    return NULL;
  }
  return t;
}

void safefs__thread_join(safefs__thread *t) {
  pthread_join(t->tid, NULL);
  free(t);
}

int safefs__can_create_private(void) {
  return 1;
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
