/* fig_cost.c - the cost of embedding (accuracy lost and training time
 * against clean training of the same seed) and its twin, the cost of
 * attacking (accuracy lost and network passes against clean training). */
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

/* The end of an axis from 0 up to top with tics every step: moved out when
 * the last tic would sit at the very end, where half its label would lie
 * beyond the figure's edge. */
static double room_for_tic(double top, double step)
{
	double last = floor(top / step) * step;

	return top - last < 0.3 * step ? last + 0.4 * step : top;
}

/* One bar of a cost figure. */
struct cost_bar {
	char label[LABELLEN];
	const char *color;
	struct mstat drop; /* accuracy lost, as a fraction */
	struct mstat cost; /* time or passes relative to clean training */
};

/* Writes a cost figure: accuracy lost (left) and a cost relative to clean
 * training (right, labelled cost_label), one bar each of b[0..n). */
static int cost_figure(struct report *R, struct fig *fg, const char *title, const char *cost_label,
		       const char *cost_label_tex, const struct cost_bar *b, int n, char *err,
		       size_t errlen)
{
	char tl[4096] = "", t[32];
	struct widths bw = {0, 0, 0};
	double cmin = 0, cmax = 0, tmax = 1;
	struct gp gp;

	/* PNG: panels side by side; PDF: stacked */
	if (gp_begin(R, &gp, fg, "cost.gp", 3.5, 1.5 + 0.44 * n, 800,
		     (int)fmin(1400, fmax(480, 240 + 60 * n)), err, errlen))
		return -1;
	for (int i = 0; i < n; i++) {
		const struct mstat *d = &b[i].drop, *tr = &b[i].cost;

		if (100 * (d->mean - sd0(d->sd)) < cmin)
			cmin = 100 * (d->mean - sd0(d->sd));
		if (100 * (d->mean + sd0(d->sd)) > cmax)
			cmax = 100 * (d->mean + sd0(d->sd));
		if (isfinite(tr->mean) && tr->mean + sd0(tr->sd) > tmax)
			tmax = tr->mean + sd0(tr->sd);
		fprintf(gp.d, "%s# bar %d\n%d", i ? "\n\n" : "", i + 1, i);
		dat_num(gp.d, 100 * d->mean);
		dat_num(gp.d, isfinite(d->sd) ? 100 * d->sd : 0);
		dat_num(gp.d, tr->mean);
		dat_num(gp.d, isfinite(tr->sd) ? tr->sd : 0);
		fprintf(gp.d, " %d\n", d->n);
		snprintf(t, sizeof t, " %d", i + 1);
		if (tr->n && strlen(tl) + strlen(t) < sizeof tl)
			strcat(tl, t);
	}
	gp_text(gp.s, "fig_title", title);
	gp_text2(gp.s, "time_label", cost_label, cost_label);
	fprintf(gp.s, "time_label_tex = '%s'\n", cost_label_tex);
	fprintf(gp.s, "nbars = %d\ntime_bars = '%s'\n", n, tl);
	{
		double pad = 0.08 * (cmax - cmin > 0 ? cmax - cmin : 1);
		double cstep = nice_step(cmax - cmin + pad), tstep = nice_step(1.6 * tmax);

		gp_num(gp.s, "cost_min", cmin < 0 ? cmin - pad : 0);
		gp_num(gp.s, "cost_max", room_for_tic(cmax + pad, cstep));
		gp_num(gp.s, "cost_step", cstep);
		gp_num(gp.s, "time_max", room_for_tic(1.1 * tmax, tstep));
		gp_num(gp.s, "time_step", tstep); /* a narrow panel */
	}
	gp_decl(gp.s, "bar_label", n);
	fprintf(gp.s, "array bar_color[%d]\n", n);
	for (int i = 0; i < n; i++) {
		gp_label(gp.s, "bar_label", i + 1, b[i].label, TIC_MAX, TIC_MAX_PDF, &bw);
		fprintf(gp.s, "bar_color[%d] = '%s'\n", i + 1, b[i].color);
	}
	fprintf(gp.s, "bar_w = %d\nbar_w_pdf = %d\n", bw.w, bw.w_pdf);
	return gp_end(R, &gp, fg, err, errlen);
}

int fig_cost(struct report *R, char *err, size_t errlen)
{
	static const char title[] = "Cost of embedding";
	struct lineset ls = {0};
	double *v = xcalloc((size_t)R->nrows + 1, sizeof *v);
	struct cost_bar *b = NULL;
	int rc = -1;
	struct fig *fg;

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
	b = xcalloc((size_t)ls.n, sizeof *b);
	for (int i = 0; i < ls.n; i++) {
		const struct group *g = &R->g[ls.l[i].g[0]];

		for (int j = 0; j < g->n; j++)
			v[j] = time_ratio(R, &R->rows[g->ok[j]]);
		mstat_of(v, g->n, &b[i].cost);
		b[i].drop = g->st[M_DROP];
		strlcopy(b[i].label, ls.l[i].label, sizeof b[i].label);
		b[i].color = ls.l[i].st.color;
	}
	rc = cost_figure(R, fg, title, "training time (x clean training)",
			 "training time ($\\times$ clean training)", b, ls.n, err, errlen);
out:
	free(b);
	free(v);
	lineset_free(&ls);
	return rc;
}

/* Samples through forward and backward passes of an attack row relative to
 * the clean training of its seed (same dataset and model); NAN when either
 * was not counted. */
static double pass_ratio(const struct report *R, const struct result_row *a)
{
	for (int i = 0; i < R->nrows; i++) {
		const struct result_row *t = &R->rows[i];

		if (strcmp(t->kind, "train") || strcmp(t->status, "ok") || t->seed != a->seed ||
		    strcmp(t->dataset, a->dataset) || strcmp(t->model, a->model))
			continue;
		if (t->forward <= 0 || t->backward < 0 || a->forward < 0 || a->backward < 0)
			return NAN;
		return (double)(a->forward + a->backward) / (double)(t->forward + t->backward);
	}
	return NAN;
}

/* The attack-cost twin of the embedding-cost figure: per attack (all its
 * settings, schemes and seeds), accuracy lost and the network passes it
 * spent relative to clean training. Passes, not seconds: they are the same on
 * every machine. */
int fig_attack_cost(struct report *R, char *err, size_t errlen)
{
	static const char title[] = "Cost of attacking";
	static const char *const palette[] = {"#4477aa", "#66ccee", "#228833", "#ccbb44",
					      "#ee6677", "#aa3377", "#bbbbbb", "#000000"};
	struct cost_bar *b = NULL;
	double *dv = NULL, *cv = NULL;
	int nb = 0, rc = -1;
	struct fig *fg;
	const char **names = xcalloc((size_t)R->nrows + 1, sizeof *names);

	for (int i = 0; i < R->nrows; i++) {
		const struct result_row *r = &R->rows[i];
		int k;

		if (strcmp(r->kind, "attack") || strcmp(r->status, "ok") || !r->attack[0])
			continue;
		for (k = 0; k < nb && strcmp(names[k], r->attack); k++)
			;
		if (k == nb)
			names[nb++] = r->attack;
	}
	if (!nb) {
		fig_skip(R, "attack_cost", title, "the run has no attack row with status ok");
		rc = 0;
		goto out;
	}
	fg = fig_add(R, "attack_cost", title,
		     "Per attack, over all its settings, schemes and seeds: test accuracy lost "
		     "(left) and samples through forward and backward passes relative to clean "
		     "training of the same seed (right; a query-path attack counts its set-up, "
		     "not its per-query pass); mean and sd.");
	if (!fg) {
		rc = 0;
		goto out;
	}
	b = xcalloc((size_t)nb, sizeof *b);
	dv = xcalloc((size_t)R->nrows, sizeof *dv);
	cv = xcalloc((size_t)R->nrows, sizeof *cv);
	for (int k = 0; k < nb; k++) {
		int n = 0, nc = 0, nps = 0;
		char settings[64];
		const char *ps[512];

		for (int i = 0; i < R->nrows; i++) {
			const struct result_row *r = &R->rows[i];
			int s;

			if (strcmp(r->kind, "attack") || strcmp(r->status, "ok") ||
			    strcmp(r->attack, names[k]))
				continue;
			if (isfinite(r->acc_before) && isfinite(r->acc))
				dv[n++] = r->acc_before - r->acc;
			double c = pass_ratio(R, r);
			if (isfinite(c))
				cv[nc++] = c;
			for (s = 0; s < nps && strcmp(ps[s], r->attack_params); s++)
				;
			if (s == nps && nps < (int)(sizeof ps / sizeof ps[0]))
				ps[nps++] = r->attack_params;
		}
		mstat_of(dv, n, &b[k].drop);
		mstat_of(cv, nc, &b[k].cost);
		clean_text(names[k], b[k].label, sizeof b[k].label);
		if (nps > 1) {
			snprintf(settings, sizeof settings, " (%d settings)", nps);
			rp_cat(b[k].label, sizeof b[k].label, settings);
		}
		b[k].color = palette[k % (int)(sizeof palette / sizeof palette[0])];
	}
	rc = cost_figure(R, fg, title, "passes (x clean training)",
			 "passes ($\\times$ clean training)", b, nb, err, errlen);
out:
	free(cv);
	free(dv);
	free(b);
	free(names);
	return rc;
}
