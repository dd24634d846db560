/* weightshift.c - weight shifting (after the robustness SoK, Lukas et al.,
 * IEEE S&P 2022): every output unit's weights are shifted by lambda times
 * their mean, noise is added, and the model is fine-tuned on the attacker's
 * data.
 *
 * The precise rule is ours (from ATTACKS.md's one-line description; the
 * SoK's own formula was not checked): for every dense and conv layer and
 * every output unit o (a dense weight row W[o, :], a conv filter
 * W[o, :, :, :]) with mean mu_o over its fan-in: W[o, i] <- W[o, i] - lambda * mu_o (so the row's
 * mean becomes (1 - lambda) * mu_o; lambda = 1.5 flips and halves it), then every weight tensor
 * gets w <- w + sigma * std(w) * N(0, 1), std of the shifted tensor. Biases are left alone. Then
 * all layers are fine-tuned for `epochs`. */
#include "common.h"

#include <math.h>

/* The parameters, as the plug-in receives them (table below). */
struct weightshift_cfg {
	double lambda;
	double sigma;
	int epochs;
	double lr;
	int batch;
	char optimizer[PARAM_VALLEN];
};

static const struct param_def weightshift_params[] = {
    {"lambda", PT_DOUBLE, "1.5", -100, 100, NULL,
     "shift, in units of each output unit's mean weight", offsetof(struct weightshift_cfg, lambda)},
    {"sigma", PT_DOUBLE, "0.1", 0, 100, NULL, "noise, in units of each tensor's standard deviation",
     offsetof(struct weightshift_cfg, sigma)},
    {"epochs", PT_INT, "2", 0, 1000, NULL, "fine-tuning epochs after shifting",
     offsetof(struct weightshift_cfg, epochs)},
    ATK_PARAM_LR(struct weightshift_cfg, "0.001"),
    ATK_PARAM_BATCH(struct weightshift_cfg),
    ATK_PARAM_OPTIMIZER(struct weightshift_cfg),
    {0}};

static int weightshift_apply(const void *cfg, struct nn_model *m, const struct atk_env *env,
			     char *err, size_t errlen)
{
	const struct weightshift_cfg *p = cfg;
	struct atk_train t = {.name = "weightshift"};
	double lambda = p->lambda, sigma = p->sigma;

	ATK_TRAIN_FROM(&t, p);
	for (int i = 0; i < m->nlayers; i++) {
		const struct nn_layer *l = &m->layers[i];
		if (!nn_has_params(l) || !l->w_n)
			continue;
		float *W = m->params + l->w_off;
		size_t M = l->w_n / (size_t)l->out_c;
		double s = 0, s2 = 0;
		for (int o = 0; o < l->out_c; o++) {
			float *row = W + (size_t)o * M;
			double mu = 0;
			for (size_t k = 0; k < M; k++)
				mu += row[k];
			mu /= (double)M;
			for (size_t k = 0; k < M; k++)
				row[k] -= (float)(lambda * mu);
		}
		for (size_t k = 0; k < l->w_n; k++) {
			s += W[k];
			s2 += (double)W[k] * W[k];
		}
		double mean = s / l->w_n, var = s2 / l->w_n - mean * mean;
		double sd = sigma * sqrt(var > 0 ? var : 0);
		for (size_t k = 0; k < l->w_n; k++)
			W[k] += (float)(sd * rng_normal(env->rng));
	}
	return atk_fit(m, env, &t, NULL, err, errlen);
}

/* Samples through the passes: the fine-tune with the shift penalty. */
static void weightshift_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct weightshift_cfg *p = cfg;

	*fwd = *bwd = (double)p->epochs * w->n;
}

const struct atk_attack atk_weightshift = {
    .category = ATK_CAT_MODIFY,
    .threat = ATK_T_WEIGHTS | ATK_T_DATA | ATK_T_LABELS,
    .cfg_size = sizeof(struct weightshift_cfg),
    .uses_attacker_data = 1,
    .name = "weightshift",
    .summary = "shift every unit's weights by lambda times their mean, add noise, fine-tune",
    .params = weightshift_params,
    .apply = weightshift_apply,
    .work = weightshift_work,
};
