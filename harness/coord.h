/* coord.h - the run: journal, resume, and the MPI self-scheduling coordinator. */
#ifndef WM_COORD_H
#define WM_COORD_H

#include "job.h"

#include <mpi.h>
#include <pthread.h>

/* Rank 0's messages: TAG_JOB to a worker (MPI_BYTE: a job index, then the
 * job and the ancestors it reads, packed by job_pack; the index alone, -1,
 * tells it to stop), TAG_RESULT (its row) back. */
enum { TAG_JOB = 1, TAG_RESULT = 2 };

/* How rank 0's loop (serve_workers in coord.c) talks to its workers: MPI in
 * a run; harness/coord_sim.c drives the same loop with simulated workers. */
struct coord_transport {
	/* A TAG_RESULT message waiting from any worker: *flag 1 and its rank in
	 * *w, else *flag 0. -1 when the call failed. */
	int (*probe)(struct coord_transport *t, int *flag, int *w);
	/* Receives that message (len bytes) from worker w; 0, or -1 (w is lost). */
	int (*recv)(struct coord_transport *t, int w, void *buf, int len);
	/* Sends n items of type to worker w; 0, or -1 (w is lost). */
	int (*send)(struct coord_transport *t, const void *buf, int n, MPI_Datatype type, int w,
		    int tag);
	/* Nothing arrived: wait about us microseconds before polling again. */
	void (*idle)(struct coord_transport *t, long us);
	/* NULL: the real clock. Else the time (s) that the journal's group
	 * window (JOURNAL_GROUP_MS) runs on. */
	double (*clock)(void *ctx);
	void *ctx;
};

struct run_opts {
	const char *jobfile;
	char rundir[PATHLEN]; /* "" = runs/<name> */
	int dry_run;
	int retry_failed;
	int extend;
	int quiet;
	int synthetic;	    /* benchmark: jobs sleep/spin instead of training */
	double synthetic_s; /* seconds of CPU per synthetic job */
	/* NULL: MPI. Else rank 0 serves size - 1 workers through it (no
	 * MPI call is made: harness/coord_sim.c) */
	struct coord_transport *transport;
};

/* Runs (or resumes) a job file. Called on every rank after MPI_Init (size 1
 * = inline). Returns the process exit status: 0 all jobs ok, 1 the run could
 * not start, 3 the run finished with failed or skipped jobs. */
int coord_run(const struct run_opts *o, int rank, int size);

/* The run's journal, results.csv. Group commit: rows are buffered and
 * written with one write per group, when JOURNAL_GROUP_ROWS rows wait or the
 * oldest has waited JOURNAL_GROUP_MS (journal_tick, called from the
 * coordinator's loop), and at close. The fsync that makes a written group
 * durable runs on a thread of its own, so that the coordinator's loop does
 * not wait for the disk: one fsync covers every group written before it,
 * and a failed one is reported by the next commit (or close). A written row
 * survives kill -9 (it is in the page cache); kill -9 loses at most the open
 * group, whose jobs a resumed run does again, and a crash of the machine at
 * most the groups written since the last fsync. close waits for the last
 * fsync. */
#define JOURNAL_GROUP_ROWS 256
#define JOURNAL_GROUP_MS   10.0
struct journal {
	int fd;
	double fsync_s; /* seconds in fsync (under mu: journal_fsync_seconds) */
	long commits;	/* groups written */
	char path[PATHLEN + 32];
	char *buf; /* rows of the open group */
	size_t len, cap;
	int nbuf;
	double t_first;		    /* when the oldest row of the open group was appended */
	double (*clock)(void *ctx); /* NULL: now_seconds */
	void *clock_ctx;
	/* the fsync thread (th_on: running; else commits fsync inline) */
	int th_on;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t ask, done;
	int want, stop, busy; /* under mu: a sync asked, the thread to end, one running */
	int sync_errno;	      /* under mu: errno of a failed fsync not yet reported */
	int sync_failed;      /* under mu: errno of the last failed fsync (close fails) */
	long syncs;	      /* under mu: fsyncs done */
};
/* 0: journals fsync inline, on the caller's thread (an MPI library that
 * does not allow a second thread); 1 (default): on a thread of their own. */
extern int journal_thread_ok;
int journal_open(struct journal *jl, const char *rundir, char *err, size_t errlen);
/* Adds a row to the open group (committing it when full). */
int journal_append(struct journal *jl, const struct result_row *r, char *err, size_t errlen);
/* Commits the open group if its oldest row waited JOURNAL_GROUP_MS. */
int journal_tick(struct journal *jl, char *err, size_t errlen);
/* Writes the open group now and asks the fsync thread for an fsync; on a
 * failed write the rows stay buffered for the next commit and the file is
 * cut back to its last whole row. Also reports an earlier fsync's failure. */
int journal_commit(struct journal *jl, char *err, size_t errlen);
/* Commits and waits until every written row is fsynced. */
int journal_flush(struct journal *jl, char *err, size_t errlen);
/* Seconds spent in fsync so far (on the fsync thread). */
double journal_fsync_seconds(struct journal *jl);
/* Commits, waits for the last fsync, then closes; fails if any fsync of the
 * run failed. */
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
