/* report.h - turning a run directory into summary.csv, figures and report.md. */
#ifndef WM_REPORT_H
#define WM_REPORT_H

#include <stddef.h>

enum { REPORT_BUNDLE = 1, REPORT_LATEX = 2 };

/* Reads RUNDIR/results.csv (and run.json) and writes RUNDIR/report/:
 * summary.csv, the gnuplot scripts and data files, the figures (PDF, PNG,
 * SVG; cairolatex with REPORT_LATEX), report.md and report.html. With
 * REPORT_BUNDLE, also RUNDIR.tar.gz. Returns 0, or -1 with a message.
 * The gnuplot templates are looked up in $WMBENCH_REPORTS, then next to the
 * executable (reports/, ../share/wmbench/reports/), then under /usr/local
 * and /usr. */
int report_run(const char *rundir, int flags, char *err, size_t errlen);

/* The statistics behind the report (exposed for the tests). */
/* Regularised incomplete beta I_x(a, b) and its inverse in x (bisection). */
double report_beta_inc(double a, double b, double x);
double report_beta_quantile(double p, double a, double b);
/* Exact (Clopper-Pearson) two-sided 95% interval of a binomial proportion x/n. */
void report_clopper_pearson(int x, int n, double *lo, double *hi);
/* The 97.5% quantile of Student's t with df degrees of freedom. */
double report_t975(int df);
/* P[Bin(n, p) >= x] (1 for x <= 0, 0 for x > n). */
double report_binom_sf(int n, int x, double p);
/* The calibration pass rule (README "Calibration"): fp[i] false positives of
 * n[i] null trials on each of m models pass at level alpha unless a one-sided
 * exact binomial test of H0: FPR <= alpha rejects at 5 %, on the pooled trials
 * (P[Bin(sum n, alpha) >= sum fp] < 0.05) or on any one model with Bonferroni
 * over the M models the run asked for (P[Bin(n[i], alpha) >= fp[i]] < 0.05 / M).
 * The pooled test only when pooled: its trials must be independent, which
 * they are not when every model is verified with the same keys (keys made
 * from owner models). 1 pass, 0 fail, -1 without trials. */
int report_calib_pass(const int *fp, const int *n, int m, int M, int pooled, double alpha);
/* Smallest k with P[Bin(n, 1/2) >= k] < alpha, or -1 if there is none. */
int report_binom_threshold(int n, double alpha);

#endif
