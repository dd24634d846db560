/* input_clip.c - query-path attack: every query's inputs are clamped to
 * [lo, hi] (default the valid pixel range [0, 1]), which defeats trigger
 * patterns that lie outside the range real images can take. */
#include "common.h"
#include "../workers/util.h"

static const struct param_def input_clip_params[] = {
    {"lo", PT_DOUBLE, "0", -1e6, 1e6, NULL, "lower end of the allowed input range"},
    {"hi", PT_DOUBLE, "1", -1e6, 1e6, NULL, "upper end of the allowed input range"},
    {0}};

static int input_clip_check(const struct param_set *p, char *err, size_t errlen)
{
	if (atk_check_table("input_clip", input_clip_params, p, err, errlen))
		return -1;
	double lo = param_double(p, "lo", 0), hi = param_double(p, "hi", 1);
	if (lo > hi)
		return errf(
		    err, errlen,
		    "input_clip: parameter 'hi' = '%s' is below lo = '%s'; expected lo <= hi",
		    param_get(p, "hi"), param_get(p, "lo"));
	return 0;
}

static int input_clip_predict(struct wm_query *q, const float *x, int n, float *probs)
{
	struct atk_qctx *c = q->ctx;
	size_t len = (size_t)n * atk_wrap_dim(q);
	float *xx = atk_wrap_buf(c, len), lo = (float)c->a, hi = (float)c->b;
	for (size_t i = 0; i < len; i++)
		xx[i] = x[i] < lo ? lo : (x[i] > hi ? hi : x[i]);
	q->queries += n;
	return q->inner->predict(q->inner, xx, n, probs);
}

static int input_clip_wrap(const struct param_set *p, struct wm_query *outer,
			   struct wm_query *inner, struct rng *r, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	struct atk_qctx *c = atk_wrap_init(outer, inner, r, input_clip_predict);
	c->a = param_double(p, "lo", 0);
	c->b = param_double(p, "hi", 1);
	return 0;
}

const struct atk_attack atk_input_clip = {
    .name = "input_clip",
    .summary = "query path: clamp every query to the valid input range",
    .params = input_clip_params,
    .query_path = 1,
    .check = input_clip_check,
    .wrap = input_clip_wrap,
};
