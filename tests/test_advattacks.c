/* test_advattacks.c - atk_pgd and the attacks advtrain, advextract and
 * regularize on Fashion-MNIST with mlp.
 *
 * 8000 training samples split in halves (owner / attacker), the first 1000
 * test samples as held-out images; the clean mlp is trained 2 epochs (adam
 * 1e-3) on the owner's half. Shows: PGD stays within eps (L-inf) and [0, 1]
 * and drives a trained model's accuracy down and its loss up, leaving the
 * model untouched; advtrain raises the attacked model's accuracy under PGD
 * on held-out images and counts the marked model's labelling queries
 * (source labels only); advextract's student is accurate and its queries are
 * the clean labels plus one per crafted example; regularize's phase 1
 * shrinks the weights, fine-tuning recovers the accuracy, and early stopping
 * stops `patience` epochs after the best one when validation stalls (random
 * labels); the same seed gives the same model bit for bit; bad parameters
 * are refused by check and by apply before any work. Without Fashion-MNIST
 * the tests fail (testlib.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../attacks/attack.h"
#include "../attacks/common.h"
#include "data.h"
#include "nn.h"
#include "testlib.h"
#include "util.h"

#define NTRAIN 8000
#define NTEST  1000
#define SEED   15
#define NHELD  500 /* held-out test images for PGD accuracy */

static struct dataset train, test;
static uint32_t *owner, *attacker;
static int n_owner, n_attacker, have_data;
static struct nn_model clean;
static double acc_clean;
static float *xheld;
static int yheld[NHELD];
static char err[ERRBUF];

static int group_setup(void **state)
{
	struct wm_env w;
	struct rng r;
	(void)state;
	/* without the data, the tests that need it fail in tl_need_fashion() */
	if (tl_fashion_load(&train, &test, NTRAIN, NTEST))
		return 0;
	data_split(train.n, SEED, 0.5, &owner, &n_owner, &attacker, &n_attacker);
	rng_seed(&r, SEED);
	tl_env_init(&w, &r, 2, &train, &test, owner, n_owner);
	if (tl_train_clean(&clean, "mlp", &w))
		return -1;
	acc_clean = nn_accuracy(&clean, &test, NULL, 0);
	uint32_t idx[NHELD];
	for (int i = 0; i < NHELD; i++)
		idx[i] = (uint32_t)i;
	xheld = xmalloc((size_t)NHELD * 784 * sizeof(float));
	nn_fill_batch(test.x, test.y, 784, idx, NHELD, xheld, yheld);
	printf("# clean mlp: %d owner / %d attacker samples, 2 epochs, test accuracy %.4f\n",
	       n_owner, n_attacker, acc_clean);
	have_data = 1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (have_data)
		nn_free(&clean);
	free(xheld);
	tl_fashion_free(&train, &test);
	free(owner);
	free(attacker);
	return 0;
}

/* The attacker's environment: its first n samples (0: all), the job's RNG
 * seeded from seed, queries counted in *queries. */
struct actx {
	struct rng r;
	struct atk_env e;
	long queries;
};

static void actx_init(struct actx *c, uint64_t seed, int n)
{
	memset(c, 0, sizeof *c);
	rng_seed(&c->r, seed);
	c->e.train = &train;
	c->e.attacker_idx = attacker;
	c->e.n_attacker = n > 0 && n < n_attacker ? n : n_attacker;
	c->e.rng = &c->r;
	c->e.queries = &c->queries;
}

/* "k=v;k=v", completed with defaults. */
static void aparams(const struct atk_attack *a, struct param_set *p, const char *kv)
{
	tl_params(a->name, a->params, p, kv, ";");
}

static void attack(const char *name, const char *kv, struct nn_model *m, struct actx *c)
{
	const struct atk_attack *a = atk_find(name);
	struct param_set p;
	assert_non_null(a);
	aparams(a, &p, kv);
	if (atk_check(a, &p, err, sizeof err))
		fail_msg("%s check: %s", name, err);
	if (atk_apply(a, &p, m, &c->e, err, sizeof err))
		fail_msg("%s apply: %s", name, err);
}

/* Accuracy and mean cross-entropy of m on x (n) with labels y. */
static double acc_loss(struct nn_model *m, const float *x, const int *y, int n, double *loss)
{
	float *p = xmalloc((size_t)n * m->nclass * sizeof(float));
	int ok = 0;
	double l = 0;
	nn_predict_proba(m, x, n, p);
	for (int i = 0; i < n; i++) {
		const float *pi = p + (size_t)i * m->nclass;
		ok += nn_argmax(pi, m->nclass) == y[i];
		l -= log(fmax(pi[y[i]], 1e-30));
	}
	free(p);
	if (loss)
		*loss = l / n;
	return (double)ok / n;
}

/* Accuracy of m on the held-out images under PGD against m itself (true
 * labels: the standard robust accuracy). */
static double pgd_acc(struct nn_model *m, double eps, int steps)
{
	float *xa = xmalloc((size_t)NHELD * 784 * sizeof(float));
	assert_int_equal(atk_pgd(m, xheld, yheld, NHELD, eps, eps / 4, steps, xa), 0);
	double a = acc_loss(m, xa, yheld, NHELD, NULL);
	free(xa);
	return a;
}

/* ---- atk_pgd ---------------------------------------------------------------------------- */

static void test_pgd(void **state)
{
	const double eps = 0.1;
	const int n = 300;
	struct nn_model m;
	(void)state;
	tl_need_fashion();
	nn_copy(&m, &clean);
	float *xa = xmalloc((size_t)n * 784 * sizeof(float));
	float *xb = xmalloc((size_t)n * 784 * sizeof(float));
	memset(m.grads, 0, m.nparams * sizeof(float));
	m.layers[1].frozen = 1; /* fc1: a flag PGD must restore */

	assert_int_equal(atk_pgd(&m, xheld, yheld, n, eps, 0.01, 20, xa), 0);
	double maxd = 0, lo = 1, hi = 0;
	for (size_t i = 0; i < (size_t)n * 784; i++) {
		maxd = fmax(maxd, fabs((double)xa[i] - xheld[i]));
		lo = fmin(lo, xa[i]);
		hi = fmax(hi, xa[i]);
	}
	double l0, l1, l2;
	double a0 = acc_loss(&m, xheld, yheld, n, &l0);
	double a1 = acc_loss(&m, xa, yheld, n, &l1);
	/* no label: ascends the loss of the model's own prediction */
	assert_int_equal(atk_pgd(&m, xheld, NULL, n, eps, 0.01, 20, xb), 0);
	double a2 = acc_loss(&m, xb, yheld, n, &l2);
	for (size_t i = 0; i < (size_t)n * 784; i++)
		assert_true(fabs((double)xb[i] - xheld[i]) <= eps + 1e-6 && xb[i] >= 0 &&
			    xb[i] <= 1);
	printf("# pgd eps %.2f K 20: max |dx| %.6f, range [%g, %g]; accuracy %.4f -> %.4f (own "
	       "prediction %.4f), loss %.3f -> %.3f (%.3f)\n",
	       eps, maxd, lo, hi, a0, a1, a2, l0, l1, l2);
	assert_true(maxd <= eps + 1e-6);
	assert_true(maxd > eps - 1e-6); /* the budget is used */
	assert_true(lo >= 0 && hi <= 1);
	assert_true(l1 > l0 + 1.0 && l2 > l0 + 1.0);
	assert_true(a1 < a0 / 2 && a2 < a0 / 2);
	/* the model is left as it was: weights, gradients, frozen flags */
	assert_memory_equal(m.params, clean.params, m.nparams * sizeof(float));
	for (size_t i = 0; i < m.nparams; i++)
		assert_true(m.grads[i] == 0);
	assert_int_equal(m.layers[1].frozen, 1);
	assert_int_equal(m.layers[3].frozen, 0);
	assert_int_equal(m.want_dinput, 0);
	/* zero steps: a copy; bad arguments: refused, nothing written */
	assert_int_equal(atk_pgd(&m, xheld, NULL, n, eps, 0.01, 0, xa), 0);
	assert_memory_equal(xa, xheld, (size_t)n * 784 * sizeof(float));
	xa[0] = -7;
	assert_int_equal(atk_pgd(&m, xheld, NULL, n, -0.1, 0.01, 5, xa), -1);
	assert_int_equal(atk_pgd(&m, xheld, NULL, n, NAN, 0.01, 5, xa), -1);
	assert_int_equal(atk_pgd(&m, xheld, NULL, n, 0.1, 0.01, -1, xa), -1);
	assert_int_equal(atk_pgd(&m, xheld, NULL, -1, 0.1, 0.01, 5, xa), -1);
	assert_true(xa[0] == -7);
	free(xa);
	free(xb);
	nn_free(&m);
}

/* ---- advtrain --------------------------------------------------------------------------- */

/* The test: adversarial training raises the accuracy under PGD of
 * the attacked model on held-out images, beyond what as much plain
 * fine-tuning does (a model trained longer is also a little more robust). */
static void test_advtrain_robust(void **state)
{
	const char *kv = "eps=0.1;steps=10;per_epoch=1000;epochs=2";
	struct nn_model m, ft;
	struct actx c;
	(void)state;
	tl_need_fashion();
	double r0 = pgd_acc(&clean, 0.05, 10), s0 = pgd_acc(&clean, 0.1, 10);
	nn_copy(&ft, &clean);
	actx_init(&c, 21, 0);
	attack("finetune", "mode=ftal;epochs=2", &ft, &c);
	double rf = pgd_acc(&ft, 0.05, 10), sf = pgd_acc(&ft, 0.1, 10);
	nn_copy(&m, &clean);
	actx_init(&c, 21, 0);
	attack("advtrain", kv, &m, &c);
	double r1 = pgd_acc(&m, 0.05, 10), s1 = pgd_acc(&m, 0.1, 10);
	double a1 = nn_accuracy(&m, &test, NULL, 0), af = nn_accuracy(&ft, &test, NULL, 0);
	printf("# advtrain %s: PGD accuracy at eps 0.05 / 0.1: clean model %.4f / %.4f, "
	       "finetune 2 epochs %.4f / %.4f, advtrain %.4f / %.4f; test accuracy %.4f, "
	       "finetune %.4f, advtrain %.4f; %ld queries\n",
	       kv, r0, s0, rf, sf, r1, s1, acc_clean, af, a1, c.queries);
	assert_true(r1 > r0 + 0.05 && s1 > s0 + 0.05);
	assert_true(r1 > rf + 0.03 && s1 > sf + 0.03);
	assert_true(a1 > acc_clean - 0.03);
	/* labels = source (the default): one query per crafted example */
	assert_int_equal(c.queries, 2 * 1000);
	nn_free(&m);
	nn_free(&ft);
	/* the marked model labelling the crafted input instead teaches it the
	 * wrong classes PGD found (advtrain.c): no better than fine-tuning */
	nn_copy(&m, &clean);
	actx_init(&c, 21, 0);
	attack("advtrain", "eps=0.1;steps=10;per_epoch=1000;epochs=2;label_input=adversarial", &m,
	       &c);
	double r2 = pgd_acc(&m, 0.05, 10), s2 = pgd_acc(&m, 0.1, 10);
	printf("# advtrain label_input=adversarial: PGD accuracy %.4f / %.4f\n", r2, s2);
	assert_true(r2 < r1 - 0.05 && s2 < s1 - 0.05);
	assert_int_equal(c.queries, 2 * 1000);
	nn_free(&m);
}

static void test_advtrain_queries(void **state)
{
	struct nn_model m;
	struct actx c;
	(void)state;
	tl_need_fashion();
	/* true labels: the marked model is never asked */
	nn_copy(&m, &clean);
	actx_init(&c, 22, 300);
	attack("advtrain", "labels=true;steps=2;per_epoch=100;epochs=2", &m, &c);
	assert_int_equal(c.queries, 0);
	nn_free(&m);
	/* source_hard on the crafted input: one query each, per_epoch beyond the data */
	nn_copy(&m, &clean);
	actx_init(&c, 22, 300);
	attack("advtrain",
	       "labels=source_hard;label_input=adversarial;steps=2;per_epoch=400;epochs=1", &m, &c);
	assert_int_equal(c.queries, 400);
	nn_free(&m);
}

static void test_advtrain_deterministic(void **state)
{
	struct nn_model a, b;
	struct actx c;
	(void)state;
	tl_need_fashion();
	nn_copy(&a, &clean);
	nn_copy(&b, &clean);
	actx_init(&c, 23, 300);
	attack("advtrain", "steps=3;per_epoch=100;epochs=1", &a, &c);
	actx_init(&c, 23, 300);
	attack("advtrain", "steps=3;per_epoch=100;epochs=1", &b, &c);
	assert_memory_equal(a.params, b.params, a.nparams * sizeof(float));
	assert_memory_not_equal(a.params, clean.params, a.nparams * sizeof(float));
	nn_free(&a);
	nn_free(&b);
}

/* ---- advextract ------------------------------------------------------------------------- */

static void test_advextract(void **state)
{
	struct nn_model m;
	struct actx c;
	(void)state;
	tl_need_fashion();
	nn_copy(&m, &clean);
	actx_init(&c, 24, 0);
	attack("advextract", "epochs=3;steps=5;per_epoch=500", &m, &c);
	double a = nn_accuracy(&m, &test, NULL, 0);
	int agree = 0;
	float *p = xmalloc((size_t)NHELD * 10 * sizeof(float));
	float *q = xmalloc((size_t)NHELD * 10 * sizeof(float));
	nn_predict_proba(&m, xheld, NHELD, p);
	nn_predict_proba(&clean, xheld, NHELD, q);
	for (int i = 0; i < NHELD; i++)
		agree += nn_argmax(p + i * 10, 10) == nn_argmax(q + i * 10, 10);
	printf("# advextract 3 epochs, 3 x 500 examples K 5: student accuracy %.4f (teacher "
	       "%.4f), agreement %.4f, %ld queries\n",
	       a, acc_clean, (double)agree / NHELD, c.queries);
	/* a fresh model (not the teacher's weights) that learnt the task */
	assert_memory_not_equal(m.params, clean.params, 1000 * sizeof(float));
	assert_true(a > acc_clean - 0.06);
	/* the clean labels plus one per crafted example */
	assert_int_equal(c.queries, n_attacker + 3 * 500);
	nn_free(&m);
	free(p);
	free(q);
	/* label_input = clean: the crafted examples reuse the clean answers */
	nn_copy(&m, &clean);
	actx_init(&c, 24, 300);
	attack("advextract", "epochs=1;steps=2;per_epoch=100;label_input=clean;student=lenet5", &m,
	       &c);
	assert_string_equal(m.arch, "lenet5");
	assert_int_equal(c.queries, 300);
	nn_free(&m);
}

/* Mean cross-entropy of m on training samples idx[0..n). */
static double xent(struct nn_model *m, const uint32_t *idx, int n)
{
	float *x = xmalloc((size_t)n * 784 * sizeof(float));
	int *y = xmalloc((size_t)n * sizeof(int));
	double l;
	nn_fill_batch(train.x, train.y, 784, idx, n, x, y);
	acc_loss(m, x, y, n, &l);
	free(x);
	free(y);
	return l;
}

/* ---- regularize ------------------------------------------------------------------------- */

static void reg_cfg(struct atk_reg *r, double l2, int reg_epochs, int max_ft, int patience)
{
	memset(r, 0, sizeof *r);
	r->t.name = "regularize";
	r->t.lr = 0.01;
	r->t.batch = 64;
	strcpy(r->t.optimizer, "sgd");
	r->l2 = l2;
	r->reg_epochs = reg_epochs;
	r->max_ft = max_ft;
	r->patience = patience;
}

static void test_regularize(void **state)
{
	struct nn_model m;
	struct atk_reg r;
	struct atk_reg_out o, o1;
	struct actx c;
	(void)state;
	tl_need_fashion();
	/* phase 1 alone */
	nn_copy(&m, &clean);
	actx_init(&c, 25, 0);
	reg_cfg(&r, 0.05, 5, 0, 3);
	assert_int_equal(atk_reg_run(&m, &c.e, &r, &o1, err, sizeof err), 0);
	double a1 = nn_accuracy(&m, &test, NULL, 0);
	nn_free(&m);
	/* both phases */
	nn_copy(&m, &clean);
	actx_init(&c, 25, 0);
	reg_cfg(&r, 0.05, 5, 20, 3);
	int e = atk_reg_run(&m, &c.e, &r, &o, err, sizeof err);
	if (e < 0)
		fail_msg("regularize: %s", err);
	double a2 = nn_accuracy(&m, &test, NULL, 0);
	printf("# regularize l2 0.05 x 5 epochs: norm %.3f -> %.3f (ratio %.3f), accuracy %.4f -> "
	       "%.4f; fine-tuned %d epochs (best %d, val loss %.4f): accuracy %.4f, norm %.3f\n",
	       o1.norm0, o1.norm1, o1.norm1 / o1.norm0, acc_clean, a1, e, o.best_epoch, o.val_loss,
	       a2, o.norm2);
	assert_true(o1.norm1 < 0.4 * o1.norm0);
	assert_true(o.norm1 == o1.norm1); /* same seed, same phase 1 */
	assert_true(e == o.ft_epochs && e >= 1 && e <= 20);
	assert_true(o.best_epoch >= 1 && o.best_epoch <= e);
	assert_true(e == 20 || e == o.best_epoch + 3);
	assert_true(a2 > acc_clean - 0.03);
	assert_true(a2 > a1);
	/* the weights kept are the best epoch's: the held-out part is the last
	 * tenth of the attacker's samples shuffled by the job's RNG's first draw */
	struct rng r2;
	uint32_t *idx = xmalloc((size_t)n_attacker * sizeof *idx);
	int nv = n_attacker / 10;
	memcpy(idx, attacker, (size_t)n_attacker * sizeof *idx);
	rng_seed(&r2, 25);
	rng_shuffle_u32(&r2, idx, (size_t)n_attacker);
	assert_true(fabs(xent(&m, idx + n_attacker - nv, nv) - o.val_loss) < 1e-5);
	free(idx);
	nn_free(&m);
}

/* Validation stalls when the labels are random: fine-tuning memorises the
 * training part, the held-out loss rises, and training stops patience
 * epochs after the best. */
static void test_regularize_early_stop(void **state)
{
	const int n = 1000;
	struct nn_model m;
	struct atk_reg r;
	struct atk_reg_out o;
	struct actx c;
	struct dataset noisy;
	struct rng lr;
	(void)state;
	tl_need_fashion();
	noisy = train;
	noisy.y = xmalloc((size_t)train.n);
	rng_seed(&lr, 99);
	for (int i = 0; i < train.n; i++)
		noisy.y[i] = (uint8_t)rng_below(&lr, 10);
	nn_copy(&m, &clean);
	actx_init(&c, 26, n);
	c.e.train = &noisy;
	reg_cfg(&r, 0.01, 1, 20, 2);
	r.t.lr = 0.05;
	int e = atk_reg_run(&m, &c.e, &r, &o, err, sizeof err);
	if (e < 0)
		fail_msg("regularize: %s", err);
	printf("# regularize on random labels: stopped after %d of 20 epochs, best %d (val loss "
	       "%.4f)\n",
	       e, o.best_epoch, o.val_loss);
	assert_true(e < 20);
	assert_int_equal(e, o.best_epoch + 2);
	nn_free(&m);
	free(noisy.y);
}

/* ---- parameters ------------------------------------------------------------------------- */

static void expect_check_error(const char *name, const char *kv, const char *const *parts)
{
	const struct atk_attack *a = atk_find(name);
	struct param_set p;
	assert_non_null(a);
	aparams(a, &p, kv);
	err[0] = 0;
	if (!atk_check(a, &p, err, sizeof err))
		fail_msg("%s with %s passed check; expected an error", name, kv);
	for (int i = 0; parts[i]; i++)
		if (!strstr(err, parts[i]))
			fail_msg("%s with %s: message '%s' lacks '%s'", name, kv, err, parts[i]);
	printf("# %s %s -> %s\n", name, kv, err);
	/* apply refuses it too, before any work: no query, the model unchanged */
	struct nn_model m;
	struct actx c;
	nn_copy(&m, &clean);
	actx_init(&c, 1, 100);
	assert_int_equal(atk_apply(a, &p, &m, &c.e, err, sizeof err), -1);
	assert_int_equal(c.queries, 0);
	assert_memory_equal(m.params, clean.params, m.nparams * sizeof(float));
	nn_free(&m);
}

#define E(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_check_errors(void **state)
{
	(void)state;
	tl_need_fashion();
	expect_check_error("advtrain", "eps=0", E("advtrain", "'eps'", "'0'", "(0, 1]"));
	expect_check_error("advtrain", "eps=1.5", E("advtrain", "'eps'", "1.5", "[0, 1]"));
	expect_check_error("advtrain", "alpha=0", E("advtrain", "'alpha'", "(0, 1]"));
	expect_check_error("advtrain", "steps=0", E("advtrain", "'steps'", "[1, 200]"));
	expect_check_error("advtrain", "steps=201", E("advtrain", "'steps'", "[1, 200]"));
	expect_check_error("advtrain", "per_epoch=0", E("'per_epoch'", "[1, 100000]"));
	expect_check_error("advtrain", "labels=soft", E("'labels'", "true|source|source_hard"));
	expect_check_error("advtrain", "label_input=both", E("'label_input'", "clean|adversarial"));
	expect_check_error("advtrain", "optimizer=lbfgs", E("'optimizer'", "adam|sgd|rmsprop"));
	expect_check_error("advextract", "labels=true",
			   E("advextract", "'labels'", "source|source_hard"));
	expect_check_error("advextract", "student=resnet", E("advextract", "'student'", "resnet"));
	expect_check_error("advextract", "eps=-0.1", E("advextract", "'eps'"));
	expect_check_error("advextract", "epochs=0", E("advextract", "'epochs'", "[1, 1000]"));
	expect_check_error("regularize", "l2=1.5", E("regularize", "'l2'", "[0, 1]"));
	expect_check_error("regularize", "l2=-0.01", E("regularize", "'l2'"));
	expect_check_error("regularize", "patience=0", E("'patience'", "[1, 1000]"));
	expect_check_error("regularize", "max_ft=-1", E("'max_ft'", "[0, 1000]"));
	expect_check_error("regularize", "reg_epochs=0", E("'reg_epochs'", "[1, 1000]"));
	expect_check_error("regularize", "lr=0", E("'lr'"));
	/* the defaults pass; category and threat as the spec's table */
	const char *names[] = {"advtrain", "advextract", "regularize"};
	for (int i = 0; i < 3; i++) {
		const struct atk_attack *a = atk_find(names[i]);
		struct param_set p;
		assert_non_null(a);
		aparams(a, &p, NULL);
		if (atk_check(a, &p, err, sizeof err))
			fail_msg("%s defaults: %s", a->name, err);
		assert_true(a->uses_attacker_data && !a->query_path && a->apply);
	}
	assert_int_equal(atk_find("advtrain")->category, ATK_CAT_MODIFY);
	assert_int_equal(atk_find("advextract")->category, ATK_CAT_EXTRACT);
	assert_int_equal(atk_find("regularize")->category, ATK_CAT_MODIFY);
	assert_int_equal(atk_find("advextract")->threat, ATK_T_DATA | ATK_T_QUERIES);
	assert_int_equal(atk_find("regularize")->threat, ATK_T_WEIGHTS | ATK_T_DATA | ATK_T_LABELS);
	/* no attacker data: an error, not a crash */
	struct nn_model m;
	struct actx c;
	nn_copy(&m, &clean);
	actx_init(&c, 1, 0);
	c.e.n_attacker = 0;
	struct param_set p;
	aparams(atk_find("advtrain"), &p, NULL);
	assert_int_equal(atk_apply(atk_find("advtrain"), &p, &m, &c.e, err, sizeof err), -1);
	assert_non_null(strstr(err, "no training samples"));
	c.e.n_attacker = 5;
	aparams(atk_find("regularize"), &p, NULL);
	assert_int_equal(atk_apply(atk_find("regularize"), &p, &m, &c.e, err, sizeof err), -1);
	assert_non_null(strstr(err, "validation"));
	assert_memory_equal(m.params, clean.params, m.nparams * sizeof(float));
	nn_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pgd),
	    cmocka_unit_test(test_advtrain_robust),
	    cmocka_unit_test(test_advtrain_queries),
	    cmocka_unit_test(test_advtrain_deterministic),
	    cmocka_unit_test(test_advextract),
	    cmocka_unit_test(test_regularize),
	    cmocka_unit_test(test_regularize_early_stop),
	    cmocka_unit_test(test_check_errors),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
