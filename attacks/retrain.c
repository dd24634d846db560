/* retrain.c - a fresh student, of the teacher's architecture or another one
 * taking the same inputs, trained with cross-entropy on the marked model's
 * hard labels (its argmax) over the attacker's data; the student replaces
 * the model. Like distill with T = 1 and one-hot targets: the attacker uses
 * the marked model as a labelling oracle, never the true labels.
 *
 * labels = source_hard (the default, as above), source (the teacher's
 * softmax as soft targets, T = 1) or true (the attacker's true labels, no
 * query: the baseline of transfer). data = attacker (the default: the
 * threat model) or all_images (every training image, owner's and
 * attacker's, as the SoK's CIFAR-10 configs with subset all, attacker_data
 * aside; only to compare with them). Each image labelled by the teacher counts one query. Both
 * parameters are late ones (attack.h): at their defaults a job keeps the
 * identity, seed and results it had before they existed. */
#include "common.h"

#include <stdlib.h>
#include <string.h>

/* The parameters, as the plug-in receives them (table below). */
struct retrain_cfg {
	int epochs;
	char student[PARAM_VALLEN];
	double lr;
	int batch;
	char optimizer[PARAM_VALLEN];
	char labels[PARAM_VALLEN];
	char data[PARAM_VALLEN];
};

static const struct param_def retrain_params[] = {
    {"epochs", PT_INT, "5", 1, 1000, NULL, "epochs of the student's training",
     offsetof(struct retrain_cfg, epochs)},
    {"student", PT_STRING, "same", 0, 0, NULL, "student model: same or one of wmbench list models",
     offsetof(struct retrain_cfg, student)},
    ATK_PARAM_LR(struct retrain_cfg, "0.001"),
    ATK_PARAM_BATCH(struct retrain_cfg),
    ATK_PARAM_OPTIMIZER(struct retrain_cfg),
    ATK_PARAM_LABELS(struct retrain_cfg, "source_hard"),
    ATK_PARAM_DATA(struct retrain_cfg),
    {0}};

static const char *const retrain_late[] = {"labels", "data", NULL};

static int retrain_check(const void *cfg, char *err, size_t errlen)
{
	const struct retrain_cfg *p = cfg;
	return atk_check_student("retrain", p->student, err, errlen);
}

static int retrain_apply(const void *cfg, struct nn_model *m, const struct atk_env *env, char *err,
			 size_t errlen)
{
	const struct retrain_cfg *p = cfg;
	struct atk_train t = {.name = "retrain"};
	struct atk_lesson l = {.d = env->train, .labels = atk_labels_of(p->labels), .T = 1};
	uint32_t *all;
	int rc;

	ATK_TRAIN_FROM(&t, p);
	l.idx = atk_data_idx(env, p->data, &l.n, &all);
	rc = atk_student(p->student, &t, m, env, &l, err, errlen);
	free(all);
	return rc;
}

/* Samples through the passes: the teacher's labels (one pass over the
 * data, none for labels = true), then the student's epochs. */
static void retrain_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct retrain_cfg *p = cfg;
	double N = strcmp(p->data, "all_images") ? w->n : (double)w->n_owner + w->n_attacker;

	*bwd = p->epochs * N;
	*fwd = *bwd + (strcmp(p->labels, "true") ? N : 0);
}

const struct atk_attack atk_retrain = {
    .category = ATK_CAT_EXTRACT,
    .threat = ATK_T_DATA | ATK_T_LABELS | ATK_T_QUERIES,
    .cfg_size = sizeof(struct retrain_cfg),
    .uses_attacker_data = 1,
    .name = "retrain",
    .summary = "train a fresh student on the marked model's hard labels",
    .params = retrain_params,
    .late = retrain_late,
    .check = retrain_check,
    .apply = retrain_apply,
    .work = retrain_work,
};
