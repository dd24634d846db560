/* transfer.c - transfer learning from a public model (the robustness SoK's
 * "transfer learning", Lukas et al., IEEE S&P 2022): the attacker never
 * uses the marked model. It pre-trains a fresh model on a public data set of
 * another distribution, replaces its last layer, and fine-tunes it on its
 * own data with true labels. If that comes within a few points of the marked
 * model, the marked model was not needed, and a watermark that does not
 * survive says nothing about theft.
 *
 * Here: the public model is pre-trained by the attacker itself (free of the
 * marked model; its cost is the attacker's and shows in the job's cost
 * columns with the rest) on the public MNIST training digits
 * (atk_public_images: 7,996 after make deps, with their digit labels, in the
 * model's input convention; refused when the job's data set is MNIST
 * itself), for pretrain_epochs (default 5) at pretrain_lr (1e-3). Its
 * architecture is the marked model's (student = same, the default) or
 * another model taking the same inputs; only the architecture of the marked
 * model is read. The last layer with parameters is re-initialised
 * (nn_reinit_layer) and the model fine-tuned for epochs (5) at lr (1e-3) on
 * the attacker's data with its true labels: every layer (freeze = 0, the
 * default) or only the new last layer (freeze = 1, a frozen feature
 * extractor). Adam, batch 64, as the other attacks here. No query: the
 * attack adds nothing to env->queries. Compare it with retrain labels=true
 * (the same data and labels without pretraining).
 *
 * Deviations from WRT (an ImageNet-pretrained ResNet-34, inputs upsampled to
 * 224, fc replaced, 5 epochs of SGD lr 1e-3 with momentum 0.9, decay 1e-4,
 * lr x 0.1 at epochs 3 and 4): no pretrained model ships with the benchmark,
 * so the attacker pre-trains one on the only other grey-scale set, which is
 * far smaller than ImageNet; adam rather than SGD, like the other students;
 * no schedule over 5 epochs. The frozen variant stands for WRT's
 * Open-Images model with its first layers frozen, without per-layer rates. */
#include "common.h"
#include "../workers/data.h"

#include <stdlib.h>
#include <string.h>

/* The parameters, as the plug-in receives them (table below). */
struct transfer_cfg {
	int pretrain_epochs;
	double pretrain_lr;
	int epochs;
	int freeze;
	char student[PARAM_VALLEN];
	double lr;
	int batch;
	char optimizer[PARAM_VALLEN];
};

static const struct param_def transfer_params[] = {
    {"pretrain_epochs", PT_INT, "5", 0, 1000, NULL,
     "epochs of pretraining on the public MNIST digits (0: none, a fresh model)",
     offsetof(struct transfer_cfg, pretrain_epochs)},
    {"pretrain_lr", PT_DOUBLE, "0.001", 1e-9, 10, NULL, "learning rate of the pretraining",
     offsetof(struct transfer_cfg, pretrain_lr)},
    {"epochs", PT_INT, "5", 1, 1000, NULL,
     "epochs of fine-tuning on the attacker's data with true labels",
     offsetof(struct transfer_cfg, epochs)},
    {"freeze", PT_INT, "0", 0, 1, NULL, "1: fine-tune only the new last layer; 0: every layer",
     offsetof(struct transfer_cfg, freeze)},
    {"student", PT_STRING, "same", 0, 0, NULL, "model: same or one of wmbench list models",
     offsetof(struct transfer_cfg, student)},
    ATK_PARAM_LR(struct transfer_cfg, "0.001"),
    ATK_PARAM_BATCH(struct transfer_cfg),
    ATK_PARAM_OPTIMIZER(struct transfer_cfg),
    {0}};

static int transfer_check(const void *cfg, char *err, size_t errlen)
{
	const struct transfer_cfg *p = cfg;
	return atk_check_student("transfer", p->student, err, errlen);
}

static int transfer_apply(const void *cfg, struct nn_model *m, const struct atk_env *env, char *err,
			  size_t errlen)
{
	const struct transfer_cfg *p = cfg;
	struct atk_train t = {.name = "transfer"}, pre;
	struct dataset own;
	struct nn_model s;
	uint32_t *idx;
	int last, rc;

	if (env->n_attacker <= 0)
		return errf(err, errlen,
			    "transfer: the attacker has no training samples; expected "
			    "attacker_split > 0 and attacker_data > 0 (it fine-tunes on them)");
	const struct dataset *pub = atk_public_images("transfer", m, env->train, &own, err, errlen);
	if (!pub)
		return -1;
	if (pub->nclass > m->nclass) {
		data_free(&own);
		return errf(err, errlen,
			    "transfer: the public images have %d classes but model '%s' has %d "
			    "outputs; expected a model with at least %d (pretraining uses them)",
			    pub->nclass, m->arch, m->nclass, pub->nclass);
	}
	if (atk_new_student("transfer", p->student, m, env->rng, &s, err, errlen)) {
		data_free(&own);
		return -1;
	}
	ATK_TRAIN_FROM(&t, p);
	pre = t;
	pre.name = "transfer (pretraining on mnist)";
	pre.epochs = p->pretrain_epochs;
	pre.lr = p->pretrain_lr;
	idx = xmalloc((size_t)pub->n * sizeof *idx);
	for (int i = 0; i < pub->n; i++)
		idx[i] = (uint32_t)i;
	rc = atk_fit_on(&s, pub, idx, pub->n, &pre, NULL, env->rng, err, errlen);
	free(idx);
	data_free(&own);
	if (rc)
		goto out;
	/* the public task's head goes; the features stay */
	last = nn_last_param_layer(&s);
	if (last < 0) {
		rc = errf(err, errlen, "transfer: model '%s' has no layer with parameters", s.arch);
		goto out;
	}
	nn_reinit_layer(&s, last, env->rng);
	for (int i = 0; i < s.nlayers; i++)
		s.layers[i].frozen = p->freeze && i != last;
	rc = atk_fit(&s, env, &t, NULL, err, errlen);
	for (int i = 0; i < s.nlayers; i++)
		s.layers[i].frozen = 0;
out:
	if (rc) {
		nn_free(&s);
		return -1;
	}
	nn_free(m);
	*m = s;
	return 0;
}

/* Samples through the passes: pre-training on the public digits, then the
 * fine-tune on the attacker's data. */
static void transfer_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct transfer_cfg *p = cfg;
	const struct data_source *pub = data_find("mnist");

	*fwd = *bwd =
	    (double)p->pretrain_epochs * (pub ? pub->ntrain : 0) + (double)p->epochs * w->n;
}

const struct atk_attack atk_transfer = {
    .category = ATK_CAT_EXTRACT,
    .threat = ATK_T_DATA | ATK_T_LABELS | ATK_T_PUBLIC,
    .cfg_size = sizeof(struct transfer_cfg),
    .uses_attacker_data = 1,
    .name = "transfer",
    .summary = "pre-train on public MNIST digits, new last layer, fine-tune on own data with true "
	       "labels (no query)",
    .params = transfer_params,
    .check = transfer_check,
    .apply = transfer_apply,
    .work = transfer_work,
};
