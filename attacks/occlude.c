/* occlude.c - fine-tuning on randomly occluded copies of the attacker's
 * data (the random-occlusion attack of WRT, the Watermark-Robustness-Toolbox
 * of Lukas, Jiang, Li and Kerschbaum, IEEE S&P 2022; ATTACKS-MORE.md
 * section 5).
 *
 * `repeats` times, the attacker builds an occluded copy of its data and
 * fine-tunes all layers for `epochs` on the clean images plus the occluded
 * ones, labels kept. An occluding rectangle has a height uniform over the
 * integers in [1, 2 ratio H) and a width over [1, 2 ratio W) (at least 1;
 * up to half of each side at the default ratio 0.25), its corner uniform
 * over the image, is clipped at the border and filled with uniform noise in
 * [0, 1) in every channel. By default one rectangle and one noise patch
 * serve a whole batch, as in WRT (which draws one rectangle and one noise
 * image per batch of its loader); per_sample = 1 draws them per image. Patch
 * triggers (nullembed's block, say) are what it is expected to weaken.
 *
 * Defaults: ratio 0.25, 3 repeats of 1 epoch, lr 1e-3 with Adam, batch 64,
 * no label smoothing (WRT's ImageNet configs: 5 repeats of 1 epoch, label
 * smoothing 0 or 0.9; the spec's Fashion-MNIST grid: 3 to 5 repeats).
 *
 * How, and where wmbench deviates from WRT: the occluded copy is never
 * stored. The run's training loop (atk_fit) runs repeats x epochs epochs
 * with one optimiser (WRT's repeats share the classifier's optimiser too);
 * its mix hook appends to every batch of B clean images an occluded
 * duplicate of them, so each step trains on 2B rows and each epoch on every
 * clean image and one occluded copy of it, with rectangles drawn afresh
 * every epoch. WRT instead shuffles clean and occluded images together into
 * batches of B (twice as many steps of half the rows per epoch) and keeps a
 * repeat's occluded copy over that repeat's epochs (the same thing at the
 * default epochs = 1). WRT's max_occlusion_ratio is never passed through,
 * so 0.25 always applies there; here ratio is a parameter in (0, 0.5]. All
 * randomness comes from env->rng. */
#include "common.h"
#include "ftvariants.h"
#include "../workers/util.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* The parameters, as the plug-in receives them (table below). */
struct occlude_cfg {
	int repeats;
	int epochs;
	double ratio;
	int per_sample;
	double label_smooth;
	double lr;
	int batch;
	char optimizer[PARAM_VALLEN];
};

static const struct param_def occlude_params[] = {
    {"repeats", PT_INT, "3", 1, 20, NULL, "rounds of a fresh occluded copy and fine-tuning",
     offsetof(struct occlude_cfg, repeats)},
    {"epochs", PT_INT, "1", 1, 1000, NULL, "fine-tuning epochs per repeat",
     offsetof(struct occlude_cfg, epochs)},
    {"ratio", PT_DOUBLE, "0.25", 0, 0.5, NULL,
     "a rectangle's side is below 2 ratio times the image's, ratio in (0, 0.5]",
     offsetof(struct occlude_cfg, ratio)},
    {"per_sample", PT_INT, "0", 0, 1, NULL,
     "1: a rectangle per image; 0: one per batch, shared by its images",
     offsetof(struct occlude_cfg, per_sample)},
    {"label_smooth", PT_DOUBLE, "0", 0, 1, NULL, "label-smoothing epsilon (0 = off)",
     offsetof(struct occlude_cfg, label_smooth)},
    ATK_PARAM_LR(struct occlude_cfg, "0.001"),
    ATK_PARAM_BATCH(struct occlude_cfg),
    ATK_PARAM_OPTIMIZER(struct occlude_cfg),
    {0}};

static int occlude_check(const void *cfg, char *err, size_t errlen)
{
	const struct occlude_cfg *p = cfg;
	char v[32];
	if (!(p->ratio > 0)) {
		fmt_double(v, sizeof v, p->ratio);
		return errf(err, errlen,
			    "occlude: parameter 'ratio' = '%s' is out of range; expected a number "
			    "in (0, 0.5]",
			    v);
	}
	return 0;
}

/* The largest side below 2 ratio n, at least 1. */
static int max_side(int n, double ratio)
{
	int s = (int)ceil(2 * ratio * n) - 1;
	return s < 1 ? 1 : s;
}

void atk_occlude_rect(struct rng *r, int h, int w, double ratio, struct atk_rect *rc)
{
	rc->height = 1 + (int)rng_below(r, (uint32_t)max_side(h, ratio));
	rc->width = 1 + (int)rng_below(r, (uint32_t)max_side(w, ratio));
	rc->top = (int)rng_below(r, (uint32_t)h);
	rc->left = (int)rng_below(r, (uint32_t)w);
}

void atk_occlude_batch(float *x, int B, int c, int h, int w, double ratio, int per_sample,
		       struct rng *r)
{
	size_t D = (size_t)c * h * w, plane = (size_t)h * w;
	struct atk_rect rc = {0};
	int bottom = 0, right = 0;

	for (int b = 0; b < B; b++) {
		float *xb = x + (size_t)b * D;
		int fresh = per_sample || b == 0;
		if (fresh) {
			atk_occlude_rect(r, h, w, ratio, &rc);
			bottom = rc.top + rc.height < h ? rc.top + rc.height : h;
			right = rc.left + rc.width < w ? rc.left + rc.width : w;
		}
		for (int ch = 0; ch < c; ch++)
			for (int i = rc.top; i < bottom; i++) {
				float *row = xb + ch * plane + (size_t)i * w;
				if (fresh) {
					for (int j = rc.left; j < right; j++)
						row[j] = (float)rng_uniform(r);
				} else {
					/* the batch's patch, as image 0 got it */
					memcpy(row + rc.left,
					       x + ch * plane + (size_t)i * w + rc.left,
					       (size_t)(right - rc.left) * sizeof(float));
				}
			}
	}
}

/* The mix hook's state: the images' shape and the rectangles' mode. */
struct occlude_ctx {
	int c, h, w;
	double ratio;
	int per_sample;
};

/* Appends an occluded duplicate of the batch's B clean rows (labels kept). */
static void occlude_mix(void *ctx, float *x, int *y, int *B, int cap, struct rng *r)
{
	const struct occlude_ctx *o = ctx;
	size_t D = (size_t)o->c * o->h * o->w;
	int n = *B;
	if (2 * n > cap)
		n = cap - n; /* never with extra_rows = batch; keeps within the buffer */
	memcpy(x + (size_t)*B * D, x, (size_t)n * D * sizeof(float));
	memcpy(y + *B, y, (size_t)n * sizeof(int));
	atk_occlude_batch(x + (size_t)*B * D, n, o->c, o->h, o->w, o->ratio, o->per_sample, r);
	*B += n;
}

static int occlude_apply(const void *cfg, struct nn_model *m, const struct atk_env *env, char *err,
			 size_t errlen)
{
	const struct occlude_cfg *p = cfg;
	struct atk_train t = {.name = "occlude"};
	const struct dataset *d = env->train;
	struct occlude_ctx o = {
	    .c = d->c, .h = d->h, .w = d->w, .ratio = p->ratio, .per_sample = p->per_sample};
	struct train_hooks h = {.ctx = &o, .mix = occlude_mix};

	ATK_TRAIN_FROM(&t, p);
	t.epochs = p->repeats * p->epochs;
	t.label_smooth = p->label_smooth;
	t.extra_rows = p->batch;
	return atk_fit(m, env, &t, &h, err, errlen);
}

/* Samples through the passes: every batch with its occluded copy. */
static void occlude_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct occlude_cfg *p = cfg;

	*fwd = *bwd = 2.0 * p->repeats * p->epochs * w->n;
}

const struct atk_attack atk_occlude = {
    .category = ATK_CAT_MODIFY,
    .threat = ATK_T_WEIGHTS | ATK_T_DATA | ATK_T_LABELS,
    .cfg_size = sizeof(struct occlude_cfg),
    .uses_attacker_data = 1,
    .name = "occlude",
    .summary = "fine-tune all layers on the attacker's data plus randomly occluded copies "
	       "(WRT random occlusion)",
    .params = occlude_params,
    .check = occlude_check,
    .apply = occlude_apply,
    .work = occlude_work,
};
