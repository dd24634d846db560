/* label_only.c - query-path attack: the API returns only the top-1 label, as
 * a one-hot row (ties go to the lowest class). */
#include "common.h"

#include <string.h>

static const struct param_def label_only_params[] = {{0}};

static int label_only_predict(struct wm_query *q, const float *x, int n, float *probs)
{
	int C = q->nclass, rc = q->inner->predict(q->inner, x, n, probs);
	q->queries += n;
	if (rc)
		return rc;
	for (int b = 0; b < n; b++) {
		float *p = probs + (size_t)b * C;
		int k = nn_argmax(p, C);
		memset(p, 0, (size_t)C * sizeof *p);
		p[k] = 1;
	}
	return 0;
}

static int label_only_wrap(const void *cfg, struct wm_query *outer, struct wm_query *inner,
			   const struct atk_env *env, struct rng *r, char *err, size_t errlen)
{
	(void)env;
	(void)cfg, (void)err, (void)errlen;
	atk_wrap_init(outer, inner, r, label_only_predict);
	return 0;
}

const struct atk_attack atk_label_only = {
    .category = ATK_CAT_OUTPUT,
    .threat = 0,
    .name = "label_only",
    .summary = "query path: return only the top-1 label",
    .params = label_only_params,
    .query_path = 1,
    .wrap = label_only_wrap,
};
