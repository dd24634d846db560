/* test_uchida.c - the uchida scheme on Fashion-MNIST mlp: embeds with BER 0 at a
 * small accuracy cost, wrong keys and unmarked models are not detected, capacity
 * fails at T >= 3M, determinism, and bad parameters are refused before training. */
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

static struct dataset train, test;
static uint32_t *owner, *attacker;
static int n_owner, n_attacker;
static const struct wm_scheme *uchida;
static char err[ERRBUF];

static int setup(void **state)
{
	(void)state;
	if (tl_fashion_load(&train, &test, 9000, 0))
		return -1;
	data_split(train.n, 11, 1.0 / 3, &owner, &n_owner, &attacker, &n_attacker);
	uchida = wm_scheme_find("uchida");
	return uchida ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(owner);
	free(attacker);
	tl_fashion_free(&train, &test);
	return 0;
}

static void env_init(struct wm_env *env, struct rng *r, uint64_t seed, int epochs)
{
	rng_seed(r, seed);
	tl_env_init(env, r, epochs, &train, &test, owner, n_owner);
	env->attacker_idx = attacker;
	env->n_attacker = n_attacker;
}

static void params(struct param_set *p, const char *kv)
{
	tl_params("test", uchida->params, p, kv, ",");
}

/* Trains a model of `arch` from `seed`: marked with kv (key filled) or clean. */
static void make_model(struct nn_model *m, const char *arch, const char *kv, uint64_t seed,
		       int epochs, struct npz *key)
{
	struct wm_env env;
	struct rng r, kr;
	struct param_set p;
	/* as the pipeline does: init and training from the seed's stream, the key
	 * from another, so marked and clean models of a seed are paired */
	env_init(&env, &r, seed, epochs);
	rng_seed(&kr, seed + 1000);
	if (nn_create(m, arch, 1, 28, 28, 10, &r, err, sizeof err))
		fail_msg("%s", err);
	npz_init(key);
	if (!kv) {
		if (wm_train_owner(m, &env, NULL, 0, err, sizeof err))
			fail_msg("%s", err);
		return;
	}
	params(&p, kv);
	env.rng = &kr;
	if (wm_check(uchida, &p, m, err, sizeof err) ||
	    wm_keygen(uchida, &p, m, &env, key, err, sizeof err))
		fail_msg("uchida %s: %s", kv, err);
	env.rng = &r;
	if (wm_embed(uchida, &p, m, key, &env, err, sizeof err))
		fail_msg("uchida %s: %s", kv, err);
}

static void verify(const struct npz *key, struct nn_model *m, struct wm_verdict *v)
{
	struct wm_env env;
	struct rng r;
	struct wm_query q;
	env_init(&env, &r, 0, 1);
	wm_query_init(&q, m);
	tl_verify(uchida, key, m, &q, &env, v);
}

static void test_embed_detect(void **state)
{
	struct nn_model marked, clean, other;
	struct npz key, nokey, key2;
	struct wm_verdict v;
	(void)state;
	make_model(&marked, "mlp", "bits=64", 5, 2, &key);
	make_model(&clean, "mlp", NULL, 5, 2, &nokey);
	double am = nn_accuracy(&marked, &test, NULL, 0), ac = nn_accuracy(&clean, &test, NULL, 0);
	verify(&key, &marked, &v);
	printf("uchida mlp fc2 64 bits: acc %.4f (unmarked same seed %.4f, cost %.2f points), BER "
	       "%.4f, p %.3g\n",
	       am, ac, 100 * (ac - am), v.metric, v.pvalue);
	assert_string_equal(v.metric_name, "ber");
	assert_true(v.metric == 0.0);
	assert_int_equal(v.detected, 1);
	assert_true(v.pvalue < 1e-15);
	assert_true(ac - am < 0.02);
	/* the unmarked model with the owner's key */
	verify(&key, &clean, &v);
	printf("unmarked + owner's key: BER %.4f p %.3g detected %d\n", v.metric, v.pvalue,
	       v.detected);
	assert_int_equal(v.detected, 0);
	assert_true(v.metric > 0.25 && v.metric < 0.75);
	/* the marked model with another key of the same shape */
	make_model(&other, "mlp", "bits=64", 6, 1, &key2);
	verify(&key2, &marked, &v);
	printf("marked + wrong key: BER %.4f p %.3g detected %d\n", v.metric, v.pvalue, v.detected);
	assert_int_equal(v.detected, 0);
	assert_true(v.metric > 0.25 && v.metric < 0.75);
	nn_free(&marked);
	nn_free(&clean);
	nn_free(&other);
	npz_free(&key);
	npz_free(&nokey);
	npz_free(&key2);
}

/* Random sign constraints on M weights are satisfiable up to about 2M bits:
 * lenet5 conv2 has M = 6*5*5 = 150; T = 64 embeds, T = 450 = 3M does not. */
static void test_capacity(void **state)
{
	struct nn_model a, b;
	struct npz ka, kb;
	struct wm_verdict va, vb;
	(void)state;
	make_model(&a, "lenet5", "bits=64,layer=conv2,lambda=0.1", 7, 3, &ka);
	make_model(&b, "lenet5", "bits=450,layer=conv2,lambda=0.1", 7, 3, &kb);
	verify(&ka, &a, &va);
	verify(&kb, &b, &vb);
	printf("uchida lenet5 conv2 (M = 150): T = 64 BER %.4f; T = 450 (3M) BER %.4f (p %.3g)\n",
	       va.metric, vb.metric, vb.pvalue);
	assert_true(va.metric == 0.0);
	assert_true(vb.metric > 0.02);
	nn_free(&a);
	nn_free(&b);
	npz_free(&ka);
	npz_free(&kb);
}

static void test_key_types(void **state)
{
	static const char *const kinds[] = {"bits=64,keytype=direct,lambda=0.05",
					    "bits=64,keytype=diff,lambda=0.05"};
	(void)state;
	for (int i = 0; i < 2; i++) {
		struct nn_model m;
		struct npz key;
		struct wm_verdict v;
		make_model(&m, "mlp", kinds[i], 8, 2, &key);
		verify(&key, &m, &v);
		printf("uchida %s: BER %.4f detected %d\n", kinds[i], v.metric, v.detected);
		assert_true(v.metric == 0.0);
		assert_int_equal(v.detected, 1);
		nn_free(&m);
		npz_free(&key);
	}
}

static void test_deterministic(void **state)
{
	struct nn_model a, b;
	struct npz ka, kb;
	struct wm_verdict va, vb;
	(void)state;
	make_model(&a, "mlp", "bits=32", 9, 1, &ka);
	make_model(&b, "mlp", "bits=32", 9, 1, &kb);
	const struct npz_array *xa = npz_get(&ka, "uchida.X"), *xb = npz_get(&kb, "uchida.X");
	assert_non_null(xa);
	assert_memory_equal(xa->data, xb->data, xa->count * sizeof(float));
	assert_memory_equal(npz_get(&ka, "uchida.b")->data, npz_get(&kb, "uchida.b")->data, 32);
	assert_memory_equal(a.params, b.params, a.nparams * sizeof(float));
	verify(&ka, &a, &va);
	verify(&kb, &b, &vb);
	assert_true(va.metric == vb.metric && va.pvalue == vb.pvalue);
	nn_free(&a);
	nn_free(&b);
	npz_free(&ka);
	npz_free(&kb);
}

static void test_bad_params(void **state)
{
	struct nn_model m;
	struct param_set p;
	struct rng r;
	(void)state;
	rng_seed(&r, 1);
	assert_int_equal(nn_create(&m, "mlp", 1, 28, 28, 10, &r, err, sizeof err), 0);
	params(&p, "bits=300000");
	assert_int_equal(wm_check(uchida, &p, &m, err, sizeof err), -1);
	assert_non_null(strstr(err, "'bits' = 300000"));
	assert_non_null(strstr(err, "expected an integer in [1, 262144]"));
	params(&p, "layer=conv7");
	assert_int_equal(wm_check(uchida, &p, &m, err, sizeof err), -1);
	assert_non_null(strstr(err, "'layer' = 'conv7'"));
	assert_non_null(strstr(err, "fc1, fc2, fc3"));
	params(&p, "bits=600,keytype=direct");
	assert_int_equal(wm_check(uchida, &p, &m, err, sizeof err), -1);
	assert_non_null(strstr(err, "expected an integer in [1, 512]"));
	nn_free(&m);
}

/* Verification's projections X_t . w (computed side by side over rows t)
 * agree with the plain loop of one row at a time: the same bit errors, on
 * random models and keys whose T is and is not a multiple of 8. */
static void test_projection(void **state)
{
	(void)state;
	static const char *const archs[] = {"mlp", "lenet5"};
	static const int bits[] = {13, 64, 71, 5};
	for (int a = 0; a < 2; a++)
		for (int k = 0; k < 4; k++) {
			struct nn_model m;
			struct npz key;
			struct wm_env env;
			struct rng r;
			struct param_set p;
			struct wm_verdict v;
			char kv[64];
			env_init(&env, &r, 40 + (uint64_t)k, 1);
			if (nn_create(&m, archs[a], 1, 28, 28, 10, &r, err, sizeof err))
				fail_msg("%s", err);
			snprintf(kv, sizeof kv, "bits=%d", bits[k]);
			params(&p, kv);
			npz_init(&key);
			if (wm_check(uchida, &p, &m, err, sizeof err) ||
			    wm_keygen(uchida, &p, &m, &env, &key, err, sizeof err))
				fail_msg("uchida %s: %s", kv, err);
			verify(&key, &m, &v);
			const struct npz_array *X = npz_get(&key, "uchida.X"),
					       *b = npz_get(&key, "uchida.b");
			const struct nn_layer *l =
			    &m.layers[nn_find_layer(&m, a ? "conv2" : "fc2")];
			int T = (int)X->shape[0], M = (int)X->shape[1], OC = l->out_c, errors = 0;
			const float *W = m.params + l->w_off, *Xf = X->data;
			const uint8_t *bb = b->data;
			assert_int_equal(M, (int)(l->w_n / OC));
			double *w = calloc((size_t)M, sizeof *w);
			for (int o = 0; o < OC; o++)
				for (int j = 0; j < M; j++)
					w[j] += W[(size_t)o * M + j];
			for (int j = 0; j < M; j++)
				w[j] /= OC;
			for (int t = 0; t < T; t++) {
				double z = 0;
				for (int j = 0; j < M; j++)
					z += Xf[(size_t)t * M + j] * w[j];
				errors += (z >= 0) != (bb[t] != 0);
			}
			printf("%s T=%d: %d bit errors, verify's BER %.4f\n", archs[a], T, errors,
			       v.metric);
			assert_int_equal(T, bits[k]);
			assert_true(v.metric == (double)errors / T);
			free(w);
			npz_free(&key);
			nn_free(&m);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_embed_detect), cmocka_unit_test(test_capacity),
	    cmocka_unit_test(test_key_types),	 cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_bad_params),	 cmocka_unit_test(test_projection),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
