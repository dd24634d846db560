/* load.c - reading a run: results.csv (the last row of a job id wins),
 * run.json (name, alpha, version, plug-ins), scheme order and style, and
 * the groups of rows over seeds with their statistics. */
#define _GNU_SOURCE
#include "report_int.h"
#include "../workers/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* Neutral style of a scheme that run.json does not describe (runs before
 * it recorded the plug-ins): grey, point type 2, after the others by name. */
#define DEFAULT_COLOUR "#999999"

#define DEFAULT_POINT 2

static const struct runjson_plugin *scheme_of(const struct report *R, const char *s)
{
	return runjson_plugin_find(R->plugins, R->nplugins, "scheme", s);
}

/* Whether a scheme is the unmarked baseline: run.json says so (older runs,
 * without the plug-ins: the name none). */
static int is_unmarked(const struct report *R, const char *s)
{
	const struct runjson_plugin *p = scheme_of(R, s);

	return p ? p->unmarked : !strcmp(s, "none");
}

/* Schemes in their order from run.json, then by name. */
int scheme_cmp(const struct report *R, const char *a, const char *b)
{
	const struct runjson_plugin *pa = scheme_of(R, a), *pb = scheme_of(R, b);
	int ra = pa ? pa->order : RUNJSON_NO_ORDER, rb = pb ? pb->order : RUNJSON_NO_ORDER;

	return ra != rb ? (ra < rb ? -1 : 1) : strcmp(a, b);
}

/* Colour and point shape by scheme; the variant-th line of the same scheme
 * in one figure gets the open shape and another dash pattern. */
void style_of(const struct report *R, const char *scheme, int variant, struct style *st)
{
	const struct runjson_plugin *p = scheme_of(R, scheme);
	int pt = p && p->point ? p->point : DEFAULT_POINT;

	st->color = p && p->colour[0] ? p->colour : DEFAULT_COLOUR;
	if (variant % 2)
		pt = pt >= 4 ? pt - 1 : 1;
	st->pt = pt;
	st->dt = 1 + variant % 5;
}

static int kind_rank(const char *k)
{
	static const char *const kinds[] = {"train", "embed", "attack", "control"};

	for (int i = 0; i < 4; i++)
		if (!strcmp(k, kinds[i]))
			return i;
	return 4;
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
	case M_REMOVED:
		return r->removed < 0 ? NAN : r->removed;
	case M_FORGED:
		return r->forged < 0 ? NAN : r->forged;
	case M_SUCCESS:
		return r->success < 0 ? NAN : r->success;
	case M_WALL:
		return r->wall_s;
	}
	return NAN;
}

/* Watermark retained: 1 - BER, or the accuracy-type metric itself. */
double retained(const char *metric_name, double v)
{
	if (!strcmp(metric_name, "ber"))
		return 1 - v;
	if (metric_name[0])
		return v;
	return NAN;
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

int load_results(struct report *R, char *err, size_t errlen)
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
			R->rows = rp_grow(R->rows, (size_t)rcap, sizeof *R->rows);
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

void load_run_json(struct report *R)
{
	char path[FILELEN], v[256], e[ERRBUF];

	snprintf(path, sizeof path, "%s/run.json", R->rundir);
	R->alpha = DEFAULT_ALPHA;
	if (rp_read_text(path, &R->json, NULL, e, sizeof e))
		R->json = NULL;
	if (R->json && !runjson_get(R->json, "name", v, sizeof v) && v[0])
		clean_text(v, R->name, sizeof R->name);
	if (R->json && !runjson_get(R->json, "alpha", v, sizeof v) && rp_is_num(v, &R->alpha) &&
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
	    (c = kv_cmp(a->scheme_params, b->scheme_params)) ||
	    (c = strcmp(a->attack, b->attack)) || (c = kv_cmp(a->attack_params, b->attack_params)))
		return c;
	return 0;
}

void build_groups(struct report *R)
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
				R->g = rp_grow(R->g, (size_t)cap, sizeof *R->g);
			}
			g = &R->g[R->ng++];
			memset(g, 0, sizeof *g);
			g->rep = r;
			g->capacity = NAN;
			g->emp_thr = NAN;
			g->unmarked_drop = NAN;
			g->degenerate = -1;
		}
		if (!strcmp(r->status, "ok"))
			rp_push_int(&g->ok, &g->n, &g->cap, i);
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
			g->emp_thr =
			    rp_quantile(v, g->n, strcmp(g->metric_name, "ber") ? 0.95 : 0.05);
			R->has_controls = 1;
		}
	}
	/* degenerate attack settings: those that cost the unmarked model itself
	 * DEGENERATE_DROP or more of test accuracy */
	for (int k = 0; k < R->ng; k++) {
		const struct group *u = &R->g[k];

		if (strcmp(u->rep->kind, "attack") || !is_unmarked(R, u->rep->scheme) ||
		    !u->st[M_DROP].n)
			continue;
		for (int j = 0; j < R->ng; j++) {
			struct group *g = &R->g[j];

			if (!strcmp(g->rep->kind, "attack") &&
			    !strcmp(g->rep->attack, u->rep->attack) &&
			    !strcmp(g->rep->attack_params, u->rep->attack_params)) {
				g->unmarked_drop = u->st[M_DROP].mean;
				g->degenerate = u->st[M_DROP].mean >= DEGENERATE_DROP;
			}
		}
	}
	free(v);
}

/* The empirical control threshold of a scheme + params, NAN if none. */
double control_thr(const struct report *R, const struct result_row *r)
{
	for (int k = 0; k < R->ng; k++) {
		const struct result_row *c = R->g[k].rep;

		if (!strcmp(c->kind, "control") && !strcmp(c->scheme, r->scheme) &&
		    !strcmp(c->scheme_params, r->scheme_params))
			return R->g[k].emp_thr;
	}
	return NAN;
}
