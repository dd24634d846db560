/* summary.c - report/summary.csv (one row a group), report/controls.csv
 * (false-positive rates of the control models) and report/calibration.csv
 * (the null trials of run.calibrate and the pass rule). */
#include "report_int.h"
#include "../workers/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static const char *const met_name[NMET] = {
    "metric", "pvalue", "detected", "acc", "acc_drop", "removed", "forged", "success", "wall_s",
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
	fputs(",metric_name,unmarked_acc_drop,degenerate\n", f);
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
		fputc(',', f);
		csv_num(f, g->unmarked_drop);
		fputc(',', f);
		if (g->degenerate >= 0)
			fprintf(f, "%d", g->degenerate);
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

/* Whether the run has owner-model (calowner) rows of this scheme setting. */
static int has_owners(const struct report *R, const struct result_row *c)
{
	for (int i = 0; i < R->nrows; i++)
		if (!strcmp(R->rows[i].kind, "calowner") && !strcmp(R->rows[i].scheme, c->scheme) &&
		    !strcmp(R->rows[i].scheme_params, c->scheme_params))
			return 1;
	return 0;
}

/* The trials of calibration job id: K, less the keys whose owner model did
 * not embed (lines "k,,,,-1," of its trial file); K if the file cannot be
 * read (the figure then says why). */
static int calib_trials(const struct report *R, const char *id, int K)
{
	char path[REPORT_PATHLEN + 64], line[512];
	FILE *f;
	int missing = 0;

	snprintf(path, sizeof path, "%s/calibration/%s.csv", R->rundir, id);
	if (!(f = fopen(path, "r")))
		return K;
	while (fgets(line, sizeof line, f)) {
		char *c = strchr(line, ',');
		missing += c && !strncmp(c, ",,,,-1,", 7);
	}
	fclose(f);
	return K - missing;
}

/* One row per scheme setting: the calibration rows (one per calibration model,
 * each K trials, fewer where an owner model did not embed) pooled, their Clopper-Pearson interval,
 * the largest FPR of a model and the pass rule at the run's alpha. */
int write_calibration(struct report *R, char *err, size_t errlen)
{
	char path[FILELEN];
	FILE *f = NULL;

	for (int k = 0; k < R->ng; k++) {
		const struct group *g = &R->g[k];
		int X = 0, N = 0, *fp, *n, pass;
		double lo, hi, maxf = NAN;
		char keys[32] = "", models[32] = "";
		int M;

		if (strcmp(g->rep->kind, "calibration"))
			continue;
		if (!f) {
			snprintf(path, sizeof path, "%s/calibration.csv", R->repdir);
			f = fopen(path, "w");
			if (!f)
				return errf(err, errlen, "%s: cannot write: %s", path,
					    strerror(errno));
			fputs("scheme,scheme_params,keys_from,models,keys,trials,false_positives,"
			      "fpr,fpr_ci95_low,fpr_ci95_high,max_model_fpr,alpha,pass\n",
			      f);
		}
		fp = xcalloc((size_t)g->n + 1, sizeof *fp);
		n = xcalloc((size_t)g->n + 1, sizeof *n);
		kv_get(g->rep->attack_params, "keys", keys, sizeof keys);
		kv_get(g->rep->attack_params, "models", models, sizeof models);
		M = atoi(models) > g->n ? atoi(models) : g->n;
		for (int j = 0; j < g->n; j++) {
			const struct result_row *r = &R->rows[g->ok[j]];
			int K = calib_trials(R, r->job_id, atoi(keys));

			fp[j] = r->detected > 0 ? r->detected : 0;
			n[j] = K;
			X += fp[j];
			N += K;
			if (K > 0 && !(maxf >= (double)fp[j] / K))
				maxf = (double)fp[j] / K;
		}
		/* owner-model keys are shared by the models: no pooled test */
		pass = report_calib_pass(fp, n, g->n, M, !has_owners(R, g->rep), R->alpha);
		report_clopper_pearson(X, N, &lo, &hi);
		csv_str(f, g->rep->scheme);
		fputc(',', f);
		csv_str(f, g->rep->scheme_params);
		fprintf(f, ",%s,%d,%s,%d,%d,", has_owners(R, g->rep) ? "owner models" : "keygen",
			g->n, keys, N, X);
		csv_num(f, N ? (double)X / N : NAN);
		fputc(',', f);
		csv_num(f, lo);
		fputc(',', f);
		csv_num(f, hi);
		fputc(',', f);
		csv_num(f, maxf);
		fputc(',', f);
		csv_num(f, R->alpha);
		/* a model whose job failed, was skipped or has not run (yet) leaves
		 * the verdict open */
		fprintf(f, ",%s\n",
			g->n_failed || g->n_skipped || g->n < M ? "incomplete"
			: pass < 0				? "no trials"
			: pass					? "yes"
								: "no");
		free(fp);
		free(n);
	}
	return f ? rp_file_error(f, path, err, errlen) : 0;
}
