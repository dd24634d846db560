/* labelsmooth.c - fine-tune all layers on the attacker's data with label
 * smoothing: targets (1 - epsilon) * onehot(y) + epsilon / classes. */
#include "common.h"

static const struct param_def labelsmooth_params[] = {
    {"epsilon", PT_DOUBLE, "0.3", 0, 1, NULL, "label-smoothing epsilon"},
    {"epochs", PT_INT, "5", 1, 1000, NULL, "fine-tuning epochs"},
    ATK_PARAM_LR("0.001"),
    ATK_PARAM_BATCH,
    ATK_PARAM_OPTIMIZER,
    ATK_PARAM_ATTACKER_DATA,
    {0}};

static int labelsmooth_check(const struct param_set *p, char *err, size_t errlen)
{
	return atk_check_table("labelsmooth", labelsmooth_params, p, err, errlen);
}

static int labelsmooth_apply(const struct param_set *p, struct nn_model *m,
			     const struct atk_env *env, char *err, size_t errlen)
{
	struct atk_train t = {
	    .name = "labelsmooth", .epochs = 5, .batch = 64, .lr = 1e-3, .optimizer = "adam"};
	atk_train_params(p, &t);
	t.label_smooth = param_double(p, "epsilon", 0.3);
	return atk_fit(m, env, &t, NULL, err, errlen);
}

const struct atk_attack atk_labelsmooth = {
    .name = "labelsmooth",
    .summary = "fine-tune all layers with label smoothing",
    .params = labelsmooth_params,
    .check = labelsmooth_check,
    .apply = labelsmooth_apply,
};
