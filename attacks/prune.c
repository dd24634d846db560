/* prune.c - magnitude pruning without retraining. Zeroes exactly
 * round(rate * n) weights of the scope, the smallest in |w| (ties broken by
 * position, so the result is deterministic). Biases are left alone. The
 * default scope is global, one magnitude threshold over every weight, as the
 * trigger-set papers prune (Adi et al.; null embedding: SCHEMES.md) and as
 * an attacker who does not know the marked layer must; layer prunes only the
 * marked layer (Uchida et al.'s experiment, jobs/papers/uchida_pruning.yaml),
 * each every layer at the same rate. */
#include "common.h"
#include "../workers/util.h"

#include <math.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

/* The parameters, as the plug-in receives them (table below). */
struct prune_cfg {
	double rate;
	char scope[PARAM_VALLEN];
};

static const struct param_def prune_params[] = {
    {"rate", PT_DOUBLE, "0.5", 0, 1, NULL, "fraction of weights zeroed",
     offsetof(struct prune_cfg, rate)},
    {"scope", PT_STRING, "global", 0, 0, "layer|each|global",
     "the marked layer, every layer at the same rate, or one global threshold",
     offsetof(struct prune_cfg, scope)},
    {0}};

static const float *sort_base;

static int by_magnitude(const void *a, const void *b)
{
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
	float x = fabsf(sort_base[i]), y = fabsf(sort_base[j]);
	if (x != y)
		return x < y ? -1 : 1;
	return i < j ? -1 : (i > j);
}

/* Zeroes the k smallest-magnitude entries of v (n). */
static void prune_vector(float *v, size_t n, double rate)
{
	size_t k = (size_t)llround(rate * (double)n);
	uint32_t *idx = xmalloc(n * sizeof *idx);
	for (size_t i = 0; i < n; i++)
		idx[i] = (uint32_t)i;
	sort_base = v;
	qsort(idx, n, sizeof *idx, by_magnitude);
	for (size_t i = 0; i < k; i++)
		v[idx[i]] = 0;
	free(idx);
}

static int prune_apply(const void *cfg, struct nn_model *m, const struct atk_env *env, char *err,
		       size_t errlen)
{
	const struct prune_cfg *p = cfg;
	double rate = p->rate;
	const char *scope = p->scope;
	if (!strcmp(scope, "layer")) {
		const char *name = env->marked_layer ? env->marked_layer : wm_default_layer(m);
		int li = nn_find_layer(m, name);
		if (li < 0)
			return errf(err, errlen, "prune: marked layer '%s' is not in the model",
				    name);
		prune_vector(m->params + m->layers[li].w_off, m->layers[li].w_n, rate);
	} else if (!strcmp(scope, "each")) {
		for (int i = 0; i < m->nlayers; i++)
			if (nn_has_params(&m->layers[i]))
				prune_vector(m->params + m->layers[i].w_off, m->layers[i].w_n,
					     rate);
	} else {
		/* global: gather all weights, prune, scatter back */
		size_t n = 0, off = 0;
		for (int i = 0; i < m->nlayers; i++)
			if (nn_has_params(&m->layers[i]))
				n += m->layers[i].w_n;
		float *all = xmalloc(n * sizeof(float));
		for (int i = 0; i < m->nlayers; i++)
			if (nn_has_params(&m->layers[i])) {
				memcpy(all + off, m->params + m->layers[i].w_off,
				       m->layers[i].w_n * sizeof(float));
				off += m->layers[i].w_n;
			}
		prune_vector(all, n, rate);
		off = 0;
		for (int i = 0; i < m->nlayers; i++)
			if (nn_has_params(&m->layers[i])) {
				memcpy(m->params + m->layers[i].w_off, all + off,
				       m->layers[i].w_n * sizeof(float));
				off += m->layers[i].w_n;
			}
		free(all);
	}
	return 0;
}

const struct atk_attack atk_prune = {
    .category = ATK_CAT_MODIFY,
    .threat = ATK_T_WEIGHTS,
    .cfg_size = sizeof(struct prune_cfg),
    .name = "prune",
    .summary = "magnitude pruning, no retraining (scope: marked layer, each layer, global)",
    .params = prune_params,
    .apply = prune_apply,
};
