/*
 * lockfile_cache: a tool manager's lockfile, saved by several processes and
 * cached, parsed, by others.
 *
 * The race it fixes. The tool wrote its lockfile in place (truncate, write),
 * so a reader, or a crash, could catch it half written; two processes adding
 * an entry at once each read the old file and the second save dropped the
 * first one's entry; and readers kept the parsed file cached, keyed by the
 * modification time and size they saw, so a save that kept both (or that
 * landed between their read and their stat) left them using stale data.
 *
 * The fix, with safefs:
 *   - save with safefs_write_file: readers and crashes see the old or the
 *     new file, whole;
 *   - read-modify-write under an exclusive lock on the sidecar
 *     "<file>.lock": no update is lost;
 *   - cache the parsed file with the stamp of exactly the bytes parsed
 *     (safefs_read_file_stamped) and re-read only when safefs_stamp_get
 *     gives a stamp that safefs_stamp_equal says differs. Equal stamps
 *     mean equal content; a stamp taken too soon after a change is never
 *     equal to anything, so at worst the file is re-read once too often.
 *
 * Usage:
 *   lockfile_cache writer FILE ID COUNT [--unsafe]   add COUNT entries
 *   lockfile_cache reader FILE ID WRITERS TOTAL [--unsafe]
 *       keep a cached copy up to date until WRITERS writers are done, then
 *       check the file holds TOTAL entries. Exit 1 if a stale or torn copy
 *       was ever used or an entry was lost.
 * --unsafe leaves the fixes out: in-place save, no lock, cache keyed by
 * stat()'s mtime and size.
 *
 * The file: one "name version" line per entry, then "end N CHECKSUM" (the
 * count and FNV-1a of the lines above), so a torn copy is recognised.
 */
#include "example.h"

#define MAX_FILE 65536

/* Number of entries if `text` is a whole lockfile, else -1 (torn). */
static int parse_lockfile(const char *text, size_t size) {
  const char *end = size ? text + size - 1 : text, *trailer, *p;
  unsigned long long sum;
  int count = 0, lines = 0;
  if (size == 0 || *end != '\n')
    return -1;
  for (trailer = end; trailer > text && trailer[-1] != '\n'; trailer--)
    ;
  if (sscanf(trailer, "end %d %llx", &count, &sum) != 2)
    return -1;
  for (p = text; p < trailer; p++)
    lines += *p == '\n';
  if (lines != count || fnv1a(text, (size_t)(trailer - text)) != sum)
    return -1;
  return count;
}

/* The lockfile `old` (NULL: none yet) with `entry` added, into `out`. */
static size_t add_entry(char *out, const char *old, size_t old_size, const char *entry) {
  size_t body = 0;
  int count = 0;
  if (old && (count = parse_lockfile(old, old_size)) > 0) {
    for (body = old_size - 1; body > 0 && old[body - 1] != '\n'; body--)
      ;
    memcpy(out, old, body);
  } else {
    count = 0;
  }
  body += (size_t)sprintf(out + body, "%s\n", entry);
  return body + (size_t)sprintf(out + body, "end %d %016llx\n", count + 1, fnv1a(out, body));
}

/* ---- The safefs way -------------------------------------------------------- */

/* Add one entry: lock, read, modify, replace, unlock. The lock is a sidecar
 * file: the lockfile itself is replaced by a rename at every save, and a
 * lock on the old file would not cover the new one. */
static int add_entry_safe(const char *path, const char *entry) {
  char lock_path[512], *out = (char *)malloc(MAX_FILE);
  void *old = NULL;
  size_t old_size = 0;
  safefs_lock *lock;
  int rc;
  snprintf(lock_path, sizeof lock_path, "%s.lock", path);
  rc = safefs_lock_acquire(&lock, lock_path, SAFEFS_LOCK_EXCLUSIVE, 30000);
  if (rc == 0) {
    rc = safefs_read_file(path, &old, &old_size);
    if (rc == 0 || rc == SAFEFS_ENOENT) /* no file yet: the first entry */
      rc = safefs_write_file(path, out, add_entry(out, (char *)old, old_size, entry), 0);
    safefs_free(old);
    safefs_lock_release(lock);
  }
  free(out);
  return rc;
}

/* A parsed file and the stamp of the bytes it was parsed from. */
struct cache {
  char *text;
  size_t size;
  int entries;
  safefs_stamp stamp;
};

struct counts {
  long reads, hits, audits, stale, torn, missing;
};

/* Bring the cache up to date: one stamp_get when nothing changed. Every
 * fourth hit is audited (re-read and compared) to show the stamp's word
 * can be trusted; an application would not do that. */
static void refresh_safe(const char *path, struct cache *c, struct counts *n) {
  safefs_stamp now;
  void *data;
  size_t size;
  int entries;
  if (safefs_stamp_get(path, &now) == 0 && safefs_stamp_equal(&c->stamp, &now)) {
    n->hits++;
    if (n->hits % 4 == 0 && safefs_read_file_stamped(path, &data, &size, &now) == 0) {
      n->audits++;
      if (safefs_stamp_equal(&c->stamp, &now) &&
          (size != c->size || memcmp(data, c->text, size) != 0))
        n->stale++; /* same stamp, other bytes: would have used stale data */
      safefs_free(data);
    }
    return;
  }
  /* Changed (or never read): read it with the stamp of exactly these bytes.
   * Under Wine only, a replace is two renames and a reader can find no
   * file for an instant: try again. */
  if (safefs_read_file_stamped(path, &data, &size, &now) != 0) {
    n->missing++;
    return;
  }
  n->reads++;
  if ((entries = parse_lockfile((char *)data, size)) < 0) {
    n->torn++;
    safefs_free(data);
    return;
  }
  safefs_free(c->text);
  c->text = (char *)data;
  c->size = size;
  c->entries = entries;
  c->stamp = now;
}

/* ---- The naive way (--unsafe) ---------------------------------------------- */

static int add_entry_unsafe(const char *path, const char *entry) {
  char *out = (char *)malloc(MAX_FILE), *old;
  size_t old_size = 0;
  int tries, rc;
  /* No lock: another writer can save between this read and our save. A torn
   * file (another writer is mid-save) is read again, as a user would retry. */
  for (tries = 0; (old = read_plain(path, &old_size)) != NULL && tries < 1000; tries++) {
    if (parse_lockfile(old, old_size) >= 0)
      break;
    free(old);
    old = NULL;
    sleep_ms(1);
  }
  rc = write_in_place(path, out, add_entry(out, old, old_size, entry), 32, 1);
  free(old);
  free(out);
  return rc;
}

/* The stat-keyed cache: read, then stat for the key. */
static void refresh_unsafe(const char *path, struct cache *c, struct counts *n,
                           struct stat *key) {
  struct stat now, after;
  size_t size;
  char *data;
  int entries;
  if (stat(path, &now) == 0 && c->text && now.st_mtime == key->st_mtime &&
      now.st_size == key->st_size) {
    n->hits++;
    if (n->hits % 4 == 0 && (data = read_plain(path, &size)) != NULL) {
      n->audits++;
      if (stat(path, &after) == 0 && after.st_mtime == key->st_mtime &&
          after.st_size == key->st_size && (size != c->size || memcmp(data, c->text, size)))
        n->stale++;
      free(data);
    }
    return;
  }
  if ((data = read_plain(path, &size)) == NULL || stat(path, &now) != 0) {
    n->missing++;
    free(data);
    return;
  }
  n->reads++;
  if ((entries = parse_lockfile(data, size)) < 0) {
    n->torn++;
    free(data);
    return;
  }
  free(c->text);
  c->text = data;
  c->size = size;
  c->entries = entries;
  *key = now;
}

/* ---- The test's processes -------------------------------------------------- */

static int run_writer(const char *path, int id, int count, int unsafe) {
  unsigned long long rnd = (unsigned long long)id + 1;
  char entry[64];
  int i, failed = 0;
  for (i = 0; i < count; i++) {
    snprintf(entry, sizeof entry, "tool-%d-%d 1.%d.%d", id, i, id, i);
    if ((unsafe ? add_entry_unsafe(path, entry) : add_entry_safe(path, entry)) != 0)
      failed++;
    /* Pauses of 50-350 ms: some stamps settle (cache hits), some do not. */
    sleep_ms(50 + (long)(next_random(&rnd) % 300));
  }
  mark_done(path, id);
  fprintf(stderr, "writer %d: added %d entries, %d saves failed\n", id, count - failed, failed);
  return failed ? 1 : 0;
}

static int run_reader(const char *path, int id, int writers, int total, int unsafe) {
  struct cache c;
  struct counts n;
  struct stat key;
  long hits_before;
  long long deadline = 0;
  memset(&c, 0, sizeof c);
  memset(&n, 0, sizeof n);
  memset(&key, 0, sizeof key);
  /* Until the writers are done; then until a cache hit says the copy is
   * the final file (the last stamp has settled), within 5 s. */
  for (;;) {
    hits_before = n.hits;
    if (unsafe)
      refresh_unsafe(path, &c, &n, &key);
    else
      refresh_safe(path, &c, &n);
    if (deadline && (n.hits > hits_before || clock_ms() > deadline))
      break;
    if (!deadline && all_done(path, writers))
      deadline = clock_ms() + 5000;
    sleep_ms(1);
  }
  fprintf(stderr,
          "reader %d: %ld reads, %ld cache hits, %ld audited: %ld stale, %ld torn, "
          "%ld missing; final file %d/%d entries\n",
          id, n.reads, n.hits, n.audits, n.stale, n.torn, n.missing, c.entries, total);
  free(c.text);
  return n.stale || n.torn || c.entries != total ? 1 : 0;
}

int main(int argc, char **argv) {
  int unsafe = unsafe_mode(argc, argv);
  if (argc >= 5 && strcmp(argv[1], "writer") == 0)
    return run_writer(argv[2], atoi(argv[3]), atoi(argv[4]), unsafe);
  if (argc >= 6 && strcmp(argv[1], "reader") == 0)
    return run_reader(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), unsafe);
  fprintf(stderr, "usage: lockfile_cache writer FILE ID COUNT [--unsafe]\n"
                  "       lockfile_cache reader FILE ID WRITERS TOTAL [--unsafe]\n");
  return 2;
}
