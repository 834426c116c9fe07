/* Fuzz the atomic write against a schedule of OS failures read from the
 * input: for each OS call the library makes, one input byte decides
 * whether it goes through, fails (with one of a few errors) or is short.
 * The flags and the content come from the input too. Whatever the
 * schedule: the call returns 0 and the target holds the new content, or
 * it fails and the target holds the old content; no temp is left behind
 * and no memory or descriptor leaks (ASan/LSan). Unknown flags must be
 * refused before anything touches the disk. A batch (data[1] % 3 == 2)
 * of two files, the existing target and a new one, is held to its own
 * contract: the first `installed` files (safefs_batch_commit_report) hold
 * their new content, the other its old one (or none), nothing else. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "platform.h"
#include "scratch.h"

static const uint8_t *sched;
static size_t sched_len, sched_pos;
static int failed_one;

/* The contract is about one failure at a time (a second failure while
 * cleaning up may leave a recognisable temp for safefs_sweep), so the
 * schedule fails at most one call; short transfers are not failures. */
static long schedule_hook(void *ctx, const struct safefs__call *call) {
  uint8_t b;
  (void)ctx;
  if (call->op == SAFEFS__OP_FREE)
    return 0;
  b = sched_pos < sched_len ? sched[sched_pos++] : 0;
  if (b % 16 == 4 && (call->op == SAFEFS__OP_WRITE || call->op == SAFEFS__OP_READ))
    return SAFEFS__SEAM_SHORT;
  if (failed_one || b % 16 == 0 || b % 16 > 3)
    return 0;
  failed_one = 1;
  return b % 16 == 1 ? fuzz_err_io() : b % 16 == 2 ? fuzz_err_nospace() : fuzz_err_access();
}

/* The batch's second file: its new content if it was put in place, else
 * nothing (it did not exist); then it is removed, so that only the target
 * is left to check. */
static void check_second(const char *path, int in_place, const void *want, size_t n) {
  size_t got_n;
  char *got = fuzz_read_raw(path, &got_n);
  if (in_place ? got == NULL || got_n != n || memcmp(got, want, n) != 0 : got != NULL)
    abort();
  free(got);
  if (got != NULL)
    remove(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char old[] = "old content";
  const char *dir = fuzz_scratch_dir();
  char target[4096];
  unsigned flags;
  size_t content_len;
  int rc, writer, batch;
  size_t installed = 0;
  char *got;
  size_t got_n;

  if (size < 3)
    return 0;
  flags = data[0];
  writer = data[1] % 3 == 1;
  batch = data[1] % 3 == 2;
  content_len = data[2] % 64;
  if (content_len > size - 3)
    content_len = size - 3;
  sched = data + 3 + content_len;
  sched_len = size - 3 - content_len;
  sched_pos = 0;
  failed_one = 0;
  snprintf(target, sizeof target, "%s/target", dir);
  fuzz_write_raw(target, old, sizeof old - 1);
  safefs_set_retry_budget_ms(0);

  safefs__seam_set(schedule_hook, NULL);
  if (batch) {
    safefs_batch *b;
    rc = safefs_batch_begin(&b, flags & 0x7);
    if (rc == 0) {
      char second[4096];
      size_t half = content_len / 2;
      snprintf(second, sizeof second, "%s/second", dir);
      rc = safefs_batch_add(b, target, data + 3, half);
      if (rc == 0)
        rc = safefs_batch_add(b, second, data + 3 + half, content_len - half);
      if (rc == 0) {
        rc = safefs_batch_commit_report(b, &installed);
      } else {
        safefs_batch_abort(b);
      }
      check_second(second, installed >= 2, data + 3 + half, content_len - half);
    }
    /* The target is the batch's first file: checked below as a write
       that succeeded (its new content is the first half) if it was put in
       place, else as one that failed (the old content). */
    if (rc == 0 && installed != 2)
      abort();
    if (installed >= 1) {
      content_len /= 2;
      rc = 0;
    }
  } else if (writer) {
    safefs_writer *w;
    rc = safefs_writer_open(&w, target, flags & 0x7);
    if (rc == 0) {
      size_t half = content_len / 2;
      rc = safefs_writer_write(w, data + 3, half);
      if (rc == 0)
        rc = safefs_writer_write(w, data + 3 + half, content_len - half);
      if (rc == 0)
        rc = safefs_writer_commit(w);
      else
        safefs_writer_abort(w);
    }
  } else {
    rc = safefs_write_file(target, data + 3, content_len, flags);
  }
  safefs__seam_set(NULL, NULL);

  if ((flags & ~(unsigned)SAFEFS__WRITE_FLAGS) != 0 &&
      !writer && !batch &&
      rc != SAFEFS_EINVAL)
    abort(); /* unknown flags must be refused */
  got = fuzz_read_raw(target, &got_n);
  if (rc == 0) {
    if (got == NULL || got_n != content_len || memcmp(got, data + 3, content_len) != 0)
      abort();
  } else if ((flags & SAFEFS_NOREPLACE) && rc == SAFEFS_EEXIST) {
    if (got == NULL || got_n != sizeof old - 1 || memcmp(got, old, got_n) != 0)
      abort();
  } else if (rc != 0) {
    if (got == NULL || got_n != sizeof old - 1 || memcmp(got, old, got_n) != 0)
      abort(); /* a failure damaged the target */
  }
  free(got);
  /* nothing left but the target; after a success, the backup of the old
     content may stay if (only) dropping it failed: swept later */
  if (fuzz_count_other_entries(dir, "target", rc == 0 ? SAFEFS__KIND_OLD : NULL) != 0)
    abort();
  fuzz_clear_dir(dir);
  return 0;
}
