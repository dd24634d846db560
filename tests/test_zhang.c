/* test_zhang.c - the trigger-set schemes of Zhang et al. (schemes/zhang.c):
 * zhang-content, zhang-noise, zhang-unrelated (labels random and single), on
 * Fashion-MNIST with mlp (6000 training samples, 2 epochs of adam 1e-3).
 *
 * The group setup trains six unmarked models once: seed 1 (the owner's seed,
 * whose model equals the F0 every embedding starts from) and seeds 2..6, the
 * controls of the empirical null. Per scheme: keygen on a key stream apart
 * from the model stream, embed (F0, then the fine-tune), the null fitted on
 * the controls' counts (kind 2; kind 1 needs none), then the marked model is
 * detected at alpha 1e-3, the unmarked model of the same seed and a wrong key
 * (another key seed, its own null fit) are not. Verification goes through a
 * query path that hides the model. Also: keys regenerate bit-identically,
 * content and noise images come from the owner's class-s images, class 0
 * works as a class, glyph pixels equal a re-render of their specs, a key with
 * other fonts is refused, and bad parameters are refused with the parameter,
 * the value and the range. The noise key's chance rate on the controls is
 * printed (kind 2's reason). Without Fashion-MNIST the tests fail
 * (testlib.h). */
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
#include "glyph.h"
#include "nn.h"
#include "testlib.h"
#include "util.h"

extern const struct wm_scheme wm_zhang_content, wm_zhang_noise, wm_zhang_unrelated;

#define NTRAIN	  6000
#define NTEST	  2000
#define EPOCHS	  2
#define SEED	  1
#define NCTRL	  5
#define KEY_SEED  777 /* the owner's key stream */
#define WRONG_KEY 778 /* another owner's key stream */

static struct dataset train, test;
static char err[ERRBUF];
/* clean[0]: seed SEED (the unmarked model of the marked models' seed);
 * clean[1..NCTRL]: controls, seeds SEED+1.. (tl_clean_model) */
static struct nn_model *clean[NCTRL + 1];
static double clean_acc, ft_acc; /* unmarked; unmarked + a keyless fine-tune */

static int group_setup(void **state)
{
	(void)state;
	if (tl_fashion_load(&train, &test, NTRAIN, NTEST))
		return 0; /* the tests that need the data fail in tl_need_fashion() */
	double t0 = now_seconds();
	for (int i = 0; i <= NCTRL; i++)
		clean[i] = tl_clean_model("mlp", SEED + i, EPOCHS);
	clean_acc = nn_accuracy(clean[0], &test, NULL, 0);
	/* the same fine-tune without a key (2 epochs at lr / 10): what the
	 * extra epochs alone do to the accuracy */
	struct wm_env env;
	struct rng r;
	struct nn_model ft;
	struct nn_opt opt;
	struct train_cfg cfg = {.epochs = 2, .batch = 64};
	tl_fashion_env(&env, &r, SEED + 100, EPOCHS);
	nn_copy(&ft, clean[0]);
	nn_opt_init(&opt, "adam", 1e-4, ft.nparams);
	if (nn_train(&ft, &train, tl_fashion_all(), train.n, &cfg, &opt, NULL, &r, NULL, err,
		     sizeof err))
		return -1;
	ft_acc = nn_accuracy(&ft, &test, NULL, 0);
	nn_opt_free(&opt);
	nn_free(&ft);
	printf("zhang: %d unmarked mlp models (%d samples, %d epochs) in %.1f s; seed %d test "
	       "acc %.4f\n",
	       NCTRL + 1, NTRAIN, EPOCHS, now_seconds() - t0, SEED, clean_acc);
	printf("zhang: seed %d fine-tuned 2 more epochs at lr / 10 without a key: test acc "
	       "%.4f\n",
	       SEED, ft_acc);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	tl_fashion_free(&train, &test);
	return 0;
}

/* Black-box verification through a query path that hides the model. */
static void verify_bb(const struct wm_scheme *s, const struct npz *key, struct nn_model *m,
		      struct wm_verdict *v)
{
	struct wm_env env;
	struct rng r;
	tl_fashion_env(&env, &r, 999, EPOCHS);
	tl_verify_bb(s, key, m, &env, "wm_acc", v);
	assert_int_equal(v->queries, (long)v->capacity);
}

/* keygen of setting kv from key stream kseed (the untrained model of SEED). */
static void keygen(const struct wm_scheme *s, const char *kv, uint64_t kseed, struct npz *key)
{
	struct wm_env env;
	struct rng r, kr;
	struct param_set p;
	struct nn_model m;
	tl_fashion_env(&env, &r, SEED, EPOCHS);
	if (nn_create(&m, "mlp", 1, 28, 28, 10, &r, err, sizeof err))
		fail_msg("nn_create: %s", err);
	rng_seed(&kr, kseed);
	env.rng = &kr;
	tl_scheme_params(s, &p, kv);
	npz_init(key);
	if (wm_check(s, &p, &m, err, sizeof err) ||
	    wm_keygen(s, &p, &m, &env, key, err, sizeof err))
		fail_msg("%s keygen %s: %s", s->name, kv, err);
	nn_free(&m);
}

/* The marked model of SEED: keygen on the key stream, then embed on the
 * model stream (so F0 inside embed equals clean[0]). */
static void embed(const struct wm_scheme *s, const char *kv, struct nn_model *m, struct npz *key)
{
	struct wm_env env;
	struct rng r;
	struct param_set p;
	double t0 = now_seconds();
	keygen(s, kv, KEY_SEED, key);
	tl_fashion_env(&env, &r, SEED, EPOCHS);
	if (nn_create(m, "mlp", 1, 28, 28, 10, &r, err, sizeof err))
		fail_msg("nn_create: %s", err);
	tl_scheme_params(s, &p, kv);
	if (wm_embed(s, &p, m, key, &env, err, sizeof err))
		fail_msg("%s embed %s: %s", s->name, kv, err);
	printf("%s %s: embedded in %.1f s\n", s->name, kv, now_seconds() - t0);
}

/* The empirical null of key from the controls' counts, stored in the key. */
static void fit_null(const struct wm_scheme *s, struct npz *key)
{
	struct wm_env env;
	struct rng r;
	struct wm_verdict v[NCTRL];
	tl_fashion_env(&env, &r, 999, EPOCHS);
	tl_fit_null(s, key, &clean[1], NCTRL, &env, "wm_acc", v);
	for (int i = 0; i < NCTRL; i++) {
		assert_true(v[i].pvalue == 1.0); /* no fit yet: no claim */
		assert_int_equal(v[i].detected, 0);
		assert_int_equal(v[i].queries, (long)v[i].capacity);
	}
}

static void key_classes(const struct npz *key, int *s, int *t)
{
	const struct npz_array *a = npz_get(key, "zhang.classes");
	assert_non_null(a);
	*s = ((const int32_t *)a->data)[0];
	*t = ((const int32_t *)a->data)[1];
}

/* Embeds setting kv of scheme s and checks the decisions: the marked model
 * detected, the unmarked model of the seed and a wrong key not. kind2: the
 * decision rests on a null fitted here. */
static void detect_case(const struct wm_scheme *s, const char *kv, int kind2, double min_acc)
{
	struct nn_model m;
	struct npz key, wrong;
	struct wm_verdict v, vc, vw;
	int ks, kt, ws, wt;

	tl_need_fashion();
	embed(s, kv, &m, &key);
	keygen(s, kv, WRONG_KEY, &wrong);
	key_classes(&key, &ks, &kt);
	key_classes(&wrong, &ws, &wt);
	if (kind2) {
		fit_null(s, &key);
		fit_null(s, &wrong);
	}
	double acc = nn_accuracy(&m, &test, NULL, 0);
	verify_bb(s, &key, &m, &v);
	verify_bb(s, &key, clean[0], &vc);
	verify_bb(s, &wrong, &m, &vw);
	printf("%s %s (s %d, t %d): test acc marked %.4f unmarked %.4f (+ keyless fine-tune "
	       "%.4f) cost %+.2f points (%+.2f)\n",
	       s->name, kv, ks, kt, acc, clean_acc, ft_acc, 100 * (clean_acc - acc),
	       100 * (ft_acc - acc));
	printf("%s %s: marked wm_acc %.3f p %.3g detected %d; unmarked+owner key wm_acc %.3f "
	       "p %.3g detected %d; marked+wrong key (s %d, t %d) wm_acc %.3f p %.3g detected "
	       "%d\n",
	       s->name, kv, v.metric, v.pvalue, v.detected, vc.metric, vc.pvalue, vc.detected, ws,
	       wt, vw.metric, vw.pvalue, vw.detected);
	assert_true(v.capacity == 100);
	assert_true(v.metric >= min_acc);
	assert_true(v.pvalue < 1e-3);
	assert_int_equal(v.detected, 1);
	assert_int_equal(vc.detected, 0);
	assert_true(vc.pvalue > 1e-2);
	assert_int_equal(vw.detected, 0);
	/* against the same fine-tune without a key (source_boost's extra class-s
	 * rows cost about 3 points here, see the report) */
	assert_true(ft_acc - acc < 0.05);
	if (kind2) {
		assert_int_equal(v.count, (int)lround(v.metric * 100));
		assert_true(!isnan(v.aux)); /* the rank bound */
	} else {
		assert_int_equal(v.count, -1);
		assert_true(vc.metric < 0.25 && vw.metric < 0.25);
		/* the exact binomial tail */
		assert_true(v.pvalue == binom_tail(100, (int)lround(v.metric * 100), 0.1));
	}
	nn_free(&m);
	npz_free(&key);
	npz_free(&wrong);
}

static void test_content(void **state)
{
	(void)state;
	/* the default setting; the wrong key differs in (s, t) */
	detect_case(&wm_zhang_content, "", 1, 0.9);
}

/* The noise key's null: how often unmarked models answer t, and how often
 * their most frequent answer on the key. */
static void test_noise(void **state)
{
	struct npz key;
	struct wm_verdict v;
	int s, t;
	(void)state;
	tl_need_fashion();
	keygen(&wm_zhang_noise, "", KEY_SEED, &key);
	key_classes(&key, &s, &t);
	const struct npz_array *x = npz_get(&key, "zhang.x");
	double rate_t = 0, rate_top = 0;
	for (int i = 0; i <= NCTRL; i++) {
		int C = 10, hist[10] = {0}, top = 0;
		float *probs = xmalloc(100 * C * sizeof(float));
		nn_predict_proba(clean[i], x->data, 100, probs);
		for (int k = 0; k < 100; k++)
			hist[nn_argmax(probs + k * C, C)]++;
		for (int c = 0; c < C; c++)
			if (c != s) /* t != s: class s is never a key's label */
				top = hist[c] > top ? hist[c] : top;
		verify_bb(&wm_zhang_noise, &key, clean[i], &v);
		assert_int_equal(v.count, hist[t]);
		printf(
		    "zhang-noise (s %d, t %d, std 0.4): unmarked seed %d answers t on %d of 100, "
		    "class s on %d, its most frequent class other than s on %d\n",
		    s, t, SEED + i, hist[t], hist[s], top);
		rate_t += hist[t] / 100.0;
		rate_top += top / 100.0;
		free(probs);
	}
	printf("zhang-noise: chance rate of %d unmarked models on the noise key: t %.3f; their "
	       "most frequent class other than s %.3f (a key whose t is that class matches at "
	       "that rate)\n",
	       NCTRL + 1, rate_t / (NCTRL + 1), rate_top / (NCTRL + 1));
	npz_free(&key);
	detect_case(&wm_zhang_noise, "", 1, 0.9);
}

static void test_unrelated_random(void **state)
{
	(void)state;
	/* the defaults learn only part of 100 random labels in 2 epochs at lr / 10,
	 * which the exact binomial still detects; at the run's lr they are learned */
	detect_case(&wm_zhang_unrelated, "", 0, 0.2);
	detect_case(&wm_zhang_unrelated, "ft_lr=0.001", 0, 0.9);
}

static void test_unrelated_single(void **state)
{
	(void)state;
	detect_case(&wm_zhang_unrelated, "labels=single", 1, 0.9);
}

/* Keys: bit-identical from the same key seed, different from another; the
 * content of content and noise images; class 0; glyph pixels = re-render. */
static void test_keys(void **state)
{
	static const char *const arrays[] = {"zhang.x", "zhang.y", "zhang.classes", "params",
					     "scheme"};
	const struct wm_scheme *all[3] = {&wm_zhang_content, &wm_zhang_noise, &wm_zhang_unrelated};
	(void)state;
	tl_need_fashion();
	for (int k = 0; k < 3; k++) {
		struct npz a, b, c;
		keygen(all[k], "", KEY_SEED, &a);
		keygen(all[k], "", KEY_SEED, &b);
		keygen(all[k], "", KEY_SEED + 5, &c);
		for (int i = 0; i < 5; i++)
			tl_assert_same_array(&a, &b, arrays[i]);
		if (k < 2)
			tl_assert_same_array(&a, &b, "zhang.src_idx");
		else {
			tl_assert_same_array(&a, &b, "zhang.glyph_spec");
			tl_assert_same_array(&a, &b, "zhang.glyph_fonts");
		}
		assert_memory_not_equal(npz_get(&a, "zhang.x")->data, npz_get(&c, "zhang.x")->data,
					100 * 784 * sizeof(float));
		int s, t;
		key_classes(&a, &s, &t);
		assert_true(s != t && s >= 0 && s < 10 && t >= 0 && t < 10);
		npz_free(&a);
		npz_free(&b);
		npz_free(&c);
	}

	/* content: class-s owner images, distinct, with the 7x14 bar at (2, 2) and the
	 * rest untouched; class 0 as the source, then as the target */
	struct npz key;
	keygen(&wm_zhang_content, "source=0,target=4", KEY_SEED, &key);
	const struct npz_array *x = npz_get(&key, "zhang.x"), *y = npz_get(&key, "zhang.y"),
			       *src = npz_get(&key, "zhang.src_idx");
	const float *xs = x->data;
	const int32_t *is = src->data;
	for (int i = 0; i < 100; i++) {
		assert_int_equal(((const int32_t *)y->data)[i], 4);
		assert_int_equal(train.y[is[i]], 0);
		for (int j = 0; j < i; j++)
			assert_int_not_equal(is[i], is[j]);
		for (int r = 0; r < 28; r++)
			for (int q = 0; q < 28; q++) {
				float v = xs[i * 784 + r * 28 + q];
				if (r >= 2 && r < 9 && q >= 2 && q < 16)
					assert_true(v == 1.0f);
				else
					assert_true(v == train.x[(size_t)is[i] * 784 + r * 28 + q] *
							     (1.0f / 255.0f));
			}
	}
	npz_free(&key);
	keygen(&wm_zhang_content, "source=6,target=0,bar_h=3,bar_w=5,bar_y=20,bar_x=23", KEY_SEED,
	       &key);
	x = npz_get(&key, "zhang.x");
	src = npz_get(&key, "zhang.src_idx");
	int s, t;
	key_classes(&key, &s, &t);
	assert_int_equal(s, 6);
	assert_int_equal(t, 0);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(((const int32_t *)npz_get(&key, "zhang.y")->data)[i], 0);
		assert_int_equal(train.y[((const int32_t *)src->data)[i]], 6);
		assert_true(((const float *)x->data)[i * 784 + 22 * 28 + 27] == 1.0f);
	}
	npz_free(&key);

	/* noise: class-s images plus noise of the given std, clipped to [0, 1] */
	keygen(&wm_zhang_noise, "source=0,std=0.1", KEY_SEED, &key);
	x = npz_get(&key, "zhang.x");
	src = npz_get(&key, "zhang.src_idx");
	key_classes(&key, &s, &t);
	assert_int_equal(s, 0);
	double sd = 0;
	int inner = 0;
	for (int i = 0; i < 100; i++) {
		int id = ((const int32_t *)src->data)[i];
		assert_int_equal(train.y[id], 0);
		assert_int_equal(((const int32_t *)npz_get(&key, "zhang.y")->data)[i], t);
		for (int j = 0; j < 784; j++) {
			float v = ((const float *)x->data)[i * 784 + j];
			double o = train.x[(size_t)id * 784 + j] / 255.0;
			assert_true(v >= 0 && v <= 1);
			if (o > 0.3 && o < 0.7) { /* far from the clip */
				sd += (v - o) * (v - o);
				inner++;
			}
		}
	}
	sd = sqrt(sd / inner);
	printf("zhang-noise std=0.1: measured %.4f on %d unclipped pixels\n", sd, inner);
	assert_true(fabs(sd - 0.1) < 0.01);
	npz_free(&key);

	/* unrelated: stored pixels equal a re-render of the specs; random labels
	 * cover the classes; single labels are all t, class 0 included */
	keygen(&wm_zhang_unrelated, "size=500", KEY_SEED, &key);
	x = npz_get(&key, "zhang.x");
	float *re = xmalloc(500 * 784 * sizeof(float));
	int n = 0, hist[10] = {0};
	assert_int_equal(glyph_key_check(&key, "zhang", 1, 28, 28, re, &n, err, sizeof err), 0);
	assert_int_equal(n, 500);
	assert_memory_equal(re, x->data, 500 * 784 * sizeof(float));
	free(re);
	for (int i = 0; i < 500; i++)
		hist[((const int32_t *)npz_get(&key, "zhang.y")->data)[i]]++;
	for (int c = 0; c < 10; c++)
		assert_true(hist[c] > 25 && hist[c] < 80);
	npz_free(&key);
	keygen(&wm_zhang_unrelated, "labels=single,target=0", KEY_SEED, &key);
	for (int i = 0; i < 100; i++)
		assert_int_equal(((const int32_t *)npz_get(&key, "zhang.y")->data)[i], 0);
	key_classes(&key, &s, &t);
	assert_true(t == 0 && s != 0);
	npz_free(&key);
}

/* A key whose glyphs came from other fonts is refused at verification; a
 * key with too few class-s images is refused at keygen. */
static void test_refusals(void **state)
{
	struct npz key;
	struct wm_verdict v;
	struct wm_env env;
	struct rng r;
	struct wm_query q;
	struct param_set p;
	struct nn_model m;
	(void)state;
	tl_need_fashion();
	keygen(&wm_zhang_unrelated, "size=10", KEY_SEED, &key);
	npz_add_text(&key, "zhang.glyph_fonts",
		     "0000000000000000000000000000000000000000000000000000000000000000");
	tl_fashion_env(&env, &r, 999, EPOCHS);
	tl_hidden_query(&q, clean[0]);
	memset(&v, 0, sizeof v);
	assert_int_equal(wm_verify(&wm_zhang_unrelated, &key, NULL, &q, &env, &v, err, sizeof err),
			 -1);
	printf("zhang-unrelated, other fonts: %s\n", err);
	assert_non_null(strstr(err, "zhang-unrelated: "));
	assert_non_null(strstr(err, "fonts"));
	assert_int_equal(q.queries, 0);
	npz_free(&key);

	tl_fashion_env(&env, &r, SEED, EPOCHS);
	assert_int_equal(nn_create(&m, "mlp", 1, 28, 28, 10, &r, err, sizeof err), 0);
	tl_scheme_params(&wm_zhang_content, &p, "size=5000,source=3");
	npz_init(&key);
	assert_int_equal(wm_keygen(&wm_zhang_content, &p, &m, &env, &key, err, sizeof err), -1);
	printf("zhang-content, size 5000: %s\n", err);
	assert_non_null(strstr(err, "zhang-content: parameter 'size' = 5000 exceeds the owner's"));
	assert_non_null(strstr(err, "of class 3; expected 1.."));
	npz_free(&key);
	nn_free(&m);
}

static void test_check(void **state)
{
	const struct wm_scheme *all[3] = {&wm_zhang_content, &wm_zhang_noise, &wm_zhang_unrelated};
	struct param_set p;
	struct nn_model m;
	(void)state;
	assert_int_equal(nn_build_spec(&m, "mlp", nn_arch_spec("mlp"), err, sizeof err), 0);
	for (int k = 0; k < 3; k++) {
		const struct wm_scheme *s = all[k];
		char want[256];
		assert_true(s->black_box);
		assert_int_equal(s->order, 7 + k);
		tl_scheme_params(s, &p, "");
		assert_int_equal(wm_check(s, &p, &m, err, sizeof err), 0);
		tl_scheme_params(s, &p, "source=0,target=9");
		assert_int_equal(wm_check(s, &p, &m, err, sizeof err), 0);
		snprintf(want, sizeof want,
			 "%s: parameter 'size' = '0' is out of range; expected an integer in [1, "
			 "10000]",
			 s->name);
		tl_expect_check_error(s, "mlp", "size=0", want);
		snprintf(want, sizeof want,
			 "%s: parameter 'source' = 10 is out of range for model 'mlp' with 10 "
			 "classes; expected -1 (drawn from the seed) or a class in [0, 9]",
			 s->name);
		tl_expect_check_error(s, "mlp", "source=10", want);
		snprintf(want, sizeof want, "%s: parameter 'target' = 12 is out of range", s->name);
		tl_expect_check_error(s, "mlp", "target=12", want);
		snprintf(want, sizeof want, "%s: parameter 'target' = '-2' is out of range",
			 s->name);
		tl_expect_check_error(s, "mlp", "target=-2", want);
		snprintf(want, sizeof want,
			 "%s: parameters 'source' = 0 and 'target' = 0 are the same class; "
			 "expected two different classes",
			 s->name);
		tl_expect_check_error(s, "mlp", "source=0,target=0", want);
		tl_expect_check_error(s, "mlp", "boost=0", "parameter 'boost' = '0'");
		tl_expect_check_error(s, "mlp", "source_boost=2",
				      "parameter 'source_boost' = '2' is out of range; expected "
				      "an integer in [0, 1]");
		tl_expect_check_error(s, "mlp", "ft_epochs=0", "parameter 'ft_epochs' = '0'");
		tl_expect_check_error(s, "mlp", "ft_lr=-1", "parameter 'ft_lr' = '-1'");
	}
	nn_free(&m);
	tl_expect_check_error(&wm_zhang_content, "mlp", "bar_w=30",
			      "zhang-content: parameter 'bar_w' = 30 does not fit the image "
			      "(28x28); expected -1 (scaled default) or 1..28");
	tl_expect_check_error(&wm_zhang_content, "mlp", "bar_h=0",
			      "zhang-content: parameter 'bar_h' = 0 does not fit");
	tl_expect_check_error(&wm_zhang_content, "mlp", "bar_y=25",
			      "zhang-content: parameter 'bar_y' = 25 puts the bar (height 7) "
			      "outside the image (28x28); expected -1 (scaled default) or 0..21");
	tl_expect_check_error(&wm_zhang_content, "mlp", "bar_x=20,bar_w=10",
			      "zhang-content: parameter 'bar_x' = 20 puts the bar (width 10)");
	tl_expect_check_error(&wm_zhang_noise, "mlp", "std=0",
			      "zhang-noise: parameter 'std' = '0' is out of range");
	tl_expect_check_error(&wm_zhang_unrelated, "mlp", "labels=many",
			      "zhang-unrelated: parameter 'labels' = 'many' is not valid; "
			      "expected one of random|single");

	/* which settings rest on an empirical null */
	void *cfg;
	tl_scheme_params(&wm_zhang_unrelated, &p, "");
	assert_non_null(cfg = wm_cfg(&wm_zhang_unrelated, &p, err, sizeof err));
	assert_int_equal(wm_zhang_unrelated.null_fit(cfg), 0);
	free(cfg);
	tl_scheme_params(&wm_zhang_unrelated, &p, "labels=single");
	assert_non_null(cfg = wm_cfg(&wm_zhang_unrelated, &p, err, sizeof err));
	assert_int_equal(wm_zhang_unrelated.null_fit(cfg), 1);
	free(cfg);
	tl_scheme_params(&wm_zhang_noise, &p, "");
	assert_non_null(cfg = wm_cfg(&wm_zhang_noise, &p, err, sizeof err));
	assert_int_equal(wm_zhang_noise.null_fit(cfg), 1);
	assert_int_equal(wm_zhang_content.null_fit(cfg), 1);
	free(cfg);
	assert_int_equal(wm_zhang_content.key_from_model, 1);
	assert_int_equal(wm_zhang_noise.key_from_model, 1);
	assert_int_equal(wm_zhang_unrelated.key_from_model, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_content),
	    cmocka_unit_test(test_noise),
	    cmocka_unit_test(test_unrelated_random),
	    cmocka_unit_test(test_unrelated_single),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
