/* labelnoise.c - fine-tuning on noised soft labels (the label-noising attack
 * of WRT, the Watermark-Robustness-Toolbox of Lukas, Jiang, Li and
 * Kerschbaum, IEEE S&P 2022; ATTACKS-MORE.md section 5).
 *
 * All layers are fine-tuned on the attacker's data with the soft targets
 * (1 - eps) onehot(y) + eps onehot(pi(y)), pi a random permutation of the
 * classes drawn afresh for every batch and shared by all its samples. As
 * pi(y) = y with probability 1/C, on average this is label smoothing of
 * weight eps and the true class stays the argmax of the expected target,
 * but each batch pushes hard towards one wrong class per true class, which
 * shakes the decision boundary (and the marks that live near it) more than
 * smoothing does.
 *
 * Defaults: eps 0.5, 5 epochs, lr 1e-3 with Adam, batch 64 (the spec's
 * Fashion-MNIST grid is eps 0.3, 0.5, 0.8 for 5 epochs; WRT's ImageNet
 * configs use 0.8 for 5 epochs and 0.99 for 1). eps is in [0, 1): at 1 the
 * true label would vanish from the targets. At eps = 0 no permutation is
 * drawn (it could change nothing), so labelnoise is then plain fine-tuning
 * of all layers, bit for bit (finetune mode=ftal, same settings and RNG).
 *
 * Deviations from WRT: its config function builds a learning-rate scheduler
 * that remove() receives and never hands to the trainer, so WRT trains at a
 * constant rate; wmbench has no scheduler option and trains at a constant
 * rate as WRT actually does. WRT permutes the columns of the one-hot target
 * (the same as a permutation of the labels, its inverse) with torch's global
 * RNG; wmbench draws pi from env->rng.
 *
 * How: the run's training loop (atk_fit, nn_train) with two hooks. mix draws
 * the batch's pi; pre_backward adds (onehot(y) - q) / B to the logit
 * gradient, so that with the hard cross-entropy the loop adds next, whose
 * gradient is (p - onehot(y)) / B, the batch trains on p - q, the gradient
 * of the cross-entropy on the soft targets q; the reported loss is corrected
 * the same way. */
#include "common.h"
#include "ftvariants.h"
#include "../workers/util.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

/* The parameters, as the plug-in receives them (table below). */
struct labelnoise_cfg {
	double eps;
	int epochs;
	double lr;
	int batch;
	char optimizer[PARAM_VALLEN];
};

static const struct param_def labelnoise_params[] = {
    {"eps", PT_DOUBLE, "0.5", 0, 1, NULL,
     "weight of the batch's permuted label in the targets, in [0, 1)",
     offsetof(struct labelnoise_cfg, eps)},
    {"epochs", PT_INT, "5", 1, 1000, NULL, "fine-tuning epochs",
     offsetof(struct labelnoise_cfg, epochs)},
    ATK_PARAM_LR(struct labelnoise_cfg, "0.001"),
    ATK_PARAM_BATCH(struct labelnoise_cfg),
    ATK_PARAM_OPTIMIZER(struct labelnoise_cfg),
    {0}};

static int labelnoise_check(const void *cfg, char *err, size_t errlen)
{
	const struct labelnoise_cfg *p = cfg;
	char v[32];
	if (p->eps >= 1) {
		fmt_double(v, sizeof v, p->eps);
		return errf(err, errlen,
			    "labelnoise: parameter 'eps' = '%s' is out of range; expected a number "
			    "in [0, 1) (at 1 the targets hold no true label)",
			    v);
	}
	return 0;
}

void atk_labelnoise_targets(const int *y, int B, int C, const uint32_t *pi, double eps, float *q)
{
	for (int b = 0; b < B; b++) {
		float *qb = q + (size_t)b * C;
		int k = (int)pi[y[b]];
		for (int c = 0; c < C; c++)
			qb[c] = (float)((1 - eps) * (c == y[b]) + eps * (c == k));
	}
}

double atk_labelnoise_correct(struct nn_model *m, const int *y, const uint32_t *pi, double eps,
			      float *q)
{
	int B = m->last_b, C = m->nclass;
	const float *z = m->acts[m->nlayers - 1];
	float *dz = nn_dact(m, m->nlayers - 1);
	double loss = 0;

	atk_labelnoise_targets(y, B, C, pi, eps, q);
	for (int b = 0; b < B; b++) {
		const float *zb = z + (size_t)b * C;
		const float *qb = q + (size_t)b * C;
		double mx = zb[0], sum = 0;
		for (int c = 1; c < C; c++)
			mx = zb[c] > mx ? zb[c] : mx;
		for (int c = 0; c < C; c++)
			sum += exp(zb[c] - mx);
		double lse = mx + log(sum);
		for (int c = 0; c < C; c++) {
			double hard = c == y[b];
			/* CE(q) - CE(hard) = sum_c (hard_c - q_c) log p_c */
			if (hard != qb[c])
				loss += (hard - qb[c]) * (zb[c] - lse);
			dz[(size_t)b * C + c] += (float)((hard - qb[c]) / B);
		}
	}
	return loss / B;
}

/* The hooks' state: the batch's permutation and the targets' scratch. */
struct labelnoise_ctx {
	double eps;
	int C;
	uint32_t pi[NN_MAXCLASS];
	float *q; /* (batch, C) */
};

static void labelnoise_mix(void *ctx, float *x, int *y, int *B, int cap, struct rng *r)
{
	struct labelnoise_ctx *c = ctx;
	(void)x, (void)y, (void)B, (void)cap;
	if (c->eps > 0) {
		for (int k = 0; k < c->C; k++)
			c->pi[k] = (uint32_t)k;
		rng_shuffle_u32(r, c->pi, (size_t)c->C);
	}
}

static double labelnoise_pre_backward(void *ctx, struct nn_model *m, const float *x, const int *y,
				      int B)
{
	struct labelnoise_ctx *c = ctx;
	(void)x, (void)B;
	return atk_labelnoise_correct(m, y, c->pi, c->eps, c->q);
}

static int labelnoise_apply(const void *cfg, struct nn_model *m, const struct atk_env *env,
			    char *err, size_t errlen)
{
	const struct labelnoise_cfg *p = cfg;
	struct atk_train t = {.name = "labelnoise"};
	struct labelnoise_ctx c = {.eps = p->eps, .C = m->nclass};
	/* the hook reads the logits (the last layer's output), never a ReLU fused
	 * with a max-pool */
	struct train_hooks h = {.ctx = &c,
				.mix = labelnoise_mix,
				.pre_backward = labelnoise_pre_backward,
				.acts_unread = 1};
	int rc;

	ATK_TRAIN_FROM(&t, p);
	/* the identity until a batch draws its own (never at eps = 0) */
	for (int k = 0; k < c.C; k++)
		c.pi[k] = (uint32_t)k;
	c.q = xmalloc((size_t)p->batch * c.C * sizeof(float));
	rc = atk_fit(m, env, &t, &h, err, errlen);
	free(c.q);
	return rc;
}

/* Samples through the passes: the fine-tune. */
static void labelnoise_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct labelnoise_cfg *p = cfg;

	*fwd = *bwd = (double)p->epochs * w->n;
}

const struct atk_attack atk_labelnoise = {
    .category = ATK_CAT_MODIFY,
    .threat = ATK_T_WEIGHTS | ATK_T_DATA | ATK_T_LABELS,
    .cfg_size = sizeof(struct labelnoise_cfg),
    .uses_attacker_data = 1,
    .name = "labelnoise",
    .summary = "fine-tune all layers on soft labels noised towards a per-batch class "
	       "permutation (WRT label noising)",
    .params = labelnoise_params,
    .check = labelnoise_check,
    .apply = labelnoise_apply,
    .work = labelnoise_work,
};
