/* conv_direct.h - direct (im2col-free) kernels for stride-1 convolutions with
 * few input taps, such as lenet5's conv1 (1 channel, 5x5: 25 taps per output).
 *
 * For such layers a GEMM is a poor fit: the im2col matrix is 25 times the
 * input, and OpenBLAS spends more time packing than multiplying (M = 6 output
 * channels, K = 25 taps, or K = B*28*28 for the weight gradient). These kernels
 * read a zero-padded copy of the input instead and keep their accumulators in
 * AVX2 registers. They compute the forward pass and the weight gradient; the
 * input gradient, when asked for, still goes through sgemm and col2im.
 *
 * They run only on CPUs with AVX2 and FMA (checked at run time); elsewhere the
 * engine uses im2col and sgemm. The two paths agree to float rounding, not
 * bit for bit, so a cluster that mixes CPU kinds gives different last bits per
 * kind, as OpenBLAS's per-core kernels already do.
 *
 * Layout of the padded input: (C, max_b, H + 2P, W + 2P) followed by
 * CD_SLACK zero floats. Plane (c, b) stays at the same place whatever the batch
 * size, so its zero border is written once (by cd_alloc_pad) and kept. */
#ifndef WM_CONV_DIRECT_H
#define WM_CONV_DIRECT_H

#include <stddef.h>

#include "nn.h"

#define CD_SLACK 64

/* 1 if this CPU can run the kernels (AVX2 and FMA). */
int cd_cpu_ok(void);
/* 1 if the kernels handle layer l (a conv with stride 1, kernel 3, 5 or 7),
 * ignoring the CPU. */
int cd_layer_ok(const struct nn_layer *l);
/* 1 if layer l is worth running directly: few taps (C*K*K <= 75), rows of
 * at least 16 outputs. */
int cd_layer_pays(const struct nn_layer *l);

/* Zeroed padded-input buffer for batches of up to max_b (free with free()). */
float *cd_alloc_pad(const struct nn_layer *l, int max_b);
/* Floats of scratch that cd_forward and cd_weight_grad need (32-byte aligned
 * buffer, from cd_alloc_scratch). */
float *cd_alloc_scratch(const struct nn_layer *l);
/* Copies in (C, B, H, W) into the padded buffer's interior. */
void cd_pad_input(const struct nn_layer *l, int B, int max_b, const float *in, float *pad);
/* out (OC, B, OH, OW) = bias + W * padded input. */
void cd_forward(const struct nn_layer *l, int B, int max_b, const float *pad, const float *w,
		const float *bias, float *out, float *scratch);
/* dw (OC, C, K, K) += sum over the batch of dout (OC, B, OH, OW) times the
 * padded input (the bias gradient is left to the caller). */
void cd_weight_grad(const struct nn_layer *l, int B, int max_b, const float *pad,
		    const float *dout, float *dw, float *scratch);

#endif
