/* fig_cost.c - the cost of embedding: accuracy lost and training time
 * against clean training of the same seed. */
#include "report_int.h"
#include "../workers/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int fig_cost(struct report *R, char *err, size_t errlen)
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
