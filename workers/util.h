/* util.h - small shared helpers: error buffers, timing, strings. */
#ifndef WM_UTIL_H
#define WM_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Every fallible function returns 0 on success and -1 on error; on error it
 * writes a complete, human-readable message into (err, errlen). */
#define ERRBUF 512

/* printf into an error buffer; always returns -1 so callers can
 * `return errf(err, errlen, "...")`. */
int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

double now_seconds(void);	    /* monotonic clock */
double cpu_seconds(void);	    /* CPU time of this process, all threads */
long peak_rss_kb(void);		    /* VmHWM of this process */
void *xcalloc(size_t n, size_t sz); /* aborts on out-of-memory */
void *xrealloc(void *p, size_t n);  /* aborts when out of memory */
void *xmalloc(size_t sz);
char *xstrdup(const char *s);
/* Shortest decimal text that reads back to the same double ("%.17g" trimmed). */
void fmt_double(char *buf, size_t len, double v);
/* Copies src into dst of size n, always NUL-terminated, truncating. */
void strlcopy(char *dst, const char *src, size_t n);
/* SHA-256 of a file as 64 hex chars + NUL; returns -1 and sets err on I/O error. */
int sha256_file_hex(const char *path, char out[65], char *err, size_t errlen);
void sha256_hex(const void *data, size_t len, char out[65]);
/* The one scanner of "k=v<sep>k=v" lists (parameter sets, results.csv's
 * scheme_params and attack_params): the next item of *p after any
 * separators (characters of seps), its key and its value (*val NULL when
 * the item has no '='); advances *p. Returns 0 at the end. */
int kv_next(const char **p, const char *seps, const char **key, size_t *klen, const char **val,
	    size_t *vlen);

/* What a compressed file (a .npz, a .gz, a tar.gz) may unpack to: at most
 * UNPACK_RATIO times its size plus UNPACK_FREE bytes. A header that claims
 * more is a zip bomb or a lie; readers refuse it before allocating, so their
 * memory is bounded by the file, never by what a header claims. Real files
 * are far below it: weights barely compress (ratio about 1.1), Fashion-MNIST
 * about 2, CIFAR-10 about 1.1. */
#define UNPACK_RATIO 100
#define UNPACK_FREE  (64ULL << 20)
/* The bound for a file of file_bytes bytes. */
uint64_t unpack_max(int64_t file_bytes);

#endif
