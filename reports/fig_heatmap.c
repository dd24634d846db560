/* fig_heatmap.c - attack success rate per scheme (rows) and attack setting
 * (columns). */
#include "report_int.h"
#include "../workers/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct axis_item {
	const struct result_row *rep;
	char label[LABELLEN];
};

int fig_heatmap(struct report *R, char *err, size_t errlen)
{
	static const char title[] = "Attack success rate";
	struct axis_item *rows = xcalloc((size_t)R->ng + 1, sizeof *rows);
	struct axis_item *cols = xcalloc((size_t)R->ng + 1, sizeof *cols);
	struct widths cw = {0, 0, 0}, rw = {0, 0, 0};
	int nr = 0, nc = 0, rc = -1, has_deg = 0;
	struct fig *fg;
	struct gp gp;

	for (int k = 0; k < R->ng; k++) {
		const struct result_row *r = R->g[k].rep;
		int fr = 0, fc = 0;

		if (strcmp(r->kind, "attack") || !R->g[k].st[M_SUCCESS].n)
			continue;
		for (int i = 0; i < nr && !fr; i++)
			fr = !strcmp(rows[i].rep->scheme, r->scheme) &&
			     !strcmp(rows[i].rep->scheme_params, r->scheme_params);
		for (int i = 0; i < nc && !fc; i++)
			fc = !strcmp(cols[i].rep->attack, r->attack) &&
			     !strcmp(cols[i].rep->attack_params, r->attack_params);
		if (!fr)
			rows[nr++].rep = r;
		if (!fc)
			cols[nc++].rep = r;
	}
	if (!nr) {
		fig_skip(R, "success_heatmap", title,
			 "no attack job on a marked model succeeded in running");
		rc = 0;
		goto out;
	}
	/* groups are sorted by scheme, so rows are in order; sort columns */
	for (int i = 1; i < nc; i++)
		for (int j = i; j > 0; j--) {
			const struct result_row *a = cols[j - 1].rep, *b = cols[j].rep;
			int c = strcmp(a->attack, b->attack);
			struct axis_item t;

			if (!c)
				c = kv_cmp(a->attack_params, b->attack_params);
			if (c <= 0)
				break;
			t = cols[j];
			cols[j] = cols[j - 1];
			cols[j - 1] = t;
		}
	for (int i = 0; i < nr; i++) {
		int sp_varies = 0;
		char t[LABELLEN];

		for (int j = 0; j < nr; j++)
			sp_varies |= !strcmp(rows[j].rep->scheme, rows[i].rep->scheme) &&
				     strcmp(rows[j].rep->scheme_params, rows[i].rep->scheme_params);
		clean_text(rows[i].rep->scheme, rows[i].label, LABELLEN);
		if (sp_varies && rows[i].rep->scheme_params[0]) {
			const char **o = xmalloc((size_t)nr * sizeof *o);
			char d[LABELLEN];
			int no = 0;

			for (int j = 0; j < nr; j++)
				if (!strcmp(rows[j].rep->scheme, rows[i].rep->scheme))
					o[no++] = rows[j].rep->scheme_params;
			kv_varying(rows[i].rep->scheme_params, o, no, d, sizeof d);
			free(o);
			kv_pretty(d, t, sizeof t);
			rp_cat(rows[i].label, LABELLEN, " (");
			rp_cat(rows[i].label, LABELLEN, t);
			rp_cat(rows[i].label, LABELLEN, ")");
		}
	}
	for (int i = 0; i < nc; i++) {
		const struct result_row *r = cols[i].rep;
		char k[RESULT_VALLEN * 3], v[RESULT_VALLEN * 3], t[LABELLEN];
		int same[MAXKEYS] = {0};
		char shown[LABELLEN] = "";

		/* show only the attack parameters that differ between its columns */
		for (int p = 0;
		     p < MAXKEYS && kv_item(r->attack_params, p, k, sizeof k, v, sizeof v); p++) {
			same[p] = 1;
			for (int j = 0; j < nc && same[p]; j++) {
				char w[RESULT_VALLEN * 3];

				if (strcmp(cols[j].rep->attack, r->attack))
					continue;
				same[p] = !kv_get(cols[j].rep->attack_params, k, w, sizeof w) &&
					  !strcmp(w, v);
			}
			/* a scope always shows: it decides what the attack touched */
			if (!same[p] || !strcmp(k, "scope")) {
				snprintf(t, sizeof t, "%s%.100s=%.300s", shown[0] ? ", " : "", k,
					 v);
				rp_cat(shown, sizeof shown, t);
			}
		}
		clean_text(r->attack, cols[i].label, LABELLEN);
		if (shown[0]) {
			clean_text(shown, t, sizeof t);
			rp_cat(cols[i].label, LABELLEN, " ");
			rp_cat(cols[i].label, LABELLEN, t);
		}
	}
	fg = fig_add(
	    R, "success_heatmap", title,
	    "Fraction of seeds in which the attack removed the owner's mark (detected before, "
	    "not after) or planted a mark of its own that verifies, losing less than 5 points "
	    "of test accuracy, per scheme (rows) and attack setting (columns). Seeds whose "
	    "mark was not detected before the attack count only when the attack forged a mark "
	    "of its own. Hatched: a degenerate "
	    "setting, which costs the unmarked model 5 points or more itself. Blank: not "
	    "applicable (a query-path attack against white-box verification).");
	if (!fg) {
		rc = 0;
		goto out;
	}
	/* cells of a readable size: wider than a column when there are many */
	if (gp_begin(R, &gp, fg, "heatmap.gp", fmin(7, fmax(3.5, 1.9 + 0.32 * nc)),
		     fmin(9, fmax(2.0, 1.0 + 0.3 * nr)), (int)fmin(1800, fmax(800, 420 + 72 * nc)),
		     (int)fmin(1600, fmax(480, 260 + 72 * nr)), err, errlen))
		goto out;
	for (int k = 0; k < R->ng; k++) {
		const struct group *g = &R->g[k];
		int ci = -1, ri = -1;

		if (strcmp(g->rep->kind, "attack") || !g->st[M_SUCCESS].n)
			continue;
		for (int i = 0; i < nr; i++)
			if (!strcmp(rows[i].rep->scheme, g->rep->scheme) &&
			    !strcmp(rows[i].rep->scheme_params, g->rep->scheme_params))
				ri = i;
		for (int i = 0; i < nc; i++)
			if (!strcmp(cols[i].rep->attack, g->rep->attack) &&
			    !strcmp(cols[i].rep->attack_params, g->rep->attack_params))
				ci = i;
		fprintf(gp.d, "%d %d", ci, ri);
		dat_num(gp.d, g->st[M_SUCCESS].mean);
		fprintf(gp.d, " %d %d\n", g->st[M_SUCCESS].n, g->degenerate == 1);
		has_deg |= g->degenerate == 1;
	}
	gp_text2(gp.s, "fig_title",
		 has_deg ? "Attack success rate (hatched: degenerate, the unmarked model loses 5+ "
			   "points)"
			 : "Attack success rate (mark removed or forged, under 5 points lost)",
		 has_deg ? "Attack success rate (hatched: degenerate setting)" : title);
	fprintf(gp.s, "has_deg = %d\n", has_deg);
	fprintf(gp.s, "ncols = %d\nnrows = %d\n", nc, nr);
	gp_decl(gp.s, "col_label", nc);
	gp_decl(gp.s, "row_label", nr);
	for (int i = 0; i < nc; i++)
		gp_label(gp.s, "col_label", i + 1, cols[i].label, TIC_MAX, TIC_MAX_PDF, &cw);
	for (int i = 0; i < nr; i++)
		gp_label(gp.s, "row_label", i + 1, rows[i].label, TIC_MAX, TIC_MAX_PDF, &rw);
	fprintf(gp.s, "col_w = %d\ncol_w_pdf = %d\nrow_w = %d\nrow_w_pdf = %d\n", cw.w, cw.w_pdf,
		rw.w, rw.w_pdf);
	rc = gp_end(R, &gp, fg, err, errlen);
out:
	free(rows);
	free(cols);
	return rc;
}
