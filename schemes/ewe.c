/* ewe.c - entangled watermarks (Jia, Choquette-Choo, Chandrasekaran,
 * Papernot; USENIX Security 2021; arXiv 2002.12200), written from the
 * section "ewe: entangled watermarks" of SCHEMES-WRT.md.
 *
 * SNNL. The soft nearest-neighbour loss of rows h_i with groups s_i is
 *   SNNL = -(1/N) sum_i log( sum_{j!=i, s_j=s_i} e^{-a d_ij} / sum_{k!=i} e^{-a d_ik} )
 * with the cosine distance d_ij = 1 - h_i.h_j/(|h_i||h_j|) and a = T/100 (the
 * official code's exponent -d T/100, T the layer's temperature). Its
 * gradient with respect to the rows and to a is written by hand
 * (wm_ewe_snnl; tests/test_ewe.c checks it against finite differences).
 *
 * Key (keygen, from the job's RNG): the target class t and, in source "in",
 * the source class s (each drawn when its parameter is -1, s != t) and n =
 * size distinct owner images of class s; in source "glyph", n glyph images
 * of the renderer (workers/glyph.h; specs and font hashes in the key) and no
 * s. The unoptimised images are kept as ewe.x0. Embed completes the key
 * with the final triggers ewe.x (n, C, H, W), their labels ewe.y (all t) and
 * the patch ewe.patch (row, column, size; -1 -1 0 for glyphs).
 *
 * Embed (the official Fashion-MNIST schedule, cut down for the CPU):
 * 1. F0 = the seed's clean model (wm_train_owner, the run's epochs).
 * 2. "in": a patch x patch square set to 1 where the input gradient of
 *    sum_l SNNL_l (triggers s = 1 against target-class owner images s = 0,
 *    summed over the triggers and the channels, then over the window) is
 *    smallest.
 * 3. Trigger optimisation on F0, per half-batch of B/2 triggers, for
 *    trigger_steps rounds: (a) while F0 answers t to more than 0.1 of them
 *    (at most 50 such steps per half-batch), x <- clip(x - 0.01 sign(grad_x
 *    z_t)); (b) x <- clip(x + 0.01 sign(grad_x sum_l SNNL_l)); then 5 more
 *    (unconditional) steps of (a). trigger_steps = 0 skips all of step 3.
 * 4. Watermark phase, w_epochs passes over the owner data: after every
 *    `ratio` clean batches one watermark batch of B/2 triggers (s = 1,
 *    cycling through the key) and B/2 random target-class owner images
 *    (s = 0), all labelled t, with loss CE - (kappa / B) sum_l
 *    SNNL(relu(h_l), s; T_l) over the outputs of every relu layer (mlp:
 *    both hidden layers; lenet5: conv1, conv2, fc1, fc2). After each
 *    watermark batch T_l <- T_l - 0.1 dSNNL_l/dT_l (the official learnable
 *    temperature), from T_l = temp. The optimiser is a fresh one of the
 *    run's kind and settings.
 * Verify (black-box, the query path only): m = triggers answered t out of
 * n; metric wm_acc = m / n; capacity n.
 *
 * Chance model (kinds 2 and 3 of SCHEMES-WRT "three kinds of null"): every
 * trigger carries the same label t, and the triggers are source-class images
 * (or glyphs) tuned against the owner's model, so an unmarked model's count
 * is neither Binomial(n, 1/C) nor the same across models. The decision rests
 * on the empirical null: the runner verifies the key on unmarked control
 * models, fits a beta-binomial to their counts (wm_null_fit), and verify
 * reports its upper tail at m (wm_null_decide; p = 1 before a fit).
 *
 * Deviations. (1) CE is the batch mean here, the official sum over the
 * batch; the SNNL weight is divided by B so that the two terms keep the
 * official ratio (kappa 32 against a summed CE). (2) w_epochs counts passes
 * over the clean data in the watermark phase (default 2; official 10 with a
 * longer phase, w_epochs x clean/watermark batches). (3) The official
 * Fashion-MNIST default is "out" with MNIST digit 8 images; without MNIST,
 * "glyph" uses rendered glyphs (any script of the renderer, not only
 * digits), and the default is "in" (the patch size 3 of the official "in"
 * mode). (4) The trigger set is cycled through in watermark batches rather
 * than tiled to the size of the target class. (5) Trigger optimisation
 * runs in glyph mode too (no patch there): it keeps F0's rate of t low,
 * which the null needs. (6) Dropout is on in watermark batches; the SNNL is
 * taken on the relu outputs, before dropout. */
#include "scheme.h"
#include "../workers/glyph.h"
#include "../workers/util.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#define EWE_STEP     0.01 /* trigger optimisation step size */
#define EWE_FPR	     0.1  /* step (a) runs while F0 answers t to more than this */
#define EWE_A_BUDGET 50	  /* steps (a) per half-batch, at most */
#define EWE_A_FINAL  5	  /* final steps (a) per half-batch */
#define EWE_T_LR     0.1  /* temperature update rate */

/* The parameters, as the plug-in receives them (table below). */
struct ewe_cfg {
	int size;
	char source[PARAM_VALLEN];
	int patch;
	int s, t;
	double kappa;
	int ratio;
	int w_epochs;
	int trigger_steps;
	double temp;
};

static const struct param_def ewe_params[] = {
    {"size", PT_INT, "100", 2, 10000, NULL, "number of triggers n (the capacity)",
     offsetof(struct ewe_cfg, size)},
    {"source", PT_STRING, "in", 0, 0, "in|glyph",
     "triggers: in (source-class owner images with a patch) or glyph (rendered glyphs, "
     "out of distribution)",
     offsetof(struct ewe_cfg, source)},
    {"patch", PT_INT, "3", 1, 1024, NULL, "side of the square patch of source in, pixels",
     offsetof(struct ewe_cfg, patch)},
    {"s", PT_INT, "-1", -1, 1023, NULL, "source class of source in (-1: drawn from the seed)",
     offsetof(struct ewe_cfg, s)},
    {"t", PT_INT, "-1", -1, 1023, NULL, "target class (-1: drawn from the seed)",
     offsetof(struct ewe_cfg, t)},
    {"kappa", PT_DOUBLE, "32", 0, 10000, NULL,
     "SNNL weight per hidden layer (official 32, against a CE summed over the batch)",
     offsetof(struct ewe_cfg, kappa)},
    {"ratio", PT_INT, "2", 1, 1000, NULL, "clean batches per watermark batch",
     offsetof(struct ewe_cfg, ratio)},
    {"w_epochs", PT_INT, "2", 1, 1000, NULL,
     "passes over the owner data in the watermark phase (official 10)",
     offsetof(struct ewe_cfg, w_epochs)},
    {"trigger_steps", PT_INT, "10", 0, 1000, NULL,
     "rounds of trigger optimisation per half-batch (0: off)",
     offsetof(struct ewe_cfg, trigger_steps)},
    {"temp", PT_DOUBLE, "1", 1e-6, 1e6, NULL,
     "initial SNNL temperature T of every layer (exponent -d T / 100)",
     offsetof(struct ewe_cfg, temp)},
    {0}};

/* ---- the soft nearest-neighbour loss ------------------------------------- */

double wm_ewe_snnl(const double *h, int N, int D, const int *s, double a, double *dh, double *da);

/* SNNL of the N rows h (N, D) with groups s at exponent -a d (cosine d).
 * Rows without a partner of their group are left out of the sum (they still
 * count as neighbours of the others). dh (N, D) gets dSNNL/dh and *da
 * dSNNL/da, each when not NULL. Exported for tests. */
double wm_ewe_snnl(const double *h, int N, int D, const int *s, double a, double *dh, double *da)
{
	double *u = xmalloc((size_t)N * D * sizeof *u), *nrm = xmalloc((size_t)N * sizeof *nrm);
	double *c = xmalloc((size_t)N * N * sizeof *c), *g = xcalloc((size_t)N * N, sizeof *g);
	double loss = 0, dla = 0;

	for (int i = 0; i < N; i++) {
		double ss = 0;
		for (int k = 0; k < D; k++)
			ss += h[(size_t)i * D + k] * h[(size_t)i * D + k];
		nrm[i] = sqrt(ss);
		double inv = nrm[i] > 1e-12 ? 1 / nrm[i] : 0; /* a zero row: u = 0, d = 1 */
		for (int k = 0; k < D; k++)
			u[(size_t)i * D + k] = h[(size_t)i * D + k] * inv;
	}
	cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, D, 1.0, u, D, u, D, 0.0, c, N);
	for (int i = 0; i < N; i++) {
		const double *ci = c + (size_t)i * N;
		double mx = -INFINITY, mxs = -INFINITY, z = 0, zs = 0;
		for (int j = 0; j < N; j++) {
			if (j == i)
				continue;
			double e = -a * (1 - ci[j]);
			mx = e > mx ? e : mx;
			if (s[j] == s[i])
				mxs = e > mxs ? e : mxs;
		}
		if (mxs == -INFINITY)
			continue; /* no partner of its group */
		for (int j = 0; j < N; j++) {
			if (j == i)
				continue;
			double e = -a * (1 - ci[j]);
			z += exp(e - mx);
			if (s[j] == s[i])
				zs += exp(e - mxs);
		}
		double lz = mx + log(z), ls = mxs + log(zs);
		loss -= (ls - lz) / N;
		/* dSNNL/dd_ij = (a/N)(p_same_ij - p_all_ij), dSNNL/da = sum of that times d/a */
		for (int j = 0; j < N; j++) {
			if (j == i)
				continue;
			double e = -a * (1 - ci[j]);
			double q = (s[j] == s[i] ? exp(e - ls) : 0) - exp(e - lz);
			g[(size_t)i * N + j] = a * q / N;
			dla += q * (1 - ci[j]) / N;
		}
	}
	if (da)
		*da = dla;
	if (dh) {
		/* d_ij = 1 - u_i.u_j: dSNNL/du_i = -sum_j M_ij u_j, M = G + G^T; then
		 * through u = h/|h|: dh_i = (g_i - (g_i.u_i) u_i)/|h_i| */
		double *mm = xmalloc((size_t)N * N * sizeof *mm);
		for (int i = 0; i < N; i++)
			for (int j = 0; j < N; j++)
				mm[(size_t)i * N + j] = g[(size_t)i * N + j] + g[(size_t)j * N + i];
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, D, N, -1.0, mm, N, u, D,
			    0.0, dh, D);
		for (int i = 0; i < N; i++) {
			double *di = dh + (size_t)i * D, dot = 0;
			const double *ui = u + (size_t)i * D;
			if (!(nrm[i] > 1e-12)) {
				memset(di, 0, (size_t)D * sizeof *di);
				continue;
			}
			for (int k = 0; k < D; k++)
				dot += di[k] * ui[k];
			for (int k = 0; k < D; k++)
				di[k] = (di[k] - dot * ui[k]) / nrm[i];
		}
		free(mm);
	}
	free(u);
	free(nrm);
	free(c);
	free(g);
	return loss;
}

/* The layers whose outputs carry the SNNL: every relu. */
static int snnl_layers(const struct nn_model *m, int *idx)
{
	int L = 0;
	for (int i = 0; i < m->nlayers; i++)
		if (m->layers[i].kind == NN_RELU)
			idx[L++] = i;
	return L;
}

/* Adds scale * dSNNL/d(acts of layer li) into its dacts, for the last
 * forward's B rows with groups s; returns SNNL, *dT gets dSNNL/dT (a =
 * T/100). Handles the channel-major layout of convolutional activations. */
static double snnl_layer(struct nn_model *m, int li, const int *s, double T, double scale,
			 double *dT)
{
	const struct nn_layer *l = &m->layers[li];
	int B = m->last_b;
	size_t D = nn_out_size(l), S = (size_t)l->out_h * l->out_w;
	int cm = l->chan_major && l->out_c > 1;
	double *h = xmalloc((size_t)B * D * sizeof *h), *dh = xmalloc((size_t)B * D * sizeof *dh);
	const float *a = m->acts[li];
	float *g = nn_dact(m, li);
	double da;

	for (int b = 0; b < B; b++)
		for (size_t k = 0; k < D; k++) {
			size_t o = cm ? ((k / S) * B + b) * S + k % S : b * D + k;
			h[b * D + k] = a[o];
		}
	double loss = wm_ewe_snnl(h, B, (int)D, s, T / 100, dh, &da);
	for (int b = 0; b < B; b++)
		for (size_t k = 0; k < D; k++) {
			size_t o = cm ? ((k / S) * B + b) * S + k % S : b * D + k;
			g[o] += (float)(scale * dh[b * D + k]);
		}
	*dT = da / 100;
	free(h);
	free(dh);
	return loss;
}

/* ---- checks and keygen -------------------------------------------------- */

static int ewe_check(const void *cfg, const struct nn_model *m, char *err, size_t errlen)
{
	const struct ewe_cfg *p = cfg;
	int idx[NN_MAXLAYERS];
	int glyph = !strcmp(p->source, "glyph"), side = m->in_h < m->in_w ? m->in_h : m->in_w;

	if (m->nclass < 2)
		return errf(err, errlen, "ewe: model '%s' has %d class; expected at least 2",
			    m->arch, m->nclass);
	if (p->t >= m->nclass)
		return errf(err, errlen,
			    "ewe: parameter 't' = %d is not a class of model '%s'; expected -1 or "
			    "0..%d",
			    p->t, m->arch, m->nclass - 1);
	if (!glyph && p->s >= m->nclass)
		return errf(err, errlen,
			    "ewe: parameter 's' = %d is not a class of model '%s'; expected -1 or "
			    "0..%d",
			    p->s, m->arch, m->nclass - 1);
	if (!glyph && p->s >= 0 && p->s == p->t)
		return errf(err, errlen,
			    "ewe: parameters 's' = %d and 't' = %d are the same class; expected "
			    "s != t",
			    p->s, p->t);
	if (!glyph && p->patch > side)
		return errf(err, errlen,
			    "ewe: parameter 'patch' = %d exceeds the image (%dx%d); expected "
			    "1..%d",
			    p->patch, m->in_h, m->in_w, side);
	if (glyph && m->in_h < 8)
		return errf(err, errlen,
			    "ewe: parameter 'source' = 'glyph' needs images of at least 8x8 but "
			    "model '%s' takes %dx%d; expected source in",
			    m->arch, m->in_h, m->in_w);
	if (p->kappa > 0 && snnl_layers(m, idx) == 0)
		return errf(err, errlen,
			    "ewe: parameter 'kappa' = %g needs hidden relu layers but model '%s' "
			    "has none; expected kappa 0 or a model with relu layers",
			    p->kappa, m->arch);
	return 0;
}

/* Owner indices of class c, into list (at most n_owner); returns the count. */
static int class_list(const struct wm_env *env, int c, uint32_t *list)
{
	int k = 0;
	for (int i = 0; i < env->n_owner; i++)
		if (env->train->y[env->owner_idx[i]] == c)
			list[k++] = env->owner_idx[i];
	return k;
}

static int ewe_keygen(const void *cfg, const struct nn_model *m, const struct wm_env *env,
		      struct npz *key, char *err, size_t errlen)
{
	const struct ewe_cfg *p = cfg;
	const struct dataset *tr = env->train;
	int n = p->size, C = m->nclass, glyph = !strcmp(p->source, "glyph");
	int s = p->s, t = p->t, rc = -1;
	size_t D = nn_in_size(m);

	if (ewe_check(p, m, err, errlen))
		return -1;
	if ((size_t)tr->c * tr->h * tr->w != D || tr->nclass != C)
		return errf(err, errlen,
			    "ewe: training data is %dx%dx%d with %d classes but model '%s' takes "
			    "%dx%dx%d and %d classes; expected matching data",
			    tr->c, tr->h, tr->w, tr->nclass, m->arch, m->in_c, m->in_h, m->in_w, C);
	/* the classes: t first, then s != t */
	if (glyph) {
		s = -1;
		if (t < 0)
			t = (int)rng_below(env->rng, (uint32_t)C);
	} else {
		if (t < 0)
			t = s >= 0 ? (s + 1 + (int)rng_below(env->rng, (uint32_t)C - 1)) % C
				   : (int)rng_below(env->rng, (uint32_t)C);
		if (s < 0)
			s = (t + 1 + (int)rng_below(env->rng, (uint32_t)C - 1)) % C;
	}
	float *x = xmalloc((size_t)n * D * sizeof(float));
	int32_t *src = xmalloc((size_t)n * sizeof *src);
	uint32_t *list = xmalloc((size_t)(env->n_owner ? env->n_owner : 1) * sizeof *list);
	if (glyph) {
		if (glyph_key_images(env->rng, n, m->in_c, m->in_h, m->in_w, x, key, "ewe", err,
				     errlen))
			goto out;
		for (int i = 0; i < n; i++)
			src[i] = -1;
	} else {
		int ns = class_list(env, s, list);
		if (ns < n) {
			errf(err, errlen,
			     "ewe: parameter 'size' = %d exceeds the %d owner images of source "
			     "class %d; expected 2..%d",
			     n, ns, s, ns);
			goto out;
		}
		rng_shuffle_u32(env->rng, list, (size_t)ns);
		nn_fill_batch(tr->x, NULL, D, list, n, x, NULL);
		for (int i = 0; i < n; i++)
			src[i] = (int32_t)list[i];
	}
	int64_t xs[4] = {n, m->in_c, m->in_h, m->in_w}, ns = n, one = 1;
	int32_t s32 = s, t32 = t;
	npz_add(key, "ewe.x0", NPZ_F32, 4, xs, x);
	npz_add(key, "ewe.src_idx", NPZ_I32, 1, &ns, src);
	npz_add(key, "ewe.s", NPZ_I32, 1, &one, &s32);
	npz_add(key, "ewe.t", NPZ_I32, 1, &one, &t32);
	rc = 0;
out:
	free(x);
	free(src);
	free(list);
	return rc;
}

/* ---- input gradients on the (inference-mode) model ---------------------- */

/* The rows of x (B, D) in inference mode: gradient of sum_b z_t(x_b) into gx. */
static void grad_logit(struct nn_model *m, const float *x, int B, int t, float *gx)
{
	int C = m->nclass, keep = m->want_dinput;
	nn_forward(m, x, B, 0, NULL);
	nn_zero_act_grads(m);
	float *dz = nn_dact(m, m->nlayers - 1);
	for (int b = 0; b < B; b++)
		dz[(size_t)b * C + t] = 1;
	m->want_dinput = 1;
	nn_backward(m);
	m->want_dinput = keep;
	memcpy(gx, m->dinput, (size_t)B * nn_in_size(m) * sizeof(float));
	nn_zero_grads(m);
}

/* sum_l SNNL_l (groups s, temperatures T) of the rows of x (B, D) in
 * inference mode; its gradient with respect to x into gx when not NULL. */
static double grad_snnl(struct nn_model *m, const float *x, int B, const int *s, const double *T,
			float *gx)
{
	int li[NN_MAXLAYERS], L = snnl_layers(m, li), keep = m->want_dinput;
	double dT, loss = 0;
	nn_forward(m, x, B, 0, NULL);
	nn_zero_act_grads(m);
	for (int k = 0; k < L; k++)
		loss += snnl_layer(m, li[k], s, T[k], 1.0, &dT);
	if (!gx)
		return loss;
	m->want_dinput = 1;
	nn_backward(m);
	m->want_dinput = keep;
	memcpy(gx, m->dinput, (size_t)B * nn_in_size(m) * sizeof(float));
	nn_zero_grads(m);
	return loss;
}

double wm_ewe_input_snnl(struct nn_model *m, const float *x, int B, const int *s, double T,
			 float *gx);

/* The same at one temperature T for every layer. Exported for tests (the
 * layouts of the activations, end to end). */
double wm_ewe_input_snnl(struct nn_model *m, const float *x, int B, const int *s, double T,
			 float *gx)
{
	double Ts[NN_MAXLAYERS];
	for (int k = 0; k < NN_MAXLAYERS; k++)
		Ts[k] = T;
	return grad_snnl(m, x, B, s, Ts, gx);
}

/* How many of the B rows of x the model answers t. */
static int count_t(struct nn_model *m, const float *x, int B, int t)
{
	int C = m->nclass, k = 0;
	const float *z = nn_forward(m, x, B, 0, NULL);
	for (int b = 0; b < B; b++)
		k += nn_argmax(z + (size_t)b * C, C) == t;
	return k;
}

static void sign_step(float *x, const float *g, size_t n, double step)
{
	for (size_t i = 0; i < n; i++) {
		float v = x[i] + (float)(g[i] > 0 ? step : g[i] < 0 ? -step : 0);
		x[i] = v < 0 ? 0 : v > 1 ? 1 : v;
	}
}

/* Fills rows [0, nh) of x with triggers from trig and rows [nh, nh+nt) with
 * random target-class owner images; s gets 1 and 0. */
static void pair_batch(const struct wm_env *env, const float *trig, int nh, const uint32_t *tl,
		       int ntl, int nt, size_t D, float *x, int *s)
{
	memcpy(x, trig, (size_t)nh * D * sizeof(float));
	for (int b = 0; b < nt; b++) {
		uint32_t i = tl[rng_below(env->rng, (uint32_t)ntl)];
		nn_fill_batch(env->train->x, NULL, D, &i, 1, x + (size_t)(nh + b) * D, NULL);
	}
	for (int b = 0; b < nh + nt; b++)
		s[b] = b < nh;
}

/* ---- embedding ----------------------------------------------------------- */

struct ewe_run {
	const struct ewe_cfg *p;
	const struct wm_env *env;
	struct nn_model *m;
	int n, t, B, nh, ntl, L, li[NN_MAXLAYERS];
	size_t D;
	float *trig; /* (n, D) */
	uint32_t *tl;
	double T[NN_MAXLAYERS];
	float *x, *g; /* (B, D) scratch */
	int *s, *y;
};

/* Step 2: the patch at the smallest window sum of the triggers' summed
 * SNNL input gradient (first half-batch against target images). */
static void place_patch(struct ewe_run *r, int *pr, int *pc)
{
	struct nn_model *m = r->m;
	int P = r->p->patch, H = m->in_h, W = m->in_w, nh = r->nh < r->n ? r->nh : r->n;
	size_t HW = (size_t)H * W;
	double *sum = xcalloc(HW, sizeof *sum), best = INFINITY;

	pair_batch(r->env, r->trig, nh, r->tl, r->ntl, r->nh, r->D, r->x, r->s);
	grad_snnl(m, r->x, nh + r->nh, r->s, r->T, r->g);
	for (int b = 0; b < nh; b++)
		for (size_t k = 0; k < r->D; k++)
			sum[k % HW] += r->g[(size_t)b * r->D + k];
	*pr = *pc = 0;
	for (int i = 0; i + P <= H; i++)
		for (int j = 0; j + P <= W; j++) {
			double w = 0;
			for (int a = 0; a < P; a++)
				for (int c = 0; c < P; c++)
					w += sum[(size_t)(i + a) * W + j + c];
			if (w < best) {
				best = w;
				*pr = i;
				*pc = j;
			}
		}
	for (int k = 0; k < r->n; k++)
		for (int c = 0; c < m->in_c; c++)
			for (int a = 0; a < P; a++)
				for (int b = 0; b < P; b++)
					r->trig[(size_t)k * r->D + c * HW + (size_t)(*pr + a) * W +
						*pc + b] = 1.0f;
	free(sum);
}

/* One step (a) on rows x (B of them): x <- clip(x - 0.01 sign(grad z_t)). */
static void step_a(struct ewe_run *r, float *x, int B)
{
	grad_logit(r->m, x, B, r->t, r->g);
	sign_step(x, r->g, (size_t)B * r->D, -EWE_STEP);
}

/* Step 3: trigger optimisation against F0, half-batch by half-batch. */
static void optimise_triggers(struct ewe_run *r)
{
	for (int i0 = 0; i0 < r->n; i0 += r->nh) {
		int nh = r->n - i0 < r->nh ? r->n - i0 : r->nh, budget = EWE_A_BUDGET;
		float *hb = r->trig + (size_t)i0 * r->D;
		for (int round = 0; round < r->p->trigger_steps; round++) {
			while (budget > 0 && count_t(r->m, hb, nh, r->t) > EWE_FPR * nh) {
				step_a(r, hb, nh);
				budget--;
			}
			if (r->L == 0)
				continue;
			pair_batch(r->env, hb, nh, r->tl, r->ntl, r->nh, r->D, r->x, r->s);
			grad_snnl(r->m, r->x, nh + r->nh, r->s, r->T, r->g);
			sign_step(hb, r->g, (size_t)nh * r->D, EWE_STEP);
		}
		for (int k = 0; k < EWE_A_FINAL; k++)
			step_a(r, hb, nh);
	}
}

/* One training step on rows x (B) labelled y; with s, the watermark loss
 * CE - (kappa/B) sum_l SNNL_l, updating the temperatures. Returns the loss. */
static double train_step(struct ewe_run *r, struct nn_opt *opt, int epoch, const float *x,
			 const int *y, int B, const int *s)
{
	struct nn_model *m = r->m;
	double loss = 0, dT;

	nn_forward(m, x, B, 1, r->env->rng);
	nn_zero_act_grads(m);
	if (s && r->p->kappa > 0)
		for (int k = 0; k < r->L; k++) {
			loss -= r->p->kappa / B *
				snnl_layer(m, r->li[k], s, r->T[k], -r->p->kappa / B, &dT);
			r->T[k] -= EWE_T_LR * dT;
			if (r->T[k] < 1e-6)
				r->T[k] = 1e-6; /* keep the exponent negative */
		}
	loss += nn_loss_xent(m, y, 1.0);
	nn_zero_grads(m);
	nn_backward(m);
	nn_opt_step(opt, m, epoch);
	return loss;
}

/* Step 4: the watermark phase. */
static int watermark_phase(struct ewe_run *r, char *err, size_t errlen)
{
	const struct wm_env *env = r->env;
	const struct ewe_cfg *p = r->p;
	int n = env->n_owner, B = r->B, next = 0, nb = 0, rc = 0;
	struct nn_opt opt;
	uint32_t *perm = xmalloc((size_t)n * sizeof *perm);

	if (nn_opt_init(&opt, env->ts.optimizer, env->ts.lr, r->m->nparams)) {
		free(perm);
		return errf(err, errlen,
			    "ewe: unknown optimizer '%s'; expected sgd, adam or rmsprop",
			    env->ts.optimizer);
	}
	opt.momentum = env->ts.momentum;
	opt.weight_decay = env->ts.weight_decay;
	memcpy(perm, env->owner_idx, (size_t)n * sizeof *perm);
	for (int e = 0; e < p->w_epochs && !rc; e++) {
		rng_shuffle_u32(env->rng, perm, (size_t)n);
		for (int s0 = 0; s0 < n && !rc; s0 += B) {
			int b = n - s0 < B ? n - s0 : B;
			double loss;
			nn_fill_batch(env->train->x, env->train->y, r->D, perm + s0, b, r->x, r->y);
			loss = train_step(r, &opt, e, r->x, r->y, b, NULL);
			if (isfinite(loss) && ++nb % p->ratio == 0) {
				/* B/2 triggers, cycling, and B - B/2 target images */
				for (int k = 0; k < r->nh; k++) {
					memcpy(r->g + (size_t)k * r->D,
					       r->trig + (size_t)next * r->D, r->D * sizeof(float));
					next = (next + 1) % r->n;
				}
				pair_batch(env, r->g, r->nh, r->tl, r->ntl, B - r->nh, r->D, r->x,
					   r->s);
				for (int k = 0; k < B; k++)
					r->y[k] = r->t;
				loss = train_step(r, &opt, e, r->x, r->y, B, r->s);
			}
			if (!isfinite(loss))
				rc = errf(
				    err, errlen,
				    "ewe: training diverged in the watermark phase: loss is %g "
				    "at epoch %d; expected a finite loss (lower kappa or the "
				    "learning rate)",
				    loss, e + 1);
		}
	}
	for (size_t i = 0; i < r->m->nparams && !rc; i++)
		if (!isfinite(r->m->params[i]))
			rc = errf(err, errlen,
				  "ewe: training diverged: a parameter became %g; expected finite "
				  "weights",
				  r->m->params[i]);
	nn_opt_free(&opt);
	free(perm);
	return rc;
}

static int ewe_embed(const void *cfg, struct nn_model *m, struct npz *key, const struct wm_env *env,
		     char *err, size_t errlen)
{
	const struct ewe_cfg *p = cfg;
	const struct npz_array *xa = npz_get(key, "ewe.x0"), *ta = npz_get(key, "ewe.t");
	struct ewe_run r = {.p = p, .env = env, .m = m, .B = env->ts.batch};
	int glyph = !strcmp(p->source, "glyph"), pr = -1, pc = -1, rc = -1;

	if (ewe_check(p, m, err, errlen))
		return -1;
	r.D = nn_in_size(m);
	if (!xa || !ta || xa->dtype != NPZ_F32 || xa->ndim != 4 || ta->dtype != NPZ_I32 ||
	    ta->count != 1 || xa->shape[0] < 2 || (size_t)(xa->count / xa->shape[0]) != r.D)
		return errf(err, errlen,
			    "ewe: key lacks ewe.x0 (float32, n x C x H x W, the model's shape) or "
			    "ewe.t (int32); expected a key written by ewe keygen");
	r.n = (int)xa->shape[0];
	r.t = *(const int32_t *)ta->data;
	if (r.t < 0 || r.t >= m->nclass)
		return errf(err, errlen, "ewe: key target class %d; expected 0..%d", r.t,
			    m->nclass - 1);
	if (r.B < 4)
		return errf(err, errlen,
			    "ewe: the run's batch size %d is too small for watermark batches; "
			    "expected at least 4 (two triggers and two target images)",
			    r.B);
	r.nh = r.B / 2;
	r.L = p->kappa > 0 || p->trigger_steps > 0 ? snnl_layers(m, r.li) : 0;
	for (int k = 0; k < r.L; k++)
		r.T[k] = p->temp;
	r.tl = xmalloc((size_t)(env->n_owner ? env->n_owner : 1) * sizeof *r.tl);
	r.ntl = class_list(env, r.t, r.tl);
	r.trig = xmalloc(xa->count * sizeof(float));
	memcpy(r.trig, xa->data, xa->count * sizeof(float));
	r.x = xmalloc((size_t)r.B * r.D * sizeof(float));
	r.g = xmalloc((size_t)r.B * r.D * sizeof(float));
	r.s = xmalloc((size_t)r.B * sizeof(int));
	r.y = xmalloc((size_t)r.B * sizeof(int));
	if (r.ntl < 2) {
		errf(err, errlen,
		     "ewe: the owner data has %d images of target class %d; expected at least 2",
		     r.ntl, r.t);
		goto out;
	}
	/* 1. F0, the seed's clean model */
	if (wm_train_owner(m, env, NULL, 0, err, errlen))
		goto out;
	/* 2. the patch, 3. trigger optimisation, 4. the watermark phase */
	if (!glyph && r.L > 0)
		place_patch(&r, &pr, &pc);
	else if (!glyph) {
		/* no relu layer to take a gradient from: the top-left corner */
		pr = pc = 0;
		for (int k = 0; k < r.n; k++)
			for (int c = 0; c < m->in_c; c++)
				for (int a = 0; a < p->patch; a++)
					for (int b = 0; b < p->patch; b++)
						r.trig[(size_t)k * r.D +
						       ((size_t)c * m->in_h + a) * m->in_w + b] = 1;
	}
	if (p->trigger_steps > 0)
		optimise_triggers(&r);
	if (watermark_phase(&r, err, errlen))
		goto out;

	int64_t xs[4] = {r.n, xa->shape[1], xa->shape[2], xa->shape[3]}, ns = r.n, three = 3;
	int32_t *y = xmalloc((size_t)r.n * sizeof *y);
	int32_t patch[3] = {pr, pc, glyph ? 0 : p->patch};
	for (int k = 0; k < r.n; k++)
		y[k] = r.t;
	npz_add(key, "ewe.x", NPZ_F32, 4, xs, r.trig);
	npz_add(key, "ewe.y", NPZ_I32, 1, &ns, y);
	npz_add(key, "ewe.patch", NPZ_I32, 1, &three, patch);
	free(y);
	rc = 0;
out:
	free(r.tl);
	free(r.trig);
	free(r.x);
	free(r.g);
	free(r.s);
	free(r.y);
	return rc;
}

/* ---- verification (black-box) ----------------------------------------------- */

static int ewe_verify(const void *cfg, const struct npz *key, struct nn_model *m,
		      struct wm_query *q, const struct wm_env *env, struct wm_verdict *v, char *err,
		      size_t errlen)
{
	(void)cfg; /* the key holds what verification needs */
	const struct npz_array *xa = npz_get(key, "ewe.x"), *ya = npz_get(key, "ewe.y");
	int C = q->nclass, matches = 0;
	(void)m;

	if (!xa || !ya || xa->dtype != NPZ_F32 || xa->ndim != 4 || ya->dtype != NPZ_I32 ||
	    (int64_t)ya->count != xa->shape[0] || xa->shape[0] < 1)
		return errf(err, errlen,
			    "ewe: key lacks ewe.x (float32, n x C x H x W) or ewe.y (int32, n); "
			    "expected a key completed by ewe embed");
	int n = (int)xa->shape[0];
	size_t D = xa->count / (size_t)n;
	const int32_t *y = ya->data;
	if (q->model && D != nn_in_size(q->model))
		return errf(err, errlen,
			    "ewe: key triggers are %lldx%lldx%lld but the model takes %dx%dx%d; "
			    "expected a key for this model",
			    (long long)xa->shape[1], (long long)xa->shape[2],
			    (long long)xa->shape[3], q->model->in_c, q->model->in_h,
			    q->model->in_w);
	if (env->test && (size_t)env->test->c * env->test->h * env->test->w != D)
		return errf(err, errlen,
			    "ewe: key triggers have %zu values but the data has %dx%dx%d; expected "
			    "a key for this dataset",
			    D, env->test->c, env->test->h, env->test->w);
	int *pred = xmalloc((size_t)n * sizeof *pred);
	if (wm_query_labels(q, xa->data, n, pred)) {
		free(pred);
		return errf(err, errlen, "ewe: the query path failed on %d triggers", n);
	}
	for (int k = 0; k < n; k++)
		matches += y[k] >= 0 && y[k] < C && pred[k] == y[k];
	free(pred);
	strcpy(v->metric_name, "wm_acc");
	v->metric = (double)matches / n;
	v->capacity = n;
	return wm_null_decide(key, matches, n, env->alpha, v, err, errlen);
}

static int ewe_null_fit(const void *cfg)
{
	(void)cfg;
	return 1;
}

/* Samples through the passes: F0, the patch placement (source "in"), the
 * trigger optimisation (trigger_steps rounds over the key in half-batch
 * chunks, then five steps), the watermark phase (w_epochs over the owner's
 * data, a key batch of B rows per `ratio` clean ones). The optimisation's
 * inner steps stop on the data (0 to 50 per key sample, 0 to 380 in all in
 * the runs so far): not counted. */
static void ewe_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct ewe_cfg *p = cfg;
	int n = w->n_owner, B = w->batch, h = B / 2, nb = (n + B - 1) / B;
	double T = p->trigger_steps, nch = h > 0 ? (p->size + h - 1) / h : 0;
	double patch = !strcmp(p->source, "in") ? (p->size < h ? p->size : h) + h : 0;
	double opt = T > 0 ? T * (p->size + (double)h * nch) + 5.0 * p->size : 0;
	double wm = (double)p->w_epochs * n +
		    (double)(((long)p->w_epochs * nb) / (p->ratio > 0 ? p->ratio : 1)) * B;

	*bwd = (double)w->epochs * n + patch + opt + wm;
	*fwd = *bwd + T * p->size;
}

/* Samples through the forward pass of one verification: The key's images. */
static double ewe_verify_work(const void *cfg, const struct wm_work *w)
{
	const struct ewe_cfg *p = cfg;

	(void)w;
	return p->size;
}

const struct wm_scheme wm_ewe = {
    .cfg_size = sizeof(struct ewe_cfg),
    .name = "ewe",
    .colour = "#117733",
    .point = 12,
    .order = 12,
    .summary = "black-box zero-bit entangled watermark: triggers entangled with the target "
	       "class by SNNL (Jia et al., USENIX Security 2021)",
    .params = ewe_params,
    .black_box = 1,
    .key_from_model = 1,
    .null_fit = ewe_null_fit,
    .check = ewe_check,
    .keygen = ewe_keygen,
    .embed = ewe_embed,
    .verify = ewe_verify,
    .aux_label = "null rank bound",
    .work = ewe_work,
    .verify_work = ewe_verify_work,
};
