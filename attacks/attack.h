/* attack.h - the attack plug-in interface.
 *
 * An attack is one file in attacks/ exporting one const struct atk_attack,
 * listed once in attacks/registry.c. Model-modification attacks change the
 * model in place; query-path attacks leave it alone and wrap the prediction
 * function that black-box verification queries. The attacker sees only the
 * attacker's part of the training data (a fraction attacker_data of it),
 * never the owner's key and never the test set. */
#ifndef WM_ATTACK_H
#define WM_ATTACK_H

#include "../schemes/scheme.h"

struct atk_env {
	const struct dataset *train;
	const uint32_t *attacker_idx; /* already cut to the attacker_data fraction */
	int n_attacker;
	struct train_settings ts;	/* the run's training settings */
	const char *marked_layer;	/* from the scheme, or NULL */
	const struct wm_scheme *scheme; /* the scheme under attack (for overwrite) */
	const struct param_set *scheme_params;
	struct wm_env *wm; /* env for calling scheme functions with the attacker's data */
	struct rng *rng;
	/* Filled by piracy with the verdict of the pirate's own key, if not NULL
	 * (the pipeline allocates it, then reports it in aux and message). */
	struct wm_verdict *pirate;
};

struct atk_attack {
	const char *name;
	const char *summary;
	const struct param_def *params;
	int query_path; /* wraps the query path instead of the model */
	/* Checks parameters before any work (message names attack, parameter, range). */
	int (*check)(const struct param_set *p, char *err, size_t errlen);
	/* Model-modification: changes m in place. */
	int (*apply)(const struct param_set *p, struct nn_model *m, const struct atk_env *env,
		     char *err, size_t errlen);
	/* Query-path: installs a wrapper around inner into outer. */
	int (*wrap)(const struct param_set *p, struct wm_query *outer, struct wm_query *inner,
		    struct rng *r, char *err, size_t errlen);
};

const struct atk_attack *atk_find(const char *name);
extern const struct atk_attack *const atk_attacks[]; /* NULL-terminated */

#endif
