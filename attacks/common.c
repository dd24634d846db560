/* common.c - what the attack plug-ins share (see common.h). */
#include "common.h"
#include "../workers/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int opt_for(const struct atk_train *t, size_t nparams, struct nn_opt *opt, char *err,
		   size_t errlen)
{
	if (nn_opt_init(opt, t->optimizer, t->lr, nparams))
		return errf(err, errlen,
			    "%s: parameter 'optimizer' = '%s' is not valid; expected one of "
			    "adam|sgd|rmsprop",
			    t->name, t->optimizer);
	if (opt->kind == OPT_SGD)
		opt->momentum = 0.9;
	return 0;
}

static int no_data(const char *name, char *err, size_t errlen)
{
	return errf(err, errlen,
		    "%s: the attacker has no training samples; expected attacker_split > 0 and "
		    "attacker_data > 0 for an attack that trains",
		    name);
}

int atk_fit(struct nn_model *m, const struct atk_env *env, const struct atk_train *t,
	    const struct train_hooks *h, char *err, size_t errlen)
{
	struct train_cfg cfg = {.epochs = t->epochs,
				.batch = t->batch,
				.extra_rows = t->extra_rows,
				.label_smooth = t->label_smooth};
	struct nn_opt opt;
	char sub[ERRBUF];
	int rc;

	if (t->epochs <= 0)
		return 0;
	if (env->n_attacker <= 0)
		return no_data(t->name, err, errlen);
	if (opt_for(t, m->nparams, &opt, err, errlen))
		return -1;
	rc = nn_train(m, env->train, env->attacker_idx, env->n_attacker, &cfg, &opt, h, env->rng,
		      NULL, sub, sizeof sub);
	if (rc)
		errf(err, errlen, "%s: %s", t->name, sub);
	nn_opt_free(&opt);
	return rc;
}

float *atk_logits(struct nn_model *m, const struct dataset *d, const uint32_t *idx, int n)
{
	size_t D = (size_t)d->c * d->h * d->w;
	int C = m->nclass, bs = 256;
	float *z = xmalloc((size_t)(n ? n : 1) * C * sizeof(float));
	float *x = xmalloc((size_t)bs * D * sizeof(float));
	for (int s = 0; s < n; s += bs) {
		int B = n - s < bs ? n - s : bs;
		nn_fill_batch(d->x, d->y, D, idx + s, B, x, NULL);
		const float *out = nn_forward(m, x, B, 0, NULL);
		memcpy(z + (size_t)s * C, out, (size_t)B * C * sizeof(float));
	}
	free(x);
	return z;
}

int atk_train_student(struct nn_model *s, const struct dataset *d, const uint32_t *idx, int n,
		      const float *q, double T, const struct atk_train *t, struct rng *r, char *err,
		      size_t errlen)
{
	size_t D = (size_t)d->c * d->h * d->w;
	int C = s->nclass, bs = t->batch, rc = 0;
	struct nn_opt opt;

	if (n <= 0)
		return no_data(t->name, err, errlen);
	if (opt_for(t, s->nparams, &opt, err, errlen))
		return -1;
	uint32_t *perm = xmalloc((size_t)n * sizeof *perm);
	uint32_t *sidx = xmalloc((size_t)bs * sizeof *sidx);
	float *x = xmalloc((size_t)bs * D * sizeof(float));
	double *p = xmalloc((size_t)C * sizeof(double));
	for (int i = 0; i < n; i++)
		perm[i] = (uint32_t)i;
	nn_reserve(s, bs);
	for (int e = 0; e < t->epochs; e++) {
		rng_shuffle_u32(r, perm, (size_t)n);
		for (int s0 = 0, nb = 0; s0 < n; s0 += bs, nb++) {
			int B = n - s0 < bs ? n - s0 : bs;
			double loss = 0;
			for (int b = 0; b < B; b++)
				sidx[b] = idx[perm[s0 + b]];
			nn_fill_batch(d->x, d->y, D, sidx, B, x, NULL);
			const float *z = nn_forward(s, x, B, 1, r);
			float *dz = s->dacts[s->nlayers - 1];
			nn_zero_act_grads(s);
			for (int b = 0; b < B; b++) {
				const float *zb = z + (size_t)b * C;
				const float *qb = q + (size_t)perm[s0 + b] * C;
				double mx = zb[0], sum = 0;
				for (int c = 1; c < C; c++)
					mx = zb[c] > mx ? zb[c] : mx;
				for (int c = 0; c < C; c++)
					sum += p[c] = exp((zb[c] - mx) / T);
				for (int c = 0; c < C; c++) {
					p[c] /= sum;
					if (qb[c] > 0)
						loss -= T * T * qb[c] * log(fmax(p[c], 1e-30));
					dz[(size_t)b * C + c] += (float)(T * (p[c] - qb[c]) / B);
				}
			}
			loss /= B;
			if (!isfinite(loss)) {
				rc = errf(err, errlen,
					  "%s: training the student diverged: loss is %g at epoch "
					  "%d, batch %d; expected a finite loss (lower lr)",
					  t->name, loss, e + 1, nb + 1);
				goto out;
			}
			nn_zero_grads(s);
			nn_backward(s);
			nn_opt_step(&opt, s, e);
		}
	}
	for (size_t i = 0; i < s->nparams; i++)
		if (!isfinite(s->params[i])) {
			rc = errf(err, errlen,
				  "%s: training the student diverged: a parameter became %g; "
				  "expected finite weights (lower lr)",
				  t->name, s->params[i]);
			break;
		}
out:
	nn_opt_free(&opt);
	free(perm);
	free(sidx);
	free(x);
	free(p);
	return rc;
}

int atk_check_student(const char *name, const char *v, char *err, size_t errlen)
{
	if (!v || !strcmp(v, "same") || nn_arch_spec(v))
		return 0;
	return errf(
	    err, errlen,
	    "%s: parameter 'student' = '%s' is not a known model; expected same or one of %s", name,
	    v, nn_arch_list());
}

int atk_student(const char *arch, const struct atk_train *t, struct nn_model *m,
		const struct atk_env *env, double T, int hard, char *err, size_t errlen)
{
	const char *name = t->name;
	struct nn_model s;
	char sub[ERRBUF];
	int n = env->n_attacker, C = m->nclass, rc;

	if (n <= 0)
		return no_data(name, err, errlen);
	if (!arch[0] || !strcmp(arch, "same")) {
		if (nn_build_spec(&s, m->arch, m->spec, sub, sizeof sub))
			return errf(err, errlen, "%s: building the student: %s", name, sub);
		nn_init_params(&s, env->rng);
	} else if (nn_create(&s, arch, m->in_c, m->in_h, m->in_w, C, env->rng, sub, sizeof sub)) {
		return errf(err, errlen,
			    "%s: parameter 'student' = '%s' does not fit the teacher: %s", name,
			    arch, sub);
	}
	float *q = atk_logits(m, env->train, env->attacker_idx, n);
	if (env->queries)
		*env->queries += n; /* one query of the marked model per attacker sample */
	for (int i = 0; i < n; i++) {
		float *qi = q + (size_t)i * C;
		if (hard) {
			int k = nn_argmax(qi, C);
			for (int c = 0; c < C; c++)
				qi[c] = c == k;
			continue;
		}
		double mx = qi[0], sum = 0;
		for (int c = 1; c < C; c++)
			mx = qi[c] > mx ? qi[c] : mx;
		for (int c = 0; c < C; c++)
			sum += qi[c] = (float)exp((qi[c] - mx) / T);
		for (int c = 0; c < C; c++)
			qi[c] = (float)(qi[c] / sum);
	}
	rc = atk_train_student(&s, env->train, env->attacker_idx, n, q, hard ? 1.0 : T, t, env->rng,
			       err, errlen);
	free(q);
	if (rc) {
		nn_free(&s);
		return -1;
	}
	nn_free(m);
	*m = s;
	return 0;
}

/* Applies "k=v k=v ..." (whitespace-separated) to sp, checking each against
 * defs; with defs NULL only the syntax is checked. */
static int apply_overrides(const char *name, const char *scheme, const struct param_def *defs,
			   const char *v, struct param_set *sp, char *err, size_t errlen)
{
	char owner[160];
	struct param_set scratch = {0};
	snprintf(owner, sizeof owner, "%s: parameter 'scheme_params' = '%s'%s%s", name, v,
		 scheme[0] ? " for " : "", scheme);
	return param_parse(sp ? sp : &scratch, v, " \t", owner, defs, err, errlen);
}

int atk_check_scheme_params(const char *name, const char *v, char *err, size_t errlen)
{
	if (!v || !strcmp(v, "same"))
		return 0;
	return apply_overrides(name, "", NULL, v, NULL, err, errlen);
}

int atk_embed_own(const char *name, const char *ov, int epochs, double lr, struct nn_model *m,
		  const struct atk_env *env, struct npz *key, struct param_set *sp, char *err,
		  size_t errlen)
{
	const struct wm_scheme *s = env->scheme;
	char sub[ERRBUF];
	struct rng ar;

	if (!s || s->unmarked || !env->wm)
		return 1;
	memset(sp, 0, sizeof *sp);
	if (env->scheme_params)
		*sp = *env->scheme_params;
	if (ov && strcmp(ov, "same") &&
	    apply_overrides(name, s->name, s->params, ov, sp, err, errlen))
		return -1;
	param_complete(sp, s->params);
	if (wm_check(s, sp, m, sub, sizeof sub))
		return errf(err, errlen, "%s: %s", name, sub);
	struct wm_env w = *env->wm;
	if (w.n_owner <= 0)
		return no_data(name, err, errlen);
	/* the pirate's own key: a stream of its own, derived from the job's RNG */
	struct seed_scope as = {.draw = rng_u64(env->rng)};
	rng_seed(&ar, seed_stream(0, SEED_ATTACKER_KEY, &as));
	w.rng = &ar;
	w.ts.epochs = epochs;
	if (lr > 0)
		w.ts.lr = lr;
	if (wm_keygen(s, sp, m, &w, key, sub, sizeof sub) ||
	    wm_embed(s, sp, m, key, &w, sub, sizeof sub))
		return errf(err, errlen, "%s: embedding the attacker's own %s mark: %s", name,
			    s->name, sub);
	return 0;
}

static void wrap_release(struct wm_query *q)
{
	struct atk_qctx *c = q->ctx;
	if (c) {
		if (c->free_state)
			c->free_state(c->state);
		free(c->buf);
		free(c);
	}
	q->ctx = NULL;
	q->release = NULL;
}

struct atk_qctx *atk_wrap_init(struct wm_query *outer, struct wm_query *inner, struct rng *r,
			       int (*predict)(struct wm_query *, const float *, int, float *))
{
	struct atk_qctx *c = xcalloc(1, sizeof *c);
	if (r)
		c->rng = *r;
	else
		rng_seed(&c->rng, 0);
	outer->predict = predict;
	outer->model = inner->model;
	outer->nclass = inner->nclass;
	outer->in_size = inner->in_size;
	outer->queries = 0;
	outer->ctx = c;
	outer->inner = inner;
	outer->release = wrap_release;
	return c;
}

float *atk_wrap_buf(struct atk_qctx *c, size_t n)
{
	if (n > c->buf_n) {
		free(c->buf);
		c->buf = xmalloc(n * sizeof(float));
		c->buf_n = n;
	}
	return c->buf;
}

size_t atk_wrap_dim(const struct wm_query *q)
{
	return nn_in_size(q->model);
}

int atk_verify_own(const char *name, const char *who, const struct npz *key, struct nn_model *m,
		   const struct atk_env *env, char *err, size_t errlen)
{
	struct wm_verdict v;
	struct wm_query q;
	char sub[ERRBUF];

	memset(&v, 0, sizeof v);
	v.aux = NAN;
	wm_query_init(&q, m);
	if (wm_verify(env->scheme, key, m, &q, env->wm, &v, sub, sizeof sub))
		return errf(err, errlen, "%s: verifying the attacker's own key: %s", name, sub);
	v.queries = q.queries;
	if (env->second) {
		*env->second = v;
		if (env->second_who)
			*env->second_who = who;
	}
	return 0;
}

/* ---- adversarial examples (advtrain, advextract) ------------------------- */

int atk_opt(const struct atk_train *t, size_t nparams, struct nn_opt *opt, char *err, size_t errlen)
{
	return opt_for(t, nparams, opt, err, errlen);
}

enum atk_labels atk_labels_of(const char *v)
{
	if (!strcmp(v, "source"))
		return ATK_LABELS_SOURCE;
	if (!strcmp(v, "source_hard"))
		return ATK_LABELS_SOURCE_HARD;
	return ATK_LABELS_TRUE;
}

int atk_fresh_student(const char *name, const char *arch, const struct nn_model *m, struct rng *r,
		      struct nn_model *s, char *err, size_t errlen)
{
	char sub[ERRBUF];

	if (!arch[0] || !strcmp(arch, "same")) {
		if (nn_build_spec(s, m->arch, m->spec, sub, sizeof sub))
			return errf(err, errlen, "%s: building the student: %s", name, sub);
		nn_init_params(s, r);
		return 0;
	}
	if (nn_create(s, arch, m->in_c, m->in_h, m->in_w, m->nclass, r, sub, sizeof sub))
		return errf(err, errlen,
			    "%s: parameter 'student' = '%s' does not fit the teacher: %s", name,
			    arch, sub);
	return 0;
}

int atk_check_pgd(const char *name, double eps, double alpha, char *err, size_t errlen)
{
	if (!(eps > 0 && eps <= 1))
		return errf(
		    err, errlen,
		    "%s: parameter 'eps' = '%g' is out of range; expected a number in (0, 1]", name,
		    eps);
	if (!(alpha > 0 && alpha <= 1))
		return errf(
		    err, errlen,
		    "%s: parameter 'alpha' = '%g' is out of range; expected a number in (0, "
		    "1]",
		    name, alpha);
	return 0;
}

#define PGD_BATCH 128

int atk_pgd(struct nn_model *m, const float *x, const int *y, int n, double eps, double alpha,
	    int steps, float *x_adv)
{
	size_t D = nn_in_size(m);
	int C = m->nclass, keep_dinput = m->want_dinput, frozen[NN_MAXLAYERS];
	int yb[PGD_BATCH];

	if (n < 0 || steps < 0 || !(eps >= 0) || !(alpha >= 0))
		return -1;
	if (!n)
		return 0;
	/* Only the input gradient is needed: frozen layers skip the weight
	 * gradients (a third of the backward pass) and leave m->grads alone. */
	for (int i = 0; i < m->nlayers; i++) {
		frozen[i] = m->layers[i].frozen;
		m->layers[i].frozen = 1;
	}
	m->want_dinput = 1;
	float fe = (float)eps, fa = (float)alpha;
	for (int s = 0; s < n; s += PGD_BATCH) {
		int B = n - s < PGD_BATCH ? n - s : PGD_BATCH;
		const float *x0 = x + (size_t)s * D;
		float *xa = x_adv + (size_t)s * D;
		memcpy(xa, x0, (size_t)B * D * sizeof(float));
		if (y) {
			memcpy(yb, y + s, (size_t)B * sizeof(int));
		} else {
			const float *z = nn_forward(m, x0, B, 0, NULL);
			for (int b = 0; b < B; b++)
				yb[b] = nn_argmax(z + (size_t)b * C, C);
		}
		for (int k = 0; k < steps; k++) {
			nn_forward(m, xa, B, 0, NULL);
			nn_zero_act_grads(m);
			nn_loss_xent(m, yb, 1.0);
			nn_backward(m);
			const float *g = m->dinput;
			for (size_t i = 0; i < (size_t)B * D; i++) {
				float lo = fmaxf(0.0f, x0[i] - fe), hi = fminf(1.0f, x0[i] + fe);
				float v = xa[i] + (g[i] > 0 ? fa : g[i] < 0 ? -fa : 0.0f);
				xa[i] = v < lo ? lo : v > hi ? hi : v;
			}
		}
	}
	for (int i = 0; i < m->nlayers; i++)
		m->layers[i].frozen = frozen[i];
	m->want_dinput = keep_dinput;
	return 0;
}

/* Targets (B, C) of the model src on x (B, D): its softmax, or its argmax
 * one-hot when hard. */
static void source_targets(struct nn_model *src, const float *x, int B, int hard, float *q)
{
	int C = src->nclass;
	const float *z = nn_forward(src, x, B, 0, NULL);
	for (int b = 0; b < B; b++) {
		const float *zb = z + (size_t)b * C;
		float *qb = q + (size_t)b * C;
		if (hard) {
			int k = nn_argmax(zb, C);
			for (int c = 0; c < C; c++)
				qb[c] = c == k;
			continue;
		}
		double mx = zb[0], sum = 0;
		for (int c = 1; c < C; c++)
			mx = zb[c] > mx ? zb[c] : mx;
		for (int c = 0; c < C; c++)
			sum += exp(zb[c] - mx);
		for (int c = 0; c < C; c++)
			qb[c] = (float)(exp(zb[c] - mx) / sum);
	}
}

/* The crafted examples of one epoch: na of them into xa (na, D) with
 * targets qa (na, C), from attacker positions drawn through sel (a
 * permutation of 0..n-1 reshuffled whenever it runs out). */
static void craft_epoch(struct nn_model *m, struct nn_model *source, const float *q,
			const struct atk_env *env, const struct atk_adv *a, uint32_t *sel,
			float *xa, float *qa)
{
	const struct dataset *d = env->train;
	size_t D = (size_t)d->c * d->h * d->w;
	int n = env->n_attacker, C = m->nclass, na = a->per_epoch;
	int hard = a->labels == ATK_LABELS_SOURCE_HARD;
	uint32_t pos[PGD_BATCH], sidx[PGD_BATCH];
	int yb[PGD_BATCH];
	float *xc = xmalloc((size_t)PGD_BATCH * D * sizeof(float));

	for (int s = 0; s < na; s += PGD_BATCH) {
		int B = na - s < PGD_BATCH ? na - s : PGD_BATCH;
		for (int b = 0; b < B; b++) {
			int i = (s + b) % n;
			if (!i)
				rng_shuffle_u32(env->rng, sel, (size_t)n);
			pos[b] = sel[i];
			sidx[b] = env->attacker_idx[pos[b]];
		}
		nn_fill_batch(d->x, d->y, D, sidx, B, xc, yb);
		float *xs = xa + (size_t)s * D, *qs = qa + (size_t)s * C;
		atk_pgd(m, xc, NULL, B, a->eps, a->alpha, a->steps, xs);
		if (a->labels == ATK_LABELS_TRUE) {
			for (int b = 0; b < B; b++)
				for (int c = 0; c < C; c++)
					qs[(size_t)b * C + c] = c == yb[b];
		} else if (!a->on_adv && a->q_is_source) {
			/* the answers on these clean images are already the attacker's */
			for (int b = 0; b < B; b++)
				memcpy(qs + (size_t)b * C, q + (size_t)pos[b] * C,
				       (size_t)C * sizeof(float));
		} else {
			source_targets(source, a->on_adv ? xs : xc, B, hard, qs);
			if (env->queries)
				*env->queries += B;
		}
	}
	free(xc);
}

/* One epoch of m on the attacker's samples (targets q) and the crafted
 * examples xa (na, targets qa), shuffled together with env->rng. */
static int pool_epoch(struct nn_model *m, const struct atk_env *env, const float *q,
		      const float *xa, const float *qa, int na, struct nn_opt *opt, int e,
		      const struct atk_train *t, char *err, size_t errlen)
{
	const struct dataset *d = env->train;
	size_t D = (size_t)d->c * d->h * d->w;
	int n = env->n_attacker, N = n + na, C = m->nclass, bs = t->batch, rc = 0;
	uint32_t *perm = xmalloc((size_t)N * sizeof *perm);
	float *x = xmalloc((size_t)bs * D * sizeof(float));
	float *qb = xmalloc((size_t)bs * C * sizeof(float));

	for (int i = 0; i < N; i++)
		perm[i] = (uint32_t)i;
	rng_shuffle_u32(env->rng, perm, (size_t)N);
	for (int s = 0, nb = 0; s < N; s += bs, nb++) {
		int B = N - s < bs ? N - s : bs;
		for (int b = 0; b < B; b++) {
			uint32_t p = perm[s + b];
			float *xb = x + (size_t)b * D;
			if (p < (uint32_t)n) {
				nn_fill_batch(d->x, d->y, D, env->attacker_idx + p, 1, xb, NULL);
				memcpy(qb + (size_t)b * C, q + (size_t)p * C,
				       (size_t)C * sizeof(float));
			} else {
				p -= (uint32_t)n;
				memcpy(xb, xa + (size_t)p * D, D * sizeof(float));
				memcpy(qb + (size_t)b * C, qa + (size_t)p * C,
				       (size_t)C * sizeof(float));
			}
		}
		nn_forward(m, x, B, 1, env->rng);
		nn_zero_act_grads(m);
		double loss = nn_loss_soft(m, qb, 1.0);
		if (!isfinite(loss)) {
			rc = errf(
			    err, errlen,
			    "%s: training diverged: loss is %g at epoch %d, batch %d; expected "
			    "a finite loss (lower lr)",
			    t->name, loss, e + 1, nb + 1);
			break;
		}
		nn_zero_grads(m);
		nn_backward(m);
		nn_opt_step(opt, m, e);
	}
	free(perm);
	free(x);
	free(qb);
	return rc;
}

int atk_adv_train(struct nn_model *m, struct nn_model *source, const float *q,
		  const struct atk_env *env, const struct atk_adv *a, char *err, size_t errlen)
{
	const struct atk_train *t = &a->t;
	size_t D = (size_t)env->train->c * env->train->h * env->train->w;
	int n = env->n_attacker, na = a->per_epoch, C = m->nclass, rc = 0;
	struct nn_opt opt;

	if (n <= 0)
		return no_data(t->name, err, errlen);
	if (na < 0 || (a->labels != ATK_LABELS_TRUE && !source))
		return errf(err, errlen, "%s: no marked model to label the crafted examples",
			    t->name);
	if (opt_for(t, m->nparams, &opt, err, errlen))
		return -1;
	uint32_t *sel = xmalloc((size_t)n * sizeof *sel);
	float *xa = xmalloc((size_t)(na ? na : 1) * D * sizeof(float));
	float *qa = xmalloc((size_t)(na ? na : 1) * C * sizeof(float));
	for (int i = 0; i < n; i++)
		sel[i] = (uint32_t)i;
	for (int e = 0; e < t->epochs && !rc; e++) {
		craft_epoch(m, source, q, env, a, sel, xa, qa);
		rc = pool_epoch(m, env, q, xa, qa, na, &opt, e, t, err, errlen);
	}
	for (size_t i = 0; i < m->nparams && !rc; i++)
		if (!isfinite(m->params[i]))
			rc = errf(err, errlen,
				  "%s: training diverged: a parameter became %g; expected finite "
				  "weights (lower lr)",
				  t->name, m->params[i]);
	nn_opt_free(&opt);
	free(sel);
	free(xa);
	free(qa);
	return rc;
}
