/* advtrain.c - adversarial training with PGD as a removal attack (the
 * robustness SoK's "adversarial training", Lukas et al., IEEE S&P 2022,
 * after WRT's wrt/attacks; PGD of Madry et al., arXiv 1706.06083).
 *
 * The marked model is fine-tuned on the attacker's data and, every epoch,
 * per_epoch adversarial examples crafted against the CURRENT model: L-inf
 * PGD in pixel space from x_0 = x (WRT: num_random_init = 0), eps, alpha,
 * steps, ascending the loss of the model's own prediction on the clean image
 * (WRT passes PGD no label), in evaluation mode (atk_pgd). Each epoch draws
 * fresh random attacker images (without replacement while they last), crafts
 * the examples and trains one epoch on the attacker's samples plus them,
 * shuffled together. Defaults: eps 0.1, alpha 0.01, steps 20, per_epoch
 * 1000, 5 epochs, Adam lr 1e-3, batch 64 (ATTACKS-MORE.md section 5).
 *
 * Labels. The attacker's clean samples are trained on their true labels.
 * The crafted examples get `labels`: source (default, WRT's true_labels
 * False) = the marked model's softmax, read from a frozen copy of the model
 * as it was before the attack; source_hard = its argmax; true = the true
 * label of the image it came from. With source labels the marked model reads,
 * by default (label_input = clean), the clean image the example came from:
 * that is WRT's behaviour, where the crafted example keeps its sample's
 * loader label. label_input = adversarial reads the crafted input instead;
 * that defeats the attack at the start: in the first epoch the current model
 * IS the marked model, so its answer on an example crafted to fool it is the
 * wrong class PGD found, and training on it teaches the model to be fooled.
 * Measured in tests/test_advattacks.c (mlp, eps 0.1, K 10, 2 epochs of 1000
 * examples), PGD accuracy at eps 0.05 on held-out images: 0.50 before, 0.62
 * after advtrain, 0.51 with label_input = adversarial, 0.56 after as much
 * plain fine-tuning. Every answer of the marked model counts as one query
 * (*env->queries): per_epoch per epoch with source labels, none with true
 * labels.
 *
 * Deviations from WRT. One eps per run: WRT crafts 1000 examples for each eps
 * of {0.01, 0.1, 0.25} each epoch (Fashion-MNIST grid 0.05, 0.1, 0.2); put
 * the grid in the job file. WRT starts from the marked model's saved SGD
 * state; wmbench trains with its own optimiser (default Adam 1e-3). */
#include "common.h"

#include <stdlib.h>
#include <string.h>

/* The parameters, as the plug-in receives them (table below). */
struct advtrain_cfg {
	double eps, alpha;
	int steps, per_epoch, epochs;
	char labels[PARAM_VALLEN];
	char label_input[PARAM_VALLEN];
	double lr;
	int batch;
	char optimizer[PARAM_VALLEN];
};

static const struct param_def advtrain_params[] = {
    ATK_PARAM_PGD(struct advtrain_cfg),
    {"epochs", PT_INT, "5", 1, 1000, NULL, "epochs (each crafts per_epoch new examples)",
     offsetof(struct advtrain_cfg, epochs)},
    {"labels", PT_STRING, "source", 0, 0, "true|source|source_hard",
     "labels of the crafted examples: true label, the marked model's softmax or its argmax",
     offsetof(struct advtrain_cfg, labels)},
    {"label_input", PT_STRING, "clean", 0, 0, "clean|adversarial",
     "with source labels the marked model reads the clean image (WRT) or the crafted one",
     offsetof(struct advtrain_cfg, label_input)},
    ATK_PARAM_LR(struct advtrain_cfg, "0.001"),
    ATK_PARAM_BATCH(struct advtrain_cfg),
    ATK_PARAM_OPTIMIZER(struct advtrain_cfg),
    {0}};

static int advtrain_check(const void *cfg, char *err, size_t errlen)
{
	const struct advtrain_cfg *p = cfg;
	return atk_check_pgd("advtrain", p->eps, p->alpha, err, errlen);
}

static int advtrain_apply(const void *cfg, struct nn_model *m, const struct atk_env *env, char *err,
			  size_t errlen)
{
	const struct advtrain_cfg *p = cfg;
	struct atk_adv a = {.t = {.name = "advtrain"}};
	struct nn_model src;
	int n = env->n_attacker, C = m->nclass, rc;

	ATK_TRAIN_FROM(&a.t, p);
	a.eps = p->eps;
	a.alpha = p->alpha;
	a.steps = p->steps;
	a.per_epoch = p->per_epoch;
	a.labels = atk_labels_of(p->labels);
	a.on_adv = !strcmp(p->label_input, "adversarial");
	if (n <= 0)
		return errf(err, errlen,
			    "advtrain: the attacker has no training samples; expected "
			    "attacker_split > 0 and attacker_data > 0 for an attack that trains");
	/* the attacker's clean samples: true labels, one-hot */
	float *q = xcalloc((size_t)n * C, sizeof(float));
	for (int i = 0; i < n; i++)
		q[(size_t)i * C + env->train->y[env->attacker_idx[i]]] = 1;
	/* the marked model as it was, the labeller of the crafted examples */
	if (a.labels != ATK_LABELS_TRUE)
		nn_copy(&src, m);
	rc = atk_adv_train(m, a.labels != ATK_LABELS_TRUE ? &src : NULL, q, env, &a, err, errlen);
	if (a.labels != ATK_LABELS_TRUE)
		nn_free(&src);
	free(q);
	return rc;
}

/* Samples through the passes: per epoch, the attacker's data and per_epoch
 * adversarial examples (steps of PGD, each a forward and a backward, a check
 * and the training on them; their labels through the model unless true). */
static void advtrain_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct advtrain_cfg *p = cfg;

	*fwd = (double)p->epochs *
	       (w->n + (double)p->per_epoch * (p->steps + 2 + (strcmp(p->labels, "true") != 0)));
	*bwd = (double)p->epochs * (w->n + (double)p->per_epoch * (p->steps + 1));
}

const struct atk_attack atk_advtrain = {
    .category = ATK_CAT_MODIFY,
    /* queries only with source labels */
    .threat = ATK_T_WEIGHTS | ATK_T_DATA | ATK_T_LABELS | ATK_T_QUERIES,
    .cfg_size = sizeof(struct advtrain_cfg),
    .uses_attacker_data = 1,
    .name = "advtrain",
    .summary = "adversarial training: PGD examples against the current model each epoch "
	       "(Madry et al.; the SoK's WRT)",
    .params = advtrain_params,
    .check = advtrain_check,
    .apply = advtrain_apply,
    .work = advtrain_work,
};
