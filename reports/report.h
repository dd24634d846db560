/* report.h - turning a run directory into summary.csv, figures and report.md. */
#ifndef WM_REPORT_H
#define WM_REPORT_H

#include <stddef.h>

enum { REPORT_BUNDLE = 1, REPORT_LATEX = 2 };

/* Reads RUNDIR/results.csv (and run.json) and writes RUNDIR/report/:
 * summary.csv, the gnuplot scripts and data files, the figures (PDF, PNG,
 * SVG; cairolatex with REPORT_LATEX), report.md and report.html. With
 * REPORT_BUNDLE, also RUNDIR.tar.gz. Returns 0, or -1 with a message. */
int report_run(const char *rundir, int flags, char *err, size_t errlen);

#endif
