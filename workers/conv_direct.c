/* conv_direct.c - direct stride-1 convolution kernels (see conv_direct.h).
 *
 * Both kernels walk the padded input plane as one flat array. An output at
 * (oh, ow) is treated as position p = oh * Wp + ow of a plane as wide as the
 * padded input; then tap (ki, kj) of every output is the input at p + ki * Wp +
 * kj, so eight neighbouring outputs read eight neighbouring inputs with one
 * unaligned load and no masks. Positions with ow >= OW are computed and thrown
 * away (forward) or meet a zero gradient (weight gradient); that costs
 * (Wp - OW) / Wp of the work, 12 % for lenet5's conv1. */
#include "conv_direct.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define CD_X86 1
#define AVX2 __attribute__((target("avx2,fma")))
#else
#define CD_X86 0
#endif

#define OCB 6 /* output channels per forward block (12 accumulators) */

/* positions per plane, rounded up to whole 16-float forward blocks */
static int plane_np(const struct nn_layer *l)
{
	int Wp = l->in_w + 2 * l->pad;
	return (l->out_h * Wp + 15) / 16 * 16;
}

int cd_cpu_ok(void)
{
#if CD_X86
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
	return 0;
#endif
}

int cd_layer_ok(const struct nn_layer *l)
{
	return l->kind == NN_CONV && l->stride == 1 && (l->k == 3 || l->k == 5 || l->k == 7) &&
	       l->out_h > 0 && l->out_w > 0;
}

int cd_layer_pays(const struct nn_layer *l)
{
	return cd_layer_ok(l) && l->in_c * l->k * l->k <= 75 && l->out_w >= 16;
}

static size_t pad_plane(const struct nn_layer *l)
{
	return (size_t)(l->in_h + 2 * l->pad) * (l->in_w + 2 * l->pad);
}

float *cd_alloc_pad(const struct nn_layer *l, int max_b)
{
	return xcalloc((size_t)l->in_c * max_b * pad_plane(l) + CD_SLACK, sizeof(float));
}

/* scratch: weight-gradient accumulators (nblk * C * K * 2K vectors of 8),
 * then OC + 1 gradient planes of plane_np floats (the last one stays zero);
 * the forward pass uses the first OCB * plane_np floats. */
static size_t acc_floats(const struct nn_layer *l)
{
	return (size_t)((l->out_c + 1) / 2) * l->in_c * l->k * 2 * l->k * 8;
}

float *cd_alloc_scratch(const struct nn_layer *l)
{
	size_t np = (size_t)plane_np(l);
	size_t n = acc_floats(l) + (size_t)(l->out_c + 1) * np;
	if (n < OCB * np)
		n = OCB * np;
	size_t bytes = (n * sizeof(float) + 31) / 32 * 32;
	float *s = aligned_alloc(32, bytes);
	if (!s) {
		fprintf(stderr, "wmbench: out of memory (%zu bytes)\n", bytes);
		abort();
	}
	memset(s, 0, bytes);
	return s;
}

void cd_pad_input(const struct nn_layer *l, int B, int max_b, const float *in, float *pad)
{
	int P = l->pad, H = l->in_h, W = l->in_w, Wp = W + 2 * P;
	size_t plane = pad_plane(l);
	for (int c = 0; c < l->in_c; c++)
		for (int b = 0; b < B; b++) {
			float *dst = pad + ((size_t)c * max_b + b) * plane + (size_t)P * Wp + P;
			const float *src = in + ((size_t)c * B + b) * H * W;
			for (int h = 0; h < H; h++)
				memcpy(dst + (size_t)h * Wp, src + (size_t)h * W, (size_t)W * sizeof(float));
		}
}

#if CD_X86
/* 16 positions x OCB channels: a0/a1 hold positions p0..p0+7 and p0+8..p0+15 */
AVX2 static void fwd_plane(const struct nn_layer *l, const float *x, int xstride, const float *w,
			   const float *bias, int oc0, int noc, float *fo, int np)
{
	int K = l->k, C = l->in_c, Wp = l->in_w + 2 * l->pad, ckk = C * K * K;
	const float *wp[OCB];
	for (int o = 0; o < OCB; o++) /* missing channels repeat the last; not stored */
		wp[o] = w + (size_t)(oc0 + (o < noc ? o : noc - 1)) * ckk;
	for (int p0 = 0; p0 < np; p0 += 16) {
		__m256 a0[OCB], a1[OCB];
		for (int o = 0; o < OCB; o++)
			a0[o] = a1[o] = _mm256_set1_ps(bias[oc0 + (o < noc ? o : noc - 1)]);
		for (int c = 0; c < C; c++)
			for (int ki = 0; ki < K; ki++) {
				const float *row = x + (size_t)c * xstride + ki * Wp + p0;
				int q0 = (c * K + ki) * K;
				for (int kj = 0; kj < K; kj++) {
					__m256 x0 = _mm256_loadu_ps(row + kj), x1 = _mm256_loadu_ps(row + kj + 8);
					for (int o = 0; o < OCB; o++) {
						__m256 wv = _mm256_broadcast_ss(wp[o] + q0 + kj);
						a0[o] = _mm256_fmadd_ps(wv, x0, a0[o]);
						a1[o] = _mm256_fmadd_ps(wv, x1, a1[o]);
					}
				}
			}
		for (int o = 0; o < OCB; o++) {
			_mm256_storeu_ps(fo + (size_t)o * np + p0, a0[o]);
			_mm256_storeu_ps(fo + (size_t)o * np + p0 + 8, a1[o]);
		}
	}
}

AVX2 static void cd_forward_avx2(const struct nn_layer *l, int B, int max_b, const float *pad,
				 const float *w, const float *bias, float *out, float *fo)
{
	int OC = l->out_c, OH = l->out_h, OW = l->out_w, Wp = l->in_w + 2 * l->pad;
	int np = plane_np(l);
	size_t plane = pad_plane(l), xstride = (size_t)max_b * plane;
	for (int b = 0; b < B; b++)
		for (int oc0 = 0; oc0 < OC; oc0 += OCB) {
			int noc = OC - oc0 < OCB ? OC - oc0 : OCB;
			fwd_plane(l, pad + (size_t)b * plane, (int)xstride, w, bias, oc0, noc, fo, np);
			for (int o = 0; o < noc; o++) {
				float *dst = out + ((size_t)(oc0 + o) * B + b) * OH * OW;
				const float *src = fo + (size_t)o * np;
				for (int oh = 0; oh < OH; oh++)
					memcpy(dst + (size_t)oh * OW, src + (size_t)oh * Wp,
					       (size_t)OW * sizeof(float));
			}
		}
}

/* Weight gradient of two output channels (g0, g1) for one input row offset
 * ki: acc[kj] and acc[K + kj] gather g * x shifted by kj, over np positions.
 * K is a constant in each caller, so the 2K accumulators stay in registers. */
#define DW_BLOCK(K)                                                                              \
	AVX2 static void dw_block##K(int np, const float *x, const float *g0p, const float *g1p,   \
				     __m256 *acc)                                                 \
	{                                                                                        \
		__m256 a0[K], a1[K];                                                             \
		for (int kj = 0; kj < K; kj++) {                                                 \
			a0[kj] = acc[kj];                                                        \
			a1[kj] = acc[K + kj];                                                    \
		}                                                                                \
		for (int p = 0; p < np; p += 8) {                                                \
			__m256 g0 = _mm256_load_ps(g0p + p), g1 = _mm256_load_ps(g1p + p);      \
			for (int kj = 0; kj < K; kj++) {                                         \
				__m256 xv = _mm256_loadu_ps(x + p + kj);                         \
				a0[kj] = _mm256_fmadd_ps(g0, xv, a0[kj]);                        \
				a1[kj] = _mm256_fmadd_ps(g1, xv, a1[kj]);                        \
			}                                                                        \
		}                                                                                \
		for (int kj = 0; kj < K; kj++) {                                                 \
			acc[kj] = a0[kj];                                                        \
			acc[K + kj] = a1[kj];                                                    \
		}                                                                                \
	}
DW_BLOCK(3)
DW_BLOCK(5)
DW_BLOCK(7)

AVX2 static void cd_weight_grad_avx2(const struct nn_layer *l, int B, int max_b, const float *pad,
				     const float *dout, float *dw, float *scratch)
{
	int K = l->k, C = l->in_c, OC = l->out_c, OH = l->out_h, OW = l->out_w;
	int Wp = l->in_w + 2 * l->pad, np = plane_np(l), nblk = (OC + 1) / 2;
	size_t plane = pad_plane(l), S = (size_t)OH * OW, nacc = acc_floats(l);
	__m256 *acc = (__m256 *)scratch;
	float *gp = scratch + nacc; /* OC + 1 planes of np, zero outside the outputs */
	memset(scratch, 0, (nacc + (size_t)(OC + 1) * np) * sizeof(float));
	for (int b = 0; b < B; b++) {
		for (int oc = 0; oc < OC; oc++) {
			const float *src = dout + ((size_t)oc * B + b) * S;
			float *dst = gp + (size_t)oc * np;
			for (int oh = 0; oh < OH; oh++)
				memcpy(dst + (size_t)oh * Wp, src + (size_t)oh * OW, (size_t)OW * sizeof(float));
		}
		for (int ob = 0; ob < nblk; ob++) {
			const float *g0 = gp + (size_t)(2 * ob) * np;
			const float *g1 = gp + (size_t)(2 * ob + 1 < OC ? 2 * ob + 1 : OC) * np;
			for (int c = 0; c < C; c++)
				for (int ki = 0; ki < K; ki++) {
					const float *x = pad + ((size_t)c * max_b + b) * plane + (size_t)ki * Wp;
					__m256 *a = acc + ((size_t)(ob * C + c) * K + ki) * 2 * K;
					if (K == 3)
						dw_block3(np, x, g0, g1, a);
					else if (K == 5)
						dw_block5(np, x, g0, g1, a);
					else
						dw_block7(np, x, g0, g1, a);
				}
		}
	}
	for (int oc = 0; oc < OC; oc++)
		for (int c = 0; c < C; c++)
			for (int ki = 0; ki < K; ki++)
				for (int kj = 0; kj < K; kj++) {
					float t[8];
					size_t ai = ((size_t)((oc / 2) * C + c) * K + ki) * 2 * K +
						    (size_t)(oc % 2) * K + kj;
					_mm256_storeu_ps(t, acc[ai]);
					dw[((size_t)oc * C + c) * K * K + ki * K + kj] +=
						((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
				}
}
#endif

void cd_forward(const struct nn_layer *l, int B, int max_b, const float *pad, const float *w,
		const float *bias, float *out, float *scratch)
{
#if CD_X86
	cd_forward_avx2(l, B, max_b, pad, w, bias, out, scratch);
#else
	(void)l, (void)B, (void)max_b, (void)pad, (void)w, (void)bias, (void)out, (void)scratch;
	fprintf(stderr, "wmbench: conv_direct: no kernels for this CPU\n");
	abort();
#endif
}

void cd_weight_grad(const struct nn_layer *l, int B, int max_b, const float *pad,
		    const float *dout, float *dw, float *scratch)
{
#if CD_X86
	cd_weight_grad_avx2(l, B, max_b, pad, dout, dw, scratch);
#else
	(void)l, (void)B, (void)max_b, (void)pad, (void)dout, (void)dw, (void)scratch;
	fprintf(stderr, "wmbench: conv_direct: no kernels for this CPU\n");
	abort();
#endif
}
