/* results.c - the result row's CSV form (RFC 4180, one line a row).
 *
 * Doubles are written in their shortest round-trip form and NAN as an empty
 * field, an optional flag's -1 (n/a) too, so result_csv_parse(result_csv_row(r)) gives back r
 * exactly (up to line breaks in text fields, which are written as spaces). */
#include "results.h"
#include "../workers/util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum col_type { C_STR, C_INT, C_OPT, C_LONG, C_DBL }; /* C_OPT: int, -1 written empty */

struct col {
	const char *name;
	enum col_type type;
	size_t off, size;
};

#define COL(t, f)                                                                                  \
	{                                                                                          \
#f, t, offsetof(struct result_row, f), sizeof(((struct result_row *)0)->f)         \
	}

static const struct col cols[] = {
    COL(C_STR, job_id),	       COL(C_STR, parent_id),
    COL(C_STR, kind),	       COL(C_STR, dataset),
    COL(C_STR, model),	       COL(C_STR, scheme),
    COL(C_STR, scheme_params), COL(C_STR, attack),
    COL(C_STR, attack_params), COL(C_LONG, seed),
    COL(C_STR, status),	       COL(C_STR, message),
    COL(C_STR, metric_name),   COL(C_DBL, metric_before),
    COL(C_DBL, metric),	       COL(C_DBL, pvalue),
    COL(C_INT, detected),      COL(C_DBL, capacity),
    COL(C_DBL, acc_before),    COL(C_DBL, acc),
    COL(C_DBL, acc_clean),     COL(C_OPT, removed),
    COL(C_OPT, forged),	       COL(C_OPT, success),
    COL(C_LONG, queries),      COL(C_LONG, attack_queries),
    COL(C_DBL, aux),	       COL(C_DBL, train_s),
    COL(C_DBL, cpu_s),	       COL(C_LONG, forward),
    COL(C_LONG, backward),     COL(C_INT, rank),
    COL(C_STR, host),	       COL(C_DBL, wall_s),
    COL(C_LONG, peak_rss_kb),
};

#define NCOLS ((int)(sizeof cols / sizeof cols[0]))

/* ---- writing ---- */

struct out {
	char *buf;
	size_t len, off;
	int over;
};

static void put_char(struct out *o, char ch)
{
	if (o->off + 1 < o->len)
		o->buf[o->off] = ch;
	else
		o->over = 1;
	o->off++;
}

static void put_str(struct out *o, const char *s)
{
	for (; *s; s++)
		put_char(o, *s);
}

/* A text field: quoted when it holds a comma, a quote or a line break;
 * line breaks become spaces so the row stays one line. */
static void put_field(struct out *o, const char *s)
{
	int quote = strpbrk(s, ",\"\r\n") != NULL;

	if (quote)
		put_char(o, '"');
	for (; *s; s++) {
		if (*s == '\r' || *s == '\n')
			put_char(o, ' ');
		else if (*s == '"') {
			put_char(o, '"');
			put_char(o, '"');
		} else {
			put_char(o, *s);
		}
	}
	if (quote)
		put_char(o, '"');
}

static int finish(struct out *o)
{
	put_char(o, '\n');
	if (o->over || !o->len) {
		if (o->len)
			o->buf[0] = 0;
		return -1;
	}
	o->buf[o->off] = 0;
	return (int)o->off;
}

int result_csv_ncols(void)
{
	return NCOLS;
}

int result_csv_header(char *buf, size_t len)
{
	struct out o = {buf, len, 0, 0};

	for (int i = 0; i < NCOLS; i++) {
		if (i)
			put_char(&o, ',');
		put_str(&o, cols[i].name);
	}
	return finish(&o);
}

int result_csv_row(const struct result_row *r, char *buf, size_t len)
{
	struct out o = {buf, len, 0, 0};
	const char *base = (const char *)r;
	char num[64];

	for (int i = 0; i < NCOLS; i++) {
		const void *f = base + cols[i].off;

		if (i)
			put_char(&o, ',');
		switch (cols[i].type) {
		case C_STR: {
			/* bounded copy: a field may lack its NUL */
			char tmp[512];
			size_t n = cols[i].size < sizeof tmp ? cols[i].size : sizeof tmp;

			memcpy(tmp, f, n);
			tmp[n - 1] = 0;
			put_field(&o, tmp);
			break;
		}
		case C_INT:
			snprintf(num, sizeof num, "%d", *(const int *)f);
			put_str(&o, num);
			break;
		case C_OPT:
			if (*(const int *)f != -1) {
				snprintf(num, sizeof num, "%d", *(const int *)f);
				put_str(&o, num);
			}
			break;
		case C_LONG:
			snprintf(num, sizeof num, "%ld", *(const long *)f);
			put_str(&o, num);
			break;
		case C_DBL: {
			double v = *(const double *)f;

			if (!isnan(v)) {
				fmt_double(num, sizeof num, v);
				put_str(&o, num);
			}
			break;
		}
		}
	}
	return finish(&o);
}

/* ---- parsing ---- */

/* Splits one CSV record into NCOLS fields (unquoted, NUL-terminated, in
 * work). A trailing "\n", "\r\n" or "\r" ends the record; any other
 * unquoted line break, an unterminated quote, text after a closing quote or
 * a wrong number of fields is an error. */
static int split(const char *line, char *work, char *field[NCOLS])
{
	const char *p = line;
	char *w = work;
	int n = 0;

	for (;;) {
		if (n >= NCOLS)
			return -1;
		field[n++] = w;
		if (*p == '"') {
			p++;
			for (;;) {
				if (!*p)
					return -1; /* unterminated quote */
				if (*p == '"') {
					if (p[1] == '"') {
						*w++ = '"';
						p += 2;
						continue;
					}
					p++;
					break;
				}
				*w++ = *p++;
			}
		} else {
			while (*p && *p != ',' && *p != '\r' && *p != '\n') {
				if (*p == '"')
					return -1; /* quote inside an unquoted field */
				*w++ = *p++;
			}
		}
		*w++ = 0;
		if (*p == ',') {
			p++;
			continue;
		}
		if (!*p || !strcmp(p, "\n") || !strcmp(p, "\r\n") || !strcmp(p, "\r"))
			break;
		return -1; /* text after a closing quote, or a line break mid-record */
	}
	return n == NCOLS ? 0 : -1;
}

static int parse_long(const char *s, long *v)
{
	char *end;

	if (!*s)
		return -1;
	errno = 0;
	*v = strtol(s, &end, 10);
	return *end || errno == ERANGE ? -1 : 0;
}

int result_csv_parse(const char *line, struct result_row *r)
{
	char *field[NCOLS];
	char *work;
	struct result_row t;
	char *base = (char *)&t;
	int rc = -1;

	if (!line)
		return -1;
	work = xmalloc(strlen(line) + 1);
	if (split(line, work, field))
		goto out;
	memset(&t, 0, sizeof t);
	for (int i = 0; i < NCOLS; i++) {
		void *f = base + cols[i].off;
		const char *s = field[i];
		long lv;

		switch (cols[i].type) {
		case C_STR:
			if (strlen(s) >= cols[i].size)
				goto out;
			memcpy(f, s, strlen(s) + 1);
			break;
		case C_INT:
			if (parse_long(s, &lv) || lv < INT_MIN || lv > INT_MAX)
				goto out;
			*(int *)f = (int)lv;
			break;
		case C_OPT:
			if (!*s) {
				*(int *)f = -1;
				break;
			}
			if (parse_long(s, &lv) || lv < 0 || lv > INT_MAX)
				goto out;
			*(int *)f = (int)lv;
			break;
		case C_LONG:
			if (parse_long(s, &lv))
				goto out;
			*(long *)f = lv;
			break;
		case C_DBL:
			if (!*s) {
				*(double *)f = NAN;
			} else {
				char *end;

				*(double *)f = strtod(s, &end);
				if (*end)
					goto out;
			}
			break;
		}
	}
	*r = t;
	rc = 0;
out:
	free(work);
	return rc;
}
