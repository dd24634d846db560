/* flip.c - query-path attack: every query is mirrored left to right (each
 * row of each channel reversed) before the model sees it. Horizontal flips
 * appear in the SoK's input pre-processing (Lukas et al., IEEE S&P 2022);
 * WRT attaches a flip wrapper inside its feature-regularisation attack, and
 * its CIFAR models trained with random flips, so mirroring cost them nothing.
 * Fashion-MNIST is different: the footwear classes all point one way, so a
 * model trained without flips loses accuracy on mirrored queries; read the
 * clean accuracy through this wrapper before calling a removal a success.
 * Position-bound triggers (nullembed's block, Adi's patterns) move to the
 * other side. No parameters; the model is untouched; no extra model pass. */
#include "common.h"

#include <stdlib.h>

struct flip_state {
	int C, H, W;
};

static int flip_predict(struct wm_query *q, const float *x, int n, float *probs)
{
	struct atk_qctx *c = q->ctx;
	const struct flip_state *s = c->state;
	size_t rows = (size_t)n * s->C * s->H, W = (size_t)s->W;
	float *xx = atk_wrap_buf(c, rows * W);

	for (size_t r = 0; r < rows; r++)
		for (size_t j = 0; j < W; j++)
			xx[r * W + j] = x[r * W + W - 1 - j];
	q->queries += n;
	return q->inner->predict(q->inner, xx, n, probs);
}

static int flip_wrap(const void *cfg, struct wm_query *outer, struct wm_query *inner,
		     const struct atk_env *env, struct rng *r, char *err, size_t errlen)
{
	int C, H, W;
	(void)cfg, (void)env;

	if (atk_wrap_shape(inner, "flip", &C, &H, &W, err, errlen))
		return -1;
	struct flip_state *s = xmalloc(sizeof *s);
	s->C = C, s->H = H, s->W = W;
	struct atk_qctx *c = atk_wrap_init(outer, inner, r, flip_predict);
	c->state = s;
	c->free_state = free;
	return 0;
}

static const struct param_def flip_params[] = {{0}};

const struct atk_attack atk_flip = {
    .category = ATK_CAT_INPUT,
    .threat = 0,
    .cfg_size = 0,
    .name = "flip",
    .summary = "query path: mirror every query left to right",
    .params = flip_params,
    .query_path = 1,
    .wrap = flip_wrap,
};
