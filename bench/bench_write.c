/*
 * bench_write: what atomic, durable replacement costs, measured side by side
 * in one run so that the machine's noise hits every variant alike.
 *
 *   bench_write [DIR] [ROUNDS]
 *
 * Variants, each replacing one existing file ROUNDS times per size (64 B,
 * 4 KiB, 1 MiB), interleaved round by round (bench_util.h):
 *   plain-overwrite   fopen("w") + fwrite + fclose: not atomic, not durable
 *   tmp-rename        temp + rename, hand-written: the floor of an atomic
 *                     replace that is not durable
 *   safefs-nosync     safefs_write_file(SAFEFS_NOSYNC)
 *   glib-consistent   g_file_set_contents_full(CONSISTENT, 0666): GLib
 *                     fsyncs the temp file whenever the target exists and
 *                     is not empty, so here it always does
 *   tmp-fsync-rename  temp + fsync + rename, no directory fsync
 *   full-protocol     temp + fsync + rename + directory fsync, hand-written:
 *                     the floor of a durable atomic replace
 *   safefs            safefs_write_file(0): the full protocol plus the
 *                     old file held open across the rename, which makes a
 *                     failed directory fsync recoverable
 *   glib-durable      g_file_set_contents_full(CONSISTENT | DURABLE, 0666)
 * The GLib variants are left out (with a message) when the build found no
 * glib-2.0 (SAFEFS_BENCH_HAVE_GLIB).
 * Prints median, p90 and max per variant and size, the ratio of each median
 * to the full protocol's, and the speed ratios the targets are about.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef SAFEFS_BENCH_HAVE_GLIB
#include <glib.h>
#endif

#include "bench_util.h"
#include "safefs.h"

enum {
  V_PLAIN,
  V_TMP,
  V_SAFEFS_NOSYNC,
  V_GLIB_CONSISTENT,
  V_TMP_FSYNC,
  V_FULL,
  V_SAFEFS,
  V_GLIB_DURABLE,
  N_VARIANTS
};
static const char *const all_names[N_VARIANTS] = {
    "plain-overwrite", "tmp-rename", "safefs-nosync", "glib-consistent",
    "tmp-fsync-rename", "full-protocol", "safefs", "glib-durable"};

struct run {
  int dirfd;
  const int *ids; /* table index -> variant */
  char (*paths)[4096];
  char *data;
  size_t size;
};

static void plain_overwrite(const char *path, const char *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0)
    bench_die("plain");
}

#ifdef SAFEFS_BENCH_HAVE_GLIB
static void glib_replace(const char *path, const char *data, size_t n, int durable) {
  GError *err = NULL;
  GFileSetContentsFlags flags = G_FILE_SET_CONTENTS_CONSISTENT;
  if (durable)
    flags = (GFileSetContentsFlags)(flags | G_FILE_SET_CONTENTS_DURABLE);
  if (!g_file_set_contents_full(path, data, (gssize)n, flags, 0666, &err)) {
    fprintf(stderr, "glib: %s\n", err->message);
    exit(1);
  }
}
#endif

static void replace(const struct run *c, int v, const char *path) {
  switch (v) {
  case V_PLAIN:
    plain_overwrite(path, c->data, c->size);
    break;
  case V_TMP:
    bench_replace_floor(c->dirfd, path, c->data, c->size, 0, 0);
    break;
  case V_SAFEFS_NOSYNC:
    bench_check(safefs_write_file(path, c->data, c->size, SAFEFS_NOSYNC), "safefs");
    break;
  case V_TMP_FSYNC:
    bench_replace_floor(c->dirfd, path, c->data, c->size, 1, 0);
    break;
  case V_FULL:
    bench_replace_floor(c->dirfd, path, c->data, c->size, 1, 1);
    break;
  case V_SAFEFS:
    bench_check(safefs_write_file(path, c->data, c->size, 0), "safefs");
    break;
#ifdef SAFEFS_BENCH_HAVE_GLIB
  case V_GLIB_CONSISTENT:
  case V_GLIB_DURABLE:
    glib_replace(path, c->data, c->size, v == V_GLIB_DURABLE);
    break;
#endif
  default:
    break;
  }
}

static double run_one(void *ctx, int i, int r) {
  struct run *c = (struct run *)ctx;
  double t0 = bench_now_us();
  c->data[(size_t)r % c->size] = (char)('a' + r % 26);
  replace(c, c->ids[i], c->paths[i]);
  return bench_now_us() - t0;
}

static int index_of(const int *ids, int n, int v) {
  int i;
  for (i = 0; i < n; i++)
    if (ids[i] == v)
      return i;
  return -1;
}

/* "what vs ref: speed ratio" for two variants, when both ran. */
static void speed_target(bench_table *t, const int *ids, int n, int v, int ref, double target) {
  char what[96];
  int a = index_of(ids, n, v), b = index_of(ids, n, ref);
  if (a < 0 || b < 0)
    return;
  snprintf(what, sizeof what, "speed of %s vs %s", all_names[v], all_names[ref]);
  bench_target(what, bench_median(t, b) / bench_median(t, a), 1, target);
}

int main(int argc, char **argv) {
  static const int ids[] = {V_PLAIN,     V_TMP,  V_SAFEFS_NOSYNC,
#ifdef SAFEFS_BENCH_HAVE_GLIB
                            V_GLIB_CONSISTENT,
#endif
                            V_TMP_FSYNC, V_FULL, V_SAFEFS,
#ifdef SAFEFS_BENCH_HAVE_GLIB
                            V_GLIB_DURABLE
#endif
  };
  const int n_ids = (int)(sizeof ids / sizeof ids[0]);
  const size_t sizes[] = {64, 4096, 1024 * 1024};
  static char paths[N_VARIANTS][4096];
  const char *names[N_VARIANTS];
  const char *dir = argc > 1 ? argv[1] : ".";
  int rounds = argc > 2 ? atoi(argv[2]) : 200;
  struct run c;
  int s, i;

  if (rounds < 1)
    rounds = 200;
  c.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (c.dirfd < 0)
    bench_die(dir);
  c.ids = ids;
  c.paths = paths;
  printf("safefs %s bench_write: %d rounds per variant and size, dir %s\n",
         safefs_version_string(), rounds, dir);
#ifndef SAFEFS_BENCH_HAVE_GLIB
  printf("GLib variants skipped: built without glib-2.0 (install libglib2.0-dev, reconfigure)\n");
#endif
  for (i = 0; i < n_ids; i++) {
    names[i] = all_names[ids[i]];
    snprintf(paths[i], sizeof paths[i], "%s/bench-%s.dat", dir, names[i]);
  }

  for (s = 0; s < (int)(sizeof sizes / sizeof sizes[0]); s++) {
    bench_table t;
    char title[64];
    c.size = sizes[s];
    c.data = (char *)malloc(c.size);
    if (c.data == NULL)
      bench_die("malloc");
    memset(c.data, 'x', c.size);
    for (i = 0; i < n_ids; i++) /* warm-up; the file exists from now on */
      replace(&c, ids[i], paths[i]);
    bench_table_init(&t, names, n_ids, rounds);
    bench_interleave(&t, run_one, &c);
    snprintf(title, sizeof title, "replace of %lu bytes", (unsigned long)c.size);
    bench_table_print(&t, title, "microseconds per replace", index_of(ids, n_ids, V_FULL));
    speed_target(&t, ids, n_ids, V_SAFEFS, V_FULL, 0.95);
    speed_target(&t, ids, n_ids, V_SAFEFS, V_GLIB_DURABLE, 1.0);
    speed_target(&t, ids, n_ids, V_SAFEFS_NOSYNC, V_TMP, 0.95);
    speed_target(&t, ids, n_ids, V_SAFEFS_NOSYNC, V_GLIB_CONSISTENT, 1.0);
    bench_table_free(&t);
    for (i = 0; i < n_ids; i++)
      unlink(paths[i]);
    free(c.data);
  }
  close(c.dirfd);
  return 0;
}
