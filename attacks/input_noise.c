/* input_noise.c - query-path attack: every query's inputs get Gaussian noise,
 * x + sigma * N(0, 1) per value (inputs are in [0, 1]; no clamping). The
 * model is untouched; the noise comes from the wrapper's own stream. */
#include "common.h"

/* The parameters, as the plug-in receives them (table below). */
struct input_noise_cfg {
	double sigma;
};

static const struct param_def input_noise_params[] = {{"sigma", PT_DOUBLE, "0.1", 0, 100, NULL,
						       "standard deviation of the input noise",
						       offsetof(struct input_noise_cfg, sigma)},
						      {0}};

static int input_noise_predict(struct wm_query *q, const float *x, int n, float *probs)
{
	struct atk_qctx *c = q->ctx;
	size_t len = (size_t)n * atk_wrap_dim(q);
	float *xx = atk_wrap_buf(c, len);
	for (size_t i = 0; i < len; i++)
		xx[i] = x[i] + (float)(c->a * rng_normal(&c->rng));
	q->queries += n;
	return q->inner->predict(q->inner, xx, n, probs);
}

static int input_noise_wrap(const void *cfg, struct wm_query *outer, struct wm_query *inner,
			    const struct atk_env *env, struct rng *r, char *err, size_t errlen)
{
	(void)env;
	const struct input_noise_cfg *p = cfg;
	(void)err, (void)errlen;
	atk_wrap_init(outer, inner, r, input_noise_predict)->a = p->sigma;
	return 0;
}

const struct atk_attack atk_input_noise = {
    .category = ATK_CAT_INPUT,
    .threat = 0,
    .cfg_size = sizeof(struct input_noise_cfg),
    .name = "input_noise",
    .summary = "query path: Gaussian noise on every query",
    .params = input_noise_params,
    .query_path = 1,
    .wrap = input_noise_wrap,
};
