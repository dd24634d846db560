/* nn_internal.h - the engine's private interface between its files: the
 * layers' forward and backward passes (nn_layers.c), called by the driver
 * (nn.c). Not for use outside the engine; see nn.h for the public one.
 * Backward passes accumulate into din and the layer's gradients; din may be
 * NULL where only parameter gradients are needed. Given set != 0 they write
 * din instead (a stale buffer, nn.h), with the bits that adding into zeros
 * gives. */
#ifndef WM_NN_INTERNAL_H
#define WM_NN_INTERNAL_H

#include "nn.h"

/* out (OC, B, OH, OW) from in (C, B, H, W): direct kernels or im2col + sgemm */
void nn_conv_forward(struct nn_model *m, const struct nn_layer *l, int B, const float *in,
		     float *out);
void nn_conv_backward(struct nn_model *m, const struct nn_layer *l, int B, const float *in,
		      const float *dout, float *din, int set);
/* The direct kernel (conv_direct.h: CD_PLANE or CD_CHAN) that computes layer
 * l's forward pass and weight gradient in the current nn_conv_mode on this
 * CPU, CD_NONE where im2col and sgemm do (Winograd layers aside). */
int nn_conv_direct_kind(const struct nn_layer *l);
/* 1 if layer l's input gradient can run on the CD_BATCH kernel
 * (conv_direct.h) in the current nn_conv_mode on this CPU. */
int nn_conv_batch_dx(const struct nn_layer *l);
/* out (B, OC) = in (B, C) . W^T + b */
void nn_dense_forward(struct nn_model *m, const struct nn_layer *l, int B, const float *in,
		      float *out);
void nn_dense_backward(struct nn_model *m, const struct nn_layer *l, int B, const float *in,
		       const float *dout, float *din, int set);
/* idx gets each output's argmax position in its input plane */
void nn_maxpool_forward(const struct nn_layer *l, int B, const float *in, float *out, int *idx);
void nn_maxpool_backward(const struct nn_layer *l, int B, const float *dout, const int *idx,
			 float *din, int set);
void nn_relu_forward(const float *in, float *out, size_t n);
/* out is the layer's output (ReLU's gradient is taken from it) */
void nn_relu_backward(float *restrict din, const float *restrict out, const float *restrict dout,
		      size_t n, int set);
/* A ReLU and the 2x2 stride-2 max-pool pl after it, in one pass each way
 * (nn_layers.c); backward only while the ReLU's output gradient is stale.
 * rout NULL: the ReLU's output is not stored (the pool's is the same). */
void nn_relu_pool_forward(const struct nn_layer *pl, int B, const float *in, float *rout,
			  float *out, int *idx);
/* pout: the pool's output (out of the forward) */
void nn_relu_pool_backward(const struct nn_layer *pl, int B, const float *pout, const float *dout,
			   const int *idx, float *din, int set);
/* training with p > 0 only: outside it the layer is the identity (nn.c) */
void nn_dropout_forward(const struct nn_layer *l, struct rng *r, const float *in, float *out,
			uint8_t *mask, size_t n);
void nn_dropout_backward(const struct nn_layer *l, int training, const uint8_t *mask,
			 const float *dout, float *din, size_t n, int set);
/* in_cm: the input is channel-major (C, B, S) */
void nn_flatten_forward(const struct nn_layer *l, int B, int in_cm, const float *in, float *out);
void nn_flatten_backward(const struct nn_layer *l, int B, int in_cm, const float *dout, float *din,
			 int set);
/* (B, C, S) <-> (C, B, S) */
void nn_to_chan_major(const float *x, float *y, int B, int C, size_t S);
void nn_from_chan_major(const float *y, float *x, int B, int C, size_t S);

#endif
