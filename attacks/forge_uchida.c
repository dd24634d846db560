/* forge_uchida.c - ambiguity attack on projection marks: a key for arbitrary
 * bits, in the scheme's own key format, that the scheme's own verify accepts
 * on any model, marked or not (ATTACKS-MORE.md section 9, "forge_uchida";
 * the ambiguity attacks of Fan, Ng and Chan, NeurIPS 2019).
 *
 * Uchida-style schemes read bit j as the sign of a projection X_j . v of a
 * statistic v of the model onto a secret Gaussian direction X_j. The forger
 * reads v from the weights, draws its own key with the scheme's keygen (its
 * own random target bits b' and i.i.d. N(0, 1) rows X'), and negates every
 * row whose sign disagrees with its bit. Negation maps N(0, 1) onto itself,
 * so X' is still Gaussian and every bit reads back right: BER 0 and
 * p = 2^-T. No training, no data (deepsigns excepted), and it works on a
 * model that was never marked: a false claim against anyone. The model is
 * not changed (bit for bit).
 *
 * Schemes (the statistic v and the key's projection, read as their verify
 * reads them):
 *   uchida     v = the marked layer's weight averaged over its output units
 *              (M); X (T, M) rows; bit j is [X_j . v >= 0] against b_j.
 *              The forged key says keytype=random (direct and diff keys
 *              are not Gaussian; verify reads only X and b).
 *   deepmarks  the same v; X (n, M) rows against the key user's code signs
 *              (K codes of the scheme's keygen: the user's z is then the
 *              sum of half-normal projections, about 0.8 sqrt(n) standard
 *              deviations, and the Bonferroni p over users stays tiny).
 *   deepsigns  v = the mean activation of the marked layer's ReLU over the
 *              key images, which its keygen picks among the attacker's own
 *              images of the target class (training indices, as verify
 *              reads them; this needs the attacker's data and true labels);
 *              A (M, N) columns; bit k is [v . A_k > 0] against b_k.
 * Any other scheme (and the unmarked model) has no projection to forge: the
 * attack then changes nothing and gives no forger's verdict (forged n/a in
 * results.csv), so a grid over every scheme runs through.
 *
 * Parameters: scheme = same (the scheme under attack) or one of the three
 * names, to forge a claim of that scheme against whatever model is attacked
 * (the clean model too); bits = the forged key's length (0 = the scheme's
 * parameter, read from the owner's scheme parameters, like the marked layer:
 * so the attack is adaptive); margin = 0 (plain) or a quantile q in (0,
 * 0.999]: a row is kept only if |X'_j . v| >= t_q |v|, P[|Z| <= t_q] = q,
 * else redrawn (1/(1 - q) draws a row on average). That answers the margin
 * tell of the spec: embedding pushes |X_j . v| up, plain forged margins are
 * half-normal. Rows whose projection is within 1e-6 |v| of 0 are always
 * redrawn, so that no rounding of verify can flip a forged bit.
 *
 * Measured (tests/test_forge.c; Fashion-MNIST mlp, 2 epochs, fc2, M = 512):
 * on an unmarked model every forged key verifies (uchida 64 bits p = 5.4e-20,
 * deepmarks z = 6.3, deepsigns 32 bits p = 2.3e-10) and none of them on three
 * independently trained controls (BER 0.36 to 0.56). The margin tell, on an
 * uchida-marked mlp: the owner's key has |X_j . w|/|w| of mean 1.72, minimum
 * 1.08; a plain forgery mean 0.85, minimum 0.03; margin = 0.9 mean 2.03,
 * minimum 1.65 (the tell is answered, and a lower q would match the owner's).
 *
 * The forger's key comes from its own stream (seeded from env->rng, as
 * atk_embed_own seeds the pirate's), never from the owner's key. Its verdict
 * by the scheme's own verify at the run's alpha goes to env->second ("forger"):
 * results.csv's forged column. Deviation from the spec: none in the method;
 * the committed-key defence (X and b from a hash of a committed identity)
 * is the verifier's protocol and not modelled by an attack. */
#include "common.h"
#include "../workers/util.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The parameters, as the plug-in receives them (table below). */
struct fu_cfg {
	char scheme[PARAM_VALLEN];
	int bits;
	double margin;
};

static const struct param_def fu_params[] = {
    {"scheme", PT_STRING, "same", 0, 0, "same|uchida|deepmarks|deepsigns",
     "the scheme whose key is forged: same (the scheme under attack) or a name",
     offsetof(struct fu_cfg, scheme)},
    {"bits", PT_INT, "0", 0, 1 << 20, NULL,
     "bits of the forged key; 0 = the scheme's parameter (bits)", offsetof(struct fu_cfg, bits)},
    {"margin", PT_DOUBLE, "0", 0, 0.999, NULL,
     "0 = plain; q > 0 keeps only rows with |X'_j.v| above the q-quantile of |N(0, |v|^2)|",
     offsetof(struct fu_cfg, margin)},
    {0}};

enum fu_kind { FU_UCHIDA, FU_DEEPMARKS, FU_DEEPSIGNS };

/* t with P[|Z| <= t] = q for Z ~ N(0, 1), by bisection on erf. */
static double half_normal_quantile(double q)
{
	double lo = 0, hi = 40;
	if (q <= 0)
		return 0;
	for (int i = 0; i < 200; i++) {
		double mid = 0.5 * (lo + hi);
		if (erf(mid / M_SQRT2) < q)
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

/* The projection of a key: element (row k, coordinate i) is
 * P[k * rs + i * es]; want[k] is the sign row k must project with. */
struct fu_proj {
	float *P;
	int rows, dim;
	size_t rs, es;
	signed char *want;
};

/* The mean weight of layer li over its output units (M), summed in the
 * order uchida's and deepmarks' verify sum it. */
static void mean_weight(const struct nn_model *m, int li, double *w)
{
	const struct nn_layer *l = &m->layers[li];
	int OC = l->out_c, M = (int)(l->w_n / OC);
	const float *W = m->params + l->w_off;
	for (int j = 0; j < M; j++)
		w[j] = 0;
	for (int o = 0; o < OC; o++)
		for (int j = 0; j < M; j++)
			w[j] += W[(size_t)o * M + j];
	for (int j = 0; j < M; j++)
		w[j] /= OC;
}

/* Offset of feature j of sample i in a B-sample activation of layer l. */
static size_t act_off(const struct nn_layer *l, int B, int i, int j)
{
	if (!l->chan_major)
		return (size_t)i * nn_out_size(l) + j;
	size_t S = (size_t)l->out_h * l->out_w;
	return ((size_t)(j / S) * B + i) * S + j % S;
}

/* The mean activation of layer al over training images idx (n), in batches
 * of 256 as deepsigns' verify takes them. */
static void mean_act(struct nn_model *m, int al, const struct dataset *tr, const int32_t *idx,
		     int n, double *mean)
{
	size_t D = nn_in_size(m);
	const struct nn_layer *l = &m->layers[al];
	int M = (int)nn_out_size(l);
	uint32_t ib[256];
	float *x = xmalloc(256 * D * sizeof(float));
	memset(mean, 0, (size_t)M * sizeof(double));
	for (int s = 0; s < n; s += 256) {
		int B = n - s < 256 ? n - s : 256;
		for (int i = 0; i < B; i++)
			ib[i] = (uint32_t)idx[s + i];
		nn_fill_batch(tr->x, tr->y, D, ib, B, x, NULL);
		nn_forward(m, x, B, 0, NULL);
		const float *a = m->acts[al];
		for (int i = 0; i < B; i++)
			for (int j = 0; j < M; j++)
				mean[j] += a[act_off(l, B, i, j)];
	}
	for (int j = 0; j < M; j++)
		mean[j] /= n;
	free(x);
}

/* The statistic v (*dim values, the caller frees) and the projection of the
 * forger's fresh key. -1 with a message when the key is not as its keygen
 * writes it. */
static int fu_read(enum fu_kind k, struct npz *key, struct nn_model *m, const struct wm_env *w,
		   double **v, struct fu_proj *pr, char *err, size_t errlen)
{
	char layer[NN_NAMELEN];
	int li;
	if (npz_get_text(key, "layer", layer, sizeof layer) || (li = nn_find_layer(m, layer)) < 0)
		return errf(err, errlen,
			    "forge_uchida: the forged key names no layer of model '%s'; expected "
			    "the scheme's keygen to write one",
			    m->arch);
	const struct nn_layer *l = &m->layers[li];
	memset(pr, 0, sizeof *pr);
	if (k == FU_DEEPSIGNS) {
		const struct npz_array *A = npz_get(key, "deepsigns.A"),
				       *b = npz_get(key, "deepsigns.b"),
				       *ki = npz_get(key, "deepsigns.key_idx");
		if (!A || !b || !ki || A->ndim != 2 || li + 1 >= m->nlayers)
			return errf(err, errlen,
				    "forge_uchida: the forged deepsigns key lacks deepsigns.A, .b "
				    "or .key_idx; expected its keygen's format");
		int al = li + 1;
		pr->P = A->data;
		pr->dim = (int)A->shape[0];
		pr->rows = (int)A->shape[1];
		pr->rs = 1;
		pr->es = (size_t)pr->rows;
		if (pr->dim != (int)nn_out_size(&m->layers[al]))
			return errf(err, errlen,
				    "forge_uchida: the forged deepsigns key projects %d features "
				    "but layer '%s' has %zu; expected a key for this model",
				    pr->dim, m->layers[al].name, nn_out_size(&m->layers[al]));
		*v = xmalloc((size_t)pr->dim * sizeof(double));
		mean_act(m, al, w->train, ki->data, (int)ki->count, *v);
		pr->want = xmalloc((size_t)pr->rows);
		for (int j = 0; j < pr->rows; j++)
			pr->want[j] = ((const uint8_t *)b->data)[j] ? 1 : -1;
		return 0;
	}
	const char *xn = k == FU_UCHIDA ? "uchida.X" : "deepmarks.X";
	const struct npz_array *X = npz_get(key, xn);
	if (!X || X->ndim != 2 || X->shape[1] != (int64_t)(l->w_n / l->out_c))
		return errf(err, errlen,
			    "forge_uchida: the forged key's %s is not T x M for layer '%s'; "
			    "expected its keygen's format",
			    xn, layer);
	pr->P = X->data;
	pr->rows = (int)X->shape[0];
	pr->dim = (int)X->shape[1];
	pr->rs = (size_t)pr->dim;
	pr->es = 1;
	pr->want = xmalloc((size_t)pr->rows);
	if (k == FU_UCHIDA) {
		const struct npz_array *b = npz_get(key, "uchida.b");
		if (!b || (int)b->count != pr->rows) {
			free(pr->want);
			return errf(err, errlen,
				    "forge_uchida: the forged uchida key lacks uchida.b; expected "
				    "its keygen's format");
		}
		for (int j = 0; j < pr->rows; j++)
			pr->want[j] = ((const uint8_t *)b->data)[j] ? 1 : -1;
	} else {
		const struct npz_array *c = npz_get(key, "deepmarks.codes"),
				       *u = npz_get(key, "deepmarks.user");
		int user = u && u->count == 1 ? *(const int32_t *)u->data : -1;
		if (!c || c->ndim != 2 || c->shape[1] != pr->rows || user < 0 ||
		    user >= c->shape[0]) {
			free(pr->want);
			return errf(err, errlen,
				    "forge_uchida: the forged deepmarks key lacks its codes or "
				    "user; expected its keygen's format");
		}
		const uint8_t *code = (const uint8_t *)c->data + (size_t)user * pr->rows;
		for (int j = 0; j < pr->rows; j++)
			pr->want[j] = code[j] ? 1 : -1;
	}
	*v = xmalloc((size_t)pr->dim * sizeof(double));
	mean_weight(m, li, *v);
	return 0;
}

/* Makes every row of the projection read its wanted sign with
 * |projection| > thr, redrawing rows (from r) below the threshold. */
static int fu_flip(struct fu_proj *pr, const double *v, double thr, struct rng *r, char *err,
		   size_t errlen)
{
	const long max_draws = 1000000;
	for (int k = 0; k < pr->rows; k++) {
		float *row = pr->P + (size_t)k * pr->rs;
		double z = 0;
		for (long draws = 0;; draws++) {
			z = 0;
			for (int i = 0; i < pr->dim; i++)
				z += row[(size_t)i * pr->es] * v[i];
			if (fabs(z) > thr)
				break;
			if (draws == max_draws)
				return errf(err, errlen,
					    "forge_uchida: row %d found no projection above %g in "
					    "%ld draws; expected a lower 'margin'",
					    k, thr, max_draws);
			for (int i = 0; i < pr->dim; i++)
				row[(size_t)i * pr->es] = (float)rng_normal(r);
		}
		if ((z > 0) != (pr->want[k] > 0))
			for (int i = 0; i < pr->dim; i++)
				row[(size_t)i * pr->es] = -row[(size_t)i * pr->es];
	}
	return 0;
}

extern const struct atk_attack atk_forge_uchida;

/* The forged key into key (npz_init'ed by the caller, who frees it) and the
 * forged scheme into *sch: 0; 1 when there is nothing to forge (key left
 * empty); -1 with a message. */
static int fu_forge(const struct fu_cfg *c, struct nn_model *m, const struct atk_env *env,
		    struct npz *key, const struct wm_scheme **sch, char *err, size_t errlen)
{
	static const char *const names[] = {"uchida", "deepmarks", "deepsigns"};
	const struct wm_scheme *s = env->scheme;
	struct param_set sp;
	struct rng ar;
	char sub[ERRBUF], num[32];
	double *v = NULL;
	struct fu_proj pr = {0};
	int k = -1, rc = -1;

	if (strcmp(c->scheme, "same"))
		s = wm_scheme_find(c->scheme);
	for (int i = 0; s && i < 3; i++)
		if (!strcmp(s->name, names[i]))
			k = i;
	if (k < 0)
		return 1; /* unmarked, or no projection to forge */
	if (!env->wm)
		return errf(err, errlen,
			    "forge_uchida: no run environment to forge and verify the key in; "
			    "expected the runner's atk_env.wm");
	*sch = s;
	/* the owner's scheme parameters (the layer, the bits) when the forged
	 * scheme is the one under attack, else the scheme's defaults */
	memset(&sp, 0, sizeof sp);
	if (s == env->scheme && env->scheme_params)
		sp = *env->scheme_params;
	if (k == FU_UCHIDA)
		param_set_put(&sp, "keytype", "random");
	if (c->bits > 0) {
		snprintf(num, sizeof num, "%d", c->bits);
		param_set_put(&sp, "bits", num);
	}
	param_complete(&sp, s->params);
	if (wm_check(s, &sp, m, sub, sizeof sub))
		return errf(err, errlen, "forge_uchida: forging a %s key: %s", s->name, sub);
	/* the forger's own stream, as the pirate's (atk_embed_own) */
	struct seed_scope as = {.draw = rng_u64(env->rng)};
	rng_seed(&ar, seed_stream(0, SEED_ATTACKER_KEY, &as));
	struct wm_env w = *env->wm;
	w.rng = &ar;
	if (wm_keygen(s, &sp, m, &w, key, sub, sizeof sub)) {
		errf(err, errlen, "forge_uchida: drawing the forger's %s key: %s", s->name, sub);
		goto out;
	}
	if (fu_read((enum fu_kind)k, key, m, &w, &v, &pr, err, errlen))
		goto out;
	double nv = 0;
	for (int i = 0; i < pr.dim; i++)
		nv += v[i] * v[i];
	nv = sqrt(nv);
	if (!(nv > 0)) {
		errf(err, errlen,
		     "forge_uchida: the %s statistic of model '%s' is all zero (a dead layer); "
		     "expected a trained model",
		     s->name, m->arch);
		goto out;
	}
	double q = half_normal_quantile(c->margin);
	rc = fu_flip(&pr, v, nv * (q > 1e-6 ? q : 1e-6), &ar, err, errlen);
out:
	free(v);
	free(pr.want);
	return rc;
}

/* fu_forge with the attack's parameters as text (for tests: the key that
 * apply verifies). */
int atk_forge_uchida_key(const struct param_set *p, struct nn_model *m, const struct atk_env *env,
			 struct npz *key, const struct wm_scheme **s, char *err, size_t errlen)
{
	struct fu_cfg *c = atk_cfg(&atk_forge_uchida, p, err, errlen);
	if (!c)
		return -1;
	int rc = fu_forge(c, m, env, key, s, err, errlen);
	free(c);
	return rc;
}

static int fu_apply(const void *cfg, struct nn_model *m, const struct atk_env *env, char *err,
		    size_t errlen)
{
	const struct wm_scheme *s = NULL;
	struct npz key;
	int rc;

	npz_init(&key);
	rc = fu_forge(cfg, m, env, &key, &s, err, errlen);
	if (!rc) {
		struct atk_env e = *env;
		e.scheme = s;
		rc = atk_verify_own("forge_uchida", atk_forge_uchida.second_verdict, &key, m, &e,
				    err, errlen);
	}
	npz_free(&key);
	return rc < 0 ? -1 : 0; /* 1: nothing to forge, no forger's verdict */
}

const struct atk_attack atk_forge_uchida = {
    .category = ATK_CAT_AMBIGUITY,
    .threat = ATK_T_WEIGHTS | ATK_T_DATA | ATK_T_LABELS | ATK_T_ADAPTIVE,
    .cfg_size = sizeof(struct fu_cfg),
    .name = "forge_uchida",
    .second_verdict = "forger",
    .summary = "forge a projection key (uchida, deepmarks, deepsigns) for random bits from the "
	       "weights: Gaussian rows negated to agree (ambiguity, model unchanged)",
    .params = fu_params,
    .apply = fu_apply,
};
