/*
 * The public inter-process lock: argument checks, waiting with a timeout,
 * and the abandoned marker. The OS lock itself is the backend's
 * (src/<backend>/lock.c: flock on POSIX, LockFileEx on Windows).
 *
 * Waiting. Where the OS can wait with a timeout (Windows) the backend waits
 * for the whole remaining time. Where it cannot (POSIX: flock waits forever
 * or not at all) each call of safefs__lockfile_lock is one attempt and this
 * file polls in between, the way git waits for its lock files, with the
 * shared backoff (safefs__backoff in retry.c): sleeps grow from 1 ms to
 * 50 ms, each with +-25% random jitter so that waiters started together do
 * not retry in lockstep, and the last sleep is cut to end at the deadline,
 * where one final attempt is made. So a timed-out call
 * returns within a few milliseconds of its timeout, never early.
 *
 * Writer preference. flock and LockFileEx grant a shared lock whenever it
 * is compatible with the current holders, so on their own a stream of
 * shared holders keeps an exclusive acquirer waiting forever. Each lock
 * file therefore carries a second OS lock, the gate (platform.h):
 *   - an exclusive acquirer takes the gate exclusively, waits for the
 *     lock, and lets go of the gate once it holds the lock;
 *   - a shared acquirer takes the gate shared, then the lock shared, and
 *     lets go of the gate at once.
 * While an exclusive acquirer waits, it holds the gate, so no new shared
 * holder gets in; the shared holders already in drain, and it gets the
 * lock, as Go's sync.RWMutex does within a process. Exclusive acquirers
 * queue at the gate too: one that just released cannot take the lock
 * straight back past another that waits. The one way around the gate is
 * for an acquirer that finds it free without taking it (POSIX: one
 * F_OFD_GETLK, safefs__lockfile_gate_free) and then the lock free at its
 * first try: nobody was waiting, so nobody is passed (one that arrives
 * between the look and the try is served as if it had come a moment
 * later), and the uncontended acquire costs one call instead of two.
 * A failed try goes through the gate as any other. Everything is an OS lock,
 * released when its process dies: a dead waiter never blocks anyone. The
 * gate is always taken before the lock and never waited for while the
 * lock is held, so the two cannot deadlock.
 *
 * The abandoned marker. Byte 0 of the lock file is '1' while an exclusive
 * holder holds it and '0' after one released it cleanly. An exclusive
 * acquirer reads it right after taking the lock (before anyone else can
 * change it) and sets it; release clears it before dropping the lock. A
 * holder that dies never clears it, so the next exclusive acquirer sees '1'.
 * The byte is not fsynced: the OS keeps a dead process's writes (page cache
 * / system cache) and every later reader sees them, which is all that
 * process death needs. After a power loss or an OS crash the byte may be
 * either value; data that must survive that is written with
 * safefs_write_file, which is atomic anyway. Shared holders neither read
 * nor write the byte: their abandoned() is 0 and the mark stays for the
 * next exclusive holder.
 */
#include "platform.h"

#define KNOWN_FLAGS SAFEFS_LOCK_SHARED
#define MAX_SLEEP_MS 50 /* the longest poll sleep (safefs__backoff, retry.c) */
#define MARKER_HELD '1'
#define MARKER_FREE '0'

struct safefs_lock {
  safefs__lockfile *file;
  int shared;
  int abandoned;
  unsigned long long id[2]; /* which file (safefs__lockfile_id) */
  const void *thread;       /* the acquiring thread (thread_tag) */
  safefs_lock *next;        /* in `held` */
};

/* The locks this process holds, so that a thread asking, with no timeout,
 * for a lock file it already holds is told SAFEFS_EDEADLK instead of
 * waiting for itself forever (Python's filelock raises an error there).
 * A list under the process mutex: acquires and releases are rare next to
 * the OS calls they make. */
static safefs_lock *held;

/* A per-thread address names the thread without any OS call. */
static SAFEFS__TLS char thread_tag;

/* 1 if the calling thread holds the file `id` through some object. */
static int thread_holds(const unsigned long long id[2]) {
  const safefs_lock *l;
  int found = 0;
  safefs__process_mutex(1);
  for (l = held; l != NULL && !found; l = l->next)
    found = l->thread == &thread_tag && l->id[0] == id[0] && l->id[1] == id[1];
  safefs__process_mutex(0);
  return found;
}

static void hold(safefs_lock *lock) {
  lock->thread = &thread_tag;
  safefs__process_mutex(1);
  lock->next = held;
  held = lock;
  safefs__process_mutex(0);
}

static void unhold(const safefs_lock *lock) {
  safefs_lock **p;
  safefs__process_mutex(1);
  for (p = &held; *p != NULL; p = &(*p)->next)
    if (*p == lock) {
      *p = lock->next;
      break;
    }
  safefs__process_mutex(0);
}

/* Take lock `which` by the deadline (SAFEFS__NO_DEADLINE for none),
 * polling as the top of the file says. */
static int wait_for(safefs__lockfile *f, int which, int shared, long long deadline) {
  struct safefs__backoff b;

  safefs__backoff_init(&b, MAX_SLEEP_MS, 1);
  for (;;) {
    long left = -1;
    int rc;
    if (deadline != SAFEFS__NO_DEADLINE) {
      long long l = deadline - safefs__now_ms();
      left = l > 0 ? (long)l : 0;
    }
    rc = safefs__lockfile_lock(f, which, shared, left);
    if (rc != SAFEFS__AGAIN)
      return rc;
    if (left == 0 || !safefs__backoff_sleep(&b, deadline))
      return SAFEFS_ETIMEDOUT;
  }
}

/* Take the lock on `path` within timeout_ms, through the gate (see the
 * top of the file). On failure neither lock is held. */
static int wait_for_lock(safefs__lockfile *f, const char *path, int shared, long timeout_ms) {
  long long deadline =
      timeout_ms < 0 ? SAFEFS__NO_DEADLINE : safefs__now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  struct safefs__saved_error e;
  int rc, r;

  /* uncontended: nobody at the gate, and the lock free at the first try */
  if (safefs__lockfile_gate_free(f, shared) &&
      (rc = safefs__lockfile_lock(f, SAFEFS__LOCK_HOLD, shared, 0)) != SAFEFS__AGAIN)
    return rc;
  if ((rc = wait_for(f, SAFEFS__LOCK_GATE, shared, deadline)) == 0) {
    /* the gate is let go of whatever the wait for the lock gave; a
       failed wait is reported, not the unlock after it */
    rc = wait_for(f, SAFEFS__LOCK_HOLD, shared, deadline);
    safefs__error_save(&e);
    r = safefs__lockfile_unlock(f, SAFEFS__LOCK_GATE);
    if (rc != 0) {
      rc = safefs__error_restore(&e, rc);
    } else if (r != 0) {
      /* the lock, held with the gate stuck shut, would stop everyone
         else: it is given back, and the unlock's failure reported */
      safefs__error_save(&e);
      safefs__lockfile_unlock(f, SAFEFS__LOCK_HOLD);
      rc = safefs__error_restore(&e, r);
    }
  }
  if (rc == SAFEFS_ETIMEDOUT)
    return safefs__fail_msg(SAFEFS_ETIMEDOUT, safefs_last_os_error(),
                            "lock '%s': still held by another holder after the %ld ms timeout",
                            path, timeout_ms);
  return rc;
}

/* Under the lock, so nobody else changes the file meanwhile: check that
 * it is a lock file of safefs's (empty, or just the marker), and for an
 * exclusive holder read the mark the previous holder left, then set ours.
 * Anything else in the file (the data file locked by mistake) is refused
 * before a byte is written. */
static int check_and_mark(safefs_lock *lock, const char *path) {
  int byte, rc;
  if ((rc = safefs__lockfile_read_byte(lock->file, &byte)) != 0)
    return rc;
  if (byte != -1 && byte != MARKER_HELD && byte != MARKER_FREE)
    return safefs__fail_msg(SAFEFS_EINVAL, 0,
                            "lock '%s': not a safefs lock file (it holds other data); "
                            "refused, nothing written",
                            path);
  if (lock->shared)
    return 0;
  if ((rc = safefs__lockfile_write_byte(lock->file, MARKER_HELD)) != 0)
    return rc;
  lock->abandoned = byte == MARKER_HELD;
  return 0;
}

static int lock_acquire(safefs_lock **out, const char *path, unsigned flags, long timeout_ms) {
  safefs_lock *lock;
  struct safefs__saved_error e;
  int rc;

  if (out == NULL)
    return safefs__fail_arg("safefs_lock_acquire", "out is NULL");
  *out = NULL;
  if ((rc = safefs__check_path("safefs_lock_acquire", path, 0)) != 0)
    return rc;
  if ((flags & ~(unsigned)KNOWN_FLAGS) != 0)
    return safefs__fail_msg(SAFEFS_EINVAL, 0, "safefs_lock_acquire: unknown flags 0x%x",
                            flags & ~(unsigned)KNOWN_FLAGS);
  lock = (safefs_lock *)safefs__malloc(sizeof *lock);
  if (lock == NULL)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  lock->shared = (flags & SAFEFS_LOCK_SHARED) != 0;
  lock->abandoned = 0;

  rc = safefs__lockfile_open(&lock->file, path);
  if (rc != 0) {
    safefs__free(lock);
    return rc;
  }
  safefs__lockfile_id(lock->file, lock->id);
  if (timeout_ms < 0 && thread_holds(lock->id))
    rc = safefs__fail_msg(SAFEFS_EDEADLK, 0,
                          "lock '%s': this thread already holds it and would wait for "
                          "itself forever",
                          path);
  else
    rc = wait_for_lock(lock->file, path, lock->shared, timeout_ms);
  if (rc == 0 && (rc = check_and_mark(lock, path)) != 0) {
    safefs__error_save(&e);
    safefs__lockfile_unlock(lock->file, SAFEFS__LOCK_HOLD);
    rc = safefs__error_restore(&e, rc);
  }
  if (rc != 0) {
    safefs__error_save(&e);
    safefs__lockfile_close(lock->file);
    safefs__free(lock);
    return safefs__error_restore(&e, rc);
  }
  hold(lock);
  *out = lock;
  return 0;
}

int safefs_lock_acquire(safefs_lock **out, const char *path, unsigned flags, long timeout_ms) {
  return safefs__result(lock_acquire(out, path, flags, timeout_ms), "safefs_lock_acquire", path);
}

int safefs_lock_abandoned(const safefs_lock *lock) {
  return lock != NULL && lock->abandoned;
}

/* Clear the mark, then unlock, then close. The mark is cleared first so
 * nobody can take the lock and still see '1'. The explicit unlock matters
 * on POSIX where a child forked (without exec) shares the open file and
 * would otherwise keep the lock; on Windows closing with a lock held
 * leaves the unlock to the OS "when resources allow". All three steps run
 * whatever fails; the first failure is returned. */
int safefs_lock_release(safefs_lock *lock) {
  struct safefs__saved_error first;
  int rc = 0, r;

  if (lock == NULL)
    return safefs__fail_arg("safefs_lock_release", "lock is NULL");
  unhold(lock);
  if (!lock->shared && (rc = safefs__lockfile_write_byte(lock->file, MARKER_FREE)) != 0)
    safefs__error_save(&first);
  if ((r = safefs__lockfile_unlock(lock->file, SAFEFS__LOCK_HOLD)) != 0 && rc == 0) {
    rc = r;
    safefs__error_save(&first);
  }
  if ((r = safefs__lockfile_close(lock->file)) != 0 && rc == 0) {
    rc = r;
    safefs__error_save(&first);
  }
  safefs__free(lock);
  return rc != 0 ? safefs__error_restore(&first, rc) : 0;
}
