/* nn_rop.h - exact double back-propagation by Pearlmutter's R-operator.
 *
 * For a batch x (B, C, H, W) with labels y and a direction u (B, C, H, W),
 * let L(x) = (1/B) sum_b CE(F(x_b), y_b), the engine's mean cross-entropy
 * (nn_loss_xent). The R-operator gives
 *   d/dtheta [ sum_b u_b . grad_{x_b} L(x) ] = d/de grad_theta L(x + e u) |_{e=0}
 * exactly (almost everywhere: ReLU masks and max-pool choices are piecewise
 * constant), at the cost of about one forward and two backward passes:
 * forward-mode differentiation of the forward pass along u (the tangents
 * R{a_i} of every activation), then of the backward pass (R{delta_i}, and
 * R{dW} = R{delta}^T a + delta^T R{a}).
 *
 * The pass runs the model in evaluation mode: dropout is the identity. The
 * second-order term is meant for a regulariser on input gradients (GradSigns),
 * which is read back from the model in evaluation mode too.
 *
 * Usage: nn_rop_prepare() (forward and an ordinary backward, which gives the
 * input gradient without touching m->grads), then any number of
 * nn_rop_apply() with directions u. Both overwrite the model's activation
 * buffers (m->input, m->acts, m->dacts, m->last_b, m->training) but never
 * m->params or m->grads; nothing may run the model between the two calls.
 * A context serves one model architecture at a time and keeps its buffers
 * between calls (it re-sizes itself when the batch grows or the model
 * changes); it has no static state. */
#ifndef WM_NN_ROP_H
#define WM_NN_ROP_H

#include "nn.h"

struct nn_rop {
	int max_b;   /* buffers hold batches of up to max_b */
	int nlayers; /* architecture the buffers were sized for */
	size_t in_n, nparams, col_n;
	int B;			 /* batch of the last prepare (0: none) */
	float *dx;		 /* grad_x L of the last prepare, (B, C, H, W) */
	float *dx_cm;		 /* the same in layer 0's layout */
	float *rx;		 /* R{input} in layer 0's layout */
	float *ra[NN_MAXLAYERS]; /* R{acts[i]} */
	float *rd[NN_MAXLAYERS]; /* R{dacts[i]} */
	float *col, *dcol;	 /* im2col scratch */
	float *dxb;		 /* scratch of the CD_BATCH input gradient */
	/* Convolutions on the direct kernels (conv_direct.h): the padded
	 * input a and tangent R{a} of each such layer, the kernel's scratch,
	 * and zeros (a bias for the tangent, whose bias drops out). */
	float *pad_a[NN_MAXLAYERS], *pad_ra[NN_MAXLAYERS], *kscr[NN_MAXLAYERS];
	unsigned char kscr_kind[NN_MAXLAYERS]; /* the kernel kscr[i] was sized for */
	float *zeros, *dw_tmp;
};

void nn_rop_init(struct nn_rop *r);
void nn_rop_free(struct nn_rop *r);

/* Forward pass of x (B, C, H, W) in evaluation mode and an ordinary backward
 * of the mean cross-entropy against y, into m->dacts and r->dx (the input
 * gradient, (B, C, H, W)); m->grads is left alone. Returns the mean loss. */
double nn_rop_prepare(struct nn_rop *r, struct nn_model *m, const float *x, const int *y, int B);

/* After nn_rop_prepare(): ADDS scale * d/dtheta [sum_b u_b . grad_{x_b} L]
 * into out_grads (nparams, laid out like m->grads), u (B, C, H, W) for the
 * prepared batch. Frozen layers get nothing, as in nn_backward(). */
void nn_rop_apply(struct nn_rop *r, struct nn_model *m, const float *u, double scale,
		  float *out_grads);

/* nn_rop_prepare() then nn_rop_apply(): ADDS
 * scale * d/de grad_theta L(x + e u) at e = 0 into out_grads. */
void nn_rop_param_grad(struct nn_rop *r, struct nn_model *m, const float *x, const int *y, int B,
		       const float *u, double scale, float *out_grads);

/* The mixed finite difference of the same quantity with the ordinary engine
 * (float32, evaluation mode): ADDS
 * scale * [grad_theta L(x + eps u) - grad_theta L(x - eps u)] / (2 eps)
 * into out_grads. Exact only when no ReLU kink or max-pool choice lies
 * between x - eps u and x + eps u. Uses m->grads as scratch and restores it
 * before adding (out_grads may be m->grads); m->want_dinput is restored too. */
void nn_fd_param_grad(struct nn_model *m, const float *x, const int *y, int B, const float *u,
		      double eps, double scale, float *out_grads);

#endif
