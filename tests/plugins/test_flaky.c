/* test_flaky.c - a test-only scheme, registered from outside schemes/, whose
 * keys are made from a marked model (like deepsigns-bb) and whose embedding
 * fails by design for some owners: when the first draw of its training
 * stream is a multiple of fail_every. tests/e2e_calib.sh calibrates it: the
 * calibration jobs must verify the keys of the owners that embedded and say
 * which did not. Its verdict is a keyed hash of the model's weights, uniform
 * under "never marked with this key". */
#include "../../schemes/scheme.h"
#include "../../workers/util.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

struct test_flaky_cfg {
	int fail_every;
};

static const struct param_def test_flaky_params[] = {
    {"fail_every", PT_INT, "3", 1, 1000, NULL,
     "an owner fails when its first training draw is a multiple of this",
     offsetof(struct test_flaky_cfg, fail_every)},
    {0}};

static int test_flaky_keygen(const void *cfg, const struct nn_model *m, const struct wm_env *env,
			     struct npz *key, char *err, size_t errlen)
{
	int64_t seed = (int64_t)rng_u64(env->rng), one = 1;
	(void)cfg, (void)m, (void)err, (void)errlen;
	npz_add(key, "test_flaky.seed", NPZ_I64, 1, &one, &seed);
	return 0;
}

static int test_flaky_embed(const void *cfg, struct nn_model *m, struct npz *key,
			    const struct wm_env *env, char *err, size_t errlen)
{
	const struct test_flaky_cfg *p = cfg;
	(void)m, (void)key;
	if (rng_u64(env->rng) % (uint64_t)p->fail_every == 0)
		return errf(err, errlen, "test_flaky: this owner fails by design (fail_every %d)",
			    p->fail_every);
	return 0;
}

static int test_flaky_verify(const void *cfg, const struct npz *key, struct nn_model *m,
			     struct wm_query *q, const struct wm_env *env, struct wm_verdict *v,
			     char *err, size_t errlen)
{
	const struct npz_array *sa = npz_get(key, "test_flaky.seed");
	uint64_t h;
	(void)cfg, (void)q;
	if (!sa || sa->dtype != NPZ_I64 || sa->count != 1)
		return errf(err, errlen, "test_flaky: key lacks test_flaky.seed");
	h = (uint64_t) * (const int64_t *)sa->data;
	for (size_t i = 0; i < m->nparams; i += 997) {
		uint32_t b;
		memcpy(&b, &m->params[i], sizeof b);
		h = (h ^ b) * 0x100000001b3ULL;
	}
	h ^= h >> 29;
	strcpy(v->metric_name, "wm_acc");
	v->pvalue = ((h >> 11) + 1.0) / 9007199254740993.0; /* uniform in (0, 1] */
	v->metric = 1 - v->pvalue;
	v->detected = v->pvalue < env->alpha;
	v->capacity = 1;
	return 0;
}

static const struct wm_scheme wm_test_flaky = {
    .name = "test_flaky",
    .summary = "test only: owner-model keys; some owners fail to embed by design",
    .params = test_flaky_params,
    .cfg_size = sizeof(struct test_flaky_cfg),
    .key_from_model = 1,
    .colour = "#777777",
    .point = 9,
    .order = 90,
    .keygen = test_flaky_keygen,
    .embed = test_flaky_embed,
    .verify = test_flaky_verify,
};

__attribute__((constructor)) static void register_test_flaky(void)
{
	wm_scheme_register(&wm_test_flaky);
}
