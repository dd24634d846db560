/* adi.c - backdoor trigger-set watermark (Adi, Baum, Cisse, Pinkas, Keshet;
 * USENIX Security 2018), written from the description in SCHEMES.md.
 *
 * Key: a trigger set T of |T| out-of-distribution images x_t (C, H, W) in
 * [0, 1], each with a label y_t drawn uniformly from the C classes with the
 * owner's RNG. The images come from the parameter 'source':
 *   abstract  procedural images generated from the owner's RNG: a smooth
 *             background, Gaussian blobs, thick curved strokes, salt noise;
 *   glyph     glyphs of the DejaVu fonts (workers/glyph.h); the key also
 *             holds their specs and the fonts' SHA-256, and verify refuses
 *             a key whose fonts differ;
 *   noise     i.i.d. uniform pixels;
 *   mnist, fashion, cifar10
 *             images drawn from the test split of another dataset of the
 *             same shape (read from 'source_dir'; "default" = the dataset's
 *             standard location, which only Fashion-MNIST has). Keygen refuses
 *             the run's own dataset.
 * Embed: every training batch gets per_batch trigger rows per 100 samples
 * (at least one), cycling through T, appended by the train hook 'mix' (the
 * reference code puts 2 triggers in every batch of 100). mode scratch trains
 * the fresh model on D plus T; mode finetune first trains it on D alone for
 * the run's epochs, then fine-tunes it on D plus T for ft_epochs epochs.
 * Verify (black-box, through q->predict only): watermark accuracy on T;
 * p-value = P[Binomial(|T|, 1/C) >= matches]; detected iff p < alpha. */
#include "scheme.h"
#include "../workers/glyph.h"
#include "../workers/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

/* source's choices: abstract, noise, or a dataset of the table in
 * workers/data.c (filled before main runs). */
static char adi_sources[256] = "abstract|noise|glyph";

__attribute__((constructor)) static void adi_list_sources(void)
{
	char names[200];
	data_names(names, sizeof names, "|");
	snprintf(adi_sources, sizeof adi_sources, "abstract|noise|glyph|%s", names);
}

/* The parameters, as the plug-in receives them (table below). */
struct adi_cfg {
	int size;
	char source[PARAM_VALLEN];
	char source_dir[PARAM_VALLEN];
	int per_batch;
	char mode[PARAM_VALLEN];
	int ft_epochs;
};

static const struct param_def adi_params[] = {
    {"size", PT_INT, "100", 1, 10000, NULL, "trigger-set size |T| (the capacity parameter)",
     offsetof(struct adi_cfg, size)},
    {"source", PT_STRING, "abstract", 0, 0, adi_sources,
     "trigger images: abstract (procedural images), noise (uniform), glyph (rendered DejaVu "
     "glyphs), or the name of another "
     "dataset (its test split)",
     offsetof(struct adi_cfg, source)},
    {"source_dir", PT_STRING, "default", 0, 0, NULL,
     "directory of the source dataset (default = its standard location)",
     offsetof(struct adi_cfg, source_dir)},
    {"per_batch", PT_INT, "2", 1, 100, NULL,
     "trigger images per 100 training samples in every batch (at least one per batch)",
     offsetof(struct adi_cfg, per_batch)},
    {"mode", PT_STRING, "scratch", 0, 0, "scratch|finetune",
     "scratch: train on D plus T; finetune: train on D, then fine-tune on D plus T",
     offsetof(struct adi_cfg, mode)},
    {"ft_epochs", PT_INT, "2", 1, 1000, NULL, "fine-tuning epochs of mode finetune",
     offsetof(struct adi_cfg, ft_epochs)},
    {0}};

/* ---- trigger images ---------------------------------------------------- */

static double unif(struct rng *r, double lo, double hi)
{
	return lo + (hi - lo) * rng_uniform(r);
}

/* A colour: one intensity per channel (all equal for grey images). */
static void pick_colour(struct rng *r, int C, float *col)
{
	double base = unif(r, 0.2, 1.0);
	for (int c = 0; c < C; c++)
		col[c] = (float)(C == 1 ? base : unif(r, 0.0, 1.0));
}

static void paint_disc(float *img, int C, int H, int W, double cy, double cx, double rad,
		       const float *col)
{
	int y0 = (int)floor(cy - rad), y1 = (int)ceil(cy + rad);
	int x0 = (int)floor(cx - rad), x1 = (int)ceil(cx + rad);
	for (int i = y0 < 0 ? 0 : y0; i <= y1 && i < H; i++)
		for (int j = x0 < 0 ? 0 : x0; j <= x1 && j < W; j++)
			if ((i - cy) * (i - cy) + (j - cx) * (j - cx) <= rad * rad)
				for (int c = 0; c < C; c++)
					img[((size_t)c * H + i) * W + j] = col[c];
}

/* One procedural abstract image, (C, H, W) in [0, 1]. */
static void abstract_image(struct rng *r, int C, int H, int W, float *img)
{
	float grid[8][8], col[4];
	size_t HW = (size_t)H * W;
	int G = 2 + (int)rng_below(r, 5); /* 2..6 control points per side */
	double amp = unif(r, 0.1, 0.5);

	/* smooth background: bilinear interpolation of a coarse random grid */
	for (int c = 0; c < C; c++) {
		for (int a = 0; a < G; a++)
			for (int b = 0; b < G; b++)
				grid[a][b] = (float)(amp * rng_uniform(r));
		for (int i = 0; i < H; i++) {
			double gy = H > 1 ? (double)i * (G - 1) / (H - 1) : 0;
			int a = (int)gy < G - 1 ? (int)gy : G - 2;
			double fy = gy - a;
			for (int j = 0; j < W; j++) {
				double gx = W > 1 ? (double)j * (G - 1) / (W - 1) : 0;
				int b = (int)gx < G - 1 ? (int)gx : G - 2;
				double fx = gx - b;
				double top = (1 - fx) * grid[a][b] + fx * grid[a][b + 1];
				double bot = (1 - fx) * grid[a + 1][b] + fx * grid[a + 1][b + 1];
				img[c * HW + (size_t)i * W + j] =
				    (float)((1 - fy) * top + fy * bot);
			}
		}
	}
	/* Gaussian blobs, added */
	int nblob = (int)rng_below(r, 4);
	for (int k = 0; k < nblob; k++) {
		double cy = unif(r, 0, H), cx = unif(r, 0, W);
		double s = unif(r, 1.5, 0.25 * (H < W ? H : W) + 1.5);
		double sign = rng_uniform(r) < 0.75 ? 1.0 : -1.0;
		pick_colour(r, C, col);
		for (int c = 0; c < C; c++)
			for (int i = 0; i < H; i++)
				for (int j = 0; j < W; j++) {
					double d2 = (i - cy) * (i - cy) + (j - cx) * (j - cx);
					img[c * HW + (size_t)i * W + j] +=
					    (float)(sign * col[c] * exp(-d2 / (2 * s * s)));
				}
	}
	/* thick strokes: quadratic Bezier curves painted with discs */
	int nstroke = 1 + (int)rng_below(r, 5);
	for (int k = 0; k < nstroke; k++) {
		double py[3], px[3], rad = unif(r, 0.5, 2.0);
		for (int t = 0; t < 3; t++) {
			py[t] = unif(r, -2, H + 1);
			px[t] = unif(r, -2, W + 1);
		}
		pick_colour(r, C, col);
		if (rng_uniform(r) < 0.2)
			for (int c = 0; c < C; c++)
				col[c] = 0; /* a dark stroke */
		int steps = 2 * (H + W);
		for (int s = 0; s <= steps; s++) {
			double t = (double)s / steps, u = 1 - t;
			double cy = u * u * py[0] + 2 * u * t * py[1] + t * t * py[2];
			double cx = u * u * px[0] + 2 * u * t * px[1] + t * t * px[2];
			paint_disc(img, C, H, W, cy, cx, rad, col);
		}
	}
	/* salt noise on up to 5 % of the pixels */
	double salt = unif(r, 0, 0.05);
	for (size_t i = 0; i < (size_t)C * HW; i++)
		if (rng_uniform(r) < salt)
			img[i] = (float)rng_uniform(r);
	for (size_t i = 0; i < (size_t)C * HW; i++)
		img[i] = img[i] < 0 ? 0 : img[i] > 1 ? 1 : img[i];
}

/* Fills x (T, C*H*W) with T images of another dataset's test split. */
static int dataset_images(const char *source, const char *dir, const struct nn_model *m,
			  const struct wm_env *env, int T, float *x, char *err, size_t errlen)
{
	struct dataset tr, te;
	char sub[ERRBUF];
	size_t D = nn_in_size(m);
	int rc = -1;

	if (data_load(source, strcmp(dir, "default") ? dir : "", &tr, &te, sub, sizeof sub))
		return errf(err, errlen,
			    "adi: parameter 'source' = '%s' needs that dataset: %s; expected "
			    "source_dir naming its directory, or source abstract or noise",
			    source, sub);
	if (te.c != m->in_c || te.h != m->in_h || te.w != m->in_w) {
		errf(err, errlen,
		     "adi: parameter 'source' = '%s' has %dx%dx%d images but the model takes "
		     "%dx%dx%d; expected a dataset of the same shape, or source abstract or noise",
		     source, te.c, te.h, te.w, m->in_c, m->in_h, m->in_w);
		goto out;
	}
	/* the run's test split (perhaps truncated) is a prefix of the source's */
	const struct dataset *rt = env->test;
	if (!strcmp(env->train->name, source) ||
	    (rt && rt->n <= te.n && (size_t)rt->c * rt->h * rt->w == D &&
	     !memcmp(rt->x, te.x, (size_t)rt->n * D))) {
		errf(err, errlen,
		     "adi: parameter 'source' = '%s' is the run's own dataset; expected another "
		     "dataset, or source abstract or noise",
		     source);
		goto out;
	}
	uint32_t *perm = xmalloc((size_t)te.n * sizeof *perm);
	for (int i = 0; i < te.n; i++)
		perm[i] = (uint32_t)i;
	rng_shuffle_u32(env->rng, perm, (size_t)te.n);
	for (int t = 0; t < T; t++)
		nn_fill_batch(te.x, NULL, D, perm + (t % te.n), 1, x + (size_t)t * D, NULL);
	free(perm);
	rc = 0;
out:
	data_free(&tr);
	data_free(&te);
	return rc;
}

static int adi_keygen(const void *cfg, const struct nn_model *m, const struct wm_env *env,
		      struct npz *key, char *err, size_t errlen)
{
	const struct adi_cfg *p = cfg;
	int T = p->size, C = m->in_c, H = m->in_h, W = m->in_w;
	const char *src = p->source, *dir = p->source_dir;
	size_t D = nn_in_size(m);
	float *x = xmalloc((size_t)T * D * sizeof(float));
	int32_t *y = xmalloc((size_t)T * sizeof *y);
	int rc = -1;

	if (!strcmp(src, "abstract")) {
		for (int t = 0; t < T; t++)
			abstract_image(env->rng, C, H, W, x + (size_t)t * D);
	} else if (!strcmp(src, "noise")) {
		for (size_t i = 0; i < (size_t)T * D; i++)
			x[i] = (float)rng_uniform(env->rng);
	} else if (!strcmp(src, "glyph")) {
		if (glyph_key_images(env->rng, T, C, H, W, x, key, "adi", err, errlen))
			goto out;
	} else if (dataset_images(src, dir, m, env, T, x, err, errlen)) {
		goto out;
	}
	for (int t = 0; t < T; t++)
		y[t] = (int32_t)rng_below(env->rng, (uint32_t)m->nclass);
	int64_t xs[4] = {T, C, H, W}, ys = T;
	npz_add(key, "adi.x", NPZ_F32, 4, xs, x);
	npz_add(key, "adi.y", NPZ_I32, 1, &ys, y);
	rc = 0;
out:
	free(x);
	free(y);
	return rc;
}

/* ---- embedding ----------------------------------------------------------- */

struct adi_set {
	const float *x; /* (T, D) */
	const int32_t *y;
	int T, k, next; /* k trigger rows per batch; next trigger to show */
	size_t D;
};

static int adi_load(struct adi_set *s, const struct npz *key, int C, int H, int W, int nclass,
		    char *err, size_t errlen)
{
	const struct npz_array *x = npz_get(key, "adi.x"), *y = npz_get(key, "adi.y");
	memset(s, 0, sizeof *s);
	if (!x || !y || x->dtype != NPZ_F32 || y->dtype != NPZ_I32 || x->ndim != 4 ||
	    y->ndim != 1 || x->shape[0] != y->shape[0] || x->shape[0] < 1)
		return errf(err, errlen,
			    "adi: key lacks adi.x (float32, T x C x H x W) or adi.y (int32, T); "
			    "expected a key written by wmbench");
	if (x->shape[1] != C || x->shape[2] != H || x->shape[3] != W)
		return errf(err, errlen,
			    "adi: key triggers are %lldx%lldx%lld but the model takes %dx%dx%d; "
			    "expected a key for this model",
			    (long long)x->shape[1], (long long)x->shape[2], (long long)x->shape[3],
			    C, H, W);
	s->x = x->data;
	s->y = y->data;
	s->T = (int)x->shape[0];
	s->D = (size_t)C * H * W;
	for (int t = 0; t < s->T; t++)
		if (s->y[t] < 0 || s->y[t] >= nclass)
			return errf(err, errlen,
				    "adi: key trigger %d has label %d; expected a class in [0, %d]",
				    t, s->y[t], nclass - 1);
	return 0;
}

/* Appends k trigger rows, cycling through T in order. */
static void adi_mix(void *ctx, float *x, int *y, int *B, int cap, struct rng *r)
{
	struct adi_set *s = ctx;
	(void)r;
	for (int i = 0; i < s->k && *B < cap; i++) {
		memcpy(x + (size_t)*B * s->D, s->x + (size_t)s->next * s->D, s->D * sizeof(float));
		y[*B] = s->y[s->next];
		(*B)++;
		s->next = (s->next + 1) % s->T;
	}
}

static int adi_embed(const void *cfg, struct nn_model *m, struct npz *key, const struct wm_env *env,
		     char *err, size_t errlen)
{
	const struct adi_cfg *p = cfg;
	struct adi_set s;
	const char *mode = p->mode;
	long per = p->per_batch;

	if (adi_load(&s, key, m->in_c, m->in_h, m->in_w, m->nclass, err, errlen))
		return -1;
	s.k = (int)lround((double)per * env->ts.batch / 100.0);
	if (s.k < 1)
		s.k = 1;
	struct train_hooks h = {.ctx = &s, .mix = adi_mix};
	if (mode && !strcmp(mode, "finetune")) {
		struct wm_env ft = *env;
		if (wm_train_owner(m, env, NULL, 0, err, errlen))
			return -1;
		ft.ts.epochs = p->ft_epochs;
		return wm_train_owner(m, &ft, &h, s.k, err, errlen);
	}
	return wm_train_owner(m, env, &h, s.k, err, errlen);
}

/* ---- verification (black-box) ----------------------------------------------- */

static int adi_verify(const void *cfg, const struct npz *key, struct nn_model *m,
		      struct wm_query *q, const struct wm_env *env, struct wm_verdict *v, char *err,
		      size_t errlen)
{
	(void)cfg; /* the key holds what verification needs */
	const struct npz_array *x = npz_get(key, "adi.x");
	struct adi_set s;
	int C = q->nclass, matches = 0, chunk = 256;
	(void)m;

	if (!x || x->ndim != 4)
		return errf(err, errlen,
			    "adi: key lacks adi.x (float32, T x C x H x W); expected a key written "
			    "by wmbench");
	/* glyph triggers: refuse a key rendered from other fonts */
	int ng;
	if (npz_get(key, "adi.glyph_fonts") &&
	    glyph_key_check(key, "adi", 1, 1, 1, NULL, &ng, err, errlen))
		return -1;
	if (adi_load(&s, key, (int)x->shape[1], (int)x->shape[2], (int)x->shape[3], C, err, errlen))
		return -1;
	if (env->test && (size_t)env->test->c * env->test->h * env->test->w != s.D)
		return errf(err, errlen,
			    "adi: key triggers have %zu values but the data has %dx%dx%d; expected "
			    "a key for this dataset",
			    s.D, env->test->c, env->test->h, env->test->w);
	float *probs = xmalloc((size_t)chunk * C * sizeof(float));
	for (int t0 = 0; t0 < s.T; t0 += chunk) {
		int n = s.T - t0 < chunk ? s.T - t0 : chunk;
		if (q->predict(q, s.x + (size_t)t0 * s.D, n, probs)) {
			free(probs);
			return errf(err, errlen,
				    "adi: the prediction path failed on triggers %d..%d", t0,
				    t0 + n - 1);
		}
		for (int i = 0; i < n; i++)
			matches += nn_argmax(probs + (size_t)i * C, C) == s.y[t0 + i];
	}
	free(probs);
	strcpy(v->metric_name, "wm_acc");
	v->metric = (double)matches / s.T;
	v->pvalue = binom_tail(s.T, matches, 1.0 / C);
	v->detected = v->pvalue < env->alpha;
	v->capacity = s.T;
	return 0;
}

/* Samples through the passes (the embed row's forward and backward): k
 * trigger rows on every batch, the partial last one too. */
static void adi_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct adi_cfg *p = cfg;
	long k = lround(p->per_batch * w->batch / 100.0);
	double nb = (w->n_owner + w->batch - 1) / w->batch, one = w->n_owner + (k > 1 ? k : 1) * nb;

	*fwd = *bwd = strcmp(p->mode, "finetune")
			  ? (double)w->epochs * one
			  : (double)w->epochs * w->n_owner + p->ft_epochs * one;
}

/* Samples through the forward pass of one verification: The T trigger images. */
static double adi_verify_work(const void *cfg, const struct wm_work *w)
{
	const struct adi_cfg *p = cfg;

	(void)w;
	return p->size;
}

const struct wm_scheme wm_adi = {
    .cfg_size = sizeof(struct adi_cfg),
    .name = "adi",
    .colour = "#0072B2",
    .point = 13,
    .order = 4,
    .summary =
	"black-box zero-bit trigger set of abstract images (Adi et al., USENIX Security 2018)",
    .params = adi_params,
    .black_box = 1,
    .keygen = adi_keygen,
    .embed = adi_embed,
    .verify = adi_verify,
    .work = adi_work,
    .verify_work = adi_verify_work,
};
