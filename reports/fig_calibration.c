/* fig_calibration.c - the null p-values of calibration (unmarked models,
 * fresh keys) against the uniform distribution: their empirical CDF per
 * scheme setting, on log axes, one panel per scheme. A valid test lies on or
 * under the diagonal: at most a fraction x of null trials has a p-value at
 * most x. */
#include "report_int.h"
#include "../workers/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P_FLOOR 1e-12 /* p-values below are drawn at the axis' lower end */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Appends the p-values of one calibration job's trial file to *v. */
static int read_trials(const struct report *R, const char *job_id, double **v, int *n, int *cap,
		       char *err, size_t errlen)
{
	char path[REPORT_PATHLEN + 64], line[512];
	FILE *f;
	int lineno = 0;

	snprintf(path, sizeof path, "%s/calibration/%s.csv", R->rundir, job_id);
	f = fopen(path, "r");
	if (!f)
		return errf(err, errlen,
			    "%s: cannot open: %s; expected the trial file of calibration job %s "
			    "(wmbench run writes it)",
			    path, strerror(errno), job_id);
	while (fgets(line, sizeof line, f)) {
		char *c = line;
		double p;

		if (++lineno == 1)
			continue; /* header */
		for (int k = 0; k < 3 && c; k++)
			c = strchr(c, ',') ? strchr(c, ',') + 1 : NULL;
		if (c && !strncmp(c, ",-1,", 4))
			continue; /* an owner model that did not embed: no trial */
		if (!c || !rp_is_num(strtok(c, ","), &p)) {
			fclose(f);
			return errf(
			    err, errlen,
			    "%s:%d: malformed trial; expected key,metric_name,metric,pvalue,"
			    "detected,aux",
			    path, lineno);
		}
		if (*n == *cap) {
			*cap = *cap ? 2 * *cap : 256;
			*v = rp_grow(*v, (size_t)*cap, sizeof **v);
		}
		(*v)[(*n)++] = p;
	}
	fclose(f);
	return 0;
}

int fig_calibration(struct report *R, char *err, size_t errlen)
{
	static const char title[] = "Null p-values against the uniform";
	static const char diag[] = "uniform (a valid test lies on or under)";
	struct lineset ls = {0};
	double pmin = 1e-4, **pv = NULL;
	int *np = NULL, rc = -1;
	char why[ERRBUF];
	struct fig *fg;
	struct gp gp;

	for (int k = 0; k < R->ng; k++)
		if (!strcmp(R->g[k].rep->kind, "calibration") && R->g[k].n > 0)
			line_add(line_get(&ls, R->g[k].rep, ""), k, 0);
	if (!ls.n) {
		fig_skip(R, "calibration", title, "the run has no calibration trials");
		rc = 0;
		goto out;
	}
	lineset_finish(R, &ls);
	/* every line's p-values first: a trial file that cannot be read leaves
	 * the figure out, with the reason, and the rest of the report stands */
	pv = xcalloc((size_t)ls.n, sizeof *pv);
	np = xcalloc((size_t)ls.n, sizeof *np);
	for (int i = 0; i < ls.n; i++) {
		const struct line *l = &ls.l[i];
		int cap = 0;

		for (int j = 0; j < l->ng; j++) {
			const struct group *g = &R->g[l->g[j]];

			for (int r = 0; r < g->n; r++)
				if (read_trials(R, R->rows[g->ok[r]].job_id, &pv[i], &np[i], &cap,
						why, sizeof why)) {
					fig_skip(R, "calibration", title, why);
					rc = 0;
					goto out;
				}
		}
		qsort(pv[i], (size_t)np[i], sizeof *pv[i], cmp_double);
	}
	fg = fig_add(R, "calibration", title,
		     "Empirical CDF of the p-values of the null trials (unmarked models verified "
		     "with fresh keys), one panel per scheme and one line per scheme setting: the "
		     "fraction of trials with a p-value at most x. A valid test lies on or under "
		     "the diagonal; the decision at alpha reads off x = alpha.");
	if (!fg) {
		rc = 0;
		goto out;
	}
	/* panels: the lines of one scheme (lineset order keeps them together) */
	int npan = 0, *pan = xcalloc((size_t)ls.n, sizeof *pan);
	for (int i = 0; i < ls.n; i++) {
		if (!i || strcmp(ls.l[i].rep->scheme, ls.l[i - 1].rep->scheme))
			npan++;
		pan[i] = npan;
	}
	int ncols = npan < 3 ? npan : 3, nrows = (npan + ncols - 1) / ncols;
	if (gp_begin(R, &gp, fg, "calibration.gp", ncols > 1 ? 6.5 : 3.5,
		     0.6 + 2.2 * nrows + 0.13 * (ls.n + 1), ncols > 1 ? 1280 : 800,
		     120 + 440 * nrows + 22 * (ls.n + 1), err, errlen)) {
		free(pan);
		goto out;
	}
	fprintf(gp.s, "npanels = %d\nncols = %d\nnrows = %d\n", npan, ncols, nrows);
	gp_decl(gp.s, "panel_title", npan);
	for (int i = 0, k = 0; i < ls.n; i++)
		if (pan[i] != k) {
			struct widths w = {0, 0, 0};
			k = pan[i];
			gp_label(gp.s, "panel_title", k, ls.l[i].rep->scheme, 40, 40, &w);
		}
	fputs("array panel_lines[npanels]\n", gp.s);
	for (int k = 1; k <= npan; k++) {
		fprintf(gp.s, "panel_lines[%d] = '", k);
		for (int i = 0; i < ls.n; i++)
			if (pan[i] == k)
				fprintf(gp.s, " %d", i + 1);
		fputs("'\n", gp.s);
	}
	free(pan);
	for (int i = 0; i < ls.n; i++) {
		int n = np[i];

		fprintf(gp.d, "%s# line %d: %d trials\n", i ? "\n\n" : "", i + 1, n);
		for (int k = 0; k < n; k++) {
			double p = pv[i][k] > P_FLOOR ? pv[i][k] : P_FLOOR;

			if (k + 1 < n && pv[i][k + 1] == pv[i][k])
				continue; /* one step per distinct value */
			fprintf(gp.d, "%.10g %.10g\n", p, (k + 1.0) / n);
			if (p < pmin)
				pmin = p;
			/* the first step, at 1/n, stays inside the axes */
			if (k == 0 && 1.0 / n < pmin)
				pmin = 1.0 / n > P_FLOOR ? 1.0 / n : P_FLOOR;
		}
	}
	gp_text(gp.s, "fig_title", title);
	gp_text(gp.s, "diag_note", diag);
	gp_num(gp.s, "pmin", pow(10, floor(log10(pmin))));
	gp_lines(gp.s, &ls, text_width(diag));
	rc = gp_end(R, &gp, fg, err, errlen);
out:
	for (int i = 0; pv && i < ls.n; i++)
		free(pv[i]);
	free(pv);
	free(np);
	lineset_free(&ls);
	return rc;
}
