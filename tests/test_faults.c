/*
 * Fault injection for the atomic write, on both backends. A clean run
 * first counts every OS call (and allocation) a write makes; then each one
 * of them fails in turn, with several errors. After every failure:
 *   - the status is the one the injected error maps to,
 *   - the old target is byte-identical,
 *   - no temp or backup name is left in the directory,
 *   - no descriptor/handle and no memory block is leaked.
 * Some calls are allowed to fail without failing the write (the optional
 * backup link, closing the directory); for those the write must succeed
 * with the new content and leave the directory clean.
 */
#include "testutil.h"

#include "platform.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OLD "the old content, which must survive every failure"
#define NEW "the new content"

/* *state: a struct tu_scratch whose file is the target, dir/target.json. */
static int setup(void **state) {
  int rc = tu_setup_scratch(state, "target.json");
  safefs_set_retry_budget_ms(50); /* injected transient errors end fast */
  return rc;
}

#define FAULT_TEST(f) cmocka_unit_test_setup_teardown(f, setup, tu_teardown_scratch)

enum api { API_WRITE_FILE, API_WRITER, API_NOREPLACE };

/* One write through the chosen API; returns its status. */
static int do_write(enum api api, const char *path) {
  static const char new_content[] = NEW;
  safefs_writer *w;
  int rc;
  switch (api) {
  case API_WRITE_FILE:
    return safefs_write_file(path, NEW, strlen(NEW), 0);
  case API_NOREPLACE:
    return safefs_write_file(path, NEW, strlen(NEW), SAFEFS_NOREPLACE);
  case API_WRITER:
    rc = safefs_writer_open(&w, path, 0);
    if (rc != 0)
      return rc;
    if ((rc = safefs_writer_write(w, new_content, 4)) != 0 ||
        (rc = safefs_writer_write(w, new_content + 4, strlen(new_content) - 4)) != 0) {
      safefs_writer_commit(w); /* must release w and return the same status */
      return rc;
    }
    return safefs_writer_commit(w);
  }
  return -1000;
}

/* Failed calls after which the new content may be in place all the same
 * (Windows, over an existing target: the close of the temp after the link
 * that put it there, the directory flush after it; nothing can put the
 * old content back then: safefs.h). The write still reports the failure. */
static int may_finish(enum api api, enum safefs__op op) {
#ifdef _WIN32
  return api != API_NOREPLACE && (op == SAFEFS__OP_CLOSE || op == SAFEFS__OP_SYNC_DIR);
#else
  (void)api;
  (void)op;
  return 0;
#endif
}

/* Calls whose failure the write survives (it goes on without them). */
static int optional_call(enum safefs__op op, int nth, int close_calls, long err) {
#ifdef _WIN32
  if (op == SAFEFS__OP_SYNC_DIR && err == tu_err_access())
    return 1; /* a directory the user may not flush: tolerated (sys.h) */
  if (op == SAFEFS__OP_STAT && nth > 1)
    return 1; /* the look at whether a link may replace the target: without
                 it, the ReplaceFileW way */
#else
  (void)err;
#endif
  if (op == SAFEFS__OP_LINK || op == SAFEFS__OP_FREE || op == SAFEFS__OP_OPEN_READ ||
      op == SAFEFS__OP_DOOM_TEMP)
    return 1; /* (and the Windows temp's delete-on-close mark) */ /* the backup (Windows) or the old file held open (POSIX) is a bonus */
  if (op == SAFEFS__OP_UNLINK)
    return 1; /* dropping the backup after success (checked separately) */
  if (op == SAFEFS__OP_CLOSE && nth > 1 && nth <= close_calls)
    return 1; /* the old file held open, the directory handle: after the work */
  if (op == SAFEFS__OP_RANDOM && nth > 1)
    return 1; /* the backup's name: no name, no backup */
  return 0;
}

struct outcome {
  int runs, failed_as_expected, survived;
  int shown[SAFEFS__OP_COUNT]; /* one sample message per op is printed */
};

/* The message of a failed write names the failing step (the op's verb, or
 * "out of memory") and the path: the target's name (also inside the temp
 * and backup names) or its directory. */
static void check_message(struct tu_scratch *s, enum api api, enum safefs__op op, int nth,
                          long err, struct outcome *out) {
  const char *msg = safefs_last_error_message();
  const char *step = op == SAFEFS__OP_ALLOC ? "out of memory" : safefs__op_verb(op);
  if (api == API_WRITER && op == SAFEFS__OP_ALLOC && strstr(msg, step) != NULL)
    return; /* an allocation in safefs_writer_commit, which has no path to name */
  if (strstr(msg, step) == NULL || (strstr(msg, "target.json") == NULL && strstr(msg, s->dir) == NULL))
    fail_msg("%s #%d err %ld: message \"%s\" does not name \"%s\" and the path",
             safefs__op_name(op), nth, err, msg, step);
  if (!out->shown[op]++)
    print_message("  %s: %s\n", safefs__op_name(op), msg);
}

/* Reset the target to OLD (or remove it for NOREPLACE), run one write with
 * the nth call of op failing with err, and check the invariants. */
static void run_one(struct tu_scratch *s, enum api api, enum safefs__op op, int nth, long err,
                    int close_calls, struct outcome *out) {
  long handles_before;
  int rc, expect_status;

  if (api == API_NOREPLACE) {
    if (tu_exists(s->file))
      assert_int_equal(tu_remove(s->file), 0);
  } else {
    tu_write_raw(s->file, OLD, strlen(OLD));
  }
  handles_before = tu_open_handles();
  tu_faults_reset();
  tu_fault_add(op, nth, err, 1000);
  rc = do_write(api, s->file);
  tu_faults_off();
  out->runs++;

  if (tu_live_blocks() != 0)
    fail_msg("%s #%d err %ld: %ld blocks leaked", safefs__op_name(op), nth, err,
             tu_live_blocks());
  assert_int_equal(tu_open_handles(), handles_before);

  if (rc == 0) {
    if (!optional_call(op, nth, close_calls, err))
      fail_msg("%s #%d failing with %ld did not fail the write", safefs__op_name(op), nth, err);
    assert_true(tu_file_is(s->file, NEW));
    if (op == SAFEFS__OP_UNLINK) {
      /* the backup could not be dropped: it stays, recognisably named, for
         safefs_sweep; nothing else */
      assert_true(tu_count_own_names(s->dir) <= 1);
      assert_int_equal(tu_count_entries(s->dir), 1 + tu_count_own_names(s->dir));
      tu_remove_own_names(s->dir);
    }
    assert_int_equal(tu_count_own_names(s->dir), 0);
    assert_int_equal(tu_count_entries(s->dir), 1);
    out->survived++;
    return;
  }
  /* The write failed: the status says why and the disk is as it was. */
  expect_status = op == SAFEFS__OP_ALLOC ? SAFEFS_ENOMEM : safefs__status_from_os(err);
  if (safefs__os_transient(err) && rc == SAFEFS_EBUSY)
    expect_status = rc; /* transient: retried until the budget, then EBUSY */
  if (rc != expect_status)
    fail_msg("%s #%d err %ld: got %s, expected %s", safefs__op_name(op), nth, err,
             safefs_status_name(rc), safefs_status_name(expect_status));
  if (op != SAFEFS__OP_ALLOC)
    assert_int_equal(safefs_last_os_error(), err);
  check_message(s, api, op, nth, err, out);
  if (api == API_NOREPLACE) {
    assert_false(tu_exists(s->file));
    assert_int_equal(tu_count_entries(s->dir), 0);
  } else {
    if (!tu_file_is(s->file, OLD) && !(may_finish(api, op) && tu_file_is(s->file, NEW)))
      fail_msg("%s #%d err %ld: old target damaged", safefs__op_name(op), nth, err);
    assert_int_equal(tu_count_entries(s->dir), 1);
  }
  assert_int_equal(tu_count_own_names(s->dir), 0);
  out->failed_as_expected++;
}

static void fail_every_call(void **state, enum api api) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  long errs[3];
  int counts[SAFEFS__OP_COUNT];
  struct outcome out;
  int op, nth, e;

  memset(&out, 0, sizeof out);
  errs[0] = tu_err_io();
  errs[1] = tu_err_nospace();
  errs[2] = tu_err_access();

  /* the clean run: which calls, how many */
  if (api != API_NOREPLACE)
    tu_write_raw(s->file, OLD, strlen(OLD));
  tu_faults_reset();
  assert_int_equal(do_write(api, s->file), 0);
  for (op = 0; op < SAFEFS__OP_COUNT; op++)
    counts[op] = tu_calls((enum safefs__op)op);
  tu_faults_off();
  assert_true(tu_file_is(s->file, NEW));
  /* one temp, named (CREATE_TEMP) or nameless (CREATE_ANON, Linux), put in
     place by one rename, or for NOREPLACE with a nameless temp by its link
     onto the target */
  assert_true(counts[SAFEFS__OP_CREATE_TEMP] + counts[SAFEFS__OP_CREATE_ANON] == 1);
  assert_true(counts[SAFEFS__OP_SYNC] >= 1);
#ifdef _WIN32
  /* Windows: the sealed temp linked onto the target, whatever the API */
  assert_int_equal(counts[SAFEFS__OP_RENAME], 0);
  assert_int_equal(counts[SAFEFS__OP_LINK_TEMP], 1);
#else
  assert_true(counts[SAFEFS__OP_RENAME] +
                  (api == API_NOREPLACE ? counts[SAFEFS__OP_LINK_TEMP] : 0) ==
              1);
#endif

  for (op = 0; op < SAFEFS__OP_COUNT; op++) {
    if (op == SAFEFS__OP_FREE)
      continue;
    for (nth = 1; nth <= counts[op]; nth++)
      for (e = 0; e < 3; e++)
        run_one(s, api, (enum safefs__op)op, nth, errs[e], counts[SAFEFS__OP_CLOSE], &out);
  }
  print_message("  %d injected failures: %d failed cleanly, %d survived by design\n", out.runs,
                out.failed_as_expected, out.survived);
  assert_true(out.runs >= 20);
  assert_true(out.failed_as_expected > out.survived);
}

static void write_file_fails_cleanly_at_every_call(void **state) {
  fail_every_call(state, API_WRITE_FILE);
}

static void writer_fails_cleanly_at_every_call(void **state) {
  fail_every_call(state, API_WRITER);
}

static void noreplace_fails_cleanly_at_every_call(void **state) {
  fail_every_call(state, API_NOREPLACE);
}

/* Interrupted and short transfers are not failures: the content arrives
 * whole. */
static void interrupted_and_short_writes_complete(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  char big[200000];
  size_t i;
  for (i = 0; i < sizeof big; i++)
    big[i] = (char)('a' + i % 23);
  tu_write_raw(s->file, OLD, strlen(OLD));
  tu_faults_reset();
  tu_fault_add(SAFEFS__OP_WRITE, 1, SAFEFS__SEAM_SHORT, 6);
  if (tu_err_interrupted() != 0) {
    tu_fault_add(SAFEFS__OP_WRITE, 7, tu_err_interrupted(), 2);
    tu_fault_add(SAFEFS__OP_SYNC, 1, tu_err_interrupted(), 1);
    tu_fault_add(SAFEFS__OP_CREATE_TEMP, 1, tu_err_interrupted(), 1);
  }
  assert_int_equal(safefs_write_file(s->file, big, sizeof big, 0), 0);
  assert_true(tu_calls(SAFEFS__OP_WRITE) > 6);
  tu_faults_off();
  {
    size_t n;
    char *got = tu_read_raw(s->file, &n);
    assert_int_equal(n, sizeof big);
    assert_memory_equal(got, big, n);
    free(got);
  }
  /* reads too */
  tu_faults_reset();
  tu_fault_add(SAFEFS__OP_READ, 1, SAFEFS__SEAM_SHORT, 3);
  if (tu_err_interrupted() != 0)
    tu_fault_add(SAFEFS__OP_READ, 4, tu_err_interrupted(), 1);
  {
    void *data;
    size_t n;
    assert_int_equal(safefs_read_file(s->file, &data, &n), 0);
    assert_int_equal(n, sizeof big);
    assert_memory_equal(data, big, n);
    safefs_free(data);
  }
  tu_faults_off();
  assert_int_equal(tu_count_own_names(s->dir), 0);
}

/* A write that fails in the middle of streaming poisons the writer: later
 * writes and the commit report the first failure, and the commit still
 * releases everything and removes the temp. */
static void writer_failure_is_sticky(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  safefs_writer *w;
  char chunk[70000];
  memset(chunk, 'z', sizeof chunk);
  tu_write_raw(s->file, OLD, strlen(OLD));
  assert_int_equal(safefs_writer_open(&w, s->file, 0), 0);
  tu_faults_reset();
  tu_fault_add(SAFEFS__OP_WRITE, 1, tu_err_nospace(), 1);
  assert_int_equal(safefs_writer_write(w, chunk, sizeof chunk), SAFEFS_ENOSPC);
  tu_faults_off();
  assert_int_equal(safefs_writer_write(w, "more", 4), SAFEFS_ENOSPC);
  assert_int_equal(safefs_last_os_error(), tu_err_nospace());
  assert_int_equal(safefs_writer_commit(w), SAFEFS_ENOSPC);
  assert_true(tu_file_is(s->file, OLD));
  assert_int_equal(tu_count_own_names(s->dir), 0);
}

/* Reads fail cleanly too: no buffer handed out, nothing leaked. */
static void read_fails_cleanly(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  enum safefs__op ops[3] = {SAFEFS__OP_OPEN_READ, SAFEFS__OP_READ, SAFEFS__OP_ALLOC};
  int i;
  tu_write_raw(s->file, OLD, strlen(OLD));
  for (i = 0; i < 3; i++) {
    void *data = s;
    size_t n = 5;
    long handles = tu_open_handles();
    int rc;
    tu_faults_reset();
    tu_fault_add(ops[i], 1, tu_err_io(), 1);
    rc = safefs_read_file(s->file, &data, &n);
    assert_int_equal(rc, ops[i] == SAFEFS__OP_ALLOC ? SAFEFS_ENOMEM : SAFEFS_EIO);
    /* "open '<path>': ...", "read '<path>': ...", "out of memory ... '<path>'" */
    assert_non_null(strstr(safefs_last_error_message(), s->file));
    assert_non_null(strstr(safefs_last_error_message(), ops[i] == SAFEFS__OP_ALLOC
                                                            ? "out of memory"
                                                            : safefs__op_verb(ops[i])));
    assert_null(data);
    assert_int_equal(n, 0);
    assert_int_equal(tu_live_blocks(), 0);
    tu_faults_off();
    assert_int_equal(tu_open_handles(), handles);
  }
}

/* The message is the last failure's: a later success leaves it, a later
 * failure replaces it. */
static void message_survives_success(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  char *missing = tu_join(s->dir, "no-such-dir/x.json");
  void *data;
  size_t n;
  assert_int_equal(safefs_write_file(missing, "x", 1, 0), SAFEFS_ENOENT);
  assert_non_null(strstr(safefs_last_error_message(), "no-such-dir"));
#ifndef _WIN32
  assert_non_null(strstr(safefs_last_error_message(), "open directory"));
#endif
  assert_int_equal(safefs_write_file(s->file, NEW, strlen(NEW), 0), 0);
  assert_int_equal(safefs_read_file(s->file, &data, &n), 0);
  safefs_free(data);
  assert_non_null(strstr(safefs_last_error_message(), "no-such-dir"));
  assert_int_equal(safefs_read_file(missing, &data, &n), SAFEFS_ENOENT);
  assert_non_null(strstr(safefs_last_error_message(), "open '"));
  free(missing);
}

/* Argument errors name the function and what is wrong. */
static void argument_errors_have_messages(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  safefs_writer *w;
  safefs_lock *lock;
  void *data;
  size_t n;
  char *dir_path = tu_join(s->dir, "sub/");
  assert_int_equal(safefs_write_file(NULL, "x", 1, 0), SAFEFS_EINVAL);
  assert_string_equal(safefs_last_error_message(), "safefs_write_file: path is NULL");
  assert_int_equal(safefs_last_os_error(), 0);
  assert_int_equal(safefs_write_file(s->file, "x", 1, 0x80), SAFEFS_EINVAL);
  assert_string_equal(safefs_last_error_message(), "safefs_write_file: unknown flags 0x80");
  assert_int_equal(safefs_write_file(s->file, NULL, 1, 0), SAFEFS_EINVAL);
  assert_non_null(strstr(safefs_last_error_message(), "data is NULL"));
  assert_int_equal(safefs_write_file(dir_path, "x", 1, 0), SAFEFS_EINVAL);
  assert_non_null(strstr(safefs_last_error_message(), "names no file"));
  assert_int_equal(safefs_writer_open(&w, "", 0), SAFEFS_EINVAL);
  assert_string_equal(safefs_last_error_message(), "safefs_writer_open: path is empty");
  assert_int_equal(safefs_read_file(s->file, NULL, &n), SAFEFS_EINVAL);
  assert_string_equal(safefs_last_error_message(), "safefs_read_file: data is NULL");
  assert_int_equal(safefs_read_file(NULL, &data, &n), SAFEFS_EINVAL);
  assert_string_equal(safefs_last_error_message(), "safefs_read_file: path is NULL");
  assert_int_equal(safefs_lock_acquire(&lock, s->file, 0x40, 0), SAFEFS_EINVAL);
  assert_string_equal(safefs_last_error_message(), "safefs_lock_acquire: unknown flags 0x40");
  assert_int_equal(safefs_lock_release(NULL), SAFEFS_EINVAL);
  assert_string_equal(safefs_last_error_message(), "safefs_lock_release: lock is NULL");
  assert_int_equal(safefs_remove(NULL, 0), SAFEFS_EINVAL);
  assert_string_equal(safefs_last_error_message(), "safefs_remove: path is NULL");
  assert_int_equal(safefs_sweep(s->dir, -1), SAFEFS_EINVAL);
  assert_string_equal(safefs_last_error_message(), "safefs_sweep: min_age_s is negative");
#if defined(_WIN32)
  assert_int_equal(safefs_write_file("bad\xff.json", "x", 1, 0), SAFEFS_EINVAL);
  assert_non_null(strstr(safefs_last_error_message(), "not valid UTF-8"));
  assert_non_null(strstr(safefs_last_error_message(), "safefs_write_file"));
  assert_int_equal(safefs_read_file("bad\xc3(.json", &data, &n), SAFEFS_EINVAL);
  assert_non_null(strstr(safefs_last_error_message(), "safefs_read_file"));
#endif
  free(dir_path);
}

/* A message longer than the buffer is cut on a UTF-8 boundary and ends in
 * "...": a path of 400 three-byte characters cannot fit. */
static void long_message_is_cut_on_a_character(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  char name[1300];
  char *path;
  const char *msg;
  size_t i, len;
  for (i = 0; i < 400; i++)
    memcpy(name + 3 * i, "\xe2\x82\xac", 3); /* U+20AC, the euro sign */
  memcpy(name + 1200, "/x", 3);
  path = tu_join(s->dir, name);
  assert_int_not_equal(safefs_write_file(path, "x", 1, 0), 0);
  msg = safefs_last_error_message();
  len = strlen(msg);
  assert_true(len > 100 && len < SAFEFS__MESSAGE_MAX);
  assert_string_equal(msg + len - 3, "...");
  /* the byte before "..." ends a whole character: ASCII or the euro's last */
  for (i = 0; i + 3 < len;) {
    unsigned char c = (unsigned char)msg[i];
    size_t k = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    assert_true(i + k <= len - 3);
    i += k;
  }
  free(path);
}

/* Per thread: a failure in one thread leaves another's message alone. */
struct thread_failure {
  const char *path;
  int rc;
  char message[SAFEFS__MESSAGE_MAX];
};

static void *fail_in_thread(void *arg) {
  struct thread_failure *f = (struct thread_failure *)arg;
  f->rc = safefs_remove(f->path, 0);
  strcpy(f->message, safefs_last_error_message());
  return NULL;
}

static void message_is_per_thread(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  struct thread_failure f;
  pthread_t t;
  char *other = tu_join(s->dir, "missing-in-thread");
  assert_int_equal(safefs_write_file(NULL, "x", 1, 0), SAFEFS_EINVAL);
  f.path = other;
  assert_int_equal(pthread_create(&t, NULL, fail_in_thread, &f), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(f.rc, SAFEFS_ENOENT);
  assert_non_null(strstr(f.message, "missing-in-thread"));
  assert_string_equal(safefs_last_error_message(), "safefs_write_file: path is NULL");
  free(other);
}

/* Negative control: the checks above do notice damage. A hook that
 * truncates the target behind safefs's back must make tu_file_is fail. */
static void checks_detect_damage(void **state) {
  struct tu_scratch *s = (struct tu_scratch *)*state;
  tu_write_raw(s->file, OLD, strlen(OLD));
  assert_true(tu_file_is(s->file, OLD));
  tu_write_raw(s->file, OLD, strlen(OLD) - 1);
  assert_false(tu_file_is(s->file, OLD));
  tu_write_raw(s->dir[0] ? s->file : s->file, OLD, strlen(OLD));
  {
    char name[SAFEFS__NAME_MAX + 1];
    char *p;
    assert_int_equal(safefs__make_name(name, "target.json", SAFEFS__KIND_TMP), 0);
    p = tu_join(s->dir, name);
    tu_write_raw(p, "x", 1);
    assert_int_equal(tu_count_own_names(s->dir), 1);
    free(p);
  }
}

static const struct CMUnitTest tests[] = {
    FAULT_TEST(write_file_fails_cleanly_at_every_call),
    FAULT_TEST(writer_fails_cleanly_at_every_call),
    FAULT_TEST(noreplace_fails_cleanly_at_every_call),
    FAULT_TEST(interrupted_and_short_writes_complete),
    FAULT_TEST(writer_failure_is_sticky),
    FAULT_TEST(read_fails_cleanly),
    FAULT_TEST(checks_detect_damage),
    FAULT_TEST(message_survives_success),
    FAULT_TEST(argument_errors_have_messages),
    FAULT_TEST(long_message_is_cut_on_a_character),
    FAULT_TEST(message_is_per_thread),
};
TU_SUITE("faults", tests, NULL);
