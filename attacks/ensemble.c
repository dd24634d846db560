/* ensemble.c - model extraction by an ensemble of students trained on
 * disjoint splits (ATTACKS-MORE.md section 7; WRT's ensemble attack, Lukas
 * et al., IEEE S&P 2022). The attacker's data is shuffled (env->rng) and cut
 * into s disjoint parts of n/s samples (sizes differ by at most one); each
 * part is labelled once and trains its own fresh member; the attacker then
 * answers every query with the average of the members' softmax outputs and
 * never asks the marked model again. A mark passes to a student only as far
 * as the student imitates the marked model beyond the task; members that
 * imitated it from different parts of the data pick up different fragments
 * of that, and their average blurs them. Each member sees only n/s samples,
 * so watch the accuracy budget.
 *
 * Labels: source (default) = the marked model's softmax through its API
 * (inner->predict: one query per attacker sample, counted into
 * env->queries), source_hard = its argmax as one-hot targets, true = the
 * data set's labels (no queries). smooth mixes the targets with the uniform
 * distribution, (1 - smooth) q + smooth / C (WRT trains with label smoothing
 * 0.2; default 0 here, as the spec's Fashion-MNIST settings). Members: the
 * marked model's architecture (student = same, which needs the path to show
 * its model; a path that hides it needs a named student) or a named model
 * taking its inputs; 20 epochs each of Adam at lr 1e-3, batch 64
 * (atk_train_student at T = 1). Randomness: env->rng shuffles the split,
 * then initialises and trains member 1, member 2, ...: the same env gives
 * the same ensemble, bit for bit.
 *
 * It is a query-path attack: wrap() trains the members (labelling through
 * inner), and the wrapper answers from them alone. The marked model's
 * weights are gone from the path (outer->model is NULL), so white-box
 * schemes are n/a for it: the harness does not pair query-path attacks with
 * them. The threat flags include labels for labels = true.
 *
 * Deviations from WRT: WRT labels all 50,000 CIFAR images (subset: all),
 * trains wide ResNets for 60 epochs, and its steal.py cannot evaluate a list
 * of models, so it has no combination rule; here the attacker's own data,
 * mlp-sized members and the mean of the softmax outputs (the spec's rule).
 *
 * Cost: n queries (labels = source), epochs E of training in all (s members
 * of n/s samples each), then s member forward passes per query. */
#include "common.h"
#include "../workers/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The parameters, as the plug-in receives them (table below). */
struct ensemble_cfg {
	int s;
	char labels[PARAM_VALLEN];
	double smooth;
	int epochs;
	char student[PARAM_VALLEN];
	double lr;
	int batch;
	char optimizer[PARAM_VALLEN];
};

static const struct param_def ensemble_params[] = {
    {"s", PT_INT, "3", 2, 10, NULL, "members, each trained on its own disjoint part of the data",
     offsetof(struct ensemble_cfg, s)},
    {"labels", PT_STRING, "source", 0, 0, "source|source_hard|true",
     "the members' targets: the marked model's softmax (API queries), its argmax, or the true "
     "labels",
     offsetof(struct ensemble_cfg, labels)},
    {"smooth", PT_DOUBLE, "0", 0, 0.99, NULL,
     "label smoothing: targets (1 - smooth) q + smooth / classes (WRT: 0.2)",
     offsetof(struct ensemble_cfg, smooth)},
    {"epochs", PT_INT, "20", 1, 1000, NULL, "epochs of each member's training",
     offsetof(struct ensemble_cfg, epochs)},
    {"student", PT_STRING, "same", 0, 0, NULL,
     "members' model: same (the marked model's) or one of wmbench list models",
     offsetof(struct ensemble_cfg, student)},
    ATK_PARAM_LR(struct ensemble_cfg, "0.001"),
    ATK_PARAM_BATCH(struct ensemble_cfg),
    ATK_PARAM_OPTIMIZER(struct ensemble_cfg),
    {0}};

/* Member k of the ensemble path q (NULL when q is not one, or k is not a
 * member), with the attacker samples it was trained on in *part and their
 * count in *n (either may be NULL): for the tests, which check that the parts
 * are disjoint and that the answers are the members' mean. */
const struct nn_model *atk_ensemble_member(const struct wm_query *q, int k, const uint32_t **part,
					   int *n);

#define ENS_MAX 10 /* the table's largest s */

/* The wrapper's state: the members and the attacker samples each trained on. */
struct ens_state {
	int s;
	struct nn_model member[ENS_MAX];
	uint32_t *idx; /* the attacker's samples, shuffled */
	/* Member k trains on exactly part[k][0 .. n[k]), a slice of idx (what
	 * atk_ensemble_member reports) */
	const uint32_t *part[ENS_MAX];
	int n[ENS_MAX];
};

static void ens_free(void *state)
{
	struct ens_state *st = state;
	if (!st)
		return;
	for (int k = 0; k < st->s; k++)
		nn_free(&st->member[k]);
	free(st->idx);
	free(st);
}

static int ensemble_check(const void *cfg, char *err, size_t errlen)
{
	const struct ensemble_cfg *p = cfg;
	return atk_check_student("ensemble", p->student, err, errlen);
}

static int ensemble_predict(struct wm_query *q, const float *x, int n, float *probs)
{
	struct atk_qctx *c = q->ctx;
	struct ens_state *st = c->state;
	size_t len = (size_t)n * q->nclass;
	float *pk = atk_wrap_buf(c, len);

	for (int k = 0; k < st->s; k++) {
		nn_predict_proba(&st->member[k], x, n, pk);
		for (size_t i = 0; i < len; i++)
			probs[i] = k ? probs[i] + pk[i] : pk[i];
	}
	for (size_t i = 0; i < len; i++)
		probs[i] /= (float)st->s;
	q->queries += n;
	return 0;
}

/* The targets (n, C) of the attacker samples idx (labels of p). */
static int targets(const struct ensemble_cfg *p, struct wm_query *inner, const struct atk_env *env,
		   const uint32_t *idx, int n, float *q, char *err, size_t errlen)
{
	const struct dataset *d = env->train;
	size_t D = (size_t)d->c * d->h * d->w;
	int C = inner->nclass, bs = 256;

	if (!strcmp(p->labels, "true")) {
		memset(q, 0, (size_t)n * C * sizeof *q);
		for (int i = 0; i < n; i++)
			q[(size_t)i * C + d->y[idx[i]]] = 1;
	} else {
		float *x = xmalloc((size_t)bs * D * sizeof(float));
		for (int s = 0; s < n; s += bs) {
			int B = n - s < bs ? n - s : bs;
			nn_fill_batch(d->x, d->y, D, idx + s, B, x, NULL);
			if (inner->predict(inner, x, B, q + (size_t)s * C)) {
				free(x);
				return errf(
				    err, errlen,
				    "ensemble: the marked model's API failed while labelling "
				    "the attacker's data; expected probabilities for every "
				    "query");
			}
			if (env->queries)
				*env->queries += B;
		}
		free(x);
		if (!strcmp(p->labels, "source_hard"))
			for (int i = 0; i < n; i++) {
				float *qi = q + (size_t)i * C;
				int k = nn_argmax(qi, C);
				for (int c = 0; c < C; c++)
					qi[c] = c == k;
			}
	}
	if (p->smooth > 0)
		for (size_t i = 0; i < (size_t)n * C; i++)
			q[i] = (float)((1 - p->smooth) * q[i] + p->smooth / C);
	return 0;
}

/* A fresh member for inputs c x h x w and C classes, from env->rng. */
static int new_member(const struct ensemble_cfg *p, const struct wm_query *inner,
		      const struct dataset *d, struct nn_model *m, struct rng *r, char *err,
		      size_t errlen)
{
	char sub[ERRBUF];
	if (!strcmp(p->student, "same")) {
		const struct nn_model *t = inner->model;
		if (!t)
			return errf(
			    err, errlen,
			    "ensemble: parameter 'student' = 'same' needs the marked model's "
			    "architecture, but the query path hides the model; expected a "
			    "named student, one of %s",
			    nn_arch_list());
		if (nn_build_spec(m, t->arch, t->spec, sub, sizeof sub))
			return errf(err, errlen, "ensemble: building a member: %s", sub);
		nn_init_params(m, r);
		if (m->nclass != inner->nclass || nn_in_size(m) != inner->in_size) {
			nn_free(m);
			return errf(err, errlen,
				    "ensemble: the marked model's architecture does not match its "
				    "query path; expected %d classes and %zu inputs",
				    inner->nclass, inner->in_size);
		}
		return 0;
	}
	if (nn_create(m, p->student, d->c, d->h, d->w, inner->nclass, r, sub, sizeof sub))
		return errf(err, errlen,
			    "ensemble: parameter 'student' = '%s' does not fit the data: %s",
			    p->student, sub);
	return 0;
}

static int ensemble_wrap(const void *cfg, struct wm_query *outer, struct wm_query *inner,
			 const struct atk_env *env, struct rng *r, char *err, size_t errlen)
{
	const struct ensemble_cfg *p = cfg;
	struct atk_train t = {.name = "ensemble"};
	int n, C = inner->nclass, rc = 0;

	if (!env || !env->train || !env->attacker_idx || env->n_attacker <= 0)
		return errf(err, errlen,
			    "ensemble: the attacker has no training samples to train its members "
			    "on; expected the job's attacker data (attacker_split > 0 and "
			    "attacker_data > 0)");
	const struct dataset *d = env->train;
	n = env->n_attacker;
	if ((size_t)d->c * d->h * d->w != inner->in_size || d->nclass != C)
		return errf(err, errlen,
			    "ensemble: the attacker's data is %dx%dx%d with %d classes but the "
			    "model takes %zu values and answers %d classes; expected the model's "
			    "data",
			    d->c, d->h, d->w, d->nclass, inner->in_size, C);
	if (n < p->s)
		return errf(err, errlen,
			    "ensemble: parameter 's' = '%d' is more than the attacker's %d "
			    "samples; expected at most one part per sample",
			    p->s, n);
	ATK_TRAIN_FROM(&t, p);
	struct ens_state *st = xcalloc(1, sizeof *st);
	st->idx = xmalloc((size_t)n * sizeof *st->idx);
	memcpy(st->idx, env->attacker_idx, (size_t)n * sizeof *st->idx);
	rng_shuffle_u32(env->rng, st->idx, (size_t)n);
	for (int k = 0; k < p->s; k++) {
		int a = (int)((long long)n * k / p->s), b = (int)((long long)n * (k + 1) / p->s);
		st->part[k] = st->idx + a;
		st->n[k] = b - a;
	}
	float *q = xmalloc((size_t)n * C * sizeof *q);
	rc = targets(p, inner, env, st->idx, n, q, err, errlen);
	for (int k = 0; k < p->s && !rc; k++) {
		rc = new_member(p, inner, d, &st->member[k], env->rng, err, errlen);
		if (rc)
			break;
		st->s = k + 1; /* freed from here on */
		/* q's rows follow idx */
		rc = atk_train_student(&st->member[k], d, st->part[k], st->n[k],
				       q + (st->part[k] - st->idx) * C, 1.0, &t, env->rng, err,
				       errlen);
	}
	free(q);
	if (rc) {
		ens_free(st);
		return -1;
	}
	struct atk_qctx *c = atk_wrap_init(outer, inner, r, ensemble_predict);
	outer->model = NULL; /* the answers are the members', not the marked model's */
	c->state = st;
	c->free_state = ens_free;
	return 0;
}

const struct nn_model *atk_ensemble_member(const struct wm_query *q, int k, const uint32_t **part,
					   int *n)
{
	const struct atk_qctx *c = q->ctx;
	if (q->predict != ensemble_predict || !c || !c->state)
		return NULL;
	const struct ens_state *st = c->state;
	if (k < 0 || k >= st->s)
		return NULL;
	if (part)
		*part = st->part[k];
	if (n)
		*n = st->n[k];
	return &st->member[k];
}

/* Samples through the passes of the set-up: the labels (none for labels =
 * true), then each member's epochs on its part (the parts add up to n). */
static void ensemble_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct ensemble_cfg *p = cfg;

	*bwd = (double)p->epochs * w->n;
	*fwd = *bwd + (strcmp(p->labels, "true") ? w->n : 0);
}

const struct atk_attack atk_ensemble = {
    .category = ATK_CAT_EXTRACT,
    .threat = ATK_T_DATA | ATK_T_LABELS | ATK_T_QUERIES,
    .cfg_size = sizeof(struct ensemble_cfg),
    .uses_attacker_data = 1,
    .name = "ensemble",
    .summary = "query path: answer with the mean softmax of s students trained on disjoint parts",
    .params = ensemble_params,
    .query_path = 1,
    .check = ensemble_check,
    .wrap = ensemble_wrap,
    .work = ensemble_work,
};
