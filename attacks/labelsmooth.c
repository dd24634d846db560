/* labelsmooth.c - fine-tune all layers on the attacker's data with label
 * smoothing: targets (1 - epsilon) * onehot(y) + epsilon / classes. */
#include "common.h"

/* The parameters, as the plug-in receives them (table below). */
struct labelsmooth_cfg {
	double epsilon;
	int epochs;
	double lr;
	int batch;
	char optimizer[PARAM_VALLEN];
};

static const struct param_def labelsmooth_params[] = {
    {"epsilon", PT_DOUBLE, "0.3", 0, 1, NULL, "label-smoothing epsilon",
     offsetof(struct labelsmooth_cfg, epsilon)},
    {"epochs", PT_INT, "5", 1, 1000, NULL, "fine-tuning epochs",
     offsetof(struct labelsmooth_cfg, epochs)},
    ATK_PARAM_LR(struct labelsmooth_cfg, "0.001"),
    ATK_PARAM_BATCH(struct labelsmooth_cfg),
    ATK_PARAM_OPTIMIZER(struct labelsmooth_cfg),
    {0}};

static int labelsmooth_apply(const void *cfg, struct nn_model *m, const struct atk_env *env,
			     char *err, size_t errlen)
{
	const struct labelsmooth_cfg *p = cfg;
	struct atk_train t = {.name = "labelsmooth"};
	ATK_TRAIN_FROM(&t, p);
	t.label_smooth = p->epsilon;
	return atk_fit(m, env, &t, NULL, err, errlen);
}

/* Samples through the passes: the fine-tune. */
static void labelsmooth_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct labelsmooth_cfg *p = cfg;

	*fwd = *bwd = (double)p->epochs * w->n;
}

const struct atk_attack atk_labelsmooth = {
    .category = ATK_CAT_MODIFY,
    .threat = ATK_T_WEIGHTS | ATK_T_DATA | ATK_T_LABELS,
    .cfg_size = sizeof(struct labelsmooth_cfg),
    .uses_attacker_data = 1,
    .name = "labelsmooth",
    .summary = "fine-tune all layers with label smoothing",
    .params = labelsmooth_params,
    .apply = labelsmooth_apply,
    .work = labelsmooth_work,
};
