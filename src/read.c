/*
 * Whole-file reads. The size the OS reports is only a first guess for the
 * buffer: the file is read until a read returns 0 bytes, so a file that
 * grows while it is read is read to its end and one that shrinks is not
 * padded. One NUL follows the content so text can be used as a C string.
 */
#include "platform.h"

#include <string.h>

#define MIN_CHUNK 4096

/* Read again at most this often when an in-place writer keeps changing
 * the file under a stamped read. */
#define STAMPED_READ_TRIES 4

/* Read the open file f to its end into a new buffer; size_hint is the
 * first guess. On failure nothing is allocated and the status is
 * recorded. */
static int read_all(safefs__rfile *f, size_t size_hint, void **data, size_t *size) {
  unsigned char *buf;
  size_t cap, used = 0;
  int rc;

  cap = size_hint < (size_t)-1 / 2 - MIN_CHUNK ? size_hint + MIN_CHUNK : MIN_CHUNK;
  buf = (unsigned char *)safefs__malloc(cap + 1);
  if (buf == NULL)
    return SAFEFS_ENOMEM;
  for (;;) {
    size_t got;
    if (used == cap) {
      size_t ncap = cap * 2;
      unsigned char *nb = ncap > cap ? (unsigned char *)safefs__realloc(buf, ncap + 1) : NULL;
      if (nb == NULL) {
        safefs__free(buf);
        return SAFEFS_ENOMEM;
      }
      buf = nb;
      cap = ncap;
    }
    if ((rc = safefs__rfile_read(f, buf + used, cap - used, &got)) != 0) {
      safefs__free(buf);
      return rc;
    }
    if (got == 0)
      break;
    used += got;
  }
  buf[used] = '\0';
  *data = buf;
  *size = used;
  return 0;
}

/* Open, read whole, close. With `before`, the file's stamp is taken from
 * the open file before the read, and *changed says whether it differed
 * after the read. On failure *data stays NULL. */
static int read_file(const char *path, void **data, size_t *size, safefs_stamp *before,
                     int *changed) {
  struct safefs__identity id;
  struct safefs__saved_error e;
  safefs_stamp after;
  safefs__rfile *f;
  size_t hint;
  int rc;

  if ((rc = safefs__rfile_open(&f, path, &hint)) != 0)
    return rc;
  if (before != NULL && (rc = safefs__rfile_identity(f, &id)) == 0)
    safefs__stamp_from(&id, before);
  if (rc == 0)
    rc = read_all(f, hint, data, size);
  if (rc == 0 && before != NULL) {
    if ((rc = safefs__rfile_identity(f, &id)) != 0) {
      safefs__free(*data);
      *data = NULL;
      *size = 0;
    } else {
      safefs__stamp_from(&id, &after);
      *changed = !safefs__stamp_same(before, &after);
    }
  }
  safefs__error_save(&e);
  safefs__rfile_close(f);
  return rc != 0 ? safefs__error_restore(&e, rc) : 0;
}

/* Arguments checked, outputs cleared, for both public readers. */
static int check_read(const char *function, const char *path, void **data, size_t *size) {
  if (data != NULL)
    *data = NULL;
  if (size != NULL)
    *size = 0;
  if (data == NULL || size == NULL)
    return safefs__fail_arg(function, data == NULL ? "data is NULL" : "size is NULL");
  return safefs__check_path(function, path, 0);
}

int safefs_read_file(const char *path, void **data, size_t *size) {
  int rc = check_read("safefs_read_file", path, data, size);
  if (rc == 0)
    rc = read_file(path, data, size, NULL, NULL);
  return safefs__result(rc, "safefs_read_file", path);
}

/* Each try opens the path afresh, so a file replaced meanwhile is read
 * as its new self; a file changed in place while read is read again, and
 * after STAMPED_READ_TRIES returned with an untrusted stamp. */
static int read_stamped(const char *path, void **data, size_t *size, safefs_stamp *out) {
  int rc, tries, changed = 0;
  if (out != NULL)
    memset(out, 0, sizeof *out);
  if ((rc = check_read("safefs_read_file_stamped", path, data, size)) != 0)
    return rc;
  if (out == NULL)
    return safefs__fail_arg("safefs_read_file_stamped", "out is NULL");
  for (tries = 1;; tries++) {
    if ((rc = read_file(path, data, size, out, &changed)) != 0) {
      memset(out, 0, sizeof *out);
      return rc;
    }
    if (!changed)
      return 0;
    if (tries == STAMPED_READ_TRIES) {
      out->trusted = 0;
      return 0;
    }
    safefs__free(*data);
    *data = NULL;
    *size = 0;
  }
}

int safefs_read_file_stamped(const char *path, void **data, size_t *size, safefs_stamp *out) {
  return safefs__result(read_stamped(path, data, size, out), "safefs_read_file_stamped", path);
}
