/* nn_opt.c - the optimisers: SGD (with momentum, Nesterov), Adam and
 * RMSprop, weight decay, global gradient clipping and a step schedule. */
#include "nn.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#endif

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

/* The update loops: branch-free and restrict-qualified so they vectorise;
 * each also built for AVX2 (8 lanes), chosen at load time. Without FMA in
 * the target no multiply-add is fused, and division and square root are
 * exact, so both builds give the same bits. On mlp (670,000 parameters)
 * Adam's update was a seventh of a training step. */
#define OPT_CLONES __attribute__((target_clones("avx2", "default")))
OPT_CLONES static void sgd_plain(float *restrict p, const float *restrict g, size_t n, float lr,
				 float cs, float wd)
{
	for (size_t i = 0; i < n; i++)
		p[i] -= lr * (g[i] * cs + wd * p[i]);
}

OPT_CLONES static void sgd_momentum(float *restrict p, const float *restrict g, float *restrict m1,
				    size_t n, float lr, float cs, float wd, float mom, int nesterov)
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

OPT_CLONES static void adam_update(float *restrict p, const float *restrict g, float *restrict m1,
				   float *restrict m2, size_t n, float a, float e, float cs,
				   float wd, float b1, float b2)
{
	for (size_t i = 0; i < n; i++) {
		float gi = g[i] * cs + wd * p[i];
		m1[i] = b1 * m1[i] + (1 - b1) * gi;
		m2[i] = b2 * m2[i] + (1 - b2) * gi * gi;
		p[i] -= a * m1[i] / (sqrtf(m2[i]) + e);
	}
}

OPT_CLONES static void rmsprop_update(float *restrict p, const float *restrict g,
				      float *restrict m2, size_t n, float lr, float eps, float cs,
				      float wd, float b2)
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

/* Sum of squares in double, in eight independent chains: one chain waits on
 * the adder's latency at every element, which on mlp (670,000 parameters)
 * cost a fifth of a training step. Each square of a float is exact in
 * double; only the order of the additions differs from one chain. Element
 * i goes to chain i % 8 (the last n % 8 to chain 0), and the chains are
 * added in a fixed tree at the end. */
static double chains_total(double a[8], const float *g, size_t i, size_t n)
{
	for (; i < n; i++) /* the tail, past the last whole group of 8 */
		a[0] += (double)g[i] * g[i];
	return ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
}

static double sum_squares_sse(const float *g, size_t n)
{
	double a[8] = {0};
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++)
			a[k] += (double)g[i + k] * g[i + k];
	return chains_total(a, g, i, n);
}

#if defined(__GNUC__) && defined(__x86_64__)
/* The same chains, the same additions in the same order, as two 4-lane
 * AVX registers (chains 0-3 and 4-7). GCC makes the loop above into eight
 * SSE conversions, multiplies and adds per eight elements, which ran at
 * 150-180 us on mlp's gradient against 95 us for this (the chains' add
 * latency, 84,000 dependent adds, is about 87 us of it). Same bits: the
 * square is exact in double and every chain adds its elements in order. */
__attribute__((target("avx2"))) static double sum_squares_avx2(const float *g, size_t n)
{
	__m256d lo = _mm256_setzero_pd(), hi = lo;
	double a[8];
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256d x = _mm256_cvtps_pd(_mm_loadu_ps(g + i));
		__m256d y = _mm256_cvtps_pd(_mm_loadu_ps(g + i + 4));
		lo = _mm256_add_pd(lo, _mm256_mul_pd(x, x));
		hi = _mm256_add_pd(hi, _mm256_mul_pd(y, y));
	}
	_mm256_storeu_pd(a, lo);
	_mm256_storeu_pd(a + 4, hi);
	return chains_total(a, g, i, n);
}
#endif

/* Exported for test_train: the portable chains when avx2 is 0. */
double nn_sum_squares(const float *g, size_t n, int avx2)
{
#if defined(__GNUC__) && defined(__x86_64__)
	if (avx2 && __builtin_cpu_supports("avx2"))
		return sum_squares_avx2(g, n);
#endif
	(void)avx2;
	return sum_squares_sse(g, n);
}

void nn_opt_rows_init(struct nn_opt_rows *r, const struct nn_model *m, int layer)
{
	const struct nn_layer *l = &m->layers[layer];
	memset(r, 0, sizeof *r);
	r->layer = layer;
	r->M = (int)(l->w_n / l->out_c);
	r->colsum = xcalloc((size_t)r->M, sizeof(double));
}

void nn_opt_rows_free(struct nn_opt_rows *r)
{
	free(r->colsum);
	r->colsum = NULL;
}

void nn_row_mean(const struct nn_model *m, int li, const struct nn_opt_rows *r, double *w)
{
	const struct nn_layer *l = &m->layers[li];
	size_t OC = (size_t)l->out_c, M = l->w_n / OC;
	const float *W = m->params + l->w_off;
	if (r && r->layer == li && r->sum_ok) {
		memcpy(w, r->colsum, M * sizeof *w);
	} else {
		for (size_t j = 0; j < M; j++)
			w[j] = 0;
		for (size_t o = 0; o < OC; o++)
			for (size_t j = 0; j < M; j++)
				w[j] += W[o * M + j];
	}
	for (size_t j = 0; j < M; j++)
		w[j] /= (double)OC;
}

/* Adds r->add into every row of its layer's weight gradient. */
static void rows_add_plain(const struct nn_opt_rows *r, struct nn_model *m)
{
	const struct nn_layer *l = &m->layers[r->layer];
	float *G = m->grads + l->w_off;
	for (int o = 0; o < l->out_c; o++)
		for (int j = 0; j < r->M; j++)
			G[(size_t)o * r->M + j] += r->add[j];
}

/* The same updates over a weight of `rows` rows of M, with add[j] added to
 * column j of the gradient (the float sum g + add, as if added into m->grads
 * first) and the updated weights summed down the columns into colsum, in
 * double and in row order, in the same pass. */
#define FOR_ROWS(body)                                                                             \
	for (size_t j = 0; j < M; j++)                                                             \
		colsum[j] = 0;                                                                     \
	for (size_t o = 0; o < rows; o++)                                                          \
		for (size_t j = 0, i = o * M; j < M; j++, i++) {                                   \
			body;                                                                      \
			colsum[j] += p[i];                                                         \
		}

OPT_CLONES static void sgd_rows(float *restrict p, const float *restrict g, float *restrict m1,
				const float *restrict add, double *restrict colsum, size_t rows,
				size_t M, float lr, float cs, float wd, float mom, int nesterov)
{
	if (mom == 0) {
		FOR_ROWS(p[i] -= lr * ((g[i] + add[j]) * cs + wd * p[i]))
	} else if (nesterov) {
		FOR_ROWS(float gi = (g[i] + add[j]) * cs + wd * p[i]; m1[i] = mom * m1[i] + gi;
			 p[i] -= lr * (gi + mom * m1[i]))
	} else {
		FOR_ROWS(m1[i] = mom * m1[i] + (g[i] + add[j]) * cs + wd * p[i]; p[i] -= lr * m1[i])
	}
}

OPT_CLONES static void adam_rows(float *restrict p, const float *restrict g, float *restrict m1,
				 float *restrict m2, const float *restrict add,
				 double *restrict colsum, size_t rows, size_t M, float a, float e,
				 float cs, float wd, float b1, float b2)
{
	FOR_ROWS(float gi = (g[i] + add[j]) * cs + wd * p[i]; m1[i] = b1 * m1[i] + (1 - b1) * gi;
		 m2[i] = b2 * m2[i] + (1 - b2) * gi * gi; p[i] -= a * m1[i] / (sqrtf(m2[i]) + e))
}

OPT_CLONES static void rmsprop_rows(float *restrict p, const float *restrict g, float *restrict m2,
				    const float *restrict add, double *restrict colsum, size_t rows,
				    size_t M, float lr, float eps, float cs, float wd, float b2)
{
	FOR_ROWS(float gi = (g[i] + add[j]) * cs + wd * p[i];
		 m2[i] = b2 * m2[i] + (1 - b2) * gi * gi; p[i] -= lr * gi / (sqrtf(m2[i]) + eps))
}

/* Updates layer l's weight with r's row gradient, then its bias. */
static void rows_step(struct nn_opt *o, struct nn_model *m, const struct nn_layer *l,
		      struct nn_opt_rows *r, float lr, float cs, double bc1, double bc2)
{
	size_t M = (size_t)r->M, rows = (size_t)l->out_c, off = l->w_off;
	float *p = m->params + off, *m1 = o->m1 + off, *m2 = o->m2 + off;
	const float *g = m->grads + off;
	float wd = (float)o->weight_decay, mom = (float)o->momentum;
	float b1 = (float)o->beta1, b2 = (float)o->beta2, eps = (float)o->eps;
	switch (o->kind) {
	case OPT_SGD:
		sgd_rows(p, g, m1, r->add, r->colsum, rows, M, lr, cs, wd, mom, o->nesterov);
		break;
	case OPT_ADAM:
		adam_rows(p, g, m1, m2, r->add, r->colsum, rows, M, (float)(lr * sqrt(bc2) / bc1),
			  (float)(eps * sqrt(bc2)), cs, wd, b1, b2);
		break;
	case OPT_RMSPROP:
		rmsprop_rows(p, g, m2, r->add, r->colsum, rows, M, lr, eps, cs, wd, b2);
		break;
	}
	off += l->w_n;
	opt_range(o, m->params + off, m->grads + off, o->m1 + off, o->m2 + off, l->b_n, lr, cs, bc1,
		  bc2);
}

void nn_opt_step(struct nn_opt *o, struct nn_model *m, int epoch)
{
	struct nn_opt_rows *r = o->rows && o->rows->pending ? o->rows : NULL;
	if (o->rows) /* the layer changes; only the fused pass below re-sums it */
		o->rows->sum_ok = 0;
	if (r) {
		r->pending = 0;
		if (o->grad_clip > 0 || m->layers[r->layer].frozen) {
			rows_add_plain(r, m); /* the norm includes it */
			r = NULL;
		}
	}
	float lr = (float)nn_opt_lr(o, epoch), cs = 1.0f;
	o->t++;
	double bc1 = 1 - pow(o->beta1, (double)o->t), bc2 = 1 - pow(o->beta2, (double)o->t);
	if (o->grad_clip > 0) {
		double norm = sqrt(nn_sum_squares(m->grads, m->nparams, 1));
		if (norm > o->grad_clip)
			cs = (float)(o->grad_clip / norm);
	}
	for (int i = 0; i < m->nlayers; i++) {
		const struct nn_layer *l = &m->layers[i];
		if (!nn_has_params(l) || l->frozen)
			continue;
		size_t off = l->w_off, n = l->w_n + l->b_n; /* bias follows weight */
		if (r && i == r->layer) {
			rows_step(o, m, l, r, lr, cs, bc1, bc2);
			r->sum_ok = 1;
			continue;
		}
		opt_range(o, m->params + off, m->grads + off, o->m1 + off, o->m2 + off, n, lr, cs,
			  bc1, bc2);
	}
}
