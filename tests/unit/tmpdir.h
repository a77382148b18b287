/*
 * tmpdir.h -- a private temporary directory for a unit test, and files
 * written into it.  Test-thread only.
 */
#ifndef BQ_TEST_TMPDIR_H
#define BQ_TEST_TMPDIR_H

#include <stddef.h>
#include <sys/types.h>

/* Makes a new directory "burstq-unit-NAME-XXXXXX" (mkdtemp) under $TMPDIR,
 * or /tmp when that is unset or empty, and writes its path into DIR
 * (LEN bytes).  0, or -1 when it could not be made or does not fit. */
int tmpdir_make(char *dir, size_t len, const char *name);

/* Removes DIR and everything below it, never following links.  0, or -1
 * when something could not be removed. */
int tmpdir_remove(const char *dir);

/* Writes DATA[0..LEN) to DIR/NAME (replacing any file there), then sets
 * its mode to MODE; every step must succeed (cmocka assertions).  Returns
 * the file's path in a static buffer, valid until the next call. */
const char *tmpdir_put(const char *dir, const char *name, const void *data,
                       size_t len, mode_t mode);

#endif
