/* input_clip.c - query-path attack: every query's inputs are clamped to
 * [lo, hi] (default the valid pixel range [0, 1]), which defeats trigger
 * patterns that lie outside the range real images can take. */
#include "common.h"
#include "../workers/util.h"

/* The parameters, as the plug-in receives them (table below). */
struct input_clip_cfg {
	double lo;
	double hi;
};

static const struct param_def input_clip_params[] = {
    {"lo", PT_DOUBLE, "0", -1e6, 1e6, NULL, "lower end of the allowed input range",
     offsetof(struct input_clip_cfg, lo)},
    {"hi", PT_DOUBLE, "1", -1e6, 1e6, NULL, "upper end of the allowed input range",
     offsetof(struct input_clip_cfg, hi)},
    {0}};

static int input_clip_check(const void *cfg, char *err, size_t errlen)
{
	const struct input_clip_cfg *p = cfg;
	char lo[32], hi[32];
	if (p->lo > p->hi) {
		fmt_double(lo, sizeof lo, p->lo);
		fmt_double(hi, sizeof hi, p->hi);
		return errf(
		    err, errlen,
		    "input_clip: parameter 'hi' = '%s' is below lo = '%s'; expected lo <= hi", hi,
		    lo);
	}
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

static int input_clip_wrap(const void *cfg, struct wm_query *outer, struct wm_query *inner,
			   const struct atk_env *env, struct rng *r, char *err, size_t errlen)
{
	(void)env;
	const struct input_clip_cfg *p = cfg;
	(void)err, (void)errlen;
	struct atk_qctx *c = atk_wrap_init(outer, inner, r, input_clip_predict);
	c->a = p->lo;
	c->b = p->hi;
	return 0;
}

const struct atk_attack atk_input_clip = {
    .category = ATK_CAT_INPUT,
    .threat = 0,
    .cfg_size = sizeof(struct input_clip_cfg),
    .name = "input_clip",
    .summary = "query path: clamp every query to the valid input range",
    .params = input_clip_params,
    .query_path = 1,
    .check = input_clip_check,
    .wrap = input_clip_wrap,
};
