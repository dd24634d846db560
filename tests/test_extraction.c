/* test_extraction.c - the model extraction attacks (knockoff, transfer, and
 * the labels and data options of distill and retrain) on Fashion-MNIST with
 * mlp.
 *
 * 6000 training samples split in halves (owner / attacker), 2000 test
 * samples; the teacher is a clean mlp trained 2 epochs (adam 1e-3) on the
 * owner's half. Shows: knockoff labels its transfer set only through the
 * query path (a teacher reachable only through a hidden path stays bit for
 * bit as it was, a structure-only copy of it suffices), counts exactly its
 * queries, learns the task from MNIST digits (above 0.3) and is
 * deterministic per seed; the public set is centred and repeated for a
 * 3x32x32 model; transfer makes no query and never reads the marked model
 * (a zeroed model of the same architecture gives the same weights), and
 * freeze = 1 trains only the new last layer; distill and retrain at their
 * defaults give the weights of the code before labels and data existed, bit
 * for bit, and their job texts are unchanged; labels = true queries
 * nothing, data = all_images queries every training image; bad parameters
 * are refused before any work. Without Fashion-MNIST or MNIST the tests
 * that need them fail (testlib.h; MNIST comes with make deps). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../attacks/attack.h"
#include "../attacks/common.h"
#include "data.h"
#include "nn.h"
#include "testlib.h"
#include "util.h"

#define NTRAIN 6000
#define NTEST  2000
#define SEED   15

static struct dataset train, test;
static uint32_t *owner, *attacker;
static int n_owner, n_attacker, have_data;
static struct nn_model teacher;
static double acc_teacher;
static char err[ERRBUF];

static int group_setup(void **state)
{
	struct wm_env w;
	struct rng r;
	(void)state;
	if (tl_fashion_load(&train, &test, NTRAIN, NTEST))
		return 0;
	data_split(train.n, SEED, 0.5, &owner, &n_owner, &attacker, &n_attacker);
	rng_seed(&r, SEED);
	tl_env_init(&w, &r, 2, &train, &test, owner, n_owner);
	if (tl_train_clean(&teacher, "mlp", &w))
		return -1;
	acc_teacher = nn_accuracy(&teacher, &test, NULL, 0);
	printf("# teacher mlp: %d owner samples, 2 epochs, test accuracy %.4f\n", n_owner,
	       acc_teacher);
	have_data = 1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (have_data)
		nn_free(&teacher);
	tl_fashion_free(&train, &test);
	free(owner);
	free(attacker);
	return 0;
}

struct aenv {
	struct rng r;
	long queries;
	struct atk_env e;
};

static void aenv_init(struct aenv *c, uint64_t seed)
{
	memset(c, 0, sizeof *c);
	rng_seed(&c->r, seed);
	c->e.train = &train;
	c->e.attacker_idx = attacker;
	c->e.n_attacker = n_attacker;
	c->e.rng = &c->r;
	c->e.queries = &c->queries;
}

/* Applies attack name with "k=v;k=v" to m in a fresh env of seed; the
 * queries it counted. */
static long attack(const char *name, const char *kv, struct nn_model *m, uint64_t seed)
{
	const struct atk_attack *a = atk_find(name);
	struct param_set p;
	struct aenv c;
	assert_non_null(a);
	tl_params(a->name, a->params, &p, kv, ";");
	aenv_init(&c, seed);
	if (atk_apply(a, &p, m, &c.e, err, sizeof err))
		fail_msg("%s %s: %s", name, kv, err);
	return c.queries;
}

static uint64_t checksum(const struct nn_model *m)
{
	uint64_t h = 1469598103934665603ull;
	const unsigned char *b = (const unsigned char *)m->params;
	for (size_t i = 0; i < m->nparams * sizeof(float); i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

/* The student of distill and retrain as the code before labels and data
 * existed computed it (atk_student of attacks/common.c at 536456e, with T
 * and hard): the reference their defaults must match bit for bit. */
static void old_student(const char *arch, const struct atk_train *t, struct nn_model *m,
			const struct atk_env *env, double T, int hard)
{
	struct nn_model s;
	int n = env->n_attacker, C = m->nclass;
	if (!strcmp(arch, "same")) {
		assert_int_equal(nn_build_spec(&s, m->arch, m->spec, err, sizeof err), 0);
		nn_init_params(&s, env->rng);
	} else {
		assert_int_equal(
		    nn_create(&s, arch, m->in_c, m->in_h, m->in_w, C, env->rng, err, sizeof err),
		    0);
	}
	float *q = atk_logits(m, env->train, env->attacker_idx, n);
	for (int i = 0; i < n; i++) {
		float *qi = q + (size_t)i * C;
		if (hard) {
			int k = nn_argmax(qi, C);
			for (int c = 0; c < C; c++)
				qi[c] = c == k;
			continue;
		}
		double mx = qi[0], sum = 0;
		for (int c = 1; c < C; c++)
			mx = qi[c] > mx ? qi[c] : mx;
		for (int c = 0; c < C; c++)
			sum += qi[c] = (float)exp((qi[c] - mx) / T);
		for (int c = 0; c < C; c++)
			qi[c] = (float)(qi[c] / sum);
	}
	assert_int_equal(atk_train_student(&s, env->train, env->attacker_idx, n, q, hard ? 1.0 : T,
					   t, env->rng, err, sizeof err),
			 0);
	free(q);
	nn_free(m);
	*m = s;
}

/* distill and retrain with labels and data at their defaults train the
 * weights of the code before them. (With OpenBLAS on one thread the old
 * code itself gave, on the machine this was written on, the checksums
 * 162bdf8fe23ca2e1, 239ef6d0e6eda54a, 26c0bfcada4a9fce and e6f74ba2bc6e1e8f
 * for these four runs, as the new code does; the reference stands in for
 * them elsewhere, where other BLAS kernels give other bits.) */
static void test_defaults_unchanged(void **state)
{
	static const struct {
		const char *name, *kv, *arch;
		double T, lr;
		int hard, epochs;
		const char *opt;
	} runs[] = {
	    {"distill", "", "same", 3, 1e-3, 0, 5, "adam"},
	    {"distill", "T=2;epochs=1;student=lenet5", "lenet5", 2, 1e-3, 0, 1, "adam"},
	    {"retrain", "", "same", 1, 1e-3, 1, 5, "adam"},
	    {"retrain", "epochs=2;optimizer=sgd;lr=0.01", "same", 1, 0.01, 1, 2, "sgd"},
	};
	(void)state;
	tl_need_fashion();
	for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
		struct nn_model m, r;
		struct atk_train t = {
		    .name = runs[i].name, .epochs = runs[i].epochs, .batch = 64, .lr = runs[i].lr};
		struct aenv c;
		strlcopy(t.optimizer, runs[i].opt, sizeof t.optimizer);
		nn_copy(&m, &teacher);
		long q = attack(runs[i].name, runs[i].kv, &m, 100 + i);
		nn_copy(&r, &teacher);
		aenv_init(&c, 100 + i);
		old_student(runs[i].arch, &t, &r, &c.e, runs[i].T, runs[i].hard);
		printf("# %s '%s': queries %ld, checksum %016llx, reference %016llx\n",
		       runs[i].name, runs[i].kv, q, (unsigned long long)checksum(&m),
		       (unsigned long long)checksum(&r));
		assert_int_equal(m.nparams, r.nparams);
		assert_memory_equal(m.params, r.params, m.nparams * sizeof(float));
		assert_int_equal(q, n_attacker);
		nn_free(&m);
		nn_free(&r);
	}
}

/* ---- job texts ------------------------------------------------------------ */

/* The canonical text of attack name's "k=v;k=v" as a job's identity holds it. */
static void canonical(const char *name, const char *kv, char *buf, size_t len)
{
	const struct atk_attack *a = atk_find(name);
	struct param_set p = {0};
	assert_non_null(a);
	if (param_parse(&p, kv, ";", name, atk_params(a), err, sizeof err))
		fail_msg("%s", err);
	atk_canonical(a, &p);
	param_format(&p, buf, len);
}

/* The late parameters at their default leave a job's text (and so its id,
 * seed and results) as before they existed; other values show. */
static void test_job_text_unchanged(void **state)
{
	static const struct {
		const char *name, *kv, *text;
	} cases[] = {
	    /* the texts of the code before labels and data */
	    {"distill", "",
	     "T=3;attacker_data=1;batch=64;epochs=5;lr=0.001;optimizer=adam;student=same"},
	    {"distill", "labels=source;data=attacker",
	     "T=3;attacker_data=1;batch=64;epochs=5;lr=0.001;optimizer=adam;student=same"},
	    {"retrain", "",
	     "attacker_data=1;batch=64;epochs=5;lr=0.001;optimizer=adam;student=same"},
	    {"retrain", "labels=source_hard",
	     "attacker_data=1;batch=64;epochs=5;lr=0.001;optimizer=adam;student=same"},
	    {"distill", "labels=true;data=all_images",
	     "T=3;attacker_data=1;batch=64;data=all_images;epochs=5;labels=true;lr=0.001;"
	     "optimizer=adam;student=same"},
	    {"retrain", "labels=source",
	     "attacker_data=1;batch=64;epochs=5;labels=source;lr=0.001;optimizer=adam;student="
	     "same"},
	    /* knockoff has no late parameters: all of them show */
	    {"knockoff", "",
	     "batch=64;epochs=10;labels=source;lr=0.001;optimizer=adam;queries=7996;student=same"},
	};
	char buf[1024];
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		canonical(cases[i].name, cases[i].kv, buf, sizeof buf);
		if (strcmp(buf, cases[i].text))
			fail_msg("%s '%s': text '%s', expected '%s'", cases[i].name, cases[i].kv,
				 buf, cases[i].text);
	}
}

/* ---- bad parameters ---------------------------------------------------------- */

static void expect_check_error(const char *name, const char *kv, const char *const *parts)
{
	const struct atk_attack *a = atk_find(name);
	struct param_set p;
	assert_non_null(a);
	tl_params(a->name, a->params, &p, kv, ";");
	err[0] = 0;
	if (!atk_check(a, &p, err, sizeof err))
		fail_msg("%s with %s passed check; expected an error", name, kv);
	for (int i = 0; parts[i]; i++)
		if (!strstr(err, parts[i]))
			fail_msg("%s with %s: message '%s' lacks '%s'", name, kv, err, parts[i]);
	printf("# %s %s -> %s\n", name, kv, err);
}

/* Applying name with kv to a copy of the teacher fails with a message holding
 * each of parts, before any work: no query, the model as it was. */
static void expect_apply_error(const char *name, const char *kv, const struct dataset *job,
			       struct nn_model *m, const char *const *parts)
{
	const struct atk_attack *a = atk_find(name);
	struct param_set p;
	struct aenv c;
	uint64_t before = checksum(m);
	long fwd = nn_count.forward;
	tl_params(a->name, a->params, &p, kv, ";");
	aenv_init(&c, 1);
	if (job)
		c.e.train = job;
	err[0] = 0;
	if (!atk_apply(a, &p, m, &c.e, err, sizeof err))
		fail_msg("%s with %s applied; expected an error", name, kv);
	for (int i = 0; parts[i]; i++)
		if (!strstr(err, parts[i]))
			fail_msg("%s with %s: message '%s' lacks '%s'", name, kv, err, parts[i]);
	assert_int_equal(c.queries, 0);
	assert_int_equal(nn_count.forward, fwd); /* not one forward pass */
	assert_true(checksum(m) == before);
	printf("# %s %s -> %s\n", name, kv, err);
}

static void test_bad_params(void **state)
{
	struct nn_model m, small;
	(void)state;
	expect_check_error("knockoff", "queries=0",
			   (const char *const[]){"knockoff", "'queries'", "[100, 7996]", NULL});
	expect_check_error(
	    "knockoff", "queries=7997",
	    (const char *const[]){"knockoff", "'queries'", "7997", "[100, 7996]", NULL});
	expect_check_error(
	    "knockoff", "labels=bogus",
	    (const char *const[]){"knockoff", "'labels'", "bogus", "source|source_hard", NULL});
	/* the transfer set's own labels are digits, not the task's */
	expect_check_error(
	    "knockoff", "labels=true",
	    (const char *const[]){"knockoff", "'labels'", "source|source_hard", NULL});
	expect_check_error(
	    "knockoff", "student=resnet",
	    (const char *const[]){"knockoff", "'student'", "resnet", "lenet5", NULL});
	expect_check_error("knockoff", "epochs=0",
			   (const char *const[]){"knockoff", "'epochs'", "[1, 1000]", NULL});
	expect_check_error(
	    "distill", "labels=bogus",
	    (const char *const[]){"distill", "'labels'", "true|source|source_hard", NULL});
	expect_check_error(
	    "distill", "data=bogus",
	    (const char *const[]){"distill", "'data'", "bogus", "attacker|all_images", NULL});
	expect_check_error(
	    "retrain", "labels=soft",
	    (const char *const[]){"retrain", "'labels'", "true|source|source_hard", NULL});
	expect_check_error("retrain", "data=all",
			   (const char *const[]){"retrain", "'data'", "attacker|all_images", NULL});
	expect_check_error("transfer", "freeze=2",
			   (const char *const[]){"transfer", "'freeze'", "[0, 1]", NULL});
	expect_check_error(
	    "transfer", "pretrain_epochs=-1",
	    (const char *const[]){"transfer", "'pretrain_epochs'", "[0, 1000]", NULL});
	expect_check_error("transfer", "student=bogus",
			   (const char *const[]){"transfer", "'student'", "bogus", NULL});
	expect_check_error("transfer", "pretrain_lr=0",
			   (const char *const[]){"transfer", "'pretrain_lr'", NULL});

	tl_need_fashion();
	/* refused in apply too, before a query or a forward pass */
	nn_copy(&m, &teacher);
	expect_apply_error("knockoff", "queries=0", NULL, &m,
			   (const char *const[]){"knockoff", "'queries'", NULL});
	expect_apply_error("distill", "data=bogus", NULL, &m,
			   (const char *const[]){"distill", "'data'", NULL});
	/* the job's own data set as the public set: not another distribution */
	struct dataset fake = train;
	strlcopy(fake.name, "mnist", sizeof fake.name);
	expect_apply_error(
	    "knockoff", "", &fake, &m,
	    (const char *const[]){"knockoff", "mnist", "another distribution", NULL});
	expect_apply_error(
	    "transfer", "", &fake, &m,
	    (const char *const[]){"transfer", "mnist", "another distribution", NULL});
	nn_free(&m);
	/* a model whose inputs cannot hold a 28x28 digit */
	assert_int_equal(
	    nn_build_spec(&small, "custom", "1x16x16|flatten|dense fc 10", err, sizeof err), 0);
	expect_apply_error("knockoff", "", NULL, &small,
			   (const char *const[]){"knockoff", "28x28", "1x16x16", NULL});
	nn_free(&small);
}

/* ---- knockoff ---------------------------------------------------------------- */

/* The public set for a 3x32x32 model: every digit centred on a black border,
 * the same grey in each channel; for mlp the loaded set itself. */
static void test_public_images(void **state)
{
	struct nn_model cnn, mlp;
	struct dataset own, own1;
	(void)state;
	assert_int_equal(nn_build_spec(&mlp, "mlp", nn_arch_spec("mlp"), err, sizeof err), 0);
	const struct dataset *p = atk_public_images("t", &mlp, NULL, &own1, err, sizeof err);
	if (!p)
		fail_msg("%s", err);
	assert_null(own1.x);
	assert_int_equal(p->n, 7996);
	assert_int_equal(p->c * p->h * p->w, 784);
	assert_int_equal(nn_build_spec(&cnn, "cnn", nn_arch_spec("cnn"), err, sizeof err), 0);
	const struct dataset *q = atk_public_images("t", &cnn, NULL, &own, err, sizeof err);
	if (!q)
		fail_msg("%s", err);
	assert_ptr_equal(q, &own);
	assert_int_equal(q->n, p->n);
	assert_int_equal(q->c, 3);
	assert_int_equal(q->h, 32);
	assert_int_equal(q->w, 32);
	assert_memory_equal(q->y, p->y, (size_t)p->n);
	long sum = 0;
	for (int i = 0; i < q->n; i += 97)
		for (int c = 0; c < 3; c++)
			for (int r = 0; r < 32; r++)
				for (int x = 0; x < 32; x++) {
					uint8_t v = q->x[(size_t)i * 3072 + c * 1024 + r * 32 + x];
					int in = r >= 2 && r < 30 && x >= 2 && x < 30;
					uint8_t want =
					    in ? p->x[(size_t)i * 784 + (r - 2) * 28 + x - 2] : 0;
					assert_int_equal(v, want);
					sum += v;
				}
	assert_true(sum > 0);
	data_free(&own);
	nn_free(&cnn);
	nn_free(&mlp);
}

/* The student of knockoff learns from the query path alone: the teacher is
 * reachable only through a hidden path (no model pointer), the model handed
 * for the student's architecture has zero weights, and still the student
 * learns the task; the teacher is bit for bit as before; every query counts. */
static void test_knockoff_api_only(void **state)
{
	struct nn_model shape, t2;
	struct wm_query api;
	struct dataset own;
	struct aenv c;
	struct atk_train t = {.name = "knockoff", .epochs = 3, .batch = 64, .lr = 1e-3};
	enum { N = 2000 };
	uint32_t idx[N];
	(void)state;
	tl_need_fashion();
	strlcopy(t.optimizer, "adam", sizeof t.optimizer);
	nn_copy(&t2, &teacher);
	uint64_t before = checksum(&t2);
	assert_int_equal(nn_build_spec(&shape, "mlp", t2.spec, err, sizeof err), 0);
	const struct dataset *pub = atk_public_images("t", &shape, &train, &own, err, sizeof err);
	if (!pub)
		fail_msg("%s", err);
	for (int i = 0; i < N; i++)
		idx[i] = (uint32_t)(i * 3);
	tl_hidden_query(&api, &t2);
	aenv_init(&c, 21);
	struct atk_lesson l = {
	    .d = pub, .idx = idx, .n = N, .labels = ATK_LABELS_SOURCE, .T = 1, .api = &api};
	if (atk_student("same", &t, &shape, &c.e, &l, err, sizeof err))
		fail_msg("%s", err);
	double acc = nn_accuracy(&shape, &test, NULL, 0);
	printf("# student of a hidden teacher, %d mnist queries, 3 epochs: accuracy %.4f, "
	       "%ld queries (path %ld)\n",
	       N, acc, c.queries, api.queries);
	assert_true(checksum(&t2) == before);
	assert_int_equal(c.queries, N);
	assert_int_equal(api.queries, N);
	assert_true(acc > 0.3);
	/* T must be 1 through a query path */
	assert_null(
	    atk_targets(NULL, &api, pub, idx, N, ATK_LABELS_SOURCE, 2, NULL, "t", err, sizeof err));
	assert_non_null(strstr(err, "T = 1"));
	nn_free(&shape);
	nn_free(&t2);
	data_free(&own);
}

/* knockoff through apply: exactly queries queries, a student that learns
 * Fashion-MNIST from digits, the same weights for the same seed. */
static void test_knockoff(void **state)
{
	struct nn_model m, m2, m3;
	(void)state;
	tl_need_fashion();
	nn_copy(&m, &teacher);
	clock_t t0 = clock();
	long q = attack("knockoff", "queries=2000;epochs=3", &m, 31);
	double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	double acc = nn_accuracy(&m, &test, NULL, 0);
	printf("# knockoff 2000 queries, 3 epochs, soft labels: teacher %.4f, knockoff %.4f "
	       "(%ld queries, %.1f s)\n",
	       acc_teacher, acc, q, secs);
	assert_int_equal(q, 2000);
	assert_true(acc > 0.3);
	assert_string_equal(m.spec, teacher.spec);

	nn_copy(&m2, &teacher);
	assert_int_equal(attack("knockoff", "queries=2000;epochs=3", &m2, 31), 2000);
	assert_memory_equal(m.params, m2.params, m.nparams * sizeof(float));
	nn_free(&m2);

	nn_copy(&m2, &teacher);
	assert_int_equal(attack("knockoff", "queries=2000;epochs=3", &m2, 32), 2000);
	assert_memory_not_equal(m.params, m2.params, m.nparams * sizeof(float));
	nn_free(&m2);

	nn_copy(&m3, &teacher);
	q = attack("knockoff", "queries=2000;epochs=3;labels=source_hard", &m3, 31);
	printf("# knockoff, hard labels: %.4f (%ld queries)\n", nn_accuracy(&m3, &test, NULL, 0),
	       q);
	assert_int_equal(q, 2000);
	assert_memory_not_equal(m.params, m3.params, m.nparams * sizeof(float));
	nn_free(&m3);
	nn_free(&m);
}

/* ---- transfer ---------------------------------------------------------------- */

static int same_layer(const struct nn_model *a, const struct nn_model *b, int li)
{
	const struct nn_layer *l = &a->layers[li];
	return !memcmp(a->params + l->w_off, b->params + l->w_off, l->w_n * sizeof(float)) &&
	       !memcmp(a->params + l->b_off, b->params + l->b_off, l->b_n * sizeof(float));
}

/* transfer makes no query and never reads the marked model: on a zeroed model
 * of the same architecture it gives the same weights. freeze = 1 changes only
 * the last layer of the pretrained model. */
static void test_transfer(void **state)
{
	struct nn_model m, z, f1, f2;
	(void)state;
	tl_need_fashion();
	nn_copy(&m, &teacher);
	clock_t t0 = clock();
	long q = attack("transfer", "pretrain_epochs=1;epochs=2", &m, 41);
	double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	double acc = nn_accuracy(&m, &test, NULL, 0);
	assert_int_equal(q, 0);
	assert_int_equal(nn_build_spec(&z, "mlp", teacher.spec, err, sizeof err), 0);
	assert_int_equal(attack("transfer", "pretrain_epochs=1;epochs=2", &z, 41), 0);
	assert_memory_equal(m.params, z.params, m.nparams * sizeof(float));
	nn_free(&z);

	/* the baseline it answers: the same data and labels without pretraining */
	nn_copy(&z, &teacher);
	assert_int_equal(attack("retrain", "labels=true;epochs=2", &z, 41), 0);
	double acc_rt = nn_accuracy(&z, &test, NULL, 0);
	nn_free(&z);

	nn_copy(&f1, &teacher);
	nn_copy(&f2, &teacher);
	attack("transfer", "pretrain_epochs=1;epochs=1;freeze=1", &f1, 42);
	attack("transfer", "pretrain_epochs=1;epochs=2;freeze=1", &f2, 42);
	int last = nn_last_param_layer(&f1);
	for (int i = 0; i < f1.nlayers; i++)
		if (nn_has_params(&f1.layers[i]) && i != last)
			assert_true(same_layer(&f1, &f2, i));
	assert_false(same_layer(&f1, &f2, last));
	double acc_f = nn_accuracy(&f2, &test, NULL, 0);
	nn_free(&f2);
	/* all layers train with freeze = 0 */
	nn_copy(&f2, &teacher);
	attack("transfer", "pretrain_epochs=1;epochs=1", &f2, 42);
	int first = 0;
	while (!nn_has_params(&f1.layers[first]))
		first++;
	assert_false(same_layer(&f1, &f2, first));
	printf("# transfer (1 pretraining epoch, 2 fine-tuning epochs, %.1f s): %.4f, "
	       "freeze=1 %.4f; retrain labels=true 2 epochs %.4f; teacher %.4f\n",
	       secs, acc, acc_f, acc_rt, acc_teacher);
	assert_true(acc > 0.6);
	assert_true(acc_f > 0.4);
	nn_free(&f1);
	nn_free(&f2);
	nn_free(&m);
}

/* ---- distill and retrain: labels and data --------------------------------------- */

static void test_labels_data(void **state)
{
	struct nn_model a, b, z;
	(void)state;
	tl_need_fashion();
	/* true labels: no query, and the teacher's weights play no part (a zeroed
	 * teacher gives the same student); distill and retrain then train alike */
	nn_copy(&a, &teacher);
	assert_int_equal(attack("distill", "labels=true;epochs=1", &a, 51), 0);
	assert_int_equal(nn_build_spec(&z, "mlp", teacher.spec, err, sizeof err), 0);
	assert_int_equal(attack("distill", "labels=true;epochs=1", &z, 51), 0);
	assert_memory_equal(a.params, z.params, a.nparams * sizeof(float));
	nn_free(&z);
	nn_copy(&b, &teacher);
	assert_int_equal(attack("retrain", "labels=true;epochs=1", &b, 51), 0);
	assert_memory_equal(a.params, b.params, a.nparams * sizeof(float));
	printf("# labels=true, 1 epoch: %.4f\n", nn_accuracy(&a, &test, NULL, 0));
	nn_free(&a);
	nn_free(&b);

	/* distill's source_hard is retrain's default */
	nn_copy(&a, &teacher);
	nn_copy(&b, &teacher);
	assert_int_equal(attack("distill", "labels=source_hard;epochs=1", &a, 52), n_attacker);
	assert_int_equal(attack("retrain", "epochs=1", &b, 52), n_attacker);
	assert_memory_equal(a.params, b.params, a.nparams * sizeof(float));
	nn_free(&a);
	nn_free(&b);

	/* every training image is queried once */
	nn_copy(&a, &teacher);
	assert_int_equal(attack("distill", "data=all_images;epochs=1", &a, 53), train.n);
	nn_copy(&b, &teacher);
	assert_int_equal(attack("retrain", "data=all_images;labels=source;epochs=1", &b, 53),
			 train.n);
	printf("# data=all_images, 1 epoch: distill %.4f, retrain (soft) %.4f\n",
	       nn_accuracy(&a, &test, NULL, 0), nn_accuracy(&b, &test, NULL, 0));
	nn_free(&a);
	nn_free(&b);
	nn_copy(&a, &teacher);
	assert_int_equal(attack("retrain", "data=all_images;labels=true;epochs=1", &a, 54), 0);
	nn_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_job_text_unchanged), cmocka_unit_test(test_bad_params),
	    cmocka_unit_test(test_defaults_unchanged), cmocka_unit_test(test_public_images),
	    cmocka_unit_test(test_knockoff_api_only),  cmocka_unit_test(test_knockoff),
	    cmocka_unit_test(test_transfer),	       cmocka_unit_test(test_labels_data),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
