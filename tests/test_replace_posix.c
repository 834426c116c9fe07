/*
 * Atomic replace, POSIX only: who may replace what, and with which mode.
 *   - SAFEFS_PRIVATE: a new file is 0600 (less the umask), never wider;
 *     an existing target keeps its mode (write, writer, batch).
 *   - A target the caller may not write is refused (SAFEFS_EACCES), as on
 *     Windows, although the rename would replace it; root still may.
 *   - On filesystems that keep no owners or modes, chown and chmod fail
 *     (EINVAL, ENOSYS, EPERM, ENOTSUP): for a caller that is not root the
 *     file is written all the same; for root it is a failure.
 * The unprivileged cases run in a helper process that becomes nobody.
 *   - Linux: where the nameless temp cannot be named (linkat refused:
 *     no /proc, no AT_EMPTY_PATH, a sandbox), its content goes into a
 *     named temp and the write succeeds; the process makes named temps
 *     from then on (in a helper process, since that lasts for the
 *     process). A disk error from the same linkat is a failure (control).
 *   - A target in a set-group-ID directory keeps its group (the temp's own
 *     owner decides the chown, not the caller's IDs).
 */
#include "testutil.h"
#include "testutil_proc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__linux__)
#include <fcntl.h>
#include <sys/xattr.h>
#endif

#define NOBODY 65534

static mode_t mode_of(const char *p) {
  struct stat st;
  assert_int_equal(stat(p, &st), 0);
  return st.st_mode & 07777;
}

static void private_files(void **state) {
  const char *dir = (const char *)*state;
  const char *p = tu_path(dir, "token");
  const char *q = tu_path(dir, "streamed-key");
  const char *plain = tu_path(dir, "plain");
  mode_t old = umask(022);
  safefs_writer *w;
  assert_int_equal(safefs_write_file(p, "secret", 6, SAFEFS_PRIVATE), 0);
  assert_int_equal(mode_of(p), 0600);
  assert_int_equal(safefs_writer_open(&w, q, SAFEFS_PRIVATE | SAFEFS_NOREPLACE), 0);
  assert_int_equal(safefs_writer_write(w, "k", 1), 0);
  assert_int_equal(safefs_writer_commit(w), 0);
  assert_int_equal(mode_of(q), 0600);
  /* negative control: without the flag the same umask gives 0644 */
  assert_int_equal(safefs_write_file(plain, "x", 1, 0), 0);
  assert_int_equal(mode_of(plain), 0644);
  /* an existing target keeps its permissions */
  assert_int_equal(safefs_write_file(plain, "y", 1, SAFEFS_PRIVATE), 0);
  assert_int_equal(mode_of(plain), 0644);
  /* a batch: new files 0600, the existing one as it was; without the
     flag a new file of the same batch shape is 0644 */
  {
    const char *r = tu_path(dir, "batch-key");
    const char *c = tu_path(dir, "batch-plain");
    safefs_batch *b;
    assert_int_equal(safefs_batch_begin(&b, SAFEFS_PRIVATE), 0);
    assert_int_equal(safefs_batch_add(b, r, "k", 1), 0);
    assert_int_equal(safefs_batch_add(b, plain, "z", 1), 0);
    assert_int_equal(safefs_batch_commit(b), 0);
    assert_int_equal(mode_of(r), 0600);
    assert_int_equal(mode_of(plain), 0644);
    assert_int_equal(safefs_batch_begin(&b, 0), 0);
    assert_int_equal(safefs_batch_add(b, c, "c", 1), 0);
    assert_int_equal(safefs_batch_commit(b), 0);
    assert_int_equal(mode_of(c), 0644);
  }
  umask(old);
}

/* Run `mode` as nobody in a home of nobody's inside the scratch dir. */
static void as_nobody(const char *dir, const char *mode) {
  const char *home = tu_path(dir, "home");
  tu_mkdir(home);
  assert_int_equal(chown(home, NOBODY, NOBODY), 0);
  assert_int_equal(chmod(dir, 0711), 0);
  assert_int_equal(tu_proc_wait(tu_proc_start(mode, home, (char *)NULL), 60000), 0);
  chmod(dir, 0700);
}

/* Child (nobody): a 0400 file of its own is refused, unchanged; a 0600 one
 * is replaced (the control that the refusal is about the mode). */
static int child_read_only_target(const char *home) {
  char *ro = tu_join(home, "ro.txt"), *rw = tu_join(home, "rw.txt");
  int rc = 0;
  if (setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
    return 90;
  tu_write_raw(ro, "old", 3);
  tu_write_raw(rw, "old", 3);
  if (chmod(ro, 0400) != 0 || chmod(rw, 0600) != 0)
    rc = 91;
  else if (safefs_write_file(ro, "new", 3, 0) != SAFEFS_EACCES || !tu_file_is(ro, "old"))
    rc = 92;
  else if (strstr(safefs_last_error_message(), "not writable") == NULL)
    rc = 93;
  else if (tu_count_own_names(home) != 0)
    rc = 94;
  else if (safefs_write_file(rw, "new", 3, 0) != 0 || !tu_file_is(rw, "new"))
    rc = 95;
  free(ro);
  free(rw);
  return rc;
}

static void read_only_target_is_refused(void **state) {
  const char *dir = (const char *)*state;
  const char *p = tu_path(dir, "ro.txt");
  if (geteuid() != 0)
    skip(); /* it needs to become nobody and to be root for the control */
  as_nobody(dir, "read-only-target");
  /* root may write anything, and so replaces it, as Windows would not */
  tu_write_raw(p, "old", 3);
  assert_int_equal(chmod(p, 0400), 0);
  assert_int_equal(safefs_write_file(p, "new", 3, 0), 0);
  assert_true(tu_file_is(p, "new"));
  assert_int_equal(mode_of(p), 0400);
}

/* Child (nobody): chmod and chown refused the way FAT, exFAT and some FUSE
 * mounts refuse them: the file is written anyway. The umask (077) makes
 * the temp narrower than the target (0644), so its mode must be set. */
static int child_cannot_keep_modes(const char *home) {
  static const long errs[] = {EINVAL, ENOSYS, EPERM, ENOTSUP};
  char *p = tu_join(home, "on-fat.txt");
  size_t i;
  int rc = 0;
  if (setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
    return 90;
  umask(077);
  tu_write_raw(p, "old", 3);
  if (chmod(p, 0644) != 0)
    rc = 99;
  for (i = 0; i < sizeof errs / sizeof errs[0] && rc == 0; i++) {
    tu_faults_reset();
    tu_fault_add(SAFEFS__OP_SET_MODE, 1, errs[i], 2);
    if (safefs_write_file(p, "new", 3, 0) != 0 || !tu_file_is(p, "new"))
      rc = 100 + (int)i;
    tu_faults_off();
    tu_write_raw(p, "old", 3);
  }
  free(p);
  return rc;
}

static void filesystems_without_modes(void **state) {
  const char *dir = (const char *)*state;
  const char *p = tu_path(dir, "f.txt");
  mode_t old_mask;
  if (geteuid() != 0)
    skip(); /* the root half below is the control; run as root */
  as_nobody(dir, "cannot-keep-modes");
  /* negative control: for root the same refusal is a real failure */
  tu_write_raw(p, "old", 3);
  assert_int_equal(chmod(p, 0644), 0);
  old_mask = umask(077); /* the temp narrower than the target: its mode is set */
  tu_faults_reset();
  tu_fault_add(SAFEFS__OP_SET_MODE, 1, EINVAL, 2);
  assert_int_equal(safefs_write_file(p, "new", 3, 0), SAFEFS_EINVAL);
  tu_faults_off();
  umask(old_mask);
  assert_true(tu_file_is(p, "old"));
  assert_int_equal(tu_count_own_names(dir), 0);
}

/* Child: the first LINK_TEMP fails with ENOENT, as without /proc; the
 * write (NOREPLACE if asked) still succeeds through a named copy, leaves
 * nothing, and the next write makes a named temp at once. Returns 0 or
 * the number of the check that failed. */
static int child_naming_refused(const char *dir, const char *how) {
  char *p = tu_join(dir, "refused.txt");
  unsigned flags = strcmp(how, "noreplace") == 0 ? SAFEFS_NOREPLACE : 0;
  int rc = 0;
  if (flags == 0)
    tu_write_raw(p, "old", 3);
  tu_faults_reset();
  tu_fault_add(SAFEFS__OP_LINK_TEMP, 1, ENOENT, 1);
  if (safefs_write_file(p, "new", 3, flags) != 0)
    rc = 80;
  else if (!tu_file_is(p, "new") || tu_count_own_names(dir) != 0)
    rc = 81;
  else if (tu_calls(SAFEFS__OP_CREATE_ANON) != 1 || tu_calls(SAFEFS__OP_LINK_TEMP) != 1 ||
           tu_calls(SAFEFS__OP_CREATE_TEMP) != 1 || tu_calls(SAFEFS__OP_RENAME) != 1 ||
           tu_calls(SAFEFS__OP_SYNC) != 2) /* each temp synced before the rename */
    rc = 82;
  tu_faults_reset();
  if (rc == 0 && (safefs_write_file(p, "newer", 5, 0) != 0 || !tu_file_is(p, "newer")))
    rc = 83;
  else if (rc == 0 && (tu_calls(SAFEFS__OP_CREATE_ANON) != 0 || tu_calls(SAFEFS__OP_CREATE_TEMP) != 1))
    rc = 84; /* named from the start */
  tu_faults_off();
  free(p);
  return rc;
}

static void unnameable_temp_is_copied(void **state) {
  const char *dir = (const char *)*state;
  const char *p = tu_path(dir, "control.txt");
#if !defined(__linux__)
  (void)dir;
  (void)p;
  skip(); /* nameless temps are Linux's */
#else
  const char *sub = tu_path(dir, "noreplace");
  tu_mkdir(sub);
  assert_int_equal(tu_proc_wait(tu_proc_start("naming-refused", dir, "replace", (char *)NULL), 60000), 0);
  assert_int_equal(tu_proc_wait(tu_proc_start("naming-refused", sub, "noreplace", (char *)NULL), 60000), 0);
  /* control: a disk error from the same linkat fails the write, with the
     target old and nothing left, and no named copy is tried */
  tu_write_raw(p, "old", 3);
  tu_faults_reset();
  tu_fault_add(SAFEFS__OP_LINK_TEMP, 1, ENOSPC, 1);
  assert_int_equal(safefs_write_file(p, "new", 3, 0), SAFEFS_ENOSPC);
  assert_int_equal(tu_calls(SAFEFS__OP_CREATE_TEMP), 0);
  tu_faults_off();
  assert_true(tu_file_is(p, "old"));
  assert_int_equal(tu_count_own_names(dir), 0);
#endif
}

/* A target in a set-group-ID directory keeps its own group, also when it
 * is the caller's: the kernel gives the temp the directory's group, so
 * whether to chown is asked of the temp, not of the caller's IDs (root:
 * the test sets the groups). The control: a new file there does get the
 * directory's group, so without the chown the target would have too. */
static void group_kept_in_set_group_id_directory(void **state) {
  const char *dir = (const char *)*state;
  const char *sg = tu_path(dir, "sg"), *p = tu_path(dir, "sg/kept"), *n = tu_path(dir, "sg/new");
  struct stat st;
  if (geteuid() != 0) {
    print_message("  skipped: needs root to give the directory another group\n");
    skip();
  }
  tu_mkdir(sg);
  assert_int_equal(chown(sg, 0, NOBODY), 0);
  assert_int_equal(chmod(sg, 02775), 0);
  tu_write_raw(p, "old", 3);
  assert_int_equal(chown(p, 0, getegid()), 0); /* the caller's own group */
  assert_int_equal(chmod(p, 0640), 0);
  assert_int_equal(safefs_write_file(p, "new", 3, 0), 0);
  assert_int_equal(stat(p, &st), 0);
  assert_true(tu_file_is(p, "new"));
  assert_int_equal(st.st_gid, getegid());
  assert_int_equal(st.st_mode & 07777, 0640);
  assert_int_equal(safefs_write_file(n, "new", 3, 0), 0);
  assert_int_equal(stat(n, &st), 0);
  assert_int_equal(st.st_gid, NOBODY);
}

/* A new file gets what any program's new file gets, also where the
 * directory has a default ACL, which replaces the umask (Linux: the
 * kernel applies one or the other when the temp is created). The
 * directory's default ACL gives group and others write and read; with
 * umask 077 a file made by open() is then 0664, not 0600. The control is
 * that plain open(): were the umask applied by hand, as safefs did before,
 * the file would be 0600. Skipped where the filesystem keeps no ACLs. */
static void default_acl_decides_a_new_files_mode(void **state) {
#if defined(__linux__)
  /* system.posix_acl_default: version 2, then {tag, perm, id} per entry,
     little-endian: user::rw-, group::rw-, other::r-- */
  static const unsigned char acl[] = {2, 0, 0, 0,  1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,
                                      4, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,
                                      0x20, 0, 4, 0, 0xff, 0xff, 0xff, 0xff};
  const char *dir = (const char *)*state;
  const char *d = tu_path(dir, "acl"), *plain = tu_path(dir, "acl/plain");
  const char *made = tu_path(dir, "acl/made"), *named = tu_path(dir, "acl/named");
  mode_t old;
  int fd;
  tu_mkdir(d);
  if (setxattr(d, "system.posix_acl_default", acl, sizeof acl, 0) != 0) {
    print_message("  skipped: no POSIX ACLs here (%s)\n", strerror(errno));
    skip();
  }
  old = umask(077);
  fd = open(plain, O_WRONLY | O_CREAT | O_EXCL, 0666);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(mode_of(plain), 0664); /* the ACL, not the umask */
  assert_int_equal(safefs_write_file(made, "new", 3, 0), 0);
  assert_int_equal(mode_of(made), mode_of(plain));
  /* a named temp (no O_TMPFILE) too */
  tu_faults_reset();
  tu_fault_add(SAFEFS__OP_CREATE_ANON, 1, EOPNOTSUPP, 1);
  assert_int_equal(safefs_write_file(named, "new", 3, 0), 0);
  assert_int_equal(tu_calls(SAFEFS__OP_CREATE_TEMP), 1);
  tu_faults_off();
  assert_int_equal(mode_of(named), mode_of(plain));
  umask(old);
#else
  (void)state;
  skip(); /* the default ACLs of other systems are not tried */
#endif
}

static int run_helper(const char *mode, int argc, char **argv) {
  if (argc == 2 && strcmp(mode, "naming-refused") == 0)
    return child_naming_refused(argv[0], argv[1]);
  if (argc == 1 && strcmp(mode, "read-only-target") == 0)
    return child_read_only_target(argv[0]);
  if (argc == 1 && strcmp(mode, "cannot-keep-modes") == 0)
    return child_cannot_keep_modes(argv[0]);
  return 2;
}

static const struct CMUnitTest tests[] = {
    TU_TEST(private_files),
    TU_TEST(read_only_target_is_refused),
    TU_TEST(filesystems_without_modes),
    TU_TEST(unnameable_temp_is_copied),
    TU_TEST(group_kept_in_set_group_id_directory),
    TU_TEST(default_acl_decides_a_new_files_mode),
};
TU_SUITE("replace_posix", tests, run_helper);
