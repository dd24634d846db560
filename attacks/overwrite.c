/* overwrite.c - the attacker embeds a second mark of the same scheme with its
 * own key, by fine-tuning the marked model on the attacker's data: the
 * scheme's keygen draws the attacker's key from an RNG of its own (derived
 * from the job's RNG, never the owner's key) and the scheme's embed trains
 * the marked model in place from its current weights for `epochs` epochs,
 * with the run's optimiser and batch size and learning rate `lr` (0 = the
 * run's). The scheme's parameters are the owner's (public), or overridden by
 * scheme_params ("bits=32 lambda=0.1"). For the clean model and scheme none
 * there is nothing to overwrite with and the attack changes nothing. The
 * attacker's key is then verified on the result: when it verifies, the
 * attacker holds a mark too (`forged`, README "results.csv"). */
#include "common.h"

/* The parameters, as the plug-in receives them (table below). */
struct overwrite_cfg {
	int epochs;
	double lr;
	char scheme_params[PARAM_VALLEN];
};

static const struct param_def overwrite_params[] = {
    {"epochs", PT_INT, "2", 1, 1000, NULL, "epochs of the attacker's embedding",
     offsetof(struct overwrite_cfg, epochs)},
    {"lr", PT_DOUBLE, "0", 0, 10, NULL, "learning rate of the attacker's embedding; 0 = the run's",
     offsetof(struct overwrite_cfg, lr)},
    {"scheme_params", PT_STRING, "same", 0, 0, NULL,
     "'same' (the owner's scheme parameters) or overrides 'key=value key=value'",
     offsetof(struct overwrite_cfg, scheme_params)},
    {0}};

static int overwrite_check(const void *cfg, char *err, size_t errlen)
{
	const struct overwrite_cfg *p = cfg;
	return atk_check_scheme_params("overwrite", p->scheme_params, err, errlen);
}

extern const struct atk_attack atk_overwrite;

static int overwrite_apply(const void *cfg, struct nn_model *m, const struct atk_env *env,
			   char *err, size_t errlen)
{
	const struct overwrite_cfg *p = cfg;
	struct npz key;
	struct param_set sp;
	npz_init(&key);
	int rc = atk_embed_own("overwrite", p->scheme_params, p->epochs, p->lr, m, env, &key, &sp,
			       err, errlen);
	if (!rc)
		rc = atk_verify_own("overwrite", atk_overwrite.second_verdict, &key, m, env, err,
				    errlen);
	npz_free(&key);
	return rc < 0 ? -1 : 0;
}

/* Samples through the passes: the scheme's embedding for `epochs` on the
 * attacker's data (its own key's verification is not counted). */
static void overwrite_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct overwrite_cfg *p = cfg;

	atk_embed_own_work(p->scheme_params, p->epochs, w, fwd, bwd);
}

const struct atk_attack atk_overwrite = {
    .category = ATK_CAT_AMBIGUITY,
    .threat = ATK_T_WEIGHTS | ATK_T_DATA | ATK_T_LABELS | ATK_T_ADAPTIVE,
    .cfg_size = sizeof(struct overwrite_cfg),
    .uses_attacker_data = 1,
    .name = "overwrite",
    .second_verdict = "attacker",
    .summary = "embed a second mark of the same scheme with the attacker's own key",
    .params = overwrite_params,
    .check = overwrite_check,
    .apply = overwrite_apply,
    .work = overwrite_work,
};
