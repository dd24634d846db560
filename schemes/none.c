/* none.c - the unmarked control: trains normally, has no key, never detects. */
#include "scheme.h"

#include <math.h>
#include <string.h>

static const struct param_def none_params[] = {{0}};

static int none_check(const void *cfg, const struct nn_model *m, char *err, size_t errlen)
{
	(void)cfg, (void)m, (void)err, (void)errlen;
	return 0;
}

static int none_keygen(const void *cfg, const struct nn_model *m, const struct wm_env *env,
		       struct npz *key, char *err, size_t errlen)
{
	(void)cfg, (void)m, (void)env, (void)key, (void)err, (void)errlen;
	return 0;
}

static int none_embed(const void *cfg, struct nn_model *m, struct npz *key,
		      const struct wm_env *env, char *err, size_t errlen)
{
	(void)cfg, (void)key;
	return wm_train_owner(m, env, NULL, 0, err, errlen);
}

static int none_verify(const void *cfg, const struct npz *key, struct nn_model *m,
		       struct wm_query *q, const struct wm_env *env, struct wm_verdict *v,
		       char *err, size_t errlen)
{
	(void)cfg, (void)key, (void)m, (void)q, (void)env, (void)err, (void)errlen;
	strcpy(v->metric_name, "");
	v->metric = NAN;
	v->pvalue = NAN;
	v->detected = 0;
	v->capacity = 0;
	return 0;
}

const struct wm_scheme wm_none = {
    .name = "none",
    .colour = "#000000",
    .point = 5,
    .order = 0,
    .unmarked = 1,
    .summary = "unmarked control: normal training, nothing embedded",
    .params = none_params,
    .check = none_check,
    .keygen = none_keygen,
    .embed = none_embed,
    .verify = none_verify,
};
