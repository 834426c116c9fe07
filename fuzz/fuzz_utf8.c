/* Fuzz the strict UTF-8 <-> UTF-16 conversion every Windows path goes
 * through. Properties: no crash or overrun (ASan), measuring and
 * converting agree, a valid string round-trips byte for byte, and a
 * string is accepted exactly when an independent validity check says so. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Independent check, written from the Unicode table 3-7 ranges. */
static int valid_utf8(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    size_t len, k;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c <= 0x7F) {
      i++;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) { len = 3; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) len = 3;
    else if (c == 0xED) { len = 3; hi = 0x9F; }
    else if (c >= 0xEE && c <= 0xEF) len = 3;
    else if (c == 0xF0) { len = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) { len = 4; hi = 0x8F; }
    else return 0;
    if (i + len > n)
      return 0;
    if (s[i + 1] < lo || s[i + 1] > hi)
      return 0;
    for (k = 2; k < len; k++)
      if (s[i + k] < 0x80 || s[i + k] > 0xBF)
        return 0;
    i += len;
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = (char *)malloc(size + 1);
  size_t n;
  long units, again, bytes;
  unsigned short *w;
  char *back;

  memcpy(s, data, size);
  s[size] = '\0';
  n = strlen(s); /* the API takes NUL-terminated strings */
  units = safefs__utf8_to_utf16(s, NULL, 0);
  if (units < 0) {
    if (valid_utf8((const unsigned char *)s, n))
      abort(); /* refused a valid string */
    free(s);
    return 0;
  }
  if (!valid_utf8((const unsigned char *)s, n))
    abort(); /* accepted an invalid string */
  w = (unsigned short *)malloc(sizeof *w * ((size_t)units + 1));
  again = safefs__utf8_to_utf16(s, w, (size_t)units + 1);
  if (again != units || w[units] != 0)
    abort();
  bytes = safefs__utf16_to_utf8(w, (size_t)units, NULL, 0);
  if (bytes != (long)n)
    abort();
  back = (char *)malloc(n + 1);
  if (safefs__utf16_to_utf8(w, (size_t)units, back, n + 1) != (long)n || memcmp(back, s, n + 1))
    abort(); /* no round trip */
  /* any UTF-16 (the same input read as code units) either converts or is
     refused for a lone surrogate, without overrunning */
  if (size >= 2) {
    size_t wn = size / 2, i;
    unsigned short *raw = (unsigned short *)malloc(sizeof *raw * wn);
    char small[8];
    for (i = 0; i < wn; i++)
      raw[i] = (unsigned short)(data[2 * i] | (data[2 * i + 1] << 8));
    safefs__utf16_to_utf8(raw, wn, small, sizeof small);
    free(raw);
  }
  free(back);
  free(w);
  free(s);
  return 0;
}
