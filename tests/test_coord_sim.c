/* test_coord_sim.c - the coordinator simulation (harness/coord_sim.c) drives
 * rank 0's real loop correctly: on 1 and 64 simulated workers every job is
 * handed out once and journaled once, after its parent and its `after`
 * range, a worker runs one job at a time for its whole duration, one worker
 * takes exactly the sum of the durations, and no makespan beats the
 * critical path or the total work over the workers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "../harness/coord_sim.h"
#include "../harness/job.h"
#include "../workers/util.h"
#include "testlib.h"

struct tmatrix {
	struct run_spec rs;
	struct job *jobs;
	int n;
	double *dur, work, cp;
};

/* The matrix of jobfile with durations from 0.1 to 2 s (a fixed LCG). */
static void load(struct tmatrix *m, const char *jobfile)
{
	char err[ERRBUF];
	uint32_t x = 12345;
	double *end;

	assert_int_equal(jobfile_load(jobfile, &m->rs, err, sizeof err), 0);
	assert_int_equal(jobs_expand(&m->rs, &m->jobs, &m->n, err, sizeof err), 0);
	m->dur = xmalloc((size_t)m->n * sizeof *m->dur);
	end = xcalloc((size_t)m->n, sizeof *end);
	m->work = m->cp = 0;
	for (int i = 0; i < m->n; i++) {
		const struct job *j = &m->jobs[i];
		double start = j->parent >= 0 ? end[j->parent] : 0;

		x = x * 1664525u + 1013904223u;
		m->dur[i] = 0.1 + 1.9 * (x >> 8) / (double)(1u << 24);
		m->work += m->dur[i];
		/* the critical path in one pass needs parents and after ranges
		 * before their jobs */
		assert_true(j->parent < i);
		for (int d = j->after; d >= 0 && d < j->after + j->nafter; d++) {
			assert_true(d < i);
			if (end[d] > start)
				start = end[d];
		}
		end[i] = start + m->dur[i];
		if (end[i] > m->cp)
			m->cp = end[i];
	}
	free(end);
}

static void unload(struct tmatrix *m)
{
	free(m->dur);
	free(m->jobs);
	jobfile_free(&m->rs);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* results.csv holds one ok row per job of the matrix, no other. */
static void check_journal(const char *rundir, const struct tmatrix *m)
{
	char path[PATHLEN + 32], line[8192];
	char **ids = xmalloc((size_t)(m->n + 1) * sizeof *ids), **want;
	int k = 0;
	FILE *f;

	snprintf(path, sizeof path, "%s/results.csv", rundir);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof line, f)); /* the header */
	while (fgets(line, sizeof line, f)) {
		assert_true(k < m->n);
		assert_non_null(strstr(line, ",ok,"));
		line[16] = 0;
		ids[k++] = strdup(line);
	}
	fclose(f);
	assert_int_equal(k, m->n);
	want = xmalloc((size_t)m->n * sizeof *want);
	for (int i = 0; i < m->n; i++)
		want[i] = m->jobs[i].id;
	qsort(ids, (size_t)k, sizeof *ids, cmp_str);
	qsort(want, (size_t)m->n, sizeof *want, cmp_str);
	for (int i = 0; i < k; i++) {
		assert_string_equal(ids[i], want[i]);
		free(ids[i]);
	}
	free(ids);
	free(want);
}

static int cmp_by_worker(const void *a, const void *b)
{
	const struct sim_job *x = *(const struct sim_job *const *)a,
			     *y = *(const struct sim_job *const *)b;
	if (x->worker != y->worker)
		return x->worker - y->worker;
	return (x->sent > y->sent) - (x->sent < y->sent);
}

/* Runs m on w workers and checks what every schedule must satisfy. */
static void run(const char *jobfile, const struct tmatrix *m, int w, int ideal,
		struct sim_result *res)
{
	char dir[64], rundir[128], err[ERRBUF];
	struct sim_params p = {0};

	p.workers = w;
	p.ideal = ideal;
	if (!ideal) {
		p.lat_job = p.lat_row = 5e-6;
		p.probe_s = 0.5e-6;
		p.recv_s = p.send_s = 1e-6;
	}
	p.dur = m->dur;
	p.ndur = m->n;
	assert_int_equal(tl_tmpdir(dir, sizeof dir, "wm_sim"), 0);
	snprintf(rundir, sizeof rundir, "%s/run", dir);
	if (coord_sim_run(jobfile, rundir, &p, res, err, sizeof err))
		fail_msg("%s", err);
	assert_int_equal(res->status, 0);
	assert_int_equal(res->njobs, m->n);
	check_journal(rundir, m);
	assert_int_equal(tl_rmtree(dir), 0);

	const struct sim_job **by = xmalloc((size_t)m->n * sizeof *by);
	for (int i = 0; i < m->n; i++) {
		const struct job *j = &m->jobs[i];
		const struct sim_job *s = &res->job[i];

		assert_int_equal(s->runs, 1);
		assert_true(s->worker >= 1 && s->worker <= w);
		assert_true(s->back - s->sent >= m->dur[i] - 1e-9);
		if (j->parent >= 0)
			assert_true(res->job[j->parent].back <= s->sent);
		for (int d = j->after; d >= 0 && d < j->after + j->nafter; d++)
			assert_true(res->job[d].back <= s->sent);
		by[i] = s;
	}
	/* a worker runs one job at a time */
	qsort(by, (size_t)m->n, sizeof *by, cmp_by_worker);
	for (int i = 1; i < m->n; i++)
		if (by[i]->worker == by[i - 1]->worker)
			assert_true(by[i]->sent >= by[i - 1]->back);
	free(by);
	assert_true(res->makespan >= m->cp - 1e-9);
	assert_true(res->makespan >= m->work / w - 1e-9);
}

/* One ideal worker: the makespan is the sum of the durations, exactly. */
static void one_worker_ideal(const char *jobfile)
{
	struct tmatrix m;
	struct sim_result res;

	load(&m, jobfile);
	run(jobfile, &m, 1, 1, &res);
	assert_true(fabs(res.makespan - m.work) <= 1e-9 * m.work);
	coord_sim_free(&res);
	unload(&m);
}

static void test_ci_one_worker(void **state)
{
	(void)state;
	one_worker_ideal("jobs/ci.yaml");
}

static void test_calibration_one_worker(void **state)
{
	(void)state;
	one_worker_ideal("jobs/calibrate/wrt.yaml");
}

/* One worker with latencies, rank 0's measured time and its real naps: the
 * sum of the durations and latencies, plus at most one nap (2.56 ms) per
 * row and rank 0's own time. */
static void test_ci_one_worker_timed(void **state)
{
	struct tmatrix m;
	struct sim_result res;
	const char *jf = "jobs/ci.yaml";

	(void)state;
	load(&m, jf);
	run(jf, &m, 1, 0, &res);
	double lo = m.work + m.n * 10e-6,
	       hi = lo + 10e-6 + (m.n + 1) * 2.6e-3 + res.coord_cpu + res.mpi_s + res.io_wait;
	assert_true(res.makespan >= lo);
	assert_true(res.makespan <= hi);
	assert_true(res.coord_cpu > 0);
	coord_sim_free(&res);
	unload(&m);
}

static void many_workers(const char *jobfile)
{
	struct tmatrix m;
	struct sim_result res;

	load(&m, jobfile);
	run(jobfile, &m, 64, 1, &res);
	coord_sim_free(&res);
	run(jobfile, &m, 64, 0, &res);
	coord_sim_free(&res);
	unload(&m);
}

static void test_ci_64(void **state)
{
	(void)state;
	many_workers("jobs/ci.yaml");
}

static void test_calibration_64(void **state)
{
	(void)state;
	many_workers("jobs/calibrate/wrt.yaml");
}

static void test_quick_64(void **state)
{
	(void)state;
	many_workers("jobs/quick.yaml");
}

/* Bad input: a run directory that exists (it would resume) and a duration
 * list of the wrong length are refused with a message. */
static void test_refused(void **state)
{
	struct tmatrix m;
	struct sim_result res;
	struct sim_params p = {0};
	char dir[64], err[ERRBUF];

	(void)state;
	load(&m, "jobs/ci.yaml");
	p.workers = 2;
	p.dur = m.dur;
	p.ndur = m.n;
	assert_int_equal(tl_tmpdir(dir, sizeof dir, "wm_sim"), 0);
	assert_int_equal(coord_sim_run("jobs/ci.yaml", dir, &p, &res, err, sizeof err), -1);
	assert_non_null(strstr(err, "exists; expected a new run directory"));
	p.ndur = m.n - 1;
	strcat(dir, "/run");
	assert_int_equal(coord_sim_run("jobs/ci.yaml", dir, &p, &res, err, sizeof err), -1);
	assert_non_null(strstr(err, "durations; expected one per job"));
	p.ndur = m.n;
	p.workers = 0;
	assert_int_equal(coord_sim_run("jobs/ci.yaml", dir, &p, &res, err, sizeof err), -1);
	assert_non_null(strstr(err, "0 workers; expected 1"));
	dir[strlen(dir) - 4] = 0;
	assert_int_equal(tl_rmtree(dir), 0);
	unload(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ci_one_worker),
	    cmocka_unit_test(test_calibration_one_worker),
	    cmocka_unit_test(test_ci_one_worker_timed),
	    cmocka_unit_test(test_ci_64),
	    cmocka_unit_test(test_calibration_64),
	    cmocka_unit_test(test_quick_64),
	    cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
