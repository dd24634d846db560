/* gnuplot.c - emitting a figure: texts as gnuplot strings (with their PDF
 * and LaTeX forms), label arrays, axes, the script and data file of a
 * figure (gp_begin, gp_end), the templates and running gnuplot. */
#define _GNU_SOURCE
#include "report_int.h"
#include "../workers/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* A text as a gnuplot string expression of single-quoted pieces, with the
 * variable Q for each single quote: a'b -> 'a'.Q.'b'. */
static void gp_quote(FILE *f, const char *s)
{
	char t[LABELLEN];
	int open = 0, first = 1;

	clean_text(s, t, sizeof t);
	if (!t[0]) {
		fputs("''", f);
		return;
	}
	for (const char *p = t; *p; p++) {
		if (*p == '\'') {
			if (open)
				fputc('\'', f);
			open = 0;
			fputs(first ? "Q" : ".Q", f);
		} else {
			if (!open)
				fputs(first ? "'" : ".'", f);
			open = 1;
			fputc(*p, f);
		}
		first = 0;
	}
	if (open)
		fputc('\'', f);
}

/* The same text for LaTeX (cairolatex). */
static void tex_escape(const char *s, char *out, size_t len)
{
	char t[LABELLEN];

	clean_text(s, t, sizeof t);
	out[0] = 0;
	for (const char *p = t; *p; p++) {
		const char *rep;
		char one[2] = {*p, 0};

		if (!strncmp(p, "\xe2\x80\xa6", 3)) {
			rp_cat(out, len, "\\ldots{}");
			p += 2;
			continue;
		}
		switch (*p) {
		case '\\':
			rep = "\\textbackslash{}";
			break;
		case '{':
			rep = "\\{";
			break;
		case '}':
			rep = "\\}";
			break;
		case '$':
			rep = "\\$";
			break;
		case '&':
			rep = "\\&";
			break;
		case '#':
			rep = "\\#";
			break;
		case '%':
			rep = "\\%";
			break;
		case '_':
			rep = "\\_";
			break;
		case '^':
			rep = "\\^{}";
			break;
		case '~':
			rep = "\\~{}";
			break;
		case '<':
			rep = "\\textless{}";
			break;
		case '>':
			rep = "\\textgreater{}";
			break;
		case '|':
			rep = "\\textbar{}";
			break;
		case '"':
			rep = "{\\ttfamily\\char34}";
			break;
		default:
			rep = one;
		}
		if (strlen(out) + strlen(rep) + 1 >= len)
			break;
		rp_cat(out, len, rep);
	}
}

/* A text variable in three forms: var as given, var_pdf (short, for the
 * PDF at column width; cut at TITLE_MAX_PDF characters), var_tex. */
void gp_text2(FILE *f, const char *var, const char *s, const char *s_pdf)
{
	char sh[LABELLEN], tex[LABELLEN * 2];

	clean_text(s_pdf, sh, sizeof sh);
	rp_shorten(sh, sizeof sh, TITLE_MAX_PDF);
	tex_escape(sh, tex, sizeof tex);
	fprintf(f, "%s = ", var);
	gp_quote(f, s);
	fprintf(f, "\n%s_pdf = ", var);
	gp_quote(f, sh);
	fprintf(f, "\n%s_tex = ", var);
	gp_quote(f, tex);
	fputc('\n', f);
}

void gp_text(FILE *f, const char *var, const char *s)
{
	gp_text2(f, var, s, s);
}

void gp_num(FILE *f, const char *var, double v)
{
	if (isfinite(v))
		fprintf(f, "%s = %.10g\n", var, v);
	else
		fprintf(f, "%s = NaN\n", var);
}

void gp_decl(FILE *f, const char *var, int n)
{
	fprintf(f, "array %s[%d]\narray %s_pdf[%d]\narray %s_tex[%d]\n", var, n, var, n, var, n);
}

/* Element i of the text arrays var, var_pdf and var_tex: the text cut to
 * maxw characters, to maxw_pdf, and the latter for LaTeX. */
void gp_label(FILE *f, const char *var, int i, const char *s, int maxw, int maxw_pdf,
	      struct widths *w)
{
	char l[LABELLEN], sh[LABELLEN], tex[LABELLEN * 2];
	int n;

	clean_text(s, l, sizeof l);
	strlcopy(sh, l, sizeof sh);
	rp_shorten(l, sizeof l, maxw);
	rp_shorten(sh, sizeof sh, maxw_pdf);
	tex_escape(sh, tex, sizeof tex);
	fprintf(f, "%s[%d] = ", var, i);
	gp_quote(f, l);
	fprintf(f, "\n%s_pdf[%d] = ", var, i);
	gp_quote(f, sh);
	fprintf(f, "\n%s_tex[%d] = ", var, i);
	gp_quote(f, tex);
	fputc('\n', f);
	if ((n = text_width(l)) > w->w)
		w->w = n;
	if ((n = text_width(sh)) > w->w_pdf)
		w->w_pdf = n;
	if ((n = (int)strlen(tex)) > w->w_tex)
		w->w_tex = n;
}

void dat_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, " %.10g", v);
	else
		fputs(" NaN", f);
}

struct fig *fig_add(struct report *R, const char *stem, const char *title, const char *what)
{
	struct fig *fg;
	char base[64];
	int dup = 0;

	if (R->nfig >= MAXFIGS)
		return NULL;
	fg = &R->fig[R->nfig++];
	memset(fg, 0, sizeof *fg);
	rp_safe_name(stem, base, sizeof base);
	strlcopy(fg->stem, base, sizeof fg->stem);
	for (int i = 0; i < R->nfig - 1; i++)
		if (!strcmp(R->fig[i].stem, fg->stem)) {
			snprintf(fg->stem, sizeof fg->stem, "%.50s_%d", base, ++dup + 1);
			i = -1;
		}
	clean_text(title, fg->title, sizeof fg->title);
	clean_text(what, fg->what, sizeof fg->what);
	return fg;
}

void fig_skip(struct report *R, const char *stem, const char *title, const char *why)
{
	struct fig *fg = fig_add(R, stem, title, "");

	if (fg)
		clean_text(why, fg->why, sizeof fg->why);
}

int gp_begin(struct report *R, struct gp *gp, const struct fig *fg, const char *tpl, double pdf_w,
	     double pdf_h, int png_w, int png_h, char *err, size_t errlen)
{
	memset(gp, 0, sizeof *gp);
	strlcopy(gp->stem, fg->stem, sizeof gp->stem);
	strlcopy(gp->tpl, tpl, sizeof gp->tpl);
	snprintf(gp->spath, sizeof gp->spath, "%s/%s.gp", R->repdir, gp->stem);
	snprintf(gp->dpath, sizeof gp->dpath, "%s/%s.dat", R->repdir, gp->stem);
	gp->s = fopen(gp->spath, "w");
	if (!gp->s)
		return errf(err, errlen, "%s: cannot write: %s", gp->spath, strerror(errno));
	gp->d = fopen(gp->dpath, "w");
	if (!gp->d) {
		fclose(gp->s);
		return errf(err, errlen, "%s: cannot write: %s", gp->dpath, strerror(errno));
	}
	fprintf(gp->s,
		"# %s.gp - a figure of wmbench report %s (templates common.gp and %s).\n"
		"# Redraw it (PDF, PNG, SVG%s) inside this directory with:  gnuplot %s.gp\n"
		"# Data: %s.dat; texts that come from the run are single-quoted strings\n"
		"# joined with Q (a single quote).\n\n",
		gp->stem, R->version, tpl, R->flags & REPORT_LATEX ? ", cairolatex" : "", gp->stem,
		gp->stem);
	fputs("Q = sprintf('%c', 39)\n", gp->s);
	fprintf(gp->s, "name = '%s'\ndatafile = '%s.dat'\nformats = '%s'\n", gp->stem, gp->stem,
		R->flags & REPORT_LATEX ? "pdf png svg tex" : "pdf png svg");
	fprintf(gp->s, "pdf_w = %.2f\npdf_h = %.2f\npng_w = %d\npng_h = %d\n", pdf_w, pdf_h, png_w,
		png_h);
	fprintf(gp->d, "# %s.dat - data of %s.gp (numbers only; NaN = none)\n", gp->stem, gp->stem);
	return 0;
}

static int read_template(struct report *R, const char *name, char **out, char *err, size_t errlen)
{
	char path[FILELEN];

	snprintf(path, sizeof path, "%s/%s", R->tpl_dir, name);
	return rp_read_text(path, out, NULL, err, errlen);
}

/* Last non-empty line of a gnuplot log, as one short line. */
static void log_tail(const char *path, char *out, size_t len)
{
	char *text = NULL, e[ERRBUF];
	char *last = NULL;

	strlcopy(out, "no message", len);
	if (rp_read_text(path, &text, NULL, e, sizeof e))
		return;
	for (char *p = strtok(text, "\n"); p; p = strtok(NULL, "\n"))
		if (p[strspn(p, " \t\r^")])
			last = p;
	if (last)
		clean_text(last + strspn(last, " \t"), out, len < 200 ? len : 200);
	free(text);
}

/* Runs `gnuplot STEM.gp` inside the report directory, stderr into STEM.log
 * (removed when empty). */
static int run_gnuplot(struct report *R, const char *stem, char *err, size_t errlen)
{
	char script[96], logname[96], logpath[FILELEN], why[256];
	char *argv[] = {"gnuplot", "-d", script, NULL};
	posix_spawn_file_actions_t fa;
	struct stat st;
	pid_t pid;
	int e, status;

	snprintf(script, sizeof script, "%s.gp", stem);
	snprintf(logname, sizeof logname, "%s.log", stem);
	snprintf(logpath, sizeof logpath, "%s/%s", R->repdir, logname);
	e = posix_spawn_file_actions_init(&fa);
	if (e)
		return errf(err, errlen, "%s/%s: cannot start gnuplot: %s", R->repdir, script,
			    strerror(e));
	e = posix_spawn_file_actions_addchdir_np(&fa, R->repdir);
	if (!e)
		e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!e)
		e = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (!e)
		e = posix_spawn_file_actions_addopen(&fa, 2, logname, O_WRONLY | O_CREAT | O_TRUNC,
						     0644);
	if (!e)
		e = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (e)
		return errf(err, errlen,
			    "%s/%s: cannot run gnuplot: %s; install gnuplot-nox (apt-get install "
			    "gnuplot-nox)",
			    R->repdir, script, strerror(e));
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return errf(err, errlen, "%s/%s: waiting for gnuplot: %s", R->repdir,
				    script, strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return errf(
		    err, errlen,
		    "%s/%s: cannot run gnuplot; install gnuplot-nox (apt-get install gnuplot-nox)",
		    R->repdir, script);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		log_tail(logpath, why, sizeof why);
		return errf(err, errlen,
			    "%s/%s: gnuplot failed: %s (log in %s); expected gnuplot 5.2 or newer "
			    "with the cairo terminals, install gnuplot-nox",
			    R->repdir, script, why, logname);
	}
	if (!stat(logpath, &st) && st.st_size == 0) {
		if (unlink(logpath))
			return errf(err, errlen, "%s: cannot remove: %s", logpath, strerror(errno));
	} else if (strlen(R->warn) + strlen(logname) + 3 < sizeof R->warn) {
		rp_cat(R->warn, sizeof R->warn, R->warn[0] ? ", " : "");
		rp_cat(R->warn, sizeof R->warn, logname);
	}
	return 0;
}

/* Appends the templates, closes the files and draws the figure. */
int gp_end(struct report *R, struct gp *gp, struct fig *fg, char *err, size_t errlen)
{
	char *tpl = NULL;
	int rc;

	rc = read_template(R, gp->tpl, &tpl, err, errlen);
	if (!rc) {
		fprintf(gp->s, "\n# ---- common.gp ----\n%s\n# ---- %s ----\n%s", R->common,
			gp->tpl, tpl);
		free(tpl);
	} else {
		fclose(gp->s);
		fclose(gp->d);
		return -1;
	}
	if (rp_file_error(gp->s, gp->spath, err, errlen)) {
		fclose(gp->d);
		return -1;
	}
	if (rp_file_error(gp->d, gp->dpath, err, errlen))
		return -1;
	if (run_gnuplot(R, gp->stem, err, errlen))
		return -1;
	fg->made = 1;
	return 0;
}

int find_templates(struct report *R, char *err, size_t errlen)
{
	char exe[PATH_MAX], cand[6][REPORT_PATHLEN], path[FILELEN];
	const char *env = getenv("WMBENCH_REPORTS");
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	int nc = 0;

	if (env && *env)
		strlcopy(cand[nc++], env, REPORT_PATHLEN);
	if (n > 0) {
		char *slash;

		exe[n] = 0;
		slash = strrchr(exe, '/');
		if (slash)
			*slash = 0;
		snprintf(cand[nc++], REPORT_PATHLEN, "%.900s/reports", exe);
		snprintf(cand[nc++], REPORT_PATHLEN, "%.900s/../share/wmbench/reports", exe);
	}
	strlcopy(cand[nc++], "/usr/local/share/wmbench/reports", REPORT_PATHLEN);
	strlcopy(cand[nc++], "/usr/share/wmbench/reports", REPORT_PATHLEN);
	for (int i = 0; i < nc; i++) {
		snprintf(path, sizeof path, "%.1000s/common.gp", cand[i]);
		if (!access(path, R_OK)) {
			strlcopy(R->tpl_dir, cand[i], sizeof R->tpl_dir);
			return rp_read_text(path, &R->common, NULL, err, errlen);
		}
	}
	return errf(err, errlen,
		    "gnuplot templates (common.gp) not found in $WMBENCH_REPORTS, next to the "
		    "wmbench executable (reports/, ../share/wmbench/reports/), "
		    "/usr/local/share/wmbench/reports or /usr/share/wmbench/reports; expected the "
		    "reports/*.gp files of wmbench ('make install' copies them)");
}

/* A round tic step giving at most about six intervals over span. */
double nice_step(double span)
{
	static const double m[] = {1, 2, 2.5, 5, 10};
	double raw = span > 0 && isfinite(span) ? span / 6 : 0.2;
	double mag = pow(10, floor(log10(raw)));

	for (int i = 0; i < 5; i++)
		if (m[i] * mag >= raw)
			return m[i] * mag;
	return 10 * mag;
}

double sd0(double sd)
{
	return isfinite(sd) ? sd : 0;
}

/* Writes NAME_min, NAME_max and NAME_step of an axis showing [lo, hi]
 * (padded, from 0 if from_zero) and returns its widest tic label in
 * characters. */
int gp_axis(FILE *f, const char *name, double lo, double hi, int from_zero)
{
	char t[64];
	double step;
	int w = 1;

	if (!isfinite(lo) || !isfinite(hi)) {
		lo = 0;
		hi = 1;
	}
	if (from_zero && lo > 0)
		lo = 0;
	if (hi - lo < 1e-9)
		hi = lo + (fabs(lo) > 1e-9 ? 0.1 * fabs(lo) : 1);
	if (!from_zero || lo < 0)
		lo -= 0.06 * (hi - lo);
	hi += 0.06 * (hi - lo);
	step = nice_step(hi - lo);
	for (long k = (long)ceil(lo / step); k * step <= hi; k++) {
		snprintf(t, sizeof t, "%g", k ? k * step : 0.0);
		if ((int)strlen(t) > w)
			w = (int)strlen(t);
	}
	fprintf(f, "%s_min = %.10g\n%s_max = %.10g\n%s_step = %.10g\n", name, lo, name, hi, name,
		step);
	return w;
}

const char *metric_label(const char *mn)
{
	if (!strcmp(mn, "ber"))
		return "bit error rate (BER)";
	if (!strcmp(mn, "wm_acc"))
		return "watermark accuracy";
	return mn;
}
