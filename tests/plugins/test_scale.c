/* test_scale.c - a test-only attack, registered from outside attacks/: it
 * multiplies every weight and bias by a factor. tests/e2e_plugin.sh links it
 * into a second wmbench, which must list it and run it through a matrix like
 * any attack of the tree: one file and one registration, nothing else. */
#include "../../attacks/attack.h"

#include <stddef.h>

struct test_scale_cfg {
	double factor;
};

static const struct param_def test_scale_params[] = {{"factor", PT_DOUBLE, "1", -100, 100, NULL,
						      "what every parameter is multiplied by",
						      offsetof(struct test_scale_cfg, factor)},
						     {0}};

static int test_scale_apply(const void *cfg, struct nn_model *m, const struct atk_env *env,
			    char *err, size_t errlen)
{
	const struct test_scale_cfg *p = cfg;
	(void)env, (void)err, (void)errlen;
	for (size_t i = 0; i < m->nparams; i++)
		m->params[i] = (float)(m->params[i] * p->factor);
	return 0;
}

static const struct atk_attack atk_test_scale = {
    .name = "test_scale",
    .summary = "test only: multiply every parameter by a factor",
    .params = test_scale_params,
    .cfg_size = sizeof(struct test_scale_cfg),
    .apply = test_scale_apply,
};

__attribute__((constructor)) static void register_test_scale(void)
{
	atk_register(&atk_test_scale);
}
