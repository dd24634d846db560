/* test_gradsigns.c - exact double back-propagation (workers/nn_rop.c) and
 * the gradsigns scheme.
 *
 * Gradients:
 *  (a) nn_rop_param_grad on a small MLP against a double-precision
 *      reference written here (dense-relu-dropout-dense, its own forward and
 *      backward), differentiated by a central difference in double with
 *      eps = 1e-6 along u: relative error <= 1e-3 (float32 engine);
 *  (b) on small conv nets (C_in = 1 and 3, stride, padding, two convs,
 *      max-pool, hidden dense) against the float32 mixed finite difference
 *      nn_fd_param_grad with eps = 1e-3, on seeds where no ReLU or max-pool
 *      choice changes between x - eps u and x + eps u: relative error <= 2e-2;
 *  (c) the engine's input gradient (want_dinput) and nn_rop_prepare's, against
 *      the double reference;
 *  (d) the whole signature-loss gradient of the scheme against a central
 *      difference of the signature loss along directions in parameter space.
 * Scheme (mlp, the first 12000 Fashion-MNIST training images, 3 epochs;
 * at 2 epochs some seeds still read back a bit or two wrong): embeds and reads
 * back with BER 0 white-box and through the query path only (with exactly
 * 2 |S| bb_samples queries), costs < 2 points of accuracy against the
 * unmarked model of the same seed, is not detected on the unmarked model or
 * with a wrong key, also embeds when trained with the mixed finite
 * difference (dbp=fd), is deterministic, rejects bad parameters in check();
 * embedding time against clean training is printed. */
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
#include "data.h"
#include "nn.h"
#include "nn_rop.h"
#include "testlib.h"
#include "util.h"

#define NTRAIN 12000
#define EPOCHS 3

/* schemes/gradsigns.c, exported for this test */
int wm_gradsigns_loss(const struct npz *key, struct nn_model *m, const float *x, const int *y,
		      int B, float *grads, double *loss, char *err, size_t errlen);

static struct dataset train, test;
static struct nn_model clean; /* unmarked, seed 1 */
static double clean_acc, clean_s;
static char err[ERRBUF];

/* ---- vector helpers ------------------------------------------------------- */

/* |a - b| / |b| over n entries; *bn gets |b| */
static double rel_err(const float *a, const double *b, size_t n, double *bn)
{
	double d2 = 0, b2 = 0;
	for (size_t i = 0; i < n; i++) {
		d2 += (a[i] - b[i]) * (a[i] - b[i]);
		b2 += b[i] * b[i];
	}
	if (bn)
		*bn = sqrt(b2);
	return b2 > 0 ? sqrt(d2 / b2) : INFINITY;
}

static void fill_uniform(struct rng *r, float *x, size_t n, double lo, double hi)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(lo + (hi - lo) * rng_uniform(r));
}

static void build(struct nn_model *m, const char *spec, uint64_t seed)
{
	struct rng r;
	if (nn_build_spec(m, "custom", spec, err, sizeof err))
		fail_msg("nn_build_spec(%s): %s", spec, err);
	rng_seed(&r, seed);
	nn_init_params(m, &r);
}

/* ---- (a), (c): a double-precision reference MLP --------------------------- */

/* z = W2 relu(W1 x + b1) + b2 with the parameters of a float model
 * "flatten|dense fc1 H|relu|dropout|dense fc2 C" (dropout: identity in
 * evaluation mode). Mean cross-entropy over B rows; gradients of the
 * parameters (engine layout) into g, of the input into gx (either may be
 * NULL); the ReLU pattern into mask (B*H bytes, may be NULL). */
struct ref_mlp {
	int D, H, C;
	double *w1, *b1, *w2, *b2; /* (H, D), (H), (C, H), (C) */
	size_t o_w1, o_b1, o_w2, o_b2, nparams;
};

static void ref_init(struct ref_mlp *f, struct nn_model *m)
{
	int l1 = nn_find_layer(m, "fc1"), l2 = nn_find_layer(m, "fc2");
	assert_true(l1 >= 0 && l2 >= 0);
	f->D = m->layers[l1].in_c;
	f->H = m->layers[l1].out_c;
	f->C = m->layers[l2].out_c;
	f->o_w1 = m->layers[l1].w_off;
	f->o_b1 = m->layers[l1].b_off;
	f->o_w2 = m->layers[l2].w_off;
	f->o_b2 = m->layers[l2].b_off;
	f->nparams = m->nparams;
	f->w1 = xmalloc((size_t)f->H * f->D * sizeof(double));
	f->b1 = xmalloc((size_t)f->H * sizeof(double));
	f->w2 = xmalloc((size_t)f->C * f->H * sizeof(double));
	f->b2 = xmalloc((size_t)f->C * sizeof(double));
	for (size_t i = 0; i < (size_t)f->H * f->D; i++)
		f->w1[i] = m->params[f->o_w1 + i];
	for (int i = 0; i < f->H; i++)
		f->b1[i] = m->params[f->o_b1 + i];
	for (size_t i = 0; i < (size_t)f->C * f->H; i++)
		f->w2[i] = m->params[f->o_w2 + i];
	for (int i = 0; i < f->C; i++)
		f->b2[i] = m->params[f->o_b2 + i];
}

static void ref_free(struct ref_mlp *f)
{
	free(f->w1);
	free(f->b1);
	free(f->w2);
	free(f->b2);
}

static double ref_grad(const struct ref_mlp *f, const double *x, const int *y, int B, double *g,
		       double *gx, uint8_t *mask)
{
	int D = f->D, H = f->H, C = f->C;
	double *h = xmalloc((size_t)H * sizeof(double)), *a = xmalloc((size_t)H * sizeof(double));
	double *z = xmalloc((size_t)C * sizeof(double)), *dh = xmalloc((size_t)H * sizeof(double));
	double loss = 0;
	if (g)
		memset(g, 0, f->nparams * sizeof(double));
	for (int b = 0; b < B; b++) {
		const double *xb = x + (size_t)b * D;
		for (int j = 0; j < H; j++) {
			double s = f->b1[j];
			for (int i = 0; i < D; i++)
				s += f->w1[(size_t)j * D + i] * xb[i];
			h[j] = s;
			a[j] = s > 0 ? s : 0;
			if (mask)
				mask[(size_t)b * H + j] = s > 0;
		}
		double mx = -INFINITY, se = 0;
		for (int c = 0; c < C; c++) {
			double s = f->b2[c];
			for (int j = 0; j < H; j++)
				s += f->w2[(size_t)c * H + j] * a[j];
			z[c] = s;
			if (s > mx)
				mx = s;
		}
		for (int c = 0; c < C; c++)
			se += exp(z[c] - mx);
		loss += (log(se) + mx - z[y[b]]) / B;
		/* dz = (p - e_y) / B */
		for (int c = 0; c < C; c++)
			z[c] = (exp(z[c] - mx) / se - (c == y[b])) / B;
		for (int j = 0; j < H; j++) {
			double s = 0;
			for (int c = 0; c < C; c++)
				s += z[c] * f->w2[(size_t)c * H + j];
			dh[j] = h[j] > 0 ? s : 0;
		}
		if (g) {
			for (int c = 0; c < C; c++) {
				for (int j = 0; j < H; j++)
					g[f->o_w2 + (size_t)c * H + j] += z[c] * a[j];
				g[f->o_b2 + c] += z[c];
			}
			for (int j = 0; j < H; j++) {
				for (int i = 0; i < D; i++)
					g[f->o_w1 + (size_t)j * D + i] += dh[j] * xb[i];
				g[f->o_b1 + j] += dh[j];
			}
		}
		if (gx)
			for (int i = 0; i < D; i++) {
				double s = 0;
				for (int j = 0; j < H; j++)
					s += dh[j] * f->w1[(size_t)j * D + i];
				gx[(size_t)b * D + i] = s;
			}
	}
	free(h);
	free(a);
	free(z);
	free(dh);
	return loss;
}

static void test_rop_mlp_vs_double(void **state)
{
	const char *spec = "2x3x4|flatten|dense fc1 16|relu|dropout 0.5|dense fc2 5";
	const int B = 4;
	const double eps = 1e-6;
	struct nn_model m;
	struct ref_mlp f;
	struct nn_rop rop;
	struct rng r;
	(void)state;

	build(&m, spec, 11);
	ref_init(&f, &m);
	int D = f.D, H = f.H;
	size_t P = m.nparams, nx = (size_t)B * D;
	float *x = xmalloc(nx * sizeof(float)), *u = xmalloc(nx * sizeof(float));
	float *ga = xcalloc(P, sizeof(float));
	double *xd = xmalloc(nx * sizeof(double)), *gp = xmalloc(P * sizeof(double));
	double *gm = xmalloc(P * sizeof(double)), *ref = xmalloc(P * sizeof(double));
	double *rgx = xmalloc(nx * sizeof(double));
	uint8_t *m0 = xmalloc((size_t)B * H), *m1 = xmalloc((size_t)B * H);
	int y[4];
	rng_seed(&r, 12);
	fill_uniform(&r, x, nx, -1, 1);
	fill_uniform(&r, u, nx, -1, 1);
	for (int b = 0; b < B; b++)
		y[b] = (int)rng_below(&r, 5);

	/* reference: central difference in double of grad_theta L along u */
	for (int side = 0; side < 2; side++) {
		for (size_t i = 0; i < nx; i++)
			xd[i] = (double)x[i] + (side ? -eps : eps) * u[i];
		ref_grad(&f, xd, y, B, side ? gm : gp, NULL, side ? m1 : m0);
	}
	assert_memory_equal(m0, m1, (size_t)B * H); /* no kink between x - eps u and x + eps u */
	for (size_t k = 0; k < P; k++)
		ref[k] = (gp[k] - gm[k]) / (2 * eps);

	/* every kind of parameter gets a second-order term */
	nn_rop_init(&rop);
	for (size_t k = 0; k < P; k++)
		m.grads[k] = 0.25f;
	nn_rop_param_grad(&rop, &m, x, y, B, u, 1.0, ga);
	for (size_t k = 0; k < P; k++)
		assert_true(m.grads[k] == 0.25f); /* m->grads untouched */
	double rn, e = rel_err(ga, ref, P, &rn);
	double e1 = rel_err(ga + f.o_w1, ref + f.o_w1, (size_t)H * D, NULL);
	double e2 = rel_err(ga + f.o_w2, ref + f.o_w2, (size_t)f.C * H, NULL);
	double eb = rel_err(ga + f.o_b1, ref + f.o_b1, (size_t)H, NULL);
	printf("(a) R-op vs double central difference (eps 1e-6), MLP %d-%d-%d, B %d: relative "
	       "error %.2e (fc1.weight %.2e, fc1.bias %.2e, fc2.weight %.2e), |ref| %.3g\n",
	       D, H, f.C, B, e, e1, eb, e2, rn);
	assert_true(rn > 1e-3);
	assert_true(e <= 1e-3);
	assert_true(e1 <= 1e-3 && e2 <= 1e-3 && eb <= 1e-3);

	/* (c) input gradients: the engine's want_dinput and nn_rop_prepare's */
	for (size_t i = 0; i < nx; i++)
		xd[i] = x[i];
	ref_grad(&f, xd, y, B, NULL, rgx, NULL);
	nn_forward(&m, x, B, 0, NULL);
	nn_zero_act_grads(&m);
	nn_loss_xent(&m, y, 1.0);
	nn_zero_grads(&m);
	m.want_dinput = 1;
	nn_backward(&m);
	m.want_dinput = 0;
	double ex = rel_err(m.dinput, rgx, nx, &rn);
	nn_rop_prepare(&rop, &m, x, y, B);
	double er = rel_err(rop.dx, rgx, nx, NULL);
	printf("(c) input gradient vs double reference: engine %.2e, nn_rop_prepare %.2e (|ref| "
	       "%.3g)\n",
	       ex, er, rn);
	assert_true(rn > 1e-3);
	assert_true(ex <= 1e-5);
	assert_true(er <= 1e-5);

	/* apply ADDS, with its scale; a frozen layer gets nothing */
	float *g2 = xmalloc(P * sizeof(float));
	memcpy(g2, ga, P * sizeof(float));
	nn_rop_apply(&rop, &m, u, -2.0, g2);
	for (size_t k = 0; k < P; k++)
		assert_true(fabsf(g2[k] + ga[k]) <= 1e-5f * (1 + fabsf(ga[k])));
	memset(g2, 0, P * sizeof(float));
	m.layers[nn_find_layer(&m, "fc1")].frozen = 1;
	nn_rop_param_grad(&rop, &m, x, y, B, u, 1.0, g2);
	for (size_t k = 0; k < P; k++) {
		if (k >= f.o_w1 && k < f.o_b1 + (size_t)H)
			assert_true(g2[k] == 0);
		else
			assert_true(fabsf(g2[k] - ga[k]) <= 1e-6f * (1 + fabsf(ga[k])));
	}
	m.layers[nn_find_layer(&m, "fc1")].frozen = 0;

	/* the float32 mixed difference agrees on this kink-free point too; it
	 * adds into out_grads even when that is m->grads, its scratch */
	memset(g2, 0, P * sizeof(float));
	nn_fd_param_grad(&m, x, y, B, u, 1e-3, 1.0, g2);
	e = rel_err(g2, ref, P, NULL);
	printf("    float32 mixed finite difference (eps 1e-3) vs the same reference: %.2e\n", e);
	assert_true(e <= 2e-2);
	for (size_t k = 0; k < P; k++)
		m.grads[k] = 0.25f;
	nn_fd_param_grad(&m, x, y, B, u, 1e-3, 1.0, m.grads);
	for (size_t k = 0; k < P; k++)
		assert_true(fabsf(m.grads[k] - 0.25f - g2[k]) <= 1e-6f);

	nn_rop_free(&rop);
	ref_free(&f);
	nn_free(&m);
	free(x), free(u), free(ga), free(xd), free(gp), free(gm), free(ref), free(rgx);
	free(m0), free(m1), free(g2);
}

/* ---- (b): conv nets against the float32 mixed difference ----------------- */

/* ReLU signs and max-pool choices of the last forward, appended to buf */
static size_t pattern(const struct nn_model *m, uint8_t *buf)
{
	size_t n = 0;
	int B = m->last_b;
	for (int i = 0; i < m->nlayers; i++) {
		const struct nn_layer *l = &m->layers[i];
		size_t k = nn_out_size(l) * B;
		if (l->kind == NN_RELU)
			for (size_t j = 0; j < k; j++)
				buf[n++] = m->acts[i][j] > 0;
		if (l->kind == NN_MAXPOOL)
			for (size_t j = 0; j < k; j++)
				buf[n++] = (uint8_t)m->pool_idx[i][j];
	}
	return n;
}

/* Same pattern at x - eps u, x and x + eps u? */
static int kink_free(struct nn_model *m, const float *x, const float *u, int B, double eps)
{
	size_t nx = nn_in_size(m) * (size_t)B, n0 = 0, n1;
	float *xp = xmalloc(nx * sizeof(float));
	uint8_t *p0 = xmalloc(1 << 20), *p1 = xmalloc(1 << 20);
	int same = 1;
	nn_forward(m, x, B, 0, NULL);
	n0 = pattern(m, p0);
	for (int side = 0; side < 2 && same; side++) {
		for (size_t i = 0; i < nx; i++)
			xp[i] = x[i] + (float)(side ? -eps : eps) * u[i];
		nn_forward(m, xp, B, 0, NULL);
		n1 = pattern(m, p1);
		same = n1 == n0 && !memcmp(p0, p1, n0);
	}
	free(xp);
	free(p0);
	free(p1);
	return same;
}

/* check_conv on the direct kernels (NN_CONV_DIRECT) needs at least one conv
 * layer that ran on them in the R-operator; set by check_conv. */
static int rop_direct_layers;

static void check_conv(const char *spec, int B)
{
	const double eps = 1e-3;
	struct nn_model m;
	struct nn_rop rop;
	struct rng r;
	int tried = 0, ok = 0;
	nn_rop_init(&rop);
	for (uint64_t seed = 100; seed < 140 && !ok; seed++, tried++) {
		build(&m, spec, seed);
		size_t nx = nn_in_size(&m) * (size_t)B, P = m.nparams;
		float *x = xmalloc(nx * sizeof(float)), *u = xmalloc(nx * sizeof(float));
		float *ga = xcalloc(P, sizeof(float)), *gf = xcalloc(P, sizeof(float));
		double *fd = xmalloc(P * sizeof(double));
		int *y = xmalloc((size_t)B * sizeof(int));
		rng_seed(&r, seed * 7 + 1);
		fill_uniform(&r, x, nx, 0, 1);
		fill_uniform(&r, u, nx, -1, 1);
		for (int b = 0; b < B; b++)
			y[b] = (int)rng_below(&r, (uint32_t)m.nclass);
		if (kink_free(&m, x, u, B, eps)) {
			ok = 1;
			nn_rop_param_grad(&rop, &m, x, y, B, u, 1.0, ga);
			for (int i = 0; i < m.nlayers; i++)
				rop_direct_layers += rop.kscr_kind[i] != 0;
			nn_fd_param_grad(&m, x, y, B, u, eps, 1.0, gf);
			for (size_t k = 0; k < P; k++)
				fd[k] = gf[k];
			double fn, e = rel_err(ga, fd, P, &fn);
			printf("(b) %s, B %d (seed %llu, %d kinked seeds skipped): R-op vs float32 "
			       "mixed difference (eps 1e-3): relative error %.2e, |fd| %.3g\n",
			       spec, B, (unsigned long long)seed, tried, e, fn);
			assert_true(fn > 1e-3);
			assert_true(e <= 2e-2);
			/* per layer, so that no layer hides behind a larger one */
			for (int i = 0; i < m.nlayers; i++) {
				const struct nn_layer *l = &m.layers[i];
				if (!nn_has_params(l))
					continue;
				double ln, le = rel_err(ga + l->w_off, fd + l->w_off,
							l->w_n + l->b_n, &ln);
				assert_true(ln > 0);
				assert_true(le <= 5e-2);
			}
		}
		free(x), free(u), free(ga), free(gf), free(fd), free(y);
		nn_free(&m);
	}
	assert_true(ok);
	nn_rop_free(&rop);
}

/* im2col and sgemm (NN_CONV_GEMM), then the engine's direct kernels wherever
 * they apply (NN_CONV_DIRECT: the tangent's forward and both weight terms of
 * each stride-1 convolution), then the default; lenet5's two layers (5x5,
 * pad 2 on one channel; 6 to 16 channels) among the shapes. */
static void test_rop_conv_vs_fd(void **state)
{
	static const enum nn_conv_mode modes[] = {NN_CONV_GEMM, NN_CONV_DIRECT, NN_CONV_AUTO};
	(void)state;
	for (int md = 0; md < 3; md++) {
		nn_conv_mode = modes[md];
		rop_direct_layers = 0;
		check_conv("1x8x8|conv c1 3 3 1 1|relu|maxpool 2 2|flatten|dense fc 4", 3);
		check_conv("3x8x8|conv c1 4 3 1 1|relu|maxpool 2 2|flatten|dense fc 4", 3);
		check_conv("3x9x9|conv c1 4 3 2 1|relu|conv c2 5 3 1 1|relu|maxpool 2 2|flatten|"
			   "dense fc1 6|relu|dropout 0.3|dense fc2 3",
			   2);
		check_conv("1x10x10|conv c1 6 5 1 2|relu|maxpool 2 2|conv c2 16 5 1 0|flatten|"
			   "dense fc 5",
			   2);
		printf("(b) mode %d: %d convolutions of the R-operator on the direct kernels\n",
		       modes[md], rop_direct_layers);
		if (modes[md] == NN_CONV_GEMM)
			assert_int_equal(rop_direct_layers, 0);
		if (modes[md] == NN_CONV_DIRECT)
			assert_true(rop_direct_layers >= 4);
	}
	nn_conv_mode = NN_CONV_AUTO;
}

/* (e) The shared-direction passes (nn_rop_prepare_sum, nn_rop_apply_shared,
 * nn_rop_prepare_rows: what GradSigns' embedding runs) against the per-row
 * passes with the same direction on every row: the input gradient summed
 * over the rows and the parameter gradient agree to float rounding. The
 * rows variant runs after a training-mode forward pass of a larger batch
 * (dropout masks drawn, fused ReLU outputs skipped as in a training step
 * without readers), so reusing a layer whose training output differs from
 * the evaluation one (the dropout, the skipped ReLU) would show. Models:
 * mlp's layout (dropout), lenet5's (a convolution first, fused ReLU and
 * pool), three input channels (channel-major input rows), a model whose
 * first layer is a ReLU (no shared pass: the per-row fallback), and one whose
 * only layer with parameters is the last. */
static double max_rel(const float *a, const float *b, size_t n)
{
	double d = 0, bm = 0;
	for (size_t i = 0; i < n; i++) {
		d = fmax(d, fabs((double)a[i] - b[i]));
		bm = fmax(bm, fabs((double)b[i]));
	}
	return bm > 0 ? d / bm : INFINITY;
}

static void check_shared(const char *spec, int B, int relu_unread)
{
	struct nn_model m;
	struct nn_rop r1, r2, r3;
	struct rng r;
	build(&m, spec, 5);
	size_t D = nn_in_size(&m), P = m.nparams;
	int rows[64], Bc = 0, *y = xmalloc((size_t)B * sizeof(int)), yc[64];
	float *x = xmalloc(D * B * sizeof(float)), *xc = xmalloc(D * B * sizeof(float));
	float *u1 = xmalloc(D * sizeof(float)), *U = xmalloc(D * B * sizeof(float));
	float *g1 = xcalloc(P, sizeof(float)), *g2 = xcalloc(P, sizeof(float));
	float *g3 = xcalloc(P, sizeof(float)), *dsum = xcalloc(D, sizeof(float));
	rng_seed(&r, 77);
	fill_uniform(&r, x, D * B, 0, 1);
	for (int b = 0; b < B; b++) {
		y[b] = (int)rng_below(&r, (uint32_t)m.nclass);
		if (b % 3 == 1 && Bc < 64) {
			rows[Bc] = b;
			yc[Bc] = y[b];
			memcpy(xc + (size_t)Bc * D, x + (size_t)b * D, D * sizeof(float));
			Bc++;
		}
	}
	memset(u1, 0, D * sizeof(float));
	for (size_t k = 0; k < D; k += 3)
		u1[k] = (float)(rng_uniform(&r) - 0.5);
	for (int b = 0; b < Bc; b++)
		memcpy(U + (size_t)b * D, u1, D * sizeof(float));
	nn_rop_init(&r1), nn_rop_init(&r2), nn_rop_init(&r3);
	nn_rop_prepare(&r1, &m, xc, yc, Bc);
	for (size_t k = 0; k < D; k++) {
		double t = 0;
		for (int b = 0; b < Bc; b++)
			t += r1.dx[(size_t)b * D + k];
		dsum[k] = (float)t;
	}
	nn_rop_apply(&r1, &m, U, 0.5, g1);
	nn_rop_prepare_sum(&r2, &m, xc, yc, Bc);
	double e_dx2 = max_rel(r2.dxsum, dsum, D);
	nn_rop_apply_shared(&r2, &m, u1, 0.5, g2);
	double e_g2 = max_rel(g2, g1, P);
	m.relu_out_unread = relu_unread;
	nn_forward(&m, x, B, 1, &r); /* a training step's pass */
	m.relu_out_unread = 0;
	nn_rop_prepare_rows(&r3, &m, x, B, rows, Bc, yc);
	double e_dx3 = max_rel(r3.dxsum, dsum, D);
	nn_rop_apply_shared(&r3, &m, u1, 0.5, g3);
	double e_g3 = max_rel(g3, g1, P);
	printf("(e) %s, %d of %d rows%s: summed input gradient %.1e / %.1e, parameter "
	       "gradient %.1e / %.1e (shared / reused rows, max error over max)\n",
	       spec, Bc, B, relu_unread ? ", fused ReLU outputs skipped" : "", e_dx2, e_dx3, e_g2,
	       e_g3);
	assert_true(e_dx2 < 1e-5 && e_dx3 < 1e-5);
	assert_true(e_g2 < 1e-5 && e_g3 < 1e-5);
	nn_rop_free(&r1), nn_rop_free(&r2), nn_rop_free(&r3);
	free(y), free(x), free(xc), free(u1), free(U), free(g1), free(g2), free(g3), free(dsum);
	nn_free(&m);
}

static void test_rop_shared(void **state)
{
	(void)state;
	check_shared("1x28x28|flatten|dense fc1 64|relu|dropout 0.5|dense fc2 32|relu|"
		     "dropout 0.5|dense fc3 10",
		     40, 0);
	check_shared("1x28x28|conv conv1 6 5 1 2|relu|maxpool 2 2|conv conv2 16 5 1 0|relu|"
		     "maxpool 2 2|flatten|dense fc1 120|relu|dense fc2 84|relu|dense fc3 10",
		     37, 1);
	check_shared("1x28x28|conv conv1 6 5 1 2|relu|maxpool 2 2|conv conv2 16 5 1 0|relu|"
		     "maxpool 2 2|flatten|dense fc1 120|relu|dense fc2 84|relu|dense fc3 10",
		     70, 0);
	check_shared("3x9x9|conv c1 4 3 1 1|relu|maxpool 2 2|flatten|dropout 0.3|dense fc 5", 20,
		     1);
	check_shared("1x6x6|relu|flatten|dense fc1 8|relu|dense fc2 3", 12, 0);
	check_shared("1x6x6|flatten|dense fc 3", 12, 0); /* f is the last layer */
}

/* ---- the scheme ------------------------------------------------------------ */

static void env_init(struct wm_env *env, struct rng *r)
{
	tl_env_init(env, r, EPOCHS, &train, &test, tl_fashion_all(), train.n);
}

static void params(const struct wm_scheme *s, struct param_set *ps, const char *kv)
{
	tl_params(s->name, s->params, ps, kv, ",");
}

/* A key of the same secret material with verify=<mode>. */
static void set_mode(struct npz *key, const char *mode)
{
	char buf[1024], out[1100] = "", *save = NULL, *tok;
	assert_int_equal(npz_get_text(key, "params", buf, sizeof buf), 0);
	for (tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		if (out[0])
			strcat(out, ";");
		if (!strncmp(tok, "verify=", 7)) {
			strcat(out, "verify=");
			strcat(out, mode);
		} else {
			strcat(out, tok);
		}
	}
	assert_non_null(strstr(out, mode));
	npz_add_text(key, "params", out);
}

/* a query path that counts and forwards (verify gets no model), and sees
 * only valid images */
static int counting_predict(struct wm_query *q, const float *x, int n, float *probs)
{
	for (size_t i = 0; i < (size_t)n * 784; i++)
		assert_true(x[i] >= 0 && x[i] <= 1);
	q->queries += n;
	return q->inner->predict(q->inner, x, n, probs);
}

static void verify(const struct npz *key, struct nn_model *m, struct wm_verdict *v, long *queries)
{
	const struct wm_scheme *s = wm_scheme_find("gradsigns");
	struct rng r;
	struct wm_env env;
	struct wm_query plain, q;
	char mode[32];
	struct param_set kp;
	rng_seed(&r, 99);
	env_init(&env, &r);
	wm_query_init(&plain, m);
	memset(&q, 0, sizeof q);
	q.predict = counting_predict;
	q.inner = &plain;
	q.nclass = m->nclass;
	memset(v, 0, sizeof *v);
	assert_int_equal(wm_key_params(key, &kp, err, sizeof err), 0);
	strlcopy(mode, param_get(&kp, "verify"), sizeof mode);
	/* black-box: the model is reachable only through q */
	int rc =
	    wm_verify(s, key, strcmp(mode, "blackbox") ? m : NULL, &q, &env, v, err, sizeof err);
	if (rc)
		fprintf(stderr, "%s\n", err);
	assert_int_equal(rc, 0);
	assert_int_equal(q.queries, plain.queries);
	if (queries)
		*queries = q.queries;
}

/* What a job does: a fresh model from seed, check, keygen, embed (with the
 * job's one RNG). Returns the test accuracy; *secs the training time. */
static double embed(const char *scheme, const char *kv, uint64_t seed, int n_owner,
		    struct nn_model *m, struct npz *key, double *secs)
{
	const struct wm_scheme *s = wm_scheme_find(scheme);
	struct param_set ps;
	struct wm_env env;
	struct rng r;
	assert_non_null(s);
	params(s, &ps, kv);
	rng_seed(&r, seed);
	env_init(&env, &r);
	if (n_owner)
		env.n_owner = n_owner;
	npz_init(key);
	assert_int_equal(nn_create(m, "mlp", 1, 28, 28, 10, &r, err, sizeof err), 0);
	double t0 = now_seconds();
	int rc = wm_check(s, &ps, m, err, sizeof err) ||
		 wm_keygen(s, &ps, m, &env, key, err, sizeof err) ||
		 wm_embed(s, &ps, m, key, &env, err, sizeof err);
	if (secs)
		*secs = now_seconds() - t0;
	if (rc)
		fprintf(stderr, "%s\n", err);
	assert_int_equal(rc, 0);
	return nn_accuracy(m, &test, NULL, 0);
}

static void need_clean(void)
{
	struct npz key;
	if (clean.nlayers)
		return;
	clean_acc = embed("none", NULL, 1, 0, &clean, &key, &clean_s);
	npz_free(&key);
	printf("unmarked mlp, seed 1: test accuracy %.4f (%.1f s)\n", clean_acc, clean_s);
}

/* (d) the signature-loss gradient of the scheme against central differences
 * of the signature loss, on a small MLP with real carriers. */
static void test_wm_loss_grad(void **state)
{
	const struct wm_scheme *s = wm_scheme_find("gradsigns");
	const char *spec = "1x28x28|flatten|dense fc1 24|relu|dense fc2 10";
	const int B = 40;
	struct param_set ps;
	struct wm_env env;
	struct nn_model m;
	struct npz key, kfd;
	struct rng r;
	uint32_t idx[40];
	int y[40], nt = 0;
	(void)state;

	build(&m, spec, 21);
	rng_seed(&r, 22);
	env_init(&env, &r);
	params(s, &ps, "bits=24,carriers=40,lambda=1");
	npz_init(&key);
	assert_int_equal(wm_keygen(s, &ps, &m, &env, &key, err, sizeof err), 0);
	for (int b = 0; b < B; b++)
		idx[b] = (uint32_t)(b * 37);
	size_t P = m.nparams, nx = (size_t)B * 784;
	float *x = xmalloc(nx * sizeof(float)), *g = xcalloc(P, sizeof(float));
	float *theta = xmalloc(P * sizeof(float)), *dir = xmalloc(P * sizeof(float));
	float *gfd = xcalloc(P, sizeof(float));
	nn_fill_batch(train.x, train.y, 784, idx, B, x, y);
	for (int b = 0; b < B; b++)
		nt += y[b] == 0;
	assert_true(nt >= 2);
	double l0, lp, lm;
	for (size_t k = 0; k < P; k++)
		m.grads[k] = 0.5f;
	assert_int_equal(wm_gradsigns_loss(&key, &m, x, y, B, g, &l0, err, sizeof err), 0);
	for (size_t k = 0; k < P; k++)
		assert_true(m.grads[k] == 0.5f);
	memcpy(theta, m.params, P * sizeof(float));
	double gn = 0;
	for (size_t k = 0; k < P; k++)
		gn += (double)g[k] * g[k];
	gn = sqrt(gn);
	assert_true(gn > 0);

	/* directions: the gradient itself, and two random ones */
	for (int t = 0; t < 3; t++) {
		double h = 2e-3, dot = 0, dn = 0;
		if (!t) {
			for (size_t k = 0; k < P; k++)
				dir[k] = (float)(g[k] / gn);
		} else {
			fill_uniform(&r, dir, P, -1, 1);
			for (size_t k = 0; k < P; k++)
				dn += (double)dir[k] * dir[k];
			for (size_t k = 0; k < P; k++)
				dir[k] = (float)(dir[k] / sqrt(dn));
		}
		for (size_t k = 0; k < P; k++)
			dot += (double)dir[k] * g[k];
		for (int side = 0; side < 2; side++) {
			for (size_t k = 0; k < P; k++)
				m.params[k] = theta[k] + (float)(side ? -h : h) * dir[k];
			assert_int_equal(wm_gradsigns_loss(&key, &m, x, y, B, NULL,
							   side ? &lm : &lp, err, sizeof err),
					 0);
		}
		memcpy(m.params, theta, P * sizeof(float));
		double fd = (lp - lm) / (2 * h);
		printf("(d) signature loss %.5f (%d carriers of %d rows): directional derivative "
		       "%s: analytic %.6e, central difference %.6e (relative %.2e)\n",
		       l0, nt, B, t ? "along a random direction" : "along the gradient", dot, fd,
		       fabs(fd - dot) / fabs(dot));
		assert_true(fabs(fd - dot) <= 2e-2 * fabs(dot) + 1e-7);
	}
	/* dbp=fd (the scheme's other way) against dbp=exact */
	params(s, &ps, "bits=24,carriers=40,lambda=1,dbp=fd");
	npz_init(&kfd);
	rng_seed(&r, 22);
	env_init(&env, &r);
	assert_int_equal(wm_keygen(s, &ps, &m, &env, &kfd, err, sizeof err), 0);
	assert_memory_equal(npz_get(&kfd, "gradsigns.K")->data, npz_get(&key, "gradsigns.K")->data,
			    24 * 40 * sizeof(float));
	assert_int_equal(wm_gradsigns_loss(&kfd, &m, x, y, B, gfd, &lp, err, sizeof err), 0);
	double *gd = xmalloc(P * sizeof(double));
	for (size_t k = 0; k < P; k++)
		gd[k] = g[k];
	double e = rel_err(gfd, gd, P, NULL);
	printf("    signature-loss gradient, dbp=fd (eps 1e-3) vs dbp=exact: relative error %.2e\n",
	       e);
	assert_true(lp == l0);
	assert_true(e <= 5e-2);
	free(gd);
	free(x), free(g), free(theta), free(dir), free(gfd);
	npz_free(&key);
	npz_free(&kfd);
	nn_free(&m);
}

static void test_gradsigns_embeds(void **state)
{
	const struct wm_scheme *s = wm_scheme_find("gradsigns");
	struct nn_model m, other;
	struct npz key, wrong;
	struct wm_verdict v;
	struct param_set ps;
	struct wm_env env;
	struct rng r;
	long queries;
	double secs;
	(void)state;

	need_clean();
	assert_true(s->black_box);
	double acc = embed("gradsigns", NULL, 1, 0, &m, &key, &secs);
	printf("gradsigns (32 bits, 64 carriers, lambda 0.3): test accuracy %.4f (unmarked %.4f, "
	       "cost %+.4f); embedding %.1f s vs clean training %.1f s (%.2fx)\n",
	       acc, clean_acc, clean_acc - acc, secs, clean_s, secs / clean_s);
	assert_true(clean_acc - acc < 0.02);
	assert_true(acc > 0.75);
	assert_int_equal(npz_get(&key, "gradsigns.K")->shape[0], 32);
	assert_int_equal(npz_get(&key, "gradsigns.K")->shape[1], 64);
	assert_int_equal(npz_get(&key, "gradsigns.S")->count, 64);
	assert_null(s->marked_layer);

	/* black-box (the default) through the query path only */
	verify(&key, &m, &v, &queries);
	printf("gradsigns black-box: BER %.4f, p %.3g, %ld queries\n", v.metric, v.pvalue, queries);
	assert_string_equal(v.metric_name, "ber");
	assert_true(v.metric <= 1.0 / 32);
	assert_true(v.detected);
	assert_true(v.pvalue < 1e-7);
	assert_true(queries == 2L * 64 * 50);
	assert_true(v.queries == queries);
	assert_true(v.capacity == 32);

	/* white-box */
	set_mode(&key, "whitebox");
	verify(&key, &m, &v, &queries);
	printf("gradsigns white-box (20 draws of 50): BER %.4f, p %.3g, %ld queries\n", v.metric,
	       v.pvalue, queries);
	assert_true(v.metric == 0.0);
	assert_true(v.detected);
	assert_true(v.pvalue < 1e-9);
	assert_true(queries == 0);

	/* the unmarked model with the owner's key, both ways */
	verify(&key, &clean, &v, NULL);
	printf("gradsigns, unmarked model with the owner's key: white-box BER %.4f, p %.3g\n",
	       v.metric, v.pvalue);
	assert_false(v.detected);
	assert_true(v.metric >= 0.2 && v.metric <= 0.8);
	set_mode(&key, "blackbox");
	verify(&key, &clean, &v, NULL);
	printf("gradsigns, unmarked model with the owner's key: black-box BER %.4f, p %.3g\n",
	       v.metric, v.pvalue);
	assert_false(v.detected);
	assert_true(v.metric >= 0.2 && v.metric <= 0.8);

	/* the marked model with a wrong key (another seed's keygen) */
	params(s, &ps, NULL);
	rng_seed(&r, 2);
	env_init(&env, &r);
	npz_init(&wrong);
	assert_int_equal(nn_create(&other, "mlp", 1, 28, 28, 10, &r, err, sizeof err), 0);
	assert_int_equal(wm_keygen(s, &ps, &other, &env, &wrong, err, sizeof err), 0);
	verify(&wrong, &m, &v, NULL);
	printf("gradsigns, marked model with a wrong key: black-box BER %.4f, p %.3g\n", v.metric,
	       v.pvalue);
	assert_false(v.detected);
	assert_true(v.metric >= 0.2 && v.metric <= 0.8);
	set_mode(&wrong, "whitebox");
	verify(&wrong, &m, &v, NULL);
	printf("gradsigns, marked model with a wrong key: white-box BER %.4f, p %.3g\n", v.metric,
	       v.pvalue);
	assert_false(v.detected);
	assert_true(v.metric >= 0.2 && v.metric <= 0.8);

	nn_free(&other);
	nn_free(&m);
	npz_free(&key);
	npz_free(&wrong);
}

/* the other way to train: the mixed finite difference */
static void test_gradsigns_fd(void **state)
{
	struct nn_model m;
	struct npz key;
	struct wm_verdict v;
	double secs;
	(void)state;
	need_clean();
	double acc = embed("gradsigns", "dbp=fd,verify=whitebox", 1, 0, &m, &key, &secs);
	verify(&key, &m, &v, NULL);
	printf("gradsigns trained with dbp=fd (eps 1e-3): test accuracy %.4f (cost %+.4f), "
	       "white-box BER %.4f, p %.3g; embedding %.1f s vs clean training %.1f s (%.2fx)\n",
	       acc, clean_acc - acc, v.metric, v.pvalue, secs, clean_s, secs / clean_s);
	assert_true(v.metric == 0.0);
	assert_true(v.detected);
	assert_true(clean_acc - acc < 0.02);
	nn_free(&m);
	npz_free(&key);
}

/* the same job twice */
static void test_gradsigns_deterministic(void **state)
{
	struct nn_model m1, m2;
	struct npz k1, k2;
	struct wm_verdict v1, v2, w1, w2;
	long q1, q2;
	(void)state;
	double a1 = embed("gradsigns", "bits=24,bb_samples=20", 7, 0, &m1, &k1, NULL);
	double a2 = embed("gradsigns", "bits=24,bb_samples=20", 7, 0, &m2, &k2, NULL);
	verify(&k1, &m1, &v1, &q1);
	verify(&k2, &m2, &v2, &q2);
	set_mode(&k1, "whitebox");
	set_mode(&k2, "whitebox");
	verify(&k1, &m1, &w1, NULL);
	verify(&k2, &m2, &w2, NULL);
	printf("gradsigns (24 bits, seed 7) twice: accuracy %.4f / %.4f, black-box BER %.4f / "
	       "%.4f, white-box BER %.4f / %.4f\n",
	       a1, a2, v1.metric, v2.metric, w1.metric, w2.metric);
	tl_assert_same_array(&k1, &k2, "gradsigns.b");
	tl_assert_same_array(&k1, &k2, "gradsigns.S");
	tl_assert_same_array(&k1, &k2, "gradsigns.K");
	tl_assert_same_array(&k1, &k2, "gradsigns.target");
	tl_assert_same_array(&k1, &k2, "gradsigns.vseed");
	tl_assert_same_array(&k1, &k2, "params");
	assert_true(a1 == a2);
	assert_memory_equal(m1.params, m2.params, m1.nparams * sizeof(float));
	assert_true(v1.metric == v2.metric && v1.pvalue == v2.pvalue && q1 == q2);
	assert_true(w1.metric == w2.metric && w1.pvalue == w2.pvalue);
	assert_true(q1 == 2L * 64 * 20);
	assert_true(w1.detected && v1.detected);
	nn_free(&m1);
	nn_free(&m2);
	npz_free(&k1);
	npz_free(&k2);
}

static void test_gradsigns_bad_params(void **state)
{
	const struct wm_scheme *s = wm_scheme_find("gradsigns");
	struct nn_model m;
	struct param_set ps;
	struct wm_env env;
	struct npz key;
	struct rng r;
	char canon[PARAM_VALLEN];
	(void)state;

	rng_seed(&r, 3);
	assert_int_equal(nn_create(&m, "mlp", 1, 28, 28, 10, &r, err, sizeof err), 0);
	params(s, &ps, "carriers=785");
	assert_int_equal(wm_check(s, &ps, &m, err, sizeof err), -1);
	printf("%s\n", err);
	assert_non_null(strstr(err, "gradsigns: parameter 'carriers' = 785"));
	assert_non_null(strstr(err, "[1, 784]"));
	params(s, &ps, "carriers=784");
	assert_int_equal(wm_check(s, &ps, &m, err, sizeof err), 0);

	params(s, &ps, "target=10");
	assert_int_equal(wm_check(s, &ps, &m, err, sizeof err), -1);
	printf("%s\n", err);
	assert_non_null(strstr(err, "gradsigns: parameter 'target' = 10"));
	assert_non_null(strstr(err, "[0, 9]"));
	/* keygen refuses too (it checks first) */
	env_init(&env, &r);
	npz_init(&key);
	assert_int_equal(wm_keygen(s, &ps, &m, &env, &key, err, sizeof err), -1);
	npz_free(&key);

	params(s, &ps, "bits=2000");
	assert_int_equal(wm_check(s, &ps, &m, err, sizeof err), -1);
	printf("%s\n", err);
	assert_non_null(strstr(err, "'bits' = '2000'"));
	assert_non_null(strstr(err, "[1, 1024]"));
	params(s, &ps, "verify=greybox");
	assert_int_equal(wm_check(s, &ps, &m, err, sizeof err), -1);
	printf("%s\n", err);
	assert_non_null(strstr(err, "'verify' = 'greybox'"));
	assert_int_equal(param_check("gradsigns", s->params, "per_batch", "101", canon,
				     sizeof canon, err, sizeof err),
			 -1);
	assert_non_null(strstr(err, "[0, 100]"));
	nn_free(&m);
}

static int setup(void **state)
{
	(void)state;
	return tl_fashion_load(&train, &test, NTRAIN, 0);
}

static int teardown(void **state)
{
	(void)state;
	if (clean.nlayers)
		nn_free(&clean);
	tl_fashion_free(&train, &test);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rop_mlp_vs_double),
	    cmocka_unit_test(test_rop_conv_vs_fd),
	    cmocka_unit_test(test_rop_shared),
	    cmocka_unit_test(test_wm_loss_grad),
	    cmocka_unit_test(test_gradsigns_bad_params),
	    cmocka_unit_test(test_gradsigns_embeds),
	    cmocka_unit_test(test_gradsigns_fd),
	    cmocka_unit_test(test_gradsigns_deterministic),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
