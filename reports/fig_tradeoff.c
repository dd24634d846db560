/* fig_tradeoff.c - accuracy lost against watermark retained, one point per
 * attack setting. */
#include "report_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int fig_tradeoff(struct report *R, char *err, size_t errlen)
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
	char deg_lines[4096] = "", dl[16];
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
			fprintf(gp.d, " %d %d\n", g->n, g->degenerate == 1);
			if (g->degenerate == 1 && isfinite(y) && isfinite(l->x[j])) {
				snprintf(dl, sizeof dl, " %d", i + 1);
				if (!strstr(deg_lines, dl) &&
				    strlen(deg_lines) + strlen(dl) < sizeof deg_lines)
					strcat(deg_lines, dl);
			}
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
		fprintf(gp.s, "deg_lines = '%s'\n", deg_lines);
		gp_text(gp.s, "deg_note", DEGENERATE_NOTE);
		gp_lines(
		    gp.s, &ls,
		    (int)fmax(text_width(note), deg_lines[0] ? text_width(DEGENERATE_NOTE) : 0));
	}
	rc = gp_end(R, &gp, fg, err, errlen);
out:
	lineset_free(&ls);
	return rc;
}
