/* identity.c - the null attack: changes nothing (the "before" row, tests). */
#include "attack.h"

static const struct param_def identity_params[] = {{0}};

static int identity_apply(const void *cfg, struct nn_model *m, const struct atk_env *env, char *err,
			  size_t errlen)
{
	(void)cfg, (void)m, (void)env, (void)err, (void)errlen;
	return 0;
}

const struct atk_attack atk_identity = {
    .category = ATK_CAT_NONE,
    .threat = 0,
    .name = "identity",
    .summary = "null attack: the model is left unchanged",
    .params = identity_params,
    .apply = identity_apply,
};
