/* test_dawn.c - the DAWN API watermark on Fashion-MNIST with mlp.
 *
 * HMAC-SHA256 against RFC 4231 (cases 1, 2, 3, 4, 6, 7). The API on 20000
 * random images: the flip rate within 5 sd of r, wrong labels uniform over
 * the other C-1 classes, answers repeatable, vectors only swapped.
 * The pipeline at CI size: 8000 training images split in half (owner 4000,
 * attacker 4000), F trained 2 epochs (adam 1e-3, batch 64), rate r = 0.1
 * (|W| about 400) and a surrogate of SURR_EPOCHS = 20 epochs on the API's
 * hard labels. A short surrogate learns the function, not the flips: with 8
 * epochs on 6000 images it reproduced 3.5 % of W (below 1/(C-1), p = 1 by
 * the |W| bound, 2e-6 on W'); with 20 epochs on 4000, about 26 %. At the
 * default r = 0.005 a CI-sized attacker would get about 20 flipped answers.
 * The
 * surrogate extracted through the marked API is detected; the same
 * surrogate under another key (same F, same attacker data, another K) is
 * not, nor is the surrogate extracted through a clean API (r = 1e-6: no
 * flips, otherwise the same run) under the right key. F inside embed is the
 * seed's clean model (same test accuracy to the last bit). Soft labels
 * (the API's vectors) mark the surrogate too (the W' test). Also: keys
 * regenerate, bad parameters and a missing attacker split are refused, an
 * empty or tampered log is an error. */
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
#include "nn.h"
#include "testlib.h"
#include "util.h"

extern const struct wm_scheme wm_dawn;
void wm_dawn_hmac(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len,
		  uint8_t out[32]);
void wm_dawn_bytes(const float *x, size_t D, uint8_t *b);
int wm_dawn_label(const uint8_t key[32], double rate, const uint8_t *bytes, size_t D, int f, int C);
void wm_dawn_api(struct wm_query *api, struct wm_query *inner, const uint8_t key[32], double rate,
		 size_t D);
long wm_dawn_api_flipped(const struct wm_query *api);

#define NTRAIN	    8000
#define EPOCHS	    2
#define SURR_EPOCHS 20
#define RATE	    "0.1"
#define SEED	    4

static struct dataset train, test;
static const struct wm_scheme *dawn = &wm_dawn;
static char err[ERRBUF];

static int setup(void **state)
{
	(void)state;
	/* owner and attacker halves; tl_fashion_env hands both */
	if (tl_fashion_load(&train, &test, NTRAIN, 0) || tl_fashion_split(11, 0.5))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tl_fashion_free(&train, &test);
	return 0;
}

static void hex(const char *h, uint8_t *out)
{
	for (size_t i = 0; i < strlen(h) / 2; i++)
		sscanf(h + 2 * i, "%2hhx", &out[i]);
}

static void test_hmac_rfc4231(void **state)
{
	static const char *const digest[] = {
	    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
	    "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
	    "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
	    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
	    "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"};
	uint8_t key[6][131], msg[6][160], want[32], got[32];
	size_t klen[6], mlen[6];
	const char *t6 = "Test Using Larger Than Block-Size Key - Hash Key First",
		   *t7 = "This is a test using a larger than block-size key and a larger than "
			 "block-size data. The key needs to be hashed before being used by the "
			 "HMAC algorithm.";
	(void)state;
	memset(key[0], 0x0b, klen[0] = 20);
	memcpy(msg[0], "Hi There", mlen[0] = 8);
	memcpy(key[1], "Jefe", klen[1] = 4);
	memcpy(msg[1], "what do ya want for nothing?", mlen[1] = 28);
	memset(key[2], 0xaa, klen[2] = 20);
	memset(msg[2], 0xdd, mlen[2] = 50);
	for (int i = 0; i < 25; i++)
		key[3][i] = (uint8_t)(i + 1);
	klen[3] = 25;
	memset(msg[3], 0xcd, mlen[3] = 50);
	memset(key[4], 0xaa, klen[4] = 131);
	memcpy(msg[4], t6, mlen[4] = strlen(t6));
	memset(key[5], 0xaa, klen[5] = 131);
	memcpy(msg[5], t7, mlen[5] = strlen(t7));
	for (int c = 0; c < 6; c++) {
		hex(digest[c], want);
		wm_dawn_hmac(key[c], klen[c], msg[c], mlen[c], got);
		assert_memory_equal(got, want, 32);
	}
}

/* The API on random images through an untrained mlp (its answers spread
 * over the classes). */
static void test_api(void **state)
{
	enum { N = 20000, C = 10 };
	const size_t D = 784;
	struct nn_model m;
	struct rng r;
	struct wm_query plain, api, api2;
	uint8_t key[32], key2[32];
	(void)state;
	rng_seed(&r, 77);
	assert_int_equal(nn_create(&m, "mlp", 1, 28, 28, C, &r, err, sizeof err), 0);
	for (int i = 0; i < 32; i++) {
		key[i] = (uint8_t)rng_below(&r, 256);
		key2[i] = (uint8_t)rng_below(&r, 256);
	}
	float *x = xmalloc((size_t)N * D * sizeof(float));
	float *p0 = xmalloc((size_t)N * C * sizeof(float)), *p1 = xmalloc((size_t)N * C * 4),
	      *p2 = xmalloc((size_t)N * C * 4), *p3 = xmalloc((size_t)N * C * 4);
	uint8_t *b = xmalloc(D);
	for (size_t i = 0; i < (size_t)N * D; i++)
		x[i] = (float)rng_below(&r, 256) / 255.0f;
	/* canonical bytes: round(255 x), clamped */
	wm_dawn_bytes(x, D, b);
	for (size_t i = 0; i < D; i++)
		assert_int_equal(b[i], (int)lrintf(x[i] * 255));
	float odd[3] = {-0.5f, 1.7f, 0.5f / 255};
	wm_dawn_bytes(odd, 3, b);
	assert_int_equal(b[0], 0);
	assert_int_equal(b[1], 255);

	wm_query_init(&plain, &m);
	wm_dawn_api(&api, &plain, key, 0.05, D);
	assert_int_equal(plain.predict(&plain, x, N, p0), 0);
	assert_int_equal(api.predict(&api, x, N, p1), 0);
	assert_int_equal(api.predict(&api, x, N, p2), 0); /* the same queries again */
	assert_int_equal(api.queries, 2 * N);
	assert_memory_equal(p1, p2, (size_t)N * C * sizeof(float));
	int flips = 0, hist[C - 1] = {0}, fhist[C] = {0};
	for (int i = 0; i < N; i++) {
		const float *a = p0 + (size_t)i * C, *bb = p1 + (size_t)i * C;
		int f = nn_argmax(a, C), y = nn_argmax(bb, C);
		fhist[f]++;
		wm_dawn_bytes(x + (size_t)i * D, D, b);
		int yw = wm_dawn_label(key, 0.05, b, D, f, C);
		if (memcmp(a, bb, C * sizeof(float))) {
			flips++;
			assert_int_equal(y, yw);
			assert_int_not_equal(y, f);
			hist[(y - f - 1 + C) % C]++;
			/* the two entries swapped, the rest untouched */
			for (int c = 0; c < C; c++)
				assert_true(bb[c] == (c == f ? a[y] : c == y ? a[f] : a[c]));
		} else {
			assert_int_equal(yw, -1);
		}
	}
	double mu = 0.05 * N, sd = sqrt(N * 0.05 * 0.95);
	printf("dawn API r 0.05 on %d random images: %d flipped (expected %.0f +- %.0f); "
	       "offsets of y_w:",
	       N, flips, mu, sd);
	for (int k = 0; k < C - 1; k++)
		printf(" %d", hist[k]);
	printf("; F's labels:");
	for (int k = 0; k < C; k++)
		printf(" %d", fhist[k]);
	printf("\n");
	assert_int_equal(wm_dawn_api_flipped(&api), 2 * flips);
	assert_true(fabs(flips - mu) < 5 * sd);
	for (int k = 0; k < C - 1; k++) {
		double e = flips / (double)(C - 1), s = sqrt(e * (1 - 1.0 / (C - 1)));
		assert_true(fabs(hist[k] - e) < 5 * s);
	}
	/* another key flips another set: overlap about r^2 N = 50 */
	wm_dawn_api(&api2, &plain, key2, 0.05, D);
	assert_int_equal(api2.predict(&api2, x, N, p3), 0);
	int both = 0, f2 = 0;
	for (int i = 0; i < N; i++) {
		int a = memcmp(p0 + (size_t)i * C, p1 + (size_t)i * C, C * 4) != 0,
		    c = memcmp(p0 + (size_t)i * C, p3 + (size_t)i * C, C * 4) != 0;
		both += a && c;
		f2 += c;
	}
	printf("dawn API, another key: %d flipped, %d in common\n", f2, both);
	assert_true(fabs(f2 - mu) < 5 * sd);
	assert_true(both < 100);
	/* rate 0.5: half */
	struct wm_query api3;
	wm_dawn_api(&api3, &plain, key, 0.5, D);
	assert_int_equal(api3.predict(&api3, x, N, p3), 0);
	long h = wm_dawn_api_flipped(&api3);
	printf("dawn API r 0.5: %ld flipped of %d\n", h, N);
	assert_true(fabs(h - 0.5 * N) < 5 * sqrt(0.25 * N));
	api.release(&api);
	api2.release(&api2);
	api3.release(&api3);
	free(x);
	free(p0);
	free(p1);
	free(p2);
	free(p3);
	free(b);
	nn_free(&m);
}

/* keygen (key stream seed + 1000) and embed (the seed's stream) */
static void pipeline(struct nn_model *m, struct npz *key, const char *kv, uint64_t seed,
		     uint64_t keyseed)
{
	struct wm_env env;
	struct rng r, kr;
	struct param_set p;
	tl_fashion_env(&env, &r, seed, EPOCHS);
	rng_seed(&kr, keyseed);
	if (nn_create(m, "mlp", 1, 28, 28, 10, &r, err, sizeof err))
		fail_msg("%s", err);
	tl_scheme_params(dawn, &p, kv);
	npz_init(key);
	env.rng = &kr;
	if (wm_check(dawn, &p, m, err, sizeof err) ||
	    wm_keygen(dawn, &p, m, &env, key, err, sizeof err))
		fail_msg("dawn keygen %s: %s", kv, err);
	env.rng = &r;
	if (wm_embed(dawn, &p, m, key, &env, err, sizeof err))
		fail_msg("dawn embed %s: %s", kv, err);
}

static double key_f64(const struct npz *key, const char *name)
{
	const struct npz_array *a = npz_get(key, name);
	assert_non_null(a);
	return *(const double *)a->data;
}

static int key_nW(const struct npz *key)
{
	const struct npz_array *a = npz_get(key, "dawn.W_y");
	assert_non_null(a);
	return (int)a->count;
}

static void verify_bb(const struct npz *key, struct nn_model *m, struct wm_verdict *v)
{
	struct wm_env env;
	struct rng r;
	tl_fashion_env(&env, &r, 999, 1);
	tl_verify_bb(dawn, key, m, &env, "wm_acc", v);
	assert_true(v->queries == (long)v->capacity);
}

static void test_pipeline(void **state)
{
	char kv[128];
	struct nn_model sa, sb, sc, clean;
	struct npz ka, kb, kc;
	struct wm_verdict v, vw, vc, vb;
	struct wm_env env;
	struct rng r;
	(void)state;
	snprintf(kv, sizeof kv, "rate=%s,surrogate_epochs=%d", RATE, SURR_EPOCHS);
	pipeline(&sa, &ka, kv, SEED, 1);
	pipeline(&sb, &kb, kv, SEED, 2);
	snprintf(kv, sizeof kv, "rate=1e-6,surrogate_epochs=%d", SURR_EPOCHS);
	pipeline(&sc, &kc, kv, SEED, 3);
	/* the seed's clean model: F inside embed is it */
	tl_fashion_env(&env, &r, SEED, EPOCHS);
	assert_int_equal(tl_train_clean(&clean, "mlp", &env), 0);
	double acc_f = nn_accuracy(&clean, &test, NULL, 0);
	assert_true(key_f64(&ka, "dawn.clean_acc") == acc_f);
	assert_true(key_f64(&kc, "dawn.clean_acc") == acc_f);

	int nW = key_nW(&ka);
	double mu = atof(RATE) * env.n_attacker, sd = sqrt(mu * (1 - atof(RATE)));
	assert_true(fabs(nW - mu) < 5 * sd);
	assert_true(*(const int64_t *)npz_get(&ka, "dawn.queries")->data == env.n_attacker);
	assert_int_equal(key_nW(&kc), 0);

	verify_bb(&ka, &sa, &v);  /* marked surrogate, its key */
	verify_bb(&kb, &sa, &vw); /* marked surrogate, another key */
	verify_bb(&ka, &sc, &vc); /* surrogate of the clean API, the key */
	verify_bb(&kb, &sb, &vb); /* the other surrogate, its key */
	printf("dawn mlp, owner/attacker %d/%d, F %d epochs, r %s, surrogate %d epochs (hard "
	       "labels)\n",
	       env.n_owner, env.n_attacker, EPOCHS, RATE, SURR_EPOCHS);
	printf("  F test acc %.4f, API %.4f (cost %.2f points); surrogate %.4f, clean-API "
	       "surrogate %.4f\n",
	       acc_f, key_f64(&ka, "dawn.api_acc"), 100 * (acc_f - key_f64(&ka, "dawn.api_acc")),
	       key_f64(&ka, "dawn.surrogate_acc"), key_f64(&kc, "dawn.surrogate_acc"));
	printf("  marked surrogate, its key: |W| %.0f wm_acc %.3f p(W') %.3g p(all W) %.3g "
	       "detected %d\n",
	       v.capacity, v.metric, v.pvalue, v.aux, v.detected);
	printf("  marked surrogate, another key: |W| %.0f wm_acc %.3f p(W') %.3g p(all W) %.3g "
	       "detected "
	       "%d\n",
	       vw.capacity, vw.metric, vw.pvalue, vw.aux, vw.detected);
	printf("  clean-API surrogate, the key: |W| %.0f wm_acc %.3f p(W') %.3g p(all W) %.3g "
	       "detected "
	       "%d\n",
	       vc.capacity, vc.metric, vc.pvalue, vc.aux, vc.detected);
	printf("  the other marked surrogate, its key: wm_acc %.3f p %.3g detected %d\n", vb.metric,
	       vb.pvalue, vb.detected);
	assert_int_equal(v.detected, 1);
	assert_true(v.pvalue < 1e-6);
	assert_int_equal(vb.detected, 1);
	assert_int_equal(vw.detected, 0);
	assert_int_equal(vc.detected, 0);
	assert_true(vw.metric < 0.05 && vc.metric < 0.05);
	assert_true(vw.pvalue > 1e-3 && vc.pvalue > 1e-3);
	/* the API's accuracy cost is about r times F's accuracy */
	double cost = acc_f - key_f64(&ka, "dawn.api_acc");
	assert_true(cost > 0 && cost < 2 * atof(RATE));

	/* an empty log is an error; so is a log that K did not write */
	struct wm_query q;
	wm_query_init(&q, &sc);
	assert_int_equal(wm_verify(dawn, &kc, &sc, &q, &env, &vc, err, sizeof err), -1);
	printf("dawn empty log: %s\n", err);
	assert_non_null(strstr(err, "log W is empty"));
	const struct npz_array *wy = npz_get(&ka, "dawn.W_y");
	int32_t *y = xmalloc(wy->count * sizeof *y);
	memcpy(y, wy->data, wy->count * sizeof *y);
	y[3] = (y[3] + 1) % 10;
	npz_add(&ka, "dawn.W_y", NPZ_I32, 1, wy->shape, y);
	assert_int_equal(wm_verify(dawn, &ka, &sa, &q, &env, &v, err, sizeof err), -1);
	printf("dawn tampered log: %s\n", err);
	assert_non_null(strstr(err, "log entry 3"));
	free(y);

	nn_free(&sa);
	nn_free(&sb);
	nn_free(&sc);
	nn_free(&clean);
	npz_free(&ka);
	npz_free(&kb);
	npz_free(&kc);
}

/* labels = soft: the surrogate trains on the answer vectors. The same key
 * seed and run give the same F and so the same log W as the hard run of
 * test_pipeline; the soft surrogate reproduces fewer flips (about 17 % in
 * one run, p about 6e-4 by the |W| bound), so this asserts the W' test. */
static void test_soft(void **state)
{
	char kv[128];
	struct nn_model s;
	struct npz k;
	struct wm_verdict v;
	(void)state;
	snprintf(kv, sizeof kv, "rate=%s,surrogate_epochs=%d,labels=soft", RATE, SURR_EPOCHS);
	pipeline(&s, &k, kv, SEED, 1);
	verify_bb(&k, &s, &v);
	printf(
	    "dawn soft labels: |W| %.0f wm_acc %.3f p(W') %.3g p(all W) %.3g surrogate acc %.4f\n",
	    v.capacity, v.metric, v.pvalue, v.aux, key_f64(&k, "dawn.surrogate_acc"));
	assert_true(v.metric > 0.12);
	assert_true(v.pvalue < 1e-6 && v.pvalue <= v.aux);
	nn_free(&s);
	npz_free(&k);
}

static void test_keygen_deterministic(void **state)
{
	struct nn_model m;
	struct npz a, b, c;
	struct wm_env env;
	struct rng r;
	struct param_set p;
	(void)state;
	tl_scheme_params(dawn, &p, "");
	rng_seed(&r, 1);
	assert_int_equal(nn_create(&m, "mlp", 1, 28, 28, 10, &r, err, sizeof err), 0);
	for (int k = 0; k < 3; k++) {
		struct npz *z = k == 0 ? &a : k == 1 ? &b : &c;
		tl_fashion_env(&env, &r, k == 2 ? 8 : 7, 1);
		npz_init(z);
		assert_int_equal(wm_keygen(dawn, &p, &m, &env, z, err, sizeof err), 0);
	}
	tl_assert_same_array(&a, &b, "dawn.K");
	assert_memory_not_equal(npz_get(&a, "dawn.K")->data, npz_get(&c, "dawn.K")->data, 32);
	assert_int_equal(npz_get(&a, "dawn.K")->count, 32);
	npz_free(&a);
	npz_free(&b);
	npz_free(&c);
	nn_free(&m);
}

static void test_refusals(void **state)
{
	struct nn_model m;
	struct npz key;
	struct wm_env env;
	struct rng r;
	struct param_set p;
	(void)state;
	tl_expect_check_error(dawn, "mlp", "rate=0.7",
			      "dawn: parameter 'rate' = '0.7' is out of range; expected a number "
			      "in [1e-06, 0.5]");
	tl_expect_check_error(dawn, "mlp", "labels=logits", "parameter 'labels' = 'logits'");
	tl_expect_check_error(dawn, "mlp", "surrogate_epochs=-1",
			      "parameter 'surrogate_epochs' = '-1'");
	/* no attacker data: refused before any training */
	tl_fashion_env(&env, &r, 1, 1);
	env.attacker_idx = NULL;
	env.n_attacker = 0;
	assert_int_equal(nn_create(&m, "mlp", 1, 28, 28, 10, &r, err, sizeof err), 0);
	tl_scheme_params(dawn, &p, "");
	npz_init(&key);
	assert_int_equal(wm_keygen(dawn, &p, &m, &env, &key, err, sizeof err), 0);
	float before = m.params[0];
	assert_int_equal(wm_embed(dawn, &p, &m, &key, &env, err, sizeof err), -1);
	printf("dawn without attacker data: %s\n", err);
	assert_non_null(strstr(err, "run.attacker_split > 0"));
	assert_true(m.params[0] == before);
	npz_free(&key);
	nn_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hmac_rfc4231),
	    cmocka_unit_test(test_api),
	    cmocka_unit_test(test_keygen_deterministic),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_pipeline),
	    cmocka_unit_test(test_soft),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
