/* score_noise.c - query-path attack: every returned probability gets
 * p + sigma * N(0, 1), clamped at 0, and each row is renormalised to sum 1
 * (a row that is all zeros becomes uniform). */
#include "common.h"

/* The parameters, as the plug-in receives them (table below). */
struct score_noise_cfg {
	double sigma;
};

static const struct param_def score_noise_params[] = {
    {"sigma", PT_DOUBLE, "0.05", 0, 10, NULL, "standard deviation of the noise on each probability",
     offsetof(struct score_noise_cfg, sigma)},
    {0}};

static int score_noise_predict(struct wm_query *q, const float *x, int n, float *probs)
{
	struct atk_qctx *c = q->ctx;
	int C = q->nclass, rc = q->inner->predict(q->inner, x, n, probs);
	q->queries += n;
	if (rc)
		return rc;
	for (int b = 0; b < n; b++) {
		float *p = probs + (size_t)b * C;
		double s = 0;
		for (int k = 0; k < C; k++) {
			double v = p[k] + c->a * rng_normal(&c->rng);
			p[k] = (float)(v > 0 ? v : 0);
			s += p[k];
		}
		for (int k = 0; k < C; k++)
			p[k] = s > 0 ? (float)(p[k] / s) : 1.0f / C;
	}
	return 0;
}

static int score_noise_wrap(const void *cfg, struct wm_query *outer, struct wm_query *inner,
			    const struct atk_env *env, struct rng *r, char *err, size_t errlen)
{
	(void)env;
	const struct score_noise_cfg *p = cfg;
	(void)err, (void)errlen;
	atk_wrap_init(outer, inner, r, score_noise_predict)->a = p->sigma;
	return 0;
}

const struct atk_attack atk_score_noise = {
    .category = ATK_CAT_OUTPUT,
    .threat = 0,
    .cfg_size = sizeof(struct score_noise_cfg),
    .name = "score_noise",
    .summary = "query path: perturb the returned probabilities and renormalise",
    .params = score_noise_params,
    .query_path = 1,
    .wrap = score_noise_wrap,
};
