/* nc.c - Neural Cleanse (Wang, Yao, Shan, Li, Viswanath, Zheng, Zhao; IEEE
 * S&P 2019; ATTACKS-MORE.md section 6): white-box detection of a backdoor
 * (a trigger-set watermark is one) by reverse-engineering, per candidate
 * target class, the smallest trigger that sends clean images there, then
 * mitigation with that trigger.
 *
 * Detection. For every class t, nc_reverse (nc_trigger.c: NC's tanh-space
 * mask and pattern, Adam lr 0.1 with betas 0.5 and 0.9, NC's lambda
 * schedule and early stop; at most `steps` steps of step_samples samples in
 * mini-batches of `batch`) over the attacker's samples not of class t. With
 * l_t = |m_t|_1 (averaged over `seeds` searches), MAD = 1.4826 median |l_t -
 * median(l)| and anomaly index |l_t - median(l)| / MAD, t is flagged when its
 * index exceeds 2 and l_t is below the median. The finding is the attack's
 * second verdict "nc" (metric "anomaly"): the anomaly index of the
 * smallest-norm class (NC's reported index; among the classes below the
 * median it is the largest), which the runner puts in the row's aux column,
 * with "nc: flagged class t (index x), mask L1 y" (or "no class flagged") in
 * its message; detected = -1, since NC claims no mark of its own (no
 * forgery); the verdict's own aux holds the flagged class (-1: none) and
 * capacity the number of classes searched.
 *
 * `source` >= 0 searches every other target class over the attacker's
 * samples of class source only (one row of WRT's partial variant; WRT's
 * ImageNet neural_cleanse_unlearning2/3 search 3 -> 4): an adaptive attack,
 * since it reads the scheme's source class (the threat flag adaptive holds
 * only then). It matters for source-specific triggers such as
 * zhang-content's, stamped on class-s images only: a trigger that moves
 * only some classes is no small universal trigger, so the full search need
 * not single it out (see tests/test_nc.c for measured indices).
 *
 * Mitigation (`mitigate`), with the flagged class's trigger, or when none is
 * flagged the smallest-norm one:
 * - unlearn (default): fine-tune all layers `epochs` (1) at lr 1e-3 (Adam) on
 *   the attacker's data, a share `stamp` (0.2) of every batch stamped with
 *   the trigger (x' = (1 - m) x + m Delta) and kept with its true label. The
 *   stamped rows are the first ones of each shuffled batch, their number
 *   carried over batches so that the share is exact over an epoch; each
 *   epoch stamps a fresh random fifth (NC: a fixed 20 % of its 10 % subset,
 *   1 epoch; WRT: 20 % for 5 epochs).
 * - prune: rank the units of the second-to-last parameter layer (fc2 of mlp
 *   and lenet5, fc1 of cnn; after its ReLU; a conv channel by its mean over
 *   positions) by their mean activation on stamped minus clean samples of
 *   the attacker's (those not of the trigger's class), and reset the top
 *   `ratio` (0.1) of them: incoming weights and bias zeroed, so their ReLU
 *   output is 0 (WRT masks the activations, the same function; neither
 *   fine-tunes after).
 * - none: detection only, the model unchanged.
 *
 * Defaults: 300 steps of 1000 samples (NC's step) in batches of 32, lr 0.1,
 * 1 seed, source -1 (the full variant), mitigate unlearn, stamp 0.2, 1 epoch
 * at lr 1e-3 with Adam (the batch is the search's, 32).
 *
 * Deviations from WRT (ATTACKS-MORE.md section 6), all towards NC's own
 * code: the lambda schedule instead of a fixed lambda, tanh instead of
 * sigmoid, the norm of m rather than of m Delta, steps of step_samples
 * samples instead of WRT's epochs, the blend instead of WRT's additive
 * stamping; the full variant (every target, samples of all other classes)
 * or one source's row of the partial one, not WRT's 90 pairs (whose
 * per-pair norms would need a detection rule of their own). NC's own
 * schedule allows 1000 steps; the spec's Fashion-MNIST budget is 300 (the
 * default). The spec advises 3 seeds; the default is 1 (cost), `seeds`
 * raises it. The runner reports the finding (harness/runner.c: a second
 * verdict with detected < 0 sets aux and message, and no forgery). */
#include "common.h"
#include "nc_trigger.h"
#include "../workers/util.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The parameters, as the plug-in receives them (table below). */
struct nc_cfg {
	int steps, batch, step_samples;
	double nc_lr;
	int seeds;
	int source;
	char mitigate[PARAM_VALLEN];
	double stamp;
	int epochs;
	double ratio;
	double lr;
	char optimizer[PARAM_VALLEN];
};

static const struct param_def nc_params[] = {
    NC_PARAM_ROWS(struct nc_cfg),
    {"source", PT_INT, "-1", -1, 999, NULL,
     "search triggers only over samples of this class, for every other target (-1: all "
     "classes; >= 0 reads the scheme's source class: adaptive)",
     offsetof(struct nc_cfg, source)},
    {"mitigate", PT_STRING, "unlearn", 0, 0, "unlearn|prune|none",
     "after detection: unlearn the trigger, prune the units it drives, or leave the model",
     offsetof(struct nc_cfg, mitigate)},
    {"stamp", PT_DOUBLE, "0.2", 0, 1, NULL,
     "unlearn: share of the attacker's samples stamped with the trigger (true labels)",
     offsetof(struct nc_cfg, stamp)},
    {"epochs", PT_INT, "1", 0, 1000, NULL, "unlearn: fine-tuning epochs",
     offsetof(struct nc_cfg, epochs)},
    {"ratio", PT_DOUBLE, "0.1", 0, 1, NULL,
     "prune: share of the second-to-last layer's units reset", offsetof(struct nc_cfg, ratio)},
    ATK_PARAM_LR(struct nc_cfg, "0.001"),
    ATK_PARAM_OPTIMIZER(struct nc_cfg),
    {0}};

extern const struct atk_attack atk_nc;

/* The unlearning mix: stamps the first rows of each batch, a share stamp of
 * all rows seen. */
struct unlearn_ctx {
	const struct nc_trigger *tr;
	double stamp, carry;
};

static void unlearn_mix(void *ctx, float *x, int *y, int *B, int cap, struct rng *r)
{
	struct unlearn_ctx *u = ctx;
	double want = u->carry + u->stamp * *B;
	int k = (int)floor(want);
	(void)y;
	(void)cap;
	(void)r;
	if (k > *B)
		k = *B;
	u->carry = want - k;
	nc_stamp(u->tr, x, k);
}

static const double *sort_key;

/* Descending by sort_key, ties by index. */
static int by_key_desc(const void *pa, const void *pb)
{
	int i = *(const int *)pa, j = *(const int *)pb;
	if (sort_key[i] != sort_key[j])
		return sort_key[i] > sort_key[j] ? -1 : 1;
	return i < j ? -1 : (i > j);
}

/* The second-to-last parameter layer, or -1. */
static int second_to_last(const struct nn_model *m)
{
	for (int i = nn_last_param_layer(m) - 1; i >= 0; i--)
		if (nn_has_params(&m->layers[i]))
			return i;
	return -1;
}

/* NC's pruning: resets the round(ratio * units) units of the second-to-last
 * parameter layer hid that the trigger drives most. */
static void nc_prune(struct nn_model *m, int hid, const struct atk_env *env,
		     const struct nc_trigger *tr, int source, double ratio)
{
	int OC = m->layers[hid].out_c, k = (int)llround(ratio * OC);
	uint32_t *pool;
	int np = nc_pool(env->train, env->attacker_idx, env->n_attacker, tr->target, source, &pool);
	double *diff = xmalloc((size_t)OC * sizeof *diff);
	int *order = xmalloc((size_t)OC * sizeof *order);

	nc_act_diff(m, nc_act_layer(m, hid), env->train, pool, np, tr, 0, diff);
	for (int c = 0; c < OC; c++)
		order[c] = c;
	sort_key = diff;
	qsort(order, (size_t)OC, sizeof *order, by_key_desc);
	for (int i = 0; i < k; i++)
		nc_reset_unit(m, hid, order[i]);
	free(pool);
	free(diff);
	free(order);
}

static int nc_apply(const void *cfg, struct nn_model *m, const struct atk_env *env, char *err,
		    size_t errlen)
{
	const struct nc_cfg *p = cfg;
	struct nc_opts o;
	int C = m->nclass, rc = -1, flag, nflag, pick, amin = 0, n = 0;
	double med, mad;

	NC_OPTS_FROM(&o, p, "nc");
	if (env->n_attacker <= 0)
		return errf(err, errlen,
			    "nc: the attacker has no samples to search triggers on; expected "
			    "attacker_split > 0 and attacker_data > 0");
	if (C < 3)
		return errf(err, errlen,
			    "nc: model '%s' has %d classes; expected at least 3 (the outlier test "
			    "compares the classes' triggers)",
			    m->arch, C);
	if (p->source >= C)
		return errf(err, errlen,
			    "nc: parameter 'source' = %d is out of range for model '%s' with %d "
			    "classes; expected -1 or a class in [0, %d]",
			    p->source, m->arch, C, C - 1);
	int hid = second_to_last(m);
	if (!strcmp(p->mitigate, "prune") && hid < 0)
		return errf(
		    err, errlen,
		    "nc: parameter 'mitigate' = 'prune' needs a hidden layer with parameters, "
		    "which model '%s' lacks; expected unlearn or none for it",
		    m->arch);
	struct nc_trigger *tr = xcalloc((size_t)C, sizeof *tr);
	double *norm = xmalloc((size_t)C * sizeof *norm),
	       *index = xmalloc((size_t)C * sizeof *index);
	int *cls = xmalloc((size_t)C * sizeof *cls);

	if (nc_reverse_classes(m, env->train, env->attacker_idx, env->n_attacker, -1, p->source, &o,
			       env->rng, tr, err, errlen))
		goto out_free;
	/* the searched classes: all but source */
	for (int t = 0; t < C; t++) {
		if (!tr[t].mask)
			continue;
		cls[n] = t;
		norm[n] = tr[t].norm;
		if (norm[n] < norm[amin])
			amin = n;
		n++;
	}
	flag = nc_anomaly(norm, n, index, &med, &mad, &nflag);
	pick = flag >= 0 ? flag : amin;

	/* the finding: the second verdict (aux) and the note (message) */
	if (env->second) {
		struct wm_verdict v;
		memset(&v, 0, sizeof v);
		strlcopy(v.metric_name, "anomaly", sizeof v.metric_name);
		v.metric = index[amin];
		v.pvalue = NAN;
		v.detected = -1; /* a finding on the model, no key: no forgery */
		v.capacity = n;
		v.aux = flag >= 0 ? cls[flag] : -1;
		v.count = -1;
		*env->second = v;
		if (env->second_who)
			*env->second_who = atk_nc.second_verdict;
	}
	if (env->note && env->note_len) {
		int w;
		if (flag >= 0)
			w = snprintf(env->note, env->note_len,
				     "nc: flagged class %d (index %.3g), mask L1 %.4g", cls[flag],
				     index[flag], norm[flag]);
		else
			w = snprintf(env->note, env->note_len,
				     "nc: no class flagged (largest index %.3g, class %d), mask L1 "
				     "%.4g",
				     index[amin], cls[amin], norm[amin]);
		if (w > 0 && (size_t)w < env->note_len)
			w += snprintf(env->note + w, env->note_len - (size_t)w,
				      "; %d flagged; median L1 %.4g, MAD %.4g; mitigate %s", nflag,
				      med, mad, p->mitigate);
		if (strcmp(p->mitigate, "none") && w > 0 && (size_t)w < env->note_len)
			snprintf(env->note + w, env->note_len - (size_t)w,
				 " with class %d's trigger", cls[pick]);
	}

	if (!strcmp(p->mitigate, "unlearn")) {
		struct atk_train t = {.name = "nc"};
		struct unlearn_ctx u = {.tr = &tr[cls[pick]], .stamp = p->stamp};
		struct train_hooks h = {.ctx = &u, .mix = unlearn_mix};
		ATK_TRAIN_FROM(&t, p);
		if (atk_fit(m, env, &t, &h, err, errlen))
			goto out_free;
	} else if (!strcmp(p->mitigate, "prune")) {
		nc_prune(m, hid, env, &tr[cls[pick]], p->source, p->ratio);
	}
	rc = 0;
out_free:
	for (int t = 0; t < C; t++)
		nc_trigger_free(&tr[t]);
	free(tr);
	free(norm);
	free(index);
	free(cls);
	return rc;
}

/* Samples through the passes: the trigger search (steps of step_samples,
 * rounded down to whole batches, per class and seed; a search stops early
 * after 26 steps at the soonest, so the estimate takes the middle of 26 to
 * steps), then the mitigation (unlearning epochs, or two passes of the
 * samples outside the flagged class, about n (C - 1) / C, or of the source
 * class when it is set, about n / C). */
static void nc_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct nc_cfg *p = cfg;
	int sb = p->step_samples / p->batch > 1 ? p->step_samples / p->batch : 1;
	int C = w->nclass > 0 ? w->nclass : 10, K = p->source >= 0 ? C - 1 : C;
	double lo = p->steps < 26 ? p->steps : 26;
	double S = (double)K * p->seeds * (lo + p->steps) / 2, search = (double)sb * p->batch * S;

	*fwd = *bwd = search;
	if (!strcmp(p->mitigate, "unlearn")) {
		*fwd += (double)p->epochs * w->n;
		*bwd += (double)p->epochs * w->n;
	} else if (!strcmp(p->mitigate, "prune")) { /* with source set, its class only */
		*fwd += 2.0 * w->n * (p->source >= 0 ? 1 : C - 1) / C;
	}
}

const struct atk_attack atk_nc = {
    .category = ATK_CAT_MODIFY,
    /* adaptive only with source set (reads the scheme's source class) */
    .threat = ATK_T_WEIGHTS | ATK_T_DATA | ATK_T_LABELS | ATK_T_ADAPTIVE,
    .cfg_size = sizeof(struct nc_cfg),
    .uses_attacker_data = 1,
    .name = "nc",
    .second_verdict = "nc",
    .summary = "Neural Cleanse: reverse-engineer a trigger per class, flag the outlier, "
	       "unlearn or prune it (Wang et al. 2019)",
    .params = nc_params,
    .apply = nc_apply,
    .work = nc_work,
};
