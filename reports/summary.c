/* summary.c - report/summary.csv (one row a group) and report/controls.csv
 * (false-positive rates of the control models). */
#include "report_int.h"
#include "../workers/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const met_name[NMET] = {
    "metric", "pvalue", "detected", "acc", "acc_drop", "success", "wall_s",
};

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

int write_summary(struct report *R, char *err, size_t errlen)
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
	return rp_file_error(f, path, err, errlen);
}

void control_stats(const struct report *R, const struct group *g, struct ctrl *c)
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

int write_controls(struct report *R, char *err, size_t errlen)
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
	return rp_file_error(f, path, err, errlen);
}
