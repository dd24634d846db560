/* fineprune.c - Fine-Pruning (Liu, Dolan-Gavitt, Garg; RAID 2018): remove the
 * hidden units of the last hidden layer that are least active on the
 * attacker's data, then fine-tune all layers.
 *
 * The last hidden layer is the layer with parameters before the last one
 * (fc2 of mlp and lenet5, fc1 of cnn). A unit's activity is its mean output
 * after the ReLU that follows the layer, over all attacker samples (and, for
 * a conv layer, all positions). The round(ratio * units) least active units
 * (ties by index) are removed by zeroing their incoming weights and bias and
 * their outgoing weights in the next layer. A removed unit's pre-activation
 * is then 0, so its ReLU passes no gradient and fine-tuning cannot revive it:
 * the pruning survives the fine-tuning without a mask. */
#include "common.h"
#include "../workers/util.h"

#include <math.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

/* The parameters, as the plug-in receives them (table below). */
struct fineprune_cfg {
	double ratio;
	int epochs;
	double lr;
	int batch;
	char optimizer[PARAM_VALLEN];
};

static const struct param_def fineprune_params[] = {
    {"ratio", PT_DOUBLE, "0.5", 0, 1, NULL, "fraction of the last hidden layer's units removed",
     offsetof(struct fineprune_cfg, ratio)},
    {"epochs", PT_INT, "2", 0, 1000, NULL, "fine-tuning epochs after pruning",
     offsetof(struct fineprune_cfg, epochs)},
    ATK_PARAM_LR(struct fineprune_cfg, "0.001"),
    ATK_PARAM_BATCH(struct fineprune_cfg),
    ATK_PARAM_OPTIMIZER(struct fineprune_cfg),
    {0}};

/* Mean activation per unit of layer li's output (units OC) over the
 * attacker's samples, read after layer ai (the ReLU, or li itself). */
static void mean_activity(struct nn_model *m, int ai, const struct atk_env *env, double *act)
{
	const struct dataset *d = env->train;
	const struct nn_layer *a = &m->layers[ai];
	size_t D = (size_t)d->c * d->h * d->w, HW = (size_t)a->out_h * a->out_w;
	int OC = a->out_c, bs = 256, n = env->n_attacker;
	float *x = xmalloc((size_t)bs * D * sizeof(float));

	memset(act, 0, (size_t)OC * sizeof *act);
	for (int s = 0; s < n; s += bs) {
		int B = n - s < bs ? n - s : bs;
		nn_fill_batch(d->x, d->y, D, env->attacker_idx + s, B, x, NULL);
		nn_forward(m, x, B, 0, NULL);
		const float *o = m->acts[ai];
		for (int b = 0; b < B; b++)
			for (int c = 0; c < OC; c++) {
				/* (C, B, H, W) inside the conv stack, else (B, C*H*W) */
				const float *v = a->chan_major ? o + ((size_t)c * B + b) * HW
							       : o + ((size_t)b * OC + c) * HW;
				for (size_t k = 0; k < HW; k++)
					act[c] += v[k];
			}
	}
	for (int c = 0; c < OC; c++)
		act[c] /= (double)n * HW;
	free(x);
}

static const double *sort_act;

static int by_activity(const void *pa, const void *pb)
{
	int i = *(const int *)pa, j = *(const int *)pb;
	if (sort_act[i] != sort_act[j])
		return sort_act[i] < sort_act[j] ? -1 : 1;
	return i < j ? -1 : (i > j);
}

static int fineprune_apply(const void *cfg, struct nn_model *m, const struct atk_env *env,
			   char *err, size_t errlen)
{
	const struct fineprune_cfg *p = cfg;
	struct atk_train t = {.name = "fineprune"};
	int last = nn_last_param_layer(m), hid = -1, ai;

	ATK_TRAIN_FROM(&t, p);
	for (int i = last - 1; i >= 0 && hid < 0; i--)
		if (nn_has_params(&m->layers[i]))
			hid = i;
	if (hid < 0)
		return errf(err, errlen,
			    "fineprune: model '%s' has no hidden layer with parameters; expected a "
			    "model with at least two dense/conv layers",
			    m->arch);
	if (env->n_attacker <= 0)
		return errf(err, errlen,
			    "fineprune: the attacker has no samples to measure activity on; "
			    "expected attacker_split > 0 and attacker_data > 0");
	ai = hid;
	for (int i = hid + 1; i < last; i++)
		if (m->layers[i].kind == NN_RELU) {
			ai = i;
			break;
		}
	struct nn_layer *h = &m->layers[hid], *nx = &m->layers[last];
	int OC = h->out_c;
	size_t Min = h->w_n / (size_t)OC, Mout = nx->w_n / (size_t)nx->out_c;
	if (Mout % (size_t)OC)
		return errf(err, errlen,
			    "fineprune: layer '%s' takes %zu inputs, not a multiple of the %d "
			    "units of '%s'; expected consecutive layers",
			    nx->name, Mout, OC, h->name);
	size_t G = Mout / (size_t)OC; /* inputs of the next layer per unit (H*W after flatten) */
	double *act = xmalloc((size_t)OC * sizeof *act);
	int *order = xmalloc((size_t)OC * sizeof *order);
	int k = (int)llround(p->ratio * OC);

	mean_activity(m, ai, env, act);
	for (int c = 0; c < OC; c++)
		order[c] = c;
	sort_act = act;
	qsort(order, (size_t)OC, sizeof *order, by_activity);
	for (int r = 0; r < k; r++) {
		int c = order[r];
		memset(m->params + h->w_off + (size_t)c * Min, 0, Min * sizeof(float));
		if (h->b_n)
			m->params[h->b_off + (size_t)c] = 0;
		for (int o = 0; o < nx->out_c; o++)
			memset(m->params + nx->w_off + (size_t)o * Mout + (size_t)c * G, 0,
			       G * sizeof(float));
	}
	free(act);
	free(order);
	return atk_fit(m, env, &t, NULL, err, errlen);
}

/* Samples through the passes: one pass to measure the units' activity,
 * then the fine-tune. */
static void fineprune_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct fineprune_cfg *p = cfg;

	*bwd = (double)p->epochs * w->n;
	*fwd = *bwd + w->n;
}

const struct atk_attack atk_fineprune = {
    .category = ATK_CAT_MODIFY,
    .threat = ATK_T_WEIGHTS | ATK_T_DATA | ATK_T_LABELS,
    .cfg_size = sizeof(struct fineprune_cfg),
    .uses_attacker_data = 1,
    .name = "fineprune",
    .summary =
	"remove the least active units of the last hidden layer, then fine-tune (Liu et al. 2018)",
    .params = fineprune_params,
    .apply = fineprune_apply,
    .work = fineprune_work,
};
