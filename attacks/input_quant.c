/* input_quant.c - query-path attack: bit-depth reduction of every query.
 * Inputs are clamped to [0, 1] and rounded to the nearest of L = 2^bits
 * levels k / (L - 1), so out-of-range patterns are clipped as well. */
#include "common.h"

#include <math.h>

static const struct param_def input_quant_params[] = {
    {"bits", PT_INT, "4", 1, 16, NULL, "bits per input value"}, {0}};

static int input_quant_check(const struct param_set *p, char *err, size_t errlen)
{
	return atk_check_table("input_quant", input_quant_params, p, err, errlen);
}

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

static int input_quant_wrap(const struct param_set *p, struct wm_query *outer,
			    struct wm_query *inner, struct rng *r, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	atk_wrap_init(outer, inner, r, input_quant_predict)->k = (int)param_int(p, "bits", 4);
	return 0;
}

const struct atk_attack atk_input_quant = {
    .name = "input_quant",
    .summary = "query path: reduce the bit depth of every query",
    .params = input_quant_params,
    .query_path = 1,
    .check = input_quant_check,
    .wrap = input_quant_wrap,
};
