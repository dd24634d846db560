/* coord_sim.c - drives rank 0's real loop (coord_run: the schedule, the
 * journal, serve_workers) with simulated workers, through a coord_transport
 * whose calls advance a simulated clock. A worker's row arrives one job
 * latency, the job's duration and one row latency after its job was sent.
 * Rank 0's own time counts as it does on a real rank: the CPU time its code
 * takes between two transport calls (measured on this thread) and each MPI
 * call's measured cost advance the clock, and so does any time it waits
 * blocked (the journal's fsync, before it moved to a thread of its own);
 * its idle naps are the loop's.
 * So the simulation shows when one coordinator cannot keep up with its
 * workers, which 1,024 real ranks could not show on this machine. */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include "coord_sim.h"
#include "coord.h"
#include "../workers/util.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct sim_ev {
	double t; /* when the row is there to be probed */
	int w;
};

struct sim {
	const struct sim_params *p;
	struct sim_result *res;
	const struct run_spec *rs;
	const struct job *jobs; /* the job file's expansion, as rank 0 has it */
	int njobs, jcap;
	struct job *grown; /* jobs grown during the run, unpacked from their TAG_JOB */
	int ngrown;
	double t;	 /* the simulated clock (s) */
	double cpu_mark; /* this thread's CPU time when rank 0's code resumed */
	double wall_mark;
	long nvcsw; /* the thread's voluntary context switches, when last read */
	int started;
	struct sim_ev *heap; /* rows in flight, earliest first */
	int nheap;
	int *wjob; /* the job each worker runs; -1: its first, empty row */
	/* idle polls: whether a row arrived since the last nap, the last nap,
	 * rank 0's time in this poll cycle, and the mean of empty cycles */
	int got_row;
	long last_nap;
	double cycle, empty_sum;
	long empty_n;
	int fail; /* set: the next probe fails, which ends the loop */
	int hang;
	char why[200];
};

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Rank 0's code ran from the last leave() to now: its CPU time is rank 0's
 * time, less the cost of reading the clock. */
static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long voluntary_switches(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nvcsw;
}

/* Rank 0's code ran from the last leave() to now: its CPU time is rank 0's
 * time, less the cost of reading the clock. Wall time beyond that counts
 * too if the thread blocked (the journal's fsync: a voluntary context
 * switch), not if another process had the core (preemption). */
static void enter(struct sim *s)
{
	double c = cpu_now(), d = c - s->cpu_mark - s->res->clock_cost;
	double wait = wall_now() - s->wall_mark - (c - s->cpu_mark);

	if (!s->started) {
		s->started = 1; /* the clock starts at rank 0's first poll */
		s->nvcsw = voluntary_switches();
		return;
	}
	if (d < 0)
		d = 0;
	s->res->coord_cpu += d;
	s->cycle += d;
	if (!s->p->ideal)
		s->t += d;
	if (wait > 20e-6) {
		long v = voluntary_switches();
		if (v != s->nvcsw && !s->p->ideal) {
			s->res->io_wait += wait;
			s->t += wait;
		}
		s->nvcsw = v;
	}
}

static void leave(struct sim *s)
{
	s->wall_mark = wall_now();
	s->cpu_mark = cpu_now();
}

static void charge_mpi(struct sim *s, double t)
{
	if (s->p->ideal)
		return;
	s->res->mpi_s += t;
	s->cycle += t;
	s->t += t;
}

static int ev_less(const struct sim_ev *a, const struct sim_ev *b)
{
	return a->t < b->t || (a->t == b->t && a->w < b->w);
}

static void ev_push(struct sim *s, double t, int w)
{
	int i = s->nheap++;

	s->heap[i].t = t;
	s->heap[i].w = w;
	while (i > 0) {
		int p = (i - 1) / 2;
		if (!ev_less(&s->heap[i], &s->heap[p]))
			break;
		struct sim_ev x = s->heap[p];
		s->heap[p] = s->heap[i];
		s->heap[i] = x;
		i = p;
	}
}

static void ev_pop(struct sim *s)
{
	int i = 0;

	s->heap[0] = s->heap[--s->nheap];
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i;
		if (l < s->nheap && ev_less(&s->heap[l], &s->heap[m]))
			m = l;
		if (r < s->nheap && ev_less(&s->heap[r], &s->heap[m]))
			m = r;
		if (m == i)
			break;
		struct sim_ev x = s->heap[m];
		s->heap[m] = s->heap[i];
		s->heap[i] = x;
		i = m;
	}
}

static void fail(struct sim *s, const char *why)
{
	if (!s->fail)
		snprintf(s->why, sizeof s->why, "%s", why);
	s->fail = 1;
}

static struct sim_job *job_slot(struct sim *s, int j)
{
	struct sim_result *res = s->res;

	if (j >= s->jcap) {
		int cap = 2 * j + 16;
		res->job = xrealloc(res->job, (size_t)cap * sizeof *res->job);
		memset(&res->job[s->jcap], 0, (size_t)(cap - s->jcap) * sizeof *res->job);
		s->jcap = cap;
	}
	if (j >= res->njobs)
		res->njobs = j + 1;
	return &res->job[j];
}

static double duration(const struct sim *s, int j)
{
	return j < s->p->ndur ? s->p->dur[j] : s->p->grown_s;
}

static int sim_probe(struct coord_transport *t, int *flag, int *w)
{
	struct sim *s = t->ctx;

	enter(s);
	s->res->probes++;
	charge_mpi(s, s->p->probe_s);
	*flag = s->nheap > 0 && s->heap[0].t <= s->t;
	*w = *flag ? s->heap[0].w : -1;
	s->got_row |= *flag;
	leave(s);
	return s->fail ? -1 : 0;
}

/* Job j of the run: of the job file's expansion, or grown (a search's probe). */
static const struct job *sim_job(const struct sim *s, int j)
{
	return j < s->njobs ? &s->jobs[j] : &s->grown[j - s->njobs];
}

static int sim_recv(struct coord_transport *t, int w, void *buf, int len)
{
	struct sim *s = t->ctx;
	struct result_row *row = buf;
	int j = s->wjob[w];

	enter(s);
	s->res->recvs++;
	charge_mpi(s, s->p->recv_s);
	if (!s->nheap || s->heap[0].w != w || len != (int)sizeof *row) {
		fail(s, "rank 0 received a row that was not the one probed");
		leave(s);
		return -1;
	}
	ev_pop(s);
	if (j < 0) {
		memset(row, 0, sizeof *row); /* a worker's first message: ready */
	} else {
		const struct job *jb = sim_job(s, j);
		/* the row of a --synthetic job (coord.c run_synthetic) */
		result_row_init(row, jb, s->rs,
				jb->parent >= 0 ? sim_job(s, jb->parent)->id : NULL);
		row->acc = 0;
		row->train_s = row->wall_s = duration(s, j);
		row->rank = w;
		job_slot(s, j)->back = s->t;
	}
	s->wjob[w] = -1;
	leave(s);
	return 0;
}

/* A grown job j (a search's probe) travels whole after its index, as a
 * worker gets every job: keep it for its row. */
static int sim_grown(struct sim *s, int j, const unsigned char *buf, size_t len)
{
	int g = j - s->njobs;
	size_t used;
	char err[256];

	if (g >= s->ngrown) {
		s->grown = xrealloc(s->grown, (size_t)(g + 1) * sizeof *s->grown);
		memset(&s->grown[s->ngrown], 0, (size_t)(g + 1 - s->ngrown) * sizeof *s->grown);
		s->ngrown = g + 1;
	}
	return job_unpack(s->rs, buf, len, &s->grown[g], &used, err, sizeof err);
}

static int sim_send(struct coord_transport *t, const void *buf, int n, MPI_Datatype type, int w,
		    int tag)
{
	struct sim *s = t->ctx;
	const struct sim_params *p = s->p;

	enter(s);
	s->res->sends++;
	charge_mpi(s, p->send_s);
	if (w < 1 || w > p->workers) {
		fail(s, "rank 0 sent to a rank that is not a worker");
	} else if (tag == TAG_JOB && type == MPI_BYTE && n >= (int)sizeof(int)) {
		int j;
		memcpy(&j, buf, sizeof j);
		if (j >= s->njobs &&
		    sim_grown(s, j, (const unsigned char *)buf + sizeof j, (size_t)n - sizeof j))
			fail(s, "rank 0 sent a grown job the simulated worker cannot unpack");
		else if (j >= 0) {
			struct sim_job *sj = job_slot(s, j);
			sj->sent = s->t;
			sj->worker = w;
			sj->runs++;
			s->wjob[w] = j;
			ev_push(s, s->t + p->lat_job + duration(s, j) + p->lat_row, w);
		}
	} else {
		fail(s, "rank 0 sent a message the simulated worker does not know");
	}
	leave(s);
	return 0;
}

static void sim_idle(struct coord_transport *t, long us)
{
	struct sim *s = t->ctx;
	double nap = 1e-6 * (double)us;

	enter(s);
	s->res->idles++;
	if (!s->nheap) {
		/* every worker waits for a job and none is ready */
		s->hang = 1;
		fail(s, "rank 0 waits for rows with no job running: a real run would hang");
	} else if (s->p->ideal) {
		if (s->heap[0].t > s->t)
			s->t = s->heap[0].t;
	} else {
		double next = s->heap[0].t;
		if (!s->got_row) {
			s->empty_sum += s->cycle;
			s->empty_n++;
		}
		if (!s->got_row && us == s->last_nap && next > s->t + nap) {
			/* The nap stopped growing and no row can come before next:
			 * the loop would sleep and poll alike until then. Skip those
			 * polls, charging each the mean time of an empty poll. */
			double c = s->empty_sum / (double)s->empty_n;
			long k = (long)ceil((next - s->t + c) / (nap + c));
			s->t += (double)k * nap + (double)(k - 1) * c;
			s->res->coord_cpu += (double)(k - 1) * c;
			s->res->idle_cpu += (double)(k - 1) * c;
			s->res->skipped_polls += k - 1;
		} else {
			s->t += nap;
		}
	}
	s->last_nap = us;
	s->got_row = 0;
	s->cycle = 0;
	leave(s);
}

static double sim_clock(void *ctx)
{
	return ((const struct sim *)ctx)->t;
}

/* What one read of the thread's CPU clock costs: the least of many pairs. */
static double clock_cost(void)
{
	double best = 1;

	for (int i = 0; i < 2000; i++) {
		double a = cpu_now(), b = cpu_now();
		if (b - a < best)
			best = b - a;
	}
	return best;
}

int coord_sim_run(const char *jobfile, const char *rundir, const struct sim_params *p,
		  struct sim_result *res, char *err, size_t errlen)
{
	struct run_spec rs;
	struct job *jobs = NULL;
	int njobs = 0, out, devnull;
	struct sim s;
	struct coord_transport tp = {0};
	struct run_opts o = {0};

	memset(res, 0, sizeof *res);
	if (p->workers < 1 || p->workers > 1 << 20)
		return errf(err, errlen, "simulation: %d workers; expected 1 to %d", p->workers,
			    1 << 20);
	if (p->lat_job < 0 || p->lat_row < 0 || p->probe_s < 0 || p->recv_s < 0 || p->send_s < 0 ||
	    !(p->grown_s >= 0))
		return errf(err, errlen,
			    "simulation: a negative latency, MPI call time or duration; expected "
			    "times >= 0");
	if (!access(rundir, F_OK))
		return errf(err, errlen,
			    "%s: exists; expected a new run directory (an existing one would "
			    "resume)",
			    rundir);
	if (jobfile_load(jobfile, &rs, err, errlen))
		return -1;
	if (jobs_expand(&rs, &jobs, &njobs, err, errlen)) {
		jobfile_free(&rs);
		return -1;
	}
	if (njobs != p->ndur) {
		free(jobs);
		jobfile_free(&rs);
		return errf(err, errlen, "%s: %d jobs but %d durations; expected one per job",
			    jobfile, njobs, p->ndur);
	}
	for (int j = 0; j < njobs; j++)
		if (!(p->dur[j] >= 0) || !isfinite(p->dur[j])) {
			free(jobs);
			jobfile_free(&rs);
			return errf(err, errlen,
				    "duration %d (job %s) is %g; expected seconds >= 0", j + 1,
				    jobs[j].id, p->dur[j]);
		}
	memset(&s, 0, sizeof s);
	s.p = p;
	s.res = res;
	s.rs = &rs;
	s.jobs = jobs;
	s.njobs = njobs;
	s.heap = xmalloc((size_t)(p->workers + 1) * sizeof *s.heap);
	s.wjob = xmalloc((size_t)(p->workers + 1) * sizeof *s.wjob);
	job_slot(&s, njobs ? njobs - 1 : 0);
	res->njobs = njobs;
	for (int w = 1; w <= p->workers; w++) {
		s.wjob[w] = -1;
		ev_push(&s, p->lat_row, w); /* every worker starts by saying it is ready */
	}
	res->clock_cost = clock_cost();
	tp.probe = sim_probe;
	tp.recv = sim_recv;
	tp.send = sim_send;
	tp.idle = sim_idle;
	tp.clock = sim_clock;
	tp.ctx = &s;
	o.jobfile = jobfile;
	strlcopy(o.rundir, rundir, sizeof o.rundir);
	o.quiet = 1;
	o.synthetic = 1; /* no data loaded; the workers' jobs are the simulation's */
	o.transport = &tp;
	/* rank 0's summary line times the real run, not the simulated one */
	fflush(stdout);
	out = dup(1);
	devnull = open("/dev/null", O_WRONLY);
	if (out >= 0 && devnull >= 0)
		dup2(devnull, 1);
	res->status = coord_run(&o, 0, p->workers + 1);
	fflush(stdout);
	if (out >= 0) {
		dup2(out, 1);
		close(out);
	}
	if (devnull >= 0)
		close(devnull);
	for (int j = 0; j < res->njobs; j++)
		if (res->job[j].runs && res->job[j].back > res->makespan)
			res->makespan = res->job[j].back;
	free(s.heap);
	free(s.wjob);
	free(s.grown);
	free(jobs);
	jobfile_free(&rs);
	if (s.fail) {
		res->hang = s.hang;
		return errf(err, errlen, "simulation of %s on %d workers: %s", jobfile, p->workers,
			    s.why);
	}
	return 0;
}

void coord_sim_free(struct sim_result *res)
{
	free(res->job);
	res->job = NULL;
}
