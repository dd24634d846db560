/* test_jobfile.c - the job file parser, the job matrix and the result CSV. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../attacks/attack.h"
#include "../harness/job.h"
#include "../workers/nn.h"
#include "../workers/params.h"
#include "../workers/util.h"
#include "testlib.h"

static char tmpdir[256];

/* Writes text to tmpdir/name; the path goes into path. */
static void write_file(const char *name, const char *text, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

static void load_ok(const char *name, const char *text, struct run_spec *rs)
{
	char path[512], err[ERRBUF] = "";
	int rc;

	write_file(name, text, path, sizeof path);
	rc = jobfile_load(path, rs, err, sizeof err);
	if (rc)
		fail_msg("jobfile_load(%s): %s", name, err);
}

static const struct plug_entry *entry(const struct plug_entry *e, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(e[i].name, name))
			return &e[i];
	return NULL;
}

static int key_index(const struct plug_entry *e, const char *key)
{
	for (int i = 0; i < e->nkeys; i++)
		if (!strcmp(e->key[i], key))
			return i;
	return -1;
}

static int group_setup(void **state)
{
	(void)state;
	return tl_tmpdir(tmpdir, sizeof tmpdir, "test_jobfile");
}

static int group_teardown(void **state)
{
	(void)state;
	return tl_rmtree(tmpdir);
}

/* ---- defaults ---- */

static void test_defaults(void **state)
{
	struct run_spec *rs = calloc(1, sizeof *rs);
	char path[512], err[ERRBUF], sha[65];
	struct job *jobs;
	int n;

	(void)state;
	load_ok("quick.run.yaml", "run:\n  threads: 1\n", rs);
	assert_string_equal(rs->name, "quick.run");
	assert_string_equal(rs->dataset, "fashion");
	assert_string_equal(rs->model, "mlp");
	assert_string_equal(rs->optimizer, "adam");
	assert_string_equal(rs->data_dir, "");
	assert_true(rs->lr == 1e-3);
	assert_true(rs->momentum == 0.9);
	assert_true(rs->weight_decay == 0);
	assert_int_equal(rs->batch, 64);
	assert_int_equal(rs->epochs, 5);
	assert_true(rs->alpha == 1e-3);
	assert_int_equal(rs->nseeds, 1);
	assert_int_equal(rs->seeds[0], 1);
	assert_int_equal(rs->run_seed, 0);
	assert_int_equal(rs->controls, 0);
	assert_int_equal(rs->threads, 1);
	assert_int_equal(rs->train_subset, 0);
	assert_int_equal(rs->test_subset, 0);
	assert_true(rs->attacker_split == 1.0 / 3.0);
	assert_int_equal(rs->nschemes, 1);
	assert_string_equal(rs->schemes[0].name, "none");
	assert_int_equal(rs->nattacks, 0);

	snprintf(path, sizeof path, "%s/quick.run.yaml", tmpdir);
	assert_int_equal(sha256_file_hex(path, sha, err, sizeof err), 0);
	assert_string_equal(rs->sha256, sha);

	assert_int_equal(jobs_expand(rs, &jobs, &n, err, sizeof err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(jobs[0].kind, JOB_TRAIN);
	assert_int_equal(jobs[0].parent, -1);
	assert_string_equal(jobs[0].identity,
			    "kind=train;dataset=fashion;model=mlp;epochs=5;batch=64;opt=adam;lr=0."
			    "001;momentum=0.9;wd=0;train_subset=0;test_subset=0;split=0."
			    "3333333333333333;seed=1;scheme=none{};attack={};control=0");
	assert_int_equal(strlen(jobs[0].id), 16);
	assert_true(jobs[0].cost > 0);
	free(jobs);
	jobfile_free(rs);

	/* cnn defaults, with one of them overridden */
	load_ok("c.yaml", "run:\n  dataset: cifar10\n  model: cnn\n  lr: 0.1\n", rs);
	assert_string_equal(rs->optimizer, "sgd");
	assert_true(rs->lr == 0.1);
	assert_true(rs->momentum == 0.9);
	assert_true(rs->weight_decay == 5e-4);
	assert_int_equal(rs->batch, 64);
	assert_int_equal(rs->epochs, 20);
	jobfile_free(rs);

	/* lenet5, empty attacks, scheme with no parameters */
	load_ok("l.yaml", "run:\n  model: lenet5\nschemes:\n  none:\nattacks:\n", rs);
	assert_string_equal(rs->optimizer, "adam");
	assert_int_equal(rs->epochs, 5);
	assert_int_equal(rs->nschemes, 1);
	assert_int_equal(rs->nattacks, 0);
	jobfile_free(rs);

	/* an empty run section */
	load_ok("e.yaml", "run:\nschemes: {}\n", rs);
	assert_string_equal(rs->name, "e");
	assert_int_equal(rs->nschemes, 1);
	jobfile_free(rs);
	free(rs);
}

/* ---- values, lists and ranges ---- */

static void test_ranges(void **state)
{
	struct run_spec *rs = calloc(1, sizeof *rs);
	const struct plug_entry *e;
	int k;

	(void)state;
	load_ok("r.yaml",
		"run:\n"
		"  seeds: 1..3\n"
		"schemes:\n"
		"  uchida:\n"
		"    bits: \"1..5\"\n"
		"    lambda: 0:1:0.1\n"
		"    layer: \"a:b\"\n"
		"attacks:\n"
		"  prune: {rate: \"0.1:0.9:0.2\", scope: [layer, global]}\n",
		rs);
	assert_int_equal(rs->nseeds, 3);
	assert_int_equal(rs->seeds[0], 1);
	assert_int_equal(rs->seeds[2], 3);

	e = entry(rs->schemes, rs->nschemes, "uchida");
	assert_non_null(e);
	k = key_index(e, "bits");
	assert_int_equal(e->nvals[k], 5);
	assert_string_equal(e->vals[k][0], "1");
	assert_string_equal(e->vals[k][4], "5");
	k = key_index(e, "lambda");
	assert_int_equal(e->nvals[k], 11);
	assert_string_equal(e->vals[k][0], "0");
	assert_string_equal(e->vals[k][3], "0.3");
	assert_string_equal(e->vals[k][7], "0.7");
	assert_string_equal(e->vals[k][10], "1");
	k = key_index(e, "layer"); /* a string parameter: ':' is no range */
	assert_int_equal(e->nvals[k], 1);
	assert_string_equal(e->vals[k][0], "a:b");
	assert_int_equal(e->line, 4);
	assert_int_equal(e->col, 3);

	e = entry(rs->attacks, rs->nattacks, "prune");
	assert_non_null(e);
	k = key_index(e, "rate");
	assert_int_equal(e->nvals[k], 5);
	assert_string_equal(e->vals[k][0], "0.1");
	assert_string_equal(e->vals[k][1], "0.3");
	assert_string_equal(e->vals[k][2], "0.5");
	assert_string_equal(e->vals[k][3], "0.7");
	assert_string_equal(e->vals[k][4], "0.9");
	k = key_index(e, "scope");
	assert_int_equal(e->nvals[k], 2);
	jobfile_free(rs);

	/* a stop off the grid is left out; lists mix values and ranges */
	load_ok("r2.yaml",
		"run:\n  seeds: [7, 3..4]\n"
		"attacks:\n  prune:\n    rate: [0:0.25:0.1, 0.95]\n",
		rs);
	assert_int_equal(rs->nseeds, 3);
	assert_int_equal(rs->seeds[0], 7);
	assert_int_equal(rs->seeds[2], 4);
	e = entry(rs->attacks, rs->nattacks, "prune");
	k = key_index(e, "rate");
	assert_int_equal(e->nvals[k], 4);
	assert_string_equal(e->vals[k][2], "0.2");
	assert_string_equal(e->vals[k][3], "0.95");
	jobfile_free(rs);
	free(rs);
}

static const struct job *find_kind(const struct job *jobs, int n, int kind)
{
	for (int i = 0; i < n; i++)
		if (jobs[i].kind == kind)
			return &jobs[i];
	return NULL;
}

static void test_canonical_values(void **state)
{
	struct run_spec *rs = calloc(1, sizeof *rs);
	const struct job *a, *b;
	struct job *ja, *jb;
	char err[ERRBUF];
	int na, nb;

	(void)state;
	load_ok("a.yaml", "schemes:\n  uchida: {lambda: 1e-3, bits: 0032}\n", rs);
	assert_int_equal(jobs_expand(rs, &ja, &na, err, sizeof err), 0);
	jobfile_free(rs);
	load_ok("b.yaml", "run:\n  lr: 0.0010\nschemes:\n  uchida: {bits: 32, lambda: 0.001}\n",
		rs);
	assert_int_equal(jobs_expand(rs, &jb, &nb, err, sizeof err), 0);
	jobfile_free(rs);
	assert_int_equal(na, 2);
	assert_int_equal(nb, 2);
	a = find_kind(ja, na, JOB_EMBED);
	b = find_kind(jb, nb, JOB_EMBED);
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(a->identity, b->identity);
	assert_string_equal(a->id, b->id);
	assert_true(a->rng_seed == b->rng_seed);
	assert_string_equal(param_get(&a->sp, "lambda"), "0.001");
	assert_non_null(param_get(&a->sp, "layer")); /* default filled in */

	/* a different run_seed changes the RNG seed, not the id */
	load_ok("c.yaml", "run:\n  run_seed: 42\nschemes:\n  uchida: {bits: 32, lambda: 0.001}\n",
		rs);
	jobfile_free(rs);
	assert_int_equal(rs->run_seed, 42);
	{
		struct job j = *a;

		job_finalise(&j, rs);
		assert_string_equal(j.id, a->id);
		assert_true(j.rng_seed != a->rng_seed);
	}
	free(ja);
	free(jb);
	free(rs);
}

/* ---- the job matrix ---- */

static const char matrix_a[] = "run:\n"
			       "  name: t\n"
			       "  seeds: [1, 2]\n"
			       "  lr: 0.001\n"
			       "  epochs: 2\n"
			       "  controls: 2\n"
			       "schemes:\n"
			       "  none: {}\n"
			       "  uchida: {bits: [32, 64], lambda: 1e-2}\n"
			       "attacks:\n"
			       "  identity: {}\n"
			       "  prune: {rate: [0.1, 0.5], scope: layer}\n";

/* The same matrix with every mapping in another order. */
static const char matrix_b[] = "attacks:\n"
			       "  prune:\n"
			       "    scope: layer\n"
			       "    rate: [0.5, 1e-1]\n"
			       "  identity:\n"
			       "schemes:\n"
			       "  uchida: {lambda: 0.01, bits: [64, 32]}\n"
			       "run:\n"
			       "  controls: 2\n"
			       "  epochs: 2\n"
			       "  seeds: 1..2\n"
			       "  lr: 1e-3\n"
			       "  name: other\n";

static int cmp_id(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The dry-run cost model: a job costs the samples of its work (forward a
 * third, backward two thirds of the model's cost per training sample) and
 * an evaluation of the test set. A training is epochs x the owner's samples
 * (24,000 less the attacker's third); an embedding or an attack what its
 * plug-in's work function says (none: nothing beyond the evaluation); a
 * control job an evaluation plus, in a run without ctlmodel jobs, a share
 * of training the control model. */
/* The cost of one verification of job j's scheme (0 on the clean model):
 * adi's 100 triggers, ewe's 100 key images, uchida none. */
static double vf(const struct job *j)
{
	double per = nn_arch_find("mlp")->cost;
	/* adi's and ewe's 100 triggers, gradsigns' 6,400 black-box queries */
	return per / 3 *
	       (!strcmp(j->scheme, "adi") || !strcmp(j->scheme, "ewe") ? 100
		: !strcmp(j->scheme, "gradsigns")		       ? 6400
								       : 0);
}

static void test_costs(void **state)
{
	struct run_spec *rs = calloc(1, sizeof *rs);
	struct job *jobs;
	int n;
	char err[ERRBUF];
	static const char *const runs[3] = {
	    "run:\n  model: mlp\n  epochs: 2\n  train_subset: 24000\n  test_subset: 5000\n"
	    "  controls: 2\nschemes:\n  uchida: {}\n  adi: {}\nattacks:\n"
	    "  noise: {}\n  finetune: {epochs: 3}\n  overwrite: {epochs: 1}\n",
	    "run:\n  model: mlp\n  epochs: 2\n  train_subset: 24000\n  test_subset: 5000\n"
	    "  controls: 5\nschemes:\n  ewe: {}\nattacks:\n  noise: {}\n",
	    "run:\n  model: mlp\n  epochs: 2\n  train_subset: 24000\n  test_subset: 5000\n"
	    "  controls: 2\nschemes:\n  gradsigns: {dbp: [exact, fd]}\nattacks:\n  noise: {}\n"
	    "  overwrite: {epochs: 1}\n"};
	struct wm_work w = {.n = 8000,
			    .n_attacker = 8000,
			    .n_owner = 16000,
			    .n_test = 5000,
			    .batch = 64,
			    .epochs = 2,
			    .nclass = 10,
			    .in_size = 784};
	(void)state;
	int gs_seen[2][2] = {{0}}; /* gradsigns' embed and overwrite jobs, exact and fd */
	for (int t = 0; t < 3; t++) {
		load_ok("cost.yaml", runs[t], rs);
		assert_int_equal(jobs_expand(rs, &jobs, &n, err, sizeof err), 0);
		double per = nn_arch_find("mlp")->cost, tc = 2 * 16000 * per, ec = 5000 * per / 3;
		int seen[JOB_CTLMODEL + 1] = {0};
		for (int i = 0; i < n; i++) {
			const struct job *j = &jobs[i];
			double want = tc + ec, f, b;
			if (j->kind == JOB_ATTACK && !strcmp(j->attack, "finetune")) {
				assert_int_equal(atk_work_of(atk_find("finetune"), &j->ap, &w, &f,
							     &b, err, sizeof err),
						 0);
				assert_true(f == 3 * 8000 && b == 3 * 8000); /* 3 epochs of n */
				want = per * (f + 2 * b) / 3 + ec + vf(j);
			} else if (j->kind == JOB_ATTACK && !strcmp(j->attack, "overwrite")) {
				/* the attacker's own embedding with the scheme under attack, on
				 * its 8,000 images for 1 epoch, and its key's verification: none
				 * on the clean model; on adi (2 % of 64 rows: 1 trigger row on
				 * each of 125 batches) 8,125 samples each way and 100 triggers */
				f = !strcmp(j->scheme, "adi")	   ? 8125 + 100
				    : !strcmp(j->scheme, "uchida") ? 8000
								   : 0;
				b = f > 0 ? (f == 8000 ? 8000 : 8125) : 0;
				want = per * (f + 2 * b) / 3 + ec + vf(j);
				if (!strcmp(j->scheme, "gradsigns")) {
					/* 1 epoch of 8,000: 125 x 6 mixed rows, 800 of
					 * the target class, 1,550 carrier rows; its key's
					 * 6,400 queries; fd: the carriers twice more each
					 * way; exact: 1.56 samples per carrier row */
					int fd = !strcmp(param_get(&j->sp, "dbp"), "fd");
					f = 8750 + 1550 + 6400 + (fd ? 3100 : 0);
					b = 8750 + (fd ? 3100 : 0);
					want = per * (f + 2 * b) / 3 + ec + vf(j) +
					       (fd ? 0 : per * 1.56 * 1550);
					gs_seen[1][fd]++;
				}
			} else if (j->kind == JOB_ATTACK) {
				want = ec + vf(j);
			} else if (j->kind == JOB_EMBED) {
				assert_int_equal(wm_work_of(wm_scheme_find(j->scheme), &j->sp, &w,
							    &f, &b, err, sizeof err),
						 0);
				if (!strcmp(j->scheme, "uchida"))
					assert_true(f == 2 * 16000 &&
						    b == f);	    /* a clean training */
				else if (!strcmp(j->scheme, "adi")) /* 250 batches + 1 row each */
					assert_true(f == 2 * 16250 && b == f);
				else if (!strcmp(j->scheme, "gradsigns")) {
					/* 2 epochs of 16,000 and 250 x 6 mixed rows; the
					 * carrier rows' forward: 1,600 of the target class
					 * and the mixed rows; fd: twice more each way */
					int fd = !strcmp(param_get(&j->sp, "dbp"), "fd");
					assert_true(b == 2 * (16000 + 1500) + (fd ? 4 * 3100 : 0));
					assert_true(f == b + 2 * 3100);
					gs_seen[0][fd]++;
				} else /* ewe trains on more rows */
					assert_true(f > 2 * 16000 && b > 2 * 16000);
				want = per * (f + 2 * b) / 3 + ec + vf(j);
				/* gradsigns' R-operator passes, uncounted in samples: 1.56
				 * training samples per carrier row, 2 epochs of 1,600
				 * target-class samples and 250 x 6 mixed rows; none with
				 * dbp=fd, whose passes are counted */
				if (!strcmp(j->scheme, "gradsigns") &&
				    strcmp(param_get(&j->sp, "dbp"), "fd"))
					want += per * 1.56 * 2 * (1600 + 1500);
			} else if (j->kind == JOB_CONTROL) {
				/* run 2: ewe's ctlmodels train the control models */
				want = ec + vf(j) + (t != 1 ? tc / 2 : 0);
			}
			seen[j->kind]++;
			if (fabs(j->cost - want) > 1e-9 * want)
				fail_msg("run %d: %s job %s (attack '%s') costs %g; expected %g", t,
					 job_kind_name(j->kind), j->id, j->attack, j->cost, want);
		}
		assert_true(seen[JOB_ATTACK] > 0 && seen[JOB_CONTROL] > 0 && seen[JOB_EMBED] > 0);
		assert_int_equal(seen[JOB_CTLMODEL] > 0, t == 1);
		free(jobs);
		jobfile_free(rs);
	}
	for (int k = 0; k < 2; k++) /* every gradsigns case above was checked */
		assert_true(gs_seen[k][0] > 0 && gs_seen[k][1] > 0);
	free(rs);
}

/* With a scheme that decides by an empirical null, every embed of a seed
 * waits for the seed's control models, the other schemes' too: their control
 * jobs would else train a control model uncounted and leave the ctlmodel job
 * a cached one, so that its row's forward and backward followed the schedule. */
static void test_ctlmodel_first(void **state)
{
	struct run_spec *rs = calloc(1, sizeof *rs);
	struct job *jobs;
	int n, embeds = 0;
	char err[ERRBUF];
	(void)state;
	load_ok("ctl.yaml",
		"run:\n  model: mlp\n  seeds: 1..2\n  controls: 5\nschemes:\n  uchida: {}\n"
		"  zhang-content: {}\nattacks:\n  noise: {}\n",
		rs);
	assert_int_equal(jobs_expand(rs, &jobs, &n, err, sizeof err), 0);
	for (int i = 0; i < n; i++) {
		if (jobs[i].kind != JOB_EMBED)
			continue;
		embeds++;
		assert_int_equal(jobs[i].nafter, 5);
		for (int k = 0; k < 5; k++) {
			const struct job *c = &jobs[jobs[i].after + k];
			assert_int_equal(c->kind, JOB_CTLMODEL);
			assert_int_equal(c->seed, jobs[i].seed);
		}
	}
	assert_int_equal(embeds, 4);
	free(jobs);
	jobfile_free(rs);
	free(rs);
}

static void test_matrix(void **state)
{
	struct run_spec *rs = calloc(1, sizeof *rs);
	int counts[4] = {0}, n, n2, nb;
	struct job *jobs, *jobs2, *jobsb;
	const char *ids[64], *idsb[64];
	char err[ERRBUF];

	(void)state;
	load_ok("ma.yaml", matrix_a, rs);
	assert_int_equal(jobs_expand(rs, &jobs, &n, err, sizeof err), 0);
	/* 2 train + 4 embed + 6 models x 3 attacks + 4 embeds x 2 controls */
	assert_int_equal(n, 2 + 4 + 18 + 8);
	for (int i = 0; i < n; i++) {
		const struct job *j = &jobs[i];
		const struct job *p = j->parent >= 0 ? &jobs[j->parent] : NULL;

		counts[j->kind]++;
		assert_true(j->parent < i);
		switch (j->kind) {
		case JOB_TRAIN:
			assert_null(p);
			assert_string_equal(j->scheme, "none");
			assert_int_equal(j->sp.n, 0);
			break;
		case JOB_EMBED:
			assert_non_null(p);
			assert_int_equal(p->kind, JOB_TRAIN);
			assert_int_equal(p->seed, j->seed);
			assert_string_equal(j->scheme, "uchida");
			assert_string_equal(param_get(&j->sp, "lambda"), "0.01");
			assert_non_null(param_get(&j->sp, "layer"));
			break;
		case JOB_ATTACK:
			assert_non_null(p);
			assert_true(p->kind == JOB_TRAIN || p->kind == JOB_EMBED);
			assert_int_equal(p->seed, j->seed);
			assert_string_equal(p->scheme, j->scheme);
			assert_memory_equal(&p->sp, &j->sp, sizeof p->sp);
			if (!strcmp(j->attack, "prune")) {
				assert_int_equal(j->ap.n, 2);
				assert_string_equal(param_get(&j->ap, "scope"), "layer");
			} else {
				assert_string_equal(j->attack, "identity");
				assert_int_equal(j->ap.n, 0);
			}
			assert_true(j->cost < p->cost);
			break;
		case JOB_CONTROL:
			assert_non_null(p);
			assert_int_equal(p->kind, JOB_EMBED);
			assert_true(j->control_index >= 1 && j->control_index <= 2);
			break;
		}
		ids[i] = j->id;
	}
	assert_int_equal(counts[JOB_TRAIN], 2);
	assert_int_equal(counts[JOB_EMBED], 4);
	assert_int_equal(counts[JOB_ATTACK], 18);
	assert_int_equal(counts[JOB_CONTROL], 8);
	qsort(ids, (size_t)n, sizeof ids[0], cmp_id);
	for (int i = 1; i < n; i++)
		assert_string_not_equal(ids[i - 1], ids[i]);
	jobfile_free(rs);

	/* a second load gives the same jobs in the same order */
	load_ok("ma.yaml", matrix_a, rs);
	assert_int_equal(jobs_expand(rs, &jobs2, &n2, err, sizeof err), 0);
	assert_int_equal(n2, n);
	for (int i = 0; i < n; i++) {
		assert_string_equal(jobs[i].id, jobs2[i].id);
		assert_true(jobs[i].rng_seed == jobs2[i].rng_seed);
		assert_int_equal(jobs[i].parent, jobs2[i].parent);
	}
	jobfile_free(rs);

	/* another key order: the same set of ids */
	load_ok("mb.yaml", matrix_b, rs);
	assert_int_equal(jobs_expand(rs, &jobsb, &nb, err, sizeof err), 0);
	assert_int_equal(nb, n);
	for (int i = 0; i < nb; i++)
		idsb[i] = jobsb[i].id;
	qsort(idsb, (size_t)nb, sizeof idsb[0], cmp_id);
	for (int i = 0; i < n; i++)
		assert_string_equal(ids[i], idsb[i]);
	jobfile_free(rs);
	free(jobs);
	free(jobs2);
	free(jobsb);
	free(rs);
}

/* ---- errors ---- */

struct err_case {
	const char *text;
	int line, col;	    /* 0 = do not check the position */
	const char *needle; /* must appear in the message */
};

static const struct err_case err_cases[] = {
    {"run:\n  name: x\nbogus: 1\n", 3, 1, "unknown top-level key 'bogus'"},
    {"run:\n  epoch: 3\n", 2, 3, "unknown key 'epoch' in run; expected one of: name, dataset"},
    {"run:\n  epochs: abc\n", 2, 11,
     "run.epochs = 'abc' is not an integer; expected an integer in [1, 10000]"},
    {"run:\n  epochs: 0\n", 2, 11, "out of range"},
    {"run:\n  epochs: [1, 2]\n", 2, 11, "run.epochs is a list"},
    {"run:\n  lr: 0\n", 2, 7, "expected a number in (0, 10]"},
    {"run:\n  optimizer: adagrad\n", 2, 14, "expected one of sgd|adam|rmsprop"},
    {"run:\n  name: a/b\n", 2, 9, "run.name"},
    {"run:\n  run_seed: -1\n", 2, 13, "run.run_seed"},
    {"run: 3\n", 1, 6, "run is a scalar"},
    {"run:\n  calibrate: {models: 0, keys: 5}\n", 2, 23,
     "run.calibrate.models = '0' is out of range; expected an integer in [1, 1000]"},
    {"run:\n  calibrate: {models: 2, keys: x}\n", 2, 32,
     "run.calibrate.keys = 'x' is not an integer"},
    {"run:\n  calibrate: {models: 2}\n", 2, 14, "run.calibrate has no 'keys'"},
    {"run:\n  calibrate: 5\n", 2, 14, "run.calibrate is a scalar; expected a mapping"},
    {"run:\n  calibrate: {models: 2, keys: 5, seeds: 3}\n", 2, 35,
     "unknown key 'seeds' in run.calibrate; expected models, keys or owners"},
    {"- 1\n", 1, 1, "the job file is a list"},
    {"schemes:\n  uchida: {}\n  foo: {}\n", 3, 3, "unknown scheme 'foo'; expected one of: "},
    {"attacks:\n  smash: {}\n", 2, 3, "unknown attack 'smash'; expected one of: "},
    {"schemes:\n  uchida: {bitz: 3}\n", 2, 12, "unknown parameter 'bitz'"},
    {"schemes:\n  none: {bits: 3}\n", 2, 10, "unknown parameter 'bits'"},
    {"schemes:\n  uchida: 5\n", 2, 11, "expected a mapping of its parameters"},
    {"attacks:\n  prune: {rate: 1.5}\n", 2, 17, "out of range; expected a number in [0, 1]"},
    {"attacks:\n  prune: {scope: all}\n", 2, 18, "expected one of layer|each|global"},
    {"attacks:\n  prune:\n    rate: \"0.1:0.5\"\n", 3, 11, "is not a valid range"},
    {"attacks:\n  prune:\n    rate: 0:1:0\n", 3, 11, "is not a valid range"},
    {"attacks:\n  prune:\n    rate: 1:0:0.1\n", 3, 11, "is not a valid range"},
    {"attacks:\n  prune:\n    rate: 0:1:x\n", 3, 11, "is not a valid range"},
    {"attacks:\n  prune:\n    rate: 0:0.5:1e-7\n", 3, 11, "values; expected at most 100000"},
    {"attacks:\n  prune:\n    rate: 0:0.5:0.1:2\n", 3, 11, "is not a valid range"},
    {"schemes:\n  uchida:\n    bits: 1..x\n", 3, 11, "is not a valid range"},
    {"schemes:\n  uchida:\n    bits: 1.5\n", 3, 11, "is not an integer"},
    {"schemes:\n  uchida:\n    bits: []\n", 3, 11, "empty list"},
    {"schemes:\n  uchida:\n    bits:\n", 0, 0, "has no value"},
    {"schemes:\n  uchida: {lambda: [1e-3, 0.001]}\n", 2, 27, "twice"},
    {"attacks:\n  prune: {rate: [0.1, 0.1:0.3:0.1]}\n", 2, 23, "twice"},
    {"run:\n  epochs: 2\n  epochs: 3\n", 3, 3, "duplicate key 'epochs' in run"},
    {"schemes:\n  uchida: {}\n  uchida: {}\n", 3, 3, "duplicate key 'uchida'"},
    {"attacks:\n  prune: {rate: 0.1, rate: 0.2}\n", 2, 22, "duplicate key 'rate'"},
    {"run: {}\nrun: {}\n", 2, 1, "duplicate key 'run'"},
    {"run:\n  epochs: 2\n   batch: 3\n", 3, 9, "YAML error"},
    {"run:\n  name: [x\n", 0, 0, "YAML error"},
    {"run: {}\n---\nrun: {}\n", 2, 1, "a second YAML document"},
    {"", 1, 1, "empty"},
    {"run:\n  dataset: cifar10\n  model: mlp\n", 3, 10, "expected model cnn for cifar10"},
    {"run:\n  dataset: cifar10\n", 2, 12, "expected model cnn for cifar10"},
    {"run:\n  model: cnn\n", 2, 10, "expected model mlp or lenet5 for fashion"},
    {"run:\n  seeds: 1..20000000\n", 2, 10, "gives more than 16000000 seeds; expected at most"},
    {"run:\n  seeds: [5, 1..10]\n", 2, 14, "lists seed 5 twice"},
    {"run:\n  seeds: 2147483640..2147483650\n", 2, 10,
     "run.seeds value 2147483648 is out of range"},
    {"run:\n  seeds: [1, 2, 1]\n", 2, 17, "twice"},
    {"run:\n  seeds: 3..1\n", 2, 10, "not a valid range"},
};

static void test_errors(void **state)
{
	struct run_spec *rs = calloc(1, sizeof *rs);
	char path[512], err[ERRBUF], where[600];

	(void)state;
	for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
		const struct err_case *c = &err_cases[i];

		write_file("bad.yaml", c->text, path, sizeof path);
		err[0] = 0;
		if (jobfile_load(path, rs, err, sizeof err) == 0)
			fail_msg("case %zu accepted:\n%s", i, c->text);
		if (c->line)
			snprintf(where, sizeof where, "%s:%d:%d: ", path, c->line, c->col);
		else
			snprintf(where, sizeof where, "%s:", path);
		if (strncmp(err, where, strlen(where)) || !strstr(err, c->needle) ||
		    !strstr(err, "expected"))
			fail_msg("case %zu: got '%s', want prefix '%s' and '%s'", i, err, where,
				 c->needle);
	}

	/* one message in full */
	write_file("bad.yaml", "run:\n  epochs: abc\n", path, sizeof path);
	assert_int_equal(jobfile_load(path, rs, err, sizeof err), -1);
	snprintf(where, sizeof where,
		 "%s:2:11: run.epochs = 'abc' is not an integer; expected an integer in [1, 10000]",
		 path);
	assert_string_equal(err, where);

	/* the parameter message of params.c behind the position */
	write_file("bad.yaml", "attacks:\n  prune: {rate: 1.5}\n", path, sizeof path);
	assert_int_equal(jobfile_load(path, rs, err, sizeof err), -1);
	snprintf(
	    where, sizeof where,
	    "%s:2:17: prune: parameter 'rate' = '1.5' is out of range; expected a number in [0, 1]",
	    path);
	assert_string_equal(err, where);

	/* run.calibrate in full, and its keys against a scheme of model-made keys */
	write_file("bad.yaml", "run:\n  calibrate: {models: 2, keys: 100001}\n", path, sizeof path);
	assert_int_equal(jobfile_load(path, rs, err, sizeof err), -1);
	snprintf(where, sizeof where,
		 "%s:2:32: run.calibrate.keys = '100001' is out of range; expected an integer in "
		 "[1, 100000]",
		 path);
	assert_string_equal(err, where);
	write_file("bad.yaml",
		   "run:\n  calibrate: {models: 2, keys: 5}\nschemes:\n  deepsigns-bb: {}\n", path,
		   sizeof path);
	assert_int_equal(jobfile_load(path, rs, err, sizeof err), 0);
	{
		struct job *jobs = NULL;
		int n = 0;

		assert_int_equal(jobs_expand(rs, &jobs, &n, err, sizeof err), -1);
		snprintf(where, sizeof where,
			 "%s:2:32: run.calibrate.keys = 5 is too few for deepsigns-bb", path);
		if (strncmp(err, where, strlen(where)) || !strstr(err, "expected at least 20"))
			fail_msg("got '%s', want prefix '%s'", err, where);
		free(jobs);
	}
	jobfile_free(rs);
	/* owners: the owner models of model-made keys, apart from the keys */
	write_file("bad.yaml",
		   "run:\n  calibrate: {models: 2, keys: 50, owners: 3}\nschemes:\n"
		   "  deepsigns-bb: {}\n",
		   path, sizeof path);
	assert_int_equal(jobfile_load(path, rs, err, sizeof err), 0);
	{
		struct job *jobs = NULL;
		int n = 0;

		assert_int_equal(jobs_expand(rs, &jobs, &n, err, sizeof err), -1);
		snprintf(where, sizeof where,
			 "%s:2:44: run.calibrate.owners = 3 is too few for deepsigns-bb", path);
		if (strncmp(err, where, strlen(where)) || !strstr(err, "expected at least 20"))
			fail_msg("got '%s', want prefix '%s'", err, where);
		free(jobs);
	}
	jobfile_free(rs);
	write_file("ok.yaml",
		   "run:\n  seeds: [1]\n  calibrate: {models: 2, keys: 50, owners: 20}\n"
		   "schemes:\n  deepsigns-bb: {}\n  uchida: {}\n",
		   path, sizeof path);
	assert_int_equal(jobfile_load(path, rs, err, sizeof err), 0);
	{
		struct job *jobs = NULL;
		int n = 0, owners = 0, keys[2] = {0, 0};

		assert_int_equal(jobs_expand(rs, &jobs, &n, err, sizeof err), 0);
		for (int i = 0; i < n; i++) {
			owners += jobs[i].kind == JOB_CALOWNER;
			if (jobs[i].kind == JOB_CALIB)
				keys[!strcmp(jobs[i].scheme, "uchida")] += jobs[i].calib_keys;
		}
		/* 20 owner models; deepsigns-bb verifies their 20 keys per model,
		 * uchida 50 fresh keys per model */
		assert_int_equal(owners, 20);
		assert_int_equal(keys[0], 2 * 20);
		assert_int_equal(keys[1], 2 * 50);
		free(jobs);
	}
	jobfile_free(rs);
	write_file("bad.yaml", "run:\n  calibrate: {models: 2, keys: 5, owners: 0}\n", path,
		   sizeof path);
	assert_int_equal(jobfile_load(path, rs, err, sizeof err), -1);
	assert_non_null(strstr(err, "run.calibrate.owners = '0' is out of range"));
	jobfile_free(rs);

	snprintf(path, sizeof path, "%s/missing.yaml", tmpdir);
	assert_int_equal(jobfile_load(path, rs, err, sizeof err), -1);
	snprintf(where, sizeof where, "%s: cannot open: No such file or directory", path);
	assert_string_equal(err, where);
	jobfile_free(rs); /* harmless after a failed load */
	free(rs);
}

/* ---- result rows ---- */

static void assert_same_double(double a, double b)
{
	if (isnan(a)) {
		assert_true(isnan(b));
		return;
	}
	assert_memory_equal(&a, &b, sizeof a);
}

static void test_csv(void **state)
{
	struct run_spec *rs = calloc(1, sizeof *rs);
	struct result_row r, q;
	char buf[8192], err[ERRBUF];
	struct job *jobs;
	int n, len, commas = 0;
	const struct job *a = NULL;

	(void)state;
	assert_true(result_csv_header(buf, sizeof buf) > 0);
	assert_string_equal(
	    buf,
	    "job_id,parent_id,kind,dataset,model,scheme,scheme_params,attack,attack_params,seed,"
	    "status,message,metric_name,metric_before,metric,pvalue,detected,capacity,acc_before,"
	    "acc,acc_clean,removed,forged,success,queries,attack_queries,aux,train_s,cpu_s,forward,"
	    "backward,rank,host,"
	    "wall_s,peak_rss_kb\n");
	assert_int_equal(result_csv_parse(buf, &q), -1);
	assert_int_equal(result_csv_header(buf, 10), -1);

	load_ok("csv.yaml", matrix_a, rs);
	assert_int_equal(jobs_expand(rs, &jobs, &n, err, sizeof err), 0);
	for (int i = 0; i < n && !a; i++)
		if (jobs[i].kind == JOB_ATTACK && jobs[i].sp.n && jobs[i].ap.n)
			a = &jobs[i];
	assert_non_null(a);
	result_row_init(&r, a, rs, jobs[a->parent].id);
	assert_string_equal(r.job_id, a->id);
	assert_string_equal(r.parent_id, jobs[a->parent].id);
	assert_string_equal(r.kind, "attack");
	assert_string_equal(r.scheme, "uchida");
	/* every parameter of the plug-in, completed with defaults, in key order */
	param_format(&a->sp, buf, sizeof buf);
	assert_string_equal(r.scheme_params, buf);
	assert_memory_equal(r.scheme_params, "bits=32;", 8);
	assert_non_null(strstr(r.scheme_params, ";lambda=0.01;"));
	assert_non_null(strstr(r.scheme_params, ";layer="));
	assert_string_equal(r.attack, "prune");
	assert_string_equal(r.attack_params, "rate=0.1;scope=layer");
	assert_string_equal(r.status, "ok");
	assert_true(isnan(r.metric) && isnan(r.pvalue) && isnan(r.acc));
	assert_int_equal(r.detected, -1);
	assert_int_equal(r.removed, -1);
	assert_int_equal(r.forged, -1);
	assert_int_equal(r.success, -1);
	assert_int_equal(r.queries, 0);
	assert_int_equal(r.attack_queries, 0);
	assert_int_equal(r.rank, -1);

	/* init-only row: NANs survive */
	len = result_csv_row(&r, buf, sizeof buf);
	assert_int_equal(len, (int)strlen(buf));
	assert_int_equal(result_csv_parse(buf, &q), 0);
	assert_memory_equal(q.job_id, r.job_id, sizeof r.job_id);
	assert_true(isnan(q.metric) && isnan(q.aux) && isnan(q.wall_s));
	/* n/a outcomes are empty fields and read back as -1 */
	assert_non_null(strstr(buf, ",,,,0,0,"));
	assert_int_equal(q.removed, -1);
	assert_int_equal(q.forged, -1);
	assert_int_equal(q.success, -1);

	strlcopy(r.message, "bad, \"quoted\"\nsecond line\r\nthird", sizeof r.message);
	strlcopy(r.status, "failed", sizeof r.status);
	strlcopy(r.metric_name, "ber", sizeof r.metric_name);
	strlcopy(r.host, "node-1", sizeof r.host);
	r.metric_before = 0.1;
	r.metric = 1.0 / 3.0;
	r.pvalue = 1e-300;
	r.detected = 1;
	r.capacity = 64;
	r.acc_before = 0.9123456789012345;
	r.acc = -0.0;
	r.acc_clean = 123456789.123;
	r.removed = 1;
	r.forged = 0;
	r.success = 0;
	r.queries = 1234567890123L;
	r.attack_queries = 4242;
	r.aux = NAN;
	r.train_s = 5e-324;
	r.rank = 7;
	r.wall_s = 1.7976931348623157e308;
	r.peak_rss_kb = 98765;
	len = result_csv_row(&r, buf, sizeof buf);
	assert_true(len > 0);
	assert_int_equal(len, (int)strlen(buf));
	assert_int_equal(buf[len - 1], '\n');
	assert_null(memchr(buf, '\n', (size_t)len - 1));
	assert_null(strchr(buf, '\r'));
	assert_int_equal(result_csv_parse(buf, &q), 0);
	assert_string_equal(q.message, "bad, \"quoted\" second line  third");
	assert_string_equal(q.job_id, r.job_id);
	assert_string_equal(q.parent_id, r.parent_id);
	assert_string_equal(q.kind, r.kind);
	assert_string_equal(q.dataset, r.dataset);
	assert_string_equal(q.model, r.model);
	assert_string_equal(q.scheme, r.scheme);
	assert_string_equal(q.scheme_params, r.scheme_params);
	assert_string_equal(q.attack, r.attack);
	assert_string_equal(q.attack_params, r.attack_params);
	assert_int_equal(q.seed, r.seed);
	assert_string_equal(q.status, r.status);
	assert_string_equal(q.metric_name, r.metric_name);
	assert_same_double(q.metric_before, r.metric_before);
	assert_same_double(q.metric, r.metric);
	assert_same_double(q.pvalue, r.pvalue);
	assert_int_equal(q.detected, r.detected);
	assert_same_double(q.capacity, r.capacity);
	assert_same_double(q.acc_before, r.acc_before);
	assert_same_double(q.acc, r.acc);
	assert_same_double(q.acc_clean, r.acc_clean);
	assert_int_equal(q.removed, r.removed);
	assert_int_equal(q.forged, r.forged);
	assert_int_equal(q.success, r.success);
	assert_int_equal(q.queries, r.queries);
	assert_int_equal(q.attack_queries, r.attack_queries);
	assert_same_double(q.aux, r.aux);
	assert_same_double(q.train_s, r.train_s);
	assert_int_equal(q.rank, r.rank);
	assert_string_equal(q.host, r.host);
	assert_same_double(q.wall_s, r.wall_s);
	assert_int_equal(q.peak_rss_kb, r.peak_rss_kb);

	/* a row written again from the parsed one is identical */
	{
		char buf2[8192];

		assert_int_equal(result_csv_row(&q, buf2, sizeof buf2), len);
		assert_string_equal(buf, buf2);
	}
	/* the buffer too small: -1, never a partial row */
	assert_int_equal(result_csv_row(&r, buf, 40), -1);
	assert_int_equal(buf[0], 0);

	/* malformed lines */
	strlcopy(r.message, "plain", sizeof r.message);
	len = result_csv_row(&r, buf, sizeof buf);
	assert_int_equal(result_csv_parse(buf, &q), 0);
	for (char *p = buf; *p; p++)
		commas += *p == ',';
	assert_int_equal(commas, 34);
	{
		char line[8192];
		char *last = strrchr(buf, ',');

		/* a field short */
		memcpy(line, buf, (size_t)(last - buf));
		strcpy(line + (last - buf), "\n");
		assert_int_equal(result_csv_parse(line, &q), -1);
		/* a field too many */
		snprintf(line, sizeof line, "%.*s,1\n", len - 1, buf);
		assert_int_equal(result_csv_parse(line, &q), -1);
		/* an unterminated quote */
		snprintf(line, sizeof line, "%s", buf);
		strstr(line, "plain")[0] = '"';
		assert_int_equal(result_csv_parse(line, &q), -1);
		/* text after a closing quote */
		snprintf(line, sizeof line, "%s", buf);
		memcpy(strstr(line, "plain"), "\"a\"b", 4);
		assert_int_equal(result_csv_parse(line, &q), -1);
		/* a number that is not one */
		snprintf(line, sizeof line, "%s", buf);
		memcpy(strstr(line, ",98765"), ",9x765", 6);
		assert_int_equal(result_csv_parse(line, &q), -1);
	}
	assert_int_equal(result_csv_parse("", &q), -1);
	free(jobs);
	jobfile_free(rs);
	free(rs);
}

/* ---- scale: the compact matrix (README "Scale") ---- */

/* Every kind of job: controls and empirical nulls (zhang-content), calibration
 * with owner models (deepsigns-bb) and with fresh keys (uchida). */
static const char *const matrix_all = "run:\n"
				      "  seeds: 1..3\n"
				      "  controls: 5\n"
				      "  calibrate: {models: 2, keys: 30, owners: 20}\n"
				      "schemes:\n"
				      "  none: {}\n"
				      "  uchida: {bits: [16, 32]}\n"
				      "  deepsigns-bb: {}\n"
				      "  zhang-content: {}\n"
				      "attacks:\n"
				      "  identity: {}\n"
				      "  prune: {rate: [0.1, 0.5]}\n";

/* Two jobs alike in every field (param sets compared by their entries, not
 * the unused bytes after them). */
static void assert_same_job(const struct job *a, const struct job *b)
{
	assert_string_equal(a->id, b->id);
	assert_string_equal(a->identity, b->identity);
	assert_true(a->rng_seed == b->rng_seed);
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->parent, b->parent);
	assert_int_equal(a->seed, b->seed);
	assert_string_equal(a->scheme, b->scheme);
	assert_string_equal(a->attack, b->attack);
	assert_int_equal(a->sp.n, b->sp.n);
	assert_int_equal(a->ap.n, b->ap.n);
	for (int k = 0; k < a->sp.n; k++) {
		assert_string_equal(a->sp.key[k], b->sp.key[k]);
		assert_string_equal(a->sp.val[k], b->sp.val[k]);
	}
	for (int k = 0; k < a->ap.n; k++) {
		assert_string_equal(a->ap.key[k], b->ap.key[k]);
		assert_string_equal(a->ap.val[k], b->ap.val[k]);
	}
	assert_int_equal(a->control_index, b->control_index);
	assert_int_equal(a->calib_model, b->calib_model);
	assert_int_equal(a->calib_owner, b->calib_owner);
	assert_int_equal(a->calib_keys, b->calib_keys);
	assert_int_equal(a->after, b->after);
	assert_int_equal(a->nafter, b->nafter);
	assert_int_equal(a->wake, b->wake);
	assert_int_equal(a->nwake, b->nwake);
	assert_true(a->cost == b->cost);
}

static void test_scale(void **state)
{
	struct run_spec *rs = calloc(1, sizeof *rs);
	struct matrix m;
	struct job *jobs, *j = calloc(3, sizeof *j), *o = calloc(1, sizeof *o);
	unsigned char *wire = malloc(JOB_WIRE_MAX);
	char err[ERRBUF], id[17];
	int n, kinds[JOB_CTLMODEL + 1] = {0};

	(void)state;
	/* more seeds than the old fixed array of 256 */
	load_ok("seeds.yaml", "run:\n  seeds: [0, 5..1004]\n", rs);
	assert_int_equal(rs->nseeds, 1001);
	assert_int_equal(rs->seeds[0], 0);
	assert_int_equal(rs->seeds[1000], 1004);
	assert_int_equal(matrix_expand(rs, &m, err, sizeof err), 0);
	assert_int_equal(m.n, 1001);
	matrix_free(&m);
	jobfile_free(rs);

	/* the records make the same jobs as the whole expansion, id for id */
	load_ok("all.yaml", matrix_all, rs);
	assert_int_equal(matrix_expand(rs, &m, err, sizeof err), 0);
	assert_int_equal(jobs_expand(rs, &jobs, &n, err, sizeof err), 0);
	assert_int_equal(n, m.n);
	for (int i = 0; i < n; i++) {
		kinds[jobs[i].kind]++;
		matrix_id(&m, i, id);
		/* the id of the record is the hash of the identity text made again */
		assert_string_equal(id, jobs[i].id);
		matrix_job(&m, i, j, 0);
		assert_string_equal(j->id, jobs[i].id);
		assert_int_equal(j->parent, jobs[i].parent);
		assert_true(j->cost == jobs[i].cost);
		assert_true((float)j->cost == m.r[i].cost);
		/* a worker gets the job with the ancestors it reads */
		int nb = matrix_bundle(&m, i, j, 1);
		assert_string_equal(j[0].identity, jobs[i].identity);
		assert_true(j[0].rng_seed == jobs[i].rng_seed);
		assert_int_equal(nb, 1 + (jobs[i].parent >= 0) + (jobs[i].kind == JOB_CONTROL));
		if (nb > 1)
			assert_string_equal(j[1].identity, jobs[jobs[i].parent].identity);
		if (nb > 2)
			assert_string_equal(j[2].identity,
					    jobs[jobs[jobs[i].parent].parent].identity);
		/* ... packed for a worker, which makes the same job again (the
		 * id checked); cut short or with another id, it is refused */
		for (int k = 0; k < nb; k++) {
			size_t len = job_pack(&j[k], wire), used = 0;
			assert_true(len <= JOB_WIRE_MAX);
			assert_int_equal(job_unpack(rs, wire, len, o, &used, err, sizeof err), 0);
			assert_int_equal(used, len);
			assert_same_job(o, &j[k]);
			assert_int_equal(job_unpack(rs, wire, len - 1, o, &used, err, sizeof err),
					 -1);
			wire[0] ^= 1; /* the first char of the id */
			assert_int_equal(job_unpack(rs, wire, len, o, &used, err, sizeof err), -1);
			assert_non_null(strstr(err, "expected the same job file on every rank"));
		}
		/* a calibration job finds its owner models' keys without the matrix */
		for (int k = 1; k <= jobs[i].nafter && jobs[i].kind == JOB_CALIB; k++) {
			job_calowner(rs, &jobs[i], k, o);
			assert_string_equal(o->id, jobs[jobs[i].after + k - 1].id);
		}
	}
	for (int k = JOB_TRAIN; k <= JOB_CTLMODEL; k++)
		if (!kinds[k])
			fail_msg("no job of kind %s in the test matrix", job_kind_name(k));
	free(jobs);
	matrix_free(&m);
	jobfile_free(rs);

	/* a matrix over the cap is refused with its size and the cap, before
	 * its records are allocated (20M records: about 1 GB) */
	load_ok("huge.yaml",
		"run:\n  seeds: 1..2000\nschemes:\n  uchida: {lambda: \"0.001:0.099:0.001\"}\n"
		"attacks:\n  prune: {rate: \"0.01:0.99:0.01\"}\n",
		rs);
	assert_int_equal(matrix_expand(rs, &m, err, sizeof err), -1);
	assert_non_null(strstr(err, "huge.yaml: the job matrix expands to 20000000 jobs; expected "
				    "at most 16000000"));
	assert_null(m.r);
	jobfile_free(rs);
	free(j);
	free(o);
	free(wire);
	free(rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_ranges),
	    cmocka_unit_test(test_canonical_values),
	    cmocka_unit_test(test_matrix),
	    cmocka_unit_test(test_costs),
	    cmocka_unit_test(test_ctlmodel_first),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_csv),
	    cmocka_unit_test(test_scale),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
