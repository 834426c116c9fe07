/*
 * SAFEFS_MKDIRS: the missing directories above a target, created before
 * the file is written, each made durable by syncing its parent right
 * after it is created. The order matters for power loss: a file whose
 * directory entry is durable but whose directory's own entry is not would
 * vanish with the directory, so every new directory's entry is synced
 * before anything is created inside it.
 */
#include "platform.h"

#include <string.h>

/* Length of the parent of p[0 .. len): the part before the last run of
 * separators. A root keeps its separator ("/" and, on Windows, "C:\"), so
 * it still names the root. 0 when p[0 .. len) is a single relative
 * component (its parent is the current directory). */
static size_t parent_len(const char *p, size_t len) {
  size_t cut = len;
  while (cut > 0 && !safefs__is_sep((unsigned char)p[cut - 1]))
    cut--;
  if (cut == 0)
    return 0;
  while (cut > 1 && safefs__is_sep((unsigned char)p[cut - 2]))
    cut--;
  /* cut is one past the separator: keep it for "/" and "X:\" */
  if (cut == 1 || (cut >= 2 && p[cut - 2] == ':'))
    return cut;
  return cut - 1;
}

/* 0 if the directory `dir` exists, else its status (SAFEFS_ENOENT,
 * SAFEFS_ENOTDIR for a file, ...). An empty string is the current
 * directory. */
static int is_dir(const char *dir) {
  safefs__dir *d;
  int rc = safefs__dir_open_path(&d, dir[0] != '\0' ? dir : ".");
  if (rc == 0)
    safefs__dir_close(d);
  return rc;
}

/* Make the entry of a new directory durable: sync its parent,
 * buf[0 .. parent), temporarily cut there. */
static int sync_parent(char *buf, size_t parent) {
  char saved = buf[parent];
  safefs__dir *d;
  int rc;
  buf[parent] = '\0';
  rc = safefs__dir_open_path(&d, parent > 0 ? buf : ".");
  buf[parent] = saved;
  if (rc != 0)
    return rc;
  rc = safefs__dir_sync(d);
  safefs__dir_close(d);
  return rc;
}

/* Walk up from the target's directory to the nearest one that exists,
 * then create the rest on the way down. A directory that another process
 * created between our look and our mkdir (SAFEFS_EEXIST, and a directory)
 * is taken as it is, and its parent still synced: its creator may not have
 * synced it yet. */
int safefs__make_parents(const char *path, unsigned flags) {
  const char *base;
  size_t dir_len, have, next;
  char *buf;
  int rc;

  if ((rc = safefs__split_path(path, &dir_len, &base)) != 0)
    return safefs__fail(rc, 0);
  if (dir_len == 0)
    return 0;
  if ((buf = (char *)safefs__malloc(dir_len + 1)) == NULL)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  memcpy(buf, path, dir_len);
  buf[dir_len] = '\0';

  for (have = dir_len;; have = parent_len(buf, have)) {
    char saved = buf[have];
    buf[have] = '\0';
    rc = is_dir(buf);
    buf[have] = saved;
    if (rc != SAFEFS_ENOENT || have == 0)
      break;
  }
  if (rc != 0 && !(rc == SAFEFS_ENOENT && have == 0))
    goto out;
  for (rc = 0; have < dir_len; have = next) {
    char saved;
    next = have;
    while (next < dir_len && safefs__is_sep((unsigned char)buf[next]))
      next++;
    while (next < dir_len && !safefs__is_sep((unsigned char)buf[next]))
      next++;
    saved = buf[next];
    buf[next] = '\0';
    rc = safefs__mkdir(buf);
    if (rc == SAFEFS_EEXIST)
      rc = is_dir(buf); /* a racing creator's directory, or SAFEFS_ENOTDIR */
    buf[next] = saved;
    if (rc != 0)
      break;
    if (!(flags & SAFEFS_NOSYNC) && (rc = sync_parent(buf, have)) != 0)
      break;
  }
out:
  safefs__free(buf);
  return rc;
}
