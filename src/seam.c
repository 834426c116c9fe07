/* The test seam (see seam.h): one hook pointer, read on every OS call. */
#include "seam.h"

#include "internal.h"

static safefs__seam_fn seam_fn;
static safefs__seam_after_fn seam_after_fn;
static void *seam_ctx;

static const char *const op_names[SAFEFS__OP_COUNT] = {
#define SAFEFS__OP_STR(name, str, verb) str,
    SAFEFS__OP_MAP(SAFEFS__OP_STR)
#undef SAFEFS__OP_STR
};

static const char *const op_verbs[SAFEFS__OP_COUNT] = {
#define SAFEFS__OP_VERB(name, str, verb) verb,
    SAFEFS__OP_MAP(SAFEFS__OP_VERB)
#undef SAFEFS__OP_VERB
};

void safefs__seam_set(safefs__seam_fn fn, void *ctx) {
  seam_ctx = ctx;
  seam_fn = fn;
  seam_after_fn = 0;
}

void safefs__seam_set_after(safefs__seam_after_fn fn) {
  seam_after_fn = fn;
}

long safefs__seam(const struct safefs__call *call) {
  return seam_fn ? seam_fn(seam_ctx, call) : 0;
}

long safefs__seam_op(enum safefs__op op, const char *path) {
  return safefs__seam_call(op, path, 0, 0, 0, -1);
}

/* The call this thread last asked about, for safefs__seam_done. It is kept
 * with or without a hook (six stores), because a failure is also recorded
 * for safefs_last_error_message from it. */
static SAFEFS__TLS struct safefs__call last_call;

/* The fields every call has; the callers below fill in the rest. */
static void describe(enum safefs__op op, const char *path, const char *path2, long long handle) {
  last_call.op = op;
  last_call.path = path;
  last_call.path2 = path2;
  last_call.handle = handle;
}

static long ask_hook(void) {
  return seam_fn ? seam_fn(seam_ctx, &last_call) : 0;
}

long safefs__seam_call(enum safefs__op op, const char *path, const char *path2, const void *data,
                       size_t size, long long handle) {
  describe(op, path, path2, handle);
  last_call.backup = 0;
  last_call.flags = 0;
  last_call.data = data;
  last_call.size = size;
  return ask_hook();
}

/* A call with names and flags and no data: a rename, a link, a create. */
static long ask_named(enum safefs__op op, const char *path, const char *path2, const char *backup,
                      unsigned flags, long long handle) {
  describe(op, path, path2, handle);
  last_call.backup = backup;
  last_call.flags = flags;
  last_call.data = 0;
  last_call.size = 0;
  return ask_hook();
}

long safefs__seam_flagged(enum safefs__op op, const char *path, const char *path2, unsigned flags,
                          long long handle) {
  return ask_named(op, path, path2, NULL, flags, handle);
}

long safefs__seam_rename(const char *from, const char *to, const char *backup, unsigned flags,
                         long long handle) {
  return ask_named(SAFEFS__OP_RENAME, from, to, backup, flags, handle);
}

/* The one place every failed OS call passes: its op and paths are copied
 * for the error message (error.c) while the pointers are still valid. */
void safefs__seam_done(long long result, long oserr) {
  if (result < 0)
    safefs__record_failed_call(&last_call, oserr);
  if (seam_after_fn)
    seam_after_fn(seam_ctx, &last_call, result, oserr);
}

const char *safefs__op_name(enum safefs__op op) {
  return (unsigned)op < SAFEFS__OP_COUNT ? op_names[op] : "?";
}

const char *safefs__op_verb(enum safefs__op op) {
  return (unsigned)op < SAFEFS__OP_COUNT ? op_verbs[op] : "?";
}
