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

int atk_fit_on(struct nn_model *m, const struct dataset *d, const uint32_t *idx, int n,
	       const struct atk_train *t, const struct train_hooks *h, struct rng *r, char *err,
	       size_t errlen)
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
	if (n <= 0)
		return no_data(t->name, err, errlen);
	if (opt_for(t, m->nparams, &opt, err, errlen))
		return -1;
	rc = nn_train(m, d, idx, n, &cfg, &opt, h, r, NULL, sub, sizeof sub);
	if (rc)
		errf(err, errlen, "%s: %s", t->name, sub);
	nn_opt_free(&opt);
	return rc;
}

int atk_fit(struct nn_model *m, const struct atk_env *env, const struct atk_train *t,
	    const struct train_hooks *h, char *err, size_t errlen)
{
	return atk_fit_on(m, env->train, env->attacker_idx, env->n_attacker, t, h, env->rng, err,
			  errlen);
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
			nn_zero_act_grads(s);
			float *dz = nn_dact(s, s->nlayers - 1);
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

enum atk_labels atk_labels_of(const char *v)
{
	if (!strcmp(v, "true"))
		return ATK_LABELS_TRUE;
	return !strcmp(v, "source_hard") ? ATK_LABELS_SOURCE_HARD : ATK_LABELS_SOURCE;
}

const uint32_t *atk_data_idx(const struct atk_env *env, const char *data, int *n, uint32_t **own)
{
	*own = NULL;
	if (strcmp(data, "all_images")) {
		*n = env->n_attacker;
		return env->attacker_idx;
	}
	*n = env->train->n;
	*own = xmalloc((size_t)(*n ? *n : 1) * sizeof **own);
	for (int i = 0; i < *n; i++)
		(*own)[i] = (uint32_t)i;
	return *own;
}

/* The API's probabilities of samples idx[0..n) of d into q (n, nclass). */
static int api_answers(struct wm_query *api, const struct dataset *d, const uint32_t *idx, int n,
		       float *q, const char *name, char *err, size_t errlen)
{
	enum { BS = 256 };
	size_t D = (size_t)d->c * d->h * d->w;
	int rc = 0;

	if (api->in_size != D)
		return errf(err, errlen,
			    "%s: the query path takes %zu floats per sample but the images have "
			    "%zu; expected images of the marked model's input shape",
			    name, api->in_size, D);
	float *x = xmalloc((size_t)BS * D * sizeof(float));
	for (int s = 0; s < n && !rc; s += BS) {
		int B = n - s < BS ? n - s : BS;
		nn_fill_batch(d->x, d->y, D, idx + s, B, x, NULL);
		if (api->predict(api, x, B, q + (size_t)s * api->nclass))
			rc = errf(err, errlen,
				  "%s: the marked model's query path failed on samples %d..%d",
				  name, s, s + B - 1);
	}
	free(x);
	return rc;
}

float *atk_targets(struct nn_model *m, struct wm_query *api, const struct dataset *d,
		   const uint32_t *idx, int n, enum atk_labels labels, double T, long *queries,
		   const char *name, char *err, size_t errlen)
{
	int C = api ? api->nclass : m->nclass;
	float *q;

	if (labels == ATK_LABELS_TRUE) {
		q = xcalloc((size_t)(n ? n : 1) * C, sizeof(float));
		for (int i = 0; i < n; i++)
			q[(size_t)i * C + d->y[idx[i]]] = 1;
		return q;
	}
	if (api) {
		if (T != 1) {
			errf(err, errlen,
			     "%s: soft labels at T = %g through the query path; expected T = 1 "
			     "(the path answers probabilities)",
			     name, T);
			return NULL;
		}
		q = xmalloc((size_t)(n ? n : 1) * C * sizeof(float));
		if (api_answers(api, d, idx, n, q, name, err, errlen)) {
			free(q);
			return NULL;
		}
	} else {
		q = atk_logits(m, d, idx, n);
	}
	if (queries)
		*queries += n; /* one query of the marked model per sample */
	for (int i = 0; i < n; i++) {
		float *qi = q + (size_t)i * C;
		if (labels == ATK_LABELS_SOURCE_HARD) {
			int k = nn_argmax(qi, C);
			for (int c = 0; c < C; c++)
				qi[c] = c == k;
			continue;
		}
		if (api)
			continue; /* already probabilities */
		double mx = qi[0], sum = 0;
		for (int c = 1; c < C; c++)
			mx = qi[c] > mx ? qi[c] : mx;
		for (int c = 0; c < C; c++)
			sum += qi[c] = (float)exp((qi[c] - mx) / T);
		for (int c = 0; c < C; c++)
			qi[c] = (float)(qi[c] / sum);
	}
	return q;
}

int atk_new_student(const char *name, const char *arch, const struct nn_model *m, struct rng *r,
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

int atk_student(const char *arch, const struct atk_train *t, struct nn_model *m,
		const struct atk_env *env, const struct atk_lesson *l, char *err, size_t errlen)
{
	const char *name = t->name;
	struct nn_model s;
	int n = l->n, rc;

	if (n <= 0)
		return no_data(name, err, errlen);
	if (atk_new_student(name, arch, m, env->rng, &s, err, errlen))
		return -1;
	float *q = atk_targets(m, l->api, l->d, l->idx, n, l->labels, l->T, env->queries, name, err,
			       errlen);
	if (!q) {
		nn_free(&s);
		return -1;
	}
	double T = l->labels == ATK_LABELS_SOURCE && !l->api ? l->T : 1.0;
	rc = atk_train_student(&s, l->d, l->idx, n, q, T, t, env->rng, err, errlen);
	free(q);
	if (rc) {
		nn_free(&s);
		return -1;
	}
	nn_free(m);
	*m = s;
	return 0;
}

/* The public set as loaded (the MNIST training digits); never freed: the
 * process keeps it until it exits. */
static struct dataset public_set;

const struct dataset *atk_public_images(const char *name, const struct nn_model *m,
					const struct dataset *job, struct dataset *own, char *err,
					size_t errlen)
{
	const struct dataset *p = &public_set;
	char sub[ERRBUF];

	memset(own, 0, sizeof *own);
	if (job && !strcmp(job->name, "mnist")) {
		errf(err, errlen,
		     "%s: the job's data set is mnist, the public set itself; expected another "
		     "data set (fashion, cifar10): the public images must come from another "
		     "distribution than the owner's",
		     name);
		return NULL;
	}
	if (!public_set.n) {
		struct dataset test;
		if (data_load("mnist", "", &public_set, &test, sub, sizeof sub)) {
			errf(err, errlen, "%s: the public images (mnist): %s", name, sub);
			return NULL;
		}
		data_free(&test);
	}
	if (m->in_c == p->c && m->in_h == p->h && m->in_w == p->w)
		return p;
	if (m->in_h < p->h || m->in_w < p->w) {
		errf(err, errlen,
		     "%s: the public images are %dx%d but model '%s' takes %dx%dx%d inputs; "
		     "expected a model taking at least %dx%d images",
		     name, p->h, p->w, m->arch, m->in_c, m->in_h, m->in_w, p->h, p->w);
		return NULL;
	}
	/* centred on black (the digits' own background), grey in every channel */
	int top = (m->in_h - p->h) / 2, left = (m->in_w - p->w) / 2;
	size_t plane = (size_t)m->in_h * m->in_w, D = (size_t)m->in_c * plane;
	*own = *p;
	own->c = m->in_c;
	own->h = m->in_h;
	own->w = m->in_w;
	own->x = xcalloc((size_t)p->n * D, 1);
	own->y = xmalloc((size_t)p->n);
	memcpy(own->y, p->y, (size_t)p->n);
	for (int i = 0; i < p->n; i++)
		for (int c = 0; c < m->in_c; c++)
			for (int r = 0; r < p->h; r++)
				memcpy(own->x + i * D + c * plane + (size_t)(top + r) * m->in_w +
					   left,
				       p->x + ((size_t)i * p->h + r) * p->w, (size_t)p->w);
	return own;
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

void atk_embed_own_work(const char *ov, int epochs, const struct wm_work *w, double *fwd,
			double *bwd)
{
	const struct wm_scheme *s = w->scheme;
	struct param_set sp;
	struct wm_work own = *w;
	char err[ERRBUF];

	*fwd = *bwd = 0;
	if (!s || s->unmarked)
		return; /* nothing to embed with: atk_embed_own does nothing */
	memset(&sp, 0, sizeof sp);
	if (w->scheme_params)
		sp = *w->scheme_params;
	if (ov && strcmp(ov, "same") &&
	    apply_overrides("cost", s->name, s->params, ov, &sp, err, sizeof err))
		return;
	param_complete(&sp, s->params);
	own.n_owner = w->n; /* the attacker's data in the owner's place, as atk_embed_own */
	own.epochs = epochs;
	if (wm_work_of(s, &sp, &own, fwd, bwd, err, sizeof err)) /* and its uncounted work */
		*fwd = *bwd = 0;
	else /* and atk_verify_own's verification of the attacker's key */
		*fwd += wm_verify_work_of(s, &sp, &own);
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

int atk_wrap_shape(const struct wm_query *q, const char *name, int *c, int *h, int *w, char *err,
		   size_t errlen)
{
	const struct nn_model *m = q->model;
	size_t n = q->in_size ? q->in_size : (m ? nn_in_size(m) : 0);

	if (m && m->in_h * m->in_w > 1) {
		if (nn_in_size(m) != n)
			return errf(err, errlen,
				    "%s: the query path takes %zu floats per sample but its model "
				    "%dx%dx%d; expected them to agree",
				    name, n, m->in_c, m->in_h, m->in_w);
		*c = m->in_c, *h = m->in_h, *w = m->in_w;
		return 0;
	}
	/* a hidden model (or a flat input): the shapes of the harness's data sets */
	if (n == 784) {
		*c = 1, *h = 28, *w = 28;
		return 0;
	}
	if (n == 3072) {
		*c = 3, *h = 32, *w = 32;
		return 0;
	}
	return errf(err, errlen,
		    "%s: cannot tell the image shape of queries of %zu floats (the query path "
		    "shows no image model); expected an image model, or 784 (1x28x28) or 3072 "
		    "(3x32x32) floats per sample",
		    name, n);
}

int atk_verify_own(const char *name, const char *who, const struct npz *key, struct nn_model *m,
		   const struct atk_env *env, char *err, size_t errlen)
{
	struct wm_verdict v;
	struct wm_query q;
	char sub[ERRBUF];

	memset(&v, 0, sizeof v);
	v.aux = NAN;
	if (env->save_key && env->save_key(env->save_ctx, key, sub, sizeof sub))
		return errf(err, errlen, "%s: keeping the attacker's own key: %s", name, sub);
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
