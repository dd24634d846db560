/* permute.c - feature permutation (white-box, no data): the hidden units of
 * every hidden dense or conv layer are reordered without changing the
 * function the model computes (ATTACKS-MORE.md section 5; the SoK's
 * "Feature Permutation", Lukas et al., S&P 2022).
 *
 * Every hidden parameter layer l gets its own random permutation P from
 * env->rng, drawn in layer order from the input side: W_l -> P W_l,
 * b_l -> P b_l, and the next parameter layer's inputs W_{l+1} -> W_{l+1} P^T.
 * A conv layer's units are its output channels (filters and biases); the
 * next conv's input channels are blocks of K*K entries of each filter, and
 * at conv -> (maxpool) -> flatten -> dense the dense layer's input columns
 * are blocks of H*W, because the engine flattens in PyTorch's (c, h, w)
 * order (nn.h; nn_flatten_forward writes channel c of a sample at columns
 * c*H*W .. c*H*W + H*W - 1). In every case the next layer's weight row is
 * units x g entries, unit j owning entries j*g .. j*g + g - 1. ReLU,
 * max-pool, dropout and flatten act per channel (or per feature) and pass a
 * permutation through. The engine has no batch norm; a layer kind that
 * needed its own permuting would be refused here (see homogeneous()). The
 * output layer's units are the classes and are never permuted.
 *
 * Parameters:
 * - layers: all (default: every hidden dense/conv layer) or names, separated
 *   by ',' (or by '/', which also works inside a chain step, where ','
 *   separates the step's parameters). Only those layers' units move; the
 *   next layer's input columns follow. Before any work the names are checked
 *   against the zoo (nn_archs, the only models a run attacks): a name that
 *   is no hidden dense/conv layer of any model, or the output layer of every
 *   model that has it (fc3), is refused; apply checks them again against the
 *   model at hand before it changes anything (conv1 on mlp, fc2 of cnn).
 * - scale: 0 (default) or 1. With 1, unit i's incoming weights and bias are
 *   also multiplied by c_i, log-uniform in [0.5, 2], and its outgoing weights
 *   divided by c_i. That is exact (up to rounding) through ReLU, max-pool,
 *   dropout and flatten, which are positive-homogeneous; a layer in between
 *   that is not (sigmoid, tanh, batch norm, if the engine gains one) makes
 *   apply refuse scale=1.
 * - realign: 0 (default) or 1. With 1 the attack's result is "permute, then
 *   the owner re-aligns": an owner who kept the original weights undoes the
 *   reordering before verifying. Apply copies the model first (nn_copy),
 *   permutes, then, for every hidden layer from the input side (whatever
 *   `layers` said: the owner does not know what moved), matches the
 *   attacked units to the original's by their incoming weight vectors
 *   (weights and bias) with the Hungarian assignment that maximises the sum
 *   of Pearson correlations, puts them back in the original order (the next
 *   layer's inputs follow, so the next layer is compared in the matched
 *   order), and divides each unit by the least-squares positive factor
 *   <a, o> / <o, o> between its incoming vector a and the original's o (its
 *   outgoing weights multiplied by it), which undoes scale=1. Every step of
 *   re-alignment keeps the function unchanged too. For a pure permutation
 *   the match is exact and the weights come back bit for bit; with scale=1
 *   they come back within rounding. After permute and fine-tuning (a chain)
 *   re-alignment would only be approximate; it is not offered there, since a
 *   chain step does not have the original weights.
 *
 * What a verifier can re-align: white-box schemes that read weights or
 * activations indexed by units (uchida, whose w is indexed by the marked
 * layer's inputs, i.e. the previous layer's units; deepsigns white-box, whose
 * projection reads the marked layer's activations) are broken by realign=0
 * and fully restored, exactly, by realign=1 for a pure permutation.
 * Black-box schemes and gradsigns (input gradients) see an unchanged
 * function, so there is nothing to re-align: their verdicts are the same
 * before and after, with either setting.
 *
 * Deviations: WRT's feature_shuffling only sets a flag read by code that
 * uses an undefined attribute and would permute the batch axis, so it
 * changes no weight and the SoK's numbers cannot be reproduced; this is
 * written from the spec instead. realign = 0 is the default, as the spec
 * assumes the SoK counted breaks without re-alignment (an assumption, not
 * checked in the text); run both and report both. Cost: one pass over the
 * parameters (realign: one n x n Hungarian assignment per hidden layer,
 * n <= 512 in the zoo). */
#include "common.h"
#include "../workers/util.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

/* The parameters, as the plug-in receives them (table below). */
struct permute_cfg {
	char layers[PARAM_VALLEN];
	int scale;
	int realign;
};

static const struct param_def permute_params[] = {
    {"layers", PT_STRING, "all", 0, 0, NULL,
     "hidden dense/conv layers whose units are permuted: all, or names separated by ',' (or "
     "'/', e.g. inside a chain step)",
     offsetof(struct permute_cfg, layers)},
    {"scale", PT_INT, "0", 0, 1, NULL,
     "1: also multiply unit i's incoming weights and bias by c_i (log-uniform in [0.5, 2]) and "
     "divide its outgoing weights by c_i",
     offsetof(struct permute_cfg, scale)},
    {"realign", PT_INT, "0", 0, 1, NULL,
     "1: the owner then re-aligns the units to the original weights (Hungarian matching of "
     "incoming weights); the result is the re-aligned model",
     offsetof(struct permute_cfg, realign)},
    {0}};

#define SCALE_MIN 0.5
#define SCALE_MAX 2.0

/* ---- the layers parameter ------------------------------------------------ */

struct names {
	int n; /* 0: all */
	char name[NN_MAXLAYERS][NN_NAMELEN];
};

/* Splits a layers value into names (n = 0 for "all"); refuses empty items,
 * over-long names, duplicates and "all" mixed with names. */
static int parse_names(const char *v, struct names *out, char *err, size_t errlen)
{
	const char *s = v;

	out->n = 0;
	if (!strcmp(v, "all"))
		return 0;
	for (;;) {
		size_t len = strcspn(s, ",/");
		char name[NN_NAMELEN];

		if (len == 0)
			return errf(
			    err, errlen,
			    "permute: parameter 'layers' = '%s' has an empty name; expected "
			    "'all' or layer names separated by ',' or '/'",
			    v);
		if (len >= NN_NAMELEN)
			return errf(err, errlen,
				    "permute: parameter 'layers' = '%s' has a name longer than %d "
				    "characters; expected layer names",
				    v, NN_NAMELEN - 1);
		memcpy(name, s, len);
		name[len] = 0;
		if (!strcmp(name, "all"))
			return errf(err, errlen,
				    "permute: parameter 'layers' = '%s' mixes 'all' with names; "
				    "expected 'all' alone or layer names",
				    v);
		for (int i = 0; i < out->n; i++)
			if (!strcmp(out->name[i], name))
				return errf(err, errlen,
					    "permute: parameter 'layers' = '%s' names '%s' twice; "
					    "expected each layer once",
					    v, name);
		if (out->n == NN_MAXLAYERS)
			return errf(err, errlen,
				    "permute: parameter 'layers' = '%s' names more than %d layers",
				    v, NN_MAXLAYERS);
		strlcopy(out->name[out->n++], name, NN_NAMELEN);
		if (!s[len])
			return 0;
		s += len + 1;
	}
}

/* Appends s to buf (of size len), truncating. */
static void append(char *buf, size_t len, const char *s)
{
	size_t n = strlen(buf);

	if (n + 1 < len)
		strlcopy(buf + n, s, len - n);
}

/* Walks the dense/conv layers of a zoo spec ("CxHxW|dense fc1 512|..."):
 * calls f(name, is_output, ctx) for each. */
static void spec_param_layers(const char *spec, void (*f)(const char *, int, void *), void *ctx)
{
	char names[NN_MAXLAYERS][NN_NAMELEN];
	int n = 0;

	for (const char *s = spec; s && *s && n < NN_MAXLAYERS;) {
		char kind[16], name[NN_NAMELEN];
		size_t len = strcspn(s, "|");
		char tok[128];

		snprintf(tok, sizeof tok, "%.*s", (int)(len < sizeof tok ? len : sizeof tok - 1),
			 s);
		if (sscanf(tok, "%15s %31s", kind, name) == 2 &&
		    (!strcmp(kind, "dense") || !strcmp(kind, "conv")))
			strlcopy(names[n++], name, NN_NAMELEN);
		s += len;
		if (*s)
			s++;
	}
	for (int i = 0; i < n; i++)
		f(names[i], i == n - 1, ctx);
}

/* What the zoo says about one name: hidden in some model, output in which. */
struct zoo_look {
	const char *name;
	int hidden;
	char outputs[128];
	const char *arch;
};

static void look_one(const char *name, int is_output, void *ctx)
{
	struct zoo_look *z = ctx;

	if (strcmp(name, z->name))
		return;
	if (!is_output) {
		z->hidden = 1;
		return;
	}
	if (z->outputs[0])
		append(z->outputs, sizeof z->outputs, ", ");
	append(z->outputs, sizeof z->outputs, z->arch);
}

/* "mlp: fc1, fc2; lenet5: conv1, ..." - the hidden layers of every zoo model. */
struct zoo_list {
	char *buf;
	size_t len;
	int first;
};

static void list_one(const char *name, int is_output, void *ctx)
{
	struct zoo_list *z = ctx;

	if (is_output)
		return;
	append(z->buf, z->len, z->first ? " " : ", ");
	append(z->buf, z->len, name);
	z->first = 0;
}

static void zoo_hidden(char *buf, size_t len)
{
	struct zoo_list z = {buf, len, 1};

	buf[0] = 0;
	for (const struct nn_arch *a = nn_archs; a->name; a++) {
		if (buf[0])
			append(buf, len, "; ");
		append(buf, len, a->name);
		append(buf, len, ":");
		z.first = 1;
		spec_param_layers(strchr(a->spec, '|'), list_one, &z);
	}
}

static int permute_check(const void *cfg, char *err, size_t errlen)
{
	const struct permute_cfg *p = cfg;
	struct names nm;
	char known[400];

	if (parse_names(p->layers, &nm, err, errlen))
		return -1;
	for (int i = 0; i < nm.n; i++) {
		struct zoo_look z = {.name = nm.name[i]};

		for (const struct nn_arch *a = nn_archs; a->name; a++) {
			z.arch = a->name;
			spec_param_layers(strchr(a->spec, '|'), look_one, &z);
		}
		if (z.hidden)
			continue;
		zoo_hidden(known, sizeof known);
		if (z.outputs[0])
			return errf(err, errlen,
				    "permute: parameter 'layers' = '%s': '%s' is the output layer "
				    "of %s, whose units are the classes and are never permuted; "
				    "expected 'all' or hidden dense/conv layers (%s)",
				    p->layers, nm.name[i], z.outputs, known);
		return errf(err, errlen,
			    "permute: parameter 'layers' = '%s': '%s' is no dense or conv layer of "
			    "any model; expected 'all' or hidden dense/conv layers (%s)",
			    p->layers, nm.name[i], known);
	}
	return 0;
}

/* ---- the model's hidden layers ------------------------------------------- */

/* Layer li's unit structure: nx is the next parameter layer, whose weight
 * rows hold li's units as blocks of g entries (g = 1 for dense -> dense,
 * K*K for conv -> conv, H*W for conv -> flatten -> dense). */
struct hidden {
	int li, nx;
	int units;  /* li's output units (channels) */
	size_t fan; /* entries of one unit's incoming weights (without bias) */
	size_t g;   /* entries per unit in a row of nx */
	size_t row; /* nx's row length, units * g */
};

static const char *kind_name(enum nn_kind k)
{
	switch (k) {
	case NN_DENSE:
		return "dense";
	case NN_CONV:
		return "conv";
	case NN_MAXPOOL:
		return "maxpool";
	case NN_RELU:
		return "relu";
	case NN_FLATTEN:
		return "flatten";
	case NN_DROPOUT:
		return "dropout";
	}
	return "unknown";
}

/* Whether every layer strictly between h->li and h->nx acts on each channel
 * (or feature) alone, so that reordering channels commutes with it: 0, or -1
 * naming the first that does not. positive != 0 also asks for positive
 * homogeneity (f(c x) = c f(x), c > 0), which scaling needs. Every kind the
 * engine has between parameter layers (relu, maxpool, dropout, flatten) is
 * both; a sigmoid or tanh would pass the first test only, and a batch norm
 * neither (its statistics would have to be permuted with the channels), so
 * each needs its own case here when the engine gains it. */
static int passes(const struct nn_model *m, const struct hidden *h, int positive, char *err,
		  size_t errlen)
{
	for (int i = h->li + 1; i < h->nx; i++) {
		const struct nn_layer *l = &m->layers[i];

		switch (l->kind) {
		case NN_RELU:
		case NN_MAXPOOL:
		case NN_DROPOUT:
		case NN_FLATTEN:
			continue;
		default:
			break;
		}
		if (positive)
			return errf(err, errlen,
				    "permute: parameter 'scale' = '1' needs positive-homogeneous "
				    "layers (relu, maxpool, dropout, flatten) between '%s' and "
				    "'%s', but '%s' is %s; expected scale=0 for this model",
				    m->layers[h->li].name, m->layers[h->nx].name, l->name,
				    kind_name(l->kind));
		return errf(err, errlen,
			    "permute: layer '%s' (%s) between '%s' and '%s' does not act per "
			    "channel; this model cannot be permuted",
			    l->name, kind_name(l->kind), m->layers[h->li].name,
			    m->layers[h->nx].name);
	}
	return 0;
}

/* The hidden parameter layers of m in order (all but the last parameter
 * layer), into hs; returns their count or -1. */
static int hidden_layers(const struct nn_model *m, struct hidden *hs, char *err, size_t errlen)
{
	int n = 0, last = nn_last_param_layer(m);

	for (int li = 0; li < last; li++) {
		const struct nn_layer *l = &m->layers[li];
		struct hidden *h = &hs[n];
		int nx = li + 1;

		if (!nn_has_params(l))
			continue;
		while (!nn_has_params(&m->layers[nx]))
			nx++;
		const struct nn_layer *x = &m->layers[nx];
		h->li = li;
		h->nx = nx;
		h->units = l->out_c;
		h->fan = l->w_n / (size_t)l->out_c;
		h->row = x->w_n / (size_t)x->out_c;
		h->g = h->row / (size_t)h->units;
		if (h->g * (size_t)h->units != h->row || h->g == 0)
			return errf(
			    err, errlen,
			    "permute: layer '%s' has %zu inputs per unit, not a multiple of "
			    "the %d units of '%s'; expected a model whose layers keep "
			    "channels apart",
			    x->name, h->row, h->units, l->name);
		if (passes(m, h, 0, err, errlen))
			return -1;
		n++;
	}
	return n;
}

/* ---- reordering ---------------------------------------------------------- */

/* Reorders h's units: new unit i is old unit p[i], with its incoming weights
 * and bias multiplied by c[i] and its outgoing weights (its block in every
 * row of the next layer) divided by c[i] (c NULL: unscaled, a pure copy). */
static void reorder(struct nn_model *m, const struct hidden *h, const uint32_t *p, const double *c)
{
	const struct nn_layer *l = &m->layers[h->li], *x = &m->layers[h->nx];
	size_t n = (size_t)h->units;
	size_t tmp_n = n * h->fan > h->row ? n * h->fan : h->row;
	float *tmp = xmalloc(tmp_n * sizeof(float));
	float *W = m->params + l->w_off, *b = m->params + l->b_off;
	float *X = m->params + x->w_off;

	memcpy(tmp, W, n * h->fan * sizeof(float));
	for (size_t i = 0; i < n; i++) {
		const float *src = tmp + (size_t)p[i] * h->fan;
		float *dst = W + i * h->fan;
		if (!c) {
			memcpy(dst, src, h->fan * sizeof(float));
			continue;
		}
		for (size_t k = 0; k < h->fan; k++)
			dst[k] = (float)(src[k] * c[i]);
	}
	memcpy(tmp, b, n * sizeof(float));
	for (size_t i = 0; i < n; i++)
		b[i] = c ? (float)(tmp[p[i]] * c[i]) : tmp[p[i]];
	for (int o = 0; o < x->out_c; o++) {
		float *row = X + (size_t)o * h->row;

		memcpy(tmp, row, h->row * sizeof(float));
		for (size_t i = 0; i < n; i++) {
			const float *src = tmp + (size_t)p[i] * h->g;
			float *dst = row + i * h->g;
			if (!c) {
				memcpy(dst, src, h->g * sizeof(float));
				continue;
			}
			for (size_t k = 0; k < h->g; k++)
				dst[k] = (float)(src[k] / c[i]);
		}
	}
	free(tmp);
}

/* ---- re-alignment -------------------------------------------------------- */

/* Hungarian algorithm (shortest augmenting paths with potentials), O(n^3):
 * the assignment of rows to columns of the n x n cost matrix a (row-major)
 * with the least total cost; col_of[r] gets row r's column. */
static void hungarian(const double *a, int n, int *col_of)
{
	/* 1-based internally; index 0 is the virtual row/column the path
	 * starts from. */
	double *u = xcalloc((size_t)n + 1, sizeof *u), *v = xcalloc((size_t)n + 1, sizeof *v);
	double *minv = xmalloc(((size_t)n + 1) * sizeof *minv);
	int *row_of = xcalloc((size_t)n + 1, sizeof *row_of); /* column j's row, 0: free */
	int *way = xcalloc((size_t)n + 1, sizeof *way);
	char *used = xmalloc((size_t)n + 1);

	for (int r = 1; r <= n; r++) {
		int j0 = 0;

		row_of[0] = r;
		for (int j = 0; j <= n; j++)
			minv[j] = DBL_MAX;
		memset(used, 0, (size_t)n + 1);
		/* grow a tree of tight edges from row r until it reaches a free
		 * column, raising the potentials by the least slack each time */
		do {
			int r0 = row_of[j0], j1 = 0;
			double delta = DBL_MAX;

			used[j0] = 1;
			for (int j = 1; j <= n; j++) {
				if (used[j])
					continue;
				double slack = a[(size_t)(r0 - 1) * n + (j - 1)] - u[r0] - v[j];
				if (slack < minv[j]) {
					minv[j] = slack;
					way[j] = j0;
				}
				if (minv[j] < delta) {
					delta = minv[j];
					j1 = j;
				}
			}
			for (int j = 0; j <= n; j++) {
				if (used[j]) {
					u[row_of[j]] += delta;
					v[j] -= delta;
				} else {
					minv[j] -= delta;
				}
			}
			j0 = j1;
		} while (row_of[j0] != 0);
		/* flip the alternating path back to the start */
		do {
			int j1 = way[j0];
			row_of[j0] = row_of[j1];
			j0 = j1;
		} while (j0);
	}
	for (int j = 1; j <= n; j++)
		col_of[row_of[j] - 1] = j - 1;
	free(u);
	free(v);
	free(minv);
	free(row_of);
	free(way);
	free(used);
}

/* Unit i's incoming vector (weights, then bias) of layer h->li in m,
 * centred and scaled to unit norm (a constant vector stays zero), into
 * out (units x (fan + 1)). */
static void unit_vectors(const struct nn_model *m, const struct hidden *h, double *out)
{
	const struct nn_layer *l = &m->layers[h->li];
	size_t d = h->fan + 1;

	for (int i = 0; i < h->units; i++) {
		const float *w = m->params + l->w_off + (size_t)i * h->fan;
		double *o = out + (size_t)i * d, mean = 0, ss = 0;

		for (size_t k = 0; k < h->fan; k++)
			o[k] = w[k];
		o[h->fan] = m->params[l->b_off + i];
		for (size_t k = 0; k < d; k++)
			mean += o[k];
		mean /= (double)d;
		for (size_t k = 0; k < d; k++) {
			o[k] -= mean;
			ss += o[k] * o[k];
		}
		double s = ss > 0 ? 1 / sqrt(ss) : 0;
		for (size_t k = 0; k < d; k++)
			o[k] *= s;
	}
}

/* Puts m's units back in the order of the original orig, layer by layer
 * from the input side, and undoes positive per-unit scales (see the header
 * comment). Leaves the function of m unchanged. */
static void realign(struct nn_model *m, const struct nn_model *orig, const struct hidden *hs,
		    int nh)
{
	for (int k = 0; k < nh; k++) {
		const struct hidden *h = &hs[k];
		const struct nn_layer *l = &m->layers[h->li];
		char why[ERRBUF]; /* not an error: that layer's scales stay */
		int n = h->units, scalable = !passes(m, h, 1, why, sizeof why);
		size_t d = h->fan + 1;
		double *A = xmalloc((size_t)n * d * sizeof *A),
		       *O = xmalloc((size_t)n * d * sizeof *O);
		double *cost = xmalloc((size_t)n * n * sizeof *cost), *c = xmalloc(n * sizeof *c);
		int *match = xmalloc((size_t)n * sizeof *match);
		uint32_t *p = xmalloc((size_t)n * sizeof *p);

		unit_vectors(m, h, A);
		unit_vectors(orig, h, O);
		/* cost[o][a] = -corr(original unit o, attacked unit a) */
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, (int)d, -1.0, O, (int)d,
			    A, (int)d, 0.0, cost, n);
		hungarian(cost, n, match);
		for (int i = 0; i < n; i++)
			p[i] = (uint32_t)match[i];
		reorder(m, h, p, NULL);
		/* the least-squares factor between each matched pair, weights and
		 * bias together; undone when the layers between allow it */
		for (int i = 0; i < n && scalable; i++) {
			const float *a = m->params + l->w_off + (size_t)i * h->fan;
			const float *o = orig->params + l->w_off + (size_t)i * h->fan;
			double ao = (double)m->params[l->b_off + i] * orig->params[l->b_off + i];
			double oo = (double)orig->params[l->b_off + i] * orig->params[l->b_off + i];

			for (size_t j = 0; j < h->fan; j++) {
				ao += (double)a[j] * o[j];
				oo += (double)o[j] * o[j];
			}
			c[i] = oo > 0 && ao > 0 && isfinite(ao / oo) ? oo / ao : 1;
		}
		if (scalable) {
			for (int i = 0; i < n; i++)
				p[i] = (uint32_t)i;
			reorder(m, h, p, c);
		}
		free(A);
		free(O);
		free(cost);
		free(c);
		free(match);
		free(p);
	}
}

/* ---- apply --------------------------------------------------------------- */

static int permute_apply(const void *cfg, struct nn_model *m, const struct atk_env *env, char *err,
			 size_t errlen)
{
	const struct permute_cfg *p = cfg;
	struct hidden hs[NN_MAXLAYERS];
	int chosen[NN_MAXLAYERS] = {0}, nh;
	struct names nm;
	struct nn_model orig;

	if (parse_names(p->layers, &nm, err, errlen))
		return -1;
	nh = hidden_layers(m, hs, err, errlen);
	if (nh < 0)
		return -1;
	/* every check before the first change */
	for (int i = 0; i < nm.n; i++) {
		int li = nn_find_layer(m, nm.name[i]), k;
		char hidden[256] = "";

		for (k = 0; k < nh; k++) {
			append(hidden, sizeof hidden, k ? ", " : "");
			append(hidden, sizeof hidden, m->layers[hs[k].li].name);
		}
		for (k = 0; k < nh && hs[k].li != li; k++)
			;
		if (k < nh) {
			chosen[k] = 1;
			continue;
		}
		if (li >= 0 && li == nn_last_param_layer(m))
			return errf(
			    err, errlen,
			    "permute: parameter 'layers' = '%s': '%s' is the output layer of "
			    "model '%s', whose units are the classes and are never permuted; "
			    "expected 'all' or some of its hidden layers (%s)",
			    p->layers, nm.name[i], m->arch, hidden[0] ? hidden : "none");
		return errf(err, errlen,
			    "permute: parameter 'layers' = '%s': model '%s' has no hidden dense or "
			    "conv layer '%s'; expected 'all' or some of its hidden layers (%s)",
			    p->layers, m->arch, nm.name[i], hidden[0] ? hidden : "none");
	}
	for (int k = 0; k < nh; k++) {
		if (!nm.n)
			chosen[k] = 1;
		if (chosen[k] && p->scale && passes(m, &hs[k], 1, err, errlen))
			return -1;
	}
	if (p->realign)
		nn_copy(&orig, m);
	for (int k = 0; k < nh; k++) {
		size_t n = (size_t)hs[k].units;
		uint32_t *perm;
		double *c = NULL;

		if (!chosen[k])
			continue;
		perm = xmalloc(n * sizeof *perm);
		for (size_t i = 0; i < n; i++)
			perm[i] = (uint32_t)i;
		rng_shuffle_u32(env->rng, perm, n);
		if (p->scale) {
			/* log-uniform: c = exp(U(log 0.5, log 2)) */
			c = xmalloc(n * sizeof *c);
			for (size_t i = 0; i < n; i++)
				c[i] = exp(log(SCALE_MIN) + rng_uniform(env->rng) *
								(log(SCALE_MAX) - log(SCALE_MIN)));
		}
		reorder(m, &hs[k], perm, c);
		free(perm);
		free(c);
	}
	if (!p->realign)
		return 0;
	realign(m, &orig, hs, nh);
	nn_free(&orig);
	return 0;
}

const struct atk_attack atk_permute = {
    .category = ATK_CAT_MODIFY,
    .threat = ATK_T_WEIGHTS,
    .cfg_size = sizeof(struct permute_cfg),
    .name = "permute",
    .summary = "reorder (and optionally rescale) hidden units without changing the function; "
	       "realign=1: the owner re-aligns to the original weights",
    .params = permute_params,
    .check = permute_check,
    .apply = permute_apply,
};
