/* text.c - text helpers of the report: growing arrays, UTF-8 cleaning and
 * cutting, bounded appends, numbers in full, file-name parts and small text
 * files. */
#include "report_int.h"
#include "../workers/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *rp_grow(void *p, size_t n, size_t size)
{
	void *q = realloc(p, (n ? n : 1) * size);

	if (!q) {
		fprintf(stderr, "wmbench: out of memory allocating %zu x %zu bytes\n", n, size);
		abort();
	}
	return q;
}

void rp_push_int(int **v, int *n, int *cap, int x)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 8;
		*v = rp_grow(*v, (size_t)*cap, sizeof **v);
	}
	(*v)[(*n)++] = x;
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static int utf8_len(const unsigned char *s)
{
	int n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (int i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;
	return n;
}

/* Copies s into out as valid UTF-8: control characters become spaces
 * (except '\n' and '\t' with keep_lines), invalid bytes '?'. */
void clean_text2(const char *s, char *out, size_t len, int keep_lines)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	if (!len)
		return;
	while (*p) {
		int n = utf8_len(p);

		if (!n) {
			if (o + 1 >= len)
				break;
			out[o++] = '?';
			p++;
			continue;
		}
		if (o + (size_t)n >= len)
			break;
		if (n == 1 && (*p < 0x20 || *p == 0x7f))
			out[o++] = keep_lines && (*p == '\n' || *p == '\t') ? (char)*p : ' ';
		else
			for (int i = 0; i < n; i++)
				out[o++] = (char)p[i];
		p += n;
	}
	out[o] = 0;
}

void clean_text(const char *s, char *out, size_t len)
{
	clean_text2(s, out, len, 0);
}

/* Characters (not bytes) of a UTF-8 text. */
int text_width(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Cuts a UTF-8 text to at most maxw characters, ending it with an ellipsis. */
void rp_shorten(char *s, size_t len, int maxw)
{
	int n = 0;

	if (text_width(s) <= maxw)
		return;
	for (char *p = s; *p; p++) {
		if (((unsigned char)*p & 0xc0) == 0x80)
			continue;
		if (n++ == maxw - 1) {
			if ((size_t)(p - s) + 4 <= len)
				strcpy(p, "\xe2\x80\xa6");
			else
				*p = 0;
			return;
		}
	}
}

/* Appends to a bounded string. */
void rp_cat(char *dst, size_t len, const char *src)
{
	size_t o = strlen(dst);

	if (o + 1 < len)
		strlcopy(dst + o, src, len - o);
}

/* A number in full: the whole text is a finite decimal. */
int rp_is_num(const char *s, double *v)
{
	char *end;
	double x;

	if (!*s)
		return 0;
	errno = 0;
	x = strtod(s, &end);
	if (*end || errno || !isfinite(x))
		return 0;
	if (v)
		*v = x;
	return 1;
}

/* A file-name part: letters, digits, '-' and '_' only. */
void rp_safe_name(const char *s, char *out, size_t len)
{
	size_t o = 0;

	for (; *s && o + 1 < len && o < 40; s++) {
		char ch = *s;

		out[o++] = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
				   (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'
			       ? ch
			       : '_';
	}
	if (!o && len > 1)
		out[o++] = 'x';
	out[o] = 0;
}

int rp_file_error(FILE *f, const char *path, char *err, size_t errlen)
{
	int bad = ferror(f);

	if (fclose(f) || bad)
		return errf(err, errlen, "%s: cannot write: %s", path,
			    strerror(errno ? errno : EIO));
	return 0;
}

int rp_read_text(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	size_t n = 0, cap = 4096;
	char *buf;

	*out = NULL;
	if (!f)
		return errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
	buf = xmalloc(cap);
	for (;;) {
		size_t got;

		if (n + 1 >= cap) {
			if (cap >= MAXTEXT) {
				free(buf);
				fclose(f);
				return errf(err, errlen,
					    "%s: larger than %d bytes; expected a small text file",
					    path, MAXTEXT);
			}
			cap *= 2;
			buf = rp_grow(buf, cap, 1);
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (!got)
			break;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return errf(err, errlen, "%s: cannot read: %s", path,
			    strerror(errno ? errno : EIO));
	}
	fclose(f);
	buf[n] = 0;
	*out = buf;
	if (outlen)
		*outlen = n;
	return 0;
}
