/*
 * cache_rebuild: a cache directory that many runs use and any run may
 * rebuild (a dependency resolver's "--rebuild").
 *
 * The race it fixes. Two runs sharing a cache both deleted it (rmtree)
 * while a third was walking it: the walker found half a cache, and the
 * deleters tripped over each other's deletions. The maintainers first
 * renamed the tree aside before deleting it, which stopped half-deleted
 * trees, but a run already using the cache could still have it renamed
 * away under it, or find it half repopulated. Their conclusion: the whole
 * use of the cache needs a lock.
 *
 * With safefs, one lock file beside the cache ("cache.lock"):
 *   - a run that uses the cache holds it shared for the whole walk; any
 *     number of them run at once;
 *   - a rebuild holds it exclusive while it removes the tree
 *     (safefs_remove_tree: renamed aside first, so even a process that
 *     ignores the lock never sees it half deleted; of two removers one
 *     wins and the other gets SAFEFS_ENOENT) and writes the new one;
 *   - if a rebuild died holding the lock, the next exclusive holder is told
 *     (safefs_lock_abandoned) and knows the cache may be half built.
 *
 * Usage:
 *   cache_rebuild rebuild ID COUNT BOUND_MS [--unsafe]
 *       rebuild the cache COUNT times; exit 1 if that takes over BOUND_MS
 *   cache_rebuild work ID REBUILDERS PAUSE_MS [--unsafe]
 *       walk the cache again and again (PAUSE_MS apart) until REBUILDERS
 *       rebuilders are done; exit 1 if a walk ever found half a cache
 * --unsafe: no lock, and the naive rmtree (file by file).
 *
 * The cache: cache/index ("generation G files N") and the files
 * cache/fNN, whose bytes depend on G and NN, so a mix of two generations or
 * a missing file is seen.
 */
#include "example.h"

#define FILES 40
#define FILE_SIZE 4096
#define LOCK "cache.lock"

static void cache_file(char *path, size_t cap, int i) {
  snprintf(path, cap, "cache/f%02d", i);
}

/* The content of file i of generation g. */
static void file_content(unsigned char *out, int g, int i) {
  unsigned long long rnd = (unsigned long long)g * 131 + (unsigned long long)i;
  int k;
  for (k = 0; k < FILE_SIZE; k++)
    out[k] = (unsigned char)next_random(&rnd);
}

/* Walk the cache: the index, then every file it names, each whole and of
 * the index's generation. Returns 1 if the cache is whole, 0 if not. */
static int cache_whole(int unsafe) {
  unsigned char want[FILE_SIZE];
  char path[64], *data;
  size_t size;
  int g, n, i, ok;
  data = unsafe ? read_plain("cache/index", &size) : NULL;
  if (!unsafe && safefs_read_file("cache/index", (void **)&data, &size) != 0)
    data = NULL;
  ok = data && sscanf(data, "generation %d files %d", &g, &n) == 2 && n == FILES;
  unsafe ? free(data) : safefs_free(data);
  for (i = 0; ok && i < FILES; i++) {
    cache_file(path, sizeof path, i);
    data = unsafe ? read_plain(path, &size) : NULL;
    if (!unsafe && safefs_read_file(path, (void **)&data, &size) != 0)
      data = NULL;
    file_content(want, g, i);
    ok = data && size == FILE_SIZE && memcmp(data, want, FILE_SIZE) == 0;
    unsafe ? free(data) : safefs_free(data);
  }
  return ok;
}

/* ---- The safefs way -------------------------------------------------------- */

/* One use of the cache, under the shared lock. Returns 1 whole, 0 half,
 * -1 if the lock could not be had. */
static int use_cache_safe(void) {
  safefs_lock *lock;
  int whole;
  if (safefs_lock_acquire(&lock, LOCK, SAFEFS_LOCK_SHARED, 60000) != 0)
    return -1;
  whole = cache_whole(0);
  safefs_lock_release(lock);
  return whole;
}

/* One rebuild, under the exclusive lock: remove the tree, write the new
 * one, index last. NOSYNC: it is a cache; after a power loss the workers'
 * check fails and it is rebuilt. */
static int rebuild_safe(int generation, long timeout_ms) {
  unsigned char data[FILE_SIZE];
  char path[64], index[64];
  safefs_lock *lock;
  int rc, i;
  if ((rc = safefs_lock_acquire(&lock, LOCK, SAFEFS_LOCK_EXCLUSIVE, timeout_ms)) != 0)
    return rc;
  if (safefs_lock_abandoned(lock))
    fprintf(stderr, "a rebuild died half way: rebuilding anyway\n");
  rc = safefs_remove_tree("cache", -1);
  if (rc == SAFEFS_ENOENT)
    rc = 0;
  for (i = 0; rc == 0 && i < FILES; i++) {
    cache_file(path, sizeof path, i);
    file_content(data, generation, i);
    rc = safefs_write_file(path, data, FILE_SIZE, SAFEFS_NOSYNC | SAFEFS_MKDIRS);
  }
  snprintf(index, sizeof index, "generation %d files %d\n", generation, FILES);
  if (rc == 0)
    rc = safefs_write_file("cache/index", index, strlen(index), SAFEFS_NOSYNC);
  safefs_lock_release(lock);
  return rc;
}

/* ---- The naive way (--unsafe) ---------------------------------------------- */

/* rmtree, then write the files in place: no lock. A file another rebuild
 * already deleted is an error, as in Python's shutil.rmtree. */
static int rebuild_unsafe(int generation) {
  unsigned char data[FILE_SIZE];
  char path[64], index[64];
  int i, errors = 0;
  errors += remove("cache/index") != 0;
  for (i = 0; i < FILES; i++) {
    cache_file(path, sizeof path, i);
    errors += remove(path) != 0;
    sleep_ms(1);
  }
  remove_dir("cache");
  make_dir("cache");
  for (i = 0; i < FILES; i++) {
    cache_file(path, sizeof path, i);
    file_content(data, generation, i);
    errors += write_in_place(path, data, FILE_SIZE, FILE_SIZE, 0) != 0;
    sleep_ms(1);
  }
  snprintf(index, sizeof index, "generation %d files %d\n", generation, FILES);
  errors += write_in_place("cache/index", index, strlen(index), 64, 0) != 0;
  return errors ? -1 : 0;
}

/* ---- The test's processes -------------------------------------------------- */

static int run_rebuild(int id, int count, long bound_ms, int unsafe) {
  long long start = clock_ms(), longest = 0, t;
  int r, rc = 0, done = 0, failed = 0;
  for (r = 0; r < count && rc != SAFEFS_ETIMEDOUT; r++) {
    long left = (long)(start + bound_ms - clock_ms());
    if (r > 0)
      sleep_ms(100); /* the rest of a run, outside the lock */
    t = clock_ms();
    rc = unsafe ? rebuild_unsafe((id + 1) * 1000 + r)
                : rebuild_safe((id + 1) * 1000 + r, left > 0 ? left : 0);
    done += rc == 0;
    failed += rc != 0;
    if (clock_ms() - t > longest)
      longest = clock_ms() - t;
  }
  mark_done("rebuilder", id);
  t = clock_ms() - start;
  fprintf(stderr, "rebuild %d: %d of %d rebuilds in %lld ms (longest %lld ms, bound %ld ms), "
                  "%d failed%s\n", id, done, count, t, longest, bound_ms, failed,
          rc == SAFEFS_ETIMEDOUT ? ": starved, lock not acquired within the bound" : "");
  return failed || t > bound_ms ? 1 : 0;
}

static int run_work(int id, int rebuilders, long pause_ms, int unsafe) {
  long long deadline = clock_ms() + 120000;
  long walks = 0, half = 0, nolock = 0;
  int whole;
  while (!all_done("rebuilder", rebuilders) && clock_ms() < deadline) {
    whole = unsafe ? cache_whole(1) : use_cache_safe();
    walks++;
    half += whole == 0;
    nolock += whole < 0;
    if (pause_ms > 0)
      sleep_ms(pause_ms);
  }
  fprintf(stderr, "worker %d: %ld walks, %ld found half a cache, %ld lock timeouts\n", id, walks,
          half, nolock);
  return half || nolock ? 1 : 0;
}

int main(int argc, char **argv) {
  int unsafe = unsafe_mode(argc, argv);
  if (argc >= 5 && strcmp(argv[1], "rebuild") == 0)
    return run_rebuild(atoi(argv[2]), atoi(argv[3]), atol(argv[4]), unsafe);
  if (argc >= 5 && strcmp(argv[1], "work") == 0)
    return run_work(atoi(argv[2]), atoi(argv[3]), atol(argv[4]), unsafe);
  fprintf(stderr, "usage: cache_rebuild rebuild ID COUNT BOUND_MS | work ID REBUILDERS PAUSE_MS"
                  " [--unsafe]\n");
  return 2;
}
