/* train.c - the training loop (mini-batch, shuffled, hooks) and evaluation. */
#include "train.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void (*nn_train_step_done)(void);
struct nn_train_prof nn_train_prof;

/* With nn_train_prof.on: the CPU time since *mark goes to phase k. */
static void prof_phase(int k, double *mark)
{
	if (!nn_train_prof.on)
		return;
	double now = cpu_seconds();
	nn_train_prof.t[k] += now - *mark;
	*mark = now;
}

int nn_train(struct nn_model *m, const struct dataset *d, const uint32_t *idx, int n,
	     const struct train_cfg *cfg, struct nn_opt *opt, const struct train_hooks *h,
	     struct rng *r, double *last_loss, char *err, size_t errlen)
{
	size_t D = (size_t)d->c * d->h * d->w;
	int cap = cfg->batch + cfg->extra_rows, C = m->nclass, rc = 0;
	uint32_t *perm = xmalloc((size_t)(n ? n : 1) * sizeof *perm);
	float *x = xmalloc((size_t)cap * D * sizeof(float));
	float *q =
	    (cfg->soft || cfg->label_smooth > 0) ? xmalloc((size_t)cap * C * sizeof(float)) : NULL;
	int *y = xmalloc((size_t)cap * sizeof(int));
	double epoch_loss = 0;

	if (n <= 0) {
		rc = errf(err, errlen,
			  "training: no training samples; expected a non-empty training set");
		goto out;
	}
	memcpy(perm, idx, (size_t)n * sizeof *perm);
	nn_reserve(m, cap);
	/* no hook looks at the activations: the fused ReLUs need not store theirs */
	m->relu_out_unread =
	    !h || h->acts_unread || !(h->pre_backward || h->post_backward || h->epoch_end);
	if (h && h->rows) {
		h->rows->pending = h->rows->sum_ok = 0;
		opt->rows = h->rows;
	}
	for (int e = 0; e < cfg->epochs; e++) {
		double sum = 0;
		int nb = 0;
		rng_shuffle_u32(r, perm, (size_t)n);
		for (int s = 0; s < n; s += cfg->batch) {
			int B = n - s < cfg->batch ? n - s : cfg->batch, B0;
			double mark = nn_train_prof.on ? cpu_seconds() : 0;
			nn_fill_batch(d->x, d->y, D, perm + s, B, x, y);
			B0 = B;
			if (h && h->mix)
				h->mix(h->ctx, x, y, &B, cap, r);
			prof_phase(TP_BATCH, &mark);
			nn_forward(m, x, B, 1, r);
			prof_phase(TP_FORWARD, &mark);
			nn_zero_act_grads(m);
			double loss = 0;
			if (h && h->pre_backward)
				loss += h->pre_backward(h->ctx, m, x, y, B);
			prof_phase(TP_PRE, &mark);
			if (q) {
				double eps = cfg->label_smooth;
				for (int b = 0; b < B; b++) {
					float *qb = q + (size_t)b * C;
					if (cfg->soft && b < B0) {
						const float *t =
						    cfg->soft + (size_t)perm[s + b] * C;
						double w = cfg->soft_weight;
						for (int c = 0; c < C; c++)
							qb[c] = (float)(w * t[c] +
									(1 - w) * (c == y[b]));
					} else {
						for (int c = 0; c < C; c++)
							qb[c] = (float)((1 - eps) * (c == y[b]) +
									eps / C);
					}
				}
				loss += nn_loss_soft(m, q, 1.0);
			} else {
				loss += nn_loss_xent(m, y, 1.0);
			}
			prof_phase(TP_LOSS, &mark);
			nn_zero_grads(m);
			nn_backward(m);
			prof_phase(TP_BACKWARD, &mark);
			if (h && h->post_backward)
				loss += h->post_backward(h->ctx, m, x, y, B);
			prof_phase(TP_POST, &mark);
			if (!isfinite(loss)) {
				rc = errf(err, errlen,
					  "training diverged: loss is %g at epoch %d, batch %d; "
					  "expected a finite loss (lower the learning rate or the "
					  "scheme's strength)",
					  loss, e + 1, nb + 1);
				goto out;
			}
			nn_opt_step(opt, m, e);
			prof_phase(TP_OPT, &mark);
			sum += loss;
			nb++;
			if (nn_train_step_done)
				nn_train_step_done();
		}
		epoch_loss = sum / (nb ? nb : 1);
		if (h && h->epoch_end) {
			h->epoch_end(h->ctx, m, e);
			if (h->rows) /* it may have changed the weights */
				h->rows->sum_ok = 0;
		}
	}
	for (size_t i = 0; i < m->nparams; i++)
		if (!isfinite(m->params[i])) {
			rc = errf(
			    err, errlen,
			    "training diverged: a parameter became %g; expected finite weights",
			    m->params[i]);
			goto out;
		}
	if (last_loss)
		*last_loss = epoch_loss;
out:
	m->relu_out_unread = 0;
	if (h && h->rows)
		opt->rows = NULL;
	free(perm);
	free(x);
	free(q);
	free(y);
	return rc;
}

double nn_accuracy(struct nn_model *m, const struct dataset *d, const uint32_t *idx, int n)
{
	size_t D = (size_t)d->c * d->h * d->w;
	int total = idx ? n : d->n, correct = 0, bs = 256;
	uint32_t ib[256];
	int yb[256];
	float *x = xmalloc((size_t)bs * D * sizeof(float));
	for (int s = 0; s < total; s += bs) {
		int B = total - s < bs ? total - s : bs;
		for (int b = 0; b < B; b++)
			ib[b] = idx ? idx[s + b] : (uint32_t)(s + b);
		nn_fill_batch(d->x, d->y, D, ib, B, x, yb);
		const float *z = nn_forward(m, x, B, 0, NULL);
		for (int b = 0; b < B; b++)
			correct += nn_argmax(z + (size_t)b * m->nclass, m->nclass) == yb[b];
	}
	free(x);
	return total ? (double)correct / total : 0.0;
}
