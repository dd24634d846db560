/* fuzz.h - what the libFuzzer targets of tests/fuzz/ share: the parsers
 * read files, so each input is written to a file in a private temporary
 * directory first (make fuzz; README "Sanitizers and fuzzing"). */
#ifndef WM_FUZZ_H
#define WM_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* The private directory, created on the first call (aborts if it cannot). */
const char *fz_dir(void);
/* Writes n bytes of p to fz_dir()/name; the full path goes to path (len
 * bytes). Aborts on a write error: that is the harness's fault, not the
 * parser's. */
void fz_write(const char *name, const uint8_t *p, size_t n, char *path, size_t len);

#endif
