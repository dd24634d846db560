/* common.h - what the attack plug-ins share: parameter checks, fine-tuning on
 * the attacker's data, a student trainer, the attacker's own embedding, and
 * the plumbing of query-path wrappers. Not part of the plug-in interface. */
#ifndef WM_ATK_COMMON_H
#define WM_ATK_COMMON_H

#include "attack.h"

/* Parameter-table rows shared by the attacks that train. The pipeline reads
 * attacker_data itself (a fraction of the attacker's part of the training
 * set); every attack that trains must list it. */
#define ATK_PARAM_ATTACKER_DATA                                                                    \
	{                                                                                          \
		"attacker_data", PT_DOUBLE, "1", 0, 1, NULL,                                       \
		    "fraction of the attacker's part of the training set the attacker uses"        \
	}
#define ATK_PARAM_LR(def)                                                                          \
	{                                                                                          \
		"lr", PT_DOUBLE, def, 1e-9, 10, NULL, "learning rate of the attacker's training"   \
	}
#define ATK_PARAM_BATCH                                                                            \
	{                                                                                          \
		"batch", PT_INT, "64", 1, 4096, NULL, "mini-batch size of the attacker's training" \
	}
#define ATK_PARAM_OPTIMIZER                                                                        \
	{                                                                                          \
		"optimizer", PT_STRING, "adam", 0, 0, "adam|sgd|rmsprop",                          \
		    "optimiser of the attacker's training (sgd uses momentum 0.9)"                 \
	}

/* Checks every value of p against the table defs with param_check, so that a
 * set built by hand (tests, chain steps) gets the job parser's messages.
 * Returns -1 with "<name>: parameter '<p>' = '<v>' ...; expected ..." */
int atk_check_table(const char *name, const struct param_def *defs, const struct param_set *p,
		    char *err, size_t errlen);

/* How an attack trains on the attacker's data. */
struct atk_train {
	const char *name; /* the attack, for messages */
	int epochs, batch;
	double lr;
	char optimizer[16];
	double label_smooth; /* 0 = off */
};
/* Reads epochs, lr, batch and optimizer from p (absent keys keep the values
 * already in t). */
void atk_train_params(const struct param_set *p, struct atk_train *t);
/* Trains every non-frozen layer of m on the attacker's samples with the
 * task loss (plus hooks h, may be NULL), shuffling with env->rng. Zero epochs
 * do nothing. Returns -1 with a message (no attacker data, divergence). */
int atk_fit(struct nn_model *m, const struct atk_env *env, const struct atk_train *t,
	    const struct train_hooks *h, char *err, size_t errlen);

/* Trains student s on targets q (n, nclass), row i belonging to sample
 * idx[i] of d, with the distillation loss T^2 * CE(q, softmax(z_s / T)),
 * whose logit gradient is T * (softmax(z_s / T) - q) / B. With T = 1 and
 * one-hot q this is plain cross-entropy. */
int atk_train_student(struct nn_model *s, const struct dataset *d, const uint32_t *idx, int n,
		      const float *q, double T, const struct atk_train *t, struct rng *r, char *err,
		      size_t errlen);
/* Teacher logits (n, nclass) on samples idx[0..n) of d, evaluation mode.
 * The caller frees. */
float *atk_logits(struct nn_model *m, const struct dataset *d, const uint32_t *idx, int n);

/* Replaces *m by a fresh student trained on m's labels over the attacker's
 * data: soft labels softmax(z_t / T) with the loss above if !hard, else the
 * teacher's argmax as one-hot targets (T = 1). Reads student ("same" = m's
 * architecture, or a named model taking m's input shape and classes),
 * epochs, lr, batch and optimizer from p; the student is initialised from
 * env->rng. On error *m is left as it was. */
int atk_student(const char *name, const struct param_set *p, struct nn_model *m,
		const struct atk_env *env, double T, int hard, char *err, size_t errlen);
/* Checks a student parameter: "same" or a known architecture. */
int atk_check_student(const char *name, const char *v, char *err, size_t errlen);

/* The attacker embeds its own mark of the scheme under attack into m, by
 * calling the scheme's keygen and embed on the attacker's data (embed trains
 * m in place from its current weights, so this is fine-tuning). The key is
 * drawn from an RNG seeded from env->rng, never from the owner's key. Reads
 * epochs, lr (0 = the run's) and scheme_params ("same", or "k=v k=v"
 * overriding the owner's scheme parameters) from p. Returns 1 (nothing
 * done) for the clean model or scheme none, 0 when embedded (key and the
 * scheme parameters used, *sp, filled; key is the caller's to npz_free),
 * -1 on error. */
int atk_embed_own(const char *name, const struct param_set *p, struct nn_model *m,
		  const struct atk_env *env, struct npz *key, struct param_set *sp, char *err,
		  size_t errlen);
/* Checks the syntax of a scheme_params value ("same" or "k=v k=v ..."). */
int atk_check_scheme_params(const char *name, const char *v, char *err, size_t errlen);

/* Query-path wrappers: the state a wrapper keeps in outer->ctx. */
struct atk_qctx {
	double a, b;	/* parameters (sigma, lo/hi, ...) */
	int k;		/* integer parameter (bits, decimals) */
	struct rng rng; /* the wrapper's own stream (copied from the job's) */
	float *buf;	/* scratch for transformed inputs */
	size_t buf_n;
};
/* Installs predict as outer's function around inner with a fresh context
 * (a copy of *r); outer->release frees the context. Returns the context. */
struct atk_qctx *atk_wrap_init(struct wm_query *outer, struct wm_query *inner, struct rng *r,
			       int (*predict)(struct wm_query *, const float *, int, float *));
/* A scratch buffer of n floats in the wrapper's context (grown as needed). */
float *atk_wrap_buf(struct atk_qctx *c, size_t n);
/* Floats per query sample of the wrapped model. */
size_t atk_wrap_dim(const struct wm_query *q);

#endif
