/*
 * The atomic-replace protocol on Windows.
 *
 *   create   convert the path (UTF-16, absolute, \\?\); follow a symbolic
 *            link at the target to the file it names; refuse a directory,
 *            a read-only target, and (NOREPLACE) an existing one; create
 *            .<name>.safefs-<random>.tmp beside it with CREATE_NEW, hidden,
 *            sealed: FILE_FLAG_DELETE_ON_CLOSE (where links were refused
 *            before: marked delete-on-close by FileDispositionInfo
 *            instead); open the target's directory (durable writes)
 *   write    the content, in DWORD-sized pieces
 *   commit   look whether a link may replace the target (target_is_plain),
 *            give the temp the target's attributes and creation time,
 *            FlushFileBuffers; then one link through the temp's handle onto
 *            the target (link_into_place) and CloseHandle, which takes only
 *            the temp's name. Where the link is not wanted or refused (a
 *            target that is not plain, held open, or that appeared; a
 *            volume without hard links) the content gets a second temp
 *            name (a link; on such a volume a copy) and goes the path-based
 *            way: clear the mark (a copy's), a new file renamed through its
 *            handle (FileRenameInfo), or CloseHandle and ReplaceFileW over
 *            an existing target (the old file going to a backup name,
 *            dropped after success), MoveFileExW(MOVEFILE_WRITE_THROUGH)
 *            where the handle's rename was refused, retried through
 *            safefs__retry while another process holds the target; then
 *            flush the directory (not with SAFEFS_NOSYNC), the backup held
 *            open and marked delete-on-close meanwhile, and drop it
 *
 * Why the link:
 *   - A sealed temp dies with its handle from its first moment: no call
 *     between its creation and a mark. The link is the commit itself, and
 *     the close after it removes only the name the handle was opened by
 *     (MS-FSA keeps delete-on-close per link; MS-FSCC 2.4.42 counts links
 *     marked for delete apart), so no call of the write is a window in
 *     which a kill leaves a name. ReplaceFileW needs the file to outlive
 *     its handle, and FILE_FLAG_DELETE_ON_CLOSE cannot be taken back (NTFS
 *     marks the link again at cleanup), hence the second name on that way.
 *   - A link keeps nothing of the file it replaces, so it replaces only a
 *     plain target (target_is_plain: the temp's DACL, no named streams, not
 *     encrypted, compressed or a reparse point); the trade is that a failed
 *     directory flush after it cannot put the old content back: holding
 *     the old file open would make the link fail (MS-FSCC 2.4.27), and a
 *     backup name would be what a kill leaves. safefs.h says so.
 *   - Checked under Wine 8 only: the link replaces the target, a kill right
 *     after it leaves the target and no temp, a target held open gives
 *     ERROR_ACCESS_DENIED, and without ReplaceIfExists an existing one
 *     ERROR_ALREADY_EXISTS. Wine answers FileStreamInfo with
 *     ERROR_INVALID_FUNCTION, taken as "no streams" (as FAT's answer), so
 *     the stream check ran only there.
 *
 * Why this order:
 *   - The temp is delete-on-close while it is written, so a process killed
 *     then (TerminateProcess, a crash) leaves nothing: the file goes with
 *     its last handle. Meanwhile other programs see the name; a sealed
 *     temp they may open only for reading and with FILE_SHARE_DELETE
 *     (Windows asks that of every open of a file opened delete-on-close),
 *     a marked one not at all (a delete-pending file: ERROR_ACCESS_DENIED).
 *     A marked temp's mark comes off just before the close, because
 *     ReplaceFileW and MoveFileExW need the file to outlive the handle.
 *     Checked under Wine 8 only: a marked temp is gone after
 *     TerminateProcess, and clearing the mark and then MoveFileExW works.
 *   - The directory flush comes after the replace and before success, as
 *     POSIX's directory fsync does: MS-FSA 2.1.5.7 says a directory flush
 *     "ensures that the directory structure is persisted to stable
 *     storage", so after a 0 return the rename survives a power loss
 *     (before, it was left to the NTFS journal's next write, seconds
 *     later). The backup is dropped after the flush, so a failed flush can
 *     still move the old content back. Under Wine the flush is an fsync of
 *     the host directory; on Windows it could not be checked here.
 *   - The temp lives in the target's directory so that the final rename
 *     stays on one volume and is atomic.
 *   - CREATE_NEW never opens a file that is already there (a name planted
 *     by someone else, or a collision): we draw another name. The temp is
 *     hidden while it is written, shared for reading and deleting only (so
 *     that nothing can write into it behind us, while a scanner may look),
 *     and its handle is not inherited by child processes.
 *   - The attributes are set on the handle before the flush, so the flush
 *     makes them durable with the data; setting them on the temp (not the
 *     target after the rename) means readers never see the target without
 *     them, also on filesystems or emulators (Wine) whose ReplaceFileW does
 *     not carry them over.
 *   - FlushFileBuffers comes before the rename: otherwise a crash after the
 *     rename could leave the target name on a file whose data never reached
 *     the disk.
 *   - The handle is closed before a rename by path: ReplaceFileW and
 *     MoveFileExW open the replacement themselves and a writer's handle
 *     conflicts with their share modes. A new file is renamed through the
 *     handle instead, right after the mark's end, so that one call, not a
 *     close, an open, a rename and a close, is the window in which a kill
 *     leaves the temp (rename_open_temp).
 *
 * Why ReplaceFileW for an existing target, and not MoveFileExW or a
 * POSIX-semantics rename:
 *   - ReplaceFileW keeps what a user set on the target: its ACL,
 *     attributes, alternate data streams, creation time, short name and
 *     object id. A rename keeps none of it. It is what Microsoft recommends
 *     for replacing a document-like file ("Alternatives to using
 *     Transactional NTFS").
 *   - It replaces a target that readers hold open with FILE_SHARE_DELETE
 *     (as safefs_read_file does). MoveFileExW(REPLACE_EXISTING) cannot: it
 *     fails with ERROR_ACCESS_DENIED for as long as such a reader holds the
 *     file (the figures are in BENCHMARKS.md, "Windows design
 *     measurements").
 *   - SetFileInformationByHandle(FileRenameInfoEx,
 *     FILE_RENAME_FLAG_POSIX_SEMANTICS | FILE_RENAME_FLAG_REPLACE_IF_EXISTS),
 *     as Git for Windows uses, is also not blocked by such readers, but it
 *     keeps nothing of the target either, needs Windows 10 1709 and NTFS,
 *     and could not be tested here: under Wine 8.0 it fails with
 *     ERROR_INVALID_PARAMETER.
 *   Caveats: the measurements are Wine's, not Windows'. Wine's own
 *   ReplaceFileW is two renames (the old file to the backup name, then the
 *   new one in), so under Wine a concurrent reader can briefly find no
 *   file, and a crash between the two leaves the old content only under
 *   the backup name. Readers never see a mix of two contents there either.
 *
 * Durability on Windows:
 *   - Guaranteed after a 0 return (without SAFEFS_NOSYNC), on NTFS and
 *     ReFS: the new content was flushed with FlushFileBuffers before it was
 *     put in place, and the directory after it, so after a crash or power
 *     loss the target holds the complete new content (before the return:
 *     the complete old or new one, never an empty or torn file).
 *   - Where the directory cannot be flushed (safefs__dir_flush_tolerated:
 *     no FILE_ADD_FILE right, FAT and network redirectors) the rename is
 *     committed on the filesystem's own schedule (NTFS's journal: within
 *     seconds), and a power loss just after the return may bring back the
 *     complete old content. MOVEFILE_WRITE_THROUGH is passed to MoveFileExW
 *     too, but Windows documents it only for moves done as copies. FAT and
 *     exFAT have no journal and give no guarantee across power loss.
 *   - With SAFEFS_NOSYNC the replace is still atomic for readers; after a
 *     power loss the target may hold the old content or, where the
 *     filesystem committed the rename before the data, an incomplete file.
 */
#include "sys.h"

#include <string.h>

/* Attributes a user may have set on the target that the new content
 * keeps. READONLY is refused instead (SAFEFS_EACCES); ARCHIVE is always
 * set, because the content changed since the last backup. */
#define KEPT_ATTRIBUTES                                                                 \
  (FILE_ATTRIBUTE_HIDDEN | FILE_ATTRIBUTE_SYSTEM | FILE_ATTRIBUTE_NOT_CONTENT_INDEXED | \
   FILE_ATTRIBUTE_TEMPORARY)

struct safefs__temp {
  HANDLE h;        /* the temp, open for writing; INVALID_HANDLE_VALUE once closed */
  int doomed;      /* the temp's name goes with its handle (marked, or sealed) */
  int sealed;      /* created FILE_FLAG_DELETE_ON_CLOSE: the mark cannot come
                      off, the temp is put in place by a link (link_into_place) */
  int plain;       /* a link may replace the target (target_is_plain) */
  long long created; /* the target's creation time for the temp, or 0 */
  safefs__dir *dir_handle; /* the target's directory, to flush after the
                              replace (durable writes only), or NULL */
  unsigned flags;
  int target_exists;
  DWORD attrs;     /* the attributes the new content gets */
  struct safefs__wpath target; /* the file to replace (links followed), shown by
                                  its name once resolved */
  struct safefs__wpath temp;   /* the temp, in the target's directory */
  char *base;      /* UTF-8 name of the target, for names and messages */
  char *dir;       /* the target's directory, for messages */
  char name[SAFEFS__NAME_MAX + 1]; /* UTF-8 name of the temp */
};

static void free_temp(safefs__temp *t) {
  if (t->h != INVALID_HANDLE_VALUE)
    safefs__sys_close(t->h);
  safefs__dir_close(t->dir_handle);
  safefs__path_free(&t->target);
  safefs__path_free(&t->temp);
  safefs__free(t->base);
  safefs__free(t->dir);
  safefs__free(t);
}

/* Fail with Win32 error e: the message names the failed call's own names,
 * or `subject` (the temp, for calls on its handle), in the target's
 * directory. */
static int fail_in_dir(const safefs__temp *t, DWORD e, const char *subject) {
  return safefs__fail_os_at((long)e, subject, t->dir);
}

/* The target is a reparse point (a symbolic link, a junction, or a
 * placeholder such as a OneDrive file): open it with no access, which
 * follows links, and ask where it ended up. The temp then goes beside the
 * real file and the link is kept, as on POSIX. A link whose target is
 * missing is SAFEFS_ENOENT: reading where it points needs the reparse
 * data itself, which safefs does not parse, so, unlike POSIX, such a link
 * is not used to create its target. */
static int follow_link(safefs__temp *t, DWORD *attrs) {
  HANDLE h;
  wchar_t *final;
  BOOL ok;
  DWORD e;

  h = safefs__sys_create_file(&t->target, 0, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                              OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, SAFEFS__OP_STAT);
  if (h == INVALID_HANDLE_VALUE)
    return safefs__path_fail(GetLastError(), &t->target, NULL);
  ok = safefs__sys_final_path(h, &final);
  e = GetLastError();
  safefs__sys_close(h);
  if (!ok)
    return safefs__fail_os_at((long)e, t->target.name, NULL);
  safefs__path_free(&t->target);
  t->target.wide = final;
  *attrs = safefs__sys_attributes(&t->target);
  if (*attrs == INVALID_FILE_ATTRIBUTES)
    return safefs__path_fail(GetLastError(), &t->target, NULL);
  return 0;
}

/* Find the file to replace and check that it may be replaced; fills
 * t->target, t->base, t->dir, t->target_exists and t->attrs. */
static int resolve_target(safefs__temp *t, const char *path) {
  size_t base_at;
  DWORD attrs;
  int rc;

  /* (a path that names no file, "dir/", ".", "..", which GetFullPathNameW
     would quietly turn into a directory, was refused by the shared writer) */
  if ((rc = safefs__path_from_utf8(&t->target, path)) != 0)
    return rc;
  attrs = safefs__sys_attributes(&t->target);
  if (attrs == INVALID_FILE_ATTRIBUTES) {
    DWORD e = GetLastError();
    if (e != ERROR_FILE_NOT_FOUND)
      return safefs__path_fail(e, &t->target, NULL);
  } else if ((attrs & FILE_ATTRIBUTE_REPARSE_POINT) && (rc = follow_link(t, &attrs)) != 0) {
    return rc;
  }
  base_at = safefs__path_base_offset(t->target.wide);
  /* "name:stream" would make the temp an alternate stream of another file */
  if (t->target.wide[base_at] == L'\0' || wcschr(t->target.wide + base_at, L':') != NULL)
    return safefs__fail_msg(SAFEFS_EINVAL, ERROR_INVALID_NAME,
                            "replace '%s': the name is not a file name (a stream or a drive)",
                            path);
  if ((rc = safefs__path_utf8(t->target.wide + base_at, -1, 0, &t->base)) != 0 ||
      (rc = safefs__path_utf8(t->target.wide, (int)(base_at > 0 ? base_at - 1 : 0), 1,
                              &t->dir)) != 0)
    return rc;
  t->target.name = t->base; /* from here on the messages name the directory */

  t->target_exists = attrs != INVALID_FILE_ATTRIBUTES;
  if (!t->target_exists) {
    t->attrs = FILE_ATTRIBUTE_ARCHIVE;
    return 0;
  }
  if (attrs & FILE_ATTRIBUTE_DIRECTORY)
    return safefs__fail_msg(SAFEFS_EISDIR, ERROR_DIRECTORY, "replace '%s' in '%s': is a directory",
                            t->base, t->dir);
  if (t->flags & SAFEFS_NOREPLACE)
    return safefs__fail_msg(SAFEFS_EEXIST, ERROR_FILE_EXISTS,
                            "create '%s' in '%s': already exists (SAFEFS_NOREPLACE)", t->base,
                            t->dir);
  /* ReplaceFileW refuses a read-only target, and clearing the attribute
     behind the user's back would defeat its purpose */
  if (attrs & FILE_ATTRIBUTE_READONLY)
    return safefs__fail_msg(SAFEFS_EACCES, ERROR_ACCESS_DENIED,
                            "replace '%s' in '%s': the read-only attribute is set", t->base,
                            t->dir);
  t->attrs = (attrs & KEPT_ATTRIBUTES) | FILE_ATTRIBUTE_ARCHIVE;
  return 0;
}

/* Set or clear delete-on-close on the temp (FileDispositionInfo, on the
 * handle opened with DELETE access). While it is set, a process killed
 * (TerminateProcess, a crash) leaves no temp: the file goes with its last
 * handle. FileDispositionInfoEx (POSIX semantics) is not needed, and Wine 8
 * answers it with ERROR_INVALID_PARAMETER. */
static BOOL mark_delete_on_close(HANDLE h, const char *name, BOOL doomed) {
  FILE_DISPOSITION_INFO info;
  info.DeleteFile = doomed;
  return safefs__sys_set_file_info(h, name, FileDispositionInfo, &info, sizeof info,
                                   doomed ? SAFEFS__OP_DOOM_TEMP : SAFEFS__OP_KEEP_TEMP);
}

static BOOL set_doomed(safefs__temp *t, BOOL doomed) {
  if (!mark_delete_on_close(t->h, t->name, doomed))
    return FALSE;
  t->doomed = doomed != 0;
  return TRUE;
}

/* Whether this process has met a volume without hard links
 * (name_by_copy): its temps are then marked delete-on-close after their
 * creation, a mark that can come off, instead of sealed. Process-wide,
 * as POSIX remembers a nameless temp it could not name; a race only
 * costs one more copy. */
static volatile LONG refused_links;

static int links_refused(void) {
  return InterlockedCompareExchange(&refused_links, 0, 0) != 0;
}

/* CREATE_NEW never opens a name that is already there: another is drawn.
 * The temp is sealed: created FILE_FLAG_DELETE_ON_CLOSE, so that from its
 * first moment it dies with its handle, and put in place by a link
 * through that handle (link_into_place), after which the close takes only
 * the temp's own name. Where links were refused, it is marked
 * delete-on-close (FileDispositionInfo) at once instead, a mark that
 * comes off before the rename; a filesystem that refuses the mark gets a
 * temp without it (a kill then leaves it).
 * With SAFEFS_PRIVATE the temp is created with an owner-only, protected
 * DACL (safefs__sys_create_private_file), so that nobody else can open it
 * at any moment: a new target keeps that DACL through MoveFileExW (a move
 * on one volume keeps the file's security descriptor), while ReplaceFileW
 * gives an existing target's content back its own ACL, as POSIX keeps the
 * mode. Without it the temp inherits the directory's ACL. */
static int create_temp(void *ctx, const char *name) {
  safefs__temp *t = (safefs__temp *)ctx;
  int sealed = !links_refused();
  DWORD e;
  int rc;
  safefs__path_free(&t->temp);
  if ((rc = safefs__path_join(&t->temp, t->target.wide, safefs__path_base_offset(t->target.wide),
                              name)) != 0)
    return rc;
  /* a sealed temp is also read, should it have to be copied (name_by_copy) */
  t->h = ((t->flags & SAFEFS_PRIVATE) ? safefs__sys_create_private_file
                                      : safefs__sys_create_file)(
      &t->temp, GENERIC_WRITE | DELETE | (sealed ? GENERIC_READ : 0),
      FILE_SHARE_READ | FILE_SHARE_DELETE, CREATE_NEW,
      FILE_ATTRIBUTE_HIDDEN | (sealed ? FILE_FLAG_DELETE_ON_CLOSE : 0), SAFEFS__OP_CREATE_TEMP);
  if (t->h != INVALID_HANDLE_VALUE) {
    t->sealed = t->doomed = sealed;
    if (!sealed)
      set_doomed(t, TRUE);
    return 0;
  }
  e = GetLastError();
  if (e == ERROR_FILE_EXISTS || e == ERROR_ALREADY_EXISTS)
    return safefs__fail(SAFEFS_EEXIST, (long)e);
  return safefs__path_fail(e, &t->temp, t->dir);
}

/* A durable write opens the target's directory now, as POSIX does, so
 * that the flush after the replace needs no open (one call fewer between
 * the replace and success, and a directory that cannot be opened fails the
 * write before anything was done). */
static int open_dir(safefs__temp *t) {
  int rc;
  if (t->flags & SAFEFS_NOSYNC)
    return 0;
  if ((rc = safefs__dir_open_path(&t->dir_handle, t->dir)) != 0)
    safefs__message_append(", to flush it for '%s'", t->base);
  return rc;
}

int safefs__temp_create(safefs__temp **out, const char *path, unsigned flags) {
  safefs__temp *t;
  int rc;

  *out = NULL;
  t = (safefs__temp *)safefs__malloc(sizeof *t);
  if (t == NULL)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  t->h = INVALID_HANDLE_VALUE;
  t->doomed = t->sealed = t->plain = 0;
  t->created = 0;
  t->dir_handle = NULL;
  t->flags = flags;
  t->target.wide = NULL;
  t->target.name = path;
  t->temp.wide = NULL;
  t->temp.name = t->name;
  t->base = NULL;
  t->dir = NULL;

  if ((rc = resolve_target(t, path)) != 0 || (rc = open_dir(t)) != 0 ||
      (rc = safefs__with_fresh_name(t->name, t->base, SAFEFS__KIND_TMP, create_temp, t)) != 0) {
    free_temp(t);
    return rc;
  }
  *out = t;
  return 0;
}

int safefs__temp_write(safefs__temp *t, const void *data, size_t size) {
  if (!safefs__sys_write_all(t->h, data, size))
    return fail_in_dir(t, GetLastError(), t->name);
  return 0;
}

/* Remove a name of ours (the temp, a backup), waiting out a scanner that
 * holds it. A name that is already gone is fine. The outcome is not the
 * caller's: the error state is kept as it was. */
static int delete_attempt(void *ctx) {
  const struct safefs__wpath *p = (const struct safefs__wpath *)ctx;
  DWORD e;
  if (safefs__sys_delete_file(p))
    return 0;
  e = GetLastError();
  if (e == ERROR_FILE_NOT_FOUND)
    return 0;
  return safefs__attempt_failed((long)e, NULL, NULL);
}

static void delete_name(const struct safefs__wpath *p) {
  struct safefs__saved_error e;
  safefs__error_save(&e);
  safefs__retry(delete_attempt, (void *)p, -1);
  safefs__error_restore(&e, 0);
}

void safefs__temp_discard(safefs__temp *t) {
  if (t == NULL)
    return;
  if (t->h != INVALID_HANDLE_VALUE) {
    safefs__sys_close(t->h);
    t->h = INVALID_HANDLE_VALUE;
  }
  if (!t->doomed && t->temp.wide != NULL) /* a marked or sealed temp went with its handle */
    delete_name(&t->temp);
  free_temp(t);
}

/* How the temp is being put in place; an attempt may move to the next. */
enum put_mode {
  PUT_REPLACE,  /* ReplaceFileW over the existing target */
  PUT_MOVE,     /* MoveFileExW, replacing whatever is there */
  PUT_NOREPLACE /* MoveFileExW that fails if the target exists */
};

struct put {
  safefs__temp *t;
  enum put_mode mode;
  int can_replace;    /* 0 once the filesystem said it has no ReplaceFileW */
  int backup_has_old; /* the old content sits at the backup name */
  HANDLE backup_h;    /* the backup, held open and marked delete-on-close
                         across the directory flush (doom_backup), or
                         INVALID_HANDLE_VALUE */
  struct safefs__wpath backup; /* the backup name; wide NULL if none */
  char backup_name[SAFEFS__NAME_MAX + 1];
  int linked;   /* the sealed temp was linked onto the target: no backup */
  int in_place; /* on failure: the new content is in place all the same */
};

static int target_exists_now(const safefs__temp *t) {
  return safefs__sys_attributes(&t->target) != INVALID_FILE_ATTRIBUTES;
}

/* A fresh backup name beside the target. Without a random name there is
 * no backup (ReplaceFileW then gets NULL), as on POSIX; without memory
 * there is no write. */
static int draw_backup(struct put *p) {
  int rc;
  safefs__path_free(&p->backup);
  p->backup_has_old = 0;
  if (safefs__make_name(p->backup_name, p->t->base, SAFEFS__KIND_OLD) != 0)
    return 0;
  rc = safefs__path_join(&p->backup, p->t->target.wide, safefs__path_base_offset(p->t->target.wide),
                         p->backup_name);
  if (rc == SAFEFS_ENOMEM)
    safefs__message_append(", for a backup of '%s' in '%s'", p->t->base, p->t->dir);
  return rc;
}

/* A failed attempt: wait and try again while someone holds the file, but
 * report at once what waiting will not change, by the one access-denied
 * policy (path.h): a read-only target, or one that became a directory. */
static int after_failure(const safefs__temp *t, DWORD e) {
  if (e == ERROR_ACCESS_DENIED)
    return safefs__path_denied(&t->target, 0, NULL, t->dir);
  return safefs__attempt_failed((long)e, NULL, t->dir);
}

/* One attempt at putting the temp in place (see the retry in commit).
 *
 * ReplaceFileW gets a backup name (.<name>.safefs-<random>.old): the old
 * file is renamed to it and dropped after success. With a backup name
 * Windows documents every outcome, so each one is recoverable; without
 * one, ERROR_UNABLE_TO_MOVE_REPLACEMENT may leave the target gone with the
 * old content nowhere we know. (It also keeps Wine's ReplaceFileW from
 * leaving its own rf*.tmp files behind when writers race: BENCHMARKS.md.)
 *   ERROR_UNABLE_TO_REMOVE_REPLACED (1175): the target could not be moved
 *     (held open without FILE_SHARE_DELETE); nothing changed: try again.
 *   ERROR_UNABLE_TO_MOVE_REPLACEMENT (1176): with a backup name, both files
 *     kept their names; nothing changed: try again.
 *   ERROR_UNABLE_TO_MOVE_REPLACEMENT_2 (1177): the old file is at the backup
 *     name and the temp kept its name (already with the target's
 *     attributes): finish with MoveFileExW into the free name. Should that
 *     fail for good, commit moves the backup back.
 *   ERROR_FILE_NOT_FOUND: the target was removed since the temp was made:
 *     move the temp into its place (if the temp itself is what vanished,
 *     MoveFileExW says so).
 *   ERROR_INVALID_FUNCTION, ERROR_NOT_SUPPORTED, ERROR_INVALID_PARAMETER:
 *     the filesystem (some network redirectors, FAT variants, FUSE
 *     drivers) cannot do ReplaceFileW: MoveFileExW, which replaces
 *     atomically but keeps only the attributes we copied.
 * A MoveFileExW that meets a target held open again (another writer's
 * file, which readers hold) goes back to ReplaceFileW, the only one of the
 * two that gets past readers; a backup of ours still there is older than
 * that file and is dropped. */
static int put_attempt(void *ctx) {
  struct put *p = (struct put *)ctx;
  safefs__temp *t = p->t;
  /* documented to matter only for moves done as copies; asked for anyway
     when the caller wants durability */
  DWORD through = (t->flags & SAFEFS_NOSYNC) ? 0 : MOVEFILE_WRITE_THROUGH;
  DWORD e;
  int rc;

  for (;;) {
    switch (p->mode) {
    case PUT_NOREPLACE:
      if (safefs__sys_move_file(&t->temp, &t->target, through))
        return 0;
      e = GetLastError();
      if (e == ERROR_ALREADY_EXISTS || e == ERROR_FILE_EXISTS)
        return fail_in_dir(t, e, NULL); /* SAFEFS_EEXIST */
      return after_failure(t, e);
    case PUT_MOVE:
      if (safefs__sys_move_file(&t->temp, &t->target, MOVEFILE_REPLACE_EXISTING | through))
        return 0;
      rc = after_failure(t, GetLastError());
      if (rc == SAFEFS__AGAIN && p->can_replace && target_exists_now(t)) {
        struct safefs__saved_error move_error; /* the error to report is still the move's */
        int drawn = 0;
        safefs__error_save(&move_error);
        if (p->backup_has_old)
          delete_name(&p->backup);
        if (p->backup_has_old || p->backup.wide == NULL)
          drawn = draw_backup(p);
        if (drawn != 0)
          return drawn;
        safefs__error_restore(&move_error, 0);
        p->mode = PUT_REPLACE;
      }
      return rc;
    case PUT_REPLACE:
      if (safefs__sys_replace_file(&t->target, &t->temp,
                                   p->backup.wide != NULL ? &p->backup : NULL)) {
        p->backup_has_old = p->backup.wide != NULL;
        return 0;
      }
      e = GetLastError();
      switch (e) {
      case ERROR_UNABLE_TO_MOVE_REPLACEMENT:
        fail_in_dir(t, e, NULL);
        return SAFEFS__AGAIN;
      case ERROR_UNABLE_TO_MOVE_REPLACEMENT_2:
        p->backup_has_old = p->backup.wide != NULL;
        p->mode = PUT_MOVE;
        continue;
      case ERROR_INVALID_FUNCTION:
      case ERROR_NOT_SUPPORTED:
      case ERROR_INVALID_PARAMETER:
        p->can_replace = 0;
        p->mode = PUT_MOVE;
        continue;
      case ERROR_FILE_NOT_FOUND:
        p->mode = PUT_MOVE;
        continue;
      default:
        return after_failure(t, e);
      }
    }
  }
}

/* The temp could not be put in place after ReplaceFileW had moved the old
 * file to the backup name: put it back if its name is still free (if
 * another writer's file took it, that file is newer and stays). */
static void restore_backup(struct put *p) {
  if (!target_exists_now(p->t) &&
      safefs__sys_move_file(&p->backup, &p->t->target, MOVEFILE_WRITE_THROUGH))
    return;
  delete_name(&p->backup);
}

/* The directory flush after the replace failed: put back what was there,
 * as POSIX does after a failed directory fsync. A new target is removed;
 * an old one comes back from the backup name over the new content. If
 * there is no backup (the filesystem has no ReplaceFileW, or no random
 * name could be drawn) the new content stays, and the failure says so. */
static void restore_after_flush(struct put *p) {
  if (p->backup_h != INVALID_HANDLE_VALUE) { /* keep it past the close, to move it */
    if (!mark_delete_on_close(p->backup_h, p->backup_name, FALSE))
      p->backup_has_old = 0; /* it goes with the handle: the new content stays */
    safefs__sys_close(p->backup_h);
    p->backup_h = INVALID_HANDLE_VALUE;
  }
  if (!p->t->target_exists)
    delete_name(&p->t->target);
  else if (p->backup_has_old &&
           !safefs__sys_move_file(&p->backup, &p->t->target,
                                  MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
    delete_name(&p->backup);
}

/* After the replace, the old file sits at the backup name until the
 * directory flush has made the replace durable (a failed flush moves it
 * back). It is held open and marked delete-on-close meanwhile, as the temp
 * was while it was written, so that a process killed during the flush
 * leaves no backup: the file goes with the handle. Only the few calls
 * between the replace and the mark can leave one (for safefs_sweep). A
 * backup that cannot be opened or marked is deleted by name afterwards,
 * as before. Checked under Wine only. */
static void doom_backup(struct put *p) {
  p->backup_h = safefs__sys_create_file(&p->backup, DELETE,
                                        FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                                        OPEN_EXISTING, 0, SAFEFS__OP_OPEN_READ);
  if (p->backup_h != INVALID_HANDLE_VALUE &&
      !mark_delete_on_close(p->backup_h, p->backup_name, TRUE)) {
    safefs__sys_close(p->backup_h);
    p->backup_h = INVALID_HANDLE_VALUE;
  }
}

/* Success: the backup goes, with its handle if it was marked, else by
 * name (if it stays, safefs_sweep finds it). */
static void drop_backup(struct put *p) {
  if (p->backup_h != INVALID_HANDLE_VALUE) {
    safefs__sys_close(p->backup_h);
    p->backup_h = INVALID_HANDLE_VALUE;
  } else if (p->backup_has_old) {
    delete_name(&p->backup);
  }
  p->backup_has_old = 0;
}

/* The DACLs of two security descriptors are the same, ACE for ACE, with
 * the same protection from inheritance (or both have none). */
static int same_dacl(void *a, void *b) {
  SECURITY_DESCRIPTOR_CONTROL ca, cb;
  DWORD rev, i;
  BOOL has_a, has_b, dflt;
  PACL da, db;
  if (!GetSecurityDescriptorControl(a, &ca, &rev) || !GetSecurityDescriptorControl(b, &cb, &rev) ||
      ((ca ^ cb) & SE_DACL_PROTECTED) != 0 || !GetSecurityDescriptorDacl(a, &has_a, &da, &dflt) ||
      !GetSecurityDescriptorDacl(b, &has_b, &db, &dflt))
    return 0;
  if (!has_a || !has_b || da == NULL || db == NULL)
    return has_a == has_b && (da == NULL) == (db == NULL);
  if (da->AceCount != db->AceCount)
    return 0;
  for (i = 0; i < da->AceCount; i++) {
    ACE_HEADER *x, *y;
    if (!GetAce(da, i, (void **)&x) || !GetAce(db, i, (void **)&y) || x->AceSize != y->AceSize ||
        memcmp(x, y, x->AceSize) != 0)
      return 0;
  }
  return 1;
}

/* 1 if the file open as h has no named stream (a Zone.Identifier, the
 * Mark of the Web, a thumbnail): its one stream is "::$DATA", or its
 * filesystem keeps no streams (FAT: ERROR_INVALID_PARAMETER). More than
 * the buffer holds (ERROR_MORE_DATA) is more than one. */
static int only_unnamed_stream(HANDLE h) {
  static const wchar_t unnamed[] = L"::$DATA";
  union {
    FILE_STREAM_INFO info;
    BYTE bytes[sizeof(FILE_STREAM_INFO) + 64 * sizeof(wchar_t)];
  } buf;
  DWORD e;
  if (safefs__sys_file_info_ex(h, FileStreamInfo, &buf, (DWORD)sizeof buf))
    return buf.info.NextEntryOffset == 0 &&
           buf.info.StreamNameLength == sizeof unnamed - sizeof(wchar_t) &&
           memcmp(buf.info.StreamName, unnamed, sizeof unnamed - sizeof(wchar_t)) == 0;
  e = GetLastError();
  return e == ERROR_HANDLE_EOF || e == ERROR_INVALID_PARAMETER || e == ERROR_NOT_SUPPORTED ||
         e == ERROR_INVALID_FUNCTION;
}

/* What a link loses of the target that ReplaceFileW keeps: its own ACL,
 * its alternate streams, encryption and compression, a reparse point (a
 * placeholder, a deduplicated file). */
#define NOT_PLAIN_ATTRIBUTES \
  (FILE_ATTRIBUTE_ENCRYPTED | FILE_ATTRIBUTE_COMPRESSED | FILE_ATTRIBUTE_REPARSE_POINT)

/* Whether a link may replace the existing target (link_into_place): only
 * where the target holds nothing that ReplaceFileW would keep and a new
 * name loses. Its DACL must be the temp's ACE for ACE, with the same
 * protection: both inherited from the directory, nothing the user set (so
 * a SAFEFS_PRIVATE temp, owner-only, always goes the ReplaceFileW way and
 * the target keeps its ACL); it has no named streams; none of
 * NOT_PLAIN_ATTRIBUTES. Its creation time is read for the temp
 * meanwhile, as ReplaceFileW would keep it. Short names and object ids
 * are not looked for: they are lost, as by any rename. Asked while the
 * temp is sealed, so the look opens no window in which a kill leaves
 * anything; any doubt (the target cannot be opened or read: gone, or held
 * in a way the look cannot pass) is "not plain", and the ReplaceFileW way,
 * which keeps everything, follows. The look's own failures are not the
 * write's: the error state is kept; but no memory is SAFEFS_ENOMEM, as
 * everywhere. */
static int target_is_plain(safefs__temp *t) {
  struct safefs__saved_error saved;
  FILE_BASIC_INFO basic;
  void *target_sd = NULL, *temp_sd = NULL;
  HANDLE h;
  int plain = 0;

  safefs__error_save(&saved);
  h = safefs__sys_create_file(&t->target, READ_CONTROL | FILE_READ_ATTRIBUTES,
                              FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, OPEN_EXISTING,
                              0, SAFEFS__OP_STAT);
  if (h != INVALID_HANDLE_VALUE) {
    if (safefs__sys_file_info_ex(h, FileBasicInfo, &basic, (DWORD)sizeof basic)) {
      t->created = basic.CreationTime.QuadPart;
      plain = !(basic.FileAttributes & NOT_PLAIN_ATTRIBUTES) && only_unnamed_stream(h) &&
              safefs__sys_dacl_of(h, &target_sd) && safefs__sys_dacl_of(t->h, &temp_sd) &&
              same_dacl(target_sd, temp_sd);
      if (!plain && GetLastError() == ERROR_NOT_ENOUGH_MEMORY)
        plain = SAFEFS_ENOMEM; /* as everywhere: no memory, no write */
    }
    safefs__sys_close(h);
  }
  safefs__free(target_sd);
  safefs__free(temp_sd);
  if (plain == SAFEFS_ENOMEM) {
    safefs__fail(SAFEFS_ENOMEM, 0);
    safefs__message_append(", to look at '%s' in '%s'", t->base, t->dir);
    return SAFEFS_ENOMEM;
  }
  safefs__error_restore(&saved, 0);
  return plain;
}

/* The attributes (and, for a sealed temp over an existing target, the
 * target's creation time, read by the look at whether a link may replace
 * it), then the data flush (unless NOSYNC), so that the flush makes them
 * durable too. */
int safefs__temp_sync(safefs__temp *t) {
  if (t->sealed && t->target_exists && !(t->flags & SAFEFS_NOREPLACE) &&
      (t->plain = target_is_plain(t)) < 0)
    return t->plain;
  if (!safefs__sys_set_attributes(t->h, t->attrs, t->created))
    return fail_in_dir(t, GetLastError(), t->name);
  if (!(t->flags & SAFEFS_NOSYNC) && !safefs__sys_flush(t->h))
    return fail_in_dir(t, GetLastError(), t->name);
  return 0;
}

/* Where no existing target is replaced (a new file, NOREPLACE), the temp
 * is renamed through its own handle right after its mark came off
 * (FileRenameInfo; NOREPLACE: without ReplaceIfExists, so an existing
 * target gives ERROR_ALREADY_EXISTS), and closed after: nothing but that
 * one call follows the mark's end, where MoveFileExW by path, after the
 * close, is an open, a rename and a close more in which a kill leaves the
 * temp. A new file keeps what it has either way (the rename keeps its
 * security descriptor, as MoveFileExW on one volume does).
 * 0 where the rename was refused, nothing changed: a target that
 * appeared meanwhile, perhaps held open, a filesystem or a Windows without
 * it; put_in_place then goes the path-based way, which tells those apart.
 * 1 with *rc the outcome otherwise: 0, the temp in place; SAFEFS_ENOMEM,
 * nothing changed (its buffer could not be allocated); or the status of a
 * failed close after the rename (reported, as the close before a
 * path-based rename is, and the new file is removed again, so the failure
 * leaves the disk as it was). Checked under Wine 8 only, which converts
 * the full path as Windows documents for FILE_RENAME_INFO. */
static int rename_open_temp(safefs__temp *t, int replace, int *rc) {
  if (!safefs__sys_rename_handle(t->h, t->name, &t->target, replace)) {
    if (GetLastError() != ERROR_NOT_ENOUGH_MEMORY)
      return 0; /* (the path-based way's own calls make the error state) */
    *rc = safefs__fail(SAFEFS_ENOMEM, 0); /* as everywhere: no memory, no write */
    return 1;
  }
  *rc = safefs__sys_close(t->h) ? 0 : fail_in_dir(t, GetLastError(), t->name);
  t->h = INVALID_HANDLE_VALUE;
  if (*rc != 0)
    delete_name(&t->target);
  return 1;
}

/* Link failures that say the volume has no hard links (FAT, exFAT, some
 * redirectors), not that the name or the disk is the problem. */
static int link_refused(DWORD e) {
  return e == ERROR_INVALID_FUNCTION || e == ERROR_NOT_SUPPORTED || e == ERROR_INVALID_PARAMETER;
}

/* Copy the content of the file open as `from` (a sealed temp), from its
 * first byte, into the temp t->h. */
static int copy_from(safefs__temp *t, HANDLE from) {
  enum { CHUNK = 64 * 1024 };
  unsigned long long at = 0;
  char *buf = (char *)safefs__malloc(CHUNK);
  DWORD got;
  int rc = 0;
  if (buf == NULL)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  for (;;) {
    if (!safefs__sys_transfer_at(from, SAFEFS__OP_READ, buf, CHUNK, at, &got)) {
      rc = fail_in_dir(t, GetLastError(), t->name);
      break;
    }
    if (got == 0)
      break;
    if (!safefs__sys_write_all(t->h, buf, got)) {
      rc = fail_in_dir(t, GetLastError(), t->name);
      break;
    }
    at += got;
  }
  safefs__free(buf);
  return rc;
}

/* The volume has no hard links (link_refused): the sealed temp's content
 * is copied into a temp made as before sealing, marked delete-on-close by
 * FileDispositionInfo (a mark that can come off), which gets the
 * attributes and (unless NOSYNC) its own flush; the sealed one goes with
 * its handle. From then on the process makes such temps from the start
 * (links_refused), so the copy is paid once, as POSIX's name_by_copy. On
 * failure what has a name of ours is t->temp (discard removes it) unless
 * it is marked. */
static int name_by_copy(safefs__temp *t) {
  HANDLE sealed = t->h;
  struct safefs__wpath sealed_path = t->temp;
  int rc;
  InterlockedExchange(&refused_links, 1);
  t->h = INVALID_HANDLE_VALUE;
  t->temp.wide = NULL;
  t->sealed = t->doomed = 0;
  rc = safefs__with_fresh_name(t->name, t->base, SAFEFS__KIND_TMP, create_temp, t);
  if (rc == 0 && (rc = copy_from(t, sealed)) == 0)
    rc = safefs__temp_sync(t);
  safefs__sys_close(sealed);
  safefs__path_free(&sealed_path);
  return rc;
}

/* Give the sealed temp a second temp name, one that outlives its handle
 * (EEXIST: draw another). */
static int link_kept(void *ctx, const char *name) {
  safefs__temp *t = (safefs__temp *)ctx;
  struct safefs__wpath kept;
  DWORD e;
  int rc;
  if ((rc = safefs__path_join(&kept, t->target.wide, safefs__path_base_offset(t->target.wide),
                              name)) != 0)
    return rc;
  kept.name = t->name;
  if (safefs__sys_link_handle(t->h, &kept, 0)) {
    safefs__path_free(&t->temp);
    t->temp = kept;
    return 0;
  }
  e = GetLastError();
  safefs__path_free(&kept);
  if (e == ERROR_ALREADY_EXISTS || e == ERROR_FILE_EXISTS)
    return safefs__fail(SAFEFS_EEXIST, (long)e);
  if (e == ERROR_NOT_ENOUGH_MEMORY)
    return safefs__fail(SAFEFS_ENOMEM, 0);
  return fail_in_dir(t, e, NULL);
}

/* The sealed temp is to be put in place by path after all (ReplaceFileW,
 * MoveFileExW: a target that is not plain, held open, or appeared
 * meanwhile): it gets a second name that outlives its handle, one call,
 * and the handle is closed, which takes the first. Its kill window is
 * then the path-based one, as before sealing. Where links are refused the
 * content is copied instead (name_by_copy). */
static int keep_content(safefs__temp *t) {
  HANDLE h;
  int rc = safefs__with_fresh_name(t->name, t->base, SAFEFS__KIND_TMP, link_kept, t);
  if (rc != 0)
    return link_refused((DWORD)safefs_last_os_error()) ? name_by_copy(t) : rc;
  h = t->h;
  t->h = INVALID_HANDLE_VALUE;
  t->sealed = t->doomed = 0;
  return safefs__sys_close(h) ? 0 : fail_in_dir(t, GetLastError(), t->name);
}

/* The commit of a sealed temp: one link through its handle onto the
 * target's name (NtSetInformationFile, FileLinkInformation), with
 * ReplaceIfExists over a plain existing target (target_is_plain), without
 * it for a new file and NOREPLACE (a target that appeared meanwhile gives
 * ERROR_ALREADY_EXISTS: SAFEFS_EEXIST for NOREPLACE), then the close,
 * which takes only the temp's own name. No call of the write is then a
 * window in which a kill leaves a name: before the link the temp dies with
 * its handle, after it only its temp name does.
 * 0: in place. SAFEFS__AGAIN: put_in_place puts it in place by path,
 * from the ordinary temp t holds now (keep_content, name_by_copy): a
 * target that is not plain, held open (ERROR_ACCESS_DENIED, MS-FSCC
 * 2.4.27: a link cannot replace an open file), or that appeared; a volume
 * without links. Another status: nothing changed (the temp, still sealed
 * or kept, is the caller's to discard), except after a failed close that
 * followed the link: then *in_place is 1 and a new target is removed
 * again, while an existing one keeps the new content (nothing could put
 * the old one back: safefs.h). */
static int link_into_place(safefs__temp *t, int *in_place) {
  int noreplace = (t->flags & SAFEFS_NOREPLACE) != 0;
  DWORD e = ERROR_SUCCESS;
  int rc;
  HANDLE h;

  *in_place = 0;
  if (!t->target_exists || t->plain) {
    if (safefs__sys_link_handle(t->h, &t->target, t->target_exists && !noreplace)) {
      h = t->h;
      t->h = INVALID_HANDLE_VALUE;
      if (safefs__sys_close(h))
        return 0;
      rc = fail_in_dir(t, GetLastError(), t->name);
      if (!t->target_exists)
        delete_name(&t->target);
      else
        *in_place = 1;
      return rc;
    }
    e = GetLastError();
    if (e == ERROR_NOT_ENOUGH_MEMORY)
      return safefs__fail(SAFEFS_ENOMEM, 0);
    if (e == ERROR_ALREADY_EXISTS || e == ERROR_FILE_EXISTS) {
      rc = fail_in_dir(t, e, NULL);
      if (noreplace)
        return rc; /* SAFEFS_EEXIST */
    } else if (!link_refused(e) && e != ERROR_ACCESS_DENIED && !safefs__os_transient((long)e)) {
      return fail_in_dir(t, e, NULL);
    }
  }
  rc = link_refused(e) ? name_by_copy(t) : keep_content(t);
  return rc == 0 ? SAFEFS__AGAIN : rc;
}

/* The commit after safefs__temp_sync and before the directory flush: the
 * mark off, the close, and the replace, retried while others hold the
 * target. On failure the target is as it was (a backup that holds the old
 * content is moved back) and the temp is gone; p's backup path is the
 * caller's to free either way. */
static int put_in_place(safefs__temp *t, struct put *p) {
  struct safefs__saved_error e;
  int rc;

  p->t = t;
  p->mode = PUT_MOVE;
  p->can_replace = 1;
  p->backup_has_old = 0;
  p->backup_h = INVALID_HANDLE_VALUE;
  p->backup.wide = NULL;
  p->backup.name = p->backup_name;
  p->linked = p->in_place = 0;
  if (t->sealed) {
    rc = link_into_place(t, &p->in_place);
    p->linked = rc == 0;
    if (rc != SAFEFS__AGAIN) {
      if (rc == 0)
        return 0;
      goto fail;
    }
  }
  /* the backup's name is drawn while the temp is still marked, so that
     nothing but the close separates the mark's end from the replace */
  if (t->flags & SAFEFS_NOREPLACE) {
    p->mode = PUT_NOREPLACE;
  } else if (t->target_exists) {
    p->mode = PUT_REPLACE;
    if ((rc = draw_backup(p)) != 0)
      goto fail;
  }
  /* the mark comes off only now, just before the close and the replace:
     a kill between the two is the one that leaves a temp */
  if (t->h != INVALID_HANDLE_VALUE) { /* (a kept temp is closed already) */
    if (t->doomed && !set_doomed(t, FALSE)) {
      rc = fail_in_dir(t, GetLastError(), t->name);
      goto fail;
    }
    if (p->mode != PUT_REPLACE && rename_open_temp(t, p->mode == PUT_MOVE, &rc)) {
      if (rc == 0)
        return 0;
      goto fail;
    }
    rc = safefs__sys_close(t->h) ? 0 : fail_in_dir(t, GetLastError(), t->name);
    t->h = INVALID_HANDLE_VALUE;
    if (rc != 0)
      goto fail;
  }
  if ((rc = safefs__retry(put_attempt, p, -1)) == 0)
    return 0;

fail:
  safefs__error_save(&e);
  if (p->backup_has_old)
    restore_backup(p);
  p->backup_has_old = 0;
  safefs__temp_discard(t);
  return safefs__error_restore(&e, rc);
}

int safefs__temp_commit(safefs__temp *t) {
  struct safefs__saved_error e;
  struct put p;
  int rc;

  if ((rc = safefs__temp_sync(t)) != 0) {
    safefs__error_save(&e);
    safefs__temp_discard(t);
    return safefs__error_restore(&e, rc);
  }
  if ((rc = put_in_place(t, &p)) != 0) {
    safefs__path_free(&p.backup);
    return rc;
  }
  if (p.backup_has_old && t->dir_handle != NULL)
    doom_backup(&p);
  /* After the replace, before success: the directory is flushed, so that
     the rename itself is on stable storage when the call returns (the data
     already is). safefs__dir_sync is the deleter's and SAFEFS_MKDIRS' too;
     it tolerates filesystems and rights that cannot flush a directory. */
  if (t->dir_handle != NULL && (rc = safefs__dir_sync(t->dir_handle)) != 0) {
    safefs__message_append(", after replacing '%s'", t->base);
    if (p.linked && t->target_exists)
      safefs__message_append(" (the new content stays: a link keeps no old one to put back)");
    safefs__error_save(&e);
    restore_after_flush(&p);
    safefs__path_free(&p.backup);
    free_temp(t);
    return safefs__error_restore(&e, rc);
  }
  drop_backup(&p);
  safefs__path_free(&p.backup);
  free_temp(t);
  return 0;
}

/* Nothing to start: FlushFileBuffers is the only way to write a file out
 * on Windows, and it waits. */
void safefs__temp_sync_start(safefs__temp *t) {
  SAFEFS__UNUSED(t);
}

/* Windows has no filesystem in memory only that a program can tell apart
 * (RAM disks present themselves as NTFS or FAT volumes): every flush is
 * taken to cost what it costs on a disk. */
int safefs__temp_sync_is_free(const safefs__temp *t) {
  SAFEFS__UNUSED(t);
  return 0;
}

/* Windows flushes a whole volume only through a handle to the volume
 * itself, which needs administrator rights (FlushFileBuffers): each temp
 * is synced on its own. */
int safefs__temps_sync_together(safefs__temp **temps, size_t n, unsigned long long bytes,
                                int *taken, size_t *failed) {
  SAFEFS__UNUSED(temps);
  SAFEFS__UNUSED(n);
  SAFEFS__UNUSED(bytes);
  SAFEFS__UNUSED(failed);
  *taken = 0;
  return 0;
}

/* The backup is dropped at once: the batch does not move old contents
 * back after a failed directory flush (safefs.h). */
int safefs__temp_install(safefs__temp *t, safefs__dir **dir, int *in_place) {
  struct put p;
  int rc = put_in_place(t, &p);

  *in_place = rc == 0 || p.in_place;
  if (dir != NULL)
    *dir = NULL;
  if (rc == 0) {
    drop_backup(&p);
    if (dir != NULL) {
      *dir = t->dir_handle;
      t->dir_handle = NULL;
    }
    free_temp(t);
  }
  safefs__path_free(&p.backup);
  return rc;
}

/* One CreateDirectoryW; ERROR_PATH_NOT_FOUND is told apart as POSIX does
 * (a file above it is SAFEFS_ENOTDIR). */
int safefs__mkdir(const char *path) {
  struct safefs__wpath p;
  int rc;
  if ((rc = safefs__path_from_utf8(&p, path)) != 0)
    return rc;
  if (!safefs__sys_create_directory(&p))
    rc = safefs__path_fail(GetLastError(), &p, NULL);
  safefs__path_free(&p);
  return rc;
}
