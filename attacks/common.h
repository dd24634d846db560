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

/* The PGD rows of attacks that craft adversarial examples (advtrain, advextract): the
 * config has double eps, alpha and int steps, per_epoch. */
/* clang-format off */
#define ATK_PARAM_PGD(type)                                                                        \
	{"eps", PT_DOUBLE, "0.1", 0, 1, NULL,                                                      \
	 "L-inf radius of the PGD examples in [0,1] pixel units, > 0 (one value; a grid goes "    \
	 "in the job file)", offsetof(type, eps)},                                                 \
	{"alpha", PT_DOUBLE, "0.01", 0, 1, NULL, "PGD step size in pixel units, > 0",             \
	 offsetof(type, alpha)},                                                                   \
	{"steps", PT_INT, "20", 1, 200, NULL, "PGD steps K", offsetof(type, steps)},              \
	{"per_epoch", PT_INT, "1000", 1, 100000, NULL, "adversarial examples crafted per epoch",  \
	 offsetof(type, per_epoch)}
/* clang-format on */

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
/* The same on samples idx[0..n) of d (true labels), shuffling with r. */
int atk_fit_on(struct nn_model *m, const struct dataset *d, const uint32_t *idx, int n,
	       const struct atk_train *t, const struct train_hooks *h, struct rng *r, char *err,
	       size_t errlen);

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

/* Parameter labels of the extraction attacks: where a student's targets
 * come from (ATTACKS-MORE.md section 3). */
enum atk_labels {
	ATK_LABELS_TRUE,	/* the data set's labels: no query */
	ATK_LABELS_SOURCE,	/* the marked model's softmax */
	ATK_LABELS_SOURCE_HARD, /* its argmax, one-hot */
};
#define ATK_LABELS_ALL "true|source|source_hard"
/* The table row of parameter labels (field labels, char[PARAM_VALLEN]). */
#define ATK_PARAM_LABELS(type, def)                                                                \
	{                                                                                          \
		"labels", PT_STRING, def, 0, 0, ATK_LABELS_ALL,                                    \
		    "the student's targets: true (the data set's labels, no query), source (the "  \
		    "marked model's softmax), source_hard (its argmax)",                           \
		    offsetof(type, labels)                                                         \
	}
/* The table row of parameter data (field data, char[PARAM_VALLEN]). */
#define ATK_PARAM_DATA(type)                                                                       \
	{                                                                                          \
		"data", PT_STRING, "attacker", 0, 0, "attacker|all_images",                        \
		    "images the student learns from: attacker (the threat model) or all_images "   \
		    "(every training image, the SoK's subset all, whatever attacker_data says; "   \
		    "to compare with it only)",                                                    \
		    offsetof(type, data)                                                           \
	}
/* The value of a labels parameter (one of ATK_LABELS_ALL, as the table
 * checked it). */
enum atk_labels atk_labels_of(const char *v);
/* The images of a data parameter: "attacker", the attacker's
 * (env->attacker_idx: the attacker_data fraction of its part), or
 * "all_images", every training image, 0 .. env->train->n - 1, in a new
 * array *own (the caller frees *own, NULL for attacker). Their count goes to
 * *n. */
const uint32_t *atk_data_idx(const struct atk_env *env, const char *data, int *n, uint32_t **own);

/* Targets (n, nclass), rows summing to 1, for samples idx[0..n) of d:
 * ATK_LABELS_TRUE the one-hot of d's labels (no query); ATK_LABELS_SOURCE
 * the marked model's answers at temperature T; ATK_LABELS_SOURCE_HARD the
 * one-hot of their argmax. The marked model answers through api when api is
 * not NULL: its probabilities as the query path gives them (T must be 1;
 * nothing of m is read). Else m answers with its logits, softmax(z / T) (how
 * distill and retrain always labelled, kept bit for bit). Each sample
 * queried adds one to *queries (NULL: not counted). The caller frees. NULL
 * with a message (naming name) when the query path fails or T is not 1
 * with api. */
float *atk_targets(struct nn_model *m, struct wm_query *api, const struct dataset *d,
		   const uint32_t *idx, int n, enum atk_labels labels, double T, long *queries,
		   const char *name, char *err, size_t errlen);

/* What a student learns from: samples idx[0..n) of d with the targets
 * atk_targets gives for labels, T and api. Soft targets of m's logits train
 * with the loss above at T; all others at T = 1 (plain cross-entropy for
 * one-hot targets). */
struct atk_lesson {
	const struct dataset *d;
	const uint32_t *idx;
	int n;
	enum atk_labels labels;
	double T;
	struct wm_query *api; /* NULL: m's logits */
};
/* A fresh student *s for teacher m: student "same" (m's architecture) or a
 * named model taking m's input shape and classes, initialised from r. -1
 * with a message naming name (a model that does not fit). */
int atk_new_student(const char *name, const char *student, const struct nn_model *m, struct rng *r,
		    struct nn_model *s, char *err, size_t errlen);
/* Replaces *m by a fresh student trained on lesson l. student is "same"
 * (m's architecture) or a named model taking m's input shape and classes;
 * it is initialised from env->rng before the targets are drawn, and trained
 * as t says, shuffling with env->rng; the queries go to env->queries. On
 * error *m is left as it was. */
int atk_student(const char *student, const struct atk_train *t, struct nn_model *m,
		const struct atk_env *env, const struct atk_lesson *l, char *err, size_t errlen);

/* The public images of another distribution that the extraction attacks may
 * use (ATK_T_PUBLIC): the MNIST training digits of data_load("mnist"),
 * 7,996 after make deps, with their digit labels, loaded once per process
 * and kept until it exits. Shaped for m's input: the loaded set itself for a
 * 1x28x28 model, else a copy in *own (the caller data_free's it; zeroed
 * otherwise), each digit centred on a black border and repeated over the
 * channels (the cnn's 3x32x32). NULL with a message naming name when they
 * are not installed (data_load's message: the directory, make deps), when
 * m's input is smaller than 28x28, or when job (the job's training set) is
 * MNIST itself: then they are the owner's distribution, not another one. */
const struct dataset *atk_public_images(const char *name, const struct nn_model *m,
					const struct dataset *job, struct dataset *own, char *err,
					size_t errlen);
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
/* The samples atk_embed_own's embedding sends through the passes (an
 * attack's work function): the scheme under attack's (w->scheme, with the
 * overrides ov) for `epochs` over the attacker's w->n samples; 0 for a
 * clean model. */
void atk_embed_own_work(const char *ov, int epochs, const struct wm_work *w, double *fwd,
			double *bwd);
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
/* The image shape C x H x W of a query path's samples, for the wrappers that
 * filter images (jpeg, smooth, flip, squeeze): the model's input shape when
 * the path exposes an image model, else told from q->in_size alone (a path
 * that hides its model): 784 floats are 1x28x28 (Fashion-MNIST, MNIST), 3072
 * are 3x32x32 (CIFAR-10). 0, or -1 with a message naming the attack when the
 * shape cannot be told or disagrees with in_size. */
int atk_wrap_shape(const struct wm_query *q, const char *name, int *c, int *h, int *w, char *err,
		   size_t errlen);

/* Verifies the attacker's own key (made by atk_embed_own) on the attacked
 * model and hands the verdict to the core as the attack's second verdict,
 * named who (piracy's "pirate"). */
int atk_verify_own(const char *name, const char *who, const struct npz *key, struct nn_model *m,
		   const struct atk_env *env, char *err, size_t errlen);

/* ---- adversarial examples (advtrain, advextract) and regularize ---------- */

/* The optimiser an attack's own loop steps: t->optimizer at t->lr, sgd with
 * momentum 0.9 (as atk_fit). -1 with a message naming t->name. */
int atk_opt(const struct atk_train *t, size_t nparams, struct nn_opt *opt, char *err,
	    size_t errlen);

/* L-infinity PGD (Madry et al., arXiv 1706.06083) without random start, in
 * pixel space: x_0 = x, x_{k+1} = clip(x_k + alpha sign(grad_x CE(m(x_k), y))),
 * where clip projects onto [x - eps, x + eps] and [0, 1], for `steps` steps.
 * y (n) are the labels whose loss it ascends; NULL: m's own prediction on the
 * clean x (as WRT, which passes no label). x and x_adv are (n, C*H*W), both
 * in [0, 1]; they must not overlap. m runs in evaluation mode and its
 * parameters, gradients and frozen flags are left as they were. Returns 0,
 * or -1 (nothing written) for n < 0, steps < 0 or a negative or NaN eps or
 * alpha. */
int atk_pgd(struct nn_model *m, const float *x, const int *y, int n, double eps, double alpha,
	    int steps, float *x_adv);

/* Checks PGD's eps and alpha, both in (0, 1] (a table's ranges are closed). */
int atk_check_pgd(const char *name, double eps, double alpha, char *err, size_t errlen);

/* The adversarial-training loop of advtrain and advextract (ATTACKS-MORE.md
 * section 5): each of t.epochs epochs draws per_epoch positions of the
 * attacker's samples (without replacement while they last), crafts PGD
 * examples (eps, alpha, steps; no label: the current model's prediction)
 * against the CURRENT model, labels them, and trains one epoch on the
 * attacker's samples plus these examples, shuffled together. */
struct atk_adv {
	struct atk_train t; /* epochs, lr, batch, optimizer; the attack's name */
	double eps, alpha;
	int steps, per_epoch;
	enum atk_labels labels; /* targets of the crafted examples */
	/* With source labels: the marked model reads the crafted input (1) or
	 * the clean image it came from (0). */
	int on_adv;
	/* The targets q of the attacker's samples are already the marked model's
	 * answers in the mode `labels` (so clean-image labels need no query). */
	int q_is_source;
};
/* Trains m by that loop. q (n_attacker, nclass): the targets of the
 * attacker's samples (rows sum to 1). source: the marked model, which labels
 * the crafted examples with source labels (NULL with true labels); each of
 * its answers adds one to *env->queries. Randomness from env->rng. */
int atk_adv_train(struct nn_model *m, struct nn_model *source, const float *q,
		  const struct atk_env *env, const struct atk_adv *a, char *err, size_t errlen);

/* A fresh student for m: "same" (or "") builds m's architecture, any other
 * name a model of the zoo for m's input shape and classes; initialised from
 * r. -1 with a message naming the attack `name`. */
int atk_fresh_student(const char *name, const char *arch, const struct nn_model *m, struct rng *r,
		      struct nn_model *s, char *err, size_t errlen);

/* The core of regularize (regularize.c): holds out 10 % of the attacker's
 * samples (drawn with env->rng) for validation, trains on the rest for
 * reg_epochs with coupled L2 weight decay l2 on every parameter, then with
 * decay 0 fine-tunes at most max_ft epochs, evaluating the validation loss
 * after each and stopping after `patience` epochs without a lower one; the
 * weights of the best epoch are kept. */
struct atk_reg {
	struct atk_train t; /* lr, batch, optimizer (epochs unused); name */
	double l2;
	int reg_epochs, max_ft, patience;
};
struct atk_reg_out {
	double norm0, norm1, norm2; /* L2 norm of all parameters: before, after phase 1, end */
	int ft_epochs;		    /* fine-tuning epochs run */
	int best_epoch;		    /* the fine-tuning epoch kept (0: none ran) */
	double val_loss;	    /* its validation loss (after phase 1 if none ran) */
};
/* Returns the fine-tuning epochs run (0..max_ft), or -1 with a message;
 * out (may be NULL) gets the record. */
int atk_reg_run(struct nn_model *m, const struct atk_env *env, const struct atk_reg *c,
		struct atk_reg_out *out, char *err, size_t errlen);

#endif
