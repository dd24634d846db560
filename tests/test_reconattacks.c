/* test_reconattacks.c - the attacks reconstruct, smoothretrain and ensemble
 * on Fashion-MNIST with mlp.
 *
 * 6000 training samples split in halves (owner / attacker), 1000 test
 * samples; the clean teacher is mlp trained 2 epochs on the owner's half
 * (tl_train_clean). Shows: bad parameters and missing attacker data are
 * refused before any work (no query, no wrapper installed, the model
 * untouched). reconstruct: its autoencoder (5 epochs at lr 0.01 on 2000
 * images, to stay quick) reconstructs held-out images with less than half
 * the error of the attacker's mean image, moves uniform noise next to the
 * data (its nearest attacker image at most twice as far as a held-out
 * image's, and a quarter as far as the noise's) and strips 95 % of a +-2
 * block, keeps the clean model's accuracy through the wrapper within 10
 * points, and is the same for the same seed.
 * smoothretrain: it queries n x images, its student is fresh (weight
 * correlation under 0.1), within 12 points of the teacher (an mlp teacher
 * is shift-sensitive: its labels on shifted views are worse) and
 * deterministic; its views are shifts uniform in [-pad, pad]^2 (and mirrors
 * half of the time with flip = 1), read off a teacher that reports a bright
 * pixel's position; with one unshifted view it is distill at T = 1, bit for
 * bit. ensemble: its members train on disjoint parts that cover the
 * attacker's data, labels = source and source_hard cost one query per sample
 * and labels = true none, the answers are the members' mean softmax and
 * never reach the marked model, the ensemble is within 6 points of the
 * teacher and the same for the same seed. */
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
#include "train.h"
#include "util.h"

#define NTRAIN 6000
#define NTEST  1000
#define SEED   21
#define D      784

/* defined in attacks/ensemble.c, for tests */
const struct nn_model *atk_ensemble_member(const struct wm_query *q, int k, const uint32_t **part,
					   int *n);

static struct dataset train, test;
static const uint32_t *attacker;
static int n_attacker, have_data;
static struct nn_model clean_model, *clean = &clean_model;
static double acc_clean;
static char err[ERRBUF];

static int group_setup(void **state)
{
	struct wm_env w;
	struct rng r;
	(void)state;
	/* without the data, the tests that need it fail in tl_need_fashion() */
	if (tl_fashion_load(&train, &test, NTRAIN, NTEST) || tl_fashion_split(SEED, 0.5))
		return 0;
	tl_fashion_env(&w, &r, SEED, 2);
	attacker = w.attacker_idx;
	n_attacker = w.n_attacker;
	if (tl_train_clean(clean, "mlp", &w))
		return -1;
	acc_clean = nn_accuracy(clean, &test, NULL, 0);
	printf("# clean mlp: %d owner / %d attacker samples, 2 epochs, test accuracy %.4f\n",
	       w.n_owner, n_attacker, acc_clean);
	have_data = 1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (have_data)
		nn_free(clean);
	tl_fashion_free(&train, &test);
	return 0;
}

/* The attack's environment: the first n of the attacker's samples of d, the
 * RNG seeded with seed, queries counted in *queries. */
static void env_init(struct atk_env *e, struct rng *r, uint64_t seed, const struct dataset *d,
		     const uint32_t *idx, int n, long *queries)
{
	memset(e, 0, sizeof *e);
	rng_seed(r, seed);
	e->train = d;
	e->attacker_idx = idx;
	e->n_attacker = n;
	e->rng = r;
	e->queries = queries;
}

static void params(const struct atk_attack *a, struct param_set *p, const char *kv)
{
	tl_params(a->name, a->params, p, kv, ";");
}

/* Wraps inner with attack name and params kv in env e; fails the test on an
 * error. */
static void wrap(const char *name, const char *kv, struct wm_query *outer, struct wm_query *inner,
		 const struct atk_env *e)
{
	const struct atk_attack *a = atk_find(name);
	struct param_set p;
	struct rng r;
	assert_non_null(a);
	assert_true(a->query_path);
	params(a, &p, kv);
	rng_seed(&r, 5);
	memset(outer, 0, sizeof *outer);
	if (atk_wrap(a, &p, outer, inner, e, &r, err, sizeof err))
		fail_msg("%s wrap: %s", name, err);
	assert_non_null(outer->release);
}

static void apply(const char *name, const char *kv, struct nn_model *m, const struct atk_env *e)
{
	const struct atk_attack *a = atk_find(name);
	struct param_set p;
	assert_non_null(a);
	params(a, &p, kv);
	if (atk_apply(a, &p, m, e, err, sizeof err))
		fail_msg("%s apply: %s", name, err);
}

static float *images(const struct dataset *d, int n)
{
	float *x = xmalloc((size_t)n * D * sizeof(float));
	uint32_t *idx = xmalloc((size_t)n * sizeof *idx);
	for (int i = 0; i < n; i++)
		idx[i] = (uint32_t)i;
	nn_fill_batch(d->x, d->y, D, idx, n, x, NULL);
	free(idx);
	return x;
}

static double corr(const float *a, const float *b, size_t n)
{
	double sa = 0, sb = 0, sab = 0, saa = 0, sbb = 0;
	for (size_t i = 0; i < n; i++) {
		sa += a[i], sb += b[i];
		sab += (double)a[i] * b[i];
		saa += (double)a[i] * a[i];
		sbb += (double)b[i] * b[i];
	}
	double cov = sab - sa * sb / n;
	return cov / sqrt((saa - sa * sa / n) * (sbb - sb * sb / n));
}

/* An inner query path that records a copy of the inputs of its last call,
 * counts its queries, and answers from next (or uniform scores). */
struct recorder {
	struct wm_query *next;
	float *x;
	size_t cap;
	int calls;
};

static int record_predict(struct wm_query *q, const float *x, int n, float *probs)
{
	struct recorder *rec = q->ctx;
	size_t len = (size_t)n * q->in_size;
	if (len > rec->cap) {
		free(rec->x);
		rec->x = xmalloc(len * sizeof(float));
		rec->cap = len;
	}
	memcpy(rec->x, x, len * sizeof(float));
	rec->calls++;
	q->queries += n;
	if (rec->next)
		return rec->next->predict(rec->next, x, n, probs);
	for (size_t i = 0; i < (size_t)n * q->nclass; i++)
		probs[i] = 1.0f / q->nclass;
	return 0;
}

static void recorder_init(struct wm_query *q, struct recorder *rec, struct wm_query *next)
{
	memset(rec, 0, sizeof *rec);
	rec->next = next;
	memset(q, 0, sizeof *q);
	q->predict = record_predict;
	q->nclass = 10;
	q->in_size = D;
	q->ctx = rec;
	q->model = next ? next->model : NULL;
}

/* ---- parameters and missing data ---------------------------------------------- */

static void expect_check_error(const char *name, const char *kv, const char *const *parts)
{
	const struct atk_attack *a = atk_find(name);
	struct param_set p;
	assert_non_null(a);
	params(a, &p, kv);
	err[0] = 0;
	if (!atk_check(a, &p, err, sizeof err))
		fail_msg("%s with %s passed check; expected an error", name, kv);
	for (int i = 0; parts[i]; i++)
		if (!strstr(err, parts[i]))
			fail_msg("%s with %s: message '%s' lacks '%s'", name, kv, err, parts[i]);
	printf("# %s %s -> %s\n", name, kv, err);
}

/* Wrapping with kv in e fails with a message holding needle, before any
 * query and without installing a wrapper. */
static void expect_wrap_error(const char *name, const char *kv, struct wm_query *inner,
			      const struct atk_env *e, const char *needle)
{
	const struct atk_attack *a = atk_find(name);
	struct wm_query outer;
	struct param_set p;
	struct rng r;
	long q0 = inner->queries, aq = e && e->queries ? *e->queries : 0;
	params(a, &p, kv);
	rng_seed(&r, 5);
	memset(&outer, 0, sizeof outer);
	err[0] = 0;
	if (!atk_wrap(a, &p, &outer, inner, e, &r, err, sizeof err))
		fail_msg("%s %s wrapped; expected an error", name, kv);
	if (!strstr(err, needle))
		fail_msg("%s %s: message '%s' lacks '%s'", name, kv, err, needle);
	assert_null(outer.release);
	assert_null(outer.ctx);
	assert_int_equal(inner->queries, q0);
	if (e && e->queries)
		assert_int_equal(*e->queries, aq);
	printf("# %s %s -> %s\n", name, kv, err);
}

static void test_refused(void **state)
{
	(void)state;
	expect_check_error("reconstruct", "hidden=0",
			   (const char *const[]){"reconstruct", "'hidden'", "[1, 4096]", NULL});
	expect_check_error("reconstruct", "noise=-0.1",
			   (const char *const[]){"reconstruct", "'noise'", "-0.1", NULL});
	expect_check_error("reconstruct", "epochs=0",
			   (const char *const[]){"reconstruct", "'epochs'", "[1, 1000]", NULL});
	expect_check_error("reconstruct", "optimizer=lbfgs",
			   (const char *const[]){"reconstruct", "'optimizer'", "adam", NULL});
	expect_check_error("smoothretrain", "n=0",
			   (const char *const[]){"smoothretrain", "'n'", "[1, 32]", NULL});
	expect_check_error("smoothretrain", "n=33",
			   (const char *const[]){"smoothretrain", "'n'", "33", "[1, 32]", NULL});
	expect_check_error("smoothretrain", "flip=2",
			   (const char *const[]){"smoothretrain", "'flip'", "[0, 1]", NULL});
	expect_check_error("smoothretrain", "pad=-1",
			   (const char *const[]){"smoothretrain", "'pad'", NULL});
	expect_check_error(
	    "smoothretrain", "student=resnet",
	    (const char *const[]){"smoothretrain", "'student'", "resnet", "lenet5", NULL});
	expect_check_error("ensemble", "s=1",
			   (const char *const[]){"ensemble", "'s'", "[2, 10]", NULL});
	expect_check_error("ensemble", "s=11",
			   (const char *const[]){"ensemble", "'s'", "11", "[2, 10]", NULL});
	expect_check_error(
	    "ensemble", "labels=soft",
	    (const char *const[]){"ensemble", "'labels'", "soft", "source|source_hard|true", NULL});
	expect_check_error("ensemble", "student=vgg",
			   (const char *const[]){"ensemble", "'student'", "vgg", "mlp", NULL});
	expect_check_error("ensemble", "epochs=0",
			   (const char *const[]){"ensemble", "'epochs'", NULL});
	expect_check_error("ensemble", "smooth=1",
			   (const char *const[]){"ensemble", "'smooth'", NULL});

	tl_need_fashion();
	struct wm_query inner;
	struct atk_env e;
	struct rng r;
	long queries = 0;
	tl_hidden_query(&inner, clean);
	env_init(&e, &r, 1, &train, attacker, n_attacker, &queries);
	/* bad parameters through wrap and apply: nothing happens */
	expect_wrap_error("ensemble", "s=0", &inner, &e, "'s'");
	expect_wrap_error("reconstruct", "hidden=-3", &inner, &e, "'hidden'");
	struct nn_model m;
	struct param_set p;
	nn_copy(&m, clean);
	params(atk_find("smoothretrain"), &p, "n=40");
	assert_int_equal(atk_apply(atk_find("smoothretrain"), &p, &m, &e, err, sizeof err), -1);
	assert_non_null(strstr(err, "'n'"));
	assert_memory_equal(m.params, clean->params, m.nparams * sizeof(float));
	assert_int_equal(queries, 0);
	nn_free(&m);
	/* no attacker data */
	expect_wrap_error("reconstruct", "", &inner, NULL, "no training images");
	expect_wrap_error("ensemble", "student=mlp", &inner, NULL, "no training samples");
	env_init(&e, &r, 1, &train, attacker, 0, &queries);
	expect_wrap_error("reconstruct", "", &inner, &e, "attacker");
	nn_copy(&m, clean);
	params(atk_find("smoothretrain"), &p, "");
	assert_int_equal(atk_apply(atk_find("smoothretrain"), &p, &m, &e, err, sizeof err), -1);
	assert_non_null(strstr(err, "no training samples"));
	assert_memory_equal(m.params, clean->params, m.nparams * sizeof(float));
	nn_free(&m);
	/* more parts than samples; the hidden model's architecture */
	env_init(&e, &r, 1, &train, attacker, 2, &queries);
	expect_wrap_error("ensemble", "s=3;student=mlp", &inner, &e, "'s' = '3'");
	env_init(&e, &r, 1, &train, attacker, n_attacker, &queries);
	expect_wrap_error("ensemble", "student=same;labels=true", &inner, &e, "hides the model");
	assert_int_equal(inner.queries, 0);
	assert_int_equal(queries, 0);
}

/* ---- reconstruct --------------------------------------------------------------------- */

static double mse(const float *a, const float *b, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
	return s / n;
}

/* The MSE of x to the nearest of the images idx[0..n) of xs. */
static double nearest(const float *x, const float *xs, const uint32_t *idx, int n)
{
	double best = INFINITY;
	for (int i = 0; i < n; i++)
		best = fmin(best, mse(x, xs + (size_t)idx[i] * D, D));
	return best;
}

static void test_reconstruct(void **state)
{
	const int n_ae = 2000, nh = 500, nn = 20;
	struct wm_query plain, inner, outer;
	struct recorder rec;
	struct atk_env e;
	struct rng r, u;
	long queries = 0;
	(void)state;
	tl_need_fashion();
	wm_query_init(&plain, clean);
	recorder_init(&inner, &rec, &plain);
	env_init(&e, &r, 3, &train, attacker, n_ae, &queries);
	wrap("reconstruct", "epochs=5;lr=0.01", &outer, &inner, &e);
	assert_int_equal(inner.queries, 0); /* training reads the data, not the API */
	assert_int_equal(queries, 0);

	/* held-out clean images: better than the attacker's mean image */
	float *mean = xcalloc(D, sizeof(float)), *xa = images(&train, NTRAIN);
	for (int i = 0; i < n_ae; i++)
		for (int j = 0; j < D; j++)
			mean[j] += xa[(size_t)attacker[i] * D + j] / n_ae;
	float *x = images(&test, nh), *probs = xmalloc((size_t)nh * 10 * sizeof(float));
	float *x0 = xmalloc((size_t)nh * D * sizeof(float));
	memcpy(x0, x, (size_t)nh * D * sizeof(float));
	assert_int_equal(outer.predict(&outer, x, nh, probs), 0);
	assert_memory_equal(x, x0, (size_t)nh * D * sizeof(float)); /* the caller's copy */
	assert_int_equal(outer.queries, nh);
	assert_int_equal(inner.queries, nh);
	double m_ae = mse(rec.x, x, (size_t)nh * D), m_mean = 0;
	float lo = INFINITY, hi = -INFINITY;
	for (int i = 0; i < nh; i++)
		m_mean += mse(mean, x + (size_t)i * D, D) / nh;
	for (size_t i = 0; i < (size_t)nh * D; i++)
		lo = fminf(lo, rec.x[i]), hi = fmaxf(hi, rec.x[i]);
	printf("# reconstruct (hidden 128, 5 epochs at lr 0.01 on %d images): held-out MSE %.4f, "
	       "mean image "
	       "%.4f; outputs in [%.3g, %.3g]\n",
	       n_ae, m_ae, m_mean, lo, hi);
	assert_true(m_ae < 0.5 * m_mean);
	assert_true(lo >= 0 && hi <= 1); /* the sigmoid */

	/* out of distribution: uniform noise ends near the data (the nearest
	 * attacker image, as close as a held-out image's), far from where it was */
	float *z = xmalloc((size_t)nn * D * sizeof(float));
	rng_seed(&u, 99);
	for (size_t i = 0; i < (size_t)nn * D; i++)
		z[i] = (float)rng_uniform(&u);
	double nn_clean = 0, nn_in = 0, nn_out = 0, moved = 0;
	for (int i = 0; i < nn; i++) {
		nn_clean += nearest(x + (size_t)i * D, xa, attacker, n_ae) / nn;
		nn_in += nearest(z + (size_t)i * D, xa, attacker, n_ae) / nn;
	}
	outer.predict(&outer, z, nn, probs);
	for (int i = 0; i < nn; i++) {
		nn_out += nearest(rec.x + (size_t)i * D, xa, attacker, n_ae) / nn;
		moved += mse(rec.x + (size_t)i * D, z + (size_t)i * D, D) / nn;
	}
	printf("# uniform noise: MSE to the nearest attacker image %.4f before, %.4f after (a "
	       "held-out image: %.4f); moved by %.4f\n",
	       nn_in, nn_out, nn_clean, moved);
	assert_true(nn_out < 0.25 * nn_in);
	assert_true(nn_out < 2 * nn_clean);
	assert_true(moved > 0.5 * nn_in);

	/* a +-lambda block (nullembed's kind of trigger) on clean images is mostly removed */
	const double lambda = 2;
	float *xb = xmalloc((size_t)nn * D * sizeof(float)),
	      *ab = xmalloc((size_t)nn * D * sizeof(float));
	memcpy(xb, x, (size_t)nn * D * sizeof(float));
	for (int i = 0; i < nn; i++)
		for (int a = 0; a < 8; a++)
			for (int b = 0; b < 8; b++)
				xb[(size_t)i * D + (size_t)(2 + a) * 28 + 2 + b] +=
				    (float)(((a + b) & 1 ? 1 : -1) * lambda);
	outer.predict(&outer, x, nn, probs);
	memcpy(ab, rec.x, (size_t)nn * D * sizeof(float)); /* AE of the clean images */
	outer.predict(&outer, xb, nn, probs);
	double blk_in = 0, blk_out = 0;
	for (int i = 0; i < nn; i++)
		for (int a = 0; a < 8; a++)
			for (int b = 0; b < 8; b++) {
				size_t k = (size_t)i * D + (size_t)(2 + a) * 28 + 2 + b;
				blk_in += fabs(xb[k] - x[k]) / (nn * 64);
				blk_out += fabs(rec.x[k] - ab[k]) / (nn * 64);
			}
	printf("# +-%g block: mean |pattern| %.4f in the input, %.4f left after the autoencoder\n",
	       lambda, blk_in, blk_out);
	assert_true(blk_out < 0.05 * blk_in);

	/* the clean model's accuracy through the wrapper */
	double acc;
	assert_int_equal(wm_query_accuracy(&outer, &test, &acc), 0);
	printf("# clean mlp through reconstruct: %.4f (plain %.4f)\n", acc, acc_clean);
	assert_true(acc >= acc_clean - 0.10);
	outer.release(&outer);
	assert_null(outer.ctx);

	/* the same env gives the same autoencoder (a small one, to stay quick) */
	float *y1 = xmalloc((size_t)nn * D * sizeof(float));
	for (int t = 0; t < 2; t++) {
		env_init(&e, &r, 4, &train, attacker, 300, &queries);
		wrap("reconstruct", "epochs=1;hidden=64", &outer, &inner, &e);
		outer.predict(&outer, x, nn, probs);
		if (!t)
			memcpy(y1, rec.x, (size_t)nn * D * sizeof(float));
		else
			assert_memory_equal(y1, rec.x, (size_t)nn * D * sizeof(float));
		outer.release(&outer);
	}
	free(y1);
	free(mean);
	free(xa);
	free(x);
	free(x0);
	free(probs);
	free(z);
	free(xb);
	free(ab);
	free(rec.x);
}

/* ---- smoothretrain ------------------------------------------------------------------ */

static void test_smoothretrain(void **state)
{
	struct nn_model m, m2;
	struct atk_env e;
	struct rng r;
	long queries = 0;
	(void)state;
	tl_need_fashion();
	nn_copy(&m, clean);
	env_init(&e, &r, 7, &train, attacker, n_attacker, &queries);
	apply("smoothretrain", "n=3;epochs=3", &m, &e);
	assert_int_equal(queries, 3L * n_attacker);
	double acc = nn_accuracy(&m, &test, NULL, 0), c = corr(m.params, clean->params, m.nparams);
	printf("# smoothretrain n 3, pad 2, 3 epochs: teacher %.4f, student %.4f (weight corr "
	       "%.3f), %ld queries\n",
	       acc_clean, acc, c, queries);
	assert_true(acc >= acc_clean - 0.12);
	assert_true(fabs(c) < 0.1); /* a fresh model, not the teacher fine-tuned */
	assert_string_equal(m.spec, clean->spec);
	/* deterministic for a seed */
	nn_copy(&m2, clean);
	env_init(&e, &r, 7, &train, attacker, n_attacker, &queries);
	apply("smoothretrain", "n=3;epochs=3", &m2, &e);
	assert_memory_equal(m.params, m2.params, m.nparams * sizeof(float));
	nn_free(&m2);

	/* one unshifted view is distill at T = 1: same labels, same stream */
	struct nn_model d;
	nn_copy(&d, clean);
	env_init(&e, &r, 8, &train, attacker, 1000, NULL);
	apply("distill", "T=1;epochs=1", &d, &e);
	nn_copy(&m2, clean);
	queries = 0;
	env_init(&e, &r, 8, &train, attacker, 1000, &queries);
	apply("smoothretrain", "n=1;pad=0;epochs=1", &m2, &e);
	assert_int_equal(queries, 1000);
	assert_memory_equal(d.params, m2.params, d.nparams * sizeof(float));
	/* and shifted views are not */
	nn_free(&m2);
	nn_copy(&m2, clean);
	env_init(&e, &r, 8, &train, attacker, 1000, &queries);
	apply("smoothretrain", "n=1;pad=2;epochs=1", &m2, &e);
	assert_true(memcmp(d.params, m2.params, d.nparams * sizeof(float)));
	nn_free(&d);
	nn_free(&m2);
	nn_free(&m);
}

/* A linear teacher that names where one bright pixel is: class k answers
 * with logit 30 when pixel pos[k] of its input is 1, and 0 when it is 0. */
static void pixel_teacher(struct nn_model *t, const int *pos, int nclass)
{
	char spec[64], e2[ERRBUF];
	snprintf(spec, sizeof spec, "1x28x28|flatten|dense fc %d", nclass);
	if (nn_build_spec(t, "custom", spec, e2, sizeof e2))
		fail_msg("%s", e2);
	float *w = nn_param(t, "fc.weight", NULL);
	for (int k = 0; k < nclass; k++)
		w[(size_t)k * D + pos[k]] = 30;
}

/* The mean softmax of s over the first n images of d. */
static void mean_proba(struct nn_model *s, const struct dataset *d, int n, double *out)
{
	float *x = images(d, n), *p = xmalloc((size_t)n * s->nclass * sizeof(float));
	nn_predict_proba(s, x, n, p);
	for (int c = 0; c < s->nclass; c++) {
		out[c] = 0;
		for (int i = 0; i < n; i++)
			out[c] += p[(size_t)i * s->nclass + c] / n;
	}
	free(x);
	free(p);
}

/* The views: the student of a teacher that reports the bright pixel's shift
 * learns the distribution of the shifts (and mirrors) the views made. */
static void test_smoothretrain_views(void **state)
{
	enum { N = 256 };
	struct dataset one = {.n = N, .c = 1, .h = 28, .w = 28, .nclass = 25};
	uint32_t idx[N];
	int pos[25];
	double q[25];
	struct nn_model t;
	struct atk_env e;
	struct rng r;
	long queries = 0;
	(void)state;
	one.x = xcalloc((size_t)N * D, 1);
	one.y = xcalloc(N, 1);
	for (int i = 0; i < N; i++) {
		idx[i] = (uint32_t)i;
		one.x[(size_t)i * D + 14 * 28 + 14] = 255;
	}
	/* a view shifted by (dy, dx) shows the pixel at (14 - dy, 14 - dx): class
	 * (dy + 2) * 5 + dx + 2 */
	for (int dy = -2; dy <= 2; dy++)
		for (int dx = -2; dx <= 2; dx++)
			pos[(dy + 2) * 5 + dx + 2] = (14 - dy) * 28 + 14 - dx;
	pixel_teacher(&t, pos, 25);
	env_init(&e, &r, 9, &one, idx, N, &queries);
	apply("smoothretrain", "n=32;pad=1;epochs=30;lr=0.05", &t, &e);
	assert_int_equal(queries, 32 * N);
	mean_proba(&t, &one, 1, q);
	double inner9 = 0;
	printf("# views of pad 1, shift (dy, dx) -> student's probability:");
	for (int k = 0; k < 25; k++) {
		int dy = k / 5 - 2, dx = k % 5 - 2;
		printf("%s %.3f", k % 5 ? "" : "\n#  ", q[k]);
		if (abs(dy) <= 1 && abs(dx) <= 1) {
			inner9 += q[k];
			assert_true(fabs(q[k] - 1.0 / 9) < 0.03); /* uniform over [-1, 1]^2 */
		} else {
			assert_true(q[k] < 0.01); /* never beyond pad */
		}
	}
	printf("\n");
	assert_true(inner9 > 0.95);
	nn_free(&t);

	/* mirrors: the pixel at column 10 shows at 17 in a mirrored view, half of the time */
	for (int i = 0; i < N; i++) {
		one.x[(size_t)i * D + 14 * 28 + 14] = 0;
		one.x[(size_t)i * D + 14 * 28 + 10] = 255;
	}
	pos[0] = 14 * 28 + 10;
	pos[1] = 14 * 28 + 17;
	one.nclass = 2;
	pixel_teacher(&t, pos, 2);
	env_init(&e, &r, 10, &one, idx, N, &queries);
	apply("smoothretrain", "n=8;pad=0;flip=1;epochs=30;lr=0.05", &t, &e);
	mean_proba(&t, &one, 1, q);
	printf("# flip 1: unmirrored %.3f, mirrored %.3f\n", q[0], q[1]);
	assert_true(fabs(q[0] - 0.5) < 0.05 && fabs(q[1] - 0.5) < 0.05);
	nn_free(&t);
	/* flip 0 never mirrors */
	pixel_teacher(&t, pos, 2);
	env_init(&e, &r, 10, &one, idx, N, &queries);
	apply("smoothretrain", "n=8;pad=0;flip=0;epochs=30;lr=0.05", &t, &e);
	mean_proba(&t, &one, 1, q);
	assert_true(q[0] > 0.95);
	nn_free(&t);
	free(one.x);
	free(one.y);
}

/* ---- ensemble ----------------------------------------------------------------------- */

static void test_ensemble(void **state)
{
	const int s = 3, nq = 200;
	struct wm_query inner, outer;
	struct atk_env e;
	struct rng r;
	long queries = 0;
	(void)state;
	tl_need_fashion();
	tl_hidden_query(&inner, clean); /* counts, hides the weights */
	env_init(&e, &r, 11, &train, attacker, n_attacker, &queries);
	wrap("ensemble", "s=3;epochs=5;student=mlp", &outer, &inner, &e);
	assert_int_equal(queries, n_attacker); /* one label per sample */
	assert_int_equal(inner.queries, n_attacker);
	assert_null(outer.model);

	/* disjoint parts that cover the attacker's data, n/s each */
	char *seen = xcalloc((size_t)train.n, 1);
	const struct nn_model *mem[3];
	int total = 0;
	for (int k = 0; k < s; k++) {
		const uint32_t *part;
		int nk;
		mem[k] = atk_ensemble_member(&outer, k, &part, &nk);
		assert_non_null(mem[k]);
		assert_true(nk == n_attacker / s || nk == n_attacker / s + 1);
		for (int i = 0; i < nk; i++) {
			assert_int_equal(seen[part[i]], 0);
			seen[part[i]] = (char)(k + 1);
		}
		total += nk;
	}
	assert_null(atk_ensemble_member(&outer, s, NULL, NULL));
	assert_null(atk_ensemble_member(&inner, 0, NULL, NULL));
	assert_int_equal(total, n_attacker);
	for (int i = 0; i < n_attacker; i++)
		assert_true(seen[attacker[i]]);
	for (int k = 1; k < s; k++)
		assert_true(
		    memcmp(mem[0]->params, mem[k]->params, mem[0]->nparams * sizeof(float)));
	free(seen);

	/* answers: the members' mean softmax, never the marked model's */
	long before = inner.queries;
	float *x = images(&test, nq), *p = xmalloc((size_t)nq * 10 * sizeof(float));
	float *pk = xmalloc((size_t)nq * 10 * sizeof(float));
	double *avg = xcalloc((size_t)nq * 10, sizeof(double));
	assert_int_equal(outer.predict(&outer, x, nq, p), 0);
	assert_int_equal(outer.queries, nq);
	for (int k = 0; k < s; k++) {
		nn_predict_proba((struct nn_model *)mem[k], x, nq, pk);
		for (int i = 0; i < nq * 10; i++)
			avg[i] += pk[i] / (double)s;
	}
	double maxdiff = 0;
	for (int b = 0; b < nq; b++) {
		double sum = 0;
		for (int c = 0; c < 10; c++) {
			sum += p[b * 10 + c];
			maxdiff = fmax(maxdiff, fabs(p[b * 10 + c] - avg[b * 10 + c]));
		}
		assert_true(fabs(sum - 1) < 1e-5);
	}
	assert_true(maxdiff < 1e-6);
	double acc, acc_k[3];
	assert_int_equal(wm_query_accuracy(&outer, &test, &acc), 0);
	for (int k = 0; k < s; k++)
		acc_k[k] = nn_accuracy((struct nn_model *)mem[k], &test, NULL, 0);
	assert_int_equal(inner.queries, before); /* answering never reaches the marked model */
	printf("# ensemble s 3, 5 epochs, source labels: %.4f (members %.4f %.4f %.4f, teacher "
	       "%.4f), max |answer - members' mean| %.2g\n",
	       acc, acc_k[0], acc_k[1], acc_k[2], acc_clean, maxdiff);
	assert_true(acc >= acc_clean - 0.06);
	outer.release(&outer);
	assert_null(outer.ctx);

	/* labels = true: no queries at all; student = same reads the visible model */
	struct wm_query plain;
	wm_query_init(&plain, clean);
	queries = 0;
	env_init(&e, &r, 12, &train, attacker, n_attacker, &queries);
	wrap("ensemble", "s=2;epochs=3;labels=true", &outer, &plain, &e);
	assert_int_equal(queries, 0);
	assert_int_equal(plain.queries, 0);
	const struct nn_model *m0 = atk_ensemble_member(&outer, 0, NULL, NULL);
	assert_non_null(m0);
	assert_string_equal(m0->spec, clean->spec);
	assert_int_equal(wm_query_accuracy(&outer, &test, &acc), 0);
	assert_int_equal(plain.queries, 0);
	printf("# ensemble s 2, 3 epochs, true labels: %.4f\n", acc);
	assert_true(acc >= acc_clean - 0.08);
	float *p1 = xmalloc((size_t)nq * 10 * sizeof(float));
	outer.predict(&outer, x, nq, p1);
	outer.release(&outer);

	/* the same env gives the same ensemble; hard labels cost a query per sample */
	env_init(&e, &r, 12, &train, attacker, n_attacker, &queries);
	wrap("ensemble", "s=2;epochs=3;labels=true", &outer, &plain, &e);
	outer.predict(&outer, x, nq, p);
	assert_memory_equal(p, p1, (size_t)nq * 10 * sizeof(float));
	outer.release(&outer);
	queries = 0;
	env_init(&e, &r, 13, &train, attacker, 600, &queries);
	wrap("ensemble", "s=2;epochs=1;labels=source_hard", &outer, &plain, &e);
	assert_int_equal(queries, 600);
	outer.release(&outer);
	free(x);
	free(p);
	free(p1);
	free(pk);
	free(avg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refused),	  cmocka_unit_test(test_reconstruct),
	    cmocka_unit_test(test_smoothretrain), cmocka_unit_test(test_smoothretrain_views),
	    cmocka_unit_test(test_ensemble),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
