/* nn_model.c - a model's life: building it from an architecture spec,
 * initialising, copying and freeing it, its activation buffers, and the
 * named views of its parameters and gradients (see nn.h). */
#include "nn.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_layer(struct nn_model *m, const char *tok, int *c, int *h, int *w, int *cm,
		     char *err, size_t errlen)
{
	struct nn_layer *l;
	char kind[16] = "", name[NN_NAMELEN] = "";
	int a = 0, b = 0, s = 1, p = 0, nf;
	float prob = 0;

	if (m->nlayers >= NN_MAXLAYERS)
		return errf(err, errlen, "architecture: more than %d layers", NN_MAXLAYERS);
	l = &m->layers[m->nlayers];
	memset(l, 0, sizeof *l);
	l->in_c = *c;
	l->in_h = *h;
	l->in_w = *w;
	if (sscanf(tok, "%15s", kind) != 1)
		return errf(err, errlen, "architecture: empty layer; expected a layer description");
	if (!strcmp(kind, "dense")) {
		nf = sscanf(tok, "%*s %31s %d", name, &a);
		if (nf != 2 || a < 1 || a > NN_MAXDIM)
			return errf(
			    err, errlen,
			    "architecture: '%s'; expected 'dense NAME OUT' with OUT in 1..%d", tok,
			    NN_MAXDIM);
		if (*cm || *h != 1 || *w != 1)
			return errf(
			    err, errlen,
			    "architecture: '%s' needs a flat input; expected 'flatten' before it",
			    tok);
		l->kind = NN_DENSE;
		l->out_c = a;
		l->out_h = l->out_w = 1;
		l->w_n = (size_t)a * *c;
		l->b_n = (size_t)a;
	} else if (!strcmp(kind, "conv")) {
		nf = sscanf(tok, "%*s %31s %d %d %d %d", name, &a, &b, &s, &p);
		if (nf != 5 || a < 1 || b < 1 || s < 1 || p < 0)
			return errf(err, errlen,
				    "architecture: '%s'; expected 'conv NAME OUT K STRIDE PAD'",
				    tok);
		if (!*cm && m->nlayers > 0)
			return errf(err, errlen, "architecture: '%s' after a flat layer", tok);
		l->kind = NN_CONV;
		l->k = b;
		l->stride = s;
		l->pad = p;
		l->out_c = a;
		if (a > NN_MAXDIM || b > NN_MAXDIM || s > NN_MAXDIM || p > NN_MAXDIM)
			return errf(
			    err, errlen,
			    "architecture: '%s'; expected OUT, K, STRIDE and PAD of at most "
			    "%d",
			    tok, NN_MAXDIM);
		l->out_h = (int)(((long long)*h + 2LL * p - b) / s + 1);
		l->out_w = (int)(((long long)*w + 2LL * p - b) / s + 1);
		l->w_n = (size_t)a * (size_t)*c * (size_t)b * (size_t)b;
		l->b_n = (size_t)a;
		l->chan_major = 1;
	} else if (!strcmp(kind, "maxpool")) {
		if (sscanf(tok, "%*s %d %d", &b, &s) != 2 || b < 1 || s < 1)
			return errf(err, errlen, "architecture: '%s'; expected 'maxpool K STRIDE'",
				    tok);
		if (!*cm && m->nlayers > 0)
			return errf(err, errlen,
				    "architecture: '%s' after a flat layer; expected it first or "
				    "after conv or maxpool",
				    tok);
		l->kind = NN_MAXPOOL;
		l->k = b;
		l->stride = s;
		l->out_c = *c;
		l->out_h = (*h - b) / s + 1;
		l->out_w = (*w - b) / s + 1;
		l->chan_major = 1;
	} else if (!strcmp(kind, "relu") || !strcmp(kind, "dropout")) {
		l->kind = kind[0] == 'r' ? NN_RELU : NN_DROPOUT;
		if (l->kind == NN_DROPOUT &&
		    (sscanf(tok, "%*s %f", &prob) != 1 || prob < 0 || prob >= 1))
			return errf(err, errlen,
				    "architecture: '%s'; expected 'dropout P' with P in [0, 1)",
				    tok);
		l->p = prob;
		l->out_c = *c;
		l->out_h = *h;
		l->out_w = *w;
		l->chan_major = *cm;
	} else if (!strcmp(kind, "flatten")) {
		l->kind = NN_FLATTEN;
		l->out_c = (int)((long long)*c * *h * *w); /* <= NN_MAXDIM: checked below */
		l->out_h = l->out_w = 1;
	} else {
		return errf(err, errlen,
			    "architecture: unknown layer '%s'; expected dense, conv, maxpool, "
			    "relu, flatten or dropout",
			    kind);
	}
	if ((long long)l->out_c * l->out_h * l->out_w > NN_MAXDIM || l->w_n > NN_MAXPARAMS)
		return errf(err, errlen,
			    "architecture: '%s' on a %dx%dx%d input is too large; expected at most "
			    "%d outputs and %d weights per layer",
			    tok, *c, *h, *w, NN_MAXDIM, NN_MAXPARAMS);
	if (l->out_h < 1 || l->out_w < 1 || *h + 2 * l->pad < l->k || *w + 2 * l->pad < l->k)
		return errf(err, errlen, "architecture: '%s' leaves no output for a %dx%d input",
			    tok, *h, *w);
	if (name[0])
		strlcopy(l->name, name, NN_NAMELEN);
	else
		snprintf(l->name, NN_NAMELEN, "%s%d", kind, m->nlayers);
	for (int i = 0; i < m->nlayers; i++)
		if (!strcmp(m->layers[i].name, l->name))
			return errf(err, errlen, "architecture: duplicate layer name '%s'",
				    l->name);
	*c = l->out_c;
	*h = l->out_h;
	*w = l->out_w;
	*cm = l->chan_major;
	m->nlayers++;
	return 0;
}

int nn_build_spec(struct nn_model *m, const char *arch, const char *spec, char *err, size_t errlen)
{
	return nn_build_spec_max(m, arch, spec, NN_MAXPARAMS, err, errlen);
}

/* nn_build_spec_max with the widest output allowed: NN_MAXCLASS for a
 * classifier, whose losses and predictions keep a row of logits on the stack,
 * NN_MAXDIM for nn_build_net's networks, which never reach them. */
static int build_spec(struct nn_model *m, const char *arch, const char *spec, size_t max_params,
		      int max_out, char *err, size_t errlen)
{
	char buf[512], *save = NULL, *tok;
	int c, h, w, cm = 0;

	memset(m, 0, sizeof *m);
	if (strlen(spec) >= sizeof buf)
		return errf(err, errlen, "architecture: spec longer than %zu characters",
			    sizeof buf - 1);
	strlcopy(m->arch, arch, NN_NAMELEN);
	strlcopy(m->spec, spec, sizeof m->spec);
	strlcopy(buf, spec, sizeof buf);
	tok = strtok_r(buf, "|", &save);
	if (!tok || sscanf(tok, "%dx%dx%d", &c, &h, &w) != 3 || c < 1 || h < 1 || w < 1)
		return errf(
		    err, errlen,
		    "architecture: '%s' does not start with the input shape; expected 'CxHxW|...'",
		    spec);
	if ((long long)c * h * w > NN_MAXDIM)
		return errf(err, errlen,
			    "architecture: input shape %dx%dx%d is too large; expected at most %d "
			    "elements",
			    c, h, w, NN_MAXDIM);
	m->in_c = c;
	m->in_h = h;
	m->in_w = w;
	while ((tok = strtok_r(NULL, "|", &save)))
		if (add_layer(m, tok, &c, &h, &w, &cm, err, errlen))
			return -1;
	if (!m->nlayers || m->layers[m->nlayers - 1].kind != NN_DENSE)
		return errf(err, errlen, "architecture: '%s' must end with a dense layer", spec);
	if (c > max_out)
		return errf(err, errlen, "architecture: %d classes; expected at most %d", c,
			    max_out);
	m->nclass = c;
	size_t off = 0;
	for (int i = 0; i < m->nlayers; i++) {
		struct nn_layer *l = &m->layers[i];
		if (!nn_has_params(l))
			continue;
		l->w_off = off;
		off += l->w_n;
		l->b_off = off;
		off += l->b_n;
	}
	if (off > max_params)
		return errf(err, errlen,
			    "architecture: '%s' has %zu parameters; expected at most %zu (the "
			    "limit, or what a model file's float arrays hold)",
			    spec, off, max_params);
	m->nparams = off;
	m->params = xcalloc(off, sizeof(float));
	m->grads = xcalloc(off, sizeof(float));
	return 0;
}

int nn_build_spec_max(struct nn_model *m, const char *arch, const char *spec, size_t max_params,
		      char *err, size_t errlen)
{
	return build_spec(m, arch, spec, max_params, NN_MAXCLASS, err, errlen);
}

int nn_build_net(struct nn_model *m, const char *arch, const char *spec, char *err, size_t errlen)
{
	return build_spec(m, arch, spec, NN_MAXPARAMS, NN_MAXDIM, err, errlen);
}

int nn_create(struct nn_model *m, const char *arch, int c, int h, int w, int nclass, struct rng *r,
	      char *err, size_t errlen)
{
	const char *spec = nn_arch_spec(arch);
	if (!spec)
		return errf(err, errlen, "unknown model '%s'; expected one of %s", arch,
			    nn_arch_list());
	if (nn_build_spec(m, arch, spec, err, errlen))
		return -1;
	if (m->in_c != c || m->in_h != h || m->in_w != w || m->nclass != nclass) {
		char fits[256], expect[320];

		nn_arch_names(fits, sizeof fits, ", ", " or ", c, h, w);
		if (fits[0])
			snprintf(expect, sizeof expect, "model %s for %dx%dx%d data", fits, c, h,
				 w);
		else
			snprintf(expect, sizeof expect,
				 "a model taking %dx%dx%d inputs (none of %s does)", c, h, w,
				 nn_arch_list());
		errf(err, errlen,
		     "model '%s' takes %dx%dx%d inputs and %d classes, but the data is %dx%dx%d "
		     "with %d classes; expected %s",
		     arch, m->in_c, m->in_h, m->in_w, m->nclass, c, h, w, nclass, expect);
		nn_free(m);
		return -1;
	}
	nn_init_params(m, r);
	return 0;
}

void nn_reinit_layer(struct nn_model *m, int li, struct rng *r)
{
	struct nn_layer *l = &m->layers[li];
	if (!nn_has_params(l))
		return;
	size_t fan_in = l->w_n / (size_t)l->out_c;
	double bound = 1.0 / sqrt((double)fan_in);
	for (size_t i = 0; i < l->w_n; i++)
		m->params[l->w_off + i] = (float)((2 * rng_uniform(r) - 1) * bound);
	for (size_t i = 0; i < l->b_n; i++)
		m->params[l->b_off + i] = (float)((2 * rng_uniform(r) - 1) * bound);
}

void nn_init_params(struct nn_model *m, struct rng *r)
{
	for (int i = 0; i < m->nlayers; i++)
		nn_reinit_layer(m, i, r);
}

static void free_acts(struct nn_model *m)
{
	free(m->input);
	free(m->dinput);
	free(m->dinput_cm);
	free(m->dcol);
	m->input = m->dinput = m->dinput_cm = m->dcol = NULL;
	for (int i = 0; i < NN_MAXLAYERS; i++) {
		free(m->acts_buf[i]);
		free(m->dacts[i]);
		free(m->pool_idx[i]);
		free(m->drop_mask[i]);
		free(m->cols[i]);
		free(m->cpad[i]);
		free(m->cscratch[i]);
		free(m->dxpad[i]);
		free(m->dxscratch[i]);
		m->cols[i] = m->cpad[i] = m->cscratch[i] = m->dxpad[i] = m->dxscratch[i] = NULL;
		m->acts[i] = m->acts_buf[i] = m->dacts[i] = NULL;
		m->pool_idx[i] = NULL;
		m->drop_mask[i] = NULL;
	}
	m->max_b = 0;
}

void nn_free(struct nn_model *m)
{
	free_acts(m);
	free(m->params);
	free(m->grads);
	m->params = m->grads = NULL;
}

void nn_copy(struct nn_model *dst, const struct nn_model *src)
{
	memset(dst, 0, sizeof *dst);
	memcpy(dst->arch, src->arch, sizeof dst->arch);
	memcpy(dst->spec, src->spec, sizeof dst->spec);
	dst->in_c = src->in_c;
	dst->in_h = src->in_h;
	dst->in_w = src->in_w;
	dst->nclass = src->nclass;
	dst->nlayers = src->nlayers;
	memcpy(dst->layers, src->layers, sizeof dst->layers);
	dst->nparams = src->nparams;
	dst->params = xmalloc(src->nparams * sizeof(float));
	memcpy(dst->params, src->params, src->nparams * sizeof(float));
	dst->grads = xcalloc(src->nparams, sizeof(float));
}

void nn_reserve(struct nn_model *m, int b)
{
	size_t col_n = 0;
	if (b <= m->max_b)
		return;
	free_acts(m);
	m->max_b = b;
	size_t in = nn_in_size(m) * (size_t)b;
	m->input = xmalloc(in * sizeof(float));
	m->dinput = xmalloc(in * sizeof(float));
	m->dinput_cm = xmalloc(in * sizeof(float));
	for (int i = 0; i < m->nlayers; i++) {
		struct nn_layer *l = &m->layers[i];
		size_t n = nn_out_size(l) * (size_t)b;
		m->acts[i] = m->acts_buf[i] = xmalloc(n * sizeof(float));
		m->dacts[i] = xmalloc(n * sizeof(float));
		if (l->kind == NN_MAXPOOL)
			m->pool_idx[i] = xmalloc(n * sizeof(int));
		if (l->kind == NN_DROPOUT)
			m->drop_mask[i] = xmalloc(n);
		if (l->kind == NN_CONV) { /* cols[i] is allocated by the first GEMM forward */
			size_t cn = (size_t)l->in_c * l->k * l->k * l->out_h * l->out_w * b;
			if (cn > col_n)
				col_n = cn;
		}
	}
	memset(m->dstale, 1, sizeof m->dstale); /* fresh buffers: logically zero */
	m->col_n = col_n;
	if (col_n)
		m->dcol = xmalloc(col_n * sizeof(float));
}

int nn_find_layer(const struct nn_model *m, const char *name)
{
	for (int i = 0; i < m->nlayers; i++)
		if (!strcmp(m->layers[i].name, name))
			return i;
	return -1;
}

int nn_last_param_layer(const struct nn_model *m)
{
	for (int i = m->nlayers - 1; i >= 0; i--)
		if (nn_has_params(&m->layers[i]))
			return i;
	return -1;
}

static float *view(struct nn_model *m, float *base, const char *name, size_t *n)
{
	char lname[NN_NAMELEN];
	const char *dot = strrchr(name, '.');
	if (!dot || (size_t)(dot - name) >= NN_NAMELEN)
		return NULL;
	memcpy(lname, name, (size_t)(dot - name));
	lname[dot - name] = 0;
	int i = nn_find_layer(m, lname);
	if (i < 0 || !nn_has_params(&m->layers[i]))
		return NULL;
	struct nn_layer *l = &m->layers[i];
	if (!strcmp(dot + 1, "weight")) {
		if (n)
			*n = l->w_n;
		return base + l->w_off;
	}
	if (!strcmp(dot + 1, "bias")) {
		if (n)
			*n = l->b_n;
		return base + l->b_off;
	}
	return NULL;
}

float *nn_param(struct nn_model *m, const char *name, size_t *n)
{
	return view(m, m->params, name, n);
}

float *nn_grad(struct nn_model *m, const char *name, size_t *n)
{
	return view(m, m->grads, name, n);
}

void nn_zero_grads(struct nn_model *m)
{
	memset(m->grads, 0, m->nparams * sizeof(float));
}
