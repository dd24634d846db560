/* retrain.c - a fresh student, of the teacher's architecture or another one
 * taking the same inputs, trained with cross-entropy on the marked model's
 * hard labels (its argmax) over the attacker's data; the student replaces
 * the model. Like distill with T = 1 and one-hot targets: the attacker uses
 * the marked model as a labelling oracle, never the true labels. */
#include "common.h"

static const struct param_def retrain_params[] = {
    {"epochs", PT_INT, "5", 1, 1000, NULL, "epochs of the student's training"},
    {"student", PT_STRING, "same", 0, 0, NULL, "student model: same or one of wmbench list models"},
    ATK_PARAM_LR("0.001"),
    ATK_PARAM_BATCH,
    ATK_PARAM_OPTIMIZER,
    ATK_PARAM_ATTACKER_DATA,
    {0}};

static int retrain_check(const struct param_set *p, char *err, size_t errlen)
{
	if (atk_check_table("retrain", retrain_params, p, err, errlen))
		return -1;
	return atk_check_student("retrain", param_get(p, "student"), err, errlen);
}

static int retrain_apply(const struct param_set *p, struct nn_model *m, const struct atk_env *env,
			 char *err, size_t errlen)
{
	return atk_student("retrain", p, m, env, 1.0, 1, err, errlen);
}

const struct atk_attack atk_retrain = {
    .name = "retrain",
    .summary = "train a fresh student on the marked model's hard labels",
    .params = retrain_params,
    .check = retrain_check,
    .apply = retrain_apply,
};
