/* test_train.c - training on real Fashion-MNIST: accuracy, determinism,
 * freezing, the optimiser's NaN guard. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "nn.h"
#include "testlib.h"
#include "train.h"
#include "util.h"

static struct dataset train, test;

static int setup(void **state)
{
	(void)state;
	return tl_fashion_load(&train, &test, 0, 0);
}

static int teardown(void **state)
{
	(void)state;
	tl_fashion_free(&train, &test);
	return 0;
}

static double train_model(struct nn_model *m, const char *arch, uint64_t seed, int n, int epochs)
{
	struct rng r;
	struct nn_opt opt;
	char err[ERRBUF];
	uint32_t *idx = malloc((size_t)n * sizeof *idx);
	struct train_cfg cfg = {.epochs = epochs, .batch = 64};
	for (int i = 0; i < n; i++)
		idx[i] = (uint32_t)i;
	rng_seed(&r, seed);
	assert_int_equal(nn_create(m, arch, 1, 28, 28, 10, &r, err, sizeof err), 0);
	assert_int_equal(nn_opt_init(&opt, "adam", 1e-3, m->nparams), 0);
	int rc = nn_train(m, &train, idx, n, &cfg, &opt, NULL, &r, NULL, err, sizeof err);
	if (rc)
		fprintf(stderr, "%s\n", err);
	assert_int_equal(rc, 0);
	nn_opt_free(&opt);
	free(idx);
	return nn_accuracy(m, &test, NULL, 0);
}

/* The bar: mlp reaches 85 % test accuracy within 2 epochs. */
static void test_mlp_two_epochs(void **state)
{
	struct nn_model m;
	(void)state;
	double t0 = now_seconds();
	double acc = train_model(&m, "mlp", 1, train.n, 2);
	printf("mlp, 2 epochs, 60000 samples: test accuracy %.4f (%.1f s)\n", acc,
	       now_seconds() - t0);
	assert_true(acc >= 0.85);
	nn_free(&m);
}

static void test_lenet5_learns(void **state)
{
	struct nn_model m;
	(void)state;
	double acc = train_model(&m, "lenet5", 2, 10000, 2);
	printf("lenet5, 2 epochs, 10000 samples: test accuracy %.4f\n", acc);
	assert_true(acc >= 0.72);
	nn_free(&m);
}

/* The ReLUs fused with a max-pool store their output only when something
 * can read it: a hook sees it right (equal to the ReLU of its input, at every
 * step), training without hooks (which skips it) ends in the same weights,
 * and after nn_train an evaluation forward stores it again. */
static int relu_checks, relu_bad;
static double check_relu_out(void *ctx, struct nn_model *m, const float *x, const int *y, int B)
{
	(void)ctx, (void)x, (void)y;
	for (int i = 1; i + 1 < m->nlayers; i++) {
		if (m->layers[i].kind != NN_RELU || m->layers[i + 1].kind != NN_MAXPOOL)
			continue;
		size_t n = nn_out_size(&m->layers[i]) * (size_t)B;
		const float *in = m->acts[i - 1], *o = m->acts[i];
		for (size_t k = 0; k < n; k++)
			relu_bad +=
			    memcmp(&o[k], &(float){in[k] > 0 ? in[k] : 0}, sizeof(float)) != 0;
		relu_checks++;
	}
	return 0;
}

static int hook_calls;
static double count_calls(void *ctx, struct nn_model *m, const float *x, const int *y, int B)
{
	(void)ctx, (void)m, (void)x, (void)y, (void)B;
	hook_calls++;
	return 0;
}

static void test_relu_out(void **state)
{
	(void)state;
	struct nn_model a, b;
	struct nn_opt oa, ob;
	struct rng ra, rb;
	char err[ERRBUF];
	enum { N = 640 };
	uint32_t idx[N];
	struct train_cfg cfg = {.epochs = 1, .batch = 64};
	struct train_hooks h = {.pre_backward = check_relu_out};
	for (int i = 0; i < N; i++)
		idx[i] = (uint32_t)i;
	rng_seed(&ra, 5);
	rng_seed(&rb, 5);
	assert_int_equal(nn_create(&a, "lenet5", 1, 28, 28, 10, &ra, err, sizeof err), 0);
	assert_int_equal(nn_create(&b, "lenet5", 1, 28, 28, 10, &rb, err, sizeof err), 0);
	assert_int_equal(nn_opt_init(&oa, "adam", 1e-3, a.nparams), 0);
	assert_int_equal(nn_opt_init(&ob, "adam", 1e-3, b.nparams), 0);
	relu_checks = relu_bad = 0;
	assert_int_equal(nn_train(&a, &train, idx, N, &cfg, &oa, &h, &ra, NULL, err, sizeof err),
			 0);
	printf("with a hook: %d checks of the fused ReLUs' outputs, %d floats wrong\n", relu_checks,
	       relu_bad);
	assert_int_equal(relu_checks, 2 * N / 64); /* conv1's and conv2's, every step */
	assert_int_equal(relu_bad, 0);
	/* without hooks the fused ReLUs' outputs are not written: a marker in
	 * their buffers (allocated for batches of 64 by a first forward) stays */
	float *xb = malloc(64 * 784 * sizeof(float));
	int yb[64], fused[2], nf = 0;
	nn_fill_batch(train.x, train.y, 784, idx, 64, xb, yb);
	nn_forward(&b, xb, 64, 0, NULL);
	for (int i = 1; i + 1 < b.nlayers && nf < 2; i++)
		if (b.layers[i].kind == NN_RELU && b.layers[i + 1].kind == NN_MAXPOOL) {
			fused[nf++] = i;
			memset(b.acts[i], 0x7f, nn_out_size(&b.layers[i]) * 64 * sizeof(float));
		}
	assert_int_equal(nf, 2);
	assert_true(nn_relu_fused(&b, fused[0]) && nn_relu_fused(&b, fused[1]));
	assert_false(nn_relu_fused(&b, nn_find_layer(&b, "fc1") + 1)); /* a ReLU, no pool */
	assert_false(nn_relu_fused(&b, fused[0] + 1) || nn_relu_fused(&b, -1) ||
		     nn_relu_fused(&b, b.nlayers - 1));
	assert_int_equal(nn_train(&b, &train, idx, N, &cfg, &ob, NULL, &rb, NULL, err, sizeof err),
			 0);
	for (int f = 0; f < 2; f++)
		assert_true(b.acts[fused[f]][0] == b.acts[fused[f]][1] &&
			    b.acts[fused[f]][0] > 1e38f); /* 0x7f7f7f7f, untouched */
	assert_int_equal(b.relu_out_unread, 0);
	assert_memory_equal(a.params, b.params, a.nparams * sizeof(float));
	/* so with a hook that says it reads no activations (acts_unread) */
	struct train_hooks hu = {.post_backward = count_calls, .acts_unread = 1};
	hook_calls = 0;
	assert_int_equal(nn_train(&b, &train, idx, N, &cfg, &ob, &hu, &rb, NULL, err, sizeof err),
			 0);
	assert_int_equal(hook_calls, N / 64);
	for (int f = 0; f < 2; f++)
		assert_true(b.acts[fused[f]][0] > 1e38f);
	nn_forward(&b, xb, 64, 0, NULL); /* evaluation after training without hooks */
	free(xb);
	relu_checks = relu_bad = 0;
	check_relu_out(NULL, &b, NULL, NULL, 64);
	assert_int_equal(relu_checks, 2);
	assert_int_equal(relu_bad, 0);
	nn_opt_free(&oa);
	nn_opt_free(&ob);
	nn_free(&a);
	nn_free(&b);
}

/* The same seed gives bit-identical weights; another seed does not. */
static void test_deterministic(void **state)
{
	struct nn_model a, b, c;
	(void)state;
	train_model(&a, "lenet5", 7, 3000, 1);
	train_model(&b, "lenet5", 7, 3000, 1);
	train_model(&c, "lenet5", 8, 3000, 1);
	assert_int_equal(a.nparams, b.nparams);
	assert_memory_equal(a.params, b.params, a.nparams * sizeof(float));
	assert_true(memcmp(a.params, c.params, a.nparams * sizeof(float)) != 0);
	nn_free(&a);
	nn_free(&b);
	nn_free(&c);
}

/* Frozen layers do not move; the others do. */
static void test_freeze(void **state)
{
	struct nn_model m;
	struct rng r;
	struct nn_opt opt;
	char err[ERRBUF];
	uint32_t idx[512];
	struct train_cfg cfg = {.epochs = 1, .batch = 64};
	(void)state;
	for (int i = 0; i < 512; i++)
		idx[i] = (uint32_t)i;
	rng_seed(&r, 3);
	assert_int_equal(nn_create(&m, "mlp", 1, 28, 28, 10, &r, err, sizeof err), 0);
	float *before = malloc(m.nparams * sizeof(float));
	memcpy(before, m.params, m.nparams * sizeof(float));
	int last = nn_last_param_layer(&m);
	for (int i = 0; i < m.nlayers; i++)
		m.layers[i].frozen = i != last;
	nn_opt_init(&opt, "sgd", 0.1, m.nparams);
	opt.momentum = 0.9;
	assert_int_equal(
	    nn_train(&m, &train, idx, 512, &cfg, &opt, NULL, &r, NULL, err, sizeof err), 0);
	const struct nn_layer *l = &m.layers[last];
	assert_memory_equal(m.params, before, l->w_off * sizeof(float));
	assert_true(memcmp(m.params + l->w_off, before + l->w_off, l->w_n * sizeof(float)) != 0);
	nn_opt_free(&opt);
	free(before);
	nn_free(&m);
}

/* A diverging run stops with a message instead of producing NaN weights. */
static void test_divergence_reported(void **state)
{
	struct nn_model m;
	struct rng r;
	struct nn_opt opt;
	char err[ERRBUF] = "";
	uint32_t idx[1024];
	struct train_cfg cfg = {.epochs = 1, .batch = 64};
	(void)state;
	for (int i = 0; i < 1024; i++)
		idx[i] = (uint32_t)i;
	rng_seed(&r, 4);
	assert_int_equal(nn_create(&m, "mlp", 1, 28, 28, 10, &r, err, sizeof err), 0);
	nn_opt_init(&opt, "sgd", 1e6, m.nparams);
	assert_int_equal(
	    nn_train(&m, &train, idx, 1024, &cfg, &opt, NULL, &r, NULL, err, sizeof err), -1);
	assert_non_null(strstr(err, "diverged"));
	nn_opt_free(&opt);
	nn_free(&m);
}

/* The update loops run as an AVX2 build where the CPU has one: the same bits
 * as the plain formulas, step by step, for every optimiser, with weight
 * decay and the gradient clip, on mlp (670,000 parameters, so the loops'
 * vector bodies and their tails both run). The reference is written here in
 * scalar C in the order of the formulas; float operations without fused
 * multiply-adds are exact to the bit, so any reordering or fusing in the
 * library shows. */
static void ref_step(const struct nn_opt *o, float *p, const float *g, float *m1, float *m2,
		     size_t n, long t)
{
	double ss = 0;
	float lr = (float)o->lr, cs = 1.0f, wd = (float)o->weight_decay, mom = (float)o->momentum;
	float b1 = (float)o->beta1, b2 = (float)o->beta2, eps = (float)o->eps;
	for (size_t i = 0; i < n; i++)
		ss += (double)g[i] * g[i];
	if (o->grad_clip > 0 && sqrt(ss) > o->grad_clip)
		cs = (float)(o->grad_clip / sqrt(ss));
	double bc1 = 1 - pow(o->beta1, (double)t), bc2 = 1 - pow(o->beta2, (double)t);
	float a = (float)(lr * sqrt(bc2) / bc1), e = (float)(eps * sqrt(bc2));
	for (size_t i = 0; i < n; i++) {
		float gi = g[i] * cs + wd * p[i];
		switch (o->kind) {
		case OPT_SGD:
			if (mom == 0) {
				p[i] -= lr * gi;
			} else if (o->nesterov) {
				m1[i] = mom * m1[i] + gi;
				p[i] -= lr * (gi + mom * m1[i]);
			} else {
				m1[i] = mom * m1[i] + g[i] * cs + wd * p[i];
				p[i] -= lr * m1[i];
			}
			break;
		case OPT_ADAM:
			m1[i] = b1 * m1[i] + (1 - b1) * gi;
			m2[i] = b2 * m2[i] + (1 - b2) * gi * gi;
			p[i] -= a * m1[i] / (sqrtf(m2[i]) + e);
			break;
		case OPT_RMSPROP:
			m2[i] = b2 * m2[i] + (1 - b2) * gi * gi;
			p[i] -= lr * gi / (sqrtf(m2[i]) + eps);
			break;
		}
	}
}

/* The gradient clip's sum of squares: its AVX2 code (two 4-lane registers)
 * gives the bits of eight scalar chains, element i in chain i % 8 and the
 * last n % 8 elements in chain 0, added in a fixed tree; checked against
 * that model written here, for every length from 0 to 40 and for mlp's
 * 669,706 parameters, on gradients of mixed scale. */
static double ref_sum_squares(const float *g, size_t n)
{
	double a[8] = {0};
	size_t n8 = n - n % 8;
	for (size_t i = 0; i < n; i++)
		a[i < n8 ? i % 8 : 0] += (double)g[i] * (double)g[i];
	return ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
}

static void test_sum_squares(void **state)
{
	size_t N = 669706;
	float *g = malloc(N * sizeof(float));
	struct rng r;
	(void)state;
	rng_seed(&r, 11);
	for (size_t i = 0; i < N; i++)
		g[i] = (float)(rng_normal(&r) * pow(10.0, -(double)(i % 7)));
	for (size_t n = 0; n <= N; n = n < 40 ? n + 1 : N) {
		double want = ref_sum_squares(g, n);
		double a = nn_sum_squares(g, n, 1), b = nn_sum_squares(g, n, 0);
		if (memcmp(&a, &want, sizeof a) || memcmp(&b, &want, sizeof b))
			fprintf(stderr, "n %zu: %a (avx2) %a (portable), expected %a\n", n, a, b,
				want);
		assert_memory_equal(&a, &want, sizeof a);
		assert_memory_equal(&b, &want, sizeof b);
		if (n == N)
			break;
	}
	free(g);
}

static void test_opt_bits(void **state)
{
	static const struct {
		const char *kind;
		double mom, wd, clip;
		int nesterov;
	} cases[] = {{"sgd", 0, 1e-4, 0, 0}, {"sgd", 0.9, 5e-4, 0, 0},	{"sgd", 0.9, 0, 1, 1},
		     {"adam", 0, 0, 0, 0},   {"adam", 0, 1e-4, 0.5, 0}, {"rmsprop", 0, 1e-4, 0, 0},
		     {"rmsprop", 0, 0, 2, 0}};
	(void)state;
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		struct nn_model m;
		struct nn_opt opt;
		struct rng r;
		char err[ERRBUF];
		rng_seed(&r, 7 + c);
		assert_int_equal(nn_create(&m, "mlp", 1, 28, 28, 10, &r, err, sizeof err), 0);
		size_t n = m.nparams;
		float *p = malloc(n * sizeof(float)), *m1 = calloc(n, sizeof(float));
		float *m2 = calloc(n, sizeof(float));
		assert_int_equal(nn_opt_init(&opt, cases[c].kind, 1e-3, n), 0);
		opt.momentum = cases[c].mom;
		opt.weight_decay = cases[c].wd;
		opt.grad_clip = cases[c].clip;
		opt.nesterov = cases[c].nesterov;
		memcpy(p, m.params, n * sizeof(float));
		for (long t = 1; t <= 3; t++) {
			for (size_t i = 0; i < n; i++)
				m.grads[i] = (float)(rng_normal(&r) * 1e-3);
			nn_opt_step(&opt, &m, 0);
			ref_step(&opt, p, m.grads, m1, m2, n, t);
			size_t bad = 0;
			for (size_t i = 0; i < n; i++)
				bad += memcmp(&p[i], &m.params[i], sizeof(float)) != 0;
			if (bad)
				fprintf(stderr,
					"%s case %zu step %ld: %zu of %zu parameters differ\n",
					cases[c].kind, c, t, bad, n);
			assert_int_equal(bad, 0);
		}
		nn_opt_free(&opt);
		nn_free(&m);
		free(p);
		free(m1);
		free(m2);
	}
}

/* A row-gradient hook as uchida's: the column means of one layer's weight,
 * then a gradient g(w) added to every row, either into m->grads (plain) or
 * through the optimiser (struct nn_opt_rows). */
struct rowhook {
	int layer, M, OC, fused, steps, fused_sums;
	struct nn_opt_rows rows;
	float *g;
	double *seen; /* the means of every step, (steps, M) */
};

static double rowhook_post(void *ctx, struct nn_model *m, const float *x, const int *y, int B)
{
	struct rowhook *h = ctx;
	const struct nn_layer *l = &m->layers[h->layer];
	const float *W = m->params + l->w_off;
	double *w = h->seen + (size_t)h->steps++ * h->M;
	(void)x, (void)y, (void)B;
	if (h->fused && h->rows.sum_ok) {
		h->fused_sums++;
		for (int j = 0; j < h->M; j++)
			w[j] = h->rows.colsum[j] / h->OC;
	} else {
		for (int j = 0; j < h->M; j++)
			w[j] = 0;
		for (int o = 0; o < h->OC; o++)
			for (int j = 0; j < h->M; j++)
				w[j] += W[(size_t)o * h->M + j];
		for (int j = 0; j < h->M; j++)
			w[j] /= h->OC;
	}
	for (int j = 0; j < h->M; j++)
		h->g[j] = (float)(1e-2 * tanh(30 * w[j] + 0.1 * (j % 7)));
	if (h->fused) {
		h->rows.add = h->g;
		h->rows.pending = 1;
	} else {
		float *G = m->grads + l->w_off;
		for (int o = 0; o < h->OC; o++)
			for (int j = 0; j < h->M; j++)
				G[(size_t)o * h->M + j] += h->g[j];
	}
	return 0;
}

/* An epoch_end hook that changes the marked layer's weights. */
static void rowhook_epoch(void *ctx, struct nn_model *m, int epoch)
{
	struct rowhook *h = ctx;
	float *W = m->params + m->layers[h->layer].w_off;
	(void)epoch;
	for (int j = 0; j < h->M; j += 3)
		W[j] *= 0.5f;
}

/* The optimiser's row gradient gives the same bits as adding it into
 * m->grads, with every optimiser (with and without weight decay), a clip, a
 * frozen layer, weights changed between epochs, on a dense and a
 * convolutional layer; its column sums are the hook's own. */
static void test_opt_rows(void **state)
{
	static const struct {
		const char *arch, *layer, *kind;
		double mom, wd, clip;
		int nesterov, frozen, perturb;
	} cases[] = {
	    {"mlp", "fc2", "sgd", 0, 1e-4, 0, 0, 0, 0},
	    {"mlp", "fc2", "sgd", 0.9, 5e-4, 0, 0, 0, 0},
	    {"mlp", "fc2", "sgd", 0.9, 0, 0, 1, 0, 0},
	    {"mlp", "fc2", "sgd", 0.9, 5e-4, 0, 1, 0, 0},
	    {"mlp", "fc2", "adam", 0, 0, 0, 0, 0, 0},
	    {"mlp", "fc2", "adam", 0, 1e-4, 0, 0, 0, 0},
	    {"mlp", "fc2", "adam", 0, 1e-4, 0.5, 0, 0, 0},
	    {"mlp", "fc2", "rmsprop", 0, 1e-4, 0, 0, 0, 0},
	    {"mlp", "fc1", "adam", 0, 0, 0, 0, 1, 0},
	    {"mlp", "fc2", "adam", 0, 0, 0, 0, 0, 1},
	    {"lenet5", "conv2", "adam", 0, 0, 0, 0, 0, 0},
	    {"lenet5", "conv2", "sgd", 0.9, 5e-4, 0, 0, 0, 0},
	};
	uint32_t idx[384];
	(void)state;
	for (int i = 0; i < 384; i++)
		idx[i] = (uint32_t)i;
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		struct nn_model m[2];
		struct rowhook h[2];
		for (int f = 0; f < 2; f++) {
			struct nn_opt opt;
			struct rng r;
			char err[ERRBUF];
			struct train_cfg cfg = {.epochs = 2, .batch = 64};
			rng_seed(&r, 11 + c);
			assert_int_equal(
			    nn_create(&m[f], cases[c].arch, 1, 28, 28, 10, &r, err, sizeof err), 0);
			int li = nn_find_layer(&m[f], cases[c].layer);
			assert_true(li >= 0);
			const struct nn_layer *l = &m[f].layers[li];
			m[f].layers[li].frozen = cases[c].frozen;
			memset(&h[f], 0, sizeof h[f]);
			h[f].layer = li;
			h[f].OC = l->out_c;
			h[f].M = (int)(l->w_n / l->out_c);
			h[f].fused = f;
			h[f].g = malloc((size_t)h[f].M * sizeof(float));
			h[f].seen = malloc(12 * (size_t)h[f].M * sizeof(double));
			nn_opt_rows_init(&h[f].rows, &m[f], li);
			struct train_hooks hk = {.ctx = &h[f], .post_backward = rowhook_post};
			if (cases[c].perturb) /* changes the weights between two steps */
				hk.epoch_end = rowhook_epoch;
			if (f)
				hk.rows = &h[f].rows;
			assert_int_equal(nn_opt_init(&opt, cases[c].kind, 1e-3, m[f].nparams), 0);
			opt.momentum = cases[c].mom;
			opt.weight_decay = cases[c].wd;
			opt.grad_clip = cases[c].clip;
			opt.nesterov = cases[c].nesterov;
			int rc = nn_train(&m[f], &train, idx, 384, &cfg, &opt, &hk, &r, NULL, err,
					  sizeof err);
			if (rc)
				fprintf(stderr, "%s\n", err);
			assert_int_equal(rc, 0);
			assert_null(opt.rows);
			nn_opt_free(&opt);
		}
		size_t bad = 0;
		for (size_t i = 0; i < m[0].nparams; i++)
			bad += memcmp(&m[0].params[i], &m[1].params[i], sizeof(float)) != 0;
		if (bad)
			fprintf(stderr, "case %zu (%s %s %s): %zu of %zu parameters differ\n", c,
				cases[c].arch, cases[c].layer, cases[c].kind, bad, m[0].nparams);
		assert_int_equal(bad, 0);
		assert_int_equal(h[0].steps, 12);
		assert_int_equal(h[1].steps, 12);
		assert_memory_equal(h[0].seen, h[1].seen, 12 * (size_t)h[0].M * sizeof(double));
		/* the sums came from the optimiser on every step but the first (and the
		 * first after an epoch_end hook), unless a clip or a frozen layer took
		 * the plain path */
		assert_int_equal(h[1].fused_sums, cases[c].clip > 0 || cases[c].frozen ? 0
						  : cases[c].perturb		       ? 10
										       : 11);
		for (int f = 0; f < 2; f++) {
			nn_opt_rows_free(&h[f].rows);
			free(h[f].g);
			free(h[f].seen);
			nn_free(&m[f]);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mlp_two_epochs),
	    cmocka_unit_test(test_lenet5_learns),
	    cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_freeze),
	    cmocka_unit_test(test_divergence_reported),
	    cmocka_unit_test(test_opt_bits),
	    cmocka_unit_test(test_sum_squares),
	    cmocka_unit_test(test_opt_rows),
	    cmocka_unit_test(test_relu_out),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
