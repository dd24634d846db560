/* coord.c - expands a job file, resumes from the journal, and hands ready jobs
 * to workers. Rank 0 coordinates and sleeps while idle (it polls with
 * MPI_Iprobe and nanosleep instead of blocking in MPI_Recv, which busy-polls
 * in Open MPI); ranks 1..N-1 run jobs. With one process the same loop runs the
 * jobs inline. */
#include "coord.h"
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

enum { TAG_JOB = 1, TAG_RESULT = 2 };
enum { ST_PENDING, ST_READY, ST_RUNNING, ST_OK, ST_FAILED, ST_SKIPPED };

struct sched {
	const struct job *jobs;
	int n;
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
}

/* Records a finished job and releases or skips its children. */
static void finish(struct sched *s, int j, struct result_row *r)
{
	int ok = !strcmp(r->status, "ok");
	s->acc[j] = r->acc;
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
	s->state = xcalloc((size_t)n, sizeof(int));
	s->wait = xcalloc((size_t)n + 1, sizeof(int));
	s->acc = xmalloc((size_t)n * sizeof(double));
	s->heap = xmalloc((size_t)(n ? n : 1) * sizeof(int));
	s->child_off = xcalloc((size_t)n + 1, sizeof(int));
	s->child = xmalloc((size_t)(n ? n : 1) * sizeof(int));
	for (int i = 0; i < n; i++) {
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
	free(s->state);
	free(s->wait);
	free(s->acc);
	free(s->heap);
	free(s->child_off);
	free(s->child);
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
		} else if (!strcmp(rows[i].status, "failed")) {
			s->state[j] = o->retry_failed ? ST_PENDING : ST_FAILED;
		} else {
			s->state[j] = ST_SKIPPED;
		}
	}
	free(rows);
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
	}
}

/* Rank 0 of several: hands ready jobs to idle workers (preferring a child of
 * the model a worker holds) and records their rows, until every worker has
 * been told to stop. Polls, and sleeps between polls (see the README). */
static void serve_workers(struct run *r, struct sched *s)
{
	const struct job *jobs = r->jobs;
	int size = r->size;
	int *held = xmalloc((size_t)size * sizeof(int)),
	    *running = xmalloc((size_t)size * sizeof(int));
	int *idle = xmalloc((size_t)size * sizeof(int)), nidle = 0, active = size - 1;
	long nap = 20;
	for (int w = 0; w < size; w++)
		held[w] = running[w] = -1;
	while (active > 0 && !got_term) {
		int flag = 0;
		MPI_Status st;
		MPI_Iprobe(MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &flag, &st);
		if (flag) {
			struct result_row row;
			int w = st.MPI_SOURCE;
			MPI_Recv(&row, sizeof row, MPI_BYTE, w, TAG_RESULT, MPI_COMM_WORLD,
				 MPI_STATUS_IGNORE);
			if (running[w] >= 0) {
				finish(s, running[w], &row);
				if (jobs[running[w]].kind != JOB_ATTACK &&
				    jobs[running[w]].kind != JOB_CONTROL &&
				    jobs[running[w]].kind != JOB_CALIB)
					held[w] = running[w];
				else if (!strcmp(row.status, "ok"))
					held[w] = jobs[running[w]].parent;
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
			MPI_Send(&j, 1, MPI_INT, w, TAG_JOB, MPI_COMM_WORLD);
			if (j < 0)
				active--;
			else
				running[w] = j;
		}
		if (!flag) {
			sleep_us(nap);
			if (nap < 2000)
				nap *= 2;
		}
	}
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
	struct run_counts counts = {s.nok, s.nfailed, s.nskipped};
	if (got_term) {
		/* SIGTERM (SLURM's time limit, scancel) or SIGINT: every finished row is
		 * already on disk; the jobs in flight are redone by the next run. */
		journal_close(&s.jl);
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
	provenance_write(rundir, &r->rs, size, r->start, end, njobs, &counts, err, sizeof r->err);
	journal_close(&s.jl);
	if (!o->quiet)
		printf("wmbench: %d ok, %d failed, %d skipped; results in %s/results.csv\n", s.nok,
		       s.nfailed, s.nskipped, rundir);
	status = (s.nfailed || s.nskipped) ? 3 : 0;
	sched_free(&s);
	return status;
}

/* A worker rank: asks for work, runs it, sends the row back, until told to
 * stop (job -1). */
static int run_work(struct run *r)
{
	struct result_row row;
	memset(&row, 0, sizeof row);
	MPI_Send(&row, sizeof row, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD);
	for (;;) {
		int j;
		MPI_Recv(&j, 1, MPI_INT, 0, TAG_JOB, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		if (j < 0)
			break;
		run_job(r, j, &row);
		row.rank = r->rank;
		MPI_Send(&row, sizeof row, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD);
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
