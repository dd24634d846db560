/* score_round.c - query-path attack: returned probabilities are rounded to
 * `decimals` decimal places (round half away from zero; not renormalised). */
#include "common.h"

#include <math.h>

/* The parameters, as the plug-in receives them (table below). */
struct score_round_cfg {
	int decimals;
};

static const struct param_def score_round_params[] = {{"decimals", PT_INT, "1", 0, 6, NULL,
						       "decimal places kept of each probability",
						       offsetof(struct score_round_cfg, decimals)},
						      {0}};

static int score_round_predict(struct wm_query *q, const float *x, int n, float *probs)
{
	struct atk_qctx *c = q->ctx;
	double s = pow(10.0, c->k);
	int rc = q->inner->predict(q->inner, x, n, probs);
	q->queries += n;
	if (rc)
		return rc;
	for (size_t i = 0; i < (size_t)n * q->nclass; i++)
		probs[i] = (float)(round(probs[i] * s) / s);
	return 0;
}

static int score_round_wrap(const void *cfg, struct wm_query *outer, struct wm_query *inner,
			    const struct atk_env *env, struct rng *r, char *err, size_t errlen)
{
	(void)env;
	const struct score_round_cfg *p = cfg;
	(void)err, (void)errlen;
	atk_wrap_init(outer, inner, r, score_round_predict)->k = p->decimals;
	return 0;
}

const struct atk_attack atk_score_round = {
    .category = ATK_CAT_OUTPUT,
    .threat = 0,
    .cfg_size = sizeof(struct score_round_cfg),
    .name = "score_round",
    .summary = "query path: round the returned probabilities",
    .params = score_round_params,
    .query_path = 1,
    .wrap = score_round_wrap,
};
