/*
 * Batches: many atomic replaces with one directory sync per directory
 * (safefs.h says what a crash or a failure leaves).
 *
 *   add      check the path, copy path and content into one allocation;
 *            nothing touches the disk
 *   commit   in the order added, up to BATCH_OPEN_MAX files at a time:
 *            (missing parents,) create and write every temp of the group;
 *            then start the writeback of all; then sync each (safefs__temp_sync:
 *            mode, data sync; or the modes, then one syncfs per filesystem:
 *            safefs__temps_sync_together); then put each in place (safefs__temp_install:
 *            name, rename), keeping one handle per distinct directory; at
 *            the end sync each of those directories once
 *
 * Why this order:
 *   - All temps of a group are written before any is synced; then the
 *     writeback of all of them is started (safefs__temp_sync_start;
 *     started as each was written, while the next were created, it cost
 *     ext4 a sixth more); then they are synced from several threads at
 *     once (one per FILES_PER_THREAD temps, up to SYNC_THREADS_MAX; none
 *     where the filesystem keeps files in memory only, as tmpfs, whose
 *     syncs cost nothing), so that the journal (ext4's, XFS's; NTFS's log)
 *     folds their syncs into a few shared commits and drive cache flushes
 *     instead of one each. Measured (BENCHMARKS.md, "Batches"): syncing in
 *     turn, even after the writeback hint, cost about twice the floor of
 *     one syncfs; from 8 threads about 1.3x it; 16 threads for 64 files
 *     saved another quarter on XFS and a tenth on ext4 ("Batches: the late
 *     writeback hint and 16 threads").
 *   - Where the backend knows one flush of the whole filesystem costs
 *     little now (safefs__temps_sync_together: Linux 5.8+, whose syncfs
 *     reports writeback errors, while the system holds little unwritten
 *     data besides the batch's), that flush replaces the threads: one
 *     journal commit for the group, 0.57-0.75x the time of the threads'
 *     syncs on ext4 and XFS ("Batches: one syncfs while little else is
 *     dirty"). Otherwise syncfs would flush everything dirty on the whole
 *     filesystem, another program's gigabytes too.
 *   - All syncs of a group come before its first rename: a rename between
 *     two syncs puts a directory change into the journal transaction the
 *     next sync must commit, so that each sync would commit one of its
 *     own. A sync failure then also leaves the whole group old.
 *   - Each file's data is synced before its rename, as in a single
 *     replace: a crash at any point leaves each target old or new. The
 *     directory syncs come last, before success: until then a rename may
 *     be lost at power failure (the file is then old), never torn.
 *   - A group is bounded so that a batch of thousands of files holds at
 *     most BATCH_OPEN_MAX temps open (two descriptors each on POSIX, well
 *     under the usual limit of 1024), and a bad path among the first
 *     BATCH_OPEN_MAX files fails before anything is put in place.
 *   - The content is copied at add, not written into a temp, so that
 *     nothing is on disk before the commit: an abandoned batch, or a
 *     process killed before the commit, leaves nothing.
 */
#include <string.h>

#include "platform.h"

#define BATCH_FLAGS (SAFEFS_NOSYNC | SAFEFS_MKDIRS | SAFEFS_PRIVATE)
#define BATCH_OPEN_MAX 64
/* One syncing thread per this many temps, up to SYNC_THREADS_MAX (the
 * calling thread one of them): a small batch syncs in the calling thread
 * alone. */
#define FILES_PER_THREAD 4
#define SYNC_THREADS_MAX 16

struct entry {
  char *path;          /* the allocation: path, NUL, then the content */
  const unsigned char *data;
  size_t size;
};

struct safefs_batch {
  unsigned flags;
  struct entry *files;
  size_t n, cap;
};

/* The directories of the files put in place, one handle each, with the
 * identity it was kept by. */
struct kept_dir {
  safefs__dir *d;
  unsigned long long id[2];
};

struct dirs {
  struct kept_dir *v;
  size_t n, cap;
};

static int batch_begin(safefs_batch **out, unsigned flags) {
  safefs_batch *b;
  int rc;
  if (out == NULL)
    return safefs__fail_arg("safefs_batch_begin", "out is NULL");
  *out = NULL;
  if (flags & SAFEFS_NOREPLACE)
    return safefs__fail_arg("safefs_batch_begin", "SAFEFS_NOREPLACE is not for batches");
  if ((rc = safefs__check_write_flags("safefs_batch_begin", flags, BATCH_FLAGS)) != 0)
    return rc;
  b = (safefs_batch *)safefs__malloc(sizeof *b);
  if (b == NULL)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  b->flags = flags;
  b->files = NULL;
  b->n = b->cap = 0;
  *out = b;
  return 0;
}

int safefs_batch_begin(safefs_batch **out, unsigned flags) {
  return safefs__result(batch_begin(out, flags), "safefs_batch_begin", NULL);
}

static int batch_add(safefs_batch *b, const char *path, const void *data, size_t size) {
  struct entry *e;
  size_t len;
  int rc;

  if (b == NULL)
    return safefs__fail_arg("safefs_batch_add", "batch is NULL");
  if (data == NULL && size > 0)
    return safefs__fail_arg("safefs_batch_add", "data is NULL and size is not 0");
  if ((rc = safefs__check_path("safefs_batch_add", path, 1)) != 0)
    return rc;
  len = strlen(path) + 1;
  if (size > (size_t)-1 - len)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 16;
    struct entry *grown;
    if (cap > (size_t)-1 / sizeof *grown)
      return safefs__fail(SAFEFS_ENOMEM, 0);
    grown = (struct entry *)safefs__realloc(b->files, cap * sizeof *grown);
    if (grown == NULL)
      return safefs__fail(SAFEFS_ENOMEM, 0);
    b->files = grown;
    b->cap = cap;
  }
  e = &b->files[b->n];
  e->path = (char *)safefs__malloc(len + size);
  if (e->path == NULL)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  memcpy(e->path, path, len);
  if (size > 0)
    memcpy(e->path + len, data, size);
  e->data = (const unsigned char *)e->path + len;
  e->size = size;
  b->n++;
  return 0;
}

int safefs_batch_add(safefs_batch *b, const char *path, const void *data, size_t size) {
  return safefs__result(batch_add(b, path, data, size), "safefs_batch_add", path);
}

void safefs_batch_abort(safefs_batch *b) {
  size_t i;
  if (b == NULL)
    return;
  for (i = 0; i < b->n; i++)
    safefs__free(b->files[i].path);
  safefs__free(b->files);
  safefs__free(b);
}

/* Keep d unless a handle on the same directory is kept already. A
 * directory that cannot be kept (no memory) is synced at once instead. */
static int dirs_keep(struct dirs *s, safefs__dir *d) {
  unsigned long long id[2];
  size_t i;
  int rc;

  safefs__dir_id(d, id);
  for (i = s->n; i-- > 0;) /* newest first: files come grouped by directory */
    if (s->v[i].id[0] == id[0] && s->v[i].id[1] == id[1]) {
      safefs__dir_close(d);
      return 0;
    }
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 8;
    struct kept_dir *grown = (struct kept_dir *)safefs__realloc(s->v, cap * sizeof *grown);
    if (grown == NULL) {
      rc = safefs__dir_sync(d);
      safefs__dir_close(d);
      return rc;
    }
    s->v = grown;
    s->cap = cap;
  }
  s->v[s->n].d = d;
  s->v[s->n].id[0] = id[0];
  s->v[s->n].id[1] = id[1];
  s->n++;
  return 0;
}

/* Sync and close every kept directory; the first failure is returned. */
static int dirs_sync(struct dirs *s) {
  size_t i;
  int rc = 0;
  for (i = 0; i < s->n; i++) {
    int r = safefs__dir_sync(s->v[i].d);
    if (r != 0 && rc == 0)
      rc = r;
    safefs__dir_close(s->v[i].d);
  }
  safefs__free(s->v);
  return rc;
}

/* Create and fill the temp for e. */
static int make_temp(const struct entry *e, unsigned flags, safefs__temp **t) {
  int rc;
  *t = NULL;
  if ((flags & SAFEFS_MKDIRS) && (rc = safefs__make_parents(e->path, flags)) != 0)
    return rc;
  if ((rc = safefs__temp_create(t, e->path, flags)) != 0)
    return rc;
  if (e->size > 0 && (rc = safefs__temp_write(*t, e->data, e->size)) != 0) {
    struct safefs__saved_error err;
    safefs__error_save(&err);
    safefs__temp_discard(*t);
    *t = NULL;
    return safefs__error_restore(&err, rc);
  }
  return 0;
}

/* The syncs of one group, run from several threads, each taking the
 * next temp in turn (under the process mutex: a claim is two stores next
 * to a whole sync); each failure's status, and the error state of the
 * first one (by index), which the calling thread takes over. */
struct syncs {
  safefs__temp **temps;
  size_t n, next;
  int rc[BATCH_OPEN_MAX];
  size_t first_failed;
  struct safefs__saved_error error;
};

/* Sync the next temp not taken yet; 0 when there was none left. */
static int sync_step(struct syncs *s) {
  size_t i;
  safefs__process_mutex(1);
  i = s->next < s->n ? s->next++ : s->n;
  safefs__process_mutex(0);
  if (i == s->n)
    return 0;
  s->rc[i] = safefs__temp_sync(s->temps[i]);
  if (s->rc[i] != 0) {
    safefs__process_mutex(1);
    if (i < s->first_failed) {
      s->first_failed = i;
      safefs__error_save(&s->error);
    }
    safefs__process_mutex(0);
  }
  return 1;
}

static void sync_worker(void *arg) {
  while (sync_step((struct syncs *)arg))
    ;
}

/* Sync temps[0..n), holding `bytes` of data, together (from one thread
 * without `durable`: there is only the mode to set); the first failure
 * (by index) is returned with its error state, its index in *failed. */
static int sync_all(safefs__temp **temps, size_t n, unsigned long long bytes, int durable,
                    size_t *failed) {
  struct syncs *s;
  safefs__thread *helpers[SYNC_THREADS_MAX];
  size_t threads, k;
  int rc, whole;
  for (k = 0; k < n; k++) /* every temp written: start all their writeback */
    safefs__temp_sync_start(temps[k]);
  /* one flush of the whole filesystem, where that costs little now */
  if (durable && ((rc = safefs__temps_sync_together(temps, n, bytes, &whole, failed)) != 0 || whole))
    return rc;
  if ((s = (struct syncs *)safefs__malloc(sizeof *s)) == NULL) {
    *failed = 0;
    return safefs__fail(SAFEFS_ENOMEM, 0);
  }
  s->temps = temps;
  s->n = n;
  s->next = 0;
  s->first_failed = n;
  threads = durable ? (n + FILES_PER_THREAD - 1) / FILES_PER_THREAD : 1;
  if (threads > SYNC_THREADS_MAX)
    threads = SYNC_THREADS_MAX;
  /* where syncs cost nothing (tmpfs) threads would cost more than they
     save. (Timing the first sync alone to find out, as before, cost a
     quarter of a 64-file batch on ext4: that sync commits the journal for
     the whole group while no other runs; BENCHMARKS.md, "Batches without
     the timed first sync".) */
  if (threads > 1 && safefs__temp_sync_is_free(temps[0]))
    threads = 1;
  for (k = 0; k + 1 < threads; k++) /* a thread that cannot be had: fewer */
    helpers[k] = safefs__thread_start(sync_worker, s);
  sync_worker(s);
  while (k-- > 0)
    if (helpers[k] != NULL)
      safefs__thread_join(helpers[k]);
  if (s->first_failed == n) {
    safefs__free(s);
    return 0;
  }
  *failed = s->first_failed;
  rc = safefs__error_restore(&s->error, s->rc[s->first_failed]);
  safefs__free(s);
  return rc;
}

/* One group of files, from `first`, at most BATCH_OPEN_MAX: every temp
 * made, then every one synced, then each put in place. On a failure,
 * *failed is the index of the file that failed and the group's temps not
 * yet in place are discarded (all of them if one could not be made or
 * synced). */
static int commit_group(safefs_batch *b, size_t first, size_t count, struct dirs *dirs,
                        size_t *installed, size_t *failed) {
  safefs__temp *temps[BATCH_OPEN_MAX];
  int durable = !(b->flags & SAFEFS_NOSYNC);
  struct safefs__saved_error e;
  unsigned long long bytes = 0; /* in whole pages, as the system counts them */
  size_t made, i;
  int rc = 0;

  for (made = 0; made < count && rc == 0; made++) {
    if ((rc = make_temp(&b->files[first + made], b->flags, &temps[made])) != 0)
      *failed = first + made;
    bytes += (b->files[first + made].size + 4095) / 4096 * 4096;
  }
  if (rc != 0)
    made--; /* the one that failed was not made */
  if (rc == 0 && (rc = sync_all(temps, made, bytes, durable, &i)) != 0)
    *failed = first + i;
  /* from the first again; if a sync failed, none of the group goes in */
  for (i = 0; i < made && rc == 0; i++) {
    safefs__dir *dir;
    int in_place;
    rc = safefs__temp_install(temps[i], durable ? &dir : NULL, &in_place);
    *installed += in_place != 0;
    if (durable && dir != NULL) {
      int kept = dirs_keep(dirs, dir);
      if (rc == 0)
        rc = kept;
    }
    if (rc != 0)
      *failed = first + i;
  }
  if (rc != 0) {
    safefs__error_save(&e);
    for (; i < made; i++)
      safefs__temp_discard(temps[i]);
    safefs__error_put_back(&e);
  }
  return rc;
}

static int batch_commit(safefs_batch *b, size_t *installed, size_t *failed) {
  struct dirs dirs = {NULL, 0, 0};
  size_t first;
  int rc = 0, synced;

  for (first = 0; first < b->n && rc == 0; first += BATCH_OPEN_MAX) {
    size_t count = b->n - first < BATCH_OPEN_MAX ? b->n - first : BATCH_OPEN_MAX;
    rc = commit_group(b, first, count, &dirs, installed, failed);
  }
  /* also after a failure: what is in place is made as durable as it can */
  if (rc != 0) {
    struct safefs__saved_error e;
    safefs__error_save(&e);
    dirs_sync(&dirs);
    return safefs__error_restore(&e, rc);
  }
  if ((synced = dirs_sync(&dirs)) != 0)
    *failed = b->n; /* no one file's: the message names the directory */
  return synced;
}

int safefs_batch_commit_report(safefs_batch *b, size_t *installed) {
  size_t done = 0, failed = 0;
  int rc;

  if (installed != NULL)
    *installed = 0;
  if (b == NULL)
    return safefs__result(safefs__fail_arg("safefs_batch_commit", "batch is NULL"),
                          "safefs_batch_commit", NULL);
  rc = batch_commit(b, &done, &failed);
  rc = safefs__result(rc, "safefs_batch_commit", failed < b->n ? b->files[failed].path : NULL);
  if (installed != NULL)
    *installed = done;
  safefs_batch_abort(b);
  return rc;
}

int safefs_batch_commit(safefs_batch *b) {
  return safefs_batch_commit_report(b, NULL);
}
