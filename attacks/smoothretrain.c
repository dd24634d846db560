/* smoothretrain.c - model extraction by retraining on labels averaged over
 * augmented queries (ATTACKS-MORE.md section 7; WRT's retraining with
 * query_labels_n_times, which its code says was "showcased to eliminate
 * DAWN"; Lukas et al., IEEE S&P 2022). The attacker queries the marked model
 * on n augmented views of each of its images, averages the n softmax outputs
 * and trains a fresh model on the original images with those soft labels
 * (cross-entropy with soft targets: atk_train_student at T = 1). Averaging
 * over views answers API-side perturbation: a mark that answers only the
 * exact trigger (DAWN's hash-selected inputs), or noisy scores, averages out,
 * and n hard labels average into soft ones.
 *
 * A view is a random crop of the image zero-padded by pad pixels on every
 * side: a shift (dy, dx) uniform in [-pad, pad]^2, the uncovered border
 * black, then, with flip = 1, a left-right mirror with probability 1/2.
 * Fashion-MNIST defaults from the spec: pad 2, no flip (the footwear all
 * points one way), n 3; the student is of the marked model's architecture
 * (student = same) or a named model taking its inputs, 10 epochs of Adam at
 * lr 1e-3, batch 64. Randomness: env->rng initialises the student, then
 * draws every view's shift (and mirror), then shuffles the training; with
 * pad 0 and flip 0 no view is drawn and the attack is distill at T = 1.
 *
 * Deviations from WRT: its CIFAR views are crops with padding 4 and flips, its
 * data all 50,000 training images (subset: all); here the attacker's own data
 * (the threat model) and Fashion-MNIST's pad 2 without flips. The marked
 * model is queried directly, in evaluation mode, like distill's teacher: the
 * attack's queries are counted (n x images) into env->queries.
 *
 * Cost: n x images teacher forward passes (queries), then epochs E of the
 * student's training (section 10: 10-20 E). */
#include "common.h"
#include "../workers/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The parameters, as the plug-in receives them (table below). */
struct smoothretrain_cfg {
	int n;
	int pad;
	int flip;
	int epochs;
	char student[PARAM_VALLEN];
	double lr;
	int batch;
	char optimizer[PARAM_VALLEN];
};

static const struct param_def smoothretrain_params[] = {
    {"n", PT_INT, "3", 1, 32, NULL,
     "augmented queries per image whose softmax outputs are averaged",
     offsetof(struct smoothretrain_cfg, n)},
    {"pad", PT_INT, "2", 0, 16, NULL,
     "zero padding of the random crop: each view is shifted by up to pad pixels",
     offsetof(struct smoothretrain_cfg, pad)},
    {"flip", PT_INT, "0", 0, 1, NULL, "1: mirror each view left to right with probability 1/2",
     offsetof(struct smoothretrain_cfg, flip)},
    {"epochs", PT_INT, "10", 1, 1000, NULL, "epochs of the student's training",
     offsetof(struct smoothretrain_cfg, epochs)},
    {"student", PT_STRING, "same", 0, 0, NULL, "student model: same or one of wmbench list models",
     offsetof(struct smoothretrain_cfg, student)},
    ATK_PARAM_LR(struct smoothretrain_cfg, "0.001"),
    ATK_PARAM_BATCH(struct smoothretrain_cfg),
    ATK_PARAM_OPTIMIZER(struct smoothretrain_cfg),
    {0}};

static int smoothretrain_check(const void *cfg, char *err, size_t errlen)
{
	const struct smoothretrain_cfg *p = cfg;
	return atk_check_student("smoothretrain", p->student, err, errlen);
}

/* One view of B images x (B, C, H, W) into v: each shifted by its own
 * (dy, dx) in [-pad, pad]^2 with a black border, then mirrored with
 * probability 1/2 when flip. Draws nothing when pad = 0 and !flip. */
static void views(const float *x, float *v, int B, int C, int H, int W, int pad, int flip,
		  struct rng *r)
{
	size_t S = (size_t)H * W;
	for (int b = 0; b < B; b++) {
		const float *xb = x + (size_t)b * C * S;
		float *vb = v + (size_t)b * C * S;
		int dy = 0, dx = 0, f = 0;
		if (pad) {
			dy = (int)rng_below(r, (uint32_t)(2 * pad + 1)) - pad;
			dx = (int)rng_below(r, (uint32_t)(2 * pad + 1)) - pad;
		}
		if (flip)
			f = (int)rng_below(r, 2);
		for (int c = 0; c < C; c++)
			for (int i = 0; i < H; i++)
				for (int j = 0; j < W; j++) {
					int si = i + dy, sj = (f ? W - 1 - j : j) + dx;
					vb[c * S + (size_t)i * W + j] =
					    si < 0 || si >= H || sj < 0 || sj >= W
						? 0.0f
						: xb[c * S + (size_t)si * W + sj];
				}
	}
}

/* The averaged soft labels (n_img, nclass) of the attacker's images: the
 * teacher's softmax over p->n views of each, in batches of 256 as
 * atk_logits runs them. */
static float *smooth_labels(struct nn_model *m, const struct smoothretrain_cfg *p,
			    const struct atk_env *env)
{
	const struct dataset *d = env->train;
	size_t D = (size_t)d->c * d->h * d->w;
	int n = env->n_attacker, C = m->nclass, bs = 256;
	float *q = xmalloc((size_t)n * C * sizeof(float));
	float *x = xmalloc((size_t)bs * D * sizeof(float));
	float *v = xmalloc((size_t)bs * D * sizeof(float));
	double *acc = xmalloc((size_t)bs * C * sizeof(double));
	double *e = xmalloc((size_t)C * sizeof(double));

	for (int s = 0; s < n; s += bs) {
		int B = n - s < bs ? n - s : bs;
		nn_fill_batch(d->x, d->y, D, env->attacker_idx + s, B, x, NULL);
		memset(acc, 0, (size_t)B * C * sizeof(double));
		for (int k = 0; k < p->n; k++) {
			views(x, v, B, d->c, d->h, d->w, p->pad, p->flip, env->rng);
			const float *z = nn_forward(m, v, B, 0, NULL);
			for (int b = 0; b < B; b++) {
				const float *zb = z + (size_t)b * C;
				double mx = zb[0], sum = 0;
				for (int c = 1; c < C; c++)
					mx = zb[c] > mx ? zb[c] : mx;
				/* rounded as atk_student rounds its soft labels */
				for (int c = 0; c < C; c++)
					sum += e[c] = (float)exp(zb[c] - mx);
				for (int c = 0; c < C; c++)
					acc[(size_t)b * C + c] += (float)(e[c] / sum);
			}
		}
		for (size_t i = 0; i < (size_t)B * C; i++)
			q[(size_t)s * C + i] = (float)(acc[i] / p->n);
	}
	free(x);
	free(v);
	free(acc);
	free(e);
	return q;
}

static int smoothretrain_apply(const void *cfg, struct nn_model *m, const struct atk_env *env,
			       char *err, size_t errlen)
{
	const struct smoothretrain_cfg *p = cfg;
	struct atk_train t = {.name = "smoothretrain"};
	struct nn_model s;
	char sub[ERRBUF];
	int n = env->n_attacker;

	ATK_TRAIN_FROM(&t, p);
	if (n <= 0)
		return errf(err, errlen,
			    "smoothretrain: the attacker has no training samples; expected "
			    "attacker_split > 0 and attacker_data > 0 for an attack that trains");
	if ((size_t)env->train->c * env->train->h * env->train->w != nn_in_size(m))
		return errf(err, errlen,
			    "smoothretrain: the attacker's images are %dx%dx%d but the model takes "
			    "%dx%dx%d; expected the model's input shape",
			    env->train->c, env->train->h, env->train->w, m->in_c, m->in_h, m->in_w);
	if (!strcmp(p->student, "same")) {
		if (nn_build_spec(&s, m->arch, m->spec, sub, sizeof sub))
			return errf(err, errlen, "smoothretrain: building the student: %s", sub);
		nn_init_params(&s, env->rng);
	} else if (nn_create(&s, p->student, m->in_c, m->in_h, m->in_w, m->nclass, env->rng, sub,
			     sizeof sub)) {
		return errf(
		    err, errlen,
		    "smoothretrain: parameter 'student' = '%s' does not fit the teacher: %s",
		    p->student, sub);
	}
	float *q = smooth_labels(m, p, env);
	if (env->queries)
		*env->queries += (long)p->n * n; /* n views of every attacker image */
	int rc = atk_train_student(&s, env->train, env->attacker_idx, n, q, 1.0, &t, env->rng, err,
				   errlen);
	free(q);
	if (rc) {
		nn_free(&s);
		return -1;
	}
	nn_free(m);
	*m = s;
	return 0;
}

/* Samples through the passes: n augmented views of each image labelled
 * through the model, then the student's epochs. */
static void smoothretrain_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct smoothretrain_cfg *p = cfg;

	*fwd = ((double)p->n + p->epochs) * w->n;
	*bwd = (double)p->epochs * w->n;
}

const struct atk_attack atk_smoothretrain = {
    .category = ATK_CAT_EXTRACT,
    .threat = ATK_T_DATA | ATK_T_QUERIES,
    .cfg_size = sizeof(struct smoothretrain_cfg),
    .uses_attacker_data = 1,
    .name = "smoothretrain",
    .summary = "train a fresh model on the marked model's softmax averaged over n shifted views",
    .params = smoothretrain_params,
    .check = smoothretrain_check,
    .apply = smoothretrain_apply,
    .work = smoothretrain_work,
};
