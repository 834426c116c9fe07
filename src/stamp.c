/*
 * File identity for cache invalidation (safefs.h, "File identity"). The
 * backends read the attributes (src/<backend>/stamp.c); this file decides
 * what a stamp may vouch for. src/read.c reads a file with its stamp.
 */
#include "platform.h"

#include <string.h>

/* A stamp vouches for the content only once the settling window has passed
 * since the file's last change: before that, a further change could carry
 * the same times (see platform.h on `now`). A clock that went backwards
 * gives a negative age, which is not trusted either. */
void safefs__stamp_from(const struct safefs__identity *id, safefs_stamp *out) {
  long long last = id->mtime > id->ctime ? id->mtime : id->ctime;
  memcpy(out->file, id->file, sizeof out->file);
  out->size = id->size;
  out->mtime = id->mtime;
  out->ctime = id->ctime;
  out->trusted = id->now - last >= id->settle;
}

/* Same file, same state, trust aside. */
int safefs__stamp_same(const safefs_stamp *a, const safefs_stamp *b) {
  return memcmp(a->file, b->file, sizeof a->file) == 0 && a->size == b->size &&
         a->mtime == b->mtime && a->ctime == b->ctime;
}

static int stamp_get(const char *path, safefs_stamp *out) {
  struct safefs__identity id;
  int rc;
  if (out == NULL)
    return safefs__fail_arg("safefs_stamp_get", "out is NULL");
  memset(out, 0, sizeof *out);
  if ((rc = safefs__check_path("safefs_stamp_get", path, 0)) != 0)
    return rc;
  if ((rc = safefs__identity_path(path, &id)) != 0)
    return rc;
  safefs__stamp_from(&id, out);
  return 0;
}

int safefs_stamp_get(const char *path, safefs_stamp *out) {
  return safefs__result(stamp_get(path, out), "safefs_stamp_get", path);
}

int safefs_stamp_equal(const safefs_stamp *a, const safefs_stamp *b) {
  return a != NULL && b != NULL && a->trusted && b->trusted && safefs__stamp_same(a, b);
}
