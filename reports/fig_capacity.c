/* fig_capacity.c - capacity: BER and accuracy cost against the number of
 * embedded bits. */
#include "report_int.h"
#include "../workers/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The scheme parameters that are the capacity itself (e.g. bits=64), as a
 * parameter string with those items removed. */
static void capacity_rest(const struct report *R, const struct group *g0, char *rest, size_t len)
{
	char k[RESULT_VALLEN * 3], v[RESULT_VALLEN * 3], tmp[LABELLEN];

	strlcopy(rest, g0->rep->scheme_params, len);
	for (int i = 0; kv_item(g0->rep->scheme_params, i, k, sizeof k, v, sizeof v); i++) {
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
			all = !kv_get(g->rep->scheme_params, k, w, sizeof w) && rp_is_num(w, &x) &&
			      x == g->capacity;
		}
		if (all && any) {
			kv_del(rest, k, tmp, sizeof tmp);
			strlcopy(rest, tmp, len);
		}
	}
}

int fig_capacity(struct report *R, char *err, size_t errlen)
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
		kv_varying(l->rest, o, no, d, sizeof d);
		free(o);
		clean_text(l->rep->scheme, l->label, sizeof l->label);
		if (d[0]) {
			kv_pretty(d, t, sizeof t);
			rp_cat(l->label, sizeof l->label, " (");
			rp_cat(l->label, sizeof l->label, t);
			rp_cat(l->label, sizeof l->label, ")");
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
