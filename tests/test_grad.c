/* test_grad.c - cmocka tests of the nn engine's gradients and optimisers.
 *
 * Central finite differences over tiny networks (every layer kind, strides,
 * padding, overlapping pools, multi-channel inputs, dropout with a fixed
 * mask, activation-gradient hooks) against nn_backward(), in float32 with a
 * double-accumulated reference loss. Coordinates whose perturbation flips a
 * ReLU or moves a max-pool argmax are skipped (the loss has a kink there).
 * Also: soft-target loss, input gradients, frozen layers, re-initialisation,
 * accumulation, and single-element optimiser updates against PyTorch's
 * formulas (SGD with momentum/nesterov/weight decay, Adam, RMSprop). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_direct.h"
#include "conv_wino.h"
#include "nn.h"
#include "nn_internal.h"
#include "rng.h"
#include "train.h"
#include "util.h"

#define FD_RTOL 2e-2 /* relative tolerance of one coordinate */
#define FD_ATOL 5e-5 /* absolute floor (float32 loss noise / 2h) */
#define FD_PICK 64   /* coordinates checked per tensor (all if fewer) */

struct gcase {
	struct nn_model m;
	int B;
	float *x;	    /* (B, C, H, W) */
	int *y;		    /* (B) labels, used when q is NULL */
	float *q;	    /* (B, nclass) soft targets, or NULL */
	int training;	    /* forward in training mode (dropout on) */
	uint64_t mask_seed; /* re-seeded before every forward: masks repeat */
	int hook_layer;	    /* >= 0: loss += sum(v * acts[hook_layer]) */
	float *v;
	float *ga; /* analytic parameter gradients (nparams) */
	float *gx; /* analytic input gradient (B, C, H, W) */
};

struct fd_stats {
	int checked, skipped, bad, loose_bad;
	double max_num, max_err, diff2, a2, dot, n2;
};

static void gcase_init(struct gcase *g, const char *spec, uint64_t seed, int B, int training,
		       int soft)
{
	char err[ERRBUF];
	struct rng r;
	size_t nx;

	memset(g, 0, sizeof *g);
	if (nn_build_spec(&g->m, "custom", spec, err, sizeof err))
		fail_msg("nn_build_spec(%s): %s", spec, err);
	rng_seed(&r, seed);
	nn_init_params(&g->m, &r);
	g->B = B;
	g->training = training;
	g->mask_seed = seed ^ 0x5eedULL;
	g->hook_layer = -1;
	nx = nn_in_size(&g->m) * (size_t)B;
	g->x = xmalloc(nx * sizeof(float));
	for (size_t i = 0; i < nx; i++)
		g->x[i] = (float)(2 * rng_uniform(&r) - 1);
	g->y = xmalloc((size_t)B * sizeof(int));
	for (int b = 0; b < B; b++)
		g->y[b] = (int)rng_below(&r, (uint32_t)g->m.nclass);
	if (soft) {
		int C = g->m.nclass;
		g->q = xmalloc((size_t)B * C * sizeof(float));
		for (int b = 0; b < B; b++) {
			double s = 0;
			for (int c = 0; c < C; c++)
				s += g->q[b * C + c] = (float)(0.05 + rng_uniform(&r));
			for (int c = 0; c < C; c++)
				g->q[b * C + c] = (float)(g->q[b * C + c] / s);
		}
	}
	g->ga = xmalloc(g->m.nparams * sizeof(float));
	g->gx = xmalloc(nx * sizeof(float));
}

static void gcase_free(struct gcase *g)
{
	nn_free(&g->m);
	free(g->x);
	free(g->y);
	free(g->q);
	free(g->v);
	free(g->ga);
	free(g->gx);
}

/* Mean cross-entropy of logits z (B, C) in double: hard labels or soft q. */
static double ref_loss(const struct gcase *g, const float *z)
{
	int C = g->m.nclass;
	double L = 0;
	for (int b = 0; b < g->B; b++) {
		const float *zb = z + (size_t)b * C;
		double mx = zb[0], s = 0;
		for (int c = 1; c < C; c++)
			mx = fmax(mx, zb[c]);
		for (int c = 0; c < C; c++)
			s += exp(zb[c] - mx);
		double lse = mx + log(s);
		if (g->q)
			for (int c = 0; c < C; c++)
				L += g->q[b * C + c] * (lse - zb[c]);
		else
			L += lse - zb[g->y[b]];
	}
	return L / g->B;
}

/* Hashes the piecewise-linear state: ReLU signs and max-pool argmaxes. */
static uint64_t kink_sig(const struct nn_model *m)
{
	uint64_t h = 1469598103934665603ULL;
	for (int i = 0; i < m->nlayers; i++) {
		const struct nn_layer *l = &m->layers[i];
		size_t n = nn_out_size(l) * (size_t)m->last_b;
		if (l->kind == NN_RELU)
			for (size_t k = 0; k < n; k++)
				h = (h ^ (uint64_t)(m->acts[i][k] > 0)) * 1099511628211ULL;
		else if (l->kind == NN_MAXPOOL)
			for (size_t k = 0; k < n; k++)
				h = (h ^ (uint64_t)(uint32_t)m->pool_idx[i][k]) * 1099511628211ULL;
	}
	return h;
}

static double hook_term(const struct gcase *g)
{
	double s = 0;
	if (g->hook_layer < 0)
		return 0;
	size_t n = nn_out_size(&g->m.layers[g->hook_layer]) * (size_t)g->B;
	for (size_t k = 0; k < n; k++)
		s += (double)g->v[k] * g->m.acts[g->hook_layer][k];
	return s;
}

static double model_loss(struct gcase *g, uint64_t *sig)
{
	struct rng dr;
	rng_seed(&dr, g->mask_seed);
	const float *z = nn_forward(&g->m, g->x, g->B, g->training, &dr);
	if (sig)
		*sig = kink_sig(&g->m);
	return ref_loss(g, z) + hook_term(g);
}

/* The step protocol of nn.h; leaves the gradients in g->ga and g->gx. */
static void analytic(struct gcase *g)
{
	struct nn_model *m = &g->m;
	struct rng dr;
	rng_seed(&dr, g->mask_seed);
	m->want_dinput = 1;
	const float *z = nn_forward(m, g->x, g->B, g->training, &dr);
	double ref = ref_loss(g, z), L;
	nn_zero_act_grads(m);
	if (g->hook_layer >= 0) {
		size_t n = nn_out_size(&m->layers[g->hook_layer]) * (size_t)g->B;
		for (size_t k = 0; k < n; k++)
			nn_dact(m, g->hook_layer)[k] += g->v[k];
	}
	L = g->q ? nn_loss_soft(m, g->q, 1.0) : nn_loss_xent(m, g->y, 1.0);
	if (fabs(L - ref) > 1e-5 * (1 + fabs(ref)))
		fail_msg("engine loss %.9g, double reference %.9g", L, ref);
	nn_zero_grads(m);
	nn_backward(m);
	memcpy(g->ga, m->grads, m->nparams * sizeof(float));
	memcpy(g->gx, m->dinput, nn_in_size(m) * (size_t)g->B * sizeof(float));
}

static void fd_add(struct fd_stats *s, double a, double num)
{
	double err = fabs(a - num), tol = FD_RTOL * fmax(fabs(a), fabs(num)) + FD_ATOL;
	s->checked++;
	if (err > tol)
		s->bad++;
	if (err > 5 * tol)
		s->loose_bad++;
	s->max_num = fmax(s->max_num, fabs(num));
	s->max_err = fmax(s->max_err, err);
	s->diff2 += (a - num) * (a - num);
	s->a2 += a * a;
	s->n2 += num * num;
	s->dot += a * num;
}

/* Checks up to FD_PICK coordinates of the tensor p (n values) whose analytic
 * gradient is ga, with step h. */
static void check_tensor(struct gcase *g, float *p, const float *ga, size_t n, double h,
			 const char *what)
{
	struct fd_stats s = {0};
	struct rng pick;
	uint64_t sig0, sp, sm;
	size_t nz = 0, npick = n < FD_PICK ? n : FD_PICK;
	double amax = 0;

	for (size_t i = 0; i < n; i++) {
		nz += ga[i] != 0;
		amax = fmax(amax, fabs(ga[i]));
	}
	rng_seed(&pick, n * 7919 + 17);
	model_loss(g, &sig0);
	for (size_t k = 0; k < npick; k++) {
		size_t i = k;
		if (n > FD_PICK) /* one from each of FD_PICK equal slices */
			i = k * n / FD_PICK + rng_below(&pick, (uint32_t)(n / FD_PICK));
		float p0 = p[i], pp = p0, pm = p0;
		double lp = 0, lm = 0, hh = h;
		/* shrink the step until it crosses no kink (at most 3 times) */
		for (int t = 0; t < 4; t++, hh /= 5) {
			pp = (float)(p0 + hh);
			pm = (float)(p0 - hh);
			p[i] = pp;
			lp = model_loss(g, &sp);
			p[i] = pm;
			lm = model_loss(g, &sm);
			p[i] = p0;
			if (sp == sig0 && sm == sig0)
				break;
		}
		if (sp != sig0 || sm != sig0) {
			s.skipped++;
			continue;
		}
		double num = (lp - lm) / ((double)pp - (double)pm);
		if (fabs(ga[i] - num) > 5 * (FD_RTOL * fmax(fabs(ga[i]), fabs(num)) + FD_ATOL))
			print_message("  %s[%zu]: analytic %.6g numeric %.6g\n", what, i, ga[i],
				      num);
		fd_add(&s, ga[i], num);
	}
	double relnorm = s.a2 > 0 ? sqrt(s.diff2 / s.a2) : INFINITY;
	print_message("  %-12s n=%-4zu checked=%-3d skipped=%-2d bad=%d max|g|=%.3g "
		      "max err=%.2g relnorm=%.2e\n",
		      what, n, s.checked, s.skipped, s.bad, amax, s.max_err, relnorm);
	/* genann's lesson: an all-zero gradient passes every comparison. */
	if (amax < 1e-5 || nz * 20 < n * 3)
		fail_msg("%s: gradient is (almost) all zero: %zu of %zu nonzero, max %.3g", what,
			 nz, n, amax);
	if (s.checked * 2 < (int)npick)
		fail_msg("%s: %d of %zu coordinates skipped at kinks", what, s.skipped, npick);
	if (s.max_num < 10 * FD_ATOL)
		fail_msg("%s: numeric gradient too small to be a test (max %.3g)", what, s.max_num);
	if (s.loose_bad || s.bad * 20 > s.checked || relnorm > 2e-2)
		fail_msg("%s: %d of %d coordinates outside tolerance (%d far outside), "
			 "relative norm error %.3g",
			 what, s.bad, s.checked, s.loose_bad, relnorm);
}

/* Finite-difference check of every parameter tensor and of the input. */
static void check_case(struct gcase *g, double h)
{
	struct nn_model *m = &g->m;
	char what[NN_NAMELEN + 8];
	analytic(g);
	for (int i = 0; i < m->nlayers; i++) {
		const struct nn_layer *l = &m->layers[i];
		if (!nn_has_params(l))
			continue;
		snprintf(what, sizeof what, "%s.weight", l->name);
		check_tensor(g, m->params + l->w_off, g->ga + l->w_off, l->w_n, h, what);
		snprintf(what, sizeof what, "%s.bias", l->name);
		check_tensor(g, m->params + l->b_off, g->ga + l->b_off, l->b_n, h, what);
	}
	check_tensor(g, g->x, g->gx, nn_in_size(m) * (size_t)g->B, h, "input");
}

static void run_spec(const char *spec, uint64_t seed, int training, int soft)
{
	struct gcase g;
	print_message("%s%s%s\n", spec, training ? " (training)" : "",
		      soft ? " (soft targets)" : "");
	gcase_init(&g, spec, seed, 3, training, soft);
	check_case(&g, 1e-2);
	gcase_free(&g);
}

/* ---- finite-difference tests -------------------------------------------- */

static void test_fd_conv_relu_pool(void **state)
{
	(void)state;
	/* 7x7 pooled 2/2 leaves a ragged edge; C = 2 exercises the transposes */
	run_spec("2x7x7|conv c1 3 3 1 1|relu|maxpool 2 2|flatten|dense f1 5", 11, 0, 0);
}

static void test_fd_stride_pad(void **state)
{
	(void)state;
	run_spec("3x8x8|conv c1 4 3 2 0|relu|conv c2 2 3 1 1|flatten|dense f 4", 12, 0, 0);
	run_spec("1x9x9|conv c1 2 4 3 2|relu|conv c2 3 2 1 2|flatten|dense f 3", 23, 0, 0);
}

static void test_fd_overlapping_pool(void **state)
{
	(void)state;
	run_spec("2x9x9|conv c1 3 3 1 0|maxpool 3 2|relu|maxpool 2 1|flatten|dense f 4", 14, 0, 0);
}

static void test_fd_pool_first(void **state)
{
	(void)state;
	/* a parameter-free first layer on a multi-channel input */
	run_spec("3x6x6|maxpool 2 2|conv c 2 2 1 0|relu|flatten|dense f 3", 15, 0, 0);
}

static void test_fd_dense_dropout(void **state)
{
	(void)state;
	run_spec("1x6x6|flatten|dense a 7|relu|dropout 0.3|dense b 3", 16, 1, 0);
	run_spec("1x6x6|flatten|dense a 7|relu|dropout 0.3|dense b 3", 16, 0, 0);
	run_spec("5x1x1|dense a 6|relu|dense b 4", 17, 0, 0);
}

static void test_fd_dropout_chan_major(void **state)
{
	(void)state;
	run_spec(
	    "2x6x6|conv c1 3 3 1 1|dropout 0.5|relu|maxpool 2 2|flatten|dropout 0.25|dense f 3", 18,
	    1, 0);
}

static void test_fd_lenet_like(void **state)
{
	(void)state;
	run_spec("2x12x12|conv conv1 4 5 1 2|relu|maxpool 2 2|conv conv2 5 3 1 0|relu|maxpool 2 2|"
		 "flatten|dense fc1 9|relu|dense fc2 4",
		 19, 0, 0);
}

static void test_fd_soft_targets(void **state)
{
	(void)state;
	run_spec("2x5x5|conv c 3 3 1 1|relu|flatten|dense f 4", 20, 0, 1);
	run_spec("1x6x6|flatten|dense a 7|relu|dropout 0.3|dense b 3", 21, 1, 1);
}

/* Extra gradient added into dacts of a middle (channel-major) layer is the
 * gradient of loss + sum(v * act). */
static void test_fd_activation_hook(void **state)
{
	static const char *spec = "2x6x6|conv c1 3 3 1 1|relu|conv c2 2 3 2 1|flatten|dense f 3";
	struct gcase g;
	struct rng r;
	(void)state;
	for (int hook = 0; hook < 4; hook += 2) {
		gcase_init(&g, spec, 22 + hook, 3, 0, 0);
		g.hook_layer = hook; /* conv c1 output, then conv c2 output */
		size_t n = nn_out_size(&g.m.layers[hook]) * 3;
		g.v = xmalloc(n * sizeof(float));
		rng_seed(&r, 99);
		for (size_t k = 0; k < n; k++)
			g.v[k] = (float)(0.2 * (2 * rng_uniform(&r) - 1));
		print_message("%s + hook on %s\n", spec, g.m.layers[hook].name);
		check_case(&g, 1e-2);
		gcase_free(&g);
	}
}

/* ---- loss functions ------------------------------------------------------- */

static void test_loss_dlogits(void **state)
{
	struct gcase g;
	int C;
	(void)state;
	for (int soft = 0; soft < 2; soft++) {
		gcase_init(&g, "4x1x1|dense d 5", 30 + soft, 3, 0, soft);
		C = g.m.nclass;
		const float *z = nn_forward(&g.m, g.x, g.B, 0, NULL);
		double ref = ref_loss(&g, z);
		nn_zero_act_grads(&g.m);
		double L = soft ? nn_loss_soft(&g.m, g.q, 2.5) : nn_loss_xent(&g.m, g.y, 2.5);
		assert_true(fabs(L - ref) < 1e-6 * (1 + ref)); /* scale does not scale the value */
		/* and again: the gradient adds up */
		L = soft ? nn_loss_soft(&g.m, g.q, 0.5) : nn_loss_xent(&g.m, g.y, 0.5);
		assert_true(fabs(L - ref) < 1e-6 * (1 + ref));
		for (int b = 0; b < g.B; b++) {
			double mx = -INFINITY, s = 0;
			for (int c = 0; c < C; c++)
				mx = fmax(mx, z[b * C + c]);
			for (int c = 0; c < C; c++)
				s += exp(z[b * C + c] - mx);
			for (int c = 0; c < C; c++) {
				double p = exp(z[b * C + c] - mx) / s;
				double t = soft ? g.q[b * C + c] : (c == g.y[b]);
				double want = 3.0 * (p - t) / g.B;
				double got = g.m.dacts[g.m.nlayers - 1][b * C + c];
				if (fabs(got - want) > 1e-6)
					fail_msg("dlogits[%d][%d] = %.9g; expected %.9g", b, c, got,
						 want);
			}
		}
		gcase_free(&g);
	}
}

/* Soft targets equal to one-hot labels reproduce the hard loss exactly. */
static void test_loss_soft_onehot(void **state)
{
	struct gcase g;
	(void)state;
	gcase_init(&g, "4x1x1|dense d 5", 33, 3, 0, 0);
	float q[15] = {0};
	for (int b = 0; b < 3; b++)
		q[b * 5 + g.y[b]] = 1;
	nn_forward(&g.m, g.x, 3, 0, NULL);
	nn_zero_act_grads(&g.m);
	double lh = nn_loss_xent(&g.m, g.y, 1.0);
	float dh[15];
	memcpy(dh, g.m.dacts[0], sizeof dh);
	nn_zero_act_grads(&g.m);
	double ls = nn_loss_soft(&g.m, q, 1.0);
	assert_true(fabs(lh - ls) < 1e-12);
	for (int k = 0; k < 15; k++)
		assert_true(fabs(dh[k] - g.m.dacts[0][k]) < 1e-7);
	gcase_free(&g);
}

/* ---- engine semantics ------------------------------------------------------ */

static const char *sem_spec =
    "2x6x6|conv c1 3 3 1 1|relu|maxpool 2 2|flatten|dense f1 6|relu|dense f2 3";

static void step_grads(struct gcase *g, int zero_grads)
{
	struct nn_model *m = &g->m;
	nn_forward(m, g->x, g->B, 0, NULL);
	nn_zero_act_grads(m);
	nn_loss_xent(m, g->y, 1.0);
	if (zero_grads)
		nn_zero_grads(m);
	nn_backward(m);
}

static void test_accumulation(void **state)
{
	struct gcase g;
	(void)state;
	gcase_init(&g, sem_spec, 40, 3, 0, 0);
	g.m.want_dinput = 1;
	step_grads(&g, 1);
	memcpy(g.ga, g.m.grads, g.m.nparams * sizeof(float));
	memcpy(g.gx, g.m.dinput, nn_in_size(&g.m) * 3 * sizeof(float));
	/* a second pass without nn_zero_grads() adds the same gradient again */
	step_grads(&g, 0);
	for (size_t i = 0; i < g.m.nparams; i++)
		if (fabsf(g.m.grads[i] - 2 * g.ga[i]) > 1e-6f * (1 + fabsf(g.ga[i])))
			fail_msg("grads[%zu] = %.9g after two passes; expected 2 * %.9g", i,
				 g.m.grads[i], g.ga[i]);
	/* the input gradient belongs to the last pass (zeroed with the act grads) */
	for (size_t i = 0; i < nn_in_size(&g.m) * 3; i++)
		assert_true(fabsf(g.m.dinput[i] - g.gx[i]) <= 1e-7f * (1 + fabsf(g.gx[i])));
	/* nn_zero_grads() clears everything */
	nn_zero_grads(&g.m);
	for (size_t i = 0; i < g.m.nparams; i++)
		assert_true(g.m.grads[i] == 0);
	/* the same pass again gives the same gradient, bit for bit */
	step_grads(&g, 1);
	assert_memory_equal(g.m.grads, g.ga, g.m.nparams * sizeof(float));
	gcase_free(&g);
}

static void test_frozen(void **state)
{
	struct gcase g;
	struct nn_opt o;
	(void)state;
	gcase_init(&g, sem_spec, 41, 3, 0, 0);
	struct nn_model *m = &g.m;
	int c1 = nn_find_layer(m, "c1"), f1 = nn_find_layer(m, "f1"), f2 = nn_find_layer(m, "f2");
	assert_true(c1 >= 0 && f1 >= 0 && f2 >= 0);
	m->want_dinput = 1;
	step_grads(&g, 1);
	memcpy(g.ga, m->grads, m->nparams * sizeof(float));
	memcpy(g.gx, m->dinput, nn_in_size(m) * 3 * sizeof(float));

	/* a frozen middle layer gets no gradient but still passes it down */
	m->layers[f1].frozen = 1;
	memset(m->grads, 0, m->nparams * sizeof(float));
	step_grads(&g, 0);
	for (int i = 0; i < m->nlayers; i++) {
		const struct nn_layer *l = &m->layers[i];
		if (!nn_has_params(l))
			continue;
		size_t n = l->w_n + l->b_n;
		if (l->frozen) {
			for (size_t k = 0; k < n; k++)
				assert_true(m->grads[l->w_off + k] == 0);
		} else {
			assert_memory_equal(m->grads + l->w_off, g.ga + l->w_off,
					    n * sizeof(float));
		}
	}
	assert_memory_equal(m->dinput, g.gx, nn_in_size(m) * 3 * sizeof(float));

	/* a frozen first layer: the input gradient still flows */
	m->layers[f1].frozen = 0;
	m->layers[c1].frozen = 1;
	step_grads(&g, 1);
	for (size_t k = 0; k < m->layers[c1].w_n + m->layers[c1].b_n; k++)
		assert_true(m->grads[m->layers[c1].w_off + k] == 0);
	assert_memory_equal(m->dinput, g.gx, nn_in_size(m) * 3 * sizeof(float));

	/* the optimiser leaves a frozen layer alone (even with gradients in it) */
	float *before = xmalloc(m->nparams * sizeof(float));
	memcpy(before, m->params, m->nparams * sizeof(float));
	memcpy(m->grads, g.ga, m->nparams * sizeof(float));
	assert_int_equal(nn_opt_init(&o, "adam", 1e-2, m->nparams), 0);
	o.weight_decay = 0.1;
	nn_opt_step(&o, m, 0);
	const struct nn_layer *l = &m->layers[c1];
	assert_memory_equal(m->params + l->w_off, before + l->w_off,
			    (l->w_n + l->b_n) * sizeof(float));
	for (int i = 0; i < m->nlayers; i++) {
		const struct nn_layer *li = &m->layers[i];
		if (!nn_has_params(li) || li->frozen)
			continue;
		size_t changed = 0, n = li->w_n + li->b_n;
		for (size_t k = 0; k < n; k++)
			changed += m->params[li->w_off + k] != before[li->w_off + k];
		if (changed * 10 < n * 9)
			fail_msg("layer %s: only %zu of %zu parameters moved", li->name, changed,
				 n);
	}
	nn_opt_free(&o);
	free(before);
	gcase_free(&g);
}

static void test_reinit_layer(void **state)
{
	struct gcase g;
	struct rng r;
	(void)state;
	gcase_init(&g, sem_spec, 42, 3, 0, 0);
	struct nn_model *m = &g.m;
	float *before = xmalloc(m->nparams * sizeof(float));
	rng_seed(&r, 4242);
	for (int li = 0; li < m->nlayers; li++) {
		const struct nn_layer *l = &m->layers[li];
		memcpy(before, m->params, m->nparams * sizeof(float));
		nn_reinit_layer(m, li, &r);
		if (!nn_has_params(l)) {
			assert_memory_equal(m->params, before, m->nparams * sizeof(float));
			continue;
		}
		size_t lo = l->w_off, hi = l->b_off + l->b_n, changed = 0;
		double bound = 1.0 / sqrt((double)(l->w_n / (size_t)l->out_c));
		assert_memory_equal(m->params, before, lo * sizeof(float));
		assert_memory_equal(m->params + hi, before + hi, (m->nparams - hi) * sizeof(float));
		for (size_t k = lo; k < hi; k++) {
			changed += m->params[k] != before[k];
			assert_true(fabs(m->params[k]) <= bound * (1 + 1e-6));
		}
		if (changed + 1 < hi - lo)
			fail_msg("layer %s: reinit changed %zu of %zu parameters", l->name, changed,
				 hi - lo);
	}
	free(before);
	gcase_free(&g);
}

/* nn_init_params: PyTorch's U(+-1/sqrt(fan_in)) for weights and biases. */
static void test_init_distribution(void **state)
{
	struct nn_model m;
	struct rng r;
	char err[ERRBUF];
	(void)state;
	assert_int_equal(nn_build_spec(&m, "custom", "3x10x10|conv c 16 5 1 0|flatten|dense f 40",
				       err, sizeof err),
			 0);
	rng_seed(&r, 7);
	nn_init_params(&m, &r);
	for (int i = 0; i < m.nlayers; i++) {
		const struct nn_layer *l = &m.layers[i];
		if (!nn_has_params(l))
			continue;
		double bound = 1.0 / sqrt((double)(l->w_n / (size_t)l->out_c)), mx = 0, s = 0,
		       s2 = 0;
		for (size_t k = 0; k < l->w_n; k++) {
			double v = m.params[l->w_off + k];
			mx = fmax(mx, fabs(v));
			s += v;
			s2 += v * v;
		}
		double mean = s / l->w_n, var = s2 / l->w_n - mean * mean;
		assert_true(mx <= bound && mx > 0.95 * bound);
		assert_true(fabs(mean) < 0.1 * bound);
		/* U(-b, b) has variance b^2 / 3 */
		assert_true(fabs(var / (bound * bound / 3) - 1) < 0.1);
		for (size_t k = 0; k < l->b_n; k++)
			assert_true(fabs(m.params[l->b_off + k]) <= bound);
	}
	nn_free(&m);
}

/* Dropout: identity in eval mode, a scaled mask in training mode. */
static void test_dropout_forward(void **state)
{
	struct nn_model a, b;
	struct rng r;
	char err[ERRBUF];
	float x[200 * 10];
	(void)state;
	assert_int_equal(
	    nn_build_spec(&a, "custom", "10x1x1|dense d 50|dropout 0.4|dense e 3", err, sizeof err),
	    0);
	assert_int_equal(
	    nn_build_spec(&b, "custom", "10x1x1|dense d 50|dense e 3", err, sizeof err), 0);
	rng_seed(&r, 3);
	nn_init_params(&a, &r);
	memcpy(b.params, a.params, a.nparams * sizeof(float));
	for (int i = 0; i < 2000; i++)
		x[i] = (float)rng_uniform(&r);
	const float *za = nn_forward(&a, x, 200, 0, NULL);
	const float *zb = nn_forward(&b, x, 200, 0, NULL);
	assert_memory_equal(za, zb, 200 * 3 * sizeof(float));
	nn_forward(&a, x, 200, 1, &r);
	size_t kept = 0, n = 200 * 50;
	for (size_t k = 0; k < n; k++) {
		float in = a.acts[0][k], out = a.acts[1][k];
		if (out != 0) {
			kept++;
			assert_true(fabsf(out - in / 0.6f) <= 1e-6f * fabsf(out));
		}
	}
	assert_true(fabs((double)kept / n - 0.6) < 0.02);
	/* outside training the dropout's output is its input (no copy), and
	 * training in between wrote only the dropout's own buffer */
	assert_ptr_not_equal(a.acts[1], a.acts[0]);
	za = nn_forward(&a, x, 200, 0, NULL);
	assert_ptr_equal(a.acts[1], a.acts[0]);
	assert_memory_equal(za, nn_forward(&b, x, 200, 0, NULL), 200 * 3 * sizeof(float));
	nn_free(&a);
	nn_free(&b);
}

/* Forward of a batch equals the forward of each sample alone (the
 * channel-major batching must not mix samples). */
/* ---- direct convolution kernels (conv_direct.c) against im2col + sgemm ---- */

static void test_fd_direct_conv(void **state)
{
	(void)state;
	if (!cd_cpu_ok())
		skip(); /* no AVX2/FMA: the engine never takes the direct path here */
	nn_conv_mode = NN_CONV_DIRECT;
	run_spec("1x9x9|conv c1 3 5 1 2|relu|maxpool 2 2|flatten|dense f 4", 31, 0, 0);
	run_spec("2x7x8|conv c1 4 3 1 1|relu|conv c2 3 3 1 0|flatten|dense f 3", 32, 0, 0);
	run_spec("3x9x9|conv c1 7 7 1 3|relu|maxpool 2 2|flatten|dense f 3", 33, 0, 0);
	/* 8 and 16 output channels: the channel-vectorised kernel */
	run_spec("2x7x8|conv c1 8 3 1 1|relu|conv c2 16 5 1 1|flatten|dense f 3", 34, 0, 0);
	run_spec("3x8x8|conv c1 24 7 1 2|relu|maxpool 2 2|flatten|dense f 3", 35, 0, 0);
	nn_conv_mode = NN_CONV_AUTO;
}

/* The CD_BATCH kernel gives each sample the same bits whatever batch it came
 * in (its position in a block of 16, a partial last block of 13, or alone), and
 * adds to din rather than overwriting it. */
static void test_batch_dx_per_sample(void **state)
{
	(void)state;
	if (!cd_cpu_ok())
		skip();
	struct nn_layer l = {.kind = NN_CONV,
			     .in_c = 6,
			     .in_h = 14,
			     .in_w = 14,
			     .out_c = 16,
			     .k = 5,
			     .stride = 1,
			     .pad = 1,
			     .out_h = 12,
			     .out_w = 12};
	enum { B = 45 };
	size_t os = (size_t)l.out_h * l.out_w, is = (size_t)l.in_h * l.in_w;
	size_t nw = (size_t)l.out_c * l.in_c * l.k * l.k;
	float *w = malloc(nw * 4), *dout = malloc(l.out_c * B * os * 4);
	float *din = calloc(l.in_c * B * is, 4), *one = malloc(l.out_c * os * 4);
	float *d1 = malloc(l.in_c * is * 4), *d2 = malloc(l.in_c * is * 4);
	float *scratch = cd_alloc_floats(cd_batch_floats(&l));
	struct rng r;
	rng_seed(&r, 41);
	for (size_t i = 0; i < nw; i++)
		w[i] = (float)rng_uniform(&r) - 0.5f;
	for (size_t i = 0; i < l.out_c * B * os; i++)
		dout[i] = (float)rng_uniform(&r) - 0.5f;
	assert_true(cd_batch_ok(&l));
	cd_input_grad_batch(&l, B, w, dout, din, scratch);
	{ /* the whole batch into ones: din += the gradient (the 8x8 tiles' adds) */
		size_t nd = (size_t)l.in_c * B * is;
		float *ones = malloc(nd * 4);
		for (size_t i = 0; i < nd; i++)
			ones[i] = 1.0f;
		cd_input_grad_batch(&l, B, w, dout, ones, scratch);
		for (size_t i = 0; i < nd; i++)
			if (ones[i] != 1.0f + din[i])
				fail_msg("batch of %d into ones: element %zu is %.9g, not 1 + %.9g",
					 B, i, ones[i], din[i]);
		free(ones);
	}
	for (int b = 0; b < B; b++) {
		for (int oc = 0; oc < l.out_c; oc++)
			memcpy(one + oc * os, dout + ((size_t)oc * B + b) * os, os * 4);
		memset(d1, 0, l.in_c * is * 4);
		cd_input_grad_batch(&l, 1, w, one, d1, scratch);
		for (int c = 0; c < l.in_c; c++)
			if (memcmp(d1 + c * is, din + ((size_t)c * B + b) * is, is * 4))
				fail_msg("sample %d, channel %d: alone and in a batch of %d differ",
					 b, c, B);
		/* into ones: din += the gradient */
		for (size_t i = 0; i < l.in_c * is; i++)
			d2[i] = 1.0f;
		cd_input_grad_batch(&l, 1, w, one, d2, scratch);
		for (size_t i = 0; i < l.in_c * is; i++)
			assert_true(d2[i] == 1.0f + d1[i]);
	}
	free(w), free(dout), free(din), free(one), free(d1), free(d2), free(scratch);
}

/* Every input gradient by the CD_BATCH kernel (samples in the lanes): blocks
 * of 6, 4, 2 and 1 channels, kernels of 2 to 7, pads from 0 to K - 1. */
static void test_fd_batch_dx(void **state)
{
	(void)state;
	if (!cd_cpu_ok())
		skip();
	nn_conv_mode = NN_CONV_BATCH;
	run_spec("6x9x8|conv c1 4 5 1 0|relu|conv c2 3 3 1 2|flatten|dense f 3", 36, 0, 0);
	run_spec("4x7x9|conv c1 2 3 1 1|relu|conv c2 5 3 1 1|maxpool 2 2|flatten|dense f 3", 37, 0,
		 0);
	run_spec("2x8x8|conv c1 13 4 1 3|relu|conv c2 2 2 1 0|flatten|dense f 3", 38, 0, 0);
	run_spec("1x9x9|conv c1 5 7 1 6|relu|conv c2 3 5 1 4|flatten|dense f 3", 39, 0, 0);
	struct gcase g;
	gcase_init(&g, "3x8x7|conv c1 10 3 1 1|relu|conv c2 6 5 1 0|flatten|dense f 3", 40, 3, 0,
		   0);
	check_case(&g, 1e-2);
	assert_int_equal(g.m.dx_direct[2], CD_BATCH);
	gcase_free(&g);
	nn_conv_mode = NN_CONV_AUTO;
}

/* Every 3x3 convolution of stride 1 and pad 1 on even planes by Winograd
 * F(2x2, 3x3): one tile (2x2 planes), rows of 2, 3 and 5 tiles (the scalar
 * tail), of 4 (the vector loop) and of 4 + 1 and 8 + 3; a layer too odd for
 * it (4x5) in between; the first layer's input gradient; a frozen layer;
 * and chunks of 2, 2 and 1 samples (16 output channels of 32x32). */
static void test_fd_wino(void **state)
{
	(void)state;
	nn_conv_mode = NN_CONV_WINO;
	run_spec("3x2x2|conv c1 4 3 1 1|relu|flatten|dense f 3", 61, 0, 0);
	run_spec("2x4x6|conv c1 3 3 1 1|relu|conv c2 4 3 1 1|flatten|dense f 3", 62, 0, 0);
	run_spec("5x8x10|conv c1 6 3 1 1|relu|maxpool 2 2|conv c2 4 3 1 1|flatten|dense f 3", 63, 0,
		 0);
	run_spec("4x16x8|conv c1 8 3 1 1|relu|conv c2 5 3 1 1|maxpool 2 2|flatten|dense f 3", 64, 0,
		 0);
	run_spec("2x6x22|conv c1 7 3 1 1|relu|conv c2 3 3 1 1|flatten|dense f 3", 65, 0, 0);
	struct gcase g;
	gcase_init(&g, "3x10x18|conv c1 6 3 1 1|relu|conv c2 4 3 1 1|flatten|dense f 3", 66, 3, 0,
		   0);
	g.m.layers[0].frozen = 1; /* the input gradient through a frozen layer */
	analytic(&g);
	for (size_t k = 0; k < g.m.layers[0].w_n; k++)
		assert_true(g.ga[g.m.layers[0].w_off + k] == 0);
	check_tensor(&g, g.m.params + g.m.layers[2].w_off, g.ga + g.m.layers[2].w_off,
		     g.m.layers[2].w_n, 1e-2, "c2.weight");
	check_tensor(&g, g.x, g.gx, nn_in_size(&g.m) * (size_t)g.B, 1e-2, "input");
	assert_int_equal(g.m.conv_direct[0], CD_WINO);
	assert_int_equal(g.m.conv_direct[2], CD_WINO);
	gcase_free(&g);
	gcase_init(&g, "4x32x32|conv c1 16 3 1 1|flatten|dense f 3", 67, 5, 0, 0);
	check_case(&g, 1e-2);
	assert_int_equal(g.m.conv_direct[0], CD_WINO);
	gcase_free(&g);
	nn_conv_mode = NN_CONV_AUTO;
}

/* A model from spec, or the named arch (of c x h x w inputs) when spec is
 * NULL, initialised from r. */
static void model_for(struct nn_model *m, struct rng *r, const char *spec, const char *arch, int c,
		      int h, int w)
{
	char err[ERRBUF];
	if (spec ? nn_build_spec(m, "custom", spec, err, sizeof err)
		 : nn_create(m, arch, c, h, w, 10, r, err, sizeof err))
		fail_msg("%s", err);
	nn_init_params(m, r);
}

/* B random inputs (uniform minus shift) and labels for m, and the buffers
 * two run_mode calls fill: logits l, gradients g, input gradients d. */
struct pair {
	int B, y[64];
	size_t nx, nl;
	float *x, *l1, *l2, *g1, *g2, *d1, *d2;
};

static void pair_init(struct pair *p, const struct nn_model *m, struct rng *r, int B, float shift)
{
	p->B = B;
	p->nx = (size_t)B * nn_in_size(m);
	p->nl = (size_t)B * m->nclass;
	p->x = malloc(p->nx * 4), p->l1 = malloc(p->nl * 4), p->l2 = malloc(p->nl * 4);
	p->g1 = malloc(m->nparams * 4), p->g2 = malloc(m->nparams * 4);
	p->d1 = malloc(p->nx * 4), p->d2 = malloc(p->nx * 4);
	for (size_t i = 0; i < p->nx; i++)
		p->x[i] = (float)rng_uniform(r) - shift;
	for (int b = 0; b < B; b++)
		p->y[b] = (int)(rng_u64(r) % (uint64_t)m->nclass);
}

static void pair_free(struct pair *p)
{
	free(p->x), free(p->l1), free(p->l2), free(p->g1), free(p->g2), free(p->d1), free(p->d2);
}

/* forward, loss and backward of one model in mode md; returns the logits */
static void run_mode(struct nn_model *m, enum nn_conv_mode md, const float *x, const int *y, int B,
		     float *logits, float *grads, float *dinput)
{
	nn_conv_mode = md;
	m->want_dinput = 1;
	memcpy(logits, nn_forward(m, x, B, 0, NULL), sizeof(float) * B * m->nclass);
	nn_zero_act_grads(m);
	nn_loss_xent(m, y, 1.0);
	nn_zero_grads(m);
	nn_backward(m);
	memcpy(grads, m->grads, sizeof(float) * m->nparams);
	memcpy(dinput, m->dinput, sizeof(float) * B * nn_in_size(m));
	nn_conv_mode = NN_CONV_AUTO;
}

static void assert_near(const char *what, const float *a, const float *b, size_t n, double rtol)
{
	double mx = 0, worst = 0;
	for (size_t i = 0; i < n; i++)
		mx = fmax(mx, fabs(b[i]));
	for (size_t i = 0; i < n; i++)
		worst = fmax(worst, fabs(a[i] - b[i]));
	if (!(worst <= rtol * mx + 1e-30))
		fail_msg("%s: the two paths differ by %g (max |value| %g)", what, worst, mx);
}

static void test_direct_matches_gemm(void **state)
{
	(void)state;
	if (!cd_cpu_ok())
		skip();
	static const char *specs[] = {
	    NULL, /* lenet5 itself */
	    "6x14x14|conv c 16 5 1 0|relu|flatten|dense f 10",
	    "3x12x11|conv c 7 3 1 1|relu|conv d 13 5 1 2|flatten|dense f 5",
	    "2x9x10|conv c 5 7 1 3|maxpool 2 2|flatten|dense f 3",
	    "1x30x17|conv c 2 5 1 0|flatten|dense f 3",
	    /* cnn's conv2 and conv3, whose input gradients run the channel kernel */
	    "32x16x16|conv c 32 3 1 1|relu|conv d 64 3 1 1|maxpool 2 2|flatten|dense f 10",
	    "3x12x11|conv c 8 3 1 1|relu|conv d 24 5 1 2|flatten|dense f 5",
	    "2x9x10|conv c 16 7 1 3|maxpool 2 2|conv d 32 3 1 0|flatten|dense f 3",
	    /* input gradients of 4 and 10 channels, and a pad of K - 1 */
	    "4x9x8|conv c 10 3 1 0|relu|conv d 6 5 1 4|flatten|dense f 3",
	    /* padded rows of 16 and 32 (as lenet5's conv1): the forward stores
	     * straight into the output rows, 14 and 30 wide */
	    "2x12x14|conv c 7 3 1 1|relu|flatten|dense f 5",
	    "3x8x28|conv c 4 3 1 2|flatten|dense f 3",
	};
	for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
		struct nn_model m;
		struct rng r;
		char err[ERRBUF];
		rng_seed(&r, 40 + s);
		if (specs[s] ? nn_build_spec(&m, "custom", specs[s], err, sizeof err)
			     : nn_create(&m, "lenet5", 1, 28, 28, 10, &r, err, sizeof err))
			fail_msg("%s", err);
		nn_init_params(&m, &r);
		for (int bi = 0; bi < 2; bi++) { /* a full batch, then a smaller one */
			int B = bi ? 21 : 64, y[64];
			size_t nx = (size_t)B * nn_in_size(&m);
			float *x = malloc(nx * sizeof(float));
			for (size_t i = 0; i < nx; i++)
				x[i] = (float)rng_uniform(&r);
			for (int b = 0; b < B; b++)
				y[b] = (int)(rng_u64(&r) % (uint64_t)m.nclass);
			size_t nl = (size_t)B * m.nclass;
			float *l1 = malloc(nl * 4), *l2 = malloc(nl * 4);
			float *g1 = malloc(m.nparams * 4), *g2 = malloc(m.nparams * 4);
			float *d1 = malloc(nx * 4), *d2 = malloc(nx * 4);
			run_mode(&m, NN_CONV_GEMM, x, y, B, l1, g1, d1);
			assert_int_equal(m.conv_direct[0], 0);
			run_mode(&m, NN_CONV_DIRECT, x, y, B, l2, g2, d2);
			assert_true(m.conv_direct[0] == CD_PLANE || m.conv_direct[0] == CD_CHAN);
			print_message("%s B=%d: direct path (kernel %d) agrees\n",
				      specs[s] ? specs[s] : "lenet5", B, m.conv_direct[0]);
			for (int md = 0; md < 2; md++) {
				if (md) { /* every input gradient on the CD_BATCH kernel */
					run_mode(&m, NN_CONV_BATCH, x, y, B, l2, g2, d2);
					assert_int_equal(m.dx_direct[0], CD_BATCH);
				}
				assert_near("logits", l2, l1, nl, 1e-5);
				assert_near("input gradient", d2, d1, nx, 1e-5);
				for (int i = 0; i < m.nlayers; i++) {
					const struct nn_layer *l = &m.layers[i];
					if (!nn_has_params(l))
						continue;
					assert_near(l->name, g2 + l->w_off, g1 + l->w_off, l->w_n,
						    1e-5);
					assert_near(l->name, g2 + l->b_off, g1 + l->b_off, l->b_n,
						    1e-5);
				}
			}
			free(x), free(l1), free(l2), free(g1), free(g2), free(d1), free(d2);
		}
		nn_free(&m);
	}
	/* An Inf left in the padded input by an earlier, larger batch must not
	 * reach the weight gradient of a smaller one (0 * Inf = NaN). */
	{
		struct nn_model m;
		struct rng r;
		char err[ERRBUF];
		float x[8 * 30 * 17], l1[8 * 3], l2[8 * 3], d1[8 * 30 * 17], d2[8 * 30 * 17];
		int y[8] = {0, 1, 2, 0, 1, 2, 0, 1};
		rng_seed(&r, 77);
		assert_int_equal(nn_build_spec(&m, "custom",
					       "1x30x17|conv c 2 5 1 0|flatten|dense f 3", err,
					       sizeof err),
				 0);
		nn_init_params(&m, &r);
		float *g1 = malloc(m.nparams * 4), *g2 = malloc(m.nparams * 4);
		for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
			x[i] = i >= 5 * 30 * 17 ? INFINITY : (float)rng_uniform(&r);
		run_mode(&m, NN_CONV_DIRECT, x, y, 8, l1, g1, d1);
		run_mode(&m, NN_CONV_GEMM, x, y, 5, l1, g1, d1);
		run_mode(&m, NN_CONV_DIRECT, x, y, 5, l2, g2, d2);
		assert_int_equal(m.conv_direct[0], CD_PLANE);
		for (size_t i = 0; i < m.nparams; i++)
			assert_true(isfinite(g2[i]));
		assert_near("grads after an Inf batch", g2, g1, m.nparams, 1e-5);
		free(g1), free(g2);
		nn_free(&m);
	}
	/* the default: lenet5's conv1 by output positions, conv2 by channels */
	struct nn_model m;
	struct rng r;
	char err[ERRBUF];
	float x[2 * 784];
	rng_seed(&r, 1);
	assert_int_equal(nn_create(&m, "lenet5", 1, 28, 28, 10, &r, err, sizeof err), 0);
	memset(x, 0, sizeof x);
	nn_forward(&m, x, 2, 0, NULL);
	assert_int_equal(m.conv_direct[0], CD_PLANE);
	assert_int_equal(m.conv_direct[3], CD_CHAN);
	nn_free(&m);
}

/* Winograd against im2col + sgemm at batches of 64 and 21 (several chunks
 * and a partial one) on 7 shapes, among them cnn's four convolutions: the
 * logits, every parameter gradient and the input gradient agree to float
 * rounding. The shapes have no ReLU or max-pooling, where rounding can flip
 * a unit or an argmax and move a gradient by far more (the finite-difference
 * test covers those); cnn itself, which has them, is compared on its logits.
 * By default (AUTO) cnn runs conv1 direct and conv2, conv3 and conv4 by
 * Winograd. */
static void test_wino_matches_gemm(void **state)
{
	(void)state;
	static const char *specs[] = {
	    NULL, /* cnn itself: logits only */
	    "3x32x32|conv c 32 3 1 1|conv d 32 3 1 1|flatten|dense f 10",
	    "32x16x16|conv c 64 3 1 1|conv d 64 3 1 1|flatten|dense f 10",
	    "3x12x10|conv c 8 3 1 1|conv d 24 3 1 1|flatten|dense f 5",
	    /* a stride-2 layer in between (4x7: too odd for Winograd) */
	    "16x8x14|conv c 16 3 1 1|conv s 16 2 2 0|conv d 16 3 1 1|flatten|dense f 3",
	    "5x2x2|conv c 9 3 1 1|flatten|dense f 3",
	    "64x6x6|conv c 7 3 1 1|flatten|dense f 4",
	    "1x20x12|conv c 40 3 1 1|conv d 2 3 1 1|flatten|dense f 3",
	};
	for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
		struct nn_model m;
		struct rng r;
		rng_seed(&r, 140 + s);
		model_for(&m, &r, specs[s], "cnn", 3, 32, 32);
		for (int bi = 0; bi < 2; bi++) {
			struct pair p;
			pair_init(&p, &m, &r, bi ? 21 : 64, 0.3f);
			run_mode(&m, NN_CONV_GEMM, p.x, p.y, p.B, p.l1, p.g1, p.d1);
			run_mode(&m, NN_CONV_WINO, p.x, p.y, p.B, p.l2, p.g2, p.d2);
			int n = 0;
			for (int i = 0; i < m.nlayers; i++)
				n += m.conv_direct[i] == CD_WINO;
			assert_true(n >= 1);
			print_message("%s B=%d: %d Winograd layer(s) agree\n",
				      specs[s] ? specs[s] : "cnn", p.B, n);
			assert_near("logits", p.l2, p.l1, p.nl, 1e-5);
			for (int i = 0; specs[s] && i < m.nlayers; i++) {
				const struct nn_layer *l = &m.layers[i];
				if (!nn_has_params(l))
					continue;
				assert_near(l->name, p.g2 + l->w_off, p.g1 + l->w_off, l->w_n,
					    1e-5);
				assert_near(l->name, p.g2 + l->b_off, p.g1 + l->b_off, l->b_n,
					    1e-5);
			}
			if (specs[s])
				assert_near("input gradient", p.d2, p.d1, p.nx, 1e-5);
			pair_free(&p);
		}
		if (!specs[s]) { /* the default path of each cnn layer */
			float x[3 * 32 * 32] = {0};
			nn_forward(&m, x, 1, 0, NULL);
			assert_int_equal(m.conv_direct[2], CD_WINO);
			assert_int_equal(m.conv_direct[5], CD_WINO);
			assert_int_equal(m.conv_direct[7], CD_WINO);
			if (cd_cpu_ok())
				assert_int_equal(m.conv_direct[0], CD_PLANE);
		}
		nn_free(&m);
	}
}

/* A convolution's input gradient by sgemm and col2im, computed a few
 * samples at a time (nn_conv_dx_floats), equals the whole-batch one to float
 * rounding (not bit for bit: OpenBLAS sums in another order for another N),
 * on both conv paths, with stride, padding, and batches that do not divide
 * into blocks, and passes the finite-difference check; the logits do not
 * change at all. At the default threshold these small layers (lenet5 among
 * them) are not blocked and give the whole-batch results bit for bit. */
static void test_dx_blocks(void **state)
{
	(void)state;
	static const char *specs[] = {
	    NULL, /* lenet5 */
	    "6x14x14|conv c 16 5 1 0|relu|flatten|dense f 10",
	    "3x12x11|conv c 7 3 1 1|relu|conv d 13 5 1 2|flatten|dense f 5",
	    "2x9x10|conv c 5 7 1 3|maxpool 2 2|flatten|dense f 3",
	    "2x11x9|conv c 4 3 2 1|relu|conv d 6 3 2 0|flatten|dense f 3",
	    "3x12x11|conv c 8 3 1 1|relu|conv d 24 5 1 2|flatten|dense f 5",
	    "32x8x8|conv c 32 3 1 1|relu|conv d 64 3 1 1|flatten|dense f 4",
	};
	static const enum nn_conv_mode modes[] = {NN_CONV_GEMM, NN_CONV_AUTO};
	for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
		struct nn_model m;
		struct rng r;
		rng_seed(&r, 90 + s);
		model_for(&m, &r, specs[s], "lenet5", 1, 28, 28);
		for (int bi = 0; bi < 2; bi++) {
			struct pair p;
			pair_init(&p, &m, &r, bi ? 7 : 64, 0.3f);
			int B = p.B, *y = p.y;
			size_t nx = p.nx, nl = p.nl;
			float *x = p.x, *l1 = p.l1, *l2 = p.l2, *g1 = p.g1, *g2 = p.g2, *d1 = p.d1,
			      *d2 = p.d2;
			for (int md = 0; md < 2; md++) {
				nn_conv_dx_floats = 0;
				run_mode(&m, modes[md], x, y, B, l1, g1, d1);
				/* at the default sizes these small layers keep the whole batch */
				nn_conv_dx_floats = NN_CONV_DX_FLOATS;
				run_mode(&m, modes[md], x, y, B, l2, g2, d2);
				assert_memory_equal(d2, d1, nx * 4);
				assert_memory_equal(g2, g1, m.nparams * 4);
				nn_conv_dx_block_above = 0;
				/* one sample per block, then blocks of a few samples */
				for (int f = 1; f <= 3; f++) {
					nn_conv_dx_floats = f == 1 ? 1 : f * 4000;
					run_mode(&m, modes[md], x, y, B, l2, g2, d2);
					assert_memory_equal(l2, l1, nl * 4);
					assert_near("blocked input gradient", d2, d1, nx, 1e-5);
					assert_near("blocked parameter gradients", g2, g1,
						    m.nparams, 1e-5);
				}
				nn_conv_dx_block_above = NN_CONV_DX_BLOCK_ABOVE;
			}
			pair_free(&p);
		}
		nn_free(&m);
	}
	nn_conv_dx_floats = 1;
	nn_conv_dx_block_above = 0;
	run_spec("2x7x8|conv c1 4 3 1 1|relu|conv c2 8 5 1 2|flatten|dense f 3", 96, 0, 0);
	run_spec("2x9x9|conv c1 3 3 2 1|relu|conv c2 5 3 1 1|flatten|dense f 3", 97, 0, 0);
	nn_conv_dx_floats = NN_CONV_DX_FLOATS;
	nn_conv_dx_block_above = NN_CONV_DX_BLOCK_ABOVE;
}

static void test_batch_independence(void **state)
{
	struct gcase g;
	(void)state;
	gcase_init(&g, "3x8x8|conv c1 4 3 2 0|relu|conv c2 2 3 1 1|maxpool 2 1|flatten|dense f 4",
		   43, 5, 0, 0);
	struct nn_model *m = &g.m;
	size_t d = nn_in_size(m);
	float full[5 * 4];
	memcpy(full, nn_forward(m, g.x, 5, 0, NULL), sizeof full);
	for (int b = 0; b < 5; b++) {
		const float *z = nn_forward(m, g.x + b * d, 1, 0, NULL);
		for (int c = 0; c < 4; c++)
			assert_true(fabsf(z[c] - full[b * 4 + c]) <= 1e-5f * (1 + fabsf(z[c])));
	}
	/* a direct evaluation of the first conv at one output position */
	nn_forward(m, g.x, 5, 0, NULL);
	const struct nn_layer *l = &m->layers[0];
	for (int b = 0; b < 5; b++)
		for (int oc = 0; oc < l->out_c; oc++) {
			int oh = 1, ow = 2;
			double s = m->params[l->b_off + oc];
			for (int c = 0; c < l->in_c; c++)
				for (int ki = 0; ki < 3; ki++)
					for (int kj = 0; kj < 3; kj++) {
						size_t wi =
						    ((size_t)(oc * l->in_c + c) * 3 + ki) * 3 + kj;
						size_t xi =
						    b * d + (c * 8 + oh * 2 + ki) * 8 + ow * 2 + kj;
						s += (double)m->params[l->w_off + wi] * g.x[xi];
					}
			/* conv output is channel-major (OC, B, OH, OW) */
			float got = m->acts[0][((oc * 5 + b) * l->out_h + oh) * l->out_w + ow];
			assert_true(fabs(got - s) < 1e-5);
		}
	gcase_free(&g);
}

/* ---- architecture specs -------------------------------------------------- */

static void test_spec_validation(void **state)
{
	static const char *bad[] = {
	    "1x4x4|maxpool 5 2|flatten|dense f 2",    /* window larger than the input */
	    "1x2x2|conv c 1 3 2 0|flatten|dense f 2", /* kernel larger than the padded input */
	    "1x4x4|conv c 1 3 1 0|dense f 2",	      /* dense on a spatial input */
	    "1x4x4|flatten|dense a 3|conv c 1 1 1 0|flatten|dense f 2",
	    "1x4x4|flatten|dense a 3|relu",	 /* does not end with dense */
	    "1x4x4|flatten|dense a 3|dense a 2", /* duplicate name */
	    "1x4x4|flatten|dropout 1.0|dense f 2",
	    "1x4x4|flatten|softmax|dense f 2",
	    "1x4x4|flatten|dense f 0",
	    "1x4x4|conv c 2 3 0 0|flatten|dense f 2", /* stride 0 */
	    "4x4|flatten|dense f 2",
	    "",
	};
	struct nn_model m;
	char err[ERRBUF];
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = 0;
		if (!nn_build_spec(&m, "custom", bad[i], err, sizeof err)) {
			nn_free(&m);
			fail_msg("spec '%s' accepted; expected an error", bad[i]);
		}
		if (strlen(err) < 20 || !strstr(err, "architecture"))
			fail_msg("spec '%s': unhelpful message '%s'", bad[i], err);
	}
	/* the named architectures and their parameter counts (as in PyTorch) */
	static const struct {
		const char *arch;
		int c, h, w;
		size_t nparams;
	} named[] = {
	    {"mlp", 1, 28, 28, 669706}, {"lenet5", 1, 28, 28, 61706}, {"cnn", 3, 32, 32, 1116970}};
	for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
		assert_non_null(nn_arch_spec(named[i].arch));
		assert_int_equal(
		    nn_build_spec(&m, named[i].arch, nn_arch_spec(named[i].arch), err, sizeof err),
		    0);
		assert_int_equal(m.nparams, named[i].nparams);
		assert_int_equal(m.in_c, named[i].c);
		assert_int_equal(m.in_h, named[i].h);
		assert_int_equal(m.in_w, named[i].w);
		assert_int_equal(m.nclass, 10);
		assert_int_equal(nn_last_param_layer(&m), m.nlayers - 1);
		nn_free(&m);
	}
	assert_null(nn_arch_spec("resnet"));
	struct rng r;
	rng_seed(&r, 1);
	assert_int_equal(nn_create(&m, "lenet5", 3, 32, 32, 10, &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "lenet5"));
	assert_int_equal(nn_create(&m, "resnet", 3, 32, 32, 10, &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "resnet"));
	/* named views */
	assert_int_equal(nn_create(&m, "lenet5", 1, 28, 28, 10, &r, err, sizeof err), 0);
	size_t n = 0;
	int conv2 = nn_find_layer(&m, "conv2");
	assert_int_equal(conv2, 3);
	assert_true(nn_param(&m, "conv2.weight", &n) == m.params + m.layers[conv2].w_off);
	assert_int_equal(n, 16 * 6 * 5 * 5);
	assert_true(nn_grad(&m, "fc3.bias", &n) == m.grads + m.nparams - 10);
	assert_int_equal(n, 10);
	assert_null(nn_param(&m, "fc3.gamma", &n));
	assert_null(nn_param(&m, "fc9.weight", &n));
	assert_null(nn_param(&m, "fc3", &n));
	nn_free(&m);
}

/* A max-pool placed after a layer whose output is not channel-major (a
 * first relu, a dense layer) must be rejected or computed correctly: each
 * spec must give the logits of an equivalent spec (ReLU and max-pool commute;
 * a 1x1 pool is the identity). */
static void test_pool_after_flat_layer(void **state)
{
	static const char *pairs[][2] = {
	    {"2x4x4|relu|maxpool 2 2|flatten|dense f 3",
	     "2x4x4|maxpool 2 2|relu|flatten|dense f 3"},
	    {"4x1x1|dense a 4|maxpool 1 1|flatten|dense f 3", "4x1x1|dense a 4|flatten|dense f 3"},
	};
	struct nn_model a, b;
	struct rng r;
	char err[ERRBUF];
	float x[3 * 32], za[9];
	(void)state;
	for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
		assert_int_equal(nn_build_spec(&b, "custom", pairs[p][1], err, sizeof err), 0);
		rng_seed(&r, 77);
		nn_init_params(&b, &r);
		for (int i = 0; i < 96; i++)
			x[i] = (float)(2 * rng_uniform(&r) - 1);
		if (nn_build_spec(&a, "custom", pairs[p][0], err, sizeof err) == 0) {
			assert_int_equal(a.nparams, b.nparams);
			memcpy(a.params, b.params, b.nparams * sizeof(float));
			memcpy(za, nn_forward(&a, x, 3, 0, NULL), sizeof za);
			const float *zb = nn_forward(&b, x, 3, 0, NULL);
			for (int k = 0; k < 9; k++)
				if (fabsf(za[k] - zb[k]) > 1e-6f)
					fail_msg("'%s' gives logit[%d] %.7g but '%s' gives %.7g "
						 "(layout mix-up)",
						 pairs[p][0], k, za[k], pairs[p][1], zb[k]);
			nn_free(&a);
		}
		nn_free(&b);
	}
}

/* One backward pass of m on (x, y) into grads and dx. zero_all: every
 * activation gradient really zeroed first (nn_dact on each, and dinput's
 * buffer), so that every layer adds into zeros, each pair of ReLU and
 * max-pool as two layers: the engine before it marked buffers stale.
 * Otherwise the stale buffers are filled with NaN, so that a layer reading
 * one instead of writing it shows. hook >= 0 adds 0.25 to every gradient of
 * that layer's output through nn_dact. */
static void stale_pass(struct nn_model *m, const float *x, const int *y, int B, int want_dx,
		       int zero_all, int hook, float *grads, float *dx)
{
	struct rng r;
	size_t nin = nn_in_size(m) * (size_t)B;
	rng_seed(&r, 4242);
	m->want_dinput = want_dx;
	nn_forward(m, x, B, 1, &r);
	nn_zero_act_grads(m);
	for (int i = 0; i < m->nlayers; i++) {
		size_t n = nn_out_size(&m->layers[i]) * (size_t)B;
		if (zero_all)
			nn_dact(m, i);
		else
			for (size_t k = 0; k < n; k++)
				m->dacts[i][k] = NAN;
	}
	for (size_t k = 0; k < nin; k++)
		m->dinput_cm[k] = zero_all ? 0.0f : NAN;
	if (zero_all)
		m->dstale[NN_MAXLAYERS] = 0;
	if (hook >= 0) {
		float *d = nn_dact(m, hook);
		for (size_t k = 0; k < nn_out_size(&m->layers[hook]) * (size_t)B; k++)
			d[k] += 0.25f * (float)(k % 7) - 0.75f;
	}
	nn_loss_xent(m, y, 1.0);
	nn_zero_grads(m);
	nn_backward(m);
	memcpy(grads, m->grads, m->nparams * sizeof(float));
	if (want_dx)
		memcpy(dx, m->dinput, nin * sizeof(float));
}

/* A ReLU followed by a 2x2 max-pool runs as one pass: the same bits as the
 * layers apart (a dropout of 0, the identity in evaluation mode, keeps them
 * apart), after convolutions in the default mode and on the direct kernels,
 * odd and even planes, one and two channels in, batches of 1 and 7. */
static void test_relu_pool_fused_forward(void **state)
{
	static const char *pairs[][2] = {
	    {"1x12x12|conv c 3 5 1 2|relu|maxpool 2 2|flatten|dense d 4",
	     "1x12x12|conv c 3 5 1 2|dropout 0|relu|dropout 0|maxpool 2 2|flatten|dense d 4"},
	    {"2x11x9|conv c 4 3 1 1|relu|maxpool 2 2|conv e 5 3 1 0|relu|maxpool 2 2|flatten|"
	     "dense d 3",
	     "2x11x9|conv c 4 3 1 1|relu|dropout 0|maxpool 2 2|conv e 5 3 1 0|relu|dropout 0|"
	     "maxpool 2 2|flatten|dense d 3"},
	    {"lenet5",
	     "1x28x28|conv conv1 6 5 1 2|relu|dropout 0|maxpool 2 2|conv conv2 16 5 1 0|relu|"
	     "dropout 0|maxpool 2 2|flatten|dense fc1 120|relu|dense fc2 84|relu|dense fc3 10"},
	};
	static const enum nn_conv_mode modes[] = {NN_CONV_AUTO, NN_CONV_DIRECT};
	(void)state;
	for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++)
		for (size_t md = 0; md < 2; md++)
			for (int B = 1; B <= 7; B += 6) {
				struct nn_model a, b;
				struct rng r;
				char err[ERRBUF];
				rng_seed(&r, 31 + p);
				int named = !strchr(pairs[p][0], '|');
				int rc = named ? nn_create(&a, pairs[p][0], 1, 28, 28, 10, &r, err,
							   sizeof err)
					       : nn_build_spec(&a, "custom", pairs[p][0], err,
							       sizeof err);
				if (rc || nn_build_spec(&b, "custom", pairs[p][1], err, sizeof err))
					fail_msg("%s: %s", pairs[p][0], err);
				if (!named)
					nn_init_params(&a, &r);
				assert_int_equal(a.nparams, b.nparams);
				memcpy(b.params, a.params, a.nparams * sizeof(float));
				size_t nin = nn_in_size(&a) * (size_t)B;
				float *x = xmalloc(nin * sizeof(float));
				for (size_t k = 0; k < nin; k++)
					x[k] = (float)(2 * rng_uniform(&r) - 1);
				nn_conv_mode = modes[md];
				nn_forward(&a, x, B, 0, NULL);
				nn_forward(&b, x, B, 0, NULL);
				nn_conv_mode = NN_CONV_AUTO;
				if (md)
					assert_int_equal(a.conv_direct[0], CD_PLANE);
				/* each layer of a against its twin in b */
				for (int i = 0, j = 0; i < a.nlayers; i++, j++) {
					if (b.layers[j].kind == NN_DROPOUT)
						j++;
					size_t n = nn_out_size(&a.layers[i]) * (size_t)B;
					if (memcmp(a.acts[i], b.acts[j], n * sizeof(float)))
						fail_msg(
						    "%s, mode %zu, batch %d: layer %d (%s) differs "
						    "from the layers apart",
						    pairs[p][0], md, B, i, a.layers[i].name);
					if (a.layers[i].kind == NN_MAXPOOL)
						assert_memory_equal(a.pool_idx[i], b.pool_idx[j],
								    n * sizeof(int));
				}
				free(x);
				nn_free(&a);
				nn_free(&b);
			}
}

/* The 2x2 stride-2 max-pool (alone and after a ReLU), forward and backward,
 * against a plain scalar reference written here: every output, argmax and
 * ReLU output, and every input gradient (written over NaN, and added into
 * non-zero values), bit for bit. Planes with rows of 8 to 20 windows (the
 * vector path, lenet5's 14 among them; 9 and 13 make the last block
 * overlap), odd last rows and columns, rows of fewer than 8 windows (the
 * scalar path: lenet5's 5, and 4, 6 and 7); values from a handful of levels, so that windows hold
 * ties (the first maximum wins), with -0.0f, and NaN in the pool-alone case. */
static void pool2_ref(const float *ip, int H, int W, float *o, int *x)
{
	for (int oh = 0; oh < H / 2; oh++)
		for (int ow = 0; ow < W / 2; ow++) {
			int best = 2 * oh * W + 2 * ow;
			for (int k = 1; k < 4; k++) {
				int q = (2 * oh + k / 2) * W + 2 * ow + k % 2;
				if (ip[q] > ip[best])
					best = q;
			}
			o[oh * (W / 2) + ow] = ip[best];
			x[oh * (W / 2) + ow] = best;
		}
}

static void test_pool2_reference(void **state)
{
	static const int shapes[][2] = {{2, 16}, {3, 17}, {28, 28}, {5, 18}, {4, 26},
					{7, 40}, {6, 33}, {10, 10}, {9, 15}, {8, 8},
					{5, 13}, {4, 6},  {2, 2}};
	static const float levels[] = {-1.0f, -0.0f, 0.0f, 0.25f, 0.5f, 1.0f, 2.0f};
	enum { B = 3, C = 2 };
	(void)state;
	for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
		int H = shapes[sh][0], W = shapes[sh][1], OH = H / 2, OW = W / 2;
		struct nn_layer pl = {.kind = NN_MAXPOOL,
				      .in_c = C,
				      .in_h = H,
				      .in_w = W,
				      .out_c = C,
				      .out_h = OH,
				      .out_w = OW,
				      .k = 2,
				      .stride = 2};
		size_t hw = (size_t)H * W, po = (size_t)OH * OW, n = hw * B * C, no = po * B * C;
		float *in = xmalloc(n * sizeof(float)), *r = xmalloc(n * sizeof(float));
		float *rr = xmalloc(n * sizeof(float)), *d = xmalloc(n * sizeof(float));
		float *dr = xmalloc(n * sizeof(float)), *o = xmalloc(no * sizeof(float));
		float * or = xmalloc(no * sizeof(float)), *g = xmalloc(no * sizeof(float));
		int *x = xmalloc(no * sizeof(int)), *xr = xmalloc(no * sizeof(int));
		struct rng rg;
		rng_seed(&rg, 77 + sh);
		for (int relu = 0; relu < 2; relu++) {
			for (size_t k = 0; k < n; k++)
				in[k] = levels[rng_below(&rg, 7)];
			if (!relu)
				in[rng_below(&rg, (uint32_t)n)] = NAN;
			for (size_t k = 0; k < no; k++)
				g[k] = k % 5 == 0 ? -0.0f : (float)(rng_uniform(&rg) - 0.5);
			for (size_t k = 0; k < n; k++)
				rr[k] = relu ? (in[k] > 0 ? in[k] : 0) : in[k];
			for (size_t p = 0; p < (size_t)B * C; p++)
				pool2_ref(rr + p * hw, H, W, or +p * po, xr + p * po);
			if (relu)
				nn_relu_pool_forward(&pl, B, in, r, o, x);
			else
				nn_maxpool_forward(&pl, B, in, o, x);
			if (relu && memcmp(r, rr, n * sizeof(float)))
				fail_msg("%dx%d: the ReLU's output differs from the reference", H,
					 W);
			if (memcmp(o, or, no * sizeof(float)) || memcmp(x, xr, no * sizeof(int)))
				fail_msg("%dx%d%s: the pool's output or argmax differs from the "
					 "reference",
					 H, W, relu ? " after a ReLU" : "");
			if (!relu)
				continue;
			/* the ReLU's output not stored (rout NULL): the same pool */
			memset(o, 0xff, no * sizeof(float));
			memset(x, 0xff, no * sizeof(int));
			nn_relu_pool_forward(&pl, B, in, NULL, o, x);
			if (memcmp(o, or, no * sizeof(float)) || memcmp(x, xr, no * sizeof(int)))
				fail_msg("%dx%d: without the ReLU's output stored, the pool's "
					 "output or argmax differs from the reference",
					 H, W);
			for (int set = 0; set < 2; set++) {
				for (size_t k = 0; k < n; k++) { /* reference: add into d */
					dr[k] = set ? 0.0f : (float)(rng_uniform(&rg) - 0.5);
					d[k] = set ? NAN : dr[k];
					dr[k] += 0.0f;
				}
				for (size_t p = 0; p < (size_t)B * C; p++)
					for (size_t k = 0; k < po; k++) {
						size_t q = p * hw + (size_t)xr[p * po + k];
						if (rr[q] > 0)
							dr[q] += 0.0f + g[p * po + k];
					}
				nn_relu_pool_backward(&pl, B, o, g, x, d, set);
				if (memcmp(d, dr, n * sizeof(float)))
					fail_msg("%dx%d: the input gradient (%s) differs from the "
						 "reference",
						 H, W, set ? "written" : "added");
			}
		}
		free(in);
		free(r);
		free(rr);
		free(d);
		free(dr);
		free(o);
		free(or);
		free(g);
		free(x);
		free(xr);
	}
}

/* A convolution's bias gradient is the sum of its output gradient's plane
 * (B * OH * OW floats) in eight float lanes per block of 1024, blocks added
 * in double in order: bit for bit, over four blocks side by side and a tail
 * (11 samples of 20x20: 4,400 floats, one group of four blocks, a block of
 * 304), on every convolution path. The direct plane kernel sums it while it
 * copies dout, sample by sample (planes of a multiple of 8 floats: 20x20 and
 * 28x28, with 2, 6 and 9 channels, four at a time and a remainder; batches of
 * 1, 11, 64 and 66); the others (21x21, and the sgemm path) sum it apart. */
static void test_bias_grad_order(void **state)
{
	static const struct {
		const char *spec;
		int B, mode, plane; /* plane: the direct plane kernel must be taken */
	} cases[] = {
	    {"1x20x20|conv c 2 3 1 1|flatten|dense d 3", 11, NN_CONV_AUTO, 1},
	    {"1x20x20|conv c 2 3 1 1|flatten|dense d 3", 11, NN_CONV_GEMM, 0},
	    {"1x28x28|conv c 6 5 1 2|flatten|dense d 3", 64, NN_CONV_AUTO, 1},
	    {"1x28x28|conv c 6 5 1 2|flatten|dense d 3", 66, NN_CONV_AUTO, 1},
	    {"1x28x28|conv c 9 5 1 2|flatten|dense d 3", 1, NN_CONV_AUTO, 1},
	    {"2x20x20|conv c 9 3 1 1|flatten|dense d 3", 13, NN_CONV_AUTO, 1},
	    {"1x21x21|conv c 6 3 1 1|flatten|dense d 3", 11, NN_CONV_AUTO, 1},
	};
	(void)state;
	for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
		struct gcase g;
		nn_conv_mode = (enum nn_conv_mode)cases[t].mode;
		gcase_init(&g, cases[t].spec, 61 + t, cases[t].B, 0, 0);
		struct nn_model *m = &g.m;
		const struct nn_layer *l = &m->layers[0];
		nn_forward(m, g.x, g.B, 0, NULL);
		nn_zero_act_grads(m);
		nn_loss_xent(m, g.y, 1.0);
		nn_zero_grads(m);
		nn_backward(m);
		nn_conv_mode = NN_CONV_AUTO;
		if (cases[t].plane && cd_cpu_ok())
			assert_int_equal(m->conv_direct[0], CD_PLANE);
		size_t np = (size_t)g.B * l->out_h * l->out_w;
		const float *db = m->grads + l->b_off;
		for (int oc = 0; oc < l->out_c; oc++) {
			const float *d = m->dacts[0] + oc * np;
			double s = 0;
			for (size_t i0 = 0; i0 < np; i0 += 1024) {
				size_t e = i0 + 1024 < np ? i0 + 1024 : np, i = i0;
				float a[8] = {0};
				for (; i + 8 <= e; i += 8)
					for (int k = 0; k < 8; k++)
						a[k] += d[i + k];
				for (; i < e; i++)
					a[0] += d[i];
				s += (double)a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
			}
			float want = (float)s;
			if (memcmp(&db[oc], &want, sizeof want))
				fail_msg("%s, batch %d: bias gradient %d is %.9g; one block at a "
					 "time gives %.9g",
					 cases[t].spec, g.B, oc, db[oc], want);
		}
		gcase_free(&g);
	}
}

/* The direct kernels' forward pass, bit for bit, against a scalar model of
 * their order: each output starts from its bias and adds w * x by fmaf over
 * the input channels, then the kernel's rows, then its columns. Both kernels
 * (plane: lenet5's conv1; channels: its conv2, whose K = 5 block is
 * unrolled) and a 3x3 and 7x7 case of each. */
static void test_forward_order(void **state)
{
	static const struct {
		const char *spec;
		int B, kind;
	} cases[] = {
	    {"1x28x28|conv c 6 5 1 2|flatten|dense d 3", 9, CD_PLANE},
	    {"6x14x14|conv c 16 5 1 0|flatten|dense d 3", 7, CD_CHAN},
	    {"3x9x17|conv c 5 3 1 1|flatten|dense d 3", 3, CD_PLANE},
	    {"5x11x9|conv c 16 3 1 1|flatten|dense d 3", 4, CD_CHAN},
	    {"2x12x12|conv c 8 7 1 2|flatten|dense d 3", 2, CD_CHAN},
	};
	(void)state;
	if (!cd_cpu_ok())
		skip();
	for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
		struct gcase g;
		nn_conv_mode = NN_CONV_DIRECT;
		gcase_init(&g, cases[t].spec, 91 + t, cases[t].B, 0, 0);
		nn_forward(&g.m, g.x, g.B, 0, NULL);
		nn_conv_mode = NN_CONV_AUTO;
		const struct nn_layer *l = &g.m.layers[0];
		assert_int_equal(g.m.conv_direct[0], cases[t].kind);
		int K = l->k, P = l->pad, C = l->in_c, H = l->in_h, W = l->in_w;
		int OC = l->out_c, OH = l->out_h, OW = l->out_w, B = g.B;
		const float *w = g.m.params + l->w_off, *bias = g.m.params + l->b_off;
		for (int oc = 0; oc < OC; oc++)
			for (int b = 0; b < B; b++)
				for (int oh = 0; oh < OH; oh++)
					for (int ow = 0; ow < OW; ow++) {
						float a = bias[oc];
						for (int c = 0; c < C; c++)
							for (int ki = 0; ki < K; ki++)
								for (int kj = 0; kj < K; kj++) {
									int y = oh + ki - P,
									    x = ow + kj - P;
									float xv =
									    y >= 0 && y < H &&
										    x >= 0 && x < W
										? g.x[(((size_t)b *
											    C +
											c) *
											   H +
										       y) *
											  W +
										      x]
										: 0.0f;
									a = fmaf(
									    w[(((size_t)oc * C +
										c) *
										   K +
									       ki) *
										  K +
									      kj],
									    xv, a);
								}
						float got =
						    g.m.acts[0]
							    [(((size_t)oc * B + b) * OH + oh) * OW +
							     ow];
						if (memcmp(&got, &a, sizeof a))
							fail_msg("%s: output (%d, %d, %d, %d) is "
								 "%.9g; the "
								 "kernels' order gives %.9g",
								 cases[t].spec, oc, b, oh, ow, got,
								 a);
					}
		gcase_free(&g);
	}
}

/* The plane kernel's weight gradient, bit for bit, against a scalar model of
 * its order: the output positions run as one flat plane as wide as the padded
 * input (p = oh * Wp + ow, rounded up to 16 positions), lane p % 8 of each
 * (oc, c, ki, kj) sums g * x by fmaf over p and then over the samples, zero
 * gradients included, and the lanes are added in pairs at the end. */
static void test_weight_grad_order(void **state)
{
	static const struct {
		const char *spec;
		int B;
	} cases[] = {
	    {"1x28x28|conv c 6 5 1 2|flatten|dense d 3", 64}, /* Wp 32, OW 28 */
	    {"1x28x28|conv c 5 5 1 2|flatten|dense d 3", 7},  /* odd OC */
	    {"1x14x12|conv c 2 3 1 2|flatten|dense d 3", 5},  /* Wp 16, OW 14, OH 16 */
	    {"1x30x17|conv c 2 5 1 0|flatten|dense d 3", 9},  /* Wp 17 */
	    {"1x20x20|conv c 4 7 1 2|flatten|dense d 3", 3},  /* Wp 24, OW 18 */
	};
	(void)state;
	if (!cd_cpu_ok())
		skip();
	for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
		struct gcase g;
		nn_conv_mode = NN_CONV_DIRECT; /* the plane kernel for every case */
		gcase_init(&g, cases[t].spec, 71 + t, cases[t].B, 0, 0);
		struct nn_model *m = &g.m;
		const struct nn_layer *l = &m->layers[0];
		nn_forward(m, g.x, g.B, 0, NULL);
		nn_zero_act_grads(m);
		nn_loss_xent(m, g.y, 1.0);
		nn_zero_grads(m);
		nn_backward(m);
		nn_conv_mode = NN_CONV_AUTO;
		assert_int_equal(m->conv_direct[0], CD_PLANE);
		int K = l->k, P = l->pad, H = l->in_h, W = l->in_w, OH = l->out_h, OW = l->out_w;
		int Wp = W + 2 * P, Hp = H + 2 * P, np = (OH * Wp + 15) / 16 * 16, B = g.B;
		size_t S = (size_t)OH * OW;
		const float *dw = m->grads + l->w_off;
		for (int oc = 0; oc < l->out_c; oc++)
			for (int ki = 0; ki < K; ki++)
				for (int kj = 0; kj < K; kj++) {
					float a[8] = {0};
					for (int b = 0; b < B; b++)
						for (int p = 0; p < np; p++) {
							int oh = p / Wp, ow = p % Wp;
							int q = p + ki * Wp + kj, y = q / Wp - P,
							    x = q % Wp - P;
							float gv =
							    oh < OH && ow < OW
								? m->dacts[0][((size_t)oc * B + b) *
										  S +
									      (size_t)oh * OW + ow]
								: 0.0f;
							float xv =
							    q < Hp * Wp && y >= 0 && y < H &&
								    x >= 0 && x < W
								? g.x[((size_t)b * H + y) * W + x]
								: 0.0f;
							a[p % 8] = fmaf(gv, xv, a[p % 8]);
						}
					float want = 0.0f + (((a[0] + a[1]) + (a[2] + a[3])) +
							     ((a[4] + a[5]) + (a[6] + a[7])));
					float got = dw[((size_t)oc * K + ki) * K + kj];
					if (memcmp(&got, &want, sizeof got))
						fail_msg(
						    "%s, batch %d: weight gradient (%d, %d, %d) is "
						    "%.9g; the plane kernel's order gives %.9g",
						    cases[t].spec, B, oc, ki, kj, got, want);
				}
		gcase_free(&g);
	}
}

/* Each layer's written input gradient (set, into a buffer of NaN) has the
 * bits of its input gradient added into zeros, -0.0f in dout included
 * (0.0f + -0.0f is +0.0f): ReLU, ReLU with max-pool (even and odd planes),
 * flatten (both layouts), dropout (both modes), dense. */
static void test_set_bits(void **state)
{
	enum { B = 3, C = 2, H = 5, W = 6, N = B * C * H * W };
	struct nn_layer pl = {.kind = NN_MAXPOOL,
			      .in_c = C,
			      .in_h = H,
			      .in_w = W,
			      .out_c = C,
			      .out_h = 2,
			      .out_w = 3,
			      .k = 2,
			      .stride = 2};
	struct nn_layer fl = {.kind = NN_FLATTEN,
			      .in_c = C,
			      .in_h = H,
			      .in_w = W,
			      .out_c = C * H * W,
			      .out_h = 1,
			      .out_w = 1};
	struct nn_layer dl = {.kind = NN_DROPOUT, .p = 0.5f};
	static float in[N], rout[N], dout[N], pout[N], a[N], b[N];
	static int idx[N];
	static uint8_t mask[N];
	struct rng r;
	(void)state;
	rng_seed(&r, 5);
	for (int k = 0; k < N; k++) {
		in[k] = (float)(2 * rng_uniform(&r) - 1);
		dout[k] = k % 3 == 0 ? -0.0f : (float)(rng_uniform(&r) - 0.5);
		mask[k] = (uint8_t)(k % 2);
	}
	nn_relu_pool_forward(&pl, B, in, rout, pout, idx);
	for (int pass = 0; pass < 7; pass++) {
		for (int k = 0; k < N; k++) {
			a[k] = 0.0f;
			b[k] = NAN;
		}
		for (int set = 0; set < 2; set++) {
			float *d = set ? b : a;
			switch (pass) {
			case 0:
				nn_relu_backward(d, in, dout, N, set);
				break;
			case 1:
				nn_relu_pool_backward(&pl, B, pout, dout, idx, d, set);
				break;
			case 2:
				nn_flatten_backward(&fl, B, 1, dout, d, set);
				break;
			case 3:
				nn_flatten_backward(&fl, B, 0, dout, d, set);
				break;
			case 4:
				nn_dropout_backward(&dl, 1, mask, dout, d, N, set);
				break;
			case 5:
				nn_dropout_backward(&dl, 0, mask, dout, d, N, set);
				break;
			case 6:
				nn_maxpool_backward(&pl, B, dout, idx, d, set);
				break;
			}
		}
		for (int k = 0; k < N; k++)
			if (memcmp(&a[k], &b[k], sizeof(float)))
				fail_msg("layer %d: written input gradient %d is %g, added into "
					 "zeros %g",
					 pass, k, b[k], a[k]);
	}
}

/* nn_zero_act_grads only marks the buffers (nn.h), the layers then write
 * instead of adding, and a ReLU with a 2x2 max-pool runs as one pass each
 * way: the same bits as adding into zeroed buffers layer by layer, with and
 * without the input gradient, with a hook on a layer (which makes its
 * buffer live: the fused pass then adds into it or is not taken), on odd
 * planes (a row and a column outside every window), dropout, channel-major
 * inputs and the named models. */
static void test_stale_act_grads(void **state)
{
	static const struct {
		const char *spec; /* or a named model, 1x28x28 */
		int hooks[3];	  /* layers to hook, -1 ends */
	} cases[] = {
	    {"1x9x9|conv c1 3 3 1 1|relu|maxpool 2 2|conv c2 4 3 1 0|relu|maxpool 2 2|flatten|"
	     "dense d1 6|relu|dropout 0.5|dense d2 5",
	     {0, 1, 7}},
	    {"3x8x7|conv c1 4 3 1 1|relu|maxpool 2 2|flatten|dense d 5", {0, 1, -1}},
	    {"2x5x6|conv c 3 1 1 0|relu|maxpool 2 2|flatten|dense d 4", {0, 1, -1}},
	    {"1x6x6|conv c 2 3 1 1|relu|maxpool 3 2|relu|maxpool 2 2|flatten|dense d 3",
	     {1, 3, -1}},
	    {"lenet5", {0, 1, 3}},
	    {"mlp", {0, 1, -1}},
	};
	(void)state;
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		struct nn_model m;
		struct rng r;
		char err[ERRBUF];
		int B = 5;
		rng_seed(&r, 99 + c);
		int named = !strchr(cases[c].spec, '|');
		int rc = named ? nn_create(&m, cases[c].spec, 1, 28, 28, 10, &r, err, sizeof err)
			       : nn_build_spec(&m, "custom", cases[c].spec, err, sizeof err);
		if (rc)
			fail_msg("%s: %s", cases[c].spec, err);
		if (!named)
			nn_init_params(&m, &r);
		size_t nin = nn_in_size(&m) * (size_t)B, P = m.nparams;
		float *x = xmalloc(nin * sizeof(float)), *ga = xmalloc(P * sizeof(float));
		float *gb = xmalloc(P * sizeof(float)), *xa = xmalloc(nin * sizeof(float));
		float *xb = xmalloc(nin * sizeof(float));
		int y[5];
		for (size_t k = 0; k < nin; k++)
			x[k] = (float)(2 * rng_uniform(&r) - 1);
		for (int b = 0; b < B; b++)
			y[b] = (int)rng_below(&r, (uint32_t)m.nclass);
		for (int h = -1; h < 3 && (h < 0 || cases[c].hooks[h] >= 0); h++)
			for (int want = 0; want < 2; want++) {
				int hook = h < 0 ? -1 : cases[c].hooks[h];
				stale_pass(&m, x, y, B, want, 1, hook, ga, xa);
				stale_pass(&m, x, y, B, want, 0, hook, gb, xb);
				for (size_t k = 0; k < P; k++)
					if (memcmp(&ga[k], &gb[k], sizeof(float)))
						fail_msg(
						    "%s, hook %d, input gradient %d: parameter "
						    "gradient %zu is %.9g after zeroing, %.9g "
						    "from stale buffers",
						    cases[c].spec, hook, want, k, ga[k], gb[k]);
				for (size_t k = 0; want && k < nin; k++)
					if (memcmp(&xa[k], &xb[k], sizeof(float)))
						fail_msg("%s, hook %d: input gradient %zu is %.9g "
							 "after zeroing, %.9g from stale buffers",
							 cases[c].spec, hook, k, xa[k], xb[k]);
			}
		free(x);
		free(ga);
		free(gb);
		free(xa);
		free(xb);
		nn_free(&m);
	}
}

/* ---- optimisers ------------------------------------------------------------- */

/* PyTorch's update rules, in double, one element at a time. */
struct ref_opt {
	struct nn_opt o;
	double m1[8], m2[8];
	long t;
};

static void ref_step(struct ref_opt *r, double *p, const double *g0, int n, double lr)
{
	const struct nn_opt *o = &r->o;
	double g[8], cs = 1;
	r->t++;
	if (o->grad_clip > 0) { /* torch.nn.utils.clip_grad_norm_ */
		double ss = 0;
		for (int i = 0; i < n; i++)
			ss += g0[i] * g0[i];
		cs = fmin(1.0, o->grad_clip / (sqrt(ss) + 1e-6));
	}
	for (int i = 0; i < n; i++)
		g[i] = g0[i] * cs + o->weight_decay * p[i];
	for (int i = 0; i < n; i++) {
		switch (o->kind) {
		case OPT_SGD: /* torch.optim.SGD, dampening 0 */
			if (o->momentum != 0) {
				r->m1[i] = r->t == 1 ? g[i] : o->momentum * r->m1[i] + g[i];
				g[i] = o->nesterov ? g[i] + o->momentum * r->m1[i] : r->m1[i];
			}
			p[i] -= lr * g[i];
			break;
		case OPT_ADAM: { /* torch.optim.Adam, amsgrad off */
			r->m1[i] = o->beta1 * r->m1[i] + (1 - o->beta1) * g[i];
			r->m2[i] = o->beta2 * r->m2[i] + (1 - o->beta2) * g[i] * g[i];
			double bc1 = 1 - pow(o->beta1, (double)r->t);
			double bc2 = 1 - pow(o->beta2, (double)r->t);
			double denom = sqrt(r->m2[i]) / sqrt(bc2) + o->eps;
			p[i] -= lr / bc1 * r->m1[i] / denom;
			break;
		}
		case OPT_RMSPROP: /* torch.optim.RMSprop, alpha = beta2, not centred */
			r->m2[i] = o->beta2 * r->m2[i] + (1 - o->beta2) * g[i] * g[i];
			p[i] -= lr * g[i] / (sqrt(r->m2[i]) + o->eps);
			break;
		}
	}
}

struct opt_case {
	const char *kind;
	double lr, momentum, weight_decay, eps, grad_clip;
	int nesterov;
};

static void run_opt_case(const struct opt_case *c)
{
	static const double grads[5][6] = {
	    {0.5, -0.25, 0.0, 1.5, -2.0, 0.125},   {0.4, 0.3, -0.1, 1.0, -1.0, 0.0},
	    {-0.2, -0.25, 0.2, 0.5, 3.0, -0.5},	   {0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
	    {1e-3, -1e-4, 2.0, -0.75, 0.01, 0.25},
	};
	struct nn_model m;
	struct nn_opt o;
	struct ref_opt r;
	char err[ERRBUF];
	double p[6] = {0.3, -0.7, 1.2, 0.0, -0.05, 2.0};

	assert_int_equal(nn_build_spec(&m, "custom", "1x1x1|dense d 3", err, sizeof err), 0);
	assert_int_equal(m.nparams, 6);
	for (int i = 0; i < 6; i++)
		m.params[i] = (float)p[i];
	assert_int_equal(nn_opt_init(&o, c->kind, c->lr, m.nparams), 0);
	o.momentum = c->momentum;
	o.nesterov = c->nesterov;
	o.weight_decay = c->weight_decay;
	o.grad_clip = c->grad_clip;
	if (c->eps > 0)
		o.eps = c->eps;
	memset(&r, 0, sizeof r);
	r.o = o;
	for (int s = 0; s < 5; s++) {
		for (int i = 0; i < 6; i++)
			m.grads[i] = (float)grads[s][i];
		nn_opt_step(&o, &m, 0);
		ref_step(&r, p, grads[s], 6, c->lr);
		for (int i = 0; i < 6; i++)
			if (fabs(m.params[i] - p[i]) > 2e-6 + 1e-5 * fabs(p[i]))
				fail_msg("%s (mom %g nesterov %d wd %g eps %g clip %g) step %d "
					 "param %d: %.9g; expected %.9g",
					 c->kind, c->momentum, c->nesterov, c->weight_decay, o.eps,
					 c->grad_clip, s + 1, i, m.params[i], p[i]);
	}
	nn_opt_free(&o);
	nn_free(&m);
}

static void test_opt_sgd(void **state)
{
	static const struct opt_case cases[] = {
	    {"sgd", 0.1, 0, 0, 0, 0, 0},      {"sgd", 0.1, 0.9, 0, 0, 0, 0},
	    {"sgd", 0.1, 0.9, 0, 0, 0, 1},    {"sgd", 0.05, 0, 0.1, 0, 0, 0},
	    {"sgd", 0.05, 0.8, 0.1, 0, 0, 1}, {"sgd", 0.1, 0.9, 0.01, 0, 1.0, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_opt_case(&cases[i]);
}

static void test_opt_adam(void **state)
{
	static const struct opt_case cases[] = {
	    {"adam", 1e-2, 0, 0, 0, 0, 0},
	    {"adam", 1e-2, 0, 0.1, 0, 0, 0},
	    /* a large eps shows where eps enters (after bias correction) */
	    {"adam", 1e-1, 0, 0, 0.3, 0, 0},
	    {"adam", 1e-2, 0, 0, 0.3, 0.5, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_opt_case(&cases[i]);
}

static void test_opt_rmsprop(void **state)
{
	static const struct opt_case cases[] = {
	    {"rmsprop", 1e-2, 0, 0, 0, 0, 0},
	    {"rmsprop", 1e-2, 0, 0.1, 0, 0, 0},
	    {"rmsprop", 1e-2, 0, 0, 0.3, 0, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_opt_case(&cases[i]);
}

/* Hand-computed first steps: the numbers a reader can check on paper. */
static void test_opt_by_hand(void **state)
{
	struct nn_model m;
	struct nn_opt o;
	char err[ERRBUF];
	(void)state;
	assert_int_equal(nn_build_spec(&m, "custom", "1x1x1|dense d 1", err, sizeof err), 0);

	/* Adam: the first step moves every parameter by lr * sign(g) (eps aside) */
	m.params[0] = 1.0f;
	m.grads[0] = 0.37f;
	assert_int_equal(nn_opt_init(&o, "adam", 0.01, 2), 0);
	nn_opt_step(&o, &m, 0);
	assert_true(fabs(m.params[0] - 0.99) < 1e-6);
	/* step 2 with g = 0.37 again: m1/bc1 = 0.37, sqrt(m2/bc2) = 0.37 -> again lr */
	nn_opt_step(&o, &m, 0);
	assert_true(fabs(m.params[0] - 0.98) < 1e-6);
	nn_opt_free(&o);

	/* RMSprop: v = 0.01 g^2, p -= lr g / (0.1 |g|) = 10 lr sign(g) */
	m.params[0] = 1.0f;
	m.grads[0] = -2.0f;
	assert_int_equal(nn_opt_init(&o, "rmsprop", 0.01, 2), 0);
	assert_true(o.beta2 == 0.99);
	nn_opt_step(&o, &m, 0);
	assert_true(fabs(m.params[0] - 1.1) < 1e-6);
	nn_opt_free(&o);

	/* SGD, momentum 0.9, nesterov, wd 0.5: g' = 1 + 0.5 = 1.5, buf = 1.5,
	 * update g' + 0.9 buf = 2.85; p = 1 - 0.1 * 2.85 = 0.715 */
	m.params[0] = 1.0f;
	m.grads[0] = 1.0f;
	assert_int_equal(nn_opt_init(&o, "sgd", 0.1, 2), 0);
	o.momentum = 0.9;
	o.nesterov = 1;
	o.weight_decay = 0.5;
	nn_opt_step(&o, &m, 0);
	assert_true(fabs(m.params[0] - 0.715) < 1e-6);
	/* step 2, g = 1: g' = 1 + 0.5 * 0.715 = 1.3575, buf = 0.9 * 1.5 + 1.3575 = 2.7075,
	 * update 1.3575 + 0.9 * 2.7075 = 3.79425; p = 0.715 - 0.379425 = 0.335575 */
	nn_opt_step(&o, &m, 0);
	assert_true(fabs(m.params[0] - 0.335575) < 1e-6);
	nn_opt_free(&o);
	nn_free(&m);
}

static void test_opt_init_and_schedule(void **state)
{
	struct nn_opt o;
	(void)state;
	assert_int_equal(nn_opt_init(&o, "lbfgs", 0.1, 4), -1);
	assert_int_equal(nn_opt_init(&o, "adam", 0.1, 4), 0);
	assert_true(o.kind == OPT_ADAM && o.beta1 == 0.9 && o.beta2 == 0.999 && o.eps == 1e-8);
	assert_true(o.momentum == 0 && o.weight_decay == 0 && o.grad_clip == 0 && o.t == 0);
	for (int i = 0; i < 4; i++)
		assert_true(o.m1[i] == 0 && o.m2[i] == 0);
	assert_true(nn_opt_lr(&o, 7) == 0.1); /* no schedule */
	o.step_epochs = 3;
	o.gamma = 0.5;
	assert_true(fabs(nn_opt_lr(&o, 0) - 0.1) < 1e-15);
	assert_true(fabs(nn_opt_lr(&o, 2) - 0.1) < 1e-15);
	assert_true(fabs(nn_opt_lr(&o, 3) - 0.05) < 1e-15);
	assert_true(fabs(nn_opt_lr(&o, 6) - 0.025) < 1e-15);
	nn_opt_free(&o);

	/* the schedule reaches the update */
	struct nn_model m;
	char err[ERRBUF];
	assert_int_equal(nn_build_spec(&m, "custom", "1x1x1|dense d 1", err, sizeof err), 0);
	assert_int_equal(nn_opt_init(&o, "sgd", 0.1, m.nparams), 0);
	o.step_epochs = 2;
	o.gamma = 0.1;
	m.grads[0] = 1.0f;
	nn_opt_step(&o, &m, 2); /* lr 0.01 */
	assert_true(fabs(m.params[0] + 0.01) < 1e-7);
	nn_opt_free(&o);
	nn_free(&m);
}

/* ---- training ----------------------------------------------------------- */

static void tiny_dataset(struct dataset *d, int n, uint64_t seed)
{
	struct rng r;
	memset(d, 0, sizeof *d);
	strlcopy(d->name, "tiny", sizeof d->name);
	d->n = n;
	d->c = 1;
	d->h = d->w = 2;
	d->nclass = 2;
	d->x = xmalloc((size_t)n * 4);
	d->y = xmalloc((size_t)n);
	rng_seed(&r, seed);
	for (int i = 0; i < n; i++) {
		for (int k = 0; k < 4; k++)
			d->x[i * 4 + k] = (uint8_t)rng_below(&r, 256);
		d->y[i] = d->x[i * 4] > d->x[i * 4 + 3];
	}
}

static void test_train_learns(void **state)
{
	struct dataset d;
	struct nn_model m;
	struct nn_opt o;
	struct rng r;
	struct train_cfg cfg = {.epochs = 60, .batch = 16};
	char err[ERRBUF];
	uint32_t idx[256];
	double loss = -1;
	(void)state;
	tiny_dataset(&d, 256, 5);
	for (int i = 0; i < 256; i++)
		idx[i] = (uint32_t)i;
	assert_int_equal(
	    nn_build_spec(&m, "custom", "1x2x2|flatten|dense a 16|relu|dense b 2", err, sizeof err),
	    0);
	rng_seed(&r, 6);
	nn_init_params(&m, &r);
	double acc0 = nn_accuracy(&m, &d, NULL, 0);
	assert_int_equal(nn_opt_init(&o, "adam", 0.02, m.nparams), 0);
	if (nn_train(&m, &d, idx, 256, &cfg, &o, NULL, &r, &loss, err, sizeof err))
		fail_msg("nn_train: %s", err);
	double acc = nn_accuracy(&m, &d, NULL, 0);
	print_message("tiny task: accuracy %.3f -> %.3f, last loss %.4f\n", acc0, acc, loss);
	assert_true(acc > 0.95);
	assert_true(loss >= 0 && loss < 0.2);
	nn_opt_free(&o);

	/* a wild learning rate must be reported, not silently produce NaNs */
	assert_int_equal(nn_opt_init(&o, "sgd", 1e38, m.nparams), 0);
	cfg.epochs = 5;
	int rc = nn_train(&m, &d, idx, 256, &cfg, &o, NULL, &r, &loss, err, sizeof err);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, "diverged"));
	nn_opt_free(&o);
	nn_free(&m);
	free(d.x);
	free(d.y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fd_conv_relu_pool),
	    cmocka_unit_test(test_fd_stride_pad),
	    cmocka_unit_test(test_fd_overlapping_pool),
	    cmocka_unit_test(test_fd_pool_first),
	    cmocka_unit_test(test_fd_dense_dropout),
	    cmocka_unit_test(test_fd_dropout_chan_major),
	    cmocka_unit_test(test_fd_lenet_like),
	    cmocka_unit_test(test_fd_soft_targets),
	    cmocka_unit_test(test_fd_activation_hook),
	    cmocka_unit_test(test_loss_dlogits),
	    cmocka_unit_test(test_loss_soft_onehot),
	    cmocka_unit_test(test_accumulation),
	    cmocka_unit_test(test_frozen),
	    cmocka_unit_test(test_reinit_layer),
	    cmocka_unit_test(test_init_distribution),
	    cmocka_unit_test(test_dropout_forward),
	    cmocka_unit_test(test_fd_direct_conv),
	    cmocka_unit_test(test_fd_batch_dx),
	    cmocka_unit_test(test_batch_dx_per_sample),
	    cmocka_unit_test(test_direct_matches_gemm),
	    cmocka_unit_test(test_fd_wino),
	    cmocka_unit_test(test_wino_matches_gemm),
	    cmocka_unit_test(test_dx_blocks),
	    cmocka_unit_test(test_batch_independence),
	    cmocka_unit_test(test_spec_validation),
	    cmocka_unit_test(test_pool_after_flat_layer),
	    cmocka_unit_test(test_stale_act_grads),
	    cmocka_unit_test(test_set_bits),
	    cmocka_unit_test(test_bias_grad_order),
	    cmocka_unit_test(test_weight_grad_order),
	    cmocka_unit_test(test_forward_order),
	    cmocka_unit_test(test_relu_pool_fused_forward),
	    cmocka_unit_test(test_pool2_reference),
	    cmocka_unit_test(test_opt_sgd),
	    cmocka_unit_test(test_opt_adam),
	    cmocka_unit_test(test_opt_rmsprop),
	    cmocka_unit_test(test_opt_by_hand),
	    cmocka_unit_test(test_opt_init_and_schedule),
	    cmocka_unit_test(test_train_learns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
