/* input_quant.c - query-path attack: bit-depth reduction of every query.
 * Inputs are clamped to [0, 1] and rounded to the nearest of L = 2^bits
 * levels k / (L - 1), so out-of-range patterns are clipped as well. */
#include "common.h"

#include <math.h>

/* The parameters, as the plug-in receives them (table below). */
struct input_quant_cfg {
	int bits;
};

static const struct param_def input_quant_params[] = {{"bits", PT_INT, "4", 1, 16, NULL,
						       "bits per input value",
						       offsetof(struct input_quant_cfg, bits)},
						      {0}};

static int input_quant_predict(struct wm_query *q, const float *x, int n, float *probs)
{
	struct atk_qctx *c = q->ctx;
	size_t len = (size_t)n * atk_wrap_dim(q);
	float *xx = atk_wrap_buf(c, len);
	double L1 = ldexp(1.0, c->k) - 1;
	for (size_t i = 0; i < len; i++) {
		double v = x[i] < 0 ? 0 : (x[i] > 1 ? 1 : x[i]);
		xx[i] = (float)(round(v * L1) / L1);
	}
	q->queries += n;
	return q->inner->predict(q->inner, xx, n, probs);
}

static int input_quant_wrap(const void *cfg, struct wm_query *outer, struct wm_query *inner,
			    const struct atk_env *env, struct rng *r, char *err, size_t errlen)
{
	(void)env;
	const struct input_quant_cfg *p = cfg;
	(void)err, (void)errlen;
	atk_wrap_init(outer, inner, r, input_quant_predict)->k = p->bits;
	return 0;
}

const struct atk_attack atk_input_quant = {
    .category = ATK_CAT_INPUT,
    .threat = 0,
    .cfg_size = sizeof(struct input_quant_cfg),
    .name = "input_quant",
    .summary = "query path: reduce the bit depth of every query",
    .params = input_quant_params,
    .query_path = 1,
    .wrap = input_quant_wrap,
};
