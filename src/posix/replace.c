/*
 * The atomic-replace protocol on POSIX.
 *
 *   create   resolve symlinks; open the target's directory; on Linux open a
 *            nameless temp there (O_TMPFILE), elsewhere or where it is
 *            refused create .<name>.safefs-<random>.tmp with
 *            O_EXCL|O_NOFOLLOW; a new file's mode from the start, an
 *            existing target's (a named temp: no more than 0600 of it)
 *   write    the content, EINTR and short writes handled
 *   commit   chown/chmod to the target's owner and mode where the temp
 *            differs (an fstat tells), fsync the temp;
 *            open the old target read-only; give a nameless temp its name
 *            (linkat; NOREPLACE: the target's name itself; where that is
 *            refused, a named copy instead); rename the temp
 *            over the target; close it; fsync the directory; close the old
 *            file (NOSYNC and the batch, which hold no old file: the temp
 *            closed before the rename; the batch, src/batch.c, leaves the
 *            directory's fsync to its caller, once for many files)
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
 *   - A nameless temp is named only after its fsync, immediately before
 *     the rename, so that a process killed at any other moment leaves
 *     nothing behind (the file dies with its descriptor): only a kill
 *     between the linkat and the rename leaves a temp, for safefs_sweep.
 *     (Measured: 0-2 temps after 150 kills of safefs_write_file, against
 *     114-127 temps and backups with a named temp and a backup link;
 *     test_killloop.) The temp's close comes after the rename for the same
 *     reason: it is one call fewer in that window. For NOREPLACE the link
 *     goes straight to the target's name and fails with EEXIST if it
 *     exists: an atomic create-if-absent with no temp name at all.
 *   - The directory fsync comes after the rename and before success is
 *     reported: until it, the rename itself may be lost at power failure.
 *   - The old target is held open, not linked to a backup name, so that a
 *     failure after the rename (the directory fsync, the temp's close) is
 *     recoverable: the old content is copied back from that descriptor
 *     into a new temp and renamed into place, so even that failure leaves
 *     the target as it was (its content; the file is a copy). A backup
 *     link did the same by a rename, but it lived across the directory
 *     fsync, so a killed process left it behind (most of the 114-127
 *     entries above), and it cost a link and an unlink per write. The
 *     copy is paid only on that failure. If the old file cannot be opened
 *     the replace goes on without it.
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
  int anon;         /* the temp has no name yet (O_TMPFILE) */
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

/* The process's umask, where it can be read without being set: Linux's
 * /proc/self/status (4.7 and later), exact and current. 0, or -1 where it
 * cannot be read (no /proc, other systems). umask() itself cannot be
 * used: reading the mask with it means setting it, which races with any
 * other thread creating a file. */
static int read_umask(mode_t *mask) {
#if defined(__linux__)
  FILE *f = fopen("/proc/self/status", "re");
  if (f != NULL) {
    char line[128];
    unsigned m;
    while (fgets(line, sizeof line, f) != NULL) {
      if (sscanf(line, "Umask: %o", &m) == 1) {
        fclose(f);
        *mask = (mode_t)(m & 0777);
        return 0;
      }
    }
    fclose(f);
  }
#else
  (void)mask;
#endif
  return -1;
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

/* The nameless temp, where the system has one: a writer killed before the
 * commit leaves nothing, because the file dies with its descriptor. 0 with
 * t->anon set, 0 with t->fd -1 when the caller must make a named temp
 * instead (refused by the kernel or the filesystem, or a new file's mode
 * unknown), or a status.
 * Its mode is the final one from the start, since nobody can open a file
 * that has no name: an existing target's (set_final_mode then changes it
 * only where the umask or a default ACL narrowed it, or a chown cleared
 * set-ID bits), or for a new file 0666 (0600 with SAFEFS_PRIVATE) less the
 * umask, which the kernel applies from Linux 6.0 on and safefs before it
 * (older kernels ignored the umask for O_TMPFILE on filesystems without
 * ACLs). Where the umask cannot be read, a new file gets a named temp, to
 * which the kernel always applies it. */
static int create_anon(safefs__temp *t) {
  mode_t mode = t->mode, mask;
  if (!t->target_exists && !safefs__sys_anon_takes_umask()) {
    if (read_umask(&mask) != 0)
      return 0;
    mode &= ~mask;
  }
  t->fd = safefs__sys_open_anon(t->dirfd, mode);
  if (t->fd >= 0) {
    t->anon = 1;
    return 0;
  }
  if (errno == EOPNOTSUPP || errno == ENOTSUP || errno == EISDIR || errno == EINVAL)
    return 0;
  return fail_in_dir(t, errno, t->base);
}

/* O_EXCL|O_NOFOLLOW: a name planted by someone who can write the
 * directory (file or symlink) is never opened; another is drawn.
 * Others can open it by its name while it is written, so for an existing
 * target it is created with no more than 0600 of the target's mode, and
 * set_final_mode widens it just before the rename. A new file is created
 * with its final mode, 0666 (0600 with SAFEFS_PRIVATE) less the umask or
 * as the directory's default ACL says, which the kernel applies as for
 * any new file: the temp is never more open than the file will be. */
static int create_temp(void *ctx, const char *name) {
  safefs__temp *t = (safefs__temp *)ctx;
  t->fd = safefs__sys_openat(t->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
                             t->target_exists ? t->mode & 0600 : t->mode,
                             SAFEFS__OP_CREATE_TEMP);
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
  t->anon = 0;
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
    /* Refuse what the caller may not write, as Windows does for a
     * read-only file, although the rename would replace it here. */
    if (safefs__sys_faccessat(t->dirfd, t->base, W_OK, AT_EACCESS) != 0) {
      int e = errno;
      rc = fail_in_dir(t, e, t->base);
      if (e == EACCES)
        safefs__message_append(" (the file is not writable for this user)");
      goto fail;
    }
    t->mode = st.st_mode & 07777;
    t->uid = st.st_uid;
    t->gid = st.st_gid;
  } else {
    t->mode = (flags & SAFEFS_PRIVATE) ? 0600 : 0666; /* less the umask: create_anon */
  }

  t->name[0] = '\0';
  if ((rc = create_anon(t)) != 0)
    goto fail;
  if (!t->anon &&
      (rc = safefs__with_fresh_name(t->name, t->base, SAFEFS__KIND_TMP, create_temp, t)) != 0)
    goto fail;
  *out = t;
  return 0;

fail:
  free_temp(t);
  return rc;
}

/* What messages call the temp: its name, or the target's while it has none. */
static const char *temp_label(const safefs__temp *t) {
  return t->anon ? t->base : t->name;
}

int safefs__temp_write(safefs__temp *t, const void *data, size_t size) {
  if (safefs__sys_write_all(t->fd, data, size) != 0)
    return fail_in_dir(t, errno, temp_label(t));
  return 0;
}

void safefs__temp_discard(safefs__temp *t) {
  if (t == NULL)
    return;
  if (t->fd >= 0) {
    safefs__sys_close(t->fd);
    t->fd = -1;
  }
  if (!t->anon) /* a nameless temp went with its descriptor */
    safefs__sys_unlinkat(t->dirfd, t->name, 0);
  free_temp(t);
}

/* 1 if a chown or chmod failure only says this filesystem keeps no owners
 * or modes (FAT, exFAT, some FUSE and SMB mounts), for a caller that is
 * not root: the file is written without them, as write-file-atomic does.
 * For root, such a failure is real (except chown's EPERM below). */
static int cannot_keep(int e) {
  return geteuid() != 0 &&
         (e == EPERM || e == EINVAL || e == ENOSYS || e == ENOTSUP || e == EOPNOTSUPP);
}

/* Give the temp the target's owner (where we may: chown by a non-owner
 * fails with EPERM, and the file then stays ours, as with any editor) and
 * mode. chown first, because it may clear set-id bits that chmod sets.
 * Whether the owner or the mode differs is asked of the temp itself (one
 * fstat), not of the caller's IDs and umask: the kernel gives a new file
 * the directory's group where the directory is set-group-ID, and the
 * filesystem IDs, not the effective ones; the umask or a default ACL may
 * have narrowed the mode. Most replaces need neither call after the
 * fstat. A new file was created with its final mode (create_anon,
 * create_temp): nothing to do. */
static int set_final_mode(safefs__temp *t) {
  struct stat st;
  int chowned = 0;
  if (!t->target_exists)
    return 0;
  if (safefs__sys_fstat(t->fd, &st) != 0)
    return fail_in_dir(t, errno, temp_label(t));
  if (st.st_uid != t->uid || st.st_gid != t->gid) {
    if (safefs__sys_fchown(t->fd, t->uid, t->gid) == 0)
      chowned = 1;
    else if (errno != EPERM && !cannot_keep(errno))
      return fail_in_dir(t, errno, temp_label(t));
  }
  if ((chowned || (st.st_mode & 07777) != t->mode) && safefs__sys_fchmod(t->fd, t->mode) != 0 &&
      !cannot_keep(errno))
    return fail_in_dir(t, errno, temp_label(t));
  return 0;
}

/* linkat failures that say the nameless file cannot be named here (no
 * /proc/self/fd and no AT_EMPTY_PATH for this process, a filesystem
 * without hard links, a sandbox refusing the call), not that the name or
 * the disk is the problem (EEXIST, ENOSPC, EDQUOT, EIO, EROFS, ...).
 * EACCES is not among them: a permission error is the caller's to see. */
static int naming_refused(long e) {
  return e == ENOENT || e == EPERM || e == EOPNOTSUPP || e == ENOTSUP || e == EINVAL ||
         e == EXDEV || e == ENOSYS;
}

/* Name the nameless temp under a fresh temp name (EEXIST: draw another). */
static int link_temp(void *ctx, const char *name) {
  safefs__temp *t = (safefs__temp *)ctx;
  if (safefs__sys_link_anon(t->fd, t->dirfd, name) == 0)
    return 0;
  if (errno == EEXIST)
    return safefs__fail(SAFEFS_EEXIST, errno);
  return fail_in_dir(t, errno, NULL);
}

static int copy_from(safefs__temp *t, int from_fd);

/* The nameless temp cannot be named here (naming_refused): its content is
 * copied into a named temp, made as where there is no O_TMPFILE, which
 * gets the final mode and (unless NOSYNC) its own fsync before it is put
 * in place; the nameless one goes with its descriptor. From then on the
 * process makes named temps from the start (safefs__sys_anon_refuse), so
 * the copy is paid once. On failure nothing of ours has a name unless
 * t->anon is 0 (then discard removes it). */
static int name_by_copy(safefs__temp *t) {
  int anon_fd = t->fd, rc;
  safefs__sys_anon_refuse();
  t->fd = -1;
  rc = safefs__with_fresh_name(t->name, t->base, SAFEFS__KIND_TMP, create_temp, t);
  if (rc == 0) {
    t->anon = 0;
    if (copy_from(t, anon_fd) != 0)
      rc = fail_in_dir(t, errno, t->name);
    else
      rc = safefs__temp_sync(t);
  }
  safefs__sys_close(anon_fd);
  return rc;
}

/* The nameless temp gets its name only now, after its sync, so that a
 * process killed at any earlier moment leaves nothing. With NOREPLACE it
 * is linked straight to the target's name, which fails with EEXIST if
 * that exists: an atomic create-if-absent with no temp name at all. Where
 * the naming is refused, a named copy takes its place (name_by_copy). */
static int name_temp(safefs__temp *t, int noreplace) {
  int rc;
  if (noreplace) {
    if (safefs__sys_link_anon(t->fd, t->dirfd, t->base) == 0) {
      strcpy(t->name, t->base); /* nothing to rename */
      t->anon = 0;
      return 0;
    }
    rc = fail_in_dir(t, errno, t->base);
  } else if ((rc = safefs__with_fresh_name(t->name, t->base, SAFEFS__KIND_TMP, link_temp, t)) ==
             0) {
    t->anon = 0;
    return 0;
  }
  return naming_refused(safefs_last_os_error()) ? name_by_copy(t) : rc;
}

/* Close the temp's descriptor: a failure is reported, as the data may not
 * all be on the disk (as for a failed fsync). */
static int close_temp(safefs__temp *t) {
  int rc = safefs__sys_close(t->fd);
  t->fd = -1;
  return rc != 0 ? fail_in_dir(t, errno, t->name) : 0;
}

/* Copy the file open as from_fd (the old target, a nameless temp) into
 * t->fd from its start: 0, or -1 with errno. */
static int copy_from(safefs__temp *t, int from_fd) {
  char buf[16 * 1024];
  off_t at = 0;
  for (;;) {
    long n = safefs__sys_pread(from_fd, buf, sizeof buf, at);
    if (n < 0)
      return -1;
    if (n == 0)
      return 0;
    if (safefs__sys_write_all(t->fd, buf, (size_t)n) != 0)
      return -1;
    at += n;
  }
}

/* The directory fsync failed after the rename: put back what was there,
 * best effort, leaving no name of ours. A new target is removed. An old
 * one is restored from old_fd, the old file held open across the rename
 * (it has no name any more): copied into a new temp made as any other
 * (nameless where possible), synced, put back by rename; if a step fails
 * the new content stays and the copy goes. Then the directory is synced
 * once more, which may fail again: this is about what readers see, and a
 * directory that cannot be synced promises nothing about power loss. */
static void restore_old(safefs__temp *t, int old_fd) {
  if (!t->target_exists) {
    safefs__sys_unlinkat(t->dirfd, t->base, 0);
  } else if (old_fd >= 0) {
    int named = 0, ok = 0;
    t->fd = -1;
    t->anon = 0;
    if (create_anon(t) == 0 &&
        (t->anon ||
         (named = safefs__with_fresh_name(t->name, t->base, SAFEFS__KIND_TMP, create_temp, t) ==
                  0)))
      ok = set_final_mode(t) == 0 && copy_from(t, old_fd) == 0 &&
           safefs__sys_fsync(t->fd, SAFEFS__OP_SYNC) == 0;
    if (ok && t->anon) {
      ok = name_temp(t, 0) == 0;
      named = !t->anon; /* also a named copy that failed (name_by_copy) */
    }
    if (t->fd >= 0) {
      safefs__sys_close(t->fd);
      t->fd = -1;
    }
    if (named && (!ok || safefs__sys_renameat(t->dirfd, t->name, t->dirfd, t->base, 0) != 0))
      safefs__sys_unlinkat(t->dirfd, t->name, 0);
  }
  safefs__sys_fsync(t->dirfd, SAFEFS__OP_SYNC_DIR);
}

/* The final mode, then the data sync (unless NOSYNC), so that the sync
 * makes the mode durable too. */
int safefs__temp_sync(safefs__temp *t) {
  int rc;
  if ((rc = set_final_mode(t)) != 0)
    return rc;
  if (!(t->flags & SAFEFS_NOSYNC) && safefs__sys_fsync(t->fd, SAFEFS__OP_SYNC) != 0)
    return fail_in_dir(t, errno, temp_label(t));
  return 0;
}

/* The commit after safefs__temp_sync and before the directory sync: the
 * temp's name, the rename and the temp's close.
 * With old_fd, the old target is opened first and left open in *old_fd
 * (-1 if there is none or it cannot be opened: the replace goes on
 * without it), for restore_old, and the temp is closed after the rename,
 * one call fewer between the naming and the rename; *renamed then tells
 * whether a failure (the close) came after the rename. Without old_fd
 * nothing could undo a failure after the rename, so the temp is closed
 * before it, and a failure always leaves the target as it was. */
static int put_in_place(safefs__temp *t, int *old_fd, int *renamed) {
  int noreplace = (t->flags & SAFEFS_NOREPLACE) != 0;
  int rc;

  *renamed = 0;
  /* The old file, held open so that a failure after the rename can put
     its content back; it dies with the process, where a backup name would
     stay. */
  if (old_fd != NULL && t->target_exists)
    *old_fd = safefs__sys_openat(t->dirfd, t->base, O_RDONLY | O_NOFOLLOW, 0,
                                 SAFEFS__OP_OPEN_READ);
  /* The temp's name and the rename, back to back: a process killed between
     the two is the one case that leaves a temp (for safefs_sweep). */
  if (t->anon && (rc = name_temp(t, noreplace)) != 0)
    return rc;
  if (old_fd == NULL && (rc = close_temp(t)) != 0)
    return rc;
  if (strcmp(t->name, t->base) != 0 &&
      safefs__sys_renameat(t->dirfd, t->name, t->dirfd, t->base, noreplace) != 0)
    return fail_in_dir(t, errno, NULL);
  *renamed = 1;
  /* closed only now, on the file in place: a failure is reported (the data
     may not all be on the disk, as for a failed fsync) */
  return t->fd >= 0 ? close_temp(t) : 0;
}

/* The old file is held only where a failed directory fsync can happen:
 * with NOSYNC there is none, and the open and close would cost two calls
 * of a small write's dozen (BENCHMARKS.md); the temp is then closed before
 * the rename (put_in_place). */
int safefs__temp_commit(safefs__temp *t) {
  int durable = !(t->flags & SAFEFS_NOSYNC);
  struct safefs__saved_error e;
  int old_fd = -1, renamed, rc;

  renamed = 0;
  if ((rc = safefs__temp_sync(t)) == 0)
    rc = put_in_place(t, durable ? &old_fd : NULL, &renamed);
  if (rc != 0 && !renamed)
    goto fail;
  if (rc != 0)
    goto undo;
  if (durable && safefs__sys_fsync(t->dirfd, SAFEFS__OP_SYNC_DIR) != 0) {
    int err = errno;
    /* a filesystem that cannot sync a directory: its rename is as durable
       as it can make it (see sys.h) */
    if (!safefs__dir_sync_tolerated(err)) {
      rc = safefs__fail_os_at(err, t->dir, NULL);
      goto undo;
    }
  }
  if (old_fd >= 0)
    safefs__sys_close(old_fd);
  free_temp(t);
  return 0;

undo: /* after the rename: the old content goes back from old_fd */
  safefs__error_save(&e);
  restore_old(t, old_fd);
  if (old_fd >= 0)
    safefs__sys_close(old_fd);
  free_temp(t);
  return safefs__error_restore(&e, rc);

fail:
  safefs__error_save(&e);
  if (old_fd >= 0)
    safefs__sys_close(old_fd);
  safefs__temp_discard(t);
  return safefs__error_restore(&e, rc);
}

/* A hint only: its failure changes nothing, the fsync decides. */
void safefs__temp_sync_start(safefs__temp *t) {
  if (!(t->flags & SAFEFS_NOSYNC))
    safefs__sys_sync_start(t->fd);
}

/* One fstatfs; a failure says "not free": the syncs are then made from
 * threads, as on any disk. */
int safefs__temp_sync_is_free(const safefs__temp *t) {
  return safefs__sys_in_memory(t->fd) == 1;
}

/* A syncfs writes out everything unwritten on the filesystem, other
 * programs' data too, so it is used only while the whole system holds at
 * most as much again as the batch's own data, or WHOLE_FS_SLACK (then it
 * costs at most about what writing the batch twice does, and one journal
 * commit and drive cache flush instead of the few the parallel fsyncs
 * make: BENCHMARKS.md, "Batches: one syncfs while little else is
 * dirty"). A look at /proc/meminfo that fails (one open and read, made
 * after the cheaper checks), a kernel whose syncfs reports no errors, a filesystem whose
 * syncfs is not known to flush as an fsync does (safefs__sys_syncfs_flushes:
 * ext4 and XFS are), or temps on more than WHOLE_FS_MAX filesystems (or
 * in more than WHOLE_FS_DIRS directories) leave the syncs to each temp.
 * The temps' directories are told apart by their paths, their
 * filesystems by an fstat of one directory each, and each filesystem's
 * kind by one fstatfs.
 * The flush goes through a temp's own descriptor, opened before its data
 * was written, so that it reports any writeback error since. */
#define WHOLE_FS_SLACK (1024ull * 1024)
#define WHOLE_FS_MAX 4
#define WHOLE_FS_DIRS 16

int safefs__temps_sync_together(safefs__temp **temps, size_t n, unsigned long long bytes,
                                int *taken, size_t *failed) {
  const char *dirs[WHOLE_FS_DIRS];
  dev_t devs[WHOLE_FS_MAX];
  size_t first[WHOLE_FS_MAX], ndirs = 0, ndevs = 0, i, k;
  unsigned long long dirty;
  int rc;

  *taken = 0;
  if (n < 2 || !safefs__sys_syncfs_reports_errors())
    return 0;
  for (i = 0; i < n; i++) {
    struct stat st;
    for (k = 0; k < ndirs && strcmp(dirs[k], temps[i]->dir) != 0; k++)
      ;
    if (k < ndirs)
      continue;
    if (ndirs == WHOLE_FS_DIRS || safefs__sys_fstat(temps[i]->dirfd, &st) != 0)
      return 0; /* (a failed fstat: the syncs of each temp will tell) */
    dirs[ndirs++] = temps[i]->dir;
    for (k = 0; k < ndevs && devs[k] != st.st_dev; k++)
      ;
    if (k == ndevs) {
      if (ndevs == WHOLE_FS_MAX || safefs__sys_syncfs_flushes(temps[i]->fd) != 1)
        return 0;
      devs[ndevs] = st.st_dev;
      first[ndevs++] = i;
    }
  }
  /* the system's unwritten data last: no look where the kind already
     says no */
  if (safefs__sys_dirty_bytes(&dirty) != 0 ||
      dirty > bytes + (bytes > WHOLE_FS_SLACK ? bytes : WHOLE_FS_SLACK))
    return 0;
  *taken = 1;
  for (i = 0; i < n; i++) {
    if ((rc = set_final_mode(temps[i])) != 0) {
      *failed = i;
      return rc;
    }
  }
  for (k = 0; k < ndevs; k++) {
    safefs__temp *t = temps[first[k]];
    if (safefs__sys_syncfs(t->fd) != 0) {
      *failed = first[k];
      return fail_in_dir(t, errno, temp_label(t));
    }
  }
  return 0;
}

int safefs__temp_install(safefs__temp *t, safefs__dir **dir, int *in_place) {
  struct safefs__saved_error e;
  int rc = put_in_place(t, NULL, in_place);

  if (dir != NULL)
    *dir = NULL;
  if (rc != 0 && !*in_place) {
    safefs__error_save(&e);
    safefs__temp_discard(t);
    return safefs__error_restore(&e, rc);
  }
  if (dir != NULL) {
    int got = safefs__dir_adopt(dir, t->dirfd, t->dir); /* takes the descriptor */
    t->dirfd = -1;
    if (rc == 0)
      rc = got;
  }
  free_temp(t);
  return rc;
}

/* One mkdir; the umask narrows 0777 as for any new directory. */
int safefs__mkdir(const char *path) {
  if (safefs__sys_mkdirat(AT_FDCWD, path, 0777) != 0)
    return safefs__fail_os(errno);
  return 0;
}
