/*
 * The one retry policy for transient failures (Windows sharing violations
 * and friends). Every caller that may meet another process holding a file
 * goes through safefs__retry, so the backoff and the budget are the same for
 * replace, remove and lock-file creation; the lock's polling (src/lock.c)
 * sleeps with the same backoff, with jitter.
 */
#include "platform.h"

#define DEFAULT_BUDGET_MS 2000L

/* The process-wide budget. A long is written and read whole on every
 * platform safefs supports; a racing reader sees the old or the new value. */
static volatile long budget_setting = -1;

void safefs_set_retry_budget_ms(long ms) {
  budget_setting = ms < 0 ? -1 : ms;
}

long safefs_retry_budget_ms(void) {
  long b = budget_setting;
  return b < 0 ? DEFAULT_BUDGET_MS : b;
}

long safefs__budget(long budget_ms) {
  return budget_ms < 0 ? safefs_retry_budget_ms() : budget_ms;
}

/* A small xorshift generator for the jitter: it needs to differ between
 * processes, not to be unpredictable, so it is seeded once per wait. */
static unsigned next_random(unsigned *state) {
  unsigned x = *state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *state = x;
}

static unsigned jitter_seed(const void *p) {
  unsigned seed = 0;
  if (safefs__random(&seed, sizeof seed) != 0) /* fall back to time and address */
    seed = (unsigned)safefs__now_ms() ^ (unsigned)(size_t)p;
  return seed != 0 ? seed : 0x9E3779B9u;
}

void safefs__backoff_init(struct safefs__backoff *b, long max_ms, int jitter) {
  b->sleep_ms = SAFEFS__RETRY_FIRST_SLEEP_MS;
  b->max_ms = max_ms;
  b->jitter = jitter;
  b->rnd = 0;
}

int safefs__backoff_sleep(struct safefs__backoff *b, long long deadline) {
  long nap = b->sleep_ms;
  if (b->jitter) {
    if (b->rnd == 0)
      b->rnd = jitter_seed(b);
    nap = nap - nap / 4 + (long)(next_random(&b->rnd) % (unsigned long)(nap / 2 + 1));
  }
  if (deadline != SAFEFS__NO_DEADLINE) {
    long long left = deadline - safefs__now_ms();
    if (left <= 0)
      return 0;
    if (left < nap)
      nap = (long)left;
  }
  safefs__sleep_ms(nap);
  b->sleep_ms = b->sleep_ms * 2 > b->max_ms ? b->max_ms : b->sleep_ms * 2;
  return 1;
}

long safefs__try_with_remedy(safefs__try_fn try_once, void *ctx,
                             const struct safefs__remedy *remedy) {
  long e = try_once(ctx);
  if (e != 0 && remedy != NULL && (e = remedy->fix(remedy->ctx, e)) == 0) {
    e = try_once(ctx);
    if (e != 0)
      remedy->undo(remedy->ctx);
  }
  return e;
}

int safefs__retry(safefs__attempt_fn attempt, void *ctx, long budget_ms) {
  long long start = safefs__now_ms(), deadline;
  struct safefs__backoff b;
  int rc;

  budget_ms = safefs__budget(budget_ms);
  deadline = start + budget_ms;
  safefs__backoff_init(&b, SAFEFS__RETRY_MAX_SLEEP_MS, 0);
  for (;;) {
    rc = attempt(ctx);
    if (rc != SAFEFS__AGAIN)
      return rc;
    if (!safefs__backoff_sleep(&b, deadline)) {
      /* the attempt kept its OS error and its message */
      safefs__message_append(", retried for %ld ms", (long)(safefs__now_ms() - start));
      return SAFEFS_EBUSY;
    }
  }
}
