/* ftvariants.h - the pieces of the fine-tuning variants labelnoise, occlude
 * and featreg (ATTACKS-MORE.md section 5) that their tests check on their
 * own (tests/test_ftvariants.c). Not part of the plug-in interface. */
#ifndef WM_ATK_FTVARIANTS_H
#define WM_ATK_FTVARIANTS_H

#include "../workers/nn.h"

#include <stdint.h>

/* labelnoise's targets of a batch: row b of q (B, C) is
 * (1 - eps) onehot(y[b]) + eps onehot(pi[y[b]]), pi a permutation of the C
 * classes (1 on y[b] where pi fixes it). */
void atk_labelnoise_targets(const int *y, int B, int C, const uint32_t *pi, double eps, float *q);
/* Turns the cross-entropy on the hard labels y that the training loop adds
 * next into the cross-entropy on labelnoise's targets: after m's forward
 * (batch m->last_b) and nn_zero_act_grads, adds (onehot(y) - q) / B to the
 * logit gradient, q the targets above (written to q, (B, C)), and returns
 * CE(q) - CE(onehot(y)), the mean over the batch. With eps = 0 it adds
 * exact zeros. */
double atk_labelnoise_correct(struct nn_model *m, const int *y, const uint32_t *pi, double eps,
			      float *q);

/* An occluding rectangle of an h x w image: its top-left corner and the
 * drawn size, before clipping at the image's border. */
struct atk_rect {
	int top, left, height, width;
};
/* occlude's rectangle: height uniform over the integers in [1, 2 ratio h)
 * (at least 1), width likewise over [1, 2 ratio w), the corner uniform over
 * the image; draws from r. */
void atk_occlude_rect(struct rng *r, int h, int w, double ratio, struct atk_rect *rc);
/* Occludes the B images of x (B, c*h*w, values in [0, 1]) in place: one
 * rectangle and one noise patch for the whole batch (per_sample 0), or one
 * of each per image (per_sample 1). The rectangle, clipped at the border,
 * is filled in every channel with uniform noise in [0, 1) from r; pixels
 * outside it are left as they were. */
void atk_occlude_batch(float *x, int B, int c, int h, int w, double ratio, int per_sample,
		       struct rng *r);

/* featreg's penalty on the last forward of m (batch m->last_b, labels y):
 * for every hidden layer (the post-activation output of each layer with
 * parameters but the last: the ReLU right after it, else the layer's own
 * output), S times the mean of that layer's activations over the batch and
 * its units, S = sum_b d[y[b]]. Adds its gradient, S / (B * units), to every
 * element of the layer's nn_dact() (call after nn_zero_act_grads) and
 * returns its value. */
double atk_featreg_penalty(struct nn_model *m, const int *y, const double *d);

#endif
