/* Every allocation goes through here so that tests can fail any one of
 * them (SAFEFS__OP_ALLOC in the seam) and count what is not freed. */
#include <stdlib.h>

#include "internal.h"
#include "seam.h"

static int alloc_refused(size_t size) {
  struct safefs__call c;
  c.op = SAFEFS__OP_ALLOC;
  c.path = 0;
  c.path2 = 0;
  c.data = 0;
  c.size = size;
  c.handle = -1;
  return safefs__seam(&c) != 0;
}

void *safefs__malloc(size_t size) {
  if (alloc_refused(size))
    return NULL;
  return malloc(size ? size : 1);
}

void *safefs__realloc(void *p, size_t size) {
  if (alloc_refused(size))
    return NULL;
  return realloc(p, size ? size : 1);
}

void safefs__free(void *p) {
  free(p);
}

void safefs_free(void *p) {
  free(p);
}
