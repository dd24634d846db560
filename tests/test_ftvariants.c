/* test_ftvariants.c - the fine-tuning variants labelnoise, occlude and
 * featreg (attacks/labelnoise.c, occlude.c, featreg.c; ATTACKS-MORE.md
 * section 5) on Fashion-MNIST with mlp.
 *
 * 8000 training samples split in halves (owner / attacker), 2000 test
 * samples; the clean model is trained 2 epochs (adam 1e-3) on the owner's
 * half. Shows: labelnoise's targets put 1 - eps on the true class and eps on
 * pi(y), and its gradient correction turns the hard cross-entropy into the
 * soft one; at eps = 0 it is finetune mode=ftal bit for bit; at eps = 0.8 it
 * costs accuracy that stays well above chance. occlude's rectangles keep to
 * their bounds, are clipped at the border and filled with noise only inside;
 * a batch shares one unless per_sample = 1; the attack keeps accuracy near
 * the clean model's. featreg's penalty has the value of its definition and
 * the gradient of a central finite difference on two tiny models (dense,
 * conv); it lowers the hidden activations; flip = 1 raises the accuracy on
 * mirrored images. All three are deterministic for a seed and refuse bad
 * parameters before any work. Without Fashion-MNIST the tests that need it
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

#include "../attacks/attack.h"
#include "../attacks/ftvariants.h"
#include "data.h"
#include "nn.h"
#include "testlib.h"
#include "train.h"
#include "util.h"

#define NTRAIN 8000
#define NTEST  2000
#define SEED   17

static struct dataset train, test;
static uint32_t *owner, *attacker;
static int n_owner, n_attacker, have_data;
static struct nn_model clean;
static double acc_clean;
static char err[ERRBUF];

static int group_setup(void **state)
{
	struct wm_env w;
	struct rng r;
	(void)state;
	/* without the data, the tests that need it fail in tl_need_fashion() */
	if (tl_fashion_load(&train, &test, NTRAIN, NTEST))
		return 0;
	data_split(train.n, SEED, 0.5, &owner, &n_owner, &attacker, &n_attacker);
	rng_seed(&r, SEED);
	tl_env_init(&w, &r, 2, &train, &test, owner, n_owner);
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

/* The attacker's view of the job: its samples and r as env->rng. */
static void env_init(struct atk_env *e, struct rng *r, uint64_t seed)
{
	rng_seed(r, seed);
	memset(e, 0, sizeof *e);
	e->train = &train;
	e->attacker_idx = attacker;
	e->n_attacker = n_attacker;
	e->rng = r;
}

static void aparams(const struct atk_attack *a, struct param_set *p, const char *kv)
{
	tl_params(a->name, atk_params(a), p, kv, ";");
}

static int same_params(const struct nn_model *a, const struct nn_model *b)
{
	return a->nparams == b->nparams &&
	       !memcmp(a->params, b->params, a->nparams * sizeof(float));
}

/* A copy of the clean model attacked by name with "k=v;k=v" kv and the RNG
 * of seed, on the first n attacker samples (0: all); returns its test
 * accuracy. */
static double attacked_n(const char *name, const char *kv, uint64_t seed, int n, struct nn_model *m)
{
	const struct atk_attack *a = atk_find(name);
	struct atk_env e;
	struct rng r;
	struct param_set p;
	assert_non_null(a);
	aparams(a, &p, kv);
	env_init(&e, &r, seed);
	if (n)
		e.n_attacker = n;
	nn_copy(m, &clean);
	if (atk_check(a, &p, err, sizeof err))
		fail_msg("%s %s check: %s", name, kv, err);
	if (atk_apply(a, &p, m, &e, err, sizeof err))
		fail_msg("%s %s apply: %s", name, kv, err);
	return nn_accuracy(m, &test, NULL, 0);
}

static double attacked(const char *name, const char *kv, uint64_t seed, struct nn_model *m)
{
	return attacked_n(name, kv, seed, 0, m);
}

/* Runs of name with kv on 1000 attacker samples: the same seed gives the
 * same weights bit for bit, another seed other weights. */
static void check_deterministic(const char *name, const char *kv)
{
	struct nn_model a, b, c;
	attacked_n(name, kv, 31, 1000, &a);
	attacked_n(name, kv, 31, 1000, &b);
	attacked_n(name, kv, 32, 1000, &c);
	assert_false(same_params(&a, &clean));
	assert_true(same_params(&a, &b));
	assert_false(same_params(&a, &c));
	nn_free(&a);
	nn_free(&b);
	nn_free(&c);
}

/* ---- registry and parameters ---------------------------------------------------------- */

static void test_registered(void **state)
{
	const char *names[] = {"labelnoise", "occlude", "featreg"};
	(void)state;
	for (int i = 0; i < 3; i++) {
		const struct atk_attack *a = atk_find(names[i]);
		struct param_set p;
		int has = 0;
		assert_non_null(a);
		assert_int_equal(a->category, ATK_CAT_MODIFY);
		assert_int_equal(a->threat, ATK_T_WEIGHTS | ATK_T_DATA | ATK_T_LABELS);
		assert_true(a->uses_attacker_data);
		assert_false(a->query_path);
		assert_non_null(a->apply);
		for (const struct param_def *d = atk_params(a); d->key; d++)
			has |= !strcmp(d->key, "attacker_data");
		assert_true(has);
		aparams(a, &p, "");
		if (atk_check(a, &p, err, sizeof err))
			fail_msg("%s defaults: %s", a->name, err);
	}
}

/* check refuses kv, and so does apply, before any work: the model, the RNG
 * and the engine's pass counters are untouched. */
static void expect_refused(const char *name, const char *kv, const char *const *parts)
{
	const struct atk_attack *a = atk_find(name);
	struct param_set p;
	struct atk_env e;
	struct rng r, r0;
	struct nn_model m;
	assert_non_null(a);
	aparams(a, &p, kv);
	err[0] = 0;
	if (!atk_check(a, &p, err, sizeof err))
		fail_msg("%s with %s passed check; expected an error", name, kv);
	for (int i = 0; parts[i]; i++)
		if (!strstr(err, parts[i]))
			fail_msg("%s with %s: message '%s' lacks '%s'", name, kv, err, parts[i]);
	printf("# %s %s -> %s\n", name, kv, err);
	if (!have_data)
		return;
	env_init(&e, &r, 3);
	r0 = r;
	nn_copy(&m, &clean);
	struct nn_count c0 = nn_count;
	assert_int_equal(atk_apply(a, &p, &m, &e, err, sizeof err), -1);
	assert_non_null(strstr(err, parts[1]));
	assert_true(same_params(&m, &clean));
	assert_memory_equal(&r, &r0, sizeof r);
	assert_true(nn_count.forward == c0.forward && nn_count.backward == c0.backward);
	nn_free(&m);
}

static void test_bad_params(void **state)
{
	(void)state;
	expect_refused("labelnoise", "eps=1",
		       (const char *const[]){"labelnoise", "'eps'", "'1'", "[0, 1)", NULL});
	expect_refused("labelnoise", "eps=-0.1",
		       (const char *const[]){"labelnoise", "'eps'", "-0.1", "[0, 1]", NULL});
	expect_refused("labelnoise", "epochs=0",
		       (const char *const[]){"labelnoise", "'epochs'", "[1, 1000]", NULL});
	expect_refused("occlude", "ratio=0",
		       (const char *const[]){"occlude", "'ratio'", "'0'", "(0, 0.5]", NULL});
	expect_refused("occlude", "ratio=0.6",
		       (const char *const[]){"occlude", "'ratio'", "0.6", "[0, 0.5]", NULL});
	expect_refused("occlude", "repeats=0",
		       (const char *const[]){"occlude", "'repeats'", "'0'", "[1, 20]", NULL});
	expect_refused("occlude", "per_sample=2",
		       (const char *const[]){"occlude", "'per_sample'", "[0, 1]", NULL});
	expect_refused("featreg", "f_reg=-1",
		       (const char *const[]){"featreg", "'f_reg'", "'-1'", "[0, 100]", NULL});
	expect_refused("featreg", "flip=2",
		       (const char *const[]){"featreg", "'flip'", "[0, 1]", NULL});
	expect_refused("featreg", "reg_epochs=0",
		       (const char *const[]){"featreg", "'reg_epochs'", "[1, 1000]", NULL});
	expect_refused("featreg", "optimizer=lbfgs",
		       (const char *const[]){"featreg", "'optimizer'", "adam|sgd|rmsprop", NULL});
}

/* ---- labelnoise ------------------------------------------------------------------------- */

static void test_labelnoise_targets(void **state)
{
	/* pi moves every class but 3 */
	const uint32_t pi[10] = {4, 7, 0, 3, 9, 1, 8, 2, 5, 6};
	const int y[5] = {0, 3, 9, 7, 2};
	float q[5 * 10];
	(void)state;
	atk_labelnoise_targets(y, 5, 10, pi, 0.8, q);
	for (int b = 0; b < 5; b++) {
		double sum = 0;
		for (int c = 0; c < 10; c++) {
			double want =
			    y[b] == 3 ? (c == 3) : 0.2 * (c == y[b]) + 0.8 * (c == (int)pi[y[b]]);
			assert_true(fabs(q[b * 10 + c] - want) < 1e-7);
			sum += q[b * 10 + c];
		}
		assert_true(fabs(sum - 1) < 1e-6);
	}
	/* the noised class is pi(y): 0 -> 4, 9 -> 6, 7 -> 2, 2 -> 0 */
	assert_true(fabs(q[0 * 10 + 4] - 0.8) < 1e-7 && fabs(q[2 * 10 + 6] - 0.8) < 1e-7);
	assert_true(fabs(q[3 * 10 + 2] - 0.8) < 1e-7 && fabs(q[4 * 10 + 0] - 0.8) < 1e-7);
	/* eps = 0: one-hot */
	atk_labelnoise_targets(y, 5, 10, pi, 0, q);
	for (int b = 0; b < 5; b++)
		for (int c = 0; c < 10; c++)
			assert_true(q[b * 10 + c] == (float)(c == y[b]));
}

/* The correction plus the hard cross-entropy is the soft cross-entropy on
 * the targets, loss and logit gradient; at eps = 0 it adds nothing. */
static void test_labelnoise_correction(void **state)
{
	const uint32_t pi[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 0};
	const int B = 32, C = 10;
	struct nn_model m;
	float x[32 * 784], q[32 * 10], dz1[32 * 10], dz2[32 * 10];
	int y[32];
	(void)state;
	tl_need_fashion();
	nn_copy(&m, &clean);
	nn_fill_batch(train.x, train.y, 784, attacker, B, x, y);
	nn_forward(&m, x, B, 0, NULL);
	nn_zero_act_grads(&m);
	float *dz = nn_dact(&m, m.nlayers - 1);
	double l1 = atk_labelnoise_correct(&m, y, pi, 0.8, q);
	l1 += nn_loss_xent(&m, y, 1.0);
	memcpy(dz1, dz, sizeof dz1);
	nn_zero_act_grads(&m);
	double l2 = nn_loss_soft(&m, q, 1.0);
	memcpy(dz2, dz, sizeof dz2);
	printf("# labelnoise eps 0.8: corrected loss %.7f, soft loss %.7f\n", l1, l2);
	assert_true(fabs(l1 - l2) < 1e-5 * fmax(1, fabs(l2)));
	for (int i = 0; i < B * C; i++)
		assert_true(fabs(dz1[i] - dz2[i]) < 1e-7);
	/* the true class gets 0.2 and pi(y) 0.8 of the target */
	for (int b = 0; b < B; b++) {
		assert_true(fabsf(q[b * C + y[b]] - 0.2f) < 1e-7);
		assert_true(fabsf(q[b * C + (int)pi[y[b]]] - 0.8f) < 1e-7);
	}

	nn_zero_act_grads(&m);
	assert_true(atk_labelnoise_correct(&m, y, pi, 0, q) == 0);
	dz = nn_dact(&m, m.nlayers - 1);
	for (int i = 0; i < B * C; i++)
		assert_true(dz[i] == 0);
	nn_free(&m);
}

static void test_labelnoise_eps0_is_finetune(void **state)
{
	struct nn_model a, b, c;
	(void)state;
	tl_need_fashion();
	double acc_a = attacked("labelnoise", "eps=0;epochs=1", 5, &a);
	double acc_b = attacked("finetune", "mode=ftal;epochs=1", 5, &b);
	attacked("labelnoise", "eps=0.3;epochs=1", 5, &c);
	printf("# labelnoise eps 0: accuracy %.4f (finetune ftal %.4f)\n", acc_a, acc_b);
	assert_false(same_params(&a, &clean));
	assert_true(same_params(&a, &b));
	assert_false(same_params(&a, &c));
	nn_free(&a);
	nn_free(&b);
	nn_free(&c);
}

static void test_labelnoise_accuracy(void **state)
{
	struct nn_model a, b;
	(void)state;
	tl_need_fashion();
	double acc_0 = attacked("labelnoise", "eps=0;epochs=2", 6, &a);
	double acc_8 = attacked("labelnoise", "eps=0.8;epochs=2", 6, &b);
	printf("# labelnoise 2 epochs: accuracy %.4f clean, %.4f eps 0, %.4f eps 0.8\n", acc_clean,
	       acc_0, acc_8);
	/* deterministic for a seed, another seed draws other permutations */
	check_deterministic("labelnoise", "eps=0.8;epochs=1");
	/* the noise costs accuracy, which stays far above chance (0.1) */
	assert_true(acc_8 < acc_0 - 0.03);
	assert_true(acc_8 < acc_clean - 0.03);
	assert_true(acc_8 > 0.4);
	nn_free(&a);
	nn_free(&b);
}

/* ---- occlude --------------------------------------------------------------------------- */

static void test_occlude_rect(void **state)
{
	const struct {
		int h, w;
		double ratio;
		int hmax, wmax;
	} cases[] = {{28, 28, 0.25, 13, 13},
		     {28, 28, 0.5, 27, 27},
		     {10, 20, 0.25, 4, 9},
		     {28, 28, 0.1, 5, 5},
		     {28, 28, 0.01, 1, 1}};
	struct rng r;
	(void)state;
	rng_seed(&r, 9);
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		int hmin = 1 << 30, hmx = 0, wmin = 1 << 30, wmx = 0, tmx = 0, lmx = 0;
		int tmin = 1 << 30, lmin = 1 << 30;
		for (int i = 0; i < 4000; i++) {
			struct atk_rect rc;
			atk_occlude_rect(&r, cases[k].h, cases[k].w, cases[k].ratio, &rc);
			hmin = rc.height < hmin ? rc.height : hmin;
			hmx = rc.height > hmx ? rc.height : hmx;
			wmin = rc.width < wmin ? rc.width : wmin;
			wmx = rc.width > wmx ? rc.width : wmx;
			tmin = rc.top < tmin ? rc.top : tmin;
			tmx = rc.top > tmx ? rc.top : tmx;
			lmin = rc.left < lmin ? rc.left : lmin;
			lmx = rc.left > lmx ? rc.left : lmx;
		}
		/* the sizes cover exactly [1, 2 ratio side), the corners the image */
		assert_int_equal(hmin, 1);
		assert_int_equal(wmin, 1);
		assert_int_equal(hmx, cases[k].hmax);
		assert_int_equal(wmx, cases[k].wmax);
		assert_true(hmx < 2 * cases[k].ratio * cases[k].h || hmx == 1);
		assert_int_equal(tmin, 0);
		assert_int_equal(lmin, 0);
		assert_int_equal(tmx, cases[k].h - 1);
		assert_int_equal(lmx, cases[k].w - 1);
	}
}

/* The pixels of image b (c x h x w) that the occlusion changed (base -1)
 * form exactly a rectangle, the same in every channel, filled with values
 * in [0, 1): its bounds go to *out; returns their noise values' sum. */
static double changed_rect(const float *xb, int c, int h, int w, struct atk_rect *out)
{
	int top = h, left = w, bottom = -1, right = -1;
	double sum = 0;
	for (int i = 0; i < h; i++)
		for (int j = 0; j < w; j++)
			if (xb[(size_t)i * w + j] != -1) {
				top = i < top ? i : top;
				bottom = i > bottom ? i : bottom;
				left = j < left ? j : left;
				right = j > right ? j : right;
			}
	assert_true(bottom >= 0); /* at least one pixel */
	for (int ch = 0; ch < c; ch++)
		for (int i = 0; i < h; i++)
			for (int j = 0; j < w; j++) {
				float v = xb[((size_t)ch * h + i) * w + j];
				int in = i >= top && i <= bottom && j >= left && j <= right;
				if (in) {
					assert_true(v >= 0 && v < 1);
					sum += v;
				} else {
					assert_true(v == -1);
				}
			}
	out->top = top;
	out->left = left;
	out->height = bottom - top + 1;
	out->width = right - left + 1;
	return sum;
}

static void test_occlude_batch(void **state)
{
	enum { B = 8, C = 2, H = 12, W = 10 };
	const double ratio = 0.25; /* sides in [1, 6) and [1, 5) */
	static float x[B * C * H * W];
	struct rng r;
	int clipped = 0, distinct_ps = 0;
	(void)state;
	rng_seed(&r, 21);
	for (int it = 0; it < 300; it++) {
		/* one rectangle and one patch per batch, at the drawn corner, clipped */
		struct rng r0 = r;
		struct atk_rect want, got, first;
		for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
			x[i] = -1;
		atk_occlude_batch(x, B, C, H, W, ratio, 0, &r);
		atk_occlude_rect(&r0, H, W, ratio, &want);
		assert_true(want.height >= 1 && want.height <= 5);
		assert_true(want.width >= 1 && want.width <= 4);
		double s0 = changed_rect(x, C, H, W, &first);
		assert_int_equal(first.top, want.top);
		assert_int_equal(first.left, want.left);
		assert_int_equal(first.height,
				 want.top + want.height <= H ? want.height : H - want.top);
		assert_int_equal(first.width,
				 want.left + want.width <= W ? want.width : W - want.left);
		clipped += first.height < want.height || first.width < want.width;
		for (int b = 1; b < B; b++) {
			double s = changed_rect(x + (size_t)b * C * H * W, C, H, W, &got);
			assert_memory_equal(&got, &first, sizeof got);
			assert_true(s == s0);
			assert_memory_equal(x + (size_t)b * C * H * W, x,
					    C * H * W * sizeof(float));
		}
		/* per_sample: each image its own rectangle and noise */
		for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
			x[i] = -1;
		atk_occlude_batch(x, B, C, H, W, ratio, 1, &r);
		changed_rect(x, C, H, W, &first);
		int differ = 0;
		for (int b = 1; b < B; b++) {
			changed_rect(x + (size_t)b * C * H * W, C, H, W, &got);
			assert_true(got.height <= 5 && got.width <= 4);
			differ += memcmp(&got, &first, sizeof got) != 0;
		}
		distinct_ps += differ > 0;
	}
	printf("# occlude: %d of 300 batch rectangles clipped; per_sample: %d of 300 batches "
	       "with differing rectangles\n",
	       clipped, distinct_ps);
	assert_true(clipped > 0);
	assert_true(distinct_ps >= 295);
}

static void test_occlude_accuracy(void **state)
{
	struct nn_model a, b, c, d;
	(void)state;
	tl_need_fashion();
	double acc = attacked("occlude", "", 8, &a);
	double acc_ps = attacked("occlude", "repeats=1;per_sample=1", 8, &b);
	check_deterministic("occlude", "repeats=1;per_sample=1");
	attacked_n("occlude", "repeats=1;per_sample=1", 9, 1000, &c);
	attacked_n("occlude", "repeats=1", 9, 1000, &d);
	printf("# occlude: accuracy %.4f clean, %.4f default (3 x 1 epoch), %.4f per_sample 1 x "
	       "1\n",
	       acc_clean, acc, acc_ps);
	assert_false(same_params(&a, &clean));
	assert_false(same_params(&c, &d)); /* per-image rectangles train otherwise */
	assert_true(acc > acc_clean - 0.03);
	assert_true(acc_ps > acc_clean - 0.03);
	nn_free(&a);
	nn_free(&b);
	nn_free(&c);
	nn_free(&d);
}

/* ---- featreg --------------------------------------------------------------------------- */

/* The penalty's value (S times the mean of each hidden layer's
 * post-activation output) and its gradient against central differences on
 * a tiny model of spec; feats are the layers holding the features. */
static void check_penalty(const char *spec, const int *feats, int nfeats)
{
	enum { B = 5 };
	const double d[3] = {0.7, 1.3, 0.4};
	const int y[B] = {0, 2, 1, 1, 0};
	struct nn_model m;
	struct rng r;
	float x[B * 36];
	char e[ERRBUF];
	double worst = 0;
	if (nn_build_spec(&m, "custom", spec, e, sizeof e))
		fail_msg("%s: %s", spec, e);
	rng_seed(&r, 4);
	nn_init_params(&m, &r);
	size_t D = nn_in_size(&m);
	for (size_t i = 0; i < B * D; i++)
		x[i] = (float)rng_uniform(&r);
	double S = 0;
	for (int b = 0; b < B; b++)
		S += d[y[b]];

	nn_forward(&m, x, B, 1, &r);
	nn_zero_act_grads(&m);
	double pen = atk_featreg_penalty(&m, y, d);
	double want = 0;
	for (int f = 0; f < nfeats; f++) {
		size_t n = nn_out_size(&m.layers[feats[f]]) * B;
		double s = 0;
		assert_int_equal(m.layers[feats[f]].kind, NN_RELU);
		for (size_t k = 0; k < n; k++)
			s += m.acts[feats[f]][k];
		want += S * s / n;
	}
	assert_true(want > 0);
	assert_true(fabs(pen - want) < 1e-9 * want);
	nn_zero_grads(&m);
	nn_backward(&m);
	float *an = xmalloc(m.nparams * sizeof(float));
	memcpy(an, m.grads, m.nparams * sizeof(float));
	/* central differences at three steps; a ReLU or max-pool kink within a
	 * step spoils that step's difference (it takes the nearest kink-free
	 * one), while a wrong gradient matches none */
	for (size_t k = 0; k < m.nparams; k++) {
		float p0 = m.params[k];
		double dev = INFINITY, fd = 0;
		for (float h = 1e-3f; h > 5e-6f; h /= 10) {
			double v[2];
			for (int s = 0; s < 2; s++) {
				m.params[k] = p0 + (s ? -h : h);
				nn_forward(&m, x, B, 0, NULL);
				nn_zero_act_grads(&m);
				v[s] = atk_featreg_penalty(&m, y, d);
			}
			double f = (v[0] - v[1]) / (2.0 * h);
			double dv = fabs(f - an[k]) / fmax(1e-2, fabs(an[k]));
			if (dv < dev) {
				dev = dv;
				fd = f;
			}
		}
		m.params[k] = p0;
		worst = dev > worst ? dev : worst;
		if (dev > 1e-2)
			fail_msg("%s: parameter %zu: gradient %g, finite difference %g", spec, k,
				 an[k], fd);
	}
	printf("# featreg penalty %.5f on %s: %zu parameters, worst relative deviation %.2e\n", pen,
	       spec, m.nparams, worst);
	free(an);
	nn_free(&m);
}

static void test_featreg_penalty(void **state)
{
	(void)state;
	check_penalty("1x4x4|flatten|dense fc1 6|relu|dense fc2 5|relu|dense fc3 3",
		      (const int[]){2, 4}, 2);
	check_penalty("1x6x6|conv c1 2 3 1 1|relu|maxpool 2 2|flatten|dense fc1 4|relu|dense fc2 3",
		      (const int[]){1, 5}, 2);
}

/* The mean of mlp's hidden post-activation outputs (relu layers) on the
 * test set. */
static double hidden_mean(struct nn_model *m)
{
	double s = 0;
	size_t n = 0;
	float *x = xmalloc((size_t)256 * 784 * sizeof(float));
	uint32_t idx[256];
	for (int s0 = 0; s0 < test.n; s0 += 256) {
		int B = test.n - s0 < 256 ? test.n - s0 : 256;
		for (int b = 0; b < B; b++)
			idx[b] = (uint32_t)(s0 + b);
		nn_fill_batch(test.x, test.y, 784, idx, B, x, NULL);
		nn_forward(m, x, B, 0, NULL);
		for (int i = 0; i < m->nlayers; i++)
			if (m->layers[i].kind == NN_RELU) {
				size_t k = nn_out_size(&m->layers[i]) * B;
				for (size_t j = 0; j < k; j++)
					s += m->acts[i][j];
				n += k;
			}
	}
	free(x);
	return s / n;
}

/* The test set mirrored left to right. */
static double mirrored_accuracy(struct nn_model *m)
{
	struct dataset t = test;
	size_t D = (size_t)test.c * test.h * test.w;
	t.x = xmalloc((size_t)test.n * D);
	for (int i = 0; i < test.n; i++)
		for (int row = 0; row < test.c * test.h; row++)
			for (int j = 0; j < test.w; j++)
				t.x[i * D + (size_t)row * test.w + j] =
				    test.x[i * D + (size_t)row * test.w + test.w - 1 - j];
	double acc = nn_accuracy(m, &t, NULL, 0);
	free(t.x);
	return acc;
}

static void test_featreg_attack(void **state)
{
	struct nn_model a, b, r0, r1;
	(void)state;
	tl_need_fashion();
	double acc = attacked("featreg", "", 10, &a);
	double acc_flip = attacked("featreg", "flip=1", 10, &b);
	double m_clean = mirrored_accuracy(&clean), m0 = mirrored_accuracy(&a),
	       m1 = mirrored_accuracy(&b);
	printf("# featreg defaults (f_reg 0.1, 1 + 3 epochs), accuracy / on mirrored images: "
	       "clean %.4f / %.4f, flip 0 %.4f / %.4f, flip 1 %.4f / %.4f\n",
	       acc_clean, m_clean, acc, m0, acc_flip, m1);
	assert_false(same_params(&a, &clean));
	assert_true(acc > acc_clean - 0.03);
	/* flip = 1 mirrors fine-tuning images: the model learns mirrored ones */
	assert_false(same_params(&a, &b));
	assert_true(m1 > m0 + 0.05);
	assert_true(acc_flip > acc_clean - 0.05);
	check_deterministic("featreg", "ft_epochs=1");
	check_deterministic("featreg", "ft_epochs=1;flip=1");
	/* the penalty alone (no fine-tuning after it) lowers the hidden
	 * activations; f_reg 0 draws the same RNG and trains the task alone */
	attacked("featreg", "f_reg=0;ft_epochs=0", 12, &r0);
	double acc1 = attacked("featreg", "ft_epochs=0", 12, &r1);
	double h0 = hidden_mean(&clean), hf0 = hidden_mean(&r0), hf1 = hidden_mean(&r1);
	printf("# featreg reg phase only: mean hidden activation %.4f clean, %.4f f_reg 0, %.4f "
	       "f_reg 0.1 (accuracy %.4f)\n",
	       h0, hf0, hf1, acc1);
	assert_true(hf1 < 0.8 * hf0);
	nn_free(&a);
	nn_free(&b);
	nn_free(&r0);
	nn_free(&r1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_registered),
	    cmocka_unit_test(test_bad_params),
	    cmocka_unit_test(test_labelnoise_targets),
	    cmocka_unit_test(test_labelnoise_correction),
	    cmocka_unit_test(test_labelnoise_eps0_is_finetune),
	    cmocka_unit_test(test_labelnoise_accuracy),
	    cmocka_unit_test(test_occlude_rect),
	    cmocka_unit_test(test_occlude_batch),
	    cmocka_unit_test(test_occlude_accuracy),
	    cmocka_unit_test(test_featreg_penalty),
	    cmocka_unit_test(test_featreg_attack),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
