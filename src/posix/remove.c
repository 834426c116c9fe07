/*
 * The deleter's steps on POSIX (the order and the retries are in
 * ../remove.c).
 *
 * Everything below a directory is reached through its descriptor:
 * openat(O_DIRECTORY|O_NOFOLLOW) to enter a subdirectory,
 * fstatat(AT_SYMLINK_NOFOLLOW) to look, unlinkat to remove. A symbolic
 * link is therefore only ever removed itself, and a directory that another
 * process swaps for a link while we work (the CVE-2022-21658 race, in
 * Rust's remove_dir_all and others) cannot send the deletion elsewhere:
 * the open refuses the link, and unlinkat removes a name in the directory
 * we hold, whatever path leads there now.
 *
 * POSIX removes a name at once, even while other processes hold the file
 * open, so no step here is ever transient; the retry machinery is shared
 * with Windows and simply never loops on POSIX.
 */
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct safefs__dir {
  char *path;  /* for messages: the path the caller named (open_path), or a
                  child's name in its parent */
  int fd;      /* -1 while parked */
  DIR *list;   /* the listing once started; it owns fd from then on */
  dev_t dev;   /* identity, to check a parked directory on re-opening */
  ino_t ino;
  int removed; /* names removed through fd since this listing pass began */
  int pass_over; /* the last read ended a pass: the next one rewinds */
};

static int kind_of(mode_t mode) {
  if (S_ISDIR(mode))
    return SAFEFS__ENTRY_DIR;
  if (S_ISLNK(mode))
    return SAFEFS__ENTRY_LINK;
  return SAFEFS__ENTRY_FILE;
}

/* Record a failed attempt on an entry of d; POSIX never has a transient
 * one, but the shared verdict is asked so that the contract is the same
 * as on Windows. */
static int attempt_failed(const safefs__dir *d, int e) {
  return safefs__attempt_failed(e, NULL, d->path);
}

/* Wrap an open directory descriptor; takes it over (and `path`, a copy or
 * NULL), also on failure. */
static int wrap_dir(safefs__dir **out, int fd, const struct stat *st, char *path) {
  safefs__dir *d = (safefs__dir *)safefs__malloc(sizeof *d);
  if (d == NULL) {
    safefs__free(path);
    safefs__sys_close(fd);
    return safefs__fail(SAFEFS_ENOMEM, 0);
  }
  d->path = path;
  d->fd = fd;
  d->list = NULL;
  d->dev = st->st_dev;
  d->ino = st->st_ino;
  d->removed = 0;
  d->pass_over = 0;
  *out = d;
  return 0;
}

/* Open the directory `name` in dirfd (`nofollow`: never through a link)
 * and fstat it. The descriptor, or -1 with errno. */
static int open_dir_at(int dirfd, const char *name, int nofollow, struct stat *st) {
  int fd = safefs__sys_openat(dirfd, name, O_RDONLY | O_DIRECTORY | (nofollow ? O_NOFOLLOW : 0),
                              0, SAFEFS__OP_OPEN_DIR);
  if (fd >= 0 && safefs__sys_fstat(fd, st) != 0) {
    int e = errno;
    safefs__sys_close(fd);
    errno = e;
    fd = -1;
  }
  return fd;
}

/* Wrap fd with a copy of `label` (the path, or a child's name). */
static int wrap_dir_named(safefs__dir **out, int fd, const struct stat *st, const char *label) {
  char *copy = safefs__strdup(label);
  if (copy == NULL) {
    safefs__sys_close(fd);
    return SAFEFS_ENOMEM;
  }
  return wrap_dir(out, fd, st, copy);
}

int safefs__dir_open_path(safefs__dir **out, const char *dir) {
  struct stat st;
  int fd = open_dir_at(AT_FDCWD, dir, 0, &st);
  *out = NULL;
  if (fd < 0)
    return safefs__fail_os_at(errno, dir, NULL);
  return wrap_dir_named(out, fd, &st, dir);
}

int safefs__dir_adopt(safefs__dir **out, int fd, const char *path) {
  struct stat st;
  *out = NULL;
  if (safefs__sys_fstat(fd, &st) != 0) {
    int e = errno;
    safefs__sys_close(fd);
    return safefs__fail_os_at(e, path, NULL);
  }
  return wrap_dir_named(out, fd, &st, path);
}

void safefs__dir_id(const safefs__dir *d, unsigned long long id[2]) {
  id[0] = (unsigned long long)d->dev;
  id[1] = (unsigned long long)d->ino;
}

/* O_NOFOLLOW makes a link at `name` fail (ELOOP, or ENOTDIR on some
 * systems) instead of being entered. A directory we own but may not write
 * or search (mode 0555, a read-only copy of a tree) gets u+wx so that its
 * entries can be removed; it is about to be removed itself, so its mode no
 * longer matters. Without read permission it cannot be listed at all:
 * that stays SAFEFS_EACCES. */
int safefs__dir_open_child(safefs__dir **out, safefs__dir *parent, const char *name) {
  struct stat st;
  int fd = open_dir_at(parent->fd, name, 1, &st);

  *out = NULL;
  if (fd < 0) {
    if (errno == ELOOP || errno == ENOTDIR)
      return safefs__fail_msg(SAFEFS_ENOTDIR, errno, "'%s' is not a directory", name);
    return safefs__fail_os_at(errno, name, parent->path);
  }
  if ((st.st_mode & (S_IWUSR | S_IXUSR)) != (S_IWUSR | S_IXUSR))
    /* a failure (not the owner) shows up as EACCES on the first unlink */
    safefs__sys_fchmod(fd, (st.st_mode & 07777) | S_IWUSR | S_IXUSR);
  return wrap_dir_named(out, fd, &st, name);
}

/* One pass of the listing (see platform.h): fdopendir once, rewinddir for
 * each later pass. */
int safefs__dir_read(safefs__dir *d, const char **name, int *kind) {
  if (d->list == NULL) {
    d->list = safefs__sys_fdopendir(d->fd);
    if (d->list == NULL)
      return safefs__fail_os_at(errno, d->path, NULL);
    d->removed = 0;
    d->pass_over = 0;
  } else if (d->pass_over) {
    rewinddir(d->list); /* cannot fail; a new pass */
    d->removed = 0;
    d->pass_over = 0;
  }
  for (;;) {
    struct dirent *e = safefs__sys_readdir(d->list);
    const char *n;
    if (e == NULL) {
      if (errno != 0)
        return safefs__fail_os_at(errno, d->path, NULL);
      d->pass_over = 1;
      return 0;
    }
    n = e->d_name;
    if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0')))
      continue;
#if defined(DT_DIR) && defined(DT_LNK) && defined(DT_UNKNOWN)
    if (e->d_type != DT_UNKNOWN) {
      *kind = e->d_type == DT_DIR   ? SAFEFS__ENTRY_DIR
              : e->d_type == DT_LNK ? SAFEFS__ENTRY_LINK
                                    : SAFEFS__ENTRY_FILE;
      *name = n;
      return 1;
    }
#endif
    {
      struct stat st;
      if (safefs__sys_fstatat(d->fd, n, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) /* removed since it was listed */
          continue;
        return safefs__fail_os_at(errno, NULL, d->path);
      }
      *kind = kind_of(st.st_mode);
      *name = n;
      return 1;
    }
  }
}

int safefs__dir_removed(const safefs__dir *d) {
  return d->removed;
}

/* The later of mtime and ctime: a rename (as into the trash) changes only
 * the ctime, and a live deleter must not have its trash swept under it. */
int safefs__dir_stat(safefs__dir *d, const char *name, int *kind, long long *age_s) {
  struct stat st;
  struct timespec now;
  time_t t;
  if (safefs__sys_fstatat(d->fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return safefs__fail_os_at(errno, NULL, d->path);
  t = st.st_mtime > st.st_ctime ? st.st_mtime : st.st_ctime;
  *kind = kind_of(st.st_mode);
  /* not time(): on Linux it reads a coarse clock that can lag the
     timestamps the filesystem just wrote by a tick */
  clock_gettime(CLOCK_REALTIME, &now);
  *age_s = (long long)now.tv_sec - (long long)t;
  return 0;
}

/* unlinkat without AT_REMOVEDIR never removes a directory: Linux says
 * EISDIR, macOS and the BSDs EPERM, which is told apart from a real
 * permission error by looking. The file's own mode does not matter. */
int safefs__dir_unlink(safefs__dir *d, const char *name) {
  struct stat st;
  int e;
  if (safefs__sys_unlinkat(d->fd, name, 0) == 0) {
    d->removed++;
    return 0;
  }
  e = errno;
  if ((e == EISDIR || e == EPERM) &&
      safefs__sys_fstatat(d->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
    return safefs__fail_msg(SAFEFS_EISDIR, e, "delete '%s': is a directory", name);
  return attempt_failed(d, e);
}

/* Whatever unlink refuses (a directory: EISDIR or EPERM; missing;
 * permission) is looked at again by the general path, which says which. */
int safefs__unlink_fast(const char *path) {
  return safefs__sys_unlinkat(AT_FDCWD, path, 0) == 0 ? 0 : SAFEFS__AGAIN;
}

int safefs__dir_rmdir(safefs__dir *d, const char *name) {
  if (safefs__sys_unlinkat(d->fd, name, AT_REMOVEDIR) == 0) {
    d->removed++;
    return 0;
  }
  return attempt_failed(d, errno);
}

/* The no-replace rename is atomic where the kernel and filesystem have it
 * (renameat2, renameatx_np). Elsewhere the wrapper falls back to link and
 * unlink, which cannot move a directory (ENOTSUP); then a plain rename
 * after checking that `to` is free. `to` is a fresh random name, so the
 * window between the check and the rename is a 2^-64 risk, and a rename
 * over a non-empty directory fails anyway. */
int safefs__dir_rename(safefs__dir *d, const char *from, const char *to) {
  struct stat st;
  if (safefs__sys_renameat(d->fd, from, d->fd, to, 1) == 0)
    return 0;
  if (errno != ENOTSUP)
    return attempt_failed(d, errno);
  if (safefs__sys_fstatat(d->fd, to, &st, AT_SYMLINK_NOFOLLOW) == 0)
    return safefs__fail_msg(SAFEFS_EEXIST, EEXIST, "rename '%s' to '%s': the name is taken", from,
                            to);
  if (errno != ENOENT)
    return attempt_failed(d, errno);
  if (safefs__sys_renameat(d->fd, from, d->fd, to, 0) != 0)
    return attempt_failed(d, errno);
  return 0;
}

int safefs__dir_sync(safefs__dir *d) {
  int fd = d->list != NULL ? dirfd(d->list) : d->fd;
  if (safefs__sys_fsync(fd, SAFEFS__OP_SYNC_DIR) != 0 && !safefs__dir_sync_tolerated(errno))
    return safefs__fail_os_at(errno, d->path, NULL);
  return 0;
}

int safefs__unlink_leaves_name(void) {
  return 0;
}

static void release(safefs__dir *d) {
  if (d->list != NULL)
    safefs__sys_closedir(d->list); /* closes fd too */
  else if (d->fd >= 0)
    safefs__sys_close(d->fd);
  d->list = NULL;
  d->fd = -1;
}

void safefs__dir_park(safefs__dir *d) {
  release(d);
}

/* ".." of the child is the parked directory unless someone moved the child
 * (or an ancestor) meanwhile; device and inode tell. */
int safefs__dir_unpark(safefs__dir *d, safefs__dir *child) {
  struct stat st;
  int fd = open_dir_at(child->fd, "..", 1, &st);
  if (fd < 0)
    return safefs__fail_os_at(errno, "..", NULL);
  if (st.st_dev != d->dev || st.st_ino != d->ino) {
    safefs__sys_close(fd);
    return safefs__fail_msg(SAFEFS_EBUSY, 0,
                            "a directory being deleted was moved away by another process");
  }
  d->fd = fd;
  d->removed = 0;
  return 0;
}

void safefs__dir_close(safefs__dir *d) {
  if (d == NULL)
    return;
  release(d);
  safefs__free(d->path);
  safefs__free(d);
}
