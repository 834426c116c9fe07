/*
 * The atomic-replace protocol on POSIX.
 *
 *   create   resolve symlinks; open the target's directory; create
 *            .<name>.safefs-<random>.tmp there with O_EXCL|O_NOFOLLOW, mode
 *            0600 (or stricter, as the target's)
 *   write    the content, EINTR and short writes handled
 *   commit   chown/chmod to the target's owner and mode, fsync the temp,
 *            close it; hard-link the old target to a backup name; rename the
 *            temp over the target; fsync the directory; drop the backup
 *
 * Why this order:
 *   - The temp lives in the target's directory so the rename is atomic
 *     (same filesystem) and is made durable by the same directory fsync.
 *   - Everything done through the directory descriptor (openat, renameat,
 *     fsync) so that the directory cannot be swapped underneath us between
 *     the steps.
 *   - The mode is set before the fsync so the fsync makes it durable too,
 *     and the temp is never readable by more users than the final file.
 *   - The data fsync comes before the rename: otherwise a crash after the
 *     rename can leave the target name pointing at an empty or torn file
 *     (ext4 without auto_da_alloc, XFS, btrfs all do this).
 *   - The directory fsync comes after the rename and before success is
 *     reported: until it, the rename itself may be lost at power failure.
 *   - The backup link makes a failed directory fsync recoverable: the old
 *     content is renamed back into place, so even that failure leaves the
 *     target as it was. Where hard links are not supported the replace goes
 *     on without it.
 */
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SYMLINK_HOPS 40

struct safefs__temp {
  int dirfd;
  int fd;           /* the temp, open for writing; -1 once closed */
  unsigned flags;
  int target_exists;
  mode_t mode;      /* final permission bits */
  uid_t uid;
  gid_t gid;
  char *dir;        /* the directory's path as the caller gave it, for messages */
  char *base;       /* target file name inside dirfd */
  char name[SAFEFS__NAME_MAX + 1]; /* temp file name inside dirfd */
};

/* Fail with errno value e: the message names the failed call's own paths,
 * or `subject` (the temp, for calls on its descriptor), in t's directory. */
static int fail_in_dir(const safefs__temp *t, int e, const char *subject) {
  return safefs__fail_os_at(e, subject, t->dir);
}

/* Length of the directory part of `path` (for joining a relative symlink),
 * including the trailing '/', 0 if none. */
static size_t dir_prefix_len(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? (size_t)(slash - path) + 1 : 0;
}

/* Follow symbolic links at the last component of `path` to the path of the
 * file to replace, which may not exist yet (a dangling link creates the
 * file it names, as an editor would). *out is a new string, *st the lstat of
 * it (all zero if it does not exist) and *exists whether it exists. Links in directory components are left
 * to the kernel. */
static int resolve_target(const char *path, char **out, struct stat *st, int *exists) {
  char *cur = NULL;
  size_t len = strlen(path);
  int hops, rc;

  cur = (char *)safefs__malloc(len + 1);
  if (cur == NULL)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  memcpy(cur, path, len + 1);
  for (hops = 0;; hops++) {
    char *link, *next;
    long n;
    size_t keep;

    if (safefs__sys_fstatat(AT_FDCWD, cur, st, AT_SYMLINK_NOFOLLOW) != 0) {
      int e = errno;
      if (e == ENOENT) { /* nothing there yet: nothing to describe */
        memset(st, 0, sizeof *st);
        *exists = 0;
        *out = cur;
        return 0;
      }
      safefs__free(cur);
      return safefs__fail_os(e);
    }
    if (!S_ISLNK(st->st_mode)) {
      *exists = 1;
      *out = cur;
      return 0;
    }
    if (hops == MAX_SYMLINK_HOPS) {
      rc = safefs__fail_msg(SAFEFS_EINVAL, ELOOP,
                            "resolve '%s': more than %d symbolic links in a row", path,
                            MAX_SYMLINK_HOPS);
      safefs__free(cur);
      return rc;
    }
    link = (char *)safefs__malloc((size_t)st->st_size + 2);
    if (link == NULL) {
      safefs__free(cur);
      return safefs__fail(SAFEFS_ENOMEM, 0);
    }
    n = safefs__sys_readlinkat(AT_FDCWD, cur, link, (size_t)st->st_size + 1);
    if (n < 0 || n > (long)st->st_size) {
      /* error, or the link changed size under us: try again from the top */
      int e = n < 0 ? errno : 0;
      safefs__free(link);
      if (e != 0) {
        safefs__free(cur);
        return safefs__fail_os(e);
      }
      continue;
    }
    link[n] = '\0';
    keep = link[0] == '/' ? 0 : dir_prefix_len(cur);
    next = (char *)safefs__malloc(keep + (size_t)n + 1);
    if (next == NULL) {
      safefs__free(link);
      safefs__free(cur);
      return safefs__fail(SAFEFS_ENOMEM, 0);
    }
    memcpy(next, cur, keep);
    memcpy(next + keep, link, (size_t)n + 1);
    safefs__free(link);
    safefs__free(cur);
    cur = next;
  }
}

/* The mode a new file gets: 0666 & ~umask. POSIX can read the mask only
 * by setting it (umask()), which is not thread-safe, so on Linux (4.7 and
 * later) the mask is read from /proc/self/status, which is exact and
 * current. Elsewhere (macOS, the BSDs, Linux without /proc) there is no
 * safe way, and this is a known limitation, not a fix: the mask is read
 * once per process, at the first new file, with umask(022) then umask(m).
 *   - Racy: a file another thread of the application creates between those
 *     two calls gets 022 applied instead of the real mask.
 *   - Stale: if the application changes its umask afterwards, new files
 *     keep getting the first mask.
 * An application that changes its umask while running, on those systems,
 * should set the mode of new files itself (README, "Atomic replace"). */
static mode_t read_umask_once(void) {
  static int done;
  static mode_t cached;
  if (!done) {
    mode_t m = umask(022);
    umask(m);
    cached = m;
    done = 1;
  }
  return cached;
}

static mode_t current_umask(void) {
#if defined(__linux__)
  FILE *f = fopen("/proc/self/status", "re");
  if (f != NULL) {
    char line[128];
    unsigned m;
    while (fgets(line, sizeof line, f) != NULL) {
      if (sscanf(line, "Umask: %o", &m) == 1) {
        fclose(f);
        return (mode_t)(m & 0777);
      }
    }
    fclose(f);
  }
#endif
  return read_umask_once();
}

static void free_temp(safefs__temp *t) {
  if (t->fd >= 0)
    safefs__sys_close(t->fd);
  if (t->dirfd >= 0)
    safefs__sys_close(t->dirfd);
  safefs__free(t->dir);
  safefs__free(t->base);
  safefs__free(t);
}

/* Open the directory that will hold both names; keeps its path and the
 * target's name in t. */
static int open_parent(const char *target, safefs__temp *t) {
  const char *base;
  int rc = safefs__split_dir(target, &t->dir, &base);

  if (rc != 0)
    return rc;
  t->base = (char *)safefs__malloc(strlen(base) + 1);
  if (t->base == NULL)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  strcpy(t->base, base);
  t->dirfd = safefs__sys_openat(AT_FDCWD, t->dir, O_RDONLY | O_DIRECTORY, 0,
                                SAFEFS__OP_OPEN_DIR);
  return t->dirfd < 0 ? safefs__fail_os(errno) : 0;
}

/* O_EXCL|O_NOFOLLOW: a name planted by someone who can write the
 * directory (file or symlink) is never opened; another is drawn. */
static int create_temp(void *ctx, const char *name) {
  safefs__temp *t = (safefs__temp *)ctx;
  t->fd = safefs__sys_openat(t->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
                             t->mode & 0600, SAFEFS__OP_CREATE_TEMP);
  if (t->fd >= 0)
    return 0;
  if (errno == EEXIST || errno == ELOOP)
    return safefs__fail(SAFEFS_EEXIST, errno);
  return fail_in_dir(t, errno, NULL);
}

int safefs__temp_create(safefs__temp **out, const char *path, unsigned flags) {
  safefs__temp *t;
  struct stat st;
  char *target = NULL;
  int rc;

  *out = NULL;
  t = (safefs__temp *)safefs__malloc(sizeof *t);
  if (t == NULL)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  t->dirfd = -1;
  t->fd = -1;
  t->flags = flags;
  t->dir = NULL;
  t->base = NULL;

  rc = resolve_target(path, &target, &st, &t->target_exists);
  if (rc == 0)
    rc = open_parent(target, t);
  safefs__free(target);
  if (rc != 0)
    goto fail;
  if (t->target_exists) {
    if (S_ISDIR(st.st_mode)) {
      rc = safefs__fail_msg(SAFEFS_EISDIR, EISDIR, "replace '%s' in '%s': is a directory",
                            t->base, t->dir);
      goto fail;
    }
    if (flags & SAFEFS_NOREPLACE) {
      rc = safefs__fail_msg(SAFEFS_EEXIST, EEXIST,
                            "create '%s' in '%s': already exists (SAFEFS_NOREPLACE)", t->base,
                            t->dir);
      goto fail;
    }
    t->mode = st.st_mode & 07777;
    t->uid = st.st_uid;
    t->gid = st.st_gid;
  } else {
    t->mode = 0666 & ~current_umask();
  }

  if ((rc = safefs__with_fresh_name(t->name, t->base, SAFEFS__KIND_TMP, create_temp, t)) != 0)
    goto fail;
  *out = t;
  return 0;

fail:
  free_temp(t);
  return rc;
}

int safefs__temp_write(safefs__temp *t, const void *data, size_t size) {
  if (safefs__sys_write_all(t->fd, data, size) != 0)
    return fail_in_dir(t, errno, t->name);
  return 0;
}

void safefs__temp_discard(safefs__temp *t) {
  if (t == NULL)
    return;
  if (t->fd >= 0) {
    safefs__sys_close(t->fd);
    t->fd = -1;
  }
  safefs__sys_unlinkat(t->dirfd, t->name, 0);
  free_temp(t);
}

/* Give the temp the target's owner (where we may: chown by a non-owner
 * fails with EPERM, and the file then stays ours, as with any editor) and
 * mode. chown first, because it may clear set-id bits that chmod sets. */
static int set_final_mode(safefs__temp *t) {
  if (t->target_exists && (t->uid != geteuid() || t->gid != getegid()))
    if (safefs__sys_fchown(t->fd, t->uid, t->gid) != 0 && errno != EPERM)
      return fail_in_dir(t, errno, t->name);
  if (safefs__sys_fchmod(t->fd, t->mode) != 0)
    return fail_in_dir(t, errno, t->name);
  return 0;
}

/* The directory fsync failed after the rename: put back what was there. */
static void restore_old(safefs__temp *t, int have_backup, const char *backup) {
  if (have_backup)
    safefs__sys_renameat(t->dirfd, backup, t->dirfd, t->base, 0);
  else if (!t->target_exists)
    safefs__sys_unlinkat(t->dirfd, t->base, 0);
  safefs__sys_fsync(t->dirfd, SAFEFS__OP_SYNC_DIR);
}

int safefs__temp_commit(safefs__temp *t) {
  int durable = !(t->flags & SAFEFS_NOSYNC);
  int noreplace = (t->flags & SAFEFS_NOREPLACE) != 0;
  char backup[SAFEFS__NAME_MAX + 1];
  struct safefs__saved_error e;
  int have_backup = 0, rc;

  if ((rc = set_final_mode(t)) != 0)
    goto fail;
  if (durable && safefs__sys_fsync(t->fd, SAFEFS__OP_SYNC) != 0) {
    rc = fail_in_dir(t, errno, t->name);
    goto fail;
  }
  rc = safefs__sys_close(t->fd);
  t->fd = -1;
  if (rc != 0) {
    rc = fail_in_dir(t, errno, t->name);
    goto fail;
  }

  if (durable && t->target_exists && safefs__make_name(backup, t->base, SAFEFS__KIND_OLD) == 0)
    have_backup = safefs__sys_linkat(t->dirfd, t->base, t->dirfd, backup) == 0;

  if (safefs__sys_renameat(t->dirfd, t->name, t->dirfd, t->base, noreplace) != 0) {
    rc = fail_in_dir(t, errno, NULL);
    if (have_backup)
      safefs__sys_unlinkat(t->dirfd, backup, 0);
    goto fail;
  }

  if (durable && safefs__sys_fsync(t->dirfd, SAFEFS__OP_SYNC_DIR) != 0) {
    int err = errno;
    /* a filesystem that cannot sync a directory: its rename is as durable
       as it can make it (see sys.h) */
    if (!safefs__dir_sync_tolerated(err)) {
      rc = safefs__fail_os_at(err, t->dir, NULL);
      safefs__error_save(&e);
      restore_old(t, have_backup, backup);
      free_temp(t);
      return safefs__error_restore(&e, rc);
    }
  }
  if (have_backup)
    safefs__sys_unlinkat(t->dirfd, backup, 0);
  free_temp(t);
  return 0;

fail:
  safefs__error_save(&e);
  safefs__temp_discard(t);
  return safefs__error_restore(&e, rc);
}

/* One mkdir; the umask narrows 0777 as for any new directory. */
int safefs__mkdir(const char *path) {
  if (safefs__sys_mkdirat(AT_FDCWD, path, 0777) != 0)
    return safefs__fail_os(errno);
  return 0;
}
