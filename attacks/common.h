/* common.h - what the attack plug-ins share: parameter checks, fine-tuning on
 * the attacker's data, a student trainer, the attacker's own embedding, and
 * the plumbing of query-path wrappers. Not part of the plug-in interface. */
#ifndef WM_ATK_COMMON_H
#define WM_ATK_COMMON_H

#include "attack.h"
#include "../workers/util.h"

#include <stddef.h>

/* Parameter-table rows shared by the attacks that train; type is the
 * attack's config struct, which has the fields lr (double), batch (int) and
 * optimizer (char[PARAM_VALLEN]). */
#define ATK_PARAM_LR(type, def)                                                                    \
	{                                                                                          \
		"lr", PT_DOUBLE, def, 1e-9, 10, NULL, "learning rate of the attacker's training",  \
		    offsetof(type, lr)                                                             \
	}
#define ATK_PARAM_BATCH(type)                                                                      \
	{                                                                                          \
		"batch", PT_INT, "64", 1, 4096, NULL,                                              \
		    "mini-batch size of the attacker's training", offsetof(type, batch)            \
	}
#define ATK_PARAM_OPTIMIZER(type)                                                                  \
	{                                                                                          \
		"optimizer", PT_STRING, "adam", 0, 0, "adam|sgd|rmsprop",                          \
		    "optimiser of the attacker's training (sgd uses momentum 0.9)",                \
		    offsetof(type, optimizer)                                                      \
	}

/* How an attack trains on the attacker's data. */
struct atk_train {
	const char *name; /* the attack, for messages */
	int epochs, batch;
	double lr;
	char optimizer[16];
	double label_smooth; /* 0 = off */
	int extra_rows;	     /* rows a hook's mix may append to each batch (atk_fit) */
};
/* Copies epochs, lr, batch and optimizer from an attack's config c. */
#define ATK_TRAIN_FROM(t, c)                                                                       \
	do {                                                                                       \
		(t)->epochs = (c)->epochs;                                                         \
		(t)->lr = (c)->lr;                                                                 \
		(t)->batch = (c)->batch;                                                           \
		strlcopy((t)->optimizer, (c)->optimizer, sizeof(t)->optimizer);                    \
	} while (0)
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
 * teacher's argmax as one-hot targets (T = 1). student is "same" (m's
 * architecture) or a named model taking m's input shape and classes; t says
 * how it trains; it is initialised from env->rng. On error *m is left as it
 * was. */
int atk_student(const char *student, const struct atk_train *t, struct nn_model *m,
		const struct atk_env *env, double T, int hard, char *err, size_t errlen);
/* Checks a student parameter: "same" or a known architecture. */
int atk_check_student(const char *name, const char *v, char *err, size_t errlen);

/* The attacker embeds its own mark of the scheme under attack into m, by
 * calling the scheme's keygen and embed on the attacker's data (embed trains
 * m in place from its current weights, so this is fine-tuning). The key is
 * drawn from an RNG seeded from env->rng, never from the owner's key. The
 * attacker trains for epochs with lr (0 = the run's); scheme_params is
 * "same" or "k=v k=v" overriding the owner's scheme parameters. Returns 1 (nothing
 * done) for the clean model or scheme none, 0 when embedded (key and the
 * scheme parameters used, *sp, filled; key is the caller's to npz_free),
 * -1 on error. */
int atk_embed_own(const char *name, const char *scheme_params, int epochs, double lr,
		  struct nn_model *m, const struct atk_env *env, struct npz *key,
		  struct param_set *sp, char *err, size_t errlen);
/* Checks the syntax of a scheme_params value ("same" or "k=v k=v ..."). */
int atk_check_scheme_params(const char *name, const char *v, char *err, size_t errlen);

/* Query-path wrappers: the state a wrapper keeps in outer->ctx. */
struct atk_qctx {
	double a, b;	/* parameters (sigma, lo/hi, ...) */
	int k;		/* integer parameter (bits, decimals) */
	struct rng rng; /* the wrapper's own stream (copied from the job's) */
	float *buf;	/* scratch for transformed inputs */
	size_t buf_n;
	/* A wrapper's own state (a trained autoencoder, ensemble members),
	 * freed by free_state when the path is released. */
	void *state;
	void (*free_state)(void *state);
};
/* Installs predict as outer's function around inner with a fresh context
 * (a copy of *r); outer->release frees the context. Returns the context. */
struct atk_qctx *atk_wrap_init(struct wm_query *outer, struct wm_query *inner, struct rng *r,
			       int (*predict)(struct wm_query *, const float *, int, float *));
/* A scratch buffer of n floats in the wrapper's context (grown as needed). */
float *atk_wrap_buf(struct atk_qctx *c, size_t n);
/* Floats per query sample of the wrapped model. */
size_t atk_wrap_dim(const struct wm_query *q);

/* Verifies the attacker's own key (made by atk_embed_own) on the attacked
 * model and hands the verdict to the core as the attack's second verdict,
 * named who (piracy's "pirate"). */
int atk_verify_own(const char *name, const char *who, const struct npz *key, struct nn_model *m,
		   const struct atk_env *env, char *err, size_t errlen);

#endif
