/* report.c - summary statistics, gnuplot figures, report.md/html and the
 * bundle of one run directory (see report.h).
 *
 * RUNDIR/results.csv holds one row per job attempt; the last row of a job id
 * wins. Rows are grouped by (kind, scheme, scheme params, attack, attack
 * params) over seeds. Each figure is a generated gnuplot script, a data file
 * and the figure files; the script holds every variable it needs followed by
 * a copy of the templates common.gp and <figure>.gp, so `gnuplot NAME.gp`
 * inside report/ redraws it. Every text that comes from the data is written
 * into gnuplot as single-quoted strings (gnuplot expands backquotes and
 * macros in double-quoted ones only); a single quote in it becomes the
 * variable Q joined with '.', since gnuplot 5.4 mis-scans '' next to another
 * quote. Data files hold numbers only.
 *
 * Each report run first removes the files it generates (by extension) from
 * RUNDIR/report/, so figures of an earlier report cannot linger. */
#define _GNU_SOURCE
#include "report.h"
#include "results.h"
#include "runjson.h"
#include "../workers/util.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define REPORT_PATHLEN	1024		       /* a run directory (the harness's PATHLEN) */
#define LABELLEN	768		       /* scheme + params + attack params, cleaned */
#define REPDIRLEN	(REPORT_PATHLEN + 16)  /* RUNDIR/report */
#define FILELEN		(REPORT_PATHLEN + 200) /* a path inside RUNDIR/report */
#define MAXFIGS		64
#define MAXKEYS		32
#define DEFAULT_ALPHA	1e-3
#define DEFAULT_VERSION "unknown" /* of a run without run.json or its wmbench_version */
#define LOST_MAX	0.05	  /* accuracy loss below which an attack may succeed */
#define MAXTEXT		(1 << 20) /* run.json, templates */

/* ---------------------------------------------------------------- stats -- */

/* Continued fraction of the incomplete beta function (modified Lentz). */
static double beta_cf(double a, double b, double x)
{
	const double tiny = 1e-300;
	double c = 1, d = 1 - (a + b) * x / (a + 1), h;

	if (fabs(d) < tiny)
		d = tiny;
	d = 1 / d;
	h = d;
	for (int m = 1; m <= 10000; m++) {
		double aa, del;

		aa = m * (b - m) * x / ((a - 1 + 2 * m) * (a + 2 * m));
		d = 1 + aa * d;
		c = 1 + aa / c;
		d = 1 / (fabs(d) < tiny ? tiny : d);
		c = fabs(c) < tiny ? tiny : c;
		h *= d * c;
		aa = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 1 + 2 * m));
		d = 1 + aa * d;
		c = 1 + aa / c;
		d = 1 / (fabs(d) < tiny ? tiny : d);
		c = fabs(c) < tiny ? tiny : c;
		del = d * c;
		h *= del;
		if (fabs(del - 1) < 1e-16)
			break;
	}
	return h;
}

double report_beta_inc(double a, double b, double x)
{
	double lf;

	if (!(x > 0))
		return 0;
	if (x >= 1)
		return 1;
	lf = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
	if (x < (a + 1) / (a + b + 2))
		return exp(lf) * beta_cf(a, b, x) / a;
	return 1 - exp(lf) * beta_cf(b, a, 1 - x) / b;
}

double report_beta_quantile(double p, double a, double b)
{
	double lo = 0, hi = 1;

	if (!(p > 0))
		return 0;
	if (p >= 1)
		return 1;
	for (int i = 0; i < 200; i++) {
		double mid = 0.5 * (lo + hi);

		if (mid <= lo || mid >= hi)
			break;
		if (report_beta_inc(a, b, mid) < p)
			lo = mid;
		else
			hi = mid;
	}
	return 0.5 * (lo + hi);
}

void report_clopper_pearson(int x, int n, double *lo, double *hi)
{
	if (n <= 0 || x < 0 || x > n) {
		*lo = *hi = NAN;
		return;
	}
	*lo = x == 0 ? 0 : report_beta_quantile(0.025, x, n - x + 1);
	*hi = x == n ? 1 : report_beta_quantile(0.975, x + 1, n - x);
}

/* P[|T| > t] = I_{df/(df+t^2)}(df/2, 1/2), solved for a two-sided 5%. */
double report_t975(int df)
{
	double x;

	if (df < 1)
		return NAN;
	x = report_beta_quantile(0.05, 0.5 * df, 0.5);
	return sqrt(df * (1 - x) / x);
}

int report_binom_threshold(int n, double alpha)
{
	double tail = 0, lc = lgamma(n + 1.0) - n * log(2.0);

	if (n <= 0 || !(alpha > 0))
		return -1;
	for (int j = n; j >= 0; j--) {
		double t = tail + exp(lc - lgamma(j + 1.0) - lgamma(n - j + 1.0));

		if (t >= alpha)
			return j == n ? -1 : j + 1;
		tail = t;
	}
	return 0;
}

struct mstat {
	int n;
	double mean, sd, ci;
};

/* Mean, sample sd and t-based 95% half-width of the finite values of v. */
static void mstat_of(const double *v, int nv, struct mstat *s)
{
	double sum = 0, ss = 0;
	int n = 0;

	for (int i = 0; i < nv; i++)
		if (isfinite(v[i])) {
			sum += v[i];
			n++;
		}
	s->n = n;
	s->mean = n ? sum / n : NAN;
	s->sd = NAN;
	s->ci = NAN;
	if (n < 2)
		return;
	for (int i = 0; i < nv; i++)
		if (isfinite(v[i]))
			ss += (v[i] - s->mean) * (v[i] - s->mean);
	s->sd = sqrt(ss / (n - 1));
	s->ci = report_t975(n - 1) * s->sd / sqrt(n);
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The p-quantile of the finite values of v (linear interpolation between
 * order statistics, R's and numpy's default); v is reordered. */
static double quantile(double *v, int nv, double p)
{
	int n = 0;
	double h;
	int lo;

	for (int i = 0; i < nv; i++)
		if (isfinite(v[i]))
			v[n++] = v[i];
	if (!n)
		return NAN;
	qsort(v, (size_t)n, sizeof *v, dbl_cmp);
	h = (n - 1) * p;
	lo = (int)floor(h);
	if (lo >= n - 1)
		return v[n - 1];
	return v[lo] + (h - lo) * (v[lo + 1] - v[lo]);
}

/* -------------------------------------------------------------- strings -- */

static void *grow(void *p, size_t n, size_t size)
{
	void *q = realloc(p, (n ? n : 1) * size);

	if (!q) {
		fprintf(stderr, "wmbench: out of memory allocating %zu x %zu bytes\n", n, size);
		abort();
	}
	return q;
}

static void push_int(int **v, int *n, int *cap, int x)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 8;
		*v = grow(*v, (size_t)*cap, sizeof **v);
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
static void clean_text2(const char *s, char *out, size_t len, int keep_lines)
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

static void clean_text(const char *s, char *out, size_t len)
{
	clean_text2(s, out, len, 0);
}

/* Characters (not bytes) of a UTF-8 text. */
static int text_width(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Cuts a UTF-8 text to at most maxw characters, ending it with an ellipsis. */
#define KEY_MAX	      56 /* characters of a key entry: PNG, SVG */
#define KEY_MAX_PDF   30 /* the same in the single-column PDF */
#define TIC_MAX	      40 /* characters of a tic label: PNG, SVG */
#define TIC_MAX_PDF   20 /* the same in the PDF */
#define TITLE_MAX_PDF 46 /* characters of a title or axis label in the PDF */
static void shorten(char *s, size_t len, int maxw)
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
static void cat(char *dst, size_t len, const char *src)
{
	size_t o = strlen(dst);

	if (o + 1 < len)
		strlcopy(dst + o, src, len - o);
}

/* A number in full: the whole text is a finite decimal. */
static int is_num(const char *s, double *v)
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

/* The i-th ';'-separated item of params into key and val ("" when the item
 * has no '='); returns 0 past the last item. */
static int pitem(const char *ps, int i, char *key, size_t klen, char *val, size_t vlen)
{
	const char *p = ps, *end, *eq;

	if (!*ps)
		return 0;
	for (; i > 0; i--) {
		p = strchr(p, ';');
		if (!p)
			return 0;
		p++;
	}
	end = strchr(p, ';');
	if (!end)
		end = p + strlen(p);
	eq = memchr(p, '=', (size_t)(end - p));
	if (!eq)
		eq = end;
	snprintf(key, klen, "%.*s", (int)(eq - p), p);
	if (eq < end)
		snprintf(val, vlen, "%.*s", (int)(end - eq - 1), eq + 1);
	else
		val[0] = 0;
	return 1;
}

/* The value of key in params; 0 if present. */
static int pget(const char *ps, const char *key, char *val, size_t vlen)
{
	char k[RESULT_VALLEN * 3];

	for (int i = 0; pitem(ps, i, k, sizeof k, val, vlen); i++)
		if (!strcmp(k, key))
			return 0;
	val[0] = 0;
	return -1;
}

/* params without the item of key. */
static void pdel(const char *ps, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key), o = 0;
	const char *p = ps;

	out[0] = 0;
	while (*p) {
		const char *end = strchr(p, ';');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		int match = n >= kl && !strncmp(p, key, kl) && (n == kl || p[kl] == '=');

		if (!match && o + n + 2 < len) {
			if (o)
				out[o++] = ';';
			memcpy(out + o, p, n);
			o += n;
			out[o] = 0;
		}
		p += n + (end != NULL);
	}
}

/* params for people: "a=1;b=2" -> "a=1, b=2", cleaned. */
static void ppretty(const char *ps, char *out, size_t len)
{
	char tmp[LABELLEN];
	size_t o = 0;

	clean_text(ps, tmp, sizeof tmp);
	for (const char *p = tmp; *p && o + 3 < len; p++) {
		if (*p == ';') {
			out[o++] = ',';
			out[o++] = ' ';
		} else {
			out[o++] = *p;
		}
	}
	out[o] = 0;
}

/* The items of ps whose key has another value in at least one of the n
 * strings others[] (parameters of the same plug-in): what tells it apart. */
static void pvarying(const char *ps, const char *const *others, int n, char *out, size_t len)
{
	char k[RESULT_VALLEN * 3], v[RESULT_VALLEN * 3], w[RESULT_VALLEN * 3], t[LABELLEN];

	out[0] = 0;
	for (int p = 0; p < MAXKEYS && pitem(ps, p, k, sizeof k, v, sizeof v); p++) {
		int differs = 0;

		for (int j = 0; j < n && !differs; j++)
			differs = pget(others[j], k, w, sizeof w) || strcmp(w, v);
		if (differs) {
			snprintf(t, sizeof t, "%s%.100s=%.300s", out[0] ? ";" : "", k, v);
			cat(out, len, t);
		}
	}
}

/* Orders parameter strings item by item, numbers by value. */
static int pcmp(const char *a, const char *b)
{
	char ka[RESULT_VALLEN * 3], va[RESULT_VALLEN * 3], kb[RESULT_VALLEN * 3],
	    vb[RESULT_VALLEN * 3];

	for (int i = 0;; i++) {
		int ha = pitem(a, i, ka, sizeof ka, va, sizeof va);
		int hb = pitem(b, i, kb, sizeof kb, vb, sizeof vb);
		double x, y;
		int c;

		if (!ha || !hb)
			return ha - hb;
		c = strcmp(ka, kb);
		if (c)
			return c;
		if (is_num(va, &x) && is_num(vb, &y)) {
			if (x != y)
				return x < y ? -1 : 1;
			continue;
		}
		c = strcmp(va, vb);
		if (c)
			return c;
	}
}

static int kind_rank(const char *k)
{
	static const char *const kinds[] = {"train", "embed", "attack", "control"};

	for (int i = 0; i < 4; i++)
		if (!strcmp(k, kinds[i]))
			return i;
	return 4;
}

/* A file-name part: letters, digits, '-' and '_' only. */
static void safe_name(const char *s, char *out, size_t len)
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

/* ------------------------------------------------------------- the run -- */

enum { M_METRIC, M_PVALUE, M_DETECTED, M_ACC, M_DROP, M_SUCCESS, M_WALL, NMET };
static const char *const met_name[NMET] = {
    "metric", "pvalue", "detected", "acc", "acc_drop", "success", "wall_s",
};

struct group {
	const struct result_row *rep; /* kind, scheme, params, attack from here */
	char metric_name[8];
	int n, n_failed, n_skipped;
	int *ok, cap;	 /* rows with status ok (n of them) */
	double capacity; /* bits, NAN if none */
	double emp_thr;	 /* controls: empirical threshold */
	struct mstat st[NMET];
};

struct fig {
	char stem[64];
	char title[LABELLEN];
	char what[512];
	int made;
	char why[512];
};

struct report {
	const char *rundir;
	char repdir[REPDIRLEN];
	int flags;
	struct result_row *rows;
	int nrows, nlines_read, nsuperseded, truncated_line;
	int nok, nfailed, nskipped;
	char results_sha[65];
	struct group *g;
	int ng;
	char *json;			/* run.json, NULL if absent */
	struct runjson_plugin *plugins; /* its plug-ins */
	int nplugins;
	char version[64]; /* of wmbench, from run.json */
	char name[256];
	double alpha;
	int alpha_from_run;
	char tpl_dir[REPORT_PATHLEN];
	char *common;
	struct fig fig[MAXFIGS];
	int nfig;
	char warn[1024]; /* gnuplot warnings, kept in .log files */
	int has_controls;
	double tradeoff_thr_spread; /* several thresholds in the trade-off plot */
};

/* Neutral style of a scheme that run.json does not describe (runs before
 * it recorded the plug-ins): grey, point type 2, after the others by name. */
#define DEFAULT_COLOUR "#999999"
#define DEFAULT_POINT  2

static const struct runjson_plugin *scheme_of(const struct report *R, const char *s)
{
	return runjson_plugin_find(R->plugins, R->nplugins, "scheme", s);
}

/* Schemes in their order from run.json, then by name. */
static int scheme_cmp(const struct report *R, const char *a, const char *b)
{
	const struct runjson_plugin *pa = scheme_of(R, a), *pb = scheme_of(R, b);
	int ra = pa ? pa->order : RUNJSON_NO_ORDER, rb = pb ? pb->order : RUNJSON_NO_ORDER;

	return ra != rb ? (ra < rb ? -1 : 1) : strcmp(a, b);
}

struct style {
	const char *color;
	int pt, dt;
};

/* Colour and point shape by scheme; the variant-th line of the same scheme
 * in one figure gets the open shape and another dash pattern. */
static void style_of(const struct report *R, const char *scheme, int variant, struct style *st)
{
	const struct runjson_plugin *p = scheme_of(R, scheme);
	int pt = p && p->point ? p->point : DEFAULT_POINT;

	st->color = p && p->colour[0] ? p->colour : DEFAULT_COLOUR;
	if (variant % 2)
		pt = pt >= 4 ? pt - 1 : 1;
	st->pt = pt;
	st->dt = 1 + variant % 5;
}

static double row_value(const struct result_row *r, int m)
{
	switch (m) {
	case M_METRIC:
		return r->metric;
	case M_PVALUE:
		return r->pvalue;
	case M_DETECTED:
		return r->detected < 0 ? NAN : r->detected;
	case M_ACC:
		return r->acc;
	case M_DROP:
		if (!strcmp(r->kind, "attack"))
			return r->acc_before - r->acc;
		if (!strcmp(r->kind, "embed"))
			return r->acc_clean - r->acc;
		return NAN;
	case M_SUCCESS:
		return r->success < 0 ? NAN : r->success;
	case M_WALL:
		return r->wall_s;
	}
	return NAN;
}

/* Watermark retained: 1 - BER, or the accuracy-type metric itself. */
static double retained(const char *metric_name, double v)
{
	if (!strcmp(metric_name, "ber"))
		return 1 - v;
	if (metric_name[0])
		return v;
	return NAN;
}

static int file_error(FILE *f, const char *path, char *err, size_t errlen)
{
	int bad = ferror(f);

	if (fclose(f) || bad)
		return errf(err, errlen, "%s: cannot write: %s", path,
			    strerror(errno ? errno : EIO));
	return 0;
}

static int read_text(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
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
			buf = grow(buf, cap, 1);
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

struct idref {
	const char *id;
	int i;
};

static int idref_cmp(const void *a, const void *b)
{
	const struct idref *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	return c ? c : x->i - y->i;
}

/* Keeps the last row of every job id, in file order. */
static void dedup(struct report *R)
{
	struct idref *ix = xcalloc((size_t)R->nrows, sizeof *ix);
	char *keep = xcalloc((size_t)R->nrows, 1);
	int n = 0;

	for (int i = 0; i < R->nrows; i++) {
		ix[i].id = R->rows[i].job_id;
		ix[i].i = i;
		keep[i] = 1;
	}
	qsort(ix, (size_t)R->nrows, sizeof *ix, idref_cmp);
	for (int i = 0; i + 1 < R->nrows; i++)
		if (ix[i].id[0] && !strcmp(ix[i].id, ix[i + 1].id))
			keep[ix[i].i] = 0;
	for (int i = 0; i < R->nrows; i++)
		if (keep[i])
			R->rows[n++] = R->rows[i];
	R->nsuperseded = R->nrows - n;
	R->nrows = n;
	free(ix);
	free(keep);
}

static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = 0;
}

static int load_results(struct report *R, char *err, size_t errlen)
{
	char path[FILELEN], hdr[2048];
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, header = 0, ncols = 1, rcap = 0, rc = -1;
	FILE *f;

	snprintf(path, sizeof path, "%s/results.csv", R->rundir);
	f = fopen(path, "r");
	if (!f)
		return errf(
		    err, errlen,
		    "%s: cannot open: %s; expected a run directory written by 'wmbench run'", path,
		    strerror(errno));
	if (result_csv_header(hdr, sizeof hdr) < 0) {
		errf(err, errlen, "results.csv header does not fit %zu bytes", sizeof hdr);
		goto out;
	}
	chomp(hdr);
	for (const char *p = hdr; *p; p++)
		ncols += *p == ',';
	while ((len = getline(&line, &cap, f)) != -1) {
		int complete = len > 0 && line[len - 1] == '\n';
		struct result_row row;

		lineno++;
		if (!line[strspn(line, " \t\r\n")])
			continue;
		if (!header) {
			chomp(line);
			if (strcmp(line, hdr)) {
				errf(err, errlen,
				     "%s:%d: unexpected header; expected the %d columns written by "
				     "this version of 'wmbench run' (%.60s...)",
				     path, lineno, ncols, hdr);
				goto out;
			}
			header = 1;
			continue;
		}
		if (result_csv_parse(line, &row)) {
			if (!complete) { /* a run killed while writing its last row */
				R->truncated_line = lineno;
				continue;
			}
			errf(err, errlen, "%s:%d: malformed row; expected %d columns", path, lineno,
			     ncols);
			goto out;
		}
		if (R->nrows == rcap) {
			rcap = rcap ? 2 * rcap : 64;
			R->rows = grow(R->rows, (size_t)rcap, sizeof *R->rows);
		}
		R->rows[R->nrows++] = row;
	}
	if (ferror(f)) {
		errf(err, errlen, "%s: cannot read: %s", path, strerror(errno ? errno : EIO));
		goto out;
	}
	R->nlines_read = R->nrows;
	dedup(R);
	for (int i = 0; i < R->nrows; i++) {
		const char *st = R->rows[i].status;

		R->nok += !strcmp(st, "ok");
		R->nfailed += !strcmp(st, "failed");
		R->nskipped += !strcmp(st, "skipped");
	}
	rc = sha256_file_hex(path, R->results_sha, err, errlen);
out:
	free(line);
	fclose(f);
	return rc;
}

/* ------------------------------------------------------------ run.json -- */

static void load_run_json(struct report *R)
{
	char path[FILELEN], v[256], e[ERRBUF];

	snprintf(path, sizeof path, "%s/run.json", R->rundir);
	R->alpha = DEFAULT_ALPHA;
	if (read_text(path, &R->json, NULL, e, sizeof e))
		R->json = NULL;
	if (R->json && !runjson_get(R->json, "name", v, sizeof v) && v[0])
		clean_text(v, R->name, sizeof R->name);
	if (R->json && !runjson_get(R->json, "alpha", v, sizeof v) && is_num(v, &R->alpha) &&
	    R->alpha > 0 && R->alpha < 1)
		R->alpha_from_run = 1;
	else
		R->alpha = DEFAULT_ALPHA;
	if (R->json && !runjson_get(R->json, "wmbench_version", v, sizeof v) && v[0])
		clean_text(v, R->version, sizeof R->version);
	else
		strlcopy(R->version, DEFAULT_VERSION, sizeof R->version);
	runjson_plugins(R->json, &R->plugins, &R->nplugins);
	if (!R->name[0]) {
		const char *b = strrchr(R->rundir, '/');

		clean_text(b && b[1] ? b + 1 : R->rundir, R->name, sizeof R->name);
	}
}

/* --------------------------------------------------------------- groups -- */

static int same_group(const struct result_row *a, const struct result_row *b)
{
	return !strcmp(a->kind, b->kind) && !strcmp(a->scheme, b->scheme) &&
	       !strcmp(a->scheme_params, b->scheme_params) && !strcmp(a->attack, b->attack) &&
	       !strcmp(a->attack_params, b->attack_params);
}

static int group_cmp(const void *x, const void *y, void *ctx)
{
	const struct report *R = ctx;
	const struct result_row *a = ((const struct group *)x)->rep;
	const struct result_row *b = ((const struct group *)y)->rep;
	int c;

	if ((c = kind_rank(a->kind) - kind_rank(b->kind)) || (c = strcmp(a->kind, b->kind)) ||
	    (c = scheme_cmp(R, a->scheme, b->scheme)) ||
	    (c = pcmp(a->scheme_params, b->scheme_params)) || (c = strcmp(a->attack, b->attack)) ||
	    (c = pcmp(a->attack_params, b->attack_params)))
		return c;
	return 0;
}

static void build_groups(struct report *R)
{
	int cap = 0;
	double *v = xcalloc((size_t)R->nrows + 1, sizeof *v);

	for (int i = 0; i < R->nrows; i++) {
		const struct result_row *r = &R->rows[i];
		struct group *g = NULL;

		for (int k = R->ng - 1; k >= 0; k--)
			if (same_group(R->g[k].rep, r)) {
				g = &R->g[k];
				break;
			}
		if (!g) {
			if (R->ng == cap) {
				cap = cap ? 2 * cap : 32;
				R->g = grow(R->g, (size_t)cap, sizeof *R->g);
			}
			g = &R->g[R->ng++];
			memset(g, 0, sizeof *g);
			g->rep = r;
			g->capacity = NAN;
			g->emp_thr = NAN;
		}
		if (!strcmp(r->status, "ok"))
			push_int(&g->ok, &g->n, &g->cap, i);
		else if (!strcmp(r->status, "failed"))
			g->n_failed++;
		else
			g->n_skipped++;
	}
	qsort_r(R->g, (size_t)R->ng, sizeof *R->g, group_cmp, R);
	for (int k = 0; k < R->ng; k++) {
		struct group *g = &R->g[k];

		for (int j = 0; j < g->n; j++) {
			const struct result_row *r = &R->rows[g->ok[j]];

			if (!g->metric_name[0] && r->metric_name[0])
				strlcopy(g->metric_name, r->metric_name, sizeof g->metric_name);
			if (isnan(g->capacity) && isfinite(r->capacity) && r->capacity > 0)
				g->capacity = r->capacity;
		}
		for (int m = 0; m < NMET; m++) {
			for (int j = 0; j < g->n; j++)
				v[j] = row_value(&R->rows[g->ok[j]], m);
			mstat_of(v, g->n, &g->st[m]);
		}
		if (!strcmp(g->rep->kind, "control") && g->metric_name[0]) {
			for (int j = 0; j < g->n; j++)
				v[j] = R->rows[g->ok[j]].metric;
			g->emp_thr = quantile(v, g->n, strcmp(g->metric_name, "ber") ? 0.95 : 0.05);
			R->has_controls = 1;
		}
	}
	free(v);
}

/* The empirical control threshold of a scheme + params, NAN if none. */
static double control_thr(const struct report *R, const struct result_row *r)
{
	for (int k = 0; k < R->ng; k++) {
		const struct result_row *c = R->g[k].rep;

		if (!strcmp(c->kind, "control") && !strcmp(c->scheme, r->scheme) &&
		    !strcmp(c->scheme_params, r->scheme_params))
			return R->g[k].emp_thr;
	}
	return NAN;
}

/* ------------------------------------------------------------------ CSV -- */

static void csv_str(FILE *f, const char *s)
{
	char t[LABELLEN];

	clean_text(s, t, sizeof t);
	if (!strpbrk(t, ",\"")) {
		fputs(t, f);
		return;
	}
	fputc('"', f);
	for (const char *p = t; *p; p++) {
		if (*p == '"')
			fputc('"', f);
		fputc(*p, f);
	}
	fputc('"', f);
}

static void csv_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.12g", v);
}

static int write_summary(struct report *R, char *err, size_t errlen)
{
	char path[FILELEN];
	FILE *f;

	snprintf(path, sizeof path, "%s/summary.csv", R->repdir);
	f = fopen(path, "w");
	if (!f)
		return errf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
	fputs("scheme,scheme_params,attack,attack_params,kind,n,n_failed", f);
	for (int m = 0; m < NMET; m++)
		fprintf(f, ",%s_mean,%s_sd,%s_ci95", met_name[m], met_name[m], met_name[m]);
	fputs(",metric_name\n", f);
	for (int k = 0; k < R->ng; k++) {
		const struct group *g = &R->g[k];

		csv_str(f, g->rep->scheme);
		fputc(',', f);
		csv_str(f, g->rep->scheme_params);
		fputc(',', f);
		csv_str(f, g->rep->attack);
		fputc(',', f);
		csv_str(f, g->rep->attack_params);
		fputc(',', f);
		csv_str(f, g->rep->kind);
		fprintf(f, ",%d,%d", g->n, g->n_failed);
		for (int m = 0; m < NMET; m++) {
			fputc(',', f);
			csv_num(f, g->st[m].mean);
			fputc(',', f);
			csv_num(f, g->st[m].sd);
			fputc(',', f);
			csv_num(f, g->st[m].ci);
		}
		fputc(',', f);
		csv_str(f, g->metric_name);
		fputc('\n', f);
	}
	return file_error(f, path, err, errlen);
}

struct ctrl {
	int n, fp;
	double fpr, lo, hi, q, thr;
};

static void control_stats(const struct report *R, const struct group *g, struct ctrl *c)
{
	memset(c, 0, sizeof *c);
	for (int j = 0; j < g->n; j++) {
		int d = R->rows[g->ok[j]].detected;

		if (d >= 0) {
			c->n++;
			c->fp += d == 1;
		}
	}
	c->fpr = c->n ? (double)c->fp / c->n : NAN;
	report_clopper_pearson(c->fp, c->n, &c->lo, &c->hi);
	c->q = !g->metric_name[0] ? NAN : strcmp(g->metric_name, "ber") ? 0.95 : 0.05;
	c->thr = g->emp_thr;
}

static int write_controls(struct report *R, char *err, size_t errlen)
{
	char path[FILELEN];
	FILE *f;

	if (!R->has_controls)
		return 0;
	snprintf(path, sizeof path, "%s/controls.csv", R->repdir);
	f = fopen(path, "w");
	if (!f)
		return errf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
	fputs("scheme,scheme_params,metric_name,n,false_positives,fpr,fpr_ci95_low,fpr_ci95_high,"
	      "threshold_quantile,empirical_threshold\n",
	      f);
	for (int k = 0; k < R->ng; k++) {
		const struct group *g = &R->g[k];
		struct ctrl c;

		if (strcmp(g->rep->kind, "control") || !g->metric_name[0])
			continue;
		control_stats(R, g, &c);
		csv_str(f, g->rep->scheme);
		fputc(',', f);
		csv_str(f, g->rep->scheme_params);
		fputc(',', f);
		csv_str(f, g->metric_name);
		fprintf(f, ",%d,%d,", c.n, c.fp);
		csv_num(f, c.fpr);
		fputc(',', f);
		csv_num(f, c.lo);
		fputc(',', f);
		csv_num(f, c.hi);
		fputc(',', f);
		csv_num(f, c.q);
		fputc(',', f);
		csv_num(f, c.thr);
		fputc('\n', f);
	}
	return file_error(f, path, err, errlen);
}

/* -------------------------------------------------------------- gnuplot -- */

/* A text as a gnuplot string expression of single-quoted pieces, with the
 * variable Q for each single quote: a'b -> 'a'.Q.'b'. */
static void gp_quote(FILE *f, const char *s)
{
	char t[LABELLEN];
	int open = 0, first = 1;

	clean_text(s, t, sizeof t);
	if (!t[0]) {
		fputs("''", f);
		return;
	}
	for (const char *p = t; *p; p++) {
		if (*p == '\'') {
			if (open)
				fputc('\'', f);
			open = 0;
			fputs(first ? "Q" : ".Q", f);
		} else {
			if (!open)
				fputs(first ? "'" : ".'", f);
			open = 1;
			fputc(*p, f);
		}
		first = 0;
	}
	if (open)
		fputc('\'', f);
}

/* The same text for LaTeX (cairolatex). */
static void tex_escape(const char *s, char *out, size_t len)
{
	char t[LABELLEN];

	clean_text(s, t, sizeof t);
	out[0] = 0;
	for (const char *p = t; *p; p++) {
		const char *rep;
		char one[2] = {*p, 0};

		if (!strncmp(p, "\xe2\x80\xa6", 3)) {
			cat(out, len, "\\ldots{}");
			p += 2;
			continue;
		}
		switch (*p) {
		case '\\':
			rep = "\\textbackslash{}";
			break;
		case '{':
			rep = "\\{";
			break;
		case '}':
			rep = "\\}";
			break;
		case '$':
			rep = "\\$";
			break;
		case '&':
			rep = "\\&";
			break;
		case '#':
			rep = "\\#";
			break;
		case '%':
			rep = "\\%";
			break;
		case '_':
			rep = "\\_";
			break;
		case '^':
			rep = "\\^{}";
			break;
		case '~':
			rep = "\\~{}";
			break;
		case '<':
			rep = "\\textless{}";
			break;
		case '>':
			rep = "\\textgreater{}";
			break;
		case '|':
			rep = "\\textbar{}";
			break;
		case '"':
			rep = "{\\ttfamily\\char34}";
			break;
		default:
			rep = one;
		}
		if (strlen(out) + strlen(rep) + 1 >= len)
			break;
		cat(out, len, rep);
	}
}

/* A text variable in three forms: var as given, var_pdf (short, for the
 * PDF at column width; cut at TITLE_MAX_PDF characters), var_tex. */
static void gp_text2(FILE *f, const char *var, const char *s, const char *s_pdf)
{
	char sh[LABELLEN], tex[LABELLEN * 2];

	clean_text(s_pdf, sh, sizeof sh);
	shorten(sh, sizeof sh, TITLE_MAX_PDF);
	tex_escape(sh, tex, sizeof tex);
	fprintf(f, "%s = ", var);
	gp_quote(f, s);
	fprintf(f, "\n%s_pdf = ", var);
	gp_quote(f, sh);
	fprintf(f, "\n%s_tex = ", var);
	gp_quote(f, tex);
	fputc('\n', f);
}

static void gp_text(FILE *f, const char *var, const char *s)
{
	gp_text2(f, var, s, s);
}

static void gp_num(FILE *f, const char *var, double v)
{
	if (isfinite(v))
		fprintf(f, "%s = %.10g\n", var, v);
	else
		fprintf(f, "%s = NaN\n", var);
}

/* Widest texts of an array: characters of the long and the PDF form,
 * bytes of the LaTeX form (gnuplot counts the markup). */
struct widths {
	int w, w_pdf, w_tex;
};

static void gp_decl(FILE *f, const char *var, int n)
{
	fprintf(f, "array %s[%d]\narray %s_pdf[%d]\narray %s_tex[%d]\n", var, n, var, n, var, n);
}

/* Element i of the text arrays var, var_pdf and var_tex: the text cut to
 * maxw characters, to maxw_pdf, and the latter for LaTeX. */
static void gp_label(FILE *f, const char *var, int i, const char *s, int maxw, int maxw_pdf,
		     struct widths *w)
{
	char l[LABELLEN], sh[LABELLEN], tex[LABELLEN * 2];
	int n;

	clean_text(s, l, sizeof l);
	strlcopy(sh, l, sizeof sh);
	shorten(l, sizeof l, maxw);
	shorten(sh, sizeof sh, maxw_pdf);
	tex_escape(sh, tex, sizeof tex);
	fprintf(f, "%s[%d] = ", var, i);
	gp_quote(f, l);
	fprintf(f, "\n%s_pdf[%d] = ", var, i);
	gp_quote(f, sh);
	fprintf(f, "\n%s_tex[%d] = ", var, i);
	gp_quote(f, tex);
	fputc('\n', f);
	if ((n = text_width(l)) > w->w)
		w->w = n;
	if ((n = text_width(sh)) > w->w_pdf)
		w->w_pdf = n;
	if ((n = (int)strlen(tex)) > w->w_tex)
		w->w_tex = n;
}

static void dat_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, " %.10g", v);
	else
		fputs(" NaN", f);
}

struct gp {
	FILE *s, *d;
	char stem[64], tpl[32];
	char spath[FILELEN], dpath[FILELEN];
};

static struct fig *fig_add(struct report *R, const char *stem, const char *title, const char *what)
{
	struct fig *fg;
	char base[64];
	int dup = 0;

	if (R->nfig >= MAXFIGS)
		return NULL;
	fg = &R->fig[R->nfig++];
	memset(fg, 0, sizeof *fg);
	safe_name(stem, base, sizeof base);
	strlcopy(fg->stem, base, sizeof fg->stem);
	for (int i = 0; i < R->nfig - 1; i++)
		if (!strcmp(R->fig[i].stem, fg->stem)) {
			snprintf(fg->stem, sizeof fg->stem, "%.50s_%d", base, ++dup + 1);
			i = -1;
		}
	clean_text(title, fg->title, sizeof fg->title);
	clean_text(what, fg->what, sizeof fg->what);
	return fg;
}

static void fig_skip(struct report *R, const char *stem, const char *title, const char *why)
{
	struct fig *fg = fig_add(R, stem, title, "");

	if (fg)
		clean_text(why, fg->why, sizeof fg->why);
}

static int gp_begin(struct report *R, struct gp *gp, const struct fig *fg, const char *tpl,
		    double pdf_w, double pdf_h, int png_w, int png_h, char *err, size_t errlen)
{
	memset(gp, 0, sizeof *gp);
	strlcopy(gp->stem, fg->stem, sizeof gp->stem);
	strlcopy(gp->tpl, tpl, sizeof gp->tpl);
	snprintf(gp->spath, sizeof gp->spath, "%s/%s.gp", R->repdir, gp->stem);
	snprintf(gp->dpath, sizeof gp->dpath, "%s/%s.dat", R->repdir, gp->stem);
	gp->s = fopen(gp->spath, "w");
	if (!gp->s)
		return errf(err, errlen, "%s: cannot write: %s", gp->spath, strerror(errno));
	gp->d = fopen(gp->dpath, "w");
	if (!gp->d) {
		fclose(gp->s);
		return errf(err, errlen, "%s: cannot write: %s", gp->dpath, strerror(errno));
	}
	fprintf(gp->s,
		"# %s.gp - a figure of wmbench report %s (templates common.gp and %s).\n"
		"# Redraw it (PDF, PNG, SVG%s) inside this directory with:  gnuplot %s.gp\n"
		"# Data: %s.dat; texts that come from the run are single-quoted strings\n"
		"# joined with Q (a single quote).\n\n",
		gp->stem, R->version, tpl, R->flags & REPORT_LATEX ? ", cairolatex" : "", gp->stem,
		gp->stem);
	fputs("Q = sprintf('%c', 39)\n", gp->s);
	fprintf(gp->s, "name = '%s'\ndatafile = '%s.dat'\nformats = '%s'\n", gp->stem, gp->stem,
		R->flags & REPORT_LATEX ? "pdf png svg tex" : "pdf png svg");
	fprintf(gp->s, "pdf_w = %.2f\npdf_h = %.2f\npng_w = %d\npng_h = %d\n", pdf_w, pdf_h, png_w,
		png_h);
	fprintf(gp->d, "# %s.dat - data of %s.gp (numbers only; NaN = none)\n", gp->stem, gp->stem);
	return 0;
}

static int read_template(struct report *R, const char *name, char **out, char *err, size_t errlen)
{
	char path[FILELEN];

	snprintf(path, sizeof path, "%s/%s", R->tpl_dir, name);
	return read_text(path, out, NULL, err, errlen);
}

/* Last non-empty line of a gnuplot log, as one short line. */
static void log_tail(const char *path, char *out, size_t len)
{
	char *text = NULL, e[ERRBUF];
	char *last = NULL;

	strlcopy(out, "no message", len);
	if (read_text(path, &text, NULL, e, sizeof e))
		return;
	for (char *p = strtok(text, "\n"); p; p = strtok(NULL, "\n"))
		if (p[strspn(p, " \t\r^")])
			last = p;
	if (last)
		clean_text(last + strspn(last, " \t"), out, len < 200 ? len : 200);
	free(text);
}

/* Runs `gnuplot STEM.gp` inside the report directory, stderr into STEM.log
 * (removed when empty). */
static int run_gnuplot(struct report *R, const char *stem, char *err, size_t errlen)
{
	char script[96], logname[96], logpath[FILELEN], why[256];
	char *argv[] = {"gnuplot", "-d", script, NULL};
	posix_spawn_file_actions_t fa;
	struct stat st;
	pid_t pid;
	int e, status;

	snprintf(script, sizeof script, "%s.gp", stem);
	snprintf(logname, sizeof logname, "%s.log", stem);
	snprintf(logpath, sizeof logpath, "%s/%s", R->repdir, logname);
	e = posix_spawn_file_actions_init(&fa);
	if (e)
		return errf(err, errlen, "%s/%s: cannot start gnuplot: %s", R->repdir, script,
			    strerror(e));
	e = posix_spawn_file_actions_addchdir_np(&fa, R->repdir);
	if (!e)
		e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!e)
		e = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (!e)
		e = posix_spawn_file_actions_addopen(&fa, 2, logname, O_WRONLY | O_CREAT | O_TRUNC,
						     0644);
	if (!e)
		e = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (e)
		return errf(err, errlen,
			    "%s/%s: cannot run gnuplot: %s; install gnuplot-nox (apt-get install "
			    "gnuplot-nox)",
			    R->repdir, script, strerror(e));
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return errf(err, errlen, "%s/%s: waiting for gnuplot: %s", R->repdir,
				    script, strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return errf(
		    err, errlen,
		    "%s/%s: cannot run gnuplot; install gnuplot-nox (apt-get install gnuplot-nox)",
		    R->repdir, script);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		log_tail(logpath, why, sizeof why);
		return errf(err, errlen,
			    "%s/%s: gnuplot failed: %s (log in %s); expected gnuplot 5.2 or newer "
			    "with the cairo terminals, install gnuplot-nox",
			    R->repdir, script, why, logname);
	}
	if (!stat(logpath, &st) && st.st_size == 0) {
		if (unlink(logpath))
			return errf(err, errlen, "%s: cannot remove: %s", logpath, strerror(errno));
	} else if (strlen(R->warn) + strlen(logname) + 3 < sizeof R->warn) {
		cat(R->warn, sizeof R->warn, R->warn[0] ? ", " : "");
		cat(R->warn, sizeof R->warn, logname);
	}
	return 0;
}

/* Appends the templates, closes the files and draws the figure. */
static int gp_end(struct report *R, struct gp *gp, struct fig *fg, char *err, size_t errlen)
{
	char *tpl = NULL;
	int rc;

	rc = read_template(R, gp->tpl, &tpl, err, errlen);
	if (!rc) {
		fprintf(gp->s, "\n# ---- common.gp ----\n%s\n# ---- %s ----\n%s", R->common,
			gp->tpl, tpl);
		free(tpl);
	} else {
		fclose(gp->s);
		fclose(gp->d);
		return -1;
	}
	if (file_error(gp->s, gp->spath, err, errlen)) {
		fclose(gp->d);
		return -1;
	}
	if (file_error(gp->d, gp->dpath, err, errlen))
		return -1;
	if (run_gnuplot(R, gp->stem, err, errlen))
		return -1;
	fg->made = 1;
	return 0;
}

static int find_templates(struct report *R, char *err, size_t errlen)
{
	char exe[PATH_MAX], cand[6][REPORT_PATHLEN], path[FILELEN];
	const char *env = getenv("WMBENCH_REPORTS");
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	int nc = 0;

	if (env && *env)
		strlcopy(cand[nc++], env, REPORT_PATHLEN);
	if (n > 0) {
		char *slash;

		exe[n] = 0;
		slash = strrchr(exe, '/');
		if (slash)
			*slash = 0;
		snprintf(cand[nc++], REPORT_PATHLEN, "%.900s/reports", exe);
		snprintf(cand[nc++], REPORT_PATHLEN, "%.900s/../share/wmbench/reports", exe);
	}
	strlcopy(cand[nc++], "/usr/local/share/wmbench/reports", REPORT_PATHLEN);
	strlcopy(cand[nc++], "/usr/share/wmbench/reports", REPORT_PATHLEN);
	for (int i = 0; i < nc; i++) {
		snprintf(path, sizeof path, "%.1000s/common.gp", cand[i]);
		if (!access(path, R_OK)) {
			strlcopy(R->tpl_dir, cand[i], sizeof R->tpl_dir);
			return read_text(path, &R->common, NULL, err, errlen);
		}
	}
	return errf(err, errlen,
		    "gnuplot templates (common.gp) not found in $WMBENCH_REPORTS, next to the "
		    "wmbench executable (reports/, ../share/wmbench/reports/), "
		    "/usr/local/share/wmbench/reports or /usr/share/wmbench/reports; expected the "
		    "reports/*.gp files of wmbench ('make install' copies them)");
}

/* ---------------------------------------------------------------- lines -- */

/* One line (or bar, or row of points) of a figure: groups of one scheme +
 * params (+ other parameters in rest). */
struct line {
	const struct result_row *rep;
	char rest[LABELLEN];
	int *g, ng, cap;
	double *x; /* x of each group */
	int variant;
	double thr;
	char label[LABELLEN];
	struct style st;
};

struct lineset {
	struct line *l;
	int n, cap;
};

static struct line *line_get(struct lineset *ls, const struct result_row *rep, const char *rest)
{
	struct line *l;

	for (int i = 0; i < ls->n; i++) {
		l = &ls->l[i];
		if (!strcmp(l->rep->scheme, rep->scheme) &&
		    !strcmp(l->rep->scheme_params, rep->scheme_params) && !strcmp(l->rest, rest))
			return l;
	}
	if (ls->n == ls->cap) {
		ls->cap = ls->cap ? 2 * ls->cap : 8;
		ls->l = grow(ls->l, (size_t)ls->cap, sizeof *ls->l);
	}
	l = &ls->l[ls->n++];
	memset(l, 0, sizeof *l);
	l->rep = rep;
	strlcopy(l->rest, rest, sizeof l->rest);
	l->thr = NAN;
	return l;
}

static void line_add(struct line *l, int g, double x)
{
	int cap = l->cap;

	push_int(&l->g, &l->ng, &l->cap, g);
	if (l->cap != cap)
		l->x = grow(l->x, (size_t)l->cap, sizeof *l->x);
	l->x[l->ng - 1] = x;
	/* keep sorted by x */
	for (int i = l->ng - 1; i > 0 && l->x[i] < l->x[i - 1]; i--) {
		double tx = l->x[i];
		int tg = l->g[i];

		l->x[i] = l->x[i - 1];
		l->g[i] = l->g[i - 1];
		l->x[i - 1] = tx;
		l->g[i - 1] = tg;
	}
}

static int line_cmp(const void *x, const void *y, void *ctx)
{
	const struct report *R = ctx;
	const struct line *a = x, *b = y;
	int c;

	if ((c = scheme_cmp(R, a->rep->scheme, b->rep->scheme)) ||
	    (c = pcmp(a->rep->scheme_params, b->rep->scheme_params)))
		return c;
	return pcmp(a->rest, b->rest);
}

/* Sorts the lines, numbers the lines of each scheme and writes their labels:
 * the scheme, its params when it has several here, the rest when lines
 * differ in it. */
static void lineset_finish(const struct report *R, struct lineset *ls)
{
	int rest_varies = 0;

	qsort_r(ls->l, (size_t)ls->n, sizeof *ls->l, line_cmp, (void *)R);
	for (int i = 1; i < ls->n; i++)
		rest_varies |= strcmp(ls->l[i].rest, ls->l[0].rest) != 0;
	for (int i = 0; i < ls->n; i++) {
		struct line *l = &ls->l[i];
		int sp_varies = 0;
		char t[LABELLEN];

		l->variant = 0;
		for (int j = 0; j < ls->n; j++) {
			if (strcmp(ls->l[j].rep->scheme, l->rep->scheme))
				continue;
			sp_varies |=
			    strcmp(ls->l[j].rep->scheme_params, l->rep->scheme_params) != 0;
			l->variant += j < i;
		}
		clean_text(l->rep->scheme, l->label, sizeof l->label);
		if (sp_varies && l->rep->scheme_params[0]) {
			const char **o = xmalloc((size_t)ls->n * sizeof *o);
			char d[LABELLEN];
			int no = 0;

			for (int j = 0; j < ls->n; j++)
				if (!strcmp(ls->l[j].rep->scheme, l->rep->scheme))
					o[no++] = ls->l[j].rep->scheme_params;
			pvarying(l->rep->scheme_params, o, no, d, sizeof d);
			free(o);
			ppretty(d, t, sizeof t);
			cat(l->label, sizeof l->label, " (");
			cat(l->label, sizeof l->label, t);
			cat(l->label, sizeof l->label, ")");
		}
		if (rest_varies && l->rest[0]) {
			ppretty(l->rest, t, sizeof t);
			cat(l->label, sizeof l->label, " ");
			cat(l->label, sizeof l->label, t);
		}
		style_of(R, l->rep->scheme, l->variant, &l->st);
	}
}

static void lineset_free(struct lineset *ls)
{
	for (int i = 0; i < ls->n; i++) {
		free(ls->l[i].g);
		free(ls->l[i].x);
	}
	free(ls->l);
	memset(ls, 0, sizeof *ls);
}

/* Writes the per-line arrays every line template uses, and the key widths
 * (at least minw, the width of another key entry). */
static void gp_lines(FILE *f, const struct lineset *ls, int minw)
{
	struct widths w = {minw, minw, minw};
	int n = ls->n;

	fprintf(f, "nlines = %d\n", n);
	gp_decl(f, "lt_title", n);
	fprintf(f, "array lt_color[%d]\narray lt_pt[%d]\narray lt_dt[%d]\narray lt_thr[%d]\n", n, n,
		n, n);
	for (int i = 0; i < n; i++) {
		const struct line *l = &ls->l[i];
		char v[32];

		gp_label(f, "lt_title", i + 1, l->label, KEY_MAX, KEY_MAX_PDF, &w);
		fprintf(f, "lt_color[%d] = '%s'\nlt_pt[%d] = %d\nlt_dt[%d] = %d\n", i + 1,
			l->st.color, i + 1, l->st.pt, i + 1, l->st.dt);
		snprintf(v, sizeof v, "lt_thr[%d]", i + 1);
		gp_num(f, v, l->thr);
	}
	fprintf(f, "key_w = %d\nkey_w_pdf = %d\nkey_w_tex = %d\n", w.w, w.w_pdf, w.w_tex);
}

/* The distinct x of all lines as a word list for explicit tics, or "" when
 * there are more than 8 (automatic tics then). */
static void xtics_list(FILE *f, const struct lineset *ls)
{
	double v[9];
	int n = 0;

	for (int i = 0; i < ls->n; i++)
		for (int j = 0; j < ls->l[i].ng; j++) {
			int seen = 0;

			for (int k = 0; k < n; k++)
				seen |= v[k] == ls->l[i].x[j];
			if (!seen && n < 9)
				v[n++] = ls->l[i].x[j];
		}
	fputs("xtics_vals = '", f);
	for (int k = 0; n <= 8 && k < n; k++)
		fprintf(f, " %.10g", v[k]);
	fputs("'\n", f);
}

/* A round tic step giving at most about six intervals over span. */
static double nice_step(double span)
{
	static const double m[] = {1, 2, 2.5, 5, 10};
	double raw = span > 0 && isfinite(span) ? span / 6 : 0.2;
	double mag = pow(10, floor(log10(raw)));

	for (int i = 0; i < 5; i++)
		if (m[i] * mag >= raw)
			return m[i] * mag;
	return 10 * mag;
}

static double sd0(double sd)
{
	return isfinite(sd) ? sd : 0;
}

/* Writes NAME_min, NAME_max and NAME_step of an axis showing [lo, hi]
 * (padded, from 0 if from_zero) and returns its widest tic label in
 * characters. */
static int gp_axis(FILE *f, const char *name, double lo, double hi, int from_zero)
{
	char t[64];
	double step;
	int w = 1;

	if (!isfinite(lo) || !isfinite(hi)) {
		lo = 0;
		hi = 1;
	}
	if (from_zero && lo > 0)
		lo = 0;
	if (hi - lo < 1e-9)
		hi = lo + (fabs(lo) > 1e-9 ? 0.1 * fabs(lo) : 1);
	if (!from_zero || lo < 0)
		lo -= 0.06 * (hi - lo);
	hi += 0.06 * (hi - lo);
	step = nice_step(hi - lo);
	for (long k = (long)ceil(lo / step); k * step <= hi; k++) {
		snprintf(t, sizeof t, "%g", k ? k * step : 0.0);
		if ((int)strlen(t) > w)
			w = (int)strlen(t);
	}
	fprintf(f, "%s_min = %.10g\n%s_max = %.10g\n%s_step = %.10g\n", name, lo, name, hi, name,
		step);
	return w;
}

static const char *metric_label(const char *mn)
{
	if (!strcmp(mn, "ber"))
		return "bit error rate (BER)";
	if (!strcmp(mn, "wm_acc"))
		return "watermark accuracy";
	return mn;
}

/* The detection threshold of a line on the metric's own scale: the BER at
 * which the binomial p-value reaches alpha, or the control quantile. */
static double line_threshold(const struct report *R, const struct line *l, const char *mn,
			     double capacity)
{
	if (!strcmp(mn, "ber") && isfinite(capacity) && capacity >= 1 && capacity < INT_MAX) {
		int nb = (int)llround(capacity);
		int k = report_binom_threshold(nb, R->alpha);

		return k < 0 ? NAN : 1 - (double)k / nb;
	}
	if (mn[0])
		return control_thr(R, l->rep);
	return NAN;
}

/* ----------------------------------------------------------- robustness -- */

static int attack_keys(const struct report *R, const int *gi, int ng, char keys[][RESULT_KEYLEN])
{
	char k[RESULT_VALLEN * 3], v[RESULT_VALLEN * 3];
	int nk = 0;

	for (int a = 0; a < ng; a++)
		for (int i = 0; pitem(R->g[gi[a]].rep->attack_params, i, k, sizeof k, v, sizeof v);
		     i++) {
			int seen = 0;

			if (!k[0] || strlen(k) >= RESULT_KEYLEN)
				continue;
			for (int j = 0; j < nk; j++)
				seen |= !strcmp(keys[j], k);
			if (!seen && nk < MAXKEYS)
				strlcopy(keys[nk++], k, RESULT_KEYLEN);
		}
	qsort(keys, (size_t)nk, RESULT_KEYLEN, (int (*)(const void *, const void *))strcmp);
	return nk;
}

/* Whether key has numeric values in every group and at least two of them
 * (numeric = 1), or at least two values of any kind (numeric = 0). */
static int key_varies(const struct report *R, const int *gi, int ng, const char *key, int numeric)
{
	char v0[RESULT_VALLEN * 3], v[RESULT_VALLEN * 3];
	int varies = 0;

	for (int a = 0; a < ng; a++) {
		if (pget(R->g[gi[a]].rep->attack_params, key, v, sizeof v)) {
			if (numeric)
				return 0;
			strlcopy(v, "\x01", sizeof v); /* absent */
		}
		if (numeric && !is_num(v, NULL))
			return 0;
		if (!a)
			strlcopy(v0, v, sizeof v0);
		else if (numeric ? strtod(v, NULL) != strtod(v0, NULL) : strcmp(v, v0) != 0)
			varies = 1;
	}
	return varies;
}

/* The help text of an attack parameter, from run.json; NULL if none. */
static const char *param_help(const struct report *R, const char *attack, const char *key)
{
	const struct runjson_plugin *a =
	    runjson_plugin_find(R->plugins, R->nplugins, "attack", attack);

	for (int i = 0; a && i < a->nparams; i++)
		if (!strcmp(a->param_key[i], key))
			return a->param_help[i][0] ? a->param_help[i] : NULL;
	return NULL;
}

static int robustness_one(struct report *R, const char *attack, const int *gi, int ng,
			  const char *sweep, const char *mn, int split, char *err, size_t errlen)
{
	char stem[96], title[LABELLEN], what[LABELLEN], xlabel[LABELLEN], fixed[LABELLEN] = "";
	char keys[MAXKEYS][RESULT_KEYLEN], v[RESULT_VALLEN * 3], rest[LABELLEN], t[LABELLEN];
	const char *help = param_help(R, attack, sweep);
	struct lineset ls = {0};
	double xmin = INFINITY, xmax = -INFINITY, ymax = !strcmp(mn, "ber") ? 0.5 : 1.0;
	double amin = INFINITY, amax = -INFINITY;
	int nk, has_thr, tw, aw, rc = -1;
	struct fig *fg;
	struct gp gp;

	for (int a = 0; a < ng; a++) {
		const struct group *g = &R->g[gi[a]];
		double x;

		if (g->metric_name[0] && strcmp(g->metric_name, mn))
			continue;
		if (pget(g->rep->attack_params, sweep, v, sizeof v) || !is_num(v, &x))
			continue;
		pdel(g->rep->attack_params, sweep, rest, sizeof rest);
		line_add(line_get(&ls, g->rep, rest), gi[a], x);
	}
	lineset_finish(R, &ls);

	/* parameters with one value across the figure go into the title */
	nk = attack_keys(R, gi, ng, keys);
	for (int k = 0; k < nk; k++) {
		if (!strcmp(keys[k], sweep) || key_varies(R, gi, ng, keys[k], 0) ||
		    pget(R->g[gi[0]].rep->attack_params, keys[k], v, sizeof v))
			continue;
		snprintf(t, sizeof t, "%s%.31s=%.300s", fixed[0] ? ", " : "", keys[k], v);
		cat(fixed, sizeof fixed, t);
	}
	snprintf(stem, sizeof stem, "robustness_%.40s%s%.10s", attack, split ? "_" : "",
		 split ? mn : "");
	snprintf(title, sizeof title, "Robustness to %s%s%.600s%s", attack, fixed[0] ? " (" : "",
		 fixed, fixed[0] ? ")" : "");
	snprintf(what, sizeof what,
		 "Top: %s after the attack; bottom: test accuracy after the attack; against the %s "
		 "parameter %s. Mean and sd over seeds; dashed lines: the detection threshold of "
		 "each scheme.",
		 metric_label(mn), attack, sweep);
	fg = fig_add(R, stem, title, what);
	if (!fg) {
		rc = 0;
		goto out;
	}
	if (help)
		snprintf(xlabel, sizeof xlabel, "%s %s (%s)", attack, sweep, help);
	else
		snprintf(xlabel, sizeof xlabel, "%s %s", attack, sweep);

	/* the key below the panels: one row an entry at worst */
	if (gp_begin(R, &gp, fg, "robustness.gp", 3.5, 3.3 + 0.13 * (ls.n + 1), 800,
		     620 + 22 * (ls.n + 1), err, errlen))
		goto out;
	{
		char ml[4096] = "", al[4096] = "";

		for (int i = 0; i < ls.n; i++) {
			struct line *l = &ls.l[i];
			int hm = 0, ha = 0;
			double cap = NAN;

			fprintf(gp.d, "%s# line %d\n", i ? "\n\n" : "", i + 1);
			for (int j = 0; j < l->ng; j++) {
				const struct group *g = &R->g[l->g[j]];
				const struct mstat *m = &g->st[M_METRIC], *ac = &g->st[M_ACC];

				fprintf(gp.d, "%.10g", l->x[j]);
				dat_num(gp.d, m->mean);
				dat_num(gp.d, isfinite(m->sd) ? m->sd : 0);
				dat_num(gp.d, 100 * ac->mean);
				dat_num(gp.d, isfinite(ac->sd) ? 100 * ac->sd : 0);
				fprintf(gp.d, " %d\n", g->n);
				hm |= isfinite(m->mean);
				ha |= isfinite(ac->mean);
				if (isfinite(m->mean) && m->mean + sd0(m->sd) > ymax)
					ymax = m->mean + sd0(m->sd);
				if (isfinite(ac->mean) && 100 * (ac->mean - sd0(ac->sd)) < amin)
					amin = 100 * (ac->mean - sd0(ac->sd));
				if (isfinite(ac->mean) && 100 * (ac->mean + sd0(ac->sd)) > amax)
					amax = 100 * (ac->mean + sd0(ac->sd));
				if (isnan(cap))
					cap = g->capacity;
				if (l->x[j] < xmin)
					xmin = l->x[j];
				if (l->x[j] > xmax)
					xmax = l->x[j];
			}
			if (hm)
				l->thr = line_threshold(R, l, mn, cap);
			snprintf(t, sizeof t, " %d", i + 1);
			if (hm && strlen(ml) + strlen(t) < sizeof ml)
				strcat(ml, t);
			if (ha && strlen(al) + strlen(t) < sizeof al)
				strcat(al, t);
		}
		gp_text(gp.s, "fig_title", title);
		gp_text(gp.s, "xlabel", xlabel);
		gp_text(gp.s, "ylabel", metric_label(mn));
		snprintf(t, sizeof t, "detection threshold (p-value %g)", R->alpha);
		if (strcmp(mn, "ber"))
			strlcopy(t, "detection threshold (controls)", sizeof t);
		gp_text(gp.s, "thr_title", t);
		has_thr = 0;
		for (int i = 0; i < ls.n; i++)
			has_thr |= isfinite(ls.l[i].thr);
		fprintf(gp.s, "logx = %d\n", xmin > 0 && xmax / xmin >= 50);
		tw = gp_axis(gp.s, "m", 0, ymax, 1);
		aw = gp_axis(gp.s, "acc", amin, amax, 0);
		fprintf(gp.s, "ytic_w = %d\n", tw > aw ? tw : aw);
		fprintf(gp.s, "metric_lines = '%s'\nacc_lines = '%s'\n", ml, al);
		xtics_list(gp.s, &ls);
		gp_lines(gp.s, &ls, has_thr ? text_width(t) : 0);
	}
	rc = gp_end(R, &gp, fg, err, errlen);
out:
	lineset_free(&ls);
	return rc;
}

static int fig_robustness(struct report *R, char *err, size_t errlen)
{
	int *gi = xcalloc((size_t)R->ng + 1, sizeof *gi);
	char done[64][RESULT_NAMELEN];
	int ndone = 0, rc = 0, any = 0;

	for (int k = 0; k < R->ng && !rc; k++) {
		const char *attack = R->g[k].rep->attack;
		char keys[MAXKEYS][RESULT_KEYLEN], title[LABELLEN], stem[96], why[LABELLEN];
		const char *sweep = NULL;
		int ng = 0, nk, seen = 0, nber = 0, nacc = 0, nother = 0;
		const char *other = NULL;

		if (strcmp(R->g[k].rep->kind, "attack") || !R->g[k].n)
			continue;
		for (int i = 0; i < ndone; i++)
			seen |= !strcmp(done[i], attack);
		if (seen || ndone >= 64)
			continue;
		strlcopy(done[ndone++], attack, RESULT_NAMELEN);
		any = 1;
		for (int j = 0; j < R->ng; j++)
			if (!strcmp(R->g[j].rep->kind, "attack") && R->g[j].n &&
			    !strcmp(R->g[j].rep->attack, attack))
				gi[ng++] = j;
		nk = attack_keys(R, gi, ng, keys);
		for (int i = 0; i < nk && !sweep; i++)
			if (key_varies(R, gi, ng, keys[i], 1))
				sweep = keys[i];
		snprintf(stem, sizeof stem, "robustness_%.40s", attack);
		snprintf(title, sizeof title, "Robustness to %s", attack);
		if (!sweep) {
			snprintf(why, sizeof why,
				 "no numeric parameter of attack %s varies across its jobs",
				 attack);
			fig_skip(R, stem, title, why);
			continue;
		}
		for (int a = 0; a < ng; a++) {
			const char *mn = R->g[gi[a]].metric_name;

			if (!mn[0] || !isfinite(R->g[gi[a]].st[M_METRIC].mean))
				continue;
			if (!strcmp(mn, "ber"))
				nber = 1;
			else if (!strcmp(mn, "wm_acc"))
				nacc = 1;
			else if (!other || !strcmp(other, mn)) {
				other = mn;
				nother = 1;
			}
		}
		if (nber + nacc + nother == 0) {
			snprintf(why, sizeof why,
				 "attack %s has no verified watermark (only unmarked models)",
				 attack);
			fig_skip(R, stem, title, why);
			continue;
		}
		if (nber)
			rc = robustness_one(R, attack, gi, ng, sweep, "ber",
					    nber + nacc + nother > 1, err, errlen);
		if (!rc && nacc)
			rc = robustness_one(R, attack, gi, ng, sweep, "wm_acc",
					    nber + nacc + nother > 1, err, errlen);
		if (!rc && nother)
			rc = robustness_one(R, attack, gi, ng, sweep, other,
					    nber + nacc + nother > 1, err, errlen);
	}
	if (!any)
		fig_skip(R, "robustness", "Robustness curves",
			 "the run has no successful attack jobs");
	free(gi);
	return rc;
}

/* ------------------------------------------------------------- tradeoff -- */

static int fig_tradeoff(struct report *R, char *err, size_t errlen)
{
	static const char title[] = "Accuracy lost vs. watermark retained";
	struct lineset ls = {0};
	double xmin = 0, xmax = 100 * LOST_MAX + 1, ymin = 0, thr = INFINITY, thr_max = -INFINITY;
	int nber = 0, nacc = 0, rc = -1;
	struct fig *fg;
	struct gp gp;

	for (int k = 0; k < R->ng; k++) {
		const struct group *g = &R->g[k];
		double x = 100 * g->st[M_DROP].mean;
		double y = retained(g->metric_name, g->st[M_METRIC].mean);

		if (strcmp(g->rep->kind, "attack") || !isfinite(x) || !isfinite(y))
			continue;
		line_add(line_get(&ls, g->rep, ""), k, x);
		nber |= !strcmp(g->metric_name, "ber");
		nacc |= strcmp(g->metric_name, "ber") != 0;
	}
	if (!ls.n) {
		fig_skip(R, "tradeoff", title,
			 "no attack job has both a watermark metric and test accuracies");
		rc = 0;
		goto out;
	}
	lineset_finish(R, &ls);
	fg = fig_add(R, "tradeoff", title,
		     "Each point is one attack setting (mean over seeds). Shaded: the attack "
		     "succeeds (under 5 points of accuracy lost and the watermark below the "
		     "detection threshold; the lowest threshold of the plotted schemes).");
	if (!fg) {
		rc = 0;
		goto out;
	}
	if (gp_begin(R, &gp, fg, "tradeoff.gp", 3.5, 2.2 + 0.13 * (ls.n + 1), 800,
		     460 + 22 * (ls.n + 1), err, errlen))
		goto out;
	for (int i = 0; i < ls.n; i++) {
		struct line *l = &ls.l[i];
		const struct group *g0 = &R->g[l->g[0]];
		double t = line_threshold(R, l, g0->metric_name, g0->capacity);

		t = retained(g0->metric_name, t);
		if (isfinite(t) && t < thr)
			thr = t;
		if (isfinite(t) && t > thr_max)
			thr_max = t;
		fprintf(gp.d, "%s# line %d\n", i ? "\n\n" : "", i + 1);
		for (int j = 0; j < l->ng; j++) {
			const struct group *g = &R->g[l->g[j]];
			double y = retained(g->metric_name, g->st[M_METRIC].mean);

			fprintf(gp.d, "%.10g", l->x[j]);
			dat_num(gp.d, y);
			fprintf(gp.d, " %d\n", g->n);
			if (l->x[j] < xmin)
				xmin = l->x[j];
			if (l->x[j] > xmax)
				xmax = l->x[j];
			if (y < ymin)
				ymin = y;
		}
	}
	R->tradeoff_thr_spread = isfinite(thr) && thr_max > thr;
	{
		double pad = 0.04 * (xmax - xmin);

		gp_text(gp.s, "fig_title", title);
		gp_text2(gp.s, "ylabel",
			 nber && !nacc ? "watermark retained (1 - BER)"
			 : !nber       ? "watermark accuracy"
				       : "watermark retained (1 - BER, or accuracy)",
			 nber && !nacc ? "1 - BER"
			 : !nber       ? "watermark accuracy"
				       : "1 - BER or accuracy");
		const char *note = isfinite(thr) ? "5 points lost / detection threshold"
						 : "5 points of accuracy lost";

		gp_text(gp.s, "thr_note", note);
		gp_num(gp.s, "xmin", xmin - pad);
		gp_num(gp.s, "xmax", xmax + pad);
		gp_num(gp.s, "ymin", ymin < 0 ? ymin - 0.02 : 0);
		gp_num(gp.s, "ymax", 1.05);
		gp_num(gp.s, "thr_y", isfinite(thr) ? thr : NAN);
		gp_lines(gp.s, &ls, text_width(note));
	}
	rc = gp_end(R, &gp, fg, err, errlen);
out:
	lineset_free(&ls);
	return rc;
}

/* ------------------------------------------------------------- capacity -- */

/* The scheme parameters that are the capacity itself (e.g. bits=64), as a
 * parameter string with those items removed. */
static void capacity_rest(const struct report *R, const struct group *g0, char *rest, size_t len)
{
	char k[RESULT_VALLEN * 3], v[RESULT_VALLEN * 3], tmp[LABELLEN];

	strlcopy(rest, g0->rep->scheme_params, len);
	for (int i = 0; pitem(g0->rep->scheme_params, i, k, sizeof k, v, sizeof v); i++) {
		int all = 1, any = 0;

		for (int j = 0; j < R->ng && all; j++) {
			const struct group *g = &R->g[j];
			char w[RESULT_VALLEN * 3];
			double x;

			if (strcmp(g->rep->kind, "embed") ||
			    strcmp(g->rep->scheme, g0->rep->scheme) ||
			    strcmp(g->metric_name, "ber") || !g->n)
				continue;
			any = 1;
			all = !pget(g->rep->scheme_params, k, w, sizeof w) && is_num(w, &x) &&
			      x == g->capacity;
		}
		if (all && any) {
			pdel(rest, k, tmp, sizeof tmp);
			strlcopy(rest, tmp, len);
		}
	}
}

static int fig_capacity(struct report *R, char *err, size_t errlen)
{
	static const char title[] = "Capacity: BER and accuracy cost";
	struct lineset ls = {0}, keep = {0};
	double xmin = INFINITY, xmax = 0, ber_max = 0.01, cmin = 0, cmax = 0;
	int tw, cw;
	int rc = -1;
	struct fig *fg;
	struct gp gp;

	for (int k = 0; k < R->ng; k++) {
		const struct group *g = &R->g[k];
		char rest[LABELLEN];

		if (strcmp(g->rep->kind, "embed") || strcmp(g->metric_name, "ber") || !g->n ||
		    !isfinite(g->capacity))
			continue;
		capacity_rest(R, g, rest, sizeof rest);
		line_add(line_get(&ls, g->rep, rest), k, g->capacity);
	}
	/* a line is a curve of one scheme over capacities: rep params must not
	 * tell lines apart beyond rest, so regroup by (scheme, rest) */
	for (int i = 0; i < ls.n; i++) {
		struct line *l = &ls.l[i], *m = NULL;

		for (int j = 0; j < keep.n && !m; j++)
			if (!strcmp(keep.l[j].rep->scheme, l->rep->scheme) &&
			    !strcmp(keep.l[j].rest, l->rest))
				m = &keep.l[j];
		if (!m)
			m = line_get(&keep, l->rep, l->rest);
		for (int j = 0; j < l->ng; j++)
			line_add(m, l->g[j], l->x[j]);
	}
	lineset_free(&ls);
	for (int i = 0; i < keep.n; i++) {
		struct line *l = &keep.l[i];
		int distinct = 1;

		for (int j = 1; j < l->ng; j++)
			distinct += l->x[j] != l->x[j - 1];
		if (distinct < 2) {
			free(l->g);
			free(l->x);
			keep.l[i--] = keep.l[--keep.n];
		}
	}
	if (!keep.n) {
		fig_skip(R, "capacity", title,
			 "no multi-bit scheme has embed jobs at two or more capacities");
		rc = 0;
		goto out;
	}
	/* labels: scheme (+ other params) only, since params hold the capacity */
	lineset_finish(R, &keep);
	for (int i = 0; i < keep.n; i++) {
		struct line *l = &keep.l[i];
		char t[LABELLEN];

		const char **o = xmalloc((size_t)keep.n * sizeof *o);
		char d[LABELLEN];
		int no = 0;

		/* only the other parameters that tell this scheme's lines apart */
		for (int j = 0; j < keep.n; j++)
			if (!strcmp(keep.l[j].rep->scheme, l->rep->scheme))
				o[no++] = keep.l[j].rest;
		pvarying(l->rest, o, no, d, sizeof d);
		free(o);
		clean_text(l->rep->scheme, l->label, sizeof l->label);
		if (d[0]) {
			ppretty(d, t, sizeof t);
			cat(l->label, sizeof l->label, " (");
			cat(l->label, sizeof l->label, t);
			cat(l->label, sizeof l->label, ")");
		}
	}
	fg = fig_add(
	    R, "capacity", title,
	    "BER right after embedding (top) and test accuracy lost against the clean model of the "
	    "same seed (bottom), against the number of embedded bits; mean and sd over seeds.");
	if (!fg) {
		rc = 0;
		goto out;
	}
	if (gp_begin(R, &gp, fg, "capacity.gp", 3.5, 3.3 + 0.13 * keep.n, 800, 620 + 22 * keep.n,
		     err, errlen))
		goto out;
	for (int i = 0; i < keep.n; i++) {
		struct line *l = &keep.l[i];

		fprintf(gp.d, "%s# line %d\n", i ? "\n\n" : "", i + 1);
		for (int j = 0; j < l->ng; j++) {
			const struct group *g = &R->g[l->g[j]];
			const struct mstat *m = &g->st[M_METRIC], *d = &g->st[M_DROP];

			if (isfinite(m->mean) && m->mean + sd0(m->sd) > ber_max)
				ber_max = m->mean + sd0(m->sd);
			if (isfinite(d->mean) && 100 * (d->mean - sd0(d->sd)) < cmin)
				cmin = 100 * (d->mean - sd0(d->sd));
			if (isfinite(d->mean) && 100 * (d->mean + sd0(d->sd)) > cmax)
				cmax = 100 * (d->mean + sd0(d->sd));
			fprintf(gp.d, "%.10g", l->x[j]);
			dat_num(gp.d, m->mean);
			dat_num(gp.d, isfinite(m->sd) ? m->sd : 0);
			dat_num(gp.d, 100 * d->mean);
			dat_num(gp.d, isfinite(d->sd) ? 100 * d->sd : 0);
			fprintf(gp.d, " %d\n", g->n);
			if (l->x[j] < xmin)
				xmin = l->x[j];
			if (l->x[j] > xmax)
				xmax = l->x[j];
		}
	}
	gp_text(gp.s, "fig_title", title);
	fprintf(gp.s, "logx = %d\n", xmin > 0 && xmax / xmin >= 4);
	tw = gp_axis(gp.s, "ber", 0, ber_max, 1);
	cw = gp_axis(gp.s, "cost", cmin, cmax, 1);
	fprintf(gp.s, "ytic_w = %d\n", tw > cw ? tw : cw);
	xtics_list(gp.s, &keep);
	gp_lines(gp.s, &keep, 0);
	rc = gp_end(R, &gp, fg, err, errlen);
out:
	lineset_free(&keep);
	return rc;
}

/* -------------------------------------------------------------- heatmap -- */

struct axis_item {
	const struct result_row *rep;
	char label[LABELLEN];
};

static int fig_heatmap(struct report *R, char *err, size_t errlen)
{
	static const char title[] = "Attack success rate";
	struct axis_item *rows = xcalloc((size_t)R->ng + 1, sizeof *rows);
	struct axis_item *cols = xcalloc((size_t)R->ng + 1, sizeof *cols);
	struct widths cw = {0, 0, 0}, rw = {0, 0, 0};
	int nr = 0, nc = 0, rc = -1;
	struct fig *fg;
	struct gp gp;

	for (int k = 0; k < R->ng; k++) {
		const struct result_row *r = R->g[k].rep;
		int fr = 0, fc = 0;

		if (strcmp(r->kind, "attack") || !R->g[k].st[M_SUCCESS].n)
			continue;
		for (int i = 0; i < nr && !fr; i++)
			fr = !strcmp(rows[i].rep->scheme, r->scheme) &&
			     !strcmp(rows[i].rep->scheme_params, r->scheme_params);
		for (int i = 0; i < nc && !fc; i++)
			fc = !strcmp(cols[i].rep->attack, r->attack) &&
			     !strcmp(cols[i].rep->attack_params, r->attack_params);
		if (!fr)
			rows[nr++].rep = r;
		if (!fc)
			cols[nc++].rep = r;
	}
	if (!nr) {
		fig_skip(R, "success_heatmap", title,
			 "no attack job on a marked model succeeded in running");
		rc = 0;
		goto out;
	}
	/* groups are sorted by scheme, so rows are in order; sort columns */
	for (int i = 1; i < nc; i++)
		for (int j = i; j > 0; j--) {
			const struct result_row *a = cols[j - 1].rep, *b = cols[j].rep;
			int c = strcmp(a->attack, b->attack);
			struct axis_item t;

			if (!c)
				c = pcmp(a->attack_params, b->attack_params);
			if (c <= 0)
				break;
			t = cols[j];
			cols[j] = cols[j - 1];
			cols[j - 1] = t;
		}
	for (int i = 0; i < nr; i++) {
		int sp_varies = 0;
		char t[LABELLEN];

		for (int j = 0; j < nr; j++)
			sp_varies |= !strcmp(rows[j].rep->scheme, rows[i].rep->scheme) &&
				     strcmp(rows[j].rep->scheme_params, rows[i].rep->scheme_params);
		clean_text(rows[i].rep->scheme, rows[i].label, LABELLEN);
		if (sp_varies && rows[i].rep->scheme_params[0]) {
			const char **o = xmalloc((size_t)nr * sizeof *o);
			char d[LABELLEN];
			int no = 0;

			for (int j = 0; j < nr; j++)
				if (!strcmp(rows[j].rep->scheme, rows[i].rep->scheme))
					o[no++] = rows[j].rep->scheme_params;
			pvarying(rows[i].rep->scheme_params, o, no, d, sizeof d);
			free(o);
			ppretty(d, t, sizeof t);
			cat(rows[i].label, LABELLEN, " (");
			cat(rows[i].label, LABELLEN, t);
			cat(rows[i].label, LABELLEN, ")");
		}
	}
	for (int i = 0; i < nc; i++) {
		const struct result_row *r = cols[i].rep;
		char k[RESULT_VALLEN * 3], v[RESULT_VALLEN * 3], t[LABELLEN];
		int same[MAXKEYS] = {0};
		char shown[LABELLEN] = "";

		/* show only the attack parameters that differ between its columns */
		for (int p = 0; p < MAXKEYS && pitem(r->attack_params, p, k, sizeof k, v, sizeof v);
		     p++) {
			same[p] = 1;
			for (int j = 0; j < nc && same[p]; j++) {
				char w[RESULT_VALLEN * 3];

				if (strcmp(cols[j].rep->attack, r->attack))
					continue;
				same[p] = !pget(cols[j].rep->attack_params, k, w, sizeof w) &&
					  !strcmp(w, v);
			}
			if (!same[p]) {
				snprintf(t, sizeof t, "%s%.100s=%.300s", shown[0] ? ", " : "", k,
					 v);
				cat(shown, sizeof shown, t);
			}
		}
		clean_text(r->attack, cols[i].label, LABELLEN);
		if (shown[0]) {
			clean_text(shown, t, sizeof t);
			cat(cols[i].label, LABELLEN, " ");
			cat(cols[i].label, LABELLEN, t);
		}
	}
	fg = fig_add(
	    R, "success_heatmap", title,
	    "Fraction of seeds in which the attack kept test accuracy within 5 points and the "
	    "watermark was not detected, per scheme (rows) and attack setting (columns).");
	if (!fg) {
		rc = 0;
		goto out;
	}
	/* cells of a readable size: wider than a column when there are many */
	if (gp_begin(R, &gp, fg, "heatmap.gp", fmin(7, fmax(3.5, 1.9 + 0.32 * nc)),
		     fmin(9, fmax(2.0, 1.0 + 0.3 * nr)), (int)fmin(1800, fmax(800, 420 + 72 * nc)),
		     (int)fmin(1600, fmax(480, 260 + 72 * nr)), err, errlen))
		goto out;
	for (int k = 0; k < R->ng; k++) {
		const struct group *g = &R->g[k];
		int ci = -1, ri = -1;

		if (strcmp(g->rep->kind, "attack") || !g->st[M_SUCCESS].n)
			continue;
		for (int i = 0; i < nr; i++)
			if (!strcmp(rows[i].rep->scheme, g->rep->scheme) &&
			    !strcmp(rows[i].rep->scheme_params, g->rep->scheme_params))
				ri = i;
		for (int i = 0; i < nc; i++)
			if (!strcmp(cols[i].rep->attack, g->rep->attack) &&
			    !strcmp(cols[i].rep->attack_params, g->rep->attack_params))
				ci = i;
		fprintf(gp.d, "%d %d", ci, ri);
		dat_num(gp.d, g->st[M_SUCCESS].mean);
		fprintf(gp.d, " %d\n", g->st[M_SUCCESS].n);
	}
	gp_text2(gp.s, "fig_title",
		 "Attack success rate (under 5 points lost, watermark not detected)", title);
	fprintf(gp.s, "ncols = %d\nnrows = %d\n", nc, nr);
	gp_decl(gp.s, "col_label", nc);
	gp_decl(gp.s, "row_label", nr);
	for (int i = 0; i < nc; i++)
		gp_label(gp.s, "col_label", i + 1, cols[i].label, TIC_MAX, TIC_MAX_PDF, &cw);
	for (int i = 0; i < nr; i++)
		gp_label(gp.s, "row_label", i + 1, rows[i].label, TIC_MAX, TIC_MAX_PDF, &rw);
	fprintf(gp.s, "col_w = %d\ncol_w_pdf = %d\nrow_w = %d\nrow_w_pdf = %d\n", cw.w, cw.w_pdf,
		rw.w, rw.w_pdf);
	rc = gp_end(R, &gp, fg, err, errlen);
out:
	free(rows);
	free(cols);
	return rc;
}

/* ----------------------------------------------------------------- cost -- */

/* Training time of the embed row relative to the clean training of its
 * seed (its parent, else the train row of the same seed). */
static double time_ratio(const struct report *R, const struct result_row *e)
{
	const struct result_row *t = NULL;

	for (int i = 0; i < R->nrows && !t; i++) {
		const struct result_row *r = &R->rows[i];

		if (!strcmp(r->kind, "train") && !strcmp(r->status, "ok") && e->parent_id[0] &&
		    !strcmp(r->job_id, e->parent_id))
			t = r;
	}
	for (int i = 0; i < R->nrows && !t; i++) {
		const struct result_row *r = &R->rows[i];

		if (!strcmp(r->kind, "train") && !strcmp(r->status, "ok") && r->seed == e->seed &&
		    !strcmp(r->dataset, e->dataset) && !strcmp(r->model, e->model))
			t = r;
	}
	if (!t || !(t->train_s > 0) || !isfinite(e->train_s))
		return NAN;
	return e->train_s / t->train_s;
}

static int fig_cost(struct report *R, char *err, size_t errlen)
{
	static const char title[] = "Cost of embedding";
	struct lineset ls = {0};
	char tl[4096] = "", t[32];
	double *v = xcalloc((size_t)R->nrows + 1, sizeof *v);
	struct widths bw = {0, 0, 0};
	double cmin = 0, cmax = 0, tmax = 1;
	int rc = -1;
	struct fig *fg;
	struct gp gp;

	for (int k = 0; k < R->ng; k++) {
		const struct group *g = &R->g[k];

		if (strcmp(g->rep->kind, "embed") || !isfinite(g->st[M_DROP].mean))
			continue;
		line_add(line_get(&ls, g->rep, ""), k, 0);
	}
	if (!ls.n) {
		fig_skip(
		    R, "embedding_cost", title,
		    "no embed job has the test accuracy of both the marked and the clean model");
		rc = 0;
		goto out;
	}
	lineset_finish(R, &ls);
	fg = fig_add(R, "embedding_cost", title,
		     "Test accuracy lost by embedding, against the clean model of the same seed "
		     "(left), and training time relative to clean training of the same seed "
		     "(right); mean and sd over seeds.");
	if (!fg) {
		rc = 0;
		goto out;
	}
	/* PNG: panels side by side; PDF: stacked */
	if (gp_begin(R, &gp, fg, "cost.gp", 3.5, 1.5 + 0.44 * ls.n, 800,
		     (int)fmin(1400, fmax(480, 240 + 60 * ls.n)), err, errlen))
		goto out;
	for (int i = 0; i < ls.n; i++) {
		const struct group *g = &R->g[ls.l[i].g[0]];
		const struct mstat *d = &g->st[M_DROP];
		struct mstat tr;

		for (int j = 0; j < g->n; j++)
			v[j] = time_ratio(R, &R->rows[g->ok[j]]);
		mstat_of(v, g->n, &tr);
		if (100 * (d->mean - sd0(d->sd)) < cmin)
			cmin = 100 * (d->mean - sd0(d->sd));
		if (100 * (d->mean + sd0(d->sd)) > cmax)
			cmax = 100 * (d->mean + sd0(d->sd));
		if (isfinite(tr.mean) && tr.mean + sd0(tr.sd) > tmax)
			tmax = tr.mean + sd0(tr.sd);
		fprintf(gp.d, "%s# bar %d\n%d", i ? "\n\n" : "", i + 1, i);
		dat_num(gp.d, 100 * g->st[M_DROP].mean);
		dat_num(gp.d, isfinite(g->st[M_DROP].sd) ? 100 * g->st[M_DROP].sd : 0);
		dat_num(gp.d, tr.mean);
		dat_num(gp.d, isfinite(tr.sd) ? tr.sd : 0);
		fprintf(gp.d, " %d\n", g->n);
		snprintf(t, sizeof t, " %d", i + 1);
		if (tr.n && strlen(tl) + strlen(t) < sizeof tl)
			strcat(tl, t);
	}
	gp_text(gp.s, "fig_title", title);
	fprintf(gp.s, "nbars = %d\ntime_bars = '%s'\n", ls.n, tl);
	{
		double pad = 0.08 * (cmax - cmin > 0 ? cmax - cmin : 1);

		gp_num(gp.s, "cost_min", cmin < 0 ? cmin - pad : 0);
		gp_num(gp.s, "cost_max", cmax + pad);
		gp_num(gp.s, "cost_step", nice_step(cmax - cmin + pad));
		gp_num(gp.s, "time_max", 1.1 * tmax);
		gp_num(gp.s, "time_step", nice_step(1.6 * tmax)); /* a narrow panel */
	}
	gp_decl(gp.s, "bar_label", ls.n);
	fprintf(gp.s, "array bar_color[%d]\n", ls.n);
	for (int i = 0; i < ls.n; i++) {
		gp_label(gp.s, "bar_label", i + 1, ls.l[i].label, TIC_MAX, TIC_MAX_PDF, &bw);
		fprintf(gp.s, "bar_color[%d] = '%s'\n", i + 1, ls.l[i].st.color);
	}
	fprintf(gp.s, "bar_w = %d\nbar_w_pdf = %d\n", bw.w, bw.w_pdf);
	rc = gp_end(R, &gp, fg, err, errlen);
out:
	free(v);
	lineset_free(&ls);
	return rc;
}

/* ---------------------------------------------------------- report.md --- */

static void md_text(FILE *f, const char *s)
{
	char t[LABELLEN * 2];

	clean_text(s, t, sizeof t);
	for (const char *p = t; *p; p++) {
		if (strchr("\\`*_[]<>|#!~&$", *p))
			fputc('\\', f);
		fputc(*p, f);
	}
}

static void html_text(FILE *f, const char *s)
{
	char t[LABELLEN * 2];

	clean_text(s, t, sizeof t);
	for (const char *p = t; *p; p++) {
		switch (*p) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(*p, f);
		}
	}
}

/* report.md and report.html, written side by side. */
struct doc {
	FILE *md, *html;
};

static void fmt_num(char *buf, size_t len, double v, const char *fmt)
{
	if (isfinite(v))
		snprintf(buf, len, fmt, v);
	else
		strlcopy(buf, "\xe2\x80\x93", len); /* en dash */
}

static void fmt_ms(char *buf, size_t len, const struct mstat *s, double scale, const char *fmt)
{
	char a[32], b[32];

	fmt_num(a, sizeof a, scale * s->mean, fmt);
	if (isfinite(s->sd)) {
		fmt_num(b, sizeof b, scale * s->sd, fmt);
		snprintf(buf, len, "%s \xc2\xb1 %s", a, b);
	} else {
		strlcopy(buf, a, len);
	}
}

/* A table row; columns from num on hold numbers (right-aligned). */
static void d_row(struct doc *d, const char *const *cell, int n, int num, int header)
{
	fputs("|", d->md);
	fputs("<tr>", d->html);
	for (int i = 0; i < n; i++) {
		fputc(' ', d->md);
		md_text(d->md, cell[i]);
		fputs(" |", d->md);
		fputs(header ? "<th>" : i >= num ? "<td class=\"n\">" : "<td>", d->html);
		html_text(d->html, cell[i]);
		fputs(header ? "</th>" : "</td>", d->html);
	}
	fputs("\n", d->md);
	fputs("</tr>\n", d->html);
	if (header) {
		fputs("|", d->md);
		for (int i = 0; i < n; i++)
			fputs(i >= num ? " ---: |" : " --- |", d->md);
		fputs("\n", d->md);
	}
}

static void d_kv(struct doc *d, const char *key, const char *val)
{
	fputs("- ", d->md);
	md_text(d->md, key);
	fputs(": ", d->md);
	md_text(d->md, val);
	fputs("\n", d->md);
	fputs("<li>", d->html);
	html_text(d->html, key);
	fputs(": ", d->html);
	html_text(d->html, val);
	fputs("</li>\n", d->html);
}

static void d_heading(struct doc *d, int level, const char *s)
{
	for (int i = 0; i < level; i++)
		fputc('#', d->md);
	fputc(' ', d->md);
	md_text(d->md, s);
	fputs("\n\n", d->md);
	fprintf(d->html, "<h%d>", level);
	html_text(d->html, s);
	fprintf(d->html, "</h%d>\n", level);
}

static void d_para(struct doc *d, const char *s)
{
	md_text(d->md, s);
	fputs("\n\n", d->md);
	fputs("<p>", d->html);
	html_text(d->html, s);
	fputs("</p>\n", d->html);
}

static void d_provenance(struct report *R, struct doc *d)
{
	static const char *const keys[][2] = {
	    {"wmbench_version", "wmbench version of the run"},
	    {"job_file", "job file"},
	    {"job_file_sha256", "job file SHA-256"},
	    {"ranks", "MPI ranks"},
	    {"jobs", "jobs"},
	    {"start", "start"},
	    {"end", "end"},
	    {"cpu", "CPU"},
	    {"dataset", "dataset"},
	};
	char v[512], t[512];

	d_heading(d, 2, "Provenance");
	fputs("<ul>\n", d->html);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (R->json && !runjson_get(R->json, keys[i][0], v, sizeof v))
			d_kv(d, keys[i][1], v);
	snprintf(t, sizeof t,
		 "%d jobs (%d ok, %d failed, %d skipped); %d rows read, %d superseded by a later "
		 "row of the same job",
		 R->nrows, R->nok, R->nfailed, R->nskipped, R->nlines_read, R->nsuperseded);
	d_kv(d, "results.csv", t);
	d_kv(d, "results.csv SHA-256", R->results_sha);
	snprintf(t, sizeof t, "%g%s", R->alpha,
		 R->alpha_from_run ? " (from run.json)" : " (default; run.json has no alpha)");
	d_kv(d, "significance level alpha for the BER thresholds", t);
	d_kv(d, "report written by wmbench", R->version);
	fputs("</ul>\n", d->html);
	fputs("\n", d->md);
	if (R->truncated_line) {
		snprintf(t, sizeof t,
			 "Note: line %d of results.csv is an incomplete last row (the run was "
			 "interrupted while writing it) and was left out.",
			 R->truncated_line);
		d_para(d, t);
	}
	if (R->json) {
		char *clean = xmalloc(strlen(R->json) + 1);
		int run = 0, maxrun = 0, fence;

		clean_text2(R->json, clean, strlen(R->json) + 1, 1);
		for (const char *p = clean; *p; p++) {
			run = *p == '`' ? run + 1 : 0;
			if (run > maxrun)
				maxrun = run;
		}
		fence = maxrun >= 3 ? maxrun + 1 : 3;
		d_para(d, "run.json:");
		for (int i = 0; i < fence; i++)
			fputc('`', d->md);
		fputs("json\n", d->md);
		fputs(clean, d->md);
		if (clean[0] && clean[strlen(clean) - 1] != '\n')
			fputc('\n', d->md);
		for (int i = 0; i < fence; i++)
			fputc('`', d->md);
		fputs("\n\n", d->md);
		fputs("<pre>", d->html);
		for (char *line = clean, *nl; line && *line; line = nl) {
			nl = strchr(line, '\n');
			if (nl)
				*nl++ = 0;
			html_text(d->html, line);
			fputc('\n', d->html);
		}
		fputs("</pre>\n", d->html);
		free(clean);
	} else {
		d_para(d, "No run.json in the run directory.");
	}
}

static void d_figures(struct report *R, struct doc *d)
{
	int skipped = 0;

	d_heading(d, 2, "Figures");
	for (int i = 0; i < R->nfig; i++) {
		const struct fig *fg = &R->fig[i];
		const char *st = fg->stem;

		if (!fg->made)
			continue;
		d_heading(d, 3, fg->title);
		fprintf(d->md, "![");
		md_text(d->md, fg->title);
		fprintf(d->md, "](%s.png)\n\n", st);
		md_text(d->md, fg->what);
		fprintf(d->md,
			" Files: [PDF](%s.pdf), [SVG](%s.svg), [gnuplot script](%s.gp), "
			"[data](%s.dat)%s%s%s.\n\n",
			st, st, st, st, R->flags & REPORT_LATEX ? ", [LaTeX](" : "",
			R->flags & REPORT_LATEX ? st : "",
			R->flags & REPORT_LATEX ? "_latex.tex)" : "");
		fprintf(d->html, "<figure><img src=\"%s.png\" alt=\"", st);
		html_text(d->html, fg->title);
		fputs("\"><figcaption>", d->html);
		html_text(d->html, fg->what);
		fprintf(d->html,
			" Files: <a href=\"%s.pdf\">PDF</a>, <a href=\"%s.svg\">SVG</a>, <a "
			"href=\"%s.gp\">gnuplot script</a>, <a "
			"href=\"%s.dat\">data</a>%s%s%s.</figcaption></figure>\n",
			st, st, st, st, R->flags & REPORT_LATEX ? ", <a href=\"" : "",
			R->flags & REPORT_LATEX ? st : "",
			R->flags & REPORT_LATEX ? "_latex.tex\">LaTeX</a>" : "");
	}
	for (int i = 0; i < R->nfig; i++)
		skipped += !R->fig[i].made;
	if (skipped) {
		d_para(d, "Figures left out because the run has no data for them:");
		fputs("<ul>\n", d->html);
		for (int i = 0; i < R->nfig; i++)
			if (!R->fig[i].made)
				d_kv(d, R->fig[i].title, R->fig[i].why);
		fputs("</ul>\n", d->html);
		fputs("\n", d->md);
	}
	if (R->warn[0]) {
		char t[1200];

		snprintf(t, sizeof t, "gnuplot printed warnings, kept in: %s.", R->warn);
		d_para(d, t);
	}
}

static void d_summary(struct report *R, struct doc *d)
{
	static const char *const head[] = {
	    "kind",
	    "scheme",
	    "scheme params",
	    "attack",
	    "attack params",
	    "n",
	    "failed",
	    "metric",
	    "mean \xc2\xb1 sd",
	    "p-value",
	    "detected",
	    "accuracy (%)",
	    "accuracy lost (points)",
	    "attack success",
	};
	enum { NH = sizeof head / sizeof head[0] };

	d_heading(d, 2, "Summary");
	d_para(d, "Mean \xc2\xb1 sample sd over seeds of the jobs that ran (summary.csv adds 95% "
		  "confidence half-widths and wall times). Accuracy lost: before minus after the "
		  "attack, or clean minus marked model for embedding.");
	fputs("<table>\n", d->html);
	d_row(d, head, NH, 5, 1);
	for (int k = 0; k < R->ng; k++) {
		const struct group *g = &R->g[k];
		char n[16], nf[16], m[96], pv[32], det[32], acc[96], drop[96], suc[32],
		    sp[LABELLEN], ap[LABELLEN];
		const char *cell[NH];

		snprintf(n, sizeof n, "%d", g->n);
		snprintf(nf, sizeof nf, "%d", g->n_failed);
		fmt_ms(m, sizeof m, &g->st[M_METRIC], 1, "%.3g");
		fmt_num(pv, sizeof pv, g->st[M_PVALUE].mean, "%.2g");
		fmt_num(det, sizeof det, g->st[M_DETECTED].mean, "%.2f");
		fmt_ms(acc, sizeof acc, &g->st[M_ACC], 100, "%.2f");
		fmt_ms(drop, sizeof drop, &g->st[M_DROP], 100, "%.2f");
		fmt_num(suc, sizeof suc, g->st[M_SUCCESS].mean, "%.2f");
		ppretty(g->rep->scheme_params, sp, sizeof sp);
		ppretty(g->rep->attack_params, ap, sizeof ap);
		cell[0] = g->rep->kind;
		cell[1] = g->rep->scheme;
		cell[2] = sp;
		cell[3] = g->rep->attack;
		cell[4] = ap;
		cell[5] = n;
		cell[6] = nf;
		cell[7] = g->metric_name;
		cell[8] = m;
		cell[9] = pv;
		cell[10] = det;
		cell[11] = acc;
		cell[12] = drop;
		cell[13] = suc;
		d_row(d, cell, NH, 5, 0);
	}
	fputs("</table>\n", d->html);
	fputs("\n", d->md);
}

static void d_controls(struct report *R, struct doc *d)
{
	static const char *const head[] = {
	    "scheme",
	    "scheme params",
	    "metric",
	    "controls",
	    "false positives",
	    "FPR",
	    "FPR 95% CI (Clopper-Pearson)",
	    "empirical threshold",
	};
	enum { NH = sizeof head / sizeof head[0] };

	d_heading(d, 2, "Controls: false-positive rate");
	if (!R->has_controls) {
		d_para(
		    d,
		    "The run has no control jobs (unmarked models verified with the owner's key).");
		return;
	}
	d_para(d, "Unmarked control models verified with the owner's key: every detection is a "
		  "false positive. Empirical threshold: the 5% quantile of the control BER (detect "
		  "below it) or the 95% quantile of an accuracy-type metric (detect above it).");
	fputs("<table>\n", d->html);
	d_row(d, head, NH, 3, 1);
	for (int k = 0; k < R->ng; k++) {
		const struct group *g = &R->g[k];
		char n[16], fp[16], fpr[32], ci[64], thr[32], lo[24], hi[24], sp[LABELLEN];
		const char *cell[NH];
		struct ctrl c;

		if (strcmp(g->rep->kind, "control") || !g->metric_name[0])
			continue;
		control_stats(R, g, &c);
		snprintf(n, sizeof n, "%d", c.n);
		snprintf(fp, sizeof fp, "%d", c.fp);
		fmt_num(fpr, sizeof fpr, c.fpr, "%.3f");
		fmt_num(lo, sizeof lo, c.lo, "%.4f");
		fmt_num(hi, sizeof hi, c.hi, "%.4f");
		snprintf(ci, sizeof ci, "[%s, %s]", lo, hi);
		fmt_num(thr, sizeof thr, c.thr, "%.4g");
		ppretty(g->rep->scheme_params, sp, sizeof sp);
		cell[0] = g->rep->scheme;
		cell[1] = sp;
		cell[2] = g->metric_name;
		cell[3] = n;
		cell[4] = fp;
		cell[5] = fpr;
		cell[6] = ci;
		cell[7] = thr;
		d_row(d, cell, NH, 3, 0);
	}
	fputs("</table>\n", d->html);
	fputs("\n", d->md);
}

static int write_docs(struct report *R, char *err, size_t errlen)
{
	char mdpath[FILELEN], htpath[FILELEN], t[LABELLEN];
	struct doc d;
	int rc;

	snprintf(mdpath, sizeof mdpath, "%s/report.md", R->repdir);
	snprintf(htpath, sizeof htpath, "%s/report.html", R->repdir);
	d.md = fopen(mdpath, "w");
	if (!d.md)
		return errf(err, errlen, "%s: cannot write: %s", mdpath, strerror(errno));
	d.html = fopen(htpath, "w");
	if (!d.html) {
		fclose(d.md);
		return errf(err, errlen, "%s: cannot write: %s", htpath, strerror(errno));
	}
	snprintf(t, sizeof t, "wmbench report: %s", R->name);
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>",
	      d.html);
	html_text(d.html, t);
	fputs("</title>\n<style>\n"
	      "body{font-family:Helvetica,Arial,sans-serif;max-width:72em;margin:2em "
	      "auto;padding:0 1em;color:#222}\n"
	      "table{border-collapse:collapse;font-size:90%}\n"
	      "th,td{border:1px solid #ccc;padding:.2em .5em;text-align:left}\n"
	      "td.n{text-align:right}\n"
	      "img{max-width:100%}\nfigure{margin:1em 0 2em}\n"
	      "pre{background:#f6f6f6;padding:.5em;overflow-x:auto}\n"
	      "</style>\n</head>\n<body>\n",
	      d.html);
	d_heading(&d, 1, t);
	d_provenance(R, &d);
	d_figures(R, &d);
	d_summary(R, &d);
	d_controls(R, &d);
	fputs("</body>\n</html>\n", d.html);
	rc = file_error(d.md, mdpath, err, errlen);
	if (file_error(d.html, htpath, err, errlen))
		rc = -1;
	return rc;
}

/* --------------------------------------------------------------- bundle -- */

static int tar_fail(struct archive *a, const char *path, char *err, size_t errlen)
{
	return errf(err, errlen, "%s: cannot write the bundle: %s", path,
		    archive_error_string(a) ? archive_error_string(a) : "unknown libarchive error");
}

static int tar_dir(struct archive *a, const char *tarpath, const char *name, time_t mtime,
		   char *err, size_t errlen)
{
	struct archive_entry *e = archive_entry_new();
	int rc = 0;

	if (!e)
		return errf(err, errlen, "%s: out of memory", tarpath);
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFDIR);
	archive_entry_set_perm(e, 0755);
	archive_entry_set_mtime(e, mtime, 0);
	if (archive_write_header(a, e) != ARCHIVE_OK)
		rc = tar_fail(a, tarpath, err, errlen);
	archive_entry_free(e);
	return rc;
}

/* Adds the regular file src as name; anything else is left out. */
static int tar_file(struct archive *a, const char *tarpath, const char *src, const char *name,
		    char *err, size_t errlen)
{
	struct archive_entry *e;
	struct stat st;
	char buf[65536];
	FILE *f;
	size_t n;
	int rc = 0;

	if (lstat(src, &st) || !S_ISREG(st.st_mode))
		return 0;
	f = fopen(src, "rb");
	if (!f)
		return errf(err, errlen, "%s: cannot open: %s", src, strerror(errno));
	e = archive_entry_new();
	if (!e) {
		fclose(f);
		return errf(err, errlen, "%s: out of memory", tarpath);
	}
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, st.st_size);
	archive_entry_set_mtime(e, st.st_mtime, 0);
	if (archive_write_header(a, e) != ARCHIVE_OK) {
		rc = tar_fail(a, tarpath, err, errlen);
		goto out;
	}
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		if (archive_write_data(a, buf, n) != (la_ssize_t)n) {
			rc = tar_fail(a, tarpath, err, errlen);
			goto out;
		}
	if (ferror(f))
		rc = errf(err, errlen, "%s: cannot read: %s", src, strerror(errno ? errno : EIO));
out:
	archive_entry_free(e);
	fclose(f);
	return rc;
}

static int bundle(struct report *R, char *err, size_t errlen)
{
	char abs[PATH_MAX], tarpath[PATH_MAX + 16], tmp[PATH_MAX + 32], src[FILELEN + 300];
	char name[PATH_MAX + 300];
	const char *base;
	struct dirent **ents = NULL;
	struct archive *a;
	int nents, rc = -1;
	time_t now = time(NULL);

	if (!realpath(R->rundir, abs))
		return errf(err, errlen, "%s: cannot resolve: %s", R->rundir, strerror(errno));
	base = strrchr(abs, '/');
	base = base ? base + 1 : abs;
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return errf(err, errlen,
			    "%s: cannot bundle the root directory; expected a run directory",
			    R->rundir);
	snprintf(tarpath, sizeof tarpath, "%s.tar.gz", abs);
	snprintf(tmp, sizeof tmp, "%s.tmp", tarpath);
	a = archive_write_new();
	if (!a)
		return errf(err, errlen, "%s: out of memory", tarpath);
	if (archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
	    archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_open_filename(a, tmp) != ARCHIVE_OK) {
		rc = tar_fail(a, tmp, err, errlen);
		archive_write_free(a);
		return rc;
	}
	nents = scandir(R->repdir, &ents, NULL, alphasort);
	if (nents < 0) {
		errf(err, errlen, "%s: cannot list: %s", R->repdir, strerror(errno));
		goto out;
	}
	if (tar_dir(a, tmp, base, now, err, errlen))
		goto out;
	snprintf(src, sizeof src, "%s/results.csv", R->rundir);
	snprintf(name, sizeof name, "%s/results.csv", base);
	if (tar_file(a, tmp, src, name, err, errlen))
		goto out;
	snprintf(src, sizeof src, "%s/run.json", R->rundir);
	snprintf(name, sizeof name, "%s/run.json", base);
	if (tar_file(a, tmp, src, name, err, errlen))
		goto out;
	snprintf(name, sizeof name, "%s/report", base);
	if (tar_dir(a, tmp, name, now, err, errlen))
		goto out;
	for (int i = 0; i < nents; i++) {
		if (ents[i]->d_name[0] == '.')
			continue;
		snprintf(src, sizeof src, "%s/%s", R->repdir, ents[i]->d_name);
		snprintf(name, sizeof name, "%s/report/%s", base, ents[i]->d_name);
		if (tar_file(a, tmp, src, name, err, errlen))
			goto out;
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		tar_fail(a, tmp, err, errlen);
		goto out;
	}
	if (rename(tmp, tarpath)) {
		errf(err, errlen, "%s: cannot write: %s", tarpath, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	archive_write_free(a);
	if (rc)
		unlink(tmp);
	for (int i = 0; i < nents; i++)
		free(ents[i]);
	free(ents);
	return rc;
}

/* ------------------------------------------------------------ report_run -- */

/* Removes what an earlier report wrote (by extension) from report/. */
static int clean_report_dir(struct report *R, char *err, size_t errlen)
{
	static const char *const ext[] = {
	    ".gp", ".dat", ".pdf", ".png", ".svg", ".tex", ".log", ".csv", ".md", ".html",
	};
	DIR *dir = opendir(R->repdir);
	struct dirent *de;
	int rc = 0;

	if (!dir)
		return errf(err, errlen, "%s: cannot list: %s", R->repdir, strerror(errno));
	while ((de = readdir(dir))) {
		const char *dot = strrchr(de->d_name, '.');
		char path[FILELEN + 300];
		struct stat st;

		if (!dot || de->d_name[0] == '.')
			continue;
		for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
			if (strcmp(dot, ext[i]))
				continue;
			snprintf(path, sizeof path, "%s/%s", R->repdir, de->d_name);
			if (!lstat(path, &st) && S_ISREG(st.st_mode) && unlink(path)) {
				rc = errf(err, errlen, "%s: cannot remove: %s", path,
					  strerror(errno));
				goto out;
			}
		}
	}
out:
	closedir(dir);
	return rc;
}

int report_run(const char *rundir, int flags, char *err, size_t errlen)
{
	struct report *R = xcalloc(1, sizeof *R);
	struct stat st;
	int rc = -1;

	R->rundir = rundir;
	R->flags = flags;
	if (!rundir || !*rundir) {
		errf(err, errlen,
		     "no run directory given; expected a directory written by 'wmbench run'");
		goto out;
	}
	if (strlen(rundir) >= REPORT_PATHLEN) {
		errf(err, errlen, "%.60s...: path too long; expected at most %d bytes", rundir,
		     REPORT_PATHLEN - 1);
		goto out;
	}
	if (load_results(R, err, errlen) || find_templates(R, err, errlen))
		goto out;
	load_run_json(R);
	snprintf(R->repdir, sizeof R->repdir, "%s/report", rundir);
	if (mkdir(R->repdir, 0755) && errno != EEXIST) {
		errf(err, errlen, "%s: cannot create directory: %s", R->repdir, strerror(errno));
		goto out;
	}
	if (stat(R->repdir, &st) || !S_ISDIR(st.st_mode)) {
		errf(err, errlen, "%s: not a directory; expected the report directory of the run",
		     R->repdir);
		goto out;
	}
	if (clean_report_dir(R, err, errlen))
		goto out;
	build_groups(R);
	if (write_summary(R, err, errlen) || write_controls(R, err, errlen))
		goto out;
	if (fig_robustness(R, err, errlen) || fig_tradeoff(R, err, errlen) ||
	    fig_capacity(R, err, errlen) || fig_heatmap(R, err, errlen) || fig_cost(R, err, errlen))
		goto out;
	if (write_docs(R, err, errlen))
		goto out;
	if ((flags & REPORT_BUNDLE) && bundle(R, err, errlen))
		goto out;
	rc = 0;
out:
	for (int k = 0; k < R->ng; k++)
		free(R->g[k].ok);
	free(R->g);
	free(R->rows);
	free(R->json);
	free(R->plugins);
	free(R->common);
	free(R);
	return rc;
}
