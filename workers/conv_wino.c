/* conv_wino.c - Winograd F(2x2, 3x3) convolution (see conv_wino.h).
 *
 * The 1-D transforms, for a 4-vector d, a 4-vector m, a 3-tap g:
 *   B^T d = (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
 *   A^T m = (m0 + m1 + m2, m1 - m2 - m3)
 *   G g   = (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2)
 * and their adjoints for the backward pass:
 *   B v   = (v0, v1 - v2 + v3, v1 + v2 - v0, -v3)
 *   A y   = (y0, y0 + y1, y0 - y1, -y1)
 *   G^T u = (u0 + (u1 + u2) / 2, (u1 - u2) / 2, (u1 + u2) / 2 + u3).
 * The tile (ty, tx) covers outputs 2ty..2ty+1 x 2tx..2tx+1 and inputs
 * 2ty-1..2ty+2 x 2tx-1..2tx+2 (zero outside the plane). Transformed arrays
 * are (16, channels, T) for the T tiles of a chunk, tile t = (b, ty, tx). */
#include "conv_wino.h"

#include <cblas.h>
#include <string.h>

/* Target size of a chunk's transformed input or output (floats): 512 KB,
 * one core's L2 here. */
#define CW_CHUNK_FLOATS (1 << 17)

/* Floats between the 16 transformed positions' matrices beyond their size,
 * so that the 16 streams a tile reads or writes do not all fall in the same
 * cache sets (their natural strides are multiples of 4 KB). */
#define CW_SKEW 16

struct cw_dims {
	int C, OC, H, W, TW, TH, tps, nb; /* tps: tiles per sample; nb: samples per chunk */
	size_t tmax;			  /* tiles per chunk */
};

int cw_ok(const struct nn_layer *l)
{
	return l->kind == NN_CONV && l->k == 3 && l->stride == 1 && l->pad == 1 && l->in_h >= 2 &&
	       l->in_w >= 2 && l->in_h % 2 == 0 && l->in_w % 2 == 0;
}

static void dims(const struct nn_layer *l, struct cw_dims *d)
{
	d->C = l->in_c;
	d->OC = l->out_c;
	d->H = l->in_h;
	d->W = l->in_w;
	d->TH = d->H / 2;
	d->TW = d->W / 2;
	d->tps = d->TH * d->TW;
	size_t per = (size_t)16 * (d->C > d->OC ? d->C : d->OC) * d->tps;
	d->nb = per >= CW_CHUNK_FLOATS ? 1 : (int)(CW_CHUNK_FLOATS / per);
	d->tmax = (size_t)d->nb * d->tps;
}

/* The row scratch of the plane transforms: (H + 2) rows of 4 TW, and two
 * rows of TW + 1. */
static size_t cw_row_floats(const struct cw_dims *d)
{
	return (size_t)(d->H + 2) * 4 * d->TW + 2 * (size_t)(d->TW + 1);
}

/* U (16, OC, C), dU the same, V (16, C, tmax), M (16, OC, tmax), row scratch */
size_t cw_scratch_floats(const struct nn_layer *l)
{
	struct cw_dims d;
	dims(l, &d);
	return 32 * ((size_t)d.OC * d.C + CW_SKEW) + 16 * ((d.C + d.OC) * d.tmax + 2 * CW_SKEW) +
	       cw_row_floats(&d);
}

/* U[xi] (OC, C) = G g G^T for each filter g of w (OC, C, 3, 3). */
static void weight_transform(const struct cw_dims *d, const float *w, float *U)
{
	size_t n = (size_t)d->OC * d->C, xs = n + CW_SKEW;
	for (size_t k = 0; k < n; k++) {
		const float *g = w + k * 9;
		float t[4][3];
		for (int j = 0; j < 3; j++) {
			t[0][j] = g[j];
			t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
			t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
			t[3][j] = g[6 + j];
		}
		for (int i = 0; i < 4; i++) {
			U[(4 * i + 0) * xs + k] = t[i][0];
			U[(4 * i + 1) * xs + k] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
			U[(4 * i + 2) * xs + k] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
			U[(4 * i + 3) * xs + k] = t[i][2];
		}
	}
}

/* dw (OC, C, 3, 3) += G^T dU[xi] G. */
static void weight_grad_back(const struct cw_dims *d, const float *dU, float *dw)
{
	size_t n = (size_t)d->OC * d->C, xs = n + CW_SKEW;
	for (size_t k = 0; k < n; k++) {
		float u[4][4], t[3][4];
		for (int x = 0; x < 16; x++)
			u[x / 4][x % 4] = dU[x * xs + k];
		for (int j = 0; j < 4; j++) {
			t[0][j] = u[0][j] + 0.5f * (u[1][j] + u[2][j]);
			t[1][j] = 0.5f * (u[1][j] - u[2][j]);
			t[2][j] = 0.5f * (u[1][j] + u[2][j]) + u[3][j];
		}
		float *g = dw + k * 9;
		for (int a = 0; a < 3; a++) {
			g[3 * a + 0] += t[a][0] + 0.5f * (t[a][1] + t[a][2]);
			g[3 * a + 1] += 0.5f * (t[a][1] - t[a][2]);
			g[3 * a + 2] += 0.5f * (t[a][1] + t[a][2]) + t[a][3];
		}
	}
}

/* Loops over the tiles of a row four at a time (SSE vectors, GCC's and
 * clang's vector extension), then one at a time: BODY(T, LD, ST) is written
 * once for both, with tx the first tile, T the type, LD and ST a load and a
 * store of that type. */
typedef float v4 __attribute__((vector_size(16)));
static inline v4 ld4(const float *p)
{
	v4 v;
	memcpy(&v, p, sizeof v);
	return v;
}
static inline void st4(float *p, v4 v)
{
	memcpy(p, &v, sizeof v);
}
#define LD1(p)	  (*(p))
#define ST1(p, v) (*(p) = (v))
#define TILES(TW, BODY)                                                                            \
	do {                                                                                       \
		int tx = 0;                                                                        \
		for (; tx + 4 <= (TW); tx += 4)                                                    \
			BODY(v4, ld4, st4);                                                        \
		for (; tx < (TW); tx++)                                                            \
			BODY(float, LD1, ST1);                                                     \
	} while (0)

/* x (2 TW) -> e[k] = x[2k], o[k] = x[2k - 1] (k = 0..TW; x outside is 0) */
static void split_row(const float *restrict x, int TW, float *restrict e, float *restrict o)
{
	o[0] = 0;
	for (int k = 0; k < TW; k++) {
		e[k] = x[2 * k];
		o[k + 1] = x[2 * k + 1];
	}
	e[TW] = 0;
}

/* Plane p (H, W) -> its tiles' B^T d B at V + t0, position stride xs; R:
 * cw_row_floats. First along each row, d = (o[tx], e[tx], o[tx+1], e[tx+1]),
 * into R (padded row 0..H+1, then j, then tx), then down the columns. */
static void in_plane(const struct cw_dims *d, const float *p, float *V, size_t xs, size_t t0,
		     float *R)
{
	int TW = d->TW;
	size_t rs = (size_t)4 * TW;
	float *e = R + (size_t)(d->H + 2) * rs, *o = e + TW + 1;
	memset(R, 0, rs * sizeof(float));
	memset(R + (size_t)(d->H + 1) * rs, 0, rs * sizeof(float));
	for (int y = 0; y < d->H; y++) {
		float *r = R + (size_t)(y + 1) * rs;
		split_row(p + (size_t)y * d->W, TW, e, o);
#define IN_ROW(T, LD, ST)                                                                          \
	{                                                                                          \
		T d0 = LD(o + tx), d1 = LD(e + tx), d2 = LD(o + tx + 1), d3 = LD(e + tx + 1);      \
		ST(r + tx, d0 - d2);                                                               \
		ST(r + TW + tx, d1 + d2);                                                          \
		ST(r + 2 * TW + tx, d2 - d1);                                                      \
		ST(r + 3 * TW + tx, d1 - d3);                                                      \
	}
		TILES(TW, IN_ROW);
	}
	for (int ty = 0; ty < d->TH; ty++) {
		const float *a = R + (size_t)(2 * ty) * rs, *b = a + rs, *c = b + rs, *f = c + rs;
		float *v = V + t0 + (size_t)ty * TW;
		for (int j = 0; j < 4; j++) {
			const float *aj = a + j * TW, *bj = b + j * TW, *cj = c + j * TW,
				    *fj = f + j * TW;
			float *v0 = v + j * xs, *v1 = v + (4 + j) * xs, *v2 = v + (8 + j) * xs,
			      *v3 = v + (12 + j) * xs;
#define IN_COL(T, LD, ST)                                                                          \
	{                                                                                          \
		T ra = LD(aj + tx), rb = LD(bj + tx), rc = LD(cj + tx), rf = LD(fj + tx);          \
		ST(v0 + tx, ra - rc);                                                              \
		ST(v1 + tx, rb + rc);                                                              \
		ST(v2 + tx, rc - rb);                                                              \
		ST(v3 + tx, rb - rf);                                                              \
	}
			TILES(TW, IN_COL);
		}
	}
}

/* Tiles of M at m (position stride xs) -> output plane o (H, W) = bias +
 * A^T m A; R: cw_row_floats (four rows of TW: the even and odd outputs of
 * the two rows, interleaved after). */
static void out_plane(const struct cw_dims *d, const float *m, size_t xs, float bias, float *o,
		      float *R)
{
	int TW = d->TW, W = d->W;
	float *q0 = R, *q1 = q0 + TW, *q2 = q1 + TW, *q3 = q2 + TW;
	for (int ty = 0; ty < d->TH; ty++) {
		const float *t = m + (size_t)ty * TW;
		float *o0 = o + (size_t)(2 * ty) * W, *o1 = o0 + W;
#define OUT_TILE(T, LD, ST)                                                                        \
	{                                                                                          \
		T s0[4], s1[4];                                                                    \
		for (int i = 0; i < 4; i++) {                                                      \
			T m0 = LD(t + (4 * i) * xs + tx), m1 = LD(t + (4 * i + 1) * xs + tx);      \
			T m2 = LD(t + (4 * i + 2) * xs + tx), m3 = LD(t + (4 * i + 3) * xs + tx);  \
			s0[i] = m0 + m1 + m2;                                                      \
			s1[i] = m1 - m2 - m3;                                                      \
		}                                                                                  \
		ST(q0 + tx, s0[0] + s0[1] + s0[2]);                                                \
		ST(q1 + tx, s1[0] + s1[1] + s1[2]);                                                \
		ST(q2 + tx, s0[1] - s0[2] - s0[3]);                                                \
		ST(q3 + tx, s1[1] - s1[2] - s1[3]);                                                \
	}
		TILES(TW, OUT_TILE);
		for (int tx = 0; tx < TW; tx++) {
			o0[2 * tx] = bias + q0[tx];
			o0[2 * tx + 1] = bias + q1[tx];
			o1[2 * tx] = bias + q2[tx];
			o1[2 * tx + 1] = bias + q3[tx];
		}
	}
}

/* Output-gradient plane g (H, W) -> its tiles' A dY A^T at m (position
 * stride xs); R: cw_row_floats. */
static void dout_plane(const struct cw_dims *d, const float *g, float *m, size_t xs, float *R)
{
	int TW = d->TW, W = d->W;
	float *a0 = R, *a1 = a0 + TW, *b0 = a1 + TW, *b1 = b0 + TW;
	for (int ty = 0; ty < d->TH; ty++) {
		const float *g0 = g + (size_t)(2 * ty) * W, *g1 = g0 + W;
		float *t = m + (size_t)ty * TW;
		for (int tx = 0; tx < TW; tx++) {
			a0[tx] = g0[2 * tx];
			a1[tx] = g0[2 * tx + 1];
			b0[tx] = g1[2 * tx];
			b1[tx] = g1[2 * tx + 1];
		}
#define DOUT_TILE(T, LD, ST)                                                                       \
	{                                                                                          \
		T y00 = LD(a0 + tx), y01 = LD(a1 + tx), y10 = LD(b0 + tx), y11 = LD(b1 + tx);      \
		T e0[4] = {y00, y00 + y01, y00 - y01, -y01};                                       \
		T e1[4] = {y10, y10 + y11, y10 - y11, -y11};                                       \
		for (int j = 0; j < 4; j++) {                                                      \
			ST(t + j * xs + tx, e0[j]);                                                \
			ST(t + (4 + j) * xs + tx, e0[j] + e1[j]);                                  \
			ST(t + (8 + j) * xs + tx, e0[j] - e1[j]);                                  \
			ST(t + (12 + j) * xs + tx, -e1[j]);                                        \
		}                                                                                  \
	}
		TILES(TW, DOUT_TILE);
	}
}

/* Input-gradient tiles dV at v (position stride xs) -> din plane (H, W) +=
 * B dV B^T summed over the overlapping patches; R: cw_row_floats. */
static void din_plane(const struct cw_dims *d, const float *v, size_t xs, float *din, float *R)
{
	int TW = d->TW, TH = d->TH, W = d->W;
	size_t rs = (size_t)4 * TW; /* R: input row y, then j, then tx */
	float *E = R + (size_t)d->H * rs, *F = E + TW;
	/* down the columns: input row 2k takes (v1 - v2 + v3) of tile row k and
	 * -v3 of tile row k - 1; row 2k + 1 takes (v1 + v2 - v0) of row k and v0
	 * of row k + 1 */
	for (int k = 0; k < TH; k++) {
		for (int j = 0; j < 4; j++) {
			const float *c = v + (size_t)k * TW;
			const float *v0 = c + j * xs, *v1 = c + (4 + j) * xs,
				    *v2 = c + (8 + j) * xs, *v3 = c + (12 + j) * xs;
			float *r0 = R + (size_t)(2 * k) * rs + j * TW, *r1 = r0 + rs;
#define DIN_COL(T, LD, ST)                                                                         \
	{                                                                                          \
		T w0 = LD(v0 + tx), w1 = LD(v1 + tx), w2 = LD(v2 + tx), w3 = LD(v3 + tx);          \
		T e = w1 - w2 + w3, f = w1 + w2 - w0;                                              \
		if (k > 0)                                                                         \
			e -= LD(v3 - TW + tx);                                                     \
		if (k < TH - 1)                                                                    \
			f += LD(v0 + TW + tx);                                                     \
		ST(r0 + tx, e);                                                                    \
		ST(r1 + tx, f);                                                                    \
	}
			TILES(TW, DIN_COL);
		}
	}
	/* along each row the same: column 2k takes (r1 - r2 + r3)[k] - r3[k-1],
	 * column 2k + 1 takes (r1 + r2 - r0)[k] + r0[k+1] */
	for (int y = 0; y < d->H; y++) {
		const float *r0 = R + (size_t)y * rs, *r1 = r0 + TW, *r2 = r1 + TW, *r3 = r2 + TW;
		float *o = din + (size_t)y * W;
#define DIN_ROW(T, LD, ST)                                                                         \
	{                                                                                          \
		T a = LD(r0 + tx), b = LD(r1 + tx), c = LD(r2 + tx), f = LD(r3 + tx);              \
		ST(E + tx, b - c + f);                                                             \
		ST(F + tx, b + c - a);                                                             \
	}
		TILES(TW, DIN_ROW);
		for (int k = 0; k < TW; k++) {
			float e = E[k], f = F[k];
			if (k > 0)
				e -= r3[k - 1];
			if (k < TW - 1)
				f += r0[k + 1];
			o[2 * k] += e;
			o[2 * k + 1] += f;
		}
	}
}

/* The scratch: U and dU (16 positions of OC x C), V (16 of C x tiles), M
 * (16 of OC x tiles), the row scratch; position strides skewed. */
struct cw_bufs {
	float *U, *dU, *V, *M, *R;
	size_t ws; /* position stride of U and dU */
};

static void bufs(const struct cw_dims *d, float *scratch, struct cw_bufs *b)
{
	b->ws = (size_t)d->OC * d->C + CW_SKEW;
	b->U = scratch;
	b->dU = b->U + 16 * b->ws;
	b->V = b->dU + 16 * b->ws;
	b->M = b->V + 16 * ((size_t)d->C * d->tmax + CW_SKEW);
	b->R = b->M + 16 * ((size_t)d->OC * d->tmax + CW_SKEW);
}

/* The chunk of samples from b0: returns its samples; *T its tiles, *vx and
 * *mx the position strides of V and M. */
static int chunk(const struct cw_dims *d, int B, int b0, size_t *T, size_t *vx, size_t *mx)
{
	int n = B - b0 < d->nb ? B - b0 : d->nb;
	*T = (size_t)n * d->tps;
	*vx = (size_t)d->C * *T + CW_SKEW;
	*mx = (size_t)d->OC * *T + CW_SKEW;
	return n;
}

void cw_forward(const struct nn_layer *l, int B, const float *in, const float *w, const float *bias,
		float *out, float *scratch)
{
	struct cw_dims d;
	struct cw_bufs s;
	dims(l, &d);
	bufs(&d, scratch, &s);
	size_t hw = (size_t)d.H * d.W;
	weight_transform(&d, w, s.U);
	for (int b0 = 0; b0 < B; b0 += d.nb) {
		size_t T, vx, mx;
		int n = chunk(&d, B, b0, &T, &vx, &mx);
		for (int c = 0; c < d.C; c++)
			for (int b = 0; b < n; b++)
				in_plane(&d, in + ((size_t)c * B + b0 + b) * hw,
					 s.V + (size_t)c * T, vx, (size_t)b * d.tps, s.R);
		for (int x = 0; x < 16; x++)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d.OC, (int)T, d.C,
				    1.0f, s.U + x * s.ws, d.C, s.V + x * vx, (int)T, 0.0f,
				    s.M + x * mx, (int)T);
		for (int oc = 0; oc < d.OC; oc++)
			for (int b = 0; b < n; b++)
				out_plane(&d, s.M + (size_t)oc * T + (size_t)b * d.tps, mx,
					  bias[oc], out + ((size_t)oc * B + b0 + b) * hw, s.R);
	}
}

void cw_backward(const struct nn_layer *l, int B, const float *in, const float *w,
		 const float *dout, float *dw, float *din, float *scratch)
{
	struct cw_dims d;
	struct cw_bufs s;
	dims(l, &d);
	bufs(&d, scratch, &s);
	size_t hw = (size_t)d.H * d.W;
	if (din)
		weight_transform(&d, w, s.U);
	if (dw)
		memset(s.dU, 0, 16 * s.ws * sizeof(float));
	for (int b0 = 0; b0 < B; b0 += d.nb) {
		size_t T, vx, mx;
		int n = chunk(&d, B, b0, &T, &vx, &mx);
		for (int oc = 0; oc < d.OC; oc++)
			for (int b = 0; b < n; b++)
				dout_plane(&d, dout + ((size_t)oc * B + b0 + b) * hw,
					   s.M + (size_t)oc * T + (size_t)b * d.tps, mx, s.R);
		if (dw) {
			for (int c = 0; c < d.C; c++)
				for (int b = 0; b < n; b++)
					in_plane(&d, in + ((size_t)c * B + b0 + b) * hw,
						 s.V + (size_t)c * T, vx, (size_t)b * d.tps, s.R);
			for (int x = 0; x < 16; x++)
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d.OC, d.C,
					    (int)T, 1.0f, s.M + x * mx, (int)T, s.V + x * vx,
					    (int)T, 1.0f, s.dU + x * s.ws, d.C);
		}
		if (din) {
			for (int x = 0; x < 16; x++)
				cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d.C, (int)T,
					    d.OC, 1.0f, s.U + x * s.ws, d.C, s.M + x * mx, (int)T,
					    0.0f, s.V + x * vx, (int)T);
			for (int c = 0; c < d.C; c++)
				for (int b = 0; b < n; b++)
					din_plane(&d, s.V + (size_t)c * T + (size_t)b * d.tps, vx,
						  din + ((size_t)c * B + b0 + b) * hw, s.R);
		}
	}
	if (dw)
		weight_grad_back(&d, s.dU, dw);
}
