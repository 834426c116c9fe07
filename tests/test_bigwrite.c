/*
 * The streaming writer's memory stays bounded: 1 GiB written through
 * safefs_writer_write must not grow peak resident memory by more than a
 * few MiB. This checks memory, not time (speed is for bench/).
 * SAFEFS_BIG_MIB in the environment changes the size (default 1024).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (64 * 1024)
#define MAX_GROWTH_KIB (16L * 1024)

static unsigned char chunk_byte(size_t chunk, size_t i) {
  return (unsigned char)((chunk * 131 + i * 7) & 0xff);
}

static size_t big_mib(void) {
  const char *e = getenv("SAFEFS_BIG_MIB");
  long v = e ? atol(e) : 1024;
  return v > 0 ? (size_t)v : 1024;
}

static void one_gib_streamed_with_bounded_memory(void **state) {
  static unsigned char buf[CHUNK];
  const char *dir = (const char *)*state;
  char *path = tu_join(dir, "big.bin");
  size_t chunks = big_mib() * (1024 * 1024 / CHUNK), c, i;
  long before, after;
  safefs_writer *w;
  FILE *f;

  before = tu_peak_rss_kib();
  assert_int_equal(safefs_writer_open(&w, path, 0), 0);
  for (c = 0; c < chunks; c++) {
    for (i = 0; i < CHUNK; i++)
      buf[i] = chunk_byte(c, i);
    /* odd-sized pieces so the writer's buffer is exercised, not bypassed */
    assert_int_equal(safefs_writer_write(w, buf, 1000), 0);
    assert_int_equal(safefs_writer_write(w, buf + 1000, CHUNK - 1000), 0);
  }
  assert_int_equal(safefs_writer_commit(w), 0);
  after = tu_peak_rss_kib();
  print_message("  %lu MiB written; peak RSS %ld KiB -> %ld KiB (+%ld KiB)\n",
                (unsigned long)big_mib(), before, after, after - before);
  assert_true(before > 0);
  assert_true(after - before < MAX_GROWTH_KIB);

  /* every byte where it belongs */
  f = tu_fopen(path, "rb");
  assert_non_null(f);
  for (c = 0; c < chunks; c++) {
    assert_int_equal(fread(buf, 1, CHUNK, f), CHUNK);
    for (i = 0; i < CHUNK; i++)
      if (buf[i] != chunk_byte(c, i))
        fail_msg("byte %lu of chunk %lu differs", (unsigned long)i, (unsigned long)c);
  }
  assert_int_equal(fread(buf, 1, 1, f), 0);
  fclose(f);
  assert_int_equal(tu_count_own_names(dir), 0);
  free(path);
}

/* Negative control: the meter does see memory growth. */
static void peak_rss_meter_sees_growth(void **state) {
  size_t n = 48u * 1024 * 1024;
  long before = tu_peak_rss_kib(), after;
  unsigned char *p = (unsigned char *)malloc(n);
  (void)state;
  assert_non_null(p);
  memset(p, 1, n);
  after = tu_peak_rss_kib();
  print_message("  touched 48 MiB: peak RSS +%ld KiB\n", after - before);
  assert_true(after - before > 40L * 1024);
  free(p);
}

static const struct CMUnitTest tests[] = {
    TU_TEST(one_gib_streamed_with_bounded_memory),
    cmocka_unit_test(peak_rss_meter_sees_growth),
};
TU_SUITE("bigwrite", tests, NULL);
