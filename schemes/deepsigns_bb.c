/* deepsigns_bb.c - DeepSigns' black-box variant (Rouhani, Chen, Koushanfar;
 * ASPLOS 2019), written from SCHEMES.md: noise keys that only the marked
 * model classifies "correctly".
 *
 * keygen: a 64-bit seed from the job's RNG. The candidate pool, pool * K
 *   images (40 K in the paper) of uniform random pixels with uniform random
 *   labels, is a pure function of that seed.
 * embed: trains the model normally (the unmarked model), records its
 *   predictions on the candidates, fine-tunes it on the owner's training
 *   data plus all candidates (demo: 2 epochs, SGD 8e-4, momentum 0.9), then
 *   keeps the first K candidates that the unmarked model got wrong and the
 *   marked model gets right. Those K images and labels exist only after
 *   training, so embed adds them to the key (the one scheme that needs
 *   embed's key argument to be writable); the pipeline writes the key after
 *   embed returns. Verification never needs the unmarked model.
 * verify (only through the query path): matches m of the model's top-1
 *   predictions with the K key labels; metric wm_acc = m / K.
 *   The chance model (README "Decision rules"). The paper's null,
 *   Binomial(K, 1/C), is wrong for these keys: they are kept where the
 *   unmarked model was wrong and the marked one right, so their labels are
 *   skewed (one seed kept 7 of class 1 and 7 of class 6 among 20), and an
 *   unmarked model that sends noise images to one of the frequent classes
 *   matches far more often than 1/C. Here the null is any model whose
 *   predictions on the key images are independent draws from a class
 *   distribution q that does not depend on the key labels, q unknown. Key k
 *   matches with probability q[y_k], so the mean number of matches is
 *   mu = sum_c n_c q[c] <= n_max, the count of the most frequent key label.
 *   For a sum S of independent Bernoulli(p_k) with mean mu and t > 0,
 *   E e^{tS} = prod (1 + p_k (e^t - 1)) <= (1 + (mu/K)(e^t - 1))^K (AM-GM),
 *   so the Chernoff-Hoeffding bound of a Binomial(K, mu/K) holds for S:
 *   P[S >= m] <= exp(-K D(m/K || mu/K)) for m > mu, D the Bernoulli
 *   Kullback-Leibler divergence, and it grows with mu. The p-value is that
 *   bound at mu = n_max (1 when m <= n_max): conservative for every q. It
 *   is never below the paper's Binomial(K, 1/C) tail. Detected iff
 *   p-value < alpha. The paper's theta rule (mismatches < theta from
 *   Binomial(K, 1 - 1/C)) is the same test under the uniform null, and is
 *   not used. The released code counts matches where it means
 *   mismatches. */
#include "scheme.h"
#include "../workers/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

/* candidates held in memory at once (as bytes and as floats) */
#define BB_MAX_POOL 100000

/* The parameters, as the plug-in receives them (table below). */
struct bb_cfg {
	int K;
	int pool;
	int ft_epochs;
	double ft_lr;
	double ft_momentum;
};

static const struct param_def bb_params[] = {
    {"K", PT_INT, "20", 1, 10000, NULL, "number of key images kept (trigger-set size)",
     offsetof(struct bb_cfg, K)},
    {"pool", PT_INT, "40", 1, 1000, NULL, "candidates drawn per key image (pool * K in all)",
     offsetof(struct bb_cfg, pool)},
    {"ft_epochs", PT_INT, "2", 1, 1000, NULL, "fine-tuning epochs on data plus candidates",
     offsetof(struct bb_cfg, ft_epochs)},
    {"ft_lr", PT_DOUBLE, "0.0008", 1e-8, 10, NULL, "fine-tuning SGD learning rate",
     offsetof(struct bb_cfg, ft_lr)},
    {"ft_momentum", PT_DOUBLE, "0.9", 0, 0.999, NULL, "fine-tuning SGD momentum",
     offsetof(struct bb_cfg, ft_momentum)},
    {0}};

/* The p-value of `matches` of K keys with labels y over C classes: the
 * conservative bound of the header, exp(-K D(m/K || n_max/K)) above n_max,
 * else 1. Exported for tests. */
double wm_deepsigns_bb_pvalue(const int32_t *y, int K, int C, int matches)
{
	int nmax = 0, *count = xcalloc((size_t)C, sizeof *count);
	for (int k = 0; k < K; k++)
		if (y[k] >= 0 && y[k] < C && ++count[y[k]] > nmax)
			nmax = count[y[k]];
	free(count);
	if (matches <= nmax || nmax >= K)
		return 1;
	double a = (double)matches / K, b = (double)nmax / K;
	double d = a * log(a / b) + (a < 1 ? (1 - a) * log((1 - a) / (1 - b)) : 0);
	return exp(-K * d);
}

static int bb_check(const void *cfg, const struct nn_model *m, char *err, size_t errlen)
{
	const struct bb_cfg *p = cfg;
	long K = p->K, pool = p->pool;
	if (m->nclass < 2)
		return errf(err, errlen,
			    "deepsigns-bb: model '%s' has %d class; expected at least 2", m->arch,
			    m->nclass);
	if (K < 1 || K > 10000)
		return errf(err, errlen,
			    "deepsigns-bb: parameter 'K' = %ld is out of range; expected an "
			    "integer in [1, 10000]",
			    K);
	if (pool < 1 || pool > 1000)
		return errf(err, errlen,
			    "deepsigns-bb: parameter 'pool' = %ld is out of range; expected an "
			    "integer in [1, 1000]",
			    pool);
	if (K * pool > BB_MAX_POOL)
		return errf(err, errlen,
			    "deepsigns-bb: parameters 'K' = %ld and 'pool' = %ld ask for %ld "
			    "candidates; expected K * pool <= %d",
			    K, pool, K * pool, BB_MAX_POOL);
	return 0;
}

static int bb_keygen(const void *cfg, const struct nn_model *m, const struct wm_env *env,
		     struct npz *key, char *err, size_t errlen)
{
	const struct bb_cfg *p = cfg;
	if (bb_check(p, m, err, errlen))
		return -1;
	int64_t seed = (int64_t)rng_u64(env->rng), one = 1;
	npz_add(key, "deepsigns_bb.seed", NPZ_I64, 1, &one, &seed);
	return 0;
}

/* The candidate pool of a seed: P images of D uniform random pixels (P, D)
 * and P uniform random labels in [0, C). */
static void bb_candidates(uint64_t seed, int P, size_t D, int C, uint8_t *x, int *y)
{
	struct rng r;
	rng_seed(&r, seed);
	for (int i = 0; i < P; i++) {
		for (size_t k = 0; k < D; k++)
			x[(size_t)i * D + k] = (uint8_t)(rng_u64(&r) >> 56);
		y[i] = (int)rng_below(&r, (uint32_t)C);
	}
}

/* Top-1 predictions of m on x (n, D). */
static void bb_predict(struct nn_model *m, const float *x, int n, int *pred)
{
	int C = m->nclass;
	float *probs = xmalloc((size_t)n * C * sizeof(float));
	nn_predict_proba(m, x, n, probs);
	for (int i = 0; i < n; i++)
		pred[i] = nn_argmax(probs + (size_t)i * C, C);
	free(probs);
}

static int bb_embed(const void *cfg, struct nn_model *m, struct npz *key, const struct wm_env *env,
		    char *err, size_t errlen)
{
	const struct bb_cfg *p = cfg;
	const struct npz_array *sa = npz_get(key, "deepsigns_bb.seed");
	const struct dataset *tr = env->train;
	int K = p->K, P = K * p->pool, C = m->nclass;
	size_t D = nn_in_size(m);
	int rc = -1, nsel = 0, n = env->n_owner + P;
	struct nn_opt opt;
	struct train_cfg tcfg = {.epochs = p->ft_epochs, .batch = env->ts.batch};
	struct dataset all;

	if (!sa || sa->dtype != NPZ_I64 || sa->count != 1)
		return errf(err, errlen,
			    "deepsigns-bb: key lacks deepsigns_bb.seed (int64); expected a key "
			    "written by deepsigns-bb keygen");
	if ((size_t)tr->c * tr->h * tr->w != D || tr->nclass != C)
		return errf(err, errlen,
			    "deepsigns-bb: training data is %dx%dx%d with %d classes but model "
			    "'%s' takes %zu values and %d classes; expected matching data",
			    tr->c, tr->h, tr->w, tr->nclass, m->arch, D, C);
	/* 1. the unmarked model */
	if (wm_train_owner(m, env, NULL, 0, err, errlen))
		return -1;

	/* 2. candidates, and what the unmarked model makes of them */
	all = *tr;
	all.n = n;
	all.x = xmalloc((size_t)n * D);
	all.y = xmalloc((size_t)n);
	int *cy = xmalloc((size_t)P * sizeof(int)), *pred0 = xmalloc((size_t)P * sizeof(int));
	int *pred1 = xmalloc((size_t)P * sizeof(int)), *sel = xmalloc((size_t)K * sizeof(int));
	uint8_t *cx = all.x + (size_t)env->n_owner * D;
	float *xf = xmalloc((size_t)P * D * sizeof(float));
	uint32_t *idx = xmalloc((size_t)n * sizeof *idx);
	bb_candidates((uint64_t) * (const int64_t *)sa->data, P, D, C, cx, cy);
	for (size_t k = 0; k < (size_t)P * D; k++)
		xf[k] = cx[k] / 255.0f;
	bb_predict(m, xf, P, pred0);

	/* 3. fine-tune on the owner's data plus all candidates, as one shuffled set */
	for (int i = 0; i < env->n_owner; i++) {
		memcpy(all.x + (size_t)i * D, tr->x + (size_t)env->owner_idx[i] * D, D);
		all.y[i] = tr->y[env->owner_idx[i]];
	}
	for (int i = 0; i < P; i++)
		all.y[env->n_owner + i] = (uint8_t)cy[i];
	for (int i = 0; i < n; i++)
		idx[i] = (uint32_t)i;
	if (nn_opt_init(&opt, "sgd", p->ft_lr, m->nparams)) {
		errf(err, errlen, "deepsigns-bb: cannot set up the SGD optimiser");
		goto out;
	}
	opt.momentum = p->ft_momentum;
	rc = nn_train(m, &all, idx, n, &tcfg, &opt, NULL, env->rng, NULL, err, errlen);
	nn_opt_free(&opt);
	if (rc)
		goto out;

	/* 4. keep the first K the unmarked model got wrong and the marked one gets right */
	bb_predict(m, xf, P, pred1);
	int32_t *ky = xmalloc((size_t)K * sizeof *ky), *ki = xmalloc((size_t)K * sizeof *ki);
	int unlearned = 0;
	for (int i = 0; i < P; i++) {
		unlearned += pred0[i] != cy[i];
		if (nsel < K && pred0[i] != cy[i] && pred1[i] == cy[i])
			sel[nsel++] = i;
	}
	if (nsel < K) {
		rc = errf(err, errlen,
			  "deepsigns-bb: only %d of %d candidates (%d misclassified by the "
			  "unmarked model) were learned by fine-tuning; expected at least K = %d "
			  "(raise ft_epochs, ft_lr or pool, or lower K)",
			  nsel, P, unlearned, K);
	} else {
		float *kx = xmalloc((size_t)K * D * sizeof(float));
		for (int k = 0; k < K; k++) {
			memcpy(kx + (size_t)k * D, xf + (size_t)sel[k] * D, D * sizeof(float));
			ky[k] = cy[sel[k]];
			ki[k] = sel[k];
		}
		int64_t xs[4] = {K, m->in_c, m->in_h, m->in_w}, ks = K;
		npz_add(key, "deepsigns_bb.x", NPZ_F32, 4, xs, kx);
		npz_add(key, "deepsigns_bb.y", NPZ_I32, 1, &ks, ky);
		npz_add(key, "deepsigns_bb.pool_idx", NPZ_I32, 1, &ks, ki);
		free(kx);
		rc = 0;
	}
	free(ky);
	free(ki);
out:
	free(all.x);
	free(all.y);
	free(cy);
	free(pred0);
	free(pred1);
	free(sel);
	free(xf);
	free(idx);
	return rc;
}

static int bb_verify(const void *cfg, const struct npz *key, struct nn_model *m, struct wm_query *q,
		     const struct wm_env *env, struct wm_verdict *v, char *err, size_t errlen)
{
	(void)cfg; /* the key holds what verification needs */
	const struct npz_array *xa = npz_get(key, "deepsigns_bb.x"),
			       *ya = npz_get(key, "deepsigns_bb.y");
	int C = q->nclass, matches = 0;
	(void)m;
	if (!xa || !ya || xa->dtype != NPZ_F32 || xa->ndim != 4 || ya->dtype != NPZ_I32 ||
	    (int64_t)ya->count != xa->shape[0] || xa->shape[0] < 1)
		return errf(
		    err, errlen,
		    "deepsigns-bb: key lacks deepsigns_bb.x (float32, K x C x H x W) or "
		    "deepsigns_bb.y (int32, K); expected a key completed by deepsigns-bb embed");
	int K = (int)xa->shape[0];
	const int32_t *y = ya->data;
	if (C < 2)
		return errf(err, errlen,
			    "deepsigns-bb: the query path returns %d class; expected at least 2",
			    C);
	if (q->model && (xa->shape[1] != q->model->in_c || xa->shape[2] != q->model->in_h ||
			 xa->shape[3] != q->model->in_w))
		return errf(err, errlen,
			    "deepsigns-bb: key images are %lldx%lldx%lld but the model takes "
			    "%dx%dx%d; expected a key for this model",
			    (long long)xa->shape[1], (long long)xa->shape[2],
			    (long long)xa->shape[3], q->model->in_c, q->model->in_h,
			    q->model->in_w);
	float *probs = xmalloc((size_t)K * C * sizeof(float));
	if (q->predict(q, xa->data, K, probs)) {
		free(probs);
		return errf(err, errlen, "deepsigns-bb: the query path failed on %d key images", K);
	}
	for (int k = 0; k < K; k++)
		matches += nn_argmax(probs + (size_t)k * C, C) == y[k];
	free(probs);
	strcpy(v->metric_name, "wm_acc");
	v->metric = (double)matches / K;
	v->pvalue = wm_deepsigns_bb_pvalue(y, K, C, matches);
	v->detected = v->pvalue < env->alpha;
	v->capacity = K;
	return 0;
}

/* Samples through the passes: F0, the fine-tune on the owner's data and
 * the K x pool candidates, and a prediction of the candidates before and
 * after it. */
static void bb_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct bb_cfg *p = cfg;
	double P = (double)p->K * p->pool;

	*bwd = (double)w->epochs * w->n_owner + p->ft_epochs * (w->n_owner + P);
	*fwd = *bwd + 2 * P;
}

/* Samples through the forward pass of one verification: The K keys. */
static double bb_verify_work(const void *cfg, const struct wm_work *w)
{
	const struct bb_cfg *p = cfg;

	(void)w;
	return p->K;
}

const struct wm_scheme wm_deepsigns_bb = {
    .cfg_size = sizeof(struct bb_cfg),
    .name = "deepsigns-bb",
    .colour = "#009E73",
    .point = 11,
    .order = 3,
    .summary =
	"black-box zero-bit noise-key mark, label-skew-safe bound (Rouhani et al., ASPLOS 2019)",
    .params = bb_params,
    .black_box = 1,
    .key_from_model = 1,
    .check = bb_check,
    .keygen = bb_keygen,
    .embed = bb_embed,
    .verify = bb_verify,
    .work = bb_work,
    .verify_work = bb_verify_work,
};
