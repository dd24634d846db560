/* fig_robustness.c - robustness curves: the watermark metric and test
 * accuracy after an attack against its swept parameter, one figure per attack
 * (and metric). */
#include "report_int.h"
#include "../workers/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int attack_keys(const struct report *R, const int *gi, int ng, char keys[][RESULT_KEYLEN])
{
	char k[RESULT_VALLEN * 3], v[RESULT_VALLEN * 3];
	int nk = 0;

	for (int a = 0; a < ng; a++)
		for (int i = 0;
		     kv_item(R->g[gi[a]].rep->attack_params, i, k, sizeof k, v, sizeof v); i++) {
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
		if (kv_get(R->g[gi[a]].rep->attack_params, key, v, sizeof v)) {
			if (numeric)
				return 0;
			strlcopy(v, "\x01", sizeof v); /* absent */
		}
		if (numeric && !rp_is_num(v, NULL))
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
		if (kv_get(g->rep->attack_params, sweep, v, sizeof v) || !rp_is_num(v, &x))
			continue;
		kv_del(g->rep->attack_params, sweep, rest, sizeof rest);
		line_add(line_get(&ls, g->rep, rest), gi[a], x);
	}
	lineset_finish(R, &ls);

	/* parameters with one value across the figure go into the title */
	nk = attack_keys(R, gi, ng, keys);
	for (int k = 0; k < nk; k++) {
		if (!strcmp(keys[k], sweep) || key_varies(R, gi, ng, keys[k], 0) ||
		    kv_get(R->g[gi[0]].rep->attack_params, keys[k], v, sizeof v))
			continue;
		snprintf(t, sizeof t, "%s%.31s=%.300s", fixed[0] ? ", " : "", keys[k], v);
		rp_cat(fixed, sizeof fixed, t);
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
		char ml[4096] = "", al[4096] = "", dm[4096] = "", da[4096] = "";

		for (int i = 0; i < ls.n; i++) {
			struct line *l = &ls.l[i];
			int hm = 0, ha = 0, dgm = 0, dga = 0;
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
				fprintf(gp.d, " %d %d\n", g->n, g->degenerate == 1);
				hm |= isfinite(m->mean);
				ha |= isfinite(ac->mean);
				dgm |= g->degenerate == 1 && isfinite(m->mean);
				dga |= g->degenerate == 1 && isfinite(ac->mean);
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
			if (dgm && strlen(dm) + strlen(t) < sizeof dm)
				strcat(dm, t);
			if (dga && strlen(da) + strlen(t) < sizeof da)
				strcat(da, t);
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
		fprintf(gp.s, "deg_metric_lines = '%s'\ndeg_acc_lines = '%s'\n", dm, da);
		gp_text(gp.s, "deg_note", DEGENERATE_NOTE);
		xtics_list(gp.s, &ls);
		gp_lines(gp.s, &ls,
			 (int)fmax(has_thr ? text_width(t) : 0,
				   dm[0] || da[0] ? text_width(DEGENERATE_NOTE) : 0));
	}
	rc = gp_end(R, &gp, fg, err, errlen);
out:
	lineset_free(&ls);
	return rc;
}

int fig_robustness(struct report *R, char *err, size_t errlen)
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
