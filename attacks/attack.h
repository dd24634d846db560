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
	/* For an attack with second_verdict (also as a step of a chain): where
	 * it puts the verdict of its own key, and its second_verdict name (the
	 * runner reports both in aux and message). */
	struct wm_verdict *second;
	const char **second_who;
	/* Where an attack adds the queries it makes to the marked model (the
	 * teacher's labels of distill and retrain); NULL: not counted. */
	long *queries;
};

struct atk_attack {
	const char *name;
	const char *summary;
	const struct param_def *params; /* its own parameters (see atk_params) */
	size_t cfg_size;		/* the config struct the table describes */
	int query_path;			/* wraps the query path instead of the model */
	/* Trains on the attacker's data: the core adds the parameter
	 * attacker_data (the fraction of the attacker's part used) and hands the
	 * attack only that fraction. */
	int uses_attacker_data;
	/* Its own key's verdict is a second result, named so in the message
	 * ("pirate"); NULL if none. It fills env->second and env->second_who;
	 * the core records them in aux and message. */
	const char *second_verdict;
	/* Optional: checks beyond the table's ranges, before any work (message
	 * names attack, parameter, value and what was expected). */
	int (*check)(const void *cfg, char *err, size_t errlen);
	/* Model-modification: changes m in place. */
	int (*apply)(const void *cfg, struct nn_model *m, const struct atk_env *env, char *err,
		     size_t errlen);
	/* Query-path: installs a wrapper around inner into outer. */
	int (*wrap)(const void *cfg, struct wm_query *outer, struct wm_query *inner, struct rng *r,
		    char *err, size_t errlen);
};

const struct atk_attack *atk_find(const char *name);
/* Every parameter of an attack: its own table, and attacker_data when it
 * uses the attacker's data (a PARAM_CORE row the core reads). */
const struct param_def *atk_params(const struct atk_attack *a);
/* The attacker_data of an attack's parameters (1 when it takes none). */
double atk_attacker_data(const struct atk_attack *a, const struct param_set *p);
/* The attack's config struct filled from p; free it. NULL with a message. */
void *atk_cfg(const struct atk_attack *a, const struct param_set *p, char *err, size_t errlen);
/* The plug-in calls with parameters as text: the table's checks and check(),
 * apply, wrap. */
int atk_check(const struct atk_attack *a, const struct param_set *p, char *err, size_t errlen);
int atk_apply(const struct atk_attack *a, const struct param_set *p, struct nn_model *m,
	      const struct atk_env *env, char *err, size_t errlen);
int atk_wrap(const struct atk_attack *a, const struct param_set *p, struct wm_query *outer,
	     struct wm_query *inner, struct rng *r, char *err, size_t errlen);
extern const struct atk_attack *atk_attacks[]; /* NULL-terminated */
/* Adds an attack defined outside attacks/ (a test's, say): 0, or -1 when the
 * name is taken or the table is full. */
int atk_register(const struct atk_attack *a);

#endif
