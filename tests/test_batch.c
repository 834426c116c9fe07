/*
 * Batches (safefs_batch_*): many files with one directory sync per
 * directory; what a failure at each call leaves; arguments.
 *
 *   commits_files_in_two_directories  contents, no leftovers, the count
 *   nothing_on_disk_before_commit     add and abort touch nothing
 *   arguments                         every bad argument, a batch still
 *                                     usable after a failed add
 *   bad_path_changes_nothing          a bad path in the first group leaves
 *                                     every file old; in a later group the
 *                                     earlier groups are new (control)
 *   same_path_twice                   the content added last wins
 *   missing_parents                   ENOENT, or SAFEFS_MKDIRS creates them
 *   one_directory_sync_per_directory  the calls, through the seam: each
 *                                     temp synced before its rename, one
 *                                     SYNC_DIR per distinct directory
 *                                     however spelled; 64 single writes
 *                                     make 64 (control); NOSYNC none; with
 *                                     nothing dirty, one SYNC_FS per group
 *                                     after its writes and modes, before
 *                                     its first naming
 *   many_files_few_descriptors        300 files under a 160-descriptor
 *                                     limit (control: 300 open writers fail)
 *   every_call_failing_in_turn        each OS call and allocation of a
 *                                     clean commit failing in turn: the
 *                                     first `installed` files new, the rest
 *                                     old, no temp, nothing leaked
 *   syncs_from_several_threads        64 temps synced from 2-16 threads (3
 *                                     from one: the control); a sync failing
 *                                     in any of them leaves the group old and
 *                                     its error reported in the caller
 *   no_threads_where_syncs_are_free   on tmpfs the 64 are synced in the
 *                                     calling thread (the control: 2-16 on
 *                                     the test directory's disk)
 *   syncfs_only_where_it_flushes      with nothing dirty, tmpfs still syncs
 *                                     each temp; ext4 or XFS makes one
 *                                     syncfs (the control)
 *   whole_fs_flush_while_little_is_dirty  Linux: one syncfs when the system
 *                                     holds little unwritten data, each
 *                                     temp synced when it holds 8 MiB more
 *                                     (the control), unforced
 * A batch syncs each temp or flushes the filesystem whole, as the system's
 * unwritten data says (src/posix/replace.c); the tests about the calls
 * choose one through the seam (TU_SYNC_EACH, TU_SYNC_WHOLE_FS), and
 * every_call_failing_in_turn runs in both ways.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <sys/stat.h>
#endif
#if defined(__linux__)
#include <unistd.h>
#endif

#define N_SMALL 5

/* The content of file i in round r: distinct for every pair. */
static void content(char *buf, size_t cap, int i, int r) {
  snprintf(buf, cap, "file %d round %d", i, r);
}

/* Names of N_SMALL files: three in the root, two in sub/. */
static const char *small_name(int i) {
  static const char *const names[N_SMALL] = {"a.json", "b.json", "sub/c.json", "d.json",
                                             "sub/e.json"};
  return names[i];
}

/* Round r of the small set: each file added with its content of round r. */
static safefs_batch *small_batch(const char *dir, unsigned flags, int r) {
  safefs_batch *b;
  char buf[64];
  int i;
  assert_int_equal(safefs_batch_begin(&b, flags), 0);
  for (i = 0; i < N_SMALL; i++) {
    content(buf, sizeof buf, i, r);
    assert_int_equal(safefs_batch_add(b, tu_path(dir, small_name(i)), buf, strlen(buf)), 0);
  }
  return b;
}

/* 1 if file i holds its content of round r. */
static int holds(const char *dir, int i, int r) {
  char buf[64];
  content(buf, sizeof buf, i, r);
  return tu_file_is(tu_path(dir, small_name(i)), buf);
}

static void commits_files_in_two_directories(void **state) {
  const char *dir = (const char *)*state;
  size_t installed = 99;
  int i;
  tu_mkdir(tu_path(dir, "sub"));
  assert_int_equal(safefs_batch_commit_report(small_batch(dir, 0, 1), &installed), 0);
  assert_int_equal(installed, N_SMALL);
  for (i = 0; i < N_SMALL; i++)
    assert_true(holds(dir, i, 1));
  /* again over the existing files */
  assert_int_equal(safefs_batch_commit(small_batch(dir, 0, 2)), 0);
  for (i = 0; i < N_SMALL; i++)
    assert_true(holds(dir, i, 2));
  assert_int_equal(tu_count_own_names(dir), 0);
  assert_int_equal(tu_count_own_names(tu_path(dir, "sub")), 0);
  assert_int_equal(tu_count_entries(dir), 4); /* a, b, d, sub */
  /* an empty batch commits nothing */
  {
    safefs_batch *b;
    assert_int_equal(safefs_batch_begin(&b, 0), 0);
    assert_int_equal(safefs_batch_commit_report(b, &installed), 0);
    assert_int_equal(installed, 0);
  }
}

static void nothing_on_disk_before_commit(void **state) {
  const char *dir = (const char *)*state;
  safefs_batch *b;
  tu_mkdir(tu_path(dir, "sub"));
  b = small_batch(dir, SAFEFS_MKDIRS, 1);
  assert_int_equal(tu_count_entries(dir), 1); /* sub only */
  assert_int_equal(tu_count_entries(tu_path(dir, "sub")), 0);
  safefs_batch_abort(b);
  safefs_batch_abort(NULL);
  assert_int_equal(tu_count_entries(dir), 1);
}

static void arguments(void **state) {
  const char *dir = (const char *)*state;
  const char *p = tu_path(dir, "f");
  safefs_batch *b = (safefs_batch *)&b;
  size_t installed = 7;
  assert_int_equal(safefs_batch_begin(NULL, 0), SAFEFS_EINVAL);
  assert_int_equal(safefs_batch_begin(&b, SAFEFS_NOREPLACE), SAFEFS_EINVAL);
  assert_null(b);
  assert_non_null(strstr(safefs_last_error_message(), "SAFEFS_NOREPLACE"));
  assert_int_equal(safefs_batch_begin(&b, 1u << 9), SAFEFS_EINVAL);
  assert_non_null(strstr(safefs_last_error_message(), "safefs_batch_begin"));
  assert_int_equal(safefs_batch_add(NULL, p, "x", 1), SAFEFS_EINVAL);
  assert_int_equal(safefs_batch_commit(NULL), SAFEFS_EINVAL);
  assert_int_equal(safefs_batch_commit_report(NULL, &installed), SAFEFS_EINVAL);
  assert_int_equal(installed, 0);
  assert_int_equal(safefs_batch_begin(&b, SAFEFS_NOSYNC), 0);
  assert_int_equal(safefs_batch_add(b, p, NULL, 1), SAFEFS_EINVAL);
  assert_int_equal(safefs_batch_add(b, NULL, "x", 1), SAFEFS_EINVAL);
  assert_int_equal(safefs_batch_add(b, "", "x", 1), SAFEFS_EINVAL);
  assert_int_equal(safefs_batch_add(b, tu_path(dir, "sub/"), "x", 1), SAFEFS_EINVAL);
  assert_non_null(strstr(safefs_last_error_message(), "safefs_batch_add"));
  assert_int_equal(safefs_batch_add(b, p, NULL, 0), 0); /* an empty file is fine */
  assert_int_equal(safefs_batch_commit_report(b, &installed), 0);
  assert_int_equal(installed, 1);
  assert_true(tu_file_is(p, ""));
  assert_int_equal(tu_count_entries(dir), 1);
}

/* Entries 0..n-1 of a big batch, named big/<i>. */
static const char *big_name(const char *dir, int i) {
  char rel[32];
  snprintf(rel, sizeof rel, "big/%03d", i);
  return tu_path(dir, rel);
}

static void bad_path_changes_nothing(void **state) {
  const char *dir = (const char *)*state;
  safefs_batch *b;
  size_t installed;
  int i, bad;
  tu_mkdir(tu_path(dir, "sub"));
  assert_int_equal(safefs_batch_commit(small_batch(dir, 0, 1)), 0);
  tu_mkdir(tu_path(dir, "sub/c.json.d"));
  /* a directory where the fourth file goes: nothing changes */
  b = small_batch(dir, 0, 2);
  assert_int_equal(safefs_batch_add(b, tu_path(dir, "sub/c.json.d"), "x", 1), 0);
  assert_int_equal(safefs_batch_add(b, tu_path(dir, "z.json"), "z", 1), 0);
  assert_int_equal(safefs_batch_commit_report(b, &installed), SAFEFS_EISDIR);
  assert_int_equal(installed, 0);
  assert_non_null(strstr(safefs_last_error_message(), "c.json.d"));
  for (i = 0; i < N_SMALL; i++)
    assert_true(holds(dir, i, 1));
  assert_false(tu_exists(tu_path(dir, "z.json")));
  assert_int_equal(tu_count_own_names(dir), 0);
  assert_int_equal(tu_count_own_names(tu_path(dir, "sub")), 0);

  /* control: the same bad path at 70, in the second group of 64: the
     first group is new, the rest is not */
  tu_mkdir(tu_path(dir, "big"));
  bad = 70;
  assert_int_equal(safefs_batch_begin(&b, SAFEFS_NOSYNC), 0);
  for (i = 0; i < 100; i++) {
    const char *p = i == bad ? tu_path(dir, "sub/c.json.d") : big_name(dir, i);
    assert_int_equal(safefs_batch_add(b, p, "n", 1), 0);
  }
  assert_int_equal(safefs_batch_commit_report(b, &installed), SAFEFS_EISDIR);
  assert_int_equal(installed, 64);
  for (i = 0; i < 100; i++)
    if (i != bad)
      assert_int_equal(tu_exists(big_name(dir, i)), i < 64);
  assert_int_equal(tu_count_own_names(tu_path(dir, "big")), 0);
}

static void same_path_twice(void **state) {
  const char *dir = (const char *)*state;
  const char *p = tu_path(dir, "f");
  safefs_batch *b;
  assert_int_equal(safefs_batch_begin(&b, 0), 0);
  assert_int_equal(safefs_batch_add(b, p, "first", 5), 0);
  assert_int_equal(safefs_batch_add(b, tu_path(dir, "g"), "g", 1), 0);
  assert_int_equal(safefs_batch_add(b, p, "second", 6), 0);
  assert_int_equal(safefs_batch_commit(b), 0);
  assert_true(tu_file_is(p, "second"));
  assert_int_equal(tu_count_entries(dir), 2);
}

static void missing_parents(void **state) {
  const char *dir = (const char *)*state;
  size_t installed;
  int i;
  assert_int_equal(safefs_batch_commit_report(small_batch(dir, 0, 1), &installed),
                   SAFEFS_ENOENT); /* sub/ is missing: nothing is written */
  assert_int_equal(installed, 0);
  assert_int_equal(tu_count_entries(dir), 0);
  assert_int_equal(safefs_batch_commit(small_batch(dir, SAFEFS_MKDIRS, 1)), 0);
  for (i = 0; i < N_SMALL; i++)
    assert_true(holds(dir, i, 1));
}

/* ---- the calls ----------------------------------------------------------- */

/* The call that puts a temp in place: a rename, or on Windows the link of
 * the sealed temp onto the target. */
#ifdef _WIN32
#define COMMIT_OP SAFEFS__OP_LINK_TEMP
#else
#define COMMIT_OP SAFEFS__OP_RENAME
#endif

/* Every commit (COMMIT_OP) has a SYNC since the previous one, and every
 * SYNC_DIR comes after the last one: the data before its rename, the
 * directories last. */
static void check_order(const struct tu_call_log *log) {
  int i, synced = 0, renamed = 0;
  for (i = 0; i < log->n; i++) {
    if (log->op[i] == SAFEFS__OP_SYNC)
      synced++;
    if (log->op[i] == COMMIT_OP) {
      assert_true(synced > renamed);
      renamed++;
    }
    if (log->op[i] == SAFEFS__OP_SYNC_DIR)
      assert_int_equal(tu_log_count(log, COMMIT_OP), renamed);
  }
}

/* 64 files in big/, two in sub/ (one of them spelled another way), and
 * big/064 once more: 67 files, each holding `what`. */
static safefs_batch *spread_batch(const char *dir, const char *what) {
  safefs_batch *b;
  int i;
  assert_int_equal(safefs_batch_begin(&b, 0), 0);
  for (i = 0; i < 64; i++)
    assert_int_equal(safefs_batch_add(b, big_name(dir, i), what, 1), 0);
  assert_int_equal(safefs_batch_add(b, tu_path(dir, "sub/a"), what, 1), 0);
  assert_int_equal(safefs_batch_add(b, tu_path(dir, "big/../sub/b"), what, 1), 0);
  assert_int_equal(safefs_batch_add(b, tu_path(dir, "big/064"), what, 1), 0);
  return b;
}

static void one_directory_sync_per_directory(void **state) {
  const char *dir = (const char *)*state;
#ifndef _WIN32
  mode_t old_mask;
#endif
  static struct tu_call_log log_store;
  struct tu_call_log *log = &log_store;
  safefs_batch *b;
  int i;
  tu_mkdir(tu_path(dir, "big"));
  tu_mkdir(tu_path(dir, "sub"));
  tu_log_start(log); /* each temp synced (TU_SYNC_EACH) */
  assert_int_equal(safefs_batch_commit(spread_batch(dir, "x")), 0);
  tu_log_stop();
  assert_int_equal(tu_log_count(log, SAFEFS__OP_SYNC), 67);
  assert_int_equal(tu_log_count(log, SAFEFS__OP_SYNC_FS), 0);
  assert_int_equal(tu_log_count(log, COMMIT_OP), 67);
  assert_int_equal(tu_log_count(log, SAFEFS__OP_SYNC_DIR), 2);
  check_order(log);
  assert_true(tu_file_is(tu_path(dir, "sub/b"), "x"));
#if defined(__linux__)
  assert_int_equal(tu_log_count(log, SAFEFS__OP_SYNC_START), 67);
#endif

  /* with nothing else dirty: one syncfs for the one filesystem in place
     of each group's syncs (Linux 5.8 and later; two groups: 64 files and
     3), the modes still set before it, and it after each group's writes
     and before its first naming */
  tu_log_start(log);
  log->count_dirty = TU_SYNC_WHOLE_FS;
#ifndef _WIN32
  old_mask = umask(077); /* temps narrower than their targets: modes are set */
#endif
  assert_int_equal(safefs_batch_commit(spread_batch(dir, "w")), 0);
#ifndef _WIN32
  umask(old_mask);
#endif
  tu_log_stop();
  assert_true(tu_file_is(tu_path(dir, "sub/b"), "w"));
  assert_int_equal(tu_log_count(log, SAFEFS__OP_SYNC_DIR), 2);
  if (tu_syncfs_used(dir)) {
    int flushes = 0, named = 0; /* in the group being committed */
    assert_int_equal(tu_log_count(log, SAFEFS__OP_SYNC), 0);
    assert_int_equal(tu_log_count(log, SAFEFS__OP_SYNC_FS), 2);
    assert_true(tu_log_count(log, SAFEFS__OP_SET_MODE) >= 67);
    for (i = 0; i < log->n; i++) {
      enum safefs__op op = log->op[i];
      if (op == SAFEFS__OP_WRITE && named > 0) /* the next group begins */
        flushes = named = 0;
      if (op == SAFEFS__OP_SYNC_FS)
        flushes++;
      if (op == SAFEFS__OP_WRITE || op == SAFEFS__OP_SET_MODE)
        assert_int_equal(flushes, 0);
      if (op == SAFEFS__OP_LINK_TEMP || op == SAFEFS__OP_RENAME) {
        assert_int_equal(flushes, 1);
        named++;
      }
    }
  } else { /* no syncfs, or one that reports no errors: each temp */
    assert_int_equal(tu_log_count(log, SAFEFS__OP_SYNC), 67);
    assert_int_equal(tu_log_count(log, SAFEFS__OP_SYNC_FS), 0);
  }

  /* control: the same files one by one sync the directory each time */
  tu_log_start(log);
  for (i = 0; i < 64; i++)
    assert_int_equal(safefs_write_file(big_name(dir, i), "y", 1, 0), 0);
  tu_log_stop();
  assert_int_equal(tu_log_count(log, SAFEFS__OP_SYNC_DIR), 64);

  /* NOSYNC: no sync of any kind */
  assert_int_equal(safefs_batch_begin(&b, SAFEFS_NOSYNC), 0);
  for (i = 0; i < 64; i++)
    assert_int_equal(safefs_batch_add(b, big_name(dir, i), "z", 1), 0);
  tu_log_start(log);
  assert_int_equal(safefs_batch_commit(b), 0);
  tu_log_stop();
  assert_int_equal(tu_log_count(log, SAFEFS__OP_SYNC) + tu_log_count(log, SAFEFS__OP_SYNC_DIR) +
                       tu_log_count(log, SAFEFS__OP_SYNC_START),
                   0);
  assert_true(tu_file_is(big_name(dir, 63), "z"));
}

/* ---- descriptors ----------------------------------------------------------- */

#define MANY 300
#define FD_LIMIT 160

static int commit_many(void *ctx) {
  const char *dir = (const char *)ctx;
  safefs_batch *b;
  char path[512];
  int i;
  if (safefs_batch_begin(&b, SAFEFS_NOSYNC) != 0)
    return 1;
  for (i = 0; i < MANY; i++) {
    snprintf(path, sizeof path, "%s/big/%03d", dir, i);
    if (safefs_batch_add(b, path, "m", 1) != 0)
      return 2;
  }
  return safefs_batch_commit(b) == 0 ? 0 : 3;
}

#ifndef _WIN32 /* Windows has no descriptor limit to run into */
/* The control: MANY writers open at once need two descriptors each. */
static int open_many_writers(void *ctx) {
  const char *dir = (const char *)ctx;
  safefs_writer *w[MANY];
  char path[512];
  int i, n, rc = 0;
  for (n = 0; n < MANY; n++) {
    snprintf(path, sizeof path, "%s/big/w%03d", dir, n);
    if (safefs_writer_open(&w[n], path, SAFEFS_NOSYNC) != 0) {
      rc = 4;
      break;
    }
  }
  for (i = 0; i < n; i++)
    safefs_writer_abort(w[i]);
  return rc;
}
#endif

static void many_files_few_descriptors(void **state) {
  const char *dir = (const char *)*state;
  int i;
  tu_mkdir(tu_path(dir, "big"));
  assert_int_equal(tu_run_with_fd_limit(FD_LIMIT, commit_many, (void *)dir), 0);
  for (i = 0; i < MANY; i++)
    assert_true(tu_file_is(big_name(dir, i), "m"));
#ifndef _WIN32
  assert_int_equal(tu_run_with_fd_limit(FD_LIMIT, open_many_writers, (void *)dir), 4);
#endif
  assert_int_equal(tu_count_entries(tu_path(dir, "big")), MANY);
}

/* ---- every call failing in turn ------------------------------------------- */

/* Each call of ops[] in a clean commit failing in turn, with the batch's
 * way of syncing chosen by `how` (TU_SYNC_EACH, TU_SYNC_WHOLE_FS: the
 * rule after the injected one, so that a failing COUNT_DIRTY is the
 * injected failure). Adds to *failed and *partial. */
static void fail_each_call(const char *dir, long how, int *round_io, int *failed, int *partial) {
  static const enum safefs__op ops[] = {
      SAFEFS__OP_OPEN_DIR,  SAFEFS__OP_STAT,      SAFEFS__OP_CREATE_TEMP, SAFEFS__OP_CREATE_ANON,
      SAFEFS__OP_LINK_TEMP, SAFEFS__OP_WRITE,     SAFEFS__OP_SYNC,        SAFEFS__OP_SYNC_START,
      SAFEFS__OP_SYNC_FS,   SAFEFS__OP_COUNT_DIRTY, SAFEFS__OP_SET_MODE,  SAFEFS__OP_CLOSE,
      SAFEFS__OP_RENAME,    SAFEFS__OP_SYNC_DIR,  SAFEFS__OP_DOOM_TEMP,   SAFEFS__OP_KEEP_TEMP,
      SAFEFS__OP_MKDIR,     SAFEFS__OP_ALLOC};
  size_t k;
  int round = *round_io;
  for (k = 0; k < sizeof ops / sizeof ops[0]; k++) {
    int calls, n, before;
    safefs_batch *b;
    /* the hook counts from before the batch is built, so that its
       allocations are counted too (the adds make no OS call) */
    tu_faults_reset();
    tu_fault_add(SAFEFS__OP_COUNT_DIRTY, 1, how, 1000000);
    b = small_batch(dir, 0, round);
    before = tu_calls(ops[k]);
    assert_int_equal(safefs_batch_commit(b), 0);
    calls = tu_calls(ops[k]) - before;
    tu_faults_off();
    for (n = 1; n <= calls; n++) {
      size_t installed;
      int rc, i, prev = round;
      tu_faults_reset();
      b = small_batch(dir, 0, ++round);
      tu_fault_add(ops[k], before + n, tu_err_io(), 1);
      tu_fault_add(SAFEFS__OP_COUNT_DIRTY, 1, how, 1000000);
      rc = safefs_batch_commit_report(b, &installed);
      assert_int_equal(tu_live_blocks(), 0);
      tu_faults_off();
      if (rc == 0) {
        assert_int_equal(installed, N_SMALL); /* a failure tolerated or retried */
      } else {
        (*failed)++;
        *partial += installed > 0 && installed < N_SMALL;
        assert_true(rc == SAFEFS_EIO || rc == SAFEFS_ENOMEM);
        assert_true(safefs_last_error_message()[0] != '\0');
      }
      for (i = 0; i < N_SMALL; i++)
        if (!holds(dir, i, (size_t)i < installed ? round : prev))
          fail_msg("%s call %d failing: file %d is not what %lu installed say", safefs__op_name(ops[k]), n, i,
                   (unsigned long)installed);
      assert_int_equal(tu_count_own_names(dir), 0);
      assert_int_equal(tu_count_own_names(tu_path(dir, "sub")), 0);
      if (rc != 0 && installed < N_SMALL) {
        /* bring every file to this round for the next one */
        if (safefs_batch_commit(small_batch(dir, 0, round)) != 0)
          fail_msg("after %s call %d: %s", safefs__op_name(ops[k]), n, safefs_last_error_message());
      }
    }
  }
  *round_io = round;
}

static void every_call_failing_in_turn(void **state) {
  const char *dir = (const char *)*state;
  int round = 1, failed = 0, partial = 0, each;
  tu_mkdir(tu_path(dir, "sub"));
  assert_int_equal(safefs_batch_commit(small_batch(dir, 0, 0)), 0);
  fail_each_call(dir, TU_SYNC_EACH, &round, &failed, &partial);
  each = failed;
  fail_each_call(dir, TU_SYNC_WHOLE_FS, &round, &failed, &partial);
  print_message("  %d injected failures failed the commit (%d syncing each temp, %d flushing "
                "the filesystem whole), %d of them part-way\n",
                failed, each, failed - each, partial);
  assert_true(each > 10);
  assert_true(failed - each > 10);
  assert_true(partial > 0); /* a failing rename after the first is part-way */
}

/* ---- the syncs from several threads ---------------------------------------- */

#define MAX_THREADS 16
static struct {
  pthread_mutex_t mutex;
  pthread_t seen[MAX_THREADS];
  int n_seen, syncs;
} sync_threads = {PTHREAD_MUTEX_INITIALIZER, {0}, 0, 0};

/* Notes the thread of each SYNC, and makes it take 1 ms, as on a disk. */
static long note_sync_thread(void *ctx, const struct safefs__call *call) {
  int i, known = 0;
  (void)ctx;
  if (call->op == SAFEFS__OP_COUNT_DIRTY)
    return TU_SYNC_EACH; /* the syncs of each temp are what is counted */
  if (call->op != SAFEFS__OP_SYNC)
    return 0;
  tu_sleep_ms(1);
  pthread_mutex_lock(&sync_threads.mutex);
  sync_threads.syncs++;
  for (i = 0; i < sync_threads.n_seen; i++)
    known |= pthread_equal(sync_threads.seen[i], pthread_self());
  if (!known && sync_threads.n_seen < MAX_THREADS)
    sync_threads.seen[sync_threads.n_seen++] = pthread_self();
  pthread_mutex_unlock(&sync_threads.mutex);
  return 0;
}

/* How many threads synced the n files of one commit. */
static int threads_syncing(const char *dir, int n) {
  safefs_batch *b;
  int i;
  sync_threads.n_seen = sync_threads.syncs = 0;
  assert_int_equal(safefs_batch_begin(&b, 0), 0);
  for (i = 0; i < n; i++)
    assert_int_equal(safefs_batch_add(b, big_name(dir, i), "t", 1), 0);
  safefs__seam_set(note_sync_thread, NULL);
  assert_int_equal(safefs_batch_commit(b), 0);
  safefs__seam_set(NULL, NULL);
  assert_int_equal(sync_threads.syncs, n);
  return sync_threads.n_seen;
}

static void syncs_from_several_threads(void **state) {
  const char *dir = (const char *)*state;
  int i, k;
  static const int nth[] = {1, 17, 64};
  tu_mkdir(tu_path(dir, "big"));
  /* 64 files are synced from 16 threads at most; 3 (the control) in the
     calling thread alone. (A test directory on tmpfs syncs in one thread:
     no_threads_where_syncs_are_free.) */
  i = threads_syncing(dir, 64);
  print_message("  64 files synced from %d threads, 3 files from %d\n", i,
                threads_syncing(dir, 3));
  assert_true(tu_dir_in_memory(dir) ? i == 1 : i > 1 && i <= 16);
  assert_int_equal(threads_syncing(dir, 3), 1);
  /* one of those syncs failing: nothing of the group goes in, and the
     failure (from another thread) is reported here */
  for (k = 0; k < (int)(sizeof nth / sizeof nth[0]); k++) {
    safefs_batch *b;
    size_t installed = 9;
    int rc;
    tu_faults_reset();
    assert_int_equal(safefs_batch_begin(&b, 0), 0);
    for (i = 0; i < 64; i++)
      assert_int_equal(safefs_batch_add(b, big_name(dir, i), "f", 1), 0);
    tu_fault_add(SAFEFS__OP_SYNC, nth[k], tu_err_io(), 1);
    tu_fault_add(SAFEFS__OP_COUNT_DIRTY, 1, TU_SYNC_EACH, 1000);
    rc = safefs_batch_commit_report(b, &installed);
    assert_int_equal(tu_live_blocks(), 0);
    tu_faults_off();
    assert_int_equal(rc, SAFEFS_EIO);
    assert_int_equal(installed, 0);
    assert_non_null(strstr(safefs_last_error_message(), "sync"));
    assert_non_null(strstr(safefs_last_error_message(), "big"));
    assert_int_equal(safefs_last_os_error(), tu_err_io());
    for (i = 0; i < 64; i++)
      assert_true(tu_file_is(big_name(dir, i), "t"));
    assert_int_equal(tu_count_own_names(tu_path(dir, "big")), 0);
  }
}

/* Where the files are kept in memory only (tmpfs), syncs cost nothing
 * and threads would cost only themselves: the batch syncs in the calling
 * thread. The control is the same batch in the test directory, on a disk,
 * where the syncs are made from several threads. */
static void no_threads_where_syncs_are_free(void **state) {
  const char *dir = (const char *)*state;
  char *shm = tu_dir_new_in_memory();
  int in_memory, on_disk;
  if (shm == NULL || tu_dir_in_memory(dir)) {
    print_message("  %s: skipped\n", shm == NULL ? "no tmpfs here" : "the test directory is on tmpfs");
    tu_dir_free(shm);
    skip();
  }
  tu_mkdir(tu_path(shm, "big"));
  tu_mkdir(tu_path(dir, "big"));
  in_memory = threads_syncing(shm, 64);
  on_disk = threads_syncing(dir, 64);
  tu_dir_free(shm);
  print_message("  64 files synced from %d thread(s) on tmpfs, %d on the disk\n", in_memory,
                on_disk);
  assert_int_equal(in_memory, 1);
  assert_true(on_disk > 1 && on_disk <= 16);
}

/* The batch flushes a filesystem whole only where its syncfs is known to
 * make the data durable as an fsync does (ext4, XFS): on tmpfs, whose
 * syncfs flushes nothing (as FAT's may flush no drive cache), each temp is
 * synced even with nothing dirty; the control is the test directory on
 * ext4 or XFS, where the same batch makes one syncfs. */
static void syncfs_only_where_it_flushes(void **state) {
  const char *dir = (const char *)*state;
  char *shm = tu_dir_new_in_memory();
  static struct tu_call_log log_store;
  struct tu_call_log *log = &log_store;
  const char *dirs[2];
  int k;
  if (shm == NULL || !tu_syncfs_used(dir)) {
    print_message("  skipped: %s\n", shm == NULL ? "no tmpfs here"
                                                 : "the test directory is not on ext4 or XFS, "
                                                   "or syncfs reports no errors here");
    tu_dir_free(shm);
    skip();
  }
  dirs[0] = shm;
  dirs[1] = dir;
  for (k = 0; k < 2; k++) {
    tu_mkdir(tu_path(dirs[k], "sub"));
    tu_log_start(log);
    log->count_dirty = TU_SYNC_WHOLE_FS;
    assert_int_equal(safefs_batch_commit(small_batch(dirs[k], 0, k)), 0);
    tu_log_stop();
    print_message("  %s: %d syncfs, %d syncs\n", k == 0 ? "tmpfs" : "the test directory",
                  tu_log_count(log, SAFEFS__OP_SYNC_FS), tu_log_count(log, SAFEFS__OP_SYNC));
    assert_int_equal(tu_log_count(log, SAFEFS__OP_SYNC_FS), k == 0 ? 0 : 1);
    assert_int_equal(tu_log_count(log, SAFEFS__OP_SYNC), k == 0 ? N_SMALL : 0);
    assert_true(holds(dirs[k], N_SMALL - 1, k));
  }
  tu_dir_free(shm);
}

#if defined(__linux__)
/* The system's unwritten data, Dirty + Writeback of /proc/meminfo in
 * bytes (the test's own reading), or -1. */
static long long dirty_now(void) {
  FILE *f = fopen("/proc/meminfo", "r");
  char line[128];
  long long sum = 0, kb;
  int seen = 0;
  if (f == NULL)
    return -1;
  while (fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "Dirty: %lld", &kb) == 1 || sscanf(line, "Writeback: %lld", &kb) == 1) {
      sum += kb * 1024;
      seen++;
    }
  fclose(f);
  return seen == 2 ? sum : -1;
}
#endif

/* Unforced: where the system holds little unwritten data the batch flushes
 * the filesystem whole (one SYNC_FS, no SYNC), and where it holds much it
 * syncs each temp. The machine's other writers decide which a commit
 * sees, so each try reads /proc/meminfo itself just before and after the
 * commit: both readings well under the library's bound (the batch's own
 * data and 1 MiB) with the temps synced one by one are a wrong choice, and
 * so is a reading well over it with a syncfs; two wrong choices fail the
 * test (one may be another program's burst of writing between the looks).
 * In between, the try tells nothing and is made again (sync(2) first). */
static void whole_fs_flush_while_little_is_dirty(void **state) {
#if !defined(__linux__)
  (void)state;
  skip(); /* syncfs is Linux's */
#else
  const char *dir = (const char *)*state;
  int tries, whole = 0, each = 0, wrong = 0;
  if (!tu_syncfs_used(dir) || dirty_now() < 0) {
    print_message("  skipped: no syncfs that reports errors, not ext4 or XFS, or no "
                  "/proc/meminfo\n");
    skip();
  }
  tu_mkdir(tu_path(dir, "big"));
  for (tries = 0; tries < 20 && (whole == 0 || each == 0); tries++) {
    safefs_batch *b;
    long long before, after;
    int i, syncfs_calls, sync_calls;
    char what[2] = {(char)('a' + tries), '\0'};
    if (tries % 2 == 0) {
      char name[32];
      snprintf(name, sizeof name, "dirt-%d", tries - 1);
      tu_remove(tu_path(dir, name)); /* (its pages need not reach the disk) */
      sync(); /* little dirty, probably */
    } else { /* much dirty: 8 MiB written, not synced, to a new file each time
                (ext4 starts writing a file out when it closes one it truncated:
                its auto_da_alloc) */
      static char mib[1024 * 1024];
      char name[32];
      FILE *f;
      snprintf(name, sizeof name, "dirt-%d", tries);
      f = fopen(tu_path(dir, name), "wb");
      assert_non_null(f);
      for (i = 0; i < 8; i++)
        assert_int_equal(fwrite(mib, 1, sizeof mib, f), sizeof mib);
      assert_int_equal(fclose(f), 0);
    }
    assert_int_equal(safefs_batch_begin(&b, 0), 0);
    for (i = 0; i < 16; i++)
      assert_int_equal(safefs_batch_add(b, big_name(dir, i), what, 1), 0);
    tu_faults_reset(); /* counts only */
    before = dirty_now();
    assert_int_equal(safefs_batch_commit(b), 0);
    after = dirty_now();
    syncfs_calls = tu_calls(SAFEFS__OP_SYNC_FS);
    sync_calls = tu_calls(SAFEFS__OP_SYNC);
    tu_faults_off();
    assert_true(tu_file_is(big_name(dir, 15), what));
    assert_true((syncfs_calls == 1 && sync_calls == 0) || (syncfs_calls == 0 && sync_calls == 16));
    if (before < 256 * 1024 && after < 256 * 1024) {
      if (syncfs_calls == 0) {
        print_message("  little was dirty (%lld and %lld bytes) but each temp was synced\n",
                      before, after);
        wrong++;
      } else {
        whole++;
      }
    } else if (before > 4 * 1024 * 1024) {
      /* the 8 MiB are dirty until the commit (after it, a syncfs wrote them) */
      if (syncfs_calls == 1) {
        print_message("  %lld bytes were dirty but the filesystem was flushed whole\n", before);
        wrong++;
      } else {
        each++;
      }
    }
  }
  /* one such try may be another program's burst, written out again
     between the looks; two are the library's fault */
  assert_true(wrong <= 1);
  print_message("  %d tries: a syncfs in %d with little dirty, each temp synced in %d with much\n",
                tries, whole, each);
  if (whole == 0 || each == 0)
    skip(); /* the machine never held still: nothing was shown either way */
#endif
}

static const struct CMUnitTest tests[] = {
    TU_TEST(commits_files_in_two_directories),
    TU_TEST(nothing_on_disk_before_commit),
    TU_TEST(arguments),
    TU_TEST(bad_path_changes_nothing),
    TU_TEST(same_path_twice),
    TU_TEST(missing_parents),
    TU_TEST(one_directory_sync_per_directory),
    TU_TEST(many_files_few_descriptors),
    TU_TEST(every_call_failing_in_turn),
    TU_TEST(syncs_from_several_threads),
    TU_TEST(no_threads_where_syncs_are_free),
    TU_TEST(syncfs_only_where_it_flushes),
    TU_TEST(whole_fs_flush_while_little_is_dirty),
};
TU_SUITE("batch", tests, NULL);
