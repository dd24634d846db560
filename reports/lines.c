/* lines.c - the lines (or bars) of a figure: groups of one scheme and its
 * parameters, sorted, labelled and styled, written as gnuplot arrays. */
#define _GNU_SOURCE
#include "report_int.h"
#include "../workers/util.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct line *line_get(struct lineset *ls, const struct result_row *rep, const char *rest)
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
		ls->l = rp_grow(ls->l, (size_t)ls->cap, sizeof *ls->l);
	}
	l = &ls->l[ls->n++];
	memset(l, 0, sizeof *l);
	l->rep = rep;
	strlcopy(l->rest, rest, sizeof l->rest);
	l->thr = NAN;
	return l;
}

void line_add(struct line *l, int g, double x)
{
	int cap = l->cap;

	rp_push_int(&l->g, &l->ng, &l->cap, g);
	if (l->cap != cap)
		l->x = rp_grow(l->x, (size_t)l->cap, sizeof *l->x);
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
	    (c = kv_cmp(a->rep->scheme_params, b->rep->scheme_params)))
		return c;
	return kv_cmp(a->rest, b->rest);
}

/* Sorts the lines, numbers the lines of each scheme and writes their labels:
 * the scheme, its params when it has several here, the rest when lines
 * differ in it. */
void lineset_finish(const struct report *R, struct lineset *ls)
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
			kv_varying(l->rep->scheme_params, o, no, d, sizeof d);
			free(o);
			kv_pretty(d, t, sizeof t);
			rp_cat(l->label, sizeof l->label, " (");
			rp_cat(l->label, sizeof l->label, t);
			rp_cat(l->label, sizeof l->label, ")");
		}
		if (rest_varies && l->rest[0]) {
			kv_pretty(l->rest, t, sizeof t);
			rp_cat(l->label, sizeof l->label, " ");
			rp_cat(l->label, sizeof l->label, t);
		}
		style_of(R, l->rep->scheme, l->variant, &l->st);
	}
}

void lineset_free(struct lineset *ls)
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
void gp_lines(FILE *f, const struct lineset *ls, int minw)
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
void xtics_list(FILE *f, const struct lineset *ls)
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

/* The detection threshold of a line on the metric's own scale: the BER at
 * which the binomial p-value reaches alpha, or the control quantile. */
double line_threshold(const struct report *R, const struct line *l, const char *mn, double capacity)
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
