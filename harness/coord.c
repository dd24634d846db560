/* coord.c - expands a job file, resumes from the journal, and hands ready jobs
 * to workers. Rank 0 coordinates and sleeps while idle (it polls with
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

enum { TAG_JOB = 1, TAG_RESULT = 2, TAG_JOBDESC = 3 };
enum { ST_PENDING, ST_READY, ST_RUNNING, ST_OK, ST_FAILED, ST_SKIPPED };

struct sinst;
struct idpos;

struct sched {
	const struct job *jobs;
	int n;
	/* Jobs grown during the run (the probes of searches, README "Adaptive
	 * search") are appended to the run's array: *jobsp holds n of cap, the
	 * first nstatic expanded from the job file; pl (if set) sees the same. */
	struct job **jobsp;
	int *njobsp, cap, nstatic;
	struct pipeline *pl;
	int *removed; /* the removed column of each finished job's row; -2 unknown */
	struct sinst *si;
	int nsi;
	struct idpos *sid; /* the static jobs' ids, sorted */
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

static int heap_less(const struct sched *s, int a, int b)
{
	const struct job *x = &s->jobs[a], *y = &s->jobs[b];
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
	while (j >= 0 && s->jobs[j].kind != JOB_TRAIN)
		j = s->jobs[j].parent;
	return j;
}

static void write_row(struct sched *s, struct result_row *r, int j)
{
	char err[ERRBUF];
	int t = train_ancestor(s, j);
	if (t >= 0 && t != j && !isnan(s->acc[t]))
		r->acc_clean = s->acc[t];
	if (j >= 0 && s->jobs[j].kind == JOB_TRAIN)
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

	if (s->state[c] == ST_OK || s->state[c] == ST_FAILED || s->state[c] == ST_SKIPPED)
		return;
	result_row_init(&r, &s->jobs[c], s->rs, s->jobs);
	strcpy(r.status, "skipped");
	snprintf(r.message, sizeof r.message, "%s %s %s",
		 s->jobs[c].parent == j ? "parent" : "prerequisite", s->jobs[j].id, why);
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
	for (int c = s->jobs[j].wake; c >= 0 && c < s->jobs[j].wake + s->jobs[j].nwake; c++) {
		int p = s->jobs[c].parent;

		if (s->wait[c] > 0)
			s->wait[c]--;
		if (s->state[c] == ST_PENDING && !s->wait[c] && (p < 0 || s->state[p] == ST_OK)) {
			s->state[c] = ST_READY;
			heap_push(s, c);
		}
	}
}

static void sched_build(struct sched *s, const struct job *jobs, int n, const struct run_spec *rs)
{
	memset(s, 0, sizeof *s);
	s->jobs = jobs;
	s->n = n;
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
	free(s->sid);
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

struct idpos {
	char id[17];
	int j;
};

static int cmp_idpos(const void *a, const void *b)
{
	return strcmp(((const struct idpos *)a)->id, ((const struct idpos *)b)->id);
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

	s->sid = xmalloc((size_t)(s->n ? s->n : 1) * sizeof *s->sid);
	for (int i = 0; i < s->n; i++) {
		strlcopy(s->sid[i].id, s->jobs[i].id, sizeof s->sid[i].id);
		s->sid[i].j = i;
	}
	qsort(s->sid, (size_t)s->n, sizeof *s->sid, cmp_idpos);
	for (int m = 0; m < s->n; m++)
		for (int e = 0; e < rs->nsearches; e++)
			if (job_search_applies(&s->jobs[m], &rs->searches[e]))
				s->nsi++;
	s->si = xcalloc((size_t)(s->nsi ? s->nsi : 1), sizeof *s->si);
	int k = 0;
	for (int m = 0; m < s->n; m++)
		for (int e = 0; e < rs->nsearches; e++)
			if (job_search_applies(&s->jobs[m], &rs->searches[e])) {
				struct sinst *in = &s->si[k++];
				in->entry = e;
				in->model = m;
				in->key = search_key(&rs->searches[e]);
				search_init(&in->st, rs->searches[e].nvals[in->key],
					    rs->search_coarse);
			}
}

/* Appends a grown job to the run; returns its index. */
static int sched_append(struct sched *s, const struct job *nj)
{
	int n = s->n;

	if (n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		*s->jobsp = xrealloc(*s->jobsp, (size_t)s->cap * sizeof **s->jobsp);
		s->state = xrealloc(s->state, (size_t)(s->cap + 1) * sizeof *s->state);
		s->wait = xrealloc(s->wait, (size_t)(s->cap + 1) * sizeof *s->wait);
		s->acc = xrealloc(s->acc, (size_t)(s->cap + 1) * sizeof *s->acc);
		s->removed = xrealloc(s->removed, (size_t)(s->cap + 1) * sizeof *s->removed);
		s->heap = xrealloc(s->heap, (size_t)s->cap * sizeof *s->heap);
		s->child_off = xrealloc(s->child_off, (size_t)(s->cap + 2) * sizeof *s->child_off);
	}
	(*s->jobsp)[n] = *nj;
	s->jobs = *s->jobsp;
	s->n = *s->njobsp = n + 1;
	if (s->pl) {
		s->pl->jobs = s->jobs;
		s->pl->njobs = s->n;
	}
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
	struct job nj;
	struct idpos key;
	char err[ERRBUF];

	if (job_search_probe(s->rs, s->jobs, s->n, in->model, &s->rs->searches[in->entry], v, &nj,
			     err, sizeof err)) {
		fprintf(stderr, "wmbench: %s\n", err);
		return -1;
	}
	strlcopy(key.id, nj.id, sizeof key.id);
	const struct idpos *hit =
	    bsearch(&key, s->sid, (size_t)s->nstatic, sizeof *s->sid, cmp_idpos);
	if (hit)
		return hit->j;
	for (int j = s->nstatic; j < s->n; j++)
		if (!strcmp(s->jobs[j].id, nj.id))
			return j;
	int j = sched_append(s, &nj);
	const struct result_row *row = journal_row(s, nj.id);
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
		const struct job *m = &s->jobs[in->model];
		char sp[PARAM_MAX * (PARAM_KEYLEN + PARAM_VALLEN + 2) + 1];
		const char *st = !in->started
				     ? (s->state[in->model] == ST_OK ? "running" : "no_model")
				     : status[in->st.status];
		int found = in->started && in->st.status == SEARCH_FOUND;
		int kept = in->started && in->st.lo >= 0 &&
			   (in->st.status == SEARCH_FOUND || in->st.status == SEARCH_NOT_REMOVED);
		int hj = -1;

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

static int cmp_id(const void *a, const void *b)
{
	return strcmp(((const struct job *const *)a)[0]->id, ((const struct job *const *)b)[0]->id);
}

/* Maps job ids to indices in O(n log n). */
struct id_index {
	const struct job **sorted;
	int n;
};

static void id_index_build(struct id_index *x, const struct job *jobs, int n)
{
	x->sorted = xmalloc((size_t)(n ? n : 1) * sizeof *x->sorted);
	for (int i = 0; i < n; i++)
		x->sorted[i] = &jobs[i];
	qsort(x->sorted, (size_t)n, sizeof *x->sorted, cmp_id);
	x->n = n;
}

static int id_index_find(const struct id_index *x, const struct job *base, const char *id)
{
	int lo = 0, hi = x->n - 1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2, c = strcmp(x->sorted[mid]->id, id);
		if (!c)
			return (int)(x->sorted[mid] - base);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
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
			 const struct job *jobs, int n, char *err, size_t errlen)
{
	char saved[PATHLEN + 32], e2[ERRBUF];
	struct run_spec old;
	struct job *ojobs = NULL;
	int on = 0, added = 0, removed = 0;
	char first_added[200] = "", first_removed[200] = "";
	snprintf(saved, sizeof saved, "%s/jobfile.yaml", rundir);
	if (access(saved, R_OK))
		return 0;
	if (jobfile_load(saved, &old, e2, sizeof e2) ||
	    jobs_expand(&old, &ojobs, &on, e2, sizeof e2))
		return errf(err, errlen,
			    "%s: the saved job file of this run no longer loads (%s); expected a "
			    "run directory written by this wmbench",
			    saved, e2);
	if (!strcmp(old.sha256, rs->sha256)) {
		free(ojobs);
		jobfile_free(&old);
		return 0;
	}
	if (old.alpha != rs->alpha) {
		/* alpha is not part of a job's identity, but every finished row was
		 * decided at the old one and the keys record it */
		double a = old.alpha;
		free(ojobs);
		jobfile_free(&old);
		return errf(err, errlen,
			    "%s: run.alpha changed from %g to %g since this run began (%s): its "
			    "rows were decided and its keys stamped at %g; expected the same alpha "
			    "to resume (start a new run directory for another alpha)",
			    rs->path, a, rs->alpha, saved, a);
	}
	struct id_index xo, xn;
	id_index_build(&xo, ojobs, on);
	id_index_build(&xn, jobs, n);
	for (int i = 0; i < n; i++)
		if (id_index_find(&xo, ojobs, jobs[i].id) < 0 && added++ == 0)
			snprintf(first_added, sizeof first_added, "%s %s %s",
				 job_kind_name(jobs[i].kind), jobs[i].scheme, jobs[i].attack);
	for (int i = 0; i < on; i++)
		if (id_index_find(&xn, jobs, ojobs[i].id) < 0 && removed++ == 0)
			snprintf(first_removed, sizeof first_removed, "%s %s %s",
				 job_kind_name(ojobs[i].kind), ojobs[i].scheme, ojobs[i].attack);
	free(xo.sorted);
	free(xn.sorted);
	free(ojobs);
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
	const struct job *j = &s->jobs[i];
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

/* Marks jobs finished in the journal; returns the number of rows applied. */
static int apply_journal(struct sched *s, const char *rundir, const struct run_opts *o,
			 const struct pipeline *p, char *err, size_t errlen)
{
	struct result_row *rows;
	int nrows;
	struct id_index x;
	if (journal_read(rundir, &rows, &nrows, err, errlen))
		return -1;
	id_index_build(&x, s->jobs, s->n);
	for (int i = 0; i < nrows; i++) {
		int j = id_index_find(&x, s->jobs, rows[i].job_id);
		if (j < 0)
			continue;
		if (!strcmp(rows[i].status, "ok")) {
			s->state[j] = ST_OK;
			s->acc[j] = rows[i].acc;
			s->removed[j] = rows[i].removed;
		} else if (!strcmp(rows[i].status, "failed")) {
			s->state[j] = o->retry_failed ? ST_PENDING : ST_FAILED;
		} else {
			s->state[j] = ST_SKIPPED;
		}
	}
	/* kept: the rows of probes that searches will grow again */
	search_journal(s, rows, nrows, o->retry_failed);
	free(x.sorted);
	/* A finished model job whose file is gone must be redone if anything
	 * still needs it; skipped jobs are retried when their parent is fine. */
	for (int i = 0; i < s->n; i++) {
		const struct job *j = &s->jobs[i];
		if (s->state[i] == ST_SKIPPED && j->parent >= 0 &&
		    (s->state[j->parent] == ST_OK || s->state[j->parent] == ST_PENDING) &&
		    after_state(s, i) >= 0)
			s->state[i] = ST_PENDING;
		/* a calibration job whose trials file is gone or cut short is run again */
		if (s->state[i] == ST_OK && j->kind == JOB_CALIB) {
			char path[PATHLEN + 64];
			pipeline_calib_path(p, j, path, sizeof path);
			if (!trials_complete(path, j->calib_keys))
				s->state[i] = ST_PENDING;
		}
	}
	/* children come after their parents, so one backward sweep reaches every
	 * model that a pending job still needs */
	for (int i = s->n - 1; i >= 0; i--) {
		const struct job *j = &s->jobs[i];
		if (s->state[i] != ST_PENDING || j->parent < 0)
			continue;
		int pj = j->parent;
		char model[PATHLEN + 64], key[PATHLEN + 64];
		/* a calibration job reads the keys of the owner jobs it waits for */
		for (int d = j->after; d >= 0 && d < j->after + j->nafter; d++) {
			pipeline_key_path(p, &s->jobs[d], key, sizeof key);
			if (s->state[d] == ST_OK && access(key, R_OK))
				s->state[d] = ST_PENDING;
		}
		/* an attack reads its parent's model (and key, for a marked model); a
		 * control reads the key; an embed reads nothing of its parent; a
		 * calibration job reads its calibration model */
		int need_model = j->kind == JOB_ATTACK || j->kind == JOB_CALIB;
		int need_key = s->jobs[pj].kind == JOB_EMBED &&
			       (j->kind == JOB_ATTACK || j->kind == JOB_CONTROL);
		pipeline_model_path(p, &s->jobs[pj], model, sizeof model);
		pipeline_key_path(p, &s->jobs[pj], key, sizeof key);
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
		int p = s->jobs[i].parent, after = after_state(s, i);
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

static void print_dry_run(const struct run_spec *rs, const struct job *jobs, int n)
{
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
	printf("# %-16s %-7s %-16s %5s  %-40s %-40s %9s\n", "job", "kind", "parent", "seed",
	       "scheme", "attack", "est_cpu_s");
	for (int i = 0; i < n; i++) {
		const struct job *j = &jobs[i];
		char sp[300], ap[300], s1[400], a1[400];
		param_format(&j->sp, sp, sizeof sp);
		param_format(&j->ap, ap, sizeof ap);
		snprintf(s1, sizeof s1, "%s%s%s%s", j->scheme, sp[0] ? "{" : "", sp,
			 sp[0] ? "}" : "");
		snprintf(a1, sizeof a1, "%s%s%s%s", j->attack[0] ? j->attack : "-",
			 ap[0] ? "{" : "", ap, ap[0] ? "}" : "");
		printf("  %-16s %-7s %-16s %5ld  %-40s %-40s %9.1f\n", j->id,
		       job_kind_name(j->kind), j->parent >= 0 ? jobs[j->parent].id : "-", j->seed,
		       s1, a1, j->cost);
		cpu += j->cost;
		if (j->kind == JOB_TRAIN || j->kind == JOB_EMBED || j->kind == JOB_CALMODEL ||
		    j->kind == JOB_CALOWNER)
			disk += (double)model_bytes;
	}
	printf(
	    "# estimated CPU time: %.0f s (%.2f h); estimated disk: %.1f MB of models and keys\n",
	    cpu, cpu / 3600, disk / 1e6);
	int na = jobs_not_applicable(rs, e, sizeof e);
	if (na > 0)
		printf("# %d not-applicable attack jobs skipped: query-path attacks against "
		       "white-box verification cannot act\n",
		       na);
	for (int k = 0; k < rs->nsearches; k++) {
		const struct plug_entry *se = &rs->searches[k];
		int key = search_key(se), models = 0, nv = se->nvals[key], steps = 0;
		for (int i = 0; i < n; i++)
			models += job_search_applies(&jobs[i], se);
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
			  const struct job *jobs, double units)
{
	result_row_init(row, j, rs, jobs);
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
}

/* What one rank holds during a run. */
struct run {
	const struct run_opts *o;
	int rank, size;
	struct run_spec rs;
	struct job *jobs;
	int njobs;
	char rundir[PATHLEN], start[32];
	struct pipeline p;
	char err[ERRBUF];
};

/* One job on this rank: the pipeline's, or a synthetic one. */
static void run_job(struct run *r, int j, struct result_row *row)
{
	if (r->o->synthetic)
		run_synthetic(&r->jobs[j], row, &r->rs, r->jobs, r->o->synthetic_s);
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
		go = go && !check_changed(rundir, o, &r->rs, r->jobs, r->njobs, err, sizeof r->err);
		if (go) {
			snprintf(saved, sizeof saved, "%s/jobfile.yaml", rundir);
			if (copy_file(r->rs.path, saved))
				go = !errf(err, sizeof r->err,
					   "%s: cannot copy the job file into the run directory",
					   saved);
		}
		go = go && !provenance_write(rundir, &r->rs, r->size, r->start, NULL, r->njobs,
					     NULL, err, sizeof r->err);
		if (go)
			remove_stale_tmp(rundir); /* only with the lock held */
		if (!go)
			fprintf(stderr, "error: %s\n", err);
	}
	if (r->size > 1)
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
	for (int w = 0; w < size; w++)
		held[w] = running[w] = -1;
	while (active > 0 && !got_term) {
		int flag = 0;
		MPI_Status st;
		if (mpi_check(MPI_Iprobe(MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &flag, &st), 0,
			      "MPI_Iprobe", -1))
			break;
		if (flag) {
			struct result_row row;
			int w = st.MPI_SOURCE;
			if (mpi_check(MPI_Recv(&row, sizeof row, MPI_BYTE, w, TAG_RESULT,
					       MPI_COMM_WORLD, MPI_STATUS_IGNORE),
				      0, "MPI_Recv", w)) {
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
				const struct job *jr = &s->jobs[running[w]];
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
			/* a grown job: the worker's array lacks it, so it travels whole */
			if (coord_send(&j, 1, MPI_INT, w, TAG_JOB) ||
			    (j >= s->nstatic && coord_send(&s->jobs[j], sizeof s->jobs[j], MPI_BYTE,
							   w, TAG_JOBDESC))) {
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
			sleep_us(nap);
			if (nap < 2000)
				nap *= 2;
		}
	}
	/* a worker given up on may still be waiting for a job: tell it to stop
	 * (best effort) so that the run ends */
	for (int w = 1; w < size && !got_term; w++)
		if (lost[w]) {
			int stop = -1;
			MPI_Send(&stop, 1, MPI_INT, w, TAG_JOB, MPI_COMM_WORLD);
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
	int size = r->size, njobs = r->njobs, status;
	struct sched s;

	sched_build(&s, r->jobs, njobs, &r->rs);
	s.jobsp = &r->jobs;
	s.njobsp = &r->njobs;
	s.pl = &r->p;
	search_build(&s);
	s.quiet = o->quiet;
	s.t0 = now_seconds();
	/* read first (a torn tail, even a torn header, is cut), then append */
	int done = apply_journal(&s, rundir, o, &r->p, err, sizeof r->err);
	if (done >= 0 && journal_open(&s.jl, rundir, err, sizeof r->err))
		done = -1;
	if (done < 0) {
		fprintf(stderr, "error: %s\n", err);
		/* tell the workers to stop */
		for (int w = 1; w < size; w++) {
			int stop = -1;
			MPI_Send(&stop, 1, MPI_INT, w, TAG_JOB, MPI_COMM_WORLD);
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
	s.last_progress = now_seconds();
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	seed_ready(&s);
	search_resume(&s);
	if (size == 1)
		serve_alone(r, &s);
	else
		serve_workers(r, &s);
	if (o->synthetic) {
		double total = now_seconds() - s.t0;
		int ran = s.nok + s.nfailed - done;
		printf("sched: %d jobs on %d worker(s) in %.3f s; fsync %.3f s; %.1f us "
		       "per job beyond fsync and the work\n",
		       ran, size > 1 ? size - 1 : 1, total, s.jl.fsync_s,
		       ran ? 1e6 * (total - s.jl.fsync_s - s.work_s / (size > 1 ? size - 1 : 1)) /
				 ran
			   : 0);
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
static int run_work(struct run *r)
{
	int nstatic = r->njobs;
	struct result_row row;
	memset(&row, 0, sizeof row);
	if (mpi_check(MPI_Send(&row, sizeof row, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD), r->rank,
		      "MPI_Send", 0))
		return 1;
	for (;;) {
		int j;
		if (mpi_check(
			MPI_Recv(&j, 1, MPI_INT, 0, TAG_JOB, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
			r->rank, "MPI_Recv", 0))
			return 1;
		if (j < 0)
			break;
		if (j >= nstatic) {
			/* a job grown by a search on rank 0: its description follows */
			if (j >= r->njobs) {
				r->jobs = xrealloc(r->jobs, (size_t)(j + 1) * sizeof *r->jobs);
				memset(&r->jobs[r->njobs], 0,
				       (size_t)(j + 1 - r->njobs) * sizeof *r->jobs);
				r->njobs = j + 1;
				r->p.jobs = r->jobs;
				r->p.njobs = r->njobs;
			}
			if (mpi_check(MPI_Recv(&r->jobs[j], sizeof r->jobs[j], MPI_BYTE, 0,
					       TAG_JOBDESC, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
				      r->rank, "MPI_Recv", 0))
				return 1;
		}
		run_job(r, j, &row);
		row.rank = r->rank;
		if (mpi_check(MPI_Send(&row, sizeof row, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD),
			      r->rank, "MPI_Send", 0))
			return 1;
	}
	return 0;
}

int coord_run(const struct run_opts *o, int rank, int size)
{
	struct run r;
	int go = 1, status = 1;

	memset(&r, 0, sizeof r);
	r.o = o;
	r.rank = rank;
	r.size = size;
	if (jobfile_load(o->jobfile, &r.rs, r.err, sizeof r.err) ||
	    jobs_expand(&r.rs, &r.jobs, &r.njobs, r.err, sizeof r.err) ||
	    pipeline_precheck(&r.rs, r.jobs, r.njobs, r.err, sizeof r.err))
		go = 0;
	if (o->dry_run) {
		if (rank == 0) {
			if (go)
				print_dry_run(&r.rs, r.jobs, r.njobs);
			else
				fprintf(stderr, "error: %s\n", r.err);
		}
		free(r.jobs);
		if (go)
			jobfile_free(&r.rs);
		return go ? 0 : 1;
	}
	if (!go) {
		if (rank == 0)
			fprintf(stderr, "error: %s\n", r.err);
		return 1;
	}
	openblas_set_num_threads(r.rs.threads);
	if (o->rundir[0])
		strlcopy(r.rundir, o->rundir, sizeof r.rundir);
	else
		snprintf(r.rundir, sizeof r.rundir, "runs/%s", r.rs.name);
	pipeline_init(&r.p, &r.rs, r.jobs, r.njobs, r.rundir, rank);
	iso_time(r.start, sizeof r.start);

	if (run_setup(&r))
		status = rank == 0 ? run_serve(&r) : run_work(&r);
	pipeline_free(&r.p);
	free(r.jobs);
	jobfile_free(&r.rs);
	return status;
}
