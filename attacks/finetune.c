/* finetune.c - fine-tuning on the attacker's data (Adi et al., USENIX
 * Security 2018): FTLL trains only the last layer, FTAL all layers, RTLL
 * re-initialises the last layer and trains only it, RTAL re-initialises the
 * last layer and trains all. "Last layer" is the last layer with parameters
 * (fc3 of mlp and lenet5, fc2 of cnn). Defaults follow ATTACKS.md: 5 epochs
 * (10 for RTLL, which starts from random weights), lr 1e-3 with Adam (the
 * optimiser the literature's 1e-3 is quoted with; sgd uses momentum 0.9),
 * batch 64. */
#include "common.h"
#include "../workers/util.h"

#include <stddef.h>
#include <string.h>

/* The parameters, as the plug-in receives them (table below). */
struct finetune_cfg {
	char mode[PARAM_VALLEN];
	int epochs;
	double lr;
	int batch;
	char optimizer[PARAM_VALLEN];
};

static const struct param_def finetune_params[] = {
    {"mode", PT_STRING, "ftal", 0, 0, "ftll|ftal|rtll|rtal",
     "train last layer / all layers, optionally re-initialising the last layer first",
     offsetof(struct finetune_cfg, mode)},
    {"epochs", PT_INT, "0", 0, 1000, NULL, "epochs; 0 = the mode's default (5; rtll 10)",
     offsetof(struct finetune_cfg, epochs)},
    ATK_PARAM_LR(struct finetune_cfg, "0.001"),
    ATK_PARAM_BATCH(struct finetune_cfg),
    ATK_PARAM_OPTIMIZER(struct finetune_cfg),
    {0}};

static int finetune_apply(const void *cfg, struct nn_model *m, const struct atk_env *env, char *err,
			  size_t errlen)
{
	const struct finetune_cfg *p = cfg;
	const char *mode = p->mode;
	struct atk_train t = {.name = "finetune"};
	int last = nn_last_param_layer(m), frozen[NN_MAXLAYERS], rc;

	int only_last = !strcmp(mode, "ftll") || !strcmp(mode, "rtll");
	int reinit = mode[0] == 'r';
	ATK_TRAIN_FROM(&t, p);
	if (t.epochs == 0)
		t.epochs = !strcmp(mode, "rtll") ? 10 : 5;
	if (last < 0)
		return errf(err, errlen, "finetune: model '%s' has no layer with parameters",
			    m->arch);
	if (reinit)
		nn_reinit_layer(m, last, env->rng);
	for (int i = 0; i < m->nlayers; i++) {
		frozen[i] = m->layers[i].frozen;
		if (only_last && i != last)
			m->layers[i].frozen = 1;
	}
	rc = atk_fit(m, env, &t, NULL, err, errlen);
	for (int i = 0; i < m->nlayers; i++)
		m->layers[i].frozen = frozen[i];
	return rc;
}

/* Samples through the passes: the epochs (the mode's default for 0); frozen
 * layers still count their samples. */
static void finetune_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct finetune_cfg *p = cfg;
	int e = p->epochs ? p->epochs : !strcmp(p->mode, "rtll") ? 10 : 5;

	*fwd = *bwd = (double)e * w->n;
}

const struct atk_attack atk_finetune = {
    .category = ATK_CAT_MODIFY,
    .threat = ATK_T_WEIGHTS | ATK_T_DATA | ATK_T_LABELS,
    .cfg_size = sizeof(struct finetune_cfg),
    .uses_attacker_data = 1,
    .name = "finetune",
    .summary = "fine-tune on attacker data: ftll, ftal, rtll, rtal (Adi et al. 2018)",
    .params = finetune_params,
    .apply = finetune_apply,
    .work = finetune_work,
};
