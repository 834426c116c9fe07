/*
 * The one retry policy for transient failures (Windows sharing violations
 * and friends). Every caller that may meet another process holding a file
 * goes through safefs__retry, so the backoff and the budget are the same for
 * replace, remove and lock-file creation.
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

int safefs__retry(safefs__attempt_fn attempt, void *ctx, long budget_ms) {
  long long start = safefs__now_ms(), deadline;
  long sleep_ms = SAFEFS__RETRY_FIRST_SLEEP_MS;
  int rc;

  budget_ms = safefs__budget(budget_ms);
  deadline = start + budget_ms;
  for (;;) {
    long long left;
    rc = attempt(ctx);
    if (rc != SAFEFS__AGAIN)
      return rc;
    left = deadline - safefs__now_ms();
    if (left <= 0) {
      /* the attempt kept its OS error and its message */
      safefs__message_append(", retried for %ld ms", (long)(safefs__now_ms() - start));
      return SAFEFS_EBUSY;
    }
    safefs__sleep_ms(sleep_ms < left ? sleep_ms : (long)left);
    sleep_ms *= 2;
    if (sleep_ms > SAFEFS__RETRY_MAX_SLEEP_MS)
      sleep_ms = SAFEFS__RETRY_MAX_SLEEP_MS;
  }
}
