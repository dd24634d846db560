/* nn.c - the training driver: forward and backward over a batch, the
 * losses, predictions and batches (see nn.h for layouts). The layers are in
 * nn_layers.c, the model's life in nn_model.c, the optimisers in nn_opt.c,
 * the named models in nn_arch.c. */
#include "nn.h"
#include "nn_internal.h"
#include "util.h"

#include <math.h>
#include <string.h>

struct nn_count nn_count;
struct nn_prof nn_prof;

/* Layer i is a ReLU and layer i + 1 a 2x2 max-pool of stride 2. */
static int pool2_after(const struct nn_model *m, int i)
{
	const struct nn_layer *p = &m->layers[i + 1];
	return m->layers[i].kind == NN_RELU && i + 1 < m->nlayers && p->kind == NN_MAXPOOL &&
	       p->k == 2 && p->stride == 2;
}

int nn_relu_fused(const struct nn_model *m, int i)
{
	return i >= 0 && i + 1 < m->nlayers && pool2_after(m, i);
}

/* Layers from..L-1 of the forward pass, on m->input or acts[from - 1]. */
static float *forward_layers(struct nn_model *m, int from, int B, int training, struct rng *r)
{
	for (int i = from; i < m->nlayers; i++) {
		const struct nn_layer *l = &m->layers[i];
		const float *in = i ? m->acts[i - 1] : m->input;
		int in_cm = i ? m->layers[i - 1].chan_major : l->chan_major;
		float *out = m->acts[i];
		size_t n = nn_out_size(l) * B;
		double t0 = nn_prof.on ? now_seconds() : 0;
		switch (l->kind) {
		case NN_DENSE:
			nn_dense_forward(m, l, B, in, out);
			break;
		case NN_CONV:
			nn_conv_forward(m, l, B, in, out);
			break;
		case NN_MAXPOOL:
			nn_maxpool_forward(l, B, in, out, m->pool_idx[i]);
			break;
		case NN_RELU:
			if (pool2_after(m, i)) { /* both layers in one pass */
				nn_relu_pool_forward(&m->layers[i + 1], B, in,
						     training && m->relu_out_unread ? NULL : out,
						     m->acts[i + 1], m->pool_idx[i + 1]);
				if (nn_prof.on)
					nn_prof.fwd[i] += now_seconds() - t0;
				i++;
				continue;
			}
			nn_relu_forward(in, out, n);
			break;
		case NN_FLATTEN:
			nn_flatten_forward(l, B, in_cm, in, out);
			break;
		case NN_DROPOUT:
			/* the identity outside training: its output is its input, not a
			 * copy (2 MB per dropout of an mlp at batch 1,024) */
			if (training && l->p > 0) {
				m->acts[i] = m->acts_buf[i];
				nn_dropout_forward(l, r, in, m->acts[i], m->drop_mask[i], n);
			} else {
				m->acts[i] = (float *)in;
			}
			break;
		}
		if (nn_prof.on)
			nn_prof.fwd[i] += now_seconds() - t0;
	}
	return m->acts[m->nlayers - 1];
}

float *nn_forward(struct nn_model *m, const float *x, int B, int training, struct rng *r)
{
	nn_count.forward += B;
	nn_reserve(m, B);
	m->last_b = B;
	m->training = training;
	m->relu_out_skipped = training && m->relu_out_unread;
	size_t S = (size_t)m->in_h * m->in_w;
	if (m->layers[0].chan_major && m->in_c > 1)
		nn_to_chan_major(x, m->input, B, m->in_c, S);
	else
		memcpy(m->input, x, nn_in_size(m) * B * sizeof(float));
	return forward_layers(m, 0, B, training, r);
}

float *nn_forward_from(struct nn_model *m, int from, int B)
{
	nn_count.forward += B;
	m->last_b = B;
	m->training = 0; /* the layers below keep what they held */
	return forward_layers(m, from, B, 0, NULL);
}

/* Zeroing every activation gradient of lenet5 before each backward pass took
 * about 5 % of a training step; most buffers are then written whole by the
 * layer below them, so they are only marked (nn.h, dstale). */
void nn_zero_act_grads(struct nn_model *m)
{
	memset(m->dstale, 1, sizeof m->dstale);
}

float *nn_dact(struct nn_model *m, int i)
{
	if (m->dstale[i]) {
		memset(m->dacts[i], 0, nn_out_size(&m->layers[i]) * m->last_b * sizeof(float));
		m->dstale[i] = 0;
	}
	return m->dacts[i];
}

static void softmax_row(const float *z, float *p, int n)
{
	float mx = z[0];
	for (int i = 1; i < n; i++)
		if (z[i] > mx)
			mx = z[i];
	double s = 0;
	for (int i = 0; i < n; i++) {
		p[i] = expf(z[i] - mx);
		s += p[i];
	}
	for (int i = 0; i < n; i++)
		p[i] = (float)(p[i] / s);
}

double nn_loss_xent(struct nn_model *m, const int *y, double scale)
{
	int B = m->last_b, C = m->nclass;
	const float *z = m->acts[m->nlayers - 1];
	float *dz = nn_dact(m, m->nlayers - 1), p[NN_MAXCLASS];
	double loss = 0;
	for (int b = 0; b < B; b++) {
		softmax_row(z + (size_t)b * C, p, C);
		loss -= log(isnan(p[y[b]]) ? p[y[b]] : fmax(p[y[b]], 1e-30));
		p[y[b]] -= 1.0f;
		for (int c = 0; c < C; c++)
			dz[(size_t)b * C + c] += (float)(scale * p[c] / B);
	}
	return loss / B;
}

double nn_loss_soft(struct nn_model *m, const float *q, double scale)
{
	int B = m->last_b, C = m->nclass;
	const float *z = m->acts[m->nlayers - 1];
	float *dz = nn_dact(m, m->nlayers - 1), p[NN_MAXCLASS];
	double loss = 0;
	for (int b = 0; b < B; b++) {
		const float *qb = q + (size_t)b * C;
		softmax_row(z + (size_t)b * C, p, C);
		for (int c = 0; c < C; c++) {
			if (qb[c] > 0)
				loss -= qb[c] * log(isnan(p[c]) ? p[c] : fmax(p[c], 1e-30));
			dz[(size_t)b * C + c] += (float)(scale * (p[c] - qb[c]) / B);
		}
	}
	return loss / B;
}

void nn_backward(struct nn_model *m)
{
	int B = m->last_b, first = 0;
	nn_count.backward += B;
	/* below the first layer with parameters, gradients are only needed for dinput */
	while (first < m->nlayers && !nn_has_params(&m->layers[first]))
		first++;
	for (int i = m->nlayers - 1; i >= 0; i--) {
		const struct nn_layer *l = &m->layers[i];
		const float *in = i ? m->acts[i - 1] : m->input;
		int in_cm = i ? m->layers[i - 1].chan_major : l->chan_major;
		int di = i ? i - 1 : NN_MAXLAYERS; /* din's stale flag */
		float *din = i ? m->dacts[i - 1] : m->dinput_cm;
		if (i <= first && !m->want_dinput)
			din = NULL;
		size_t n = nn_out_size(l) * B;
		if (!din && !nn_has_params(l))
			continue;
		const float *dout = nn_dact(m, i);
		int set = din && m->dstale[di];
		double t0 = nn_prof.on ? now_seconds() : 0;
		/* a max-pool over a ReLU with nothing added between them: both
		 * layers in one pass, into the ReLU's input gradient */
		if (l->kind == NN_MAXPOOL && i >= 1 && pool2_after(m, i - 1) && m->dstale[i - 1] &&
		    (i - 1 > first || m->want_dinput)) {
			int dj = i >= 2 ? i - 2 : NN_MAXLAYERS;
			float *dr = i >= 2 ? m->dacts[i - 2] : m->dinput_cm;
			nn_relu_pool_backward(l, B, m->acts[i], dout, m->pool_idx[i], dr,
					      m->dstale[dj]);
			m->dstale[dj] = 0;
			if (nn_prof.on)
				nn_prof.bwd[i] += now_seconds() - t0;
			i--;
			continue;
		}
		switch (l->kind) {
		case NN_DENSE:
			nn_dense_backward(m, l, B, in, dout, din, set);
			break;
		case NN_CONV:
			nn_conv_backward(m, l, B, in, dout, din, set);
			break;
		case NN_MAXPOOL:
			nn_maxpool_backward(l, B, dout, m->pool_idx[i], din, set);
			break;
		case NN_RELU:
			nn_relu_backward(din, m->acts[i], dout, n, set);
			break;
		case NN_FLATTEN:
			nn_flatten_backward(l, B, in_cm, dout, din, set);
			break;
		case NN_DROPOUT:
			nn_dropout_backward(l, m->training, m->drop_mask[i], dout, din, n, set);
			break;
		}
		if (din)
			m->dstale[di] = 0;
		if (nn_prof.on)
			nn_prof.bwd[i] += now_seconds() - t0;
	}
	if (m->want_dinput) {
		size_t S = (size_t)m->in_h * m->in_w;
		if (m->layers[0].chan_major && m->in_c > 1)
			nn_from_chan_major(m->dinput_cm, m->dinput, B, m->in_c, S);
		else
			memcpy(m->dinput, m->dinput_cm, nn_in_size(m) * B * sizeof(float));
	}
}

int nn_argmax(const float *v, int n)
{
	int best = 0;
	for (int i = 1; i < n; i++)
		if (v[i] > v[best])
			best = i;
	return best;
}

void nn_predict_proba(struct nn_model *m, const float *x, int n, float *probs)
{
	size_t d = nn_in_size(m);
	for (int s = 0; s < n; s += 256) {
		int B = n - s < 256 ? n - s : 256;
		const float *z = nn_forward(m, x + (size_t)s * d, B, 0, NULL);
		for (int b = 0; b < B; b++)
			softmax_row(z + (size_t)b * m->nclass, probs + ((size_t)s + b) * m->nclass,
				    m->nclass);
	}
}

void nn_fill_batch(const uint8_t *xs, const uint8_t *ys, size_t sample_size, const uint32_t *idx,
		   int B, float *x, int *y)
{
	static const float inv = 1.0f / 255.0f;
	for (int b = 0; b < B; b++) {
		const uint8_t *s = xs + (size_t)idx[b] * sample_size;
		float *d = x + (size_t)b * sample_size;
		for (size_t i = 0; i < sample_size; i++)
			d[i] = s[i] * inv;
		if (y)
			y[b] = ys[idx[b]];
	}
}
