/* errno -> SAFEFS_E*, in one place for the POSIX backend, and errno's
 * text for the error message. */
#include "sys.h" /* first: the feature-test macros */

#include <errno.h>
#include <stdio.h>
#include <string.h>

int safefs__status_from_os(long oserr) {
  switch (oserr) {
  case 0:
    return SAFEFS_OK;
  case EINVAL:
    return SAFEFS_EINVAL;
  case ENOENT:
    return SAFEFS_ENOENT;
  case EEXIST:
  case ENOTEMPTY:
    return SAFEFS_EEXIST;
  case EACCES:
  case EPERM:
    return SAFEFS_EACCES;
  case EBUSY:
  case ETXTBSY:
    return SAFEFS_EBUSY;
  case ETIMEDOUT:
  case EWOULDBLOCK:
    return SAFEFS_ETIMEDOUT;
  case ENOSPC:
  case EDQUOT:
  case EFBIG:
    return SAFEFS_ENOSPC;
  case EIO:
    return SAFEFS_EIO;
  case ENOMEM:
    return SAFEFS_ENOMEM;
  case ENAMETOOLONG:
    return SAFEFS_ENAMETOOLONG;
  case ENOTSUP:
#if defined(EOPNOTSUPP) && EOPNOTSUPP != ENOTSUP
  case EOPNOTSUPP:
#endif
  case ENOSYS:
  case ENOLCK:
  case EXDEV:
    return SAFEFS_ENOTSUP;
  case EISDIR:
    return SAFEFS_EISDIR;
  case ENOTDIR:
    return SAFEFS_ENOTDIR;
  case ELOOP: /* too many symbolic links: the path is unusable as given */
    return SAFEFS_EINVAL;
  case EROFS:
    return SAFEFS_EROFS;
  default:
    return SAFEFS_EUNKNOWN;
  }
}

/* strerror_r, not strerror (which may share one buffer between threads).
 * Two incompatible versions exist: XSI's returns 0 and fills buf; GNU's
 * (glibc with _GNU_SOURCE, which sys.h defines on Linux) returns the text,
 * which may be a static string rather than buf. musl, macOS and the BSDs
 * have the XSI one whatever the macros say. */
void safefs__os_error_text(long oserr, char *buf, size_t cap) {
  char text[160];
  const char *s;
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
  s = strerror_r((int)oserr, text, sizeof text);
#else
  s = strerror_r((int)oserr, text, sizeof text) == 0 ? text : NULL;
#endif
  if (s == NULL || s[0] == '\0')
    s = "unknown error";
  snprintf(buf, cap, "%s (errno %ld)", s, oserr);
}

/* POSIX lets a file be renamed over or unlinked while others hold it open,
 * so nothing here is worth waiting for. */
int safefs__os_transient(long oserr) {
  SAFEFS__UNUSED(oserr);
  return 0;
}
