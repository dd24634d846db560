/* knockoff.c - Knockoff Nets (Orekondy, Schiele, Fritz; CVPR 2019): model
 * extraction through the marked model's API with images of another
 * distribution. The attacker queries the API on a transfer set of public
 * images, keeps its answers, and trains a fresh model (the knockoff) on them;
 * the paper's abstract reports that random images of another distribution
 * already train a good knockoff, even of another architecture.
 *
 * Here: the paper's "random" selection strategy (its reinforcement-learning
 * sampler is not implemented; WRT's attack has only random selection too).
 * The transfer set is the public MNIST training digits (atk_public_images:
 * 7,996 after make deps), queries of them drawn uniformly without
 * replacement from env->rng. They are the model's own input convention:
 * [0, 1] pixels, and for a model taking larger or colour inputs (the cnn's
 * 3x32x32) each digit centred on a black border and repeated over the
 * channels. The answers come only through a query path on the marked model
 * (wm_query_init): its softmax (labels = source, the default, as in WRT) or
 * their argmax as one-hot targets (source_hard); the weights are never read,
 * and each image queried adds one to env->queries. A fresh student (student:
 * same, or any model taking the marked model's inputs), initialised from
 * env->rng, trains on them with cross-entropy against the targets (epochs
 * 10, adam, lr 1e-3, batch 64) and replaces the model. The attacker's own
 * data is not used (uses_attacker_data = 0).
 *
 * Independence from the keys: the transfer set is fixed before any key
 * exists and holds no owner image and no glyph. One setting shares its
 * distribution: adi with source = mnist draws its triggers from MNIST's test
 * split (other images than these), which is the pitfall ATTACKS-MORE.md
 * section 7 warns of (the knockoff may learn the trigger labels); every
 * other key (abstract or noise images, rendered glyphs, owner images) is
 * of another kind. On MNIST itself as the job's data set the attack
 * refuses: the transfer set would be the owner's distribution.
 *
 * Deviations from WRT (FlatImages, 1.25 M ImageNet-like images, a fresh WRN,
 * 4 epochs of SGD lr 0.1 with Nesterov momentum, decay 5e-4 and lr x 0.2 per
 * epoch): MNIST is the one other grey-scale set the benchmark ships, so at
 * most 7,996 queries, fewer than the 20k-120k the spec suggests for
 * Fashion-MNIST; more epochs (10) make up for the small set; adam at 1e-3
 * like the other students here (distill, retrain). No image is queried
 * twice: asking for more queries than there are images is refused. */
#include "common.h"

#include <stdlib.h>
#include <string.h>

/* The parameters, as the plug-in receives them (table below). */
struct knockoff_cfg {
	int queries;
	char labels[PARAM_VALLEN];
	char student[PARAM_VALLEN];
	int epochs;
	double lr;
	int batch;
	char optimizer[PARAM_VALLEN];
};

static const struct param_def knockoff_params[] = {
    {"queries", PT_INT, "7996", 100, 7996, NULL,
     "transfer images queried (random selection from the 7,996 public MNIST digits)",
     offsetof(struct knockoff_cfg, queries)},
    /* the digits' own labels say nothing of the task: no labels = true */
    {"labels", PT_STRING, "source", 0, 0, "source|source_hard",
     "the knockoff's targets: source (the marked model's softmax) or source_hard (its argmax)",
     offsetof(struct knockoff_cfg, labels)},
    {"student", PT_STRING, "same", 0, 0, NULL, "student model: same or one of wmbench list models",
     offsetof(struct knockoff_cfg, student)},
    {"epochs", PT_INT, "10", 1, 1000, NULL, "epochs of the knockoff's training",
     offsetof(struct knockoff_cfg, epochs)},
    ATK_PARAM_LR(struct knockoff_cfg, "0.001"),
    ATK_PARAM_BATCH(struct knockoff_cfg),
    ATK_PARAM_OPTIMIZER(struct knockoff_cfg),
    {0}};

static int knockoff_check(const void *cfg, char *err, size_t errlen)
{
	const struct knockoff_cfg *p = cfg;
	return atk_check_student("knockoff", p->student, err, errlen);
}

static int knockoff_apply(const void *cfg, struct nn_model *m, const struct atk_env *env, char *err,
			  size_t errlen)
{
	const struct knockoff_cfg *p = cfg;
	struct atk_train t = {.name = "knockoff"};
	struct dataset own;
	struct wm_query api;
	int rc;

	const struct dataset *pub = atk_public_images("knockoff", m, env->train, &own, err, errlen);
	if (!pub)
		return -1;
	if (p->queries > pub->n) {
		data_free(&own);
		return errf(
		    err, errlen,
		    "knockoff: parameter 'queries' = '%d' is more than the %d public images "
		    "(mnist); expected at most %d (no image is queried twice)",
		    p->queries, pub->n, pub->n);
	}
	/* random selection: the first queries of a uniform permutation */
	uint32_t *idx = xmalloc((size_t)pub->n * sizeof *idx);
	for (int i = 0; i < pub->n; i++)
		idx[i] = (uint32_t)i;
	rng_shuffle_u32(env->rng, idx, (size_t)pub->n);

	ATK_TRAIN_FROM(&t, p);
	wm_query_init(&api, m);
	struct atk_lesson l = {
	    .d = pub,
	    .idx = idx,
	    .n = p->queries,
	    .labels = atk_labels_of(p->labels),
	    .T = 1,
	    .api = &api,
	};
	rc = atk_student(p->student, &t, m, env, &l, err, errlen);
	if (api.release)
		api.release(&api);
	free(idx);
	data_free(&own);
	return rc;
}

/* Samples through the passes: the queried transfer images, then the
 * student's epochs on them. */
static void knockoff_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct knockoff_cfg *p = cfg;

	(void)w;
	*fwd = (1.0 + p->epochs) * p->queries;
	*bwd = (double)p->epochs * p->queries;
}

const struct atk_attack atk_knockoff = {
    .category = ATK_CAT_EXTRACT,
    .threat = ATK_T_QUERIES | ATK_T_PUBLIC,
    .cfg_size = sizeof(struct knockoff_cfg),
    .uses_attacker_data = 0,
    .name = "knockoff",
    .summary = "Knockoff Nets: a fresh model trained on the API's answers to public MNIST digits",
    .params = knockoff_params,
    .check = knockoff_check,
    .apply = knockoff_apply,
    .work = knockoff_work,
};
