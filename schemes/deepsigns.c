/* deepsigns.c - activation-distribution watermark, white-box multi-bit
 * variant (Rouhani, Chen, Koushanfar; ASPLOS 2019), written from the
 * equations in SCHEMES.md.
 *
 * The mark lives in the mean activation of one hidden layer (the ReLU that
 * follows a dense or conv layer; M features) over images of a target class T.
 * Key: projection A (M, N) ~ N(0,1), message b (N), and the indices of nkeys
 * owner training images of class T. During training, class centres mu
 * (nclass, M), initialised U[0,1), are learned with the weights (by their own
 * Adam, kept in the hook context) under four loss terms added to the task
 * loss, for a batch of B samples with activations a_i (M) and labels y_i:
 *   1. pull:  gamma1 * (1/B) * 1/2 sum_i |a_i - mu_{y_i}|^2
 *   2. push:  gamma1 * (1/B) * sum_i (cos_i d_i - d_i), d_i = |u_{y_i} - u_n|^2,
 *             cos_i = <u_{y_i}, u_n>, u = mu / |mu| the centres' directions,
 *             mu_n the centre nearest to mu_{y_i}; that is -2 (1 - cos_i)^2
 *   3. norm:  gamma1 * sum_k |1 - |mu_k|^2|
 *   4. bits:  gamma2 * sum_j BCE(b_j, sigma((mu_T A)_j))
 * Normalisation: the pull term is AVERAGED over the batch (1/B), not summed
 * as in the official code; summed, it dominates the task loss at gamma1 =
 * 0.01 (SCHEMES.md, pitfalls). The push term is a batch mean as in the paper.
 * The push is taken on unit directions: the paper's term on the raw centres
 * equals it at unit norm, which the norm term aims at, but is unbounded below
 * (cos d grows as |mu|^4 for anti-aligned centres): on lenet5 it drove |mu|
 * to 85 and the push loss to -2.6e4 within 4 epochs.
 *
 * Defaults differ from the paper's gamma1 = gamma2 = 0.01 (set them in a job
 * file to reproduce it). The bit term acts only on the centre, and Adam on the
 * centre is scale-free, so gamma2 only sets how hard the bits hold against
 * the gamma1 terms there: what reads back is sign(mean activation . A_j), so
 * the margins of mu_T A must exceed the projections of the residual (mean
 * activation - mu_T) that the averaged pull leaves. Measured on Fashion-MNIST
 * mlp, 8000 samples x 2 epochs: 0.01 / 0.01 with a centre learning rate of
 * 1e-3 leaves BER 0.3-0.5 (0.25 even on 60000 x 2). gamma1 0.05, gamma2 10,
 * mu_lr 0.01 gives BER 0 at 32 and 64 bits on seeds 1-3 (8000 x 2, 60000 x 2),
 * 1-2 wrong of 32 at 6000 x 1 (still p < 1e-6) and 2 of 128 at 12000 x 2,
 * within a point of the unmarked accuracy; gamma1 0.1 cost 2.4 points on
 * one seed. On lenet5 (fc2 is 84 wide) it does not embed at this scale:
 * BER 11/32 after 12000 x 4.
 *
 * Extract: mu_hat = mean activation over the key images; b_hat_j =
 * [sigma((mu_hat A)_j) > 0.5] = [(mu_hat A)_j > 0]; BER; p-value =
 * P[Binomial(N, 1/2) >= correct bits]; detected when p < alpha.
 *
 * Default 32 bits: with every bit right p = 2^-32, far below the run's
 * default alpha 1e-3 (16 bits would reach 1.5e-5, enough at 1e-3 but not at
 * 1e-6), and up to 6 wrong bits out of 32 still give p < 1e-3. */
#include "scheme.h"
#include "../workers/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

/* The parameters, as the plug-in receives them (table below). */
struct ds_cfg {
	int bits;
	int target;
	char layer[PARAM_VALLEN];
	double gamma1;
	double gamma2;
	int nkeys;
	double mu_lr;
};

static const struct param_def ds_params[] = {
    {"bits", PT_INT, "32", 1, 4096, NULL, "number of embedded bits N",
     offsetof(struct ds_cfg, bits)},
    {"target", PT_INT, "0", 0, 1023, NULL, "target class whose mean activation carries the bits",
     offsetof(struct ds_cfg, target)},
    {"layer", PT_STRING, "auto", 0, 0, NULL,
     "dense/conv layer whose ReLU output is marked (auto = last hidden dense layer)",
     offsetof(struct ds_cfg, layer)},
    {"gamma1", PT_DOUBLE, "0.05", 0, 1e3, NULL,
     "weight of the pull (batch mean), push and norm terms (paper 0.01 with a summed pull)",
     offsetof(struct ds_cfg, gamma1)},
    {"gamma2", PT_DOUBLE, "10", 0, 1e4, NULL,
     "weight of the bit (BCE) term on the centre (paper 0.01)", offsetof(struct ds_cfg, gamma2)},
    {"nkeys", PT_INT, "100", 1, 100000, NULL, "target-class training images used to extract",
     offsetof(struct ds_cfg, nkeys)},
    {"mu_lr", PT_DOUBLE, "0.01", 1e-8, 10, NULL, "Adam learning rate of the class centres",
     offsetof(struct ds_cfg, mu_lr)},
    {0}};

/* Resolves the 'layer' parameter: *pl gets the dense/conv layer, *al the ReLU
 * right after it whose output is marked. -1 with a message naming the
 * parameter, the value and the eligible layers. */
static int ds_resolve(const char *layer, const struct nn_model *m, int *pl, int *al, char *err,
		      size_t errlen)
{
	char names[256] = "";
	int last = nn_last_param_layer(m), found = -1;
	for (int i = 0; i + 1 < m->nlayers; i++) {
		const struct nn_layer *l = &m->layers[i];
		if (!nn_has_params(l) || i == last || m->layers[i + 1].kind != NN_RELU)
			continue;
		if (names[0])
			strncat(names, ", ", sizeof names - strlen(names) - 1);
		strncat(names, l->name, sizeof names - strlen(names) - 1);
		if (!strcmp(layer, "auto") ? l->kind == NN_DENSE : !strcmp(layer, l->name))
			found = i;
	}
	if (found < 0 && !strcmp(layer, "auto"))
		return errf(err, errlen,
			    "deepsigns: parameter 'layer' = 'auto' finds no hidden dense layer "
			    "followed by a ReLU in model '%s'; expected one of %s",
			    m->arch, names[0] ? names : "(none: this model has no hidden layer)");
	if (found < 0)
		return errf(err, errlen,
			    "deepsigns: parameter 'layer' = '%s' is not a hidden dense or conv "
			    "layer followed by a ReLU in model '%s'; expected auto or one of %s",
			    layer, m->arch, names[0] ? names : "(none)");
	*pl = found;
	*al = found + 1;
	return 0;
}

static const char *ds_layer_param(const struct ds_cfg *p)
{
	return p->layer;
}

static int ds_check(const void *cfg, const struct nn_model *m, char *err, size_t errlen)
{
	const struct ds_cfg *p = cfg;
	int pl, al;
	long target = p->target, bits = p->bits;
	if (target < 0 || target >= m->nclass)
		return errf(err, errlen,
			    "deepsigns: parameter 'target' = %ld is not a class of model '%s'; "
			    "expected an integer in [0, %d]",
			    target, m->arch, m->nclass - 1);
	if (bits < 1 || bits > 4096)
		return errf(err, errlen,
			    "deepsigns: parameter 'bits' = %ld is out of range; expected an "
			    "integer in [1, 4096]",
			    bits);
	return ds_resolve(ds_layer_param(p), m, &pl, &al, err, errlen);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int ds_keygen(const void *cfg, const struct nn_model *m, const struct wm_env *env,
		     struct npz *key, char *err, size_t errlen)
{
	const struct ds_cfg *p = cfg;
	int pl, al;
	if (ds_check(p, m, err, errlen) || ds_resolve(ds_layer_param(p), m, &pl, &al, err, errlen))
		return -1;
	int N = p->bits, T = p->target;
	int nkeys = p->nkeys, M = (int)nn_out_size(&m->layers[al]), n = 0;
	uint32_t *cand = xmalloc((size_t)(env->n_owner ? env->n_owner : 1) * sizeof *cand);
	for (int i = 0; i < env->n_owner; i++)
		if (env->train->y[env->owner_idx[i]] == T)
			cand[n++] = env->owner_idx[i];
	if (n < nkeys) {
		free(cand);
		return errf(err, errlen,
			    "deepsigns: parameter 'nkeys' = %d is more than the %d owner training "
			    "images of target class %d; expected an integer in [1, %d]",
			    nkeys, n, T, n);
	}
	float *A = xmalloc((size_t)M * N * sizeof(float));
	uint8_t *b = xmalloc((size_t)N);
	int32_t *idx = xmalloc((size_t)nkeys * sizeof *idx);
	for (size_t i = 0; i < (size_t)M * N; i++)
		A[i] = (float)rng_normal(env->rng);
	for (int j = 0; j < N; j++)
		b[j] = (uint8_t)(rng_u64(env->rng) >> 63);
	rng_shuffle_u32(env->rng, cand, (size_t)n);
	qsort(cand, (size_t)nkeys, sizeof *cand, cmp_u32);
	for (int i = 0; i < nkeys; i++)
		idx[i] = (int32_t)cand[i];
	int64_t as[2] = {M, N}, bs = N, ks = nkeys, one = 1;
	int32_t t32 = T;
	npz_add(key, "deepsigns.A", NPZ_F32, 2, as, A);
	npz_add(key, "deepsigns.b", NPZ_U8, 1, &bs, b);
	npz_add(key, "deepsigns.key_idx", NPZ_I32, 1, &ks, idx);
	npz_add(key, "deepsigns.target", NPZ_I32, 1, &one, &t32);
	npz_add_text(key, "layer", m->layers[pl].name);
	free(cand);
	free(A);
	free(b);
	free(idx);
	return 0;
}

/* What the hooks and the extractor share, read from a key. */
struct ds {
	int pl, al;	/* marked dense/conv layer, its ReLU */
	int M, N, T, C; /* features, bits, target class, classes */
	int nkeys;
	const float *A;	  /* (M, N) */
	const uint8_t *b; /* (N) */
	const int32_t *key_idx;
	/* embedding only */
	double g1, g2, lr;
	double *mu, *gmu; /* (C, M) centres and their gradient */
	double *m1, *m2;  /* Adam moments of mu */
	long t;
	int *near, *count; /* (C) nearest other centre, samples per class in the batch */
	double *dist;	   /* (C, C) squared distances of the centres */
	double *pacc, *z;  /* (M) pull loss per feature, (N) projections */
	float *At;	   /* (N, M) A transposed */
};

static int ds_setup(struct ds *d, const struct npz *key, const struct nn_model *m, char *err,
		    size_t errlen)
{
	char layer[NN_NAMELEN];
	const struct npz_array *A = npz_get(key, "deepsigns.A"), *b = npz_get(key, "deepsigns.b");
	const struct npz_array *k = npz_get(key, "deepsigns.key_idx");
	const struct npz_array *t = npz_get(key, "deepsigns.target");
	memset(d, 0, sizeof *d);
	if (!A || !b || !k || !t || A->dtype != NPZ_F32 || A->ndim != 2 || b->dtype != NPZ_U8 ||
	    k->dtype != NPZ_I32 || t->dtype != NPZ_I32 || t->count != 1 ||
	    npz_get_text(key, "layer", layer, sizeof layer))
		return errf(err, errlen,
			    "deepsigns: key lacks deepsigns.A (float32, M x N), deepsigns.b "
			    "(uint8), deepsigns.key_idx (int32), deepsigns.target (int32) or "
			    "layer; expected a key written by wmbench");
	if (ds_resolve(layer, m, &d->pl, &d->al, err, errlen))
		return -1;
	d->M = (int)nn_out_size(&m->layers[d->al]);
	d->N = (int)A->shape[1];
	d->T = *(const int32_t *)t->data;
	d->C = m->nclass;
	d->nkeys = (int)k->count;
	if (A->shape[0] != d->M || (int64_t)b->count != d->N)
		return errf(err, errlen,
			    "deepsigns: key A is %lld x %lld with %zu bits, but layer '%s' has M = "
			    "%d features; expected a key for this model",
			    (long long)A->shape[0], (long long)A->shape[1], b->count, layer, d->M);
	if (d->T < 0 || d->T >= d->C || d->nkeys < 1)
		return errf(err, errlen,
			    "deepsigns: key target class %d or its %d key images do not fit model "
			    "'%s' with %d classes; expected a key for this model",
			    d->T, d->nkeys, m->arch, d->C);
	d->A = A->data;
	d->b = b->data;
	d->key_idx = k->data;
	return 0;
}

/* Offset of feature j (in PyTorch's (c, h, w) order) of sample i in the
 * activation buffer of layer l for a batch of B: dense-stack (B, M),
 * conv-stack channel-major (C, B, H, W). */
static inline size_t act_off(const struct nn_layer *l, int B, int i, int j)
{
	if (!l->chan_major)
		return (size_t)i * nn_out_size(l) + j;
	size_t S = (size_t)l->out_h * l->out_w;
	return ((size_t)(j / S) * B + i) * S + j % S;
}

/* BCE(b, sigma(z)) in a stable form: log(1 + e^z) - b z. */
static double bce_logit(double z, int b)
{
	return (z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))) - b * z;
}

static double ds_pre_backward(void *ctx, struct nn_model *m, const float *x, const int *y, int B)
{
	struct ds *d = ctx;
	const struct nn_layer *l = &m->layers[d->al];
	const float *a = m->acts[d->al];
	float *da = nn_dact(m, d->al);
	int M = d->M, C = d->C;
	double pull = 0, push = 0, norm = 0, bits = 0, s = d->g1 / B;
	(void)x;

	memset(d->gmu, 0, (size_t)C * M * sizeof(double));
	memset(d->count, 0, (size_t)C * sizeof(int));
	/* 1. pull: activations towards their class centre, and the centre towards
	 * them. The loss goes only into the step's divergence check, so it is
	 * summed per feature (one chain per feature, which vectorises); every
	 * gradient keeps its order of summation. */
	for (int j = 0; j < M; j++)
		d->pacc[j] = 0;
	for (int i = 0; i < B; i++) {
		const double *mu = d->mu + (size_t)y[i] * M;
		double *g = d->gmu + (size_t)y[i] * M, *pa = d->pacc;
		d->count[y[i]]++;
		if (!l->chan_major) {
			const float *ai = a + (size_t)i * M;
			float *dai = da + (size_t)i * M;
			for (int j = 0; j < M; j++) {
				double diff = ai[j] - mu[j];
				pa[j] += diff * diff;
				dai[j] += (float)(s * diff);
				g[j] -= s * diff;
			}
			continue;
		}
		for (int j = 0; j < M; j++) {
			size_t o = act_off(l, B, i, j);
			double diff = a[o] - mu[j];
			pa[j] += diff * diff;
			da[o] += (float)(s * diff);
			g[j] -= s * diff;
		}
	}
	for (int j = 0; j < M; j++)
		pull += d->pacc[j];
	pull *= 0.5 * s;
	/* 2. push: each sample's centre away from its nearest other centre (the
	 * nearest in Euclidean distance, held fixed for the step) */
	/* Each pair once, all pairs of c at a time (independent chains, each
	 * summed over j in order; (b - a)^2 = (a - b)^2 exactly). */
	for (int c = 0; c < C; c++) {
		double *dc = d->dist + (size_t)c * C;
		const double *mc = d->mu + (size_t)c * M;
		for (int k = c + 1; k < C; k++)
			dc[k] = 0;
		for (int j = 0; j < M; j++)
			for (int k = c + 1; k < C; k++) {
				double t = mc[j] - d->mu[(size_t)k * M + j];
				dc[k] += t * t;
			}
		for (int k = c + 1; k < C; k++)
			d->dist[(size_t)k * C + c] = dc[k];
	}
	for (int c = 0; c < C; c++) {
		double best = INFINITY;
		d->near[c] = c;
		for (int k = 0; k < C; k++)
			if (k != c && d->dist[(size_t)c * C + k] < best) {
				best = d->dist[(size_t)c * C + k];
				d->near[c] = k;
			}
	}
	for (int c = 0; c < C; c++) {
		int n = d->near[c];
		if (!d->count[c] || n == c)
			continue;
		const double *mc = d->mu + (size_t)c * M, *mn = d->mu + (size_t)n * M;
		double *gc = d->gmu + (size_t)c * M, *gn = d->gmu + (size_t)n * M;
		double lc = 0, ln = 0, dot = 0, w = s * d->count[c];
		for (int j = 0; j < M; j++) {
			lc += mc[j] * mc[j];
			ln += mn[j] * mn[j];
			dot += mc[j] * mn[j];
		}
		lc = sqrt(lc) + 1e-12;
		ln = sqrt(ln) + 1e-12;
		double cs = dot / (lc * ln), k = w * 4 * (1 - cs);
		/* on unit directions d = 2 - 2 cos, so cos d - d = -2 (1 - cos)^2 */
		push -= w * 2 * (1 - cs) * (1 - cs);
		for (int j = 0; j < M; j++) {
			gc[j] += k * (mn[j] / ln - cs * mc[j] / lc) / lc;
			gn[j] += k * (mc[j] / lc - cs * mn[j] / ln) / ln;
		}
	}
	/* 3. norm: every centre towards unit length */
	for (int c = 0; c < C; c++) {
		const double *mc = d->mu + (size_t)c * M;
		double *gc = d->gmu + (size_t)c * M, n2 = 0;
		for (int j = 0; j < M; j++)
			n2 += mc[j] * mc[j];
		norm += d->g1 * fabs(1 - n2);
		double sg = n2 > 1 ? 1 : n2 < 1 ? -1 : 0;
		for (int j = 0; j < M; j++)
			gc[j] += d->g1 * sg * 2 * mc[j];
	}
	/* 4. bits: the target centre's projection carries b */
	{
		const double *mt = d->mu + (size_t)d->T * M;
		double *gt = d->gmu + (size_t)d->T * M;
		int N = d->N;
		double *z = d->z;
		/* z_k summed over j in order, all k at once along A's rows */
		for (int k = 0; k < N; k++)
			z[k] = 0;
		for (int j = 0; j < M; j++) {
			const float *Aj = d->A + (size_t)j * N;
			for (int k = 0; k < N; k++)
				z[k] += mt[j] * Aj[k];
		}
		for (int k = 0; k < N; k++) {
			bits += d->g2 * bce_logit(z[k], d->b[k]);
			double g = d->g2 * (1.0 / (1.0 + exp(-z[k])) - d->b[k]);
			const float *Ak = d->At + (size_t)k * M;
			for (int j = 0; j < M; j++)
				gt[j] += g * Ak[j];
		}
	}
	/* Adam step on the centres (PyTorch's formulas, no weight decay) */
	d->t++;
	double b1 = 0.9, b2 = 0.999, eps = 1e-8;
	double c1 = 1 - pow(b1, (double)d->t), c2 = 1 - pow(b2, (double)d->t);
	for (size_t k = 0; k < (size_t)C * M; k++) {
		double g = d->gmu[k];
		d->m1[k] = b1 * d->m1[k] + (1 - b1) * g;
		d->m2[k] = b2 * d->m2[k] + (1 - b2) * g * g;
		d->mu[k] -= d->lr * (d->m1[k] / c1) / (sqrt(d->m2[k] / c2) + eps);
	}
	return pull + push + norm + bits;
}

static int ds_embed(const void *cfg, struct nn_model *m, struct npz *key, const struct wm_env *env,
		    char *err, size_t errlen)
{
	const struct ds_cfg *p = cfg;
	struct ds d;
	if (ds_setup(&d, key, m, err, errlen))
		return -1;
	size_t n = (size_t)d.C * d.M;
	d.g1 = p->gamma1;
	d.g2 = p->gamma2;
	d.lr = p->mu_lr;
	d.mu = xmalloc(n * sizeof(double));
	d.gmu = xmalloc(n * sizeof(double));
	d.m1 = xcalloc(n, sizeof(double));
	d.m2 = xcalloc(n, sizeof(double));
	d.near = xmalloc((size_t)d.C * sizeof(int));
	d.count = xmalloc((size_t)d.C * sizeof(int));
	d.dist = xmalloc((size_t)d.C * d.C * sizeof(double));
	d.pacc = xmalloc((size_t)d.M * sizeof(double));
	d.z = xmalloc((size_t)d.N * sizeof(double));
	d.At = xmalloc((size_t)d.M * d.N * sizeof(float));
	for (int j = 0; j < d.M; j++)
		for (int k = 0; k < d.N; k++)
			d.At[(size_t)k * d.M + j] = d.A[(size_t)j * d.N + k];
	for (size_t k = 0; k < n; k++)
		d.mu[k] = rng_uniform(env->rng);
	/* the hook reads and adds to the marked activation only (acts[al]) */
	struct train_hooks h = {
	    .ctx = &d, .pre_backward = ds_pre_backward, .acts_unread = !nn_relu_fused(m, d.al)};
	int rc = wm_train_owner(m, env, &h, 0, err, errlen);
	free(d.mu);
	free(d.gmu);
	free(d.m1);
	free(d.m2);
	free(d.near);
	free(d.count);
	free(d.dist);
	free(d.pacc);
	free(d.z);
	free(d.At);
	return rc;
}

/* Mean activation of the marked layer over the key images, (M). */
static int ds_mean_act(const struct ds *d, struct nn_model *m, const struct dataset *tr,
		       double *mean, char *err, size_t errlen)
{
	size_t D = (size_t)tr->c * tr->h * tr->w;
	const struct nn_layer *l = &m->layers[d->al];
	uint32_t ib[256];
	float *x;
	if (D != nn_in_size(m))
		return errf(err, errlen,
			    "deepsigns: training data has %zu values per image but model '%s' "
			    "takes %zu; expected the dataset the model was marked on",
			    D, m->arch, nn_in_size(m));
	for (int i = 0; i < d->nkeys; i++) {
		int32_t k = d->key_idx[i];
		if (k < 0 || k >= tr->n || tr->y[k] != d->T)
			return errf(err, errlen,
				    "deepsigns: key image %d (training index %d) is not an image "
				    "of class %d in the %d-image training set '%s'; expected the "
				    "dataset the model was marked on",
				    i, k, d->T, tr->n, tr->name);
	}
	x = xmalloc(256 * D * sizeof(float));
	memset(mean, 0, (size_t)d->M * sizeof(double));
	for (int s = 0; s < d->nkeys; s += 256) {
		int B = d->nkeys - s < 256 ? d->nkeys - s : 256;
		for (int i = 0; i < B; i++)
			ib[i] = (uint32_t)d->key_idx[s + i];
		nn_fill_batch(tr->x, tr->y, D, ib, B, x, NULL);
		nn_forward(m, x, B, 0, NULL);
		const float *a = m->acts[d->al];
		for (int i = 0; i < B; i++)
			for (int j = 0; j < d->M; j++)
				mean[j] += a[act_off(l, B, i, j)];
	}
	for (int j = 0; j < d->M; j++)
		mean[j] /= d->nkeys;
	free(x);
	return 0;
}

static int ds_verify(const void *cfg, const struct npz *key, struct nn_model *m, struct wm_query *q,
		     const struct wm_env *env, struct wm_verdict *v, char *err, size_t errlen)
{
	(void)cfg; /* the key holds what verification needs */
	struct ds d;
	(void)q;
	if (ds_setup(&d, key, m, err, errlen))
		return -1;
	double *mean = xmalloc((size_t)d.M * sizeof(double));
	if (ds_mean_act(&d, m, env->train, mean, err, errlen)) {
		free(mean);
		return -1;
	}
	int errors = 0;
	for (int k = 0; k < d.N; k++) {
		double z = 0;
		for (int j = 0; j < d.M; j++)
			z += mean[j] * d.A[(size_t)j * d.N + k];
		errors += (z > 0) != (d.b[k] != 0);
	}
	free(mean);
	strcpy(v->metric_name, "ber");
	v->metric = (double)errors / d.N;
	v->pvalue = binom_tail(d.N, d.N - errors, 0.5);
	v->detected = v->pvalue < env->alpha;
	v->capacity = d.N;
	return 0;
}

static const char *ds_marked_layer(const struct npz *key)
{
	static __thread char buf[NN_NAMELEN];
	if (npz_get_text(key, "layer", buf, sizeof buf))
		return NULL;
	return buf;
}

/* Samples through the forward pass of one verification: The mean activation over the key's nkeys
 * images. */
static double ds_verify_work(const void *cfg, const struct wm_work *w)
{
	const struct ds_cfg *p = cfg;

	(void)w;
	return p->nkeys;
}

const struct wm_scheme wm_deepsigns = {
    .cfg_size = sizeof(struct ds_cfg),
    .name = "deepsigns",
    .colour = "#56B4E9",
    .point = 9,
    .order = 2,
    .summary = "white-box multi-bit mark in a hidden layer's class-mean activation (Rouhani et "
	       "al., ASPLOS 2019)",
    .params = ds_params,
    .check = ds_check,
    .keygen = ds_keygen,
    .embed = ds_embed,
    .verify = ds_verify,
    .marked_layer = ds_marked_layer,
    .verify_work = ds_verify_work,
};
