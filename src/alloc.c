/* Every allocation goes through here so that tests can fail any one of
 * them (SAFEFS__OP_ALLOC in the seam) and count what is not freed. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "seam.h"

static long tell_seam(enum safefs__op op, const void *p, size_t size) {
  struct safefs__call c;
  memset(&c, 0, sizeof c);
  c.op = op;
  c.data = p;
  c.size = size;
  c.handle = -1;
  return safefs__seam(&c);
}

/* An ALLOC call carries the old block for a realloc (data != NULL), so a
 * hook counting live blocks counts only the ones with data == NULL. */
static int alloc_refused(const void *old, size_t size) {
  return tell_seam(SAFEFS__OP_ALLOC, old, size) != 0;
}

/* The message for the SAFEFS_ENOMEM the caller is about to return. */
static void *out_of_memory(size_t size) {
  safefs__fail_msg(SAFEFS_ENOMEM, 0, "out of memory (allocating %lu bytes)", (unsigned long)size);
  return NULL;
}

void *safefs__malloc(size_t size) {
  void *p;
  if (alloc_refused(NULL, size))
    return out_of_memory(size);
  p = malloc(size ? size : 1);
  return p != NULL ? p : out_of_memory(size);
}

void *safefs__realloc(void *p, size_t size) {
  void *q;
  if (alloc_refused(p, size))
    return out_of_memory(size);
  q = realloc(p, size ? size : 1);
  return q != NULL ? q : out_of_memory(size);
}

char *safefs__strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *copy = (char *)safefs__malloc(n);
  if (copy != NULL)
    memcpy(copy, s, n);
  return copy;
}

void safefs__free(void *p) {
  if (p != NULL)
    tell_seam(SAFEFS__OP_FREE, p, 0);
  free(p);
}

void safefs_free(void *p) {
  safefs__free(p);
}
