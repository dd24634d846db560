/* common.c - what every scheme shares: statistics, owner training, key stamps,
 * the plain query path. */
#include "scheme.h"
#include "../workers/util.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double binom_tail(int n, int k, double p)
{
	if (k <= 0)
		return 1.0;
	if (k > n)
		return 0.0;
	/* log-sum-exp over the tail; tails below DBL_MIN are reported as DBL_MIN
	 * (about 2.2e-308) rather than as an exact 0 */
	double lp = log(p), lq = log1p(-p), mx = -INFINITY, s = 0;
	for (int i = k; i <= n; i++) {
		double t =
		    lgamma(n + 1.0) - lgamma(i + 1.0) - lgamma(n - i + 1.0) + i * lp + (n - i) * lq;
		mx = t > mx ? t : mx;
	}
	for (int i = k; i <= n; i++)
		s += exp(lgamma(n + 1.0) - lgamma(i + 1.0) - lgamma(n - i + 1.0) + i * lp +
			 (n - i) * lq - mx);
	double r = exp(mx + log(s));
	if (r > 1.0)
		r = 1.0;
	return r < DBL_MIN ? DBL_MIN : r;
}

int wm_train_owner(struct nn_model *m, const struct wm_env *env, const struct train_hooks *h,
		   int extra_rows, char *err, size_t errlen)
{
	struct nn_opt opt;
	struct train_cfg cfg = {
	    .epochs = env->ts.epochs, .batch = env->ts.batch, .extra_rows = extra_rows};
	if (nn_opt_init(&opt, env->ts.optimizer, env->ts.lr, m->nparams))
		return errf(err, errlen, "unknown optimizer '%s'; expected sgd, adam or rmsprop",
			    env->ts.optimizer);
	opt.momentum = env->ts.momentum;
	opt.weight_decay = env->ts.weight_decay;
	int rc = nn_train(m, env->train, env->owner_idx, env->n_owner, &cfg, &opt, h, env->rng,
			  NULL, err, errlen);
	nn_opt_free(&opt);
	return rc;
}

void wm_key_stamp(struct npz *key, const char *scheme, const struct param_set *p)
{
	char buf[PARAM_MAX * (PARAM_KEYLEN + PARAM_VALLEN + 2)];
	param_format(p, buf, sizeof buf);
	npz_add_text(key, "scheme", scheme);
	npz_add_text(key, "params", buf);
}

int wm_key_params(const struct npz *key, struct param_set *p, char *err, size_t errlen)
{
	char buf[PARAM_MAX * (PARAM_KEYLEN + PARAM_VALLEN + 2)];
	memset(p, 0, sizeof *p);
	if (npz_get_text(key, "params", buf, sizeof buf))
		return errf(err, errlen, "key has no 'params' array; expected a wmbench key file");
	return param_parse(p, buf, ";", "key 'params'", NULL, err, errlen);
}

void *wm_cfg(const struct wm_scheme *s, const struct param_set *p, char *err, size_t errlen)
{
	return param_cfg_new(s->name, s->params, s->cfg_size, p, err, errlen);
}

int wm_work_of(const struct wm_scheme *s, const struct param_set *p, const struct wm_work *w,
	       double *fwd, double *bwd, char *err, size_t errlen)
{
	void *cfg = wm_cfg(s, p, err, errlen);

	*fwd = *bwd = (double)w->epochs * w->n_owner;
	if (!cfg)
		return -1;
	if (s->work)
		s->work(cfg, w, fwd, bwd);
	if (w->uncounted && s->work_uncounted)
		*w->uncounted += s->work_uncounted(cfg, w);
	free(cfg);
	return 0;
}

double wm_verify_work_of(const struct wm_scheme *s, const struct param_set *p,
			 const struct wm_work *w)
{
	char err[ERRBUF];
	void *cfg;
	double f;

	if (!s || !s->verify_work || !(cfg = wm_cfg(s, p, err, sizeof err)))
		return 0;
	f = s->verify_work(cfg, w);
	free(cfg);
	return f;
}

int wm_black_box(const struct wm_scheme *s, const struct param_set *p)
{
	char err[ERRBUF];
	void *cfg;
	int bb;

	if (!s->verifies_black_box)
		return s->black_box;
	if (!(cfg = wm_cfg(s, p, err, sizeof err)))
		return s->black_box; /* a bad setting fails its own check, with a message */
	bb = s->verifies_black_box(cfg);
	free(cfg);
	return bb;
}

int wm_null_fit_needed(const struct wm_scheme *s, const struct param_set *p)
{
	char err[ERRBUF];
	void *cfg;
	int nf;

	if (!s->null_fit || !(cfg = wm_cfg(s, p, err, sizeof err)))
		return 0;
	nf = s->null_fit(cfg);
	free(cfg);
	return nf;
}

int wm_check(const struct wm_scheme *s, const struct param_set *p, const struct nn_model *m,
	     char *err, size_t errlen)
{
	void *cfg = wm_cfg(s, p, err, errlen);
	int rc;

	if (!cfg)
		return -1;
	rc = s->check ? s->check(cfg, m, err, errlen) : 0;
	free(cfg);
	return rc;
}

int wm_keygen(const struct wm_scheme *s, const struct param_set *p, const struct nn_model *m,
	      const struct wm_env *env, struct npz *key, char *err, size_t errlen)
{
	struct param_set full = {0};
	void *cfg;
	int rc;

	if (p)
		full = *p;
	param_complete(&full, s->params);
	if (!(cfg = wm_cfg(s, &full, err, errlen)))
		return -1;
	rc = s->keygen(cfg, m, env, key, err, errlen);
	free(cfg);
	if (!rc)
		wm_key_stamp(key, s->name, &full);
	return rc;
}

int wm_embed(const struct wm_scheme *s, const struct param_set *p, struct nn_model *m,
	     struct npz *key, const struct wm_env *env, char *err, size_t errlen)
{
	void *cfg = wm_cfg(s, p, err, errlen);
	int rc;

	if (!cfg)
		return -1;
	rc = s->embed(cfg, m, key, env, err, errlen);
	free(cfg);
	return rc;
}

int wm_verify(const struct wm_scheme *s, const struct npz *key, struct nn_model *m,
	      struct wm_query *q, const struct wm_env *env, struct wm_verdict *v, char *err,
	      size_t errlen)
{
	struct param_set p;
	void *cfg;
	int rc;

	if (wm_key_params(key, &p, err, errlen) || !(cfg = wm_cfg(s, &p, err, errlen)))
		return -1;
	v->count = -1;
	rc = s->verify(cfg, key, m, q, env, v, err, errlen);
	free(cfg);
	return rc;
}

static int plain_predict(struct wm_query *q, const float *x, int n, float *probs)
{
	nn_predict_proba(q->model, x, n, probs);
	q->queries += n;
	return 0;
}

void wm_query_init(struct wm_query *q, struct nn_model *m)
{
	memset(q, 0, sizeof *q);
	q->predict = plain_predict;
	q->model = m;
	q->nclass = m->nclass;
	q->in_size = nn_in_size(m);
}

const char *wm_default_layer(const struct nn_model *m)
{
	int seen = 0;
	for (int i = 0; i < m->nlayers; i++)
		if (nn_has_params(&m->layers[i]) && ++seen == 2)
			return m->layers[i].name;
	return m->layers[nn_last_param_layer(m)].name;
}

int wm_resolve_layer(const char *scheme, const char *layer, const struct nn_model *m, char *err,
		     size_t errlen)
{
	char names[256] = "";
	if (!strcmp(layer, "auto"))
		layer = wm_default_layer(m);
	int i = nn_find_layer(m, layer);
	if (i >= 0 && nn_has_params(&m->layers[i]))
		return i;
	for (int k = 0; k < m->nlayers; k++)
		if (nn_has_params(&m->layers[k])) {
			if (names[0])
				strncat(names, ", ", sizeof names - strlen(names) - 1);
			strncat(names, m->layers[k].name, sizeof names - strlen(names) - 1);
		}
	errf(err, errlen,
	     "%s: parameter 'layer' = '%s' is not a dense or conv layer of model '%s'; expected "
	     "auto or one of %s",
	     scheme, layer, m->arch, names);
	return -1;
}

int wm_query_accuracy(struct wm_query *q, const struct dataset *d, double *acc)
{
	enum { BS = 256 };
	size_t D = (size_t)d->c * d->h * d->w;
	float *x = xmalloc((size_t)BS * D * sizeof(float));
	float *probs = xmalloc((size_t)BS * q->nclass * sizeof(float));
	int y[BS], ok = 0, rc = 0;
	uint32_t idx[BS];

	for (int s = 0; s < d->n && !rc; s += BS) {
		int B = d->n - s < BS ? d->n - s : BS;
		for (int b = 0; b < B; b++)
			idx[b] = (uint32_t)(s + b);
		nn_fill_batch(d->x, d->y, D, idx, B, x, y);
		rc = q->predict(q, x, B, probs) ? -1 : 0;
		for (int b = 0; b < B && !rc; b++)
			ok += nn_argmax(probs + (size_t)b * q->nclass, q->nclass) == y[b];
	}
	*acc = d->n ? (double)ok / d->n : NAN;
	free(x);
	free(probs);
	return rc;
}

int wm_query_labels(struct wm_query *q, const float *x, int n, int *labels)
{
	enum { BS = 256 };
	size_t D = q->in_size;
	float *probs = xmalloc((size_t)BS * q->nclass * sizeof(float));
	int rc = 0;

	for (int s = 0; s < n && !rc; s += BS) {
		int B = n - s < BS ? n - s : BS;
		rc = q->predict(q, x + (size_t)s * D, B, probs) ? -1 : 0;
		for (int b = 0; b < B && !rc; b++)
			labels[s + b] = nn_argmax(probs + (size_t)b * q->nclass, q->nclass);
	}
	free(probs);
	return rc;
}

double wm_input_grad(struct nn_model *m, const float *x, const int *y, int B, float *gx)
{
	int keep = m->want_dinput;
	m->want_dinput = 1;
	nn_forward(m, x, B, 0, NULL);
	nn_zero_act_grads(m);
	/* scale B: the summed loss's gradient (nn_loss_xent divides by B) */
	double loss = nn_loss_xent(m, y, B) * B;
	nn_backward(m);
	memcpy(gx, m->dinput, nn_in_size(m) * B * sizeof(float));
	nn_zero_grads(m);
	m->want_dinput = keep;
	return loss;
}
