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
#define AVX2   __attribute__((target("avx2,fma")))
#else
#define CD_X86 0
#endif

#define OCB 6 /* output channels per forward block (12 accumulators) */

#if CD_X86
/* Keeps vector v in a register. GCC otherwise folds a load that feeds two
 * FMAs into both as a memory operand and loads it twice: dw_block5 then ran
 * 12 loads per 10 FMAs, 3.5 ns per 8 positions in L1 against 2.3 ns. The
 * accumulators pass through it too, so that they are loaded as whole
 * vectors (GCC copied them in 16-byte halves to the stack first). */
#define IN_REGISTER(v) __asm__("" : "+x"(v))
#endif

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

static int kernel_ok(const struct nn_layer *l)
{
	return l->kind == NN_CONV && l->stride == 1 && (l->k == 3 || l->k == 5 || l->k == 7) &&
	       l->out_h > 0 && l->out_w > 0;
}

int cd_choose(const struct nn_layer *l, int force)
{
	if (!kernel_ok(l))
		return CD_NONE;
	int taps = l->in_c * l->k * l->k, plane_pays = taps <= 75 && l->out_w >= 16;
	int chan_ok = l->out_c % 8 == 0;
	if (plane_pays)
		return CD_PLANE;
	if (chan_ok && (force || taps <= CD_CHAN_MAX_TAPS))
		return CD_CHAN;
	return force ? CD_PLANE : CD_NONE;
}

static size_t pad_plane(const struct nn_layer *l)
{
	return (size_t)(l->in_h + 2 * l->pad) * (l->in_w + 2 * l->pad);
}

float *cd_alloc_pad(const struct nn_layer *l, int max_b)
{
	return xcalloc((size_t)l->in_c * max_b * pad_plane(l) + CD_SLACK, sizeof(float));
}

static int oc_pad(const struct nn_layer *l);

/* CD_PLANE scratch: weight-gradient accumulators (nblk * C * K * 2K vectors
 * of 8), then OC + 1 gradient planes of plane_np floats (the last one stays
 * zero); the forward pass uses the first OCB * plane_np floats.
 * CD_CHAN scratch: forward wt (CKK, OCp), bt (OCp), st (OH*OW + CV_NW, OCp);
 * weight gradient acc (CKK * OCp) then gt (OH*OW, OCp). */
static size_t acc_floats(const struct nn_layer *l)
{
	return (size_t)((l->out_c + 1) / 2) * l->in_c * l->k * 2 * l->k * 8;
}

float *cd_alloc_scratch(const struct nn_layer *l, int kind)
{
	size_t n;
	if (kind == CD_PLANE) {
		size_t np = (size_t)plane_np(l);
		n = acc_floats(l) + (size_t)(l->out_c + 1) * np;
		if (n < OCB * np)
			n = OCB * np;
	} else {
		size_t ocp = (size_t)oc_pad(l), ckk = (size_t)l->in_c * l->k * l->k;
		size_t fwd = ckk * ocp + ocp + ((size_t)l->out_h * l->out_w + 8) * ocp;
		n = ckk * ocp + (size_t)l->out_h * l->out_w * ocp;
		if (n < fwd)
			n = fwd;
	}
	return cd_alloc_floats(n);
}

float *cd_alloc_floats(size_t n)
{
	size_t bytes = (n * sizeof(float) + 31) / 32 * 32;
	float *s = aligned_alloc(32, bytes ? bytes : 32);
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
	for (int c = 0; c < l->in_c; c++) {
		for (int b = 0; b < B; b++) {
			float *dst = pad + ((size_t)c * max_b + b) * plane + (size_t)P * Wp + P;
			const float *src = in + ((size_t)c * B + b) * H * W;
			for (int h = 0; h < H; h++)
				memcpy(dst + (size_t)h * Wp, src + (size_t)h * W,
				       (size_t)W * sizeof(float));
		}
		/* The kernels read up to 21 floats past a plane's end (lanes whose
		 * outputs are thrown away or whose gradient is 0). Past the batch's last
		 * plane that is an unused slot holding an earlier, larger batch; zero its
		 * start, so that an Inf or NaN left there cannot become 0 * Inf = NaN. */
		if (B < max_b)
			memset(pad + ((size_t)c * max_b + B) * plane, 0,
			       (plane < 32 ? plane : 32) * sizeof(float));
	}
}

#if CD_X86
/* 16 positions x OCB channels: a0/a1 hold positions p0..p0+7 and p0+8..p0+15 */
AVX2 static void fwd_plane(const struct nn_layer *l, const float *x, size_t xstride, const float *w,
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
					__m256 x0 = _mm256_loadu_ps(row + kj),
					       x1 = _mm256_loadu_ps(row + kj + 8);
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
			fwd_plane(l, pad + (size_t)b * plane, xstride, w, bias, oc0, noc, fo, np);
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
#define DW_BLOCK(K)                                                                                \
	AVX2 static void dw_block##K(int np, const float *x, const float *g0p, const float *g1p,   \
				     __m256 *acc)                                                  \
	{                                                                                          \
		__m256 a0[K], a1[K];                                                               \
		float *af = (float *)acc;                                                          \
		for (int kj = 0; kj < K; kj++) {                                                   \
			a0[kj] = _mm256_load_ps(af + 8 * kj);                                      \
			a1[kj] = _mm256_load_ps(af + 8 * (K + kj));                                \
			IN_REGISTER(a0[kj]);                                                       \
			IN_REGISTER(a1[kj]);                                                       \
		}                                                                                  \
		for (int p = 0; p < np; p += 8) {                                                  \
			__m256 g0 = _mm256_load_ps(g0p + p), g1 = _mm256_load_ps(g1p + p);         \
			for (int kj = 0; kj < K; kj++) {                                           \
				__m256 xv = _mm256_loadu_ps(x + p + kj);                           \
				IN_REGISTER(xv);                                                   \
				a0[kj] = _mm256_fmadd_ps(g0, xv, a0[kj]);                          \
				a1[kj] = _mm256_fmadd_ps(g1, xv, a1[kj]);                          \
			}                                                                          \
		}                                                                                  \
		for (int kj = 0; kj < K; kj++) {                                                   \
			_mm256_store_ps(af + 8 * kj, a0[kj]);                                      \
			_mm256_store_ps(af + 8 * (K + kj), a1[kj]);                                \
		}                                                                                  \
	}
DW_BLOCK(3)
DW_BLOCK(5)
DW_BLOCK(7)

int cd_weight_grad_sums_bias(const struct nn_layer *l, int kind)
{
	return kind == CD_PLANE && (size_t)l->out_h * l->out_w % 8 == 0;
}

/* The bias gradient's sums over sample b's part of each channel's dout
 * (OC, B, S), S % 8 == 0, just after its copy (in L1): sum_f's order
 * (nn_layers.c), which adds each block of 1024 floats of a channel's (B, S)
 * plane in eight float lanes, and the blocks' lane totals in double in
 * order. part[oc] is the open block's lanes, sum[oc] the closed blocks';
 * four channels run side by side, their chains independent. */
AVX2 static void bias_sums(const float *dout, int OC, int B, size_t S, int b, float *part,
			   double *sum)
{
	for (int o0 = 0; o0 < OC; o0 += 4) {
		int n = OC - o0 < 4 ? OC - o0 : 4;
		__m256 a[4];
		const float *src[4];
		for (int q = 0; q < 4; q++) {
			int oc = o0 + (q < n ? q : 0);
			a[q] = _mm256_loadu_ps(part + (size_t)oc * 8);
			src[q] = dout + ((size_t)oc * B + b) * S;
		}
		for (size_t g = 0; g < S; g += 8) {
			size_t i = (size_t)b * S + g; /* index in the channel's plane */
			if (i % 1024 == 0 && i > 0)
				for (int q = 0; q < n; q++) {
					float t[8];
					_mm256_storeu_ps(t, a[q]);
					sum[o0 + q] += cd_lanes_total(t);
					a[q] = _mm256_setzero_ps();
				}
			for (int q = 0; q < 4; q++)
				a[q] = _mm256_add_ps(a[q], _mm256_loadu_ps(src[q] + g));
		}
		for (int q = 0; q < n; q++)
			_mm256_storeu_ps(part + (size_t)(o0 + q) * 8, a[q]);
	}
}

AVX2 static void cd_weight_grad_avx2(const struct nn_layer *l, int B, int max_b, const float *pad,
				     const float *dout, float *dw, float *db, float *scratch)
{
	int K = l->k, C = l->in_c, OC = l->out_c, OH = l->out_h, OW = l->out_w;
	int Wp = l->in_w + 2 * l->pad, np = plane_np(l), nblk = (OC + 1) / 2;
	size_t plane = pad_plane(l), S = (size_t)OH * OW, nacc = acc_floats(l);
	__m256 *acc = (__m256 *)scratch;
	float *gp = scratch + nacc; /* OC + 1 planes of np, zero outside the outputs */
	float *part = NULL;	    /* with db: bias_sums's open blocks, then closed */
	double *sum = NULL;
	memset(scratch, 0, (nacc + (size_t)(OC + 1) * np) * sizeof(float));
	if (db) {
		part = xcalloc((size_t)OC * 8, sizeof *part);
		sum = xcalloc((size_t)OC, sizeof *sum);
	}
	for (int b = 0; b < B; b++) {
		for (int oc = 0; oc < OC; oc++) {
			const float *src = dout + ((size_t)oc * B + b) * S;
			float *dst = gp + (size_t)oc * np;
			for (int oh = 0; oh < OH; oh++)
				memcpy(dst + (size_t)oh * Wp, src + (size_t)oh * OW,
				       (size_t)OW * sizeof(float));
		}
		if (db)
			bias_sums(dout, OC, B, S, b, part, sum);
		for (int ob = 0; ob < nblk; ob++) {
			const float *g0 = gp + (size_t)(2 * ob) * np;
			const float *g1 = gp + (size_t)(2 * ob + 1 < OC ? 2 * ob + 1 : OC) * np;
			for (int c = 0; c < C; c++)
				for (int ki = 0; ki < K; ki++) {
					const float *x =
					    pad + ((size_t)c * max_b + b) * plane + (size_t)ki * Wp;
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
					    ((t[0] + t[1]) + (t[2] + t[3])) +
					    ((t[4] + t[5]) + (t[6] + t[7]));
				}
	if (db) { /* the last block, then the channel's total as sum_f returns it */
		for (int oc = 0; oc < OC; oc++)
			db[oc] += (float)(sum[oc] + cd_lanes_total(part + (size_t)oc * 8));
		free(part);
		free(sum);
	}
}

/* ---- channel-vectorised kernels (cv_*) ----------------------------------
 * For layers with many output channels and short rows (lenet5's conv2: 16
 * channels, rows of 10) the lanes run over 16 output channels instead, and a
 * block covers CV_NW neighbouring outputs of one row: 2 * CV_NW accumulators,
 * each tap loading two weight vectors and CV_NW input scalars. Weights and
 * output gradients are first transposed to (tap, channel) and (position,
 * channel), channels padded with zeros to a multiple of 16. */
#define CV_NW 5

static int oc_pad(const struct nn_layer *l)
{
	return (l->out_c + 15) / 16 * 16;
}

/* weights (OC, CKK) -> wt (CKK, OCp), bias -> bt (OCp) */
static void cv_transpose_w(const struct nn_layer *l, const float *w, const float *bias, float *wt,
			   float *bt)
{
	int ckk = l->in_c * l->k * l->k, OC = l->out_c, OCp = oc_pad(l);
	memset(wt, 0, sizeof(float) * ckk * OCp);
	memset(bt, 0, sizeof(float) * OCp);
	for (int oc = 0; oc < OC; oc++) {
		for (int q = 0; q < ckk; q++)
			wt[(size_t)q * OCp + oc] = w[(size_t)oc * ckk + q];
		bt[oc] = bias ? bias[oc] : 0;
	}
}

/* r[0..7], eight rows of eight floats, transposed in place */
AVX2 static inline void tr8x8(__m256 r[8])
{
	__m256 t[8], u[8];
	for (int i = 0; i < 8; i += 2) {
		t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
		t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
	}
	for (int i = 0; i < 8; i += 4) {
		u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
		u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
		u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
		u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
	}
	for (int i = 0; i < 4; i++) {
		r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
		r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
	}
}

/* dst[c * ds + r] = src[r * ss + c] for r < rows, c < cols (with add:
 * dst[...] += it, one float addition each): tiles of 8 x 8 transposed in
 * registers, the edges one float at a time */
AVX2 static void transpose_rows(const float *src, size_t ss, int rows, size_t cols, float *dst,
				size_t ds, int add)
{
	int r0 = 0;
	for (; r0 + 8 <= rows; r0 += 8) {
		size_t c0 = 0;
		for (; c0 + 8 <= cols; c0 += 8) {
			__m256 t[8];
			for (int i = 0; i < 8; i++)
				t[i] = _mm256_loadu_ps(src + (size_t)(r0 + i) * ss + c0);
			tr8x8(t);
			for (int k = 0; k < 8; k++) {
				float *d = dst + (c0 + k) * ds + r0;
				_mm256_storeu_ps(d, add ? _mm256_add_ps(_mm256_loadu_ps(d), t[k])
							: t[k]);
			}
		}
		for (; c0 < cols; c0++)
			for (int i = 0; i < 8; i++) {
				float v = src[(size_t)(r0 + i) * ss + c0];
				float *d = dst + c0 * ds + r0 + i;
				*d = add ? *d + v : v;
			}
	}
	for (; r0 < rows; r0++)
		for (size_t c = 0; c < cols; c++) {
			float v = src[(size_t)r0 * ss + c];
			float *d = dst + c * ds + r0;
			*d = add ? *d + v : v;
		}
}

/* One block of cv_forward: CV_NW outputs from xr's row on, 16 channels from
 * wq's column on, starting from the bias (b0, b1); K is a constant where the
 * caller passes one, so that the tap loop unrolls. */
AVX2 static inline __attribute__((always_inline)) void cv_fwd_block(int K, int C, int Wp, int OCp,
								    size_t xstride, const float *xr,
								    const float *wq, __m256 b0,
								    __m256 b1, float *rowt)
{
	__m256 a0[CV_NW], a1[CV_NW];
	for (int j = 0; j < CV_NW; j++) {
		a0[j] = b0;
		a1[j] = b1;
	}
	for (int c = 0; c < C; c++)
		for (int ki = 0; ki < K; ki++) {
			const float *xq = xr + (size_t)c * xstride + (size_t)ki * Wp;
			const float *wk = wq + (size_t)((c * K + ki) * K) * OCp;
			for (int kj = 0; kj < K; kj++) {
				__m256 w0 = _mm256_loadu_ps(wk + (size_t)kj * OCp);
				__m256 w1 = _mm256_loadu_ps(wk + (size_t)kj * OCp + 8);
				for (int j = 0; j < CV_NW; j++) {
					__m256 xv = _mm256_broadcast_ss(xq + kj + j);
					a0[j] = _mm256_fmadd_ps(w0, xv, a0[j]);
					a1[j] = _mm256_fmadd_ps(w1, xv, a1[j]);
				}
			}
		}
	/* outputs past the row end, computed from the next row, are overwritten
	 * by the next row's (or land in the CV_NW rows of slack) */
	for (int j = 0; j < CV_NW; j++) {
		_mm256_storeu_ps(rowt + (size_t)j * OCp, a0[j]);
		_mm256_storeu_ps(rowt + (size_t)j * OCp + 8, a1[j]);
	}
}

AVX2 static void cv_forward_avx2(const struct nn_layer *l, int B, int max_b, const float *pad,
				 const float *w, const float *bias, float *out, float *scratch)
{
	int K = l->k, C = l->in_c, OC = l->out_c, OH = l->out_h, OW = l->out_w, OCp = oc_pad(l);
	int Wp = l->in_w + 2 * l->pad, ckk = C * K * K;
	size_t plane = pad_plane(l), xstride = (size_t)max_b * plane;
	float *wt = scratch, *bt = wt + (size_t)ckk * OCp,
	      *st = bt + OCp; /* st: one sample's outputs, (OH*OW + CV_NW, OCp) */
	cv_transpose_w(l, w, bias, wt, bt);
	for (int b = 0; b < B; b++) {
		for (int oh = 0; oh < OH; oh++) {
			float *rowt = st + (size_t)oh * OW * OCp;
			for (int og = 0; og < OCp; og += 16) {
				__m256 b0 = _mm256_loadu_ps(bt + og),
				       b1 = _mm256_loadu_ps(bt + og + 8);
				for (int ow0 = 0; ow0 < OW; ow0 += CV_NW) {
					const float *xr =
					    pad + (size_t)b * plane + (size_t)oh * Wp + ow0;
					float *r = rowt + (size_t)ow0 * OCp + og;
					if (K == 5)
						cv_fwd_block(5, C, Wp, OCp, xstride, xr, wt + og,
							     b0, b1, r);
					else
						cv_fwd_block(K, C, Wp, OCp, xstride, xr, wt + og,
							     b0, b1, r);
				}
			}
		}
		/* out (OC, B, OH*OW) at sample b = st (OH*OW, OCp) transposed */
		transpose_rows(st, (size_t)OCp, OH * OW, (size_t)OC, out + (size_t)b * OH * OW,
			       (size_t)B * OH * OW, 0);
	}
}

/* accumulators of taps (c, ki, 0..K-1) for 16 channels over one sample's
 * positions: g is (OH*OW, OCp) at channel group og, x the padded plane. The
 * accumulators are named variables, not an array: with an array GCC 12 keeps
 * a copy of each in memory and stores it on every iteration. */
#define CV_TAP(kj)                                                                                 \
	if (kj < K) {                                                                              \
		__m256 xv = _mm256_broadcast_ss(xr + ow + kj);                                     \
		a0_##kj = _mm256_fmadd_ps(g0, xv, a0_##kj);                                        \
		a1_##kj = _mm256_fmadd_ps(g1, xv, a1_##kj);                                        \
	}
#define CV_LOAD(kj)                                                                                \
	__m256 a0_##kj = _mm256_setzero_ps(), a1_##kj = a0_##kj;                                   \
	if (kj < K) {                                                                              \
		a0_##kj = _mm256_load_ps(accf + kj * 16);                                          \
		a1_##kj = _mm256_load_ps(accf + kj * 16 + 8);                                      \
	}
#define CV_STORE(kj)                                                                               \
	if (kj < K) {                                                                              \
		_mm256_store_ps(accf + kj * 16, a0_##kj);                                          \
		_mm256_store_ps(accf + kj * 16 + 8, a1_##kj);                                      \
	}
/* A macro of statements, which clang-format 14 cannot lay out stably. */
/* clang-format off */
#define CV_DW_BLOCK(KK)                                                                          \
	AVX2 static void cv_dw_block##KK(int OH, int OW, int Wp, int OCp, const float *x,          \
					 const float *g, float *accf)                               \
	{                                                                                        \
		enum { K = KK };                                                                 \
		CV_LOAD(0) CV_LOAD(1) CV_LOAD(2) CV_LOAD(3) CV_LOAD(4) CV_LOAD(5) CV_LOAD(6)     \
		for (int oh = 0; oh < OH; oh++) {                                                \
			const float *xr = x + (size_t)oh * Wp;                                   \
			const float *gr = g + (size_t)oh * OW * OCp;                             \
			for (int ow = 0; ow < OW; ow++) {                                        \
				__m256 g0 = _mm256_loadu_ps(gr + (size_t)ow * OCp);              \
				__m256 g1 = _mm256_loadu_ps(gr + (size_t)ow * OCp + 8);          \
				CV_TAP(0) CV_TAP(1) CV_TAP(2) CV_TAP(3) CV_TAP(4) CV_TAP(5)      \
				CV_TAP(6)                                                        \
			}                                                                        \
		}                                                                                \
		CV_STORE(0) CV_STORE(1) CV_STORE(2) CV_STORE(3) CV_STORE(4) CV_STORE(5)          \
		CV_STORE(6)                                                                      \
	}
/* clang-format on */
CV_DW_BLOCK(5)
CV_DW_BLOCK(7)

/* K = 3 (cnn's conv2 and conv3): CV_DW_BLOCK's 6 accumulators, each taking
 * one FMA per position, leave the FMA units waiting on latency (5 cycles,
 * 2 per cycle); even and odd positions go to two sets of 6 instead, added at
 * the end. */
AVX2 static void cv_dw_block3(int OH, int OW, int Wp, int OCp, const float *x, const float *g,
			      float *accf)
{
	/* named variables, not arrays: see CV_TAP */
	__m256 a00 = _mm256_load_ps(accf), a01 = _mm256_load_ps(accf + 8);
	__m256 a10 = _mm256_load_ps(accf + 16), a11 = _mm256_load_ps(accf + 24);
	__m256 a20 = _mm256_load_ps(accf + 32), a21 = _mm256_load_ps(accf + 40);
	__m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
	for (int oh = 0; oh < OH; oh++) {
		const float *xr = x + (size_t)oh * Wp;
		const float *gr = g + (size_t)oh * OW * OCp;
		int ow = 0;
		for (; ow + 2 <= OW; ow += 2) {
			const float *gp = gr + (size_t)ow * OCp, *xp = xr + ow;
			__m256 g0 = _mm256_loadu_ps(gp), g1 = _mm256_loadu_ps(gp + 8);
			__m256 h0 = _mm256_loadu_ps(gp + OCp), h1 = _mm256_loadu_ps(gp + OCp + 8);
			__m256 x0 = _mm256_broadcast_ss(xp), x1 = _mm256_broadcast_ss(xp + 1);
			a00 = _mm256_fmadd_ps(g0, x0, a00);
			a01 = _mm256_fmadd_ps(g1, x0, a01);
			c00 = _mm256_fmadd_ps(h0, x1, c00);
			c01 = _mm256_fmadd_ps(h1, x1, c01);
			__m256 x2 = _mm256_broadcast_ss(xp + 2);
			a10 = _mm256_fmadd_ps(g0, x1, a10);
			a11 = _mm256_fmadd_ps(g1, x1, a11);
			c10 = _mm256_fmadd_ps(h0, x2, c10);
			c11 = _mm256_fmadd_ps(h1, x2, c11);
			__m256 x3 = _mm256_broadcast_ss(xp + 3);
			a20 = _mm256_fmadd_ps(g0, x2, a20);
			a21 = _mm256_fmadd_ps(g1, x2, a21);
			c20 = _mm256_fmadd_ps(h0, x3, c20);
			c21 = _mm256_fmadd_ps(h1, x3, c21);
		}
		if (ow < OW) {
			const float *gp = gr + (size_t)ow * OCp, *xp = xr + ow;
			__m256 g0 = _mm256_loadu_ps(gp), g1 = _mm256_loadu_ps(gp + 8);
			__m256 x0 = _mm256_broadcast_ss(xp), x1 = _mm256_broadcast_ss(xp + 1);
			__m256 x2 = _mm256_broadcast_ss(xp + 2);
			a00 = _mm256_fmadd_ps(g0, x0, a00);
			a01 = _mm256_fmadd_ps(g1, x0, a01);
			a10 = _mm256_fmadd_ps(g0, x1, a10);
			a11 = _mm256_fmadd_ps(g1, x1, a11);
			a20 = _mm256_fmadd_ps(g0, x2, a20);
			a21 = _mm256_fmadd_ps(g1, x2, a21);
		}
	}
	_mm256_store_ps(accf, _mm256_add_ps(a00, c00));
	_mm256_store_ps(accf + 8, _mm256_add_ps(a01, c01));
	_mm256_store_ps(accf + 16, _mm256_add_ps(a10, c10));
	_mm256_store_ps(accf + 24, _mm256_add_ps(a11, c11));
	_mm256_store_ps(accf + 32, _mm256_add_ps(a20, c20));
	_mm256_store_ps(accf + 40, _mm256_add_ps(a21, c21));
}

AVX2 static void cv_weight_grad_avx2(const struct nn_layer *l, int B, int max_b, const float *pad,
				     const float *dout, float *dw, float *scratch)
{
	int K = l->k, C = l->in_c, OC = l->out_c, OH = l->out_h, OW = l->out_w, OCp = oc_pad(l);
	int Wp = l->in_w + 2 * l->pad, ckk = C * K * K;
	size_t plane = pad_plane(l), S = (size_t)OH * OW;
	float *acc = scratch;		     /* (OCp/16, CKK, 16) */
	float *gt = acc + (size_t)ckk * OCp; /* (S, OCp) */
	memset(acc, 0, sizeof(float) * ckk * OCp);
	memset(gt, 0, sizeof(float) * S * OCp);
	for (int b = 0; b < B; b++) {
		/* gt (S, OCp) = sample b of dout (OC, B, S) transposed */
		transpose_rows(dout + (size_t)b * S, (size_t)B * S, OC, S, gt, (size_t)OCp, 0);
		for (int og = 0; og < OCp; og += 16)
			for (int c = 0; c < C; c++)
				for (int ki = 0; ki < K; ki++) {
					const float *x =
					    pad + ((size_t)c * max_b + b) * plane + (size_t)ki * Wp;
					float *a =
					    acc + ((size_t)(og / 16) * ckk + (c * K + ki) * K) * 16;
					if (K == 3)
						cv_dw_block3(OH, OW, Wp, OCp, x, gt + og, a);
					else if (K == 5)
						cv_dw_block5(OH, OW, Wp, OCp, x, gt + og, a);
					else
						cv_dw_block7(OH, OW, Wp, OCp, x, gt + og, a);
				}
	}
	for (int oc = 0; oc < OC; oc++)
		for (int q = 0; q < ckk; q++)
			dw[(size_t)oc * ckk + q] +=
			    acc[((size_t)(oc / 16) * ckk + q) * 16 + oc % 16];
}
#endif

/* ---- the input gradient with samples in the lanes (CD_BATCH) ------------
 * Scratch: gt (OC, OH, OW, 16), the output gradient of one block of 16
 * samples; dt (C, H, W, 16), its input gradient; wt (OC, K, K, C). */
#define DXB_LANES 16

int cd_batch_ok(const struct nn_layer *l)
{
	return l->kind == NN_CONV && l->stride == 1 && l->pad >= 0 && l->pad < l->k &&
	       l->out_h > 0 && l->out_w > 0 && l->out_h == l->in_h + 2 * l->pad - l->k + 1 &&
	       l->out_w == l->in_w + 2 * l->pad - l->k + 1;
}

size_t cd_batch_floats(const struct nn_layer *l)
{
	size_t os = (size_t)l->out_h * l->out_w, is = (size_t)l->in_h * l->in_w;
	return DXB_LANES * ((size_t)l->out_c * os + (size_t)l->in_c * is) +
	       (size_t)l->out_c * l->k * l->k * l->in_c;
}

#if CD_X86
/* Input positions (y, x) of channels c0 .. c0 + CB - 1 for one block of 16
 * samples (NV = 2 vectors), or of its first 8 (NV = 1: a last block of 8 or
 * fewer): acc[c][v] sums w[oc][c][ki][kj] * gt[oc][y + P - ki][x + P - kj]
 * over the taps that fall inside the output, oc outermost, then ki, kj. The
 * lanes never mix, so NV changes no sample's bits. */
#define DXB_KERNEL(CB, NV)                                                                         \
	AVX2 static void dxb_block##CB##_##NV(const struct nn_layer *l, int c0, const float *gt,   \
					      const float *wt, float *dt)                          \
	{                                                                                          \
		int K = l->k, P = l->pad, C = l->in_c, OC = l->out_c, OH = l->out_h,               \
		    OW = l->out_w, H = l->in_h, W = l->in_w;                                       \
		for (int y = 0; y < H; y++) {                                                      \
			int ki0 = y + P - (OH - 1) > 0 ? y + P - (OH - 1) : 0;                     \
			int ki1 = y + P < K - 1 ? y + P : K - 1;                                   \
			for (int x = 0; x < W; x++) {                                              \
				int kj0 = x + P - (OW - 1) > 0 ? x + P - (OW - 1) : 0;             \
				int kj1 = x + P < K - 1 ? x + P : K - 1;                           \
				__m256 a[CB][NV];                                                  \
				for (int c = 0; c < CB; c++)                                       \
					for (int v = 0; v < NV; v++)                               \
						a[c][v] = _mm256_setzero_ps();                     \
				for (int oc = 0; oc < OC; oc++)                                    \
					for (int ki = ki0; ki <= ki1; ki++) {                      \
						const float *gr =                                  \
						    gt + (((size_t)oc * OH + y + P - ki) * OW +    \
							  x + P) *                                 \
							     DXB_LANES;                            \
						const float *wr =                                  \
						    wt + ((size_t)(oc * K + ki) * K) * C + c0;     \
						for (int kj = kj0; kj <= kj1; kj++) {              \
							const float *g = gr - kj * DXB_LANES;      \
							__m256 gv[NV];                             \
							for (int v = 0; v < NV; v++)               \
								gv[v] = _mm256_load_ps(g + 8 * v); \
							for (int c = 0; c < CB; c++) {             \
								__m256 wv = _mm256_broadcast_ss(   \
								    wr + (size_t)kj * C + c);      \
								for (int v = 0; v < NV; v++)       \
									a[c][v] = _mm256_fmadd_ps( \
									    wv, gv[v], a[c][v]);   \
							}                                          \
						}                                                  \
					}                                                          \
				for (int c = 0; c < CB; c++) {                                     \
					float *d =                                                 \
					    dt + (((size_t)(c0 + c) * H + y) * W + x) * DXB_LANES; \
					for (int v = 0; v < NV; v++)                               \
						_mm256_store_ps(d + 8 * v, a[c][v]);               \
				}                                                                  \
			}                                                                          \
		}                                                                                  \
	}
/* clang-format off */
DXB_KERNEL(6, 2)
DXB_KERNEL(4, 2)
DXB_KERNEL(2, 2)
DXB_KERNEL(1, 2)
DXB_KERNEL(6, 1)
DXB_KERNEL(4, 1)
DXB_KERNEL(2, 1)
DXB_KERNEL(1, 1)
/* clang-format on */
typedef void dxb_fn(const struct nn_layer *l, int c0, const float *gt, const float *wt, float *dt);
static const int dxb_cb[4] = {6, 4, 2, 1};
static dxb_fn *const dxb_blocks[2][4] = {/* [two vectors][dxb_cb] */
					 {dxb_block6_1, dxb_block4_1, dxb_block2_1, dxb_block1_1},
					 {dxb_block6_2, dxb_block4_2, dxb_block2_2, dxb_block1_2}};

AVX2 static void dxb_avx2(const struct nn_layer *l, int B, const float *w, const float *dout,
			  float *din, float *scratch)
{
	int K = l->k, C = l->in_c, OC = l->out_c, KK = K * K;
	size_t os = (size_t)l->out_h * l->out_w, is = (size_t)l->in_h * l->in_w;
	float *gt = scratch, *dt = gt + DXB_LANES * OC * os, *wt = dt + DXB_LANES * C * is;
	for (int oc = 0; oc < OC; oc++)
		for (int c = 0; c < C; c++)
			for (int q = 0; q < KK; q++)
				wt[((size_t)oc * KK + q) * C + c] =
				    w[((size_t)oc * C + c) * KK + q];
	for (int b0 = 0; b0 < B; b0 += DXB_LANES) {
		int n = B - b0 < DXB_LANES ? B - b0 : DXB_LANES;
		for (int oc = 0; oc < OC; oc++) { /* the n samples in lanes, the rest zero */
			float *g = gt + (size_t)oc * os * DXB_LANES;
			transpose_rows(dout + ((size_t)oc * B + b0) * os, os, n, os, g, DXB_LANES,
				       0);
			for (int j = n; j < DXB_LANES; j++)
				for (size_t p = 0; p < os; p++)
					g[p * DXB_LANES + j] = 0;
		}
		/* blocks of 6 channels, then of 4, 2 and 1 for the rest */
		dxb_fn *const *fn = dxb_blocks[n > 8];
		int c0 = 0;
		for (int k = 0; k < 4; k++)
			for (; c0 + dxb_cb[k] <= C; c0 += dxb_cb[k])
				fn[k](l, c0, gt, wt, dt);
		for (int c = 0; c < C; c++) /* din += the n lanes, back in planes */
			transpose_rows(dt + (size_t)c * is * DXB_LANES, DXB_LANES, (int)is,
				       (size_t)n, din + ((size_t)c * B + b0) * is, is, 1);
	}
}
#endif

void cd_input_grad_batch(const struct nn_layer *l, int B, const float *w, const float *dout,
			 float *din, float *scratch)
{
#if CD_X86
	dxb_avx2(l, B, w, dout, din, scratch);
#else
	(void)l, (void)B, (void)w, (void)dout, (void)din, (void)scratch;
	fprintf(stderr, "wmbench: conv_direct: no kernels for this CPU\n");
	abort();
#endif
}

void cd_forward(const struct nn_layer *l, int kind, int B, int max_b, const float *pad,
		const float *w, const float *bias, float *out, float *scratch)
{
#if CD_X86
	if (kind == CD_CHAN)
		cv_forward_avx2(l, B, max_b, pad, w, bias, out, scratch);
	else
		cd_forward_avx2(l, B, max_b, pad, w, bias, out, scratch);
#else
	(void)l, (void)kind, (void)B, (void)max_b, (void)pad, (void)w, (void)bias, (void)out;
	(void)scratch;
	fprintf(stderr, "wmbench: conv_direct: no kernels for this CPU\n");
	abort();
#endif
}

void cd_weight_grad(const struct nn_layer *l, int kind, int B, int max_b, const float *pad,
		    const float *dout, float *dw, float *db, float *scratch)
{
	if (db && !cd_weight_grad_sums_bias(l, kind)) {
		fprintf(stderr, "wmbench: conv_direct: a bias gradient asked of a kernel that "
				"does not sum it\n");
		abort();
	}
#if CD_X86
	if (kind == CD_CHAN)
		cv_weight_grad_avx2(l, B, max_b, pad, dout, dw, scratch);
	else
		cd_weight_grad_avx2(l, B, max_b, pad, dout, dw, db, scratch);
#else
	(void)l, (void)kind, (void)B, (void)max_b, (void)pad, (void)dout, (void)dw, (void)db,
	    (void)scratch;
	fprintf(stderr, "wmbench: conv_direct: no kernels for this CPU\n");
	abort();
#endif
}
