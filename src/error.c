/*
 * This thread's error state: the last OS error and the message of
 * safefs_last_error_message (see the error.c section of internal.h for
 * how a failure gets here). Everything lives in fixed per-thread buffers:
 * recording a failure never allocates, so it cannot fail itself, and a
 * sentence too long for its buffer is cut on a UTF-8 character boundary
 * and ends in "...".
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "platform.h"

#define ELLIPSIS "..."

/* The last failed OS call, as "<verb> '<path>'[ over '<path2>']", not yet
 * published; `fresh` until a failure is published from it. */
struct failed_call {
  int fresh;
  int has_path;
  long oserr;
  char text[SAFEFS__MESSAGE_MAX];
};

static SAFEFS__TLS long last_os_error;
static SAFEFS__TLS char message[SAFEFS__MESSAGE_MAX];
static SAFEFS__TLS int message_cut; /* message ends in the "..." of a cut */
static SAFEFS__TLS int message_wants_function; /* safefs__fail_input: no function named yet */
static SAFEFS__TLS struct failed_call last_failed;

/* A bounded string being built: appends stop at the first that does not
 * fit, which is cut on a character boundary, leaving room for "...". */
struct text {
  char *p;
  size_t len, cap;
  int cut;
};

static void text_init(struct text *t, char *buf, size_t cap) {
  t->p = buf;
  t->len = 0;
  t->cap = cap;
  t->cut = 0;
  buf[0] = '\0';
}

static void put_n(struct text *t, const char *s, size_t n) {
  size_t room;
  if (t->cut)
    return;
  room = t->cap - 1 - sizeof ELLIPSIS; /* always room for the "..." */
  if (t->len + n > room) {
    n = room > t->len ? room - t->len : 0;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) /* s[n]: inside a character */
      n--;
    t->cut = 1;
  }
  memcpy(t->p + t->len, s, n);
  t->len += n;
  if (t->cut) {
    memcpy(t->p + t->len, ELLIPSIS, sizeof ELLIPSIS);
    t->len += sizeof ELLIPSIS - 1;
  }
  t->p[t->len] = '\0';
}

static void put(struct text *t, const char *s) {
  put_n(t, s, strlen(s));
}

static void put_quoted(struct text *t, const char *s) {
  put(t, "'");
  put(t, s);
  put(t, "'");
}

/* vsnprintf into a scratch buffer as large as the message, then put (which
 * cuts it for the message); a cut made by vsnprintf itself is first moved
 * back to a character boundary. */
static void put_vf(struct text *t, const char *fmt, va_list ap) {
  char tmp[SAFEFS__MESSAGE_MAX];
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  tmp[sizeof tmp - 1] = '\0'; /* some C libraries do not terminate a cut */
  if (n < 0)
    return;
  if ((size_t)n >= sizeof tmp) {
    size_t len = strlen(tmp);
    while (len > 0 && ((unsigned char)tmp[len] & 0xC0) == 0x80)
      len--;
    tmp[len] = '\0'; /* still longer than the message can take: put cuts it */
  }
  put(t, tmp);
}

/* Drop an incomplete character at the end of s (a cut made by snprintf). */
static void trim_partial(char *s) {
  size_t len = strlen(s), lead = len, need;
  unsigned char c;
  while (lead > 0 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
    lead--;
  if (lead == 0)
    return;
  c = (unsigned char)s[lead - 1];
  need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
  if (len - (lead - 1) < need)
    s[lead - 1] = '\0';
}

/* ---- recording and publishing ---------------------------------------------- */

void safefs__record_failed_call(const struct safefs__call *call, long oserr) {
  struct text t;
  text_init(&t, last_failed.text, sizeof last_failed.text);
  put(&t, safefs__op_verb(call->op));
  last_failed.has_path = call->path != NULL;
  if (call->path != NULL) {
    put(&t, " ");
    put_quoted(&t, call->path);
  }
  if (call->path2 != NULL) {
    /* a rename "over" what it replaces, "to" a name that must be free; a
       link "as" its new name */
    const char *how = call->op == SAFEFS__OP_LINK ? " as "
                      : (call->op == SAFEFS__OP_RENAME && (call->flags & SAFEFS__RENAME_NOREPLACE))
                          ? " to "
                          : " over ";
    put(&t, how);
    put_quoted(&t, call->path2);
  }
  last_failed.oserr = oserr;
  last_failed.fresh = 1;
}

void safefs__set_os_error(long oserr) {
  last_os_error = oserr;
}

void safefs__publish_os(long oserr, const char *subject, const char *dir) {
  char os_text[256];
  struct text t;
  int from_call = last_failed.fresh && last_failed.oserr == oserr;

  text_init(&t, message, sizeof message);
  if (from_call)
    put(&t, last_failed.text);
  if (subject != NULL && !(from_call && last_failed.has_path)) {
    if (t.len > 0)
      put(&t, " ");
    put_quoted(&t, subject);
  }
  if (dir != NULL && dir != subject) {
    put(&t, " in ");
    put_quoted(&t, dir);
  }
  safefs__os_error_text(oserr, os_text, sizeof os_text);
  trim_partial(os_text);
  if (t.len > 0)
    put(&t, ": ");
  put(&t, os_text);
  message_cut = t.cut;
  message_wants_function = 0;
  last_failed.fresh = 0;
  last_os_error = oserr;
}

void safefs__set_message(const char *fmt, ...) {
  struct text t;
  va_list ap;
  text_init(&t, message, sizeof message);
  va_start(ap, fmt);
  put_vf(&t, fmt, ap);
  va_end(ap);
  message_cut = t.cut;
  message_wants_function = 0;
  last_failed.fresh = 0;
}

void safefs__message_append(const char *fmt, ...) {
  struct text t;
  va_list ap;
  t.p = message;
  t.len = strlen(message);
  t.cap = sizeof message;
  t.cut = message_cut;
  va_start(ap, fmt);
  put_vf(&t, fmt, ap);
  va_end(ap);
  message_cut = t.cut;
}

void safefs__set_input_message(const char *what) {
  safefs__set_message("%s", what);
  message_wants_function = 1;
}

int safefs__result(int rc, const char *function, const char *path) {
  if (rc == SAFEFS_ENOMEM && path != NULL) {
    safefs__message_append(" in %s '%s'", function, path);
  } else if (rc < 0 && message_wants_function) {
    char what[SAFEFS__MESSAGE_MAX];
    memcpy(what, message, sizeof what);
    safefs__set_message("%s: %s", function, what);
  }
  message_wants_function = 0;
  return rc;
}

void safefs__error_save(struct safefs__saved_error *e) {
  e->os = last_os_error;
  e->cut = message_cut;
  memcpy(e->message, message, sizeof message);
}

void safefs__error_put_back(const struct safefs__saved_error *e) {
  memcpy(message, e->message, sizeof message);
  message_cut = e->cut;
  message_wants_function = 0;
  last_failed.fresh = 0;
}

/* ---- the public side ---------------------------------------------------------- */

long safefs_last_os_error(void) {
  return last_os_error;
}

const char *safefs_last_error_message(void) {
  return message;
}
