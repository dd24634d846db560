/* scheme.h - the watermarking-scheme plug-in interface.
 *
 * A scheme is one file in schemes/ exporting one const struct wm_scheme,
 * listed once in the registry (schemes/registry.c). It is handed a model,
 * data, an RNG and its parameters (a struct of its own, described by its
 * params table and filled by the core; the plug-in casts the const void *
 * it receives); it never sees MPI. Its secret material is
 * a struct npz (saved as KEY.npz next to the model) that is self-describing:
 * arrays "scheme" and "params" (text) name the scheme and its parameters, so
 * `wmbench verify --model M --key K` needs nothing else. */
#ifndef WM_SCHEME_H
#define WM_SCHEME_H

#include "../workers/data.h"
#include "../workers/npz.h"
#include "../workers/nn.h"
#include "../workers/params.h"
#include "../workers/train.h"

/* Training settings of a job (from the job file's run section). */
struct train_settings {
	int epochs, batch;
	char optimizer[16];
	double lr, momentum, weight_decay;
};

/* What a plug-in is handed: data, the split, training settings, an RNG. */
struct wm_env {
	const struct dataset *train, *test;
	const uint32_t *owner_idx;
	int n_owner;
	const uint32_t *attacker_idx;
	int n_attacker;
	struct train_settings ts;
	double alpha;	 /* significance level of the decision */
	struct rng *rng; /* the job's RNG */
};

/* The prediction function through which black-box verification queries a
 * model. Query-path attacks wrap it. probs is (n, nclass). */
struct wm_query {
	int (*predict)(struct wm_query *q, const float *x, int n, float *probs);
	struct nn_model *model;
	int nclass;
	size_t in_size; /* floats per input sample (C*H*W) */
	long queries;	/* samples queried so far */
	void *ctx;	/* for wrappers */
	struct wm_query *inner;
	/* Frees what a wrapper allocated in ctx (NULL if nothing); the one who
	 * installed the wrapper calls it once when done querying. */
	void (*release)(struct wm_query *q);
};
/* The plain query path: softmax of the model. */
void wm_query_init(struct wm_query *q, struct nn_model *m);
/* Top-1 test accuracy of d through a query path (queries counted on q); -1
 * when the path fails. */
int wm_query_accuracy(struct wm_query *q, const struct dataset *d, double *acc);

struct wm_verdict {
	char metric_name[8]; /* "ber" (multi-bit) or "wm_acc" (trigger) */
	double metric;
	double pvalue;	 /* under "never marked with this key" */
	int detected;	 /* pvalue < alpha (and scheme-specific conditions) */
	double capacity; /* bits or trigger-set size */
	long queries;	 /* black-box queries spent */
	double aux;	 /* scheme-specific (nullembed: acc_null), NAN if unused */
	/* Schemes whose decision rests on an empirical null (README "Empirical
	 * null"): the count m out of capacity n that the null is fitted on
	 * (matches, bits right); -1 otherwise (wm_verify sets -1 first). */
	int count;
};

/* The run's sizes that the work of an embedding (wm_scheme.work) or an
 * attack (atk_attack.work) depends on: the dry run's cost estimates. */
struct wm_work {
	int n;		/* attack: attacker samples handed to it (after attacker_data) */
	int n_attacker; /* the attacker's part of the training data */
	int n_owner;	/* the owner's part (what an embedding trains on) */
	int n_test;	/* test samples */
	int batch;	/* the run's batch size */
	int epochs;	/* the run's training epochs */
	int nclass;	/* classes of the data set */
	int in_size;	/* floats per input sample */
	/* attack: the scheme under attack and its parameters (NULL: a clean
	 * model), for attacks that embed the attacker's own mark with it */
	const struct wm_scheme *scheme;
	const struct param_set *scheme_params;
	/* where wm_work_of adds the embedding's uncounted work (training
	 * samples; NULL: nowhere), an attacker's own embedding's included */
	double *uncounted;
};

struct wm_scheme {
	const char *name;
	const char *summary;
	const struct param_def *params; /* NULL-key-terminated table */
	size_t cfg_size;		/* the config struct the table describes */
	int black_box;			/* verify uses only the query path */
	/* Optional: checks parameters against the model before any training
	 * (beyond the table's ranges): a message naming the parameter, the
	 * value and the valid range. */
	int (*check)(const void *cfg, const struct nn_model *m, char *err, size_t errlen);
	/* All secret material, derived from env->rng and the parameters (the
	 * core then records the scheme and its parameters in the key). */
	int (*keygen)(const void *cfg, const struct nn_model *m, const struct wm_env *env,
		      struct npz *key, char *err, size_t errlen);
	/* Trains the (freshly initialised) model with the mark embedded. It may
	 * add to the key material that only exists after training (deepsigns-bb
	 * keeps the candidates that the marked model learned and the unmarked
	 * one did not); the pipeline writes the key after embed returns. */
	int (*embed)(const void *cfg, struct nn_model *m, struct npz *key, const struct wm_env *env,
		     char *err, size_t errlen);
	/* Reads the mark back and decides, with the parameters recorded in the
	 * key. White-box schemes read m directly; black-box ones use only q. */
	int (*verify)(const void *cfg, const struct npz *key, struct nn_model *m,
		      struct wm_query *q, const struct wm_env *env, struct wm_verdict *v, char *err,
		      size_t errlen);
	/* Name of the marked layer (for attacks scoped to it), or NULL. */
	const char *(*marked_layer)(const struct npz *key);
	/* Facts the core and the reports learn from the plug-in: */
	int unmarked;	       /* the unmarked baseline (none): nothing to verify */
	const char *colour;    /* line colour in figures ("#RRGGBB") */
	int point;	       /* gnuplot point type of its lines (filled shape) */
	int order;	       /* position in tables and keys */
	const char *aux_label; /* what wm_verdict.aux holds, NULL if unused */
	/* Its keys are made from a marked model (embed completes the key): a fresh
	 * calibration key needs a fresh owner model (README "Calibration"). */
	int key_from_model;
	/* Optional: whether a setting verifies through the query path alone, when
	 * a parameter decides it (gradsigns' verify); NULL: black_box. */
	int (*verifies_black_box)(const void *cfg);
	/* Optional: whether a setting's decision rests on an empirical null
	 * (kinds 2 and 3 of README "Empirical null"). Then, after embedding,
	 * the runner verifies the key on run.controls independently trained
	 * unmarked models, fits the null to their counts (wm_null_fit), stores
	 * the fit in the key, and verify decides by it (wm_null_decide). NULL:
	 * never. */
	int (*null_fit)(const void *cfg);
	/* Optional: the samples that embed sends through the network's forward
	 * and backward passes, the embed row's forward and backward columns,
	 * from the config and the run's sizes: the dry run's estimate and the
	 * coordinator's order. NULL: a clean training's (epochs x n_owner each). */
	void (*work)(const void *cfg, const struct wm_work *w, double *fwd, double *bwd);
	/* Optional: the samples one verification sends through the forward pass
	 * (its key's images, its queries; the expected count where the data
	 * decide it). NULL: none (a white-box read of the weights). */
	double (*verify_work)(const void *cfg, const struct wm_work *w);
	/* Optional: the work of embed that no forward or backward count sees
	 * (passes of the scheme's own), in training samples (a forward and a
	 * backward each): the dry run's CPU estimate adds it, the forward and
	 * backward columns do not. NULL: none. */
	double (*work_uncounted)(const void *cfg, const struct wm_work *w);
};

const struct wm_scheme *wm_scheme_find(const char *name);
/* The unmarked baseline (the scheme with .unmarked set). */
const struct wm_scheme *wm_scheme_unmarked(void);
extern const struct wm_scheme *wm_schemes[]; /* NULL-terminated */
/* Adds a scheme defined outside schemes/ (a test's, say): 0, or -1 when the
 * name is taken or the table is full. */
int wm_scheme_register(const struct wm_scheme *s);

/* Shared statistics: P[Binomial(n, p) >= k]. */
double binom_tail(int n, int k, double p);
/* Trains with the env's settings and the given hooks (owner data). */
int wm_train_owner(struct nn_model *m, const struct wm_env *env, const struct train_hooks *h,
		   int extra_rows, char *err, size_t errlen);
/* Stores the scheme name and canonical parameters in a key. */
void wm_key_stamp(struct npz *key, const char *scheme, const struct param_set *p);
/* The scheme's config struct filled from p (NULL: all defaults); free it.
 * NULL with a message on a bad value. */
void *wm_cfg(const struct wm_scheme *s, const struct param_set *p, char *err, size_t errlen);
/* The embedding's work (wm_scheme.work, else a clean training's) for
 * parameters p, and its uncounted work (wm_scheme.work_uncounted) added
 * into *w->uncounted when that is set: 0, or -1 with a message when p does
 * not parse. */
int wm_work_of(const struct wm_scheme *s, const struct param_set *p, const struct wm_work *w,
	       double *fwd, double *bwd, char *err, size_t errlen);
/* One verification's forward samples (wm_scheme.verify_work, else 0) for
 * parameters p; 0 when p does not parse. */
double wm_verify_work_of(const struct wm_scheme *s, const struct param_set *p,
			 const struct wm_work *w);
/* The plug-in calls with parameters as text (the core's one conversion):
 * check, keygen (then the key is stamped with the scheme and p), embed, and
 * verify with the parameters the key records. */
int wm_check(const struct wm_scheme *s, const struct param_set *p, const struct nn_model *m,
	     char *err, size_t errlen);
int wm_keygen(const struct wm_scheme *s, const struct param_set *p, const struct nn_model *m,
	      const struct wm_env *env, struct npz *key, char *err, size_t errlen);
int wm_embed(const struct wm_scheme *s, const struct param_set *p, struct nn_model *m,
	     struct npz *key, const struct wm_env *env, char *err, size_t errlen);
int wm_verify(const struct wm_scheme *s, const struct npz *key, struct nn_model *m,
	      struct wm_query *q, const struct wm_env *env, struct wm_verdict *v, char *err,
	      size_t errlen);
/* The layer a scheme marks when its 'layer' parameter is "auto": the second
 * layer with parameters (fc2 of mlp, conv2 of lenet5 and cnn). */
const char *wm_default_layer(const struct nn_model *m);
/* Resolves a 'layer' parameter to a layer index with parameters, or writes
 * "<scheme>: parameter 'layer' = 'x' ...; expected one of ..." and returns -1. */
int wm_resolve_layer(const char *scheme, const char *layer, const struct nn_model *m, char *err,
		     size_t errlen);
/* Whether setting p of s verifies through the query path alone (black_box,
 * or verifies_black_box of the setting; black_box for a setting that does not
 * parse, which then fails its own check). */
int wm_black_box(const struct wm_scheme *s, const struct param_set *p);
/* Top-1 labels of x (n rows of the model's input size) through the query
 * path q (queries counted on q): 0, or -1 when the path fails. */
int wm_query_labels(struct wm_query *q, const float *x, int n, int *labels);
/* The gradient of the summed cross-entropy of labels y with respect to the
 * input x (B rows), into gx (B rows); inference mode (no dropout). The
 * parameter gradients are left zeroed. Returns the summed loss. */
double wm_input_grad(struct nn_model *m, const float *x, const int *y, int B, float *gx);

/* ---- the empirical null (README "Empirical null") ----
 * N control counts m_c out of n, fitted by moments to a beta-binomial:
 * mu = mean/n floored at the Jeffreys estimate (sum m + 0.5)/(N n + 1),
 * rho = (var/(n mu (1-mu)) - 1)/(n-1) clipped to [0, 1) (0: Binomial(n, mu)),
 * a = mu (1/rho - 1), b = (1-mu)(1/rho - 1). */
struct wm_null {
	int N, n;
	double mu, rho, a, b;
};
int wm_null_fit(const int *counts, int N, int n, struct wm_null *f);
/* P[BetaBin(n, a, b) >= m] (P[Binomial(n, mu) >= m] when rho = 0). */
double wm_null_tail(const struct wm_null *f, int m);
/* The rank bound (1 + #{m_c >= m})/(N + 1). */
double wm_null_rank(const int *counts, int N, int m);
/* Stores the fit and the control counts in a key ("null.*" arrays). */
void wm_null_store(struct npz *key, const int *counts, const struct wm_null *f);
/* The decision of a scheme with an empirical null: v->count = m,
 * v->pvalue = the fitted tail at m (1 when the key holds no fit yet: no
 * claim without a null), v->aux = the rank bound (NAN without a fit),
 * v->detected = pvalue < alpha. A fit of another n than the key's count is
 * an error (message, -1). */
int wm_null_decide(const struct npz *key, int m, int n, double alpha, struct wm_verdict *v,
		   char *err, size_t errlen);

/* Whether setting p of s decides by an empirical null (its null_fit; 0 for
 * a setting that does not parse, which then fails its own check). */
int wm_null_fit_needed(const struct wm_scheme *s, const struct param_set *p);

/* Parses the key's "params" text back into a set. */
int wm_key_params(const struct npz *key, struct param_set *p, char *err, size_t errlen);

#endif
