/* distill.c - knowledge distillation (Hinton, Vinyals, Dean 2015) as a
 * removal attack: a fresh student, of the teacher's architecture or another
 * one taking the same inputs, is trained on the marked model's soft labels
 * softmax(z_t / T) over the attacker's data, with the distillation loss
 * T^2 * CE(softmax(z_t / T), softmax(z_s / T)) (the student at the same
 * temperature, scaled by T^2 so gradients keep their size; no hard-label
 * term: the attacker uses only the teacher's outputs). The student, in
 * evaluation at T = 1, replaces the model. A white-box scheme whose marked
 * layer the student lacks (another architecture) cannot verify it, and the
 * job fails with the scheme's message.
 *
 * labels = source (the default, as above), source_hard (the teacher's argmax
 * as one-hot targets, T = 1: retrain) or true (the attacker's true labels,
 * T = 1, no query). data = attacker (the default: the threat model) or
 * all_images (every training image, owner's and attacker's, as the SoK's
 * CIFAR-10 configs with subset all, attacker_data aside; only to compare
 * with them). The teacher answers with its logits, so softmax(z_t / T) is
 * exact (an API's softmax gives the same up to rounding); each image
 * labelled counts one query. Both parameters are late ones (attack.h): at
 * their defaults a job keeps the identity, seed and results it had before
 * they existed. */
#include "common.h"

#include <stdlib.h>
#include <string.h>

/* The parameters, as the plug-in receives them (table below). */
struct distill_cfg {
	double T;
	int epochs;
	char student[PARAM_VALLEN];
	double lr;
	int batch;
	char optimizer[PARAM_VALLEN];
	char labels[PARAM_VALLEN];
	char data[PARAM_VALLEN];
};

static const struct param_def distill_params[] = {
    {"T", PT_DOUBLE, "3", 0.01, 100, NULL, "temperature of the soft labels",
     offsetof(struct distill_cfg, T)},
    {"epochs", PT_INT, "5", 1, 1000, NULL, "epochs of the student's training",
     offsetof(struct distill_cfg, epochs)},
    {"student", PT_STRING, "same", 0, 0, NULL, "student model: same or one of wmbench list models",
     offsetof(struct distill_cfg, student)},
    ATK_PARAM_LR(struct distill_cfg, "0.001"),
    ATK_PARAM_BATCH(struct distill_cfg),
    ATK_PARAM_OPTIMIZER(struct distill_cfg),
    ATK_PARAM_LABELS(struct distill_cfg, "source"),
    ATK_PARAM_DATA(struct distill_cfg),
    {0}};

static const char *const distill_late[] = {"labels", "data", NULL};

static int distill_check(const void *cfg, char *err, size_t errlen)
{
	const struct distill_cfg *p = cfg;
	return atk_check_student("distill", p->student, err, errlen);
}

static int distill_apply(const void *cfg, struct nn_model *m, const struct atk_env *env, char *err,
			 size_t errlen)
{
	const struct distill_cfg *p = cfg;
	struct atk_train t = {.name = "distill"};
	struct atk_lesson l = {.d = env->train, .labels = atk_labels_of(p->labels), .T = p->T};
	uint32_t *all;
	int rc;

	ATK_TRAIN_FROM(&t, p);
	l.idx = atk_data_idx(env, p->data, &l.n, &all);
	rc = atk_student(p->student, &t, m, env, &l, err, errlen);
	free(all);
	return rc;
}

/* Samples through the passes: the teacher's answers (none for labels =
 * true), then the student's epochs. */
static void distill_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct distill_cfg *p = cfg;
	double N = strcmp(p->data, "all_images") ? w->n : (double)w->n_owner + w->n_attacker;

	*bwd = p->epochs * N;
	*fwd = *bwd + (strcmp(p->labels, "true") ? N : 0);
}

const struct atk_attack atk_distill = {
    .category = ATK_CAT_EXTRACT,
    .threat = ATK_T_DATA | ATK_T_LABELS | ATK_T_QUERIES,
    .cfg_size = sizeof(struct distill_cfg),
    .uses_attacker_data = 1,
    .name = "distill",
    .summary = "train a fresh student on the marked model's soft labels (temperature T)",
    .params = distill_params,
    .late = distill_late,
    .check = distill_check,
    .apply = distill_apply,
    .work = distill_work,
};
