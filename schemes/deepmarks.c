/* deepmarks.c - white-box fingerprints in the weights (DeepMarks; Chen,
 * Rouhani, Fu, Zhao, Koushanfar; ICMR 2019, arXiv 1804.03648), written from
 * SCHEMES-WRT.md ("deepmarks", "What to use instead"), not from WRT's code.
 *
 * w (M) is the mean of the marked layer's weight over its output units, as
 * in uchida (dense: M = fan_in; conv: M = C_in k k).
 * Key: X (n x M) i.i.d. N(0, 1) and, for K = users users, codes b_k in
 * {-1,+1}^n: b_k[j] = d_j H(r_k, j mod P), d i.i.d. uniform signs, H the
 * Sylvester-Hadamard matrix of order P (the smallest power of two >= K,
 * H(r, c) = (-1)^popcount(r & c)) and r_0..r_{K-1} distinct rows in a random
 * order. With P dividing n (checked) the K codes are exactly orthogonal;
 * with K = 1 they are plain random signs. The key marks user `user`.
 * Embed (from scratch, like uchida, through post_backward): the task loss
 * plus gamma sum_j (s_j - strength)^2 with s_j = b_j X_j.w/|w|, the user's
 * normalised signed projections. Its gradient on w,
 * 2 gamma sum_j (s_j - strength) b_j (X_j - (X_j.u) u)/|w| (u = w/|w|),
 * is spread evenly over the output units. Met, it gives z = strength sqrt(n).
 * Verify (white-box): s_j for the key's user, z = sum_j s_j / sqrt(n),
 * metric "ber" = fraction of s_j < 0, aux = z, capacity n.
 * Chance model (kind 1, exact): a model never marked with this key has w
 * independent of X, and X w/|w| is then N(0, I_n) whatever w is; multiplying
 * by fixed signs keeps it so. Hence z ~ N(0, 1) exactly and
 * p = 1 - Phi(z) = erfc(z/sqrt 2)/2 (floored at DBL_MIN, like binom_tail).
 * With K > 1 users the p-value is Bonferroni over users,
 * min(1, K (1 - Phi(max_k z_k))) ("was this model fingerprinted with this
 * key for any user"); aux stays the key user's z, which names the user.
 * Detected iff p < alpha.
 * Deviations: the paper regresses X w on a fingerprint f with MSE and
 * WRT draws X uniform in [0, 1) (non-centred: every model correlates, see
 * the spec); here X is centred Gaussian and the target is on the scale-free
 * projection s_j, so one `strength` means the same z on every layer whatever
 * its weight scale. Codes are Hadamard rows instead of BIBD anti-collusion
 * codes; collusion decoding is not implemented. */
#include "scheme.h"
#include "../workers/util.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

/* The parameters, as the plug-in receives them (table below). */
struct dm_cfg {
	int bits;
	double gamma;
	double strength;
	char layer[PARAM_VALLEN];
	int users;
	int user;
};

static const struct param_def dm_params[] = {
    {"bits", PT_INT, "64", 1, 1 << 20, NULL, "code length n (at most M/2 of the marked layer)",
     offsetof(struct dm_cfg, bits)},
    {"gamma", PT_DOUBLE, "0.01", 0, 1e6, NULL, "weight of the fingerprint regulariser",
     offsetof(struct dm_cfg, gamma)},
    {"strength", PT_DOUBLE, "2", 0, 100, NULL,
     "target of each normalised projection s_j (z = strength sqrt(n) when met)",
     offsetof(struct dm_cfg, strength)},
    {"layer", PT_STRING, "auto", 0, 0, NULL, "marked dense/conv layer (auto = fc2 / conv2)",
     offsetof(struct dm_cfg, layer)},
    {"users", PT_INT, "1", 1, 1024, NULL, "number of users K (orthogonal codes)",
     offsetof(struct dm_cfg, users)},
    {"user", PT_INT, "0", 0, 1023, NULL, "the user this copy is fingerprinted for (0..users-1)",
     offsetof(struct dm_cfg, user)},
    {0}};

/* The smallest power of two >= k. */
static int pow2_at_least(int k)
{
	int p = 1;
	while (p < k)
		p <<= 1;
	return p;
}

static int dm_check(const void *cfg, const struct nn_model *m, char *err, size_t errlen)
{
	const struct dm_cfg *p = cfg;
	int li = wm_resolve_layer("deepmarks", p->layer, m, err, errlen);
	if (li < 0)
		return -1;
	const struct nn_layer *l = &m->layers[li];
	long n = p->bits, M = (long)(l->w_n / l->out_c);
	if (M < 2 || n > M / 2)
		return errf(err, errlen,
			    "deepmarks: parameter 'bits' = %ld is more than half of layer '%s' "
			    "(M = %ld weights per output unit); expected an integer in [1, %ld]",
			    n, l->name, M, M / 2 > 0 ? M / 2 : 0);
	if (p->user >= p->users)
		return errf(err, errlen,
			    "deepmarks: parameter 'user' = %d is not one of the %d users; expected "
			    "an integer in [0, %d]",
			    p->user, p->users, p->users - 1);
	int P = pow2_at_least(p->users);
	if (p->users > 1 && P > M / 2)
		return errf(
		    err, errlen,
		    "deepmarks: parameter 'users' = %d needs codes of at least %d bits, but "
		    "layer '%s' (M = %ld) holds at most %ld; expected users in [1, %d]",
		    p->users, P, l->name, M, M / 2, pow2_at_least((int)(M / 2) + 1) / 2);
	if (p->users > 1 && n % P)
		return errf(err, errlen,
			    "deepmarks: parameter 'bits' = %ld with users = %d needs a multiple of "
			    "%d for orthogonal codes; expected bits in {%d, %d, ...} up to %ld",
			    n, p->users, P, P, 2 * P, M / 2);
	return 0;
}

static int dm_keygen(const void *cfg, const struct nn_model *m, const struct wm_env *env,
		     struct npz *key, char *err, size_t errlen)
{
	const struct dm_cfg *p = cfg;
	if (dm_check(p, m, err, errlen))
		return -1;
	const struct nn_layer *l =
	    &m->layers[wm_resolve_layer("deepmarks", p->layer, m, err, errlen)];
	int n = p->bits, M = (int)(l->w_n / l->out_c), K = p->users, P = pow2_at_least(K);
	float *X = xmalloc((size_t)n * M * sizeof(float));
	uint8_t *codes = xmalloc((size_t)K * n), *d = xmalloc((size_t)n);
	uint32_t *rows = xmalloc((size_t)P * sizeof *rows);
	for (size_t i = 0; i < (size_t)n * M; i++)
		X[i] = (float)rng_normal(env->rng);
	for (int j = 0; j < n; j++)
		d[j] = (uint8_t)(rng_u64(env->rng) >> 63);
	for (int r = 0; r < P; r++)
		rows[r] = (uint32_t)r;
	if (P > 1)
		rng_shuffle_u32(env->rng, rows, (size_t)P);
	/* code bit 1 means +1: d_j H(r_k, j mod P) */
	for (int k = 0; k < K; k++)
		for (int j = 0; j < n; j++) {
			int h = __builtin_popcount(rows[k] & (uint32_t)(j % P)) & 1;
			codes[(size_t)k * n + j] = (uint8_t)(d[j] ^ h);
		}
	int64_t xs[2] = {n, M}, cs[2] = {K, n}, one = 1;
	int32_t user = p->user;
	npz_add(key, "deepmarks.X", NPZ_F32, 2, xs, X);
	npz_add(key, "deepmarks.codes", NPZ_U8, 2, cs, codes);
	npz_add(key, "deepmarks.user", NPZ_I32, 1, &one, &user);
	npz_add_text(key, "layer", l->name);
	free(X);
	free(codes);
	free(d);
	free(rows);
	return 0;
}

struct dm {
	int layer, n, M, OC, K, user;
	double gamma, strength;
	const float *X;
	const uint8_t *codes; /* (K, n), 1 = +1 */
	double *w, *gw;
	/* embedding only (NULL otherwise): the row gradient, as floats, for the
	 * optimiser to add to every row of the marked layer while it updates it,
	 * and its column sums of the updated weight, the next step's mean */
	struct nn_opt_rows *rows;
	float *gwf;
};

static int dm_setup(struct dm *u, const struct npz *key, const struct nn_model *m, char *err,
		    size_t errlen)
{
	char layer[NN_NAMELEN];
	const struct npz_array *X = npz_get(key, "deepmarks.X"),
			       *c = npz_get(key, "deepmarks.codes"),
			       *us = npz_get(key, "deepmarks.user");
	if (!X || !c || !us || X->dtype != NPZ_F32 || c->dtype != NPZ_U8 || us->dtype != NPZ_I32 ||
	    X->ndim != 2 || c->ndim != 2 || us->count != 1 ||
	    npz_get_text(key, "layer", layer, sizeof layer))
		return errf(err, errlen,
			    "deepmarks: key lacks deepmarks.X (float32, n x M), deepmarks.codes "
			    "(uint8, K x n), deepmarks.user (int32) or layer; expected a key "
			    "written by wmbench");
	u->layer = nn_find_layer(m, layer);
	if (u->layer < 0 || !nn_has_params(&m->layers[u->layer]))
		return errf(err, errlen,
			    "deepmarks: the key marks layer '%s', which model '%s' does not have",
			    layer, m->arch);
	const struct nn_layer *l = &m->layers[u->layer];
	u->OC = l->out_c;
	u->M = (int)(l->w_n / l->out_c);
	u->n = (int)X->shape[0];
	u->K = (int)c->shape[0];
	u->user = *(const int32_t *)us->data;
	if (X->shape[1] != u->M || c->shape[1] != u->n || u->n < 1)
		return errf(err, errlen,
			    "deepmarks: key X is %lld x %lld but layer '%s' has M = %d; expected a "
			    "key for this model",
			    (long long)X->shape[0], (long long)X->shape[1], layer, u->M);
	if (u->user < 0 || u->user >= u->K)
		return errf(err, errlen,
			    "deepmarks: key user %d is not one of its %d codes; expected a key "
			    "written by wmbench",
			    u->user, u->K);
	u->X = X->data;
	u->codes = c->data;
	return 0;
}

/* w = mean over output units of the weight rows (M; nn_row_mean, from the
 * optimiser's column sums when rows holds them); returns |w|. */
static double mean_weight(const struct nn_model *m, int li, const struct nn_opt_rows *rows,
			  double *w)
{
	int M = (int)(m->layers[li].w_n / m->layers[li].out_c);
	double nrm = 0;
	nn_row_mean(m, li, rows, w);
	for (int j = 0; j < M; j++)
		nrm += w[j] * w[j];
	return sqrt(nrm);
}

/* s_j = b_kj X_j.w/|w| for user k into s (n); returns sum_j s_j. */
static double projections(const struct dm *u, int k, const double *w, double nw, double *s)
{
	double sum = 0;
	for (int j = 0; j < u->n; j++) {
		const float *Xj = u->X + (size_t)j * u->M;
		double pr = 0;
		for (int i = 0; i < u->M; i++)
			pr += Xj[i] * w[i];
		pr /= nw;
		s[j] = u->codes[(size_t)k * u->n + j] ? pr : -pr;
		sum += s[j];
	}
	return sum;
}

/* The regulariser gamma sum_j (s_j - strength)^2 of the key's user;
 * its gradient is ADDED into m->grads of the marked layer, or with u->rows
 * handed to the optimiser, which adds the same floats to every row of the
 * gradient as it updates the layer. */
static double dm_penalty(struct dm *u, struct nn_model *m)
{
	const struct nn_layer *l = &m->layers[u->layer];
	double nw = mean_weight(m, u->layer, u->rows, u->w), loss = 0, coef = 0;
	if (!(nw > 0))
		return 0; /* an all-zero mean weight has no direction to score */
	double *s = xmalloc((size_t)u->n * sizeof(double));
	projections(u, u->user, u->w, nw, s);
	/* dL/dw = sum_j 2 gamma (s_j - t) b_j (X_j - (X_j.u) u)/|w|
	 *       = (g - (g.u) u)/|w| with g = sum_j 2 gamma (s_j - t) b_j X_j */
	for (int i = 0; i < u->M; i++)
		u->gw[i] = 0;
	for (int j = 0; j < u->n; j++) {
		double e = s[j] - u->strength;
		loss += e * e;
		double c = 2 * u->gamma * e * (u->codes[(size_t)u->user * u->n + j] ? 1 : -1);
		const float *Xj = u->X + (size_t)j * u->M;
		for (int i = 0; i < u->M; i++)
			u->gw[i] += c * Xj[i];
	}
	for (int i = 0; i < u->M; i++)
		coef += u->gw[i] * u->w[i] / nw;
	float *G = m->grads + l->w_off;
	for (int i = 0; i < u->M; i++)
		u->gw[i] = (u->gw[i] - coef * u->w[i] / nw) / nw / u->OC;
	if (u->rows) {
		for (int i = 0; i < u->M; i++)
			u->gwf[i] = (float)u->gw[i];
		u->rows->add = u->gwf; /* added to every row by the next step */
		u->rows->pending = 1;
	} else {
		for (int o = 0; o < u->OC; o++)
			for (int i = 0; i < u->M; i++)
				G[(size_t)o * u->M + i] += (float)u->gw[i];
	}
	free(s);
	return u->gamma * loss;
}

static double dm_post_backward(void *ctx, struct nn_model *m, const float *x, const int *y, int B)
{
	(void)x, (void)y, (void)B;
	return dm_penalty(ctx, m);
}

static void dm_alloc(struct dm *u)
{
	u->w = xmalloc((size_t)u->M * sizeof(double));
	u->gw = xmalloc((size_t)u->M * sizeof(double));
}

static void dm_release(struct dm *u)
{
	free(u->w);
	free(u->gw);
}

/* The regulariser of key on m at (gamma, strength), its gradient added into
 * m->grads: for the tests' finite differences. NAN with a message on a bad
 * key. */
double wm_deepmarks_penalty(const struct npz *key, struct nn_model *m, double gamma,
			    double strength, char *err, size_t errlen)
{
	struct dm u = {0};
	if (dm_setup(&u, key, m, err, errlen))
		return NAN;
	u.gamma = gamma;
	u.strength = strength;
	dm_alloc(&u);
	double r = dm_penalty(&u, m);
	dm_release(&u);
	return r;
}

static int dm_embed(const void *cfg, struct nn_model *m, struct npz *key, const struct wm_env *env,
		    char *err, size_t errlen)
{
	const struct dm_cfg *p = cfg;
	struct dm u = {0};
	if (dm_setup(&u, key, m, err, errlen))
		return -1;
	u.gamma = p->gamma;
	u.strength = p->strength;
	dm_alloc(&u);
	struct nn_opt_rows rows;
	nn_opt_rows_init(&rows, m, u.layer);
	u.rows = &rows;
	u.gwf = xmalloc((size_t)u.M * sizeof(float));
	/* the hook reads the weights, not the activations */
	struct train_hooks h = {
	    .ctx = &u, .post_backward = dm_post_backward, .rows = &rows, .acts_unread = 1};
	int rc = wm_train_owner(m, env, &h, 0, err, errlen);
	nn_opt_rows_free(&rows);
	free(u.gwf);
	dm_release(&u);
	return rc;
}

/* 1 - Phi(z), floored at DBL_MIN as binom_tail floors its tails. */
static double upper_normal(double z)
{
	double p = 0.5 * erfc(z / M_SQRT2);
	return p < DBL_MIN ? DBL_MIN : p;
}

static int dm_verify(const void *cfg, const struct npz *key, struct nn_model *m, struct wm_query *q,
		     const struct wm_env *env, struct wm_verdict *v, char *err, size_t errlen)
{
	(void)cfg; /* the key holds what verification needs */
	(void)q;
	struct dm u = {0};
	if (!m)
		return errf(err, errlen,
			    "deepmarks: verification reads the weights; expected a model, not only "
			    "a query path");
	if (dm_setup(&u, key, m, err, errlen))
		return -1;
	dm_alloc(&u);
	double nw = mean_weight(m, u.layer, NULL, u.w);
	if (!(nw > 0)) {
		dm_release(&u);
		return errf(err, errlen,
			    "deepmarks: the mean weight of layer '%s' is zero; expected a trained "
			    "model",
			    m->layers[u.layer].name);
	}
	double *s = xmalloc((size_t)u.n * sizeof(double)), zmax = -INFINITY, zuser = 0;
	int neg = 0;
	for (int k = 0; k < u.K; k++) {
		double z = projections(&u, k, u.w, nw, s) / sqrt((double)u.n);
		if (k == u.user) {
			zuser = z;
			for (int j = 0; j < u.n; j++)
				neg += s[j] < 0;
		}
		zmax = z > zmax ? z : zmax;
	}
	free(s);
	dm_release(&u);
	strcpy(v->metric_name, "ber");
	v->metric = (double)neg / u.n;
	v->pvalue = u.K == 1 ? upper_normal(zuser) : fmin(1.0, u.K * upper_normal(zmax));
	v->detected = v->pvalue < env->alpha;
	v->capacity = u.n;
	v->aux = zuser;
	return 0;
}

static const char *dm_marked_layer(const struct npz *key)
{
	static __thread char buf[NN_NAMELEN];
	if (npz_get_text(key, "layer", buf, sizeof buf))
		return NULL;
	return buf;
}

const struct wm_scheme wm_deepmarks = {
    .cfg_size = sizeof(struct dm_cfg),
    .name = "deepmarks",
    .colour = "#8C510A",
    .point = 14,
    .order = 13,
    .summary = "white-box fingerprint: Gaussian projections of the mean weight, exact z-test "
	       "(DeepMarks, Chen et al., ICMR 2019)",
    .params = dm_params,
    .check = dm_check,
    .keygen = dm_keygen,
    .embed = dm_embed,
    .verify = dm_verify,
    .marked_layer = dm_marked_layer,
    .aux_label = "z",
};
