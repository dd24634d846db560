/* test_ipattacks.c - the input pre-processing attacks jpeg, smooth, flip and
 * squeeze (attacks/jpeg.c, smooth.c, flip.c, squeeze.c; ATTACKS-MORE.md section 4).
 *
 * jpeg: agrees with libjpeg (fixtures written by tests/fixtures/jpeg_ref.c)
 * within one grey level on Fashion-MNIST images at qualities 10 to 100, and
 * within a few levels on an RGB image with and without 2x2 chroma
 * subsampling; agrees with an independent direct O(64^2) double-precision
 * DCT round trip that uses libjpeg's own tables; changes no pixel by more
 * than a grey level at quality 100 and far more at quality 10; keeps a
 * constant image constant. smooth: a mean filter spreads a delta into k^2
 * equal weights (zero padding at the border); the Gaussian kernel is the
 * truncated, normalised one of the spec; the median removes salt noise and
 * reflects at the border. flip: mirrors each row of each channel and twice
 * is the identity. squeeze: 1 bit leaves 0 and 1; the 2x2 median's anchor;
 * the detector's tau is the 95th percentile of clean attacker scores (checked
 * against a recomputation), its calibration queries are counted, clean test
 * queries mostly pass and FGSM examples get flagged. Every wrapper counts
 * its queries, leaves the caller's buffer alone and frees its state; bad
 * parameters fail before any work; on a trained mlp jpeg q95 and a Gaussian
 * of sigma 0.5 cost little accuracy and flip a lot. Without Fashion-MNIST
 * the tests fail (testlib.h). */
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

#define NTRAIN	12000
#define NTEST	2000
#define SEED	23
#define FIXTURE "tests/fixtures/jpeg_ref.txt"

static struct dataset train, test;
static char err[ERRBUF];

static int group_setup(void **state)
{
	(void)state;
	/* without the data, the tests that need it fail in tl_need_fashion() */
	if (tl_fashion_load(&train, &test, NTRAIN, NTEST))
		return 0;
	return tl_fashion_split(SEED, 0.5);
}

static int group_teardown(void **state)
{
	(void)state;
	tl_fashion_free(&train, &test);
	return 0;
}

/* ---- plumbing ---------------------------------------------------------------------------- */

/* An inner query path that records what it was asked (the transformed
 * inputs) and answers fixed probabilities. */
struct capture {
	float *x; /* the last inputs, n * D */
	size_t cap;
	int calls;
};

static int capture_predict(struct wm_query *q, const float *x, int n, float *probs)
{
	struct capture *c = q->ctx;
	size_t len = (size_t)n * q->in_size;
	if (len > c->cap) {
		free(c->x);
		c->x = xmalloc(len * sizeof *c->x);
		c->cap = len;
	}
	memcpy(c->x, x, len * sizeof *x);
	for (int b = 0; b < n; b++)
		for (int k = 0; k < q->nclass; k++)
			probs[b * q->nclass + k] = 1.0f / q->nclass;
	c->calls++;
	q->queries += n;
	return 0;
}

/* A capture path of D floats per sample; model NULL (its shape told from D)
 * unless m is given. */
static void capture_init(struct wm_query *q, struct capture *c, size_t D, struct nn_model *m)
{
	memset(q, 0, sizeof *q);
	memset(c, 0, sizeof *c);
	q->predict = capture_predict;
	q->model = m;
	q->nclass = 10;
	q->in_size = D;
	q->ctx = c;
}

static void wrap_env(const char *name, const char *kv, struct wm_query *outer,
		     struct wm_query *inner, const struct atk_env *env, uint64_t seed)
{
	const struct atk_attack *a = atk_find(name);
	struct param_set p;
	struct rng r;
	assert_non_null(a);
	assert_true(a->query_path);
	assert_int_equal(a->category, ATK_CAT_INPUT);
	tl_params(a->name, atk_params(a), &p, kv, ";");
	rng_seed(&r, seed);
	memset(outer, 0, sizeof *outer);
	if (atk_wrap(a, &p, outer, inner, env, &r, err, sizeof err))
		fail_msg("%s %s: %s", name, kv, err);
	assert_non_null(outer->release);
}

static void wrap(const char *name, const char *kv, struct wm_query *outer, struct wm_query *inner)
{
	wrap_env(name, kv, outer, inner, NULL, 5);
}

/* What the model behind outer is asked for n samples x (into y, n * D):
 * one call through outer over a capture path. Checks the bookkeeping every
 * wrapper owes: queries counted on both sides, x left alone. */
static void through(const char *name, const char *kv, const float *x, int n, size_t D, float *y)
{
	struct wm_query inner, outer;
	struct capture c;
	float *probs = xmalloc((size_t)n * 10 * sizeof *probs), *x0 = xmalloc(n * D * sizeof *x0);
	memcpy(x0, x, n * D * sizeof *x);
	capture_init(&inner, &c, D, NULL);
	wrap(name, kv, &outer, &inner);
	assert_int_equal(outer.in_size, D);
	assert_int_equal(outer.predict(&outer, x, n, probs), 0);
	assert_int_equal(c.calls, 1);
	assert_int_equal(outer.queries, n);
	assert_int_equal(inner.queries, n);
	assert_memory_equal(x, x0, n * D * sizeof *x);
	memcpy(y, c.x, n * D * sizeof *y);
	outer.release(&outer);
	assert_null(outer.ctx);
	free(c.x);
	free(probs);
	free(x0);
}

/* n Fashion-MNIST test images from index first as floats k/255 (the engine's
 * scaling). */
static float *fashion_images(int first, int n)
{
	uint32_t *idx = xmalloc((size_t)n * sizeof *idx);
	float *x = xmalloc((size_t)n * 784 * sizeof *x);
	tl_need_fashion();
	for (int i = 0; i < n; i++)
		idx[i] = (uint32_t)(first + i);
	nn_fill_batch(test.x, NULL, 784, idx, n, x, NULL);
	free(idx);
	return x;
}

/* ---- jpeg: libjpeg fixtures and an independent reference ----------------------------------- */

struct fix_img {
	char name[32];
	int C, H, W;
	int *px;
};
struct fix_jpeg {
	char name[32];
	int q, sub;
	int *px;
};
struct fix_stats {
	int q, n, max;
	double mean;
	long over;
};
struct fixture {
	int nq, ni, nj, ns;
	struct fix_stats st[8];
	int qt_q[8], qt_chroma[8], qt[8][64];
	struct fix_img img[4];
	struct fix_jpeg jp[16];
};

static void read_ints(FILE *f, int *v, int n)
{
	for (int i = 0; i < n; i++)
		if (fscanf(f, "%d", &v[i]) != 1)
			fail_msg("%s: short record", FIXTURE);
}

static void fixture_load(struct fixture *fx)
{
	FILE *f = fopen(FIXTURE, "r");
	char line[256], kind[16], name[32], sub[8];
	memset(fx, 0, sizeof *fx);
	if (!f)
		fail_msg("%s: cannot open (run the test from the worktree root)", FIXTURE);
	while (fscanf(f, "%15s", kind) == 1) {
		if (kind[0] == '#') {
			if (!fgets(line, sizeof line, f))
				break;
		} else if (!strcmp(kind, "qtable")) {
			assert_true(fx->nq < 8);
			assert_int_equal(fscanf(f, "%31s %d", name, &fx->qt_q[fx->nq]), 2);
			fx->qt_chroma[fx->nq] = !strcmp(name, "chroma");
			read_ints(f, fx->qt[fx->nq++], 64);
		} else if (!strcmp(kind, "image")) {
			struct fix_img *im = &fx->img[fx->ni++];
			assert_true(fx->ni <= 4);
			assert_int_equal(
			    fscanf(f, "%31s %d %d %d", im->name, &im->C, &im->H, &im->W), 4);
			im->px = xmalloc((size_t)im->C * im->H * im->W * sizeof(int));
			read_ints(f, im->px, im->C * im->H * im->W);
		} else if (!strcmp(kind, "jpeg")) {
			struct fix_jpeg *j = &fx->jp[fx->nj++];
			assert_true(fx->nj <= 16);
			assert_int_equal(fscanf(f, "%31s %d %7s", j->name, &j->q, sub), 3);
			j->sub = !strcmp(sub, "420");
			const struct fix_img *im = NULL;
			for (int i = 0; i < fx->ni; i++)
				if (!strcmp(fx->img[i].name, j->name))
					im = &fx->img[i];
			assert_non_null(im);
			j->px = xmalloc((size_t)im->C * im->H * im->W * sizeof(int));
			read_ints(f, j->px, im->C * im->H * im->W);
		} else if (!strcmp(kind, "stats")) {
			struct fix_stats *t = &fx->st[fx->ns++];
			assert_true(fx->ns <= 8);
			assert_int_equal(fscanf(f, "%d %d %lf %d %ld", &t->q, &t->n, &t->mean,
						&t->max, &t->over),
					 5);
		} else {
			fail_msg("%s: unknown record '%s'", FIXTURE, kind);
		}
	}
	fclose(f);
}

static void fixture_free(struct fixture *fx)
{
	for (int i = 0; i < fx->ni; i++)
		free(fx->img[i].px);
	for (int i = 0; i < fx->nj; i++)
		free(fx->jp[i].px);
}

static const int *fixture_table(const struct fixture *fx, int q, int chroma)
{
	for (int i = 0; i < fx->nq; i++)
		if (fx->qt_q[i] == q && fx->qt_chroma[i] == chroma)
			return fx->qt[i];
	return NULL;
}

/* The test's own copy of the IJG luminance table (JPEG standard, Annex K),
 * scaled to quality q by libjpeg's rule; the fixture's tables, read out of
 * libjpeg, check it at 10, 50 and 75. */
static void jpeg_ijg_table(int q, int *qt)
{
	static const int base[64] = {16,  11,  10,  16,	 24, 40, 51,  61,  12,	12,  14,  19,  26,
				     58,  60,  55,  14,	 13, 16, 24,  40,  57,	69,  56,  14,  17,
				     22,  29,  51,  87,	 80, 62, 18,  22,  37,	56,  68,  109, 103,
				     77,  24,  35,  55,	 64, 81, 104, 113, 92,	49,  64,  78,  87,
				     103, 121, 120, 101, 72, 92, 95,  98,  112, 100, 103, 99};
	int sc = q < 50 ? 5000 / q : 200 - 2 * q;
	for (int k = 0; k < 64; k++) {
		int t = (base[k] * sc + 50) / 100;
		qt[k] = t < 1 ? 1 : t > 255 ? 255 : t;
	}
}

/* The JPEG round trip of a grey h x w image of integers, straight from the
 * definitions: F(u,v) = C(u) C(v) / 4 sum_xy f(x,y) cos((2x+1)u pi/16)
 * cos((2y+1)v pi/16) per 8x8 block (edge pixels repeated), quantised with qt
 * (rounded half away from zero), then the inverse sum, rounded and clamped.
 * margin (NULL: not wanted) gets per block, row-major, how far its closest
 * coefficient lay from a rounding boundary of the quantiser, in coefficient
 * units: where that is small, another exact-enough DCT may round the other
 * way. */
static void ref_jpeg(const int *in, int h, int w, const int *qt, int *out, double *margin)
{
	int nbw = (w + 7) / 8;
	for (int by = 0; by < h; by += 8)
		for (int bx = 0; bx < w; bx += 8) {
			double f[8][8], F[8][8], mg = INFINITY;
			for (int y = 0; y < 8; y++)
				for (int x = 0; x < 8; x++) {
					int yy = by + y < h ? by + y : h - 1,
					    xx = bx + x < w ? bx + x : w - 1;
					f[y][x] = in[yy * w + xx] - 128.0;
				}
			for (int v = 0; v < 8; v++)
				for (int u = 0; u < 8; u++) {
					double a = 0, Q = qt[v * 8 + u];
					for (int y = 0; y < 8; y++)
						for (int x = 0; x < 8; x++)
							a += f[y][x] *
							     cos((2 * x + 1) * u * M_PI / 16) *
							     cos((2 * y + 1) * v * M_PI / 16);
					a *= (u ? 1 : M_SQRT1_2) * (v ? 1 : M_SQRT1_2) / 4;
					/* half away from zero, exact ties kept (as libjpeg) */
					double r = a / Q;
					r = r < 0 ? -floor(-r + 0.5 + 1e-6) : floor(r + 0.5 + 1e-6);
					F[v][u] = r * Q;
					double d = fabs(fmod(fabs(a), Q) - Q / 2);
					mg = d < mg ? d : mg;
				}
			if (margin)
				margin[(by / 8) * nbw + bx / 8] = mg;
			for (int y = 0; y < 8 && by + y < h; y++)
				for (int x = 0; x < 8 && bx + x < w; x++) {
					double a = 0;
					for (int v = 0; v < 8; v++)
						for (int u = 0; u < 8; u++)
							a += (u ? 1 : M_SQRT1_2) *
							     (v ? 1 : M_SQRT1_2) * F[v][u] *
							     cos((2 * x + 1) * u * M_PI / 16) *
							     cos((2 * y + 1) * v * M_PI / 16);
					int p = (int)floor(a / 4 + 128 + 0.5 + 1e-6);
					out[(by + y) * w + bx + x] = p < 0 ? 0 : p > 255 ? 255 : p;
				}
		}
}

/* Max and count of |a*255 - b| over n values, a in [0, 1] floats, b grey
 * levels. */
static double grey_diff(const float *a, const int *b, int n, int *count)
{
	double mx = 0;
	*count = 0;
	for (int i = 0; i < n; i++) {
		double d = fabs(a[i] * 255.0 - b[i]);
		mx = d > mx ? d : mx;
		*count += d > 0.5;
	}
	return mx;
}

/* How far from a rounding boundary of the quantiser (in coefficient units) a
 * coefficient must lie for libjpeg's integer DCT and ours to quantise it the
 * same way; measured: every block that differed by more than a level had one
 * within 0.062. */
#define JPEG_MARGIN 0.1

static void test_jpeg_libjpeg(void **state)
{
	struct fixture fx;
	char kv[64];
	(void)state;
	fixture_load(&fx);
	assert_true(fx.ni >= 3 && fx.nj >= 10 && fx.nq >= 6);
	for (int i = 0; i < fx.nj; i++) {
		const struct fix_jpeg *j = &fx.jp[i];
		const struct fix_img *im = NULL;
		for (int k = 0; k < fx.ni; k++)
			if (!strcmp(fx.img[k].name, j->name))
				im = &fx.img[k];
		int D = im->C * im->H * im->W, count, over = 0;
		float *x = xmalloc((size_t)D * sizeof *x), *y = xmalloc((size_t)D * sizeof *y);
		for (int k = 0; k < D; k++)
			x[k] = (float)im->px[k] * (1.0f / 255.0f);
		snprintf(kv, sizeof kv, "quality=%d;chroma=%s", j->q, j->sub ? "420" : "444");
		through("jpeg", kv, x, 1, (size_t)D, y);
		double mx = grey_diff(y, j->px, D, &count), moved = 0, mean = 0;
		for (int k = 0; k < D; k++) {
			double d = fabs(y[k] * 255.0 - j->px[k]);
			moved += fabs((double)j->px[k] - im->px[k]);
			mean += d;
			over += d > 1.5;
		}
		printf("# jpeg vs libjpeg, %s q%d %s: mean |diff| %.3f, max %.0f grey levels; %d "
		       "of %d pixels differ, %d by more than one (libjpeg changed the image by "
		       "%.2f levels on average)\n",
		       j->name, j->q, j->sub ? "420" : "444", mean / D, mx, count, D, over,
		       moved / D);
		if (im->C == 3) {
			/* colour: the rounding of YCbCr and of the chroma resampling
			 * comes on top of the DCTs' */
			assert_true(mx <= 6 + 1e-4);
			assert_true(mean / D <= 0.5);
			assert_true(over <= D / 10);
		} else {
			/* grey: block by block, a difference of more than one level
			 * needs a coefficient next to a quantiser boundary, where
			 * libjpeg's integer DCT may round the other way (measured at
			 * q50: one such flip of a step of 57 moved a block by 15
			 * levels); every other block agrees within one level */
			int in[784], ref[784], safe = 0;
			double mg[16];
			assert_int_equal(D, 784);
			int qt[64];
			const int *fq = fixture_table(&fx, j->q, 0);
			if (fq)
				memcpy(qt, fq, sizeof qt);
			else
				jpeg_ijg_table(j->q, qt);
			for (int k = 0; k < 784; k++)
				in[k] = im->px[k];
			ref_jpeg(in, 28, 28, qt, ref, mg);
			for (int b = 0; b < 16; b++) {
				int by = b / 4 * 8, bx = b % 4 * 8;
				double bm = 0;
				for (int yy = by; yy < by + 8 && yy < 28; yy++)
					for (int xx = bx; xx < bx + 8 && xx < 28; xx++) {
						double d = fabs(y[yy * 28 + xx] * 255.0 -
								j->px[yy * 28 + xx]);
						bm = d > bm ? d : bm;
					}
				if (bm > 1 + 1e-4 && mg[b] >= JPEG_MARGIN)
					fail_msg(
					    "block %d differs by %.0f levels from libjpeg, with no "
					    "coefficient within %g of a boundary (closest %.4f)",
					    b, bm, JPEG_MARGIN, mg[b]);
				safe += mg[b] >= JPEG_MARGIN;
			}
			printf("#   %d of 16 blocks have no coefficient within %g of a quantiser "
			       "boundary; those agree within one level\n",
			       safe, JPEG_MARGIN);
			/* the check bites where the steps are coarse */
			if (j->q <= 50)
				assert_true(safe >= 8);
			if (j->q >= 100)
				assert_true(mx <= 1 + 1e-4);
		}
		free(x);
		free(y);
	}
	fixture_free(&fx);
}

static void test_jpeg_reference(void **state)
{
	const int n = 40, qs[] = {10, 25, 50, 75, 95};
	const int nq = (int)(sizeof qs / sizeof qs[0]);
	struct fixture fx;
	char kv[32];
	int in[784], ref[784], own[64], worst = 0, total = 0;
	(void)state;
	fixture_load(&fx);
	/* the test's own table rule agrees with libjpeg's tables */
	for (int i = 0; i < fx.nq; i++)
		if (!fx.qt_chroma[i]) {
			jpeg_ijg_table(fx.qt_q[i], own);
			assert_memory_equal(own, fx.qt[i], sizeof own);
		}
	float *x = fashion_images(100, n), *y = xmalloc((size_t)n * 784 * sizeof *y);
	for (int qi = 0; qi < nq; qi++) {
		/* libjpeg's table where the fixture has it, else the test's */
		const int *qt = fixture_table(&fx, qs[qi], 0);
		if (!qt) {
			jpeg_ijg_table(qs[qi], own);
			qt = own;
		}
		snprintf(kv, sizeof kv, "quality=%d", qs[qi]);
		through("jpeg", kv, x, n, 784, y);
		for (int b = 0; b < n; b++) {
			int count;
			for (int i = 0; i < 784; i++)
				in[i] = (int)(x[b * 784 + i] * 255.0f);
			ref_jpeg(in, 28, 28, qt, ref, NULL);
			double mx = grey_diff(y + b * 784, ref, 784, &count);
			assert_true(mx <= 1.0 + 1e-4);
			worst = count > worst ? count : worst;
			total += count;
		}
	}
	/* the same arithmetic in another order: equal bar a rare rounding tie
	 * (measured: none) */
	printf("# jpeg vs a direct double DCT (q 10, 25, 50, 75, 95; %d images): %d of %d pixels "
	       "differ by one level (at most %d in an image)\n",
	       n, total, nq * n * 784, worst);
	assert_true(total <= nq * n * 784 / 1000);
	free(x);
	free(y);
	fixture_free(&fx);
}

static void test_jpeg_quality(void **state)
{
	struct fixture fx;
	double mae[8];
	(void)state;
	fixture_load(&fx);
	assert_true(fx.ns >= 6);
	const int n = fx.st[0].n;
	float *x = fashion_images(0, n), *y = xmalloc((size_t)n * 784 * sizeof *y);
	/* the same images as libjpeg's statistics in the fixture, q100 first,
	 * then coarser */
	for (int qi = 0; qi < fx.ns; qi++) {
		const struct fix_stats *t = &fx.st[qi];
		char kv[32];
		double mx = 0, s = 0;
		long over = 0;
		assert_int_equal(t->n, n);
		snprintf(kv, sizeof kv, "quality=%d", t->q);
		through("jpeg", kv, x, n, 784, y);
		for (int i = 0; i < n * 784; i++) {
			double d = fabs((double)y[i] - x[i]);
			mx = d > mx ? d : mx;
			s += d;
			over += d > 1.5 / 255;
			/* always on the 8-bit grid */
			assert_true(fabs(y[i] * 255.0 - round(y[i] * 255.0)) < 1e-4);
		}
		mae[qi] = s / (n * 784) * 255;
		printf(
		    "# jpeg q%d on %d test images: mean |change| %.4f grey levels, max %.0f, %ld "
		    "pixels by more than one; libjpeg %.4f, %d, %ld\n",
		    t->q, n, mae[qi], mx * 255, over, t->mean, t->max, t->over);
		/* as much change as libjpeg's, within 2 % */
		assert_true(fabs(mae[qi] - t->mean) <= 0.02 * t->mean + 0.005);
		assert_true(fabs(mx * 255 - t->max) <= 0.05 * t->max + 1);
		assert_true(labs(over - t->over) <= t->over / 50 + 5);
		/* q100 (all steps 1): at most a level, bar a handful of pixels
		 * where the rounding of 64 coefficients adds up (libjpeg too) */
		if (t->q == 100)
			assert_true(mx <= 2.0 / 255 + 1e-6 && over <= n * 784 / 10000);
		if (qi)
			assert_true(mae[qi] > mae[qi - 1]); /* coarser changes more */
	}
	/* q10: several grey levels on average */
	assert_int_equal(fx.st[fx.ns - 1].q, 10);
	assert_true(mae[fx.ns - 1] > 10.0 && mae[fx.ns - 1] > 100 * mae[0]);
	fixture_free(&fx);

	/* constant images (28 = 3 blocks + a padded half block per axis) stay
	 * constant: exact for q >= 75, where the DC step is at most one level;
	 * at q10 within half its step of 10 levels */
	for (int lv = 0; lv <= 255; lv += 17) {
		float c[784];
		for (int i = 0; i < 784; i++)
			c[i] = (float)lv * (1.0f / 255.0f);
		through("jpeg", "quality=75", c, 1, 784, y);
		for (int i = 0; i < 784; i++)
			assert_true(fabs(y[i] * 255.0 - lv) < 1e-3);
		through("jpeg", "quality=10", c, 1, 784, y);
		for (int i = 0; i < 784; i++) {
			assert_true(y[i] == y[0]);
			assert_true(fabs(y[i] * 255.0 - lv) <= 5.0 + 1e-3);
		}
	}
	/* cast: 0.5 is 127.5 grey levels; trunc (WRT) gives 127, round 128; out
	 * of range clamps */
	float c[784];
	for (int i = 0; i < 784; i++)
		c[i] = 0.5f;
	through("jpeg", "quality=100", c, 1, 784, y);
	assert_true(fabs(y[0] * 255.0 - 127) < 1e-3 && fabs(y[783] * 255.0 - 127) < 1e-3);
	through("jpeg", "quality=100;cast=round", c, 1, 784, y);
	assert_true(fabs(y[0] * 255.0 - 128) < 1e-3 && fabs(y[783] * 255.0 - 128) < 1e-3);
	for (int i = 0; i < 784; i++)
		c[i] = i % 2 ? 5.0f : -3.0f;
	through("jpeg", "quality=100", c, 1, 784, y);
	for (int i = 0; i < 784; i++)
		assert_true(y[i] >= 0 && y[i] <= 1);
	free(x);
	free(y);
}

/* ---- smooth --------------------------------------------------------------------------------- */

static void test_smooth(void **state)
{
	float x[784], y[784];
	(void)state;
	/* mean: a delta spreads into k^2 equal weights 1/k^2 */
	memset(x, 0, sizeof x);
	x[10 * 28 + 10] = 1;
	through("smooth", "filter=mean;k=3", x, 1, 784, y);
	for (int i = 0; i < 28; i++)
		for (int j = 0; j < 28; j++) {
			int in = abs(i - 10) <= 1 && abs(j - 10) <= 1;
			assert_true(fabs(y[i * 28 + j] - (in ? 1.0 / 9 : 0)) < 1e-6);
		}
	through("smooth", "filter=mean;k=5", x, 1, 784, y);
	assert_true(fabs(y[12 * 28 + 8] - 1.0 / 25) < 1e-6 && y[13 * 28 + 10] == 0);
	/* zero padding: a corner delta keeps 1/9 in its 2x2 neighbourhood, a
	 * constant image darkens at the border */
	memset(x, 0, sizeof x);
	x[0] = 1;
	through("smooth", "filter=mean;k=3", x, 1, 784, y);
	assert_true(fabs(y[0] - 1.0 / 9) < 1e-6 && fabs(y[29] - 1.0 / 9) < 1e-6);
	for (int i = 0; i < 784; i++)
		x[i] = 0.9f;
	through("smooth", "filter=mean;k=3", x, 1, 784, y);
	assert_true(fabs(y[0] - 0.9 * 4 / 9) < 1e-6 && fabs(y[1] - 0.9 * 6 / 9) < 1e-6 &&
		    fabs(y[5 * 28 + 5] - 0.9) < 1e-6);

	/* gaussian: the delta response is the outer product of the 1-D kernel:
	 * size ceil(6 sigma + 1) made odd, taps beyond 3 sigma zero, sum 1 */
	const double sig[] = {0.5, 0.7, 1.0};
	for (int s = 0; s < 3; s++) {
		char kv[48];
		double g[7] = {0}, gs = 0, sum = 0;
		int size = (int)ceil(6 * sig[s] + 1);
		size += size % 2 == 0;
		for (int d = -size / 2; d <= size / 2; d++)
			if (abs(d) <= 3 * sig[s])
				gs += g[d + 3] = exp(-d * d / (2 * sig[s] * sig[s]));
		memset(x, 0, sizeof x);
		x[14 * 28 + 14] = 1;
		snprintf(kv, sizeof kv, "filter=gaussian;sigma=%g", sig[s]);
		through("smooth", kv, x, 1, 784, y);
		for (int i = 0; i < 28; i++)
			for (int j = 0; j < 28; j++) {
				int di = i - 14, dj = j - 14;
				double e = abs(di) <= 3 && abs(dj) <= 3
					       ? g[di + 3] * g[dj + 3] / (gs * gs)
					       : 0;
				assert_true(fabs(y[i * 28 + j] - e) < 1e-6);
				sum += y[i * 28 + j];
			}
		printf("# gaussian sigma %.1f: kernel size %d, centre %.4f, sum %.7f\n", sig[s],
		       size, y[14 * 28 + 14], sum);
		assert_true(fabs(sum - 1) < 1e-5);
		/* the truncation at 3 sigma: 0.7 drops the taps at distance 3,
		 * 1.0 keeps them */
		if (s == 1)
			assert_true(y[14 * 28 + 17] == 0 && y[14 * 28 + 16] > 0);
		if (s == 2)
			assert_true(y[14 * 28 + 17] > 0);
	}

	/* median: salt on a flat image goes away entirely */
	for (int i = 0; i < 784; i++)
		x[i] = 0.2f;
	for (int i = 1; i < 28; i += 4)
		for (int j = 2; j < 28; j += 5)
			x[i * 28 + j] = 1;
	through("smooth", "filter=median;k=3", x, 1, 784, y);
	for (int i = 0; i < 784; i++)
		assert_true(y[i] == 0.2f);
	/* on real images: 5 % salt, the median's output is far nearer the
	 * clean image's median than the noisy image is to the clean one */
	const int n = 20;
	float *cl = fashion_images(300, n), *no = xmalloc(n * 784 * sizeof *no),
	      *a = xmalloc(n * 784 * sizeof *a), *b = xmalloc(n * 784 * sizeof *b);
	struct rng r;
	rng_seed(&r, 3);
	memcpy(no, cl, n * 784 * sizeof *no);
	for (int i = 0; i < n * 784; i++)
		if (rng_uniform(&r) < 0.05)
			no[i] = 1;
	through("smooth", "filter=median;k=3", cl, n, 784, a);
	through("smooth", "filter=median;k=3", no, n, 784, b);
	double dn = 0, dm = 0;
	for (int i = 0; i < n * 784; i++) {
		dn += fabs(no[i] - cl[i]);
		dm += fabs(b[i] - a[i]);
	}
	printf("# salt 5%%: |noisy - clean| %.4f per pixel, after the median %.4f\n",
	       dn / (n * 784), dm / (n * 784));
	assert_true(dm < dn / 5);
	/* reflection at the border: on a horizontal ramp x/27 the window of
	 * column 0 holds columns 1, 0, 1, so its median is 1/27 (zeros or a
	 * repeated edge would give 0) */
	for (int i = 0; i < 28; i++)
		for (int j = 0; j < 28; j++)
			x[i * 28 + j] = (float)j / 27;
	through("smooth", "filter=median;k=3", x, 1, 784, y);
	for (int i = 0; i < 28; i++) {
		assert_true(y[i * 28] == x[1]);
		assert_true(y[i * 28 + 27] == x[26]);
		assert_true(y[i * 28 + 13] == x[13]);
	}
	free(cl);
	free(no);
	free(a);
	free(b);
}

/* ---- flip ------------------------------------------------------------------------------------ */

static void test_flip(void **state)
{
	enum { N = 3, D = 3072 };
	float *x = xmalloc(N * D * sizeof *x), *y = xmalloc(N * D * sizeof *y);
	struct wm_query inner, f1, f2;
	struct capture c;
	float probs[N * 10];
	(void)state;
	/* an asymmetric 3x32x32 batch (shape from in_size 3072: no model) */
	for (int i = 0; i < N * D; i++)
		x[i] = (float)((i * 37 % 101) / 100.0);
	through("flip", "", x, N, D, y);
	for (int b = 0; b < N; b++)
		for (int ch = 0; ch < 3; ch++)
			for (int i = 0; i < 32; i++)
				for (int j = 0; j < 32; j++) {
					size_t o = (size_t)b * D + (size_t)ch * 1024 + i * 32;
					assert_true(y[o + j] == x[o + 31 - j]);
				}
	assert_memory_not_equal(x, y, N * D * sizeof *x);
	/* twice is the identity (stacked wrappers) */
	capture_init(&inner, &c, D, NULL);
	wrap("flip", "", &f1, &inner);
	wrap("flip", "", &f2, &f1);
	assert_int_equal(f2.predict(&f2, x, N, probs), 0);
	assert_memory_equal(c.x, x, N * D * sizeof *x);
	assert_int_equal(f2.queries, N);
	assert_int_equal(inner.queries, N);
	f2.release(&f2);
	f1.release(&f1);
	free(c.x);
	/* grey 28x28 */
	float *g = fashion_images(0, 2), *h = xmalloc(2 * 784 * sizeof *h);
	through("flip", "", g, 2, 784, h);
	assert_true(h[5 * 28 + 3] == g[5 * 28 + 24] && h[784 + 27] == g[784]);
	assert_memory_not_equal(g, h, 2 * 784 * sizeof *g);
	free(g);
	free(h);
	free(x);
	free(y);
}

/* ---- squeeze ----------------------------------------------------------------------------- */

static void test_squeeze_filters(void **state)
{
	const int n = 50;
	float x[784], y[784];
	(void)state;
	/* 1 bit: only 0 and 1, split at 0.5 (rounded half away from zero) */
	float *im = fashion_images(0, n), *sq = xmalloc(n * 784 * sizeof *sq);
	through("squeeze", "bits=1", im, n, 784, sq);
	int zeros = 0, ones = 0;
	for (int i = 0; i < n * 784; i++) {
		assert_true(sq[i] == 0 || sq[i] == 1);
		assert_true(sq[i] == (im[i] >= 0.5f ? 1 : 0));
		zeros += sq[i] == 0;
		ones += sq[i] == 1;
	}
	assert_true(zeros > 0 && ones > 0);
	/* 3 bits: levels k/7 */
	through("squeeze", "bits=3", im, n, 784, sq);
	for (int i = 0; i < n * 784; i++)
		assert_true(fabs(sq[i] * 7 - round(sq[i] * 7)) < 1e-5 &&
			    fabs(sq[i] - im[i]) <= 1.0 / 14 + 1e-6);

	/* the 2x2 median's anchor: rows and columns i..i+1 */
	memset(x, 0, sizeof x);
	x[3 * 28 + 3] = 1; /* an isolated pixel goes */
	for (int i = 10; i <= 11; i++)
		for (int j = 10; j <= 11; j++)
			x[i * 28 + j] = 1; /* a 2x2 block */
	x[27 * 28 + 27] = 1;		   /* the last pixel's window is itself */
	x[27 * 28 + 20] = 1;		   /* the last row's windows: 2 pixels */
	through("squeeze", "bits=1;median=2", x, 1, 784, y);
	assert_true(y[3 * 28 + 3] == 0 && y[2 * 28 + 2] == 0);
	assert_true(y[10 * 28 + 10] == 1);			       /* window all ones */
	assert_true(y[9 * 28 + 10] == 0.5f && y[10 * 28 + 9] == 0.5f); /* 2 of 4 */
	assert_true(y[10 * 28 + 11] == 0.5f && y[11 * 28 + 10] == 0.5f);
	assert_true(y[11 * 28 + 11] == 0 && y[9 * 28 + 9] == 0); /* 1 of 4 */
	assert_true(y[27 * 28 + 27] == 1);
	assert_true(y[27 * 28 + 19] == 0.5f && y[27 * 28 + 20] == 0.5f && y[27 * 28 + 21] == 0);
	int sum = 0;
	for (int i = 0; i < 784; i++)
		sum += y[i] != 0;
	assert_true(y[27 * 28 + 26] == 0.5f && y[26 * 28 + 27] == 0.5f && y[26 * 28 + 26] == 0);
	assert_int_equal(sum, 5 + 3 + 2);
	/* 3x3: centred; salt on a flat 1-bit image goes */
	for (int i = 0; i < 784; i++)
		x[i] = 0.9f;
	for (int i = 2; i < 28; i += 5)
		for (int j = 1; j < 28; j += 4)
			x[i * 28 + j] = 0;
	through("squeeze", "bits=1;median=3", x, 1, 784, y);
	for (int i = 0; i < 784; i++)
		assert_true(y[i] == 1);
	free(im);
	free(sq);
}

/* The test's own 1-bit squeeze (no median), for the detector's tau. */
static void squeeze1(const float *x, int n, float *y)
{
	for (int i = 0; i < n * 784; i++) {
		float v = x[i] > 0 ? (x[i] < 1 ? x[i] : 1) : 0;
		y[i] = v >= 0.5f ? 1 : 0;
	}
}

static double l1_10(const float *a, const float *b)
{
	double d = 0;
	for (int k = 0; k < 10; k++)
		d += fabs((double)a[k] - b[k]);
	return d;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void test_squeeze_detect(void **state)
{
	enum { CAL = 600, NT = 1000, NA = 300 };
	struct nn_model *m = tl_clean_model("mlp", SEED, 2);
	struct wm_env w;
	struct rng r;
	struct wm_query plain, outer, outer2;
	long queries = 0;
	(void)state;
	tl_fashion_env(&w, &r, SEED, 2);
	assert_true(w.n_attacker >= CAL);
	struct atk_env env = {.train = &train,
			      .attacker_idx = w.attacker_idx,
			      .n_attacker = w.n_attacker,
			      .rng = &r,
			      .queries = &queries};

	/* tau: recomputed from the same clean attacker samples */
	float *xc = xmalloc(CAL * 784 * sizeof *xc), *xs = xmalloc(NT * 784 * sizeof *xs);
	float *p1 = xmalloc(NT * 10 * sizeof *p1), *p2 = xmalloc(NT * 10 * sizeof *p2);
	float *po = xmalloc(NT * 10 * sizeof *po);
	double *sc = xmalloc(NT * sizeof *sc), *sorted = xmalloc(NT * sizeof *sorted);
	nn_fill_batch(train.x, NULL, 784, w.attacker_idx, CAL, xc, NULL);
	nn_predict_proba(m, xc, CAL, p1);
	squeeze1(xc, CAL, xs);
	nn_predict_proba(m, xs, CAL, p2);
	for (int i = 0; i < CAL; i++)
		sorted[i] = sc[i] = l1_10(p1 + i * 10, p2 + i * 10);
	qsort(sorted, CAL, sizeof *sorted, cmp_double);
	double tau = sorted[(int)ceil(0.95 * CAL) - 1];

	wm_query_init(&plain, m);
	wrap_env("squeeze", "bits=1;detect=1;calib=600", &outer, &plain, &env, 7);
	/* two queries per calibration sample, counted as the attack's */
	assert_int_equal(queries, 2 * CAL);
	assert_int_equal(plain.queries, 2 * CAL);
	assert_int_equal(outer.queries, 0);

	/* the calibration samples themselves: flagged (squeezed answer) exactly
	 * when their score exceeds tau, so at most 5 % */
	assert_int_equal(outer.predict(&outer, xc, CAL, po), 0);
	int flagged = 0, unsure = 0;
	for (int i = 0; i < CAL; i++) {
		if (fabs(sc[i] - tau) < 1e-5) {
			unsure++;
			continue;
		}
		const float *want = sc[i] > tau ? p2 + i * 10 : p1 + i * 10;
		for (int k = 0; k < 10; k++)
			assert_true(fabs(po[i * 10 + k] - want[k]) < 1e-5);
		flagged += sc[i] > tau;
	}
	printf("# squeeze detect: tau %.4f from %d clean attacker samples; %d of them flagged "
	       "(%d at tau)\n",
	       tau, CAL, flagged, unsure);
	assert_true(tau > 0 && tau < 2);
	assert_true(flagged <= CAL / 20 && flagged >= CAL / 50);
	assert_int_equal(outer.queries, CAL);

	/* clean test queries mostly pass */
	float *xt = fashion_images(0, NT);
	assert_int_equal(outer.predict(&outer, xt, NT, po), 0);
	nn_predict_proba(m, xt, NT, p1);
	int passed = 0;
	for (int i = 0; i < NT; i++)
		passed += l1_10(po + i * 10, p1 + i * 10) < 1e-5;
	printf("# squeeze detect: %d of %d clean test queries answered raw\n", passed, NT);
	assert_true(passed >= NT * 88 / 100);

	/* crafted inputs. Dimmed images (x 0.45: every pixel below 0.5, so 1 bit
	 * turns them black) keep much of their raw prediction while the
	 * squeezed one is the blank image's: most are flagged (measured 261 of
	 * 300). FGSM examples (eps 0.2, against the model itself): 1 bit undoes
	 * part of the perturbation; flagged far more often than clean queries
	 * (measured 121 of 300, against 4 % of clean ones). This mlp is not
	 * robust to 1 bit itself (tau 0.92), which caps the detector. */
	int *yl = xmalloc(NA * sizeof *yl), fooled = 0, caught = 0, caught_f = 0, dim = 0;
	float *g = xmalloc(NA * 784 * sizeof *g), *xa = xmalloc(NA * 784 * sizeof *xa);
	float *xn = fashion_images(NTEST - NA, NA);
	for (int i = 0; i < NA; i++)
		yl[i] = test.y[NTEST - NA + i];
	for (int i = 0; i < NA * 784; i++)
		xa[i] = xn[i] * 0.45f;
	nn_predict_proba(m, xa, NA, p1);
	assert_int_equal(outer.predict(&outer, xa, NA, po), 0);
	for (int i = 0; i < NA; i++)
		dim += l1_10(po + i * 10, p1 + i * 10) > 1e-5;
	wm_input_grad(m, xn, yl, NA, g);
	for (int i = 0; i < NA * 784; i++) {
		float v = xn[i] + (g[i] > 0 ? 0.2f : g[i] < 0 ? -0.2f : 0);
		xa[i] = v < 0 ? 0 : v > 1 ? 1 : v;
	}
	nn_predict_proba(m, xa, NA, p1);
	assert_int_equal(outer.predict(&outer, xa, NA, po), 0);
	for (int i = 0; i < NA; i++) {
		int f = nn_argmax(p1 + i * 10, 10) != yl[i],
		    c = l1_10(po + i * 10, p1 + i * 10) > 1e-5;
		fooled += f;
		caught += c;
		caught_f += c && f;
	}
	printf("# squeeze detect: %d of %d dimmed images flagged; FGSM eps 0.2 fools the mlp on "
	       "%d of %d, %d flagged (%d of the fooling ones)\n",
	       dim, NA, fooled, NA, caught, caught_f);
	assert_true(dim >= NA * 3 / 4);
	assert_true(fooled >= NA * 9 / 10);
	assert_true(caught >= NA / 4 && caught_f >= caught * 9 / 10);

	/* on_flag=random: flagged answers are one-hot, the same for the same
	 * seed, and the labels vary */
	queries = 0;
	wrap_env("squeeze", "bits=1;detect=1;calib=600;on_flag=random", &outer2, &plain, &env, 9);
	assert_int_equal(queries, 2 * CAL);
	assert_int_equal(outer2.predict(&outer2, xa, NA, po), 0);
	outer2.release(&outer2);
	wrap_env("squeeze", "bits=1;detect=1;calib=600;on_flag=random", &outer2, &plain, &env, 9);
	assert_int_equal(outer2.predict(&outer2, xa, NA, p2), 0);
	assert_memory_equal(po, p2, NA * 10 * sizeof *po);
	int onehot = 0, lab[10] = {0}, kinds = 0;
	for (int i = 0; i < NA; i++) {
		int ones = 0, zs = 0;
		for (int k = 0; k < 10; k++) {
			ones += po[i * 10 + k] == 1;
			zs += po[i * 10 + k] == 0;
		}
		if (ones == 1 && zs == 9) {
			onehot++;
			lab[nn_argmax(po + i * 10, 10)]++;
		}
	}
	for (int k = 0; k < 10; k++)
		kinds += lab[k] > 0;
	printf("# on_flag=random: %d one-hot answers over %d classes\n", onehot, kinds);
	assert_true(onehot >= caught * 9 / 10 && kinds >= 5);
	outer2.release(&outer2);
	outer.release(&outer);

	/* detect without attacker data: refused before any query */
	struct wm_query o3;
	struct atk_env none = env;
	none.n_attacker = 0;
	const struct atk_attack *a = atk_find("squeeze");
	struct param_set p;
	tl_params("squeeze", atk_params(a), &p, "detect=1", ";");
	plain.queries = 0;
	queries = 0;
	memset(&o3, 0, sizeof o3);
	assert_int_equal(atk_wrap(a, &p, &o3, &plain, NULL, &r, err, sizeof err), -1);
	printf("# %s\n", err);
	assert_non_null(strstr(err, "squeeze") && strstr(err, "detect") ? err : NULL);
	assert_int_equal(atk_wrap(a, &p, &o3, &plain, &none, &r, err, sizeof err), -1);
	assert_int_equal(plain.queries, 0);
	assert_int_equal(queries, 0);
	assert_null(o3.release);
	/* the threat model says data; the core adds attacker_data */
	assert_true(a->uses_attacker_data && (a->threat & ATK_T_DATA));

	free(xc);
	free(xs);
	free(p1);
	free(p2);
	free(po);
	free(sc);
	free(sorted);
	free(xt);
	free(yl);
	free(g);
	free(xa);
	free(xn);
}

/* ---- parameters and shapes ------------------------------------------------------------------ */

static void expect_refused(const char *name, const char *kv, const char *const *parts)
{
	const struct atk_attack *a = atk_find(name);
	struct param_set p;
	struct wm_query inner, outer;
	struct capture c;
	struct rng r;
	assert_non_null(a);
	/* the syntax alone: the values are the checks' to refuse */
	memset(&p, 0, sizeof p);
	if (param_parse(&p, kv, ";", name, NULL, err, sizeof err))
		fail_msg("%s: %s", kv, err);
	err[0] = 0;
	if (!atk_check(a, &p, err, sizeof err))
		fail_msg("%s with %s passed check; expected an error", name, kv);
	for (int i = 0; parts[i]; i++)
		if (!strstr(err, parts[i]))
			fail_msg("%s with %s: message '%s' lacks '%s'", name, kv, err, parts[i]);
	printf("# %s %s -> %s\n", name, kv, err);
	/* and atk_wrap refuses it before touching the path */
	capture_init(&inner, &c, 784, NULL);
	rng_seed(&r, 1);
	memset(&outer, 0, sizeof outer);
	assert_int_equal(atk_wrap(a, &p, &outer, &inner, NULL, &r, err, sizeof err), -1);
	assert_null(outer.release);
	assert_int_equal(c.calls, 0);
}

static void test_bad_params(void **state)
{
	(void)state;
	expect_refused("jpeg", "quality=0",
		       (const char *const[]){"jpeg", "'quality'", "'0'", "[1, 100]", NULL});
	expect_refused("jpeg", "quality=101", (const char *const[]){"jpeg", "'quality'", NULL});
	expect_refused("jpeg", "chroma=422",
		       (const char *const[]){"jpeg", "'chroma'", "422", "420|444", NULL});
	expect_refused("jpeg", "cast=floor", (const char *const[]){"jpeg", "'cast'", NULL});
	expect_refused("smooth", "k=4", (const char *const[]){"smooth", "'k'", "'4'", "odd", NULL});
	expect_refused("smooth", "filter=median;k=2",
		       (const char *const[]){"smooth", "'k'", "odd", NULL});
	expect_refused("smooth", "filter=box",
		       (const char *const[]){"smooth", "'filter'", "mean|median|gaussian", NULL});
	expect_refused("smooth", "sigma=0", (const char *const[]){"smooth", "'sigma'", NULL});
	expect_refused("squeeze", "bits=0",
		       (const char *const[]){"squeeze", "'bits'", "'0'", "[1, 8]", NULL});
	expect_refused("squeeze", "median=4",
		       (const char *const[]){"squeeze", "'median'", "'4'", "[0, 3]", NULL});
	expect_refused("squeeze", "median=1",
		       (const char *const[]){"squeeze", "'median'", "'1'", "2 (2x2)", NULL});
	expect_refused(
	    "squeeze", "on_flag=bogus",
	    (const char *const[]){"squeeze", "'on_flag'", "bogus", "squeeze|random", NULL});
	expect_refused("squeeze", "detect=2", (const char *const[]){"squeeze", "'detect'", NULL});
	expect_refused("flip", "k=3", (const char *const[]){"flip", "'k'", NULL});

	/* shapes: a hidden path of an unknown size, and a 2-channel jpeg */
	const char *names[] = {"jpeg", "smooth", "flip", "squeeze"};
	for (int i = 0; i < 4; i++) {
		struct wm_query inner, outer;
		struct capture c;
		struct param_set p;
		struct rng r;
		const struct atk_attack *a = atk_find(names[i]);
		capture_init(&inner, &c, 100, NULL);
		tl_params(a->name, atk_params(a), &p, NULL, ";");
		rng_seed(&r, 1);
		memset(&outer, 0, sizeof outer);
		assert_int_equal(atk_wrap(a, &p, &outer, &inner, NULL, &r, err, sizeof err), -1);
		assert_non_null(strstr(err, names[i]));
		assert_non_null(strstr(err, "784 (1x28x28)"));
		assert_null(outer.release);
	}
	printf("# %s\n", err);
	struct nn_model fake;
	struct wm_query inner, outer;
	struct capture c;
	struct param_set p;
	struct rng r;
	memset(&fake, 0, sizeof fake);
	fake.in_c = 2, fake.in_h = 8, fake.in_w = 8;
	capture_init(&inner, &c, 128, &fake);
	tl_params("jpeg", atk_params(atk_find("jpeg")), &p, NULL, ";");
	rng_seed(&r, 1);
	memset(&outer, 0, sizeof outer);
	assert_int_equal(atk_wrap(atk_find("jpeg"), &p, &outer, &inner, NULL, &r, err, sizeof err),
			 -1);
	printf("# %s\n", err);
	assert_non_null(strstr(err, "2 channels"));
	/* the same model is fine for smooth: its 8x8 shape is read from it */
	wrap("smooth", "filter=mean", &outer, &inner);
	outer.release(&outer);
}

/* A path that shows its model and one that hides it (shape from in_size)
 * make each wrapper transform alike. */
static void test_shapes(void **state)
{
	static const char *const cases[][2] = {
	    {"jpeg", "quality=50"},	   {"jpeg", "quality=50;chroma=444"},
	    {"smooth", "filter=mean"},	   {"smooth", "filter=median"},
	    {"smooth", "sigma=1"},	   {"flip", ""},
	    {"squeeze", "bits=2;median=2"}};
	struct nn_model shown;
	(void)state;
	for (int cs = 0; cs < 2; cs++) {
		int C = cs ? 3 : 1, H = cs ? 32 : 28;
		size_t D = (size_t)C * H * H;
		float *x = xmalloc(2 * D * sizeof *x), *a = xmalloc(2 * D * sizeof *a);
		float probs[20];
		memset(&shown, 0, sizeof shown);
		shown.in_c = C, shown.in_h = H, shown.in_w = H;
		for (size_t i = 0; i < 2 * D; i++)
			x[i] = (float)((i * 7919 % 256) / 255.0) * (i % 3 ? 1.0f : 0.3f);
		for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
			struct wm_query inner, outer;
			struct capture c;
			through(cases[k][0], cases[k][1], x, 2, D, a);
			capture_init(&inner, &c, D, &shown);
			wrap(cases[k][0], cases[k][1], &outer, &inner);
			assert_int_equal(outer.predict(&outer, x, 2, probs), 0);
			assert_memory_equal(c.x, a, 2 * D * sizeof *a);
			/* deterministic: twice the same */
			assert_int_equal(outer.predict(&outer, x, 2, probs), 0);
			assert_memory_equal(c.x, a, 2 * D * sizeof *a);
			assert_memory_not_equal(c.x, x, 2 * D * sizeof *x);
			outer.release(&outer);
			free(c.x);
		}
		free(x);
		free(a);
	}
}

/* ---- on a trained mlp ---------------------------------------------------------------------- */

static void test_mlp_accuracy(void **state)
{
	struct nn_model *m = tl_clean_model("mlp", SEED, 2);
	struct wm_query plain, hidden, outer, outer_h;
	double acc0, acc;
	(void)state;
	wm_query_init(&plain, m);
	assert_int_equal(wm_query_accuracy(&plain, &test, &acc0), 0);
	printf("# mlp (2 epochs, 6000 owner samples): test accuracy %.4f on %d\n", acc0, test.n);
	static const struct {
		const char *name, *kv;
		double lo, hi; /* allowed change in points */
	} cases[] = {
	    {"jpeg", "quality=95", -2, 2},
	    {"jpeg", "quality=75", -3, 2},
	    {"jpeg", "quality=10", -8, 1},
	    {"smooth", "filter=gaussian;sigma=0.5", -3, 2},
	    {"smooth", "filter=median;k=3", -10, 2},
	    {"squeeze", "bits=4", -2, 2},
	    {"squeeze", "bits=1", -12, -2}, /* grey levels matter on Fashion-MNIST */
	    {"flip", "", -45, -12},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		wrap(cases[i].name, cases[i].kv, &outer, &plain);
		plain.queries = 0;
		assert_int_equal(wm_query_accuracy(&outer, &test, &acc), 0);
		assert_int_equal(outer.queries, test.n);
		assert_int_equal(plain.queries, test.n);
		double d = 100 * (acc - acc0);
		printf("# through %s %s: accuracy %.4f (%+.2f points)\n", cases[i].name,
		       cases[i].kv, acc, d);
		assert_true(d >= cases[i].lo && d <= cases[i].hi);
		/* a path that hides its model gives the same answers (shape from
		 * in_size) */
		if (i == 0 || i == 3) {
			double acc_h;
			tl_hidden_query(&hidden, m);
			wrap(cases[i].name, cases[i].kv, &outer_h, &hidden);
			assert_int_equal(wm_query_accuracy(&outer_h, &test, &acc_h), 0);
			assert_true(acc_h == acc);
			outer_h.release(&outer_h);
		}
		outer.release(&outer);
	}
	/* flip: the footwear (sandal 5, sneaker 7, ankle boot 9), which all
	 * points one way, loses far more than the rest */
	float *x = fashion_images(0, test.n);
	int *l0 = xmalloc(test.n * sizeof *l0), *l1 = xmalloc(test.n * sizeof *l1);
	int ok[2][2] = {{0}}, cnt[2] = {0};
	assert_int_equal(wm_query_labels(&plain, x, test.n, l0), 0);
	wrap("flip", "", &outer, &plain);
	assert_int_equal(wm_query_labels(&outer, x, test.n, l1), 0);
	outer.release(&outer);
	for (int i = 0; i < test.n; i++) {
		int y = test.y[i], foot = y == 5 || y == 7 || y == 9;
		cnt[foot]++;
		ok[foot][0] += l0[i] == y;
		ok[foot][1] += l1[i] == y;
	}
	double drop_foot = 100.0 * (ok[1][0] - ok[1][1]) / cnt[1],
	       drop_rest = 100.0 * (ok[0][0] - ok[0][1]) / cnt[0];
	printf("# flip: footwear (%d images) %.1f%% -> %.1f%%, the rest (%d) %.1f%% -> %.1f%%\n",
	       cnt[1], 100.0 * ok[1][0] / cnt[1], 100.0 * ok[1][1] / cnt[1], cnt[0],
	       100.0 * ok[0][0] / cnt[0], 100.0 * ok[0][1] / cnt[0]);
	assert_true(drop_foot > 2 * drop_rest && drop_foot > 30);
	free(x);
	free(l0);
	free(l1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_params),	    cmocka_unit_test(test_jpeg_libjpeg),
	    cmocka_unit_test(test_jpeg_reference),  cmocka_unit_test(test_jpeg_quality),
	    cmocka_unit_test(test_smooth),	    cmocka_unit_test(test_flip),
	    cmocka_unit_test(test_squeeze_filters), cmocka_unit_test(test_squeeze_detect),
	    cmocka_unit_test(test_shapes),	    cmocka_unit_test(test_mlp_accuracy),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
