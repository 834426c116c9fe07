/*
 * Paths at the Win32 edge: the library's UTF-8 paths become the UTF-16
 * paths every Win32 call takes, once, here (libuv keeps the same apart in
 * src/win/util.c from its calls in src/win/fs.c); and the three things that
 * need a path's meaning rather than one call: telling ENOENT from ENOTDIR,
 * the policy for ERROR_ACCESS_DENIED, and the open by path that waits out
 * other holders.
 *
 * POSIX has no mirror of this file: its paths go to the kernel as the
 * bytes the caller gave, so there is nothing to convert.
 */
#ifndef SAFEFS_WIN32_PATH_H
#define SAFEFS_WIN32_PATH_H

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <wchar.h>

#include "../platform.h"

/* A path as Win32 calls take it, and the UTF-8 name safefs shows for it:
 * in safefs_last_error_message and to the test seam. The name is the
 * caller's path, or for the names safefs makes (temp, backup, trash) that
 * name alone; the message adds the directory. */
struct safefs__wpath {
  wchar_t *wide;    /* \\?\ absolute; owned, safefs__path_free */
  const char *name; /* UTF-8; not owned, lives as long as the wpath */
};

/* Convert the UTF-8 `path` (p->name becomes `path`): strict conversion
 * (invalid UTF-8 is SAFEFS_EINVAL with ERROR_NO_UNICODE_TRANSLATION, never
 * replaced by U+FFFD), made absolute with GetFullPathNameW (both '/' and
 * '\\' separate), and given the \\?\ prefix (\\?\UNC\ for \\server\share)
 * so that paths longer than MAX_PATH work. A path that already starts with
 * \\?\ or \\.\ is only converted. Returns 0 or a status (recorded). */
int safefs__path_from_utf8(struct safefs__wpath *p, const char *path);

/* dir[0 .. dir_len) followed by the UTF-8 component `name` (p->name
 * becomes `name`). */
int safefs__path_join(struct safefs__wpath *p, const wchar_t *dir, size_t dir_len,
                      const char *name);

/* Free p->wide; p may be reused. */
void safefs__path_free(struct safefs__wpath *p);

/* Offset of the last component of an absolute wide path (just after its
 * last backslash): path[0 .. offset) is the directory with its separator. */
size_t safefs__path_base_offset(const wchar_t *path);

/* The first `len` UTF-16 units of w (len < 0: up to the NUL) as a new
 * UTF-8 string, without a \\?\ prefix if `display`. A lone surrogate
 * cannot be UTF-8: SAFEFS_EINVAL, with ERROR_NO_UNICODE_TRANSLATION. */
int safefs__path_utf8(const wchar_t *w, int len, int display, char **out);

/* UTF-8 -> a new UTF-16 string, strictly (see safefs__path_from_utf8). */
int safefs__path_to_wide(const char *s, wchar_t **out);

/* Fail with the Win32 error `err` met on p, as safefs__fail_os does,
 * except that ERROR_PATH_NOT_FOUND is told apart the way POSIX does: if
 * the nearest existing ancestor is a file rather than a directory the
 * status is SAFEFS_ENOTDIR, otherwise SAFEFS_ENOENT. `dir` is the context
 * for the message (may be NULL). */
int safefs__path_fail(DWORD err, const struct safefs__wpath *p, const char *dir);

/* The one policy for ERROR_ACCESS_DENIED on p. Windows says it for a real
 * permission problem and for a file that is merely busy, so p's attributes
 * decide:
 *   a directory                   SAFEFS_EISDIR, at once;
 *   the read-only attribute       SAFEFS_EACCES, at once;
 *   attributes refused too        delete pending (someone is deleting it):
 *                                 SAFEFS__AGAIN, wait;
 *   no such file                  gone meanwhile: SAFEFS__AGAIN, and *gone
 *                                 is set so that a caller creating the file
 *                                 (OPEN_ALWAYS) can count how often that
 *                                 happens before calling it a refusal;
 *   a plain file                  with `plain_refuses` (we opened it by
 *                                 name for writing: the lock file) its ACL
 *                                 refuses us: SAFEFS_EACCES at once; else
 *                                 SAFEFS__AGAIN: a rename or replace onto
 *                                 it meets another process holding it open
 *                                 (MoveFileExW says so with this error),
 *                                 and a reader's open may have met the old
 *                                 file of a replace, delete pending, whose
 *                                 name a new file has taken since.
 * The failure is published in each case (with `dir` as context). */
int safefs__path_denied(const struct safefs__wpath *p, int plain_refuses, int *gone,
                        const char *dir);

/* Open p with CreateFileW (see safefs__sys_create_file), waiting out other
 * holders through safefs__retry within the retry budget: sharing and lock
 * violations, and ERROR_ACCESS_DENIED as safefs__path_denied decides (a
 * plain file refuses us only when opened for writing; with OPEN_ALWAYS a
 * name that keeps vanishing means we may not create it: SAFEFS_EACCES
 * after a few). */
int safefs__path_open(const struct safefs__wpath *p, DWORD access, DWORD share,
                      DWORD disposition, DWORD flags, enum safefs__op op, HANDLE *out);

#endif /* SAFEFS_WIN32_PATH_H */
