/* nn_rop.c - exact double back-propagation (R-operator) and its mixed finite
 * difference, on top of the engine in nn.c (see nn_rop.h).
 *
 * Notation for layer i: a = its input (acts[i-1], or the input in layer 0's
 * layout), o = its output (acts[i]), d = dL/do (dacts[i]); Ra, Ro, Rd their
 * tangents along u. Layouts are the engine's: dense-stack (B, C), conv-stack
 * channel-major (C, B, H, W), the model input transposed to (C, B, H, W) when
 * layer 0 is channel-major and C > 1.
 *
 * R-forward (tangent of the forward pass; biases drop out):
 *   dense  Ro = Ra W^T            conv   Ro = W . im2col(Ra)
 *   relu   Ro = Ra [o > 0]         maxpool Ro = Ra at the stored argmax
 *   flatten, dropout (evaluation mode: identity): the forward's linear map.
 * Logits z_b, p_b = softmax(z_b): d_b = (p_b - e_y) / B, so
 *   Rd_b = (diag(p_b) - p_b p_b^T) Rz_b / B.
 * R-backward, from the top (W does not depend on e; the ReLU mask and the
 * argmax are piecewise constant, so their tangents vanish a.e.):
 *   Rdin = J^T Rd (the ordinary backward applied to Rd),
 *   dense  R{dW} = Rd^T a + d^T Ra,                 R{db} = sum_b Rd_b
 *   conv   R{dW} = Rd . im2col(a)^T + d . im2col(Ra)^T, R{db} = sum Rd.
 * A convolution whose forward pass and weight gradient the engine runs on a
 * direct kernel (nn_conv_direct_kind: lenet5's two) runs the tangent's
 * forward and both weight terms on the same kernel, from padded copies of a
 * and Ra, instead of im2col and sgemm (which took most of gradsigns' extra
 * time on lenet5); its input gradients use CD_BATCH where the engine does. */
#include "nn_rop.h"
#include "conv_direct.h"
#include "nn_internal.h"
#include "util.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void nn_rop_init(struct nn_rop *r)
{
	memset(r, 0, sizeof *r);
}

void nn_rop_free(struct nn_rop *r)
{
	free(r->dx);
	free(r->dx_cm);
	free(r->rx);
	free(r->col);
	free(r->dcol);
	free(r->dxb);
	free(r->zeros);
	free(r->dw_tmp);
	free(r->dxsum);
	free(r->dsum);
	free(r->cat_d);
	free(r->cat_a);
	free(r->ro1);
	free(r->xg);
	for (int i = 0; i < NN_MAXLAYERS; i++) {
		free(r->ra[i]);
		free(r->rd[i]);
		free(r->pad_a[i]);
		free(r->pad_ra[i]);
		free(r->kscr[i]);
	}
	memset(r, 0, sizeof *r);
}

static void rop_reserve(struct nn_rop *r, const struct nn_model *m, int B)
{
	size_t in_n = nn_in_size(m), col_n = 0, dxb_n = 0, zn = 0, dn = 0, ocmax = 0, icmax = 0;
	if (B <= r->max_b && r->nlayers == m->nlayers && r->in_n == in_n &&
	    r->nparams == m->nparams)
		return;
	nn_rop_free(r);
	r->max_b = B;
	r->nlayers = m->nlayers;
	r->in_n = in_n;
	r->nparams = m->nparams;
	r->dx = xmalloc(in_n * B * sizeof(float));
	r->dx_cm = xmalloc(in_n * B * sizeof(float));
	r->rx = xmalloc(in_n * B * sizeof(float));
	for (int i = 0; i < m->nlayers; i++) {
		const struct nn_layer *l = &m->layers[i];
		size_t n = nn_out_size(l) * B;
		r->ra[i] = xmalloc(n * sizeof(float));
		r->rd[i] = xmalloc(n * sizeof(float));
		if (nn_has_params(l) && nn_out_size(l) > dn)
			dn = nn_out_size(l);
		if (l->kind == NN_DENSE) {
			if ((size_t)l->out_c > ocmax)
				ocmax = (size_t)l->out_c;
			if ((size_t)l->in_c > icmax)
				icmax = (size_t)l->in_c;
		}
		if (l->kind == NN_CONV) {
			size_t cn = (size_t)l->in_c * l->k * l->k * l->out_h * l->out_w * B;
			size_t wn = (size_t)l->out_c * l->in_c * l->k * l->k;
			if (wn > zn)
				zn = wn;
			if (cn > col_n)
				col_n = cn;
			if (cd_batch_ok(l) && cd_batch_floats(l) > dxb_n)
				dxb_n = cd_batch_floats(l);
		}
	}
	if (dxb_n)
		r->dxb = cd_alloc_floats(dxb_n);
	if (zn) { /* conv weights (OC x C x K x K) bound every conv's OC */
		r->zeros = xcalloc(zn, sizeof(float));
		r->dw_tmp = xmalloc(zn * sizeof(float));
	}
	r->dxsum = xmalloc(in_n * sizeof(float));
	r->dsum = xmalloc((dn ? dn : 1) * sizeof(float));
	r->ro1 = xmalloc((dn ? dn : 1) * sizeof(float));
	r->xg = xmalloc(in_n * B * sizeof(float));
	if (ocmax) { /* the dense weight terms' operands, two batches deep */
		r->cat_d = xmalloc((2 * (size_t)B + 1) * ocmax * sizeof(float));
		r->cat_a = xmalloc((2 * (size_t)B + 1) * icmax * sizeof(float));
	}
	r->col_n = col_n;
	if (col_n) {
		r->col = xmalloc(col_n * sizeof(float));
		r->dcol = xmalloc(col_n * sizeof(float));
	}
}

/* (B, C, S) <-> (C, B, S) */
static void to_chan_major(const float *x, float *y, int B, int C, size_t S)
{
	for (int b = 0; b < B; b++)
		for (int c = 0; c < C; c++)
			memcpy(y + ((size_t)c * B + b) * S, x + ((size_t)b * C + c) * S,
			       S * sizeof(float));
}

static void from_chan_major(const float *y, float *x, int B, int C, size_t S)
{
	for (int b = 0; b < B; b++)
		for (int c = 0; c < C; c++)
			memcpy(x + ((size_t)b * C + c) * S, y + ((size_t)c * B + b) * S,
			       S * sizeof(float));
}

/* Is the input of layer i channel-major? (the engine's rule) */
static int in_chan_major(const struct nn_model *m, int i)
{
	return i ? m->layers[i - 1].chan_major : m->layers[0].chan_major;
}

/* The direct kernel of conv layer i (nn_conv_direct_kind), with its padded
 * buffers and scratch allocated on first use; CD_NONE for im2col and sgemm. */
static int direct_kind(struct nn_rop *r, const struct nn_model *m, int i)
{
	const struct nn_layer *l = &m->layers[i];
	int kind = nn_conv_direct_kind(l);
	if (kind && !r->pad_ra[i])
		r->pad_ra[i] = cd_alloc_pad(l, r->max_b);
	if (kind && r->kscr_kind[i] != kind) { /* the mode changed (tests) */
		free(r->kscr[i]);
		r->kscr[i] = cd_alloc_scratch(l, kind);
		r->kscr_kind[i] = (unsigned char)kind;
	}
	return kind;
}

/* ro[k] = ra[k] where o[k] > 0, else 0: the ReLU's tangent, with ra read
 * on every element so that it vectorises (a select, no arithmetic). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static void
relu_tangent(float *restrict ro, const float *restrict ra, const float *restrict o, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		float v = ra[k];
		ro[k] = o[k] > 0 ? v : 0;
	}
}

/* Ro = J_i Ra: the linear part of layer i's forward at the stored point. */
static void tangent_forward(struct nn_rop *r, struct nn_model *m, int i, int B, const float *ra,
			    float *ro)
{
	const struct nn_layer *l = &m->layers[i];
	const float *w = m->params + l->w_off, *o = m->acts[i];
	size_t n = nn_out_size(l) * B;
	switch (l->kind) {
	case NN_DENSE: /* ro (B, OC) = ra (B, C) . W^T */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, l->out_c, l->in_c, 1.0f, ra,
			    l->in_c, w, l->in_c, 0.0f, ro, l->out_c);
		break;
	case NN_CONV: { /* ro (OC, B*OH*OW) = W (OC, CKK) . im2col(ra) */
		int ckk = l->in_c * l->k * l->k, kind = direct_kind(r, m, i);
		size_t np = (size_t)B * l->out_h * l->out_w;
		if (kind) { /* as the engine's forward, with a zero bias */
			cd_pad_input(l, B, r->max_b, ra, r->pad_ra[i]);
			cd_forward(l, kind, B, r->max_b, r->pad_ra[i], w, r->zeros, ro, r->kscr[i]);
			break;
		}
		nn_im2col(l, B, ra, r->col);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l->out_c, (int)np, ckk, 1.0f,
			    w, ckk, r->col, (int)np, 0.0f, ro, (int)np);
		break;
	}
	case NN_MAXPOOL: {
		size_t planes = (size_t)l->in_c * B, po = (size_t)l->out_h * l->out_w;
		size_t pi = (size_t)l->in_h * l->in_w;
		const int *idx = m->pool_idx[i];
		for (size_t p = 0; p < planes; p++)
			for (size_t k = 0; k < po; k++)
				ro[p * po + k] = ra[p * pi + (size_t)idx[p * po + k]];
		break;
	}
	case NN_RELU:
		relu_tangent(ro, ra, o, n);
		break;
	case NN_FLATTEN: {
		size_t s = (size_t)l->in_h * l->in_w, on = nn_out_size(l);
		if (!in_chan_major(m, i) || l->in_c == 1) {
			memcpy(ro, ra, n * sizeof(float));
			break;
		}
		for (int c = 0; c < l->in_c; c++)
			for (int b = 0; b < B; b++)
				memcpy(ro + (size_t)b * on + c * s, ra + ((size_t)c * B + b) * s,
				       s * sizeof(float));
		break;
	}
	case NN_DROPOUT: /* evaluation mode */
		memcpy(ro, ra, n * sizeof(float));
		break;
	}
}

/* din[k] += dout[k] where o[k] > 0: the ReLU's backward, written as a
 * select between din[k] and din[k] + dout[k] so that it vectorises (the
 * same floats as the branch, whose mispredictions on the random mask made
 * it most of backward_data's time). GCC keeps a float add under a condition
 * unless trapping math is off; the add cannot trap here in any way that
 * matters (no trap is enabled), and no operation is reordered. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default"), optimize("no-trapping-math")))
#endif
static void
relu_back_add(float *restrict din, const float *restrict dout, const float *restrict o, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		float a = din[k], s = a + dout[k];
		din[k] = o[k] > 0 ? s : a;
	}
}

/* din[k] = dout[k] where o[k] > 0, else 0: the same with din overwritten. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static void
relu_back_set(float *restrict din, const float *restrict dout, const float *restrict o, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		float v = dout[k];
		din[k] = o[k] > 0 ? v : 0;
	}
}

/* din += J_i^T dout, or with set, din = J_i^T dout (din's old contents
 * unread: the R-backward and the summed prepare write each buffer once,
 * which spares zeroing it first): layer i's ordinary backward without
 * parameter gradients, at the stored point (evaluation mode). */
static void backward_data(struct nn_rop *r, struct nn_model *m, int i, int B, const float *dout,
			  float *din, int set)
{
	const struct nn_layer *l = &m->layers[i];
	const float *w = m->params + l->w_off, *o = m->acts[i];
	size_t n = nn_out_size(l) * B;
	size_t in_n = (i ? nn_out_size(&m->layers[i - 1]) : nn_in_size(m)) * B;
	switch (l->kind) {
	case NN_DENSE: /* din (B, C) += dout (B, OC) . W */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, l->in_c, l->out_c, 1.0f,
			    dout, l->out_c, w, l->in_c, set ? 0.0f : 1.0f, din, l->in_c);
		break;
	case NN_CONV: {
		if (set)
			memset(din, 0, in_n * sizeof(float));
		/* as nn_conv_backward, where it can; one row (the shared-direction
		 * passes) would fill one lane of CD_BATCH's 16 */
		if (B > 1 && nn_conv_batch_dx(l)) {
			cd_input_grad_batch(l, B, w, dout, din, r->dxb);
			break;
		}
		int ckk = l->in_c * l->k * l->k;
		size_t np = (size_t)B * l->out_h * l->out_w;
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ckk, (int)np, l->out_c, 1.0f,
			    w, ckk, dout, (int)np, 0.0f, r->dcol, (int)np);
		nn_col2im(l, B, r->dcol, din);
		break;
	}
	case NN_MAXPOOL: {
		size_t planes = (size_t)l->in_c * B, po = (size_t)l->out_h * l->out_w;
		size_t pi = (size_t)l->in_h * l->in_w;
		const int *idx = m->pool_idx[i];
		if (set)
			memset(din, 0, in_n * sizeof(float));
		for (size_t p = 0; p < planes; p++)
			for (size_t k = 0; k < po; k++)
				din[p * pi + (size_t)idx[p * po + k]] += dout[p * po + k];
		break;
	}
	case NN_RELU:
		if (set)
			relu_back_set(din, dout, o, n);
		else
			relu_back_add(din, dout, o, n);
		break;
	case NN_FLATTEN: {
		size_t s = (size_t)l->in_h * l->in_w, on = nn_out_size(l);
		if (!in_chan_major(m, i) || l->in_c == 1) {
			if (set)
				memcpy(din, dout, n * sizeof(float));
			else
				for (size_t k = 0; k < n; k++)
					din[k] += dout[k];
			break;
		}
		for (int c = 0; c < l->in_c; c++)
			for (int b = 0; b < B; b++) {
				float *dd = din + ((size_t)c * B + b) * s;
				const float *g = dout + (size_t)b * on + c * s;
				for (size_t k = 0; k < s; k++)
					dd[k] = set ? g[k] : dd[k] + g[k];
			}
		break;
	}
	case NN_DROPOUT:
		if (set)
			memcpy(din, dout, n * sizeof(float));
		else
			for (size_t k = 0; k < n; k++)
				din[k] += dout[k];
		break;
	}
}

/* A ReLU at layer ip - 1 fused with the 2x2 max-pool at ip, as one map:
 * the pool's output o is positive exactly where the ReLU let its argmax
 * through, so the ReLU's own output and tangent are never needed. Tangent:
 * ro (pool's output shape, B rows) = ra at the argmax where o > 0, else 0,
 * from ra of B rows or of one row (in_rows 1: every row's tangent is the
 * same, the shared-direction pass). Backward: din (the ReLU's input shape,
 * overwritten) = dout at the argmax where o > 0, zero elsewhere. */
static void relu_pool_tangent(const struct nn_model *m, int ip, int B, const float *ra, int in_rows,
			      float *ro)
{
	const struct nn_layer *l = &m->layers[ip];
	size_t po = (size_t)l->out_h * l->out_w, pi = (size_t)l->in_h * l->in_w;
	const int *idx = m->pool_idx[ip];
	const float *o = m->acts[ip];
	for (int c = 0; c < l->in_c; c++)
		for (int b = 0; b < B; b++) {
			size_t p = (size_t)c * B + b;
			const float *src = ra + (in_rows == 1 ? (size_t)c : p) * pi;
			for (size_t k = p * po; k < (p + 1) * po; k++)
				ro[k] = o[k] > 0 ? src[idx[k]] : 0;
		}
}

static void relu_pool_back(const struct nn_model *m, int ip, int B, const float *dout, float *din)
{
	const struct nn_layer *l = &m->layers[ip];
	size_t po = (size_t)l->out_h * l->out_w, pi = (size_t)l->in_h * l->in_w;
	size_t planes = (size_t)l->in_c * B;
	const int *idx = m->pool_idx[ip];
	const float *o = m->acts[ip];
	memset(din, 0, planes * pi * sizeof(float));
	for (size_t p = 0; p < planes; p++)
		for (size_t k = p * po; k < (p + 1) * po; k++)
			if (o[k] > 0)
				din[p * pi + (size_t)idx[k]] = dout[k];
}

/* Layer i is a 2x2 max-pool whose ReLU (i - 1) runs fused with it and lies
 * above layer `above` (so that the ReLU's input gradient is wanted). */
static int fused_pool(const struct nn_model *m, int i, int above)
{
	return i - 1 > above && m->layers[i].kind == NN_MAXPOOL && nn_relu_fused(m, i - 1);
}

/* The sum of x (n) in double, in eight chains (one chain waits on the
 * adder at every element: lenet5's conv1 has 9,408 per channel at 12 rows). */
static double sum8(const float *x, size_t n)
{
	double a[8] = {0};
	size_t k = 0;
	for (; k + 8 <= n; k += 8)
		for (int j = 0; j < 8; j++)
			a[j] += x[k + j];
	for (; k < n; k++)
		a[0] += x[k];
	return ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
}

/* dw (OC, IC) += scale * (X^T Y) for X = [x1 (n1, OC); x2 (n2, OC)] and
 * Y = [y1 (n1, IC); y2 (n2, IC)]: a dense layer's two weight terms as one
 * product, which reads and writes dw once instead of twice (dw is 1.6 MB on
 * mlp's fc1, while each term has only a batch of carrier rows of depth). */
static void dense_terms(struct nn_rop *r, const struct nn_layer *l, const float *x1,
			const float *y1, int n1, const float *x2, const float *y2, int n2,
			float scale, float *dw)
{
	size_t oc = (size_t)l->out_c, ic = (size_t)l->in_c;
	memcpy(r->cat_d, x1, (size_t)n1 * oc * sizeof(float));
	memcpy(r->cat_d + (size_t)n1 * oc, x2, (size_t)n2 * oc * sizeof(float));
	memcpy(r->cat_a, y1, (size_t)n1 * ic * sizeof(float));
	memcpy(r->cat_a + (size_t)n1 * ic, y2, (size_t)n2 * ic * sizeof(float));
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l->out_c, l->in_c, n1 + n2, scale,
		    r->cat_d, l->out_c, r->cat_a, l->in_c, 1.0f, dw, l->in_c);
}

/* g += scale * (Rd^T a + d2^T Ra) for layer i's weight, scale * sum Rd for
 * its bias: Rd and a of the B rows, d2 and Ra of B2 rows (B2 = B: d2 = d,
 * the layer's output gradient; B2 = 1 in the shared-direction pass, where
 * d2 is d summed over the rows and Ra the one row's tangent). */
static void tangent_param(struct nn_rop *r, struct nn_model *m, int i, int B, const float *a,
			  const float *rd, int B2, const float *ra, const float *d2, float scale,
			  float *g)
{
	const struct nn_layer *l = &m->layers[i];
	float *dw = g + l->w_off, *db = g + l->b_off;
	if (l->kind == NN_DENSE) {
		dense_terms(r, l, rd, a, B, d2, ra, B2, scale, dw);
		for (int o = 0; o < l->out_c; o++) {
			double s = 0;
			for (int b = 0; b < B; b++)
				s += rd[(size_t)b * l->out_c + o];
			db[o] += (float)(scale * s);
		}
		return;
	}
	int ckk = l->in_c * l->k * l->k, kind = direct_kind(r, m, i);
	size_t np = (size_t)B * l->out_h * l->out_w, np2 = (size_t)B2 * l->out_h * l->out_w;
	if (kind) {
		/* the engine's weight-gradient kernel, once with Rd on the padded
		 * input, once with d2 on the padded tangent (padded by
		 * tangent_forward, for B2 rows). The input is the prepare's
		 * forward's, which padded it already where it ran on the same
		 * kernel. */
		size_t wn = (size_t)l->out_c * ckk;
		float *acc = scale == 1.0f ? dw : r->dw_tmp;
		const float *pa = m->cpad[i];
		int pb = m->max_b;
		if (acc != dw)
			memset(acc, 0, wn * sizeof(float));
		if (m->conv_direct[i] != kind || !pa || i < r->gathered) {
			if (!r->pad_a[i])
				r->pad_a[i] = cd_alloc_pad(l, r->max_b);
			cd_pad_input(l, B, r->max_b, a, r->pad_a[i]);
			pa = r->pad_a[i];
			pb = r->max_b;
		}
		cd_weight_grad(l, kind, B, pb, pa, rd, acc, NULL, r->kscr[i]);
		cd_weight_grad(l, kind, B2, r->max_b, r->pad_ra[i], d2, acc, NULL, r->kscr[i]);
		if (acc != dw)
			for (size_t k = 0; k < wn; k++)
				dw[k] += scale * acc[k];
	} else {
		nn_im2col(l, B, a, r->col);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, l->out_c, ckk, (int)np, scale,
			    rd, (int)np, r->col, (int)np, 1.0f, dw, ckk);
		nn_im2col(l, B2, ra, r->col);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, l->out_c, ckk, (int)np2, scale,
			    d2, (int)np2, r->col, (int)np2, 1.0f, dw, ckk);
	}
	for (int o = 0; o < l->out_c; o++)
		db[o] += (float)(scale * sum8(rd + (size_t)o * np, np));
}

/* ---- the passes ----------------------------------------------------------- */

double nn_rop_prepare(struct nn_rop *r, struct nn_model *m, const float *x, const int *y, int B)
{
	size_t S = (size_t)m->in_h * m->in_w;
	rop_reserve(r, m, B);
	r->gathered = 0;
	nn_forward(m, x, B, 0, NULL);
	nn_zero_act_grads(m);
	double loss = nn_loss_xent(m, y, 1.0);
	memset(r->dx_cm, 0, r->in_n * B * sizeof(float));
	for (int i = m->nlayers - 1; i >= 0; i--)
		backward_data(r, m, i, B, m->dacts[i], i ? nn_dact(m, i - 1) : r->dx_cm, 0);
	if (m->layers[0].chan_major && m->in_c > 1)
		from_chan_major(r->dx_cm, r->dx, B, m->in_c, S);
	else
		memcpy(r->dx, r->dx_cm, r->in_n * B * sizeof(float));
	r->B = B;
	return loss;
}

/* The first layer with parameters, f, if the layers below it are linear
 * maps that take one row to one row (flatten, dropout in evaluation mode):
 * then the shared-direction passes apply. -1 otherwise. */
static int shared_first(const struct nn_model *m)
{
	int f = 0;
	while (f < m->nlayers && !nn_has_params(&m->layers[f])) {
		if (m->layers[f].kind != NN_FLATTEN && m->layers[f].kind != NN_DROPOUT)
			return -1;
		f++;
	}
	return f < m->nlayers ? f : -1;
}

/* out = sum over the B rows of layer l's output-shaped x, in row order:
 * (B, n) or, channel-major, (OC, B, OH, OW) to (OC, 1, OH, OW). */
static void sum_rows(const struct nn_layer *l, int B, const float *x, float *out)
{
	size_t planes = l->chan_major ? (size_t)l->out_c : 1;
	size_t S = nn_out_size(l) / planes;
	for (size_t c = 0; c < planes; c++) {
		float *o = out + c * S;
		const float *p = x + c * B * S;
		memcpy(o, p, S * sizeof(float));
		for (int b = 1; b < B; b++)
			for (size_t k = 0; k < S; k++)
				o[k] += p[(size_t)b * S + k];
	}
}

/* The inverse for one row: x (B rows) = B copies of row (as sum_rows). */
static void copy_rows(const struct nn_layer *l, int B, const float *row, float *x)
{
	size_t planes = l->chan_major ? (size_t)l->out_c : 1;
	size_t S = nn_out_size(l) / planes;
	for (size_t c = 0; c < planes; c++)
		for (int b = 0; b < B; b++)
			memcpy(x + (c * B + b) * S, row + c * S, S * sizeof(float));
}

static double prepare_sum_back(struct nn_rop *r, struct nn_model *m, int f, const int *y, int B);

double nn_rop_prepare_sum(struct nn_rop *r, struct nn_model *m, const float *x, const int *y, int B)
{
	int f = shared_first(m);
	double loss;
	if (f < 0) { /* the per-row passes, summed */
		loss = nn_rop_prepare(r, m, x, y, B);
		for (size_t k = 0; k < r->in_n; k++) {
			double t = 0;
			for (int b = 0; b < B; b++)
				t += r->dx[(size_t)b * r->in_n + k];
			r->dxsum[k] = (float)t;
		}
		return loss;
	}
	rop_reserve(r, m, B);
	r->gathered = 0;
	nn_forward(m, x, B, 0, NULL);
	return prepare_sum_back(r, m, f, y, B);
}

/* The loss of the forward pass in place and the backward of prepare_sum. */
static double prepare_sum_back(struct nn_rop *r, struct nn_model *m, int f, const int *y, int B)
{
	double loss;
	nn_zero_act_grads(m);
	loss = nn_loss_xent(m, y, 1.0);
	/* each buffer written once (dacts[i - 1] is zero only by its flag) */
	for (int i = m->nlayers - 1; i > f; i--) {
		if (fused_pool(m, i, f)) { /* to the ReLU's input (the conv's output) */
			m->dstale[i - 2] = 0;
			relu_pool_back(m, i, B, m->dacts[i], m->dacts[i - 2]);
			i--;
			continue;
		}
		m->dstale[i - 1] = 0;
		backward_data(r, m, i, B, m->dacts[i], m->dacts[i - 1], 1);
	}
	/* layer f and the linear layers below it, for one row: the input
	 * gradient of the summed output gradient is the sum of the rows' */
	sum_rows(&m->layers[f], B, m->dacts[f], r->dsum);
	const float *dout = r->dsum;
	for (int i = f; i >= 0; i--) {
		float *din = i ? r->rd[i - 1] : r->dxsum;
		backward_data(r, m, i, 1, dout, din, 1);
		dout = din;
	}
	/* one row: layer 0's channel-major (C, 1, H, W) is (C, H, W) */
	r->B = B;
	return loss;
}

/* Moves rows rows[0..Bc) (increasing) of x, laid out as `planes` planes of B
 * rows of S floats each, to the front of each plane: (planes, Bc, S). Each
 * move goes to an address no higher than its source and below every later
 * source, so it works in place. */
static void gather_rows(float *x, size_t planes, size_t S, int B, const int *rows, int Bc)
{
	for (size_t c = 0; c < planes; c++)
		for (int j = 0; j < Bc; j++)
			memmove(x + (c * Bc + j) * S, x + (c * B + rows[j]) * S, S * sizeof(float));
}

static void gather_idx(int *x, size_t planes, size_t S, int B, const int *rows, int Bc)
{
	for (size_t c = 0; c < planes; c++)
		for (int j = 0; j < Bc; j++)
			memmove(x + (c * Bc + j) * S, x + (c * B + rows[j]) * S, S * sizeof(int));
}

double nn_rop_prepare_rows(struct nn_rop *r, struct nn_model *m, const float *x, int B,
			   const int *rows, int Bc, const int *yc)
{
	int f = shared_first(m), k = 0;
	size_t D = nn_in_size(m);
	/* how many layers of the last pass hold the rows' evaluation outputs */
	if (m->last_b == B && f >= 0)
		for (; k < m->nlayers; k++) {
			const struct nn_layer *l = &m->layers[k];
			/* a ReLU fused with its pool: the passes read the pool's
			 * output, never the ReLU's (which a training step may skip) */
			if (l->kind != NN_DROPOUT)
				continue;
			break;
		}
	if (k == 0) {
		rop_reserve(r, m, Bc);
		for (int j = 0; j < Bc; j++)
			memcpy(r->xg + (size_t)j * D, x + (size_t)rows[j] * D, D * sizeof(float));
		return nn_rop_prepare_sum(r, m, r->xg, yc, Bc);
	}
	rop_reserve(r, m, Bc);
	if (m->layers[0].chan_major && m->in_c > 1)
		gather_rows(m->input, (size_t)m->in_c, (size_t)m->in_h * m->in_w, B, rows, Bc);
	else
		gather_rows(m->input, 1, D, B, rows, Bc);
	for (int i = 0; i < k; i++) {
		const struct nn_layer *l = &m->layers[i];
		size_t planes = l->chan_major ? (size_t)l->out_c : 1;
		if (l->kind == NN_RELU && m->relu_out_skipped && nn_relu_fused(m, i))
			continue; /* not stored, not read */
		gather_rows(m->acts[i], planes, nn_out_size(l) / planes, B, rows, Bc);
		if (l->kind == NN_MAXPOOL) /* its argmax, (C, B, OH, OW) ints */
			gather_idx(m->pool_idx[i], (size_t)l->out_c, nn_out_size(l) / l->out_c, B,
				   rows, Bc);
	}
	r->gathered = k;
	nn_forward_from(m, k, Bc);
	return prepare_sum_back(r, m, f, yc, Bc);
}

/* R{d(mean CE)/dz} = (diag(p) - p p^T) Rz / B into rd[L-1], then the
 * R-backward down to layer first; B2 rows of d2 and ra1 make first's second
 * weight term (B2 = B: the per-row pass). */
static void rop_backward(struct nn_rop *r, struct nn_model *m, int first, int B2, const float *ra1,
			 const float *d2, float sc, float *out_grads)
{
	int B = r->B, L = m->nlayers, C = m->nclass;
	const float *z = m->acts[L - 1], *rz = r->ra[L - 1];
	float *rdz = r->rd[L - 1];
	double p[NN_MAXCLASS];
	for (int b = 0; b < B; b++) {
		const float *zb = z + (size_t)b * C, *rzb = rz + (size_t)b * C;
		double mx = zb[0], s = 0, pr = 0;
		for (int c = 1; c < C; c++)
			if (zb[c] > mx)
				mx = zb[c];
		for (int c = 0; c < C; c++)
			s += p[c] = exp(zb[c] - mx);
		for (int c = 0; c < C; c++) {
			p[c] /= s;
			pr += p[c] * rzb[c];
		}
		for (int c = 0; c < C; c++)
			rdz[(size_t)b * C + c] = (float)(p[c] * (rzb[c] - pr) / B);
	}
	for (int i = L - 1; i >= first; i--) {
		const struct nn_layer *l = &m->layers[i];
		if (nn_has_params(l) && !l->frozen) {
			const float *a = i ? m->acts[i - 1] : m->input;
			if (i == first)
				tangent_param(r, m, i, B, a, r->rd[i], B2, ra1, d2, sc, out_grads);
			else
				tangent_param(r, m, i, B, a, r->rd[i], B, r->ra[i - 1], m->dacts[i],
					      sc, out_grads);
		}
		if (fused_pool(m, i, first)) { /* the ReLU has no parameters */
			relu_pool_back(m, i, B, r->rd[i], r->rd[i - 2]);
			i--;
		} else if (i > first) {
			backward_data(r, m, i, B, r->rd[i], r->rd[i - 1], 1);
		}
	}
}

void nn_rop_apply(struct nn_rop *r, struct nn_model *m, const float *u, double scale,
		  float *out_grads)
{
	int B = r->B, L = m->nlayers, first = 0;
	size_t S = (size_t)m->in_h * m->in_w;
	if (B <= 0)
		return;
	/* R-forward */
	if (m->layers[0].chan_major && m->in_c > 1)
		to_chan_major(u, r->rx, B, m->in_c, S);
	else
		memcpy(r->rx, u, r->in_n * B * sizeof(float));
	/* R-backward, down to the first layer with parameters */
	while (first < L && !nn_has_params(&m->layers[first]))
		first++;
	for (int i = 0; i < L; i++) {
		if (i + 1 < L && fused_pool(m, i + 1, first)) { /* ReLU i, pool i + 1 */
			relu_pool_tangent(m, i + 1, B, r->ra[i - 1], B, r->ra[i + 1]);
			i++;
			continue;
		}
		tangent_forward(r, m, i, B, i ? r->ra[i - 1] : r->rx, r->ra[i]);
	}
	if (first < L)
		rop_backward(r, m, first, B, first ? r->ra[first - 1] : r->rx, m->dacts[first],
			     (float)scale, out_grads);
}

void nn_rop_apply_shared(struct nn_rop *r, struct nn_model *m, const float *u1, double scale,
			 float *out_grads)
{
	int B = r->B, L = m->nlayers, f = shared_first(m);
	if (B <= 0)
		return;
	if (f < 0) { /* the per-row pass with B copies of u1 (r->dx is free) */
		for (int b = 0; b < B; b++)
			memcpy(r->dx + (size_t)b * r->in_n, u1, r->in_n * sizeof(float));
		nn_rop_apply(r, m, r->dx, scale, out_grads);
		return;
	}
	/* R-forward: layers 0..f for one row (layer 0's channel-major (C, 1,
	 * H, W) is u1's (C, H, W)), f's tangent copied to the B rows */
	memcpy(r->rx, u1, r->in_n * sizeof(float));
	for (int i = 0; i < f; i++)
		tangent_forward(r, m, i, 1, i ? r->ra[i - 1] : r->rx, r->ra[i]);
	tangent_forward(r, m, f, 1, f ? r->ra[f - 1] : r->rx, r->ro1);
	for (int i = f + 1; i < L; i++) {
		if (i + 1 < L && fused_pool(m, i + 1, f)) { /* ReLU i, pool i + 1 */
			if (i == f + 1)			    /* f's one row, not copied */
				relu_pool_tangent(m, i + 1, B, r->ro1, 1, r->ra[i + 1]);
			else
				relu_pool_tangent(m, i + 1, B, r->ra[i - 1], B, r->ra[i + 1]);
			i++;
			continue;
		}
		if (i == f + 1)
			copy_rows(&m->layers[f], B, r->ro1, r->ra[f]);
		tangent_forward(r, m, i, B, r->ra[i - 1], r->ra[i]);
	}
	if (f == L - 1) /* f's tangent is the logits' */
		copy_rows(&m->layers[f], B, r->ro1, r->ra[f]);
	/* f's second weight term: (sum_b d_b)^T R{a} */
	sum_rows(&m->layers[f], B, m->dacts[f], r->dsum);
	rop_backward(r, m, f, 1, f ? r->ra[f - 1] : r->rx, r->dsum, (float)scale, out_grads);
}

void nn_rop_param_grad(struct nn_rop *r, struct nn_model *m, const float *x, const int *y, int B,
		       const float *u, double scale, float *out_grads)
{
	nn_rop_prepare(r, m, x, y, B);
	nn_rop_apply(r, m, u, scale, out_grads);
}

void nn_fd_param_grad(struct nn_model *m, const float *x, const int *y, int B, const float *u,
		      double eps, double scale, float *out_grads)
{
	size_t n = nn_in_size(m) * (size_t)B, P = m->nparams;
	float *xp = xmalloc(n * sizeof(float)), *saved = xmalloc(P * sizeof(float));
	float *gp = xmalloc(P * sizeof(float));
	int want = m->want_dinput;
	memcpy(saved, m->grads, P * sizeof(float));
	m->want_dinput = 0;
	for (int side = 0; side < 2; side++) {
		float e = (float)(side ? -eps : eps);
		for (size_t k = 0; k < n; k++)
			xp[k] = x[k] + e * u[k];
		nn_forward(m, xp, B, 0, NULL);
		nn_zero_act_grads(m);
		nn_loss_xent(m, y, 1.0);
		nn_zero_grads(m);
		nn_backward(m);
		if (!side)
			memcpy(gp, m->grads, P * sizeof(float));
	}
	double f = scale / (2 * eps);
	for (size_t k = 0; k < P; k++)
		gp[k] = (float)(f * ((double)gp[k] - m->grads[k]));
	memcpy(m->grads, saved, P * sizeof(float));
	for (size_t k = 0; k < P; k++) /* out_grads may be m->grads */
		out_grads[k] += gp[k];
	m->want_dinput = want;
	free(xp);
	free(saved);
	free(gp);
}
