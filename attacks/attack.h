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
	 * runner reports both in aux and message). A second verdict with
	 * detected < 0 is a finding on the model, not a key (nc's anomaly
	 * index): the runner puts its metric in aux and note in the message,
	 * and claims no forgery. */
	struct wm_verdict *second;
	const char **second_who;
	char *note; /* note_len bytes for that message; NULL: not wanted */
	size_t note_len;
	/* Where an attack adds the queries it makes to the marked model (the
	 * teacher's labels of distill and retrain); NULL: not counted. */
	long *queries;
	/* Called with the attacker's own key before it is verified (piracy,
	 * overwrite, forge_*): the runner writes it to RUNDIR/keys/<attack
	 * job>.npz, so that `wmbench verify` can be asked about the claim
	 * (README "Key registration"). NULL: not kept. */
	int (*save_key)(void *ctx, const struct npz *key, char *err, size_t errlen);
	void *save_ctx;
};

/* The category of an attack in the SoK's table (wmbench list attacks; the
 * report groups by it). */
enum atk_category {
	ATK_CAT_NONE,	   /* identity: the baseline */
	ATK_CAT_INPUT,	   /* input pre-processing: wraps predict, transforms each query */
	ATK_CAT_OUTPUT,	   /* output: wraps predict, perturbs or hides its answer */
	ATK_CAT_MODIFY,	   /* model modification: changes the marked model's weights */
	ATK_CAT_EXTRACT,   /* model extraction: a new model from the API or own data */
	ATK_CAT_AMBIGUITY, /* the attacker's own mark: overwrite, piracy */
	ATK_CAT_COMPOSITE, /* chain: the categories of its steps */
	ATK_NCAT
};
/* Its name as listed ("input pre-processing", ...). */
const char *atk_category_name(enum atk_category c);

/* The threat model: what the attacker needs (flags, or-ed). */
enum {
	ATK_T_WEIGHTS = 1,  /* the marked model's weights (white-box) */
	ATK_T_DATA = 2,	    /* the attacker's own images of the task */
	ATK_T_LABELS = 4,   /* true labels of those images (else none, or the API's) */
	ATK_T_QUERIES = 8,  /* queries to the marked model's API (counted) */
	ATK_T_PUBLIC = 16,  /* public images of another distribution (mnist) */
	ATK_T_ADAPTIVE = 32 /* reads a scheme parameter (never the owner's key) */
};
/* The flags as words ("weights, data, labels"); "none" for 0. */
void atk_threat_text(unsigned threat, char *buf, size_t len);

struct atk_attack {
	const char *name;
	const char *summary;
	enum atk_category category;
	unsigned threat;		/* ATK_T_* the attack may use (its options may use less) */
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
	/* Parameters added after results were recorded with the attack
	 * (NULL-terminated; NULL: none): a canonical set (atk_canonical) leaves
	 * each out while it has its default, so the attack's earlier settings
	 * keep their text, and with it their job ids, seeds and results. */
	const char *const *late;
	/* Optional: checks beyond the table's ranges, before any work (message
	 * names attack, parameter, value and what was expected). */
	int (*check)(const void *cfg, char *err, size_t errlen);
	/* Model-modification: changes m in place. */
	int (*apply)(const void *cfg, struct nn_model *m, const struct atk_env *env, char *err,
		     size_t errlen);
	/* Query-path: installs a wrapper around inner into outer. r seeds the
	 * wrapper's own stream (its per-query noise); env is the job's (its
	 * attacker data and env->rng, for a wrapper that trains something first,
	 * reconstruct's autoencoder, say); env may be NULL for a wrapper that
	 * trains nothing. */
	int (*wrap)(const void *cfg, struct wm_query *outer, struct wm_query *inner,
		    const struct atk_env *env, struct rng *r, char *err, size_t errlen);
	/* Optional: the samples that apply (or wrap's set-up) sends through the
	 * network's forward and backward passes, the row's forward and backward
	 * columns, from the config and the run's sizes (struct wm_work, scheme.h): the
	 * dry run's estimate and the coordinator's order (costliest first).
	 * Where the count depends on the data (early stopping, a filter), the
	 * expected one. NULL: none (the job costs its evaluations only). */
	void (*work)(const void *cfg, const struct wm_work *w, double *fwd, double *bwd);
};

const struct atk_attack *atk_find(const char *name);
/* Every parameter of an attack: its own table, and attacker_data when it
 * uses the attacker's data (a PARAM_CORE row the core reads). */
const struct param_def *atk_params(const struct atk_attack *a);
/* The canonical set of an attack's parameters, as a job's identity holds
 * it: param_complete over atk_params(a), then its late parameters that have
 * their default taken out (the config struct gets the default anyway). */
void atk_canonical(const struct atk_attack *a, struct param_set *p);
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
	     struct wm_query *inner, const struct atk_env *env, struct rng *r, char *err,
	     size_t errlen);
/* The attack's work (atk_attack.work) for parameters p: 0, or -1 with a
 * message when p is not a valid setting. Without a work function, 0 and 0. */
int atk_work_of(const struct atk_attack *a, const struct param_set *p, const struct wm_work *w,
		double *fwd, double *bwd, char *err, size_t errlen);
extern const struct atk_attack *atk_attacks[]; /* NULL-terminated */
/* Adds an attack defined outside attacks/ (a test's, say): 0, or -1 when the
 * name is taken or the table is full. */
int atk_register(const struct atk_attack *a);

#endif
