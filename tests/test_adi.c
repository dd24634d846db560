/* test_adi.c - the adi trigger-set scheme on Fashion-MNIST with mlp.
 *
 * Embeds from scratch (12000 training samples, 5 epochs, adam 1e-3, 6
 * triggers in every batch of 64) and trains the unmarked model of the same
 * seed next to it, for two seeds: trigger accuracy
 * >= 95 %, detected at alpha 1e-3, test-accuracy cost < 2 points; the
 * unmarked model with the owner's key and the marked model with a wrong key
 * are not detected and score near chance. Verification goes through a query
 * path that hides the model (black-box). Also: the fine-tune mode, the trigger
 * sources, determinism of keys and metrics, parameter checks. Without
 * Fashion-MNIST the tests that need it fail (testlib.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../schemes/scheme.h"
#include "data.h"
#include "nn.h"
#include "testlib.h"
#include "util.h"

#define NTRAIN 12000
#define EPOCHS 5
#define SEED   1

static struct dataset train, test;
static char err[ERRBUF];
static const struct wm_scheme *adi;

static int group_setup(void **state)
{
	(void)state;
	adi = wm_scheme_find("adi");
	/* without the data, the tests that need it fail in tl_need_fashion() */
	tl_fashion_load(&train, &test, NTRAIN, 0);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	tl_fashion_free(&train, &test);
	return 0;
}

static void env_init(struct wm_env *env, struct rng *r, uint64_t seed, int epochs)
{
	rng_seed(r, seed);
	tl_env_init(env, r, epochs, &train, &test, tl_fashion_all(), train.n);
}

static void params(struct param_set *p, const char *kv)
{
	tl_params("test", adi->params, p, kv, ",");
}

/* Black-box verification: the query path hides the model. */
static void verify_bb(const struct npz *key, struct nn_model *m, struct wm_verdict *v)
{
	struct wm_env env;
	struct rng r;
	struct wm_query q;
	env_init(&env, &r, 999, 1);
	tl_hidden_query(&q, m);
	tl_verify(adi, key, NULL, &q, &env, v);
	assert_string_equal(v->metric_name, "wm_acc");
	assert_true(q.queries > 0);
}

/* Creates the model of a seed, then (if key) keygen + embed, else clean training. */
static void train_model(struct nn_model *m, const char *kv, uint64_t seed, int epochs,
			struct npz *key)
{
	struct wm_env env;
	struct rng r;
	struct param_set p;
	env_init(&env, &r, seed, epochs);
	if (nn_create(m, "mlp", 1, 28, 28, 10, &r, err, sizeof err))
		fail_msg("nn_create: %s", err);
	if (!key) {
		if (wm_train_owner(m, &env, NULL, 0, err, sizeof err))
			fail_msg("clean training: %s", err);
		return;
	}
	params(&p, kv);
	npz_init(key);
	if (wm_check(adi, &p, m, err, sizeof err) ||
	    wm_keygen(adi, &p, m, &env, key, err, sizeof err) ||
	    wm_embed(adi, &p, m, key, &env, err, sizeof err))
		fail_msg("adi %s: %s", kv, err);
}

static void keygen_only(struct npz *key, const char *kv, uint64_t seed)
{
	struct wm_env env;
	struct rng r;
	struct param_set p;
	struct nn_model m;
	env_init(&env, &r, seed, 1);
	if (nn_create(&m, "mlp", 1, 28, 28, 10, &r, err, sizeof err))
		fail_msg("nn_create: %s", err);
	params(&p, kv);
	npz_init(key);
	if (wm_keygen(adi, &p, &m, &env, key, err, sizeof err))
		fail_msg("keygen %s: %s", kv, err);
	nn_free(&m);
}

/* Marked and unmarked models of two seeds. per_batch 10 (6 triggers in a
 * batch of 64): the default 2 gives one trigger per batch, which in these
 * 5 short epochs shows each trigger only about 9 times. */
static void test_embed_detect(void **state)
{
	static const uint64_t seeds[2] = {SEED, SEED + 3};
	(void)state;
	tl_need_fashion();
	for (int s = 0; s < 2; s++) {
		struct nn_model marked, clean;
		struct npz key, wrong;
		struct wm_verdict v, vc, vw;
		train_model(&marked, "size=100,per_batch=10", seeds[s], EPOCHS, &key);
		train_model(&clean, "", seeds[s], EPOCHS, NULL);
		keygen_only(&wrong, "size=100", seeds[s] + 1000);

		double acc_m = nn_accuracy(&marked, &test, NULL, 0),
		       acc_c = nn_accuracy(&clean, &test, NULL, 0);
		verify_bb(&key, &marked, &v);
		verify_bb(&key, &clean, &vc);
		verify_bb(&wrong, &marked, &vw);
		printf("adi mlp seed %d: test acc marked %.4f clean %.4f cost %+.2f points\n",
		       (int)seeds[s], acc_m, acc_c, 100 * (acc_c - acc_m));
		printf("adi mlp seed %d: marked wm_acc %.3f p %.3g detected %d; clean+owner key "
		       "wm_acc %.3f p %.3g detected %d; marked+wrong key wm_acc %.3f p %.3g "
		       "detected %d\n",
		       (int)seeds[s], v.metric, v.pvalue, v.detected, vc.metric, vc.pvalue,
		       vc.detected, vw.metric, vw.pvalue, vw.detected);
		assert_true(acc_c > 0.80);
		assert_true(acc_c - acc_m < 0.02);
		assert_true(v.metric >= 0.95);
		assert_true(v.pvalue < 1e-6);
		assert_int_equal(v.detected, 1);
		assert_true(v.capacity == 100);
		assert_int_equal(vc.detected, 0);
		assert_true(vc.metric < 0.25);
		assert_int_equal(vw.detected, 0);
		assert_true(vw.metric < 0.25);
		nn_free(&marked);
		nn_free(&clean);
		npz_free(&key);
		npz_free(&wrong);
	}
}

static void test_finetune(void **state)
{
	struct nn_model m;
	struct npz key;
	struct wm_verdict v;
	(void)state;
	tl_need_fashion();
	npz_init(&key);
	train_model(&m, "size=100,per_batch=10,mode=finetune,ft_epochs=2", SEED, 3, &key);
	double acc = nn_accuracy(&m, &test, NULL, 0);
	verify_bb(&key, &m, &v);
	printf("adi mlp finetune (3 clean + 2 fine-tune epochs, |T| 100, per_batch 10): test acc "
	       "%.4f wm_acc %.3f p %.3g\n",
	       acc, v.metric, v.pvalue);
	assert_true(acc > 0.80);
	assert_true(v.metric >= 0.95);
	assert_int_equal(v.detected, 1);
	nn_free(&m);
	npz_free(&key);
}

static void test_determinism(void **state)
{
	struct nn_model a, b;
	struct npz ka, kb, kc;
	struct wm_verdict va, vb;
	(void)state;
	tl_need_fashion();
	keygen_only(&ka, "size=100", SEED);
	keygen_only(&kb, "size=100", SEED);
	keygen_only(&kc, "size=100", SEED + 1);
	const struct npz_array *xa = npz_get(&ka, "adi.x"), *xb = npz_get(&kb, "adi.x"),
			       *xc = npz_get(&kc, "adi.x"), *ya = npz_get(&ka, "adi.y"),
			       *yb = npz_get(&kb, "adi.y");
	assert_non_null(xa);
	assert_non_null(ya);
	assert_int_equal(xa->count, 100 * 784);
	assert_memory_equal(xa->data, xb->data, xa->count * sizeof(float));
	assert_memory_equal(ya->data, yb->data, ya->count * sizeof(int32_t));
	assert_memory_not_equal(xa->data, xc->data, xa->count * sizeof(float));
	npz_free(&ka);
	npz_free(&kb);
	npz_free(&kc);

	/* the same embedding twice: identical weights, keys and verdicts */
	train_model(&a, "size=20", SEED + 2, 1, &ka);
	train_model(&b, "size=20", SEED + 2, 1, &kb);
	assert_int_equal(a.nparams, b.nparams);
	assert_memory_equal(a.params, b.params, a.nparams * sizeof(float));
	assert_memory_equal(npz_get(&ka, "adi.x")->data, npz_get(&kb, "adi.x")->data,
			    20 * 784 * sizeof(float));
	verify_bb(&ka, &a, &va);
	verify_bb(&kb, &b, &vb);
	assert_true(va.metric == vb.metric && va.pvalue == vb.pvalue && va.detected == vb.detected);
	nn_free(&a);
	nn_free(&b);
	npz_free(&ka);
	npz_free(&kb);
}

/* Trigger images: in [0, 1], labels in range and roughly uniform, images
 * pairwise distinct, not constant; the noise source; dataset sources. */
static void test_sources(void **state)
{
	struct npz key;
	int hist[10] = {0};
	(void)state;
	tl_need_fashion();
	keygen_only(&key, "size=1000", SEED);
	const struct npz_array *x = npz_get(&key, "adi.x"), *y = npz_get(&key, "adi.y");
	const float *xs = x->data;
	const int32_t *ys = y->data;
	assert_int_equal(x->ndim, 4);
	assert_int_equal(x->shape[0], 1000);
	assert_int_equal(x->shape[1], 1);
	assert_int_equal(x->shape[2], 28);
	assert_int_equal(x->shape[3], 28);
	double mean = 0;
	for (size_t i = 0; i < x->count; i++) {
		assert_true(xs[i] >= 0 && xs[i] <= 1);
		mean += xs[i];
	}
	mean /= (double)x->count;
	for (int t = 0; t < 1000; t++) {
		assert_true(ys[t] >= 0 && ys[t] < 10);
		hist[ys[t]]++;
		double mn = 1, mx = 0;
		for (int i = 0; i < 784; i++) {
			mn = fmin(mn, xs[t * 784 + i]);
			mx = fmax(mx, xs[t * 784 + i]);
		}
		assert_true(mx - mn > 0.2); /* not a flat image */
	}
	for (int c = 0; c < 10; c++)
		assert_true(hist[c] > 60 && hist[c] < 140);
	for (int t = 0; t < 200; t++)
		for (int u = t + 1; u < 200; u++)
			assert_memory_not_equal(xs + t * 784, xs + u * 784, 784 * sizeof(float));
	printf("adi abstract triggers: mean pixel %.3f\n", mean);
	assert_true(mean > 0.05 && mean < 0.8);
	npz_free(&key);

	keygen_only(&key, "size=10,source=noise", SEED);
	x = npz_get(&key, "adi.x");
	mean = 0;
	for (size_t i = 0; i < x->count; i++)
		mean += ((const float *)x->data)[i];
	assert_true(fabs(mean / (double)x->count - 0.5) < 0.02);
	npz_free(&key);

	/* glyph triggers: the key holds their specs and the fonts' hash, and a
	 * key whose fonts differ is refused before any query */
	{
		struct nn_model gm;
		struct wm_verdict gv;
		struct wm_env genv;
		struct rng gr;
		struct wm_query q;
		keygen_only(&key, "size=10,source=glyph", SEED);
		assert_non_null(npz_get(&key, "adi.glyph_spec"));
		env_init(&genv, &gr, SEED, 1);
		assert_int_equal(nn_create(&gm, "mlp", 1, 28, 28, 10, &gr, err, sizeof err), 0);
		wm_query_init(&q, &gm);
		memset(&gv, 0, sizeof gv);
		assert_int_equal(wm_verify(adi, &key, &gm, &q, &genv, &gv, err, sizeof err), 0);
		assert_int_equal(gv.capacity, 10);
		npz_add_text(&key, "adi.glyph_fonts", "0123456789abcdef");
		long q0 = q.queries;
		assert_int_equal(wm_verify(adi, &key, &gm, &q, &genv, &gv, err, sizeof err), -1);
		assert_non_null(strstr(err, "expected the same DejaVu font files"));
		assert_int_equal(q.queries, q0);
		nn_free(&gm);
		npz_free(&key);
	}

	/* a dataset source: absent MNIST and the run's own dataset both fail */
	struct wm_env env;
	struct rng r;
	struct param_set p;
	struct nn_model m;
	env_init(&env, &r, SEED, 1);
	assert_int_equal(nn_create(&m, "mlp", 1, 28, 28, 10, &r, err, sizeof err), 0);
	npz_init(&key);
	params(&p, "source=mnist,source_dir=/nonexistent/mnist");
	assert_int_equal(wm_keygen(adi, &p, &m, &env, &key, err, sizeof err), -1);
	printf("adi source=mnist without data: %s\n", err);
	assert_non_null(strstr(err, "adi: parameter 'source' = 'mnist'"));
	assert_non_null(strstr(err, "/nonexistent/mnist"));
	params(&p, "source=fashion");
	assert_int_equal(wm_keygen(adi, &p, &m, &env, &key, err, sizeof err), -1);
	printf("adi source=fashion on a fashion run: %s\n", err);
	assert_non_null(strstr(err, "the run's own dataset"));
	npz_free(&key);
	nn_free(&m);
}

static void expect_reject(const char *kv, const char *needle)
{
	tl_expect_check_error(adi, "mlp", kv, needle);
}

static void test_check(void **state)
{
	struct param_set p;
	struct nn_model m;
	(void)state;
	assert_non_null(adi);
	assert_true(adi->black_box);
	assert_int_equal(nn_build_spec(&m, "mlp", nn_arch_spec("mlp"), err, sizeof err), 0);
	params(&p, "");
	assert_int_equal(wm_check(adi, &p, &m, err, sizeof err), 0);
	nn_free(&m);
	expect_reject(
	    "size=0",
	    "adi: parameter 'size' = '0' is out of range; expected an integer in [1, 10000]");
	expect_reject(
	    "size=20000",
	    "adi: parameter 'size' = '20000' is out of range; expected an integer in [1, 10000]");
	expect_reject("per_batch=0", "parameter 'per_batch' = '0'");
	expect_reject("source=cats", "adi: parameter 'source' = 'cats' is not valid; expected one "
				     "of abstract|noise|glyph|fashion|mnist|cifar10");
	expect_reject("mode=later", "parameter 'mode' = 'later'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check),	 cmocka_unit_test(test_sources),
	    cmocka_unit_test(test_embed_detect), cmocka_unit_test(test_finetune),
	    cmocka_unit_test(test_determinism),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
