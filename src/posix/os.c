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

/* The items left to hand out, under a mutex of their own (an item is a
 * whole fsync: the lock costs nothing next to it). */
struct parallel {
  safefs__item_fn fn;
  void *ctx;
  size_t n, next;
  pthread_mutex_t mutex;
};

static void *parallel_worker(void *arg) {
  struct parallel *p = (struct parallel *)arg;
  for (;;) {
    size_t i;
    pthread_mutex_lock(&p->mutex);
    i = p->next < p->n ? p->next++ : p->n;
    pthread_mutex_unlock(&p->mutex);
    if (i == p->n)
      return NULL;
    p->fn(p->ctx, i);
  }
}

void safefs__run_parallel(safefs__item_fn fn, void *ctx, size_t n, int threads) {
  pthread_t tid[SAFEFS__PARALLEL_MAX];
  struct parallel p;
  int started = 0, k;

  p.fn = fn;
  p.ctx = ctx;
  p.n = n;
  p.next = 0;
  if (threads > SAFEFS__PARALLEL_MAX)
    threads = SAFEFS__PARALLEL_MAX;
  if ((size_t)threads > n)
    threads = (int)n;
  if (pthread_mutex_init(&p.mutex, NULL) != 0) { /* then in turn, here */
    for (p.next = 0; p.next < n; p.next++)
      fn(ctx, p.next);
    return;
  }
  for (k = 1; k < threads; k++)
    if (pthread_create(&tid[started], NULL, parallel_worker, &p) == 0)
      started++;
  parallel_worker(&p);
  for (k = 0; k < started; k++)
    pthread_join(tid[k], NULL);
  pthread_mutex_destroy(&p.mutex);
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
