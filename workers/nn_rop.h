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
	/* The shared-direction passes: the input gradient summed over the
	 * rows, one row of the first parametrised layer's output gradient or
	 * tangent, and the dense weight terms' stacked operands. */
	float *dxsum, *dsum, *ro1, *cat_d, *cat_a;
	float *xg; /* rows gathered from a batch */
	/* Layers below this one hold rows gathered from an earlier pass
	 * (nn_rop_prepare_rows): the model's padded copies of their inputs
	 * (m->cpad) are not of these rows. */
	int gathered;
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

/* The same quantities for the case GradSigns needs, at less cost: every
 * row has the same direction u1 (C, H, W), and the input gradient is needed
 * only summed over the rows. nn_rop_prepare_sum() leaves
 * r->dxsum = sum_b grad_{x_b} L (C, H, W) and not r->dx;
 * nn_rop_apply_shared() adds what nn_rop_apply() adds for u_b = u1 on every
 * row. Below the first layer with parameters (layer f) the model is linear
 * in its input when layers 0..f-1 are flatten or dropout (mlp, after
 * flatten) or absent (lenet5, cnn: a convolution first). Then layer f's
 * input gradient is taken once, of the output gradient summed over the rows,
 * the tangents up to layer f are computed for one row and copied to the
 * others, and f's second weight term, sum_b d_b^T R{a_b}, is
 * (sum_b d_b)^T R{a}, one row instead of B. Other models take the per-row
 * passes. The results equal the per-row ones up to float rounding (the sums
 * run in another order). */
double nn_rop_prepare_sum(struct nn_rop *r, struct nn_model *m, const float *x, const int *y,
			  int B);
void nn_rop_apply_shared(struct nn_rop *r, struct nn_model *m, const float *u1, double scale,
			 float *out_grads);

/* nn_rop_prepare_sum() for the rows rows[0..Bc) (increasing) of the batch
 * x (B rows) that the model's last forward pass ran on (in training mode,
 * as a training step's hook sees it), with labels yc. The layers' outputs
 * of those rows (and max-pool choices) are taken from that pass instead of
 * computed again, up to the first dropout, whose training output differs
 * from the evaluation one: on mlp the flatten, fc1 and its ReLU, on lenet5
 * the whole pass. A ReLU fused with its max-pool, whose output a training
 * step may skip, is never read: the passes use the pool's output. The rest
 * of the forward pass runs in evaluation mode (nn_forward_from). Where
 * nothing can be reused the rows of x are run from the start. */
double nn_rop_prepare_rows(struct nn_rop *r, struct nn_model *m, const float *x, int B,
			   const int *rows, int Bc, const int *yc);

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
