/* blackmarks.c - BlackMarks, a multi-bit black-box watermark (Chen, Rouhani,
 * Koushanfar; arXiv 1904.00344, 2019), written from
 * /work/shared/docs/SCHEMES-WRT.md, section "blackmarks", and the paper's
 * loss.
 *
 * keygen: a 64-bit seed from the job's RNG ("blackmarks.seed"); every random
 *   choice of the key (K-means starts, candidates, targets, signature) comes
 *   from it.
 * embed: trains F0 exactly as the seed's clean model (wm_train_owner), then
 *   1. encoding f: class -> {0,1}: K-means (k = 2) over the C per-class mean
 *      logit vectors of F0 on the owner data, `restarts` seeded starts, the
 *      lowest inertia kept, relabelled so that f(0) = 0; a group of fewer
 *      than 2 classes fails the job;
 *   2. candidates: expand * bits owner images (half from each group, in a
 *      seeded order); an image of class y in group g takes one targeted FGSM
 *      step towards a random class t of the other group,
 *      x' = clip(x - eps sign(grad_x CE(F0(x), t)), 0, 1); it keeps label y
 *      and bit c = f(y);
 *   3. a copy of F0 (the variant) is set aside; F0 is fine-tuned with the
 *      run's optimiser at lr / 10 (or ft_lr) for ft_epochs epochs of clean
 *      batches, and after every clean batch whose index is 0 mod r,
 *      r = floor(1/lambda) + 1, one key batch of B candidates drawn with
 *      replacement, with loss CE + (1/B) sum_i |sum_{k: f(k)=1} p_k(x_i) - c_i|
 *      (its logit gradient is added by hand in the pre_backward hook, see
 *      wm_blackmarks_bit_loss);
 *   4. the variant is fine-tuned on clean owner data for variant_batches
 *      batches; a candidate survives if the marked model classifies it as y
 *      and the variant does not;
 *   5. the signature b in {0,1}^bits is drawn from the key seed; bit j takes
 *      the next unused survivor of group b_j. Too few survivors fail the job.
 *   The key stores the images, labels, bits, encoding and counts.
 * verify (black-box): b_hat_j = f(argmax q(x_j)); m = bits right, metric
 *   ber = 1 - m / n.
 *
 * The chance model (SCHEMES-WRT "three kinds of null", kind 3): b is
 *   uniform, but the image of bit j is an image of a group-b_j class, so any
 *   model that resists the perturbation decodes b_j and any model it fools
 *   decodes 1 - b_j; Binomial(n, 1/2) does not hold. The decision is the
 *   empirical null (wm_null_decide): the runner verifies the key on
 *   independent unmarked control models and fits a beta-binomial to their
 *   bit counts; the p-value is its upper tail at m; aux is the rank bound.
 *
 * Deviations: fine-tuning runs a fixed ft_epochs (WRT: up to 60 epochs with
 *   early stopping on the key loss); a short group fails the job (WRT
 *   silently shortens the key); K-means is restarted and a split with a
 *   group of fewer than 2 classes refused (WRT does not check). */
#include "scheme.h"
#include "../workers/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#define BM_CHUNK 256

struct bm_cfg {
	int bits;
	int expand;
	double eps;
	double lambda;
	double ft_lr;
	int ft_epochs;
	int variant_batches;
	int restarts;
};

static const struct param_def bm_params[] = {
    {"bits", PT_INT, "100", 1, 10000, NULL, "signature length n (key images, one per bit)",
     offsetof(struct bm_cfg, bits)},
    {"expand", PT_INT, "10", 1, 1000, NULL,
     "candidates per bit (expand * bits, half from each group)", offsetof(struct bm_cfg, expand)},
    {"eps", PT_DOUBLE, "0.1", 1e-6, 1, NULL, "targeted FGSM step in [0, 1] pixel units",
     offsetof(struct bm_cfg, eps)},
    {"lambda", PT_DOUBLE, "0.5", 1e-3, 1, NULL,
     "key-batch rate: one key batch after every floor(1/lambda)+1 clean batches",
     offsetof(struct bm_cfg, lambda)},
    {"ft_lr", PT_DOUBLE, "0", 0, 10, NULL,
     "fine-tuning learning rate (0: the run's learning rate / 10)", offsetof(struct bm_cfg, ft_lr)},
    {"ft_epochs", PT_INT, "2", 1, 1000, NULL, "fine-tuning epochs (clean batches)",
     offsetof(struct bm_cfg, ft_epochs)},
    {"variant_batches", PT_INT, "500", 1, 1000000, NULL,
     "clean fine-tuning batches of the F0 copy that filters the candidates",
     offsetof(struct bm_cfg, variant_batches)},
    {"restarts", PT_INT, "10", 1, 1000, NULL, "seeded K-means restarts of the encoding",
     offsetof(struct bm_cfg, restarts)},
    {0}};

static int bm_check(const void *cfg, const struct nn_model *m, char *err, size_t errlen)
{
	const struct bm_cfg *p = cfg;
	if (m->nclass < 4)
		return errf(err, errlen,
			    "blackmarks: model '%s' has %d classes; expected at least 4 (two "
			    "groups of at least 2)",
			    m->arch, m->nclass);
	if (p->bits < 1 || p->bits > 10000)
		return errf(err, errlen,
			    "blackmarks: parameter 'bits' = %d is out of range; expected an "
			    "integer in [1, 10000]",
			    p->bits);
	if ((long)p->bits * p->expand > 1000000)
		return errf(err, errlen,
			    "blackmarks: parameters 'bits' = %d and 'expand' = %d ask for %ld "
			    "candidates; expected bits * expand <= 1000000",
			    p->bits, p->expand, (long)p->bits * p->expand);
	if (!(p->eps > 0 && p->eps <= 1))
		return errf(
		    err, errlen,
		    "blackmarks: parameter 'eps' = %g is out of range; expected a number in "
		    "(0, 1]",
		    p->eps);
	if (!(p->lambda > 0 && p->lambda <= 1))
		return errf(
		    err, errlen,
		    "blackmarks: parameter 'lambda' = %g is out of range; expected a number "
		    "in (0, 1]",
		    p->lambda);
	return 0;
}

static int bm_keygen(const void *cfg, const struct nn_model *m, const struct wm_env *env,
		     struct npz *key, char *err, size_t errlen)
{
	if (bm_check(cfg, m, err, errlen))
		return -1;
	int64_t seed = (int64_t)rng_u64(env->rng), one = 1;
	npz_add(key, "blackmarks.seed", NPZ_I64, 1, &one, &seed);
	return 0;
}

/* The extra loss of a key batch and its gradient with respect to the logits
 * z (B, C), in double precision: s_i = sum_{k: enc[k]=1} softmax(z_i)_k,
 * L = (1/B) sum_i |s_i - c_i|. Since ds_i/dz_ij = p_ij (enc[j] - s_i),
 * dL/dz_ij = (1/B) sign(s_i - c_i) p_ij (enc[j] - s_i); written into dz
 * (overwritten). Returns L. */
double wm_blackmarks_bit_loss(const double *z, const int *c, const int *enc, int B, int C,
			      double *dz)
{
	double loss = 0;
	for (int i = 0; i < B; i++) {
		const double *zi = z + (size_t)i * C;
		double *gi = dz + (size_t)i * C, mx = zi[0], sum = 0, s = 0;
		for (int k = 1; k < C; k++)
			mx = zi[k] > mx ? zi[k] : mx;
		for (int k = 0; k < C; k++)
			sum += (gi[k] = exp(zi[k] - mx));
		for (int k = 0; k < C; k++) {
			gi[k] /= sum; /* p_ik */
			if (enc[k])
				s += gi[k];
		}
		double d = s - c[i], sg = (d > 0) - (d < 0);
		loss += fabs(d);
		for (int k = 0; k < C; k++)
			gi[k] = sg * gi[k] * ((enc[k] != 0) - s) / B;
	}
	return loss / B;
}

/* The pre_backward hook of a key batch: adds the bit loss's logit gradient
 * into nn_dact(m, last). */
struct bm_hook {
	const int *enc; /* (C) */
	const int *c;	/* bits of the batch's rows */
	double *z, *dz; /* (B, C) scratch */
};

static double bm_pre_backward(void *ctx, struct nn_model *m, const float *x, const int *y, int B)
{
	struct bm_hook *h = ctx;
	int C = m->nclass, L = m->nlayers - 1;
	const float *z = m->acts[L];
	float *dz = nn_dact(m, L);
	(void)x;
	(void)y;
	for (size_t k = 0; k < (size_t)B * C; k++)
		h->z[k] = z[k];
	double loss = wm_blackmarks_bit_loss(h->z, h->c, h->enc, B, C, h->dz);
	for (size_t k = 0; k < (size_t)B * C; k++)
		dz[k] += (float)h->dz[k];
	return loss;
}

static void bm_predict(struct nn_model *m, const float *x, int n, int *pred)
{
	int C = m->nclass;
	float *probs = xmalloc((size_t)BM_CHUNK * C * sizeof(float));
	size_t D = nn_in_size(m);
	for (int s = 0; s < n; s += BM_CHUNK) {
		int B = n - s < BM_CHUNK ? n - s : BM_CHUNK;
		nn_predict_proba(m, x + (size_t)s * D, B, probs);
		for (int b = 0; b < B; b++)
			pred[s + b] = nn_argmax(probs + (size_t)b * C, C);
	}
	free(probs);
}

/* Encoding by K-means (k = 2) over the per-class mean logits of m on the
 * owner data: 0, or -1 with a message. enc gets 0/1 per class. */
static int bm_encoding(struct nn_model *m, const struct wm_env *env, int restarts, struct rng *r,
		       int *enc, char *err, size_t errlen)
{
	const struct dataset *tr = env->train;
	int C = m->nclass, rc = -1;
	size_t D = nn_in_size(m);
	double *mean = xcalloc((size_t)C * C, sizeof(double)), best = INFINITY;
	int *cnt = xcalloc((size_t)C, sizeof(int)), *as = xmalloc((size_t)C * sizeof(int));
	float *x = xmalloc((size_t)BM_CHUNK * D * sizeof(float));
	int *y = xmalloc(BM_CHUNK * sizeof(int));

	for (int s = 0; s < env->n_owner; s += BM_CHUNK) {
		int B = env->n_owner - s < BM_CHUNK ? env->n_owner - s : BM_CHUNK;
		nn_fill_batch(tr->x, tr->y, D, env->owner_idx + s, B, x, y);
		const float *z = nn_forward(m, x, B, 0, NULL);
		for (int b = 0; b < B; b++) {
			cnt[y[b]]++;
			for (int k = 0; k < C; k++)
				mean[(size_t)y[b] * C + k] += z[(size_t)b * C + k];
		}
	}
	for (int c = 0; c < C; c++) {
		if (!cnt[c]) {
			errf(err, errlen,
			     "blackmarks: class %d has no owner training image; expected every "
			     "class in the owner data (the encoding needs each class's mean "
			     "logits)",
			     c);
			goto out;
		}
		for (int k = 0; k < C; k++)
			mean[(size_t)c * C + k] /= cnt[c];
	}
	for (int t = 0; t < restarts; t++) {
		double cen[2][NN_MAXCLASS], inertia = 0;
		int a = (int)rng_below(r, (uint32_t)C), b = (int)rng_below(r, (uint32_t)(C - 1));
		b += b >= a;
		memcpy(cen[0], mean + (size_t)a * C, (size_t)C * sizeof(double));
		memcpy(cen[1], mean + (size_t)b * C, (size_t)C * sizeof(double));
		for (int c = 0; c < C; c++)
			as[c] = -1;
		for (int it = 0; it < 100; it++) {
			int changed = 0, nk[2] = {0, 0};
			inertia = 0;
			for (int c = 0; c < C; c++) {
				double d[2] = {0, 0};
				for (int g = 0; g < 2; g++)
					for (int k = 0; k < C; k++) {
						double u = mean[(size_t)c * C + k] - cen[g][k];
						d[g] += u * u;
					}
				int g = d[1] < d[0];
				changed |= as[c] != g;
				as[c] = g;
				nk[g]++;
				inertia += d[g];
			}
			if (!changed)
				break;
			for (int g = 0; g < 2; g++) {
				if (!nk[g])
					continue; /* an empty group keeps its centre */
				for (int k = 0; k < C; k++)
					cen[g][k] = 0;
				for (int c = 0; c < C; c++)
					if (as[c] == g)
						for (int k = 0; k < C; k++)
							cen[g][k] +=
							    mean[(size_t)c * C + k] / nk[g];
			}
		}
		if (inertia < best) {
			best = inertia;
			for (int c = 0; c < C; c++)
				enc[c] = as[c] != as[0]; /* canonical: f(0) = 0 */
		}
	}
	int n1 = 0;
	for (int c = 0; c < C; c++)
		n1 += enc[c];
	if (n1 < 2 || C - n1 < 2) {
		errf(err, errlen,
		     "blackmarks: K-means split the %d classes %d / %d; expected at least 2 "
		     "classes in each group (the pre-trained model's logits do not form two "
		     "groups; train it longer or change the seed)",
		     C, C - n1, n1);
		goto out;
	}
	rc = 0;
out:
	free(mean);
	free(cnt);
	free(as);
	free(x);
	free(y);
	return rc;
}

/* One clean or key training step of m on (x, y) (B rows); hk: key batch. */
static double bm_step(struct nn_model *m, struct nn_opt *opt, const float *x, const int *y, int B,
		      struct bm_hook *hk, struct rng *r, int epoch)
{
	nn_forward(m, x, B, 1, r);
	nn_zero_act_grads(m);
	double loss = hk ? bm_pre_backward(hk, m, x, y, B) : 0;
	loss += nn_loss_xent(m, y, 1.0);
	nn_zero_grads(m);
	nn_backward(m);
	if (isfinite(loss))
		nn_opt_step(opt, m, epoch);
	return loss;
}

static int bm_opt(struct nn_opt *o, const struct bm_cfg *p, const struct wm_env *env,
		  const struct nn_model *m, char *err, size_t errlen)
{
	double lr = p->ft_lr > 0 ? p->ft_lr : env->ts.lr / 10;
	if (nn_opt_init(o, env->ts.optimizer, lr, m->nparams))
		return errf(err, errlen,
			    "blackmarks: unknown optimizer '%s'; expected sgd, adam or rmsprop",
			    env->ts.optimizer);
	o->momentum = env->ts.momentum;
	o->weight_decay = env->ts.weight_decay;
	return 0;
}

/* The fine-tuning of the mark: clean epochs with a key batch after every
 * clean batch whose index is 0 mod r. */
static int bm_finetune(struct nn_model *m, const struct bm_cfg *p, const struct wm_env *env,
		       const float *cx, const int *cy, const int *cc, int P, const int *enc,
		       char *err, size_t errlen)
{
	const struct dataset *tr = env->train;
	size_t D = nn_in_size(m);
	int Bm = env->ts.batch, C = m->nclass, n = env->n_owner, rc = 0;
	int r = (int)floor(1.0 / p->lambda) + 1;
	struct nn_opt opt;
	if (bm_opt(&opt, p, env, m, err, errlen))
		return -1;
	uint32_t *perm = xmalloc((size_t)n * sizeof *perm);
	float *x = xmalloc((size_t)Bm * D * sizeof(float));
	int *y = xmalloc((size_t)Bm * sizeof(int)), *c = xmalloc((size_t)Bm * sizeof(int));
	struct bm_hook hk = {.enc = enc,
			     .c = c,
			     .z = xmalloc((size_t)Bm * C * sizeof(double)),
			     .dz = xmalloc((size_t)Bm * C * sizeof(double))};
	memcpy(perm, env->owner_idx, (size_t)n * sizeof *perm);
	nn_reserve(m, Bm);
	for (int e = 0; e < p->ft_epochs && !rc; e++) {
		rng_shuffle_u32(env->rng, perm, (size_t)n);
		for (int s = 0, bi = 0; s < n && !rc; s += Bm, bi++) {
			int B = n - s < Bm ? n - s : Bm;
			nn_fill_batch(tr->x, tr->y, D, perm + s, B, x, y);
			double loss = bm_step(m, &opt, x, y, B, NULL, env->rng, e);
			if (isfinite(loss) && bi % r == 0) {
				for (int b = 0; b < Bm; b++) {
					int i = (int)rng_below(env->rng, (uint32_t)P);
					memcpy(x + (size_t)b * D, cx + (size_t)i * D,
					       D * sizeof(float));
					y[b] = cy[i];
					c[b] = cc[i];
				}
				loss = bm_step(m, &opt, x, y, Bm, &hk, env->rng, e);
			}
			if (!isfinite(loss))
				rc = errf(err, errlen,
					  "blackmarks: fine-tuning diverged: loss is %g at epoch "
					  "%d; expected a finite loss (lower 'ft_lr')",
					  loss, e + 1);
		}
	}
	nn_opt_free(&opt);
	free(perm);
	free(x);
	free(y);
	free(c);
	free(hk.z);
	free(hk.dz);
	return rc;
}

/* The variant: clean fine-tuning for `batches` batches. */
static int bm_variant(struct nn_model *m, const struct bm_cfg *p, const struct wm_env *env,
		      char *err, size_t errlen)
{
	const struct dataset *tr = env->train;
	size_t D = nn_in_size(m);
	int Bm = env->ts.batch, n = env->n_owner, done = 0, rc = 0;
	struct nn_opt opt;
	if (bm_opt(&opt, p, env, m, err, errlen))
		return -1;
	uint32_t *perm = xmalloc((size_t)n * sizeof *perm);
	float *x = xmalloc((size_t)Bm * D * sizeof(float));
	int *y = xmalloc((size_t)Bm * sizeof(int));
	memcpy(perm, env->owner_idx, (size_t)n * sizeof *perm);
	nn_reserve(m, Bm);
	for (int e = 0; done < p->variant_batches && !rc; e++) {
		rng_shuffle_u32(env->rng, perm, (size_t)n);
		for (int s = 0; s < n && done < p->variant_batches && !rc; s += Bm, done++) {
			int B = n - s < Bm ? n - s : Bm;
			nn_fill_batch(tr->x, tr->y, D, perm + s, B, x, y);
			if (!isfinite(bm_step(m, &opt, x, y, B, NULL, env->rng, e)))
				rc = errf(err, errlen,
					  "blackmarks: the variant's fine-tuning diverged at batch "
					  "%d; expected a finite loss (lower 'ft_lr')",
					  done + 1);
		}
	}
	nn_opt_free(&opt);
	free(perm);
	free(x);
	free(y);
	return rc;
}

static int bm_embed(const void *cfg, struct nn_model *m, struct npz *key, const struct wm_env *env,
		    char *err, size_t errlen)
{
	const struct bm_cfg *p = cfg;
	const struct npz_array *sa = npz_get(key, "blackmarks.seed");
	const struct dataset *tr = env->train;
	size_t D = nn_in_size(m);
	int C = m->nclass, n = p->bits, P = n * p->expand, rc = -1;
	int Pg[2] = {(P + 1) / 2, P / 2}; /* candidates wanted per group */
	struct rng r;
	struct nn_model variant;
	int have_variant = 0;

	if (bm_check(p, m, err, errlen))
		return -1;
	if (!sa || sa->dtype != NPZ_I64 || sa->count != 1)
		return errf(err, errlen,
			    "blackmarks: key lacks blackmarks.seed (int64); expected a key written "
			    "by blackmarks keygen");
	if ((size_t)tr->c * tr->h * tr->w != D || tr->nclass != C)
		return errf(err, errlen,
			    "blackmarks: training data is %dx%dx%d with %d classes but model '%s' "
			    "takes %zu values and %d classes; expected matching data",
			    tr->c, tr->h, tr->w, tr->nclass, m->arch, D, C);
	rng_seed(&r, (uint64_t) * (const int64_t *)sa->data);

	/* F0, the seed's clean model */
	if (wm_train_owner(m, env, NULL, 0, err, errlen))
		return -1;

	/* 1. the encoding */
	int *enc = xmalloc((size_t)C * sizeof(int)), *grp[2];
	float *cx = xmalloc((size_t)P * D * sizeof(float));
	int *cy = xmalloc((size_t)P * sizeof(int)), *ct = xmalloc((size_t)P * sizeof(int));
	int *cc = xmalloc((size_t)P * sizeof(int)), *ci = xmalloc((size_t)P * sizeof(int));
	int *pm = xmalloc((size_t)P * sizeof(int)), *pv = xmalloc((size_t)P * sizeof(int));
	float *gx = xmalloc((size_t)BM_CHUNK * D * sizeof(float));
	uint32_t *order = xmalloc((size_t)env->n_owner * sizeof *order);
	int ng[2] = {0, 0};
	grp[0] = xmalloc((size_t)C * sizeof(int));
	grp[1] = xmalloc((size_t)C * sizeof(int));
	if (bm_encoding(m, env, p->restarts, &r, enc, err, errlen))
		goto out;
	for (int c = 0; c < C; c++)
		grp[enc[c]][ng[enc[c]]++] = c;

	/* 2. candidates: half from each group, each one targeted FGSM step towards
	 * a random class of the other group */
	int nc = 0, taken[2] = {0, 0};
	memcpy(order, env->owner_idx, (size_t)env->n_owner * sizeof *order);
	rng_shuffle_u32(&r, order, (size_t)env->n_owner);
	for (int s = 0; s < env->n_owner && nc < P; s++) {
		int y = tr->y[order[s]], g = enc[y];
		if (taken[g] >= Pg[g])
			continue;
		taken[g]++;
		nn_fill_batch(tr->x, NULL, D, order + s, 1, cx + (size_t)nc * D, NULL);
		cy[nc] = y;
		cc[nc] = g;
		ci[nc] = (int)order[s];
		ct[nc++] = grp[1 - g][rng_below(&r, (uint32_t)ng[1 - g])];
	}
	if (nc < P) {
		errf(err, errlen,
		     "blackmarks: the owner data has %d / %d images of the two groups; expected "
		     "at least %d / %d candidates (lower 'bits' or 'expand')",
		     taken[0], taken[1], Pg[0], Pg[1]);
		goto out;
	}
	for (int s = 0; s < P; s += BM_CHUNK) {
		int B = P - s < BM_CHUNK ? P - s : BM_CHUNK;
		float *xs = cx + (size_t)s * D;
		wm_input_grad(m, xs, ct + s, B, gx);
		for (size_t k = 0; k < (size_t)B * D; k++) {
			float v = xs[k] - (float)p->eps * (float)((gx[k] > 0) - (gx[k] < 0));
			xs[k] = v < 0 ? 0 : v > 1 ? 1 : v;
		}
	}

	/* 3. the mark; 4. the variant and the filter */
	nn_copy(&variant, m);
	have_variant = 1;
	if (bm_finetune(m, p, env, cx, cy, cc, P, enc, err, errlen) ||
	    bm_variant(&variant, p, env, err, errlen))
		goto out;
	bm_predict(m, cx, P, pm);
	bm_predict(&variant, cx, P, pv);
	int right = 0, fooled = 0, surv[2] = {0, 0};
	for (int i = 0; i < P; i++) {
		right += pm[i] == cy[i];
		fooled += pv[i] != cy[i];
		surv[cc[i]] += pm[i] == cy[i] && pv[i] != cy[i];
	}

	/* 5. the signature and the key */
	int32_t *kb = xmalloc((size_t)n * sizeof(int32_t)),
		*ky = xmalloc((size_t)n * sizeof(int32_t));
	int32_t *kt = xmalloc((size_t)n * sizeof(int32_t)),
		*ks = xmalloc((size_t)n * sizeof(int32_t));
	float *kx = xmalloc((size_t)n * D * sizeof(float));
	int need[2] = {0, 0}, next[2] = {0, 0}, ok = 1;
	for (int j = 0; j < n; j++)
		need[kb[j] = (int32_t)rng_below(&r, 2)]++;
	if (need[0] > surv[0] || need[1] > surv[1]) {
		errf(err, errlen,
		     "blackmarks: %d group-0 and %d group-1 candidates of %d survived the filter "
		     "(marked model right on %d, variant fooled on %d) but the signature needs %d "
		     "and %d; expected enough (raise 'expand', 'eps' or 'ft_epochs', or lower "
		     "'bits')",
		     surv[0], surv[1], P, right, fooled, need[0], need[1]);
		ok = 0;
	}
	for (int j = 0; j < n && ok; j++) {
		int g = kb[j], i = next[g];
		while (cc[i] != g || pm[i] != cy[i] || pv[i] == cy[i])
			i++;
		next[g] = i + 1;
		memcpy(kx + (size_t)j * D, cx + (size_t)i * D, D * sizeof(float));
		ky[j] = cy[i];
		kt[j] = ct[i];
		ks[j] = ci[i];
	}
	if (ok) {
		int64_t xs[4] = {n, m->in_c, m->in_h, m->in_w}, ns = n, nC = C, five = 5, one = 1;
		int32_t counts[5] = {P, right, fooled, surv[0], surv[1]},
			*e32 = xmalloc((size_t)C * sizeof(int32_t));
		for (int c = 0; c < C; c++)
			e32[c] = enc[c];
		npz_add(key, "blackmarks.x", NPZ_F32, 4, xs, kx);
		npz_add(key, "blackmarks.y", NPZ_I32, 1, &ns, ky);
		npz_add(key, "blackmarks.bits", NPZ_I32, 1, &ns, kb);
		npz_add(key, "blackmarks.target", NPZ_I32, 1, &ns, kt);
		npz_add(key, "blackmarks.source", NPZ_I32, 1, &ns, ks);
		npz_add(key, "blackmarks.encoding", NPZ_I32, 1, &nC, e32);
		/* candidates, marked right, variant fooled, survivors of groups 0 and 1 */
		npz_add(key, "blackmarks.counts", NPZ_I32, 1, &five, counts);
		npz_add(key, "blackmarks.eps", NPZ_F64, 1, &one, &p->eps);
		free(e32);
		rc = 0;
	}
	free(kb);
	free(ky);
	free(kt);
	free(ks);
	free(kx);
out:
	if (have_variant)
		nn_free(&variant);
	free(enc);
	free(grp[0]);
	free(grp[1]);
	free(cx);
	free(cy);
	free(ct);
	free(cc);
	free(ci);
	free(pm);
	free(pv);
	free(gx);
	free(order);
	return rc;
}

static int bm_verify(const void *cfg, const struct npz *key, struct nn_model *m, struct wm_query *q,
		     const struct wm_env *env, struct wm_verdict *v, char *err, size_t errlen)
{
	(void)cfg; /* the key holds what verification needs */
	(void)m;
	const struct npz_array *xa = npz_get(key, "blackmarks.x"),
			       *ba = npz_get(key, "blackmarks.bits"),
			       *ea = npz_get(key, "blackmarks.encoding");
	if (!xa || !ba || !ea || xa->dtype != NPZ_F32 || xa->ndim != 4 || ba->dtype != NPZ_I32 ||
	    ea->dtype != NPZ_I32 || (int64_t)ba->count != xa->shape[0] || xa->shape[0] < 1)
		return errf(err, errlen,
			    "blackmarks: key lacks blackmarks.x (float32, n x C x H x W), "
			    "blackmarks.bits (int32, n) or blackmarks.encoding (int32, classes); "
			    "expected a key completed by blackmarks embed");
	int n = (int)xa->shape[0], right = 0;
	size_t D = (size_t)xa->shape[1] * xa->shape[2] * xa->shape[3];
	if ((int)ea->count != q->nclass)
		return errf(err, errlen,
			    "blackmarks: the key encodes %lld classes but the query path returns "
			    "%d; expected a key for this model",
			    (long long)ea->count, q->nclass);
	if (q->in_size && q->in_size != D)
		return errf(err, errlen,
			    "blackmarks: key images have %zu values but the model takes %zu; "
			    "expected a key for this model",
			    D, q->in_size);
	const int32_t *b = ba->data, *enc = ea->data;
	int *lab = xmalloc((size_t)n * sizeof(int));
	if (wm_query_labels(q, xa->data, n, lab)) {
		free(lab);
		return errf(err, errlen, "blackmarks: the query path failed on %d key images", n);
	}
	for (int j = 0; j < n; j++)
		right += (enc[lab[j]] != 0) == (b[j] != 0);
	free(lab);
	strcpy(v->metric_name, "ber");
	v->metric = 1 - (double)right / n;
	v->capacity = n;
	return wm_null_decide(key, right, n, env->alpha, v, err, errlen);
}

static int bm_null_fit(const void *cfg)
{
	(void)cfg;
	return 1;
}

/* Samples through the passes: F0, the encoding pass over the owner's data,
 * the FGSM step and two predictions of the bits x expand candidates, the
 * fine-tune (a key batch of B rows after every floor(1/lambda) clean ones)
 * and the variant's clean batches. */
static void bm_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct bm_cfg *p = cfg;
	int n = w->n_owner, B = w->batch, nb = (n + B - 1) / B;
	int r = (int)floor(1.0 / p->lambda) + 1;

	if (nb < 1) /* no owner data (an attacker's embedding on none): the job fails */
		nb = 1;
	double P = (double)p->bits * p->expand, keyb = (nb + r - 1) / r;
	double V = (double)(p->variant_batches / nb) * n + (double)(p->variant_batches % nb) * B;

	*bwd = (double)w->epochs * n + P + p->ft_epochs * (n + keyb * B) + V;
	*fwd = *bwd + n + 2 * P;
}

/* Samples through the forward pass of one verification: The key's images (one per bit). */
static double bm_verify_work(const void *cfg, const struct wm_work *w)
{
	const struct bm_cfg *p = cfg;

	(void)w;
	return p->bits;
}

const struct wm_scheme wm_blackmarks = {
    .cfg_size = sizeof(struct bm_cfg),
    .name = "blackmarks",
    .colour = "#44AA99",
    .point = 6,
    .order = 11,
    .summary = "black-box multi-bit mark on adversarial keys, empirical null (Chen et al., "
	       "arXiv 1904.00344)",
    .params = bm_params,
    .black_box = 1,
    .key_from_model = 1,
    .null_fit = bm_null_fit,
    .aux_label = "null rank bound",
    .check = bm_check,
    .keygen = bm_keygen,
    .embed = bm_embed,
    .verify = bm_verify,
    .work = bm_work,
    .verify_work = bm_verify_work,
};
