/* coord_sim.h - rank 0's real coordinator loop with simulated workers: a
 * discrete-event simulation of a run on any number of ranks in one process
 * (README "Tests and benchmarks", a thousand ranks). */
#ifndef WM_COORD_SIM_H
#define WM_COORD_SIM_H

#include <stddef.h>

struct sim_params {
	int workers;
	/* One-way latency (s) of a job index to a worker and of a row back. */
	double lat_job, lat_row;
	/* Rank 0's time (s) in one MPI_Iprobe, MPI_Recv of a row, MPI_Send. */
	double probe_s, recv_s, send_s;
	/* 1: rank 0's own time is not charged and it polls exactly when a row
	 * arrives, so the schedule alone sets the makespan (tests). 0: the
	 * measured CPU time of rank 0's code and the MPI call times advance the
	 * clock, and its idle naps are the real loop's. */
	int ideal;
	/* Seconds of job j of the job file's expansion (jobs_expand order),
	 * ndur of them; a job grown during the run (a search's probe) takes
	 * grown_s. */
	const double *dur;
	int ndur;
	double grown_s;
};

/* What happened to one job: simulated times (s) its index was sent, its
 * row came back, and how often it was handed out. */
struct sim_job {
	double sent, back;
	int worker, runs;
};

struct sim_result {
	int status;	 /* coord_run's exit status (0: every job ok) */
	int hang;	 /* rank 0 waited with no job running: a real run would hang */
	double makespan; /* simulated s from rank 0's first poll to the last row */
	/* Rank 0's busy time (s): measured CPU time of its code between
	 * messages (part of it, idle_cpu, extrapolated over polls skipped while
	 * nothing can arrive) and the modelled time of its MPI calls. */
	double coord_cpu, idle_cpu, mpi_s;
	double io_wait;	   /* wall time (s) rank 0 was blocked (the journal's fsync) */
	double clock_cost; /* one CLOCK_THREAD_CPUTIME_ID read, taken off each interval */
	long probes, recvs, sends, idles, skipped_polls;
	int njobs;	     /* entries of job[] (grown jobs after the static ones) */
	struct sim_job *job; /* malloc'd; free with coord_sim_free */
};

/* Runs jobfile with p->workers simulated workers through coord_run's real
 * rank 0 (as --synthetic, so no data is loaded), journaling into rundir,
 * which must not exist yet. 0, or -1 with a message. */
int coord_sim_run(const char *jobfile, const char *rundir, const struct sim_params *p,
		  struct sim_result *res, char *err, size_t errlen);
void coord_sim_free(struct sim_result *res);

#endif
