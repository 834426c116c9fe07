/*
 * cas_store: a package manager's content-addressed store. Every file of
 * every package is kept once, as store/blobs/<hash of its content>, and
 * hard-linked into each package directory that needs it.
 *
 * The race it fixes. Installers wrote a blob in place, then linked it. A
 * verifier, which deletes blobs whose content does not match their name
 * (damaged by a crash or a disk error), read a blob while an installer was
 * still writing it, saw a partial file, deleted it, and the installer's
 * link then failed with ENOENT. A second installer could also link a blob
 * the first one had only half written.
 *
 * The fix, with safefs:
 *   - a blob is written with safefs_write_file(SAFEFS_NOREPLACE): it appears
 *     whole or not at all, and of two installers one creates it and the
 *     other gets SAFEFS_EEXIST;
 *   - an installer holds the blob's lock from the write to the link;
 *   - the verifier keeps its lock-free fast path (a whole, matching blob
 *     needs no lock), and takes the lock and checks again before it
 *     deletes anything, so it never deletes under an installer.
 * Locks are striped: 16 lock files, chosen by the hash, rather than one per
 * blob (which would double the store's files and never be cleaned up).
 *
 * Usage:
 *   cas_store init                 create store/ and damage a few blobs
 *   cas_store install ID [--unsafe]      link every blob into pkgs/ID/
 *   cas_store verify INSTALLERS [--unsafe]
 *       delete damaged blobs until INSTALLERS installers are done
 * Exit 1 if a link failed or linked a file that was not whole.
 * --unsafe: in-place write, no lock, delete without checking again.
 */
#include "example.h"

#define BLOBS 32
#define STRIPES 16

/* The content of blob i (32-64 KiB, deterministic) and its hash. */
static size_t blob_content(int i, unsigned char *out) {
  unsigned long long rnd = (unsigned long long)i * 7919 + 1;
  size_t size = 32768 + (size_t)(i % 4) * 8192, k;
  for (k = 0; k < size; k++)
    out[k] = (unsigned char)next_random(&rnd);
  return size;
}

static void blob_path(char *out, size_t cap, unsigned long long hash) {
  snprintf(out, cap, "store/blobs/%016llx", hash);
}

/* The stripe lock of a hash: one of STRIPES fixed files. */
static void stripe_lock_path(char *out, size_t cap, unsigned long long hash) {
  snprintf(out, cap, "store/locks/%02u.lock", (unsigned)(hash % STRIPES));
}

/* 1 if the bytes are a whole blob: they hash to its name. */
static int blob_ok(const void *data, size_t size, unsigned long long hash) {
  return data != NULL && fnv1a(data, size) == hash;
}

/* ---- The safefs way -------------------------------------------------------- */

/* Make sure the store holds the blob, then link it to `dest`: under the
 * stripe lock, so the verifier cannot delete it in between. Returns 0, a
 * negative SAFEFS_E* status, or the link's OS error. */
static long ensure_and_link_safe(const unsigned char *data, size_t size,
                                 unsigned long long hash, const char *dest) {
  char blob[128], lock_path[128];
  safefs_lock *lock;
  void *old;
  size_t old_size;
  long rc;
  blob_path(blob, sizeof blob, hash);
  stripe_lock_path(lock_path, sizeof lock_path, hash);
  if ((rc = safefs_lock_acquire(&lock, lock_path, SAFEFS_LOCK_EXCLUSIVE, 30000)) != 0)
    return rc;
  rc = safefs_write_file(blob, data, size, SAFEFS_NOREPLACE);
  if (rc == SAFEFS_EEXIST) { /* already there: keep it if it is whole */
    rc = safefs_read_file(blob, &old, &old_size);
    if (rc == 0 && !blob_ok(old, old_size, hash))
      rc = safefs_write_file(blob, data, size, 0); /* damaged: replace it whole */
    safefs_free(old);
  }
  if (rc == 0)
    rc = hard_link(blob, dest);
  safefs_lock_release(lock);
  return rc;
}

/* Check one blob; delete it if damaged. Returns 1 if it was deleted. */
static int verify_blob_safe(unsigned long long hash, long *rechecked) {
  char blob[128], lock_path[128];
  safefs_lock *lock;
  void *data;
  size_t size;
  int deleted = 0;
  blob_path(blob, sizeof blob, hash);
  /* Fast path, no lock: a blob that matches its name is fine (and one that
   * is absent is not our business). */
  if (safefs_read_file(blob, &data, &size) != 0)
    return 0;
  if (blob_ok(data, size, hash)) {
    safefs_free(data);
    return 0;
  }
  safefs_free(data);
  /* Looks damaged. An installer may be repairing it right now: take its
   * lock and look again before deleting. */
  stripe_lock_path(lock_path, sizeof lock_path, hash);
  if (safefs_lock_acquire(&lock, lock_path, SAFEFS_LOCK_EXCLUSIVE, 30000) != 0)
    return 0;
  (*rechecked)++;
  if (safefs_read_file(blob, &data, &size) == 0) {
    if (!blob_ok(data, size, hash))
      deleted = safefs_remove(blob, -1) == 0;
    safefs_free(data);
  }
  safefs_lock_release(lock);
  return deleted;
}

/* ---- The naive way (--unsafe) ---------------------------------------------- */

static long ensure_and_link_unsafe(const unsigned char *data, size_t size,
                                   unsigned long long hash, const char *dest) {
  char blob[128];
  struct stat st;
  blob_path(blob, sizeof blob, hash);
  /* "It is there with the right size, so it is whole": not while another
   * installer writes it, and not for long if the verifier deletes it. */
  if (stat(blob, &st) != 0 || st.st_size != (long long)size)
    if (write_in_place(blob, data, size, 4096, 1) != 0)
      return -1;
  return hard_link(blob, dest);
}

static int verify_blob_unsafe(unsigned long long hash) {
  char blob[128];
  size_t size;
  char *data;
  int deleted = 0;
  blob_path(blob, sizeof blob, hash);
  long long give_up = clock_ms() + 2000;
  if ((data = read_plain(blob, &size)) == NULL)
    return 0;
  if (!blob_ok(data, size, hash)) {
    /* Partial, or damaged: delete at once. On Windows a file another
     * process has open cannot be deleted, so retry for a while, as Windows
     * deleters must (until the installer closes it, and it is gone). */
    while (!(deleted = remove(blob) == 0) && errno != ENOENT && clock_ms() < give_up)
      sleep_ms(1);
  }
  free(data);
  return deleted;
}

/* ---- The test's processes -------------------------------------------------- */

/* The store's directories, and every fourth blob damaged (truncated), as a
 * crash with the naive writer would have left it. */
static int run_init(void) {
  static unsigned char data[65536];
  unsigned long long hash;
  char blob[128];
  int i, rc;
  rc = safefs_write_file("store/locks/README", "16 stripe locks\n", 16, SAFEFS_MKDIRS);
  for (i = 0; i < BLOBS && rc == 0; i += 4) {
    size_t size = blob_content(i, data);
    hash = fnv1a(data, size);
    blob_path(blob, sizeof blob, hash);
    rc = safefs_write_file(blob, data, size / 3, SAFEFS_MKDIRS);
  }
  if (rc != 0)
    fprintf(stderr, "init: %s\n", safefs_strerror(rc));
  return rc ? 2 : 0;
}

static int run_installer(int id, int unsafe) {
  static unsigned char data[65536];
  unsigned long long hash;
  char dest[128];
  void *linked;
  size_t size, linked_size;
  int k, i, link_failures = 0, torn = 0;
  long rc;
  snprintf(dest, sizeof dest, "pkgs/%d/package.json", id);
  if (safefs_write_file(dest, "{}\n", 3, SAFEFS_MKDIRS) != 0)
    return 2;
  for (k = 0; k < BLOBS; k++) {
    i = (k * 5 + id * 11) % BLOBS; /* each installer in its own order */
    size = blob_content(i, data);
    hash = fnv1a(data, size);
    snprintf(dest, sizeof dest, "pkgs/%d/file%02d", id, i);
    rc = unsafe ? ensure_and_link_unsafe(data, size, hash, dest)
                : ensure_and_link_safe(data, size, hash, dest);
    if (rc != 0) {
      link_failures++;
      continue;
    }
    /* What the package got must be the whole file. */
    if (safefs_read_file(dest, &linked, &linked_size) != 0 ||
        !blob_ok(linked, linked_size, hash))
      torn++;
    safefs_free(linked);
  }
  mark_done("installer", id);
  fprintf(stderr, "installer %d: %d files linked, %d links failed, %d linked files not whole\n",
          id, BLOBS - link_failures, link_failures, torn);
  return link_failures || torn ? 1 : 0;
}

static int run_verifier(int installers, int unsafe) {
  static unsigned char data[65536];
  unsigned long long hashes[BLOBS];
  long passes = 0, deleted = 0, rechecked = 0;
  int i, last = 0;
  for (i = 0; i < BLOBS; i++)
    hashes[i] = fnv1a(data, blob_content(i, data));
  /* Pass over the store until the installers are done, then once more. */
  while (last < 2) {
    last += last || all_done("installer", installers);
    for (i = 0; i < BLOBS; i++)
      deleted += unsafe ? verify_blob_unsafe(hashes[i]) : verify_blob_safe(hashes[i], &rechecked);
    passes++;
    sleep_ms(2);
  }
  fprintf(stderr, "verifier: %ld passes, %ld damaged-looking blobs rechecked under the lock, "
                  "%ld deleted\n", passes, rechecked, deleted);
  return 0;
}

int main(int argc, char **argv) {
  int unsafe = unsafe_mode(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "init") == 0)
    return run_init();
  if (argc >= 3 && strcmp(argv[1], "install") == 0)
    return run_installer(atoi(argv[2]), unsafe);
  if (argc >= 3 && strcmp(argv[1], "verify") == 0)
    return run_verifier(atoi(argv[2]), unsafe);
  fprintf(stderr, "usage: cas_store init | install ID | verify INSTALLERS  [--unsafe]\n");
  return 2;
}
