/* The test seam (see seam.h): one hook pointer, read on every OS call. */
#include "seam.h"

static safefs__seam_fn seam_fn;
static safefs__seam_after_fn seam_after_fn;
static void *seam_ctx;

static const char *const op_names[SAFEFS__OP_COUNT] = {
#define SAFEFS__OP_STR(name, str) str,
    SAFEFS__OP_MAP(SAFEFS__OP_STR)
#undef SAFEFS__OP_STR
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

void safefs__seam_after(const struct safefs__call *call, long long result, long oserr) {
  if (seam_after_fn)
    seam_after_fn(seam_ctx, call, result, oserr);
}

long safefs__seam_op(enum safefs__op op, const char *path) {
  return safefs__seam_call(op, path, 0, 0, 0, -1);
}

long safefs__seam_call(enum safefs__op op, const char *path, const char *path2, const void *data,
                       size_t size, long long handle) {
  struct safefs__call c;
  if (!seam_fn)
    return 0;
  c.op = op;
  c.path = path;
  c.path2 = path2;
  c.data = data;
  c.size = size;
  c.handle = handle;
  return seam_fn(seam_ctx, &c);
}

const char *safefs__op_name(enum safefs__op op) {
  return (unsigned)op < SAFEFS__OP_COUNT ? op_names[op] : "?";
}
