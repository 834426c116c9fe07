/*
 * The public atomic-write API: argument checks, buffering and the order of
 * the replace protocol. The protocol steps themselves (temp file, sync,
 * rename) are the backend's, in src/<backend>/replace.c.
 */
#include <string.h>

#include "platform.h"

#define WRITER_BUFFER_SIZE (64u * 1024u)

struct safefs_writer {
  safefs__temp *temp;
  int status; /* first failure; sticks, and the commit returns it */
  struct safefs__saved_error status_error; /* its OS error and message */
  size_t used;
  unsigned char buffer[WRITER_BUFFER_SIZE];
};

int safefs__check_write_flags(const char *function, unsigned flags, unsigned known) {
  if ((flags & ~known) != 0)
    return safefs__fail_msg(SAFEFS_EINVAL, 0, "%s: unknown flags 0x%x", function, flags & ~known);
  if ((flags & SAFEFS_PRIVATE) && !safefs__can_create_private())
    return safefs__fail_msg(SAFEFS_ENOTSUP, 0,
                            "%s: SAFEFS_PRIVATE is not supported on this platform yet", function);
  return 0;
}

/* What both entry points check and do before the temp exists: the path,
 * the flags, and the missing parent directories for SAFEFS_MKDIRS. */
static int prepare(const char *function, const char *path, unsigned flags) {
  int rc;
  if ((rc = safefs__check_path(function, path, 1)) != 0 ||
      (rc = safefs__check_write_flags(function, flags, SAFEFS__WRITE_FLAGS)) != 0)
    return rc;
  if (flags & SAFEFS_MKDIRS)
    return safefs__make_parents(path, flags);
  return 0;
}

/* Whole-buffer replace: the writer's steps without the copy into its
 * buffer. create -> write -> commit; any failure before the commit
 * discards the temp, so the target is never touched. */
static int write_file(const char *path, const void *data, size_t size, unsigned flags) {
  safefs__temp *t;
  int rc;

  if (data == NULL && size > 0)
    return safefs__fail_arg("safefs_write_file", "data is NULL and size is not 0");
  if ((rc = prepare("safefs_write_file", path, flags)) != 0)
    return rc;
  rc = safefs__temp_create(&t, path, flags);
  if (rc != 0)
    return rc;
  if (size > 0) {
    rc = safefs__temp_write(t, data, size);
    if (rc != 0) {
      struct safefs__saved_error e;
      safefs__error_save(&e);
      safefs__temp_discard(t);
      return safefs__error_restore(&e, rc);
    }
  }
  return safefs__temp_commit(t);
}

int safefs_write_file(const char *path, const void *data, size_t size, unsigned flags) {
  return safefs__result(write_file(path, data, size, flags), "safefs_write_file", path);
}

static int writer_open(safefs_writer **out, const char *path, unsigned flags) {
  safefs_writer *w;
  int rc;

  if (out == NULL)
    return safefs__fail_arg("safefs_writer_open", "out is NULL");
  *out = NULL;
  if ((rc = prepare("safefs_writer_open", path, flags)) != 0)
    return rc;
  w = (safefs_writer *)safefs__malloc(sizeof *w);
  if (w == NULL)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  rc = safefs__temp_create(&w->temp, path, flags);
  if (rc != 0) {
    safefs__free(w);
    return rc;
  }
  w->status = 0;
  w->used = 0;
  *out = w;
  return 0;
}

int safefs_writer_open(safefs_writer **out, const char *path, unsigned flags) {
  return safefs__result(writer_open(out, path, flags), "safefs_writer_open", path);
}

/* Remember the first failure so later calls and the commit report it,
 * with the same OS error and message. */
static int poison(safefs_writer *w, int rc) {
  w->status = rc;
  safefs__error_save(&w->status_error);
  return rc;
}

static int flush_buffer(safefs_writer *w) {
  int rc;
  if (w->used == 0)
    return 0;
  rc = safefs__temp_write(w->temp, w->buffer, w->used);
  w->used = 0;
  return rc;
}

int safefs_writer_write(safefs_writer *w, const void *data, size_t size) {
  const unsigned char *p = (const unsigned char *)data;
  int rc;

  if (w == NULL)
    return safefs__fail_arg("safefs_writer_write", "writer is NULL");
  if (data == NULL && size > 0)
    return safefs__fail_arg("safefs_writer_write", "data is NULL and size is not 0");
  if (w->status != 0)
    return safefs__error_restore(&w->status_error, w->status);
  /* Fill the buffer; a write at least as large as the buffer goes straight
     to the file once the buffer is empty, so big writes are not copied. */
  while (size > 0) {
    size_t room;
    if (w->used == 0 && size >= WRITER_BUFFER_SIZE) {
      rc = safefs__temp_write(w->temp, p, size);
      return rc != 0 ? poison(w, rc) : 0;
    }
    room = WRITER_BUFFER_SIZE - w->used;
    if (room > size)
      room = size;
    memcpy(w->buffer + w->used, p, room);
    w->used += room;
    p += room;
    size -= room;
    if (w->used == WRITER_BUFFER_SIZE && (rc = flush_buffer(w)) != 0)
      return poison(w, rc);
  }
  return 0;
}

int safefs_writer_commit(safefs_writer *w) {
  int rc;

  if (w == NULL)
    return safefs__fail_arg("safefs_writer_commit", "writer is NULL");
  rc = w->status;
  if (rc == 0 && (rc = flush_buffer(w)) != 0)
    poison(w, rc);
  if (rc != 0) {
    safefs__temp_discard(w->temp);
    rc = safefs__error_restore(&w->status_error, rc);
    safefs__free(w);
    return rc;
  }
  rc = safefs__temp_commit(w->temp);
  safefs__free(w);
  return rc;
}

void safefs_writer_abort(safefs_writer *w) {
  if (w == NULL)
    return;
  safefs__temp_discard(w->temp);
  safefs__free(w);
}
