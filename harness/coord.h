/* coord.h - the run: journal, resume, and the MPI self-scheduling coordinator. */
#ifndef WM_COORD_H
#define WM_COORD_H

#include "job.h"

struct run_opts {
	const char *jobfile;
	char rundir[PATHLEN]; /* "" = runs/<name> */
	int dry_run;
	int retry_failed;
	int extend;
	int quiet;
	int synthetic;	    /* benchmark: jobs sleep/spin instead of training */
	double synthetic_s; /* seconds of CPU per synthetic job */
};

/* Runs (or resumes) a job file. Called on every rank after MPI_Init (size 1
 * = inline). Returns the process exit status: 0 all jobs ok, 1 the run could
 * not start, 3 the run finished with failed or skipped jobs. */
int coord_run(const struct run_opts *o, int rank, int size);

/* The run's journal, results.csv: rows appended by one write + fsync each. */
struct journal {
	int fd;
	double fsync_s; /* time spent in fsync (benchmarks report it apart) */
	char path[PATHLEN + 32];
};
int journal_open(struct journal *jl, const char *rundir, char *err, size_t errlen);
int journal_append(struct journal *jl, const struct result_row *r, char *err, size_t errlen);
void journal_close(struct journal *jl);
/* Reads the rows of rundir/results.csv, dropping (and truncating away) a torn
 * last line. *rows is malloc'd; later rows of the same job win. */
int journal_read(const char *rundir, struct result_row **rows, int *n, char *err, size_t errlen);

#endif
