/* uchida.c - weight-regulariser watermark (Uchida, Nagai, Sakazawa, Satoh;
 * ICMR 2017), written from the equations in SCHEMES.md.
 *
 * w (M) is the mean of the marked layer's weight over its output units
 * (dense: M = fan_in; conv: M = C*K*K). Key X (T, M), message b (T).
 * Extra loss: lambda * sum_j BCE(b_j, sigma(X_j . w)); its gradient on w,
 * sum_j (sigma_j - b_j) X_j, is spread evenly over the output units.
 * Key types: random (X ~ N(0,1)), direct (one +1 per row at a distinct
 * weight), diff (+1 and -1 at two random weights). */
#include "scheme.h"
#include "../workers/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

/* The parameters, as the plug-in receives them (table below). */
struct uchida_cfg {
	int bits;
	double lambda;
	char layer[PARAM_VALLEN];
	char keytype[PARAM_VALLEN];
};

static const struct param_def uchida_params[] = {
    {"bits", PT_INT, "64", 1, 1 << 20, NULL, "number of embedded bits T",
     offsetof(struct uchida_cfg, bits)},
    {"lambda", PT_DOUBLE, "0.01", 0, 1e6, NULL, "strength of the regulariser",
     offsetof(struct uchida_cfg, lambda)},
    {"layer", PT_STRING, "auto", 0, 0, NULL, "marked dense/conv layer (auto = fc2 / conv2)",
     offsetof(struct uchida_cfg, layer)},
    {"keytype", PT_STRING, "random", 0, 0, "random|direct|diff", "embedding matrix X",
     offsetof(struct uchida_cfg, keytype)},
    {0}};

struct uchida {
	int layer, T, M, OC;
	double lambda;
	const float *X;
	float *XT; /* X transposed, (M, T), for project() */
	const uint8_t *b;
	float *gw;
	struct nn_opt_rows rows; /* gw, for the optimiser to add (embedding only) */
};

static int uchida_check(const void *cfg, const struct nn_model *m, char *err, size_t errlen)
{
	const struct uchida_cfg *p = cfg;
	int li = wm_resolve_layer("uchida", p->layer, m, err, errlen);
	if (li < 0)
		return -1;
	const struct nn_layer *l = &m->layers[li];
	long T = p->bits, M = (long)(l->w_n / l->out_c), all = (long)l->w_n;
	const char *kt = p->keytype;
	if (T > all)
		return errf(err, errlen,
			    "uchida: parameter 'bits' = %ld is more than layer '%s' holds (%ld "
			    "weights); expected an integer in [1, %ld]",
			    T, l->name, all, all);
	if (!strcmp(kt, "direct") && T > M)
		return errf(err, errlen,
			    "uchida: parameter 'bits' = %ld with keytype direct needs one weight "
			    "per bit, but layer '%s' has M = %ld; expected an integer in [1, %ld]",
			    T, l->name, M, M);
	if (!strcmp(kt, "diff") && M < 2)
		return errf(err, errlen,
			    "uchida: keytype diff needs M >= 2 weights; layer '%s' has %ld",
			    l->name, M);
	return 0;
}

static int uchida_keygen(const void *cfg, const struct nn_model *m, const struct wm_env *env,
			 struct npz *key, char *err, size_t errlen)
{
	const struct uchida_cfg *p = cfg;
	int li = wm_resolve_layer("uchida", p->layer, m, err, errlen);
	if (li < 0)
		return -1;
	const struct nn_layer *l = &m->layers[li];
	int T = p->bits, M = (int)(l->w_n / l->out_c);
	const char *kt = p->keytype;
	float *X = xcalloc((size_t)T * M, sizeof(float));
	uint8_t *b = xmalloc((size_t)T);
	uint32_t *perm = NULL;
	if (!strcmp(kt, "random")) {
		for (size_t i = 0; i < (size_t)T * M; i++)
			X[i] = (float)rng_normal(env->rng);
	} else if (!strcmp(kt, "direct")) {
		perm = xmalloc((size_t)M * sizeof *perm);
		for (int i = 0; i < M; i++)
			perm[i] = (uint32_t)i;
		rng_shuffle_u32(env->rng, perm, (size_t)M);
		for (int t = 0; t < T; t++)
			X[(size_t)t * M + perm[t]] = 1.0f;
	} else {
		for (int t = 0; t < T; t++) {
			uint32_t i = rng_below(env->rng, (uint32_t)M), j;
			do
				j = rng_below(env->rng, (uint32_t)M);
			while (j == i);
			X[(size_t)t * M + i] = 1.0f;
			X[(size_t)t * M + j] = -1.0f;
		}
	}
	for (int t = 0; t < T; t++)
		b[t] = (uint8_t)(rng_u64(env->rng) >> 63);
	int64_t xs[2] = {T, M}, bs = T;
	npz_add(key, "uchida.X", NPZ_F32, 2, xs, X);
	npz_add(key, "uchida.b", NPZ_U8, 1, &bs, b);
	npz_add_text(key, "layer", l->name);
	free(X);
	free(b);
	free(perm);
	return 0;
}

/* z[t] = X_t . w for t < T, from X transposed (XT, M x T). Each z[t] adds
 * up its products in j order, as the plain loop over a row of X would; the
 * rows are worked on side by side (32, then 8 at a time), so the additions
 * no longer wait on one another. With 32, each j reads 32 consecutive floats
 * of XT, so XT streams through once per 32 rows; 8 rows at a time read 32
 * bytes every T floats (on mlp's fc2, T 64 and M 512, perf put project at 0.5
 * % of the embedding with 8, 0.25 % with 32). No FMA: neither target enables
 * it. */
__attribute__((target_clones("avx2", "default"))) static void project(const float *XT, int T, int M,
								      const double *w, double *z)
{
	typedef double v4d __attribute__((vector_size(32)));
	int t = 0;
	for (; t + 32 <= T; t += 32) {
		v4d a[8] = {{0}};
		for (int j = 0; j < M; j++) {
			const float *x = XT + (size_t)j * T + t;
			v4d wj = {w[j], w[j], w[j], w[j]};
			for (int q = 0; q < 8; q++) {
				v4d xq = {x[4 * q], x[4 * q + 1], x[4 * q + 2], x[4 * q + 3]};
				a[q] += xq * wj;
			}
		}
		for (int q = 0; q < 8; q++)
			for (int r = 0; r < 4; r++)
				z[t + 4 * q + r] = a[q][r];
	}
	for (; t + 8 <= T; t += 8) {
		v4d a = {0, 0, 0, 0}, c = {0, 0, 0, 0};
		for (int j = 0; j < M; j++) {
			const float *x = XT + (size_t)j * T + t;
			v4d wj = {w[j], w[j], w[j], w[j]};
			v4d xa = {x[0], x[1], x[2], x[3]}, xc = {x[4], x[5], x[6], x[7]};
			a += xa * wj;
			c += xc * wj;
		}
		for (int q = 0; q < 4; q++)
			z[t + q] = a[q], z[t + 4 + q] = c[q];
	}
	for (; t < T; t++) {
		double s = 0;
		for (int j = 0; j < M; j++)
			s += XT[(size_t)j * T + t] * w[j];
		z[t] = s;
	}
}

/* X (T x M) transposed into a new (M x T) array */
static float *transpose(const float *X, int T, int M)
{
	float *XT = xmalloc((size_t)T * M * sizeof(float));
	for (int t = 0; t < T; t++)
		for (int j = 0; j < M; j++)
			XT[(size_t)j * T + t] = X[(size_t)t * M + j];
	return XT;
}

static double uchida_post_backward(void *ctx, struct nn_model *m, const float *x, const int *y,
				   int B)
{
	struct uchida *u = ctx;
	double *w = xmalloc((size_t)(u->M + u->T) * sizeof(double)), *zt = w + u->M, loss = 0;
	(void)x, (void)y, (void)B;
	nn_row_mean(m, u->layer, &u->rows, w); /* from the optimiser's sums when it has them */
	project(u->XT, u->T, u->M, w, zt);
	memset(u->gw, 0, (size_t)u->M * sizeof(float));
	for (int t = 0; t < u->T; t++) {
		const float *Xt = u->X + (size_t)t * u->M;
		double z = zt[t];
		double s = 1.0 / (1.0 + exp(-z));
		/* BCE in a numerically stable form: log(1+e^z) - b z */
		loss += (z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))) - u->b[t] * z;
		float g = (float)(u->lambda * (s - u->b[t]) / u->OC);
		for (int j = 0; j < u->M; j++)
			u->gw[j] += g * Xt[j];
	}
	u->rows.add = u->gw; /* added to every row of the gradient by the next step */
	u->rows.pending = 1;
	free(w);
	return u->lambda * loss;
}

static int uchida_setup(struct uchida *u, const struct npz *key, const struct nn_model *m,
			char *err, size_t errlen)
{
	char layer[NN_NAMELEN];
	const struct npz_array *X = npz_get(key, "uchida.X"), *b = npz_get(key, "uchida.b");
	if (!X || !b || X->dtype != NPZ_F32 || b->dtype != NPZ_U8 || X->ndim != 2 ||
	    npz_get_text(key, "layer", layer, sizeof layer))
		return errf(err, errlen,
			    "uchida: key lacks uchida.X (float32, T x M), uchida.b (uint8) or "
			    "layer; expected a key written by wmbench");
	u->layer = nn_find_layer(m, layer);
	if (u->layer < 0 || !nn_has_params(&m->layers[u->layer]))
		return errf(err, errlen,
			    "uchida: the key marks layer '%s', which model '%s' does not have",
			    layer, m->arch);
	const struct nn_layer *l = &m->layers[u->layer];
	u->OC = l->out_c;
	u->M = (int)(l->w_n / l->out_c);
	u->T = (int)X->shape[0];
	if (X->shape[1] != u->M || (int64_t)b->count != u->T)
		return errf(err, errlen,
			    "uchida: key X is %lld x %lld but layer '%s' has M = %d; expected a "
			    "key for this model",
			    (long long)X->shape[0], (long long)X->shape[1], layer, u->M);
	u->X = X->data;
	u->b = b->data;
	return 0;
}

static int uchida_embed(const void *cfg, struct nn_model *m, struct npz *key,
			const struct wm_env *env, char *err, size_t errlen)
{
	const struct uchida_cfg *p = cfg;
	struct uchida u = {0};
	if (uchida_setup(&u, key, m, err, errlen))
		return -1;
	u.lambda = p->lambda;
	u.gw = xmalloc((size_t)u.M * sizeof(float));
	u.XT = transpose(u.X, u.T, u.M);
	nn_opt_rows_init(&u.rows, m, u.layer);
	/* the hook reads the weights, not the activations */
	struct train_hooks h = {
	    .ctx = &u, .post_backward = uchida_post_backward, .rows = &u.rows, .acts_unread = 1};
	int rc = wm_train_owner(m, env, &h, 0, err, errlen);
	nn_opt_rows_free(&u.rows);
	free(u.XT);
	free(u.gw);
	return rc;
}

static int uchida_verify(const void *cfg, const struct npz *key, struct nn_model *m,
			 struct wm_query *q, const struct wm_env *env, struct wm_verdict *v,
			 char *err, size_t errlen)
{
	(void)cfg; /* the key holds what verification needs */
	struct uchida u = {0};
	(void)q;
	if (uchida_setup(&u, key, m, err, errlen))
		return -1;
	double *w = xmalloc((size_t)(u.M + u.T) * sizeof(double)), *z = w + u.M;
	float *XT = transpose(u.X, u.T, u.M);
	int errors = 0;
	nn_row_mean(m, u.layer, NULL, w);
	project(XT, u.T, u.M, w, z);
	for (int t = 0; t < u.T; t++)
		errors += (z[t] >= 0) != (u.b[t] != 0);
	free(XT);
	free(w);
	strcpy(v->metric_name, "ber");
	v->metric = (double)errors / u.T;
	v->pvalue = binom_tail(u.T, u.T - errors, 0.5);
	v->detected = v->pvalue < env->alpha;
	v->capacity = u.T;
	return 0;
}

static const char *uchida_marked_layer(const struct npz *key)
{
	const struct npz_array *a = npz_get(key, "layer");
	static __thread char buf[NN_NAMELEN];
	if (!a || npz_get_text(key, "layer", buf, sizeof buf))
		return NULL;
	return buf;
}

const struct wm_scheme wm_uchida = {
    .cfg_size = sizeof(struct uchida_cfg),
    .name = "uchida",
    .colour = "#E69F00",
    .point = 7,
    .order = 1,
    .summary = "white-box multi-bit weight regulariser (Uchida et al., ICMR 2017)",
    .params = uchida_params,
    .check = uchida_check,
    .keygen = uchida_keygen,
    .embed = uchida_embed,
    .verify = uchida_verify,
    .marked_layer = uchida_marked_layer,
};
