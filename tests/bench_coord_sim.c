/* bench_coord_sim.c - rank 0's real coordinator loop with 1 to 1,024 (or
 * more) simulated workers (harness/coord_sim.c), for make bench
 * (tests/bench_coord_sim.sh):
 *
 *   bench_coord_sim [options] JOBFILE TMPDIR
 *     --durations FILE  seconds of each job, one per line in the job file's
 *                       order (tests/sim_durations.py), or
 *     --short S         every job S seconds
 *     --workers LIST    e.g. 1,8,64,256,1024
 *     --lat-job US --lat-row US   one-way latencies of a job index and a row
 *     --probe US --recv US --send US   rank 0's time per MPI call
 *     --label NAME      printed before each line
 *     --ideal-tmp DIR   run directories of the ideal runs (default TMPDIR);
 *                       a tmpfs spares their fsyncs, which they do not time
 *
 * Prints, per worker count: the makespan; the makespan of the same schedule
 * with rank 0 free and no latency (ideal_s); the lower bound max(critical
 * path, total work / workers) and the makespan's ratio to it; sustained
 * jobs/s; rank 0's CPU share (its measured CPU time plus its MPI calls, per
 * simulated second) and the share it waited in the journal's fsync; and its
 * CPU time per job. */
#include "coord_sim.h"
#include "job.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
	fprintf(stderr, "usage: bench_coord_sim [--durations FILE | --short S] [--workers LIST] "
			"[--lat-job US] [--lat-row US] [--probe US] [--recv US] [--send US] "
			"[--label NAME] [--ideal-tmp DIR] JOBFILE TMPDIR\n");
	exit(2);
}

static double num(const char *opt, const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v >= 0)) {
		fprintf(stderr, "bench_coord_sim: %s '%s': expected a number >= 0\n", opt, s);
		exit(2);
	}
	return v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The longest chain of job durations through parents and `after` ranges;
 * both point to earlier jobs, so one pass in job order does. head[i] gets
 * the earliest time job i can start. */
static double critical_path(const struct job *jobs, int n, const double *dur, double *head)
{
	double *end = xcalloc((size_t)n + 1, sizeof *end), cp = 0;

	for (int i = 0; i < n; i++) {
		double start = jobs[i].parent >= 0 ? end[jobs[i].parent] : 0;
		for (int d = jobs[i].after; d >= 0 && d < jobs[i].after + jobs[i].nafter; d++)
			if (d < i && end[d] > start)
				start = end[d];
		head[i] = start;
		end[i] = start + dur[i];
		if (end[i] > cp)
			cp = end[i];
	}
	free(end);
	return cp;
}

/* A tighter lower bound on w workers: the jobs that cannot start before h
 * take at least h + their work / w, for every h (and never less than the
 * critical path). */
static double dag_bound(int n, const double *dur, const double *head, double cp, int w)
{
	struct hd {
		double head, dur;
	} *x = xmalloc((size_t)(n ? n : 1) * sizeof *x);
	double best = cp, work = 0;

	for (int i = 0; i < n; i++) {
		x[i].head = head[i];
		x[i].dur = dur[i];
	}
	/* latest start first: the work of every job starting at h or later */
	qsort(x, (size_t)n, sizeof *x, cmp_double);
	for (int i = n - 1; i >= 0; i--) {
		work += x[i].dur;
		if (x[i].head + work / w > best)
			best = x[i].head + work / w;
	}
	free(x);
	return best;
}

/* Jobs per second while the run is in full swing: the rows from the 10th to
 * the 90th percentile of finishing times, over the time between them (the
 * start, when few jobs are ready, and the tail are left out). */
static double sustained(const struct sim_result *res)
{
	double *t = xmalloc((size_t)res->njobs * sizeof *t), r;
	int n = 0;

	for (int k = 0; k < res->njobs; k++)
		if (res->job[k].runs)
			t[n++] = res->job[k].back;
	qsort(t, (size_t)n, sizeof *t, cmp_double);
	int a = n / 10, b = n - 1 - n / 10;
	r = b > a && t[b] > t[a] ? (b - a) / (t[b] - t[a]) : n / t[n - 1];
	free(t);
	return r;
}

int main(int argc, char **argv)
{
	const char *durfile = NULL, *label = "sim", *wlist = "1,8,64,256,1024", *itmp = NULL;
	double shorts = -1, lat_job = 5, lat_row = 5, probe = 0.5, recv = 1, send = 1;
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i += 2) {
		if (i + 1 >= argc)
			usage();
		const char *o = argv[i], *v = argv[i + 1];
		if (!strcmp(o, "--durations"))
			durfile = v;
		else if (!strcmp(o, "--short"))
			shorts = num(o, v);
		else if (!strcmp(o, "--workers"))
			wlist = v;
		else if (!strcmp(o, "--lat-job"))
			lat_job = num(o, v);
		else if (!strcmp(o, "--lat-row"))
			lat_row = num(o, v);
		else if (!strcmp(o, "--probe"))
			probe = num(o, v);
		else if (!strcmp(o, "--recv"))
			recv = num(o, v);
		else if (!strcmp(o, "--send"))
			send = num(o, v);
		else if (!strcmp(o, "--label"))
			label = v;
		else if (!strcmp(o, "--ideal-tmp"))
			itmp = v;
		else
			usage();
	}
	if (argc - i != 2 || (!durfile) == (shorts < 0))
		usage();
	const char *jobfile = argv[i], *tmp = argv[i + 1];
	if (!itmp)
		itmp = tmp;
	struct run_spec rs;
	struct job *jobs;
	int n;
	char err[ERRBUF];

	if (jobfile_load(jobfile, &rs, err, sizeof err) ||
	    jobs_expand(&rs, &jobs, &n, err, sizeof err)) {
		fprintf(stderr, "bench_coord_sim: %s\n", err);
		return 1;
	}
	double *dur = xmalloc((size_t)(n ? n : 1) * sizeof *dur), work = 0;
	if (durfile) {
		FILE *f = fopen(durfile, "r");
		int k = 0;
		if (!f) {
			perror(durfile);
			return 1;
		}
		while (k < n && fscanf(f, "%lf", &dur[k]) == 1)
			k++;
		double extra;
		if (k != n || fscanf(f, "%lf", &extra) == 1) {
			fprintf(stderr, "%s: %s durations; expected %d, one per job of %s\n",
				durfile, k != n ? "too few" : "too many", n, jobfile);
			return 1;
		}
		fclose(f);
	} else {
		for (int k = 0; k < n; k++)
			dur[k] = shorts;
	}
	for (int k = 0; k < n; k++)
		work += dur[k];
	double *head = xmalloc((size_t)(n ? n : 1) * sizeof *head);
	double cp = critical_path(jobs, n, dur, head);
	printf("%s: %d jobs of %s, total work %.1f s, mean %.3f s per job, critical path "
	       "%.1f s\n",
	       label, n, jobfile, work, work / n, cp);
	printf("%s: latencies job %.1f us, row %.1f us; rank 0 per MPI_Iprobe %.2f us, "
	       "MPI_Recv %.2f us, MPI_Send %.2f us\n",
	       label, lat_job, lat_row, probe, recv, send);
	printf("%s: %7s %10s %10s %10s %7s %10s %9s %7s %7s %7s\n", label, "workers", "makespan_s",
	       "ideal_s", "bound_s", "ratio", "dag_bound", "jobs/s", "cpu_%", "fsync_%", "us/job");

	char *ws = strdup(wlist);
	for (char *tok = strtok(ws, ","); tok; tok = strtok(NULL, ",")) {
		struct sim_params p = {0};
		struct sim_result res, ideal;
		char dir[PATHLEN];

		p.workers = atoi(tok);
		p.dur = dur;
		p.ndur = n;
		p.grown_s = work / n;
		p.ideal = 1;
		snprintf(dir, sizeof dir, "%s/%s-%d-ideal", itmp, label, p.workers);
		if (coord_sim_run(jobfile, dir, &p, &ideal, err, sizeof err)) {
			fprintf(stderr, "bench_coord_sim: %s\n", err);
			return 1;
		}
		p.ideal = 0;
		p.lat_job = 1e-6 * lat_job;
		p.lat_row = 1e-6 * lat_row;
		p.probe_s = 1e-6 * probe;
		p.recv_s = 1e-6 * recv;
		p.send_s = 1e-6 * send;
		snprintf(dir, sizeof dir, "%s/%s-%d", tmp, label, p.workers);
		if (coord_sim_run(jobfile, dir, &p, &res, err, sizeof err)) {
			fprintf(stderr, "bench_coord_sim: %s\n", err);
			return 1;
		}
		if (res.status || ideal.status) {
			fprintf(stderr, "bench_coord_sim: the run ended with status %d\n",
				res.status ? res.status : ideal.status);
			return 1;
		}
		double bound = work / p.workers > cp ? work / p.workers : cp,
		       busy = res.coord_cpu + res.mpi_s;
		printf("%s: %7d %10.2f %10.2f %10.2f %7.3f %10.2f %9.2f %7.2f %7.2f %7.2f\n", label,
		       p.workers, res.makespan, ideal.makespan, bound, res.makespan / bound,
		       dag_bound(n, dur, head, cp, p.workers), sustained(&res),
		       100 * busy / res.makespan, 100 * res.io_wait / res.makespan,
		       1e6 * busy / res.njobs);
		coord_sim_free(&res);
		coord_sim_free(&ideal);
	}
	free(ws);
	free(dur);
	free(head);
	free(jobs);
	jobfile_free(&rs);
	return 0;
}
