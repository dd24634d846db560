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

#include <string.h>

static const struct param_def finetune_params[] = {
    {"mode", PT_STRING, "ftal", 0, 0, "ftll|ftal|rtll|rtal",
     "train last layer / all layers, optionally re-initialising the last layer first"},
    {"epochs", PT_INT, "0", 0, 1000, NULL, "epochs; 0 = the mode's default (5; rtll 10)"},
    ATK_PARAM_LR("0.001"),
    ATK_PARAM_BATCH,
    ATK_PARAM_OPTIMIZER,
    ATK_PARAM_ATTACKER_DATA,
    {0}};

static int finetune_check(const struct param_set *p, char *err, size_t errlen)
{
	return atk_check_table("finetune", finetune_params, p, err, errlen);
}

static int finetune_apply(const struct param_set *p, struct nn_model *m, const struct atk_env *env,
			  char *err, size_t errlen)
{
	const char *mode = param_get(p, "mode");
	struct atk_train t = {
	    .name = "finetune", .epochs = 0, .batch = 64, .lr = 1e-3, .optimizer = "adam"};
	int last = nn_last_param_layer(m), frozen[NN_MAXLAYERS], rc;

	if (!mode)
		mode = "ftal";
	int only_last = !strcmp(mode, "ftll") || !strcmp(mode, "rtll");
	int reinit = mode[0] == 'r';
	atk_train_params(p, &t);
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

const struct atk_attack atk_finetune = {
    .name = "finetune",
    .summary = "fine-tune on attacker data: ftll, ftal, rtll, rtal (Adi et al. 2018)",
    .params = finetune_params,
    .check = finetune_check,
    .apply = finetune_apply,
};
