/* train.h - the training loop and evaluation, with the hooks schemes use. */
#ifndef WM_TRAIN_H
#define WM_TRAIN_H

#include "data.h"
#include "nn.h"

/* Hooks a scheme or attack plugs into the training loop. Any may be NULL. */
struct train_hooks {
	void *ctx;
	/* Called on each batch after it is filled: may overwrite rows of x/y or
	 * append rows up to cap (updating *B). x is (cap, C*H*W). */
	void (*mix)(void *ctx, float *x, int *y, int *B, int cap, struct rng *r);
	/* After forward and nn_zero_act_grads(), before the task loss: may add
	 * gradients into nn_dact(m, i), never into m->dacts[i] directly (nn.h).
	 * Returns its extra loss value. */
	double (*pre_backward)(void *ctx, struct nn_model *m, const float *x, const int *y, int B);
	/* After nn_backward(): may add into m->grads. Returns its extra loss. */
	double (*post_backward)(void *ctx, struct nn_model *m, const float *x, const int *y, int B);
	/* Called after each epoch (e.g. to log). */
	void (*epoch_end)(void *ctx, struct nn_model *m, int epoch);
	/* 1: no hook reads or adds to the output of a ReLU fused with a max-pool
	 * (nn_relu_fused) in the training forward, so those need not be stored
	 * (m->relu_out_unread); 0 (the default): they may. */
	int acts_unread;
	/* Optional: a row gradient post_backward hands to the optimiser instead
	 * of adding it into m->grads (struct nn_opt_rows in nn.h). nn_train
	 * clears its pending and sum_ok at the start. */
	struct nn_opt_rows *rows;
};

struct train_cfg {
	int epochs;
	int batch;
	int extra_rows;	     /* room reserved for rows appended by hooks->mix */
	const float *soft;   /* optional soft targets (n_total, nclass), indexed like the dataset */
	double soft_weight;  /* if soft: loss = soft_weight*soft + (1-soft_weight)*hard */
	double label_smooth; /* epsilon for label smoothing (0 = off) */
};

/* When set (NULL by default), nn_train calls it after every training step.
 * For measurement only: make bench's embedding-overhead benchmark
 * (tests/bench_embed.c) switches there between a clean training and an
 * embedding, step by step. Schemes and attacks use train_hooks. */
extern void (*nn_train_step_done)(void);

/* CPU seconds of each phase of nn_train's steps, added up while on is set
 * (make bench's embedding overhead by phase, tests/bench_embed.c): the batch
 * (filling, hooks->mix), the forward pass, pre_backward (with the zeroing
 * of the activations' gradients), the task loss, the backward pass (with the
 * zeroing of the gradients), post_backward and the optimiser's step. */
enum { TP_BATCH, TP_FORWARD, TP_PRE, TP_LOSS, TP_BACKWARD, TP_POST, TP_OPT, TP_N };
struct nn_train_prof {
	int on;
	double t[TP_N];
};
extern struct nn_train_prof nn_train_prof;

/* Trains m on samples idx[0..n) of d for cfg->epochs epochs, shuffling with r.
 * Fails (returns -1 with a message) if the loss becomes NaN or infinite.
 * *last_loss (if not NULL) gets the mean loss of the last epoch. */
int nn_train(struct nn_model *m, const struct dataset *d, const uint32_t *idx, int n,
	     const struct train_cfg *cfg, struct nn_opt *opt, const struct train_hooks *h,
	     struct rng *r, double *last_loss, char *err, size_t errlen);
/* Top-1 accuracy on idx[0..n) of d (all of d if idx == NULL). */
double nn_accuracy(struct nn_model *m, const struct dataset *d, const uint32_t *idx, int n);

#endif
