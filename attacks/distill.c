/* distill.c - knowledge distillation (Hinton, Vinyals, Dean 2015) as a
 * removal attack: a fresh student, of the teacher's architecture or another
 * one taking the same inputs, is trained on the marked model's soft labels
 * softmax(z_t / T) over the attacker's data, with the distillation loss
 * T^2 * CE(softmax(z_t / T), softmax(z_s / T)) (the student at the same
 * temperature, scaled by T^2 so gradients keep their size; no hard-label
 * term: the attacker uses only the teacher's outputs). The student, in
 * evaluation at T = 1, replaces the model. A white-box scheme whose marked
 * layer the student lacks (another architecture) cannot verify it, and the
 * job fails with the scheme's message. */
#include "common.h"

static const struct param_def distill_params[] = {
    {"T", PT_DOUBLE, "3", 0.01, 100, NULL, "temperature of the soft labels"},
    {"epochs", PT_INT, "5", 1, 1000, NULL, "epochs of the student's training"},
    {"student", PT_STRING, "same", 0, 0, NULL, "student model: same or one of wmbench list models"},
    ATK_PARAM_LR("0.001"),
    ATK_PARAM_BATCH,
    ATK_PARAM_OPTIMIZER,
    ATK_PARAM_ATTACKER_DATA,
    {0}};

static int distill_check(const struct param_set *p, char *err, size_t errlen)
{
	if (atk_check_table("distill", distill_params, p, err, errlen))
		return -1;
	return atk_check_student("distill", param_get(p, "student"), err, errlen);
}

static int distill_apply(const struct param_set *p, struct nn_model *m, const struct atk_env *env,
			 char *err, size_t errlen)
{
	return atk_student("distill", p, m, env, param_double(p, "T", 3), 0, err, errlen);
}

const struct atk_attack atk_distill = {
    .name = "distill",
    .summary = "train a fresh student on the marked model's soft labels (temperature T)",
    .params = distill_params,
    .check = distill_check,
    .apply = distill_apply,
};
