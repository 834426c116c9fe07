/* Small POSIX helpers for the fuzz targets (they run on Linux). */
#ifndef SAFEFS_FUZZ_SCRATCH_H
#define SAFEFS_FUZZ_SCRATCH_H

#include <stddef.h>

/* A scratch directory, created once per process. */
const char *fuzz_scratch_dir(void);
void fuzz_write_raw(const char *path, const void *data, size_t size);
/* The file's content (malloc'd), or NULL if it cannot be read. */
char *fuzz_read_raw(const char *path, size_t *size);
/* Entries of dir other than `keep` and (if allow_kind is not NULL) other
 * than safefs names ending in "." allow_kind. */
int fuzz_count_other_entries(const char *dir, const char *keep, const char *allow_kind);
/* Remove every entry of dir (files only). */
void fuzz_clear_dir(const char *dir);
long fuzz_err_io(void);
long fuzz_err_nospace(void);
long fuzz_err_access(void);

#endif
