/* nc_trigger.c - Neural Cleanse's trigger reverse engineering (see
 * nc_trigger.h), written from ATTACKS-MORE.md section 6.
 *
 * For a target class t, a mask m in [0, 1]^{HxW} shared by the channels and
 * a pattern Delta in [0, 1]^{CxHxW} are optimised over clean images x not of
 * class t, blended in pixel space, x' = (1 - m) x + m Delta, to minimise
 * CE(F(x'), t) + lambda |m|_1 / C (|m|_1 summed over the HxW mask, as the
 * spec writes it; for grey images C = 1; were NC's mask repeated over the
 * channels before its sum, the division would cancel that, a factor C on
 * lambda for RGB inputs). Both live in tanh space,
 * m = tanh(a) / (2 - eps) + 1/2, so that they stay in [0, 1] without
 * clipping; they start uniform in [0, 1] and are moved by Adam (lr 0.1,
 * betas 0.5 and 0.9, NC's), written out here because the engine's optimisers
 * act on model parameters. The input gradient comes from the engine
 * (want_dinput), with the model's layers frozen so that no weight gradient
 * is computed.
 *
 * A step is step_batches mini-batches; at its end its mean attack success
 * (share of x' classified t, measured on each batch before its update) and
 * mean regulariser drive NC's schedule for lambda: it starts at 0; after 5
 * consecutive steps at success >= 0.99 it becomes 1e-3; then 5 consecutive
 * successful steps double it and 5 consecutive failing ones divide it by
 * 2^1.5. A step at success >= 0.99 whose mean regulariser beats the best so
 * far keeps the mask and pattern as they are after it. The search stops after
 * `steps` steps, or early once lambda has moved both ways and 25 consecutive
 * steps brought no better mask. A class that never reaches 0.99 keeps its
 * last mask (found = 0); its norm still enters the outlier test. */
#include "nc_trigger.h"
#include "../workers/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NC_EPS	     1e-7 /* the tanh squashing's margin (Keras' epsilon in NC) */
#define NC_SUCCESS   0.99 /* attack success that counts as a trigger */
#define NC_PATIENCE  5	  /* steps before lambda is set or moved */
#define NC_INIT_COST 1e-3 /* lambda once a trigger is found at lambda 0 */
#define NC_UP	     2.0  /* lambda's factor after successful steps */
#define NC_ES_PAT    25	  /* steps without a better mask before stopping (5 x patience) */
#define NC_BETA1     0.5
#define NC_BETA2     0.9
#define NC_ADAM_EPS  1e-7

int nc_pool(const struct dataset *d, const uint32_t *idx, int n, int target, int source,
	    uint32_t **out)
{
	int k = 0;
	*out = xmalloc((size_t)(n > 0 ? n : 1) * sizeof **out);
	for (int i = 0; i < n; i++) {
		int y = d->y[idx[i]];
		if (y != target && (source < 0 || y == source))
			(*out)[k++] = idx[i];
	}
	return k;
}

void nc_trigger_free(struct nc_trigger *tr)
{
	free(tr->mask);
	free(tr->pattern);
	tr->mask = tr->pattern = NULL;
}

/* The squashing into [0, 1] and its inverse (for the random start). */
static double squash(double a)
{
	return tanh(a) / (2 - NC_EPS) + 0.5;
}

static double unsquash(double v)
{
	return atanh((v - 0.5) * (2 - NC_EPS));
}

/* Adam on n values v (state m1, m2, step t already incremented). */
static void adam(double *v, const double *g, double *m1, double *m2, size_t n, double lr, long t)
{
	double c1 = 1 - pow(NC_BETA1, (double)t), c2 = 1 - pow(NC_BETA2, (double)t);
	for (size_t i = 0; i < n; i++) {
		m1[i] = NC_BETA1 * m1[i] + (1 - NC_BETA1) * g[i];
		m2[i] = NC_BETA2 * m2[i] + (1 - NC_BETA2) * g[i] * g[i];
		v[i] -= lr * (m1[i] / c1) / (sqrt(m2[i] / c2) + NC_ADAM_EPS);
	}
}

/* One run from a random start: the kept (or last) mask and pattern into
 * mask, pattern; returns its |mask|_1, sets *found, *success, *lambda,
 * *steps. */
static double nc_run(struct nn_model *m, const struct dataset *d, const uint32_t *pool, int n,
		     int target, const struct nc_opts *o, struct rng *r, float *mask_out,
		     float *pat_out, int *found, double *success, double *lambda, int *steps)
{
	int C = m->in_c, B = o->batch;
	size_t HW = (size_t)m->in_h * m->in_w, D = (size_t)C * HW;
	double *am = xmalloc(HW * sizeof *am), *ap = xmalloc(D * sizeof *ap);
	double *gm = xmalloc(HW * sizeof *gm), *gp = xmalloc(D * sizeof *gp);
	double *m1 = xcalloc(HW + D, sizeof *m1), *m2 = xcalloc(HW + D, sizeof *m2);
	float *mk = xmalloc(HW * sizeof *mk), *pt = xmalloc(D * sizeof *pt);
	float *x = xmalloc((size_t)B * D * sizeof *x), *xs = xmalloc((size_t)B * D * sizeof *xs);
	int *y = xmalloc((size_t)B * sizeof *y);
	uint32_t *order = xmalloc((size_t)n * sizeof *order),
		 *bidx = xmalloc((size_t)B * sizeof *bidx);
	double cost = 0, reg_best = INFINITY, es_best = INFINITY, kept_acc = 0;
	int set_n = 0, up_n = 0, down_n = 0, up_flag = 0, down_flag = 0, es_n = 0, pos = n, s;
	long t = 0;

	for (size_t i = 0; i < HW; i++)
		am[i] = unsquash(rng_uniform(r));
	for (size_t i = 0; i < D; i++)
		ap[i] = unsquash(rng_uniform(r));
	memcpy(order, pool, (size_t)n * sizeof *order);
	for (int b = 0; b < B; b++)
		y[b] = target;
	*found = 0;
	for (s = 0; s < o->steps; s++) {
		double acc = 0, reg = 0;
		for (int k = 0; k < o->step_batches; k++) {
			for (int b = 0; b < B; b++) {
				if (pos == n) { /* a fresh pass in a fresh order */
					rng_shuffle_u32(r, order, (size_t)n);
					pos = 0;
				}
				bidx[b] = order[pos++];
			}
			nn_fill_batch(d->x, NULL, D, bidx, B, x, NULL);
			double l1 = 0;
			for (size_t i = 0; i < HW; i++)
				l1 += mk[i] = (float)squash(am[i]);
			for (size_t i = 0; i < D; i++)
				pt[i] = (float)squash(ap[i]);
			for (int b = 0; b < B; b++)
				for (int c = 0; c < C; c++) {
					const float *xb = x + (size_t)b * D + (size_t)c * HW;
					float *sb = xs + (size_t)b * D + (size_t)c * HW;
					const float *pc = pt + (size_t)c * HW;
					for (size_t i = 0; i < HW; i++)
						sb[i] = (1 - mk[i]) * xb[i] + mk[i] * pc[i];
				}
			const float *z = nn_forward(m, xs, B, 0, NULL);
			int hits = 0;
			for (int b = 0; b < B; b++)
				hits += nn_argmax(z + (size_t)b * m->nclass, m->nclass) == target;
			nn_zero_act_grads(m);
			nn_loss_xent(m, y, 1.0);
			nn_backward(m);
			acc += (double)hits / B;
			reg += l1 / C;
			/* d x'/d m = Delta - x (summed over channels), d x'/d Delta = m;
			 * the regulariser adds lambda / C to every mask entry (m >= 0) */
			for (size_t i = 0; i < HW; i++)
				gm[i] = cost / C;
			memset(gp, 0, D * sizeof *gp);
			for (int b = 0; b < B; b++)
				for (int c = 0; c < C; c++) {
					const float *g = m->dinput + (size_t)b * D + (size_t)c * HW;
					const float *xb = x + (size_t)b * D + (size_t)c * HW;
					const float *pc = pt + (size_t)c * HW;
					double *gpc = gp + (size_t)c * HW;
					for (size_t i = 0; i < HW; i++) {
						gm[i] += (double)g[i] * (pc[i] - xb[i]);
						gpc[i] += (double)g[i] * mk[i];
					}
				}
			/* through the squashing: d squash / d a = (1 - tanh^2 a) / (2 - eps) */
			for (size_t i = 0; i < HW; i++) {
				double th = tanh(am[i]);
				gm[i] *= (1 - th * th) / (2 - NC_EPS);
			}
			for (size_t i = 0; i < D; i++) {
				double th = tanh(ap[i]);
				gp[i] *= (1 - th * th) / (2 - NC_EPS);
			}
			t++;
			adam(am, gm, m1, m2, HW, o->lr, t);
			adam(ap, gp, m1 + HW, m2 + HW, D, o->lr, t);
		}
		acc /= o->step_batches;
		reg /= o->step_batches;
		/* keep the best mask: the one after this step */
		if (acc >= NC_SUCCESS && reg < reg_best) {
			for (size_t i = 0; i < HW; i++)
				mask_out[i] = (float)squash(am[i]);
			for (size_t i = 0; i < D; i++)
				pat_out[i] = (float)squash(ap[i]);
			reg_best = reg;
			kept_acc = acc;
			*found = 1;
		}
		/* early stop: lambda moved both ways, no better mask for a while */
		if (reg_best < INFINITY)
			es_n = reg_best >= es_best ? es_n + 1 : 0;
		es_best = fmin(es_best, reg_best);
		if (up_flag && down_flag && es_n >= NC_ES_PAT) {
			s++;
			break;
		}
		/* lambda: set once a trigger is found at 0, then up or down */
		if (cost == 0 && acc >= NC_SUCCESS) {
			if (++set_n >= NC_PATIENCE) {
				cost = NC_INIT_COST;
				up_n = down_n = 0;
				up_flag = down_flag = 0;
			}
		} else {
			set_n = 0;
		}
		if (acc >= NC_SUCCESS) {
			up_n++;
			down_n = 0;
		} else {
			up_n = 0;
			down_n++;
		}
		if (up_n >= NC_PATIENCE) {
			up_n = 0;
			cost *= NC_UP;
			up_flag = 1;
		} else if (down_n >= NC_PATIENCE) {
			down_n = 0;
			cost /= pow(NC_UP, 1.5);
			down_flag = 1;
		}
	}
	if (!*found) { /* never a trigger: the last mask stands for the class */
		for (size_t i = 0; i < HW; i++)
			mask_out[i] = (float)squash(am[i]);
		for (size_t i = 0; i < D; i++)
			pat_out[i] = (float)squash(ap[i]);
		kept_acc = 0;
	}
	double norm = 0;
	for (size_t i = 0; i < HW; i++)
		norm += mask_out[i];
	*success = kept_acc;
	*lambda = cost;
	*steps = s;
	free(am);
	free(ap);
	free(gm);
	free(gp);
	free(m1);
	free(m2);
	free(mk);
	free(pt);
	free(x);
	free(xs);
	free(y);
	free(order);
	free(bidx);
	return norm;
}

int nc_reverse(struct nn_model *m, const struct dataset *d, const uint32_t *pool, int n, int target,
	       const struct nc_opts *o, struct rng *r, struct nc_trigger *tr, char *err,
	       size_t errlen)
{
	size_t HW = (size_t)m->in_h * m->in_w, D = (size_t)m->in_c * HW;
	int frozen[NN_MAXLAYERS], keep_dinput = m->want_dinput;

	memset(tr, 0, sizeof *tr);
	if (n <= 0)
		return errf(err, errlen,
			    "%s: no attacker sample to search a trigger for class %d on; expected "
			    "samples of other classes (attacker_split > 0, attacker_data > 0)",
			    o->name, target);
	tr->target = target;
	tr->c = m->in_c;
	tr->h = m->in_h;
	tr->w = m->in_w;
	tr->mask = xmalloc(HW * sizeof *tr->mask);
	tr->pattern = xmalloc(D * sizeof *tr->pattern);
	tr->found = 1;
	float *mk = xmalloc(HW * sizeof *mk), *pt = xmalloc(D * sizeof *pt);
	double best = INFINITY, sum = 0;
	int kept_found = 0;

	/* the search needs input gradients only: no weight gradient, weights
	 * untouched */
	for (int i = 0; i < m->nlayers; i++) {
		frozen[i] = m->layers[i].frozen;
		m->layers[i].frozen = 1;
	}
	m->want_dinput = 1;
	nn_reserve(m, o->batch);
	for (int k = 0; k < o->seeds; k++) {
		int found, steps;
		double succ, lambda;
		double norm =
		    nc_run(m, d, pool, n, target, o, r, mk, pt, &found, &succ, &lambda, &steps);
		sum += norm;
		tr->steps += steps;
		tr->found &= found;
		/* keep the smallest mask that is a trigger (the first run's if none) */
		if (k == 0 || (found && (!kept_found || norm < best))) {
			memcpy(tr->mask, mk, HW * sizeof *mk);
			memcpy(tr->pattern, pt, D * sizeof *pt);
			best = norm;
			kept_found = found;
			tr->success = succ;
			tr->lambda = lambda;
		}
	}
	tr->norm = sum / o->seeds;
	for (int i = 0; i < m->nlayers; i++)
		m->layers[i].frozen = frozen[i];
	m->want_dinput = keep_dinput;
	free(mk);
	free(pt);
	return 0;
}

int nc_reverse_classes(struct nn_model *m, const struct dataset *d, const uint32_t *idx, int n,
		       int target, int source, const struct nc_opts *o, struct rng *r,
		       struct nc_trigger *tr, char *err, size_t errlen)
{
	memset(tr, 0, (size_t)m->nclass * sizeof *tr);
	for (int t = 0; t < m->nclass; t++) {
		uint32_t *pool;
		int np, rc;
		if ((target >= 0 && t != target) || t == source)
			continue;
		np = nc_pool(d, idx, n, t, source, &pool);
		rc = nc_reverse(m, d, pool, np, t, o, r, &tr[t], err, errlen);
		free(pool);
		if (rc) {
			for (int k = 0; k < t; k++)
				nc_trigger_free(&tr[k]);
			return -1;
		}
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The median of v[0..n) (the mean of the middle two for even n). */
static double median_of(const double *v, int n)
{
	double *s = xmalloc((size_t)n * sizeof *s), med;
	memcpy(s, v, (size_t)n * sizeof *s);
	qsort(s, (size_t)n, sizeof *s, cmp_double);
	med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
	return med;
}

int nc_anomaly(const double *norm, int n, double *index, double *median, double *mad, int *nflag)
{
	double *dev = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *dev), med, md;
	int flag = -1, nf = 0;

	med = median_of(norm, n);
	for (int i = 0; i < n; i++)
		dev[i] = fabs(norm[i] - med);
	md = 1.4826 * median_of(dev, n);
	for (int i = 0; i < n; i++) {
		index[i] = dev[i] == 0 ? 0 : md > 0 ? dev[i] / md : INFINITY;
		if (index[i] > 2 && norm[i] < med) {
			nf++;
			if (flag < 0 || index[i] > index[flag])
				flag = i;
		}
	}
	free(dev);
	if (median)
		*median = med;
	if (mad)
		*mad = md;
	if (nflag)
		*nflag = nf;
	return flag;
}

void nc_stamp(const struct nc_trigger *tr, float *x, int B)
{
	size_t HW = (size_t)tr->h * tr->w, D = (size_t)tr->c * HW;
	for (int b = 0; b < B; b++)
		for (int c = 0; c < tr->c; c++) {
			float *xc = x + (size_t)b * D + (size_t)c * HW;
			const float *pc = tr->pattern + (size_t)c * HW;
			for (size_t i = 0; i < HW; i++)
				xc[i] = (1 - tr->mask[i]) * xc[i] + tr->mask[i] * pc[i];
		}
}

int nc_act_layer(const struct nn_model *m, int li)
{
	if (li + 1 < m->nlayers && m->layers[li + 1].kind == NN_RELU)
		return li + 1;
	return li;
}

/* Adds sign times layer ai's output for B samples into per-(unit, position)
 * sums acc (OC*HW). */
static void add_acts(const struct nn_model *m, int ai, int B, double sign, double *acc)
{
	const struct nn_layer *a = &m->layers[ai];
	size_t HW = (size_t)a->out_h * a->out_w;
	int OC = a->out_c;
	const float *o = m->acts[ai];
	for (int b = 0; b < B; b++)
		for (int c = 0; c < OC; c++) {
			/* (C, B, H, W) inside the conv stack, else (B, C*H*W) */
			const float *v = a->chan_major ? o + ((size_t)c * B + b) * HW
						       : o + ((size_t)b * OC + c) * HW;
			double *s = acc + (size_t)c * HW;
			for (size_t k = 0; k < HW; k++)
				s[k] += sign * v[k];
		}
}

void nc_act_diff(struct nn_model *m, int ai, const struct dataset *d, const uint32_t *idx, int n,
		 const struct nc_trigger *tr, int conv_max, double *diff)
{
	const struct nn_layer *a = &m->layers[ai];
	size_t D = (size_t)d->c * d->h * d->w, HW = (size_t)a->out_h * a->out_w;
	int OC = a->out_c, bs = 256;
	double *acc = xcalloc((size_t)OC * HW, sizeof *acc);
	float *x = xmalloc((size_t)bs * D * sizeof *x);

	for (int s = 0; s < n; s += bs) {
		int B = n - s < bs ? n - s : bs;
		nn_fill_batch(d->x, NULL, D, idx + s, B, x, NULL);
		nn_forward(m, x, B, 0, NULL);
		add_acts(m, ai, B, -1, acc);
		nc_stamp(tr, x, B);
		nn_forward(m, x, B, 0, NULL);
		add_acts(m, ai, B, 1, acc);
	}
	for (int c = 0; c < OC; c++) {
		const double *s = acc + (size_t)c * HW;
		double v = 0, mx = -INFINITY;
		for (size_t k = 0; k < HW; k++) {
			v += s[k];
			mx = fmax(mx, s[k]);
		}
		diff[c] = (conv_max ? mx : v / HW) / (n > 0 ? n : 1);
	}
	free(acc);
	free(x);
}

void nc_reset_unit(struct nn_model *m, int li, int u)
{
	const struct nn_layer *l = &m->layers[li];
	size_t per = l->w_n / (size_t)l->out_c;
	memset(m->params + l->w_off + (size_t)u * per, 0, per * sizeof(float));
	if (l->b_n)
		m->params[l->b_off + (size_t)u] = 0;
}
