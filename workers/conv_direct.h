/* conv_direct.h - direct (im2col-free) kernels for stride-1 convolutions such
 * as lenet5's conv1 (1 channel, 5x5: 25 taps per output) and conv2.
 *
 * For such layers a GEMM is a poor fit: the im2col matrix is 25 times the
 * input, and OpenBLAS spends more time packing than multiplying (M = 6 output
 * channels, K = 25 taps, or K = B*28*28 for the weight gradient); lenet5's
 * conv2 (16 channels, rows of 10) is not much better off. These kernels read a
 * zero-padded copy of the input instead and keep their accumulators in AVX2
 * registers. They compute the forward pass and the weight gradient; the
 * input gradient is the forward pass of a transposed layer (the output
 * gradient padded by K - 1 - P, the weights flipped, OC and C swapped: see
 * nn_layers.c), run by these kernels where cd_choose picks one for that
 * layer, by the CD_BATCH kernel below (samples in the lanes)
 * for layers of at most 16 output channels (lenet5's), and by sgemm and
 * col2im elsewhere (nn_conv_batch_dx in nn_layers.c says where). cnn's 3x3
 * layers of 16 or more channels run by Winograd instead (conv_wino.h), except
 * in NN_CONV_DIRECT mode.
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

/* The kernels: CD_PLANE runs eight neighbouring outputs of one channel per
 * vector (for few input taps and long rows, like lenet5's conv1); CD_CHAN
 * runs sixteen output channels per pair of vectors (for output channels in
 * multiples of 8, like lenet5's conv2). */
enum { CD_NONE, CD_PLANE, CD_CHAN, CD_BATCH, CD_WINO /* conv_wino.h */ };
/* Above this many taps (C*K*K) sgemm is as fast as CD_CHAN. Measured per
 * layer (forward + backward, batch 64, one thread): cnn's conv2 (288 taps)
 * 77 ms with sgemm, 68 ms direct; conv3 (288) 28 ms and 30 ms; conv4 (576)
 * 56 ms and 59 ms. */
#define CD_CHAN_MAX_TAPS 300

/* Which kernel layer l should use: CD_NONE unless it is a conv with stride 1
 * and a 3, 5 or 7 kernel. Without force, only where the kernel beats im2col
 * and sgemm (measured: see README, Benchmarks); with force, wherever one
 * applies (the tests use this to compare the paths). */
int cd_choose(const struct nn_layer *l, int force);

/* Zeroed padded-input buffer for batches of up to max_b (free with free()). */
float *cd_alloc_pad(const struct nn_layer *l, int max_b);
/* Scratch for cd_forward and cd_weight_grad with kernel kind (32-byte
 * aligned; free with free()). */
float *cd_alloc_scratch(const struct nn_layer *l, int kind);
/* Copies in (C, B, H, W) into the padded buffer's interior. */
void cd_pad_input(const struct nn_layer *l, int B, int max_b, const float *in, float *pad);
/* out (OC, B, OH, OW) = bias + W * padded input. */
void cd_forward(const struct nn_layer *l, int kind, int B, int max_b, const float *pad,
		const float *w, const float *bias, float *out, float *scratch);
/* dw (OC, C, K, K) += sum over the batch of dout (OC, B, OH, OW) times the
 * padded input. With db, also db (OC) += the bias gradient, the sum of each
 * channel's dout, as nn_layers.c's sum_f adds it up; only where
 * cd_weight_grad_sums_bias(l, kind) (otherwise db must be NULL and the bias
 * gradient is left to the caller). */
void cd_weight_grad(const struct nn_layer *l, int kind, int B, int max_b, const float *pad,
		    const float *dout, float *dw, float *db, float *scratch);
/* Whether cd_weight_grad with kernel kind can add layer l's bias gradient
 * (CD_PLANE, and output planes of a multiple of 8 floats). */
int cd_weight_grad_sums_bias(const struct nn_layer *l, int kind);

/* A block's eight float lanes, added in double in lane order (the bias
 * gradient's sums: nn_layers.c's sum_f and cd_weight_grad) */
static inline double cd_lanes_total(const float a[8])
{
	return (double)a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
}

/* CD_BATCH: a stride-1 convolution's input gradient with 16 samples in the
 * lanes of two vectors (lenet5's conv2, whose input gradient by sgemm has
 * K = 16 and is bound by writing and re-reading its columns). The output
 * gradient is copied to (OC, OH, OW, 16) per block of 16 samples; each input
 * position of up to 6 channels then sums only its valid taps, over oc, ki, kj
 * in that order, so a sample's gradient does not depend on the batch it came
 * in. cd_batch_ok says whether layer l can use it; cd_batch_floats is the
 * scratch it needs (floats, independent of the batch size). */
int cd_batch_ok(const struct nn_layer *l);
size_t cd_batch_floats(const struct nn_layer *l);
/* din (C, B, H, W) += the input gradient of dout (OC, B, OH, OW) through the
 * weights w (OC, C, K, K); scratch is 32-byte aligned (cd_alloc_floats). */
void cd_input_grad_batch(const struct nn_layer *l, int B, const float *w, const float *dout,
			 float *din, float *scratch);
/* n zeroed floats, 32-byte aligned (free with free()). */
float *cd_alloc_floats(size_t n);

#endif
