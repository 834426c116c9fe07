/*
 * Whole-file read. The size the OS reports is only a first guess for the
 * buffer: the file is read until a read returns 0 bytes, so a file that
 * grows while it is read is read to its end and one that shrinks is not
 * padded. One NUL follows the content so text can be used as a C string.
 */
#include "platform.h"

#define MIN_CHUNK 4096

static int read_file(const char *path, void **data, size_t *size) {
  unsigned char *buf = NULL;
  size_t cap, used = 0;
  safefs__rfile *f;
  struct safefs__saved_error e;
  int rc;

  if (data != NULL)
    *data = NULL;
  if (size != NULL)
    *size = 0;
  if (data == NULL || size == NULL)
    return safefs__fail_arg("safefs_read_file", data == NULL ? "data is NULL" : "size is NULL");
  if ((rc = safefs__check_path("safefs_read_file", path, 0)) != 0)
    return rc;
  if ((rc = safefs__rfile_open(&f, path, &cap)) != 0)
    return rc;
  cap = cap < (size_t)-1 / 2 - MIN_CHUNK ? cap + MIN_CHUNK : MIN_CHUNK;
  buf = (unsigned char *)safefs__malloc(cap + 1);
  if (buf == NULL) {
    rc = SAFEFS_ENOMEM;
    goto out;
  }
  for (;;) {
    size_t got;
    if (used == cap) {
      size_t ncap = cap * 2;
      unsigned char *nb = ncap > cap ? (unsigned char *)safefs__realloc(buf, ncap + 1) : NULL;
      if (nb == NULL) {
        rc = SAFEFS_ENOMEM;
        goto out;
      }
      buf = nb;
      cap = ncap;
    }
    if ((rc = safefs__rfile_read(f, buf + used, cap - used, &got)) != 0)
      goto out;
    if (got == 0)
      break;
    used += got;
  }
  buf[used] = '\0';

out:
  safefs__error_save(&e);
  safefs__rfile_close(f);
  if (rc != 0) {
    safefs__free(buf);
    return safefs__error_restore(&e, rc);
  }
  *data = buf;
  *size = used;
  return 0;
}

int safefs_read_file(const char *path, void **data, size_t *size) {
  return safefs__result(read_file(path, data, size), "safefs_read_file", path);
}
