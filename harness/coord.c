/* coord.c - expands a job file, resumes from the journal, and hands ready jobs
 * to workers, each with the ancestors it reads (workers never expand the
 * job file, README "Scale"). Rank 0 coordinates and sleeps while idle (it polls with
 * MPI_Iprobe and nanosleep instead of blocking in MPI_Recv, which busy-polls
 * in Open MPI); ranks 1..N-1 run jobs. With one process the same loop runs the
 * jobs inline. */
#include "coord.h"
#include "search.h"
#include "../workers/data.h"
#include "../workers/nn.h"
#include "runner.h"
#include "provenance.h"
#include "../workers/util.h"
#include "../attacks/attack.h"
#include "../reports/runjson.h"
#include "../schemes/scheme.h"
#include "version.h"

#include <archive.h>
#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <mpi.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

/* What rank 0 sends a worker: a job index, then the job and the ancestors
 * it reads (matrix_bundle), packed (job_pack: a few hundred bytes each), in
 * one message; the index alone, -1, tells it to stop. One message, so a
 * failed send leaves no worker waiting for the rest of a job. */
#define JOB_MSG_MAX ((int)(sizeof(int) + 3 * JOB_WIRE_MAX))
enum { ST_PENDING, ST_READY, ST_RUNNING, ST_OK, ST_FAILED, ST_SKIPPED };

struct sinst;

struct sched {
	/* The run's jobs, compact (struct job_rec); jobs grown during the run
	 * (the probes of searches, README "Adaptive search") are appended to
	 * it: n jobs, room for cap in the arrays below, the first nstatic
	 * expanded from the job file. */
	struct matrix *m;
	int n, cap, nstatic;
	int *removed; /* the removed column of each finished job's row; -2 unknown */
	struct sinst *si;
	int nsi;
	int *byid;	    /* the static jobs' indices, sorted by id */
	struct job *bundle; /* a job and its ancestors (matrix_bundle) */
	unsigned char *msg; /* what send_job sends */
	struct result_row *jrows;
	const struct result_row **jsorted; /* the journal's rows by id (resumed probes) */
	int njrows;
	int retry_failed;
	int *state;
	int *child_off, *child; /* CSR lists of children */
	int *wait;		/* jobs of a job's `after` range not finished ok */
	double *acc;		/* test accuracy from each job's row */
	/* ready jobs: a max-heap by cost */
	int *heap, nheap;
	int remaining; /* jobs not yet finished (ok/failed/skipped) */
	int nok, nfailed, nskipped;
	struct journal jl;
	const struct run_spec *rs;
	int quiet;
	double t0;
	double work_s;	  /* sum of the jobs' own work time (train_s) */
	int total, done0; /* jobs in the run; finished before this process started */
	int live;	  /* stderr is a terminal: one live progress line */
	long stop_after;  /* WMBENCH_STOP_AFTER (see finish); 0 = none */
	double last_progress;
};

static volatile sig_atomic_t got_term;

static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

/* Progress on stderr: a live line on a terminal, a plain line every 30 s
 * (and at the end) in a log such as SLURM's. */
static void progress(struct sched *s, int force)
{
	double now = now_seconds(), el = now - s->t0;
	int fin = s->total - s->remaining, here = fin - s->done0;
	if (!force && !s->live && now - s->last_progress < 30)
		return;
	if (!force && s->live && now - s->last_progress < 0.2)
		return;
	s->last_progress = now;
	double rate = el > 0 ? here / el : 0, eta = rate > 0 ? s->remaining / rate : 0;
	fprintf(stderr,
		"%s[wmbench] %d/%d jobs done, %d failed, %d skipped, %.2f jobs/min, ETA "
		"%02d:%02d:%02d%s",
		s->live ? "\r\033[K" : "", fin, s->total, s->nfailed, s->nskipped, 60 * rate,
		(int)(eta / 3600), (int)(eta / 60) % 60, (int)eta % 60, s->live ? "" : "\n");
	fflush(stderr);
}

static const struct job_rec *rec(const struct sched *s, int j)
{
	return &s->m->r[j];
}

static int heap_less(const struct sched *s, int a, int b)
{
	const struct job_rec *x = rec(s, a), *y = rec(s, b);
	if (x->cost != y->cost)
		return x->cost < y->cost;
	return a > b; /* earlier in the file first among equals */
}

static void heap_push(struct sched *s, int j)
{
	int i = s->nheap++;
	s->heap[i] = j;
	while (i > 0) {
		int p = (i - 1) / 2;
		if (!heap_less(s, s->heap[p], s->heap[i]))
			break;
		int t = s->heap[p];
		s->heap[p] = s->heap[i];
		s->heap[i] = t;
		i = p;
	}
}

static int heap_pop(struct sched *s)
{
	int top = s->heap[0];
	s->heap[0] = s->heap[--s->nheap];
	int i = 0;
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i;
		if (l < s->nheap && heap_less(s, s->heap[m], s->heap[l]))
			m = l;
		if (r < s->nheap && heap_less(s, s->heap[m], s->heap[r]))
			m = r;
		if (m == i)
			break;
		int t = s->heap[m];
		s->heap[m] = s->heap[i];
		s->heap[i] = t;
		i = m;
	}
	return top;
}

/* Next job for a worker holding job `held` in memory: a ready child of it if
 * any (it saves a model load), else the longest ready job. -1 if none. */
static int next_job(struct sched *s, int held)
{
	if (held >= 0)
		for (int k = s->child_off[held]; k < s->child_off[held + 1]; k++)
			if (s->state[s->child[k]] == ST_READY) {
				s->state[s->child[k]] = ST_RUNNING;
				return s->child[k];
			}
	while (s->nheap > 0) {
		int j = heap_pop(s);
		if (s->state[j] == ST_READY) {
			s->state[j] = ST_RUNNING;
			return j;
		}
	}
	return -1;
}

static int train_ancestor(const struct sched *s, int j)
{
	while (j >= 0 && rec(s, j)->kind != JOB_TRAIN)
		j = rec(s, j)->parent;
	return j;
}

static void write_row(struct sched *s, struct result_row *r, int j)
{
	char err[ERRBUF];
	int t = train_ancestor(s, j);
	if (t >= 0 && t != j && !isnan(s->acc[t]))
		r->acc_clean = s->acc[t];
	if (j >= 0 && rec(s, j)->kind == JOB_TRAIN)
		r->acc_clean = r->acc;
	if (journal_append(&s->jl, r, err, sizeof err))
		fprintf(stderr, "wmbench: %s\n", err);
}

static void skip_one(struct sched *s, int j, int c, const char *why);

static void release_wake(struct sched *s, int j);

static void search_notify(struct sched *s, int j);

/* Skips what needs job j's model; the jobs that only wait for j to finish
 * (its wake range: calibration jobs waiting for owner models) go on without
 * it. */
static void skip_descendants(struct sched *s, int j, const char *why)
{
	for (int k = s->child_off[j]; k < s->child_off[j + 1]; k++)
		skip_one(s, j, s->child[k], why);
	release_wake(s, j);
}

/* Skips job c, which waits for job j (its parent, or a job of its `after`
 * range), and what waits for c. */
static void skip_one(struct sched *s, int j, int c, const char *why)
{
	struct result_row r;
	char pid[17], jid[17];

	if (s->state[c] == ST_OK || s->state[c] == ST_FAILED || s->state[c] == ST_SKIPPED)
		return;
	matrix_job(s->m, c, s->bundle, 0);
	if (s->bundle->parent >= 0)
		matrix_id(s->m, s->bundle->parent, pid);
	result_row_init(&r, s->bundle, s->rs, s->bundle->parent >= 0 ? pid : NULL);
	matrix_id(s->m, j, jid);
	strcpy(r.status, "skipped");
	snprintf(r.message, sizeof r.message, "%s %s %s",
		 rec(s, c)->parent == j ? "parent" : "prerequisite", jid, why);
	s->state[c] = ST_SKIPPED;
	s->nskipped++;
	s->remaining--;
	write_row(s, &r, c);
	skip_descendants(s, c, "was skipped");
	search_notify(s, c);
}

/* Records a finished job and releases or skips its children. */
static void finish(struct sched *s, int j, struct result_row *r)
{
	int ok = !strcmp(r->status, "ok");
	s->acc[j] = r->acc;
	s->removed[j] = ok ? r->removed : -2;
	s->work_s += r->train_s;
	write_row(s, r, j);
	s->state[j] = ok ? ST_OK : ST_FAILED;
	s->remaining--;
	if (ok)
		s->nok++;
	else
		s->nfailed++;
	/* WMBENCH_STOP_AFTER=N: stop as on SIGTERM after N rows of this process
	 * (tests/bench_sched.sh: rank 0's and a worker's memory in a run of a
	 * million jobs, all of it allocated before the first job) */
	if (s->stop_after > 0 && s->nok + s->nfailed - s->done0 >= s->stop_after)
		got_term = 1;
	if (!s->quiet && s->live)
		fprintf(stderr, "\r\033[K");
	if (!s->quiet)
		printf("[%7.1fs] %-7s %s %-6s %s%s%s %s%s%s  %s\n", now_seconds() - s->t0,
		       r->status, r->job_id, r->kind, r->scheme, r->scheme_params[0] ? "{" : "",
		       r->scheme_params, r->scheme_params[0] ? "} " : "", r->attack,
		       r->attack_params[0] ? "{...}" : "", ok ? "" : r->message);
	fflush(stdout);
	progress(s, 0);
	if (!ok) {
		skip_descendants(s, j, "failed");
		search_notify(s, j);
		return;
	}
	for (int k = s->child_off[j]; k < s->child_off[j + 1]; k++) {
		int c = s->child[k];

		if (s->state[c] == ST_PENDING && !s->wait[c]) {
			s->state[c] = ST_READY;
			heap_push(s, c);
		}
	}
	release_wake(s, j);
	search_notify(s, j);
}

/* Job j finished (ok, failed or skipped): the jobs of its wake range have one
 * job less to wait for. */
static void release_wake(struct sched *s, int j)
{
	for (int c = rec(s, j)->wake; c >= 0 && c < rec(s, j)->wake + rec(s, j)->nwake; c++) {
		int p = rec(s, c)->parent;

		if (s->wait[c] > 0)
			s->wait[c]--;
		if (s->state[c] == ST_PENDING && !s->wait[c] && (p < 0 || s->state[p] == ST_OK)) {
			s->state[c] = ST_READY;
			heap_push(s, c);
		}
	}
}

static void sched_build(struct sched *s, struct matrix *m, const struct run_spec *rs)
{
	int n = m->n;
	const struct job_rec *jobs = m->r;

	memset(s, 0, sizeof *s);
	s->m = m;
	s->n = n;
	s->bundle = xmalloc(3 * sizeof *s->bundle);
	s->msg = xmalloc(JOB_MSG_MAX);
	s->rs = rs;
	s->cap = s->nstatic = n;
	s->state = xcalloc((size_t)n + 1, sizeof(int));
	s->wait = xcalloc((size_t)n + 1, sizeof(int));
	s->acc = xmalloc((size_t)(n + 1) * sizeof(double));
	s->removed = xmalloc((size_t)(n + 1) * sizeof(int));
	s->heap = xmalloc((size_t)(n ? n : 1) * sizeof(int));
	s->child_off = xcalloc((size_t)n + 2, sizeof(int));
	s->child = xmalloc((size_t)(n ? n : 1) * sizeof(int));
	for (int i = 0; i < n; i++) {
		s->removed[i] = -2;
		s->acc[i] = NAN;
		if (jobs[i].parent >= 0)
			s->child_off[jobs[i].parent + 1]++;
	}
	for (int i = 0; i < n; i++)
		s->child_off[i + 1] += s->child_off[i];
	int *fill = xcalloc((size_t)n + 1, sizeof(int));
	for (int i = 0; i < n; i++)
		if (jobs[i].parent >= 0) {
			int p = jobs[i].parent;
			s->child[s->child_off[p] + fill[p]++] = i;
		}
	free(fill);
	s->remaining = n;
}

static void sched_free(struct sched *s)
{
	free(s->removed);
	free(s->si);
	free(s->byid);
	free(s->bundle);
	free(s->msg);
	free(s->jrows);
	free(s->jsorted);
	free(s->state);
	free(s->wait);
	free(s->acc);
	free(s->heap);
	free(s->child_off);
	free(s->child);
}

/* ---- searches (README "Adaptive search") -------------------------------- */

/* One search: an entry of the job file's search section on one marked model. */
struct sinst {
	int entry, model, key;
	int started;
	struct search st;
	int job[SEARCH_MAXPROBES]; /* the job of probe st.probe[i] */
};

/* Job indices sorted by id, and a lookup of an id in them: O(n log n). */
static const struct matrix *sort_m; /* what cmp_byid compares (qsort has no context) */

static int cmp_byid(const void *a, const void *b)
{
	return memcmp(sort_m->r[*(const int *)a].id, sort_m->r[*(const int *)b].id, 8);
}

static int *id_sort(const struct matrix *m, int n)
{
	int *x = xmalloc((size_t)(n ? n : 1) * sizeof *x);

	for (int i = 0; i < n; i++)
		x[i] = i;
	sort_m = m;
	qsort(x, (size_t)n, sizeof *x, cmp_byid);
	return x;
}

/* The index of the job with this id among the n sorted in x; -1 if none. */
static int id_find(const struct matrix *m, const int *x, int n, const char *id)
{
	unsigned char b[8];
	int lo = 0, hi = n - 1;

	if (job_id_bytes(id, b))
		return -1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2, c = memcmp(m->r[x[mid]].id, b, 8);
		if (!c)
			return x[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

static int cmp_row_id(const void *a, const void *b)
{
	const struct result_row *x = *(const struct result_row *const *)a,
				*y = *(const struct result_row *const *)b;
	int c = strcmp(x->job_id, y->job_id);
	return c ? c : (x < y ? -1 : x > y);
}

/* Keeps the journal's rows (the last of a job wins) for the probes that
 * searches grow again on resume. Takes rows. */
static void search_journal(struct sched *s, struct result_row *rows, int n, int retry_failed)
{
	s->jrows = rows;
	s->njrows = n;
	s->retry_failed = retry_failed;
	s->jsorted = xmalloc((size_t)(n ? n : 1) * sizeof *s->jsorted);
	for (int i = 0; i < n; i++)
		s->jsorted[i] = &rows[i];
	qsort(s->jsorted, (size_t)n, sizeof *s->jsorted, cmp_row_id);
}

static const struct result_row *journal_row(const struct sched *s, const char *id)
{
	int lo = 0, hi = s->njrows - 1, found = -1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2, c = strcmp(s->jsorted[mid]->job_id, id);
		if (!c)
			found = mid;
		if (c <= 0)
			lo = mid + 1; /* the last row of the id */
		else
			hi = mid - 1;
	}
	return found < 0 ? NULL : s->jsorted[found];
}

/* The searches of the run: every search entry on every marked model it can
 * act on, in job order. */
static void search_build(struct sched *s)
{
	const struct run_spec *rs = s->rs;
	struct job *mj = s->bundle;

	s->byid = id_sort(s->m, s->n);
	/* only marked models (embed jobs) are searched */
	for (int m = 0; m < s->n && rs->nsearches; m++)
		for (int e = 0; e < rs->nsearches && rec(s, m)->kind == JOB_EMBED; e++) {
			if (!e)
				matrix_job(s->m, m, mj, 0);
			if (job_search_applies(mj, &rs->searches[e]))
				s->nsi++;
		}
	s->si = xcalloc((size_t)(s->nsi ? s->nsi : 1), sizeof *s->si);
	int k = 0;
	for (int m = 0; m < s->n && s->nsi; m++)
		for (int e = 0; e < rs->nsearches && rec(s, m)->kind == JOB_EMBED; e++) {
			if (!e)
				matrix_job(s->m, m, mj, 0);
			if (job_search_applies(mj, &rs->searches[e])) {
				struct sinst *in = &s->si[k++];
				in->entry = e;
				in->model = m;
				in->key = search_key(&rs->searches[e]);
				search_init(&in->st, rs->searches[e].nvals[in->key],
					    rs->search_coarse);
			}
		}
}

/* Appends a grown job to the run; returns its index. */
static int sched_append(struct sched *s, const struct job *nj)
{
	int n = s->n;

	if (n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->state = xrealloc(s->state, (size_t)(s->cap + 1) * sizeof *s->state);
		s->wait = xrealloc(s->wait, (size_t)(s->cap + 1) * sizeof *s->wait);
		s->acc = xrealloc(s->acc, (size_t)(s->cap + 1) * sizeof *s->acc);
		s->removed = xrealloc(s->removed, (size_t)(s->cap + 1) * sizeof *s->removed);
		s->heap = xrealloc(s->heap, (size_t)s->cap * sizeof *s->heap);
		s->child_off = xrealloc(s->child_off, (size_t)(s->cap + 2) * sizeof *s->child_off);
	}
	matrix_append(s->m, nj);
	s->n = n + 1;
	s->state[n] = ST_PENDING;
	s->wait[n] = 0;
	s->acc[n] = NAN;
	s->removed[n] = -2;
	s->child_off[n + 1] = s->child_off[n]; /* a probe has no children */
	return n;
}

/* The job of probe v of search in: a job of the job file with the same id,
 * a probe grown before, or a new job (finished already if the journal has
 * its row). -1 when the probe cannot be made. */
static int probe_job(struct sched *s, const struct sinst *in, int v)
{
	struct job *model = &s->bundle[0], *nj = &s->bundle[1];
	char err[ERRBUF];

	matrix_job(s->m, in->model, model, 0);
	if (job_search_probe(s->rs, model, in->model, &s->rs->searches[in->entry], v, nj, err,
			     sizeof err)) {
		fprintf(stderr, "wmbench: %s\n", err);
		return -1;
	}
	int hit = id_find(s->m, s->byid, s->nstatic, nj->id);
	if (hit >= 0)
		return hit;
	for (int j = s->nstatic; j < s->n; j++)
		if (!strcmp(s->m->grown[j - s->nstatic].id, nj->id))
			return j;
	int j = sched_append(s, nj);
	const struct result_row *row = journal_row(s, s->m->grown[j - s->nstatic].id);
	s->total++;
	if (row && !strcmp(row->status, "ok")) {
		s->state[j] = ST_OK;
		s->acc[j] = row->acc;
		s->removed[j] = row->removed;
		s->nok++;
		s->done0++;
	} else if (row && !strcmp(row->status, "failed") && !s->retry_failed) {
		s->state[j] = ST_FAILED;
		s->nfailed++;
		s->done0++;
	} else {
		s->state[j] = ST_READY;
		heap_push(s, j);
		s->remaining++;
	}
	return j;
}

/* What a finished probe job says; -1 while it runs. */
static int probe_outcome(const struct sched *s, int j)
{
	switch (s->state[j]) {
	case ST_OK:
		return s->removed[j] == 1   ? SEARCH_REMOVED
		       : s->removed[j] == 0 ? SEARCH_KEPT
					    : SEARCH_NA;
	case ST_FAILED:
	case ST_SKIPPED:
		return SEARCH_FAILED;
	default:
		return -1;
	}
}

/* Hands out the search's next probes and feeds back those finished already,
 * until it waits for a running job or is over. */
static void search_drive(struct sched *s, struct sinst *in)
{
	int idx[SEARCH_MAXPROBES], k;

	in->started = 1;
	while ((k = search_next(&in->st, idx, SEARCH_MAXPROBES)) > 0)
		for (int i = 0; i < k; i++) {
			int j = probe_job(s, in, idx[i]), o;
			for (int p = 0; p < in->st.nprobes; p++)
				if (in->st.probe[p] == idx[i])
					in->job[p] = j;
			o = j < 0 ? SEARCH_FAILED : probe_outcome(s, j);
			if (o >= 0)
				search_outcome(&in->st, idx[i], o);
		}
}

/* Job j finished (or was skipped): searches on it as a model start; those
 * waiting for it as a probe go on. */
static void search_notify(struct sched *s, int j)
{
	for (int i = 0; i < s->nsi; i++) {
		struct sinst *in = &s->si[i];
		if (in->model == j) {
			if (s->state[j] == ST_OK && !in->started)
				search_drive(s, in);
			continue;
		}
		if (!in->started || in->st.status != SEARCH_RUNNING)
			continue;
		for (int p = 0; p < in->st.nprobes; p++)
			if (in->job[p] == j && in->st.outcome[p] < 0) {
				search_outcome(&in->st, in->st.probe[p], probe_outcome(s, j));
				search_drive(s, in);
				break;
			}
	}
}

/* At the start: the searches of models finished in an earlier run. */
static void search_resume(struct sched *s)
{
	for (int i = 0; i < s->nsi; i++)
		if (s->state[s->si[i].model] == ST_OK && !s->si[i].started)
			search_drive(s, &s->si[i]);
}

/* RUNDIR/search.csv: one line per search (README "Adaptive search"). */
static int search_write(const struct sched *s, const char *rundir, char *err, size_t errlen)
{
	static const char *const status[] = {"running", "found", "not_removed", "not_detected",
					     "aborted"};
	char path[PATHLEN + 32], tmp[PATHLEN + 48];
	FILE *f;

	if (!s->nsi)
		return 0;
	snprintf(path, sizeof path, "%s/search.csv", rundir);
	snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
	f = fopen(tmp, "w");
	if (!f)
		return errf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
	fputs("model_id,scheme,scheme_params,seed,attack,param,values,status,weakest,"
	      "strongest_kept,acc_before,acc_after,probes,probed\n",
	      f);
	for (int i = 0; i < s->nsi; i++) {
		const struct sinst *in = &s->si[i];
		const struct plug_entry *e = &s->rs->searches[in->entry];
		const struct job *m = s->bundle;
		char sp[PARAM_MAX * (PARAM_KEYLEN + PARAM_VALLEN + 2) + 1];
		const char *st = !in->started
				     ? (s->state[in->model] == ST_OK ? "running" : "no_model")
				     : status[in->st.status];
		int found = in->started && in->st.status == SEARCH_FOUND;
		int kept = in->started && in->st.lo >= 0 &&
			   (in->st.status == SEARCH_FOUND || in->st.status == SEARCH_NOT_REMOVED);
		int hj = -1;

		matrix_job(s->m, in->model, s->bundle, 0);
		for (int p = 0; found && p < in->st.nprobes; p++)
			if (in->st.probe[p] == in->st.hi)
				hj = in->job[p];
		param_format(&m->sp, sp, sizeof sp);
		fprintf(f, "%s,%s,\"%s\",%ld,%s,%s,%d,%s,%s,%s,", m->id, m->scheme, sp, m->seed,
			e->name, e->key[in->key], in->st.n, st,
			found ? e->vals[in->key][in->st.hi] : "",
			kept ? e->vals[in->key][in->st.lo] : "");
		if (isfinite(s->acc[in->model]))
			fprintf(f, "%.17g", s->acc[in->model]);
		fputc(',', f);
		if (hj >= 0 && isfinite(s->acc[hj]))
			fprintf(f, "%.17g", s->acc[hj]);
		fprintf(f, ",%d,\"", in->st.nprobes);
		for (int p = 0; p < in->st.nprobes; p++) {
			static const char *const oc[] = {"kept", "removed", "na", "failed"};
			int o = in->st.outcome[p];
			fprintf(f, "%s%s:%s", p ? " " : "", e->vals[in->key][in->st.probe[p]],
				o >= 0 && o <= 3 ? oc[o] : "pending");
		}
		fputs("\"\n", f);
	}
	if (fflush(f) || fsync(fileno(f)) || fclose(f)) {
		unlink(tmp);
		return errf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
	}
	if (rename(tmp, path))
		return errf(err, errlen, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
	return 0;
}

/* ---- run directory ------------------------------------------------------- */

static int mkdir_p(const char *path, char *err, size_t errlen)
{
	char tmp[PATHLEN];
	strlcopy(tmp, path, sizeof tmp);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			if (mkdir(tmp, 0755) && errno != EEXIST)
				return errf(err, errlen, "%s: cannot create directory: %s", tmp,
					    strerror(errno));
			*p = '/';
		}
	if (mkdir(tmp, 0755) && errno != EEXIST)
		return errf(err, errlen, "%s: cannot create directory: %s", tmp, strerror(errno));
	return 0;
}

static int read_file(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	*buf = xmalloc((size_t)n + 1);
	*len = fread(*buf, 1, (size_t)n, f);
	(*buf)[*len] = 0;
	fclose(f);
	return 0;
}

static int copy_file(const char *from, const char *to)
{
	char *buf;
	size_t len;
	char tmp[PATHLEN + 48];
	if (read_file(from, &buf, &len))
		return -1;
	snprintf(tmp, sizeof tmp, "%s.tmp", to);
	FILE *f = fopen(tmp, "wb");
	int rc = -1;
	if (f && fwrite(buf, 1, len, f) == len && !fclose(f) && !rename(tmp, to))
		rc = 0;
	free(buf);
	return rc;
}

/* Compares the job file of a previous run with the current one. Returns 0 if
 * they expand to the same jobs (or the run is new); otherwise explains. */
static int check_changed(const char *rundir, const struct run_opts *o, const struct run_spec *rs,
			 const struct matrix *mx, char *err, size_t errlen)
{
	char saved[PATHLEN + 32], e2[ERRBUF];
	struct run_spec old;
	struct matrix om;
	int n = mx->nstatic, on, added = 0, removed = 0;
	char first_added[200] = "", first_removed[200] = "";
	snprintf(saved, sizeof saved, "%s/jobfile.yaml", rundir);
	if (access(saved, R_OK))
		return 0;
	if (jobfile_load(saved, &old, e2, sizeof e2))
		return errf(err, errlen,
			    "%s: the saved job file of this run no longer loads (%s); expected a "
			    "run directory written by this wmbench",
			    saved, e2);
	if (!strcmp(old.sha256, rs->sha256)) {
		jobfile_free(&old); /* the same file: the same jobs */
		return 0;
	}
	if (matrix_expand(&old, &om, e2, sizeof e2)) {
		jobfile_free(&old);
		return errf(err, errlen,
			    "%s: the saved job file of this run no longer loads (%s); expected a "
			    "run directory written by this wmbench",
			    saved, e2);
	}
	on = om.n;
	if (old.alpha != rs->alpha) {
		/* alpha is not part of a job's identity, but every finished row was
		 * decided at the old one and the keys record it */
		double a = old.alpha;
		matrix_free(&om);
		jobfile_free(&old);
		return errf(err, errlen,
			    "%s: run.alpha changed from %g to %g since this run began (%s): its "
			    "rows were decided and its keys stamped at %g; expected the same alpha "
			    "to resume (start a new run directory for another alpha)",
			    rs->path, a, rs->alpha, saved, a);
	}
	int *xo = id_sort(&om, on), *xn = id_sort(mx, n);
	struct job *j = xmalloc(sizeof *j);
	char id[17];
	for (int i = 0; i < n; i++) {
		matrix_id(mx, i, id);
		if (id_find(&om, xo, on, id) < 0 && added++ == 0) {
			matrix_job(mx, i, j, 0);
			snprintf(first_added, sizeof first_added, "%s %s %s",
				 job_kind_name(j->kind), j->scheme, j->attack);
		}
	}
	for (int i = 0; i < on; i++) {
		matrix_id(&om, i, id);
		if (id_find(mx, xn, n, id) < 0 && removed++ == 0) {
			matrix_job(&om, i, j, 0);
			snprintf(first_removed, sizeof first_removed, "%s %s %s",
				 job_kind_name(j->kind), j->scheme, j->attack);
		}
	}
	free(j);
	free(xo);
	free(xn);
	matrix_free(&om);
	jobfile_free(&old);
	if (!added && !removed)
		return 0; /* edits that do not change any job (comments, order) */
	if (o->extend && !removed)
		return 0;
	return errf(err, errlen,
		    "%s: the job file changed since this run began (%s): %d job(s) added%s%s%s, %d "
		    "removed%s%s%s; expected the same job file to resume%s",
		    rs->path, saved, added, added ? " (first: " : "", first_added, added ? ")" : "",
		    removed, removed ? " (first: " : "", first_removed, removed ? ")" : "",
		    removed ? " (start a new run directory to drop jobs)"
			    : ", or --extend to add the new jobs and keep the finished ones");
}

/* The jobs of job i's `after` range: 1 all finished (ok, failed or skipped:
 * a calibration job verifies the keys of the owners that embedded), 0
 * otherwise; counts the unfinished ones into s->wait[i]. */
static int after_state(struct sched *s, int i)
{
	const struct job_rec *j = rec(s, i);
	int open = 0;

	for (int d = j->after; d >= 0 && d < j->after + j->nafter; d++)
		open +=
		    s->state[d] != ST_OK && s->state[d] != ST_FAILED && s->state[d] != ST_SKIPPED;
	s->wait[i] = open;
	return !open;
}

/* Whether a calibration trial file holds its header and K trial lines, the
 * last one complete (a file cut short by a full disk or a copy is redone). */
static int trials_complete(const char *path, int K)
{
	FILE *f = fopen(path, "r");
	int c, last = 0;
	long lines = 0;

	if (!f)
		return 0;
	while ((c = getc(f)) != EOF) {
		lines += c == '\n';
		last = c;
	}
	fclose(f);
	return last == '\n' && lines == (long)K + 1;
}

/* A row of the journal: the state of a job of the job file (the last row of
 * a job wins), or kept if it is no such job (a search's probe, grown again
 * on resume: search_journal). Rows are read one at a time, so rank 0's
 * memory on resume grows with the probes, not the journal. */
struct journal_apply {
	struct sched *s;
	int retry_failed;
	struct result_row *rows;
	int n, cap;
};

static int apply_row(void *ctx, const struct result_row *r)
{
	struct journal_apply *a = ctx;
	struct sched *s = a->s;
	int j = id_find(s->m, s->byid, s->n, r->job_id);

	if (j < 0) {
		if (a->n == a->cap) {
			a->cap = a->cap ? 2 * a->cap : 64;
			a->rows = xrealloc(a->rows, (size_t)a->cap * sizeof *a->rows);
		}
		a->rows[a->n++] = *r;
	} else if (!strcmp(r->status, "ok")) {
		s->state[j] = ST_OK;
		s->acc[j] = r->acc;
		s->removed[j] = r->removed;
	} else if (!strcmp(r->status, "failed")) {
		s->state[j] = a->retry_failed ? ST_PENDING : ST_FAILED;
	} else {
		s->state[j] = ST_SKIPPED;
	}
	return 0;
}

/* Marks jobs finished in the journal; returns the number of rows applied. */
static int apply_journal(struct sched *s, const char *rundir, const struct run_opts *o,
			 const struct pipeline *p, char *err, size_t errlen)
{
	struct journal_apply a = {s, o->retry_failed, NULL, 0, 0};
	char id[17];
	if (journal_scan(rundir, apply_row, &a, err, errlen)) {
		free(a.rows);
		return -1;
	}
	/* kept: the rows of probes that searches will grow again */
	search_journal(s, a.rows, a.n, o->retry_failed);
	/* A finished model job whose file is gone must be redone if anything
	 * still needs it; skipped jobs are retried when their parent is fine. */
	for (int i = 0; i < s->n; i++) {
		const struct job_rec *j = rec(s, i);
		if (s->state[i] == ST_SKIPPED && j->parent >= 0 &&
		    (s->state[j->parent] == ST_OK || s->state[j->parent] == ST_PENDING) &&
		    after_state(s, i) >= 0)
			s->state[i] = ST_PENDING;
		/* a calibration job whose trials file is gone or cut short is run again */
		if (s->state[i] == ST_OK && j->kind == JOB_CALIB) {
			char path[PATHLEN + 64];
			matrix_job(s->m, i, s->bundle, 0);
			pipeline_calib_path(p, s->bundle->id, path, sizeof path);
			if (!trials_complete(path, s->bundle->calib_keys))
				s->state[i] = ST_PENDING;
		}
	}
	/* children come after their parents, so one backward sweep reaches every
	 * model that a pending job still needs */
	for (int i = s->n - 1; i >= 0; i--) {
		const struct job_rec *j = rec(s, i);
		if (s->state[i] != ST_PENDING || j->parent < 0)
			continue;
		int pj = j->parent;
		char model[PATHLEN + 64], key[PATHLEN + 64];
		/* a calibration job reads the keys of the owner jobs it waits for,
		 * an embed the control models of its seed (empirical null) */
		for (int d = j->after; d >= 0 && d < j->after + j->nafter; d++) {
			if (s->state[d] != ST_OK)
				continue;
			if (rec(s, d)->kind == JOB_CTLMODEL) {
				matrix_job(s->m, rec(s, d)->parent, s->bundle, 1);
				pipeline_control_path(p, s->bundle->identity, rec(s, d)->ctl, key,
						      sizeof key);
			} else {
				matrix_id(s->m, d, id);
				pipeline_key_path(p, id, key, sizeof key);
			}
			if (access(key, R_OK))
				s->state[d] = ST_PENDING;
		}
		/* an attack reads its parent's model (and key, for a marked model); a
		 * control reads the key; an embed reads nothing of its parent; a
		 * calibration job reads its calibration model */
		int need_model = j->kind == JOB_ATTACK || j->kind == JOB_CALIB;
		int need_key = rec(s, pj)->kind == JOB_EMBED &&
			       (j->kind == JOB_ATTACK || j->kind == JOB_CONTROL);
		matrix_id(s->m, pj, id);
		pipeline_model_path(p, id, model, sizeof model);
		pipeline_key_path(p, id, key, sizeof key);
		if (s->state[pj] == ST_OK &&
		    ((need_model && access(model, R_OK)) || (need_key && access(key, R_OK))))
			s->state[pj] = ST_PENDING; /* finished, but a file it left is gone: redo */
	}
	int done = 0;
	for (int i = 0; i < s->n; i++) {
		int st = s->state[i];
		if (st == ST_OK || st == ST_FAILED || st == ST_SKIPPED) {
			done++;
			s->remaining--;
			if (st == ST_OK)
				s->nok++;
			else if (st == ST_FAILED)
				s->nfailed++;
			else
				s->nskipped++;
		}
	}
	return done;
}

/* Puts every pending job whose parent (and `after` range) is finished into the
 * ready heap; jobs under a failed or skipped one are skipped. */
static void seed_ready(struct sched *s)
{
	for (int i = 0; i < s->n; i++) {
		if (s->state[i] != ST_PENDING)
			continue;
		int p = rec(s, i)->parent, after = after_state(s, i);
		if (p >= 0 && (s->state[p] == ST_FAILED || s->state[p] == ST_SKIPPED)) {
			skip_descendants(s, p, s->state[p] == ST_FAILED ? "failed" : "was skipped");
		} else if ((p < 0 || s->state[p] == ST_OK) && after > 0) {
			s->state[i] = ST_READY;
			heap_push(s, i);
		}
	}
}

/* Removes leftovers of writes interrupted before their rename ("X.npz.tmp.PID"). */
static void remove_stale_tmp(const char *rundir)
{
	static const char *const subs[] = {"models", "keys", "calibration", NULL};
	for (int i = 0; subs[i]; i++) {
		char dir[PATHLEN + 16], path[PATHLEN + 300];
		snprintf(dir, sizeof dir, "%s/%s", rundir, subs[i]);
		DIR *d = opendir(dir);
		struct dirent *e;
		if (!d)
			continue;
		while ((e = readdir(d)))
			if (strstr(e->d_name, ".tmp")) {
				snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
				unlink(path);
			}
		closedir(d);
	}
}

/* s at o, then spaces to width w (printf's %-Ns); returns the end. */
static char *put_padded(char *o, const char *s, int w)
{
	size_t l = strlen(s), n = w > 0 && (size_t)w > l ? (size_t)w : l;

	memcpy(o, s, l);
	memset(o + l, ' ', n - l);
	return o + n;
}

/* "name{params}" (params cut at 299 characters; "name" alone if none),
 * padded to 40. */
static char *put_params(char *o, const char *name, const char *params)
{
	char t[400];
	size_t l = strlen(name), p = strnlen(params, 299);

	memcpy(t, name, l);
	if (p) {
		t[l++] = '{';
		memcpy(t + l, params, p);
		l += p;
		t[l++] = '}';
	}
	t[l] = 0;
	return put_padded(o, t, 40);
}

static void print_dry_run(const struct matrix *mx)
{
	const struct run_spec *rs = mx->rs;
	int n = mx->n;
	struct job *j = xmalloc(sizeof *j);
	char pid[17];
	double cpu = 0, disk = 0;
	struct nn_model m;
	char e[ERRBUF];
	size_t model_bytes = 0;
	if (!nn_build_spec(&m, rs->model, nn_arch_spec(rs->model), e, sizeof e)) {
		model_bytes = m.nparams * 4 + 4096;
		nn_free(&m);
	}
	printf("# %d jobs from %s (run '%s', dataset %s, model %s)\n", n, rs->path, rs->name,
	       rs->dataset, rs->model);
	printf("# %-16s %-7s %-16s %5s  %-40s %-40s %9s %10s %10s\n", "job", "kind", "parent",
	       "seed", "scheme", "attack", "est_cpu_s", "est_fwd", "est_bwd");
	/* A line of a million-job listing is put together by hand: printf of the
	 * whole line took most of the dry run's time. The fields are those of
	 * "  %-16s %-7s %-16s %5ld  %-40s %-40s %9.1f %10.0f %10.0f\n" (parameters
	 * cut at 299 characters, as param_format into 300 bytes cuts them; "-"
	 * for the samples of a kind the cost model does not count in samples). */
	char line[1200], id[17], num[32], cost[96] = "";
	double last_cost = NAN, last_f = NAN, last_b = NAN, fwd = 0, bwd = 0;
	int last_known = -1;
	for (int i = 0; i < n; i++) {
		const struct job_rec *r = &mx->r[i];
		const char *sp = matrix_params(mx, i, 0), *ap = matrix_params(mx, i, 1);
		char spb[300], apb[300];
		double c = matrix_cost(mx, i);
		char *o = line;

		if (!sp || !ap) {
			matrix_job(mx, i, j, 0);
			param_format(&j->sp, spb, sizeof spb);
			param_format(&j->ap, apb, sizeof apb);
			sp = spb;
			ap = apb;
		}
		matrix_id(mx, i, id);
		if (r->parent >= 0)
			matrix_id(mx, r->parent, pid);
		o = put_padded(put_padded(o, "  ", 0), id, 16);
		o = put_padded(put_padded(o, " ", 0), job_kind_name(r->kind), 7);
		o = put_padded(put_padded(o, " ", 0), r->parent >= 0 ? pid : "-", 16);
		snprintf(num, sizeof num, " %5ld  ", matrix_seed(mx, i));
		o = put_padded(o, num, 0);
		o = put_params(o, r->sc >= 0 ? mx->sc[r->sc].e->name : wm_scheme_unmarked()->name,
			       sp);
		o = put_padded(o, " ", 0);
		o = put_params(o, r->ac >= 0 ? mx->ac[r->ac].e->name : "-", ap);
		double f, b;
		int known = !matrix_passes(mx, i, &f, &b);
		if (c != last_cost || known != last_known ||
		    (known && (f != last_f || b != last_b))) {
			if (known)
				snprintf(cost, sizeof cost, " %9.1f %10.0f %10.0f\n", c, f, b);
			else
				snprintf(cost, sizeof cost, " %9.1f %10s %10s\n", c, "-", "-");
			last_cost = c;
			last_known = known;
			last_f = f;
			last_b = b;
		}
		fwd += f;
		bwd += b;
		o = put_padded(o, cost, 0);
		fwrite(line, 1, (size_t)(o - line), stdout);
		cpu += c;
		if (r->kind == JOB_TRAIN || r->kind == JOB_EMBED || r->kind == JOB_CALMODEL ||
		    r->kind == JOB_CALOWNER)
			disk += (double)model_bytes;
	}
	printf(
	    "# estimated CPU time: %.0f s (%.2f h); estimated disk: %.1f MB of models and keys\n",
	    cpu, cpu / 3600, disk / 1e6);
	printf("# estimated work: %.3g samples forward and %.3g backward (the same on any "
	       "machine; the CPU time above is the model's cost per training sample, %g s for %s "
	       "in nn_archs[], x (forward + 2 backward) / 3, plus evaluations)\n",
	       fwd, bwd, nn_arch_find(rs->model) ? nn_arch_find(rs->model)->cost : NAN, rs->model);
	int na = jobs_not_applicable(rs, e, sizeof e);
	if (na > 0)
		printf("# %d not-applicable attack jobs skipped: query-path attacks against "
		       "white-box verification cannot act\n",
		       na);
	for (int k = 0; k < rs->nsearches; k++) {
		const struct plug_entry *se = &rs->searches[k];
		int key = search_key(se), models = 0, nv = se->nvals[key], steps = 0;
		for (int i = 0; i < n; i++)
			if (mx->r[i].kind == JOB_EMBED) {
				matrix_job(mx, i, j, 0);
				models += job_search_applies(j, se);
			}
		while ((1 << steps) < nv)
			steps++;
		printf(
		    "# search %s over %s (%d values): %d marked models, up to %d probe jobs each "
		    "(%d coarse, then bisection) against %d for the full grid; grown during the "
		    "run\n",
		    se->name, se->key[key], nv, models,
		    (rs->search_coarse < nv ? rs->search_coarse : nv) + steps, rs->search_coarse,
		    nv);
	}
	free(j);
}

/* ---- the run ------------------------------------------------------------- */

static int lock_rundir(const char *rundir, char *err, size_t errlen)
{
	char path[PATHLEN + 32];
	snprintf(path, sizeof path, "%s/.lock", rundir);
	int fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd < 0)
		return errf(err, errlen, "%s: cannot create the lock file: %s", path,
			    strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB))
		return errf(err, errlen,
			    "%s: another wmbench run is writing to this run directory; expected it "
			    "to finish first (or use --out for another directory)",
			    rundir);
	return fd; /* held until the process exits */
}

static void sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	nanosleep(&ts, NULL);
}

/* A job of fixed CPU work and no training, for scheduler benchmarks: `units`
 * times 2.5e8 dependent multiply-adds (about `units` seconds on a 3 GHz core),
 * so two jobs sharing one core take twice as long. */
static void run_synthetic(const struct job *j, struct result_row *row, const struct run_spec *rs,
			  const char *parent_id, double units)
{
	result_row_init(row, j, rs, parent_id);
	double t0 = now_seconds();
	volatile double sink;
	double x = 1.0;
	long n = (long)(units * 2.5e8);
	for (long i = 0; i < n; i++)
		x = x * 0.9999999 + 1e-9;
	sink = x;
	(void)sink;
	row->acc = 0;
	row->train_s = row->wall_s = now_seconds() - t0;
	row->peak_rss_kb = peak_rss_kb(); /* what the rank holds (make bench: a worker's) */
}

/* What one rank holds during a run. */
struct run {
	const struct run_opts *o;
	int rank, size;
	struct run_spec rs;
	struct matrix m; /* rank 0 only: workers get each job whole */
	char rundir[PATHLEN], start[32];
	struct pipeline p;
	char err[ERRBUF];
	struct coord_transport *tp; /* rank 0's messages to the workers */
};

/* One job on this rank (set in r->p by pipeline_set_jobs): the pipeline's,
 * or a synthetic one. */
static void run_job(struct run *r, int j, struct result_row *row)
{
	const struct pipeline *p = &r->p;

	if (r->o->synthetic)
		run_synthetic(&p->held[0], row, &r->rs, p->nheld > 1 ? p->held[1].id : NULL,
			      r->o->synthetic_s);
	else
		pipeline_run(&r->p, j, row);
}

/* Rank 0 prepares the run directory (data, folders, lock, changed job file,
 * a copy of the job file, run.json) and tells every rank whether to go on.
 * Returns 1 to go on. */
static int run_setup(struct run *r)
{
	const struct run_opts *o = r->o;
	char *rundir = r->rundir, *err = r->err;
	int go = 1;

	if (r->rank == 0) {
		char sub[PATHLEN + 16], saved[PATHLEN + 32];
		if (!o->synthetic)
			go = !pipeline_load_data(&r->p, err, sizeof r->err);
		go = go && !mkdir_p(rundir, err, sizeof r->err);
		snprintf(sub, sizeof sub, "%s/models", rundir);
		go = go && !mkdir_p(sub, err, sizeof r->err);
		snprintf(sub, sizeof sub, "%s/keys", rundir);
		go = go && !mkdir_p(sub, err, sizeof r->err);
		if (r->rs.calib_models > 0) {
			snprintf(sub, sizeof sub, "%s/calibration", rundir);
			go = go && !mkdir_p(sub, err, sizeof r->err);
		}
		go = go && lock_rundir(rundir, err, sizeof r->err) >= 0;
		go = go && !check_changed(rundir, o, &r->rs, &r->m, err, sizeof r->err);
		if (go) {
			snprintf(saved, sizeof saved, "%s/jobfile.yaml", rundir);
			if (copy_file(r->rs.path, saved))
				go = !errf(err, sizeof r->err,
					   "%s: cannot copy the job file into the run directory",
					   saved);
		}
		go = go && !provenance_write(rundir, &r->rs, r->size, r->start, NULL, r->m.n, NULL,
					     err, sizeof r->err);
		if (go)
			remove_stale_tmp(rundir); /* only with the lock held */
		if (!go)
			fprintf(stderr, "error: %s\n", err);
	}
	if (r->size > 1 && !o->transport) /* simulated workers wait for nothing */
		MPI_Bcast(&go, 1, MPI_INT, 0, MPI_COMM_WORLD);
	return go;
}

/* A run on one rank: rank 0 runs every job itself. */
static void serve_alone(struct run *r, struct sched *s)
{
	while (s->remaining > 0 && !got_term) {
		int j = next_job(s, r->p.cached_job);
		if (j < 0)
			break; /* nothing runnable: cannot happen in a DAG */
		struct result_row row;
		pipeline_set_jobs(&r->p, j, s->bundle, matrix_bundle(s->m, j, s->bundle, 1));
		run_job(r, j, &row);
		finish(s, j, &row);
		if (journal_tick(&s->jl, r->err, sizeof r->err))
			fprintf(stderr, "wmbench: %s\n", r->err);
	}
}

/* An MPI call's result (MPI_ERRORS_RETURN is set in main, so a failure
 * comes back here instead of aborting): 0, or -1 after printing which rank,
 * call and peer failed and MPI's reason. WMBENCH_FAULT_SEND=N makes rank 0's
 * N-th send to a worker fail without sending (tests/e2e_ranks.sh). */
static int mpi_check(int rc, int rank, const char *call, int peer)
{
	char why[MPI_MAX_ERROR_STRING];
	int len = 0;

	if (rc == MPI_SUCCESS)
		return 0;
	if (MPI_Error_string(rc, why, &len) != MPI_SUCCESS)
		snprintf(why, sizeof why, "MPI error %d", rc);
	fprintf(stderr, "wmbench: rank %d: %s with rank %d failed: %s\n", rank, call, peer, why);
	return -1;
}

static int coord_send(const void *buf, int n, MPI_Datatype t, int w, int tag)
{
	static long sends, fail_at = -1;

	if (fail_at < 0) {
		const char *f = getenv("WMBENCH_FAULT_SEND");
		fail_at = f ? atol(f) : 0;
	}
	if (++sends == fail_at)
		return mpi_check(MPI_ERR_OTHER, 0, "MPI_Send (injected by WMBENCH_FAULT_SEND)", w);
	return mpi_check(MPI_Send(buf, n, t, w, tag, MPI_COMM_WORLD), 0, "MPI_Send", w);
}

/* Rank 0's messages over MPI (struct coord_transport; harness/coord_sim.c
 * has the simulated one). */
static int mpi_probe(struct coord_transport *t, int *flag, int *w)
{
	MPI_Status st;

	(void)t;
	if (mpi_check(MPI_Iprobe(MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, flag, &st), 0,
		      "MPI_Iprobe", -1))
		return -1;
	*w = *flag ? st.MPI_SOURCE : -1;
	return 0;
}

static int mpi_recv(struct coord_transport *t, int w, void *buf, int len)
{
	(void)t;
	return mpi_check(
	    MPI_Recv(buf, len, MPI_BYTE, w, TAG_RESULT, MPI_COMM_WORLD, MPI_STATUS_IGNORE), 0,
	    "MPI_Recv", w);
}

static int mpi_send(struct coord_transport *t, const void *buf, int n, MPI_Datatype type, int w,
		    int tag)
{
	(void)t;
	return coord_send(buf, n, type, w, tag);
}

static void mpi_idle(struct coord_transport *t, long us)
{
	(void)t;
	sleep_us(us);
}

static struct coord_transport mpi_transport = {mpi_probe, mpi_recv, mpi_send, mpi_idle, NULL, NULL};

/* Sends job j to worker w with the ancestors it reads (JOB_MSG_MAX; j -1:
 * stop): workers hold no matrix, so their memory does not grow with the run
 * (README "Scale"). */
static int send_job(struct sched *s, struct coord_transport *tp, int j, int w)
{
	size_t len = sizeof j;

	memcpy(s->msg, &j, sizeof j);
	for (int k = 0, n = j >= 0 ? matrix_bundle(s->m, j, s->bundle, 0) : 0; k < n; k++)
		len += job_pack(&s->bundle[k], s->msg + len);
	return tp->send(tp, s->msg, (int)len, MPI_BYTE, w, TAG_JOB);
}

/* Rank 0 of several: hands ready jobs to idle workers (preferring a child of
 * the model a worker holds) and records their rows, until every worker has
 * been told to stop. Polls, and sleeps between polls (see the README). */
static void serve_workers(struct run *r, struct sched *s)
{
	int size = r->size;
	int *held = xmalloc((size_t)size * sizeof(int)),
	    *running = xmalloc((size_t)size * sizeof(int)),
	    *lost = xcalloc((size_t)size, sizeof(int));
	int *idle = xmalloc((size_t)size * sizeof(int)), nidle = 0, active = size - 1;
	long nap = 20;
	struct coord_transport *tp = r->tp;
	for (int w = 0; w < size; w++)
		held[w] = running[w] = -1;
	while (active > 0 && !got_term) {
		int flag = 0, src;
		if (tp->probe(tp, &flag, &src))
			break;
		if (flag) {
			struct result_row row;
			int w = src;
			if (tp->recv(tp, w, &row, sizeof row)) {
				lost[w] = 1;
				active--;
				if (running[w] >= 0) {
					/* its job goes back to the others */
					s->state[running[w]] = ST_READY;
					heap_push(s, running[w]);
				}
				continue;
			}
			if (running[w] >= 0) {
				/* finish may grow the job array (a search's next probe) */
				finish(s, running[w], &row);
				const struct job_rec *jr = &s->m->r[running[w]];
				if (jr->kind != JOB_ATTACK && jr->kind != JOB_CONTROL &&
				    jr->kind != JOB_CALIB)
					held[w] = running[w];
				else if (!strcmp(row.status, "ok"))
					held[w] = jr->parent;
				running[w] = -1;
			}
			idle[nidle++] = w;
			nap = 20;
		}
		/* hand out work to idle workers */
		while (nidle > 0) {
			int w = idle[nidle - 1], j = s->remaining > 0 ? next_job(s, held[w]) : -1;
			if (j < 0 && s->remaining > 0)
				break; /* wait for running jobs to release more */
			nidle--;
			if (send_job(s, tp, j, w)) {
				/* that worker is gone: its job goes back to the others */
				lost[w] = 1;
				active--;
				if (j >= 0) {
					s->state[j] = ST_READY;
					heap_push(s, j);
				}
				continue;
			}
			if (j < 0)
				active--;
			else
				running[w] = j;
		}
		if (journal_tick(&s->jl, r->err, sizeof r->err))
			fprintf(stderr, "wmbench: %s\n", r->err);
		if (!flag) {
			tp->idle(tp, nap);
			if (nap < 2000)
				nap *= 2;
		}
	}
	/* a worker given up on may still be waiting for a job: tell it to stop
	 * (best effort) so that the run ends */
	for (int w = 1; w < size && !got_term; w++)
		if (lost[w]) {
			int stop = -1;
			tp->send(tp, &stop, sizeof stop, MPI_BYTE, w, TAG_JOB);
		}
	free(lost);
	free(held);
	free(running);
	free(idle);
}

/* Rank 0: builds the schedule, reads the journal, serves the jobs, then
 * writes run.json and the summary. Returns the run's exit status. */
static int run_serve(struct run *r)
{
	const struct run_opts *o = r->o;
	char *rundir = r->rundir, *err = r->err;
	int size = r->size, njobs = r->m.n, status;
	struct sched s;

	sched_build(&s, &r->m, &r->rs);
	search_build(&s);
	s.quiet = o->quiet;
	s.t0 = now_seconds();
	/* read first (a torn tail, even a torn header, is cut), then append */
	int done = apply_journal(&s, rundir, o, &r->p, err, sizeof r->err);
	if (done >= 0 && journal_open(&s.jl, rundir, err, sizeof r->err))
		done = -1;
	s.jl.clock = r->tp->clock; /* a simulation's rows group on its clock */
	s.jl.clock_ctx = r->tp->ctx;
	if (done < 0) {
		fprintf(stderr, "error: %s\n", err);
		/* tell the workers to stop */
		for (int w = 1; w < size; w++) {
			int stop = -1;
			r->tp->send(r->tp, &stop, sizeof stop, MPI_BYTE, w, TAG_JOB);
		}
		sched_free(&s);
		return 1;
	}
	if (!o->quiet)
		printf("wmbench: %d jobs, %d already finished, %d ranks; run directory %s\n", njobs,
		       done, size, rundir);
	s.total = njobs;
	s.done0 = done;
	s.live = isatty(2) && !o->quiet;
	s.stop_after = getenv("WMBENCH_STOP_AFTER") ? atol(getenv("WMBENCH_STOP_AFTER")) : 0;
	s.last_progress = now_seconds();
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	seed_ready(&s);
	search_resume(&s);
	if (size == 1)
		serve_alone(r, &s);
	else
		serve_workers(r, &s);
	if (o->synthetic) { /* durability included: every row written and fsynced */
		if (journal_flush(&s.jl, err, sizeof r->err))
			fprintf(stderr, "wmbench: %s\n", err);
		double total = now_seconds() - s.t0, fs = journal_fsync_seconds(&s.jl);
		int ran = s.nok + s.nfailed - done;
		printf("sched: %d jobs on %d worker(s) in %.3f s; fsync %.3f s (on the journal's "
		       "own thread); %.1f us per job beyond the work\n",
		       ran, size > 1 ? size - 1 : 1, total, fs,
		       ran ? 1e6 * (total - s.work_s / (size > 1 ? size - 1 : 1)) / ran : 0);
	}
	progress(&s, 1);
	if (s.live)
		fputc('\n', stderr);
	if (!got_term && s.remaining > 0)
		fprintf(stderr,
			"wmbench: %d jobs not run: no worker rank is left (see the messages "
			"above); the finished rows are on disk; run the same command again to "
			"resume\n",
			s.remaining);
	struct run_counts counts = {s.nok, s.nfailed, s.nskipped};
	if (got_term) {
		/* SIGTERM (SLURM's time limit, scancel) or SIGINT: every finished row is
		 * already on disk; the jobs in flight are redone by the next run. */
		if (journal_close(&s.jl, err, sizeof r->err))
			fprintf(stderr, "wmbench: %s\n", err);
		if (search_write(&s, rundir, err, sizeof r->err))
			fprintf(stderr, "wmbench: %s\n", err);
		fprintf(stderr,
			"wmbench: interrupted; %d jobs finished, %d to go; run the same "
			"command again to resume\n",
			s.total - s.remaining, s.remaining);
		provenance_write(rundir, &r->rs, size, r->start, NULL, njobs, &counts, err,
				 sizeof r->err);
		fflush(NULL);
		_exit(143);
	}
	char end[32];
	iso_time(end, sizeof end);
	/* the last group first: run.json's end says every row is on disk */
	if (journal_close(&s.jl, err, sizeof r->err)) {
		fprintf(stderr, "wmbench: %s\n", err);
		s.nfailed++;
	}
	provenance_write(rundir, &r->rs, size, r->start, end, njobs, &counts, err, sizeof r->err);
	if (search_write(&s, rundir, err, sizeof r->err)) {
		fprintf(stderr, "wmbench: %s\n", err);
		s.nfailed++;
	}
	if (!o->quiet)
		printf("wmbench: %d ok, %d failed, %d skipped; results in %s/results.csv\n", s.nok,
		       s.nfailed, s.nskipped, rundir);
	status = (s.nfailed || s.nskipped || s.remaining > 0) ? 3 : 0;
	sched_free(&s);
	return status;
}

/* A worker rank: asks for work, runs it, sends the row back, until told to
 * stop (job -1). */
/* Unpacks the jobs of a message from send_job after its index; returns how
 * many, or -1 with a failed row for the job (a message that is not one, or
 * a job that is another here: the job file differs). */
static int unpack_jobs(struct run *r, const unsigned char *msg, int bytes, struct job *jobs,
		       struct result_row *row)
{
	size_t at = sizeof(int), used;
	char err[sizeof row->message - 16]; /* with "rank N: " before it */
	int n = 0;

	while ((int)at < bytes && n < 3) {
		if (job_unpack(&r->rs, msg + at, (size_t)bytes - at, &jobs[n], &used, err,
			       sizeof err)) {
			result_row_init(row, &jobs[n], &r->rs, NULL);
			strlcopy(row->status, "failed", sizeof row->status);
			snprintf(row->message, sizeof row->message, "rank %d: %s", r->rank, err);
			return -1;
		}
		at += used;
		n++;
	}
	return n;
}

static int run_work(struct run *r)
{
	struct result_row row;
	unsigned char *msg = xmalloc(JOB_MSG_MAX);
	struct job *jobs = xmalloc(3 * sizeof *jobs);
	int status = 1;
	memset(&row, 0, sizeof row);
	if (mpi_check(MPI_Send(&row, sizeof row, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD), r->rank,
		      "MPI_Send", 0))
		goto out;
	for (;;) {
		MPI_Status st;
		int bytes = 0, j = -1, n;
		if (mpi_check(MPI_Recv(msg, JOB_MSG_MAX, MPI_BYTE, 0, TAG_JOB, MPI_COMM_WORLD, &st),
			      r->rank, "MPI_Recv", 0) ||
		    mpi_check(MPI_Get_count(&st, MPI_BYTE, &bytes), r->rank, "MPI_Get_count", 0))
			goto out;
		if (bytes >= (int)sizeof j)
			memcpy(&j, msg, sizeof j);
		if (j < 0)
			break;
		/* the job and its ancestors (send_job) */
		n = unpack_jobs(r, msg, bytes, jobs, &row);
		if (n > 0) {
			pipeline_set_jobs(&r->p, j, jobs, n);
			run_job(r, j, &row);
		}
		row.rank = r->rank;
		if (mpi_check(MPI_Send(&row, sizeof row, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD),
			      r->rank, "MPI_Send", 0))
			goto out;
	}
	status = 0;
out:
	free(msg);
	free(jobs);
	return status;
}

int coord_run(const struct run_opts *o, int rank, int size)
{
	struct run r;
	int go, loaded, status = 1;

	memset(&r, 0, sizeof r);
	r.o = o;
	r.rank = rank;
	r.size = size;
	r.tp = o->transport ? o->transport : &mpi_transport;
	go = loaded = !jobfile_load(o->jobfile, &r.rs, r.err, sizeof r.err);
	/* rank 0 alone expands the matrix: workers get each job whole */
	if (go && rank == 0 &&
	    (matrix_expand(&r.rs, &r.m, r.err, sizeof r.err) ||
	     pipeline_precheck(&r.m, r.err, sizeof r.err)))
		go = 0;
	if (o->dry_run) {
		if (rank == 0) {
			if (go)
				print_dry_run(&r.m);
			else
				fprintf(stderr, "error: %s\n", r.err);
		}
		matrix_free(&r.m);
		if (loaded)
			jobfile_free(&r.rs);
		return go ? 0 : 1;
	}
	if (size > 1 && !o->transport) { /* simulated workers wait for nothing */
		/* the workers go on as rank 0 says */
		int go0 = go;
		if (mpi_check(MPI_Bcast(&go0, 1, MPI_INT, 0, MPI_COMM_WORLD), rank, "MPI_Bcast", 0))
			go0 = 0;
		if (go0 && !go) {
			/* the job file changed between rank 0's read and this one's */
			fprintf(stderr, "error: rank %d: %s\n", rank, r.err);
			MPI_Abort(MPI_COMM_WORLD, 1);
		}
		go = go0;
	}
	if (!go) {
		if (rank == 0)
			fprintf(stderr, "error: %s\n", r.err);
		matrix_free(&r.m);
		if (loaded)
			jobfile_free(&r.rs);
		return 1;
	}
	openblas_set_num_threads(r.rs.threads);
	if (o->rundir[0])
		strlcopy(r.rundir, o->rundir, sizeof r.rundir);
	else
		snprintf(r.rundir, sizeof r.rundir, "runs/%s", r.rs.name);
	pipeline_init(&r.p, &r.rs, r.rundir, rank);
	iso_time(r.start, sizeof r.start);

	if (run_setup(&r))
		status = rank == 0 ? run_serve(&r) : run_work(&r);
	pipeline_free(&r.p);
	matrix_free(&r.m);
	jobfile_free(&r.rs);
	return status;
}
