/* docs.c - report/report.md and report/report.html, written side by side:
 * provenance, figures, the summary and the controls. */
#include "report_int.h"
#include "../workers/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void md_text(FILE *f, const char *s)
{
	char t[LABELLEN * 2];

	clean_text(s, t, sizeof t);
	for (const char *p = t; *p; p++) {
		if (strchr("\\`*_[]<>|#!~&$", *p))
			fputc('\\', f);
		fputc(*p, f);
	}
}

static void html_text(FILE *f, const char *s)
{
	char t[LABELLEN * 2];

	clean_text(s, t, sizeof t);
	for (const char *p = t; *p; p++) {
		switch (*p) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(*p, f);
		}
	}
}

/* report.md and report.html, written side by side. */
struct doc {
	FILE *md, *html;
};

static void fmt_num(char *buf, size_t len, double v, const char *fmt)
{
	if (isfinite(v))
		snprintf(buf, len, fmt, v);
	else
		strlcopy(buf, "\xe2\x80\x93", len); /* en dash */
}

static void fmt_ms(char *buf, size_t len, const struct mstat *s, double scale, const char *fmt)
{
	char a[32], b[32];

	fmt_num(a, sizeof a, scale * s->mean, fmt);
	if (isfinite(s->sd)) {
		fmt_num(b, sizeof b, scale * s->sd, fmt);
		snprintf(buf, len, "%s \xc2\xb1 %s", a, b);
	} else {
		strlcopy(buf, a, len);
	}
}

/* A table row; columns from num on hold numbers (right-aligned). */
static void d_row(struct doc *d, const char *const *cell, int n, int num, int header)
{
	fputs("|", d->md);
	fputs("<tr>", d->html);
	for (int i = 0; i < n; i++) {
		fputc(' ', d->md);
		md_text(d->md, cell[i]);
		fputs(" |", d->md);
		fputs(header ? "<th>" : i >= num ? "<td class=\"n\">" : "<td>", d->html);
		html_text(d->html, cell[i]);
		fputs(header ? "</th>" : "</td>", d->html);
	}
	fputs("\n", d->md);
	fputs("</tr>\n", d->html);
	if (header) {
		fputs("|", d->md);
		for (int i = 0; i < n; i++)
			fputs(i >= num ? " ---: |" : " --- |", d->md);
		fputs("\n", d->md);
	}
}

static void d_kv(struct doc *d, const char *key, const char *val)
{
	fputs("- ", d->md);
	md_text(d->md, key);
	fputs(": ", d->md);
	md_text(d->md, val);
	fputs("\n", d->md);
	fputs("<li>", d->html);
	html_text(d->html, key);
	fputs(": ", d->html);
	html_text(d->html, val);
	fputs("</li>\n", d->html);
}

static void d_heading(struct doc *d, int level, const char *s)
{
	for (int i = 0; i < level; i++)
		fputc('#', d->md);
	fputc(' ', d->md);
	md_text(d->md, s);
	fputs("\n\n", d->md);
	fprintf(d->html, "<h%d>", level);
	html_text(d->html, s);
	fprintf(d->html, "</h%d>\n", level);
}

static void d_para(struct doc *d, const char *s)
{
	md_text(d->md, s);
	fputs("\n\n", d->md);
	fputs("<p>", d->html);
	html_text(d->html, s);
	fputs("</p>\n", d->html);
}

static void d_provenance(struct report *R, struct doc *d)
{
	static const char *const keys[][2] = {
	    {"wmbench_version", "wmbench version of the run"},
	    {"job_file", "job file"},
	    {"job_file_sha256", "job file SHA-256"},
	    {"ranks", "MPI ranks"},
	    {"jobs", "jobs"},
	    {"start", "start"},
	    {"end", "end"},
	    {"cpu", "CPU"},
	    {"dataset", "dataset"},
	};
	char v[512], t[512];

	d_heading(d, 2, "Provenance");
	fputs("<ul>\n", d->html);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (R->json && !runjson_get(R->json, keys[i][0], v, sizeof v))
			d_kv(d, keys[i][1], v);
	snprintf(t, sizeof t,
		 "%d jobs (%d ok, %d failed, %d skipped); %d rows read, %d superseded by a later "
		 "row of the same job",
		 R->nrows, R->nok, R->nfailed, R->nskipped, R->nlines_read, R->nsuperseded);
	d_kv(d, "results.csv", t);
	d_kv(d, "results.csv SHA-256", R->results_sha);
	snprintf(t, sizeof t, "%g%s", R->alpha,
		 R->alpha_from_run ? " (from run.json)" : " (default; run.json has no alpha)");
	d_kv(d, "significance level alpha for the BER thresholds", t);
	d_kv(d, "report written by wmbench", R->version);
	fputs("</ul>\n", d->html);
	fputs("\n", d->md);
	if (R->truncated_line) {
		snprintf(t, sizeof t,
			 "Note: line %d of results.csv is an incomplete last row (the run was "
			 "interrupted while writing it) and was left out.",
			 R->truncated_line);
		d_para(d, t);
	}
	if (R->json) {
		char *clean = xmalloc(strlen(R->json) + 1);
		int run = 0, maxrun = 0, fence;

		clean_text2(R->json, clean, strlen(R->json) + 1, 1);
		for (const char *p = clean; *p; p++) {
			run = *p == '`' ? run + 1 : 0;
			if (run > maxrun)
				maxrun = run;
		}
		fence = maxrun >= 3 ? maxrun + 1 : 3;
		d_para(d, "run.json:");
		for (int i = 0; i < fence; i++)
			fputc('`', d->md);
		fputs("json\n", d->md);
		fputs(clean, d->md);
		if (clean[0] && clean[strlen(clean) - 1] != '\n')
			fputc('\n', d->md);
		for (int i = 0; i < fence; i++)
			fputc('`', d->md);
		fputs("\n\n", d->md);
		fputs("<pre>", d->html);
		for (char *line = clean, *nl; line && *line; line = nl) {
			nl = strchr(line, '\n');
			if (nl)
				*nl++ = 0;
			html_text(d->html, line);
			fputc('\n', d->html);
		}
		fputs("</pre>\n", d->html);
		free(clean);
	} else {
		d_para(d, "No run.json in the run directory.");
	}
}

static void d_figures(struct report *R, struct doc *d)
{
	int skipped = 0;

	d_heading(d, 2, "Figures");
	for (int i = 0; i < R->nfig; i++) {
		const struct fig *fg = &R->fig[i];
		const char *st = fg->stem;

		if (!fg->made)
			continue;
		d_heading(d, 3, fg->title);
		fprintf(d->md, "![");
		md_text(d->md, fg->title);
		fprintf(d->md, "](%s.png)\n\n", st);
		md_text(d->md, fg->what);
		fprintf(d->md,
			" Files: [PDF](%s.pdf), [SVG](%s.svg), [gnuplot script](%s.gp), "
			"[data](%s.dat)%s%s%s.\n\n",
			st, st, st, st, R->flags & REPORT_LATEX ? ", [LaTeX](" : "",
			R->flags & REPORT_LATEX ? st : "",
			R->flags & REPORT_LATEX ? "_latex.tex)" : "");
		fprintf(d->html, "<figure><img src=\"%s.png\" alt=\"", st);
		html_text(d->html, fg->title);
		fputs("\"><figcaption>", d->html);
		html_text(d->html, fg->what);
		fprintf(d->html,
			" Files: <a href=\"%s.pdf\">PDF</a>, <a href=\"%s.svg\">SVG</a>, <a "
			"href=\"%s.gp\">gnuplot script</a>, <a "
			"href=\"%s.dat\">data</a>%s%s%s.</figcaption></figure>\n",
			st, st, st, st, R->flags & REPORT_LATEX ? ", <a href=\"" : "",
			R->flags & REPORT_LATEX ? st : "",
			R->flags & REPORT_LATEX ? "_latex.tex\">LaTeX</a>" : "");
	}
	for (int i = 0; i < R->nfig; i++)
		skipped += !R->fig[i].made;
	if (skipped) {
		d_para(d, "Figures left out because the run has no data for them:");
		fputs("<ul>\n", d->html);
		for (int i = 0; i < R->nfig; i++)
			if (!R->fig[i].made)
				d_kv(d, R->fig[i].title, R->fig[i].why);
		fputs("</ul>\n", d->html);
		fputs("\n", d->md);
	}
	if (R->warn[0]) {
		char t[1200];

		snprintf(t, sizeof t, "gnuplot printed warnings, kept in: %s.", R->warn);
		d_para(d, t);
	}
}

static void d_summary(struct report *R, struct doc *d)
{
	static const char *const head[] = {
	    "kind",
	    "scheme",
	    "scheme params",
	    "attack",
	    "attack params",
	    "n",
	    "failed",
	    "metric",
	    "mean \xc2\xb1 sd",
	    "p-value",
	    "detected",
	    "accuracy (%)",
	    "accuracy lost (points)",
	    "attack success",
	};
	enum { NH = sizeof head / sizeof head[0] };

	d_heading(d, 2, "Summary");
	d_para(d, "Mean \xc2\xb1 sample sd over seeds of the jobs that ran (summary.csv adds 95% "
		  "confidence half-widths and wall times). Accuracy lost: before minus after the "
		  "attack, or clean minus marked model for embedding.");
	fputs("<table>\n", d->html);
	d_row(d, head, NH, 5, 1);
	for (int k = 0; k < R->ng; k++) {
		const struct group *g = &R->g[k];
		char n[16], nf[16], m[96], pv[32], det[32], acc[96], drop[96], suc[32],
		    sp[LABELLEN], ap[LABELLEN];
		const char *cell[NH];

		snprintf(n, sizeof n, "%d", g->n);
		snprintf(nf, sizeof nf, "%d", g->n_failed);
		fmt_ms(m, sizeof m, &g->st[M_METRIC], 1, "%.3g");
		fmt_num(pv, sizeof pv, g->st[M_PVALUE].mean, "%.2g");
		fmt_num(det, sizeof det, g->st[M_DETECTED].mean, "%.2f");
		fmt_ms(acc, sizeof acc, &g->st[M_ACC], 100, "%.2f");
		fmt_ms(drop, sizeof drop, &g->st[M_DROP], 100, "%.2f");
		fmt_num(suc, sizeof suc, g->st[M_SUCCESS].mean, "%.2f");
		kv_pretty(g->rep->scheme_params, sp, sizeof sp);
		kv_pretty(g->rep->attack_params, ap, sizeof ap);
		cell[0] = g->rep->kind;
		cell[1] = g->rep->scheme;
		cell[2] = sp;
		cell[3] = g->rep->attack;
		cell[4] = ap;
		cell[5] = n;
		cell[6] = nf;
		cell[7] = g->metric_name;
		cell[8] = m;
		cell[9] = pv;
		cell[10] = det;
		cell[11] = acc;
		cell[12] = drop;
		cell[13] = suc;
		d_row(d, cell, NH, 5, 0);
	}
	fputs("</table>\n", d->html);
	fputs("\n", d->md);
}

static void d_controls(struct report *R, struct doc *d)
{
	static const char *const head[] = {
	    "scheme",
	    "scheme params",
	    "metric",
	    "controls",
	    "false positives",
	    "FPR",
	    "FPR 95% CI (Clopper-Pearson)",
	    "empirical threshold",
	};
	enum { NH = sizeof head / sizeof head[0] };

	d_heading(d, 2, "Controls: false-positive rate");
	if (!R->has_controls) {
		d_para(
		    d,
		    "The run has no control jobs (unmarked models verified with the owner's key).");
		return;
	}
	d_para(d, "Unmarked control models verified with the owner's key: every detection is a "
		  "false positive. Empirical threshold: the 5% quantile of the control BER (detect "
		  "below it) or the 95% quantile of an accuracy-type metric (detect above it).");
	fputs("<table>\n", d->html);
	d_row(d, head, NH, 3, 1);
	for (int k = 0; k < R->ng; k++) {
		const struct group *g = &R->g[k];
		char n[16], fp[16], fpr[32], ci[64], thr[32], lo[24], hi[24], sp[LABELLEN];
		const char *cell[NH];
		struct ctrl c;

		if (strcmp(g->rep->kind, "control") || !g->metric_name[0])
			continue;
		control_stats(R, g, &c);
		snprintf(n, sizeof n, "%d", c.n);
		snprintf(fp, sizeof fp, "%d", c.fp);
		fmt_num(fpr, sizeof fpr, c.fpr, "%.3f");
		fmt_num(lo, sizeof lo, c.lo, "%.4f");
		fmt_num(hi, sizeof hi, c.hi, "%.4f");
		snprintf(ci, sizeof ci, "[%s, %s]", lo, hi);
		fmt_num(thr, sizeof thr, c.thr, "%.4g");
		kv_pretty(g->rep->scheme_params, sp, sizeof sp);
		cell[0] = g->rep->scheme;
		cell[1] = sp;
		cell[2] = g->metric_name;
		cell[3] = n;
		cell[4] = fp;
		cell[5] = fpr;
		cell[6] = ci;
		cell[7] = thr;
		d_row(d, cell, NH, 3, 0);
	}
	fputs("</table>\n", d->html);
	fputs("\n", d->md);
}

int write_docs(struct report *R, char *err, size_t errlen)
{
	char mdpath[FILELEN], htpath[FILELEN], t[LABELLEN];
	struct doc d;
	int rc;

	snprintf(mdpath, sizeof mdpath, "%s/report.md", R->repdir);
	snprintf(htpath, sizeof htpath, "%s/report.html", R->repdir);
	d.md = fopen(mdpath, "w");
	if (!d.md)
		return errf(err, errlen, "%s: cannot write: %s", mdpath, strerror(errno));
	d.html = fopen(htpath, "w");
	if (!d.html) {
		fclose(d.md);
		return errf(err, errlen, "%s: cannot write: %s", htpath, strerror(errno));
	}
	snprintf(t, sizeof t, "wmbench report: %s", R->name);
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>",
	      d.html);
	html_text(d.html, t);
	fputs("</title>\n<style>\n"
	      "body{font-family:Helvetica,Arial,sans-serif;max-width:72em;margin:2em "
	      "auto;padding:0 1em;color:#222}\n"
	      "table{border-collapse:collapse;font-size:90%}\n"
	      "th,td{border:1px solid #ccc;padding:.2em .5em;text-align:left}\n"
	      "td.n{text-align:right}\n"
	      "img{max-width:100%}\nfigure{margin:1em 0 2em}\n"
	      "pre{background:#f6f6f6;padding:.5em;overflow-x:auto}\n"
	      "</style>\n</head>\n<body>\n",
	      d.html);
	d_heading(&d, 1, t);
	d_provenance(R, &d);
	d_figures(R, &d);
	d_summary(R, &d);
	d_controls(R, &d);
	fputs("</body>\n</html>\n", d.html);
	rc = rp_file_error(d.md, mdpath, err, errlen);
	if (rp_file_error(d.html, htpath, err, errlen))
		rc = -1;
	return rc;
}
