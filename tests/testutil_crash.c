/* The crash-state model checker; see testutil_crash.h for the models. */
#include "testutil_crash.h"

#include "testutil.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *const check_ids[CM_CHECK_COUNT] = {
#define CM_CHECK_NAME(name, text) #name,
    CM_CHECK_MAP(CM_CHECK_NAME)
#undef CM_CHECK_NAME
};
static const char *const check_texts[CM_CHECK_COUNT] = {
#define CM_CHECK_TEXT(name, text) text,
    CM_CHECK_MAP(CM_CHECK_TEXT)
#undef CM_CHECK_TEXT
};

const char *cm_check_name(enum cm_check c) {
  return (unsigned)c < CM_CHECK_COUNT ? check_ids[c] : "?";
}

const char *cm_check_text(enum cm_check c) {
  return (unsigned)c < CM_CHECK_COUNT ? check_texts[c] : "?";
}

enum cm_model cm_native_model(void) {
#ifdef _WIN32
  return CM_WIN32;
#else
  return CM_POSIX;
#endif
}

/* Test code: running out of memory ends the test. */
static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (p == NULL) {
    fprintf(stderr, "crash model: out of memory\n");
    abort();
  }
  return p;
}

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (p == NULL) {
    fprintf(stderr, "crash model: out of memory\n");
    abort();
  }
  return p;
}

static char *xstrdup(const char *s) {
  size_t n;
  char *p;
  if (s == NULL)
    return NULL;
  n = strlen(s) + 1;
  p = (char *)xmalloc(n);
  memcpy(p, s, n);
  return p;
}

static void *xmemdup(const void *data, size_t size) {
  void *p = xmalloc(size);
  if (size > 0)
    memcpy(p, data, size);
  return p;
}

/* Grow *v (of *cap elements of `elem` bytes) to hold at least `need`. */
static void grow(void **v, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return;
  *cap = *cap * 2 + 8 > need ? *cap * 2 + 8 : need;
  *v = xrealloc(*v, *cap * elem);
}

/* ---- traces ------------------------------------------------------------- */

void cm_trace_init(struct cm_trace *t, const char *root) {
  memset(t, 0, sizeof *t);
  t->root = xstrdup(root);
}

void cm_trace_free(struct cm_trace *t) {
  size_t i;
  for (i = 0; i < t->n; i++) {
    free(t->ev[i].path);
    free(t->ev[i].path2);
    free(t->ev[i].backup);
    free(t->ev[i].data);
  }
  for (i = 0; i < t->n_initial; i++) {
    free(t->initial[i].name);
    free(t->initial[i].data);
  }
  free(t->ev);
  free(t->initial);
  free(t->root);
  memset(t, 0, sizeof *t);
}

static void add_initial(struct cm_trace *t, const char *name, int is_dir, const void *data,
                        size_t size) {
  struct cm_initial *in;
  t->initial = (struct cm_initial *)xrealloc(t->initial, (t->n_initial + 1) * sizeof *in);
  in = &t->initial[t->n_initial++];
  in->name = xstrdup(name);
  in->is_dir = is_dir;
  in->data = (unsigned char *)xmemdup(data, size);
  in->size = size;
}

void cm_initial_file(struct cm_trace *t, const char *name, const void *data, size_t size) {
  add_initial(t, name, 0, data, size);
}

void cm_initial_dir(struct cm_trace *t, const char *name) {
  add_initial(t, name, 1, NULL, 0);
}

void cm_put_file(struct cm_trace *t, const char *name, const void *data, size_t size) {
  char *p = tu_join(t->root, name);
  tu_write_raw(p, data, size);
  free(p);
  cm_initial_file(t, name, data, size);
}

void cm_put_dir(struct cm_trace *t, const char *name) {
  char *p = tu_join(t->root, name);
  tu_mkdir(p);
  free(p);
  cm_initial_dir(t, name);
}

static struct cm_event *new_event(struct cm_trace *t) {
  struct cm_event *e;
  grow((void **)&t->ev, &t->cap, t->n + 1, sizeof *t->ev);
  e = &t->ev[t->n++];
  memset(e, 0, sizeof *e);
  e->result = -1;
  return e;
}

void cm_add(struct cm_trace *t, enum safefs__op op, const char *path, const char *path2,
            long long handle, const void *data, size_t size, long long result) {
  struct cm_event *e = new_event(t);
  e->op = op;
  e->path = xstrdup(path);
  e->path2 = xstrdup(path2);
  e->handle = handle;
  if (op == SAFEFS__OP_WRITE) {
    e->data = (unsigned char *)xmemdup(data, size);
    e->size = size;
  }
  e->result = result;
  e->reported = 1;
}

void cm_add_failed(struct cm_trace *t, enum safefs__op op, const char *path, long long handle,
                   long oserr) {
  cm_add(t, op, path, NULL, handle, NULL, 0, -1);
  t->ev[t->n - 1].oserr = oserr;
}

void cm_add_rename(struct cm_trace *t, const char *from, const char *to, long long handle,
                   unsigned flags) {
  cm_add(t, SAFEFS__OP_RENAME, from, to, handle, NULL, 0, 0);
  t->ev[t->n - 1].flags = flags;
}

void cm_add_replace(struct cm_trace *t, const char *from, const char *to, const char *backup,
                    unsigned flags) {
  cm_add_rename(t, from, to, -1, flags);
  t->ev[t->n - 1].backup = xstrdup(backup);
}

void cm_trace_print(const struct cm_trace *t, FILE *out) {
  size_t i;
  for (i = 0; i < t->n; i++) {
    const struct cm_event *e = &t->ev[i];
    fprintf(out, "  #%-3u %-11s", (unsigned)i, safefs__op_name(e->op));
    if (e->path)
      fprintf(out, " %s", e->path);
    if (e->path2)
      fprintf(out, " -> %s", e->path2);
    if (e->backup)
      fprintf(out, " (replaced -> %s)", e->backup);
    fprintf(out, " h=%lld", e->handle);
    if (e->op == SAFEFS__OP_WRITE)
      fprintf(out, " %u bytes", (unsigned)e->size);
    if (e->flags)
      fprintf(out, " flags=%u", e->flags);
    if (e->skipped)
      fprintf(out, " SKIPPED");
    else if (!e->reported)
      fprintf(out, " (no outcome)");
    else if (e->result < 0)
      fprintf(out, " FAILED os=%ld", e->oserr);
    else
      fprintf(out, " = %lld", e->result);
    fputc('\n', out);
  }
}

/* ---- recording ------------------------------------------------------------ */

void cm_inject(struct cm_trace *t, enum safefs__op op, int nth, long answer, int times) {
  struct cm_rule *r;
  if (t->n_rules == CM_MAX_RULES) {
    fprintf(stderr, "crash model: too many rules\n");
    abort();
  }
  r = &t->rules[t->n_rules++];
  r->op = op;
  r->first = nth;
  r->last = nth + times - 1;
  r->answer = answer;
}

/* A batch syncs its temps from several threads (src/batch.c): the
 * recorder appends under a mutex, and an outcome goes to the latest
 * unreported event of its call (op and handle), not simply the last. */
static pthread_mutex_t record_mutex = PTHREAD_MUTEX_INITIALIZER;

static long record_locked(struct cm_trace *t, const struct safefs__call *c);

static long record_before(void *ctx, const struct safefs__call *c) {
  long answer;
  if (c->op == SAFEFS__OP_ALLOC || c->op == SAFEFS__OP_FREE || c->op == SAFEFS__OP_RANDOM)
    return 0;
  pthread_mutex_lock(&record_mutex);
  answer = record_locked((struct cm_trace *)ctx, c);
  pthread_mutex_unlock(&record_mutex);
  return answer;
}

static long record_locked(struct cm_trace *t, const struct safefs__call *c) {
  struct cm_event *e;
  long answer = 0;
  int i, n;

  n = ++t->calls[c->op];
  for (i = 0; i < t->n_rules; i++)
    if (t->rules[i].op == c->op && n >= t->rules[i].first && n <= t->rules[i].last)
      answer = t->rules[i].answer;
  e = new_event(t);
  e->op = c->op;
  e->path = xstrdup(c->path);
  e->path2 = xstrdup(c->path2);
  e->handle = c->handle;
  e->flags = c->flags;
  if (c->op == SAFEFS__OP_RENAME)
    e->backup = xstrdup(c->backup);
  if (c->op == SAFEFS__OP_WRITE) {
    e->data = (unsigned char *)xmemdup(c->data, c->size);
    e->size = c->size;
  }
  e->skipped = answer == SAFEFS__SEAM_SKIP;
  return answer;
}

/* The outcome belongs to the latest call of its op and handle not yet
 * reported: in one thread the call just asked about (calls never nest). */
static void record_after(void *ctx, const struct safefs__call *c, long long result, long oserr) {
  struct cm_trace *t = (struct cm_trace *)ctx;
  struct cm_event *e = NULL;
  size_t i;
  pthread_mutex_lock(&record_mutex);
  for (i = t->n; i-- > 0 && e == NULL;)
    if (!t->ev[i].reported && t->ev[i].op == c->op && t->ev[i].handle == c->handle)
      e = &t->ev[i];
  if (e == NULL) {
    pthread_mutex_unlock(&record_mutex);
    return;
  }
  e->reported = 1;
  e->result = result;
  e->oserr = oserr;
  if (e->op == SAFEFS__OP_WRITE && result < 0)
    e->size = 0;
  else if (e->op == SAFEFS__OP_WRITE && (size_t)result < e->size)
    e->size = (size_t)result; /* a short write: only these bytes went out */
  pthread_mutex_unlock(&record_mutex);
}

void cm_record(struct cm_trace *t) {
  memset(t->calls, 0, sizeof t->calls);
  safefs__seam_set(record_before, t);
  safefs__seam_set_after(record_after);
}

void cm_stop(void) {
  safefs__seam_set(NULL, NULL);
}

/* ---- the model ------------------------------------------------------------- */

struct ent {
  const char *name; /* owned by the state it is in, except in crash copies */
  int ino;
};

struct ents {
  struct ent *v;
  size_t n, cap;
};

struct inode {
  int is_dir;
  unsigned char *live, *synced;
  size_t live_size, live_cap, synced_size;
  unsigned char *dirty; /* one flag per 4 KiB block written since the last sync */
  size_t dirty_cap;
  struct ents live_ents, durable_ents; /* directories */
  /* where it came from and what was done to it, for the ordering rules */
  int created_ev, created_dir;
  char *created_name;
  int last_write_ev, last_sync_ev, failed_sync_ev;
  int doomed; /* marked delete-on-close (DOOM_TEMP) */
  int anon;   /* made without a name (CREATE_ANON) */
};

enum pkind {
  P_ADD,    /* new name; impossible if the name exists */
  P_PUT,    /* name added or replaced (the destination half of a rename) */
  P_DEL,    /* name removed; impossible unless it names ino */
  P_RENAME  /* from -> to in one directory, atomically */
};

struct pend {
  enum pkind kind;
  int dir, ino;
  unsigned flags;
  char *name, *to;
};

struct fdent {
  long long fd;
  int ino; /* -1: outside the model */
  size_t pos;
  int parent;     /* Win32 entry handles (opened to delete or rename the
                     entry): the directory it is in, else -1 */
  char name[256]; /* and its name there */
  int link_dir;   /* a temp's handle: the directory of the name it was
                     created with, the one a delete-on-close mark removes
                     (per link, as NTFS keeps it), else -1 */
  char link_name[256];
};

struct model {
  enum cm_model kind;
  enum cm_order order;
  const struct cm_trace *t;
  const struct cm_expect *e;
  struct cm_report *r;
  struct inode *in;
  size_t n_in, cap_in;
  struct pend *p;
  size_t n_p, cap_p;
  struct fdent *fds;
  size_t n_fd, cap_fd;
  int root, old_ino;
  int tdir;          /* the target's directory (the root, or one below) */
  const char *tleaf; /* and the target's name in it */
  int bare_dir;      /* where a name with no handle is looked for first */
  int *initial_ino;    /* the inode of each cm_initial entry */
  int *initial_parent; /* and the directory it is in */
  int *obs;            /* the directories crash states are built for: the
                          target's, then every directory of the target's
                          tree */
  size_t n_obs;
  int commit_ev, dir_sync_ev; /* dir_sync_ev: the target directory's last sync */
  int commit_through; /* Win32: the commit was a write-through rename */
  int where; /* the event a violation is reported at; -1 before the first */
  int after_return;
  struct ents *scratch; /* one crash state: entries of each obs directory */
  unsigned char *buf;
  size_t buf_cap;
  long violations;
};

static void violate(struct model *m, enum cm_check c, const char *fmt, ...) {
  m->r->violations[c]++;
  m->violations++;
  if (m->r->violations[c] == 1) {
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (m->where < 0)
      snprintf(m->r->first[c], sizeof m->r->first[c], "before any call: %s", msg);
    else
      snprintf(m->r->first[c], sizeof m->r->first[c], "%s #%d %s: %s",
               m->after_return ? "after return, last call" : "at", m->where,
               safefs__op_name(m->t->ev[m->where].op), msg);
  }
}

static int ents_find(const struct ents *e, const char *name) {
  size_t i;
  for (i = 0; i < e->n; i++)
    if (strcmp(e->v[i].name, name) == 0)
      return (int)i;
  return -1;
}

static void ents_add(struct ents *e, const char *name, int ino) {
  grow((void **)&e->v, &e->cap, e->n + 1, sizeof *e->v);
  e->v[e->n].name = name;
  e->v[e->n].ino = ino;
  e->n++;
}

static void ents_del(struct ents *e, int i, int own) {
  if (own)
    free((char *)e->v[i].name);
  e->v[i] = e->v[--e->n];
}

static void ents_free(struct ents *e) {
  size_t i;
  for (i = 0; i < e->n; i++)
    free((char *)e->v[i].name);
  free(e->v);
}

/* Apply one directory operation to entries e: 0, or -1 when it cannot
 * happen there. own: e owns its names (live and durable states); crash
 * copies borrow them. */
static int apply(struct ents *e, const struct pend *p, int own) {
  int i = ents_find(e, p->name), j;
  switch (p->kind) {
  case P_ADD:
    if (i >= 0)
      return -1;
    ents_add(e, own ? xstrdup(p->name) : p->name, p->ino);
    return 0;
  case P_PUT:
    if (i >= 0)
      e->v[i].ino = p->ino;
    else
      ents_add(e, own ? xstrdup(p->name) : p->name, p->ino);
    return 0;
  case P_DEL:
    if (i < 0 || e->v[i].ino != p->ino)
      return -1;
    ents_del(e, i, own);
    return 0;
  case P_RENAME:
    if (i < 0 || e->v[i].ino != p->ino)
      return -1;
    if (strcmp(p->name, p->to) == 0)
      return 0;
    j = ents_find(e, p->to);
    if (j >= 0 && (p->flags & SAFEFS__RENAME_NOREPLACE))
      return -1;
    if (j >= 0) {
      e->v[j].ino = p->ino;
      ents_del(e, i, own);
    } else {
      if (own)
        free((char *)e->v[i].name);
      e->v[i].name = own ? xstrdup(p->to) : p->to;
    }
    return 0;
  }
  return -1;
}

static int new_inode(struct model *m, int is_dir) {
  struct inode *n;
  grow((void **)&m->in, &m->cap_in, m->n_in + 1, sizeof *m->in);
  n = &m->in[m->n_in];
  memset(n, 0, sizeof *n);
  n->is_dir = is_dir;
  n->created_ev = n->created_dir = -1;
  n->last_write_ev = n->last_sync_ev = n->failed_sync_ev = -1;
  return (int)m->n_in++;
}

static struct fdent *fd_find(struct model *m, long long fd) {
  size_t i;
  for (i = 0; i < m->n_fd; i++)
    if (m->fds[i].fd == fd)
      return &m->fds[i];
  return NULL;
}

static void fd_add(struct model *m, long long fd, int ino) {
  struct fdent *f = fd_find(m, fd);
  if (f == NULL) {
    grow((void **)&m->fds, &m->cap_fd, m->n_fd + 1, sizeof *m->fds);
    f = &m->fds[m->n_fd++];
  }
  f->fd = fd;
  f->ino = ino;
  f->pos = 0;
  f->parent = -1;
  f->name[0] = '\0';
  f->link_dir = -1;
  f->link_name[0] = '\0';
}

static void pend_add(struct model *m, enum pkind kind, int dir, const char *name, const char *to,
                     int ino, unsigned flags);
static int lookup(const struct model *m, int dir, const char *name);

/* Closing a handle of a file marked delete-on-close removes its name
 * (where it is now, in the directory it was made in). */
/* The live entry of some directory that names ino: its directory, and in
 * *at its index; -1 if none. */
static int entry_of(const struct model *m, int ino, size_t *at) {
  size_t d, i;
  for (d = 0; d < m->n_in; d++)
    if (m->in[d].is_dir)
      for (i = 0; i < m->in[d].live_ents.n; i++)
        if (m->in[d].live_ents.v[i].ino == ino) {
          *at = i;
          return (int)d;
        }
  return -1;
}

/* Closing the last handle of a file marked delete-on-close removes its
 * name (a pending removal): a temp, or a file that was there before (the
 * old target at a backup name, marked for the directory flush). The mark
 * belongs to the name the handle was opened by, where the model knows it
 * (a temp's handle) and it still names the file: other names the file
 * got meanwhile (a link onto the target) stay. Otherwise the file's one
 * name, wherever it is now (renamed through its handle). */
static void fd_close(struct model *m, long long fd) {
  struct fdent *f = fd_find(m, fd);
  size_t at;
  int dir;
  if (f == NULL)
    return;
  if (f->ino >= 0 && m->in[f->ino].doomed) {
    if (f->link_dir >= 0 && lookup(m, f->link_dir, f->link_name) == f->ino)
      pend_add(m, P_DEL, f->link_dir, f->link_name, NULL, f->ino, 0);
    else if ((dir = entry_of(m, f->ino, &at)) >= 0) {
      char *name = xstrdup(m->in[dir].live_ents.v[at].name);
      pend_add(m, P_DEL, dir, name, NULL, f->ino, 0);
      free(name);
    }
    m->in[f->ino].doomed = 0;
  }
  *f = m->fds[--m->n_fd];
}

/* ---- paths ---------------------------------------------------------------- */

/* A path in one spelling: '/' separators, no \\?\ prefix, no trailing '/'. */
static char *norm_path(const char *p) {
  char *s, *q;
  size_t n;
  if (strncmp(p, "\\\\?\\", 4) == 0 || strncmp(p, "//?/", 4) == 0)
    p += 4;
  s = xstrdup(p);
  for (q = s; *q; q++)
    if (*q == '\\')
      *q = '/';
  n = strlen(s);
  while (n > 1 && s[n - 1] == '/')
    s[--n] = '\0';
  return s;
}

static int is_absolute(const char *p) {
  return p[0] == '/' || p[0] == '\\' ||
         (((p[0] | 32) >= 'a' && (p[0] | 32) <= 'z') && p[1] == ':');
}

/* Paths compare case-blind under the Windows model (NTFS). */
static int path_prefix(const struct model *m, const char *path, const char *prefix) {
  size_t i, n = strlen(prefix);
  if (strlen(path) < n)
    return 0;
  for (i = 0; i < n; i++) {
    int a = (unsigned char)path[i], b = (unsigned char)prefix[i];
    if (m->kind == CM_WIN32 && a < 128 && b < 128) {
      if (a >= 'A' && a <= 'Z')
        a += 32;
      if (b >= 'A' && b <= 'Z')
        b += 32;
    }
    if (a != b)
      return 0;
  }
  return 1;
}

static int lookup(const struct model *m, int dir, const char *name) {
  int i;
  if (dir < 0 || !m->in[dir].is_dir)
    return -1;
  i = ents_find(&m->in[dir].live_ents, name);
  return i < 0 ? -1 : m->in[dir].live_ents.v[i].ino;
}

/* lookup() that also knows "." and ".." (the deleter climbs back up a
 * deep tree through ".."). */
static int lookup_step(const struct model *m, int dir, const char *name) {
  size_t i, j;
  if (strcmp(name, ".") == 0)
    return dir;
  if (strcmp(name, "..") != 0)
    return lookup(m, dir, name);
  for (i = 0; i < m->n_in; i++)
    for (j = 0; j < m->in[i].live_ents.n; j++)
      if (m->in[i].live_ents.v[j].ino == dir)
        return (int)i;
  return -1;
}

#define ROOT_ITSELF (-2)

/* The directory of a name with no handle: the one of the file last looked
 * at by its full path (the Win32 backend resolves each target so before
 * its temp is made), else the directory that holds the name (a batch puts
 * its temps in place after all are made), else that first one. A path of
 * several components starts at the root. */
static int bare_dir(const struct model *m, const char *name) {
  size_t i;
  if (strchr(name, '/') != NULL)
    return m->root;
  if (lookup(m, m->bare_dir, name) >= 0)
    return m->bare_dir;
  for (i = 0; i < m->n_in; i++)
    if (lookup(m, (int)i, name) >= 0)
      return (int)i;
  return m->bare_dir;
}

/* The directory inode (live state) that (handle, path) names an entry of,
 * with the entry's name in *leaf (malloc'd); ROOT_ITSELF if the path is the
 * root; -1 if it is outside the model. */
static int resolve(const struct model *m, long long handle, const char *path, char **leaf) {
  char *rel, *comp, *slash, *copy = NULL;
  int dir;

  *leaf = NULL;
  if (path == NULL)
    return -1;
  if (is_absolute(path)) {
    char *np = norm_path(path), *nr = norm_path(m->t->root);
    size_t rl = strlen(nr);
    if (strlen(np) == rl && path_prefix(m, np, nr)) {
      free(np);
      free(nr);
      return ROOT_ITSELF;
    }
    if (!path_prefix(m, np, nr) || np[rl] != '/') {
      free(np);
      free(nr);
      return -1;
    }
    copy = xstrdup(np + rl + 1);
    free(np);
    free(nr);
    dir = m->root;
  } else if (handle == -1) {
    copy = norm_path(path); /* a name with no directory handle: the Win32
                               backend's label for a name beside the target */
    dir = bare_dir(m, copy);
  } else {
    const struct fdent *f = fd_find((struct model *)m, handle);
    if (f != NULL && f->parent >= 0 && strcmp(f->name, path) == 0) {
      *leaf = xstrdup(path); /* the Win32 deleter's disposition, on the entry's own handle */
      return f->parent;
    }
    if (f == NULL || f->ino < 0 || !m->in[f->ino].is_dir)
      return -1;
    dir = f->ino;
    copy = norm_path(path);
  }
  rel = copy;
  for (;;) {
    slash = strchr(rel, '/');
    if (slash == NULL)
      break;
    *slash = '\0';
    comp = rel;
    rel = slash + 1;
    if (comp[0] == '\0')
      continue;
    dir = lookup_step(m, dir, comp);
    if (dir < 0 || !m->in[dir].is_dir) {
      free(copy);
      return -1;
    }
  }
  *leaf = xstrdup(rel);
  free(copy);
  return dir;
}

/* The second name of a rename or link, or ReplaceFileW's backup: with no
 * handle, in the directory of the first (safefs renames within one). */
static int resolve_beside(const struct model *m, const struct cm_event *ev, int dir,
                          const char *path, char **leaf) {
  if (ev->handle == -1 && dir >= 0 && path != NULL && !is_absolute(path) &&
      strchr(path, '/') == NULL && strchr(path, '\\') == NULL) {
    *leaf = norm_path(path);
    return dir;
  }
  return resolve(m, ev->handle, path, leaf);
}

/* ---- pending directory operations ---------------------------------------- */

static void pend_add(struct model *m, enum pkind kind, int dir, const char *name, const char *to,
                     int ino, unsigned flags) {
  struct pend *p;
  grow((void **)&m->p, &m->cap_p, m->n_p + 1, sizeof *m->p);
  p = &m->p[m->n_p++];
  p->kind = kind;
  p->dir = dir;
  p->ino = ino;
  p->flags = flags;
  p->name = xstrdup(name);
  p->to = xstrdup(to);
  if (apply(&m->in[dir].live_ents, p, 1) != 0)
    violate(m, CM_MODEL_MISMATCH, "%s of '%s' impossible in the live state",
            kind == P_ADD ? "create" : kind == P_DEL ? "removal" : "rename", name);
}

/* Make durable, in order, the first `upto` pending operations that are in
 * directory only_dir (any directory if < 0); the others stay pending. */
static void make_durable(struct model *m, int only_dir, size_t upto) {
  size_t i, kept = 0;
  for (i = 0; i < m->n_p; i++) {
    struct pend *p = &m->p[i];
    if (i < upto && (only_dir < 0 || p->dir == only_dir)) {
      if (apply(&m->in[p->dir].durable_ents, p, 1) != 0)
        violate(m, CM_MODEL_MISMATCH, "pending operation on '%s' does not apply", p->name);
      free(p->name);
      free(p->to);
    } else {
      m->p[kept++] = *p;
    }
  }
  m->n_p = kept;
}

/* ---- file data -------------------------------------------------------------- */

static void file_write(struct inode *f, size_t pos, const unsigned char *data, size_t n) {
  size_t end = pos + n, b;
  if (n == 0)
    return;
  grow((void **)&f->live, &f->live_cap, end, 1);
  if (pos > f->live_size)
    memset(f->live + f->live_size, 0, pos - f->live_size);
  memcpy(f->live + pos, data, n);
  if (end > f->live_size)
    f->live_size = end;
  grow((void **)&f->dirty, &f->dirty_cap, (end + CM_BLOCK - 1) / CM_BLOCK, 1);
  for (b = pos / CM_BLOCK; b * CM_BLOCK < end; b++)
    f->dirty[b] = 1;
}

static void file_sync(struct inode *f) {
  free(f->synced);
  f->synced = (unsigned char *)xmemdup(f->live, f->live_size);
  f->synced_size = f->live_size;
  if (f->dirty_cap)
    memset(f->dirty, 0, f->dirty_cap);
}

/* The contents of one size a crash may leave in file f: the dirty blocks
 * inside that size, each persisted or not. */
struct torn {
  const struct inode *f;
  size_t size;
  size_t *blocks; /* the dirty block numbers below size */
  size_t nb;
  int full; /* every combination, or the bounded family */
  unsigned long combos;
};

static void torn_init(struct torn *tv, const struct inode *f, size_t size) {
  size_t b;
  memset(tv, 0, sizeof *tv);
  tv->f = f;
  tv->size = size;
  tv->blocks = (size_t *)xmalloc((f->dirty_cap + 1) * sizeof(size_t));
  for (b = 0; b < f->dirty_cap && b * CM_BLOCK < size; b++)
    if (f->dirty[b])
      tv->blocks[tv->nb++] = b;
  tv->full = tv->nb <= CM_MAX_TORN_BLOCKS;
  tv->combos = tv->full ? 1ul << tv->nb : 4ul * tv->nb;
}

/* Whether dirty block k (an index into blocks) reached the disk in
 * combination v: every subset, or (bounded) prefixes, suffixes, one block
 * alone, one block missing. */
static int persisted(const struct torn *tv, unsigned long v, size_t k) {
  size_t n = tv->nb;
  if (tv->full)
    return (int)((v >> k) & 1u);
  if (v <= n)
    return k < v;
  if (v < 2 * n)
    return k >= n - (v - n);
  if (v < 3 * n)
    return k == v - 2 * n;
  return k != v - 3 * n;
}

/* Build combination v into m->buf; returns its size. */
static size_t torn_build(struct model *m, const struct torn *tv, unsigned long v) {
  const struct inode *f = tv->f;
  size_t size = tv->size, i, k = 0;
  grow((void **)&m->buf, &m->buf_cap, size, 1);
  for (i = 0; i < size; i += CM_BLOCK) {
    size_t b = i / CM_BLOCK, end = i + CM_BLOCK < size ? i + CM_BLOCK : size, j;
    int take_live = 0;
    while (k < tv->nb && tv->blocks[k] < b)
      k++;
    if (k < tv->nb && tv->blocks[k] == b)
      take_live = persisted(tv, v, k);
    for (j = i; j < end; j++) {
      if (take_live)
        m->buf[j] = j < f->live_size ? f->live[j] : 0;
      else
        m->buf[j] = j < f->synced_size ? f->synced[j] : 0;
    }
  }
  return size;
}

static int same(const unsigned char *a, size_t an, const void *b, size_t bn) {
  return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* ---- invariants on one crash state ---------------------------------------- */

static const char *leaf_of(const char *name) {
  const char *slash = strrchr(name, '/');
  return slash != NULL ? slash + 1 : name;
}

/* The cm_initial entry that was `leaf` in the target's directory, or -1. */
static int initial_index(const struct model *m, const char *leaf) {
  size_t i;
  for (i = 0; i < m->t->n_initial; i++)
    if (m->initial_parent[i] == m->tdir && strcmp(leaf_of(m->t->initial[i].name), leaf) == 0)
      return (int)i;
  return -1;
}

/* 1 if `leaf` in the target's directory is the target or one of the
 * others the call may change (cm_expect.others). */
static int may_change(const struct model *m, const char *leaf) {
  size_t dl = (size_t)(m->tleaf - m->e->target), i;
  if (strcmp(leaf, m->tleaf) == 0)
    return 1;
  for (i = 0; i < m->e->n_others; i++) {
    const char *o = m->e->others[i];
    if ((size_t)(leaf_of(o) - o) == dl && strncmp(o, m->e->target, dl) == 0 &&
        strcmp(leaf_of(o), leaf) == 0)
      return 1;
  }
  return 0;
}

#define SHAPE_ABSENT (-1L)
#define SHAPE_DIR (-2L)

/* One state of the target (shape: its size, or SHAPE_*): old or new before
 * the return, new after a success (unless not durable), old or new after a
 * failure (a failed directory sync may leave the rename or its undoing
 * unknown). */
static void judge_target(struct model *m, int is_old, int is_new, long shape) {
  char what[64];
  m->r->states++;
  if (is_new || (is_old && !(m->after_return && m->e->status == 0 && !m->e->not_durable)))
    return;
  if (shape == SHAPE_ABSENT)
    snprintf(what, sizeof what, "target absent");
  else if (shape == SHAPE_DIR)
    snprintf(what, sizeof what, "target a directory, %s", is_old ? "whole" : "not the whole tree");
  else
    snprintf(what, sizeof what, "target has %ld bytes", shape);
  if (m->after_return && m->e->status == 0 && !m->e->not_durable)
    violate(m, CM_NOT_DURABLE, "%s, %s", what, is_old ? "the old content" : "not the new one");
  else
    violate(m, CM_TORN_TARGET, "%s, neither old nor new", what);
}

/* A directory target is "old" only with its whole tree: every directory
 * below it holds exactly the entries it held at the start (states[s] are
 * the entries of m->obs[s]). */
static int tree_whole(const struct model *m, const struct ents *states) {
  size_t s, i;
  for (s = 1; s < m->n_obs; s++) {
    size_t expected = 0;
    for (i = 0; i < m->t->n_initial; i++) {
      const char *leaf = strrchr(m->t->initial[i].name, '/');
      int j;
      if (m->initial_parent[i] != m->obs[s])
        continue;
      expected++;
      j = ents_find(&states[s], leaf ? leaf + 1 : m->t->initial[i].name);
      if (j < 0 || states[s].v[j].ino != m->initial_ino[i])
        return 0;
    }
    if (states[s].n != expected)
      return 0;
  }
  return 1;
}

/* states: the crash state, one entry list per observed directory; the
 * root's first. */
static void check_target(struct model *m, const struct ents *states) {
  const struct cm_expect *e = m->e;
  const struct ents *c = &states[0];
  int i = ents_find(c, m->tleaf), ino, old_is_dir = m->old_ino >= 0 && m->in[m->old_ino].is_dir;
  struct torn tv;
  unsigned long v;
  size_t sizes[2];
  int si;

  if (i < 0) {
    judge_target(m, m->old_ino < 0, e->new_absent, SHAPE_ABSENT);
    return;
  }
  ino = c->v[i].ino;
  if (m->in[ino].is_dir || old_is_dir) {
    judge_target(m, old_is_dir && ino == m->old_ino && tree_whole(m, states), 0, SHAPE_DIR);
    return;
  }
  sizes[0] = m->in[ino].synced_size;
  sizes[1] = m->in[ino].live_size;
  for (si = 0; si < (sizes[1] != sizes[0] ? 2 : 1); si++) {
    torn_init(&tv, &m->in[ino], sizes[si]);
    if (!tv.full)
      m->r->capped++;
    for (v = 0; v < tv.combos; v++) {
      size_t n = torn_build(m, &tv, v);
      judge_target(m, e->old_data != NULL && same(m->buf, n, e->old_data, e->old_size),
                   !e->new_absent && same(m->buf, n, e->new_data, e->new_size), (long)n);
    }
    free(tv.blocks);
  }
}

/* Names in a crash state: the ones from before keep their file, new ones
 * must be safefs's own. */
static void check_names(struct model *m, const struct ents *c) {
  size_t i;
  for (i = 0; i < c->n; i++) {
    if (may_change(m, c->v[i].name))
      continue;
    if (initial_index(m, c->v[i].name) < 0 && !safefs__is_own_name(c->v[i].name))
      violate(m, CM_STRAY_NAME, "'%s'", c->v[i].name);
  }
  for (i = 0; i < m->t->n_initial; i++) {
    const char *name = leaf_of(m->t->initial[i].name);
    int j;
    if (m->initial_parent[i] != m->tdir || may_change(m, name))
      continue;
    j = ents_find(c, name);
    if (j < 0 || c->v[j].ino != m->initial_ino[i])
      violate(m, CM_LOST_NAME, "'%s'", name);
  }
}

/* ---- crash points --------------------------------------------------------- */

static int obs_slot(const struct model *m, int dir) {
  size_t i;
  for (i = 0; i < m->n_obs; i++)
    if (m->obs[i] == dir)
      return (int)i;
  return -1;
}

/* Every state a crash now may leave in the observed directories: their
 * durable entries plus a choice of their pending operations (every subset
 * in trace order, or every prefix), then every content the target's file
 * may have. */
static void crash_point(struct model *m) {
  size_t *ops, k = 0, i, s;
  char *chosen;
  unsigned long mask, n_choices;
  int subset;

  m->r->points++;
  ops = (size_t *)xmalloc((m->n_p + 1) * sizeof *ops);
  for (i = 0; i < m->n_p; i++)
    if (obs_slot(m, m->p[i].dir) >= 0)
      ops[k++] = i;
  subset = m->order == CM_SUBSET && k <= CM_MAX_SUBSET_OPS;
  if (m->order == CM_SUBSET && !subset)
    m->r->capped++;
  n_choices = subset ? 1ul << k : (unsigned long)k + 1;
  chosen = (char *)xmalloc(k + 1);
  for (mask = 0; mask < n_choices; mask++) {
    int possible = 1;
    for (i = 0; i < k; i++)
      chosen[i] = (char)(subset ? (mask >> i) & 1u : i < mask);
    for (s = 0; s < m->n_obs; s++) {
      const struct ents *durable = &m->in[m->obs[s]].durable_ents;
      m->scratch[s].n = 0;
      for (i = 0; i < durable->n; i++)
        ents_add(&m->scratch[s], durable->v[i].name, durable->v[i].ino);
    }
    for (i = 0; i < k && possible; i++) {
      const struct pend *p = &m->p[ops[i]];
      if (chosen[i] && apply(&m->scratch[obs_slot(m, p->dir)], p, 0) != 0)
        possible = 0;
    }
    if (!possible) {
      m->r->impossible++;
      continue;
    }
    check_names(m, &m->scratch[0]);
    check_target(m, m->scratch);
  }
  free(chosen);
  free(ops);
}

/* ---- replay, with the ordering rules ---------------------------------------- */

static int is_target(const struct model *m, int dir, const char *leaf) {
  return dir == m->tdir && leaf != NULL && strcmp(leaf, m->tleaf) == 0;
}

/* The file a descriptor refers to, or -1 (reported as a mismatch). */
static int fd_file(struct model *m, long long fd) {
  struct fdent *f = fd_find(m, fd);
  if (f == NULL) {
    violate(m, CM_MODEL_MISMATCH, "descriptor %lld unknown", fd);
    return -1;
  }
  return f->ino;
}

/* A file about to be renamed onto the target: check how it was made. */
static void check_commit(struct model *m, const struct cm_event *ev, int ino, int by_link) {
  const struct inode *f = &m->in[ino];
  int durable = !(m->e->flags & SAFEFS_NOSYNC);
  if (f->created_ev < 0 || (!f->anon && !safefs__is_own_name(f->created_name)))
    violate(m, CM_TEMP_NOT_EXCL, "renamed '%s'", ev->path ? ev->path : "?");
  else if (f->created_dir != m->tdir)
    violate(m, CM_TEMP_ELSEWHERE, "'%s' made in another directory", f->created_name);
  if (durable && (f->last_sync_ev < 0 || f->last_sync_ev < f->last_write_ev))
    violate(m, CM_TEMP_NOT_SYNCED, "last write #%d, last sync #%d", f->last_write_ev,
            f->last_sync_ev);
  if (f->doomed && !by_link) /* (a mark takes only the temp's own name) */
    violate(m, CM_TEMP_DOOMED, "'%s' still marked", f->created_name);
  if (f->failed_sync_ev >= 0)
    violate(m, CM_RENAME_AFTER_FAILED_SYNC, "its sync #%d failed", f->failed_sync_ev);
  if ((m->e->flags & SAFEFS_NOREPLACE) && !(ev->flags & SAFEFS__RENAME_NOREPLACE))
    violate(m, CM_NOREPLACE_CLOBBERS, "rename without NOREPLACE");
  m->commit_through = (ev->flags & SAFEFS__RENAME_DURABLE) != 0;
  m->commit_ev = m->where;
}

/* Opens that write: the temp's exclusive create and the lock file's. */
static int replay_create(struct model *m, const struct cm_event *ev, int ok) {
  char *leaf;
  int dir = resolve(m, ev->handle, ev->path, &leaf), ino;
  if (is_target(m, dir, leaf))
    violate(m, CM_TARGET_WRITTEN, "target opened for writing");
  if (!ok || dir < 0) {
    if (ok)
      fd_add(m, ev->result, -1);
    free(leaf);
    return 0;
  }
  ino = lookup(m, dir, leaf);
  if (ino >= 0 && ev->op == SAFEFS__OP_CREATE_TEMP)
    violate(m, CM_MODEL_MISMATCH, "exclusive create of existing '%s'", leaf);
  if (ino >= 0) {
    fd_add(m, ev->result, ino);
    free(leaf);
    return 0;
  }
  ino = new_inode(m, 0);
  if (ev->op == SAFEFS__OP_CREATE_TEMP) {
    m->in[ino].created_ev = m->where;
    m->in[ino].created_dir = dir;
    m->in[ino].created_name = xstrdup(leaf);
    m->in[ino].doomed = (ev->flags & SAFEFS__CREATE_DOOMED) != 0;
  }
  pend_add(m, P_ADD, dir, leaf, NULL, ino, 0);
  fd_add(m, ev->result, ino);
  if (ev->op == SAFEFS__OP_CREATE_TEMP && strlen(leaf) < sizeof m->fds[0].link_name) {
    struct fdent *f = fd_find(m, ev->result);
    f->link_dir = dir;
    strcpy(f->link_name, leaf);
  }
  free(leaf);
  return 1;
}

/* CREATE_ANON: a file with no name yet, in the directory of the handle. */
static int replay_create_anon(struct model *m, const struct cm_event *ev, int ok) {
  const struct fdent *d = fd_find(m, ev->handle);
  int ino;
  if (!ok)
    return 0;
  if (d == NULL || d->ino < 0 || !m->in[d->ino].is_dir) {
    violate(m, CM_MODEL_MISMATCH, "nameless create in unknown directory %lld", ev->handle);
    fd_add(m, ev->result, -1);
    return 0;
  }
  ino = new_inode(m, 0);
  m->in[ino].created_ev = m->where;
  m->in[ino].created_dir = d->ino;
  m->in[ino].anon = 1;
  fd_add(m, ev->result, ino);
  return 0; /* no name: nothing a crash could show */
}

/* LINK_TEMP: the file of the handle gets the name `path` in the
 * directory it was made in: a nameless one (Linux O_TMPFILE) its first,
 * which never replaces; a named one (Win32 FileLinkInformation) one more,
 * replacing unless the call has SAFEFS__RENAME_NOREPLACE. A link straight
 * to the target is the commit; on Win32 it is not write-through (a
 * directory flush must follow), and the temp's delete-on-close mark may
 * stay on it, as the mark takes only the temp's own name. */
static int replay_link_temp(struct model *m, const struct cm_event *ev, int ok) {
  int ino = fd_file(m, ev->handle), dir, named;
  struct inode *f;
  if (ino < 0 || !ok || ev->path == NULL)
    return 0;
  f = &m->in[ino];
  dir = f->created_dir;
  named = f->created_name != NULL;
  if (dir < 0 || (named && f->anon)) {
    violate(m, CM_MODEL_MISMATCH, "link_temp of a file that has a name already");
    return 0;
  }
  if (!named)
    f->created_name = xstrdup(ev->path);
  if (is_target(m, dir, ev->path)) {
    struct cm_event commit = *ev;
    commit.flags = named ? (ev->flags & SAFEFS__RENAME_NOREPLACE)
                         : SAFEFS__RENAME_NOREPLACE |
                               (m->kind == CM_WIN32 ? SAFEFS__RENAME_DURABLE : 0u);
    check_commit(m, &commit, ino, named);
  }
  pend_add(m, named && !(ev->flags & SAFEFS__RENAME_NOREPLACE) ? P_PUT : P_ADD, dir, ev->path,
           NULL, ino, 0);
  return 1;
}

/* DOOM_TEMP / KEEP_TEMP: set or clear delete-on-close on the handle's file. */
static int replay_doom(struct model *m, const struct cm_event *ev, int ok) {
  int ino = fd_file(m, ev->handle);
  if (ino >= 0 && ok)
    m->in[ino].doomed = ev->op == SAFEFS__OP_DOOM_TEMP;
  return 0;
}

static int replay_write(struct model *m, const struct cm_event *ev, int ok) {
  int ino = fd_file(m, ev->handle);
  struct fdent *f = fd_find(m, ev->handle);
  if (ino < 0)
    return 0;
  if (ino == m->old_ino || ino == lookup(m, m->tdir, m->tleaf))
    violate(m, CM_TARGET_WRITTEN, "target written in place");
  if (!ok || ev->size == 0)
    return 0;
  file_write(&m->in[ino], f->pos, ev->data, ev->size);
  f->pos += ev->size;
  m->in[ino].last_write_ev = m->where;
  return 1;
}

static int replay_sync(struct model *m, const struct cm_event *ev, int ok) {
  int ino = fd_file(m, ev->handle);
  if (ino < 0)
    return 0;
  if (!ok) {
    if (ev->op == SAFEFS__OP_SYNC)
      m->in[ino].failed_sync_ev = m->where;
    return 0;
  }
  if (ev->op == SAFEFS__OP_SYNC && !m->in[ino].is_dir) {
    file_sync(&m->in[ino]);
    m->in[ino].last_sync_ev = m->where;
    return 1;
  }
  if (m->in[ino].is_dir) {
    /* POSIX: that directory's operations; NTFS: the whole log */
    make_durable(m, m->kind == CM_WIN32 ? -1 : ino, m->n_p);
    if (ino == m->tdir)
      m->dir_sync_ev = m->where;
    return 1;
  }
  return 0;
}

/* A flush of the whole filesystem (syncfs, SYNC_FS; the handle is any
 * file of it): every file's data, and every directory operation made
 * so far, durable. It does not count as the target directory's sync for
 * the rule that one must follow the rename (dir_sync_ev): safefs makes
 * its syncfs before any rename, and a directory fsync after them. A
 * failed one leaves every file as a failed sync of its own would. */
static int replay_sync_fs(struct model *m, int ok) {
  size_t i;
  for (i = 0; i < m->n_in; i++) {
    if (m->in[i].is_dir)
      continue;
    if (!ok) {
      m->in[i].failed_sync_ev = m->where;
    } else {
      file_sync(&m->in[i]);
      m->in[i].last_sync_ev = m->where;
    }
  }
  if (ok)
    make_durable(m, -1, m->n_p);
  return ok;
}

/* ReplaceFileW's first half: the file at `to` moves to the backup name. */
static void replaced_aside(struct model *m, const struct cm_event *ev, int dir, const char *to) {
  char *leaf;
  int bdir = resolve_beside(m, ev, dir, ev->backup, &leaf), ino = lookup(m, dir, to);
  if (ino < 0 || bdir != dir)
    violate(m, CM_MODEL_MISMATCH, "replace of absent '%s' or backup elsewhere", to);
  else
    pend_add(m, P_RENAME, dir, to, leaf, ino, 0);
  free(leaf);
}

static int replay_name_op(struct model *m, const struct cm_event *ev, int ok) {
  char *leaf, *leaf2 = NULL;
  int dir = resolve(m, ev->handle, ev->path, &leaf), dir2 = -1, ino, changed = 0;

  if (ev->op == SAFEFS__OP_RENAME || ev->op == SAFEFS__OP_LINK)
    dir2 = resolve_beside(m, ev, dir, ev->path2, &leaf2);
  if (ev->op == SAFEFS__OP_RENAME && ev->backup != NULL && ok && dir2 >= 0)
    replaced_aside(m, ev, dir2, leaf2);
  if (!ok || dir < 0)
    goto out;
  ino = lookup(m, dir, leaf);
  if (ino < 0) {
    violate(m, CM_MODEL_MISMATCH, "'%s' does not exist", leaf);
    goto out;
  }
  changed = 1;
  switch (ev->op) {
  case SAFEFS__OP_LINK:
    if (dir2 >= 0)
      pend_add(m, P_ADD, dir2, leaf2, NULL, ino, 0);
    break;
  case SAFEFS__OP_RENAME:
    if (is_target(m, dir2, leaf2) && ino != m->old_ino)
      check_commit(m, ev, ino, 0);
    if (dir2 == dir) {
      pend_add(m, P_RENAME, dir, leaf, leaf2, ino, ev->flags);
    } else {
      pend_add(m, P_DEL, dir, leaf, NULL, ino, 0);
      if (dir2 >= 0)
        pend_add(m, P_PUT, dir2, leaf2, NULL, ino, 0);
    }
    if (m->kind == CM_WIN32 && (ev->flags & SAFEFS__RENAME_DURABLE))
      make_durable(m, -1, m->n_p);
    break;
  default: /* UNLINK, RMDIR */
    pend_add(m, P_DEL, dir, leaf, NULL, ino, 0);
    break;
  }
out:
  free(leaf);
  free(leaf2);
  return changed;
}

/* The Win32 deleter opens an entry with DELETE access, relative to its
 * directory's handle, under the op it is about to do (UNLINK, RMDIR,
 * RENAME), and the call returns the entry's handle: that open changes
 * nothing. The deed is the disposition set on that handle afterwards,
 * reported with the entry's name and its handle (see resolve). */
static int replay_entry_open(struct model *m, const struct cm_event *ev) {
  char *leaf;
  int dir = resolve(m, ev->handle, ev->path, &leaf);
  int ino = dir < 0 || leaf == NULL ? -1 : lookup(m, dir, leaf);
  struct fdent *f;
  fd_add(m, ev->result, ino);
  f = fd_find(m, ev->result);
  if (dir >= 0 && leaf != NULL && strlen(leaf) < sizeof f->name) {
    f->parent = dir;
    strcpy(f->name, leaf);
  }
  free(leaf);
  return 0;
}

/* Replay event m->where; returns 1 if it changed the model. */
static int replay(struct model *m, const struct cm_event *ev) {
  int ok = ev->reported && ev->result >= 0 && !ev->skipped;
  char *leaf;
  int dir, ino;
  size_t n_p;

  if (ev->skipped)
    return 0; /* the call was not made */
  switch (ev->op) {
  case SAFEFS__OP_OPEN_DIR:
  case SAFEFS__OP_OPEN_READ:
    if (!ok)
      return 0;
    dir = resolve(m, ev->handle, ev->path, &leaf);
    ino = dir == ROOT_ITSELF ? m->root : dir < 0 ? -1 : lookup_step(m, dir, leaf);
    fd_add(m, ev->result, ino);
    free(leaf);
    return 0;
  case SAFEFS__OP_STAT: /* a full path sets where the bare names that follow are */
    if (ev->handle != -1 || ev->path == NULL || !is_absolute(ev->path))
      return 0;
    dir = resolve(m, ev->handle, ev->path, &leaf);
    if (dir >= 0)
      m->bare_dir = dir;
    free(leaf);
    return 0;
  case SAFEFS__OP_CREATE_TEMP:
  case SAFEFS__OP_OPEN_LOCK:
    return replay_create(m, ev, ok);
  case SAFEFS__OP_CREATE_ANON:
    return replay_create_anon(m, ev, ok);
  case SAFEFS__OP_LINK_TEMP:
    return replay_link_temp(m, ev, ok);
  case SAFEFS__OP_DOOM_TEMP:
  case SAFEFS__OP_KEEP_TEMP:
    return replay_doom(m, ev, ok);
  case SAFEFS__OP_WRITE:
    return replay_write(m, ev, ok);
  case SAFEFS__OP_SYNC:
  case SAFEFS__OP_SYNC_DIR:
    return replay_sync(m, ev, ok);
  case SAFEFS__OP_SYNC_FS:
    return replay_sync_fs(m, ok);
  case SAFEFS__OP_CLOSE:
    n_p = m->n_p;
    fd_close(m, ev->handle);
    return m->n_p != n_p; /* a marked file's name went */
  case SAFEFS__OP_LINK:
  case SAFEFS__OP_RENAME:
  case SAFEFS__OP_UNLINK:
  case SAFEFS__OP_RMDIR:
    if (ok && ev->result > 0 && m->kind == CM_WIN32)
      return replay_entry_open(m, ev);
    return replay_name_op(m, ev, ok);
  default:
    return 0;
  }
}

/* The root and what the trace says it held, all durable. */
static void build_initial(struct model *m) {
  size_t i;
  m->root = new_inode(m, 1);
  m->initial_ino = (int *)xmalloc((m->t->n_initial + 1) * sizeof(int));
  m->initial_parent = (int *)xmalloc((m->t->n_initial + 1) * sizeof(int));
  for (i = 0; i < m->t->n_initial; i++) {
    const struct cm_initial *in = &m->t->initial[i];
    char *copy = xstrdup(in->name), *rel = copy, *slash;
    int dir = m->root, ino;
    while ((slash = strchr(rel, '/')) != NULL) { /* parents come first */
      *slash = '\0';
      dir = lookup(m, dir, rel);
      rel = slash + 1;
    }
    ino = new_inode(m, in->is_dir);
    if (!in->is_dir) {
      file_write(&m->in[ino], 0, in->data, in->size);
      file_sync(&m->in[ino]);
    }
    if (dir >= 0) {
      ents_add(&m->in[dir].live_ents, xstrdup(rel), ino);
      ents_add(&m->in[dir].durable_ents, xstrdup(rel), ino);
    }
    m->initial_ino[i] = ino;
    m->initial_parent[i] = dir;
    free(copy);
  }
  /* the target's directory (declared, if not the root), and the target's
     tree if it is a directory */
  m->tdir = m->bare_dir = m->root;
  m->tleaf = leaf_of(m->e->target);
  if (m->tleaf != m->e->target) {
    size_t dl = (size_t)(m->tleaf - m->e->target) - 1;
    for (i = 0; i < m->t->n_initial; i++)
      if (m->t->initial[i].is_dir && strlen(m->t->initial[i].name) == dl &&
          strncmp(m->t->initial[i].name, m->e->target, dl) == 0)
        m->tdir = m->initial_ino[i];
    if (m->tdir == m->root)
      violate(m, CM_MODEL_MISMATCH, "the directory of '%s' was not declared", m->e->target);
  }
  m->obs = (int *)xmalloc((m->t->n_initial + 1) * sizeof(int));
  m->obs[m->n_obs++] = m->tdir;
  for (i = 0; i < m->t->n_initial; i++) {
    const char *name = m->t->initial[i].name;
    size_t tl = strlen(m->e->target);
    if (m->t->initial[i].is_dir && strncmp(name, m->e->target, tl) == 0 &&
        (name[tl] == '\0' || name[tl] == '/'))
      m->obs[m->n_obs++] = m->initial_ino[i];
  }
  m->scratch = (struct ents *)xmalloc(m->n_obs * sizeof *m->scratch);
  memset(m->scratch, 0, m->n_obs * sizeof *m->scratch);
  m->old_ino = lookup(m, m->tdir, m->tleaf);
}

static void free_model(struct model *m) {
  size_t i;
  for (i = 0; i < m->n_in; i++) {
    free(m->in[i].live);
    free(m->in[i].synced);
    free(m->in[i].dirty);
    free(m->in[i].created_name);
    ents_free(&m->in[i].live_ents);
    ents_free(&m->in[i].durable_ents);
  }
  for (i = 0; i < m->n_p; i++) {
    free(m->p[i].name);
    free(m->p[i].to);
  }
  free(m->in);
  free(m->p);
  free(m->fds);
  free(m->initial_ino);
  free(m->initial_parent);
  for (i = 0; i < m->n_obs; i++)
    free(m->scratch[i].v);
  free(m->scratch);
  free(m->obs);
  free(m->buf);
}

/* After the return, without a crash: the status tells the truth, and no
 * temp or backup is left behind. */
static void check_live_end(struct model *m) {
  const struct cm_expect *e = m->e;
  const struct ents *live = &m->in[m->tdir].live_ents;
  int ino = lookup(m, m->tdir, m->tleaf);
  size_t i;

  if (e->status == 0) {
    if (e->new_absent ? ino >= 0
                      : ino < 0 || m->in[ino].is_dir ||
                            !same(m->in[ino].live, m->in[ino].live_size, e->new_data,
                                  e->new_size))
      violate(m, CM_WRONG_RESULT, "success, but the target is not in its new state");
    if (!(e->flags & SAFEFS_NOSYNC) && !e->not_durable && m->kind == CM_POSIX &&
        m->commit_ev >= 0 && m->dir_sync_ev < m->commit_ev)
      violate(m, CM_RENAME_NOT_DURABLE, "no directory sync after rename #%d", m->commit_ev);
    if (!(e->flags & SAFEFS_NOSYNC) && !e->not_durable && m->kind == CM_WIN32 &&
        m->commit_ev >= 0 && !m->commit_through && m->dir_sync_ev < m->commit_ev)
      violate(m, CM_RENAME_NOT_DURABLE, "rename #%d neither write-through nor followed by a "
              "directory flush", m->commit_ev);
  } else {
    /* a file is as it was if it has the old content, also as a copy (the
       POSIX restore after a failed directory fsync copies it back from the
       old file held open); a directory must be the same one */
    int as_was;
    if (m->old_ino < 0)
      as_was = ino < 0;
    else if (m->in[m->old_ino].is_dir)
      as_was = ino == m->old_ino;
    else
      as_was = ino >= 0 && !m->in[ino].is_dir &&
               same(m->in[ino].live, m->in[ino].live_size, e->old_data, e->old_size);
    if (!as_was && !(e->failure_may_finish &&
                     (e->new_absent ? ino < 0
                                    : ino >= 0 && !m->in[ino].is_dir &&
                                          same(m->in[ino].live, m->in[ino].live_size,
                                               e->new_data, e->new_size))))
      violate(m, CM_WRONG_RESULT, "failed, but the target is neither as it was nor, where "
              "the failure may come after the commit, in its new state");
  }
  if (e->allow_leftover)
    return;
  for (i = 0; i < live->n; i++)
    if (initial_index(m, live->v[i].name) < 0 && safefs__is_own_name(live->v[i].name))
      violate(m, CM_LEFTOVER, "'%s'", live->v[i].name);
}

long cm_check_order(const struct cm_trace *t, const struct cm_expect *e, enum cm_model model,
                    enum cm_order order, struct cm_report *r) {
  struct model m;
  size_t i;

  memset(&m, 0, sizeof m);
  m.kind = model;
  m.order = order;
  m.t = t;
  m.e = e;
  m.r = r;
  m.where = -1;
  m.commit_ev = m.dir_sync_ev = -1;
  build_initial(&m);
  crash_point(&m);
  for (i = 0; i < t->n; i++) {
    m.where = (int)i;
    if (replay(&m, &t->ev[i]))
      crash_point(&m);
  }
  m.after_return = 1;
  crash_point(&m);
  check_live_end(&m);
  free_model(&m);
  return m.violations;
}

long cm_check(const struct cm_trace *t, const struct cm_expect *e, enum cm_model model,
              struct cm_report *r) {
  return cm_check_order(t, e, model, model == CM_WIN32 ? CM_PREFIX : CM_SUBSET, r);
}

long cm_total(const struct cm_report *r) {
  long n = 0;
  int c;
  for (c = 0; c < CM_CHECK_COUNT; c++)
    n += r->violations[c];
  return n;
}

void cm_report_print(const struct cm_report *r, FILE *out) {
  int c;
  fprintf(out, "  %ld crash points, %ld crash states (%ld impossible subsets skipped, %ld capped)\n",
          r->points, r->states, r->impossible, r->capped);
  for (c = 0; c < CM_CHECK_COUNT; c++)
    if (r->violations[c] > 0)
      fprintf(out, "  VIOLATION %-24s x%-5ld %s\n", cm_check_name((enum cm_check)c),
              r->violations[c], r->first[c]);
}
