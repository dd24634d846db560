/* report_int.h - what the parts of the report share (private to reports/):
 * the run as read (struct report), groups of rows, figures and their lines,
 * and the helpers of each part. */
#ifndef WM_REPORT_INT_H
#define WM_REPORT_INT_H

#include <stddef.h>
#include <stdio.h>

#include "report.h"
#include "results.h"
#include "runjson.h"

#define REPORT_PATHLEN	1024		       /* a run directory (the harness's PATHLEN) */
#define LABELLEN	768		       /* scheme + params + attack params, cleaned */
#define REPDIRLEN	(REPORT_PATHLEN + 16)  /* RUNDIR/report */
#define FILELEN		(REPORT_PATHLEN + 200) /* a path inside RUNDIR/report */
#define MAXFIGS		64
#define MAXKEYS		32
#define DEFAULT_ALPHA	1e-3
#define DEFAULT_VERSION "unknown" /* of a run without run.json or its wmbench_version */
#define LOST_MAX	0.05	  /* accuracy loss below which an attack may succeed */
#define MAXTEXT		(1 << 20) /* run.json, templates */

/* Text widths in characters (rp_shorten cuts to them). */
#define KEY_MAX	      56 /* characters of a key entry: PNG, SVG */
#define KEY_MAX_PDF   30 /* the same in the single-column PDF */
#define TIC_MAX	      40 /* characters of a tic label: PNG, SVG */
#define TIC_MAX_PDF   20 /* the same in the PDF */
#define TITLE_MAX_PDF 46 /* characters of a title or axis label in the PDF */

struct mstat {
	int n;
	double mean, sd, ci;
};

enum {
	M_METRIC,
	M_PVALUE,
	M_DETECTED,
	M_ACC,
	M_DROP,
	M_REMOVED,
	M_FORGED,
	M_SUCCESS,
	M_WALL,
	NMET
};

/* An attack setting is degenerate when the unmarked model loses this much
 * test accuracy under it, mean over seeds (README "report/summary.csv"). */
#define DEGENERATE_DROP 0.05
/* How the figures name the points of degenerate settings (ringed). */
#define DEGENERATE_NOTE "ringed: degenerate (the unmarked model loses 5+ points)"

struct group {
	const struct result_row *rep; /* kind, scheme, params, attack from here */
	char metric_name[8];
	int n, n_failed, n_skipped;
	int *ok, cap;	 /* rows with status ok (n of them) */
	double capacity; /* bits, NAN if none */
	double emp_thr;	 /* controls: empirical threshold */
	/* attack groups: the unmarked model's mean accuracy loss under the same
	 * attack setting, and whether it is DEGENERATE_DROP or more (1), less (0),
	 * or unknown (-1: the run attacked no unmarked model with it) */
	double unmarked_drop;
	int degenerate;
	struct mstat st[NMET];
};

struct fig {
	char stem[64];
	char title[LABELLEN];
	char what[512];
	int made;
	char why[512];
};

struct report {
	const char *rundir;
	char repdir[REPDIRLEN];
	int flags;
	struct result_row *rows;
	int nrows, nlines_read, nsuperseded, truncated_line;
	int nok, nfailed, nskipped;
	char results_sha[65];
	struct group *g;
	int ng;
	char *json;			/* run.json, NULL if absent */
	struct runjson_plugin *plugins; /* its plug-ins */
	int nplugins;
	char version[64]; /* of wmbench, from run.json */
	char name[256];
	double alpha;
	int alpha_from_run;
	char tpl_dir[REPORT_PATHLEN];
	char *common;
	struct fig fig[MAXFIGS];
	int nfig;
	char warn[1024]; /* gnuplot warnings, kept in .log files */
	int has_controls;
	double tradeoff_thr_spread; /* several thresholds in the trade-off plot */
};

struct style {
	const char *color;
	int pt, dt;
};

struct ctrl {
	int n, fp;
	double fpr, lo, hi, q, thr;
};

/* Widest texts of an array: characters of the long and the PDF form,
 * bytes of the LaTeX form (gnuplot counts the markup). */
struct widths {
	int w, w_pdf, w_tex;
};

struct gp {
	FILE *s, *d;
	char stem[64], tpl[32];
	char spath[FILELEN], dpath[FILELEN];
};

/* One line (or bar, or row of points) of a figure: groups of one scheme +
 * params (+ other parameters in rest). */
struct line {
	const struct result_row *rep;
	char rest[LABELLEN];
	int *g, ng, cap;
	double *x; /* x of each group */
	int variant;
	double thr;
	char label[LABELLEN];
	struct style st;
};

struct lineset {
	struct line *l;
	int n, cap;
};

/* stats.c */
void mstat_of(const double *v, int nv, struct mstat *s);
double rp_quantile(double *v, int nv, double p);

/* text.c */
void *rp_grow(void *p, size_t n, size_t size);
void rp_push_int(int **v, int *n, int *cap, int x);
void clean_text2(const char *s, char *out, size_t len, int keep_lines);
void clean_text(const char *s, char *out, size_t len);
int text_width(const char *s);
void rp_shorten(char *s, size_t len, int maxw);
void rp_cat(char *dst, size_t len, const char *src);
int rp_is_num(const char *s, double *v);
void rp_safe_name(const char *s, char *out, size_t len);
int rp_file_error(FILE *f, const char *path, char *err, size_t errlen);
int rp_read_text(const char *path, char **out, size_t *outlen, char *err, size_t errlen);

/* kv.c */
int kv_item(const char *ps, int i, char *key, size_t klen, char *val, size_t vlen);
int kv_get(const char *ps, const char *key, char *val, size_t vlen);
void kv_del(const char *ps, const char *key, char *out, size_t len);
void kv_pretty(const char *ps, char *out, size_t len);
void kv_varying(const char *ps, const char *const *others, int n, char *out, size_t len);
int kv_cmp(const char *a, const char *b);

/* load.c */
int scheme_cmp(const struct report *R, const char *a, const char *b);
void style_of(const struct report *R, const char *scheme, int variant, struct style *st);
double retained(const char *metric_name, double v);
int load_results(struct report *R, char *err, size_t errlen);
void load_run_json(struct report *R);
void build_groups(struct report *R);
double control_thr(const struct report *R, const struct result_row *r);

/* summary.c */
int write_summary(struct report *R, char *err, size_t errlen);
void control_stats(const struct report *R, const struct group *g, struct ctrl *c);
int write_controls(struct report *R, char *err, size_t errlen);
int write_calibration(struct report *R, char *err, size_t errlen);

/* gnuplot.c */
void gp_text2(FILE *f, const char *var, const char *s, const char *s_pdf);
void gp_text(FILE *f, const char *var, const char *s);
void gp_num(FILE *f, const char *var, double v);
void gp_decl(FILE *f, const char *var, int n);
void gp_label(FILE *f, const char *var, int i, const char *s, int maxw, int maxw_pdf,
	      struct widths *w);
void dat_num(FILE *f, double v);
struct fig *fig_add(struct report *R, const char *stem, const char *title, const char *what);
void fig_skip(struct report *R, const char *stem, const char *title, const char *why);
int gp_begin(struct report *R, struct gp *gp, const struct fig *fg, const char *tpl, double pdf_w,
	     double pdf_h, int png_w, int png_h, char *err, size_t errlen);
int gp_end(struct report *R, struct gp *gp, struct fig *fg, char *err, size_t errlen);
int find_templates(struct report *R, char *err, size_t errlen);
double nice_step(double span);
double sd0(double sd);
int gp_axis(FILE *f, const char *name, double lo, double hi, int from_zero);
const char *metric_label(const char *mn);

/* lines.c */
struct line *line_get(struct lineset *ls, const struct result_row *rep, const char *rest);
void line_add(struct line *l, int g, double x);
void lineset_finish(const struct report *R, struct lineset *ls);
void lineset_free(struct lineset *ls);
void gp_lines(FILE *f, const struct lineset *ls, int minw);
void xtics_list(FILE *f, const struct lineset *ls);
double line_threshold(const struct report *R, const struct line *l, const char *mn,
		      double capacity);

/* docs.c */
int write_docs(struct report *R, char *err, size_t errlen);

/* bundle.c */
int write_bundle(struct report *R, char *err, size_t errlen);

/* the figures */
int fig_robustness(struct report *R, char *err, size_t errlen);
int fig_tradeoff(struct report *R, char *err, size_t errlen);
int fig_calibration(struct report *R, char *err, size_t errlen);
int fig_capacity(struct report *R, char *err, size_t errlen);
int fig_heatmap(struct report *R, char *err, size_t errlen);
int fig_cost(struct report *R, char *err, size_t errlen);
int fig_attack_cost(struct report *R, char *err, size_t errlen);

#endif
