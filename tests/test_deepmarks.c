/* test_deepmarks.c - the deepmarks white-box fingerprint on Fashion-MNIST.
 *
 * mlp fc2 (M = 512), 64 bits, 6000 owner samples, 2 epochs of adam 1e-3
 * (the defaults gamma 0.01, strength 2): the marked model is detected with
 * BER 0 and z near strength sqrt(n) = 16, at under 2 points of accuracy;
 * the unmarked model of the same seed and the marked model under another
 * seed's key are not detected, with |z| < 4. The exact null: z of 400 fresh
 * keys on one fixed model has mean ~0 and sd ~1. The regulariser's gradient
 * matches central finite differences (mlp fc2 and lenet5 conv2). Keys
 * regenerate bit-identically; users = 4 gives orthogonal codes and names the
 * marked user; bad parameters are refused with the parameter, the value and
 * the range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../schemes/scheme.h"
#include "testlib.h"
#include "util.h"

extern const struct wm_scheme wm_deepmarks;
double wm_deepmarks_penalty(const struct npz *key, struct nn_model *m, double gamma,
			    double strength, char *err, size_t errlen);

static struct dataset train, test;
static const struct wm_scheme *dm = &wm_deepmarks;
static char err[ERRBUF];

static int setup(void **state)
{
	(void)state;
	/* the owner's two thirds of 9000 samples */
	if (tl_fashion_load(&train, &test, 9000, 0) || tl_fashion_split(11, 1.0 / 3))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tl_fashion_free(&train, &test);
	return 0;
}

/* The key of kv from the key stream of seed (seed + 1000), for model m. */
static void keygen(struct npz *key, const struct nn_model *m, const char *kv, uint64_t seed)
{
	struct wm_env env;
	struct rng kr;
	struct param_set p;
	tl_fashion_env(&env, &kr, seed + 1000, 1);
	tl_scheme_params(dm, &p, kv);
	npz_init(key);
	if (wm_check(dm, &p, m, err, sizeof err) ||
	    wm_keygen(dm, &p, m, &env, key, err, sizeof err))
		fail_msg("deepmarks keygen %s: %s", kv, err);
}

/* A model of arch from seed: marked with kv (key filled) or clean (kv NULL). */
static void make_model(struct nn_model *m, const char *arch, const char *kv, uint64_t seed,
		       int epochs, struct npz *key)
{
	struct wm_env env;
	struct rng r;
	struct param_set p;
	tl_fashion_env(&env, &r, seed, epochs);
	if (!kv) {
		if (tl_train_clean(m, arch, &env))
			fail_msg("unmarked %s did not train", arch);
		return;
	}
	if (nn_create(m, arch, 1, 28, 28, 10, &r, err, sizeof err))
		fail_msg("%s", err);
	keygen(key, m, kv, seed);
	tl_scheme_params(dm, &p, kv);
	if (wm_embed(dm, &p, m, key, &env, err, sizeof err))
		fail_msg("deepmarks %s: %s", kv, err);
}

static void verify(const struct npz *key, struct nn_model *m, struct wm_verdict *v)
{
	struct wm_env env;
	struct rng r;
	struct wm_query q;
	tl_fashion_env(&env, &r, 0, 1);
	wm_query_init(&q, m);
	tl_verify(dm, key, m, &q, &env, v);
	assert_string_equal(v->metric_name, "ber");
}

static void test_embed_detect(void **state)
{
	struct nn_model marked, clean;
	struct npz key, wrong;
	struct wm_verdict v, vc, vw;
	(void)state;
	make_model(&marked, "mlp", "bits=64", 5, 2, &key);
	make_model(&clean, "mlp", NULL, 5, 2, NULL);
	keygen(&wrong, &marked, "bits=64", 6);
	double am = nn_accuracy(&marked, &test, NULL, 0), ac = nn_accuracy(&clean, &test, NULL, 0);
	verify(&key, &marked, &v);
	verify(&key, &clean, &vc);
	verify(&wrong, &marked, &vw);
	printf("deepmarks mlp fc2 64 bits: acc %.4f (unmarked same seed %.4f, cost %.2f points)\n",
	       am, ac, 100 * (ac - am));
	printf("  marked: BER %.4f z %.2f p %.3g detected %d\n", v.metric, v.aux, v.pvalue,
	       v.detected);
	printf("  unmarked + owner's key: BER %.4f z %.2f p %.3g detected %d\n", vc.metric, vc.aux,
	       vc.pvalue, vc.detected);
	printf("  marked + wrong key: BER %.4f z %.2f p %.3g detected %d\n", vw.metric, vw.aux,
	       vw.pvalue, vw.detected);
	assert_true(v.metric == 0.0);
	assert_true(v.aux > 12);
	assert_true(v.pvalue < 1e-20);
	assert_int_equal(v.detected, 1);
	assert_true(v.capacity == 64);
	assert_true(ac > 0.8 && ac - am < 0.02);
	assert_int_equal(vc.detected, 0);
	assert_true(fabs(vc.aux) < 4);
	assert_int_equal(vw.detected, 0);
	assert_true(fabs(vw.aux) < 4);
	/* p = 1 - Phi(z) */
	assert_true(fabs(vc.pvalue - 0.5 * erfc(vc.aux / sqrt(2.0))) < 1e-12);
	nn_free(&marked);
	nn_free(&clean);
	npz_free(&key);
	npz_free(&wrong);
}

/* The null is exact: fresh keys on one fixed (here: trained, unmarked-by-
 * them) model give z ~ N(0, 1). 400 keys: mean within 4 sd (0.2), variance
 * within [0.75, 1.3], and the BER near 1/2. */
static void test_null(void **state)
{
	struct nn_model m;
	struct npz key, mk;
	struct wm_verdict v;
	double s1 = 0, s2 = 0, ber = 0;
	int N = 400, det = 0;
	(void)state;
	make_model(&m, "mlp", "bits=64", 7, 1, &mk);
	for (int k = 0; k < N; k++) {
		keygen(&key, &m, "bits=64", 5000 + k);
		verify(&key, &m, &v);
		s1 += v.aux;
		s2 += v.aux * v.aux;
		ber += v.metric;
		det += v.detected;
		npz_free(&key);
	}
	double mean = s1 / N, var = s2 / N - mean * mean;
	printf("deepmarks null, %d fresh keys on a marked mlp: z mean %.3f var %.3f, BER %.3f, "
	       "detected %d\n",
	       N, mean, var, ber / N, det);
	assert_true(fabs(mean) < 0.2);
	assert_true(var > 0.75 && var < 1.3);
	assert_true(fabs(ber / N - 0.5) < 0.02);
	assert_true(det <= 2);
	nn_free(&m);
	npz_free(&mk);
}

/* Central differences of the penalty on a few weights of the marked layer
 * against the analytic gradient (in double precision of the penalty, float
 * weights: step 1e-3 of a weight of scale ~0.05). */
static void grad_check(const char *arch, const char *kv)
{
	struct nn_model m;
	struct npz key;
	struct rng r;
	rng_seed(&r, 21);
	assert_int_equal(nn_create(&m, arch, 1, 28, 28, 10, &r, err, sizeof err), 0);
	keygen(&key, &m, kv, 21);
	const char *lname = dm->marked_layer(&key);
	assert_non_null(lname);
	const struct nn_layer *l = &m.layers[nn_find_layer(&m, lname)];
	double gamma = 0.7, t = 1.5;
	nn_zero_grads(&m);
	double R0 = wm_deepmarks_penalty(&key, &m, gamma, t, err, sizeof err);
	assert_false(isnan(R0));
	double worst = 0;
	for (int k = 0; k < 12; k++) {
		size_t i = l->w_off + rng_below(&r, (uint32_t)l->w_n);
		float keep = m.params[i], g = m.grads[i];
		double h = 1e-3, Rp, Rm;
		m.params[i] = keep + (float)h;
		nn_zero_grads(&m);
		Rp = wm_deepmarks_penalty(&key, &m, gamma, t, err, sizeof err);
		m.params[i] = keep - (float)h;
		nn_zero_grads(&m);
		Rm = wm_deepmarks_penalty(&key, &m, gamma, t, err, sizeof err);
		m.params[i] = keep;
		double hp = (double)(float)(keep + (float)h) - keep,
		       hm = keep - (double)(float)(keep - (float)h);
		double fd = (Rp - Rm) / (hp + hm);
		double rel = fabs(fd - g) / fmax(1e-3, fabs(fd) + fabs(g));
		worst = fmax(worst, rel);
		if (k < 3)
			printf("deepmarks %s %s grad[%zu]: analytic %.6g fd %.6g\n", arch, lname, i,
			       g, fd);
		/* restore the analytic gradient of the base point */
		nn_zero_grads(&m);
		wm_deepmarks_penalty(&key, &m, gamma, t, err, sizeof err);
	}
	printf("deepmarks %s %s: worst relative gradient error %.2e\n", arch, lname, worst);
	assert_true(worst < 2e-2);
	/* the gradient reaches only the marked layer's weights */
	for (size_t i = 0; i < m.nparams; i++)
		if (i < l->w_off || i >= l->w_off + l->w_n)
			assert_true(m.grads[i] == 0);
	nn_free(&m);
	npz_free(&key);
}

static void test_gradient(void **state)
{
	(void)state;
	grad_check("mlp", "bits=64");
	grad_check("lenet5", "bits=40");
}

static void test_deterministic(void **state)
{
	struct nn_model m;
	struct npz a, b, c;
	struct rng r;
	(void)state;
	rng_seed(&r, 3);
	assert_int_equal(nn_create(&m, "mlp", 1, 28, 28, 10, &r, err, sizeof err), 0);
	keygen(&a, &m, "bits=32", 9);
	keygen(&b, &m, "bits=32", 9);
	keygen(&c, &m, "bits=32", 10);
	tl_assert_same_array(&a, &b, "deepmarks.X");
	tl_assert_same_array(&a, &b, "deepmarks.codes");
	tl_assert_same_array(&a, &b, "deepmarks.user");
	tl_assert_same_array(&a, &b, "layer");
	const struct npz_array *xa = npz_get(&a, "deepmarks.X"), *xc = npz_get(&c, "deepmarks.X");
	assert_int_equal(xa->count, 32 * 512);
	assert_memory_not_equal(xa->data, xc->data, xa->count * sizeof(float));
	assert_string_equal(dm->marked_layer(&a), "fc2");
	npz_free(&a);
	npz_free(&b);
	npz_free(&c);
	nn_free(&m);
}

/* The embedding's hook hands its row gradient to the optimiser, which adds
 * it to every row while it updates the layer and sums the updated rows for
 * the next step's mean (struct nn_opt_rows). Training with the plain hook
 * instead (wm_deepmarks_penalty: the mean from the weights, the gradient
 * added into m->grads) must end in the same bits, with adam and with sgd
 * with momentum and weight decay, on mlp's fc2 and lenet5's conv2. */
struct plain_ctx {
	const struct npz *key;
	double gamma, strength;
};

static double plain_penalty(void *ctx, struct nn_model *m, const float *x, const int *y, int B)
{
	const struct plain_ctx *c = ctx;
	(void)x, (void)y, (void)B;
	double r = wm_deepmarks_penalty(c->key, m, c->gamma, c->strength, err, sizeof err);
	if (isnan(r))
		fail_msg("%s", err);
	return r;
}

static void test_rows_same_bits(void **state)
{
	static const char *const archs[] = {"mlp", "lenet5"};
	(void)state;
	for (int a = 0; a < 2; a++) {
		struct nn_model m1, m2;
		struct npz key;
		struct wm_env e1, e2;
		struct rng r1, r2;
		struct param_set p;
		const char *kv = a ? "bits=32,gamma=0.05" : "bits=64,gamma=0.05";
		tl_fashion_env(&e1, &r1, 5, 1);
		tl_fashion_env(&e2, &r2, 5, 1);
		if (a) { /* sgd with momentum and weight decay */
			strcpy(e1.ts.optimizer, "sgd");
			e1.ts.lr = 0.01;
			e1.ts.momentum = 0.9;
			e1.ts.weight_decay = 5e-4;
			e2.ts = e1.ts;
		}
		if (nn_create(&m1, archs[a], 1, 28, 28, 10, &r1, err, sizeof err) ||
		    nn_create(&m2, archs[a], 1, 28, 28, 10, &r2, err, sizeof err))
			fail_msg("%s", err);
		keygen(&key, &m1, kv, 5);
		tl_scheme_params(dm, &p, kv);
		if (wm_embed(dm, &p, &m1, &key, &e1, err, sizeof err))
			fail_msg("deepmarks %s: %s", archs[a], err);
		struct plain_ctx c = {&key, 0.05, 2};
		struct train_hooks h = {.ctx = &c, .post_backward = plain_penalty};
		if (wm_train_owner(&m2, &e2, &h, 0, err, sizeof err))
			fail_msg("plain hook %s: %s", archs[a], err);
		assert_int_equal(m1.nparams, m2.nparams);
		size_t diff = 0;
		for (size_t i = 0; i < m1.nparams; i++)
			diff += memcmp(&m1.params[i], &m2.params[i], sizeof(float)) != 0;
		printf("%s: %zu of %zu parameters differ between the fused and the plain hook\n",
		       archs[a], diff, m1.nparams);
		assert_int_equal(diff, 0);
		npz_free(&key);
		nn_free(&m1);
		nn_free(&m2);
	}
}

/* users = 4: codes orthogonal; the copy of user 2 is detected with every
 * user's key of that family (Bonferroni over users), and aux (z of the key's
 * user) is large only for user 2. */
static void test_users(void **state)
{
	struct nn_model m;
	struct npz key, other;
	struct wm_verdict v;
	(void)state;
	make_model(&m, "mlp", "bits=64,users=4,user=2", 8, 1, &key);
	const struct npz_array *c = npz_get(&key, "deepmarks.codes");
	assert_int_equal(c->shape[0], 4);
	const uint8_t *cb = c->data;
	for (int a = 0; a < 4; a++)
		for (int b = 0; b < 4; b++) {
			int dot = 0;
			for (int j = 0; j < 64; j++)
				dot += (cb[a * 64 + j] == cb[b * 64 + j]) ? 1 : -1;
			assert_int_equal(dot, a == b ? 64 : 0);
		}
	for (int u = 0; u < 4; u++) {
		char kv[64];
		snprintf(kv, sizeof kv, "bits=64,users=4,user=%d", u);
		keygen(&other, &m, kv, 8);
		tl_assert_same_array(&key, &other, "deepmarks.codes");
		verify(&other, &m, &v);
		printf("deepmarks users=4 copy of user 2, key of user %d: z %.2f p %.3g BER %.3f\n",
		       u, v.aux, v.pvalue, v.metric);
		assert_int_equal(v.detected, 1);
		if (u == 2)
			assert_true(v.aux > 8 && v.metric == 0);
		else
			assert_true(fabs(v.aux) < 4);
		npz_free(&other);
	}
	nn_free(&m);
	npz_free(&key);
}

static void test_bad_params(void **state)
{
	(void)state;
	tl_expect_check_error(dm, "mlp", "bits=257",
			      "deepmarks: parameter 'bits' = 257 is more than half of layer 'fc2' "
			      "(M = 512 weights per output unit); expected an integer in [1, 256]");
	tl_expect_check_error(dm, "lenet5", "bits=76", "layer 'conv2' (M = 150");
	tl_expect_check_error(dm, "lenet5", "bits=20,layer=conv1",
			      "layer 'conv1' (M = 25 weights per output unit); expected an integer "
			      "in [1, 12]");
	tl_expect_check_error(dm, "mlp", "layer=conv7", "'layer' = 'conv7'");
	tl_expect_check_error(dm, "mlp", "users=4,user=4",
			      "parameter 'user' = 4 is not one of the 4 users; expected an integer "
			      "in [0, 3]");
	tl_expect_check_error(dm, "mlp", "users=3,bits=30", "multiple of 4");
	tl_expect_check_error(dm, "lenet5", "users=100,user=0",
			      "parameter 'users' = 100 needs codes of at least 128 bits, but layer "
			      "'conv2' (M = 150) holds at most 75; expected users in [1, 64]");
	tl_expect_check_error(dm, "mlp", "bits=0", "parameter 'bits' = '0' is out of range");
	tl_expect_check_error(dm, "mlp", "gamma=-1", "parameter 'gamma' = '-1' is out of range");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_params),	   cmocka_unit_test(test_gradient),
	    cmocka_unit_test(test_deterministic),  cmocka_unit_test(test_embed_detect),
	    cmocka_unit_test(test_null),	   cmocka_unit_test(test_users),
	    cmocka_unit_test(test_rows_same_bits),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
