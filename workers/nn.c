/* nn.c - layers, models and optimisers on OpenBLAS (see nn.h for layouts). */
#include "nn.h"
#include "conv_direct.h"
#include "util.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building ---------------------------------------------------------- */

static int add_layer(struct nn_model *m, const char *tok, int *c, int *h, int *w, int *cm,
		     char *err, size_t errlen)
{
	struct nn_layer *l;
	char kind[16] = "", name[NN_NAMELEN] = "";
	int a = 0, b = 0, s = 1, p = 0, nf;
	float prob = 0;

	if (m->nlayers >= NN_MAXLAYERS)
		return errf(err, errlen, "architecture: more than %d layers", NN_MAXLAYERS);
	l = &m->layers[m->nlayers];
	memset(l, 0, sizeof *l);
	l->in_c = *c;
	l->in_h = *h;
	l->in_w = *w;
	if (sscanf(tok, "%15s", kind) != 1)
		return errf(err, errlen, "architecture: empty layer; expected a layer description");
	if (!strcmp(kind, "dense")) {
		nf = sscanf(tok, "%*s %31s %d", name, &a);
		if (nf != 2 || a < 1)
			return errf(err, errlen, "architecture: '%s'; expected 'dense NAME OUT'",
				    tok);
		if (*cm || *h != 1 || *w != 1)
			return errf(
			    err, errlen,
			    "architecture: '%s' needs a flat input; expected 'flatten' before it",
			    tok);
		l->kind = NN_DENSE;
		l->out_c = a;
		l->out_h = l->out_w = 1;
		l->w_n = (size_t)a * *c;
		l->b_n = (size_t)a;
	} else if (!strcmp(kind, "conv")) {
		nf = sscanf(tok, "%*s %31s %d %d %d %d", name, &a, &b, &s, &p);
		if (nf != 5 || a < 1 || b < 1 || s < 1 || p < 0)
			return errf(err, errlen,
				    "architecture: '%s'; expected 'conv NAME OUT K STRIDE PAD'",
				    tok);
		if (!*cm && m->nlayers > 0)
			return errf(err, errlen, "architecture: '%s' after a flat layer", tok);
		l->kind = NN_CONV;
		l->k = b;
		l->stride = s;
		l->pad = p;
		l->out_c = a;
		l->out_h = (*h + 2 * p - b) / s + 1;
		l->out_w = (*w + 2 * p - b) / s + 1;
		l->w_n = (size_t)a * *c * b * b;
		l->b_n = (size_t)a;
		l->chan_major = 1;
	} else if (!strcmp(kind, "maxpool")) {
		if (sscanf(tok, "%*s %d %d", &b, &s) != 2 || b < 1 || s < 1)
			return errf(err, errlen, "architecture: '%s'; expected 'maxpool K STRIDE'",
				    tok);
		if (!*cm && m->nlayers > 0)
			return errf(err, errlen,
				    "architecture: '%s' after a flat layer; expected it first or "
				    "after conv or maxpool",
				    tok);
		l->kind = NN_MAXPOOL;
		l->k = b;
		l->stride = s;
		l->out_c = *c;
		l->out_h = (*h - b) / s + 1;
		l->out_w = (*w - b) / s + 1;
		l->chan_major = 1;
	} else if (!strcmp(kind, "relu") || !strcmp(kind, "dropout")) {
		l->kind = kind[0] == 'r' ? NN_RELU : NN_DROPOUT;
		if (l->kind == NN_DROPOUT &&
		    (sscanf(tok, "%*s %f", &prob) != 1 || prob < 0 || prob >= 1))
			return errf(err, errlen,
				    "architecture: '%s'; expected 'dropout P' with P in [0, 1)",
				    tok);
		l->p = prob;
		l->out_c = *c;
		l->out_h = *h;
		l->out_w = *w;
		l->chan_major = *cm;
	} else if (!strcmp(kind, "flatten")) {
		l->kind = NN_FLATTEN;
		l->out_c = *c * *h * *w;
		l->out_h = l->out_w = 1;
	} else {
		return errf(err, errlen,
			    "architecture: unknown layer '%s'; expected dense, conv, maxpool, "
			    "relu, flatten or dropout",
			    kind);
	}
	if (l->out_h < 1 || l->out_w < 1 || *h + 2 * l->pad < l->k || *w + 2 * l->pad < l->k)
		return errf(err, errlen, "architecture: '%s' leaves no output for a %dx%d input",
			    tok, *h, *w);
	if (name[0])
		strlcopy(l->name, name, NN_NAMELEN);
	else
		snprintf(l->name, NN_NAMELEN, "%s%d", kind, m->nlayers);
	for (int i = 0; i < m->nlayers; i++)
		if (!strcmp(m->layers[i].name, l->name))
			return errf(err, errlen, "architecture: duplicate layer name '%s'",
				    l->name);
	*c = l->out_c;
	*h = l->out_h;
	*w = l->out_w;
	*cm = l->chan_major;
	m->nlayers++;
	return 0;
}

int nn_build_spec(struct nn_model *m, const char *arch, const char *spec, char *err, size_t errlen)
{
	char buf[512], *save = NULL, *tok;
	int c, h, w, cm = 0;

	memset(m, 0, sizeof *m);
	if (strlen(spec) >= sizeof buf)
		return errf(err, errlen, "architecture: spec longer than %zu characters",
			    sizeof buf - 1);
	strlcopy(m->arch, arch, NN_NAMELEN);
	strlcopy(m->spec, spec, sizeof m->spec);
	strlcopy(buf, spec, sizeof buf);
	tok = strtok_r(buf, "|", &save);
	if (!tok || sscanf(tok, "%dx%dx%d", &c, &h, &w) != 3 || c < 1 || h < 1 || w < 1)
		return errf(
		    err, errlen,
		    "architecture: '%s' does not start with the input shape; expected 'CxHxW|...'",
		    spec);
	m->in_c = c;
	m->in_h = h;
	m->in_w = w;
	while ((tok = strtok_r(NULL, "|", &save)))
		if (add_layer(m, tok, &c, &h, &w, &cm, err, errlen))
			return -1;
	if (!m->nlayers || m->layers[m->nlayers - 1].kind != NN_DENSE)
		return errf(err, errlen, "architecture: '%s' must end with a dense layer", spec);
	if (c > NN_MAXCLASS)
		return errf(err, errlen, "architecture: %d classes; expected at most %d", c,
			    NN_MAXCLASS);
	m->nclass = c;
	size_t off = 0;
	for (int i = 0; i < m->nlayers; i++) {
		struct nn_layer *l = &m->layers[i];
		if (!nn_has_params(l))
			continue;
		l->w_off = off;
		off += l->w_n;
		l->b_off = off;
		off += l->b_n;
	}
	m->nparams = off;
	m->params = xcalloc(off, sizeof(float));
	m->grads = xcalloc(off, sizeof(float));
	return 0;
}

int nn_create(struct nn_model *m, const char *arch, int c, int h, int w, int nclass, struct rng *r,
	      char *err, size_t errlen)
{
	const char *spec = nn_arch_spec(arch);
	if (!spec)
		return errf(err, errlen, "unknown model '%s'; expected one of %s", arch,
			    nn_arch_list());
	if (nn_build_spec(m, arch, spec, err, errlen))
		return -1;
	if (m->in_c != c || m->in_h != h || m->in_w != w || m->nclass != nclass) {
		char fits[256], expect[320];

		nn_arch_names(fits, sizeof fits, ", ", " or ", c, h, w);
		if (fits[0])
			snprintf(expect, sizeof expect, "model %s for %dx%dx%d data", fits, c, h,
				 w);
		else
			snprintf(expect, sizeof expect,
				 "a model taking %dx%dx%d inputs (none of %s does)", c, h, w,
				 nn_arch_list());
		errf(err, errlen,
		     "model '%s' takes %dx%dx%d inputs and %d classes, but the data is %dx%dx%d "
		     "with %d classes; expected %s",
		     arch, m->in_c, m->in_h, m->in_w, m->nclass, c, h, w, nclass, expect);
		nn_free(m);
		return -1;
	}
	nn_init_params(m, r);
	return 0;
}

void nn_reinit_layer(struct nn_model *m, int li, struct rng *r)
{
	struct nn_layer *l = &m->layers[li];
	if (!nn_has_params(l))
		return;
	size_t fan_in = l->w_n / (size_t)l->out_c;
	double bound = 1.0 / sqrt((double)fan_in);
	for (size_t i = 0; i < l->w_n; i++)
		m->params[l->w_off + i] = (float)((2 * rng_uniform(r) - 1) * bound);
	for (size_t i = 0; i < l->b_n; i++)
		m->params[l->b_off + i] = (float)((2 * rng_uniform(r) - 1) * bound);
}

void nn_init_params(struct nn_model *m, struct rng *r)
{
	for (int i = 0; i < m->nlayers; i++)
		nn_reinit_layer(m, i, r);
}

static void free_acts(struct nn_model *m)
{
	free(m->input);
	free(m->dinput);
	free(m->dinput_cm);
	free(m->dcol);
	m->input = m->dinput = m->dinput_cm = m->dcol = NULL;
	for (int i = 0; i < NN_MAXLAYERS; i++) {
		free(m->acts[i]);
		free(m->dacts[i]);
		free(m->pool_idx[i]);
		free(m->drop_mask[i]);
		free(m->cols[i]);
		free(m->cpad[i]);
		free(m->cscratch[i]);
		m->cols[i] = m->cpad[i] = m->cscratch[i] = NULL;
		m->acts[i] = m->dacts[i] = NULL;
		m->pool_idx[i] = NULL;
		m->drop_mask[i] = NULL;
	}
	m->max_b = 0;
}

void nn_free(struct nn_model *m)
{
	free_acts(m);
	free(m->params);
	free(m->grads);
	m->params = m->grads = NULL;
}

void nn_copy(struct nn_model *dst, const struct nn_model *src)
{
	memset(dst, 0, sizeof *dst);
	memcpy(dst->arch, src->arch, sizeof dst->arch);
	memcpy(dst->spec, src->spec, sizeof dst->spec);
	dst->in_c = src->in_c;
	dst->in_h = src->in_h;
	dst->in_w = src->in_w;
	dst->nclass = src->nclass;
	dst->nlayers = src->nlayers;
	memcpy(dst->layers, src->layers, sizeof dst->layers);
	dst->nparams = src->nparams;
	dst->params = xmalloc(src->nparams * sizeof(float));
	memcpy(dst->params, src->params, src->nparams * sizeof(float));
	dst->grads = xcalloc(src->nparams, sizeof(float));
}

void nn_reserve(struct nn_model *m, int b)
{
	size_t col_n = 0;
	if (b <= m->max_b)
		return;
	free_acts(m);
	m->max_b = b;
	size_t in = nn_in_size(m) * (size_t)b;
	m->input = xmalloc(in * sizeof(float));
	m->dinput = xmalloc(in * sizeof(float));
	m->dinput_cm = xmalloc(in * sizeof(float));
	for (int i = 0; i < m->nlayers; i++) {
		struct nn_layer *l = &m->layers[i];
		size_t n = nn_out_size(l) * (size_t)b;
		m->acts[i] = xmalloc(n * sizeof(float));
		m->dacts[i] = xmalloc(n * sizeof(float));
		if (l->kind == NN_MAXPOOL)
			m->pool_idx[i] = xmalloc(n * sizeof(int));
		if (l->kind == NN_DROPOUT)
			m->drop_mask[i] = xmalloc(n);
		if (l->kind == NN_CONV) { /* cols[i] is allocated by the first GEMM forward */
			size_t cn = (size_t)l->in_c * l->k * l->k * l->out_h * l->out_w * b;
			if (cn > col_n)
				col_n = cn;
		}
	}
	m->col_n = col_n;
	if (col_n)
		m->dcol = xmalloc(col_n * sizeof(float));
}

int nn_find_layer(const struct nn_model *m, const char *name)
{
	for (int i = 0; i < m->nlayers; i++)
		if (!strcmp(m->layers[i].name, name))
			return i;
	return -1;
}

int nn_last_param_layer(const struct nn_model *m)
{
	for (int i = m->nlayers - 1; i >= 0; i--)
		if (nn_has_params(&m->layers[i]))
			return i;
	return -1;
}

static float *view(struct nn_model *m, float *base, const char *name, size_t *n)
{
	char lname[NN_NAMELEN];
	const char *dot = strrchr(name, '.');
	if (!dot || (size_t)(dot - name) >= NN_NAMELEN)
		return NULL;
	memcpy(lname, name, (size_t)(dot - name));
	lname[dot - name] = 0;
	int i = nn_find_layer(m, lname);
	if (i < 0 || !nn_has_params(&m->layers[i]))
		return NULL;
	struct nn_layer *l = &m->layers[i];
	if (!strcmp(dot + 1, "weight")) {
		if (n)
			*n = l->w_n;
		return base + l->w_off;
	}
	if (!strcmp(dot + 1, "bias")) {
		if (n)
			*n = l->b_n;
		return base + l->b_off;
	}
	return NULL;
}

float *nn_param(struct nn_model *m, const char *name, size_t *n)
{
	return view(m, m->params, name, n);
}

float *nn_grad(struct nn_model *m, const char *name, size_t *n)
{
	return view(m, m->grads, name, n);
}

/* ---- layers ------------------------------------------------------------- */

/* Sum of n floats: eight float lanes (vectorised) per block of 1024, blocks
 * added in double, so long sums keep their precision. */
static float sum_f(const float *d, size_t n)
{
	double s = 0;
	for (size_t i0 = 0; i0 < n; i0 += 1024) {
		size_t e = i0 + 1024 < n ? i0 + 1024 : n, i = i0;
		float a[8] = {0};
		for (; i + 8 <= e; i += 8)
			for (int k = 0; k < 8; k++)
				a[k] += d[i + k];
		for (; i < e; i++)
			a[0] += d[i];
		s += (double)a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
	}
	return (float)s;
}

__attribute__((noinline)) static void relu_backward(float *restrict din, const float *restrict out,
						    const float *restrict dout, size_t n)
{
	/* both loads unconditional, so the compiler can vectorise the select */
	for (size_t k = 0; k < n; k++) {
		float g = dout[k];
		din[k] += out[k] > 0 ? g : 0.0f;
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

/* col (C*K*K, B*OH*OW) accumulated into din (C, B, H, W) */
NO_MEMCPY_CALLS static void col2im_s1(const struct nn_layer *l, int B, const float *col, float *din)
{
	int K = l->k, P = l->pad, H = l->in_h, W = l->in_w, OH = l->out_h, OW = l->out_w;
	int Wp = W + 2 * P;
	size_t np = (size_t)B * OH * OW;
	/* with padding, each plane is summed in a bordered one, then its interior added */
	float *pad = P ? xmalloc((size_t)(H + 2 * P) * Wp * sizeof(float)) : NULL;
	for (int c = 0; c < l->in_c; c++)
		for (int b = 0; b < B; b++) {
			float *plane = din + ((size_t)c * B + b) * H * W, *dst = plane;
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

NO_MEMCPY_CALLS void nn_col2im(const struct nn_layer *l, int B, const float *col, float *din)
{
	int K = l->k, S = l->stride, P = l->pad, H = l->in_h, W = l->in_w;
	int OH = l->out_h, OW = l->out_w;
	size_t np = (size_t)B * OH * OW;
	if (S == 1) {
		col2im_s1(l, B, col, din);
		return;
	}
	for (int c = 0; c < l->in_c; c++)
		for (int b = 0; b < B; b++) {
			float *plane = din + ((size_t)c * B + b) * H * W;
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

enum nn_conv_mode nn_conv_mode = NN_CONV_AUTO;

/* CD_NONE (im2col + sgemm) or the direct kernel to run layer l with */
static int use_direct(const struct nn_layer *l)
{
	static int cpu = -1;
	if (nn_conv_mode == NN_CONV_GEMM)
		return CD_NONE;
	if (cpu < 0)
		cpu = cd_cpu_ok();
	if (!cpu)
		return CD_NONE;
	return cd_choose(l, nn_conv_mode == NN_CONV_DIRECT);
}

/* out (OC, B, OH, OW) = W (OC, C*K*K) . col + bias */
static void conv_forward(struct nn_model *m, const struct nn_layer *l, int B, const float *in,
			 float *out)
{
	int i = (int)(l - m->layers), ckk = l->in_c * l->k * l->k;
	size_t np = (size_t)B * l->out_h * l->out_w;
	const float *w = m->params + l->w_off, *bias = m->params + l->b_off;
	int kind = use_direct(l);
	if (kind) {
		if (!m->cpad[i])
			m->cpad[i] = cd_alloc_pad(l, m->max_b);
		if (m->cscratch[i] && m->conv_direct[i] != kind) {
			free(m->cscratch[i]);
			m->cscratch[i] = NULL;
		}
		if (!m->cscratch[i])
			m->cscratch[i] = cd_alloc_scratch(l, kind);
		m->conv_direct[i] = (unsigned char)kind;
		cd_pad_input(l, B, m->max_b, in, m->cpad[i]);
		cd_forward(l, kind, B, m->max_b, m->cpad[i], w, bias, out, m->cscratch[i]);
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

static void conv_backward(struct nn_model *m, const struct nn_layer *l, int B, const float *in,
			  const float *dout, float *din)
{
	int i = (int)(l - m->layers), ckk = l->in_c * l->k * l->k;
	size_t np = (size_t)B * l->out_h * l->out_w;
	const float *w = m->params + l->w_off;
	(void)in; /* the last forward kept what backward needs: its columns or padded input */
	if (!l->frozen) {
		float *dw = m->grads + l->w_off, *db = m->grads + l->b_off;
		if (m->conv_direct[i])
			cd_weight_grad(l, m->conv_direct[i], B, m->max_b, m->cpad[i], dout, dw,
				       m->cscratch[i]);
		else
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, l->out_c, ckk, (int)np,
				    1.0f, dout, (int)np, m->cols[i], (int)np, 1.0f, dw, ckk);
		for (int oc = 0; oc < l->out_c; oc++)
			db[oc] += sum_f(dout + (size_t)oc * np, np);
	}
	if (din) {
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ckk, (int)np, l->out_c, 1.0f,
			    w, ckk, dout, (int)np, 0.0f, m->dcol, (int)np);
		nn_col2im(l, B, m->dcol, din);
	}
}

/* out (B, OC) = in (B, C) . W^T + b */
static void dense_forward(struct nn_model *m, const struct nn_layer *l, int B, const float *in,
			  float *out)
{
	const float *w = m->params + l->w_off, *bias = m->params + l->b_off;
	for (int b = 0; b < B; b++)
		memcpy(out + (size_t)b * l->out_c, bias, (size_t)l->out_c * sizeof(float));
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, l->out_c, l->in_c, 1.0f, in,
		    l->in_c, w, l->in_c, 1.0f, out, l->out_c);
}

static void dense_backward(struct nn_model *m, const struct nn_layer *l, int B, const float *in,
			   const float *dout, float *din)
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
			    dout, l->out_c, w, l->in_c, 1.0f, din, l->in_c);
}

static void maxpool_forward(const struct nn_layer *l, int B, const float *in, float *out, int *idx)
{
	int K = l->k, S = l->stride, H = l->in_h, W = l->in_w, OH = l->out_h, OW = l->out_w;
	size_t planes = (size_t)l->in_c * B;
	if (K == 2 && S == 2) {
		/* the common case, without the inner loops */
		for (size_t p = 0; p < planes; p++) {
			const float *ip = in + p * H * W;
			float *op = out + p * OH * OW;
			int *xp = idx + p * OH * OW;
			for (int oh = 0; oh < OH; oh++) {
				const float *r0 = ip + 2 * oh * W, *r1 = r0 + W;
				for (int ow = 0; ow < OW; ow++) {
					int q = 2 * ow, b = 2 * oh * W + q;
					float v = r0[q];
					if (r0[q + 1] > v) {
						v = r0[q + 1];
						b = 2 * oh * W + q + 1;
					}
					if (r1[q] > v) {
						v = r1[q];
						b = (2 * oh + 1) * W + q;
					}
					if (r1[q + 1] > v) {
						v = r1[q + 1];
						b = (2 * oh + 1) * W + q + 1;
					}
					op[oh * OW + ow] = v;
					xp[oh * OW + ow] = b;
				}
			}
		}
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

static void maxpool_backward(const struct nn_layer *l, int B, const float *dout, const int *idx,
			     float *din)
{
	size_t planes = (size_t)l->in_c * B, po = (size_t)l->out_h * l->out_w;
	size_t pi = (size_t)l->in_h * l->in_w;
	for (size_t p = 0; p < planes; p++)
		for (size_t o = 0; o < po; o++)
			din[p * pi + (size_t)idx[p * po + o]] += dout[p * po + o];
}

/* flatten: (C, B, S) -> (B, C*S) when chan-major, else a copy */
static void flatten_forward(const struct nn_layer *l, int B, int in_cm, const float *in, float *out)
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

static void flatten_backward(const struct nn_layer *l, int B, int in_cm, const float *dout,
			     float *din)
{
	size_t s = (size_t)l->in_h * l->in_w, n = nn_out_size(l);
	if (!in_cm || l->in_c == 1) {
		for (size_t i = 0; i < n * B; i++)
			din[i] += dout[i];
		return;
	}
	for (int c = 0; c < l->in_c; c++)
		for (int b = 0; b < B; b++) {
			float *d = din + ((size_t)c * B + b) * s;
			const float *g = dout + (size_t)b * n + c * s;
			for (size_t i = 0; i < s; i++)
				d[i] += g[i];
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

float *nn_forward(struct nn_model *m, const float *x, int B, int training, struct rng *r)
{
	nn_reserve(m, B);
	m->last_b = B;
	m->training = training;
	size_t S = (size_t)m->in_h * m->in_w;
	if (m->layers[0].chan_major && m->in_c > 1)
		to_chan_major(x, m->input, B, m->in_c, S);
	else
		memcpy(m->input, x, nn_in_size(m) * B * sizeof(float));
	for (int i = 0; i < m->nlayers; i++) {
		const struct nn_layer *l = &m->layers[i];
		const float *in = i ? m->acts[i - 1] : m->input;
		int in_cm = i ? m->layers[i - 1].chan_major : l->chan_major;
		float *out = m->acts[i];
		size_t n = nn_out_size(l) * B;
		switch (l->kind) {
		case NN_DENSE:
			dense_forward(m, l, B, in, out);
			break;
		case NN_CONV:
			conv_forward(m, l, B, in, out);
			break;
		case NN_MAXPOOL:
			maxpool_forward(l, B, in, out, m->pool_idx[i]);
			break;
		case NN_RELU:
			for (size_t k = 0; k < n; k++)
				out[k] = in[k] > 0 ? in[k] : 0;
			break;
		case NN_FLATTEN:
			flatten_forward(l, B, in_cm, in, out);
			break;
		case NN_DROPOUT:
			if (training && l->p > 0) {
				float keep = 1.0f - l->p, sc = 1.0f / keep;
				uint8_t *mask = m->drop_mask[i];
				/* two 32-bit uniforms per 64-bit draw */
				uint32_t thr = (uint32_t)(keep * 4294967296.0 > 4294967295.0
							      ? 4294967295.0
							      : keep * 4294967296.0);
				for (size_t k = 0; k < n; k += 2) {
					uint64_t u = rng_u64(r);
					mask[k] = (uint32_t)u < thr;
					out[k] = mask[k] ? in[k] * sc : 0;
					if (k + 1 < n) {
						mask[k + 1] = (uint32_t)(u >> 32) < thr;
						out[k + 1] = mask[k + 1] ? in[k + 1] * sc : 0;
					}
				}
			} else {
				memcpy(out, in, n * sizeof(float));
			}
			break;
		}
	}
	return m->acts[m->nlayers - 1];
}

void nn_zero_act_grads(struct nn_model *m)
{
	int B = m->last_b;
	for (int i = 0; i < m->nlayers; i++)
		memset(m->dacts[i], 0, nn_out_size(&m->layers[i]) * B * sizeof(float));
	memset(m->dinput, 0, nn_in_size(m) * B * sizeof(float));
	memset(m->dinput_cm, 0, nn_in_size(m) * B * sizeof(float));
}

static void softmax_row(const float *z, float *p, int n)
{
	float mx = z[0];
	for (int i = 1; i < n; i++)
		if (z[i] > mx)
			mx = z[i];
	double s = 0;
	for (int i = 0; i < n; i++) {
		p[i] = expf(z[i] - mx);
		s += p[i];
	}
	for (int i = 0; i < n; i++)
		p[i] = (float)(p[i] / s);
}

double nn_loss_xent(struct nn_model *m, const int *y, double scale)
{
	int B = m->last_b, C = m->nclass;
	const float *z = m->acts[m->nlayers - 1];
	float *dz = m->dacts[m->nlayers - 1], p[NN_MAXCLASS];
	double loss = 0;
	for (int b = 0; b < B; b++) {
		softmax_row(z + (size_t)b * C, p, C);
		loss -= log(isnan(p[y[b]]) ? p[y[b]] : fmax(p[y[b]], 1e-30));
		p[y[b]] -= 1.0f;
		for (int c = 0; c < C; c++)
			dz[(size_t)b * C + c] += (float)(scale * p[c] / B);
	}
	return loss / B;
}

double nn_loss_soft(struct nn_model *m, const float *q, double scale)
{
	int B = m->last_b, C = m->nclass;
	const float *z = m->acts[m->nlayers - 1];
	float *dz = m->dacts[m->nlayers - 1], p[NN_MAXCLASS];
	double loss = 0;
	for (int b = 0; b < B; b++) {
		const float *qb = q + (size_t)b * C;
		softmax_row(z + (size_t)b * C, p, C);
		for (int c = 0; c < C; c++) {
			if (qb[c] > 0)
				loss -= qb[c] * log(isnan(p[c]) ? p[c] : fmax(p[c], 1e-30));
			dz[(size_t)b * C + c] += (float)(scale * (p[c] - qb[c]) / B);
		}
	}
	return loss / B;
}

void nn_backward(struct nn_model *m)
{
	int B = m->last_b, first = 0;
	/* below the first layer with parameters, gradients are only needed for dinput */
	while (first < m->nlayers && !nn_has_params(&m->layers[first]))
		first++;
	for (int i = m->nlayers - 1; i >= 0; i--) {
		const struct nn_layer *l = &m->layers[i];
		const float *in = i ? m->acts[i - 1] : m->input;
		int in_cm = i ? m->layers[i - 1].chan_major : l->chan_major;
		float *din = i ? m->dacts[i - 1] : m->dinput_cm;
		if (i <= first && !m->want_dinput)
			din = NULL;
		const float *dout = m->dacts[i];
		size_t n = nn_out_size(l) * B;
		if (!din && !nn_has_params(l))
			continue;
		switch (l->kind) {
		case NN_DENSE:
			dense_backward(m, l, B, in, dout, din);
			break;
		case NN_CONV:
			conv_backward(m, l, B, in, dout, din);
			break;
		case NN_MAXPOOL:
			maxpool_backward(l, B, dout, m->pool_idx[i], din);
			break;
		case NN_RELU:
			relu_backward(din, m->acts[i], dout, n);
			break;
		case NN_FLATTEN:
			flatten_backward(l, B, in_cm, dout, din);
			break;
		case NN_DROPOUT:
			if (m->training && l->p > 0) {
				float sc = 1.0f / (1.0f - l->p);
				const uint8_t *mask = m->drop_mask[i];
				for (size_t k = 0; k < n; k++)
					if (mask[k])
						din[k] += dout[k] * sc;
			} else {
				for (size_t k = 0; k < n; k++)
					din[k] += dout[k];
			}
			break;
		}
	}
	if (m->want_dinput) {
		size_t S = (size_t)m->in_h * m->in_w;
		if (m->layers[0].chan_major && m->in_c > 1)
			from_chan_major(m->dinput_cm, m->dinput, B, m->in_c, S);
		else
			memcpy(m->dinput, m->dinput_cm, nn_in_size(m) * B * sizeof(float));
	}
}

void nn_zero_grads(struct nn_model *m)
{
	memset(m->grads, 0, m->nparams * sizeof(float));
}

int nn_argmax(const float *v, int n)
{
	int best = 0;
	for (int i = 1; i < n; i++)
		if (v[i] > v[best])
			best = i;
	return best;
}

void nn_predict_proba(struct nn_model *m, const float *x, int n, float *probs)
{
	size_t d = nn_in_size(m);
	for (int s = 0; s < n; s += 256) {
		int B = n - s < 256 ? n - s : 256;
		const float *z = nn_forward(m, x + (size_t)s * d, B, 0, NULL);
		for (int b = 0; b < B; b++)
			softmax_row(z + (size_t)b * m->nclass, probs + ((size_t)s + b) * m->nclass,
				    m->nclass);
	}
}

/* ---- optimisers ---------------------------------------------------------- */

int nn_opt_init(struct nn_opt *o, const char *kind, double lr, size_t nparams)
{
	memset(o, 0, sizeof *o);
	if (!strcmp(kind, "sgd"))
		o->kind = OPT_SGD;
	else if (!strcmp(kind, "adam"))
		o->kind = OPT_ADAM;
	else if (!strcmp(kind, "rmsprop"))
		o->kind = OPT_RMSPROP;
	else
		return -1;
	o->lr = lr;
	o->beta1 = 0.9;
	o->beta2 = o->kind == OPT_RMSPROP ? 0.99 : 0.999;
	o->eps = 1e-8;
	o->gamma = 1.0;
	o->n = nparams;
	o->m1 = xcalloc(nparams, sizeof(float));
	o->m2 = xcalloc(nparams, sizeof(float));
	return 0;
}

void nn_opt_free(struct nn_opt *o)
{
	free(o->m1);
	free(o->m2);
	o->m1 = o->m2 = NULL;
}

double nn_opt_lr(const struct nn_opt *o, int epoch)
{
	if (o->step_epochs <= 0)
		return o->lr;
	return o->lr * pow(o->gamma, epoch / o->step_epochs);
}

/* The update loops: branch-free and restrict-qualified so they vectorise. */
static void sgd_plain(float *restrict p, const float *restrict g, size_t n, float lr, float cs,
		      float wd)
{
	for (size_t i = 0; i < n; i++)
		p[i] -= lr * (g[i] * cs + wd * p[i]);
}

static void sgd_momentum(float *restrict p, const float *restrict g, float *restrict m1, size_t n,
			 float lr, float cs, float wd, float mom, int nesterov)
{
	if (nesterov) {
		for (size_t i = 0; i < n; i++) {
			float gi = g[i] * cs + wd * p[i];
			m1[i] = mom * m1[i] + gi;
			p[i] -= lr * (gi + mom * m1[i]);
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			m1[i] = mom * m1[i] + g[i] * cs + wd * p[i];
			p[i] -= lr * m1[i];
		}
	}
}

static void adam_update(float *restrict p, const float *restrict g, float *restrict m1,
			float *restrict m2, size_t n, float a, float e, float cs, float wd,
			float b1, float b2)
{
	for (size_t i = 0; i < n; i++) {
		float gi = g[i] * cs + wd * p[i];
		m1[i] = b1 * m1[i] + (1 - b1) * gi;
		m2[i] = b2 * m2[i] + (1 - b2) * gi * gi;
		p[i] -= a * m1[i] / (sqrtf(m2[i]) + e);
	}
}

static void rmsprop_update(float *restrict p, const float *restrict g, float *restrict m2, size_t n,
			   float lr, float eps, float cs, float wd, float b2)
{
	for (size_t i = 0; i < n; i++) {
		float gi = g[i] * cs + wd * p[i];
		m2[i] = b2 * m2[i] + (1 - b2) * gi * gi;
		p[i] -= lr * gi / (sqrtf(m2[i]) + eps);
	}
}

static void opt_range(struct nn_opt *o, float *p, const float *g, float *m1, float *m2, size_t n,
		      float lr, float cs, double bc1, double bc2)
{
	float wd = (float)o->weight_decay, mom = (float)o->momentum;
	float b1 = (float)o->beta1, b2 = (float)o->beta2, eps = (float)o->eps;
	switch (o->kind) {
	case OPT_SGD:
		if (mom != 0)
			sgd_momentum(p, g, m1, n, lr, cs, wd, mom, o->nesterov);
		else
			sgd_plain(p, g, n, lr, cs, wd);
		break;
	case OPT_ADAM:
		adam_update(p, g, m1, m2, n, (float)(lr * sqrt(bc2) / bc1),
			    (float)(eps * sqrt(bc2)), cs, wd, b1, b2);
		break;
	case OPT_RMSPROP:
		rmsprop_update(p, g, m2, n, lr, eps, cs, wd, b2);
		break;
	}
}

void nn_opt_step(struct nn_opt *o, struct nn_model *m, int epoch)
{
	float lr = (float)nn_opt_lr(o, epoch), cs = 1.0f;
	o->t++;
	double bc1 = 1 - pow(o->beta1, (double)o->t), bc2 = 1 - pow(o->beta2, (double)o->t);
	if (o->grad_clip > 0) {
		double ss = 0;
		for (size_t i = 0; i < m->nparams; i++)
			ss += (double)m->grads[i] * m->grads[i];
		double norm = sqrt(ss);
		if (norm > o->grad_clip)
			cs = (float)(o->grad_clip / norm);
	}
	for (int i = 0; i < m->nlayers; i++) {
		const struct nn_layer *l = &m->layers[i];
		if (!nn_has_params(l) || l->frozen)
			continue;
		size_t off = l->w_off, n = l->w_n + l->b_n; /* bias follows weight */
		opt_range(o, m->params + off, m->grads + off, o->m1 + off, o->m2 + off, n, lr, cs,
			  bc1, bc2);
	}
}

void nn_fill_batch(const uint8_t *xs, const uint8_t *ys, size_t sample_size, const uint32_t *idx,
		   int B, float *x, int *y)
{
	static const float inv = 1.0f / 255.0f;
	for (int b = 0; b < B; b++) {
		const uint8_t *s = xs + (size_t)idx[b] * sample_size;
		float *d = x + (size_t)b * sample_size;
		for (size_t i = 0; i < sample_size; i++)
			d[i] = s[i] * inv;
		if (y)
			y[b] = ys[idx[b]];
	}
}
