/* Paths at the Win32 edge; see path.h. */
#include "path.h"

#include <string.h>

#include "sys.h"

#define LONG_PREFIX L"\\\\?\\"
#define LONG_PREFIX_LEN 4
#define UNC_PREFIX L"\\\\?\\UNC\\"
#define UNC_PREFIX_LEN 8

/* How often a name that an OPEN_ALWAYS open was refused for is found gone
 * before the refusal counts as "may not create it" (a file deleted between
 * our open and our look at it is the other explanation). */
#define VANISHED_TRIES 3

/* UTF-8 -> UTF-16: measure, allocate, convert, with the strict shared
 * converter (src/utf8.c): invalid input (stray bytes, overlong forms,
 * encoded surrogates) is refused, never replaced by U+FFFD, so two
 * different byte strings never name one file. The refusal is reported as
 * Windows would (ERROR_NO_UNICODE_TRANSLATION). wchar_t is the 16-bit
 * unsigned type the converter writes on every Windows compiler. */
int safefs__path_to_wide(const char *s, wchar_t **out) {
  long n = safefs__utf8_to_utf16(s, NULL, 0);
  wchar_t *w;
  *out = NULL;
  if (n < 0)
    return safefs__fail_input(SAFEFS_EINVAL, ERROR_NO_UNICODE_TRANSLATION,
                              "a path or name is not valid UTF-8");
  w = (wchar_t *)safefs__malloc(sizeof(wchar_t) * ((size_t)n + 1));
  if (w == NULL)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  safefs__utf8_to_utf16(s, (unsigned short *)w, (size_t)n + 1);
  *out = w;
  return 0;
}

static int starts_with(const wchar_t *s, const wchar_t *prefix) {
  return wcsncmp(s, prefix, wcslen(prefix)) == 0;
}

/* For display, \\?\C:\x is shown as C:\x and \\?\UNC\server\share as
 * \\server\share: the "\\" of the UNC form is kept as one extra byte. */
int safefs__path_utf8(const wchar_t *w, int len, int display, char **out) {
  size_t units = len < 0 ? wcslen(w) : (size_t)len, lead = 0;
  long n;
  char *s;
  *out = NULL;
  if (display && units >= UNC_PREFIX_LEN && wcsncmp(w, UNC_PREFIX, UNC_PREFIX_LEN) == 0) {
    w += UNC_PREFIX_LEN - 1; /* from the backslash before the server name */
    units -= UNC_PREFIX_LEN - 1;
    lead = 1;
  } else if (display && units >= LONG_PREFIX_LEN &&
             wcsncmp(w, LONG_PREFIX, LONG_PREFIX_LEN) == 0) {
    w += LONG_PREFIX_LEN;
    units -= LONG_PREFIX_LEN;
  }
  n = safefs__utf16_to_utf8((const unsigned short *)w, units, NULL, 0);
  if (n < 0)
    return safefs__fail_msg(SAFEFS_EINVAL, ERROR_NO_UNICODE_TRANSLATION,
                            "a name on disk is not valid UTF-16 (a lone surrogate)");
  s = (char *)safefs__malloc(lead + (size_t)n + 1);
  if (s == NULL)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  s[0] = '\\';
  safefs__utf16_to_utf8((const unsigned short *)w, units, s + lead, (size_t)n + 1);
  *out = s;
  return 0;
}

/* GetFullPathNameW resolves the current directory, "." and "..", turns
 * '/' into '\\', and works past MAX_PATH for the wide version. The \\?\
 * prefix then switches off further parsing, which is why it comes last. */
int safefs__path_from_utf8(struct safefs__wpath *p, const char *path) {
  wchar_t *w, *full, *res;
  DWORD need, got;
  size_t len, pre;
  int rc;

  p->wide = NULL;
  p->name = path;
  if ((rc = safefs__path_to_wide(path, &w)) != 0)
    return rc;
  if (starts_with(w, LONG_PREFIX) || starts_with(w, L"\\\\.\\")) {
    p->wide = w;
    return 0;
  }
  need = GetFullPathNameW(w, 0, NULL, NULL);
  if (need == 0) {
    DWORD e = GetLastError();
    safefs__free(w);
    return safefs__fail_msg(safefs__status_from_os((long)e), (long)e,
                            "make '%s' absolute: Win32 error %lu", path, (unsigned long)e);
  }
  full = (wchar_t *)safefs__malloc(sizeof(wchar_t) * need);
  if (full == NULL) {
    safefs__free(w);
    return safefs__fail(SAFEFS_ENOMEM, 0);
  }
  got = GetFullPathNameW(w, need, full, NULL);
  safefs__free(w);
  if (got == 0 || got >= need) { /* error, or the current dir changed in between */
    DWORD e = got == 0 ? GetLastError() : ERROR_BUFFER_OVERFLOW;
    safefs__free(full);
    return safefs__fail_msg(safefs__status_from_os((long)e), (long)e,
                            "make '%s' absolute: Win32 error %lu", path, (unsigned long)e);
  }
  if (starts_with(full, L"\\\\.\\") || starts_with(full, LONG_PREFIX)) {
    p->wide = full; /* a device name such as NUL: no prefix applies */
    return 0;
  }
  len = wcslen(full);
  /* \\server\share\x -> \\?\UNC\server\share\x; C:\x -> \\?\C:\x */
  pre = starts_with(full, L"\\\\") ? UNC_PREFIX_LEN - 2 : LONG_PREFIX_LEN;
  res = (wchar_t *)safefs__malloc(sizeof(wchar_t) * (pre + len + 1));
  if (res == NULL) {
    safefs__free(full);
    return safefs__fail(SAFEFS_ENOMEM, 0);
  }
  if (pre == LONG_PREFIX_LEN) {
    memcpy(res, LONG_PREFIX, sizeof(wchar_t) * LONG_PREFIX_LEN);
    memcpy(res + pre, full, sizeof(wchar_t) * (len + 1));
  } else {
    memcpy(res, UNC_PREFIX, sizeof(wchar_t) * UNC_PREFIX_LEN);
    memcpy(res + UNC_PREFIX_LEN, full + 2, sizeof(wchar_t) * (len - 1));
  }
  safefs__free(full);
  p->wide = res;
  return 0;
}

size_t safefs__path_base_offset(const wchar_t *path) {
  const wchar_t *slash = wcsrchr(path, L'\\');
  return slash ? (size_t)(slash - path) + 1 : 0;
}

int safefs__path_join(struct safefs__wpath *p, const wchar_t *dir, size_t dir_len,
                      const char *name) {
  wchar_t *wname, *res;
  size_t n;
  int rc;

  p->wide = NULL;
  p->name = name;
  if ((rc = safefs__path_to_wide(name, &wname)) != 0)
    return rc;
  n = wcslen(wname);
  res = (wchar_t *)safefs__malloc(sizeof(wchar_t) * (dir_len + n + 1));
  if (res == NULL) {
    safefs__free(wname);
    return safefs__fail(SAFEFS_ENOMEM, 0);
  }
  if (dir_len > 0) /* dir may be NULL when dir_len is 0 */
    memcpy(res, dir, sizeof(wchar_t) * dir_len);
  memcpy(res + dir_len, wname, sizeof(wchar_t) * (n + 1));
  safefs__free(wname);
  p->wide = res;
  return 0;
}

void safefs__path_free(struct safefs__wpath *p) {
  safefs__free(p->wide);
  p->wide = NULL;
}

/* Windows says ERROR_PATH_NOT_FOUND both for a missing directory and for a
 * file used as one; POSIX says ENOENT and ENOTDIR. The nearest ancestor
 * that exists tells which. Only failures pay for this walk. */
int safefs__path_fail(DWORD err, const struct safefs__wpath *p, const char *dir) {
  struct safefs__wpath up;
  size_t len;
  int status = SAFEFS_ENOENT;

  if (err != ERROR_PATH_NOT_FOUND)
    return safefs__fail_os_at((long)err, p->name, dir);
  safefs__fail_os_at((long)err, p->name, dir); /* the message: the call that failed */
  len = wcslen(p->wide);
  up.name = p->name;
  up.wide = (wchar_t *)safefs__malloc(sizeof(wchar_t) * (len + 1));
  if (up.wide == NULL)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  memcpy(up.wide, p->wide, sizeof(wchar_t) * (len + 1));
  for (;;) {
    size_t cut = safefs__path_base_offset(up.wide);
    DWORD attrs, e;
    if (cut <= LONG_PREFIX_LEN)
      break;
    up.wide[cut - 1] = L'\0';
    attrs = safefs__sys_attributes(&up);
    if (attrs != INVALID_FILE_ATTRIBUTES) {
      if (!(attrs & FILE_ATTRIBUTE_DIRECTORY))
        status = SAFEFS_ENOTDIR;
      break;
    }
    e = GetLastError();
    if (e != ERROR_FILE_NOT_FOUND && e != ERROR_PATH_NOT_FOUND)
      break;
  }
  safefs__path_free(&up);
  return safefs__fail(status, (long)err);
}

/* The failed call is published first, while its record is fresh: looking
 * at the attributes is another call, whose own failure is no news. */
int safefs__path_denied(const struct safefs__wpath *p, int plain_refuses, int *gone,
                        const char *dir) {
  const long e = ERROR_ACCESS_DENIED;
  DWORD attrs, why;

  safefs__fail_os_at(e, p->name, dir);
  attrs = safefs__sys_attributes(p);
  why = GetLastError();
  if (gone != NULL)
    *gone = 0;
  if (attrs != INVALID_FILE_ATTRIBUTES) {
    if (attrs & FILE_ATTRIBUTE_DIRECTORY) {
      safefs__message_append(" ('%s' is a directory)", p->name);
      return safefs__fail(SAFEFS_EISDIR, e);
    }
    if (attrs & FILE_ATTRIBUTE_READONLY) {
      safefs__message_append(" (the read-only attribute is set)");
      return safefs__fail(SAFEFS_EACCES, e);
    }
    return safefs__fail(plain_refuses ? SAFEFS_EACCES : SAFEFS__AGAIN, e);
  }
  if (why == ERROR_PATH_NOT_FOUND) /* refused, and its directory is not there either */
    return safefs__fail(SAFEFS_EACCES, e);
  if (why == ERROR_FILE_NOT_FOUND && gone != NULL)
    *gone = 1;
  return safefs__fail(SAFEFS__AGAIN, e); /* delete pending, or gone meanwhile */
}

struct open_path {
  const struct safefs__wpath *p;
  DWORD access, share, disposition, flags;
  enum safefs__op op;
  HANDLE h;
  int vanished;
};

static int open_attempt(void *ctx) {
  struct open_path *o = (struct open_path *)ctx;
  int rc, gone;
  DWORD e;

  o->h = safefs__sys_create_file(o->p, o->access, o->share, o->disposition, o->flags, o->op);
  if (o->h != INVALID_HANDLE_VALUE)
    return 0;
  e = GetLastError();
  if (e != ERROR_ACCESS_DENIED) {
    if (safefs__os_transient((long)e))
      return safefs__attempt_failed((long)e, o->p->name, NULL);
    return safefs__path_fail(e, o->p, NULL);
  }
  /* opened for writing, a plain file that refuses us does so by its ACL */
  rc = safefs__path_denied(o->p, (o->access & GENERIC_WRITE) != 0, &gone, NULL);
  if (rc == SAFEFS__AGAIN && gone && o->disposition == OPEN_ALWAYS &&
      ++o->vanished > VANISHED_TRIES)
    return safefs__fail(SAFEFS_EACCES, (long)e); /* we may not create it */
  return rc;
}

int safefs__path_open(const struct safefs__wpath *p, DWORD access, DWORD share,
                      DWORD disposition, DWORD flags, enum safefs__op op, HANDLE *out) {
  struct open_path o;
  int rc;
  memset(&o, 0, sizeof o);
  o.p = p;
  o.access = access;
  o.share = share;
  o.disposition = disposition;
  o.flags = flags;
  o.op = op;
  rc = safefs__retry(open_attempt, &o, -1);
  *out = rc == 0 ? o.h : INVALID_HANDLE_VALUE;
  return rc;
}
