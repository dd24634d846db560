/* noise.c - Gaussian noise on the weights: every dense/conv weight tensor
 * gets w <- w + sigma * std(w) * N(0, 1), std being that tensor's
 * (population) standard deviation before the noise; biases are left alone.
 * The noise is drawn from the job's RNG. */
#include "common.h"

#include <math.h>

/* The parameters, as the plug-in receives them (table below). */
struct noise_cfg {
	double sigma;
};

static const struct param_def noise_params[] = {
    {"sigma", PT_DOUBLE, "0.1", 0, 100, NULL,
     "noise level, in units of each tensor's standard deviation",
     offsetof(struct noise_cfg, sigma)},
    {0}};

static int noise_apply(const void *cfg, struct nn_model *m, const struct atk_env *env, char *err,
		       size_t errlen)
{
	const struct noise_cfg *p = cfg;
	double sigma = p->sigma;
	(void)err, (void)errlen;
	for (int i = 0; i < m->nlayers; i++) {
		const struct nn_layer *l = &m->layers[i];
		float *w = m->params + l->w_off;
		double s = 0, s2 = 0;
		if (!nn_has_params(l) || !l->w_n)
			continue;
		for (size_t k = 0; k < l->w_n; k++) {
			s += w[k];
			s2 += (double)w[k] * w[k];
		}
		double mean = s / l->w_n, var = s2 / l->w_n - mean * mean;
		double sd = sigma * sqrt(var > 0 ? var : 0);
		for (size_t k = 0; k < l->w_n; k++)
			w[k] += (float)(sd * rng_normal(env->rng));
	}
	return 0;
}

const struct atk_attack atk_noise = {
    .category = ATK_CAT_MODIFY,
    .threat = ATK_T_WEIGHTS,
    .cfg_size = sizeof(struct noise_cfg),
    .name = "noise",
    .summary = "Gaussian weight noise scaled by each tensor's standard deviation",
    .params = noise_params,
    .apply = noise_apply,
};
