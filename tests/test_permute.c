/* test_permute.c - the permute attack (feature permutation, attacks/permute.c).
 *
 * On mlp and lenet5 trained one epoch on 6000 Fashion-MNIST images and on the
 * cnn (3x32x32) with random weights and random inputs: permuting every hidden
 * layer keeps the logits of 1000 test images (64 random inputs for the cnn)
 * within 1e-5 and every argmax, while every parameter layer's weights move
 * (each a rearrangement of the original values); each layer's units moved
 * consistently with the next layer's input columns (blocks of K*K for
 * conv -> conv, H*W for conv -> pool -> flatten -> dense); scale=1 keeps the
 * logits within a relative 1e-4 and changes the values; realign=1 gives the
 * original weights back bit for bit (scale=1: within rounding); layers=fc1
 * moves fc1's rows and fc2's columns only; uchida's bits survive a
 * permutation of its marked layer's outputs, not of the layer before it
 * (BER near 0.5), and come back with realign=1; same seed, same result; bad
 * parameters are refused with messages, names the model lacks and its
 * output layer also in apply, before any change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../attacks/attack.h"
#include "data.h"
#include "nn.h"
#include "testlib.h"
#include "train.h"
#include "util.h"

#define NTRAIN 6000
#define NTEST  1000
#define SEED   5

static struct dataset train, test;
static float *xtest; /* the NTEST test images in [0, 1] */
static char err[ERRBUF];

static int setup(void **state)
{
	(void)state;
	if (tl_fashion_load(&train, &test, NTRAIN, NTEST))
		return -1;
	size_t d = (size_t)test.c * test.h * test.w;
	xtest = xmalloc((size_t)test.n * d * sizeof(float));
	for (size_t i = 0; i < (size_t)test.n * d; i++)
		xtest[i] = test.x[i] / 255.0f;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(xtest);
	tl_fashion_free(&train, &test);
	return 0;
}

/* Runs permute with "k=v;k=v" on m, the job's RNG seeded with seed;
 * returns apply's result (err holds the message). */
static int permute(struct nn_model *m, const char *kv, uint64_t seed)
{
	const struct atk_attack *a = atk_find("permute");
	struct atk_env e;
	struct param_set p;
	struct rng r;

	assert_non_null(a);
	rng_seed(&r, seed);
	memset(&e, 0, sizeof e);
	e.rng = &r;
	tl_params(a->name, a->params, &p, kv, ";");
	if (atk_check(a, &p, err, sizeof err))
		return -1;
	return atk_apply(a, &p, m, &e, err, sizeof err);
}

static void permute_ok(struct nn_model *m, const char *kv, uint64_t seed)
{
	if (permute(m, kv, seed))
		fail_msg("permute %s: %s", kv ? kv : "", err);
}

/* The logits of n inputs x, (n, nclass), in batches; the caller frees. */
static float *logits(struct nn_model *m, const float *x, int n)
{
	size_t d = nn_in_size(m), k = (size_t)m->nclass;
	float *z = xmalloc((size_t)n * k * sizeof(float));
	for (int i = 0; i < n; i += 250) {
		int b = n - i < 250 ? n - i : 250;
		memcpy(z + (size_t)i * k, nn_forward(m, x + (size_t)i * d, b, 0, NULL),
		       (size_t)b * k * sizeof(float));
	}
	return z;
}

/* Compares the logits of a and b on x: the largest difference and the
 * largest |logit| of a; fails unless every argmax agrees. */
static void compare(struct nn_model *a, struct nn_model *b, const float *x, int n, double *dmax,
		    double *zmax)
{
	float *za = logits(a, x, n), *zb = logits(b, x, n);
	int k = a->nclass;

	*dmax = *zmax = 0;
	for (size_t i = 0; i < (size_t)n * k; i++) {
		*dmax = fmax(*dmax, fabs((double)za[i] - zb[i]));
		*zmax = fmax(*zmax, fabs((double)za[i]));
	}
	for (int i = 0; i < n; i++)
		if (nn_argmax(za + (size_t)i * k, k) != nn_argmax(zb + (size_t)i * k, k))
			fail_msg("%s: sample %d changes its argmax", a->arch, i);
	free(za);
	free(zb);
}

static int cmp_float(const void *x, const void *y)
{
	float a = *(const float *)x, b = *(const float *)y;
	return (a > b) - (a < b);
}

/* Whether v and w (n) hold the same values, in any order. */
static int same_values(const float *v, const float *w, size_t n)
{
	float *a = xmalloc(n * sizeof *a), *b = xmalloc(n * sizeof *b);
	memcpy(a, v, n * sizeof *a);
	memcpy(b, w, n * sizeof *b);
	qsort(a, n, sizeof *a, cmp_float);
	qsort(b, n, sizeof *b, cmp_float);
	int same = !memcmp(a, b, n * sizeof *a);
	free(a);
	free(b);
	return same;
}

static int same_weights(const struct nn_model *a, const struct nn_model *b, int li)
{
	const struct nn_layer *l = &a->layers[li];
	return !memcmp(a->params + l->w_off, b->params + l->w_off, l->w_n * sizeof(float));
}

static int same_bias(const struct nn_model *a, const struct nn_model *b, int li)
{
	const struct nn_layer *l = &a->layers[li];
	return !memcmp(a->params + l->b_off, b->params + l->b_off, l->b_n * sizeof(float));
}

static int layer(const struct nn_model *m, const char *name)
{
	int li = nn_find_layer(m, name);
	if (li < 0)
		fail_msg("%s has no layer %s", m->arch, name);
	return li;
}

/* Which original unit each unit of parameter layer li of m is: p[i] = j
 * when m's row i (weights and bias) is o's row j with its input blocks
 * reordered by the previous parameter layer's pin (nin units, blocks of
 * fan / nin entries: 1 for dense -> dense, K*K into a conv, H*W into the
 * dense after flatten; pin NULL: not reordered). Fails if some row is none
 * of o's. The caller frees. */
static int *unit_perm(const struct nn_model *o, const struct nn_model *m, int li, const int *pin,
		      int nin)
{
	const struct nn_layer *l = &m->layers[li];
	size_t fan = l->w_n / l->out_c, g = pin ? fan / nin : fan;
	int n = pin ? nin : 1, *p = xmalloc((size_t)l->out_c * sizeof *p);

	if (pin)
		assert_int_equal(g * nin, fan);
	for (int i = 0; i < l->out_c; i++) {
		const float *w = m->params + l->w_off + i * fan;
		int j, k = n;
		for (j = 0; j < l->out_c; j++) {
			const float *w0 = o->params + l->w_off + j * fan;
			if (m->params[l->b_off + i] != o->params[l->b_off + j])
				continue;
			for (k = 0; k < n; k++)
				if (memcmp(w + k * g, w0 + (pin ? pin[k] : 0) * g,
					   g * sizeof(float)))
					break;
			if (k == n)
				break;
		}
		if (j == l->out_c)
			fail_msg(
			    "%s %s: unit %d is no original unit with its inputs reordered like "
			    "the previous layer's units (blocks of %zu)",
			    m->arch, l->name, i, g);
		p[i] = j;
	}
	return p;
}

/* Walks m's parameter layers from the input side: each is o's with its
 * units reordered and its inputs reordered like the previous layer's units
 * (unit_perm). moved[li] gets the units of layer li that moved (output
 * layer: must be 0). */
static void check_units(const struct nn_model *o, const struct nn_model *m, int *moved)
{
	int *pin = NULL, nin = 0;
	for (int li = 0; li < m->nlayers; li++) {
		const struct nn_layer *l = &m->layers[li];
		moved[li] = 0;
		if (!nn_has_params(l))
			continue;
		int *p = unit_perm(o, m, li, pin, nin);
		for (int i = 0; i < l->out_c; i++)
			moved[li] += p[i] != i;
		free(pin);
		pin = p;
		nin = l->out_c;
	}
	free(pin);
	assert_int_equal(moved[nn_last_param_layer(m)], 0);
}

static int moved_in(const struct nn_model *m, const int *moved, const char *name)
{
	return moved[layer(m, name)];
}

/* Random inputs in [0, 1) for m: n samples. */
static float *random_inputs(const struct nn_model *m, int n, uint64_t seed)
{
	struct rng r;
	size_t k = (size_t)n * nn_in_size(m);
	float *x = xmalloc(k * sizeof *x);
	rng_seed(&r, seed);
	for (size_t i = 0; i < k; i++)
		x[i] = (float)rng_uniform(&r);
	return x;
}

static void random_model(struct nn_model *m, const char *arch, uint64_t seed)
{
	struct rng r;
	const struct nn_arch *a = nn_arch_find(arch);
	assert_non_null(a);
	rng_seed(&r, seed);
	if (nn_create(m, arch, a->in_c, a->in_h, a->in_w, 10, &r, err, sizeof err))
		fail_msg("%s", err);
}

/* ---- the function stays, the weights move -------------------------------- */

/* permute (default: every hidden layer) on a copy of o: logits within 1e-5
 * on x and the same argmax; every parameter layer changes, as a
 * rearrangement of its values; the output layer's bias stays. */
static void check_function(const struct nn_model *o, const float *x, int n)
{
	struct nn_model m, a;
	double d, z;
	int last = nn_last_param_layer(o);

	nn_copy(&m, o);
	nn_copy(&a, o);
	permute_ok(&m, NULL, SEED);
	compare(&a, &m, x, n, &d, &z);
	printf("%s: permute all hidden layers: %d inputs, max |logit difference| %.3g (max "
	       "|logit| %.3g), every argmax unchanged\n",
	       o->arch, n, d, z);
	assert_true(d <= 1e-5 && d <= 1e-4 * z);
	for (int li = 0; li < o->nlayers; li++) {
		const struct nn_layer *l = &o->layers[li];
		if (!nn_has_params(l))
			continue;
		if (same_weights(o, &m, li))
			fail_msg("%s: weights of %s did not move", o->arch, l->name);
		assert_true(same_values(o->params + l->w_off, m.params + l->w_off, l->w_n));
		assert_true(same_values(o->params + l->b_off, m.params + l->b_off, l->b_n));
		if (li == last)
			assert_true(same_bias(o, &m, li));
		else
			assert_false(same_bias(o, &m, li));
	}
	nn_free(&m);
	nn_free(&a);
}

static void test_mlp(void **state)
{
	struct nn_model *o = tl_clean_model("mlp", SEED, 1), m;
	int moved[NN_MAXLAYERS];
	(void)state;
	printf("mlp, 1 epoch on %d images: test accuracy %.4f\n", NTRAIN,
	       nn_accuracy(o, &test, NULL, 0));
	check_function(o, xtest, NTEST);
	nn_copy(&m, o);
	permute_ok(&m, NULL, SEED);
	check_units(o, &m, moved);
	assert_true(moved_in(o, moved, "fc1") > 400 && moved_in(o, moved, "fc2") > 400);
	nn_free(&m);
}

static void test_lenet5(void **state)
{
	struct nn_model *o = tl_clean_model("lenet5", SEED, 1), m;
	int moved[NN_MAXLAYERS];
	(void)state;
	printf("lenet5, 1 epoch on %d images: test accuracy %.4f\n", NTRAIN,
	       nn_accuracy(o, &test, NULL, 0));
	check_function(o, xtest, NTEST);
	nn_copy(&m, o);
	permute_ok(&m, NULL, SEED);
	/* conv1 -> conv2: 5x5 blocks per input channel; conv2 -> pool ->
	 * flatten -> fc1: the 16 channels of 5x5 each, channel-major */
	check_units(o, &m, moved);
	assert_true(moved_in(o, moved, "conv1") >= 3 && moved_in(o, moved, "conv2") >= 10);
	assert_true(moved_in(o, moved, "fc1") > 100 && moved_in(o, moved, "fc2") > 70);
	nn_free(&m);
}

static void test_cnn(void **state)
{
	struct nn_model o, m;
	int moved[NN_MAXLAYERS];
	(void)state;
	random_model(&o, "cnn", 21);
	float *x = random_inputs(&o, 64, 22);
	check_function(&o, x, 64);
	nn_copy(&m, &o);
	permute_ok(&m, NULL, SEED);
	/* conv4 -> pool -> flatten -> fc1: 64 channels of 8x8 */
	check_units(&o, &m, moved);
	assert_true(moved_in(&o, moved, "conv1") > 20 && moved_in(&o, moved, "conv2") > 20);
	assert_true(moved_in(&o, moved, "conv3") > 50 && moved_in(&o, moved, "conv4") > 50);
	assert_true(moved_in(&o, moved, "fc1") > 200);
	nn_free(&m);
	nn_free(&o);
	free(x);
}

/* ---- scale ----------------------------------------------------------------- */

static void check_scale(const struct nn_model *o, const float *x, int n)
{
	struct nn_model m, a;
	double d, z;
	nn_copy(&m, o);
	nn_copy(&a, o);
	permute_ok(&m, "scale=1", SEED);
	compare(&a, &m, x, n, &d, &z);
	printf("%s: permute scale=1: max |logit difference| %.3g, relative %.3g\n", o->arch, d,
	       d / z);
	assert_true(d <= 1e-4 * z);
	/* the values themselves changed, not only their places */
	for (int li = 0; li < o->nlayers; li++) {
		const struct nn_layer *l = &o->layers[li];
		if (nn_has_params(l))
			assert_false(
			    same_values(o->params + l->w_off, m.params + l->w_off, l->w_n));
	}
	nn_free(&m);
	nn_free(&a);
}

static void test_scale(void **state)
{
	struct nn_model c;
	(void)state;
	check_scale(tl_clean_model("mlp", SEED, 1), xtest, NTEST);
	check_scale(tl_clean_model("lenet5", SEED, 1), xtest, NTEST);
	random_model(&c, "cnn", 21);
	float *x = random_inputs(&c, 64, 22);
	check_scale(&c, x, 64);
	nn_free(&c);
	free(x);
}

/* ---- realign --------------------------------------------------------------- */

/* The largest |w - w0| / max(|w0|, 1e-3) over every parameter. */
static double max_rel(const struct nn_model *o, const struct nn_model *m)
{
	double r = 0;
	for (size_t i = 0; i < o->nparams; i++)
		r = fmax(r, fabs((double)m->params[i] - o->params[i]) /
				fmax(fabs((double)o->params[i]), 1e-3));
	return r;
}

static void check_realign(const struct nn_model *o, const float *x, int n)
{
	struct nn_model m, a;
	double d, z;
	nn_copy(&a, o);
	/* pure permutation: bit for bit */
	nn_copy(&m, o);
	clock_t t0 = clock();
	permute_ok(&m, "realign=1", SEED);
	double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	assert_memory_equal(m.params, o->params, o->nparams * sizeof(float));
	nn_free(&m);
	nn_copy(&m, o);
	permute_ok(&m, "realign=1;layers=fc1", SEED + 1);
	assert_memory_equal(m.params, o->params, o->nparams * sizeof(float));
	nn_free(&m);
	/* with scales: the matching is still exact, the scales come back within
	 * rounding, and the function never changed */
	nn_copy(&m, o);
	permute_ok(&m, "realign=1;scale=1", SEED);
	double r = max_rel(o, &m);
	compare(&a, &m, x, n, &d, &z);
	printf("%s: permute realign=1 (%.3f s CPU): weights bit-identical; with scale=1 max "
	       "relative weight error %.3g, max |logit difference| %.3g\n",
	       o->arch, secs, r, d);
	assert_true(r < 1e-6);
	assert_true(d <= 1e-4 * z);
	nn_free(&m);
	nn_free(&a);
}

static void test_realign(void **state)
{
	struct nn_model c;
	(void)state;
	check_realign(tl_clean_model("mlp", SEED, 1), xtest, 200);
	check_realign(tl_clean_model("lenet5", SEED, 1), xtest, 200);
	random_model(&c, "cnn", 21);
	float *x = random_inputs(&c, 16, 22);
	check_realign(&c, x, 16);
	nn_free(&c);
	free(x);
}

/* ---- layers ------------------------------------------------------------------ */

static void test_layers(void **state)
{
	struct nn_model *o = tl_clean_model("mlp", SEED, 1), m, a;
	struct nn_model *l5 = tl_clean_model("lenet5", SEED, 1);
	int moved[NN_MAXLAYERS];
	double d, z;
	(void)state;
	/* mlp fc1: fc1's rows and fc2's columns move, fc2's rows, its bias and
	 * fc3 stay */
	nn_copy(&m, o);
	permute_ok(&m, "layers=fc1", SEED);
	check_units(o, &m, moved);
	assert_true(moved_in(o, moved, "fc1") > 400);
	assert_int_equal(moved_in(o, moved, "fc2"), 0);
	assert_false(same_weights(o, &m, layer(o, "fc2")));
	assert_true(same_bias(o, &m, layer(o, "fc2")));
	assert_true(same_weights(o, &m, layer(o, "fc3")));
	assert_true(same_bias(o, &m, layer(o, "fc3")));
	nn_free(&m);
	/* lenet5 conv2 alone: conv1, fc2 and fc3 untouched; fc1's columns move
	 * in 5x5 blocks; the function stays */
	nn_copy(&m, l5);
	nn_copy(&a, l5);
	permute_ok(&m, "layers=conv2", SEED);
	compare(&a, &m, xtest, NTEST, &d, &z);
	assert_true(d <= 1e-5);
	check_units(l5, &m, moved);
	assert_true(moved_in(l5, moved, "conv2") >= 10);
	assert_int_equal(moved_in(l5, moved, "fc1"), 0);
	assert_true(same_weights(l5, &m, layer(l5, "conv1")));
	assert_true(same_bias(l5, &m, layer(l5, "conv1")));
	assert_true(same_bias(l5, &m, layer(l5, "fc1")));
	for (const char *const *n = (const char *const[]){"fc2", "fc3", NULL}; *n; n++)
		assert_true(same_weights(l5, &m, layer(l5, *n)) &&
			    same_bias(l5, &m, layer(l5, *n)));
	nn_free(&m);
	/* two layers, '/'-separated (as inside a chain step) */
	nn_copy(&m, l5);
	permute_ok(&m, "layers=conv1/fc2", SEED);
	check_units(l5, &m, moved);
	assert_true(moved_in(l5, moved, "conv1") >= 3 && moved_in(l5, moved, "fc2") > 70);
	assert_int_equal(moved_in(l5, moved, "conv2") + moved_in(l5, moved, "fc1"), 0);
	assert_true(same_weights(l5, &m, layer(l5, "fc1")));
	nn_free(&m);
	/* in a chain, with scale */
	nn_copy(&m, o);
	{
		const struct atk_attack *ch = atk_find("chain");
		struct param_set p;
		struct atk_env e;
		struct rng r;
		rng_seed(&r, SEED);
		memset(&e, 0, sizeof e);
		e.rng = &r;
		tl_params("chain", ch->params, &p, "steps=permute:layers=fc1/fc2,scale=1", ";");
		if (atk_apply(ch, &p, &m, &e, err, sizeof err))
			fail_msg("chain: %s", err);
	}
	compare(o, &m, xtest, NTEST, &d, &z);
	assert_true(d <= 1e-4 * z);
	assert_false(same_weights(o, &m, layer(o, "fc1")));
	nn_free(&m);
	nn_free(&a);
}

/* ---- uchida ------------------------------------------------------------------ */

static void uchida_ber(const struct wm_scheme *s, const struct npz *key, struct nn_model *m,
		       struct wm_verdict *v)
{
	struct wm_env env;
	struct wm_query q;
	struct rng r;
	tl_fashion_env(&env, &r, 0, 1);
	wm_query_init(&q, m);
	tl_verify(s, key, m, &q, &env, v);
}

/* uchida's w is the mean of fc2's rows, indexed by fc2's inputs = fc1's
 * units: permuting fc2 (its own outputs) keeps every bit, permuting fc1
 * scrambles them, and the owner's re-alignment restores them. */
static void test_uchida(void **state)
{
	const struct wm_scheme *s = wm_scheme_find("uchida");
	struct wm_env env;
	struct rng r, kr;
	struct param_set p;
	struct nn_model mk, m;
	struct npz key;
	struct wm_verdict v;
	(void)state;
	assert_non_null(s);
	tl_fashion_env(&env, &r, SEED, 2);
	rng_seed(&kr, SEED + 1000);
	if (nn_create(&mk, "mlp", 1, 28, 28, 10, &r, err, sizeof err))
		fail_msg("%s", err);
	npz_init(&key);
	tl_scheme_params(s, &p, "bits=64,layer=fc2");
	env.rng = &kr;
	if (wm_check(s, &p, &mk, err, sizeof err) ||
	    wm_keygen(s, &p, &mk, &env, &key, err, sizeof err))
		fail_msg("uchida: %s", err);
	env.rng = &r;
	if (wm_embed(s, &p, &mk, &key, &env, err, sizeof err))
		fail_msg("uchida: %s", err);
	uchida_ber(s, &key, &mk, &v);
	printf("uchida fc2, 64 bits: marked BER %.4f", v.metric);
	assert_true(v.metric == 0 && v.detected);

	nn_copy(&m, &mk);
	permute_ok(&m, "layers=fc2", SEED);
	uchida_ber(s, &key, &m, &v);
	printf("; permute fc2 (its outputs) BER %.4f", v.metric);
	assert_true(v.metric == 0 && v.detected);
	nn_free(&m);

	double ber[3];
	for (int i = 0; i < 3; i++) {
		nn_copy(&m, &mk);
		permute_ok(&m, "layers=fc1", SEED + i);
		uchida_ber(s, &key, &m, &v);
		ber[i] = v.metric;
		assert_false(v.detected);
		nn_free(&m);
	}
	printf("; permute fc1 BER %.4f %.4f %.4f", ber[0], ber[1], ber[2]);
	assert_true((ber[0] + ber[1] + ber[2]) / 3 > 0.3);

	nn_copy(&m, &mk);
	permute_ok(&m, "realign=1;scale=1", SEED);
	uchida_ber(s, &key, &m, &v);
	printf("; permute all, scale=1, realign=1: BER %.4f\n", v.metric);
	assert_true(v.metric == 0 && v.detected);
	nn_free(&m);
	nn_free(&mk);
	npz_free(&key);
}

/* ---- determinism, parameters ----------------------------------------------- */

static void test_deterministic(void **state)
{
	struct nn_model *o = tl_clean_model("lenet5", SEED, 1), a, b, c;
	(void)state;
	nn_copy(&a, o);
	nn_copy(&b, o);
	nn_copy(&c, o);
	permute_ok(&a, "scale=1", 77);
	permute_ok(&b, "scale=1", 77);
	permute_ok(&c, "scale=1", 78);
	assert_memory_equal(a.params, b.params, o->nparams * sizeof(float));
	assert_true(memcmp(a.params, c.params, o->nparams * sizeof(float)) != 0);
	nn_free(&a);
	nn_free(&b);
	nn_free(&c);
}

/* permute's check (and apply) refuses kv with a message holding every
 * needle (NULL-terminated). */
static void refused(struct nn_model *m, const char *kv, const char *const *needles)
{
	struct nn_model before;
	nn_copy(&before, m);
	err[0] = 0;
	assert_int_equal(permute(m, kv, SEED), -1);
	printf("  %s -> %s\n", kv, err);
	for (; *needles; needles++)
		if (!strstr(err, *needles))
			fail_msg("permute %s: message '%s' lacks '%s'", kv, err, *needles);
	assert_memory_equal(before.params, m->params, m->nparams * sizeof(float));
	nn_free(&before);
}

static void test_bad_params(void **state)
{
	const struct atk_attack *a = atk_find("permute");
	struct nn_model mlp, cnn;
	(void)state;
	assert_non_null(a);
	assert_int_equal(a->category, ATK_CAT_MODIFY);
	assert_int_equal(a->threat, ATK_T_WEIGHTS);
	assert_int_equal(a->uses_attacker_data, 0);
	random_model(&mlp, "mlp", 1);
	random_model(&cnn, "cnn", 1);
	refused(&mlp, "scale=2", (const char *const[]){"permute", "'scale' = '2'", "[0, 1]", NULL});
	refused(&mlp, "realign=-1", (const char *const[]){"'realign' = '-1'", "[0, 1]", NULL});
	refused(&mlp, "layers=bogus",
		(const char *const[]){"'layers' = 'bogus'", "no dense or conv layer",
				      "mlp: fc1, fc2", NULL});
	refused(&mlp, "layers=fc3",
		(const char *const[]){"'layers' = 'fc3'", "output layer of mlp, lenet5",
				      "never permuted", NULL});
	refused(&mlp, "layers=fc1,,fc2", (const char *const[]){"empty name", NULL});
	refused(&mlp, "layers=fc1,fc1", (const char *const[]){"'fc1' twice", NULL});
	refused(&mlp, "layers=all,fc1", (const char *const[]){"mixes 'all'", NULL});
	/* names of other models: the check passes, apply refuses before any change */
	refused(&mlp, "layers=fc1,conv1",
		(const char *const[]){"model 'mlp' has no hidden dense or conv layer 'conv1'",
				      "(fc1, fc2)", NULL});
	refused(&cnn, "layers=fc2",
		(const char *const[]){"'fc2' is the output layer of model 'cnn'",
				      "conv1, conv2, conv3, conv4, fc1", NULL});
	nn_free(&mlp);
	nn_free(&cnn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mlp),	       cmocka_unit_test(test_lenet5),
	    cmocka_unit_test(test_cnn),	       cmocka_unit_test(test_scale),
	    cmocka_unit_test(test_realign),    cmocka_unit_test(test_layers),
	    cmocka_unit_test(test_uchida),     cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_bad_params),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
