/* registry.c - the table of attacks; adding one is one line here (or a
 * call of atk_register, for a plug-in outside the tree). */
#include "attack.h"
#include "../workers/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct atk_attack atk_identity, atk_prune;
extern const struct atk_attack atk_finetune, atk_fineprune, atk_quantize, atk_noise, atk_overwrite,
    atk_piracy, atk_distill, atk_retrain, atk_labelsmooth, atk_weightshift, atk_chain,
    atk_input_noise, atk_input_clip, atk_input_quant, atk_score_round, atk_score_noise,
    atk_label_only, atk_permute, atk_labelnoise, atk_occlude, atk_featreg, atk_reconstruct,
    atk_smoothretrain, atk_ensemble;
extern const struct atk_attack atk_advtrain, atk_advextract, atk_regularize;
extern const struct atk_attack atk_knockoff, atk_transfer;
extern const struct atk_attack atk_forge_uchida, atk_forge_trigger;
extern const struct atk_attack atk_jpeg, atk_smooth, atk_flip, atk_squeeze;
extern const struct atk_attack atk_nc, atk_launder;

#define ATK_MAX 64

/* One entry per line (clang-format off keeps it so): adding an attack is one
 * line here and one in the extern list above. */
// clang-format off
const struct atk_attack *atk_attacks[ATK_MAX + 1] = {
	&atk_identity,
	&atk_prune,
	&atk_finetune,
	&atk_fineprune,
	&atk_quantize,
	&atk_noise,
	&atk_overwrite,
	&atk_piracy,
	&atk_distill,
	&atk_retrain,
	&atk_labelsmooth,
	&atk_weightshift,
	&atk_chain,
	&atk_input_noise,
	&atk_input_clip,
	&atk_input_quant,
	&atk_score_round,
	&atk_score_noise,
	&atk_label_only,
	&atk_permute,
	&atk_labelnoise,
	&atk_occlude,
	&atk_featreg,
	&atk_reconstruct,
	&atk_smoothretrain,
	&atk_ensemble,
	&atk_advtrain,
	&atk_advextract,
	&atk_regularize,
	&atk_knockoff,
	&atk_transfer,
	&atk_forge_uchida,
	&atk_forge_trigger,
	&atk_jpeg,
	&atk_smooth,
	&atk_flip,
	&atk_squeeze,
	&atk_nc,
	&atk_launder,
	NULL,
};
// clang-format on

int atk_register(const struct atk_attack *a)
{
	int n = 0;
	if (atk_find(a->name))
		return -1;
	while (atk_attacks[n])
		n++;
	if (n == ATK_MAX)
		return -1;
	atk_attacks[n] = a;
	return 0;
}

const struct atk_attack *atk_find(const char *name)
{
	for (int i = 0; atk_attacks[i]; i++)
		if (!strcmp(atk_attacks[i]->name, name))
			return atk_attacks[i];
	return NULL;
}

/* attacker_data: read by the core, which hands the attack that fraction of
 * the attacker's part of the training set. */
static const struct param_def attacker_data_def = {
    "attacker_data",
    PT_DOUBLE,
    "1",
    0,
    1,
    NULL,
    "fraction of the attacker's part of the training set the attacker uses",
    PARAM_CORE};

#define MAXATK	  64
#define MAXPARAMS 24

const struct param_def *atk_params(const struct atk_attack *a)
{
	static const struct atk_attack *who[MAXATK];
	static struct param_def tables[MAXATK][MAXPARAMS];
	static int n;
	int i, k = 0;

	if (!a->uses_attacker_data)
		return a->params;
	for (i = 0; i < n; i++)
		if (who[i] == a)
			return tables[i];
	if (n == MAXATK) {
		fprintf(stderr, "atk_params: more than %d attacks that train\n", MAXATK);
		abort();
	}
	for (const struct param_def *d = a->params; d && d->key; d++) {
		if (k == MAXPARAMS - 2) {
			fprintf(stderr, "atk_params: %s has more than %d parameters\n", a->name,
				MAXPARAMS - 2);
			abort();
		}
		tables[n][k++] = *d;
	}
	tables[n][k++] = attacker_data_def;
	memset(&tables[n][k], 0, sizeof tables[n][k]);
	who[n] = a;
	return tables[n++];
}

void atk_canonical(const struct atk_attack *a, struct param_set *p)
{
	const struct param_def *defs = atk_params(a);

	param_complete(p, defs);
	for (const char *const *k = a->late; k && *k; k++) {
		const char *def = NULL;
		for (const struct param_def *d = defs; d->key; d++)
			if (!strcmp(d->key, *k))
				def = d->def;
		for (int i = 0; def && i < p->n; i++) {
			if (strcmp(p->key[i], *k) || strcmp(p->val[i], def))
				continue;
			/* out, keeping the order param_complete sorted */
			for (int j = i + 1; j < p->n; j++) {
				memcpy(p->key[j - 1], p->key[j], PARAM_KEYLEN);
				memcpy(p->val[j - 1], p->val[j], PARAM_VALLEN);
			}
			p->n--;
			break;
		}
	}
}

double atk_attacker_data(const struct atk_attack *a, const struct param_set *p)
{
	struct {
		double attacker_data;
	} core;
	struct param_def def[2] = {attacker_data_def, {0}};
	char err[ERRBUF];

	def[0].off = 0;
	core.attacker_data = 1;
	if (!a->uses_attacker_data)
		return 1;
	for (int i = 0; i < p->n; i++)
		if (!strcmp(p->key[i], "attacker_data")) {
			struct param_set one = {0};
			param_set_put(&one, p->key[i], p->val[i]);
			if (param_to_cfg(a->name, def, &one, &core, err, sizeof err))
				return 1;
		}
	return core.attacker_data;
}

void *atk_cfg(const struct atk_attack *a, const struct param_set *p, char *err, size_t errlen)
{
	return param_cfg_new(a->name, atk_params(a), a->cfg_size, p, err, errlen);
}

/* The config of p, checked by the table and by the attack's own check. */
static void *checked_cfg(const struct atk_attack *a, const struct param_set *p, char *err,
			 size_t errlen)
{
	void *cfg = atk_cfg(a, p, err, errlen);

	if (cfg && a->check && a->check(cfg, err, errlen)) {
		free(cfg);
		return NULL;
	}
	return cfg;
}

int atk_check(const struct atk_attack *a, const struct param_set *p, char *err, size_t errlen)
{
	void *cfg = checked_cfg(a, p, err, errlen);
	int rc = cfg ? 0 : -1;

	free(cfg);
	return rc;
}

int atk_work_of(const struct atk_attack *a, const struct param_set *p, const struct wm_work *w,
		double *fwd, double *bwd, char *err, size_t errlen)
{
	void *cfg = atk_cfg(a, p, err, errlen);

	*fwd = *bwd = 0;
	if (!cfg)
		return -1;
	if (a->work)
		a->work(cfg, w, fwd, bwd);
	free(cfg);
	return 0;
}

int atk_apply(const struct atk_attack *a, const struct param_set *p, struct nn_model *m,
	      const struct atk_env *env, char *err, size_t errlen)
{
	void *cfg = checked_cfg(a, p, err, errlen);
	int rc = cfg ? a->apply(cfg, m, env, err, errlen) : -1;

	free(cfg);
	return rc;
}

int atk_wrap(const struct atk_attack *a, const struct param_set *p, struct wm_query *outer,
	     struct wm_query *inner, const struct atk_env *env, struct rng *r, char *err,
	     size_t errlen)
{
	void *cfg = checked_cfg(a, p, err, errlen);
	int rc = cfg ? a->wrap(cfg, outer, inner, env, r, err, errlen) : -1;

	free(cfg);
	return rc;
}

static const char *const category_names[ATK_NCAT] = {
    [ATK_CAT_NONE] = "none",
    [ATK_CAT_INPUT] = "input pre-processing",
    [ATK_CAT_OUTPUT] = "output",
    [ATK_CAT_MODIFY] = "model modification",
    [ATK_CAT_EXTRACT] = "model extraction",
    [ATK_CAT_AMBIGUITY] = "ambiguity",
    [ATK_CAT_COMPOSITE] = "composite",
};

const char *atk_category_name(enum atk_category c)
{
	return (unsigned)c < ATK_NCAT ? category_names[c] : "unknown";
}

void atk_threat_text(unsigned threat, char *buf, size_t len)
{
	static const struct {
		unsigned flag;
		const char *word;
	} words[] = {
	    {ATK_T_WEIGHTS, "weights"}, {ATK_T_DATA, "data"},	       {ATK_T_LABELS, "labels"},
	    {ATK_T_QUERIES, "queries"}, {ATK_T_PUBLIC, "public data"}, {ATK_T_ADAPTIVE, "adaptive"},
	};
	if (!len)
		return;
	buf[0] = 0;
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		if (!(threat & words[i].flag))
			continue;
		size_t n = strlen(buf);
		snprintf(buf + n, len - n, "%s%s", n ? ", " : "", words[i].word);
	}
	if (!buf[0])
		snprintf(buf, len, "none");
}
