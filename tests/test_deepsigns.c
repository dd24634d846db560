/* test_deepsigns.c - the DeepSigns schemes on real Fashion-MNIST (mlp, a
 * training subset, 2 epochs): white-box deepsigns embeds with BER 0 and is
 * detected at a small accuracy cost, a wrong key and an unmarked model are
 * not detected, the same seed gives the same key and metrics, bad parameters
 * fail in check(); black-box deepsigns-bb reaches trigger accuracy >= 95 %
 * through the query path only, is not detected on an unmarked model or with
 * a wrong key, and its p-value bounds the chance of any unmarked model that
 * answers the key images independently of their labels, however skewed the
 * kept labels are (the paper's Binomial(K, 1/C) does not). */
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
#include "data.h"
#include "nn.h"
#include "testlib.h"
#include "util.h"

#define NTRAIN 8000
#define EPOCHS 2

double wm_deepsigns_bb_pvalue(const int32_t *y, int K, int C, int matches); /* deepsigns_bb.c */

static struct dataset train, test;
static struct nn_model clean; /* unmarked, seed 1 */
static double clean_acc;
static char err[ERRBUF];

static void env_init(struct wm_env *env, struct rng *r)
{
	tl_env_init(env, r, EPOCHS, &train, &test, tl_fashion_all(), train.n);
}

static void params(const struct wm_scheme *s, struct param_set *ps, const char *kv)
{
	tl_params(s->name, s->params, ps, kv, ",");
}

static void verify(const struct wm_scheme *s, const struct npz *key, struct nn_model *m,
		   struct wm_verdict *v)
{
	struct rng r;
	struct wm_env env;
	struct wm_query q;
	rng_seed(&r, 99);
	env_init(&env, &r);
	wm_query_init(&q, m);
	tl_verify(s, key, m, &q, &env, v);
}

/* What a job does: a fresh model from seed, check, keygen, embed (with the
 * job's one RNG), then verify. Returns the test accuracy. */
static double embed(const char *scheme, const char *kv, uint64_t seed, struct nn_model *m,
		    struct npz *key, struct wm_verdict *v)
{
	const struct wm_scheme *s = wm_scheme_find(scheme);
	struct param_set ps;
	struct wm_env env;
	struct rng r;
	assert_non_null(s);
	params(s, &ps, kv);
	rng_seed(&r, seed);
	env_init(&env, &r);
	npz_init(key);
	assert_int_equal(nn_create(m, "mlp", 1, 28, 28, 10, &r, err, sizeof err), 0);
	int rc = wm_check(s, &ps, m, err, sizeof err) ||
		 wm_keygen(s, &ps, m, &env, key, err, sizeof err) ||
		 wm_embed(s, &ps, m, key, &env, err, sizeof err);
	if (rc)
		fprintf(stderr, "%s\n", err);
	assert_int_equal(rc, 0);
	if (v)
		verify(s, key, m, v);
	return nn_accuracy(m, &test, NULL, 0);
}

static int setup(void **state)
{
	(void)state;
	return tl_fashion_load(&train, &test, NTRAIN, 0);
}

static int teardown(void **state)
{
	(void)state;
	if (clean.nlayers)
		nn_free(&clean);
	tl_fashion_free(&train, &test);
	return 0;
}

/* the unmarked model of seed 1, trained once */
static void need_clean(void)
{
	struct npz key;
	if (clean.nlayers)
		return;
	clean_acc = embed("none", NULL, 1, &clean, &key, NULL);
	npz_free(&key);
	printf("unmarked mlp, seed 1: test accuracy %.4f\n", clean_acc);
}

static void test_deepsigns_embeds(void **state)
{
	const struct wm_scheme *s = wm_scheme_find("deepsigns");
	struct nn_model m, other;
	struct npz key, wrong;
	struct wm_verdict v;
	struct param_set ps;
	struct wm_env env;
	struct rng r;
	char layer[NN_NAMELEN];
	(void)state;

	need_clean();
	double t0 = now_seconds();
	double acc = embed("deepsigns", NULL, 1, &m, &key, &v);
	printf("deepsigns (32 bits, relu after fc2): test accuracy %.4f (unmarked %.4f, cost "
	       "%+.4f), BER %.4f, p %.3g (%.1f s)\n",
	       acc, clean_acc, clean_acc - acc, v.metric, v.pvalue, now_seconds() - t0);
	assert_string_equal(v.metric_name, "ber");
	assert_true(v.metric == 0.0);
	assert_true(v.detected);
	assert_true(v.pvalue < 1e-9);
	assert_true(v.capacity == 32);
	assert_true(clean_acc - acc < 0.02);
	assert_true(acc > 0.75);
	assert_int_equal(npz_get_text(&key, "layer", layer, sizeof layer), 0);
	assert_string_equal(layer, "fc2");
	assert_string_equal(s->marked_layer(&key), "fc2");
	assert_int_equal(npz_get(&key, "deepsigns.A")->shape[0], 512);
	assert_int_equal(npz_get(&key, "deepsigns.A")->shape[1], 32);
	assert_int_equal(npz_get(&key, "deepsigns.key_idx")->count, 100);

	/* an unmarked model with the owner's key */
	verify(s, &key, &clean, &v);
	printf("deepsigns, unmarked model with the owner's key: BER %.4f, p %.3g\n", v.metric,
	       v.pvalue);
	assert_false(v.detected);
	assert_true(v.metric >= 0.2 && v.metric <= 0.8);

	/* the marked model with a wrong key (another seed's keygen) */
	params(s, &ps, NULL);
	rng_seed(&r, 2);
	env_init(&env, &r);
	npz_init(&wrong);
	assert_int_equal(nn_create(&other, "mlp", 1, 28, 28, 10, &r, err, sizeof err), 0);
	assert_int_equal(wm_keygen(s, &ps, &other, &env, &wrong, err, sizeof err), 0);
	verify(s, &wrong, &m, &v);
	printf("deepsigns, marked model with a wrong key: BER %.4f, p %.3g\n", v.metric, v.pvalue);
	assert_false(v.detected);
	assert_true(v.metric >= 0.2 && v.metric <= 0.8);

	/* verify reads the key images from the training set: another set is refused */
	struct dataset *tr = &train;
	int32_t *ki = npz_get(&key, "deepsigns.key_idx")->data;
	uint8_t keep = tr->y[ki[0]];
	tr->y[ki[0]] = (uint8_t)((keep + 1) % 10);
	struct wm_query q;
	wm_query_init(&q, &m);
	env_init(&env, &r);
	assert_int_equal(wm_verify(s, &key, &m, &q, &env, &v, err, sizeof err), -1);
	assert_non_null(strstr(err, "not an image of class 0"));
	tr->y[ki[0]] = keep;

	nn_free(&other);
	nn_free(&m);
	npz_free(&key);
	npz_free(&wrong);
}

static void test_deepsigns_deterministic(void **state)
{
	struct nn_model m1, m2;
	struct npz k1, k2;
	struct wm_verdict v1, v2;
	(void)state;
	double a1 = embed("deepsigns", "bits=64", 7, &m1, &k1, &v1);
	double a2 = embed("deepsigns", "bits=64", 7, &m2, &k2, &v2);
	printf("deepsigns (64 bits, seed 7) twice: accuracy %.4f / %.4f, BER %.4f / %.4f\n", a1, a2,
	       v1.metric, v2.metric);
	tl_assert_same_array(&k1, &k2, "deepsigns.A");
	tl_assert_same_array(&k1, &k2, "deepsigns.b");
	tl_assert_same_array(&k1, &k2, "deepsigns.key_idx");
	tl_assert_same_array(&k1, &k2, "params");
	assert_true(a1 == a2);
	assert_true(v1.metric == v2.metric && v1.pvalue == v2.pvalue);
	assert_memory_equal(m1.params, m2.params, m1.nparams * sizeof(float));
	assert_true(v1.detected);
	nn_free(&m1);
	nn_free(&m2);
	npz_free(&k1);
	npz_free(&k2);
}

/* check() (before any training) and the parameter table */
static void test_deepsigns_bad_params(void **state)
{
	const struct wm_scheme *s = wm_scheme_find("deepsigns");
	struct nn_model m, lenet;
	struct param_set ps;
	struct wm_env env;
	struct npz key;
	struct rng r;
	char canon[PARAM_VALLEN], layer[NN_NAMELEN];
	(void)state;

	rng_seed(&r, 3);
	assert_int_equal(nn_create(&m, "mlp", 1, 28, 28, 10, &r, err, sizeof err), 0);
	params(s, &ps, "target=10");
	assert_int_equal(wm_check(s, &ps, &m, err, sizeof err), -1);
	printf("%s\n", err);
	assert_non_null(strstr(err, "deepsigns: parameter 'target' = 10"));
	assert_non_null(strstr(err, "[0, 9]"));

	params(s, &ps, "layer=fc9");
	assert_int_equal(wm_check(s, &ps, &m, err, sizeof err), -1);
	printf("%s\n", err);
	assert_non_null(strstr(err, "parameter 'layer' = 'fc9'"));
	assert_non_null(strstr(err, "fc1, fc2"));
	params(s, &ps, "layer=fc3"); /* the output layer has no ReLU to mark */
	assert_int_equal(wm_check(s, &ps, &m, err, sizeof err), -1);
	assert_non_null(strstr(err, "'fc3'"));
	params(s, &ps, "layer=fc1");
	assert_int_equal(wm_check(s, &ps, &m, err, sizeof err), 0);

	/* bits: the table caps N (any N >= 1 projects an M-wide centre) */
	assert_int_equal(param_check("deepsigns", s->params, "bits", "5000", canon, sizeof canon,
				     err, sizeof err),
			 -1);
	printf("%s\n", err);
	assert_non_null(strstr(err, "'bits' = '5000'"));
	assert_non_null(strstr(err, "[1, 4096]"));
	assert_int_equal(
	    param_check("deepsigns", s->params, "bits", "0", canon, sizeof canon, err, sizeof err),
	    -1);
	params(s, &ps, "bits=4097");
	assert_int_equal(wm_check(s, &ps, &m, err, sizeof err), -1);
	assert_non_null(strstr(err, "'bits' = '4097' is out of range")); /* the table's check */

	/* more key images than the owner holds of the target class */
	params(s, &ps, "nkeys=5000");
	env_init(&env, &r);
	npz_init(&key);
	assert_int_equal(wm_keygen(s, &ps, &m, &env, &key, err, sizeof err), -1);
	printf("%s\n", err);
	assert_non_null(strstr(err, "'nkeys' = 5000"));
	npz_free(&key);

	/* lenet5: auto is the ReLU after fc2 (84 wide); conv layers can be marked */
	assert_int_equal(nn_create(&lenet, "lenet5", 1, 28, 28, 10, &r, err, sizeof err), 0);
	params(s, &ps, NULL);
	npz_init(&key);
	assert_int_equal(wm_keygen(s, &ps, &lenet, &env, &key, err, sizeof err), 0);
	assert_int_equal(npz_get_text(&key, "layer", layer, sizeof layer), 0);
	assert_string_equal(layer, "fc2");
	assert_int_equal(npz_get(&key, "deepsigns.A")->shape[0], 84);
	npz_free(&key);
	params(s, &ps, "layer=conv2,bits=16");
	npz_init(&key);
	assert_int_equal(wm_keygen(s, &ps, &lenet, &env, &key, err, sizeof err), 0);
	assert_int_equal(npz_get(&key, "deepsigns.A")->shape[0], 16 * 10 * 10);
	npz_free(&key);
	nn_free(&lenet);
	nn_free(&m);
}

/* Extraction reads the marked layer in its own layout: channel-major (C, B,
 * H, W) inside the conv stack, (B, M) after it. Reference: one image at a
 * time (with B = 1 both layouts are PyTorch's (c, h, w) order), mean over the
 * key images, projected on A. A key whose b is that reference reads back with
 * BER 0, and its complement with BER 1. */
static void check_layout(const char *layer)
{
	const struct wm_scheme *s = wm_scheme_find("deepsigns");
	struct param_set ps;
	struct wm_env env;
	struct npz key;
	struct nn_model m;
	struct wm_verdict v;
	struct rng r;
	char kv[64];
	(void)s;
	snprintf(kv, sizeof kv, "layer=%s,bits=48,nkeys=300", layer);
	params(s, &ps, kv);
	rng_seed(&r, 4);
	env_init(&env, &r);
	npz_init(&key);
	assert_int_equal(nn_create(&m, "lenet5", 1, 28, 28, 10, &r, err, sizeof err), 0);
	assert_int_equal(wm_keygen(s, &ps, &m, &env, &key, err, sizeof err), 0);
	int li = nn_find_layer(&m, layer) + 1, M = (int)nn_out_size(&m.layers[li]);
	assert_int_equal(m.layers[li].kind, NN_RELU);
	const struct npz_array *A = npz_get(&key, "deepsigns.A"),
			       *ki = npz_get(&key, "deepsigns.key_idx");
	struct npz_array *b = (struct npz_array *)npz_get(&key, "deepsigns.b");
	int N = (int)A->shape[1];
	assert_int_equal(A->shape[0], M);
	double *mean = xcalloc((size_t)M, sizeof(double));
	float x[784];
	for (size_t i = 0; i < ki->count; i++) {
		uint32_t k = (uint32_t)((const int32_t *)ki->data)[i];
		assert_int_equal(train.y[k], 0);
		nn_fill_batch(train.x, train.y, 784, &k, 1, x, NULL);
		nn_forward(&m, x, 1, 0, NULL);
		for (int j = 0; j < M; j++)
			mean[j] += m.acts[li][j] / (double)ki->count;
	}
	uint8_t *bits = b->data;
	int ones = 0;
	for (int k = 0; k < N; k++) {
		double z = 0;
		for (int j = 0; j < M; j++)
			z += mean[j] * ((const float *)A->data)[(size_t)j * N + k];
		bits[k] = z > 0;
		ones += bits[k];
	}
	verify(s, &key, &m, &v);
	printf("deepsigns extraction on lenet5 %s (M %d, %d of %d reference bits set): BER %.4f\n",
	       layer, M, ones, N, v.metric);
	assert_true(ones > 0 && ones < N); /* a layout error could not hide behind constant bits */
	assert_true(v.metric == 0.0);
	assert_true(v.detected);
	for (int k = 0; k < N; k++)
		bits[k] ^= 1;
	verify(s, &key, &m, &v);
	assert_true(v.metric == 1.0);
	assert_false(v.detected);
	free(mean);
	nn_free(&m);
	npz_free(&key);
}

static void test_deepsigns_layouts(void **state)
{
	(void)state;
	check_layout("conv1");
	check_layout("conv2");
	check_layout("fc1");
}

/* a query path that counts and never lets verify near anything else */
static int counting_predict(struct wm_query *q, const float *x, int n, float *probs)
{
	struct wm_query *in = q->inner;
	q->queries += n;
	return in->predict(in, x, n, probs);
}

static void test_bb_embeds(void **state)
{
	const struct wm_scheme *s = wm_scheme_find("deepsigns-bb");
	struct nn_model m;
	struct npz key, wrong;
	struct wm_verdict v;
	struct wm_query plain, q;
	struct wm_env env;
	struct rng r;
	(void)state;

	need_clean();
	assert_true(s->black_box);
	double t0 = now_seconds();
	double acc = embed("deepsigns-bb", NULL, 1, &m, &key, NULL);
	const struct npz_array *xa = npz_get(&key, "deepsigns_bb.x"),
			       *ya = npz_get(&key, "deepsigns_bb.y");
	assert_non_null(xa);
	assert_non_null(ya);
	assert_int_equal(xa->shape[0], 20);
	assert_int_equal(xa->shape[1] * xa->shape[2] * xa->shape[3], 784);
	assert_int_equal(ya->count, 20);

	/* through the query path only: the model argument is NULL */
	wm_query_init(&plain, &m);
	memset(&q, 0, sizeof q);
	q.predict = counting_predict;
	q.inner = &plain;
	q.nclass = 10;
	rng_seed(&r, 5);
	env_init(&env, &r);
	memset(&v, 0, sizeof v);
	assert_int_equal(wm_verify(s, &key, NULL, &q, &env, &v, err, sizeof err), 0);
	printf("deepsigns-bb (K 20): test accuracy %.4f (unmarked %.4f, cost %+.4f), wm_acc %.4f, "
	       "p %.3g, queries %ld (%.1f s)\n",
	       acc, clean_acc, clean_acc - acc, v.metric, v.pvalue, q.queries, now_seconds() - t0);
	assert_string_equal(v.metric_name, "wm_acc");
	assert_true(v.metric >= 0.95);
	assert_true(v.detected);
	assert_true(v.pvalue < 1e-3);
	assert_int_equal(q.queries, 20);
	assert_true(v.capacity == 20);
	assert_true(clean_acc - acc < 0.02);

	/* an unmarked model with the owner's key */
	verify(s, &key, &clean, &v);
	printf("deepsigns-bb, unmarked model with the owner's key: wm_acc %.4f, p %.3g\n", v.metric,
	       v.pvalue);
	assert_false(v.detected);
	assert_true(v.metric <= 0.35);

	/* the marked model with a wrong key: other noise images, random labels */
	int64_t xs[4] = {20, 1, 28, 28}, ys = 20;
	float *wx = xmalloc(20 * 784 * sizeof(float));
	int32_t wy[20];
	rng_seed(&r, 6);
	for (int i = 0; i < 20 * 784; i++)
		wx[i] = (float)rng_below(&r, 256) / 255.0f;
	for (int i = 0; i < 20; i++)
		wy[i] = (int32_t)rng_below(&r, 10);
	npz_init(&wrong);
	npz_add(&wrong, "deepsigns_bb.x", NPZ_F32, 4, xs, wx);
	npz_add(&wrong, "deepsigns_bb.y", NPZ_I32, 1, &ys, wy);
	wm_key_stamp(&wrong, s->name, &(struct param_set){0}); /* a key records its parameters */
	verify(s, &wrong, &m, &v);
	printf("deepsigns-bb, marked model with a wrong key: wm_acc %.4f, p %.3g\n", v.metric,
	       v.pvalue);
	assert_false(v.detected);
	assert_true(v.metric <= 0.35);
	free(wx);
	npz_free(&wrong);
	nn_free(&m);
	npz_free(&key);
}

/* A query path that answers the key's label on the first 'hits' images and
 * another label on the rest. */
struct fake {
	const int32_t *y;
	int hits;
};

static int fake_predict(struct wm_query *q, const float *x, int n, float *probs)
{
	struct fake *f = q->ctx;
	(void)x;
	for (int i = 0; i < n; i++) {
		int c = i < f->hits ? f->y[i] : (f->y[i] + 1) % q->nclass;
		for (int k = 0; k < q->nclass; k++)
			probs[(size_t)i * q->nclass + k] = k == c ? 0.91f : 0.01f;
	}
	q->queries += n;
	return 0;
}

/* P[S >= m] for S a sum of independent Bernoulli(p[k]), k < K (exact, by
 * the distribution's recursion). */
static double poisson_binom_tail(const double *p, int K, int m)
{
	double f[64] = {1}, t = 0;
	for (int k = 0; k < K; k++)
		for (int s = k + 1; s >= 0; s--)
			f[s] = f[s] * (1 - p[k]) + (s ? f[s - 1] * p[k] : 0);
	for (int s = m; s <= K; s++)
		t += f[s];
	return t;
}

static void test_bb_pvalue(void **state)
{
	const struct wm_scheme *s = wm_scheme_find("deepsigns-bb");
	struct npz key;
	struct wm_query q;
	struct wm_verdict v;
	struct wm_env env;
	struct rng r;
	int32_t y[20];
	double pk[20], qc[10];
	float *x = xcalloc(20 * 784, sizeof(float));
	int64_t xs[4] = {20, 1, 28, 28}, ys = 20;
	struct fake f = {.y = y};
	(void)state;

	/* The seed-2 key: 7 of class 1, 7 of class 6, 4 of class 5, 2 of
	 * class 7. An unmarked model that sends the noise images to class 1 or 6
	 * at random matches each key of those classes with probability 1/2. */
	int32_t skew[20] = {1, 1, 1, 1, 1, 1, 1, 6, 6, 6, 6, 6, 6, 6, 5, 5, 5, 5, 7, 7};
	for (int k = 0; k < 20; k++)
		pk[k] = skew[k] == 1 || skew[k] == 6 ? 0.5 : 0;
	/* the paper's threshold at alpha 1e-3 (theta from Binomial(20, 1/10)) is 8
	 * matches: this model reaches it with probability about 0.4 */
	double chance8 = poisson_binom_tail(pk, 20, 8);
	printf("P[matches >= 8] = %.3f under the two-class model; Binomial(20, 0.1): %.2e\n",
	       chance8, binom_tail(20, 8, 0.1));
	assert_true(chance8 > 0.3 && binom_tail(20, 8, 0.1) < 1e-3);
	for (int m = 0; m <= 20; m++)
		assert_true(wm_deepsigns_bb_pvalue(skew, 20, 10, m) >=
			    poisson_binom_tail(pk, 20, m) - 1e-12);
	assert_true(wm_deepsigns_bb_pvalue(skew, 20, 10, 7) == 1); /* n_max = 7 */

	/* Random label sets and random class distributions q (point masses, two
	 * classes, and spread ones): the bound holds for every q, and it is never
	 * below the uniform model's binomial tail. */
	rng_seed(&r, 12);
	for (int t = 0; t < 3000; t++) {
		int K = 1 + (int)rng_below(&r, 20), C = 2 + (int)rng_below(&r, 9);
		int spread = 1 + (int)rng_below(&r, C); /* labels from the first `spread` classes */
		double tot = 0;
		for (int k = 0; k < K; k++)
			y[k] = (int32_t)rng_below(&r, (uint32_t)spread);
		int kind = t % 3;
		for (int c = 0; c < C; c++) {
			qc[c] = kind == 0   ? c == (int)(t / 3 % C)
				: kind == 1 ? (c < 2 ? rng_uniform(&r) : 0)
					    : -log(rng_uniform(&r) + 1e-12);
			tot += qc[c];
		}
		for (int c = 0; c < C; c++)
			qc[c] = tot > 0 ? qc[c] / tot : 1.0 / C;
		for (int k = 0; k < K; k++)
			pk[k] = qc[y[k]];
		for (int m = 0; m <= K; m++) {
			double b = wm_deepsigns_bb_pvalue(y, K, C, m);
			assert_true(b >= poisson_binom_tail(pk, K, m) - 1e-12);
			assert_true(b >= binom_tail(K, m, 1.0 / C) - 1e-12);
			assert_true(b <= 1);
		}
	}
	/* balanced labels keep the power: 20 keys, 2 per class, all matched */
	for (int k = 0; k < 20; k++)
		y[k] = k % 10;
	assert_true(wm_deepsigns_bb_pvalue(y, 20, 10, 20) < 1e-13);

	/* verify reports that p-value and detects iff it is below alpha */
	npz_init(&key);
	npz_add(&key, "deepsigns_bb.x", NPZ_F32, 4, xs, x);
	npz_add(&key, "deepsigns_bb.y", NPZ_I32, 1, &ys, skew);
	wm_key_stamp(&key, s->name, &(struct param_set){0});
	memcpy(y, skew, sizeof skew);
	memset(&q, 0, sizeof q);
	q.predict = fake_predict;
	q.nclass = 10;
	q.ctx = &f;
	rng_seed(&r, 8);
	env_init(&env, &r);
	double alphas[] = {1e-6, 1e-3, 0.05};
	for (int a = 0; a < 3; a++) {
		env.alpha = alphas[a];
		for (f.hits = 0; f.hits <= 20; f.hits++) {
			assert_int_equal(wm_verify(s, &key, NULL, &q, &env, &v, err, sizeof err),
					 0);
			assert_true(fabs(v.metric - f.hits / 20.0) < 1e-12);
			assert_true(v.pvalue == wm_deepsigns_bb_pvalue(skew, 20, 10, f.hits));
			assert_int_equal(v.detected, v.pvalue < env.alpha);
		}
	}
	/* at alpha 1e-3 this key needs 16 matches (the paper's rule: 8) */
	env.alpha = 1e-3;
	f.hits = 15;
	assert_int_equal(wm_verify(s, &key, NULL, &q, &env, &v, err, sizeof err), 0);
	assert_int_equal(v.detected, 0);
	f.hits = 16;
	assert_int_equal(wm_verify(s, &key, NULL, &q, &env, &v, err, sizeof err), 0);
	assert_int_equal(v.detected, 1);
	/* parameters */
	struct nn_model m;
	struct param_set ps;
	rng_seed(&r, 9);
	assert_int_equal(nn_create(&m, "mlp", 1, 28, 28, 10, &r, err, sizeof err), 0);
	params(s, &ps, "K=5000,pool=40");
	assert_int_equal(wm_check(s, &ps, &m, err, sizeof err), -1);
	printf("%s\n", err);
	assert_non_null(strstr(err, "'K' = 5000"));
	params(s, &ps, "K=0");
	assert_int_equal(wm_check(s, &ps, &m, err, sizeof err), -1);
	assert_non_null(strstr(err, "[1, 10000]"));
	params(s, &ps, NULL);
	assert_int_equal(wm_check(s, &ps, &m, err, sizeof err), 0);
	nn_free(&m);

	/* a key that embed never completed */
	npz_free(&key);
	npz_init(&key);
	wm_key_stamp(&key, s->name, &(struct param_set){0});
	assert_int_equal(wm_verify(s, &key, NULL, &q, &env, &v, err, sizeof err), -1);
	assert_non_null(strstr(err, "deepsigns_bb.x"));
	npz_free(&key);
	free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bb_pvalue),
	    cmocka_unit_test(test_deepsigns_bad_params),
	    cmocka_unit_test(test_deepsigns_embeds),
	    cmocka_unit_test(test_deepsigns_deterministic),
	    cmocka_unit_test(test_deepsigns_layouts),
	    cmocka_unit_test(test_bb_embeds),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
