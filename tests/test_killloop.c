/*
 * kill -9 loop: writer processes that take the lock, check the data, and
 * replace it with the next self-checking version are killed at random
 * moments (SIGKILL / TerminateProcess), in the middle of whatever they are
 * doing, and replaced by new ones. Throughout and afterwards:
 *   - every read of the target sees one whole version,
 *   - the version never goes backwards,
 *   - the lock is never stuck (a killed holder never blocks the next one),
 *   - what killed writers left (temp files) is only safefs's own names, and
 *     safefs_sweep removes all of it and nothing else.
 * A killed process proves nothing about power loss (test_powerloss does
 * that); this is about processes dying in any instruction.
 *
 * And a killed writer leaves nothing (killed_writers_leave_nothing): one
 * process replaces a file again and again, durably, and is killed at a
 * random moment, many times over; what is left beside the target is
 * counted. On Linux the temp has no name until just before the rename
 * (O_TMPFILE) and the old file is held open instead of linked to a backup
 * name, so only a kill inside the commit's few calls between the link and
 * the rename leaves a temp: 0-3 were measured after 150 kills of
 * safefs_write_file and 0-2 after 100 of a streaming writer (with the
 * AT_EMPTY_PATH naming, six runs: 0-3, 1.8 on average, and 0-3; bound
 * asserted: 6 each, so that chance does not fail it, see below). On
 * Windows the temp is created delete-on-close and linked onto the target
 * through its handle, so no kill leaves anything: 0 after 10 kills of a
 * streaming writer, asserted, with a control that marks its temps after
 * their creation and uses ReplaceFileW, which leaves some (checked under
 * Wine 8 only). Before (named temp, hard-link backup): 114-127
 * entries after the 150 kills, 78-85 after the 100, and 10 temps after 10
 * kills under Wine. Elsewhere (macOS, the BSDs: no nameless files) the
 * counts are printed, not bounded.
 */
#include "testutil.h"
#include "testutil_proc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <windows.h>
#endif

#define WRITERS 3

/* Versions are tu_version_make(seq, 0): self-checking, 500..20499 bytes,
 * so they cross 4 KiB blocks. The version number, or -1 if data is not
 * one whole version. */
static long parse_version(const char *data, size_t n) {
  unsigned seq, zero;
  return tu_version_parse(data, n, &seq, &zero) && zero == 0 ? (long)seq : -1;
}

static long read_version(const char *path) {
  void *data;
  size_t n;
  long v;
  if (safefs_read_file(path, &data, &n) != 0)
    return -2;
  v = parse_version((const char *)data, n);
  safefs_free(data);
  return v;
}

/* Several backups for a missing target: safefs cannot tell which is
 * newer, the application can (here: `rank`, the highest whole version;
 * where every backup holds the same content, any). */
typedef long (*rank_fn)(const char *path);
struct newest {
  const char *dir;
  rank_fn rank; /* higher is newer; negative: not a candidate */
  char *best;
  long best_v;
};

static void consider_backup(const char *name, void *ctx) {
  struct newest *nw = (struct newest *)ctx;
  char base[SAFEFS__NAME_MAX + 1];
  if (safefs__own_backup_target(name, base) && strcmp(base, "data") == 0) {
    char *p = tu_join(nw->dir, name);
    long v = nw->rank(p);
    if (v > nw->best_v) {
      free(nw->best);
      nw->best = p;
      nw->best_v = v;
    } else {
      free(p);
    }
  }
}

/* Put the newest backup back at target, then sweep the others. */
static void restore_newest_backup(const char *dir, const char *target, rank_fn rank) {
  struct newest nw;
  nw.dir = dir;
  nw.rank = rank;
  nw.best = NULL;
  nw.best_v = -1;
  tu_for_each_entry(dir, consider_backup, &nw);
  if (nw.best != NULL) {
    size_t n;
    char *data = tu_read_raw(nw.best, &n);
    safefs_write_file(target, data, n, 0);
    free(data);
    free(nw.best);
  }
  safefs_sweep(dir, 0); /* the other backups go now that the target exists */
}

/* Helper "writer DIR": lock, check, replace with the next version, unlock,
 * forever (until killed). Exits 3 if it ever finds a broken version. */
static int writer_helper(const char *dir) {
  static char buf[TU_VERSION_MAX];
  char *lockpath = tu_join(dir, "data.lock");
  char *target = tu_join(dir, "data");
  unsigned round;
  for (round = 0;; round++) {
    safefs_lock *lock;
    long v;
    size_t n;
    int rc;
    if (safefs_lock_acquire(&lock, lockpath, SAFEFS_LOCK_EXCLUSIVE, -1) != 0)
      return 2;
    v = read_version(target);
    if (v == -2) {
      /* No target: a writer killed inside a replace whose rename is not
       * one step (Windows ReplaceFileW) left the old content under its
       * backup name. Under the lock no temp is live, so the sweep may run
       * now, and it puts the backup back. */
      if (safefs_sweep(dir, 0) == SAFEFS_EEXIST)
        restore_newest_backup(dir, target, read_version);
      v = read_version(target);
    }
    if (v < 0)
      return 3;
    n = tu_version_make(buf, sizeof buf, (unsigned)v + 1, 0);
    if (round % 2 == 0) {
      rc = safefs_write_file(target, buf, n, round % 4 == 0 ? SAFEFS_NOSYNC : 0);
    } else {
      safefs_writer *w;
      rc = safefs_writer_open(&w, target, SAFEFS_NOSYNC);
      if (rc == 0 && (rc = safefs_writer_write(w, buf, n / 2)) == 0 &&
          (rc = safefs_writer_write(w, buf + n / 2, n - n / 2)) == 0)
        rc = safefs_writer_commit(w);
      else if (rc == 0)
        safefs_writer_abort(w);
    }
    safefs_lock_release(lock);
    if (rc != 0)
      return 4;
  }
}

static unsigned rnd_next(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return *s >> 8;
}

/* Helper "leaver HOW DIR SIGNAL": replace DIR/data durably, forever, with
 * the same content: HOW "file", 64 KiB with safefs_write_file; "stream",
 * 1 MiB fed to a writer in 4 KiB pieces (a download, an export: the temp is
 * open for most of the time); "create", the same 1 MiB as a new file
 * (SAFEFS_NOREPLACE, as a content-addressed store writes), the last
 * round's removed first. SIGNAL is created once the writing begins. */
#define FILE_SIZE (64 * 1024)
#define STREAM_SIZE (1024 * 1024)
static int leaver_helper(const char *how, const char *dir, const char *sig) {
  static char buf[STREAM_SIZE];
  char *target = tu_join(dir, "data");
  unsigned round;
  size_t i;
  for (i = 0; i < sizeof buf; i++)
    buf[i] = (char)('a' + i % 26);
  tu_signal(sig);
  for (round = 0;; round++) {
    int rc;
    if (strcmp(how, "file") == 0) {
      rc = safefs_write_file(target, buf, FILE_SIZE, 0);
    } else if (strncmp(how, "create", 6) == 0) {
      safefs_writer *w;
      if (round == 0 && strcmp(how, "create-named") == 0) {
        tu_faults_reset(); /* the control: no nameless temps (as on macOS) */
        tu_fault_add(SAFEFS__OP_CREATE_ANON, 1, EOPNOTSUPP, 1 << 30);
      }
      if (tu_exists(target) && tu_remove(target) != 0) /* the last round's */
        return 5;
      rc = safefs_writer_open(&w, target, SAFEFS_NOREPLACE);
      for (i = 0; rc == 0 && i < sizeof buf; i += 4096)
        rc = safefs_writer_write(w, buf + i, 4096);
      rc = rc == 0 ? safefs_writer_commit(w) : rc;
    } else {
      safefs_writer *w;
#ifdef _WIN32
      if (round == 0 && strcmp(how, "stream-marked") == 0) {
        /* the control: links refused once, as on FAT, so that the process
           marks its temps delete-on-close and ReplaceFileW puts them in
           place, the way before sealed temps */
        tu_faults_reset();
        tu_fault_add(SAFEFS__OP_LINK_TEMP, 1, ERROR_INVALID_FUNCTION, 1);
      }
#endif
      rc = safefs_writer_open(&w, target, 0);
      for (i = 0; rc == 0 && i < sizeof buf; i += 4096)
        rc = safefs_writer_write(w, buf + i, 4096);
      rc = rc == 0 ? safefs_writer_commit(w) : rc;
    }
    if (rc != 0)
      return 4;
  }
}

/* Start a leaver, let it run for a random moment after it has begun
 * writing, kill it; `kills` times. Returns what is left beside the target. */
static int kill_leavers(const char *how, const char *dir, const char *sig, int kills,
                        unsigned *seed) {
  long max_ms = tu_running_on_wine() ? 300 : 25;
  int k;
  for (k = 0; k < kills; k++) {
    tu_proc *p;
    if (tu_exists(sig))
      assert_int_equal(tu_remove(sig), 0);
    p = tu_proc_start("leaver", how, dir, sig, (const char *)NULL);
    if (!tu_wait_signal(sig, 30000)) {
      tu_proc_kill(p);
      fail_msg("%s", "the writer did not start");
    }
    tu_sleep_ms((long)(rnd_next(seed) % (unsigned)max_ms));
    if (!tu_proc_running(p))
      fail_msg("the writer exited by itself (status %d)", tu_proc_wait(p, 0));
    tu_proc_kill(p);
  }
  {
    char *target = tu_join(dir, "data");
    int left = tu_count_entries(dir) - (tu_exists(target) ? 1 : 0);
    free(target);
    return left;
  }
}

static void tally_kind(const char *name, void *ctx) {
  int *kinds = (int *)ctx;
  size_t n = strlen(name);
  if (n > 4 && strcmp(name + n - 4, ".tmp") == 0)
    kinds[0]++;
  else if (n > 4 && strcmp(name + n - 4, ".old") == 0)
    kinds[1]++;
}

/* killed_writers_leave_nothing's rank: every backup there holds the same
 * content, so any will do. */
static long any_backup(const char *path) {
  (void)path;
  return 0;
}

static void killed_writers_leave_nothing(void **state) {
  const char *base = (const char *)*state;
  char *dir = tu_join(base, "w");
  char *sig = tu_join(base, "started");
  char *target = tu_join(dir, "data");
  unsigned seed = (unsigned)tu_now_ms();
  int wine = tu_running_on_wine(), left_file = 0, left_stream;
  size_t n;
  char *got;

  tu_mkdir(dir);
  print_message("  seed %u\n", seed);
  if (!wine) {
    left_file = kill_leavers("file", dir, sig, 150, &seed);
    print_message("  150 kills of safefs_write_file: %d entries left (before: 114-127)\n",
                  left_file);
  }
  left_stream = kill_leavers("stream", dir, sig, wine ? 10 : 100, &seed);
  print_message("  %d kills of a streaming writer: %d entries left (before: %s)\n",
                wine ? 10 : 100, left_stream - left_file, wine ? "10" : "78-85");
  /* only ours (and the target, unless the last kill took it: below) */
  assert_int_equal(tu_count_entries(dir), tu_exists(target) + tu_count_own_names(dir));
  {
    int kinds[2] = {0, 0};
    tu_for_each_entry(dir, tally_kind, kinds);
    print_message("  of which %d temps (.tmp) and %d backups (.old)\n", kinds[0], kinds[1]);
  }
  if (!tu_exists(target)) {
    /* Only where a replace is not one rename (Windows: ReplaceFileW moves
       the old file to its backup name, then the new one in): a kill
       between the two leaves the old content under the backup name, and
       the sweep puts it back (with several such backups it keeps them:
       one is put back by hand, as an application would). */
#if !defined(_WIN32)
    fail_msg("%s", "the target is missing, but here a replace is one rename");
#endif
    print_message("  the last kill left the old content under its backup name\n");
    if (safefs_sweep(dir, 0) == SAFEFS_EEXIST)
      restore_newest_backup(dir, target, any_backup);
  }
  got = tu_read_raw(target, &n); /* whole: the last replace that finished */
  assert_non_null(got);
  assert_int_equal(n, STREAM_SIZE);
  assert_int_equal(got[0], 'a');
  assert_int_equal(got[n - 1], (char)('a' + (n - 1) % 26));
  free(got);
#if defined(__linux__)
  /* The window is the linkat alone (a kill during it is delivered on its
     return, before the rename). Here, with fsyncs of well under 1 ms, it
     is about 1% of a 64 KiB replace: 0-3 temps per 150 kills were
     measured (mean under 2), so the bound asserted has room for chance;
     with real disks' fsyncs the share is smaller. */
  assert_true(left_file <= 6); /* room for chance: P(> 6) is well under 0.1 % at a mean of 1.5 */
  assert_true(left_stream - left_file <= 6);
#elif defined(_WIN32)
  /* The temp is sealed (delete-on-close from its creation) and linked onto
     the target through its handle: before the link it dies with the
     handle, after it only its temp name does, so no kill leaves anything
     (0 in each of the runs made under Wine 8 on 2026-12-07; with marked
     temps and ReplaceFileW before: 0-5 of 10, 2.9 on average). */
  assert_int_equal(left_stream, 0);
#endif
  assert_int_equal(safefs_sweep(dir, 0), 0);
  assert_int_equal(tu_count_entries(dir), 1);
#if defined(_WIN32)
  /* the control: the same kills of a process whose temps are marked after
     their creation and put in place by ReplaceFileW (links refused, as on
     FAT) leave names behind, so the bound above can fail */
  left_stream = kill_leavers("stream-marked", dir, sig, 20, &seed);
  print_message("  20 kills of it with marked temps and ReplaceFileW: %d entries left\n",
                left_stream);
  assert_true(left_stream >= 1);
  if (!tu_exists(target) && safefs_sweep(dir, 0) == SAFEFS_EEXIST)
    restore_newest_backup(dir, target, any_backup);
  assert_int_equal(safefs_sweep(dir, 0), 0);
#endif
  free(target);
  free(sig);
  free(dir);
}

static void print_name(const char *name, void *ctx) {
  char *p = tu_join((const char *)ctx, name);
  size_t n = 0;
  char *data = tu_read_raw(p, &n);
  print_message("    %s (%lu bytes)\n", name, (unsigned long)n);
  free(data);
  free(p);
}

/* Killed creators of new files (SAFEFS_NOREPLACE) leave nothing either:
 * on Linux no temp name ever exists (the nameless temp is linked straight
 * to the target's name), so the bound is none; on Windows neither (the
 * temp is created delete-on-close and linked onto the target's name
 * through its handle: test_replace_win32, temp_linked_into_place, checks
 * the calls), where a temp marked one call after its creation and renamed
 * through its handle left 1, 0, 1, 0 of 10 under Wine 8. Elsewhere the
 * count is printed. */
static void killed_creators_leave_nothing(void **state) {
  const char *base = (const char *)*state;
  char *dir = tu_join(base, "c");
  char *sig = tu_join(base, "started");
  unsigned seed = (unsigned)tu_now_ms();
  int wine = tu_running_on_wine(), kills = wine ? 10 : 100, left;

  tu_mkdir(dir);
  print_message("  seed %u\n", seed);
  kill_leavers("create", dir, sig, kills, &seed);
  left = tu_count_own_names(dir);
  print_message("  %d kills of a writer of new files: %d temps left\n", kills, left);
  tu_for_each_entry(dir, print_name, dir);
#if defined(__linux__)
  assert_int_equal(left, 0);
  /* the control: with named temps from the start the same kills leave
     one about every other time or more (the temp exists from its
     creation to its rename: 15, 16 and 11 of 20 measured); the bound
     leaves room for chance (P(< 3 of 30) ~ 2e-5 even at 0.4 a kill) */
  assert_int_equal(safefs_sweep(dir, 0), 0);
  kill_leavers("create-named", dir, sig, 30, &seed);
  left = tu_count_own_names(dir);
  print_message("  30 kills of it with named temps: %d left\n", left);
  assert_true(left >= 3);
#elif defined(_WIN32)
  assert_int_equal(left, 0); /* sealed and linked: no window at all */
#endif
  /* nothing but ours and the file itself (the last kill may come after a
     commit and before its removal) */
  assert_int_equal(tu_count_entries(dir), left + tu_exists(tu_path(dir, "data")));
  assert_int_equal(safefs_sweep(dir, 0), 0);
  free(sig);
  free(dir);
}

static void writers_killed_at_random(void **state) {
  const char *dir = (const char *)*state;
  char *target = tu_join(dir, "data");
  char *lockpath = tu_join(dir, "data.lock");
  char *keep = tu_join(dir, "not-ours.tmp");
  static char buf[TU_VERSION_MAX];
  tu_proc *w[WRITERS];
  unsigned seed = (unsigned)tu_now_ms(), kills = 0;
  int rounds = tu_running_on_wine() ? 25 : 60, r, i, own_left, missing = 0;
  char problem[200] = "";
  long last = 0, v;

  print_message("  seed %u, %d rounds\n", seed, rounds);
  assert_int_equal(safefs_write_file(target, buf, tu_version_make(buf, sizeof buf, 0, 0), 0), 0);
  tu_write_raw(keep, "someone else's", 14);
  for (i = 0; i < WRITERS; i++)
    w[i] = tu_proc_start("writer", dir, (const char *)NULL);
  for (r = 0; r < rounds && problem[0] == '\0'; r++) {
    int victim = (int)(rnd_next(&seed) % WRITERS);
    tu_sleep_ms((long)(5 + rnd_next(&seed) % 40));
    v = read_version(target);
    if (v == -2 && tu_running_on_wine()) {
      missing++; /* Wine's ReplaceFileW: two renames (see README) */
    } else if (v < 0) {
      snprintf(problem, sizeof problem, "round %d: not one whole version (%ld)", r, v);
    } else if (v < last) {
      snprintf(problem, sizeof problem, "round %d: version went back %ld -> %ld", r, last, v);
    } else {
      last = v;
    }
    if (tu_proc_running(w[victim])) {
      tu_proc_kill(w[victim]);
      kills++;
    } else {
      snprintf(problem, sizeof problem, "writer %d exited by itself (status %d)", victim,
               tu_proc_wait(w[victim], 0));
    }
    w[victim] = tu_proc_start("writer", dir, (const char *)NULL);
  }
  /* progress was made: the writers were not stuck behind a dead holder */
  tu_sleep_ms(tu_running_on_wine() ? 500 : 100);
  for (i = 0; i < WRITERS; i++)
    if (!tu_proc_running(w[i]) && problem[0] == '\0')
      snprintf(problem, sizeof problem, "writer %d exited by itself", i);
  for (i = 0; i < WRITERS; i++)
    tu_proc_kill(w[i]); /* before any assertion, so no helper outlives the test */
  if (problem[0] != '\0')
    fail_msg("%s", problem);
  /* The last victim may have died inside a replace (Wine's ReplaceFileW
     is two renames): the sweep puts its backup back, unless another
     writer's backup is left too (killed between its replace and the
     backup's delete-on-close mark), when the application must choose, as
     the writers themselves do. */
  if (safefs_sweep(dir, 0) == SAFEFS_EEXIST && !tu_exists(target))
    restore_newest_backup(dir, target, read_version);
  v = read_version(target);
  print_message("  %u kills, version %ld -> %ld, %d reads found no file (Wine only)\n", kills,
                last, v, missing);
  assert_true(v > last);

  /* the lock is free at once whatever the last victim was doing */
  {
    safefs_lock *lock;
    long long t0 = tu_now_ms();
    assert_int_equal(safefs_lock_acquire(&lock, lockpath, SAFEFS_LOCK_EXCLUSIVE, 3000), 0);
    assert_true(tu_now_ms() - t0 < 1500);
    assert_int_equal(safefs_lock_release(lock), 0);
  }
  assert_true(read_version(target) >= last);

  /* leftovers are only ours, and the sweep takes exactly those */
  own_left = tu_count_own_names(dir);
  print_message("  %d temp files left by killed writers\n", own_left);
  assert_int_equal(tu_count_entries(dir), 3 + own_left); /* data, data.lock, not-ours.tmp */
  assert_int_equal(safefs_sweep(dir, 0), 0);
  assert_int_equal(tu_count_own_names(dir), 0);
  assert_int_equal(tu_count_entries(dir), 3);
  assert_true(tu_file_is(keep, "someone else's"));
  assert_true(read_version(target) >= last);

  free(keep);
  free(lockpath);
  free(target);
}

/* Negative control: the version check does catch a torn file. */
static void torn_version_is_caught(void **state) {
  static char a[TU_VERSION_MAX];
  size_t n = tu_version_make(a, sizeof a, 7, 0);
  (void)state;
  assert_int_equal(parse_version(a, n), 7);
  assert_int_equal(parse_version(a, n - 100), -1);
  a[n / 2] ^= 1;
  assert_int_equal(parse_version(a, n), -1);
}

static int run_helper(const char *mode, int argc, char **argv) {
  if (strcmp(mode, "writer") == 0 && argc >= 1)
    return writer_helper(argv[0]);
  if (strcmp(mode, "leaver") == 0 && argc >= 3)
    return leaver_helper(argv[0], argv[1], argv[2]);
  return 2;
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(torn_version_is_caught),
    TU_TEST(writers_killed_at_random),
    TU_TEST(killed_writers_leave_nothing),
    TU_TEST(killed_creators_leave_nothing),
};
TU_SUITE("killloop", tests, run_helper);
