/* piracy.c - ambiguity attack by embedding (the nullembed paper's central
 * test): like overwrite, the attacker embeds its own mark of the same scheme
 * into the marked model by fine-tuning on its data, and then verifies its
 * own key on the result. The pirate's verdict goes to env->second (the
 * runner reports its metric in the row's aux column and the whole verdict
 * in message); the owner's verdict and the accuracy after are the row's
 * usual columns. The attack succeeds as piracy when the pirate's key is
 * detected while accuracy holds. Clean model and scheme none: no change, no
 * pirate verdict. */
#include "common.h"
#include "../workers/util.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* The parameters, as the plug-in receives them (table below). */
struct piracy_cfg {
	int epochs;
	double lr;
	char scheme_params[PARAM_VALLEN];
};

static const struct param_def piracy_params[] = {
    {"epochs", PT_INT, "2", 1, 1000, NULL, "epochs of the pirate's embedding",
     offsetof(struct piracy_cfg, epochs)},
    {"lr", PT_DOUBLE, "0", 0, 10, NULL, "learning rate of the pirate's embedding; 0 = the run's",
     offsetof(struct piracy_cfg, lr)},
    {"scheme_params", PT_STRING, "same", 0, 0, NULL,
     "'same' (the owner's scheme parameters) or overrides 'key=value key=value'",
     offsetof(struct piracy_cfg, scheme_params)},
    {0}};

static int piracy_check(const void *cfg, char *err, size_t errlen)
{
	const struct piracy_cfg *p = cfg;
	return atk_check_scheme_params("piracy", p->scheme_params, err, errlen);
}

extern const struct atk_attack atk_piracy;

static int piracy_apply(const void *cfg, struct nn_model *m, const struct atk_env *env, char *err,
			size_t errlen)
{
	const struct piracy_cfg *p = cfg;
	struct npz key;
	struct param_set sp;
	int rc;

	npz_init(&key);
	rc = atk_embed_own("piracy", p->scheme_params, p->epochs, p->lr, m, env, &key, &sp, err,
			   errlen);
	if (rc) {
		npz_free(&key);
		return rc < 0 ? -1 : 0;
	}
	rc = atk_verify_own("piracy", atk_piracy.second_verdict, &key, m, env, err, errlen);
	npz_free(&key);
	return rc;
}

/* Samples through the passes: the scheme's embedding for `epochs` on the
 * attacker's data (the pirate key's verification is not counted). */
static void piracy_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct piracy_cfg *p = cfg;

	atk_embed_own_work(p->scheme_params, p->epochs, w, fwd, bwd);
}

const struct atk_attack atk_piracy = {
    .category = ATK_CAT_AMBIGUITY,
    .threat = ATK_T_WEIGHTS | ATK_T_DATA | ATK_T_LABELS | ATK_T_ADAPTIVE,
    .cfg_size = sizeof(struct piracy_cfg),
    .uses_attacker_data = 1,
    .name = "piracy",
    .second_verdict = "pirate",
    .summary = "embed the pirate's own mark and report both the owner's and the pirate's verdicts",
    .params = piracy_params,
    .check = piracy_check,
    .apply = piracy_apply,
    .work = piracy_work,
};
