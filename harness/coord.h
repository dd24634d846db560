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
/* Group commit: rows are buffered and written with one write and one fsync
 * per group, when JOURNAL_GROUP_ROWS rows wait or the oldest has waited
 * JOURNAL_GROUP_MS (journal_tick, called from the coordinator's loop), and
 * at close. A row is durable after the commit of its group; kill -9 loses at
 * most the open group, whose jobs a resumed run does again. */
#define JOURNAL_GROUP_ROWS 256
#define JOURNAL_GROUP_MS   10.0
struct journal {
	int fd;
	double fsync_s; /* time spent in fsync (benchmarks report it apart) */
	long commits;	/* groups written */
	char path[PATHLEN + 32];
	char *buf; /* rows of the open group */
	size_t len, cap;
	int nbuf;
	double t_first; /* when the oldest row of the open group was appended */
};
int journal_open(struct journal *jl, const char *rundir, char *err, size_t errlen);
/* Adds a row to the open group (committing it when full). */
int journal_append(struct journal *jl, const struct result_row *r, char *err, size_t errlen);
/* Commits the open group if its oldest row waited JOURNAL_GROUP_MS. */
int journal_tick(struct journal *jl, char *err, size_t errlen);
/* Writes and fsyncs the open group now; on failure the rows stay buffered
 * for the next commit and the file is cut back to its last whole row. */
int journal_commit(struct journal *jl, char *err, size_t errlen);
/* Commits, then closes. */
int journal_close(struct journal *jl, char *err, size_t errlen);
/* Reads the rows of rundir/results.csv, dropping (and truncating away) a torn
 * last line. *rows is malloc'd; later rows of the same job win. */
int journal_read(const char *rundir, struct result_row **rows, int *n, char *err, size_t errlen);
/* The same rows one at a time, in file order, to fn (which returns 0 to go
 * on): memory does not grow with the journal (a resumed run of a million
 * jobs). Returns -1 with a message, or fn's first non-zero result. */
int journal_scan(const char *rundir, int (*fn)(void *ctx, const struct result_row *r), void *ctx,
		 char *err, size_t errlen);

#endif
