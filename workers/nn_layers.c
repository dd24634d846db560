/* nn_layers.c - the layers' forward and backward passes: convolution
 * (im2col + sgemm, or the direct kernels of conv_direct.h), dense, max-pool,
 * ReLU, dropout, flatten, and the (B, C, ...) <-> (C, B, ...) transposes.
 * Backward passes accumulate (+=); see nn.h for the layouts. */
#include "nn.h"
#include "conv_direct.h"
#include "conv_wino.h"
#include "nn_internal.h"
#include "util.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

/* The elementwise layers are built for AVX2 as well: exact operations, so
 * both builds give the same bits. GCC only: clang 14 (the fuzzing build)
 * emits the clones of an external function without the symbol that picks
 * one. */
#if defined(__GNUC__) && !defined(__clang__)
#define EW_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define EW_CLONES
#endif

/* AVX2 and FMA: the direct convolution kernels and the vector max-pool */
static int use_direct_cpu(void)
{
	static int cpu = -1;
	if (cpu < 0)
		cpu = cd_cpu_ok();
	return cpu;
}

/* Sum of n floats: eight float lanes (vectorised) per block of 1024, blocks
 * added in double, so long sums keep their precision. The blocks' lane sums
 * are independent chains, so four blocks run side by side (the bias
 * gradient of lenet5's conv1 sums 50,176 floats per channel, and one chain
 * of vector adds waited on its latency); each block's sum and the order of
 * the double additions are those of one block at a time. */
static inline void block_sum(const float *d, size_t n, float a[8])
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++)
			a[k] += d[i + k];
	for (; i < n; i++)
		a[0] += d[i];
}

EW_CLONES static float sum_f(const float *d, size_t n)
{
	double s = 0;
	size_t i0 = 0;
	for (; i0 + 4 * 1024 <= n; i0 += 4 * 1024) {
		float a[4][8] = {{0}};
		for (size_t i = 0; i < 1024; i += 8)
			for (int j = 0; j < 4; j++)
				for (int k = 0; k < 8; k++)
					a[j][k] += d[i0 + j * 1024 + i + k];
		for (int j = 0; j < 4; j++)
			s += cd_lanes_total(a[j]);
	}
	for (; i0 < n; i0 += 1024) {
		size_t e = i0 + 1024 < n ? i0 + 1024 : n;
		float a[8] = {0};
		block_sum(d + i0, e - i0, a);
		s += cd_lanes_total(a);
	}
	return (float)s;
}

/* 0.0f that the compiler cannot see: GCC folds 0.0f + (c ? g : 0.0f) into
 * c ? g + 0.0f : 0.0f, and then (with -ftrapping-math) neither vectorises
 * nor if-converts the conditional add. */
static inline float opaque_zero(void)
{
	float z = 0.0f;
	__asm__("" : "+m"(z));
	return z;
}

/* v if c, else +0.0f, without a branch (a ReLU's mask is a coin flip that
 * the branch GCC writes for c ? v : 0.0f mispredicts) */
static inline float keep_if(float v, int c)
{
	uint32_t u;
	memcpy(&u, &v, sizeof u);
	u &= -(uint32_t)(c != 0);
	memcpy(&v, &u, sizeof v);
	return v;
}

/* A backward pass given set = 1 writes din (a stale buffer, nn.h) as 0.0f +
 * its gradient: the bits that adding into a zeroed buffer gave, -0.0f
 * included (0.0f + -0.0f is +0.0f). */
EW_CLONES __attribute__((noinline)) void nn_relu_backward(float *restrict din,
							  const float *restrict out,
							  const float *restrict dout, size_t n,
							  int set)
{
	/* both loads unconditional, so the compiler can vectorise the select */
	if (set) {
		float zero = opaque_zero();
		for (size_t k = 0; k < n; k++) {
			float g = dout[k];
			din[k] = zero + (out[k] > 0 ? g : 0.0f);
		}
	} else
		for (size_t k = 0; k < n; k++) {
			float g = dout[k];
			din[k] += out[k] > 0 ? g : 0.0f;
		}
}

EW_CLONES void nn_relu_forward(const float *in, float *out, size_t n)
{
	for (size_t k = 0; k < n; k++)
		out[k] = in[k] > 0 ? in[k] : 0;
}

/* Inverted dropout in training (p > 0): each output is kept with
 * probability 1 - p (mask drawn from r) and scaled by 1 / (1 - p). Outside
 * training the layer is the identity and nn_forward passes its input on. */
void nn_dropout_forward(const struct nn_layer *l, struct rng *r, const float *in, float *out,
			uint8_t *mask, size_t n)
{
	float keep = 1.0f - l->p, sc = 1.0f / keep;
	/* two 32-bit uniforms per 64-bit draw */
	uint32_t thr =
	    (uint32_t)(keep * 4294967296.0 > 4294967295.0 ? 4294967295.0 : keep * 4294967296.0);
	for (size_t k = 0; k < n; k += 2) {
		uint64_t u = rng_u64(r);
		mask[k] = (uint32_t)u < thr;
		out[k] = mask[k] ? in[k] * sc : 0;
		if (k + 1 < n) {
			mask[k + 1] = (uint32_t)(u >> 32) < thr;
			out[k + 1] = mask[k + 1] ? in[k + 1] * sc : 0;
		}
	}
}

void nn_dropout_backward(const struct nn_layer *l, int training, const uint8_t *mask,
			 const float *dout, float *din, size_t n, int set)
{
	if (set)
		memset(din, 0, n * sizeof(float));
	if (training && l->p > 0) {
		float sc = 1.0f / (1.0f - l->p);
		for (size_t k = 0; k < n; k++)
			if (mask[k])
				din[k] += dout[k] * sc;
	} else {
		for (size_t k = 0; k < n; k++)
			din[k] += dout[k];
	}
}

/* The row loops of im2col and col2im copy or add a few floats each (10 for
 * lenet5's conv2); GCC would turn them into memcpy calls, which cost more
 * than the copy. */
#define NO_MEMCPY_CALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))

/* The outputs ow in [lo, hi) whose tap kj falls inside the input row
 * (iw = ow * stride - pad + kj in [0, W)). */
static void inside_row(const struct nn_layer *l, int kj, int *lo, int *hi)
{
	int S = l->stride, P = l->pad, W = l->in_w;
	*lo = 0;
	*hi = l->out_w;
	while (*lo < l->out_w && *lo * S - P + kj < 0)
		(*lo)++;
	while (*hi > *lo && (*hi - 1) * S - P + kj >= W)
		(*hi)--;
}

/* Stride 1: in (C, B, H, W) -> col (C*K*K, B*OH*OW) */
NO_MEMCPY_CALLS static void im2col_s1(const struct nn_layer *l, int B, const float *in, float *col)
{
	int K = l->k, P = l->pad, H = l->in_h, W = l->in_w, OH = l->out_h, OW = l->out_w;
	int Wp = W + 2 * P;
	size_t np = (size_t)B * OH * OW;
	/* with padding, each plane is first copied into a zero-bordered one */
	float *pad = P ? xcalloc((size_t)(H + 2 * P) * Wp, sizeof(float)) : NULL;
	for (int c = 0; c < l->in_c; c++)
		for (int b = 0; b < B; b++) {
			const float *src = in + ((size_t)c * B + b) * H * W;
			int ws = W;
			if (P) {
				for (int h = 0; h < H; h++)
					for (int w = 0; w < W; w++)
						pad[(h + P) * Wp + P + w] = src[h * W + w];
				src = pad;
				ws = Wp;
			}
			for (int ki = 0; ki < K; ki++)
				for (int kj = 0; kj < K; kj++) {
					float *restrict dst = col +
							      ((size_t)(c * K + ki) * K + kj) * np +
							      (size_t)b * OH * OW;
					for (int oh = 0; oh < OH; oh++) {
						const float *restrict r = src + (oh + ki) * ws + kj;
						for (int ow = 0; ow < OW; ow++)
							dst[oh * OW + ow] = r[ow];
					}
				}
		}
	free(pad);
}

/* in (C, B, H, W) -> col (C*K*K, B*OH*OW) */
NO_MEMCPY_CALLS void nn_im2col(const struct nn_layer *l, int B, const float *in, float *col)
{
	int K = l->k, S = l->stride, P = l->pad, H = l->in_h, W = l->in_w;
	int OH = l->out_h, OW = l->out_w;
	size_t np = (size_t)B * OH * OW;
	if (S == 1) {
		im2col_s1(l, B, in, col);
		return;
	}
	for (int c = 0; c < l->in_c; c++)
		for (int b = 0; b < B; b++) {
			const float *plane = in + ((size_t)c * B + b) * H * W;
			for (int ki = 0; ki < K; ki++)
				for (int kj = 0; kj < K; kj++) {
					float *restrict dst = col +
							      ((size_t)(c * K + ki) * K + kj) * np +
							      (size_t)b * OH * OW;
					int lo, hi;
					inside_row(l, kj, &lo, &hi);
					for (int oh = 0; oh < OH; oh++, dst += OW) {
						int ih = oh * S - P + ki;
						if (ih < 0 || ih >= H) {
							for (int ow = 0; ow < OW; ow++)
								dst[ow] = 0;
							continue;
						}
						const float *restrict src = plane + (size_t)ih * W;
						for (int ow = 0; ow < lo; ow++)
							dst[ow] = 0;
						for (int ow = lo; ow < hi; ow++)
							dst[ow] = src[ow * S - P + kj];
						for (int ow = hi; ow < OW; ow++)
							dst[ow] = 0;
					}
				}
		}
}

/* col (C*K*K, nb*OH*OW), row stride np, accumulated into samples b0 to
 * b0 + nb - 1 of din (C, B, H, W) */
NO_MEMCPY_CALLS static void col2im_s1(const struct nn_layer *l, int B, int b0, int nb,
				      const float *col, size_t np, float *din)
{
	int K = l->k, P = l->pad, H = l->in_h, W = l->in_w, OH = l->out_h, OW = l->out_w;
	int Wp = W + 2 * P;
	/* with padding, each plane is summed in a bordered one, then its interior added */
	float *pad = P ? xmalloc((size_t)(H + 2 * P) * Wp * sizeof(float)) : NULL;
	for (int c = 0; c < l->in_c; c++)
		for (int b = 0; b < nb; b++) {
			float *plane = din + ((size_t)c * B + b0 + b) * H * W, *dst = plane;
			int ws = W;
			if (P) {
				memset(pad, 0, (size_t)(H + 2 * P) * Wp * sizeof(float));
				dst = pad;
				ws = Wp;
			}
			for (int ki = 0; ki < K; ki++)
				for (int kj = 0; kj < K; kj++) {
					const float *restrict src =
					    col + ((size_t)(c * K + ki) * K + kj) * np +
					    (size_t)b * OH * OW;
					for (int oh = 0; oh < OH; oh++) {
						float *restrict d = dst + (oh + ki) * ws + kj;
						for (int ow = 0; ow < OW; ow++)
							d[ow] += src[oh * OW + ow];
					}
				}
			if (P)
				for (int h = 0; h < H; h++)
					for (int w = 0; w < W; w++)
						plane[h * W + w] += pad[(h + P) * Wp + P + w];
		}
	free(pad);
}

NO_MEMCPY_CALLS static void col2im_part(const struct nn_layer *l, int B, int b0, int nb,
					const float *col, size_t np, float *din)
{
	int K = l->k, S = l->stride, P = l->pad, H = l->in_h, W = l->in_w;
	int OH = l->out_h, OW = l->out_w;
	if (S == 1) {
		col2im_s1(l, B, b0, nb, col, np, din);
		return;
	}
	for (int c = 0; c < l->in_c; c++)
		for (int b = 0; b < nb; b++) {
			float *plane = din + ((size_t)c * B + b0 + b) * H * W;
			for (int ki = 0; ki < K; ki++)
				for (int kj = 0; kj < K; kj++) {
					const float *restrict src =
					    col + ((size_t)(c * K + ki) * K + kj) * np +
					    (size_t)b * OH * OW;
					int lo, hi;
					inside_row(l, kj, &lo, &hi);
					for (int oh = 0; oh < OH; oh++, src += OW) {
						int ih = oh * S - P + ki;
						if (ih < 0 || ih >= H)
							continue;
						float *restrict dst = plane + (size_t)ih * W;
						for (int ow = lo; ow < hi; ow++)
							dst[ow * S - P + kj] += src[ow];
					}
				}
		}
}

void nn_col2im(const struct nn_layer *l, int B, const float *col, float *din)
{
	col2im_part(l, B, 0, B, col, (size_t)B * l->out_h * l->out_w, din);
}

enum nn_conv_mode nn_conv_mode = NN_CONV_AUTO;
int nn_conv_dx_floats = NN_CONV_DX_FLOATS;
size_t nn_conv_dx_block_above = NN_CONV_DX_BLOCK_ABOVE;

/* din += the input gradient of dout through layer l: sgemm into columns,
 * then col2im. For large batches a few samples at a time, so that the
 * columns (C*K*K floats per output position: 75 MB for a batch of 64
 * through cnn's conv2) stay in cache between the two. */
static void conv_input_grad(struct nn_model *m, const struct nn_layer *l, int B, const float *w,
			    const float *dout, float *din)
{
	int ckk = l->in_c * l->k * l->k, S = l->out_h * l->out_w, nb = B;
	size_t np = (size_t)B * S;
	if (nn_conv_dx_floats > 0 && (size_t)ckk * np > nn_conv_dx_block_above) {
		nb = (int)(nn_conv_dx_floats / ((size_t)ckk * S));
		nb = nb < 1 ? 1 : nb > B ? B : nb;
	}
	for (int b0 = 0; b0 < B; b0 += nb) {
		int n = B - b0 < nb ? B - b0 : nb;
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ckk, n * S, l->out_c, 1.0f, w,
			    ckk, dout + (size_t)b0 * S, (int)np, 0.0f, m->dcol, n * S);
		col2im_part(l, B, b0, n, m->dcol, (size_t)n * S, din);
	}
}

/* CD_NONE (im2col + sgemm) or the direct kernel to run layer l with */
static int use_direct(const struct nn_layer *l)
{
	if (nn_conv_mode == NN_CONV_GEMM || !use_direct_cpu())
		return CD_NONE;
	return cd_choose(l, nn_conv_mode == NN_CONV_DIRECT || nn_conv_mode == NN_CONV_BATCH);
}

int nn_conv_direct_kind(const struct nn_layer *l)
{
	return use_direct(l);
}

/* 1 if layer l's input gradient runs on the CD_BATCH kernel: where the CPU
 * has it, the layer can use it and sgemm's K (the layer's output channels)
 * is at most 16, so that sgemm and col2im are bound by writing and re-reading
 * the columns (also in WINO mode); in DIRECT and BATCH modes wherever it applies. nn_conv_backward
 * tries the transposed layer's direct kernel first. Measured (`bench_train 15
 * 1 dx`: the backward pass that takes the input gradient of one layer, batch
 * 64, one thread, three runs): lenet5's conv2 (K = 16) 1.9 ms by sgemm, 0.8-0.9
 * ms here; its conv1 (K = 6) 2.4-2.6 and 1.4 ms. cnn's conv3 and conv4 (K = 64)
 * came out 0.81x to 1.16x of sgemm's time, a tie within this machine's noise,
 * and its conv1 (3 input channels, K = 32) 0.65x to 0.71x: those keep sgemm. */
int nn_conv_batch_dx(const struct nn_layer *l)
{
	if (nn_conv_mode == NN_CONV_GEMM || !cd_batch_ok(l) || !use_direct_cpu())
		return 0;
	return nn_conv_mode == NN_CONV_DIRECT || nn_conv_mode == NN_CONV_BATCH || l->out_c <= 16;
}

/* 1 if layer l runs on the Winograd kernels (conv_wino.h): in AUTO mode
 * where it can and has at least CW_MIN_C input and output channels (cnn's
 * conv2, conv3 and conv4), in WINO mode wherever it can, never in the other
 * modes. Measured (batch 64, one thread, `make bench`): the input gradients
 * alone of cnn's conv2, conv3 and conv4 1.57x, 1.64x and 1.64-1.70x faster
 * than sgemm and col2im; cnn's conv1 (3 input channels: each sgemm has K = 3)
 * took 17.2 ms for its forward and backward by Winograd against 10.4 ms on
 * the direct plane kernel (with sgemm for its input gradient). */
#define CW_MIN_C 16
static int use_wino(const struct nn_layer *l)
{
	if (!cw_ok(l))
		return 0;
	if (nn_conv_mode == NN_CONV_WINO)
		return 1;
	return nn_conv_mode == NN_CONV_AUTO && l->in_c >= CW_MIN_C && l->out_c >= CW_MIN_C;
}

/* The scratch in *slot for kernel kind on layer l (the layer it runs: the
 * transposed one for an input gradient), allocated on first use and again
 * when the slot last held another kind's; *held records the kind. */
static float *kernel_scratch(float **slot, unsigned char *held, int kind, const struct nn_layer *l)
{
	if (*slot && *held != kind) {
		free(*slot);
		*slot = NULL;
	}
	if (!*slot)
		*slot = kind == CD_WINO	   ? cd_alloc_floats(cw_scratch_floats(l))
			: kind == CD_BATCH ? cd_alloc_floats(cd_batch_floats(l))
					   : cd_alloc_scratch(l, kind);
	*held = (unsigned char)kind;
	return *slot;
}

/* The layer whose forward pass is layer l's input gradient: a stride-1
 * convolution of the output gradient, padded by K - 1 - P, with the weights
 * transposed (OC <-> C) and flipped; its output has din's shape. -1 where
 * there is none (stride above 1, or a pad of K or more). */
static int transposed_layer(const struct nn_layer *l, struct nn_layer *t)
{
	if (l->kind != NN_CONV || l->stride != 1 || l->pad > l->k - 1)
		return -1;
	memset(t, 0, sizeof *t);
	t->kind = NN_CONV;
	t->k = l->k;
	t->stride = 1;
	t->pad = l->k - 1 - l->pad;
	t->in_c = l->out_c;
	t->in_h = l->out_h;
	t->in_w = l->out_w;
	t->out_c = l->in_c;
	t->out_h = l->in_h;
	t->out_w = l->in_w;
	return 0;
}

/* din += layer l's input gradient by the direct kernel `kind` run on the
 * transposed layer t; the output goes through m->dcol (at least C*H*W*B
 * floats: see nn_reserve), then is added. */
static void conv_input_grad_direct(struct nn_model *m, const struct nn_layer *l,
				   const struct nn_layer *t, int kind, int B, const float *w,
				   const float *dout, float *din)
{
	int i = (int)(l - m->layers), C = l->in_c, OC = l->out_c, KK = l->k * l->k;
	if (!m->dxpad[i])
		m->dxpad[i] = cd_alloc_pad(t, m->max_b);
	float *scratch = kernel_scratch(&m->dxscratch[i], &m->dx_direct[i], kind, t);
	/* wt (C, OC, K, K): wt[c][oc] is w[oc][c] turned by 180 degrees; then C zero biases */
	float *wt = xcalloc((size_t)C * OC * KK + C, sizeof(float));
	for (int oc = 0; oc < OC; oc++)
		for (int c = 0; c < C; c++)
			for (int q = 0; q < KK; q++)
				wt[((size_t)c * OC + oc) * KK + (KK - 1 - q)] =
				    w[((size_t)oc * C + c) * KK + q];
	cd_pad_input(t, B, m->max_b, dout, m->dxpad[i]);
	cd_forward(t, kind, B, m->max_b, m->dxpad[i], wt, wt + (size_t)C * OC * KK, m->dcol,
		   scratch);
	size_t n = (size_t)C * B * l->in_h * l->in_w;
	for (size_t k = 0; k < n; k++)
		din[k] += m->dcol[k];
	free(wt);
}

/* out (OC, B, OH, OW) = W (OC, C*K*K) . col + bias */
void nn_conv_forward(struct nn_model *m, const struct nn_layer *l, int B, const float *in,
		     float *out)
{
	int i = (int)(l - m->layers), ckk = l->in_c * l->k * l->k;
	size_t np = (size_t)B * l->out_h * l->out_w;
	const float *w = m->params + l->w_off, *bias = m->params + l->b_off;
	if (use_wino(l)) {
		cw_forward(l, B, in, w, bias, out,
			   kernel_scratch(&m->cscratch[i], &m->conv_direct[i], CD_WINO, l));
		return;
	}
	int kind = use_direct(l);
	if (kind) {
		if (!m->cpad[i])
			m->cpad[i] = cd_alloc_pad(l, m->max_b);
		float *scratch = kernel_scratch(&m->cscratch[i], &m->conv_direct[i], kind, l);
		cd_pad_input(l, B, m->max_b, in, m->cpad[i]);
		cd_forward(l, kind, B, m->max_b, m->cpad[i], w, bias, out, scratch);
		return;
	}
	m->conv_direct[i] = CD_NONE;
	if (!m->cols[i])
		m->cols[i] = xmalloc((size_t)ckk * l->out_h * l->out_w * m->max_b * sizeof(float));
	float *col = m->cols[i];
	nn_im2col(l, B, in, col);
	for (int oc = 0; oc < l->out_c; oc++) {
		float *o = out + (size_t)oc * np, bv = bias[oc];
		for (size_t k = 0; k < np; k++)
			o[k] = bv;
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l->out_c, (int)np, ckk, 1.0f, w, ckk,
		    col, (int)np, 1.0f, out, (int)np);
}

void nn_conv_backward(struct nn_model *m, const struct nn_layer *l, int B, const float *in,
		      const float *dout, float *din, int set)
{
	if (din && set) /* every input-gradient path adds */
		memset(din, 0, (size_t)l->in_c * l->in_h * l->in_w * B * sizeof(float));
	int i = (int)(l - m->layers), ckk = l->in_c * l->k * l->k;
	size_t np = (size_t)B * l->out_h * l->out_w;
	const float *w = m->params + l->w_off;
	float *dw = l->frozen ? NULL : m->grads + l->w_off, *db = m->grads + l->b_off;
	/* the direct plane kernel sums the bias gradient as it copies dout */
	int fused = dw && cd_weight_grad_sums_bias(l, m->conv_direct[i]);
	if (dw && !fused)
		for (int oc = 0; oc < l->out_c; oc++)
			db[oc] += sum_f(dout + (size_t)oc * np, np);
	if (m->conv_direct[i] == CD_WINO) { /* one transform of dout for both gradients */
		if (din)
			m->dx_direct[i] = CD_WINO;
		if (dw || din)
			cw_backward(l, B, in, w, dout, dw, din, m->cscratch[i]);
		return;
	}
	/* otherwise the last forward kept what backward needs: its columns or padded input */
	if (dw) {
		if (m->conv_direct[i])
			cd_weight_grad(l, m->conv_direct[i], B, m->max_b, m->cpad[i], dout, dw,
				       fused ? db : NULL, m->cscratch[i]);
		else
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, l->out_c, ckk, (int)np,
				    1.0f, dout, (int)np, m->cols[i], (int)np, 1.0f, dw, ckk);
	}
	if (din) {
		struct nn_layer t;
		int kind = transposed_layer(l, &t) || nn_conv_mode == NN_CONV_BATCH
			       ? CD_NONE
			       : use_direct(&t);
		if (kind) {
			conv_input_grad_direct(m, l, &t, kind, B, w, dout, din);
		} else if (nn_conv_batch_dx(l)) {
			cd_input_grad_batch(
			    l, B, w, dout, din,
			    kernel_scratch(&m->dxscratch[i], &m->dx_direct[i], CD_BATCH, l));
		} else {
			m->dx_direct[i] = CD_NONE;
			conv_input_grad(m, l, B, w, dout, din);
		}
	}
}

/* out (B, OC) = in (B, C) . W^T + b */
void nn_dense_forward(struct nn_model *m, const struct nn_layer *l, int B, const float *in,
		      float *out)
{
	const float *w = m->params + l->w_off, *bias = m->params + l->b_off;
	for (int b = 0; b < B; b++)
		memcpy(out + (size_t)b * l->out_c, bias, (size_t)l->out_c * sizeof(float));
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, l->out_c, l->in_c, 1.0f, in,
		    l->in_c, w, l->in_c, 1.0f, out, l->out_c);
}

void nn_dense_backward(struct nn_model *m, const struct nn_layer *l, int B, const float *in,
		       const float *dout, float *din, int set)
{
	const float *w = m->params + l->w_off;
	if (!l->frozen) {
		float *dw = m->grads + l->w_off, *db = m->grads + l->b_off;
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l->out_c, l->in_c, B, 1.0f,
			    dout, l->out_c, in, l->in_c, 1.0f, dw, l->in_c);
		for (int b = 0; b < B; b++) {
			const float *d = dout + (size_t)b * l->out_c;
			for (int o = 0; o < l->out_c; o++)
				db[o] += d[o];
		}
	}
	if (din)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, l->in_c, l->out_c, 1.0f,
			    dout, l->out_c, w, l->in_c, set ? 0.0f : 1.0f, din, l->in_c);
}

/* ---- 2x2 stride-2 max-pool planes in AVX2 vectors ------------------------
 * For rows of 8 or more windows (lenet5's first pool has 14): the
 * comparisons of POOL2_WINDOW, in its order, on the even and odd columns of
 * a row pair, eight windows at a time; a row's last block overlaps the one
 * before it (those windows are computed twice, with the same result). GCC
 * does not vectorise POOL2_WINDOW's deinterleaving loads; rows of fewer
 * windows stay scalar: on lenet5's rows of 5, neither a 4-wide version nor
 * one partial 8-wide block (masked loads, stores of 4 and 1) was faster. */
#if defined(__x86_64__) && defined(__GNUC__)
#define POOL_X86 1
#define AVX2_FN	 __attribute__((target("avx2,fma")))

/* columns 0, 2, .., 14 and 1, 3, .., 15 of p (8 floats) and q (the next 8):
 * shuffle gives the 64-bit chunks (p, q, p, q) by lane; 3,1,2,0 puts them
 * in column order */
AVX2_FN static inline __m256 cols_even8(__m256 p, __m256 q)
{
	__m256 s = _mm256_shuffle_ps(p, q, _MM_SHUFFLE(2, 0, 2, 0));
	return _mm256_castpd_ps(
	    _mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}

AVX2_FN static inline __m256 cols_odd8(__m256 p, __m256 q)
{
	__m256 s = _mm256_shuffle_ps(p, q, _MM_SHUFFLE(3, 1, 3, 1));
	return _mm256_castpd_ps(
	    _mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* windows s..s+7 of the row pair at r0 (plane offset base) into o[s..] and
 * x[s..]; with relu a ReLU first, its output stored at rr0 if not NULL (the
 * pair's rows in the ReLU's output): max(v, +0.0f) is v > 0 ? v : 0 */
AVX2_FN static inline void pool2_block8(const float *r0, int relu, float *rr0, int s, int W,
					int base, float *o, int *x)
{
	__m256 a[4] = {_mm256_loadu_ps(r0 + 2 * s), _mm256_loadu_ps(r0 + 2 * s + 8),
		       _mm256_loadu_ps(r0 + W + 2 * s), _mm256_loadu_ps(r0 + W + 2 * s + 8)};
	if (relu)
		for (int k = 0; k < 4; k++) {
			a[k] = _mm256_max_ps(a[k], _mm256_setzero_ps());
			if (rr0)
				_mm256_storeu_ps(rr0 + (k >> 1) * W + 2 * s + (k & 1) * 8, a[k]);
		}
	__m256i q = _mm256_add_epi32(_mm256_set1_epi32(base + 2 * s),
				     _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14));
	__m256 v = cols_even8(a[0], a[1]), best = _mm256_castsi256_ps(q);
	__m256 t[3] = {cols_odd8(a[0], a[1]), cols_even8(a[2], a[3]), cols_odd8(a[2], a[3])};
	int off[3] = {1, W, W + 1};
	for (int k = 0; k < 3; k++) {
		__m256 gt = _mm256_cmp_ps(t[k], v, _CMP_GT_OQ);
		__m256i qk = _mm256_add_epi32(q, _mm256_set1_epi32(off[k]));
		best = _mm256_blendv_ps(best, _mm256_castsi256_ps(qk), gt);
		v = _mm256_blendv_ps(v, t[k], gt);
	}
	_mm256_storeu_ps(o + s, v);
	_mm256_storeu_si256((__m256i *)(x + s), _mm256_castps_si256(best));
}

/* One (H, W) plane with OW >= 8: pool2_plane, or with relu the ReLU and
 * the pool of its output, in one pass over the plane, the ReLU's output
 * stored into rp if not NULL (the inputs outside every window, an odd last
 * row or column, by the scalar ReLU). */
AVX2_FN static void pool2_plane_avx2(const float *ip, int relu, float *rp, float *op, int *xp,
				     int H, int W, int OH, int OW)
{
	for (int oh = 0; oh < OH; oh++) {
		size_t base = (size_t)2 * oh * W;
		for (int s = 0; s < OW; s += 8)
			pool2_block8(ip + base, relu, rp ? rp + base : NULL,
				     s + 8 <= OW ? s : OW - 8, W, (int)base, op + oh * OW,
				     xp + oh * OW);
	}
	if (rp)
		for (int h = 0; h < H; h++)
			for (int w = h < 2 * OH ? 2 * OW : 0; w < W; w++) {
				float v = ip[(size_t)h * W + w];
				rp[(size_t)h * W + w] = v > 0 ? v : 0;
			}
}

/* rows 2 oh and 2 oh + 1 of din (from d0) from the windows s..s+7 of the
 * pool's output row: each window's gradient (0.0f + dout where the
 * window's maximum, the ReLU's output at its argmax, is positive; else
 * +0.0f) at its argmax, +0.0f at the window's three other inputs */
AVX2_FN static inline void unpool2_block8(const float *g, const float *pout, const int *x, int s,
					  int W, int base, __m256 zero, float *d0)
{
	__m256 pass = _mm256_cmp_ps(_mm256_loadu_ps(pout + s), zero, _CMP_GT_OQ);
	__m256 v = _mm256_and_ps(_mm256_add_ps(_mm256_loadu_ps(g + s), zero), pass);
	__m256i q = _mm256_add_epi32(_mm256_set1_epi32(base + 2 * s),
				     _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14));
	__m256i rel = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(x + s)), q);
	__m256 c[4];
	int off[4] = {0, 1, W, W + 1};
	for (int k = 0; k < 4; k++)
		c[k] = _mm256_and_ps(
		    v, _mm256_castsi256_ps(_mm256_cmpeq_epi32(rel, _mm256_set1_epi32(off[k]))));
	for (int r = 0; r < 2; r++) { /* interleave even and odd columns */
		__m256 lo = _mm256_unpacklo_ps(c[2 * r], c[2 * r + 1]);
		__m256 hi = _mm256_unpackhi_ps(c[2 * r], c[2 * r + 1]);
		float *d = d0 + r * W + 2 * s;
		_mm256_storeu_ps(d, _mm256_permute2f128_ps(lo, hi, 0x20));
		_mm256_storeu_ps(d + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
	}
}

/* nn_relu_pool_backward's plane with set (din written), OW >= 8; inputs
 * outside every window (an odd last row or column) get +0.0f */
AVX2_FN static void relu_unpool2_plane_avx2(const float *gp, const float *pp, const int *xp,
					    float *dp, int H, int W, int OH, int OW, float zero_f)
{
	__m256 zero = _mm256_set1_ps(zero_f);
	if (2 * OH < H || 2 * OW < W)
		memset(dp, 0, (size_t)H * W * sizeof(float));
	for (int oh = 0; oh < OH; oh++)
		for (int s = 0; s < OW; s += 8)
			unpool2_block8(gp + oh * OW, pp + oh * OW, xp + oh * OW,
				       s + 8 <= OW ? s : OW - 8, W, 2 * oh * W, zero,
				       dp + (size_t)2 * oh * W);
}
#else
#define POOL_X86 0
#endif

#if POOL_X86
/* x86: one step of a window, t against the running maximum v (an SSE
 * scalar), X its position: GCC made the plain C selects below into branches,
 * which mispredict on a random mask. _mm_max_ss(t, v) is t > v ? t : v and
 * _mm_cmpgt_ss is t > v (false for NaN), so the values are the same. */
#define POOL2_STEP(t, X)                                                                           \
	do {                                                                                       \
		__m128 t4_ = _mm_set_ss(t);                                                        \
		int m_ = _mm_cvtsi128_si32(_mm_castps_si128(_mm_cmpgt_ss(t4_, v4_)));              \
		b_ ^= (b_ ^ (X)) & m_;                                                             \
		v4_ = _mm_max_ss(t4_, v4_);                                                        \
	} while (0)
#define POOL2_WINDOW(ow)                                                                           \
	do {                                                                                       \
		int q_ = 2 * (ow), b_ = q_;                                                        \
		__m128 v4_ = _mm_set_ss(r0[q_]);                                                   \
		POOL2_STEP(r0[q_ + 1], q_ + 1);                                                    \
		POOL2_STEP(r1[q_], W + q_);                                                        \
		POOL2_STEP(r1[q_ + 1], W + q_ + 1);                                                \
		o[ow] = _mm_cvtss_f32(v4_);                                                        \
		x[ow] = base + b_;                                                                 \
	} while (0)
#else
/* Windows ow of one row pair (r0, r1) of a 2x2 stride-2 max-pool: maxima
 * and their positions (base + offset in the pair). Selects, not branches,
 * so that the loop vectorises; the first of equal values wins. */
#define POOL2_WINDOW(ow)                                                                           \
	do {                                                                                       \
		int q_ = 2 * (ow), b_ = q_;                                                        \
		float v_ = r0[q_], t_ = r0[q_ + 1];                                                \
		b_ = t_ > v_ ? q_ + 1 : b_;                                                        \
		v_ = t_ > v_ ? t_ : v_;                                                            \
		t_ = r1[q_];                                                                       \
		b_ = t_ > v_ ? W + q_ : b_;                                                        \
		v_ = t_ > v_ ? t_ : v_;                                                            \
		t_ = r1[q_ + 1];                                                                   \
		b_ = t_ > v_ ? W + q_ + 1 : b_;                                                    \
		v_ = t_ > v_ ? t_ : v_;                                                            \
		o[ow] = v_;                                                                        \
		x[ow] = base + b_;                                                                 \
	} while (0)
#endif

/* One plane (H, W) of the 2x2 stride-2 max-pool: its maxima and their
 * positions in the plane. A row of 8 or more windows goes in blocks of 8 (a
 * vector of each), the last block overlapping the one before it rather
 * than leaving a scalar tail: lenet5's conv1 gives rows of 14 windows, and
 * the tail of 6 took as long as the 8 before it. */
static inline void pool2_plane(const float *ip, float *op, int *xp, int W, int OH, int OW)
{
#if POOL_X86
	if (OW >= 8 && use_direct_cpu()) {
		pool2_plane_avx2(ip, 0, NULL, op, xp, 2 * OH, W, OH, OW);
		return;
	}
#endif
	for (int oh = 0; oh < OH; oh++) {
		const float *r0 = ip + 2 * oh * W, *r1 = r0 + W;
		float *o = op + oh * OW;
		int *x = xp + oh * OW, base = 2 * oh * W;
		if (OW < 8) {
			for (int ow = 0; ow < OW; ow++)
				POOL2_WINDOW(ow);
			continue;
		}
		for (int s = 0; s < OW; s += 8) {
			int s0 = s + 8 <= OW ? s : OW - 8;
			for (int j = 0; j < 8; j++)
				POOL2_WINDOW(s0 + j);
		}
	}
}

EW_CLONES void nn_maxpool_forward(const struct nn_layer *l, int B, const float *in, float *out,
				  int *idx)
{
	int K = l->k, S = l->stride, H = l->in_h, W = l->in_w, OH = l->out_h, OW = l->out_w;
	size_t planes = (size_t)l->in_c * B;
	if (K == 2 && S == 2) { /* the common case, without the inner loops */
		for (size_t p = 0; p < planes; p++)
			pool2_plane(in + p * H * W, out + p * OH * OW, idx + p * OH * OW, W, OH,
				    OW);
		return;
	}
	for (size_t p = 0; p < planes; p++) {
		const float *ip = in + p * H * W;
		float *op = out + p * OH * OW;
		int *xp = idx + p * OH * OW;
		for (int oh = 0; oh < OH; oh++)
			for (int ow = 0; ow < OW; ow++) {
				int best = (oh * S) * W + ow * S;
				float bv = ip[best];
				for (int ki = 0; ki < K; ki++)
					for (int kj = 0; kj < K; kj++) {
						int q = (oh * S + ki) * W + ow * S + kj;
						if (ip[q] > bv) {
							bv = ip[q];
							best = q;
						}
					}
				op[oh * OW + ow] = bv;
				xp[oh * OW + ow] = best;
			}
	}
}

EW_CLONES void nn_maxpool_backward(const struct nn_layer *l, int B, const float *dout,
				   const int *idx, float *din, int set)
{
	size_t planes = (size_t)l->in_c * B, po = (size_t)l->out_h * l->out_w;
	size_t pi = (size_t)l->in_h * l->in_w;
	if (set)
		memset(din, 0, planes * pi * sizeof(float));
	for (size_t p = 0; p < planes; p++)
		for (size_t o = 0; o < po; o++)
			din[p * pi + (size_t)idx[p * po + o]] += dout[p * po + o];
}

/* ReLU followed by a 2x2 stride-2 max-pool (pl), plane by plane while the
 * plane is in L1: the ReLU's output (rout) and the pool's (out, idx), the
 * same bits as the two layers one after the other. As two layers, the pool
 * re-read the ReLU's output of a lenet5 (1.2 MB a batch) from L3. */
EW_CLONES void nn_relu_pool_forward(const struct nn_layer *pl, int B, const float *in, float *rout,
				    float *out, int *idx)
{
	int W = pl->in_w, OH = pl->out_h, OW = pl->out_w;
	size_t planes = (size_t)pl->in_c * B, hw = (size_t)pl->in_h * W;
#if POOL_X86
	if (OW >= 8 && use_direct_cpu()) {
		for (size_t p = 0; p < planes; p++)
			pool2_plane_avx2(in + p * hw, 1, rout ? rout + p * hw : NULL,
					 out + p * OH * OW, idx + p * OH * OW, pl->in_h, W, OH, OW);
		return;
	}
#endif
	/* without rout, each plane's ReLU output goes through one plane of scratch */
	float *tmp = rout ? NULL : xmalloc(hw * sizeof(float));
	for (size_t p = 0; p < planes; p++) {
		const float *ip = in + p * hw;
		float *r = rout ? rout + p * hw : tmp;
		for (size_t k = 0; k < hw; k++)
			r[k] = ip[k] > 0 ? ip[k] : 0;
		pool2_plane(r, out + p * OH * OW, idx + p * OH * OW, W, OH, OW);
	}
	free(tmp);
}

/* The backward pass of nn_relu_pool_forward's pair when nothing was added
 * to the ReLU's output gradient (it is stale, nn.h): din (the ReLU's input
 * gradient) from the pool's output gradient dout, plane by plane in L1,
 * without scattering into the ReLU's output gradient and reading it back.
 * Each window's argmax gets 0.0f + dout where the ReLU let it through (the
 * window's maximum pout, the ReLU's output at the argmax, is positive),
 * every other input 0.0f; added into din or (set) written: the bits of the
 * two layers one after the other (din + 0.0f + v equals din + v, as v is
 * never -0.0f). The ReLU's output gradient is left stale. */
EW_CLONES void nn_relu_pool_backward(const struct nn_layer *pl, int B, const float *pout,
				     const float *dout, const int *idx, float *din, int set)
{
	size_t planes = (size_t)pl->in_c * B, hw = (size_t)pl->in_h * pl->in_w;
	size_t po = (size_t)pl->out_h * pl->out_w;
	float zero = opaque_zero();
#if POOL_X86
	if (set && pl->out_w >= 8 && use_direct_cpu()) {
		for (size_t p = 0; p < planes; p++)
			relu_unpool2_plane_avx2(dout + p * po, pout + p * po, idx + p * po,
						din + p * hw, pl->in_h, pl->in_w, pl->out_h,
						pl->out_w, zero);
		return;
	}
#endif
	for (size_t p = 0; p < planes; p++) {
		const float *pp = pout + p * po, *gp = dout + p * po;
		const int *xp = idx + p * po;
		float *dp = din + p * hw;
		if (set)
			memset(dp, 0, hw * sizeof(float));
		else
			for (size_t k = 0; k < hw; k++)
				dp[k] += 0.0f;
		for (size_t o = 0; o < po; o++) {
			int q = xp[o];
			dp[q] += keep_if(gp[o] + zero, pp[o] > 0);
		}
	}
}

/* flatten: (C, B, S) -> (B, C*S) when chan-major, else a copy */
void nn_flatten_forward(const struct nn_layer *l, int B, int in_cm, const float *in, float *out)
{
	size_t s = (size_t)l->in_h * l->in_w, n = nn_out_size(l);
	if (!in_cm || l->in_c == 1) {
		memcpy(out, in, n * B * sizeof(float));
		return;
	}
	for (int c = 0; c < l->in_c; c++)
		for (int b = 0; b < B; b++)
			memcpy(out + (size_t)b * n + c * s, in + ((size_t)c * B + b) * s,
			       s * sizeof(float));
}

void nn_flatten_backward(const struct nn_layer *l, int B, int in_cm, const float *dout, float *din,
			 int set)
{
	size_t s = (size_t)l->in_h * l->in_w, n = nn_out_size(l);
	if (!in_cm || l->in_c == 1) {
		for (size_t i = 0; i < n * B; i++)
			din[i] = (set ? 0.0f : din[i]) + dout[i];
		return;
	}
	for (int c = 0; c < l->in_c; c++)
		for (int b = 0; b < B; b++) {
			float *d = din + ((size_t)c * B + b) * s;
			const float *g = dout + (size_t)b * n + c * s;
			for (size_t i = 0; i < s; i++)
				d[i] = (set ? 0.0f : d[i]) + g[i];
		}
}

/* (B, C, S) <-> (C, B, S) */
void nn_to_chan_major(const float *x, float *y, int B, int C, size_t S)
{
	for (int b = 0; b < B; b++)
		for (int c = 0; c < C; c++)
			memcpy(y + ((size_t)c * B + b) * S, x + ((size_t)b * C + c) * S,
			       S * sizeof(float));
}

void nn_from_chan_major(const float *y, float *x, int B, int C, size_t S)
{
	for (int b = 0; b < B; b++)
		for (int c = 0; c < C; c++)
			memcpy(x + ((size_t)b * C + c) * S, y + ((size_t)c * B + b) * S,
			       S * sizeof(float));
}
