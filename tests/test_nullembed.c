/* test_nullembed.c - the nullembed scheme (piracy-resistant null embedding).
 *
 * Key derivation: deterministic Ed25519 signature of "owner;stamp", checked
 * with libsodium; target, pattern and position recomputed here from the
 * documented hashes of the signature. Embedding on Fashion-MNIST:
 *   lenet5 (12000 samples, 4 epochs, adam 2e-3, lambda 2000, n 4, 25 % null
 *   copies, clip 1): >= 95 % on true-filtered inputs, acc_null within 5 points of the clean
 * accuracy on the same samples, detected, cost < 2 points against the unmarked lenet5 of the same
 * seed, which is not detected with the owner's key; mlp (12000 samples, 3 epochs, adam 1e-3):
 * lambda 5 embeds and is detected; lambda 2000 sends every filtered input to y_W, so acc_true is 1
 * but acc_null collapses and the acc_null half of the rule refuses the claim; with sgd 0.05 /
 * momentum 0.9 lambda 2000 diverges and embed fails with its reason. Tampered and wrong keys are
 * not detected. Verification runs through a query path that hides the model. check() rejects
 * fine-tuning, n larger than the image and lambda outside (0, 1e6]. Without Fashion-MNIST the
 * training parts fail (testlib.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../schemes/scheme.h"
#include "data.h"
#include "nn.h"
#include "testlib.h"
#include "util.h"

#define NTRAIN 12000
#define SEED   3

static struct dataset train, test;
static char err[ERRBUF];
static const struct wm_scheme *ne;

static int group_setup(void **state)
{
	(void)state;
	ne = wm_scheme_find("nullembed");
	if (sodium_init() < 0)
		return -1;
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

struct setting {
	const char *arch, *opt;
	double lr;
	int epochs, ntrain;
};

static const struct setting lenet = {"lenet5", "adam", 2e-3, 4, NTRAIN};
static const struct setting mlp = {"mlp", "adam", 1e-3, 3, NTRAIN};

static void env_init(struct wm_env *env, struct rng *r, uint64_t seed, const struct setting *s)
{
	rng_seed(r, seed);
	tl_env_init(env, r, s ? s->epochs : 1, &train, &test, tl_fashion_all(), s ? s->ntrain : 0);
	if (s) {
		strcpy(env->ts.optimizer, s->opt);
		env->ts.lr = s->lr;
	}
}

static void params(struct param_set *p, const char *kv)
{
	tl_params("test", ne->params, p, kv, ",");
}

/* Black-box verification: the query path hides the model and does not clamp
 * its inputs. */
static void verify_bb(const struct npz *key, struct nn_model *m, struct wm_verdict *v)
{
	struct wm_env env;
	struct rng r;
	struct wm_query q;
	env_init(&env, &r, 999, NULL);
	tl_hidden_query(&q, m);
	tl_verify(ne, key, NULL, &q, &env, v);
	assert_string_equal(v->metric_name, "wm_acc");
	/* clean, null-filtered and true-filtered queries of the first 1000 */
	assert_true(q.queries > 2000 && q.queries <= 3000);
}

static void keygen_only(struct npz *key, const char *arch, const char *kv, uint64_t seed)
{
	struct wm_env env;
	struct rng r;
	struct param_set p;
	struct nn_model m;
	env_init(&env, &r, seed, NULL);
	if (nn_create(&m, arch, 1, 28, 28, 10, &r, err, sizeof err))
		fail_msg("nn_create: %s", err);
	params(&p, kv);
	npz_init(key);
	if (wm_check(ne, &p, &m, err, sizeof err) ||
	    wm_keygen(ne, &p, &m, &env, key, err, sizeof err))
		fail_msg("keygen %s: %s", kv, err);
	nn_free(&m);
}

/* The model of a seed: marked (kv != NULL; returns embed's status) or clean. */
static int train_model(struct nn_model *m, const struct setting *s, const char *kv, uint64_t seed,
		       struct npz *key)
{
	struct wm_env env;
	struct rng r;
	struct param_set p;
	env_init(&env, &r, seed, s);
	if (nn_create(m, s->arch, 1, 28, 28, 10, &r, err, sizeof err))
		fail_msg("nn_create: %s", err);
	if (!kv) {
		if (wm_train_owner(m, &env, NULL, 0, err, sizeof err))
			fail_msg("clean training: %s", err);
		return 0;
	}
	params(&p, kv);
	npz_init(key);
	if (wm_check(ne, &p, m, err, sizeof err) ||
	    wm_keygen(ne, &p, m, &env, key, err, sizeof err))
		fail_msg("nullembed %s: %s", kv, err);
	return wm_embed(ne, &p, m, key, &env, err, sizeof err);
}

static double acc_first(struct nn_model *m, int n)
{
	uint32_t *idx = xmalloc((size_t)n * sizeof *idx);
	for (int i = 0; i < n; i++)
		idx[i] = (uint32_t)i;
	double a = nn_accuracy(m, &test, idx, n);
	free(idx);
	return a;
}

static uint64_t le64(const uint8_t *b)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

static void hash_of(const uint8_t *sig, const char *label, uint8_t out[32])
{
	size_t n = strlen(label);
	uint8_t *buf = xmalloc(n + 64);
	memcpy(buf, label, n);
	memcpy(buf + n, sig, 64);
	crypto_hash_sha256(out, buf, n + 64);
	free(buf);
}

static void test_key_derivation(void **state)
{
	struct npz a, b, c, d;
	uint8_t h[32];
	(void)state;
	keygen_only(&a, "lenet5", "", 11);
	keygen_only(&b, "lenet5", "", 11);
	keygen_only(&c, "lenet5", "owner=mallory", 11);
	keygen_only(&d, "lenet5", "n=20", 12);
	const char *names[] = {"nullembed.pk",	"nullembed.sig",    "nullembed.pattern",
			       "nullembed.pos", "nullembed.target", "nullembed.v"};
	for (int i = 0; i < 6; i++) {
		const struct npz_array *x = npz_get(&a, names[i]), *y = npz_get(&b, names[i]);
		assert_non_null(x);
		assert_non_null(y);
		assert_int_equal(x->count, y->count);
		assert_memory_equal(x->data, y->data, x->count * npz_dtype_size(x->dtype));
	}
	const struct npz_array *pk = npz_get(&a, "nullembed.pk"),
			       *sig = npz_get(&a, "nullembed.sig"),
			       *pat = npz_get(&a, "nullembed.pattern"),
			       *pos = npz_get(&a, "nullembed.pos"),
			       *tgt = npz_get(&a, "nullembed.target");
	char v[256];
	assert_int_equal(npz_get_text(&a, "nullembed.v", v, sizeof v), 0);
	assert_string_equal(v, "owner;2026-01-01");
	assert_int_equal(pk->count, 32);
	assert_int_equal(sig->count, 64);
	assert_int_equal(
	    crypto_sign_verify_detached(sig->data, (const uint8_t *)v, strlen(v), pk->data), 0);
	assert_int_not_equal(crypto_sign_verify_detached(
				 sig->data, (const uint8_t *)"owner;2026-01-02", 16, pk->data),
			     0);
	/* the documented derivation, recomputed */
	const uint8_t *s = sig->data, *bits = pat->data;
	const int32_t *p2 = pos->data;
	hash_of(s, "wmbench-nullembed/label/0", h);
	assert_int_equal(*(const int32_t *)tgt->data, (int)(le64(h) % 10));
	hash_of(s, "wmbench-nullembed/position/0", h);
	assert_int_equal(p2[0], (int)(le64(h) % 23));
	assert_int_equal(p2[1], (int)(le64(h + 8) % 23));
	hash_of(s, "wmbench-nullembed/pattern/0", h);
	int ones = 0;
	assert_int_equal(pat->ndim, 2);
	assert_int_equal(pat->shape[0], 6);
	for (int i = 0; i < 36; i++) {
		assert_int_equal(bits[i], (h[i / 8] >> (i % 8)) & 1);
		ones += bits[i];
	}
	assert_true(ones > 0 && ones < 36);
	printf("nullembed key (seed 11): target %d, position (%d, %d), %d of 36 bits set\n",
	       *(const int32_t *)tgt->data, p2[0], p2[1], ones);
	/* another owner string signs differently; the key pair stays */
	assert_memory_equal(npz_get(&c, "nullembed.pk")->data, pk->data, 32);
	assert_memory_not_equal(npz_get(&c, "nullembed.sig")->data, sig->data, 64);
	/* another seed: another key pair; n = 20 gives a 20 x 20 pattern inside the image */
	assert_memory_not_equal(npz_get(&d, "nullembed.pk")->data, pk->data, 32);
	pat = npz_get(&d, "nullembed.pattern");
	p2 = npz_get(&d, "nullembed.pos")->data;
	assert_int_equal(pat->count, 400);
	assert_true(p2[0] >= 0 && p2[0] <= 8 && p2[1] >= 0 && p2[1] <= 8);
	npz_free(&a);
	npz_free(&b);
	npz_free(&c);
	npz_free(&d);
}

static void expect_reject(const char *arch, const char *kv, const char *needle)
{
	tl_expect_check_error(ne, arch, kv, needle);
}

static void test_check(void **state)
{
	struct param_set p;
	struct nn_model m;
	(void)state;
	assert_non_null(ne);
	assert_true(ne->black_box);
	assert_int_equal(nn_build_spec(&m, "lenet5", nn_arch_spec("lenet5"), err, sizeof err), 0);
	params(&p, "");
	assert_int_equal(wm_check(ne, &p, &m, err, sizeof err), 0);
	params(&p, "n=28,lambda=1e6");
	assert_int_equal(wm_check(ne, &p, &m, err, sizeof err), 0);
	nn_free(&m);
	expect_reject("lenet5", "mode=finetune",
		      "nullembed: parameter 'mode' = 'finetune' is not supported: null embedding "
		      "can only be built in at initial training; expected scratch");
	expect_reject("mlp", "n=29",
		      "nullembed: parameter 'n' = '29' is larger than the model's 28x28 input; "
		      "expected an integer in [1, 28]");
	expect_reject(
	    "mlp", "n=0",
	    "nullembed: parameter 'n' = '0' is out of range; expected an integer in [1, 64]");
	/* the table's range: a plug-in receives only values it accepts */
	expect_reject("lenet5", "lambda=0",
		      "nullembed: parameter 'lambda' = '0' is out of range; expected a number in "
		      "[1e-09, 1000000]");
	expect_reject("lenet5", "lambda=-3",
		      "nullembed: parameter 'lambda' = '-3' is out of range; expected a number in "
		      "[1e-09, 1000000]");
	expect_reject("lenet5", "lambda=2000000",
		      "nullembed: parameter 'lambda' = '2000000' is out of range; expected a "
		      "number in [1e-09, 1000000]");
	expect_reject("lenet5", "owner=a;b", "parameter 'owner' = 'a;b'");
	expect_reject("lenet5", "null_frac=1.5", "parameter 'null_frac' = '1.5' is out of range");
}

/* n = 4, not the paper's 6: on Fashion-MNIST the garments fill the frame, and
 * a 6 x 6 block at the derived position occludes enough of them that, in
 * 4 short epochs, acc_null stays 5 to 10 points under the clean accuracy
 * (an unmarked lenet5 loses about 10 points when the block is only zeroed).
 * On MNIST the digits leave the margins free. */
static void test_lenet5(void **state)
{
	struct nn_model marked, clean;
	struct npz key, wrong;
	struct wm_verdict v, vc, vw, vt;
	(void)state;
	tl_need_fashion();
	if (train_model(&marked, &lenet, "lambda=2000,n=4,null_frac=0.25,clip=1", SEED, &key))
		fail_msg("embed: %s", err);
	train_model(&clean, &lenet, NULL, SEED, NULL);
	double acc_m = nn_accuracy(&marked, &test, NULL, 0),
	       acc_c = nn_accuracy(&clean, &test, NULL, 0);
	double acc_m1k = acc_first(&marked, 1000);
	verify_bb(&key, &marked, &v);
	verify_bb(&key, &clean, &vc);
	keygen_only(&wrong, "lenet5", "owner=mallory", SEED + 100);
	verify_bb(&wrong, &marked, &vw);
	printf("nullembed lenet5 lambda 2000 n 4 null_frac 0.25 clip 1: test acc marked %.4f clean "
	       "%.4f cost %+.2f points\n",
	       acc_m, acc_c, 100 * (acc_c - acc_m));
	printf("nullembed lenet5: acc_true %.4f acc_null %.4f clean (same 1000) %.4f p %.3g "
	       "detected %d\n",
	       v.metric, v.aux, acc_m1k, v.pvalue, v.detected);
	printf("nullembed lenet5: unmarked + owner key acc_true %.4f acc_null %.4f p %.3g detected "
	       "%d; marked + wrong key acc_true %.4f acc_null %.4f p %.3g detected %d\n",
	       vc.metric, vc.aux, vc.pvalue, vc.detected, vw.metric, vw.aux, vw.pvalue,
	       vw.detected);
	assert_true(acc_c > 0.78);
	assert_true(acc_c - acc_m < 0.02);
	assert_true(v.metric >= 0.95);
	assert_true(fabs(v.aux - acc_m1k) <= 0.05);
	/* one pattern is one unit: y_W is the model's class with chance 1/C */
	assert_true(v.pvalue == 0.1);
	assert_int_equal(v.detected, 1);
	assert_true(v.capacity == 16);
	assert_int_equal(vc.detected, 0);
	assert_true(vc.metric < 0.5);
	assert_int_equal(vw.detected, 0);
	assert_true(vw.metric < 0.5);

	/* a tampered key (one pattern bit flipped) is refused though the model
	 * still answers most of its queries */
	struct npz_array *pat = (struct npz_array *)npz_get(&key, "nullembed.pattern");
	((uint8_t *)pat->data)[0] ^= 1;
	verify_bb(&key, &marked, &vt);
	printf("nullembed lenet5: tampered key acc_true %.4f detected %d\n", vt.metric,
	       vt.detected);
	assert_int_equal(vt.detected, 0);
	((uint8_t *)pat->data)[0] ^= 1;
	/* a forged signature is refused */
	struct npz_array *sig = (struct npz_array *)npz_get(&key, "nullembed.sig");
	((uint8_t *)sig->data)[5] ^= 0x10;
	verify_bb(&key, &marked, &vt);
	assert_int_equal(vt.detected, 0);
	((uint8_t *)sig->data)[5] ^= 0x10;
	verify_bb(&key, &marked, &vt);
	assert_int_equal(vt.detected, 1);
	nn_free(&marked);
	nn_free(&clean);
	npz_free(&key);
	npz_free(&wrong);
}

static void test_mlp(void **state)
{
	struct nn_model m;
	struct npz key;
	struct wm_verdict v;
	(void)state;
	tl_need_fashion();
	/* small lambda embeds on a dense network */
	if (train_model(&m, &mlp, "lambda=5", SEED, &key))
		fail_msg("embed: %s", err);
	double a1k = acc_first(&m, 1000);
	verify_bb(&key, &m, &v);
	printf("nullembed mlp lambda 5: test acc %.4f acc_true %.4f acc_null %.4f clean (same "
	       "1000) %.4f p %.3g detected %d\n",
	       nn_accuracy(&m, &test, NULL, 0), v.metric, v.aux, a1k, v.pvalue, v.detected);
	assert_true(v.metric >= 0.95);
	assert_int_equal(v.detected, 1);
	nn_free(&m);
	npz_free(&key);

	/* lambda 2000 on a dense network: any filtered input goes to y_W */
	if (train_model(&m, &mlp, "lambda=2000", SEED, &key))
		fail_msg("embed: %s", err);
	a1k = acc_first(&m, 1000);
	verify_bb(&key, &m, &v);
	printf("nullembed mlp lambda 2000 (adam 1e-3): test acc %.4f acc_true %.4f acc_null %.4f "
	       "clean (same 1000) %.4f detected %d\n",
	       nn_accuracy(&m, &test, NULL, 0), v.metric, v.aux, a1k, v.detected);
	assert_true(v.metric >= 0.95);
	assert_true(v.aux < 0.3);
	assert_int_equal(v.detected, 0);
	nn_free(&m);
	npz_free(&key);

	/* with plain sgd and no gradient clipping it diverges, and embed says so */
	const struct setting sgd = {"mlp", "sgd", 0.05, 1, 3000};
	int rc = train_model(&m, &sgd, "lambda=2000,clip=0", SEED, &key);
	printf("nullembed mlp lambda 2000 (sgd 0.05, momentum 0.9): rc %d: %s\n", rc,
	       rc ? err : "");
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, "nullembed (lambda 2000): training diverged"));
	nn_free(&m);
	npz_free(&key);
}

/* A prediction path that answers one class for every input: a model that an
 * embedding (or an attack) collapsed. */
static int one_class(struct wm_query *q, const float *x, int n, float *probs)
{
	int c = *(const int *)q->ctx;
	(void)x;
	for (int i = 0; i < n; i++)
		for (int k = 0; k < q->nclass; k++)
			probs[(size_t)i * q->nclass + k] = k == c ? 0.91f : 0.01f;
	q->queries += n;
	return 0;
}

/* A model that sends everything to y_W has acc_true 1 and acc_null equal to
 * acc_clean (both at chance, 0.1): the ratio half alone would pass it. It
 * classifies nothing, so it is not detected; sending everything elsewhere is
 * not either. */
static void test_collapsed(void **state)
{
	struct npz key;
	struct wm_verdict v;
	struct wm_env env;
	struct rng r;
	struct wm_query q;
	int target;
	(void)state;
	tl_need_fashion();
	keygen_only(&key, "mlp", "lambda=5", SEED);
	target = *(const int32_t *)npz_get(&key, "nullembed.target")->data;
	env_init(&env, &r, 999, NULL);
	for (int c = 0; c < 2; c++) {
		int cls = c ? (target + 1) % 10 : target;
		memset(&q, 0, sizeof q);
		q.predict = one_class;
		q.nclass = 10;
		q.ctx = &cls;
		tl_verify(ne, &key, NULL, &q, &env, &v);
		printf(
		    "nullembed, a model that answers class %d (y_W = %d) to everything: acc_true "
		    "%.3f acc_null %.3f detected %d\n",
		    cls, target, v.metric, v.aux, v.detected);
		assert_true(c || (v.metric == 1 && v.aux < 0.2));
		assert_int_equal(v.detected, 0);
	}
	npz_free(&key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check),     cmocka_unit_test(test_key_derivation),
	    cmocka_unit_test(test_lenet5),    cmocka_unit_test(test_mlp),
	    cmocka_unit_test(test_collapsed),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
