/* test_ewe.c - the ewe entangled-watermark scheme on Fashion-MNIST with mlp.
 *
 * The hand-written SNNL gradient against central differences in double
 * precision; embedding (12000 training samples, 3 clean epochs, then the
 * default watermark phase of 2 passes) with the empirical null fitted here
 * on 5 unmarked models of other seeds: the marked model is detected at
 * alpha 1e-3, the unmarked model of the same seed is not, nor is the marked
 * model with a wrong key; an extraction check (a fresh mlp trained on the
 * marked model's labels) is reported; keys regenerate bit-identically; bad
 * parameters are refused. Verification goes through a query path that
 * hides the model (black-box). Without Fashion-MNIST the tests that need it
 * fail (testlib.h). */
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

#define NTRAIN	  12000
#define EPOCHS	  3
#define SEED	  1
#define NCONTROLS 5

extern const struct wm_scheme wm_ewe;
double wm_ewe_snnl(const double *h, int N, int D, const int *s, double a, double *dh, double *da);
double wm_ewe_input_snnl(struct nn_model *m, const float *x, int B, const int *s, double T,
			 float *gx);

static struct dataset train, test;
static char err[ERRBUF];
static const struct wm_scheme *ewe = &wm_ewe;

static int group_setup(void **state)
{
	(void)state;
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

/* ---- SNNL ------------------------------------------------------------------ */

/* The loss straight from its definition (no shifts, all rows have partners). */
static double naive_snnl(const double *h, int N, int D, const int *s, double a)
{
	double loss = 0;
	for (int i = 0; i < N; i++) {
		double num = 0, den = 0;
		for (int j = 0; j < N; j++) {
			if (j == i)
				continue;
			double dot = 0, ni = 0, nj = 0;
			for (int k = 0; k < D; k++) {
				dot += h[i * D + k] * h[j * D + k];
				ni += h[i * D + k] * h[i * D + k];
				nj += h[j * D + k] * h[j * D + k];
			}
			double w = exp(-a * (1 - dot / sqrt(ni * nj)));
			den += w;
			if (s[j] == s[i])
				num += w;
		}
		loss -= log(num / den) / N;
	}
	return loss;
}

/* dSNNL/dh and dSNNL/da against central differences, for several batch and
 * layer sizes and temperatures, on relu-like rows (non-negative, some
 * zeros); the analytic gradient must be far from zero. */
static void test_snnl_gradient(void **state)
{
	static const int shapes[][2] = {{4, 3}, {8, 17}, {12, 64}, {16, 200}};
	static const double as[] = {0.01, 1.0, 7.5};
	struct rng r;
	(void)state;
	rng_seed(&r, 77);
	for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
		for (size_t ai = 0; ai < sizeof as / sizeof as[0]; ai++) {
			int N = shapes[si][0], D = shapes[si][1];
			double a = as[ai], da, eps = 1e-5, maxg = 0, maxerr = 0;
			double *h = malloc((size_t)N * D * sizeof *h);
			double *dh = malloc((size_t)N * D * sizeof *dh);
			int *s = malloc((size_t)N * sizeof *s);
			for (int i = 0; i < N; i++)
				s[i] = i % 2 ? (int)(i % 4 == 3) : (int)rng_below(&r, 2);
			s[0] = 0, s[1] = 1, s[2] = 0, s[3] = 1; /* both groups have partners */
			for (int k = 0; k < N * D; k++) {
				double v = rng_normal(&r);
				h[k] = v > -0.3 ? v + 0.3 : 0;
			}
			double L = wm_ewe_snnl(h, N, D, s, a, dh, &da);
			assert_true(fabs(L - naive_snnl(h, N, D, s, a)) < 1e-12 * (1 + fabs(L)));
			for (int k = 0; k < N * D; k++) {
				if (h[k] == 0)
					continue; /* relu's kink: the rows are non-negative */
				double keep = h[k];
				h[k] = keep + eps;
				double lp = wm_ewe_snnl(h, N, D, s, a, NULL, NULL);
				h[k] = keep - eps;
				double lm = wm_ewe_snnl(h, N, D, s, a, NULL, NULL);
				h[k] = keep;
				double fd = (lp - lm) / (2 * eps);
				maxg = fmax(maxg, fabs(fd));
				maxerr = fmax(maxerr, fabs(fd - dh[k]));
			}
			double lp = wm_ewe_snnl(h, N, D, s, a + eps, NULL, NULL);
			double lm = wm_ewe_snnl(h, N, D, s, a - eps, NULL, NULL);
			double fda = (lp - lm) / (2 * eps);
			printf("snnl N %2d D %3d a %5.2f: loss %.6f max|grad| %.3g max err %.3g; "
			       "dL/da %.6g fd %.6g\n",
			       N, D, a, L, maxg, maxerr, da, fda);
			/* an all-zero gradient would match a flat loss only */
			assert_true(maxg > 1e-6 * a);
			/* central differences of a loss of size 1: error ~1e-11 */
			assert_true(maxerr < 1e-5 * maxg + 1e-10);
			assert_true(fabs(da) > 1e-6);
			assert_true(fabs(fda - da) < 1e-6 * fabs(da) + 1e-10);
			free(h);
			free(dh);
			free(s);
		}
}

/* The SNNL of every relu layer through a whole model (mlp; lenet5, whose
 * convolutional activations are channel-major): its value against the
 * layers' activations read here in the documented layouts (a per-sample
 * vector each), and its input gradient against central differences along
 * random directions (loose: relu kinks and float activations). */
static void test_snnl_model(void **state)
{
	static const char *archs[] = {"mlp", "lenet5"};
	(void)state;
	for (int ai = 0; ai < 2; ai++) {
		struct nn_model m;
		struct rng r;
		enum { B = 12, D = 784 };
		static float x[B * D], xp[B * D], g[B * D], v[B * D];
		int s[B];
		rng_seed(&r, 5 + ai);
		assert_int_equal(nn_create(&m, archs[ai], 1, 28, 28, 10, &r, err, sizeof err), 0);
		for (int b = 0; b < B; b++) {
			s[b] = b % 2;
			for (int k = 0; k < D; k++)
				x[b * D + k] = (float)rng_uniform(&r);
		}
		double L = wm_ewe_input_snnl(&m, x, B, s, 300, g), gmax = 0, ref = 0;
		nn_forward(&m, x, B, 0, NULL);
		for (int i = 0; i < m.nlayers; i++) {
			const struct nn_layer *l = &m.layers[i];
			size_t n = nn_out_size(l), S = (size_t)l->out_h * l->out_w;
			if (l->kind != NN_RELU)
				continue;
			double *h = malloc(B * n * sizeof *h);
			for (int b = 0; b < B; b++)
				for (size_t k = 0; k < n; k++)
					h[b * n + k] =
					    l->chan_major ? m.acts[i][((k / S) * B + b) * S + k % S]
							  : m.acts[i][b * n + k];
			ref += wm_ewe_snnl(h, B, (int)n, s, 3.0, NULL, NULL);
			free(h);
		}
		assert_true(fabs(L - ref) < 1e-9 * fabs(ref));
		for (int k = 0; k < B * D; k++)
			gmax = fmax(gmax, fabs(g[k]));
		assert_true(gmax > 0);
		for (int dir = 0; dir < 3; dir++) {
			double dd = 0, eps = 1e-4;
			for (int k = 0; k < B * D; k++) {
				v[k] = (float)rng_normal(&r);
				dd += (double)g[k] * v[k];
			}
			for (int k = 0; k < B * D; k++)
				xp[k] = x[k] + (float)(eps * v[k]);
			double lp = wm_ewe_input_snnl(&m, xp, B, s, 300, NULL);
			for (int k = 0; k < B * D; k++)
				xp[k] = x[k] - (float)(eps * v[k]);
			double lm = wm_ewe_input_snnl(&m, xp, B, s, 300, NULL);
			double fd = (lp - lm) / (2 * eps);
			printf("snnl %s: loss %.6f directional derivative %.6g, difference %.6g\n",
			       archs[ai], L, dd, fd);
			assert_true(fabs(dd) > 1e-4);
			assert_true(fabs(fd - dd) < 0.1 * fabs(dd));
		}
		nn_free(&m);
	}
}

/* ---- models and keys ---------------------------------------------------- */

/* Black-box verification: the query path hides the model. */
static void verify_bb(const struct npz *key, struct nn_model *m, struct wm_verdict *v)
{
	struct wm_env env;
	struct rng r;
	tl_fashion_env(&env, &r, 999, 1);
	tl_verify_bb(ewe, key, m, &env, "wm_acc", v);
	assert_int_equal(v->queries, (long)v->capacity);
}

/* keygen on the job stream (seed + 5000), like the runner's job RNG */
static void keygen_only(struct npz *key, const char *kv, uint64_t seed)
{
	struct wm_env env;
	struct rng r;
	struct param_set p;
	struct nn_model m;
	tl_fashion_env(&env, &r, seed + 5000, 1);
	if (nn_create(&m, "mlp", 1, 28, 28, 10, &r, err, sizeof err))
		fail_msg("nn_create: %s", err);
	tl_scheme_params(ewe, &p, kv);
	npz_init(key);
	if (wm_check(ewe, &p, &m, err, sizeof err) ||
	    wm_keygen(ewe, &p, &m, &env, key, err, sizeof err))
		fail_msg("ewe keygen %s: %s", kv, err);
	nn_free(&m);
}

/* The marked model of a seed (fresh from its training stream): keygen +
 * embed. The unmarked ones are tl_clean_model's. */
static void train_model(struct nn_model *m, const char *kv, uint64_t seed, int epochs,
			struct npz *key)
{
	struct wm_env env;
	struct rng r;
	struct param_set p;
	tl_fashion_env(&env, &r, seed, epochs);
	if (nn_create(m, "mlp", 1, 28, 28, 10, &r, err, sizeof err))
		fail_msg("nn_create: %s", err);
	keygen_only(key, kv, seed);
	tl_scheme_params(ewe, &p, kv);
	if (wm_embed(ewe, &p, m, key, &env, err, sizeof err))
		fail_msg("ewe embed %s: %s", kv, err);
}

/* Verifies key on the controls and stores the fitted null in it. */
static void fit_null(struct npz *key, struct nn_model *const *controls)
{
	struct wm_verdict v[NCONTROLS];
	struct wm_env env;
	struct rng r;
	tl_fashion_env(&env, &r, 999, 1);
	tl_fit_null(ewe, key, controls, NCONTROLS, &env, "wm_acc", v);
	for (int i = 0; i < NCONTROLS; i++) {
		assert_int_equal(v[i].queries, (long)v[i].capacity);
		assert_int_equal(v[i].count, (int)lround(v[i].metric * v[i].capacity));
	}
}

/* Top-1 labels of a model on the training set, as a relabelled copy. */
static void relabel(struct nn_model *m, struct dataset *d)
{
	size_t D = (size_t)train.c * train.h * train.w;
	float *x = malloc(256 * D * sizeof(float));
	*d = train;
	d->y = malloc((size_t)train.n);
	for (int s = 0; s < train.n; s += 256) {
		int B = train.n - s < 256 ? train.n - s : 256;
		uint32_t idx[256];
		for (int b = 0; b < B; b++)
			idx[b] = (uint32_t)(s + b);
		nn_fill_batch(train.x, NULL, D, idx, B, x, NULL);
		const float *z = nn_forward(m, x, B, 0, NULL);
		for (int b = 0; b < B; b++)
			d->y[s + b] = (uint8_t)nn_argmax(z + (size_t)b * 10, 10);
	}
	free(x);
}

/* A fresh mlp (seed) trained for epochs on d's labels (all of d). */
static void train_on(struct nn_model *m, const struct dataset *d, uint64_t seed, int epochs)
{
	struct wm_env env;
	struct rng r;
	tl_fashion_env(&env, &r, seed, epochs);
	env.train = d;
	if (tl_train_clean(m, "mlp", &env))
		fail_msg("training on relabelled data failed");
}

static void test_embed_detect(void **state)
{
	struct nn_model marked, other, *clean, *longer, *controls[NCONTROLS], stolen, honest;
	struct npz key, wrong;
	struct wm_verdict v, vc, vw, vo, vs, vh;
	struct dataset stolen_d;
	(void)state;
	tl_need_fashion();

	train_model(&marked, "", SEED, EPOCHS, &key);
	train_model(&other, "", SEED + 1000, EPOCHS, &wrong);
	clean = tl_clean_model("mlp", SEED, EPOCHS);
	longer = tl_clean_model("mlp", SEED, EPOCHS + 2); /* as many passes as embed */
	for (int i = 0; i < NCONTROLS; i++)
		controls[i] = tl_clean_model("mlp", 100 + i, EPOCHS);
	const int32_t *st = npz_get(&key, "ewe.s")->data, *tt = npz_get(&key, "ewe.t")->data;
	const int32_t *sw = npz_get(&wrong, "ewe.s")->data, *tw = npz_get(&wrong, "ewe.t")->data;
	const int32_t *pa = npz_get(&key, "ewe.patch")->data;
	printf("ewe keys: owner s %d t %d patch at (%d, %d) size %d; wrong s %d t %d\n", *st, *tt,
	       pa[0], pa[1], pa[2], *sw, *tw);
	assert_true(*st != *tt && *st >= 0 && *tt >= 0);

	/* before a fit: no claim */
	verify_bb(&key, &marked, &v);
	assert_true(v.pvalue == 1 && !v.detected);
	fit_null(&key, controls);
	fit_null(&wrong, controls);

	double acc_m = nn_accuracy(&marked, &test, NULL, 0),
	       acc_c = nn_accuracy(clean, &test, NULL, 0),
	       acc_l = nn_accuracy(longer, &test, NULL, 0);
	verify_bb(&key, &marked, &v);
	verify_bb(&key, clean, &vc);
	verify_bb(&wrong, &marked, &vw);
	verify_bb(&wrong, &other, &vo);
	printf("ewe mlp seed %d: test acc marked %.4f (%d + 2 epochs), clean %.4f (%d epochs) "
	       "%.4f (%d epochs): cost %+.2f points against the latter\n",
	       SEED, acc_m, EPOCHS, acc_c, EPOCHS, acc_l, EPOCHS + 2, 100 * (acc_l - acc_m));
	printf("ewe mlp: marked wm_acc %.3f p %.3g rank %.3g detected %d; clean+owner key "
	       "wm_acc %.3f p %.3g detected %d; marked+wrong key wm_acc %.3f p %.3g detected %d; "
	       "wrong key's own model wm_acc %.3f p %.3g\n",
	       v.metric, v.pvalue, v.aux, v.detected, vc.metric, vc.pvalue, vc.detected, vw.metric,
	       vw.pvalue, vw.detected, vo.metric, vo.pvalue);
	assert_true(acc_c > 0.80);
	assert_true(acc_l - acc_m < 0.03);
	assert_true(v.metric >= 0.9);
	assert_true(v.capacity == 100);
	assert_true(v.pvalue < 1e-3);
	assert_int_equal(v.detected, 1);
	assert_true(v.aux >= 1.0 / (NCONTROLS + 1) && v.aux <= 1);
	assert_int_equal(vc.detected, 0);
	assert_true(vc.metric < 0.2);
	assert_int_equal(vw.detected, 0);
	assert_true(vw.metric < 0.2);
	assert_int_equal(vo.detected, 1);

	/* extraction: a fresh mlp on the marked model's top-1 labels, 2 epochs,
	 * against one on the true labels (reported, not asserted: the SoK found
	 * EWE just below the threshold after extraction) */
	relabel(&marked, &stolen_d);
	train_on(&stolen, &stolen_d, SEED + 7, 2);
	train_on(&honest, &train, SEED + 7, 2);
	verify_bb(&key, &stolen, &vs);
	verify_bb(&key, &honest, &vh);
	double acc_s = nn_accuracy(&stolen, &test, NULL, 0);
	printf("ewe extraction (2 epochs on the marked model's labels): test acc %.4f wm_acc %.3f "
	       "p %.3g detected %d; same on true labels wm_acc %.3f p %.3g detected %d\n",
	       acc_s, vs.metric, vs.pvalue, vs.detected, vh.metric, vh.pvalue, vh.detected);
	assert_true(acc_s > 0.75);
	free(stolen_d.y);

	nn_free(&marked);
	nn_free(&other);
	nn_free(&stolen);
	nn_free(&honest);
	npz_free(&key);
	npz_free(&wrong);
}

/* Keys regenerate bit-identically from the seed (keygen, and embed's
 * completion); other seeds give other keys; the optimised triggers stay in
 * [0, 1], carry the patch and differ from the raw images. */
static void test_determinism(void **state)
{
	static const char *names[] = {"ewe.x0", "ewe.src_idx", "ewe.s", "ewe.t"};
	struct npz ka, kb, kc;
	struct nn_model a, b;
	(void)state;
	tl_need_fashion();
	keygen_only(&ka, "", SEED);
	keygen_only(&kb, "", SEED);
	keygen_only(&kc, "", SEED + 1);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		tl_assert_same_array(&ka, &kb, names[i]);
	const struct npz_array *ia = npz_get(&ka, "ewe.src_idx"), *ic = npz_get(&kc, "ewe.src_idx");
	assert_int_equal(ia->count, 100);
	assert_memory_not_equal(ia->data, ic->data, ia->count * sizeof(int32_t));
	const int32_t *src = ia->data, s = *(const int32_t *)npz_get(&ka, "ewe.s")->data;
	for (int i = 0; i < 100; i++) {
		assert_int_equal(train.y[src[i]], s);
		for (int j = 0; j < i; j++)
			assert_true(src[i] != src[j]);
	}
	npz_free(&ka);
	npz_free(&kb);
	npz_free(&kc);

	/* the embedding twice: identical weights and triggers */
	const char *kv = "size=20,w_epochs=1,trigger_steps=2";
	train_model(&a, kv, SEED + 2, 1, &ka);
	train_model(&b, kv, SEED + 2, 1, &kb);
	assert_memory_equal(a.params, b.params, a.nparams * sizeof(float));
	tl_assert_same_array(&ka, &kb, "ewe.x");
	tl_assert_same_array(&ka, &kb, "ewe.y");
	tl_assert_same_array(&ka, &kb, "ewe.patch");
	const struct npz_array *x = npz_get(&ka, "ewe.x"), *x0 = npz_get(&ka, "ewe.x0");
	const int32_t *pa = npz_get(&ka, "ewe.patch")->data,
		      t = *(const int32_t *)npz_get(&ka, "ewe.t")->data;
	const float *xs = x->data;
	assert_int_equal(pa[2], 3);
	assert_true(pa[0] >= 0 && pa[0] + 3 <= 28 && pa[1] >= 0 && pa[1] + 3 <= 28);
	for (size_t i = 0; i < x->count; i++)
		assert_true(xs[i] >= 0 && xs[i] <= 1);
	assert_memory_not_equal(x->data, x0->data, x->count * sizeof(float));
	for (int i = 0; i < 20; i++)
		assert_int_equal(((const int32_t *)npz_get(&ka, "ewe.y")->data)[i], t);
	nn_free(&a);
	nn_free(&b);
	npz_free(&ka);
	npz_free(&kb);
}

/* The glyph source: keygen renders glyphs, records their specs, repeats. */
static void test_glyph(void **state)
{
	struct npz ka, kb;
	(void)state;
	tl_need_fashion();
	keygen_only(&ka, "source=glyph,size=30", SEED);
	keygen_only(&kb, "source=glyph,size=30", SEED);
	tl_assert_same_array(&ka, &kb, "ewe.x0");
	tl_assert_same_array(&ka, &kb, "ewe.glyph_spec");
	assert_int_equal(*(const int32_t *)npz_get(&ka, "ewe.s")->data, -1);
	const struct npz_array *x = npz_get(&ka, "ewe.x0");
	const float *xs = x->data;
	double mean = 0;
	for (size_t i = 0; i < x->count; i++)
		mean += xs[i];
	mean /= (double)x->count;
	printf("ewe glyph triggers: mean pixel %.3f\n", mean);
	assert_true(mean > 0.01 && mean < 0.6);
	npz_free(&ka);
	npz_free(&kb);
}

/* Bad parameters: refused before any training, with the parameter, the
 * value and the range. */
static void test_params(void **state)
{
	struct param_set p;
	struct nn_model m;
	(void)state;
	tl_expect_check_error(ewe, "mlp", "size=1", "'size' = '1'");
	tl_expect_check_error(ewe, "mlp", "size=1", "[2, 10000]");
	tl_expect_check_error(ewe, "mlp", "source=mnist", "'source' = 'mnist'");
	tl_expect_check_error(ewe, "mlp", "kappa=-1", "'kappa' = '-1'");
	tl_expect_check_error(ewe, "mlp", "ratio=0", "'ratio' = '0'");
	tl_expect_check_error(ewe, "mlp", "s=-2", "'s' = '-2'");
	tl_expect_check_error(ewe, "mlp", "t=10", "'t' = 10");
	tl_expect_check_error(ewe, "mlp", "t=10", "expected -1 or 0..9");
	tl_expect_check_error(ewe, "mlp", "s=3,t=3", "s != t");
	tl_expect_check_error(ewe, "mlp", "patch=29", "'patch' = 29 exceeds the image (28x28)");
	tl_expect_check_error(ewe, "mlp", "patch=29", "expected 1..28");
	tl_expect_check_error(ewe, "lenet5", "s=12", "'s' = 12");

	/* more triggers than owner images of the source class: keygen refuses */
	struct wm_env env;
	struct rng r;
	struct npz key;
	tl_need_fashion();
	tl_fashion_env(&env, &r, SEED, 1);
	assert_int_equal(nn_create(&m, "mlp", 1, 28, 28, 10, &r, err, sizeof err), 0);
	tl_scheme_params(ewe, &p, "size=5000,s=2");
	npz_init(&key);
	assert_int_equal(wm_keygen(ewe, &p, &m, &env, &key, err, sizeof err), -1);
	printf("ewe keygen(size=5000): %s\n", err);
	assert_non_null(strstr(err, "'size' = 5000 exceeds the"));
	assert_non_null(strstr(err, "of source class 2; expected 2.."));
	npz_free(&key);
	/* a key that embed has not completed does not verify */
	npz_init(&key);
	tl_scheme_params(ewe, &p, "size=10");
	assert_int_equal(wm_keygen(ewe, &p, &m, &env, &key, err, sizeof err), 0);
	struct wm_query q;
	struct wm_verdict v;
	wm_query_init(&q, &m);
	assert_int_equal(wm_verify(ewe, &key, &m, &q, &env, &v, err, sizeof err), -1);
	assert_non_null(strstr(err, "ewe.x"));
	npz_free(&key);
	nn_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_snnl_gradient), cmocka_unit_test(test_snnl_model),
	    cmocka_unit_test(test_params),	  cmocka_unit_test(test_glyph),
	    cmocka_unit_test(test_determinism),	  cmocka_unit_test(test_embed_detect),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
