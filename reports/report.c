/* report.c - report_run: summary statistics, gnuplot figures, report.md/html
 * and the bundle of one run directory (see report.h). Its parts: load.c,
 * stats.c, summary.c, gnuplot.c and lines.c, one fig_*.c per figure, docs.c
 * and bundle.c; report_int.h holds what they share.
 *
 * RUNDIR/results.csv holds one row per job attempt; the last row of a job id
 * wins. Rows are grouped by (kind, scheme, scheme params, attack, attack
 * params) over seeds. Each figure is a generated gnuplot script, a data file
 * and the figure files; the script holds every variable it needs followed by
 * a copy of the templates common.gp and <figure>.gp, so `gnuplot NAME.gp`
 * inside report/ redraws it. Every text that comes from the data is written
 * into gnuplot as single-quoted strings (gnuplot expands backquotes and
 * macros in double-quoted ones only); a single quote in it becomes the
 * variable Q joined with '.', since gnuplot 5.4 mis-scans '' next to another
 * quote. Data files hold numbers only.
 *
 * Each report run first removes the files it generates (by extension) from
 * RUNDIR/report/, so figures of an earlier report cannot linger. */
#include "report_int.h"
#include "../workers/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* Removes what an earlier report wrote (by extension) from report/. */
static int clean_report_dir(struct report *R, char *err, size_t errlen)
{
	static const char *const ext[] = {
	    ".gp", ".dat", ".pdf", ".png", ".svg", ".tex", ".log", ".csv", ".md", ".html",
	};
	DIR *dir = opendir(R->repdir);
	struct dirent *de;
	int rc = 0;

	if (!dir)
		return errf(err, errlen, "%s: cannot list: %s", R->repdir, strerror(errno));
	while ((de = readdir(dir))) {
		const char *dot = strrchr(de->d_name, '.');
		char path[FILELEN + 300];
		struct stat st;

		if (!dot || de->d_name[0] == '.')
			continue;
		for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
			if (strcmp(dot, ext[i]))
				continue;
			snprintf(path, sizeof path, "%s/%s", R->repdir, de->d_name);
			if (!lstat(path, &st) && S_ISREG(st.st_mode) && unlink(path)) {
				rc = errf(err, errlen, "%s: cannot remove: %s", path,
					  strerror(errno));
				goto out;
			}
		}
	}
out:
	closedir(dir);
	return rc;
}

int report_run(const char *rundir, int flags, char *err, size_t errlen)
{
	struct report *R = xcalloc(1, sizeof *R);
	struct stat st;
	int rc = -1;

	R->rundir = rundir;
	R->flags = flags;
	if (!rundir || !*rundir) {
		errf(err, errlen,
		     "no run directory given; expected a directory written by 'wmbench run'");
		goto out;
	}
	if (strlen(rundir) >= REPORT_PATHLEN) {
		errf(err, errlen, "%.60s...: path too long; expected at most %d bytes", rundir,
		     REPORT_PATHLEN - 1);
		goto out;
	}
	if (load_results(R, err, errlen) || find_templates(R, err, errlen))
		goto out;
	load_run_json(R);
	snprintf(R->repdir, sizeof R->repdir, "%s/report", rundir);
	if (mkdir(R->repdir, 0755) && errno != EEXIST) {
		errf(err, errlen, "%s: cannot create directory: %s", R->repdir, strerror(errno));
		goto out;
	}
	if (stat(R->repdir, &st) || !S_ISDIR(st.st_mode)) {
		errf(err, errlen, "%s: not a directory; expected the report directory of the run",
		     R->repdir);
		goto out;
	}
	if (clean_report_dir(R, err, errlen))
		goto out;
	build_groups(R);
	if (write_summary(R, err, errlen) || write_controls(R, err, errlen) ||
	    write_calibration(R, err, errlen))
		goto out;
	if (fig_robustness(R, err, errlen) || fig_tradeoff(R, err, errlen) ||
	    fig_capacity(R, err, errlen) || fig_heatmap(R, err, errlen) ||
	    fig_cost(R, err, errlen) || fig_attack_cost(R, err, errlen) ||
	    fig_calibration(R, err, errlen))
		goto out;
	if (write_docs(R, err, errlen))
		goto out;
	if ((flags & REPORT_BUNDLE) && write_bundle(R, err, errlen))
		goto out;
	rc = 0;
out:
	for (int k = 0; k < R->ng; k++)
		free(R->g[k].ok);
	free(R->g);
	free(R->rows);
	free(R->json);
	free(R->plugins);
	free(R->common);
	free(R);
	return rc;
}
