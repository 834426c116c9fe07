/* errno -> SAFEFS_E*, in one place for the POSIX backend. */
#include <errno.h>

#include "../platform.h"

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

int safefs__fail_os(long oserr) {
  return safefs__fail(safefs__status_from_os(oserr), oserr);
}

/* POSIX lets a file be renamed over or unlinked while others hold it open,
 * so nothing here is worth waiting for. */
int safefs__os_transient(long oserr) {
  SAFEFS__UNUSED(oserr);
  return 0;
}
