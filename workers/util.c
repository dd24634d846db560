/* util.c - shared helpers. */
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

int errf(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

long peak_rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		fprintf(stderr, "wmbench: out of memory (%zu bytes)\n", n);
		abort();
	}
	return q;
}

void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (!p) {
		fprintf(stderr, "wmbench: out of memory allocating %zu x %zu bytes\n", n, sz);
		abort();
	}
	return p;
}

void *xmalloc(size_t sz)
{
	void *p = malloc(sz ? sz : 1);
	if (!p) {
		fprintf(stderr, "wmbench: out of memory allocating %zu bytes\n", sz);
		abort();
	}
	return p;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = xmalloc(n);
	memcpy(p, s, n);
	return p;
}

void fmt_double(char *buf, size_t len, double v)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
	snprintf(buf, len, "%.17g", v);
}

void strlcopy(char *dst, const char *src, size_t n)
{
	if (!n)
		return;
	size_t l = strlen(src);
	if (l >= n)
		l = n - 1;
	memcpy(dst, src, l);
	dst[l] = 0;
}

static void to_hex(const unsigned char *h, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[h[i] >> 4];
		out[2 * i + 1] = hx[h[i] & 15];
	}
	out[2 * n] = 0;
}

void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, data, len);
	to_hex(h, sizeof h, out);
}

int sha256_file_hex(const char *path, char out[65], char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
	crypto_hash_sha256_state st;
	unsigned char buf[1 << 16], h[crypto_hash_sha256_BYTES];
	size_t n;
	crypto_hash_sha256_init(&st);
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		crypto_hash_sha256_update(&st, buf, n);
	int bad = ferror(f);
	fclose(f);
	if (bad)
		return errf(err, errlen, "%s: read error", path);
	crypto_hash_sha256_final(&st, h);
	to_hex(h, sizeof h, out);
	return 0;
}

int kv_next(const char **p, const char *seps, const char **key, size_t *klen, const char **val,
	    size_t *vlen)
{
	const char *s = *p + strspn(*p, seps), *end, *eq;

	if (!*s) {
		*p = s;
		return 0;
	}
	end = s + strcspn(s, seps);
	eq = memchr(s, '=', (size_t)(end - s));
	*key = s;
	*klen = (size_t)((eq ? eq : end) - s);
	*val = eq ? eq + 1 : NULL;
	*vlen = eq ? (size_t)(end - eq - 1) : 0;
	*p = end;
	return 1;
}

uint64_t unpack_max(int64_t file_bytes)
{
	return UNPACK_FREE + UNPACK_RATIO * (uint64_t)(file_bytes > 0 ? file_bytes : 0);
}
