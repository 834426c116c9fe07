/*
 * Real power loss on a real filesystem (Linux, root).
 *
 * A small ext4 image is loop-mounted with noauto_da_alloc (ext4's default
 * auto_da_alloc flushes data on rename-over and would hide a missing
 * fsync). A writer process replaces a target with self-checking versions
 * and reports each version on a pipe after the call returned. At a random
 * moment the parent calls ioctl(EXT4_IOC_SHUTDOWN, NOLOGFLUSH) on the
 * mount: the filesystem stops dead, the journal is not flushed, exactly as
 * at power loss. Then it unmounts, mounts again (journal replay) and checks
 * that the target is one whole version, never older than the last one
 * reported, and at most the one in flight newer. The target is replaced
 * with safefs_write_file and, in a mode of its own, with the streaming
 * writer.
 *
 * Negative controls: the same trials with the writer's file fsync, or its
 * directory fsync, dropped through the seam (SAFEFS__SEAM_SKIP). The check
 * must catch every control at least once, or the test proves nothing and
 * fails.
 *
 * Every trial and every control runs on ext4 and on XFS: XFS's
 * XFS_IOC_GOINGDOWN is the same ioctl, with the same NOLOGFLUSH flag, and
 * XFS also reorders data and renames (it needs an image of 300 MiB at
 * least). btrfs refuses the ioctl (ENOTTY on Linux 6.x): it is covered by
 * the crash model only (README).
 *
 * Without root, loop devices or ext4 the test exits 77, which ctest reports
 * as SKIPPED (never as passed); without mkfs.xfs (xfsprogs) the XFS half is
 * reported as not run and the test fails, unless SAFEFS_POWERLOSS_FS names
 * the filesystems to run ("ext4", "xfs"; "ext4 xfs" is the default).
 * SAFEFS_POWERLOSS_TRIALS sets the number of trials per mode (default 20).
 *
 * safefs_remove_tree gets the same treatment: a process creates tree k
 * (all or nothing: built under another name, then renamed) and removes it
 * with safefs_remove_tree, reporting each step; after the power loss the
 * tree must be whole or gone, and gone if its removal was reported. Its
 * control drops the directory fsync after the rename aside.
 *
 * So do batches (safefs_batch_*): a process commits batch after batch k,
 * each of 16 files over two directories, 14 replaced in every batch and 2
 * new in each, every file holding tu_version_make(k, its index), and
 * reports k after safefs_batch_commit returned 0. After the power loss
 * every file is one whole version of its own, none older than the last
 * batch reported, none newer than the one in flight, and the new files of
 * every reported batch are there; the files of the batch in flight may be
 * any mix of old and new (a batch is not all or nothing; a trial that
 * finds such a mix says so: none did in two full runs, 80 trials, where
 * the batch in flight was always found all old or all new). Three controls:
 * the batch without its file syncs, without its directory syncs, and with
 * SAFEFS_NOSYNC. Where the system holds little unwritten data the batch
 * flushes the filesystem whole instead of syncing each file (one syncfs);
 * "safefs_batch, one syncfs" makes it do so in every trial, and its
 * control skips that syncfs. The file-sync control also refuses the writeback hint
 * (sync_file_range, SYNC_START) through the seam: with the hint alone the
 * data is on the loop device before the rename is journalled, and this
 * test's power loss, which keeps what reached the device, never caught the
 * missing fsync (0 in 10 trials on ext4 and on XFS); a real one can lose
 * it from the drive's cache.
 */
#include <stdio.h>
#include <stdlib.h>

#ifndef __linux__
int main(void) {
  printf("SKIPPED: power-loss test needs Linux (loop mount + EXT4_IOC_SHUTDOWN)\n");
  return 77;
}
#else

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* EXT4_IOC_SHUTDOWN (linux/ext4.h) is XFS_IOC_GOINGDOWN (xfs_fs.h): the
 * same number and flags; neither header is exported everywhere. */
#define SHUTDOWN_IOCTL _IOR('X', 125, uint32_t)
#define GOING_DOWN_NOLOGFLUSH 0x2

/* The filesystems the trials run on. ext4 is mounted with noauto_da_alloc
 * (its default auto_da_alloc flushes data on rename-over and would hide a
 * missing fsync); XFS has no such heuristic. */
struct fs_kind {
  const char *name, *mkfs, *mount_options, *image_size;
};
static const struct fs_kind fs_kinds[] = {
    {"ext4", "mkfs.ext4 -q -F", "loop,noauto_da_alloc", "64M"},
    {"xfs", "mkfs.xfs -q -f", "loop", "320M"},
};
static const struct fs_kind *g_fs = &fs_kinds[0];

#define SKIP_CODE 77

static char g_img[512], g_mnt[512], g_target[600];

static int sh(const char *fmt, const char *a, const char *b) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, fmt, a, b);
  return system(cmd);
}

static int mount_fs(void) {
  char fmt[128];
  snprintf(fmt, sizeof fmt, "mount -o %s %%s %%s 2>/dev/null", g_fs->mount_options);
  return sh(fmt, g_img, g_mnt);
}

static int umount_fs(void) {
  int i;
  for (i = 0; i < 50; i++) {
    if (sh("umount %s%s 2>/dev/null", g_mnt, "") == 0)
      return 0;
    usleep(100000);
  }
  return -1;
}

/* Versions are tu_version_make(a, b): self-checking, 500..20499 bytes,
 * so they cross 4 KiB blocks. The a of the file at path if it holds one
 * whole version with that b; -1 if it holds anything else (torn, empty, a
 * version of another file); -2 if it is missing. */
static long read_version(const char *path, unsigned b) {
  size_t n;
  char *data = tu_read_raw(path, &n);
  unsigned got_a, got_b;
  long v;
  if (data == NULL)
    return -2;
  v = tu_version_parse(data, n, &got_a, &got_b) && got_b == b ? (long)got_a : -1;
  free(data);
  return v;
}

/* ---- the writer process -------------------------------------------------- */

/* What a mode's writer does, and what it drops: the seam skips the ops in
 * `drop` (a mask of 1u << op), and `flags` go to every call. A mode that
 * drops anything, or runs with SAFEFS_NOSYNC, is a negative control. */
enum kind { KIND_WRITE_FILE, KIND_WRITER, KIND_TREE, KIND_BATCH };
struct mode {
  const char *name;
  enum kind kind;
  unsigned drop, flags;
};
#define OP(name) (1u << SAFEFS__OP_##name)
static const struct mode modes[] = {
    {"safefs_write_file", KIND_WRITE_FILE, 0, 0},
    {"streaming writer", KIND_WRITER, 0, 0},
    {"safefs_remove_tree", KIND_TREE, 0, 0},
    {"safefs_batch", KIND_BATCH, 0, 0},
    {"safefs_batch, one syncfs", KIND_BATCH, OP(COUNT_DIRTY), 0},
    {"control: no file fsync", KIND_WRITE_FILE, OP(SYNC), 0},
    {"control: no directory fsync", KIND_WRITE_FILE, OP(SYNC_DIR), 0},
    {"control: remove_tree, no directory fsync", KIND_TREE, OP(SYNC_DIR), 0},
    {"control: batch, no file fsync", KIND_BATCH, OP(SYNC) | OP(SYNC_START) | OP(SYNC_FS), 0},
    {"control: batch, its syncfs skipped", KIND_BATCH,
     OP(COUNT_DIRTY) | OP(SYNC_FS) | OP(SYNC_START), 0},
    {"control: batch, no directory fsync", KIND_BATCH, OP(SYNC_DIR), 0},
    {"control: batch, SAFEFS_NOSYNC", KIND_BATCH, 0, SAFEFS_NOSYNC},
};

static int is_control(const struct mode *m) {
  return (m->drop & ~OP(COUNT_DIRTY)) != 0 || (m->flags & SAFEFS_NOSYNC) != 0;
}

/* A read_version result in words, for the reports. */
static const char *describe(long v, char *buf, size_t cap) {
  if (v < 0)
    return v == -2 ? "nothing (missing)" : "a torn/empty file";
  snprintf(buf, cap, "version %ld", v);
  return buf;
}

/* ---- trees: created whole (built under another name, then renamed), then
 * removed by safefs_remove_tree. Tree k holds TREE_FILES files with
 * tu_version_make(k, i) in two levels. Reports: 2k created, 2k+1 removed. */
#define TREE_FILES 12

static char g_tree[600];

static void tree_file(char *out, size_t cap, const char *root, unsigned i) {
  snprintf(out, cap, "%s/%s/f%u", root, i % 2 ? "sub" : ".", i);
}

static int fsync_path(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY), rc;
  if (fd < 0)
    return -1;
  rc = fsync(fd);
  close(fd);
  return rc;
}

/* Build tree k durably under a temporary name, then rename it into place
 * and make that durable: creation is all or nothing, so any partial tree
 * seen at the real name after a crash can only come from the removal. */
static int create_tree(unsigned k) {
  static char buf[TU_VERSION_MAX];
  char build[700], sub[720], path[760];
  unsigned i;
  snprintf(build, sizeof build, "%s/build-%u", g_mnt, k);
  snprintf(sub, sizeof sub, "%s/sub", build);
  if (mkdir(build, 0755) != 0 || mkdir(sub, 0755) != 0)
    return -1;
  for (i = 0; i < TREE_FILES; i++) {
    tree_file(path, sizeof path, build, i);
    if (safefs_write_file(path, buf, tu_version_make(buf, sizeof buf, k, i), 0) != 0)
      return -1;
  }
  if (fsync_path(build) != 0 || rename(build, g_tree) != 0 || fsync_path(g_mnt) != 0)
    return -1;
  return 0;
}

/* -1: no tree; k: tree k whole; -2: a partial or mixed tree. */
static long tree_state(void) {
  char path[760];
  unsigned i;
  long k = -1;
  if (!tu_exists(g_tree))
    return -1;
  for (i = 0; i < TREE_FILES; i++) {
    long v;
    tree_file(path, sizeof path, g_tree, i);
    v = read_version(path, i);
    if (v < 0 || (i > 0 && v != k))
      return -2;
    k = v;
  }
  snprintf(path, sizeof path, "%s/sub", g_tree);
  if (tu_count_entries(g_tree) != TREE_FILES / 2 + 1 || tu_count_entries(path) != TREE_FILES / 2)
    return -2;
  return k;
}

static void tree_process(unsigned first, int report_fd) {
  unsigned k, r;
  for (k = first;; k++) {
    if (create_tree(k) != 0)
      _exit(0);
    r = 2 * k;
    if (write(report_fd, &r, sizeof r) != (ssize_t)sizeof r)
      _exit(0);
    if (safefs_remove_tree(g_tree, 0) != 0)
      _exit(0);
    r = 2 * k + 1;
    if (write(report_fd, &r, sizeof r) != (ssize_t)sizeof r)
      _exit(0);
  }
}

/* ---- batches: batch k replaces BATCH_FIXED files d<i % 2>/f<i> and
 * creates BATCH_FILES - BATCH_FIXED new ones d<i % 2>/n<k>.<i>, each
 * holding tu_version_make(k, i), added in the order of i (the two
 * directories taken in turn). Reports: k committed. */
#define BATCH_FILES 16
#define BATCH_FIXED 14

/* Each replaced file's batch at the last check (or the fresh filesystem). */
static unsigned g_floor[BATCH_FIXED];

static void batch_dir(char *out, size_t cap, unsigned d) {
  snprintf(out, cap, "%s/d%u", g_mnt, d);
}

static void batch_path(char *out, size_t cap, unsigned i, unsigned k) {
  char dir[sizeof g_mnt + 16];
  batch_dir(dir, sizeof dir, i % 2);
  if (i < BATCH_FIXED)
    snprintf(out, cap, "%s/f%u", dir, i);
  else
    snprintf(out, cap, "%s/n%u.%u", dir, k, i);
}

static int commit_batch(unsigned k, unsigned flags) {
  static char buf[TU_VERSION_MAX];
  char path[sizeof g_mnt + 48];
  safefs_batch *b;
  unsigned i;
  if (safefs_batch_begin(&b, flags) != 0)
    return -1;
  for (i = 0; i < BATCH_FILES; i++) {
    batch_path(path, sizeof path, i, k);
    if (safefs_batch_add(b, path, buf, tu_version_make(buf, sizeof buf, k, i)) != 0) {
      safefs_batch_abort(b);
      return -1;
    }
  }
  return safefs_batch_commit(b);
}

/* Remove the new files and safefs's leftovers from both directories, so
 * that the next trial starts with the replaced files alone. */
static void batch_cleanup(void) {
  char dir[sizeof g_mnt + 16];
  unsigned d;
  for (d = 0; d < 2; d++) {
    batch_dir(dir, sizeof dir, d);
    tu_remove_own_names(dir);
    sh("rm -f %s/n*%s", dir, "");
  }
}

/* Drop the ops in the mask *ctx: a sync is skipped (it "succeeds"); the
 * writeback hint, which the seam can only refuse, is refused, and a
 * refused hint is as good as none (its failure changes nothing). A
 * "dropped" COUNT_DIRTY reports nothing dirty, so that the batch flushes
 * the filesystem whole (one syncfs) whatever else the machine writes. */
static long skip_hook(void *ctx, const struct safefs__call *call) {
  unsigned drop = *(const unsigned *)ctx;
  if (!((drop >> call->op) & 1u))
    return 0;
  return call->op == SAFEFS__OP_SYNC_START ? EIO : SAFEFS__SEAM_SKIP;
}

static void writer_process(const struct mode *m, unsigned first, int report_fd) {
  static char buf[TU_VERSION_MAX];
  unsigned seq;
  if (m->drop != 0)
    safefs__seam_set(skip_hook, (void *)&m->drop);
  if (m->kind == KIND_TREE)
    tree_process(first, report_fd);
  for (seq = first;; seq++) {
    size_t n = tu_version_make(buf, sizeof buf, seq, 0);
    int rc;
    if (m->kind == KIND_BATCH) {
      rc = commit_batch(seq, m->flags);
    } else if (m->kind == KIND_WRITER) {
      safefs_writer *w;
      rc = safefs_writer_open(&w, g_target, m->flags);
      if (rc == 0) {
        size_t third = n / 3;
        if ((rc = safefs_writer_write(w, buf, third)) == 0 &&
            (rc = safefs_writer_write(w, buf + third, n - third)) == 0)
          rc = safefs_writer_commit(w);
        else
          safefs_writer_abort(w);
      }
    } else {
      rc = safefs_write_file(g_target, buf, n, m->flags);
    }
    if (rc != 0)
      _exit(0); /* the filesystem is down */
    if (write(report_fd, &seq, sizeof seq) != (ssize_t)sizeof seq)
      _exit(0);
  }
}

/* ---- the checks after the power loss -------------------------------------
 * Each gets the last report (`last`) and the newest version before the
 * trial (*base), prints what it finds wrong, sets *base to the newest
 * version seen and returns 1 if it found a violation, else 0. */

static int check_tree(const struct mode *m, unsigned *base, unsigned last) {
  long t = tree_state();
  unsigned k = last / 2;
  int ok;
  /* after "created k": tree k, or nothing (its removal in flight);
   * after "removed k": nothing, or tree k+1 (its creation in flight) */
  if (last % 2 == 0)
    ok = t == (long)k || t == -1;
  else
    ok = t == -1 || t == (long)k + 1;
  sh("cd %s && rm -rf tree build-* .tree.safefs-*%s", g_mnt, "");
  *base = (t > (long)k ? (unsigned)t : k) + 1;
  if (!ok)
    printf("    %-28s trial: last report %s %u, found %s %ld\n", m->name,
           last % 2 ? "removed" : "created", k, t == -2 ? "a partial tree" : "tree", t);
  return !ok;
}

/* The target: one whole version, `last` or the one in flight after it. */
static int check_target(const struct mode *m, unsigned *base, unsigned last) {
  long got = read_version(g_target, 0);
  char what[32];
  if (got < 0 || (unsigned)got < last || (unsigned)got > last + 1) {
    printf("    %-28s trial: last reported %u, found %s\n", m->name, last,
           describe(got, what, sizeof what));
    *base = got >= 0 && (unsigned)got > last ? (unsigned)got : last + (got < 0);
    return 1;
  }
  *base = (unsigned)got;
  return 0;
}

/* The batches: each replaced file one whole version, of batch `last` or
 * the one in flight after it (if no batch was reported, not older than at
 * the last check); the new files of every batch reported whole, those of
 * the batch in flight whole or missing, and no other file. The files of
 * the batch in flight may be any mix of old and new. */
static int check_batch(const struct mode *m, unsigned *base, unsigned last) {
  char path[sizeof g_mnt + 48], what[2][80], scratch[32];
  unsigned i, k, newest = last, found[2] = {0, 0}, wrong[2] = {0, 0}, ahead = 0;
  int stray = 0;
  long v;
  for (i = 0; i < BATCH_FIXED; i++) {
    unsigned lo = last > *base ? last : g_floor[i];
    batch_path(path, sizeof path, i, 0);
    v = read_version(path, i);
    if ((v < (long)lo || v > (long)last + 1) && wrong[0]++ == 0)
      snprintf(what[0], sizeof what[0], "f%u holds %s", i, describe(v, scratch, sizeof scratch));
    ahead += v == (long)last + 1;
    if (v >= 0) {
      g_floor[i] = (unsigned)v;
      newest = (unsigned)v > newest ? (unsigned)v : newest;
    }
  }
  for (k = *base + 1; k <= last + 1; k++)
    for (i = BATCH_FIXED; i < BATCH_FILES; i++) {
      batch_path(path, sizeof path, i, k);
      v = read_version(path, i);
      found[i % 2] += v != -2;
      ahead += k == last + 1 && v == (long)k;
      if (v == (long)k)
        newest = k > newest ? k : newest;
      else if ((v != -2 || k <= last) && wrong[1]++ == 0)
        snprintf(what[1], sizeof what[1], "n%u.%u holds %s", k, i,
                 describe(v, scratch, sizeof scratch));
    }
  for (i = 0; i < 2; i++) {
    batch_dir(path, sizeof path, i);
    stray |= tu_count_entries(path) - tu_count_own_names(path) != (int)(BATCH_FIXED / 2 + found[i]);
  }
  batch_cleanup();
  *base = newest;
  if (wrong[0] + wrong[1] == 0 && !stray) {
    if (ahead > 0 && ahead < BATCH_FILES) /* allowed: worth seeing that it happens */
      printf("    %-28s trial: batch %u in flight found in part: %u of %u files new\n", m->name,
             last + 1, ahead, BATCH_FILES);
    return 0;
  }
  printf("    %-28s trial: last reported %u: %u of %u replaced files wrong%s%s%s, %u new files "
         "wrong%s%s%s%s\n",
         m->name, last, wrong[0], BATCH_FIXED, wrong[0] ? " (" : "", wrong[0] ? what[0] : "",
         wrong[0] ? ")" : "", wrong[1], wrong[1] ? " (" : "", wrong[1] ? what[1] : "",
         wrong[1] ? ")" : "", stray ? ", unexpected entries" : "");
  return 1;
}

/* What the crashed writer left at the top besides the target and the
 * batches' two directories: only safefs's names, removed here. 1 if there
 * is anything else. */
static int check_leftovers(void) {
  char lost[sizeof g_mnt + 16];
  snprintf(lost, sizeof lost, "%s/lost+found", g_mnt); /* ext4 has one, XFS not */
  if (tu_count_entries(g_mnt) - tu_count_own_names(g_mnt) != 3 + tu_exists(lost)) {
    printf("    unexpected entries after the crash\n");
    return 1;
  }
  tu_remove_own_names(g_mnt);
  return 0;
}

/* ---- one trial --------------------------------------------------------------- */

/* Returns 1 if the trial saw a violation, 0 if not, -1 on setup failure. */
static int trial(const struct mode *m, unsigned *base, unsigned rnd) {
  int fds[2], status, fd, bad;
  pid_t pid;
  unsigned seq, last = *base, reports = 0, want;
  uint32_t how = GOING_DOWN_NOLOGFLUSH;

  if (m->kind == KIND_TREE)
    last = 2 * *base + 1; /* as if tree *base had just been removed */
  if (mount_fs() != 0)
    return -1;
  if (pipe(fds) != 0)
    return -1;
  pid = fork();
  if (pid == 0) {
    close(fds[0]);
    writer_process(m, *base + 1, fds[1]);
  }
  close(fds[1]);

  /* Half the trials cut the power right after a report (the moment a
   * missing directory fsync is exposed), half at a random time. */
  want = 3 + rnd % 40;
  if (rnd & 1) {
    while (reports < want && read(fds[0], &seq, sizeof seq) == (ssize_t)sizeof seq) {
      last = seq;
      reports++;
    }
  } else {
    struct pollfd p;
    long long until;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    until = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 20 + rnd % 300;
    p.fd = fds[0];
    p.events = POLLIN;
    for (;;) {
      long long now;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
      if (now >= until || poll(&p, 1, (int)(until - now)) <= 0)
        break;
      if (read(fds[0], &seq, sizeof seq) != (ssize_t)sizeof seq)
        break;
      last = seq;
      reports++;
    }
  }
  /* Stop the writer before the power goes, and count what it reported up
   * to then: in a real power loss nothing runs afterwards, and a call that
   * returns after the shutdown must not count as durable (XFS answers a
   * directory fsync with success once the shutdown has unpinned the
   * directory's log item: measured, 1-2 "violations" in 20 trials until
   * this stop). A stop takes effect when the current system call returns,
   * so a report not yet written stays unwritten: that version counts as
   * in flight. */
  kill(pid, SIGSTOP);
  waitpid(pid, &status, WUNTRACED);
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  while (read(fds[0], &seq, sizeof seq) == (ssize_t)sizeof seq)
    last = seq;
  fd = open(g_mnt, O_RDONLY | O_DIRECTORY);
  if (fd < 0 || ioctl(fd, SHUTDOWN_IOCTL, &how) != 0) {
    perror("EXT4_IOC_SHUTDOWN / XFS_IOC_GOINGDOWN");
    kill(pid, SIGKILL);
    return -1;
  }
  close(fd);
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  close(fds[0]);
  if (umount_fs() != 0 || mount_fs() != 0)
    return -1;

  if (m->kind == KIND_TREE)
    bad = check_tree(m, base, last);
  else if ((bad = check_leftovers()) == 0)
    bad = (m->kind == KIND_BATCH ? check_batch : check_target)(m, base, last);
  umount_fs();
  return bad;
}

/* Start each mode from a freshly made filesystem holding version 0 of
 * the target and batch 0's replaced files. */
static int fresh_fs(void) {
  static char buf[TU_VERSION_MAX];
  size_t n = tu_version_make(buf, sizeof buf, 0, 0);
  int rc;
  unsigned d;
  char fmt[128], dir[sizeof g_mnt + 16];
  snprintf(fmt, sizeof fmt, "%s %%s >/dev/null 2>&1%%s", g_fs->mkfs);
  if (sh(fmt, g_img, "") != 0 || mount_fs() != 0)
    return -1;
  rc = safefs_write_file(g_target, buf, n, 0);
  for (d = 0; d < 2 && rc == 0; d++) {
    batch_dir(dir, sizeof dir, d);
    rc = mkdir(dir, 0755);
  }
  if (rc == 0 && (rc = commit_batch(0, 0)) == 0)
    batch_cleanup();
  memset(g_floor, 0, sizeof g_floor);
  umount_fs();
  return rc == 0 ? 0 : -1;
}

static int report_skip(const char *why) {
  printf("SKIPPED: power-loss test not run: %s\n", why);
  return SKIP_CODE;
}

/* Every mode's trials on the filesystem g_fs, counted into *passes and
 * *failures. */
static void run_modes(int trials, unsigned *rnd_state, int *passes, int *failures) {
  size_t i;
  for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    const struct mode *m = &modes[i];
    int t, violations = 0, control = is_control(m);
    unsigned base = 0;
    if (fresh_fs() != 0) {
      printf("  %s %s: setup failed\n", g_fs->name, m->name);
      (*failures)++;
      continue;
    }
    for (t = 0; t < trials; t++) {
      int r;
      *rnd_state = *rnd_state * 1103515245u + 12345u;
      r = trial(m, &base, *rnd_state >> 8);
      if (r < 0) {
        printf("  %s %s: trial %d could not run\n", g_fs->name, m->name, t);
        (*failures)++;
        break;
      }
      violations += r;
    }
    printf("  %-4s %-30s %d trials, %d violations -> %s\n", g_fs->name, m->name, trials,
           violations,
           control ? (violations > 0 ? "caught (control works)" : "NOT CAUGHT")
                   : (violations == 0 ? "ok" : "BROKEN"));
    if (control ? violations == 0 : violations != 0)
      (*failures)++;
    else
      (*passes)++;
  }
}

/* The mkfs program of g_fs is installed. */
static int have_mkfs(void) {
  char probe[96];
  snprintf(probe, sizeof probe, "command -v %.*s >/dev/null 2>&1",
           (int)strcspn(g_fs->mkfs, " "), g_fs->mkfs);
  return system(probe) == 0;
}

int main(void) {
  const char *env = getenv("SAFEFS_POWERLOSS_TRIALS");
  const char *which = getenv("SAFEFS_POWERLOSS_FS");
  int trials = env ? atoi(env) : 20, failures = 0, passes = 0;
  size_t k;
  char dir[] = "/tmp/safefs-powerloss-XXXXXX";
  unsigned rnd_state = (unsigned)time(NULL) ^ (unsigned)getpid();

  if (trials < 2)
    trials = 2;
  if (which == NULL || which[0] == '\0')
    which = "ext4 xfs";
  if (geteuid() != 0)
    return report_skip("needs root (loop mount, EXT4_IOC_SHUTDOWN)");
  if (!have_mkfs())
    return report_skip("mkfs.ext4 not installed (e2fsprogs)");
  if (mkdtemp(dir) == NULL)
    return report_skip("no temp dir");
  snprintf(g_img, sizeof g_img, "%s/fs.img", dir);
  snprintf(g_mnt, sizeof g_mnt, "%s/mnt", dir);
  snprintf(g_target, sizeof g_target, "%s/target.dat", g_mnt);
  snprintf(g_tree, sizeof g_tree, "%s/tree", g_mnt);
  if (mkdir(g_mnt, 0755) != 0 || sh("truncate -s %s %s", g_fs->image_size, g_img) != 0)
    return report_skip("cannot create the image");
  if (fresh_fs() != 0) {
    sh("rm -rf %s%s", dir, "");
    return report_skip("cannot mkfs + loop-mount ext4 here (no loop devices in this container?)");
  }
  printf("power loss: %d trials per mode, seed %u\n", trials, rnd_state);

  for (k = 0; k < sizeof fs_kinds / sizeof fs_kinds[0]; k++) {
    g_fs = &fs_kinds[k];
    if (strstr(which, g_fs->name) == NULL)
      continue;
    if (!have_mkfs() || sh("truncate -s %s %s", g_fs->image_size, g_img) != 0) {
      printf("  %s: NOT RUN (%.*s missing, or no image)\n", g_fs->name,
             (int)strcspn(g_fs->mkfs, " "), g_fs->mkfs);
      failures++;
      continue;
    }
    run_modes(trials, &rnd_state, &passes, &failures);
  }
  sh("umount %s 2>/dev/null; rm -rf %s", g_mnt, dir);
  printf("%d passed, %d failed\n", passes, failures);
  return failures != 0;
}
#endif
