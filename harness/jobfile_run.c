/* jobfile_run.c - the run section of a job file: its keys (a table of
 * name, type, range and field), the seeds, the model's default training
 * settings (from workers/nn_arch.c) and the model/dataset shape check. */
#include "jobfile_priv.h"
#include "../workers/data.h"
#include "../workers/nn.h"
#include "../workers/util.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum rk_type { RK_STRING, RK_CHOICE, RK_INT, RK_DOUBLE, RK_U64, RK_SEEDS, RK_CALIB };

struct run_key {
	const char *key;
	enum rk_type type;
	double min, max;
	int lo_open, hi_open; /* RK_DOUBLE: exclusive bounds */
	const char *choices;  /* RK_CHOICE: "a|b|c" */
	/* RK_CHOICE from a table: writes "a|b|c" into buf instead */
	void (*names)(char *buf, size_t len);
	size_t off, size;
};

#define RS_FIELD(f) offsetof(struct run_spec, f), sizeof(((struct run_spec *)0)->f)

static void dataset_names(char *buf, size_t len)
{
	data_names(buf, len, "|");
}

static void model_names(char *buf, size_t len)
{
	nn_arch_names(buf, len, "|", "|", 0, 0, 0);
}

static const struct run_key run_keys[] = {
    {"name", RK_STRING, 0, 0, 0, 0, NULL, NULL, RS_FIELD(name)},
    {"dataset", RK_CHOICE, 0, 0, 0, 0, NULL, dataset_names, RS_FIELD(dataset)},
    {"data_dir", RK_STRING, 0, 0, 0, 0, NULL, NULL, RS_FIELD(data_dir)},
    {"model", RK_CHOICE, 0, 0, 0, 0, NULL, model_names, RS_FIELD(model)},
    {"epochs", RK_INT, 1, 10000, 0, 0, NULL, NULL, RS_FIELD(epochs)},
    {"batch", RK_INT, 1, 65536, 0, 0, NULL, NULL, RS_FIELD(batch)},
    {"optimizer", RK_CHOICE, 0, 0, 0, 0, "sgd|adam|rmsprop", NULL, RS_FIELD(optimizer)},
    {"lr", RK_DOUBLE, 0, 10, 1, 0, NULL, NULL, RS_FIELD(lr)},
    {"momentum", RK_DOUBLE, 0, 1, 0, 1, NULL, NULL, RS_FIELD(momentum)},
    {"weight_decay", RK_DOUBLE, 0, 1, 0, 0, NULL, NULL, RS_FIELD(weight_decay)},
    {"seeds", RK_SEEDS, 0, 2147483647, 0, 0, NULL, NULL, RS_FIELD(seeds)},
    {"run_seed", RK_U64, 0, 0, 0, 0, NULL, NULL, RS_FIELD(run_seed)},
    {"alpha", RK_DOUBLE, 0, 1, 1, 1, NULL, NULL, RS_FIELD(alpha)},
    {"controls", RK_INT, 0, 1000, 0, 0, NULL, NULL, RS_FIELD(controls)},
    {"threads", RK_INT, 1, 1024, 0, 0, NULL, NULL, RS_FIELD(threads)},
    {"train_subset", RK_INT, 0, 100000000, 0, 0, NULL, NULL, RS_FIELD(train_subset)},
    {"test_subset", RK_INT, 0, 100000000, 0, 0, NULL, NULL, RS_FIELD(test_subset)},
    {"attacker_split", RK_DOUBLE, 0, 1, 1, 1, NULL, NULL, RS_FIELD(attacker_split)},
    {"search_coarse", RK_INT, 2, 32, 0, 0, NULL, NULL, RS_FIELD(search_coarse)},
    {"calibrate", RK_CALIB, 0, 0, 0, 0, NULL, NULL, RS_FIELD(calib_models)},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, 0, 0},
};

/* A range bound for messages: integral values in full ("10000", not the
 * shortest "1e+04"). */
static void fmt_bound(char *buf, size_t len, double v)
{
	if (v == floor(v) && fabs(v) < 1e15)
		snprintf(buf, len, "%.0f", v);
	else
		fmt_double(buf, len, v);
}

/* The choices of an RK_CHOICE key, "a|b|c" (in buf when from a table). */
static const char *choices_of(const struct run_key *k, char *buf, size_t len)
{
	if (!k->names)
		return k->choices;
	k->names(buf, len);
	return buf;
}

static void run_key_expect(const struct run_key *k, char *buf, size_t len)
{
	char lo[32], hi[32];

	fmt_bound(lo, sizeof lo, k->min);
	fmt_bound(hi, sizeof hi, k->max);
	switch (k->type) {
	case RK_STRING:
		if (!strcmp(k->key, "name"))
			snprintf(buf, len,
				 "a non-empty name of at most %zu letters, digits, '.', '_' or '-'",
				 k->size - 1);
		else
			snprintf(buf, len, "a non-empty string of at most %zu bytes", k->size - 1);
		break;
	case RK_CHOICE: {
		char names[160];

		snprintf(buf, len, "one of %s", choices_of(k, names, sizeof names));
		break;
	}
	case RK_INT:
		snprintf(buf, len, "an integer in [%s, %s]", lo, hi);
		break;
	case RK_DOUBLE:
		snprintf(buf, len, "a number in %c%s, %s%c", k->lo_open ? '(' : '[', lo, hi,
			 k->hi_open ? ')' : ']');
		break;
	case RK_U64:
		snprintf(buf, len, "an integer in [0, 18446744073709551615]");
		break;
	case RK_SEEDS:
		snprintf(
		    buf, len,
		    "an integer in [%s, %s], a list of them, or a range 'a..b' (at most %d seeds)",
		    lo, hi, MAXSEEDS);
		break;
	case RK_CALIB:
		snprintf(buf, len,
			 "a mapping {models: M, keys: K} (optional owners: O) with M in [1, %d], "
			 "K and O in [1, %d]",
			 CALIB_MAX_MODELS, CALIB_MAX_KEYS);
		break;
	}
}

/* run.calibrate: {models: M, keys: K, owners: O}: M and K required; O (the
 * owner models of a scheme whose keys are made from a marked model) defaults
 * to K. */
static int parse_calibrate(struct jf_ctx *c, const struct run_key *k, const yaml_node_t *v)
{
	static const struct {
		const char *key;
		long long max;
	} f[] = {
	    {"models", CALIB_MAX_MODELS}, {"keys", CALIB_MAX_KEYS}, {"owners", CALIB_MAX_KEYS}};
	const yaml_node_t *set[3] = {NULL, NULL, NULL};
	char expect[200];
	int out[3];

	run_key_expect(k, expect, sizeof expect);
	if (jf_is_null(v))
		return jf_node_err(c, v, "run.calibrate has no value; expected %s", expect);
	if (v->type != YAML_MAPPING_NODE)
		return jf_node_err(c, v, "run.calibrate is %s; expected %s", jf_node_kind(v),
				   expect);
	if (jf_check_keys(c, v, "run.calibrate"))
		return -1;
	for (const yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *kn = jf_get_node(c, p->key);
		int i = -1;

		for (int t = 0; t < 3; t++)
			if (!strcmp(jf_scalar(kn), f[t].key))
				i = t;
		if (i < 0)
			return jf_node_err(
			    c, kn,
			    "unknown key '%s' in run.calibrate; expected models, keys "
			    "or owners",
			    jf_scalar(kn));
		set[i] = jf_get_node(c, p->value);
	}
	for (int i = 0; i < 3; i++) {
		char what[64], ex[64];
		const char *s;
		long long iv;

		snprintf(what, sizeof what, "run.calibrate.%s", f[i].key);
		snprintf(ex, sizeof ex, "an integer in [1, %lld]", f[i].max);
		if (!set[i] && i == 2) {
			out[2] = out[1];
			set[2] = set[1];
			break;
		}
		if (!set[i])
			return jf_node_err(c, v, "run.calibrate has no '%s'; expected %s", f[i].key,
					   expect);
		if (jf_is_null(set[i]))
			return jf_node_err(c, set[i], "%s has no value; expected %s", what, ex);
		if (jf_scalar_text(c, set[i], what, ex, &s))
			return -1;
		if (jf_parse_ll(s, &iv))
			return jf_node_err(c, set[i], "%s = '%s' is not an integer; expected %s",
					   what, s, ex);
		if (iv < 1 || iv > f[i].max)
			return jf_node_err(c, set[i], "%s = '%s' is out of range; expected %s",
					   what, s, ex);
		out[i] = (int)iv;
	}
	c->rs->calib_models = out[0];
	c->rs->calib_keys = out[1];
	c->rs->calib_owners = out[2];
	c->rs->calib_line = jf_node_line(set[2]);
	c->rs->calib_col = jf_node_col(set[2]);
	c->rs->calib_owners_given = set[2] != set[1];
	return 0;
}

static int in_choices(const char *choices, const char *v)
{
	size_t n = strlen(v);
	const char *p = choices;

	for (;;) {
		const char *e = strchr(p, '|');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == n && !strncmp(p, v, n))
			return 1;
		if (!e)
			return 0;
		p = e + 1;
	}
}

static int name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '_' || ch == '-';
}

static int name_ok(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!name_char(*s))
			return 0;
	return 1;
}

/* Appends seed v (checked) to the run's growing array of seeds. */
static int push_seed(struct jf_ctx *c, const yaml_node_t *n, long long v)
{
	struct run_spec *rs = c->rs;

	if (rs->nseeds >= MAXSEEDS)
		return jf_node_err(c, n,
				   "run.seeds has more than %d seeds; expected at most %d seeds",
				   MAXSEEDS, MAXSEEDS);
	/* doubling from a power of two: a new block exactly when nseeds is one */
	if (!(rs->nseeds & (rs->nseeds - 1)))
		rs->seeds = xrealloc(rs->seeds,
				     (size_t)(rs->nseeds ? 2 * rs->nseeds : 1) * sizeof *rs->seeds);
	rs->seeds[rs->nseeds++] = (long)v;
	return 0;
}

/* Adds one seed value (text) at node n. */
static int add_seed(struct jf_ctx *c, const struct run_key *k, const yaml_node_t *n, long long v,
		    const char *expect)
{
	struct run_spec *rs = c->rs;

	if (v < k->min || v > k->max)
		return jf_node_err(c, n, "run.seeds value %lld is out of range; expected %s", v,
				   expect);
	for (int i = 0; i < rs->nseeds; i++)
		if (rs->seeds[i] == v)
			return jf_node_err(
			    c, n, "run.seeds lists seed %lld twice; expected distinct seeds", v);
	return push_seed(c, n, v);
}

static int parse_seed_scalar(struct jf_ctx *c, const struct run_key *k, const yaml_node_t *n,
			     const char *expect)
{
	const char *s = NULL, *dots;
	long long a, b;

	if (jf_scalar_text(c, n, "run.seeds value", expect, &s))
		return -1;
	dots = strstr(s, "..");
	if (!dots) {
		if (jf_parse_ll(s, &a))
			return jf_node_err(
			    c, n, "run.seeds value '%s' is not an integer; expected %s", s, expect);
		return add_seed(c, k, n, a, expect);
	}
	{
		char lo[64];
		size_t l = (size_t)(dots - s);

		if (l >= sizeof lo)
			l = sizeof lo - 1;
		memcpy(lo, s, l);
		lo[l] = 0;
		if (jf_parse_ll(lo, &a) || jf_parse_ll(dots + 2, &b) || a > b)
			return jf_node_err(c, n,
					   "run.seeds = '%s' is not a valid range; expected 'a..b' "
					   "with integers a <= b",
					   s);
	}
	if (b - a + 1 > MAXSEEDS - c->rs->nseeds)
		return jf_node_err(
		    c, n, "run.seeds = '%s' gives more than %d seeds; expected at most %d seeds", s,
		    MAXSEEDS, MAXSEEDS);
	/* The message of the first value of a..b that is out of range or listed
	 * before, found in one pass over the seeds before (not one per value: a
	 * range of a million seeds). */
	long long first = b > k->max ? k->max + 1 : b + 1;
	if (a < k->min)
		first = a;
	for (int i = 0; i < c->rs->nseeds; i++)
		if (c->rs->seeds[i] >= a && c->rs->seeds[i] < first)
			first = c->rs->seeds[i];
	if (first <= b)
		return add_seed(c, k, n, first, expect);
	for (long long v = a; v <= b; v++)
		if (push_seed(c, n, v))
			return -1;
	return 0;
}

static int parse_seeds(struct jf_ctx *c, const struct run_key *k, const yaml_node_t *n)
{
	char expect[160];

	run_key_expect(k, expect, sizeof expect);
	c->rs->nseeds = 0;
	if (n->type == YAML_SEQUENCE_NODE) {
		yaml_node_item_t *it;

		if (n->data.sequence.items.top == n->data.sequence.items.start)
			return jf_node_err(c, n, "run.seeds is an empty list; expected %s", expect);
		for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
			if (parse_seed_scalar(c, k, jf_get_node(c, *it), expect))
				return -1;
		return 0;
	}
	if (jf_is_null(n))
		return jf_node_err(c, n, "run.seeds has no value; expected %s", expect);
	return parse_seed_scalar(c, k, n, expect);
}

static int parse_run_value(struct jf_ctx *c, const struct run_key *k, const yaml_node_t *v)
{
	char *field = (char *)c->rs + k->off;
	char expect[200];
	const char *s = NULL;
	char what[64];
	long long iv;
	double dv;

	if (k->type == RK_SEEDS)
		return parse_seeds(c, k, v);
	if (k->type == RK_CALIB)
		return parse_calibrate(c, k, v);
	run_key_expect(k, expect, sizeof expect);
	snprintf(what, sizeof what, "run.%s", k->key);
	if (jf_is_null(v))
		return jf_node_err(c, v, "%s has no value; expected %s", what, expect);
	if (jf_scalar_text(c, v, what, expect, &s))
		return -1;
	switch (k->type) {
	case RK_STRING:
		if (!s[0] || strlen(s) >= k->size || (!strcmp(k->key, "name") && !name_ok(s)))
			return jf_node_err(c, v, "%s = '%s' is not valid; expected %s", what, s,
					   expect);
		strlcopy(field, s, k->size);
		break;
	case RK_CHOICE: {
		char names[160];

		if (!in_choices(choices_of(k, names, sizeof names), s))
			return jf_node_err(c, v, "%s = '%s' is not valid; expected %s", what, s,
					   expect);
		strlcopy(field, s, k->size);
		break;
	}
	case RK_INT:
		if (jf_parse_ll(s, &iv))
			return jf_node_err(c, v, "%s = '%s' is not an integer; expected %s", what,
					   s, expect);
		if (iv < k->min || iv > k->max)
			return jf_node_err(c, v, "%s = '%s' is out of range; expected %s", what, s,
					   expect);
		*(int *)field = (int)iv;
		break;
	case RK_DOUBLE:
		if (jf_parse_num(s, &dv))
			return jf_node_err(c, v, "%s = '%s' is not a number; expected %s", what, s,
					   expect);
		if (dv < k->min || dv > k->max || (k->lo_open && dv == k->min) ||
		    (k->hi_open && dv == k->max))
			return jf_node_err(c, v, "%s = '%s' is out of range; expected %s", what, s,
					   expect);
		*(double *)field = dv;
		break;
	case RK_U64: {
		char *end;
		unsigned long long u;

		if (s[0] < '0' || s[0] > '9')
			return jf_node_err(c, v,
					   "%s = '%s' is not a non-negative integer; expected %s",
					   what, s, expect);
		errno = 0;
		u = strtoull(s, &end, 10);
		if (*end || errno == ERANGE)
			return jf_node_err(c, v, "%s = '%s' is not a valid seed; expected %s", what,
					   s, expect);
		*(uint64_t *)field = (uint64_t)u;
		break;
	}
	case RK_SEEDS:
	case RK_CALIB:
		break;
	}
	return 0;
}

static void default_name(const char *path, char *name, size_t len)
{
	const char *b = strrchr(path, '/');
	const char *dot;
	size_t l;

	b = b ? b + 1 : path;
	dot = strrchr(b, '.');
	l = dot && dot != b ? (size_t)(dot - b) : strlen(b);
	if (l >= len)
		l = len - 1;
	memcpy(name, b, l);
	name[l] = 0;
	for (char *p = name; *p; p++)
		if (!name_char(*p))
			*p = '_';
	if (!name[0])
		strlcopy(name, "run", len);
}

static int run_key_index(const char *key)
{
	for (int i = 0; run_keys[i].key; i++)
		if (!strcmp(run_keys[i].key, key))
			return i;
	return -1;
}

int jf_parse_run(struct jf_ctx *c, const yaml_node_t *m)
{
	enum { NRK = sizeof run_keys / sizeof run_keys[0] };
	const yaml_node_t *set[NRK] = {NULL};
	struct run_spec *rs = c->rs;
	const struct nn_arch *md;
	yaml_node_pair_t *p;

	if (!m || jf_is_null(m))
		goto defaults;
	if (m->type != YAML_MAPPING_NODE)
		return jf_node_err(c, m, "run is %s; expected a mapping of run settings",
				   jf_node_kind(m));
	if (jf_check_keys(c, m, "run"))
		return -1;
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = jf_get_node(c, p->key);
		int i = run_key_index(jf_scalar(k));

		if (i < 0) {
			char known[400] = "";

			for (int j = 0; run_keys[j].key; j++) {
				if (j)
					strncat(known, ", ", sizeof known - strlen(known) - 1);
				strncat(known, run_keys[j].key, sizeof known - strlen(known) - 1);
			}
			return jf_node_err(c, k, "unknown key '%s' in run; expected one of: %s",
					   jf_scalar(k), known);
		}
		set[i] = jf_get_node(c, p->value);
	}
	for (int i = 0; run_keys[i].key; i++)
		if (set[i] && parse_run_value(c, &run_keys[i], set[i]))
			return -1;
defaults:
	md = nn_arch_find(rs->model);
	if (!md)
		md = &nn_archs[0];
	for (int i = 0; run_keys[i].key; i++) {
		const char *key = run_keys[i].key;

		if (set[i])
			continue;
		if (!strcmp(key, "name"))
			default_name(c->path, rs->name, sizeof rs->name);
		else if (!strcmp(key, "epochs"))
			rs->epochs = md->epochs;
		else if (!strcmp(key, "batch"))
			rs->batch = md->batch;
		else if (!strcmp(key, "optimizer"))
			strlcopy(rs->optimizer, md->optimizer, sizeof rs->optimizer);
		else if (!strcmp(key, "lr"))
			rs->lr = md->lr;
		else if (!strcmp(key, "momentum"))
			rs->momentum = md->momentum;
		else if (!strcmp(key, "weight_decay"))
			rs->weight_decay = md->weight_decay;
	}

	/* Impossible combinations: the model's input shape must match the data. */
	{
		const struct data_source *d = data_find(rs->dataset);
		const struct nn_arch *a = nn_arch_find(rs->model);
		const yaml_node_t *at = set[run_key_index("model")];
		char fits[160], expect[320];

		if (!at)
			at = set[run_key_index("dataset")];
		if (d && a && (a->in_c != d->c || a->in_h != d->h || a->in_w != d->w)) {
			nn_arch_names(fits, sizeof fits, ", ", " or ", d->c, d->h, d->w);
			if (fits[0])
				snprintf(expect, sizeof expect, "model %s for %s", fits,
					 rs->dataset);
			else
				snprintf(expect, sizeof expect,
					 "a model taking %dx%dx%d inputs for %s (none of %s does)",
					 d->c, d->h, d->w, rs->dataset, nn_arch_list());
			return jf_node_err(c, at,
					   "model '%s' cannot be used with dataset '%s' (the model "
					   "takes %dx%dx%d inputs, %s has %dx%dx%d); expected %s",
					   rs->model, rs->dataset, a->in_c, a->in_h, a->in_w,
					   rs->dataset, d->c, d->h, d->w, expect);
		}
	}
	return 0;
}
