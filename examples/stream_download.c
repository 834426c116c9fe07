/*
 * stream_download: a large file (a download, an export, a database dump)
 * produced piece by piece, into folders that may not exist yet, by a
 * process the user may cancel or kill.
 *
 * The race it fixes. A data-versioning tool wrote such files in place: a
 * cancelled or killed run left a torn file where the last good one had
 * been, and its own clean-up (deleting the partial file) lost the old
 * version too. Its fix was the classic sequence, written by hand for small
 * buffers and again for streams: temporary file beside the target, write,
 * fsync, rename over the target, fsync the directory; create the missing
 * parent directories first; delete the temporary on cancel.
 *
 * With safefs that is safefs_writer_open / _write / _commit (or _abort):
 *   - SAFEFS_MKDIRS creates the missing directories (and syncs each new
 *     one's parent, so they survive a power loss with the file);
 *   - memory stays bounded (one 64 KiB buffer) whatever the size;
 *   - until commit the target keeps its old content, whole; abort leaves
 *     nothing behind;
 *   - a killed process leaves nothing on Linux (the temporary file has no
 *     name until the commit) and on Windows (it is delete-on-close until
 *     then); elsewhere, or if it dies inside the commit, at most its
 *     temporary file, under a name (".<name>.safefs-<hex>.tmp") that
 *     safefs_sweep recognises: call it at start-up on the directories you
 *     write to.
 *
 * Usage:
 *   stream_download get TARGET VERSION MIB [--abort-at MIB | --hang-at MIB]
 *       write version VERSION (MIB MiB) to TARGET; --abort-at cancels
 *       after that many MiB, --hang-at stops there and waits to be killed
 *   stream_download watch TARGET SECONDS    read TARGET again and again
 *   stream_download check TARGET VERSION    exit 1 unless TARGET is it, whole
 *   stream_download sweep DIR               safefs_sweep(DIR, 0)
 * --unsafe writes in place (and deletes the partial file on cancel).
 *
 * The content is self-checking: a header line "stream-example V SIZE", then
 * bytes generated from V.
 */
#include "example.h"

#define CHUNK 65536
#define MIB (1024L * 1024L)
#define HEADER 64

/* Bytes [pos, pos + CHUNK) of version v; the header is in the first chunk. */
static void version_chunk(unsigned char *out, int v, long size, long pos) {
  unsigned long long rnd = (unsigned long long)v * 1000003ull + (unsigned long long)(pos / CHUNK);
  int k;
  for (k = 0; k < CHUNK; k++)
    out[k] = (unsigned char)next_random(&rnd);
  if (pos == 0) {
    memset(out, ' ', HEADER);
    sprintf((char *)out, "stream-example %d %ld", v, size);
    out[HEADER - 1] = '\n';
  }
}

/* ---- The safefs way -------------------------------------------------------- */

/* Stream `size` bytes of version v into `target`. stop_at >= 0: stop after
 * that many bytes and cancel (hang = 0) or wait to be killed (hang = 1). */
static int download_safe(const char *target, int v, long size, long stop_at, int hang) {
  static unsigned char chunk[CHUNK];
  safefs_writer *w;
  long pos;
  int rc = safefs_writer_open(&w, target, SAFEFS_MKDIRS);
  for (pos = 0; rc == 0 && pos < size; pos += CHUNK) {
    if (pos == stop_at && !hang) {
      safefs_writer_abort(w); /* the user cancelled: the temp goes, the target stays */
      return 0;
    }
    while (pos == stop_at && hang)
      sleep_ms(1000); /* killed here: the temp stays, for safefs_sweep */
    version_chunk(chunk, v, size, pos);
    rc = safefs_writer_write(w, chunk, CHUNK); /* a failure sticks: commit reports it */
  }
  if (rc == 0)
    return safefs_writer_commit(w); /* the only moment the target changes */
  safefs_writer_abort(w);
  return rc;
}

/* ---- The naive way (--unsafe) ---------------------------------------------- */

static int download_unsafe(const char *target, int v, long size, long stop_at, int hang) {
  static unsigned char chunk[CHUNK];
  FILE *f = fopen(target, "wb"); /* the old version is gone from here on */
  long pos;
  if (!f)
    return -1;
  for (pos = 0; pos < size; pos += CHUNK) {
    if (pos == stop_at && !hang) {
      fclose(f);
      remove(target); /* "clean up the partial download" */
      return 0;
    }
    fflush(f);
    while (pos == stop_at && hang)
      sleep_ms(1000);
    version_chunk(chunk, v, size, pos);
    if (fwrite(chunk, 1, CHUNK, f) != CHUNK)
      break;
  }
  return fclose(f) == 0 && pos >= size ? 0 : -1;
}

/* ---- The test's processes -------------------------------------------------- */

/* The version of the whole file at `path`, 0 if absent, -1 if torn. */
static int whole_version(const char *path) {
  static unsigned char got[CHUNK + 1], want[CHUNK]; /* got[CHUNK] stays NUL */
  FILE *f = fopen(path, "rb");
  long size = -1, pos = 0;
  int v = -1;
  size_t n;
  if (!f)
    return 0;
  while ((n = fread(got, 1, CHUNK, f)) > 0) {
    if (pos == 0 && sscanf((char *)got, "stream-example %d %ld", &v, &size) != 2)
      break;
    version_chunk(want, v, size, pos);
    if (n != CHUNK || memcmp(got, want, CHUNK) != 0)
      break;
    pos += CHUNK;
  }
  fclose(f);
  return pos == size && v > 0 ? v : -1;
}

static int run_watch(const char *path, long seconds) {
  long long end = clock_ms() + seconds * 1000;
  long reads = 0, torn = 0, absent = 0;
  int v;
  while (clock_ms() < end) {
    v = whole_version(path);
    reads++;
    torn += v < 0;
    absent += v == 0;
  }
  fprintf(stderr, "watch: %ld reads, %ld torn, %ld absent: %s\n", reads, torn, absent,
          torn || absent ? "RACE" : "ok");
  return torn || absent ? 1 : 0;
}

int main(int argc, char **argv) {
  int unsafe = unsafe_mode(argc, argv), rc, v;
  if (argc >= 5 && strcmp(argv[1], "get") == 0) {
    long stop_at = -1;
    int hang = argc >= 7 && strcmp(argv[5], "--hang-at") == 0;
    if (argc >= 7 && (hang || strcmp(argv[5], "--abort-at") == 0))
      stop_at = atol(argv[6]) * MIB;
    rc = (unsafe ? download_unsafe : download_safe)(argv[2], atoi(argv[3]),
                                                     atol(argv[4]) * MIB, stop_at, hang);
    if (rc != 0)
      fprintf(stderr, "get: %s\n", unsafe ? "write failed" : safefs_strerror(rc));
    return rc ? 2 : 0;
  }
  if (argc >= 4 && strcmp(argv[1], "watch") == 0)
    return run_watch(argv[2], atol(argv[3]));
  if (argc >= 4 && strcmp(argv[1], "check") == 0) {
    v = whole_version(argv[2]);
    if (v > 0)
      fprintf(stderr, "check: %s is version %d, whole\n", argv[2], v);
    else
      fprintf(stderr, "check: %s is %s\n", argv[2], v < 0 ? "torn" : "absent");
    return v == atoi(argv[3]) ? 0 : 1;
  }
  if (argc >= 3 && strcmp(argv[1], "sweep") == 0) {
    rc = safefs_sweep(argv[2], 0);
    fprintf(stderr, "sweep: %s\n", safefs_strerror(rc));
    return rc ? 2 : 0;
  }
  fprintf(stderr, "usage: stream_download get|watch|check|sweep ... (see the source)\n");
  return 2;
}
