/*
 * The names safefs writes to disk besides the target itself, and how a
 * path is split into directory and file name. Shared by both backends so a
 * temp file made on one platform is recognised by safefs_sweep on any.
 */
#include <string.h>

#include "platform.h"

#define PREFIX_MARK ".safefs-"
#define RANDOM_HEX 16

static const char hex_digits[] = "0123456789abcdef";

/* Length of the longest prefix of s, at most max bytes, that does not cut
 * a UTF-8 sequence (continuation bytes are 10xxxxxx). */
static size_t utf8_prefix(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n <= max)
    return n;
  n = max;
  while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
    n--;
  return n;
}

/* The seam is asked first (an injected error means nothing is filled);
 * a failure is recorded as a RANDOM call, for the message. */
int safefs__random(void *buf, size_t size) {
  long e = safefs__seam_op(SAFEFS__OP_RANDOM, NULL);
  struct safefs__call c;
  int os_rc = 0, rc;

  if (e <= 0 && (os_rc = safefs__os_random(buf, size, &e)) == 0)
    return 0;
  memset(&c, 0, sizeof c);
  c.op = SAFEFS__OP_RANDOM;
  c.handle = -1;
  safefs__record_failed_call(&c, e);
  rc = safefs__fail_os(e); /* the message; a failure whatever e maps to */
  return os_rc < 0 ? os_rc : rc; /* the backend's status (Win32: an NTSTATUS is EIO) */
}

int safefs__make_name(char *out, const char *base, const char *kind) {
  unsigned char rnd[RANDOM_HEX / 2];
  size_t fixed, keep, pos, i;
  int rc;

  rc = safefs__random(rnd, sizeof rnd);
  if (rc != 0) {
    safefs__message_append(", for a new name beside '%s'", base);
    return rc;
  }
  /* "." base PREFIX_MARK hex "." kind */
  fixed = 1 + strlen(PREFIX_MARK) + RANDOM_HEX + 1 + strlen(kind);
  keep = utf8_prefix(base, SAFEFS__NAME_MAX - fixed);
  pos = 0;
  out[pos++] = '.';
  memcpy(out + pos, base, keep);
  pos += keep;
  memcpy(out + pos, PREFIX_MARK, strlen(PREFIX_MARK));
  pos += strlen(PREFIX_MARK);
  for (i = 0; i < sizeof rnd; i++) {
    out[pos++] = hex_digits[rnd[i] >> 4];
    out[pos++] = hex_digits[rnd[i] & 15];
  }
  out[pos++] = '.';
  memcpy(out + pos, kind, strlen(kind) + 1);
  return 0;
}

int safefs__with_fresh_name(char *out, const char *base, const char *kind,
                            safefs__create_fn create, void *ctx) {
  int tries, rc;
  for (tries = 0; tries < SAFEFS__NAME_TRIES; tries++) {
    if ((rc = safefs__make_name(out, base, kind)) != 0)
      return rc;
    if ((rc = create(ctx, out)) != SAFEFS_EEXIST)
      return rc;
  }
  return safefs__fail_msg(SAFEFS_EEXIST, safefs_last_os_error(),
                          "make a .%s name beside '%s': %d fresh names were all taken", kind,
                          base, SAFEFS__NAME_TRIES);
}

int safefs__is_own_name(const char *name) {
  const char *kinds[3] = {SAFEFS__KIND_TMP, SAFEFS__KIND_OLD, SAFEFS__KIND_TRASH};
  size_t len = strlen(name), mark = strlen(PREFIX_MARK), k, i;

  if (len == 0 || name[0] != '.')
    return 0;
  for (k = 0; k < 3; k++) {
    size_t klen = strlen(kinds[k]);
    /* minimum: "." + mark + hex + "." + kind, base may be empty */
    size_t tail = mark + RANDOM_HEX + 1 + klen;
    const char *t;
    if (len < 1 + tail)
      continue;
    t = name + len - tail;
    if (memcmp(t, PREFIX_MARK, mark) != 0)
      continue;
    for (i = 0; i < RANDOM_HEX; i++) {
      char c = t[mark + i];
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
        break;
    }
    if (i != RANDOM_HEX || t[mark + RANDOM_HEX] != '.')
      continue;
    if (strcmp(t + mark + RANDOM_HEX + 1, kinds[k]) == 0)
      return 1;
  }
  return 0;
}

int safefs__split_path(const char *path, size_t *dir_len, const char **base) {
  size_t len = strlen(path), cut = len;

  while (cut > 0 && !safefs__is_sep((unsigned char)path[cut - 1]))
    cut--;
  *base = path + cut;
  if ((*base)[0] == '\0' || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0)
    return SAFEFS_EINVAL;
  /* keep "/" for a file in the root directory; drop the trailing separator
     otherwise */
  if (cut == 0)
    *dir_len = 0;
  else if (cut == 1)
    *dir_len = 1;
  else
    *dir_len = cut - 1;
  return 0;
}

int safefs__check_path(const char *function, const char *path, int need_name) {
  size_t dir_len;
  const char *base;
  if (path == NULL)
    return safefs__fail_arg(function, "path is NULL");
  if (path[0] == '\0')
    return safefs__fail_arg(function, "path is empty");
  if (need_name && safefs__split_path(path, &dir_len, &base) != 0)
    return safefs__fail_msg(SAFEFS_EINVAL, 0,
                            "%s: path '%s' names no file (it ends in a separator, '.' or '..')",
                            function, path);
  return 0;
}

int safefs__split_dir(const char *path, char **dir, const char **base) {
  size_t dir_len;
  int rc = safefs__split_path(path, &dir_len, base);
  *dir = NULL;
  if (rc != 0)
    return safefs__fail_msg(rc, 0, "path '%s' names no file", path);
  *dir = (char *)safefs__malloc(dir_len + 2);
  if (*dir == NULL)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  if (dir_len == 0) { /* a bare name: the current directory */
    (*dir)[0] = '.';
    (*dir)[1] = '\0';
  } else {
    memcpy(*dir, path, dir_len);
    (*dir)[dir_len] = '\0';
  }
  return 0;
}

int safefs__own_backup_target(const char *name, char *base) {
  size_t len = strlen(name);
  size_t tail = strlen(PREFIX_MARK) + RANDOM_HEX + 1 + strlen(SAFEFS__KIND_OLD);
  /* A base shortened to fit cannot be known again: only names well below
   * the limit are trusted to carry the whole base. */
  if (!safefs__is_own_name(name) || len + 4 > SAFEFS__NAME_MAX || len < 1 + tail + 1 ||
      strcmp(name + len - strlen(SAFEFS__KIND_OLD), SAFEFS__KIND_OLD) != 0)
    return 0;
  memcpy(base, name + 1, len - 1 - tail);
  base[len - 1 - tail] = '\0';
  return 1;
}
