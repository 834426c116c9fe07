/*
 * The retrying deleter: safefs_remove, safefs_remove_tree, safefs_sweep.
 *
 * This file holds the order of the steps and the retry policy; the backend
 * (src/<backend>/remove.c) supplies a directory handle and one attempt at
 * each step (see the remove.c section of platform.h).
 *
 *   remove       look at the name (a directory is EISDIR); on Windows rename
 *                the file aside to a trash name first; remove it
 *   remove_tree  look at the name (a file is ENOTDIR, a link is removed
 *                itself); rename the directory aside to a trash name in the
 *                same directory; delete the trash copy, deepest entries
 *                first, without ever following a link
 *   sweep        remove safefs's own temp, backup and trash names in one
 *                directory that are older than a minimum age
 *
 * Why rename aside first: the rename is atomic, so another process sees
 * the whole tree under its name or nothing, never a half-deleted tree; two
 * removers race on the rename, and the loser gets SAFEFS_ENOENT. The name
 * is free as soon as the rename is done, so the caller can create a new
 * file or tree there at once even if deleting the old one has to wait for
 * other processes (Windows) or fails half way. Whatever is left stays under
 * a trash name that safefs_sweep recognises and removes later.
 *
 * One budget covers a whole call: every transient failure (another process
 * holding a file on Windows) is retried through safefs__retry until the
 * call's deadline; after it each step gets one more attempt only.
 */
#include <string.h>

#include "platform.h"

/* Directories a tree walk keeps open at once; deeper levels are parked and
 * re-opened on the way back up, so a tree of any depth costs at most this
 * many descriptors (the default soft limit on Linux is 1024). */
#define OPEN_LEVELS 16

/* What is left of the call's budget, never negative: 0 means "one attempt
 * more" to safefs__retry. */
static long budget_left(long long deadline) {
  long long left = deadline - safefs__now_ms();
  return left > 0 ? (long)left : 0;
}

/* ---- the listing ------------------------------------------------------------
 * readdir makes no promise about entries removed while a listing is open,
 * and some filesystems do skip entries then (so does Windows'
 * FileIdBothDirectoryInfo, batch by batch). So a pass that removed anything
 * is followed by another from the start; the listing is over after a pass
 * that removed nothing (for an emptied directory, one pass over nothing).
 * 1 with an entry, 0 when the listing is done, or a status. */
static int dir_next(safefs__dir *d, const char **name, int *kind) {
  for (;;) {
    int rc = safefs__dir_read(d, name, kind);
    if (rc != 0 || safefs__dir_removed(d) == 0)
      return rc;
  }
}

/* ---- one step, retried ---------------------------------------------------- */

enum step { STEP_UNLINK, STEP_RMDIR, STEP_RENAME };

struct step_args {
  enum step step;
  safefs__dir *dir;
  const char *name;
  const char *to;
};

static int attempt_step(void *ctx) {
  const struct step_args *a = (const struct step_args *)ctx;
  switch (a->step) {
  case STEP_UNLINK:
    return safefs__dir_unlink(a->dir, a->name);
  case STEP_RMDIR:
    return safefs__dir_rmdir(a->dir, a->name);
  default:
    return safefs__dir_rename(a->dir, a->name, a->to);
  }
}

static int retry_step(enum step step, safefs__dir *d, const char *name, const char *to,
                      long long deadline) {
  struct step_args a;
  a.step = step;
  a.dir = d;
  a.name = name;
  a.to = to;
  return safefs__retry(attempt_step, &a, budget_left(deadline));
}

/* Rename `name` aside to a fresh trash name, written to trash. A name that
 * is taken (by chance, or planted) just means drawing another. */
struct aside {
  safefs__dir *dir;
  const char *name;
  long long deadline;
};

static int rename_to(void *ctx, const char *trash) {
  const struct aside *a = (const struct aside *)ctx;
  return retry_step(STEP_RENAME, a->dir, a->name, trash, a->deadline);
}

static int rename_aside(safefs__dir *d, const char *name, char *trash, long long deadline) {
  struct aside a;
  a.dir = d;
  a.name = name;
  a.deadline = deadline;
  return safefs__with_fresh_name(trash, name, SAFEFS__KIND_TRASH, rename_to, &a);
}

/* Put a renamed entry back under its old name after a hard failure, if
 * nobody has taken the name meanwhile; one attempt, the caller's status
 * and OS error are kept whatever happens. */
static int put_back(safefs__dir *d, const char *trash, const char *name, int rc) {
  struct safefs__saved_error e;
  safefs__error_save(&e);
  safefs__dir_rename(d, trash, name);
  return safefs__error_restore(&e, rc);
}

/* ---- the tree walk ---------------------------------------------------------
 * Iterative, so the depth of a tree is limited by memory, not by the C
 * stack: a stack of levels, each an open directory and its name in the
 * level above. Entries are removed as they are listed; a subdirectory is
 * entered (never through a link: the backend opens it relative to its
 * parent and refuses links), emptied, then removed from its parent on the
 * way back up.
 *
 * Only the OPEN_LEVELS deepest levels keep their handle. Levels above are
 * parked and, when the walk climbs back to one, re-opened through its child
 * ("..") and checked to be the same directory (device and inode), so a
 * directory moved elsewhere by another process mid-walk is never emptied
 * by mistake. A re-opened level is listed again from its start; that is
 * correct because everything listed before has been removed.
 *
 * The walk stops at the first failure that outlasts the budget and returns
 * it; what is left stays in place (a trash copy: safefs_sweep finishes it).
 * An entry that vanished meanwhile (another deleter, a sweep) is fine. */
struct level {
  safefs__dir *dir;
  char *name; /* the name of this directory in the level above */
  int parked;
};

static void free_levels(struct level *lv, size_t depth) {
  size_t i;
  for (i = 0; i <= depth; i++) {
    safefs__dir_close(lv[i].dir);
    safefs__free(lv[i].name);
  }
  safefs__free(lv);
}

/* Enter the subdirectory `name` of the deepest level: push it, parking the
 * level that falls out of the window of open ones. */
static int push_level(struct level **lvp, size_t *cap, size_t *depth, safefs__dir *child,
                      const char *name) {
  struct level *lv = *lvp;
  size_t len = strlen(name), d;
  char *copy;

  if (*depth + 1 == *cap) {
    struct level *bigger = (struct level *)safefs__realloc(lv, *cap * 2 * sizeof *lv);
    if (bigger == NULL)
      return safefs__fail(SAFEFS_ENOMEM, 0);
    *lvp = lv = bigger;
    *cap *= 2;
  }
  copy = (char *)safefs__malloc(len + 1);
  if (copy == NULL)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  memcpy(copy, name, len + 1);
  d = ++*depth;
  lv[d].dir = child;
  lv[d].name = copy;
  lv[d].parked = 0;
  if (d >= OPEN_LEVELS && !lv[d - OPEN_LEVELS].parked) {
    safefs__dir_park(lv[d - OPEN_LEVELS].dir);
    lv[d - OPEN_LEVELS].parked = 1;
  }
  return 0;
}

/* Delete the directory `name` inside `parent` and everything below it.
 * If `name` itself is not a real directory (a file or link took its place)
 * *not_dir is set and nothing is touched; a SAFEFS_ENOTDIR from further
 * down is just a failure of the walk. */
static int delete_tree(safefs__dir *parent, const char *name, long long deadline,
                       int *not_dir) {
  struct level *lv;
  size_t cap = 2 * OPEN_LEVELS, depth = 0;
  int rc;

  *not_dir = 0;
  lv = (struct level *)safefs__malloc(cap * sizeof *lv);
  if (lv == NULL)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  lv[0].name = NULL;
  lv[0].parked = 0;
  rc = safefs__dir_open_child(&lv[0].dir, parent, name);
  if (rc != 0) {
    safefs__free(lv);
    *not_dir = rc == SAFEFS_ENOTDIR;
    return rc == SAFEFS_ENOENT ? 0 : rc;
  }
  for (;;) {
    struct level *top = &lv[depth];
    const char *entry;
    int kind;

    rc = dir_next(top->dir, &entry, &kind);
    if (rc < 0)
      break;
    if (rc == 1) {
      if (kind == SAFEFS__ENTRY_DIR) {
        safefs__dir *child;
        rc = safefs__dir_open_child(&child, top->dir, entry);
        if (rc == 0) {
          if ((rc = push_level(&lv, &cap, &depth, child, entry)) != 0) {
            safefs__dir_close(child);
            break;
          }
          continue;
        }
        if (rc == SAFEFS_ENOENT)
          continue;
        if (rc != SAFEFS_ENOTDIR)
          break;
        /* replaced by a link or file since it was listed: remove that */
      }
      rc = retry_step(STEP_UNLINK, top->dir, entry, NULL, deadline);
      if (rc != 0 && rc != SAFEFS_ENOENT)
        break;
      continue;
    }

    /* top is empty: close it and remove it from the level above */
    if (depth == 0) {
      safefs__dir_close(top->dir);
      top->dir = NULL;
      rc = retry_step(STEP_RMDIR, parent, name, NULL, deadline);
      break;
    }
    if (lv[depth - 1].parked) {
      if ((rc = safefs__dir_unpark(lv[depth - 1].dir, top->dir)) != 0)
        break;
      lv[depth - 1].parked = 0;
    }
    safefs__dir_close(top->dir);
    top->dir = NULL;
    rc = retry_step(STEP_RMDIR, lv[depth - 1].dir, top->name, NULL, deadline);
    safefs__free(top->name);
    top->name = NULL;
    depth--;
    if (rc != 0 && rc != SAFEFS_ENOENT)
      break;
  }
  if (rc == SAFEFS_ENOENT)
    rc = 0;
  if (rc != 0) {
    struct safefs__saved_error e;
    safefs__error_save(&e);
    free_levels(lv, depth);
    return safefs__error_restore(&e, rc);
  }
  free_levels(lv, depth);
  return 0;
}

/* ---- the public calls ------------------------------------------------------ */

/* Check the path (for the public call `function`), open its directory and
 * look at its last component. */
static int open_parent(const char *function, const char *path, safefs__dir **d,
                       const char **base, int *kind) {
  long long age;
  char *dir;
  int rc;

  *d = NULL;
  if ((rc = safefs__check_path(function, path, 1)) != 0)
    return rc;
  if ((rc = safefs__split_dir(path, &dir, base)) != 0)
    return rc;
  rc = safefs__dir_open_path(d, dir);
  safefs__free(dir);
  if (rc != 0)
    return rc;
  if ((rc = safefs__dir_stat(*d, *base, kind, &age)) != 0) {
    struct safefs__saved_error e;
    safefs__error_save(&e);
    safefs__dir_close(*d);
    *d = NULL;
    return safefs__error_restore(&e, rc);
  }
  return 0;
}

/* Remove the non-directory `name` in d. Where a removed name can linger
 * (Windows), the file is renamed aside first, so the name is free once the
 * rename is done; if the removal then fails for good (not merely busy) the
 * file is put back, so a failure leaves it as it was. */
static int remove_entry(safefs__dir *d, const char *name, long long deadline) {
  char trash[SAFEFS__NAME_MAX + 1];
  int rc;

  if (!safefs__unlink_leaves_name())
    return retry_step(STEP_UNLINK, d, name, NULL, deadline);
  if ((rc = rename_aside(d, name, trash, deadline)) != 0)
    return rc;
  rc = retry_step(STEP_UNLINK, d, trash, NULL, deadline);
  if (rc == 0 || rc == SAFEFS_ENOENT || rc == SAFEFS_EBUSY)
    return rc == SAFEFS_ENOENT ? 0 : rc; /* EBUSY: left aside for sweep */
  return put_back(d, trash, name, rc);
}

static int remove_one(const char *path, long timeout_ms) {
  long long deadline = safefs__now_ms() + safefs__budget(timeout_ms);
  safefs__dir *d;
  const char *base;
  int kind, rc;

  if ((rc = safefs__check_path("safefs_remove", path, 1)) != 0)
    return rc;
  /* unlink before anything else: a plain file goes in one call */
  if (safefs__unlink_fast(path) == 0)
    return 0;
  if ((rc = open_parent("safefs_remove", path, &d, &base, &kind)) != 0)
    return rc;
  if (kind == SAFEFS__ENTRY_DIR)
    rc = safefs__fail_msg(SAFEFS_EISDIR, 0,
                          "safefs_remove: '%s' is a directory (see safefs_remove_tree)", path);
  else
    rc = remove_entry(d, base, deadline);
  safefs__dir_close(d);
  return rc;
}

int safefs_remove(const char *path, long timeout_ms) {
  return safefs__result(remove_one(path, timeout_ms), "safefs_remove", path);
}

static int remove_tree(const char *path, long timeout_ms) {
  long long deadline = safefs__now_ms() + safefs__budget(timeout_ms);
  char trash[SAFEFS__NAME_MAX + 1];
  safefs__dir *d;
  const char *base;
  int kind, not_dir, rc;

  if ((rc = open_parent("safefs_remove_tree", path, &d, &base, &kind)) != 0)
    return rc;
  if (kind == SAFEFS__ENTRY_FILE) {
    rc = safefs__fail_msg(SAFEFS_ENOTDIR, 0, "safefs_remove_tree: '%s' is not a directory", path);
  } else if (kind == SAFEFS__ENTRY_LINK) {
    rc = remove_entry(d, base, deadline); /* the link, never what it names */
  } else if ((rc = rename_aside(d, base, trash, deadline)) == 0) {
    /* The rename must be durable before anything inside is deleted: a
     * filesystem that commits directories independently could otherwise
     * keep the deletions and lose the rename, and a power loss would leave
     * a half-deleted tree under the original name. */
    if ((rc = safefs__dir_sync(d)) != 0) {
      safefs__dir_close(d);
      return rc; /* the whole tree is under the trash name; sweep removes it */
    }
    rc = delete_tree(d, trash, deadline, &not_dir);
    if (not_dir) /* swapped for a file or link between the look and the rename */
      rc = put_back(d, trash, base, rc);
  }
  safefs__dir_close(d);
  return rc;
}

int safefs_remove_tree(const char *path, long timeout_ms) {
  return safefs__result(remove_tree(path, timeout_ms), "safefs_remove_tree", path);
}

/* How many backup names in `dir` stand for the file `target`. */
static int count_backups(const char *dir, const char *target) {
  char other[SAFEFS__NAME_MAX + 1];
  safefs__dir *d;
  const char *name;
  int kind, n = 0;
  if (safefs__dir_open_path(&d, dir) != 0)
    return -1;
  while (dir_next(d, &name, &kind) == 1)
    if (safefs__own_backup_target(name, other) && strcmp(other, target) == 0)
      n++;
  safefs__dir_close(d);
  return n;
}

/* Remove one entry of a sweep if it is safefs's own and old enough. A
 * directory is deleted as a tree in place (it is already a trash name). */
static int sweep_entry(safefs__dir *d, const char *dir, const char *name, long min_age_s,
                       long long deadline) {
  long long age;
  int kind, not_dir = 1, rc;

  char target[SAFEFS__NAME_MAX + 1];

  if (!safefs__is_own_name(name))
    return 0;
  rc = safefs__dir_stat(d, name, &kind, &age);
  if (rc != 0 || (min_age_s > 0 && age < min_age_s)) /* 0: whatever the clocks say */
    return rc == SAFEFS_ENOENT ? 0 : rc;
  /* A backup of a replace whose target is missing is the old content left
   * by a crash in the middle of the replace (Windows: ReplaceFileW is two
   * renames): put it back rather than delete the only copy. With several
   * backups for one missing target (a writer that died before dropping its
   * backup, then one that died inside a replace) nothing tells which is
   * newer, so all are left for the application: SAFEFS_EEXIST. The rename
   * never replaces, so a target created meanwhile wins. */
  if (kind == SAFEFS__ENTRY_FILE && safefs__own_backup_target(name, target)) {
    int tkind;
    long long tage;
    if (safefs__dir_stat(d, target, &tkind, &tage) == SAFEFS_ENOENT) {
      if (count_backups(dir, target) != 1)
        return safefs__fail_msg(SAFEFS_EEXIST, 0,
                                "sweep '%s': several backups stand for the missing '%s'; "
                                "the application must choose",
                                dir, target);
      /* if it cannot be put back now, it is kept: it may be the only
         copy (a rename refused while a scanner holds it); a target
         created meanwhile makes a later sweep drop it */
      if ((rc = safefs__dir_rename(d, name, target)) == 0)
        return 0;
      if (rc != SAFEFS_EEXIST)
        return rc == SAFEFS__AGAIN ? SAFEFS_EBUSY : rc;
    }
  }
  if (kind == SAFEFS__ENTRY_DIR)
    rc = delete_tree(d, name, deadline, &not_dir);
  if (not_dir) /* not a directory, or no longer one since the look */
    rc = retry_step(STEP_UNLINK, d, name, NULL, deadline);
  return rc == SAFEFS_ENOENT ? 0 : rc; /* gone already: someone else swept it */
}

static int sweep(const char *dir, long min_age_s) {
  long long deadline = safefs__now_ms() + safefs__budget(-1);
  safefs__dir *d;
  struct safefs__saved_error first_error;
  int first = 0, rc;

  if ((rc = safefs__check_path("safefs_sweep", dir, 0)) != 0)
    return rc;
  if (min_age_s < 0)
    return safefs__fail_arg("safefs_sweep", "min_age_s is negative");
  if ((rc = safefs__dir_open_path(&d, dir)) != 0)
    return rc;
  for (;;) {
    const char *name;
    int kind, listed = dir_next(d, &name, &kind);
    if (listed == 0)
      break;
    rc = listed < 0 ? listed : sweep_entry(d, dir, name, min_age_s, deadline);
    if (rc != 0 && first == 0) {
      first = rc;
      safefs__error_save(&first_error);
    }
    if (listed < 0) /* the listing itself failed: nothing more to try */
      break;
  }
  safefs__dir_close(d);
  return first != 0 ? safefs__error_restore(&first_error, first) : 0;
}

int safefs_sweep(const char *dir, long min_age_s) {
  return safefs__result(sweep(dir, min_age_s), "safefs_sweep", dir);
}
