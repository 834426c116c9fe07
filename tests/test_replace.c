/*
 * Atomic replace: safefs_write_file, safefs_read_file and the streaming
 * writer, on real files in a fresh directory per test. Every documented
 * status, the modes and links that must be kept, and what is left on disk.
 * Status names and versions are in test_status.c, safefs's own temp and
 * backup names in test_names.c.
 */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifndef _WIN32
#include <sys/stat.h>
#include <unistd.h>
#endif

static void write_creates_new_file(void **state) {
  const char *p = tu_path((char *)*state, "new.txt");
  assert_int_equal(safefs_write_file(p, "hello", 5, 0), 0);
  assert_true(tu_file_is(p, "hello"));
  assert_int_equal(tu_count_entries((char *)*state), 1);
}

static void write_replaces_existing(void **state) {
  const char *p = tu_path((char *)*state, "a.txt");
  tu_write_raw(p, "old content", 11);
  assert_int_equal(safefs_write_file(p, "new", 3, 0), 0);
  assert_true(tu_file_is(p, "new"));
  assert_int_equal(safefs_write_file(p, "newer and longer", 16, SAFEFS_NOSYNC), 0);
  assert_true(tu_file_is(p, "newer and longer"));
  assert_int_equal(tu_count_entries((char *)*state), 1);
}

static void write_empty_and_zero_length(void **state) {
  const char *p = tu_path((char *)*state, "empty");
  safefs_writer *w;
  tu_write_raw(p, "x", 1);
  assert_int_equal(safefs_write_file(p, NULL, 0, 0), 0);
  assert_true(tu_file_is(p, ""));
  assert_int_equal(safefs_write_file(p, "abc", 3, 0), 0);
  assert_int_equal(safefs_writer_open(&w, p, 0), 0);
  assert_int_equal(safefs_writer_write(w, "", 0), 0);
  assert_int_equal(safefs_writer_write(w, NULL, 0), 0);
  assert_int_equal(safefs_writer_commit(w), 0);
  assert_true(tu_file_is(p, ""));
}

static void bad_arguments(void **state) {
  const char *p = tu_path((char *)*state, "f");
  safefs_writer *w = (safefs_writer *)p; /* must be overwritten with NULL */
  void *data;
  size_t size;
  tu_write_raw(p, "keep", 4);
  assert_int_equal(safefs_write_file(NULL, "x", 1, 0), SAFEFS_EINVAL);
  assert_int_equal(safefs_write_file("", "x", 1, 0), SAFEFS_EINVAL);
  assert_int_equal(safefs_write_file(p, NULL, 1, 0), SAFEFS_EINVAL);
  assert_int_equal(safefs_write_file(p, "x", 1, 1u << 7), SAFEFS_EINVAL);
  assert_int_equal(safefs_last_os_error(), 0);
  assert_int_equal(safefs_writer_open(&w, p, 1u << 9), SAFEFS_EINVAL);
  assert_null(w);
  assert_int_equal(safefs_writer_open(NULL, p, 0), SAFEFS_EINVAL);
  assert_int_equal(safefs_writer_open(&w, NULL, 0), SAFEFS_EINVAL);
  assert_int_equal(safefs_writer_write(NULL, "x", 1), SAFEFS_EINVAL);
  assert_int_equal(safefs_writer_commit(NULL), SAFEFS_EINVAL);
  safefs_writer_abort(NULL);
  assert_int_equal(safefs_read_file(NULL, &data, &size), SAFEFS_EINVAL);
  assert_int_equal(safefs_read_file(p, NULL, &size), SAFEFS_EINVAL);
  assert_int_equal(safefs_read_file("", &data, &size), SAFEFS_EINVAL);
  assert_null(data);
  assert_int_equal(size, 0);
  /* a path with no file name */
  {
    char *slash = tu_join((char *)*state, "");
    assert_int_equal(safefs_write_file(slash, "x", 1, 0), SAFEFS_EINVAL);
    free(slash);
  }
  assert_true(tu_file_is(p, "keep"));
  assert_int_equal(tu_count_entries((char *)*state), 1);
}

static void missing_parent_and_directory_target(void **state) {
  const char *missing = tu_path((char *)*state, "nope/file");
  const char *dir = tu_path((char *)*state, "sub");
  const char *file = tu_path((char *)*state, "plain");
  const char *under_file = tu_path(file, "child");
  safefs_writer *w;
  assert_int_equal(safefs_write_file(missing, "x", 1, 0), SAFEFS_ENOENT);
  assert_true(safefs_last_os_error() != 0);
  assert_int_equal(safefs_writer_open(&w, missing, 0), SAFEFS_ENOENT);
  assert_null(w);
  assert_int_equal(safefs_write_file((char *)*state, "x", 1, 0), SAFEFS_EISDIR);
  assert_int_equal(safefs_write_file(dir, "x", 1, 0), 0);
  assert_int_equal(safefs_write_file(dir, "y", 1, 0), 0);
  tu_write_raw(file, "f", 1);
  assert_int_equal(safefs_write_file(under_file, "x", 1, 0), SAFEFS_ENOTDIR);
  assert_true(tu_file_is(file, "f"));
  assert_int_equal(tu_count_own_names((char *)*state), 0);
}

static void directory_target_is_eisdir(void **state) {
  const char *sub = tu_path((char *)*state, "d");
  const char *inner = tu_path(sub, "x");
  /* make a directory by writing a file into a new dir is not possible with
     safefs; use the scratch dir's child created by the OS */
  tu_mkdir(sub);
  assert_int_equal(safefs_write_file(sub, "x", 1, 0), SAFEFS_EISDIR);
  assert_int_equal(safefs_write_file(inner, "x", 1, 0), 0);
  assert_int_equal(tu_count_entries(sub), 1);
  assert_int_equal(tu_count_own_names((char *)*state), 0);
}

static void noreplace(void **state) {
  const char *p = tu_path((char *)*state, "once");
  safefs_writer *w;
  assert_int_equal(safefs_write_file(p, "first", 5, SAFEFS_NOREPLACE), 0);
  assert_int_equal(safefs_write_file(p, "second", 6, SAFEFS_NOREPLACE), SAFEFS_EEXIST);
  assert_int_equal(safefs_writer_open(&w, p, SAFEFS_NOREPLACE), SAFEFS_EEXIST);
  assert_true(tu_file_is(p, "first"));
  assert_int_equal(tu_count_entries((char *)*state), 1);
}

/* The target appears after writer_open: the atomic check at commit wins. */
static void noreplace_checked_at_commit(void **state) {
  const char *p = tu_path((char *)*state, "late");
  safefs_writer *w;
  assert_int_equal(safefs_writer_open(&w, p, SAFEFS_NOREPLACE), 0);
  assert_int_equal(safefs_writer_write(w, "mine", 4), 0);
  tu_write_raw(p, "theirs", 6);
  assert_int_equal(safefs_writer_commit(w), SAFEFS_EEXIST);
  assert_true(tu_file_is(p, "theirs"));
  assert_int_equal(tu_count_entries((char *)*state), 1);
}

static void writer_streams_and_aborts(void **state) {
  const char *p = tu_path((char *)*state, "stream");
  safefs_writer *w;
  char chunk[1000];
  int nameless;
  size_t i, total = 0;
  char *got;
  size_t n;
  tu_write_raw(p, "old", 3);
  assert_int_equal(safefs_writer_open(&w, p, 0), 0);
  for (i = 0; i < 300; i++) { /* crosses the 64 KiB buffer several times */
    memset(chunk, 'a' + (int)(i % 26), sizeof chunk);
    assert_int_equal(safefs_writer_write(w, chunk, sizeof chunk), 0);
    total += sizeof chunk;
    assert_true(tu_file_is(p, "old")); /* the target is untouched until commit */
  }
  assert_int_equal(safefs_writer_commit(w), 0);
  got = tu_read_raw(p, &n);
  assert_int_equal(n, total);
  for (i = 0; i < n; i++)
    assert_int_equal(got[i], 'a' + (int)((i / 1000) % 26));
  free(got);

  tu_faults_reset(); /* counting only: was the temp made with a name? */
  assert_int_equal(safefs_writer_open(&w, p, 0), 0);
  nameless = tu_calls(SAFEFS__OP_CREATE_TEMP) == 0;
  tu_faults_off();
  assert_int_equal(safefs_writer_write(w, "discard me", 10), 0);
  /* a nameless temp (Linux O_TMPFILE) shows no name until the commit */
  assert_int_equal(tu_count_own_names((char *)*state), nameless ? 0 : 1);
  safefs_writer_abort(w);
  assert_int_equal(tu_count_own_names((char *)*state), 0);
  assert_int_equal(tu_count_entries((char *)*state), 1);
  assert_int_equal((long)strlen("x"), 1);
}

/* A write larger than the buffer goes straight to the file. */
static void writer_large_single_write(void **state) {
  const char *p = tu_path((char *)*state, "big");
  size_t n = 1000 * 1000 + 7, got_n, i;
  char *data = (char *)malloc(n + 1), *got;
  safefs_writer *w;
  for (i = 0; i < n; i++)
    data[i] = (char)(i * 31 + 7);
  assert_int_equal(safefs_writer_open(&w, p, SAFEFS_NOSYNC), 0);
  assert_int_equal(safefs_writer_write(w, data, 10), 0);
  assert_int_equal(safefs_writer_write(w, data + 10, n - 10), 0);
  assert_int_equal(safefs_writer_commit(w), 0);
  got = tu_read_raw(p, &got_n);
  assert_int_equal(got_n, n);
  assert_memory_equal(got, data, n);
  free(got);
  free(data);
}

static void read_file_statuses(void **state) {
  const char *p = tu_path((char *)*state, "r");
  void *data = (void *)p;
  size_t size = 99;
  assert_int_equal(safefs_read_file(p, &data, &size), SAFEFS_ENOENT);
  assert_null(data);
  assert_int_equal(size, 0);
  assert_int_equal(safefs_read_file((char *)*state, &data, &size), SAFEFS_EISDIR);
  assert_null(data);
  tu_write_raw(p, "text\0with nul", 13);
  assert_int_equal(safefs_read_file(p, &data, &size), 0);
  assert_int_equal(size, 13);
  assert_memory_equal(data, "text\0with nul", 13);
  assert_int_equal(((char *)data)[13], '\0');
  safefs_free(data);
  tu_write_raw(p, "", 0);
  assert_int_equal(safefs_read_file(p, &data, &size), 0);
  assert_int_equal(size, 0);
  assert_non_null(data);
  safefs_free(data);
  safefs_free(NULL);
}

/* Names that need more than ASCII, and a name so long that the temp name
 * must shorten it. */
static void unicode_and_long_names(void **state) {
  const char *names[] = {"caf\xc3\xa9.txt", "\xe6\x97\xa5\xe6\x9c\xac.json",
                         "emoji-\xf0\x9f\x98\x80.cfg"};
  char longname[201];
  size_t i;
  for (i = 0; i < sizeof names / sizeof names[0]; i++) {
    char *p = tu_join((char *)*state, names[i]);
    void *data;
    size_t size;
    assert_int_equal(safefs_write_file(p, names[i], strlen(names[i]), 0), 0);
    assert_int_equal(safefs_read_file(p, &data, &size), 0);
    assert_string_equal((char *)data, names[i]);
    safefs_free(data);
    free(p);
  }
  /* 200 bytes: fits the filesystem, but the temp name must be shortened */
  memset(longname, 'n', 200);
  longname[200] = '\0';
  {
    char *p = tu_join((char *)*state, longname);
    assert_int_equal(safefs_write_file(p, "long", 4, 0), 0);
    assert_int_equal(safefs_write_file(p, "longer", 6, 0), 0);
    assert_true(tu_file_is(p, "longer"));
    free(p);
  }
  assert_int_equal(tu_count_own_names((char *)*state), 0);
}

#ifndef _WIN32
static mode_t mode_of(const char *p) {
  struct stat st;
  assert_int_equal(stat(p, &st), 0);
  return st.st_mode & 07777;
}

static void modes_are_kept(void **state) {
  const mode_t modes[] = {0600, 0640, 0755, 0444};
  const char *p = tu_path((char *)*state, "m");
  mode_t old = umask(077);
  size_t i;
  for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    tu_write_raw(p, "x", 1);
    assert_int_equal(chmod(p, modes[i]), 0);
    assert_int_equal(safefs_write_file(p, "new", 3, 0), 0);
    assert_int_equal(mode_of(p), modes[i]);
    assert_int_equal(unlink(p), 0);
  }
  /* a new file gets 0666 & ~umask */
  assert_int_equal(safefs_write_file(p, "n", 1, 0), 0);
  assert_int_equal(mode_of(p), 0600);
  unlink(p);
  umask(022);
  assert_int_equal(safefs_write_file(p, "n", 1, 0), 0);
  assert_int_equal(mode_of(p), 0644);
  umask(old);
}

/* The temp file is never readable by more users than the final file:
 * while it has a name (others could open it) it has at most 0600 of the
 * target's mode; a nameless one (Linux O_TMPFILE: nobody can open it) has
 * the target's mode from the start, which saves the chmod. */
static mode_t seen_temp_mode;
static int seen_temp_named, refuse_anon;
static long watch_temp_mode(void *ctx, const struct safefs__call *call) {
  struct stat st;
  (void)ctx;
  if (call->op == SAFEFS__OP_CREATE_ANON && refuse_anon)
    return EOPNOTSUPP; /* as a filesystem without O_TMPFILE: a named temp */
  if (call->op == SAFEFS__OP_WRITE && fstat((int)call->handle, &st) == 0) {
    seen_temp_mode = st.st_mode & 0777;
    seen_temp_named = st.st_nlink > 0;
  }
  return 0;
}

/* Replace p, whose mode is `mode`, and check the temp's mode as it was
 * written (named: `named`, else `nameless`); the target must keep `mode`. */
static void temp_mode_replacing(const char *p, int mode, int named, int nameless) {
  assert_int_equal(chmod(p, (mode_t)mode), 0);
  safefs__seam_set(watch_temp_mode, NULL);
  assert_int_equal(safefs_write_file(p, "new", 3, 0), 0);
  safefs__seam_set(NULL, NULL);
  assert_int_equal(mode_of(p), mode);
  assert_int_equal(seen_temp_mode, seen_temp_named ? named : nameless);
}

static void temp_is_private_while_written(void **state) {
  const char *p = tu_path((char *)*state, "secret");
  mode_t old = umask(022);
  tu_write_raw(p, "x", 1);
  for (refuse_anon = 0; refuse_anon < 2; refuse_anon++) {
    temp_mode_replacing(p, 0644, 0600, 0644);
#if defined(__linux__) /* O_TMPFILE: nameless unless refused */
    assert_int_equal(seen_temp_named, refuse_anon);
#else
    assert_true(seen_temp_named);
#endif
    temp_mode_replacing(p, 0400, 0400, 0400);
    temp_mode_replacing(p, 0640, 0600, 0640);
    /* a new file: its final mode from the start, the umask applied (by
       the kernel to a named temp, by safefs to a nameless one) */
    umask(027);
    assert_int_equal(unlink(p), 0);
    safefs__seam_set(watch_temp_mode, NULL);
    assert_int_equal(safefs_write_file(p, "new", 3, 0), 0);
    safefs__seam_set(NULL, NULL);
    assert_int_equal(seen_temp_mode, 0640);
    assert_int_equal(mode_of(p), 0640);
    umask(022);
  }
  refuse_anon = 0;
  umask(old);
}

static void symlink_is_kept(void **state) {
  const char *real = tu_path((char *)*state, "real");
  const char *link = tu_path((char *)*state, "link");
  struct stat st;
  tu_write_raw(real, "old", 3);
  assert_int_equal(symlink("real", link), 0);
  assert_int_equal(safefs_write_file(link, "via link", 8, 0), 0);
  assert_int_equal(lstat(link, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  assert_true(tu_file_is(real, "via link"));
  /* a chain of links, one absolute */
  {
    char *link2 = tu_join((char *)*state, "link2");
    assert_int_equal(symlink(link, link2), 0);
    assert_int_equal(safefs_write_file(link2, "chain", 5, 0), 0);
    assert_true(tu_file_is(real, "chain"));
    assert_int_equal(lstat(link2, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    free(link2);
  }
  assert_int_equal(tu_count_own_names((char *)*state), 0);
}

static void dangling_symlink_creates_target(void **state) {
  const char *link = tu_path((char *)*state, "dangling");
  const char *target = tu_path((char *)*state, "created-through-link");
  struct stat st;
  assert_int_equal(symlink("created-through-link", link), 0);
  assert_int_equal(safefs_write_file(link, "made", 4, 0), 0);
  assert_true(tu_file_is(target, "made"));
  assert_int_equal(lstat(link, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  /* a loop of links is an error, not a hang */
  {
    char *a = tu_join((char *)*state, "loop-a");
    char *b = tu_join((char *)*state, "loop-b");
    assert_int_equal(symlink("loop-b", a), 0);
    assert_int_equal(symlink("loop-a", b), 0);
    assert_int_equal(safefs_write_file(a, "x", 1, 0), SAFEFS_EINVAL);
    free(a);
    free(b);
  }
}

/* Replacing one name of a hard-linked file gives that name a new file and
 * leaves the other name's content alone (the documented POSIX behaviour of
 * replace-by-rename). */
static void hard_links(void **state) {
  const char *a = tu_path((char *)*state, "a");
  const char *b = tu_path((char *)*state, "b");
  struct stat st;
  tu_write_raw(a, "shared", 6);
  assert_int_equal(link(a, b), 0);
  assert_int_equal(safefs_write_file(a, "new a", 5, 0), 0);
  assert_true(tu_file_is(a, "new a"));
  assert_true(tu_file_is(b, "shared"));
  assert_int_equal(stat(b, &st), 0);
  assert_int_equal(st.st_nlink, 1);
  assert_int_equal(tu_count_own_names((char *)*state), 0);
}

/* A name planted where the temp will go, as a symlink to a file the
 * attacker wants overwritten: O_EXCL|O_NOFOLLOW refuses it and safefs
 * draws another name. */
static int plant_calls;
static char *plant_dir;
static char *plant_victim;
static long plant_symlink(void *ctx, const struct safefs__call *call) {
  (void)ctx;
  /* the name is drawn at the create, or for a nameless temp at its link */
  if ((call->op == SAFEFS__OP_CREATE_TEMP || call->op == SAFEFS__OP_LINK_TEMP) &&
      plant_calls++ < 3) {
    char *at = tu_join(plant_dir, call->path);
    assert_int_equal(symlink(plant_victim, at), 0);
    free(at);
  }
  return 0;
}

static void planted_temp_names_are_refused(void **state) {
  const char *p = tu_path((char *)*state, "target");
  plant_dir = (char *)*state;
  plant_victim = tu_join((char *)*state, "victim");
  tu_write_raw(plant_victim, "untouched", 9);
  plant_calls = 0;
  safefs__seam_set(plant_symlink, NULL);
  assert_int_equal(safefs_write_file(p, "data", 4, 0), 0);
  safefs__seam_set(NULL, NULL);
  assert_int_equal(plant_calls, 4);
  assert_true(tu_file_is(plant_victim, "untouched"));
  assert_true(tu_file_is(p, "data"));
  free(plant_victim);
}

static void read_only_directory(void **state) {
  const char *sub = tu_path((char *)*state, "ro");
  const char *p = tu_path(sub, "f");
  if (geteuid() == 0) {
    /* root ignores directory permissions; inject the error instead */
    tu_mkdir(sub);
    tu_write_raw(p, "old", 3);
    tu_faults_reset();
    tu_fault_add(SAFEFS__OP_CREATE_TEMP, 1, tu_err_access(), 1);
    tu_fault_add(SAFEFS__OP_CREATE_ANON, 1, tu_err_access(), 1);
    assert_int_equal(safefs_write_file(p, "new", 3, 0), SAFEFS_EACCES);
    tu_faults_off();
  } else {
    tu_mkdir(sub);
    tu_write_raw(p, "old", 3);
    assert_int_equal(chmod(sub, 0555), 0);
    assert_int_equal(safefs_write_file(p, "new", 3, 0), SAFEFS_EACCES);
    chmod(sub, 0755);
  }
  assert_int_equal(safefs_last_os_error(), tu_err_access());
  assert_true(tu_file_is(p, "old"));
  assert_int_equal(tu_count_entries(sub), 1);
}

/* Owner is kept where the process may chown (root in CI). */
static void owner_is_kept_when_root(void **state) {
  const char *p = tu_path((char *)*state, "owned");
  struct stat st;
  if (geteuid() != 0) {
    skip();
  }
  tu_write_raw(p, "x", 1);
  assert_int_equal(chown(p, 1234, 4321), 0);
  assert_int_equal(safefs_write_file(p, "y", 1, 0), 0);
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(st.st_uid, 1234);
  assert_int_equal(st.st_gid, 4321);
}
#endif

static const struct CMUnitTest tests[] = {
    TU_TEST(write_creates_new_file),
    TU_TEST(write_replaces_existing),
    TU_TEST(write_empty_and_zero_length),
    TU_TEST(bad_arguments),
    TU_TEST(missing_parent_and_directory_target),
    TU_TEST(directory_target_is_eisdir),
    TU_TEST(noreplace),
    TU_TEST(noreplace_checked_at_commit),
    TU_TEST(writer_streams_and_aborts),
    TU_TEST(writer_large_single_write),
    TU_TEST(read_file_statuses),
    TU_TEST(unicode_and_long_names),
#ifndef _WIN32
    TU_TEST(modes_are_kept),
    TU_TEST(temp_is_private_while_written),
    TU_TEST(symlink_is_kept),
    TU_TEST(dangling_symlink_creates_target),
    TU_TEST(hard_links),
    TU_TEST(planted_temp_names_are_refused),
    TU_TEST(read_only_directory),
    TU_TEST(owner_is_kept_when_root),
#endif
};
TU_SUITE("replace", tests, NULL);
