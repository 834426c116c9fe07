/*
 * Strict UTF-8 <-> UTF-16, for the Windows edge (every path crosses it
 * once) and shared so that it is the same, and fuzzed, on every platform.
 * Strict means: no overlong forms, no surrogate code points (U+D800..DFFF)
 * in UTF-8, nothing above U+10FFFF, no truncated sequence, and no lone
 * surrogate in UTF-16. Anything else is refused rather than replaced with
 * U+FFFD, so two different byte strings never name the same file.
 */
#include "internal.h"

/* Decode one code point at s; returns its length in bytes (1..4) and sets
 * *cp, or 0 if the bytes are not valid UTF-8. */
static int decode(const unsigned char *s, unsigned long *cp) {
  unsigned long c = s[0];
  int len, i;
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    c &= 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    c &= 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    c &= 0x07;
  } else {
    return 0; /* continuation byte, overlong lead C0/C1, or F5..FF */
  }
  for (i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0; /* also stops at the terminating NUL */
    c = (c << 6) | (s[i] & 0x3F);
  }
  if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
      (c >= 0xD800 && c <= 0xDFFF))
    return 0;
  *cp = c;
  return len;
}

long safefs__utf8_to_utf16(const char *s, unsigned short *out, size_t cap) {
  const unsigned char *p = (const unsigned char *)s;
  size_t n = 0;
  while (*p) {
    unsigned long cp;
    int len = decode(p, &cp);
    if (len == 0)
      return -1;
    p += len;
    if (cp >= 0x10000) {
      if (out != NULL && n + 2 < cap) {
        cp -= 0x10000;
        out[n] = (unsigned short)(0xD800 | (cp >> 10));
        out[n + 1] = (unsigned short)(0xDC00 | (cp & 0x3FF));
      }
      n += 2;
    } else {
      if (out != NULL && n + 1 < cap)
        out[n] = (unsigned short)cp;
      n += 1;
    }
  }
  if (out != NULL && cap > 0)
    out[n < cap ? n : cap - 1] = 0;
  return (long)n;
}

long safefs__utf16_to_utf8(const unsigned short *w, size_t len, char *out, size_t cap) {
  size_t i, n = 0;
  for (i = 0; i < len; i++) {
    unsigned long cp = w[i];
    unsigned char buf[4];
    int k, blen;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (i + 1 >= len || w[i + 1] < 0xDC00 || w[i + 1] > 0xDFFF)
        return -1;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (w[i + 1] - 0xDC00);
      i++;
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
      return -1;
    }
    if (cp < 0x80) {
      buf[0] = (unsigned char)cp;
      blen = 1;
    } else if (cp < 0x800) {
      buf[0] = (unsigned char)(0xC0 | (cp >> 6));
      buf[1] = (unsigned char)(0x80 | (cp & 0x3F));
      blen = 2;
    } else if (cp < 0x10000) {
      buf[0] = (unsigned char)(0xE0 | (cp >> 12));
      buf[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
      buf[2] = (unsigned char)(0x80 | (cp & 0x3F));
      blen = 3;
    } else {
      buf[0] = (unsigned char)(0xF0 | (cp >> 18));
      buf[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
      buf[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
      buf[3] = (unsigned char)(0x80 | (cp & 0x3F));
      blen = 4;
    }
    for (k = 0; k < blen; k++, n++)
      if (out != NULL && n + 1 < cap)
        out[n] = (char)buf[k];
  }
  if (out != NULL && cap > 0)
    out[n < cap ? n : cap - 1] = '\0';
  return (long)n;
}
