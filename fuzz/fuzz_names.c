/* Fuzz path splitting and the names safefs puts on disk: every name
 * make_name produces is recognised by is_own_name, fits in a file name,
 * keeps a valid UTF-8 base valid, and arbitrary names never crash the
 * recogniser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "platform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = (char *)malloc(size + 1);
  char name[SAFEFS__NAME_MAX + 1];
  const char *base;
  size_t dir_len, n;
  const char *kinds[3] = {SAFEFS__KIND_TMP, SAFEFS__KIND_OLD, SAFEFS__KIND_TRASH};

  memcpy(s, data, size);
  s[size] = '\0';
  n = strlen(s);
  (void)safefs__is_own_name(s);
  if (safefs__split_path(s, &dir_len, &base) == 0) {
    size_t i;
    if (base < s || base > s + n || dir_len > n || *base == '\0')
      abort();
    for (i = 0; base[i]; i++)
      if (safefs__is_sep((unsigned char)base[i]))
        abort(); /* the base is one component */
    if (safefs__make_name(name, base, kinds[size % 3]) != 0)
      abort();
    if (strlen(name) > SAFEFS__NAME_MAX || !safefs__is_own_name(name))
      abort();
    if (safefs__utf8_to_utf16(base, NULL, 0) >= 0 && safefs__utf8_to_utf16(name, NULL, 0) < 0)
      abort(); /* shortening cut a character in half */
  }
  free(s);
  return 0;
}
