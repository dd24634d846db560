/* score_round.c - query-path attack: returned probabilities are rounded to
 * `decimals` decimal places (round half away from zero; not renormalised). */
#include "common.h"

#include <math.h>

static const struct param_def score_round_params[] = {
    {"decimals", PT_INT, "1", 0, 6, NULL, "decimal places kept of each probability"}, {0}};

static int score_round_check(const struct param_set *p, char *err, size_t errlen)
{
	return atk_check_table("score_round", score_round_params, p, err, errlen);
}

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

static int score_round_wrap(const struct param_set *p, struct wm_query *outer,
			    struct wm_query *inner, struct rng *r, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	atk_wrap_init(outer, inner, r, score_round_predict)->k = (int)param_int(p, "decimals", 1);
	return 0;
}

const struct atk_attack atk_score_round = {
    .name = "score_round",
    .summary = "query path: round the returned probabilities",
    .params = score_round_params,
    .query_path = 1,
    .check = score_round_check,
    .wrap = score_round_wrap,
};
