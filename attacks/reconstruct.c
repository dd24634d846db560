/* reconstruct.c - query-path attack: every query is replaced by its
 * reconstruction through the attacker's own denoising autoencoder before it
 * reaches the model (ATTACKS-MORE.md section 4; the SoK's "input
 * reconstruction", Lukas et al., IEEE S&P 2022, WRT's
 * wrt/attacks/removal/input_preprocessing). An autoencoder trained on the
 * task's images maps every input near the image manifold, so triggers that
 * lie off it (Adi's abstract images, deepsigns-bb's uniform noise,
 * nullembed's +-lambda block) are pulled towards ordinary images and lose
 * the label the mark gave them; the price is blur on clean queries, so
 * measure clean accuracy through the wrapper.
 *
 * Training (in wrap, once, before any query): the attacker's images without
 * their labels; input clip(x + N(0, noise^2), 0, 1), target x, mean squared
 * error over every pixel, Adam (lr 1e-3), batch 64, 15 epochs (the spec's
 * 10-20; section 10's default). The network is dense: C*H*W - hidden (ReLU) -
 * C*H*W (sigmoid), hidden 128 (grid 64, 128, 256), initialised like every
 * engine model from env->rng, which also shuffles and draws the noise: the
 * same env gives the same autoencoder, bit for bit. The engine has no
 * sigmoid layer: the network ends with the linear decoder, the sigmoid is
 * applied here, and the gradient of the loss through it,
 * 2 (y - x) y (1 - y) / (B * C*H*W), is written into the decoder's output
 * gradient before nn_backward. The decoder is wider than a classifier's
 * logits may be (3072 for CIFAR-10), hence nn_build_net.
 *
 * Deviations from WRT. WRT's MNIST-sized autoencoder is this 784-h-784 one;
 * for CIFAR it uses one 5x5 stride-2 convolution (128 filters) + batch norm +
 * ReLU, upsampling and a 5x5 convolution to 3 channels. The engine has
 * neither batch norm nor upsampling, so 3-channel inputs get the same dense
 * autoencoder over all C*H*W values (a weaker, blurrier reconstruction than
 * WRT's on CIFAR-10). WRT only loads a pretrained autoencoder (its training
 * raises NotImplemented); this one is trained by the attacker, as the spec
 * says, on the attacker's data only.
 *
 * Cost: about 15 E once (an E is one epoch over the attacker's data; the
 * autoencoder is far smaller than mlp), then one extra forward pass of the
 * autoencoder per query. The model is untouched: white-box verification is
 * n/a (the harness does not pair query-path attacks with it). */
#include "common.h"
#include "../workers/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The parameters, as the plug-in receives them (table below). */
struct reconstruct_cfg {
	int hidden;
	double noise;
	int epochs;
	double lr;
	int batch;
	char optimizer[PARAM_VALLEN];
};

static const struct param_def reconstruct_params[] = {
    {"hidden", PT_INT, "128", 1, 4096, NULL,
     "units of the autoencoder's hidden layer (the spec's grid: 64, 128, 256)",
     offsetof(struct reconstruct_cfg, hidden)},
    {"noise", PT_DOUBLE, "0.1", 0, 10, NULL,
     "standard deviation of the Gaussian noise on the autoencoder's training inputs",
     offsetof(struct reconstruct_cfg, noise)},
    {"epochs", PT_INT, "15", 1, 1000, NULL, "epochs of the autoencoder's training",
     offsetof(struct reconstruct_cfg, epochs)},
    ATK_PARAM_LR(struct reconstruct_cfg, "0.001"),
    ATK_PARAM_BATCH(struct reconstruct_cfg),
    ATK_PARAM_OPTIMIZER(struct reconstruct_cfg),
    {0}};

/* The wrapper's state: the trained autoencoder. */
struct recon_state {
	struct nn_model ae;
};

static void recon_free(void *state)
{
	struct recon_state *st = state;
	if (!st)
		return;
	nn_free(&st->ae);
	free(st);
}

static inline float sigmoidf(float z)
{
	return 1.0f / (1.0f + expf(-z));
}

/* The reconstruction of n samples x into y (both (n, D)), in slices so that
 * the autoencoder's buffers stay at 256 samples whatever n is. */
static void reconstruct_batch(struct nn_model *ae, const float *x, int n, float *y)
{
	size_t D = nn_in_size(ae);
	for (int s = 0; s < n; s += 256) {
		int B = n - s < 256 ? n - s : 256;
		const float *z = nn_forward(ae, x + (size_t)s * D, B, 0, NULL);
		float *ys = y + (size_t)s * D;
		for (size_t i = 0; i < (size_t)B * D; i++)
			ys[i] = sigmoidf(z[i]);
	}
}

/* Trains the denoising autoencoder ae on the attacker's images (header). */
static int train_ae(struct nn_model *ae, const struct reconstruct_cfg *p, const struct atk_env *env,
		    char *err, size_t errlen)
{
	const struct dataset *d = env->train;
	size_t D = nn_in_size(ae);
	int n = env->n_attacker, bs = p->batch, rc = 0, last = ae->nlayers - 1;
	struct nn_opt opt;

	if (nn_opt_init(&opt, p->optimizer, p->lr, ae->nparams))
		return errf(err, errlen,
			    "reconstruct: parameter 'optimizer' = '%s' is not valid; expected one "
			    "of adam|sgd|rmsprop",
			    p->optimizer);
	if (opt.kind == OPT_SGD)
		opt.momentum = 0.9;
	uint32_t *perm = xmalloc((size_t)n * sizeof *perm);
	uint32_t *sidx = xmalloc((size_t)bs * sizeof *sidx);
	float *x = xmalloc((size_t)bs * D * sizeof(float));
	float *xn = xmalloc((size_t)bs * D * sizeof(float));
	memcpy(perm, env->attacker_idx, (size_t)n * sizeof *perm);
	nn_reserve(ae, bs);
	for (int e = 0; e < p->epochs && !rc; e++) {
		rng_shuffle_u32(env->rng, perm, (size_t)n);
		for (int s0 = 0; s0 < n; s0 += bs) {
			int B = n - s0 < bs ? n - s0 : bs;
			size_t len = (size_t)B * D;
			double loss = 0, scale = 2.0 / (double)len;
			memcpy(sidx, perm + s0, (size_t)B * sizeof *sidx);
			nn_fill_batch(d->x, d->y, D, sidx, B, x, NULL);
			for (size_t i = 0; i < len; i++) {
				double v = x[i] + p->noise * rng_normal(env->rng);
				xn[i] = (float)(v < 0 ? 0 : (v > 1 ? 1 : v));
			}
			const float *z = nn_forward(ae, xn, B, 1, env->rng);
			nn_zero_act_grads(ae);
			float *dz = nn_dact(ae, last);
			for (size_t i = 0; i < len; i++) {
				float y = sigmoidf(z[i]);
				double r = (double)y - x[i];
				loss += r * r;
				dz[i] = (float)(scale * r * y * (1.0f - y));
			}
			loss /= (double)len;
			if (!isfinite(loss)) {
				rc = errf(err, errlen,
					  "reconstruct: training the autoencoder diverged: loss is "
					  "%g at epoch %d; expected a finite loss (lower lr)",
					  loss, e + 1);
				break;
			}
			nn_zero_grads(ae);
			nn_backward(ae);
			nn_opt_step(&opt, ae, e);
		}
	}
	for (size_t i = 0; !rc && i < ae->nparams; i++)
		if (!isfinite(ae->params[i]))
			rc = errf(err, errlen,
				  "reconstruct: training the autoencoder diverged: a parameter "
				  "became %g; expected finite weights (lower lr)",
				  ae->params[i]);
	nn_opt_free(&opt);
	free(perm);
	free(sidx);
	free(x);
	free(xn);
	return rc;
}

static int reconstruct_predict(struct wm_query *q, const float *x, int n, float *probs)
{
	struct atk_qctx *c = q->ctx;
	struct recon_state *st = c->state;
	float *xx = atk_wrap_buf(c, (size_t)n * q->in_size);

	reconstruct_batch(&st->ae, x, n, xx);
	q->queries += n;
	return q->inner->predict(q->inner, xx, n, probs);
}

static int reconstruct_wrap(const void *cfg, struct wm_query *outer, struct wm_query *inner,
			    const struct atk_env *env, struct rng *r, char *err, size_t errlen)
{
	const struct reconstruct_cfg *p = cfg;
	struct recon_state *st;
	char spec[160], sub[ERRBUF];

	if (!env || !env->train || !env->attacker_idx || env->n_attacker <= 0)
		return errf(err, errlen,
			    "reconstruct: the attacker has no training images to train its "
			    "autoencoder on; expected the job's attacker data (attacker_split > 0 "
			    "and attacker_data > 0)");
	const struct dataset *d = env->train;
	size_t D = (size_t)d->c * d->h * d->w;
	if (D != inner->in_size)
		return errf(err, errlen,
			    "reconstruct: the attacker's images are %dx%dx%d (%zu values) but the "
			    "model takes %zu values per query; expected the model's input shape",
			    d->c, d->h, d->w, D, inner->in_size);
	snprintf(spec, sizeof spec, "%dx%dx%d|flatten|dense enc %d|relu|dense dec %zu", d->c, d->h,
		 d->w, p->hidden, D);
	st = xcalloc(1, sizeof *st);
	if (nn_build_net(&st->ae, "reconstruct-ae", spec, sub, sizeof sub)) {
		free(st);
		return errf(err, errlen, "reconstruct: building the autoencoder: %s", sub);
	}
	nn_init_params(&st->ae, env->rng);
	if (train_ae(&st->ae, p, env, err, errlen)) {
		recon_free(st);
		return -1;
	}
	struct atk_qctx *c = atk_wrap_init(outer, inner, r, reconstruct_predict);
	c->state = st;
	c->free_state = recon_free;
	return 0;
}

/* Samples through the passes of the set-up: the autoencoder's training
 * (its pass per query comes later, in verification). */
static void reconstruct_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct reconstruct_cfg *p = cfg;

	*fwd = *bwd = (double)p->epochs * w->n;
}

const struct atk_attack atk_reconstruct = {
    .category = ATK_CAT_INPUT,
    .threat = ATK_T_DATA,
    .cfg_size = sizeof(struct reconstruct_cfg),
    .uses_attacker_data = 1,
    .name = "reconstruct",
    .summary = "query path: every query through the attacker's denoising autoencoder",
    .params = reconstruct_params,
    .query_path = 1,
    .wrap = reconstruct_wrap,
    .work = reconstruct_work,
};
