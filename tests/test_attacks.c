/* test_attacks.c - the attack library on Fashion-MNIST with mlp.
 *
 * 12000 training samples split in halves (owner / attacker), 2000 test
 * samples; the clean teacher is trained 2 epochs (adam 1e-3) on the owner's
 * half. Shows: identity changes nothing bit for bit; prune zeroes exactly
 * round(r n) weights of its scope, the smallest; quantize leaves at most 2^k
 * values per tensor; FTLL changes only the last layer and RTLL re-initialises
 * it; FTAL keeps accuracy within 2 points; overwrite and piracy with uchida
 * leave the attacker's key verifying; distill's student is within 3 points;
 * the query-path wrappers transform copies, count queries and free their
 * state; chain runs its steps in order; bad parameters fail in check() with
 * the attack, the parameter and the range. Without Fashion-MNIST the tests
 * that need it fail (testlib.h). */
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
#include "data.h"
#include "nn.h"
#include "testlib.h"
#include "util.h"

#define NTRAIN 12000
#define NTEST  2000
#define SEED   11

static struct dataset train, test;
static uint32_t *owner, *attacker;
static int n_owner, n_attacker, have_data;
static struct nn_model clean;
static double acc_clean;
static char err[ERRBUF];

static void wenv_init(struct wm_env *w, struct rng *r, uint64_t seed, int epochs)
{
	rng_seed(r, seed);
	tl_env_init(w, r, epochs, &train, &test, owner, n_owner);
	w->attacker_idx = attacker;
	w->n_attacker = n_attacker;
}

static int group_setup(void **state)
{
	struct wm_env w;
	struct rng r;
	(void)state;
	/* without the data, the tests that need it fail in tl_need_fashion() */
	if (tl_fashion_load(&train, &test, NTRAIN, NTEST))
		return 0;
	data_split(train.n, SEED, 0.5, &owner, &n_owner, &attacker, &n_attacker);
	wenv_init(&w, &r, SEED, 2);
	if (tl_train_clean(&clean, "mlp", &w))
		return -1;
	acc_clean = nn_accuracy(&clean, &test, NULL, 0);
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
	tl_fashion_free(&train, &test);
	free(owner);
	free(attacker);
	return 0;
}

/* "k=v;k=v" (';' because chain steps contain ','), completed with defaults. */
static void aparams(const struct atk_attack *a, struct param_set *p, const char *kv)
{
	tl_params(a->name, a->params, p, kv, ";");
}

struct actx {
	struct wm_env w; /* the attacker's view: owner_idx = the attacker's samples */
	struct rng r;
	struct atk_env e;
};

static void actx_init(struct actx *c, uint64_t seed, const struct wm_scheme *s,
		      const struct param_set *sp, struct wm_verdict *pirate)
{
	wenv_init(&c->w, &c->r, seed, 2);
	c->w.owner_idx = attacker;
	c->w.n_owner = n_attacker;
	memset(&c->e, 0, sizeof c->e);
	c->e.train = &train;
	c->e.attacker_idx = attacker;
	c->e.n_attacker = n_attacker;
	c->e.ts = c->w.ts;
	c->e.scheme = s;
	c->e.scheme_params = sp;
	c->e.wm = &c->w;
	c->e.rng = &c->r;
	c->e.second = pirate;
}

/* Checks and applies attack name with params kv to m. */
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

static void attack_simple(const char *name, const char *kv, struct nn_model *m, uint64_t seed)
{
	struct actx c;
	actx_init(&c, seed, NULL, NULL, NULL);
	attack(name, kv, m, &c);
}

static int layer_equal(const struct nn_model *a, const struct nn_model *b, int li)
{
	const struct nn_layer *l = &a->layers[li];
	return !memcmp(a->params + l->w_off, b->params + l->w_off, l->w_n * sizeof(float)) &&
	       !memcmp(a->params + l->b_off, b->params + l->b_off, l->b_n * sizeof(float));
}

static size_t zeros(const float *v, size_t n)
{
	size_t z = 0;
	for (size_t i = 0; i < n; i++)
		z += v[i] == 0;
	return z;
}

/* ---- identity, prune, quantize ------------------------------------------- */

static void test_identity(void **state)
{
	struct nn_model m;
	(void)state;
	tl_need_fashion();
	nn_copy(&m, &clean);
	attack_simple("identity", "", &m, 1);
	assert_int_equal(m.nparams, clean.nparams);
	assert_memory_equal(m.params, clean.params, m.nparams * sizeof(float));
	nn_free(&m);
}

/* The zeroed entries of after (from before) are exactly k and no larger in
 * |w| than any kept one; kept ones are unchanged. v are the scope's views. */
static void check_pruned(const float *before, const float *after, size_t n, size_t k)
{
	double max_cut = 0, min_kept = INFINITY;
	size_t cut = 0;
	assert_int_equal(zeros(before, n), 0);
	for (size_t i = 0; i < n; i++) {
		if (after[i] == 0) {
			cut++;
			max_cut = fmax(max_cut, fabsf(before[i]));
		} else {
			assert_true(after[i] == before[i]);
			min_kept = fmin(min_kept, fabsf(before[i]));
		}
	}
	assert_int_equal(cut, k);
	assert_true(max_cut <= min_kept);
}

static void gather(const struct nn_model *m, float *out, size_t *n)
{
	*n = 0;
	for (int i = 0; i < m->nlayers; i++)
		if (nn_has_params(&m->layers[i])) {
			memcpy(out + *n, m->params + m->layers[i].w_off,
			       m->layers[i].w_n * sizeof(float));
			*n += m->layers[i].w_n;
		}
}

static void test_prune(void **state)
{
	const double rate = 0.3;
	struct nn_model m;
	(void)state;
	tl_need_fashion();
	/* layer: the default marked layer (fc2) only */
	nn_copy(&m, &clean);
	attack_simple("prune", "rate=0.3;scope=layer", &m, 1);
	int li = nn_find_layer(&m, wm_default_layer(&m));
	assert_true(li >= 0);
	for (int i = 0; i < m.nlayers; i++) {
		const struct nn_layer *l = &m.layers[i];
		if (!nn_has_params(l))
			continue;
		if (i == li)
			check_pruned(clean.params + l->w_off, m.params + l->w_off, l->w_n,
				     (size_t)llround(rate * l->w_n));
		else
			assert_true(layer_equal(&m, &clean, i));
	}
	nn_free(&m);
	/* each: every layer at the same rate */
	nn_copy(&m, &clean);
	attack_simple("prune", "rate=0.3;scope=each", &m, 1);
	for (int i = 0; i < m.nlayers; i++) {
		const struct nn_layer *l = &m.layers[i];
		if (nn_has_params(l))
			check_pruned(clean.params + l->w_off, m.params + l->w_off, l->w_n,
				     (size_t)llround(rate * l->w_n));
	}
	nn_free(&m);
	/* global: one threshold over all weights */
	nn_copy(&m, &clean);
	attack_simple("prune", "rate=0.3;scope=global", &m, 1);
	float *b = xmalloc(clean.nparams * sizeof(float));
	float *a = xmalloc(clean.nparams * sizeof(float));
	size_t nb, na;
	gather(&clean, b, &nb);
	gather(&m, a, &na);
	assert_int_equal(na, nb);
	check_pruned(b, a, nb, (size_t)llround(rate * nb));
	free(a);
	free(b);
	printf("# prune rate 0.3 global: accuracy %.4f -> %.4f\n", acc_clean,
	       nn_accuracy(&m, &test, NULL, 0));
	nn_free(&m);
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return x < y ? -1 : (x > y);
}

static size_t distinct(const float *v, size_t n)
{
	float *c = xmalloc(n * sizeof(float));
	size_t d = n ? 1 : 0;
	memcpy(c, v, n * sizeof(float));
	qsort(c, n, sizeof(float), cmp_float);
	for (size_t i = 1; i < n; i++)
		d += c[i] != c[i - 1];
	free(c);
	return d;
}

static void test_quantize(void **state)
{
	const int bits[] = {1, 2, 4, 8};
	(void)state;
	tl_need_fashion();
	for (size_t t = 0; t < sizeof bits / sizeof bits[0]; t++) {
		struct nn_model m;
		char kv[32];
		size_t most = 0;
		nn_copy(&m, &clean);
		snprintf(kv, sizeof kv, "bits=%d", bits[t]);
		attack_simple("quantize", kv, &m, 1);
		for (int i = 0; i < m.nlayers; i++) {
			const struct nn_layer *l = &m.layers[i];
			if (!nn_has_params(l))
				continue;
			size_t d = distinct(m.params + l->w_off, l->w_n);
			assert_true(d <= ((size_t)1 << bits[t]));
			assert_true(d >= 2);
			most = d > most ? d : most;
			/* biases stay in float */
			assert_memory_equal(m.params + l->b_off, clean.params + l->b_off,
					    l->b_n * sizeof(float));
		}
		double acc = nn_accuracy(&m, &test, NULL, 0);
		printf("# quantize %d bits: at most %zu values per tensor, accuracy %.4f -> %.4f\n",
		       bits[t], most, acc_clean, acc);
		if (bits[t] == 8)
			assert_true(fabs(acc - acc_clean) <= 0.01);
		nn_free(&m);
	}
}

/* ---- fine-tuning ------------------------------------------------------------ */

static void test_ftll_only_last(void **state)
{
	struct nn_model m;
	(void)state;
	tl_need_fashion();
	nn_copy(&m, &clean);
	attack_simple("finetune", "mode=ftll;epochs=1", &m, 2);
	int last = nn_last_param_layer(&m);
	for (int i = 0; i < m.nlayers; i++) {
		if (!nn_has_params(&m.layers[i]))
			continue;
		if (i == last)
			assert_false(layer_equal(&m, &clean, i));
		else
			assert_true(layer_equal(&m, &clean, i));
		assert_int_equal(m.layers[i].frozen, 0); /* flags restored */
	}
	printf("# ftll 1 epoch: accuracy %.4f -> %.4f\n", acc_clean,
	       nn_accuracy(&m, &test, NULL, 0));
	nn_free(&m);
}

static double corr(const float *a, const float *b, size_t n)
{
	double sa = 0, sb = 0, sab = 0, saa = 0, sbb = 0;
	for (size_t i = 0; i < n; i++) {
		sa += a[i];
		sb += b[i];
		sab += (double)a[i] * b[i];
		saa += (double)a[i] * a[i];
		sbb += (double)b[i] * b[i];
	}
	double cov = sab / n - sa / n * sb / n;
	return cov / sqrt((saa / n - sa / n * sa / n) * (sbb / n - sb / n * sb / n));
}

static void test_rtll_reinit(void **state)
{
	struct nn_model m;
	(void)state;
	tl_need_fashion();
	int last = nn_last_param_layer(&clean);
	const struct nn_layer *l = &clean.layers[last];
	double bound = 1.0 / sqrt((double)(l->w_n / l->out_c));
	/* with a vanishing learning rate the last layer is the fresh draw */
	nn_copy(&m, &clean);
	attack_simple("finetune", "mode=rtll;epochs=1;lr=1e-9", &m, 3);
	for (int i = 0; i < m.nlayers; i++)
		if (nn_has_params(&m.layers[i]) && i != last)
			assert_true(layer_equal(&m, &clean, i));
	double c = corr(m.params + l->w_off, clean.params + l->w_off, l->w_n), mx = 0;
	for (size_t k = 0; k < l->w_n; k++)
		mx = fmax(mx, fabsf(m.params[l->w_off + k]));
	double acc0 = nn_accuracy(&m, &test, NULL, 0);
	printf("# rtll, lr 1e-9: corr(old, new last layer) %.4f, max |w| %.4f (bound %.4f), "
	       "accuracy %.4f\n",
	       c, mx, bound, acc0);
	assert_true(fabs(c) < 0.1);
	assert_true(mx <= bound * 1.001);
	assert_true(acc0 < 0.5);
	nn_free(&m);
	/* trained: the last layer learns back; the rest stays bit-identical */
	nn_copy(&m, &clean);
	attack_simple("finetune", "mode=rtll;epochs=2", &m, 3);
	for (int i = 0; i < m.nlayers; i++)
		if (nn_has_params(&m.layers[i]) && i != last)
			assert_true(layer_equal(&m, &clean, i));
	double acc = nn_accuracy(&m, &test, NULL, 0);
	printf("# rtll 2 epochs: accuracy %.4f -> %.4f\n", acc_clean, acc);
	assert_true(acc > acc_clean - 0.05);
	nn_free(&m);
}

static void test_ftal_accuracy(void **state)
{
	struct nn_model m;
	(void)state;
	tl_need_fashion();
	nn_copy(&m, &clean);
	attack_simple("finetune", "mode=ftal", &m, 4); /* 5 epochs, adam 1e-3 */
	double acc = nn_accuracy(&m, &test, NULL, 0);
	printf("# ftal 5 epochs on %d attacker samples: accuracy %.4f -> %.4f\n", n_attacker,
	       acc_clean, acc);
	assert_true(acc >= acc_clean - 0.02); /* more data may well raise it */
	assert_false(layer_equal(&m, &clean, 1));
	nn_free(&m);
}

static void test_fineprune(void **state)
{
	struct nn_model m;
	(void)state;
	tl_need_fashion();
	nn_copy(&m, &clean);
	attack_simple("fineprune", "ratio=0.5;epochs=1", &m, 5);
	/* fc2's removed units: weight row and bias zero, fc3 column zero, still */
	int h = nn_find_layer(&m, "fc2"), o = nn_find_layer(&m, "fc3");
	const struct nn_layer *lh = &m.layers[h], *lo = &m.layers[o];
	size_t Min = lh->w_n / lh->out_c;
	int dead = 0;
	for (int u = 0; u < lh->out_c; u++) {
		int z = zeros(m.params + lh->w_off + (size_t)u * Min, Min) == Min &&
			m.params[lh->b_off + u] == 0;
		if (z) {
			for (int r = 0; r < lo->out_c; r++)
				assert_true(m.params[lo->w_off + (size_t)r * lh->out_c + u] == 0);
		}
		dead += z;
	}
	double acc = nn_accuracy(&m, &test, NULL, 0);
	printf("# fineprune ratio 0.5, 1 epoch: %d of %d units removed, accuracy %.4f -> %.4f\n",
	       dead, lh->out_c, acc_clean, acc);
	assert_int_equal(dead, lh->out_c / 2);
	assert_true(acc > acc_clean - 0.03);
	nn_free(&m);
}

/* ---- overwrite and piracy with uchida ----------------------------------------- */

static void test_overwrite_piracy_uchida(void **state)
{
	const struct wm_scheme *u = wm_scheme_find("uchida");
	struct nn_model marked, m;
	struct npz key, pkey;
	struct param_set sp;
	struct wm_env w;
	struct wm_verdict v, pv;
	struct rng r, ar, saved;
	struct actx c;
	(void)state;
	tl_need_fashion();
	assert_non_null(u);
	npz_init(&key);
	npz_init(&pkey);
	memset(&sp, 0, sizeof sp);
	param_set_put(&sp, "bits", "64");
	param_complete(&sp, u->params);
	wenv_init(&w, &r, SEED + 100, 2);
	if (nn_create(&marked, "mlp", 1, 28, 28, 10, &r, err, sizeof err) ||
	    wm_keygen(u, &sp, &marked, &w, &key, err, sizeof err) ||
	    wm_embed(u, &sp, &marked, &key, &w, err, sizeof err))
		fail_msg("uchida: %s", err);
	if (wm_verify(u, &key, &marked, NULL, &w, &v, err, sizeof err))
		fail_msg("verify: %s", err);
	double acc0 = nn_accuracy(&marked, &test, NULL, 0);
	printf("# uchida marked: accuracy %.4f, owner BER %.4f p %.3g\n", acc0, v.metric, v.pvalue);
	assert_true(v.detected);

	/* overwrite: replay the attacker's key from the same RNG state */
	nn_copy(&m, &marked);
	actx_init(&c, 21, u, &sp, NULL);
	saved = c.r;
	attack("overwrite", "", &m, &c);
	rng_seed(&ar, seed_derive(rng_u64(&saved), "attacker key"));
	c.w.rng = &ar;
	if (wm_keygen(u, &sp, &m, &c.w, &pkey, err, sizeof err) ||
	    wm_verify(u, &pkey, &m, NULL, &w, &pv, err, sizeof err) ||
	    wm_verify(u, &key, &m, NULL, &w, &v, err, sizeof err))
		fail_msg("overwrite: %s", err);
	double acc1 = nn_accuracy(&m, &test, NULL, 0);
	printf("# overwrite (2 epochs): accuracy %.4f -> %.4f; attacker BER %.4f p %.3g; owner BER "
	       "%.4f p %.3g detected %d\n",
	       acc0, acc1, pv.metric, pv.pvalue, v.metric, v.pvalue, v.detected);
	assert_true(pv.detected);
	assert_true(pv.metric <= 0.05);
	nn_free(&m);

	/* piracy reports the pirate's verdict itself */
	nn_copy(&m, &marked);
	memset(&pv, 0, sizeof pv);
	actx_init(&c, 22, u, &sp, &pv);
	attack("piracy", "epochs=2", &m, &c);
	if (wm_verify(u, &key, &m, NULL, &w, &v, err, sizeof err))
		fail_msg("verify: %s", err);
	printf("# piracy (2 epochs): accuracy %.4f -> %.4f; pirate %s %.4f p %.3g detected %d; "
	       "owner BER %.4f detected %d\n",
	       acc0, nn_accuracy(&m, &test, NULL, 0), pv.metric_name, pv.metric, pv.pvalue,
	       pv.detected, v.metric, v.detected);
	assert_string_equal(pv.metric_name, "ber");
	assert_true(pv.detected);
	nn_free(&m);

	/* scheme none: nothing to overwrite with, nothing changes */
	nn_copy(&m, &marked);
	memset(&pv, 0, sizeof pv);
	actx_init(&c, 23, wm_scheme_find("none"), &sp, &pv);
	attack("piracy", "", &m, &c);
	assert_memory_equal(m.params, marked.params, m.nparams * sizeof(float));
	assert_string_equal(pv.metric_name, "");
	nn_free(&m);
	nn_free(&marked);
	npz_free(&key);
	npz_free(&pkey);
}

/* ---- distill and retrain -------------------------------------------------------- */

static void test_distill(void **state)
{
	struct nn_model m;
	(void)state;
	tl_need_fashion();
	nn_copy(&m, &clean);
	attack_simple("distill", "T=3;epochs=4", &m, 6);
	double acc = nn_accuracy(&m, &test, NULL, 0);
	double c = corr(m.params, clean.params, m.nparams);
	printf(
	    "# distill T 3, 4 epochs, student mlp: teacher %.4f, student %.4f (weight corr %.3f)\n",
	    acc_clean, acc, c);
	assert_true(acc >= acc_clean - 0.03);
	assert_true(fabs(c) < 0.1); /* a fresh model, not the teacher fine-tuned */
	nn_free(&m);

	nn_copy(&m, &clean);
	attack_simple("retrain", "epochs=2", &m, 7);
	acc = nn_accuracy(&m, &test, NULL, 0);
	printf("# retrain (hard labels), 2 epochs: teacher %.4f, student %.4f\n", acc_clean, acc);
	assert_true(acc >= acc_clean - 0.05);
	nn_free(&m);
}

static void test_distill_other_arch(void **state)
{
	struct nn_model m;
	(void)state;
	tl_need_fashion();
	nn_copy(&m, &clean);
	attack_simple("distill", "student=lenet5;epochs=1", &m, 8);
	assert_string_equal(m.arch, "lenet5");
	double acc = nn_accuracy(&m, &test, NULL, 0);
	printf("# distill into lenet5, 1 epoch: teacher %.4f, student %.4f\n", acc_clean, acc);
	assert_true(acc > 0.5);
	nn_free(&m);
}

/* ---- label smoothing, weight shifting, noise -------------------------------------- */

static void test_labelsmooth_weightshift_noise(void **state)
{
	struct nn_model m;
	(void)state;
	tl_need_fashion();
	nn_copy(&m, &clean);
	attack_simple("labelsmooth", "epochs=1", &m, 9);
	double a1 = nn_accuracy(&m, &test, NULL, 0);
	assert_false(layer_equal(&m, &clean, 1));
	nn_free(&m);

	/* weightshift without fine-tuning or noise: every row's mean becomes (1 - lambda) mu */
	nn_copy(&m, &clean);
	attack_simple("weightshift", "lambda=1.5;sigma=0;epochs=0", &m, 10);
	const struct nn_layer *l = &m.layers[nn_find_layer(&m, "fc2")];
	size_t M = l->w_n / l->out_c;
	for (int o = 0; o < l->out_c; o += 37) {
		double mb = 0, ma = 0;
		for (size_t k = 0; k < M; k++) {
			mb += clean.params[l->w_off + o * M + k];
			ma += m.params[l->w_off + o * M + k];
		}
		assert_true(fabs(ma / M - (1 - 1.5) * mb / M) < 1e-5);
	}
	double a2 = nn_accuracy(&m, &test, NULL, 0);
	nn_free(&m);
	nn_copy(&m, &clean);
	attack_simple("weightshift", "", &m, 10); /* lambda 1.5, sigma 0.1, 2 epochs */
	double a3 = nn_accuracy(&m, &test, NULL, 0);
	nn_free(&m);

	nn_copy(&m, &clean);
	attack_simple("noise", "sigma=0.1", &m, 11);
	const struct nn_layer *f1 = &m.layers[nn_find_layer(&m, "fc1")];
	double d2 = 0, s2 = 0, mu = 0;
	for (size_t k = 0; k < f1->w_n; k++)
		mu += clean.params[f1->w_off + k];
	mu /= f1->w_n;
	for (size_t k = 0; k < f1->w_n; k++) {
		double d = m.params[f1->w_off + k] - clean.params[f1->w_off + k];
		double e = clean.params[f1->w_off + k] - mu;
		d2 += d * d;
		s2 += e * e;
	}
	double ratio = sqrt(d2 / s2); /* std of the noise / std of the weights */
	double a4 = nn_accuracy(&m, &test, NULL, 0);
	nn_free(&m);
	printf("# labelsmooth 1 epoch %.4f; weightshift no tuning %.4f, default %.4f; noise 0.1: "
	       "%.4f (noise/std %.4f); clean %.4f\n",
	       a1, a2, a3, a4, ratio, acc_clean);
	assert_true(fabs(ratio - 0.1) < 0.005);
	assert_true(a1 > acc_clean - 0.03);
	assert_true(a3 > acc_clean - 0.03);
}

/* ---- chain ------------------------------------------------------------------------------ */

static void test_chain_order(void **state)
{
	struct nn_model m;
	(void)state;
	tl_need_fashion();
	nn_copy(&m, &clean);
	attack_simple("chain", "steps=prune:rate=0.5,scope=each|finetune:mode=ftll,epochs=1", &m,
		      12);
	int last = nn_last_param_layer(&m);
	for (int i = 0; i < m.nlayers; i++) {
		const struct nn_layer *l = &m.layers[i];
		if (!nn_has_params(l))
			continue;
		size_t z = zeros(m.params + l->w_off, l->w_n), k = (size_t)llround(0.5 * l->w_n);
		if (i == last)
			assert_true(z < k); /* fine-tuned after pruning */
		else
			check_pruned(clean.params + l->w_off, m.params + l->w_off, l->w_n, k);
	}
	nn_free(&m);
	/* '+' separates too */
	nn_copy(&m, &clean);
	attack_simple("chain", "steps=identity+prune:rate=0.1,scope=global", &m, 12);
	size_t z = 0;
	for (int i = 0; i < m.nlayers; i++)
		if (nn_has_params(&m.layers[i]))
			z += zeros(m.params + m.layers[i].w_off, m.layers[i].w_n);
	assert_true(z > 0);
	nn_free(&m);
}

/* ---- query-path wrappers ---------------------------------------------------------------- */

struct probe {
	float lo, hi;
	int calls;
	const float *last_x;
};

static int probe_predict(struct wm_query *q, const float *x, int n, float *probs)
{
	struct probe *p = q->ctx;
	size_t D = nn_in_size(q->model);
	for (size_t i = 0; i < (size_t)n * D; i++) {
		p->lo = fminf(p->lo, x[i]);
		p->hi = fmaxf(p->hi, x[i]);
	}
	p->last_x = x;
	p->calls++;
	for (int b = 0; b < n; b++)
		for (int c = 0; c < q->nclass; c++)
			probs[b * q->nclass + c] = (float)(c + 1) / 55.0f + 0.001f * b;
	q->queries += n;
	return 0;
}

static void wrap(const char *name, const char *kv, struct wm_query *outer, struct wm_query *inner)
{
	const struct atk_attack *a = atk_find(name);
	struct param_set p;
	struct rng r;
	assert_non_null(a);
	assert_true(a->query_path);
	aparams(a, &p, kv);
	rng_seed(&r, 5);
	if (atk_check(a, &p, err, sizeof err))
		fail_msg("%s check: %s", name, err);
	memset(outer, 0, sizeof *outer);
	if (atk_wrap(a, &p, outer, inner, NULL, &r, err, sizeof err))
		fail_msg("%s wrap: %s", name, err);
	assert_non_null(outer->release);
}

static void test_query_wrappers(void **state)
{
	const int n = 20;
	size_t D = 784;
	float *x = xmalloc(n * D * sizeof(float)), *x0 = xmalloc(n * D * sizeof(float));
	float probs[20 * 10], ref[20 * 10];
	struct probe pr = {INFINITY, -INFINITY, 0, NULL};
	struct wm_query inner = {
	    .predict = probe_predict, .model = &clean, .nclass = 10, .ctx = &pr};
	struct wm_query outer, plain;
	(void)state;
	tl_need_fashion();
	for (size_t i = 0; i < n * D; i++)
		x[i] = (float)(-3.0 + 8.0 * (double)(i % 97) / 96.0); /* [-3, 5] */
	memcpy(x0, x, n * D * sizeof(float));

	/* input_clip: the model sees [lo, hi] only; the caller's buffer is untouched */
	wrap("input_clip", "lo=0;hi=1", &outer, &inner);
	assert_int_equal(outer.predict(&outer, x, n, probs), 0);
	assert_true(pr.lo >= 0 && pr.hi <= 1);
	assert_true(pr.lo == 0 && pr.hi == 1);
	assert_true(pr.last_x != x);
	assert_memory_equal(x, x0, n * D * sizeof(float));
	assert_int_equal(outer.queries, n);
	assert_int_equal(inner.queries, n);
	outer.predict(&outer, x, n, probs);
	assert_int_equal(outer.queries, 2 * n);
	outer.release(&outer);
	assert_null(outer.ctx);

	/* input_quant: 4 bits -> levels k / 15 in [0, 1] */
	pr.lo = INFINITY, pr.hi = -INFINITY;
	wrap("input_quant", "bits=4", &outer, &inner);
	outer.predict(&outer, x, n, probs);
	assert_true(pr.lo >= 0 && pr.hi <= 1);
	outer.release(&outer);

	/* input_noise: the model sees something else; the caller's buffer is untouched */
	pr.lo = INFINITY, pr.hi = -INFINITY;
	wrap("input_noise", "sigma=0.5", &outer, &inner);
	outer.predict(&outer, x, n, probs);
	assert_true(pr.lo < -3 && pr.hi > 5);
	assert_memory_equal(x, x0, n * D * sizeof(float));
	outer.release(&outer);

	/* on the real model */
	for (size_t i = 0; i < n * D; i++)
		x[i] = (float)((i * 7919 % 256) / 255.0);
	wm_query_init(&plain, &clean);
	plain.predict(&plain, x, n, ref);
	plain.queries = 0;

	wrap("label_only", "", &outer, &plain);
	outer.predict(&outer, x, n, probs);
	for (int b = 0; b < n; b++) {
		int ones = 0;
		for (int c = 0; c < 10; c++) {
			assert_true(probs[b * 10 + c] == 0 || probs[b * 10 + c] == 1);
			ones += probs[b * 10 + c] == 1;
		}
		assert_int_equal(ones, 1);
		assert_true(probs[b * 10 + nn_argmax(ref + b * 10, 10)] == 1);
	}
	assert_int_equal(outer.queries, n);
	assert_int_equal(plain.queries, n);
	outer.release(&outer);

	wrap("score_round", "decimals=1", &outer, &plain);
	outer.predict(&outer, x, n, probs);
	for (int i = 0; i < n * 10; i++) {
		assert_true(fabs(probs[i] * 10 - round(probs[i] * 10)) < 1e-4);
		assert_true(fabs(probs[i] - ref[i]) <= 0.05 + 1e-6);
	}
	outer.release(&outer);

	wrap("score_noise", "sigma=0.05", &outer, &plain);
	outer.predict(&outer, x, n, probs);
	int moved = 0;
	for (int b = 0; b < n; b++) {
		double s = 0;
		for (int c = 0; c < 10; c++) {
			assert_true(probs[b * 10 + c] >= 0);
			s += probs[b * 10 + c];
			moved += probs[b * 10 + c] != ref[b * 10 + c];
		}
		assert_true(fabs(s - 1) < 1e-5);
	}
	assert_true(moved > n * 5);
	outer.release(&outer);

	/* wrappers stack */
	struct wm_query outer2;
	wrap("input_clip", "", &outer, &plain);
	wrap("label_only", "", &outer2, &outer);
	plain.queries = 0;
	outer2.predict(&outer2, x, n, probs);
	assert_int_equal(outer2.queries, n);
	assert_int_equal(outer.queries, n);
	assert_int_equal(plain.queries, n);
	outer2.release(&outer2);
	outer.release(&outer);
	free(x);
	free(x0);
}

/* ---- parameter checks ------------------------------------------------------------------ */

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
}

static void test_check_errors(void **state)
{
	(void)state;
	expect_check_error("prune", "rate=1.5",
			   (const char *const[]){"prune", "'rate'", "1.5", "[0, 1]", NULL});
	expect_check_error("prune", "rate=-0.1",
			   (const char *const[]){"prune", "'rate'", "[0, 1]", NULL});
	expect_check_error("quantize", "bits=0",
			   (const char *const[]){"quantize", "'bits'", "[1, 16]", NULL});
	expect_check_error(
	    "finetune", "mode=ftxx",
	    (const char *const[]){"finetune", "'mode'", "ftxx", "ftll|ftal|rtll|rtal", NULL});
	expect_check_error(
	    "chain", "",
	    (const char *const[]){"chain", "'steps'", "empty", "expected", "name:key=value", NULL});
	expect_check_error("chain", "steps=|",
			   (const char *const[]){"chain", "'steps'", "empty", NULL});
	expect_check_error("chain", "steps=prune|bogus",
			   (const char *const[]){"chain", "'steps'", "bogus", "not a known attack",
						 "finetune", NULL});
	expect_check_error(
	    "chain", "steps=prune:rate=2",
	    (const char *const[]){"chain", "step 1", "prune", "'rate'", "[0, 1]", NULL});
	expect_check_error("chain", "steps=prune|finetune:mode=zz",
			   (const char *const[]){"chain", "step 2", "finetune", "'mode'", NULL});
	expect_check_error("chain", "steps=prune:rate",
			   (const char *const[]){"chain", "'rate'", "key=value", NULL});
	expect_check_error("chain", "steps=input_clip",
			   (const char *const[]){"chain", "input_clip", "query-path", NULL});
	/* the attacker's own verdict is read on the final model: last step only */
	expect_check_error("chain", "steps=piracy|finetune:mode=ftal",
			   (const char *const[]){"chain", "step 1", "piracy", "last step", NULL});
	expect_check_error(
	    "chain", "steps=overwrite|prune",
	    (const char *const[]){"chain", "step 1", "overwrite", "last step", NULL});
	expect_check_error("chain", "steps=prune:attacker_data=0.5",
			   (const char *const[]){"chain", "attacker_data", NULL});
	expect_check_error("input_clip", "lo=1;hi=0",
			   (const char *const[]){"input_clip", "'hi'", "lo <= hi", NULL});
	expect_check_error("distill", "student=resnet",
			   (const char *const[]){"distill", "'student'", "resnet", "lenet5", NULL});
	expect_check_error(
	    "overwrite", "scheme_params=bits",
	    (const char *const[]){"overwrite", "'scheme_params'", "key=value", NULL});
	expect_check_error("noise", "sigma=-1",
			   (const char *const[]){"noise", "'sigma'", "[0, 100]", NULL});
	expect_check_error("finetune", "lr=abc",
			   (const char *const[]){"finetune", "'lr'", "not a number", NULL});
	/* every attack's defaults pass its own check; trainers take attacker_data (the core adds
	 * it to their table), but for those that train on public images and the API's answers
	 * alone (knockoff), which take none */
	for (int i = 0; atk_attacks[i]; i++) {
		const struct atk_attack *a = atk_attacks[i];
		struct param_set p;
		int trains = 0;
		if (!strcmp(a->name, "chain"))
			continue;
		aparams(a, &p, "");
		if (atk_check(a, &p, err, sizeof err))
			fail_msg("%s defaults: %s", a->name, err);
		for (const struct param_def *d = a->params; d->key; d++)
			trains |= !strcmp(d->key, "epochs");
		int public_only = (a->threat & ATK_T_PUBLIC) && !(a->threat & ATK_T_DATA);
		if (public_only)
			assert_false(a->uses_attacker_data);
		if (trains && !public_only) {
			int has = 0;
			assert_true(a->uses_attacker_data);
			for (const struct param_def *d = atk_params(a); d->key; d++)
				has |= !strcmp(d->key, "attacker_data");
			assert_true(has);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_errors),
	    cmocka_unit_test(test_identity),
	    cmocka_unit_test(test_prune),
	    cmocka_unit_test(test_quantize),
	    cmocka_unit_test(test_ftll_only_last),
	    cmocka_unit_test(test_rtll_reinit),
	    cmocka_unit_test(test_ftal_accuracy),
	    cmocka_unit_test(test_fineprune),
	    cmocka_unit_test(test_overwrite_piracy_uchida),
	    cmocka_unit_test(test_distill),
	    cmocka_unit_test(test_distill_other_arch),
	    cmocka_unit_test(test_labelsmooth_weightshift_noise),
	    cmocka_unit_test(test_chain_order),
	    cmocka_unit_test(test_query_wrappers),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
