/* dawn.c - DAWN, dynamic adversarial watermarking of the prediction API
 * (Szyller, Atli, Marchal, Asokan; ACM MM 2021, arXiv 1906.00830), written
 * from SCHEMES-WRT.md ("dawn"), not from the authors' or WRT's code.
 *
 * Active: the owner's model F is not changed; its prediction API answers a
 * keyed fraction of queries with a wrong label, and a client who trains a
 * surrogate on the answers learns them.
 * Key: 32 secret bytes K from the job's RNG and the rate r (parameter).
 * API, per query x: the canonical bytes of x are its pixels as uint8,
 *   round(255 x) per value clamped to [0, 1], in (C, H, W) order (for
 *   dataset images: the stored pixels themselves); h = HMAC-SHA256(K, bytes)
 *   (libsodium). x is watermarked iff the first 64-bit word of h, read
 *   big-endian, is below r 2^64; then y_w = (F(x) + 1 + (w2 mod (C-1))) mod C
 *   with w2 the second big-endian word (uniform over the C-1 labels other
 *   than F(x)), and the answer is F's probability vector with the entries of
 *   F(x) and y_w swapped. A repeated query gets the same answer.
 * Embed (a pipeline, not a change of F): train F exactly as the seed's clean
 *   model (wm_train_owner, no hooks); the attacker queries the API with every
 *   image of its split (env->attacker_idx; none: the job fails, DAWN needs
 *   run.attacker_split > 0) and trains a fresh model of the same architecture
 *   (initialised from env->rng) on the answers' top-1 labels (labels = hard)
 *   or on the answer vectors (labels = soft), for surrogate_epochs epochs
 *   (0: the run's epochs) with the run's optimiser settings. The embed's
 *   output model is that surrogate S. The key gets the client's log W: the
 *   watermarked queries (indices into the training set, their uint8 images,
 *   y_w and F(x)), the query count, F's clean test accuracy and the API's
 *   test accuracy (F with the flips), and S's test accuracy.
 * Verify (black-box, through q only): m = #{x in W : S(x) = y_w(x)}, metric
 *   wm_acc = m/|W|, capacity |W|; the log is first checked against K (each
 *   entry must be watermarked and its y_w the one K gives for the logged
 *   F(x)). An empty W is an error.
 * Chance model (kind 1, exact bound): for any S built without K, y_w(x) is
 *   uniform over the labels other than F(x) and independent across x, so
 *   P[S(x) = y_w(x)] = P[S(x) != F(x)]/(C-1) <= 1/(C-1) and m is
 *   stochastically below Binomial(|W|, 1/(C-1)). The decision uses the sharper
 *   exact test on W' = {x in W : S(x) != F(x)} (every match lies in W'):
 *   given S(x) != F(x), S(x) is one of the C-1 labels y_w is drawn from, so
 *   P[S(x) = y_w(x) | x in W'] = 1/(C-1) exactly, and whether x is in W at
 *   all is another part of the HMAC, which S cannot see:
 *   p = P[Bin(|W'|, 1/(C-1)) >= m]; detected iff p < alpha. aux is the
 *   bound on all of W, P[Bin(|W|, 1/(C-1)) >= m] >= p, reported only (an
 *   8-epoch CI surrogate reproducing 3.5 % of W: 1 on W, 2e-6 on W').
 *   The log's F(x) are the owner's record: K fixes y_w given F(x), but a
 *   dishonest key holder could choose F(x) to steer y_w; nothing here can
 *   check F(x) without F.
 * Deviations: the authors' code hashes only the first 25 bytes of key and
 *   input and compares the first 16 bits of h to floor(2^16 r); here the
 *   whole image and 64 bits. The paper's ownership rule (at least half of W
 *   reproduced) is replaced by the binomial bound. The attacker is the plain
 *   extraction client of the spec (its own images, the API's labels), not the
 *   authors' "perfect attacker" with a 250-image watermark set. */
#include "scheme.h"
#include "../workers/util.h"

#include <sodium.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#define DAWN_KEYLEN 32
#define DAWN_CHUNK  256

/* The parameters, as the plug-in receives them (table below). */
struct dawn_cfg {
	double rate;
	char labels[PARAM_VALLEN];
	int surrogate_epochs;
};

static const struct param_def dawn_params[] = {
    {"rate", PT_DOUBLE, "0.005", 1e-6, 0.5, NULL, "fraction r of API queries answered wrongly",
     offsetof(struct dawn_cfg, rate)},
    {"labels", PT_STRING, "hard", 0, 0, "hard|soft",
     "what the attacker trains its surrogate on: the API's top-1 labels or its vectors",
     offsetof(struct dawn_cfg, labels)},
    {"surrogate_epochs", PT_INT, "0", 0, 1000, NULL,
     "epochs of the attacker's surrogate (0 = the run's epochs)",
     offsetof(struct dawn_cfg, surrogate_epochs)},
    {0}};

/* ---- the API ----------------------------------------------------------- */

void wm_dawn_hmac(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len,
		  uint8_t out[32])
{
	crypto_auth_hmacsha256_state st;
	/* HMAC-SHA256 needs no runtime CPU dispatch; initialising only
	 * follows libsodium's advice, and its result changes nothing here */
	if (sodium_init() < 0) {
		/* nothing to do: the hash does not depend on it */
	}
	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, msg, len);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof st);
}

/* The canonical bytes of an input: round(255 x), x clamped to [0, 1]. */
void wm_dawn_bytes(const float *x, size_t D, uint8_t *b)
{
	for (size_t i = 0; i < D; i++) {
		float v = x[i] < 0 ? 0 : x[i] > 1 ? 1 : x[i];
		b[i] = (uint8_t)lrintf(v * 255.0f);
	}
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint64_t rate_threshold(double rate)
{
	/* rate <= 0.5, so r 2^64 <= 2^63 fits */
	return rate <= 0 ? 0 : (uint64_t)ldexp(rate, 64);
}

/* The keyed decision for one input's bytes whose model label is f: y_w, or
 * -1 when the query is answered truthfully. */
int wm_dawn_label(const uint8_t key[DAWN_KEYLEN], double rate, const uint8_t *bytes, size_t D,
		  int f, int C)
{
	uint8_t h[32];
	wm_dawn_hmac(key, DAWN_KEYLEN, bytes, D, h);
	if (C < 2 || be64(h) >= rate_threshold(rate))
		return -1;
	return (int)((f + 1 + be64(h + 8) % (uint64_t)(C - 1)) % (uint64_t)C);
}

/* The API as a query path over an inner one. ctx of the wrapper: */
struct dawn_api {
	uint8_t key[DAWN_KEYLEN];
	double rate;
	size_t D;
	long flipped; /* watermarked answers so far */
	/* optional, per row of the last predict call (NULL: not recorded) */
	int *yw; /* y_w or -1 */
	int *f;	 /* F's top-1 */
};

static int dawn_predict(struct wm_query *q, const float *x, int n, float *probs)
{
	struct dawn_api *a = q->ctx;
	int C = q->nclass;
	uint8_t *b = xmalloc(a->D);
	if (q->inner->predict(q->inner, x, n, probs)) {
		free(b);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		float *p = probs + (size_t)i * C;
		int f = nn_argmax(p, C);
		wm_dawn_bytes(x + (size_t)i * a->D, a->D, b);
		int y = wm_dawn_label(a->key, a->rate, b, a->D, f, C);
		if (y >= 0) {
			float t = p[f];
			p[f] = p[y];
			p[y] = t;
			a->flipped++;
		}
		if (a->yw)
			a->yw[i] = y;
		if (a->f)
			a->f[i] = f;
	}
	q->queries += n;
	free(b);
	return 0;
}

/* Wraps inner in the DAWN API of key and rate for inputs of D values. */
static void dawn_api_init(struct wm_query *api, struct dawn_api *ctx, struct wm_query *inner,
			  const uint8_t key[DAWN_KEYLEN], double rate, size_t D)
{
	memset(ctx, 0, sizeof *ctx);
	memcpy(ctx->key, key, DAWN_KEYLEN);
	ctx->rate = rate;
	ctx->D = D;
	memset(api, 0, sizeof *api);
	api->predict = dawn_predict;
	api->model = NULL;
	api->nclass = inner->nclass;
	api->ctx = ctx;
	api->inner = inner;
}

static void dawn_api_release(struct wm_query *q)
{
	free(q->ctx);
	q->ctx = NULL;
}

/* The API of key and rate over inner for inputs of D values, as a query
 * path (for tests and attacks): its release frees what it allocated. */
void wm_dawn_api(struct wm_query *api, struct wm_query *inner, const uint8_t key[DAWN_KEYLEN],
		 double rate, size_t D)
{
	struct dawn_api *ctx = xmalloc(sizeof *ctx);
	dawn_api_init(api, ctx, inner, key, rate, D);
	api->release = dawn_api_release;
}

/* Watermarked answers an API of wm_dawn_api has given so far. */
long wm_dawn_api_flipped(const struct wm_query *api)
{
	return ((const struct dawn_api *)api->ctx)->flipped;
}

/* ---- keygen ---------------------------------------------------------------- */

static int dawn_check(const void *cfg, const struct nn_model *m, char *err, size_t errlen)
{
	(void)cfg;
	if (m->nclass < 2)
		return errf(err, errlen, "dawn: model '%s' has %d class; expected at least 2",
			    m->arch, m->nclass);
	return 0;
}

static int dawn_keygen(const void *cfg, const struct nn_model *m, const struct wm_env *env,
		       struct npz *key, char *err, size_t errlen)
{
	uint8_t K[DAWN_KEYLEN];
	int64_t n = DAWN_KEYLEN;
	if (dawn_check(cfg, m, err, errlen))
		return -1;
	for (int i = 0; i < DAWN_KEYLEN; i += 8) {
		uint64_t v = rng_u64(env->rng);
		for (int k = 0; k < 8; k++)
			K[i + k] = (uint8_t)(v >> (8 * k));
	}
	npz_add(key, "dawn.K", NPZ_U8, 1, &n, K);
	sodium_memzero(K, sizeof K);
	return 0;
}

static int get_K(const struct npz *key, const uint8_t **K, char *err, size_t errlen)
{
	const struct npz_array *a = npz_get(key, "dawn.K");
	if (!a || a->dtype != NPZ_U8 || a->count != DAWN_KEYLEN)
		return errf(err, errlen,
			    "dawn: key lacks dawn.K (uint8, 32 bytes); expected a key written by "
			    "dawn keygen");
	*K = a->data;
	return 0;
}

/* ---- embed: F, the API, the attacker's surrogate --------------------------- */

static void put_f64(struct npz *key, const char *name, double v)
{
	int64_t one = 1;
	npz_add(key, name, NPZ_F64, 1, &one, &v);
}

static int dawn_embed(const void *cfg, struct nn_model *m, struct npz *key,
		      const struct wm_env *env, char *err, size_t errlen)
{
	const struct dawn_cfg *p = cfg;
	const struct dataset *tr = env->train;
	const uint8_t *K = NULL;
	int C = m->nclass, soft = !strcmp(p->labels, "soft"), rc = -1, nW = 0;
	size_t D = nn_in_size(m);
	int epochs = p->surrogate_epochs ? p->surrogate_epochs : env->ts.epochs;

	if (get_K(key, &K, err, errlen))
		return -1;
	if (env->n_attacker <= 0 || !env->attacker_idx)
		return errf(err, errlen,
			    "dawn: the attacker has no data to query the API with; expected "
			    "run.attacker_split > 0 (DAWN verifies a surrogate extracted through "
			    "the API)");
	if ((size_t)tr->c * tr->h * tr->w != D || tr->nclass != C)
		return errf(err, errlen,
			    "dawn: training data is %dx%dx%d with %d classes but model '%s' takes "
			    "%zu values and %d classes; expected matching data",
			    tr->c, tr->h, tr->w, tr->nclass, m->arch, D, C);
	if (C < 2)
		return errf(err, errlen, "dawn: model '%s' has %d class; expected at least 2",
			    m->arch, C);

	/* 1. F: the seed's clean model, bit for bit */
	if (wm_train_owner(m, env, NULL, 0, err, errlen))
		return -1;

	struct wm_query fq, api;
	struct dawn_api actx;
	wm_query_init(&fq, m);
	dawn_api_init(&api, &actx, &fq, K, p->rate, D);
	double clean_acc = NAN, api_acc = NAN;
	if (env->test && (size_t)env->test->c * env->test->h * env->test->w == D) {
		clean_acc = nn_accuracy(m, env->test, NULL, 0);
		if (wm_query_accuracy(&api, env->test, &api_acc))
			return errf(err, errlen, "dawn: the API failed on the test set");
	}

	/* 2. the attacker queries the API with its images */
	int na = env->n_attacker;
	struct dataset sd = *tr;
	sd.y = xmalloc((size_t)tr->n);
	memcpy(sd.y, tr->y, (size_t)tr->n);
	float *softq = soft ? xcalloc((size_t)tr->n * C, sizeof(float)) : NULL;
	float *x = xmalloc((size_t)DAWN_CHUNK * D * sizeof(float));
	float *probs = xmalloc((size_t)DAWN_CHUNK * C * sizeof(float));
	int yw[DAWN_CHUNK], fl[DAWN_CHUNK];
	int32_t *W_idx = xmalloc((size_t)na * sizeof(int32_t)), *W_y = xmalloc((size_t)na * 4),
		*W_f = xmalloc((size_t)na * 4);
	struct nn_model S = {0};
	actx.yw = yw;
	actx.f = fl;
	api.queries = 0;
	actx.flipped = 0;
	for (int s = 0; s < na; s += DAWN_CHUNK) {
		int B = na - s < DAWN_CHUNK ? na - s : DAWN_CHUNK;
		nn_fill_batch(tr->x, NULL, D, env->attacker_idx + s, B, x, NULL);
		if (api.predict(&api, x, B, probs)) {
			errf(err, errlen, "dawn: the API failed on attacker queries %d..%d", s,
			     s + B - 1);
			goto out;
		}
		for (int b = 0; b < B; b++) {
			uint32_t i = env->attacker_idx[s + b];
			const float *pr = probs + (size_t)b * C;
			sd.y[i] = (uint8_t)(yw[b] >= 0 ? yw[b] : nn_argmax(pr, C));
			if (softq)
				memcpy(softq + (size_t)i * C, pr, (size_t)C * sizeof(float));
			if (yw[b] >= 0) {
				W_idx[nW] = (int32_t)i;
				W_y[nW] = yw[b];
				W_f[nW] = fl[b];
				nW++;
			}
		}
	}
	long queries = api.queries;

	/* 3. the surrogate: same architecture, fresh weights from env->rng */
	nn_copy(&S, m);
	nn_init_params(&S, env->rng);
	struct nn_opt opt;
	struct train_cfg tcfg = {
	    .epochs = epochs, .batch = env->ts.batch, .soft = softq, .soft_weight = 1.0};
	if (nn_opt_init(&opt, env->ts.optimizer, env->ts.lr, S.nparams)) {
		errf(err, errlen, "dawn: unknown optimizer '%s'; expected sgd, adam or rmsprop",
		     env->ts.optimizer);
		goto out;
	}
	opt.momentum = env->ts.momentum;
	opt.weight_decay = env->ts.weight_decay;
	rc = nn_train(&S, &sd, env->attacker_idx, na, &tcfg, &opt, NULL, env->rng, NULL, err,
		      errlen);
	nn_opt_free(&opt);
	if (rc)
		goto out;
	memcpy(m->params, S.params, m->nparams * sizeof(float));

	/* 4. the client's log and the API's record */
	uint8_t *W_x = xmalloc((size_t)(nW ? nW : 1) * D);
	for (int k = 0; k < nW; k++)
		memcpy(W_x + (size_t)k * D, tr->x + (size_t)W_idx[k] * D, D);
	int64_t ws = nW, xs[4] = {nW, m->in_c, m->in_h, m->in_w}, one = 1, q64 = queries;
	npz_add(key, "dawn.W_idx", NPZ_I32, 1, &ws, W_idx);
	npz_add(key, "dawn.W_x", NPZ_U8, 4, xs, W_x);
	npz_add(key, "dawn.W_y", NPZ_I32, 1, &ws, W_y);
	npz_add(key, "dawn.W_f", NPZ_I32, 1, &ws, W_f);
	npz_add(key, "dawn.queries", NPZ_I64, 1, &one, &q64);
	put_f64(key, "dawn.clean_acc", clean_acc);
	put_f64(key, "dawn.api_acc", api_acc);
	put_f64(key, "dawn.surrogate_acc",
		env->test && !isnan(clean_acc) ? nn_accuracy(m, env->test, NULL, 0) : NAN);
	free(W_x);
	rc = 0;
out:
	nn_free(&S);
	free(sd.y);
	free(softq);
	free(x);
	free(probs);
	free(W_idx);
	free(W_y);
	free(W_f);
	return rc;
}

/* ---- verify (black-box) ---------------------------------------------------- */

static int dawn_verify(const void *cfg, const struct npz *key, struct nn_model *m,
		       struct wm_query *q, const struct wm_env *env, struct wm_verdict *v,
		       char *err, size_t errlen)
{
	const struct dawn_cfg *p = cfg;
	const uint8_t *K = NULL;
	const struct npz_array *xa = npz_get(key, "dawn.W_x"), *ya = npz_get(key, "dawn.W_y"),
			       *fa = npz_get(key, "dawn.W_f");
	int C = q->nclass, matches = 0, differ = 0;
	(void)m;
	if (get_K(key, &K, err, errlen))
		return -1;
	if (!xa || !ya || !fa || xa->dtype != NPZ_U8 || xa->ndim != 4 || ya->dtype != NPZ_I32 ||
	    fa->dtype != NPZ_I32 || (int64_t)ya->count != xa->shape[0] ||
	    (int64_t)fa->count != xa->shape[0])
		return errf(err, errlen,
			    "dawn: key lacks the client's log dawn.W_x (uint8, n x C x H x W), "
			    "dawn.W_y and dawn.W_f (int32, n); expected a key completed by dawn "
			    "embed");
	int nW = (int)xa->shape[0];
	size_t D = (size_t)(xa->shape[1] * xa->shape[2] * xa->shape[3]);
	if (nW == 0)
		return errf(err, errlen,
			    "dawn: the client's log W is empty: rate %g watermarked none of the "
			    "attacker's queries; expected a higher rate or more attacker data",
			    p->rate);
	if (C < 2)
		return errf(err, errlen,
			    "dawn: the query path returns %d class; expected at least 2", C);
	if ((q->model && (size_t)nn_in_size(q->model) != D) ||
	    (env->test && (size_t)env->test->c * env->test->h * env->test->w != D))
		return errf(
		    err, errlen,
		    "dawn: key images are %lldx%lldx%lld; expected a key for this model and "
		    "data",
		    (long long)xa->shape[1], (long long)xa->shape[2], (long long)xa->shape[3]);
	const uint8_t *wx = xa->data;
	const int32_t *wy = ya->data, *wf = fa->data;
	/* the log must be what K says: each entry watermarked, with its y_w */
	for (int k = 0; k < nW; k++) {
		if (wf[k] < 0 || wf[k] >= C ||
		    wm_dawn_label(K, p->rate, wx + (size_t)k * D, D, wf[k], C) != wy[k])
			return errf(err, errlen,
				    "dawn: log entry %d (label %d, model label %d) is not a "
				    "watermarked answer of the key's API; expected a log written "
				    "with this key and rate",
				    k, wy[k], wf[k]);
	}
	float *x = xmalloc((size_t)DAWN_CHUNK * D * sizeof(float));
	float *probs = xmalloc((size_t)DAWN_CHUNK * C * sizeof(float));
	for (int s = 0; s < nW; s += DAWN_CHUNK) {
		int B = nW - s < DAWN_CHUNK ? nW - s : DAWN_CHUNK;
		for (size_t i = 0; i < (size_t)B * D; i++)
			x[i] = wx[(size_t)s * D + i] / 255.0f;
		if (q->predict(q, x, B, probs)) {
			free(x);
			free(probs);
			return errf(err, errlen,
				    "dawn: the prediction path failed on log entries "
				    "%d..%d",
				    s, s + B - 1);
		}
		for (int b = 0; b < B; b++) {
			int y = nn_argmax(probs + (size_t)b * C, C);
			matches += y == wy[s + b];
			differ += y != wf[s + b];
		}
	}
	free(x);
	free(probs);
	double p0 = 1.0 / (C - 1);
	strcpy(v->metric_name, "wm_acc");
	v->metric = (double)matches / nW;
	v->pvalue = binom_tail(differ, matches, p0);
	v->aux = binom_tail(nW, matches, p0);
	v->detected = v->pvalue < env->alpha;
	v->capacity = nW;
	return 0;
}

/* Samples through the passes: the model, its test accuracy directly and
 * through the API, the attacker's queries of its own images and its
 * surrogate's training and test accuracy. */
static void dawn_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct dawn_cfg *p = cfg;
	double SE = p->surrogate_epochs ? p->surrogate_epochs : w->epochs;

	*bwd = (double)w->epochs * w->n_owner + SE * w->n_attacker;
	*fwd =
	    (double)w->epochs * w->n_owner + 3.0 * w->n_test + w->n_attacker + SE * w->n_attacker;
}

/* Samples through the forward pass of one verification: The client's log of watermarked answers:
 * about rate x its queries (the attacker's images). */
static double dawn_verify_work(const void *cfg, const struct wm_work *w)
{
	const struct dawn_cfg *p = cfg;

	return p->rate * w->n_attacker;
}

const struct wm_scheme wm_dawn = {
    .cfg_size = sizeof(struct dawn_cfg),
    .name = "dawn",
    .colour = "#B2182B",
    .point = 1,
    .order = 14,
    .summary = "active API watermark: keyed wrong answers to a fraction of queries, checked "
	       "on an extracted surrogate (DAWN, Szyller et al., ACM MM 2021)",
    .params = dawn_params,
    .black_box = 1,
    .key_from_model = 1,
    .check = dawn_check,
    .keygen = dawn_keygen,
    .embed = dawn_embed,
    .verify = dawn_verify,
    .aux_label = "p on all W",
    .work = dawn_work,
    .verify_work = dawn_verify_work,
};
