/* forge_trigger.c - ambiguity attack on trigger-set marks: a trigger set the
 * model already obeys, claimed as a key in the scheme's own format and
 * judged by the scheme's own verify (ATTACKS-MORE.md section 9,
 * "forge_trigger"; false claims by adversarial examples, Liu et al., USENIX
 * Security 2024). The model is not changed (bit for bit).
 *
 * adi (key: T images with T labels, P[Binomial(T, 1/C) >= matches]):
 *   mode pgd (white-box, the attacker's images): T attacker images x, each
 *     with a label y' uniform over the classes other than F(x); targeted PGD
 *     from x (descend CE(F(x'), y'): x' <- clip(x' - step sign(grad), x +-
 *     eps, [0, 1])) until F(x') = y', at most `steps` updates. An image that
 *     does not get there is dropped and the next attacker image tried, so
 *     the key holds T images that the model sends to their claimed labels
 *     (fewer only when the attacker's images run out). Each PGD step is one
 *     forward and one backward pass of the images still unconverged, so
 *     results.csv's backward column counts the gradient steps (failed
 *     candidates included).
 *   mode wrong (free, black-box): the first T attacker images (in a seeded
 *     order) that the model misclassifies, claimed with its wrong labels; it
 *     queries the model once per image scanned (counted as queries). The
 *     danger is transfer: Fashion-MNIST's confusable classes (shirt,
 *     T-shirt, pullover, coat) are confused alike by independent models.
 *   The forged key stores adi.x and adi.y and the owner's adi parameters
 *   with size = the forged T; adi's verify reads only the images and
 *   labels ('source' is a claim verify cannot check).
 * nullembed (key: a signed verifier string v = owner;stamp, the public key,
 *   and the pattern, position and target label that hashes of the
 *   signature derive). The forger has no owner's secret key, so it signs
 *   with key pairs of its own: each try is nullembed's own keygen on the
 *   forger's stream (the owner's identity and stamp: the forger
 *   impersonates the owner), which fixes a pattern and a label y_W the
 *   forger cannot choose, only grind. The filter magnitude lambda is not
 *   signed, so the forger picks it: `lambda` > 0, or 0 = the best of the
 *   ladder 0.5, 1, 2, 4, 8, 16, 32, 64, 256, 2000. Each (try, lambda) is
 *   scored on the attacker's own images (at most nverify of them) by the
 *   scheme's acceptance rule, acc_true >= true_min, acc_null >= null_ratio
 *   acc_clean, both accuracies at least twice chance; the best is claimed.
 *   Each evaluation queries the model (counted). `mode` does not apply.
 *   What decides: nullembed's verify takes the public key from the key
 *   file, so a self-signed key passes its signature and derivation checks;
 *   the claim stands or falls on whether the model obeys the pattern.
 * Any other scheme (zhang-*, frontier, blackmarks, ewe decide by an
 * empirical null that the runner fits on control models and stores in the
 * owner's key: a forged key has no fit and verify returns p = 1;
 * zhang-unrelated binds its images to rendered glyph specs and deepsigns-bb
 * to a seeded noise pool, which PGD images break; dawn and gradsigns have no
 * trigger set), and the unmarked model: nothing changes and no forger's
 * verdict (forged n/a). scheme = adi or nullembed forges a claim of that
 * scheme whatever the scheme under attack (the clean model too).
 *
 * Measured (tests/test_forge.c; Fashion-MNIST mlp, 2 epochs, unmarked target
 * and three independently trained unmarked controls, alpha 1e-3):
 *   pgd: about 28 % of attacker images reach a random other label within
 *     eps 0.1 and 100 steps (357 tried for T = 100), 26559 backward passes
 *     in all (about 266 per claimed trigger); on the target wm_acc 1.0; on
 *     the controls wm_acc 0.40 to 0.46, every one detected (p < 1e-14):
 *     the triggers transfer, and adi's Binomial(T, 1/C) null does not hold
 *     for adversarial examples, so the forged key is a false claim against
 *     independent models too.
 *   wrong (T = 50): 320 queries; controls wm_acc 0.54 to 0.82, all detected.
 *   nullembed: of 40 self-signed keys x the ladder none passes the rule;
 *     the best scores acc_true 0.42 with acc_null 0.28. Where the true filter sends all
 *     images to the derived label (lambda >= 32 when that label is sandal),
 *     the opposite null filter sends them elsewhere too (acc_null 0.10 to
 *     0.17 against acc_clean 0.81); where acc_null holds (lambda <= 4),
 *     acc_true stays below 0.33. Verify refuses on the accuracy rule, not on
 *     the signature.
 *
 * Defaults: the spec's eps 0.1, step 0.01 ("alpha"; renamed, alpha is the
 * run's significance level), 100 steps; T = 0: the scheme's trigger-set
 * size (adi 'size', 100 by default); tries 8 signed keys for nullembed.
 * Deviations: no random start in PGD (the spec has none); failed images are
 * replaced rather than claimed, since a forger claims only what verifies.
 * Not done: the transferable variant against an ensemble of the attacker's
 * own surrogates (Liu et al.), and PGD from noise instead of images. */
#include "common.h"
#include "../workers/util.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The parameters, as the plug-in receives them (table below). */
struct ft_cfg {
	char scheme[PARAM_VALLEN];
	char mode[PARAM_VALLEN];
	int T;
	double eps, step;
	int steps;
	int tries;
	double lambda;
};

static const struct param_def ft_params[] = {
    {"scheme", PT_STRING, "same", 0, 0, "same|adi|nullembed",
     "the scheme whose key is forged: same (the scheme under attack) or a name",
     offsetof(struct ft_cfg, scheme)},
    {"mode", PT_STRING, "pgd", 0, 0, "pgd|wrong",
     "pgd: targeted PGD to random other labels; wrong: misclassified images, their wrong labels",
     offsetof(struct ft_cfg, mode)},
    {"T", PT_INT, "0", 0, 10000, NULL, "trigger images forged; 0 = the scheme's size",
     offsetof(struct ft_cfg, T)},
    {"eps", PT_DOUBLE, "0.1", 1e-6, 1, NULL, "L-infinity radius of PGD, in pixel units",
     offsetof(struct ft_cfg, eps)},
    {"step", PT_DOUBLE, "0.01", 1e-6, 1, NULL, "PGD step size (the spec's alpha)",
     offsetof(struct ft_cfg, step)},
    {"steps", PT_INT, "100", 1, 100000, NULL, "most PGD updates per image",
     offsetof(struct ft_cfg, steps)},
    {"tries", PT_INT, "8", 1, 100000, NULL, "nullembed: self-signed keys ground",
     offsetof(struct ft_cfg, tries)},
    {"lambda", PT_DOUBLE, "0", 0, 1e6, NULL,
     "nullembed: filter magnitude claimed; 0 = the best of a ladder 0.5 .. 2000",
     offsetof(struct ft_cfg, lambda)},
    {0}};

extern const struct atk_attack atk_forge_trigger;

static int no_data(const char *what, char *err, size_t errlen)
{
	return errf(err, errlen,
		    "forge_trigger: %s needs the attacker's images, and it has none; expected "
		    "attacker_split > 0",
		    what);
}

/* An integer or real scheme parameter of a completed set. */
static double sp_num(const struct param_set *sp, const char *key)
{
	const char *v = param_get(sp, key);
	return v ? strtod(v, NULL) : 0;
}

/* ---- adi ------------------------------------------------------------------- */

/* Targeted PGD on the n rows of x towards y (see the header); ok[i] = 1
 * when row i reached its label. One forward and one backward pass of the
 * unconverged rows per step: the harness's backward count is the gradient
 * steps (plus one for each row that converged on that pass). */
static void pgd(struct nn_model *m, float *x, const int *y, int n, const struct ft_cfg *c, int *ok)
{
	size_t D = nn_in_size(m);
	int C = m->nclass, na = n, keep = m->want_dinput;
	float *x0 = xmalloc((size_t)n * D * sizeof(float));
	float *xa = xmalloc((size_t)n * D * sizeof(float));
	int *act = xmalloc((size_t)n * sizeof(int)), *ya = xmalloc((size_t)n * sizeof(int));

	memcpy(x0, x, (size_t)n * D * sizeof(float));
	for (int i = 0; i < n; i++) {
		act[i] = i;
		ok[i] = 0;
	}
	m->want_dinput = 1;
	for (int s = 0; na > 0; s++) {
		for (int i = 0; i < na; i++) {
			memcpy(xa + (size_t)i * D, x + (size_t)act[i] * D, D * sizeof(float));
			ya[i] = y[act[i]];
		}
		const float *z = nn_forward(m, xa, na, 0, NULL);
		int left = 0;
		for (int i = 0; i < na; i++) {
			ok[act[i]] = nn_argmax(z + (size_t)i * C, C) == ya[i];
			left += !ok[act[i]];
		}
		if (!left || s == c->steps)
			break;
		nn_zero_act_grads(m);
		nn_loss_xent(m, ya, 1.0);
		nn_backward(m);
		int k = 0;
		for (int i = 0; i < na; i++) {
			int r = act[i];
			if (ok[r])
				continue;
			const float *g = m->dinput + (size_t)i * D;
			float *xr = x + (size_t)r * D;
			const float *o = x0 + (size_t)r * D;
			for (size_t j = 0; j < D; j++) {
				double v = xr[j] - c->step * ((g[j] > 0) - (g[j] < 0));
				v = fmin(fmax(v, o[j] - c->eps), o[j] + c->eps);
				xr[j] = (float)fmin(fmax(v, 0.0), 1.0);
			}
			act[k++] = r;
		}
		na = k;
	}
	nn_zero_grads(m);
	m->want_dinput = keep;
	free(x0);
	free(xa);
	free(act);
	free(ya);
}

/* The forged adi key: T (image, label) pairs the model obeys. */
static int forge_adi(const struct ft_cfg *c, struct nn_model *m, const struct atk_env *env,
		     struct param_set *sp, struct rng *r, struct npz *key, char *err, size_t errlen)
{
	const struct dataset *tr = env->train;
	size_t D = nn_in_size(m);
	int C = m->nclass, n = env->n_attacker, wrong = !strcmp(c->mode, "wrong");
	int T = c->T > 0 ? c->T : (int)sp_num(sp, "size"), got = 0;
	char num[32];

	if (n <= 0)
		return no_data("forging an adi trigger set", err, errlen);
	if (C < 2)
		return errf(err, errlen,
			    "forge_trigger: model '%s' has %d class; expected at least 2 to claim "
			    "labels",
			    m->arch, C);
	if (T < 1)
		T = 100;
	if (D != (size_t)tr->c * tr->h * tr->w)
		return errf(err, errlen,
			    "forge_trigger: the attacker's images have %dx%dx%d values but model "
			    "'%s' takes %zu; expected the run's data",
			    tr->c, tr->h, tr->w, m->arch, D);
	uint32_t *order = xmalloc((size_t)n * sizeof *order);
	float *kx = xmalloc((size_t)T * D * sizeof(float)), *x = xmalloc(256 * D * sizeof(float));
	int32_t *ky = xmalloc((size_t)T * sizeof *ky);
	int yt[256], yf[256], ok[256];
	long queried = 0;
	memcpy(order, env->attacker_idx, (size_t)n * sizeof *order);
	rng_shuffle_u32(r, order, (size_t)n);
	for (int pos = 0; pos < n && got < T;) {
		/* PGD only as many as are still needed; scan in small batches, so
		 * as not to query far more than needed */
		int B = n - pos, cap = wrong ? 64 : T - got < 256 ? T - got : 256;
		B = B < cap ? B : cap;
		nn_fill_batch(tr->x, tr->y, D, order + pos, B, x, yt);
		const float *z = nn_forward(m, x, B, 0, NULL);
		for (int i = 0; i < B; i++)
			yf[i] = nn_argmax(z + (size_t)i * C, C);
		pos += B;
		if (wrong) {
			queried += B;
			for (int i = 0; i < B && got < T; i++)
				if (yf[i] != yt[i]) {
					memcpy(kx + (size_t)got * D, x + (size_t)i * D,
					       D * sizeof(float));
					ky[got++] = yf[i];
				}
			continue;
		}
		/* y' uniform over the classes other than F(x) */
		for (int i = 0; i < B; i++)
			yt[i] = (yf[i] + 1 + (int)rng_below(r, (uint32_t)(C - 1))) % C;
		pgd(m, x, yt, B, c, ok);
		for (int i = 0; i < B && got < T; i++)
			if (ok[i]) {
				memcpy(kx + (size_t)got * D, x + (size_t)i * D, D * sizeof(float));
				ky[got++] = yt[i];
			}
	}
	if (env->queries)
		*env->queries += queried;
	int rc = 0;
	if (!got) {
		rc = errf(err, errlen,
			  "forge_trigger: mode %s found no trigger among %d attacker images; "
			  "expected %s",
			  c->mode, n,
			  wrong ? "a model that misclassifies some of them"
				: "PGD to reach its labels (raise eps or steps)");
	} else {
		int64_t xs[4] = {got, m->in_c, m->in_h, m->in_w}, ys = got;
		npz_add(key, "adi.x", NPZ_F32, 4, xs, kx);
		npz_add(key, "adi.y", NPZ_I32, 1, &ys, ky);
		snprintf(num, sizeof num, "%d", got);
		param_set_put(sp, "size", num);
		wm_key_stamp(key, "adi", sp);
	}
	free(order);
	free(kx);
	free(x);
	free(ky);
	return rc;
}

/* ---- nullembed ---------------------------------------------------------------- */

/* A nullembed key's mark, as the key stores it. */
struct ne_mark {
	const uint8_t *bits;
	int n, row, col, target;
};

static int ne_read(const struct npz *key, const struct nn_model *m, struct ne_mark *k, char *err,
		   size_t errlen)
{
	const struct npz_array *pat = npz_get(key, "nullembed.pattern"),
			       *pos = npz_get(key, "nullembed.pos"),
			       *tgt = npz_get(key, "nullembed.target");
	if (!pat || !pos || !tgt || pat->dtype != NPZ_U8 || pat->ndim != 2 ||
	    pos->dtype != NPZ_I32 || pos->count != 2 || tgt->dtype != NPZ_I32 || tgt->count != 1)
		return errf(err, errlen,
			    "forge_trigger: the forged nullembed key lacks its pattern, position "
			    "or target; expected nullembed keygen's format");
	k->bits = pat->data;
	k->n = (int)pat->shape[0];
	k->row = ((const int32_t *)pos->data)[0];
	k->col = ((const int32_t *)pos->data)[1];
	k->target = *(const int32_t *)tgt->data;
	if (k->row < 0 || k->col < 0 || k->row + k->n > m->in_h || k->col + k->n > m->in_w)
		return errf(err, errlen,
			    "forge_trigger: the forged nullembed pattern (%d at %d, %d) leaves the "
			    "%dx%d input; expected a key for this model",
			    k->n, k->row, k->col, m->in_h, m->in_w);
	return 0;
}

/* nullembed's filters on B images: the pattern's pixels, every channel, set
 * to val (bit 1) or -val (bit 0); val = +lambda null, -lambda true. */
static void ne_filter(const struct ne_mark *k, const struct nn_model *m, float *x, int B, float val)
{
	size_t HW = (size_t)m->in_h * m->in_w, D = (size_t)m->in_c * HW;
	for (int b = 0; b < B; b++)
		for (int c = 0; c < m->in_c; c++)
			for (int i = 0; i < k->n; i++) {
				float *row =
				    x + b * D + c * HW + (size_t)(k->row + i) * m->in_w + k->col;
				for (int j = 0; j < k->n; j++)
					row[j] = k->bits[i * k->n + j] ? val : -val;
			}
}

/* Matches of the model's top-1 labels of x (n rows, filtered into scratch
 * xs first when k is given) with y, or with target where y = NULL. */
static int count_matches(struct nn_model *m, const float *x, int n, const int *y, int target,
			 const struct ne_mark *k, float val, float *xs)
{
	size_t D = nn_in_size(m);
	int C = m->nclass, hits = 0;
	for (int s = 0; s < n; s += 256) {
		int B = n - s < 256 ? n - s : 256;
		memcpy(xs, x + (size_t)s * D, (size_t)B * D * sizeof(float));
		if (k)
			ne_filter(k, m, xs, B, val);
		const float *z = nn_forward(m, xs, B, 0, NULL);
		for (int i = 0; i < B; i++)
			hits += nn_argmax(z + (size_t)i * C, C) == (y ? y[s + i] : target);
	}
	return hits;
}

/* The forger's best self-signed nullembed key (see the header). */
static int forge_nullembed(const struct ft_cfg *c, struct nn_model *m, const struct atk_env *env,
			   const struct wm_scheme *s, struct param_set *sp, struct rng *r,
			   struct npz *key, char *err, size_t errlen)
{
	static const double ladder[] = {0.5, 1, 2, 4, 8, 16, 32, 64, 256, 2000};
	const struct dataset *tr = env->train;
	size_t D = nn_in_size(m);
	int C = m->nclass, N = (int)sp_num(sp, "nverify");
	double true_min = sp_num(sp, "true_min"), ratio = sp_num(sp, "null_ratio");
	int nl = c->lambda > 0 ? 1 : (int)(sizeof ladder / sizeof ladder[0]);
	char sub[ERRBUF], num[64];
	struct wm_env w = *env->wm;
	int rc = -1;

	if (env->n_attacker <= 0)
		return no_data("scoring self-signed nullembed keys", err, errlen);
	if (D != (size_t)tr->c * tr->h * tr->w)
		return errf(err, errlen,
			    "forge_trigger: the attacker's images have %dx%dx%d values but model "
			    "'%s' takes %zu; expected the run's data",
			    tr->c, tr->h, tr->w, m->arch, D);
	if (N < 1 || N > env->n_attacker)
		N = env->n_attacker;
	float *x = xmalloc((size_t)N * D * sizeof(float)), *xs = xmalloc(256 * D * sizeof(float));
	float *xt = xmalloc((size_t)N * D * sizeof(float));
	int *y = xmalloc((size_t)N * sizeof(int));
	nn_fill_batch(tr->x, tr->y, D, env->attacker_idx, N, x, y);
	int clean_ok = count_matches(m, x, N, y, 0, NULL, 0, xs);
	long queried = N;
	double best = -1, best_lambda = 0;
	struct rng best_rng = *r;
	w.rng = r;
	for (int t = 0; t < c->tries; t++) {
		struct rng before = *r;
		struct ne_mark k;
		struct npz cand;
		npz_init(&cand);
		if (wm_keygen(s, sp, m, &w, &cand, sub, sizeof sub)) {
			npz_free(&cand);
			errf(err, errlen, "forge_trigger: signing the forger's nullembed key: %s",
			     sub);
			goto out;
		}
		if (ne_read(&cand, m, &k, err, errlen)) {
			npz_free(&cand);
			goto out;
		}
		int nt = 0;
		for (int i = 0; i < N; i++)
			if (y[i] != k.target)
				memcpy(xt + (size_t)nt++ * D, x + (size_t)i * D, D * sizeof(float));
		for (int l = 0; l < nl; l++) {
			double lam = c->lambda > 0 ? c->lambda : ladder[l];
			int null_ok = count_matches(m, x, N, y, 0, &k, (float)lam, xs);
			int true_ok = count_matches(m, xt, nt, NULL, k.target, &k, (float)-lam, xs);
			queried += N + nt;
			/* the acceptance rule as ratios: all >= 1 passes */
			double a = nt ? (double)true_ok / nt / (true_min > 0 ? true_min : 1) : 0;
			double b = clean_ok ? null_ok / (ratio * clean_ok + 1e-12) : 0;
			double d = fmin(clean_ok, null_ok) / (2.0 * N / C);
			double score = fmin(fmin(a, b), d);
			if (score > best) {
				best = score;
				best_lambda = lam;
				best_rng = before;
			}
		}
		npz_free(&cand);
	}
	/* the claim: the best key again, with its lambda */
	fmt_double(num, sizeof num, best_lambda);
	param_set_put(sp, "lambda", num);
	*r = best_rng;
	if (wm_keygen(s, sp, m, &w, key, sub, sizeof sub)) {
		errf(err, errlen, "forge_trigger: signing the forger's nullembed key: %s", sub);
		goto out;
	}
	rc = 0;
out:
	if (env->queries)
		*env->queries += queried;
	free(x);
	free(xs);
	free(xt);
	free(y);
	return rc;
}

/* The forged key into key (npz_init'ed by the caller, who frees it) and the
 * forged scheme into *sch: 0; 1 when there is nothing to forge (key left
 * empty); -1 with a message. */
static int ft_forge(const struct ft_cfg *c, struct nn_model *m, const struct atk_env *env,
		    struct npz *key, const struct wm_scheme **sch, char *err, size_t errlen)
{
	const struct wm_scheme *s = env->scheme;
	struct param_set sp;
	struct rng ar;
	char sub[ERRBUF];

	if (strcmp(c->scheme, "same"))
		s = wm_scheme_find(c->scheme);
	if (!s || (strcmp(s->name, "adi") && strcmp(s->name, "nullembed")))
		return 1; /* unmarked, or no trigger set to forge */
	if (!env->wm)
		return errf(err, errlen,
			    "forge_trigger: no run environment to forge and verify the key in; "
			    "expected the runner's atk_env.wm");
	*sch = s;
	/* the owner's scheme parameters when the forged scheme is the one under
	 * attack (adaptive), else the scheme's defaults */
	memset(&sp, 0, sizeof sp);
	if (s == env->scheme && env->scheme_params)
		sp = *env->scheme_params;
	param_complete(&sp, s->params);
	if (wm_check(s, &sp, m, sub, sizeof sub))
		return errf(err, errlen, "forge_trigger: forging a %s key: %s", s->name, sub);
	/* the forger's own stream, as the pirate's (atk_embed_own) */
	struct seed_scope as = {.draw = rng_u64(env->rng)};
	rng_seed(&ar, seed_stream(0, SEED_ATTACKER_KEY, &as));
	if (!strcmp(s->name, "adi"))
		return forge_adi(c, m, env, &sp, &ar, key, err, errlen);
	return forge_nullembed(c, m, env, s, &sp, &ar, key, err, errlen);
}

/* ft_forge with the attack's parameters as text (for tests: the key that
 * apply verifies). */
int atk_forge_trigger_key(const struct param_set *p, struct nn_model *m, const struct atk_env *env,
			  struct npz *key, const struct wm_scheme **s, char *err, size_t errlen)
{
	struct ft_cfg *c = atk_cfg(&atk_forge_trigger, p, err, errlen);
	if (!c)
		return -1;
	int rc = ft_forge(c, m, env, key, s, err, errlen);
	free(c);
	return rc;
}

static int ft_apply(const void *cfg, struct nn_model *m, const struct atk_env *env, char *err,
		    size_t errlen)
{
	const struct wm_scheme *s = NULL;
	struct npz key;
	int rc;

	npz_init(&key);
	rc = ft_forge(cfg, m, env, &key, &s, err, errlen);
	if (!rc) {
		struct atk_env e = *env;
		e.scheme = s;
		rc = atk_verify_own("forge_trigger", atk_forge_trigger.second_verdict, &key, m, &e,
				    err, errlen);
	}
	npz_free(&key);
	return rc < 0 ? -1 : 0; /* 1: nothing to forge, no forger's verdict */
}

const struct atk_attack atk_forge_trigger = {
    .category = ATK_CAT_AMBIGUITY,
    .threat = ATK_T_WEIGHTS | ATK_T_DATA | ATK_T_LABELS | ATK_T_QUERIES | ATK_T_ADAPTIVE,
    .cfg_size = sizeof(struct ft_cfg),
    .name = "forge_trigger",
    .second_verdict = "forger",
    .summary = "forge a trigger set the model already obeys (adi: targeted PGD or its own "
	       "mistakes; nullembed: self-signed keys ground) (ambiguity, model unchanged)",
    .params = ft_params,
    .apply = ft_apply,
};
