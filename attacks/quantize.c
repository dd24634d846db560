/* quantize.c - uniform symmetric k-bit quantisation of every weight tensor,
 * optionally fine-tuned on the attacker's data and quantised again.
 *
 * For k >= 2: scale = max|w| / (2^(k-1) - 1), w <- round(w / scale) * scale
 * (round half away from zero), so a tensor holds at most 2^k - 1 values.
 * For k = 1: w <- mean|w| * (w >= 0 ? 1 : -1), two values. Weights of dense
 * and conv layers are quantised; biases are kept in float (as is usual for
 * weight quantisation, and like prune). A tensor of zeros stays zero. With
 * epochs > 0 the model is quantised, fine-tuned in float, and quantised
 * again, so the result is always k-bit. */
#include "common.h"
#include "../workers/util.h"

#include <math.h>

/* The parameters, as the plug-in receives them (table below). */
struct quantize_cfg {
	int bits;
	int epochs;
	double lr;
	int batch;
	char optimizer[PARAM_VALLEN];
};

static const struct param_def quantize_params[] = {
    {"bits", PT_INT, "8", 1, 16, NULL, "bits per weight", offsetof(struct quantize_cfg, bits)},
    {"epochs", PT_INT, "0", 0, 1000, NULL,
     "fine-tuning epochs after quantising (then quantised again)",
     offsetof(struct quantize_cfg, epochs)},
    ATK_PARAM_LR(struct quantize_cfg, "0.001"),
    ATK_PARAM_BATCH(struct quantize_cfg),
    ATK_PARAM_OPTIMIZER(struct quantize_cfg),
    {0}};

static void quantize_tensor(float *w, size_t n, int bits)
{
	double mx = 0, mean = 0;
	for (size_t i = 0; i < n; i++) {
		double a = fabs(w[i]);
		mx = a > mx ? a : mx;
		mean += a;
	}
	if (mx == 0 || n == 0)
		return;
	if (bits == 1) {
		float v = (float)(mean / (double)n);
		for (size_t i = 0; i < n; i++)
			w[i] = w[i] >= 0 ? v : -v;
		return;
	}
	double levels = ldexp(1.0, bits - 1) - 1, scale = mx / levels;
	for (size_t i = 0; i < n; i++) {
		double q = round(w[i] / scale);
		q = q > levels ? levels : (q < -levels ? -levels : q);
		w[i] = (float)(q * scale);
	}
}

static void quantize_model(struct nn_model *m, int bits)
{
	for (int i = 0; i < m->nlayers; i++)
		if (nn_has_params(&m->layers[i]))
			quantize_tensor(m->params + m->layers[i].w_off, m->layers[i].w_n, bits);
}

static int quantize_apply(const void *cfg, struct nn_model *m, const struct atk_env *env, char *err,
			  size_t errlen)
{
	const struct quantize_cfg *p = cfg;
	struct atk_train t = {.name = "quantize"};
	int bits = p->bits;

	ATK_TRAIN_FROM(&t, p);
	quantize_model(m, bits);
	if (t.epochs > 0) {
		if (atk_fit(m, env, &t, NULL, err, errlen))
			return -1;
		quantize_model(m, bits);
	}
	return 0;
}

/* Samples through the passes (the row's forward and backward): the
 * fine-tune after rounding. */
static void quantize_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct quantize_cfg *p = cfg;

	*fwd = *bwd = (double)p->epochs * w->n;
}

const struct atk_attack atk_quantize = {
    .category = ATK_CAT_MODIFY,
    .threat = ATK_T_WEIGHTS | ATK_T_DATA | ATK_T_LABELS,
    .cfg_size = sizeof(struct quantize_cfg),
    .uses_attacker_data = 1,
    .name = "quantize",
    .summary = "uniform symmetric k-bit weight quantisation, optionally fine-tuned",
    .params = quantize_params,
    .apply = quantize_apply,
    .work = quantize_work,
};
