/* jobfile.c - the job file: parse, validate, expand into the job DAG.
 *
 * The job file is YAML with three top-level keys: run (training settings,
 * seeds, ...), schemes and attacks (plug-in name -> parameter value lists).
 * Everything is checked before any work; every message points at the
 * offending node as "FILE:LINE:COL: what was wrong; expected ...". */
#include "job.h"
#include "../workers/data.h"
#include "../workers/nn.h"
#include "../workers/params.h"
#include "../workers/rng.h"
#include "../workers/util.h"
#include "../schemes/scheme.h"
#include "../attacks/attack.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_FILE_BYTES	 (4L << 20) /* a job file is small; refuse anything huge */
#define MAX_RANGE_VALUES 100000	    /* values one parameter may expand to */
#define MAX_JOBS	 100000	    /* jobs one run may expand to */

const char *job_kind_name(int kind)
{
	switch (kind) {
	case JOB_TRAIN:
		return "train";
	case JOB_EMBED:
		return "embed";
	case JOB_ATTACK:
		return "attack";
	case JOB_CONTROL:
		return "control";
	}
	return "unknown";
}

/* ---- parse context and error helpers ---- */

struct ctx {
	const char *path;
	yaml_document_t *doc;
	struct run_spec *rs;
	char *err;
	size_t errlen;
};

static int node_line(const yaml_node_t *n)
{
	return n ? (int)n->start_mark.line + 1 : 1;
}

static int node_col(const yaml_node_t *n)
{
	return n ? (int)n->start_mark.column + 1 : 1;
}

/* "FILE:LINE:COL: <message>" at node n; always returns -1. */
static int __attribute__((format(printf, 3, 4)))
node_err(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	size_t off;
	va_list ap;

	if (!c->err || !c->errlen)
		return -1;
	snprintf(c->err, c->errlen, "%s:%d:%d: ", c->path, node_line(n), node_col(n));
	off = strlen(c->err);
	va_start(ap, fmt);
	vsnprintf(c->err + off, c->errlen - off, fmt, ap);
	va_end(ap);
	return -1;
}

static yaml_node_t *get_node(struct ctx *c, int id)
{
	return yaml_document_get_node(c->doc, id);
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static int is_null(const yaml_node_t *n)
{
	const char *s;

	if (!n)
		return 1;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	s = scalar(n);
	return !s[0] || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* Every key of mapping m must be a plain scalar without NUL bytes, and
 * appear once. `where` names the mapping in messages. */
static int check_keys(struct ctx *c, const yaml_node_t *m, const char *where)
{
	yaml_node_pair_t *p, *q;

	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = get_node(c, p->key);

		if (!k || k->type != YAML_SCALAR_NODE)
			return node_err(c, k, "%s has %s as a key; expected a plain name", where,
					k ? node_kind(k) : "nothing");
		if (strlen(scalar(k)) != k->data.scalar.length)
			return node_err(
			    c, k, "key in %s contains a NUL byte; expected a plain name", where);
		for (q = m->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *k0 = get_node(c, q->key);

			if (k0 && k0->type == YAML_SCALAR_NODE && !strcmp(scalar(k0), scalar(k)))
				return node_err(c, k,
						"duplicate key '%s' in %s (first at line %d, "
						"column %d); expected each key once",
						scalar(k), where, node_line(k0), node_col(k0));
		}
	}
	return 0;
}

/* The scalar text of a value node, or an error naming `what`. */
static int scalar_text(struct ctx *c, const yaml_node_t *n, const char *what, const char *expect,
		       const char **out)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return node_err(c, n, "%s is %s; expected %s", what, n ? node_kind(n) : "nothing",
				expect);
	if (strlen(scalar(n)) != n->data.scalar.length)
		return node_err(c, n, "%s contains a NUL byte; expected %s", what, expect);
	*out = scalar(n);
	return 0;
}

/* Strict decimal integer: optional '-', digits, nothing else. */
static int parse_ll(const char *s, long long *v)
{
	const char *p = s;
	char *end;

	if (*p == '-' || *p == '+')
		p++;
	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	*v = strtoll(s, &end, 10);
	if (*end || errno == ERANGE)
		return -1;
	return 0;
}

static int parse_num(const char *s, double *v)
{
	char *end;

	if (!*s)
		return -1;
	errno = 0;
	*v = strtod(s, &end);
	if (*end || errno == ERANGE || !isfinite(*v))
		return -1;
	return 0;
}

/* ---- the run section ---- */

enum rk_type { RK_STRING, RK_CHOICE, RK_INT, RK_DOUBLE, RK_U64, RK_SEEDS };

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
	}
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

/* Adds one seed value (text) at node n. */
static int add_seed(struct ctx *c, const struct run_key *k, const yaml_node_t *n, long long v,
		    const char *expect)
{
	struct run_spec *rs = c->rs;

	if (v < k->min || v > k->max)
		return node_err(c, n, "run.seeds value %lld is out of range; expected %s", v,
				expect);
	for (int i = 0; i < rs->nseeds; i++)
		if (rs->seeds[i] == v)
			return node_err(
			    c, n, "run.seeds lists seed %lld twice; expected distinct seeds", v);
	if (rs->nseeds >= MAXSEEDS)
		return node_err(c, n, "run.seeds has more than %d seeds; expected at most %d seeds",
				MAXSEEDS, MAXSEEDS);
	rs->seeds[rs->nseeds++] = (long)v;
	return 0;
}

static int parse_seed_scalar(struct ctx *c, const struct run_key *k, const yaml_node_t *n,
			     const char *expect)
{
	const char *s = NULL, *dots;
	long long a, b;

	if (scalar_text(c, n, "run.seeds value", expect, &s))
		return -1;
	dots = strstr(s, "..");
	if (!dots) {
		if (parse_ll(s, &a))
			return node_err(c, n, "run.seeds value '%s' is not an integer; expected %s",
					s, expect);
		return add_seed(c, k, n, a, expect);
	}
	{
		char lo[64];
		size_t l = (size_t)(dots - s);

		if (l >= sizeof lo)
			l = sizeof lo - 1;
		memcpy(lo, s, l);
		lo[l] = 0;
		if (parse_ll(lo, &a) || parse_ll(dots + 2, &b) || a > b)
			return node_err(c, n,
					"run.seeds = '%s' is not a valid range; expected 'a..b' "
					"with integers a <= b",
					s);
	}
	if (b - a + 1 > MAXSEEDS - c->rs->nseeds)
		return node_err(
		    c, n, "run.seeds = '%s' gives more than %d seeds; expected at most %d seeds", s,
		    MAXSEEDS, MAXSEEDS);
	for (long long v = a; v <= b; v++)
		if (add_seed(c, k, n, v, expect))
			return -1;
	return 0;
}

static int parse_seeds(struct ctx *c, const struct run_key *k, const yaml_node_t *n)
{
	char expect[160];

	run_key_expect(k, expect, sizeof expect);
	c->rs->nseeds = 0;
	if (n->type == YAML_SEQUENCE_NODE) {
		yaml_node_item_t *it;

		if (n->data.sequence.items.top == n->data.sequence.items.start)
			return node_err(c, n, "run.seeds is an empty list; expected %s", expect);
		for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
			if (parse_seed_scalar(c, k, get_node(c, *it), expect))
				return -1;
		return 0;
	}
	if (is_null(n))
		return node_err(c, n, "run.seeds has no value; expected %s", expect);
	return parse_seed_scalar(c, k, n, expect);
}

static int parse_run_value(struct ctx *c, const struct run_key *k, const yaml_node_t *v)
{
	char *field = (char *)c->rs + k->off;
	char expect[200];
	const char *s = NULL;
	char what[64];
	long long iv;
	double dv;

	if (k->type == RK_SEEDS)
		return parse_seeds(c, k, v);
	run_key_expect(k, expect, sizeof expect);
	snprintf(what, sizeof what, "run.%s", k->key);
	if (is_null(v))
		return node_err(c, v, "%s has no value; expected %s", what, expect);
	if (scalar_text(c, v, what, expect, &s))
		return -1;
	switch (k->type) {
	case RK_STRING:
		if (!s[0] || strlen(s) >= k->size || (!strcmp(k->key, "name") && !name_ok(s)))
			return node_err(c, v, "%s = '%s' is not valid; expected %s", what, s,
					expect);
		strlcopy(field, s, k->size);
		break;
	case RK_CHOICE: {
		char names[160];

		if (!in_choices(choices_of(k, names, sizeof names), s))
			return node_err(c, v, "%s = '%s' is not valid; expected %s", what, s,
					expect);
		strlcopy(field, s, k->size);
		break;
	}
	case RK_INT:
		if (parse_ll(s, &iv))
			return node_err(c, v, "%s = '%s' is not an integer; expected %s", what, s,
					expect);
		if (iv < k->min || iv > k->max)
			return node_err(c, v, "%s = '%s' is out of range; expected %s", what, s,
					expect);
		*(int *)field = (int)iv;
		break;
	case RK_DOUBLE:
		if (parse_num(s, &dv))
			return node_err(c, v, "%s = '%s' is not a number; expected %s", what, s,
					expect);
		if (dv < k->min || dv > k->max || (k->lo_open && dv == k->min) ||
		    (k->hi_open && dv == k->max))
			return node_err(c, v, "%s = '%s' is out of range; expected %s", what, s,
					expect);
		*(double *)field = dv;
		break;
	case RK_U64: {
		char *end;
		unsigned long long u;

		if (s[0] < '0' || s[0] > '9')
			return node_err(c, v,
					"%s = '%s' is not a non-negative integer; expected %s",
					what, s, expect);
		errno = 0;
		u = strtoull(s, &end, 10);
		if (*end || errno == ERANGE)
			return node_err(c, v, "%s = '%s' is not a valid seed; expected %s", what, s,
					expect);
		*(uint64_t *)field = (uint64_t)u;
		break;
	}
	case RK_SEEDS:
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

static int parse_run(struct ctx *c, const yaml_node_t *m)
{
	enum { NRK = sizeof run_keys / sizeof run_keys[0] };
	const yaml_node_t *set[NRK] = {NULL};
	struct run_spec *rs = c->rs;
	const struct nn_arch *md;
	yaml_node_pair_t *p;

	if (!m || is_null(m))
		goto defaults;
	if (m->type != YAML_MAPPING_NODE)
		return node_err(c, m, "run is %s; expected a mapping of run settings",
				node_kind(m));
	if (check_keys(c, m, "run"))
		return -1;
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = get_node(c, p->key);
		int i = run_key_index(scalar(k));

		if (i < 0) {
			char known[400] = "";

			for (int j = 0; run_keys[j].key; j++) {
				if (j)
					strncat(known, ", ", sizeof known - strlen(known) - 1);
				strncat(known, run_keys[j].key, sizeof known - strlen(known) - 1);
			}
			return node_err(c, k, "unknown key '%s' in run; expected one of: %s",
					scalar(k), known);
		}
		set[i] = get_node(c, p->value);
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
			return node_err(c, at,
					"model '%s' cannot be used with dataset '%s' (the model "
					"takes %dx%dx%d inputs, %s has %dx%dx%d); expected %s",
					rs->model, rs->dataset, a->in_c, a->in_h, a->in_w,
					rs->dataset, d->c, d->h, d->w, expect);
		}
	}
	return 0;
}

/* ---- plug-in entries ---- */

struct vlist {
	int n, cap;
	char **v;
};

static void vlist_free(struct vlist *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* Canonicalises one value and appends it; duplicates are an error. */
static int vlist_add(struct ctx *c, struct vlist *l, const char *owner,
		     const struct param_def *defs, const char *key, const char *val,
		     const yaml_node_t *at)
{
	char canon[PARAM_VALLEN], msg[ERRBUF];

	if (param_check(owner, defs, key, val, canon, sizeof canon, msg, sizeof msg))
		return node_err(c, at, "%s", msg);
	for (int i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], canon))
			return node_err(c, at,
					"%s.%s lists the value '%s' twice (as written: '%s'); "
					"expected distinct values",
					owner, key, canon, val);
	if (l->n >= MAX_RANGE_VALUES)
		return node_err(c, at, "%s.%s has more than %d values; expected at most %d", owner,
				key, MAX_RANGE_VALUES, MAX_RANGE_VALUES);
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 8;
		l->v = realloc(l->v, (size_t)l->cap * sizeof *l->v);
		if (!l->v) {
			fprintf(stderr, "wmbench: out of memory\n");
			abort();
		}
	}
	l->v[l->n++] = xstrdup(canon);
	return 0;
}

static const char range_expect[] = "'start:stop:step' with finite numbers, step > 0 and start <= "
				   "stop, or 'a..b' with integers a <= b";

/* One scalar: a single value or, for numeric parameters, a range. */
static int expand_scalar(struct ctx *c, struct vlist *l, const char *owner,
			 const struct param_def *defs, const struct param_def *d,
			 const yaml_node_t *n)
{
	char expect[160], what[96];
	const char *s = NULL;

	param_expect(d, expect, sizeof expect);
	snprintf(what, sizeof what, "%s.%s", owner, d->key);
	if (is_null(n))
		return node_err(c, n, "%s has no value; expected %s", what, expect);
	if (scalar_text(c, n, what, expect, &s))
		return -1;
	if (d->type == PT_STRING)
		return vlist_add(c, l, owner, defs, d->key, s, n);

	if (strchr(s, ':')) {
		char buf[PARAM_VALLEN * 2], num[40];
		char *f[3], *q;
		double a, b, st, k, r;
		long cnt;
		int on_grid, nf = 0;

		if (strlen(s) >= sizeof buf)
			return node_err(c, n, "%s = '%.40s...' is not a valid range; expected %s",
					what, s, range_expect);
		strlcopy(buf, s, sizeof buf);
		for (q = buf, f[nf++] = buf; *q; q++)
			if (*q == ':') {
				*q = 0;
				if (nf == 3) {
					nf = 4;
					break;
				}
				f[nf++] = q + 1;
			}
		if (nf != 3 || parse_num(f[0], &a) || parse_num(f[1], &b) || parse_num(f[2], &st) ||
		    !(st > 0) || a > b)
			return node_err(c, n, "%s = '%s' is not a valid range; expected %s", what,
					s, range_expect);
		k = (b - a) / st;
		if (!isfinite(k) || k >= MAX_RANGE_VALUES)
			return node_err(c, n,
					"%s = '%s' has more than %d values; expected at most %d",
					what, s, MAX_RANGE_VALUES, MAX_RANGE_VALUES);
		r = round(k);
		on_grid = fabs(k - r) <= 1e-9 * fmax(1.0, fabs(k));
		cnt = (on_grid ? (long)r : (long)floor(k)) + 1;
		for (long i = 0; i < cnt; i++) {
			double v = (i == cnt - 1 && on_grid) ? b : a + (double)i * st;

			/* 15 significant digits drop the step's accumulated binary noise
			 * (0.1 + 2 * 0.2 = 0.5000000000000001 -> 0.5). */
			snprintf(num, sizeof num, "%.15g", v);
			if (vlist_add(c, l, owner, defs, d->key, num, n))
				return -1;
		}
		return 0;
	}
	if (strstr(s, "..")) {
		const char *dots = strstr(s, "..");
		char lo[64];
		long long a, b;
		size_t len = (size_t)(dots - s);

		if (len >= sizeof lo)
			len = sizeof lo - 1;
		memcpy(lo, s, len);
		lo[len] = 0;
		if (parse_ll(lo, &a) || parse_ll(dots + 2, &b) || a > b)
			return node_err(c, n, "%s = '%s' is not a valid range; expected %s", what,
					s, range_expect);
		if (b - a >= MAX_RANGE_VALUES)
			return node_err(c, n,
					"%s = '%s' has more than %d values; expected at most %d",
					what, s, MAX_RANGE_VALUES, MAX_RANGE_VALUES);
		for (long long v = a; v <= b; v++) {
			char num[32];

			snprintf(num, sizeof num, "%lld", v);
			if (vlist_add(c, l, owner, defs, d->key, num, n))
				return -1;
		}
		return 0;
	}
	return vlist_add(c, l, owner, defs, d->key, s, n);
}

static const struct param_def *find_def(const struct param_def *defs, const char *key)
{
	for (; defs && defs->key; defs++)
		if (!strcmp(defs->key, key))
			return defs;
	return NULL;
}

static int parse_entry_params(struct ctx *c, struct plug_entry *e, const struct param_def *defs,
			      const yaml_node_t *m)
{
	char where[96];
	yaml_node_pair_t *p;

	if (is_null(m))
		return 0;
	if (m->type != YAML_MAPPING_NODE)
		return node_err(
		    c, m, "%s is followed by %s; expected a mapping of its parameters (or nothing)",
		    e->name, node_kind(m));
	snprintf(where, sizeof where, "the parameters of %s", e->name);
	if (check_keys(c, m, where))
		return -1;
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = get_node(c, p->key);
		yaml_node_t *v = get_node(c, p->value);
		const struct param_def *d = find_def(defs, scalar(k));
		struct vlist l = {0, 0, NULL};
		int i = e->nkeys;

		if (!d) {
			char canon[PARAM_VALLEN], msg[ERRBUF];

			param_check(e->name, defs, scalar(k), "", canon, sizeof canon, msg,
				    sizeof msg);
			return node_err(c, k, "%s", msg);
		}
		if (e->nkeys >= PARAM_MAX)
			return node_err(c, k, "%s has more than %d parameters; expected at most %d",
					e->name, PARAM_MAX, PARAM_MAX);
		if (v->type == YAML_SEQUENCE_NODE) {
			yaml_node_item_t *it;

			if (v->data.sequence.items.top == v->data.sequence.items.start) {
				char expect[160];

				param_expect(d, expect, sizeof expect);
				return node_err(
				    c, v, "%s.%s is an empty list; expected at least one value, %s",
				    e->name, d->key, expect);
			}
			for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
			     it++)
				if (expand_scalar(c, &l, e->name, defs, d, get_node(c, *it))) {
					vlist_free(&l);
					return -1;
				}
		} else if (expand_scalar(c, &l, e->name, defs, d, v)) {
			vlist_free(&l);
			return -1;
		}
		strlcopy(e->key[i], d->key, PARAM_KEYLEN);
		e->key_line[i] = node_line(k);
		e->key_col[i] = node_col(k);
		e->nvals[i] = l.n;
		e->vals[i] = l.v;
		e->nkeys++;
	}
	/* Keys in sorted order so the expansion order ignores the file's order. */
	for (int i = 1; i < e->nkeys; i++)
		for (int j = i; j > 0 && strcmp(e->key[j - 1], e->key[j]) > 0; j--) {
			char tk[PARAM_KEYLEN];
			int tl = e->key_line[j], tc = e->key_col[j], tn = e->nvals[j];
			char **tv = e->vals[j];

			memcpy(tk, e->key[j], PARAM_KEYLEN);
			memcpy(e->key[j], e->key[j - 1], PARAM_KEYLEN);
			memcpy(e->key[j - 1], tk, PARAM_KEYLEN);
			e->key_line[j] = e->key_line[j - 1];
			e->key_col[j] = e->key_col[j - 1];
			e->nvals[j] = e->nvals[j - 1];
			e->vals[j] = e->vals[j - 1];
			e->key_line[j - 1] = tl;
			e->key_col[j - 1] = tc;
			e->nvals[j - 1] = tn;
			e->vals[j - 1] = tv;
		}
	return 0;
}

static void known_schemes(char *buf, size_t len)
{
	buf[0] = 0;
	for (int i = 0; wm_schemes[i]; i++) {
		if (i)
			strncat(buf, ", ", len - strlen(buf) - 1);
		strncat(buf, wm_schemes[i]->name, len - strlen(buf) - 1);
	}
}

static void known_attacks(char *buf, size_t len)
{
	buf[0] = 0;
	for (int i = 0; atk_attacks[i]; i++) {
		if (i)
			strncat(buf, ", ", len - strlen(buf) - 1);
		strncat(buf, atk_attacks[i]->name, len - strlen(buf) - 1);
	}
}

/* schemes: or attacks: */
static int parse_plugins(struct ctx *c, const yaml_node_t *m, int attacks)
{
	const char *section = attacks ? "attacks" : "schemes";
	struct plug_entry *entries = attacks ? c->rs->attacks : c->rs->schemes;
	int *count = attacks ? &c->rs->nattacks : &c->rs->nschemes;
	yaml_node_pair_t *p;

	*count = 0;
	if (is_null(m))
		return 0;
	if (m->type != YAML_MAPPING_NODE)
		return node_err(c, m,
				"%s is %s; expected a mapping of %s names to their parameters",
				section, node_kind(m), attacks ? "attack" : "scheme");
	if (check_keys(c, m, section))
		return -1;
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = get_node(c, p->key);
		yaml_node_t *v = get_node(c, p->value);
		const struct param_def *defs;
		struct plug_entry *e;
		char known[600];

		if (attacks) {
			const struct atk_attack *a = atk_find(scalar(k));

			if (!a) {
				known_attacks(known, sizeof known);
				return node_err(c, k, "unknown attack '%s'; expected one of: %s",
						scalar(k), known);
			}
			defs = a->params;
		} else {
			const struct wm_scheme *s = wm_scheme_find(scalar(k));

			if (!s) {
				known_schemes(known, sizeof known);
				return node_err(c, k, "unknown scheme '%s'; expected one of: %s",
						scalar(k), known);
			}
			defs = s->params;
		}
		if (strlen(scalar(k)) >= NAMELEN)
			return node_err(c, k, "%s name '%s' is too long; expected at most %d bytes",
					section, scalar(k), NAMELEN - 1);
		if (*count >= MAXPLUG)
			return node_err(c, k, "%s has more than %d entries; expected at most %d",
					section, MAXPLUG, MAXPLUG);
		e = &entries[(*count)++];
		memset(e, 0, sizeof *e);
		strlcopy(e->name, scalar(k), NAMELEN);
		e->line = node_line(k);
		e->col = node_col(k);
		if (parse_entry_params(c, e, defs, v))
			return -1;
	}
	return 0;
}

/* ---- load ---- */

static void set_run_defaults(struct run_spec *rs)
{
	strlcopy(rs->dataset, data_sources[0].name, sizeof rs->dataset);
	strlcopy(rs->model, nn_archs[0].name, sizeof rs->model);
	rs->nseeds = 1;
	rs->seeds[0] = 1;
	rs->run_seed = 0;
	rs->alpha = 1e-3;
	rs->controls = 0;
	rs->threads = 1;
	rs->train_subset = 0;
	rs->test_subset = 0;
	rs->attacker_split = 1.0 / 3.0;
}

static int yaml_err(const char *path, const yaml_parser_t *ps, char *err, size_t errlen)
{
	const yaml_mark_t *mk = &ps->problem_mark;
	const char *problem = ps->problem ? ps->problem : "invalid YAML";

	if (ps->context)
		return errf(err, errlen,
			    "%s:%d:%d: YAML error: %s %s (line %d, column %d); expected valid YAML",
			    path, (int)mk->line + 1, (int)mk->column + 1, problem, ps->context,
			    (int)ps->context_mark.line + 1, (int)ps->context_mark.column + 1);
	return errf(err, errlen, "%s:%d:%d: YAML error: %s; expected valid YAML", path,
		    (int)mk->line + 1, (int)mk->column + 1, problem);
}

static int read_file(const char *path, unsigned char **buf, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 4096, n = 0;
	unsigned char *b;

	if (!f)
		return errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
	b = xmalloc(cap);
	for (;;) {
		size_t r;

		if (n == cap) {
			if (cap >= (size_t)MAX_FILE_BYTES) {
				fclose(f);
				free(b);
				return errf(
				    err, errlen,
				    "%s: file is larger than %ld bytes; expected a small job file",
				    path, MAX_FILE_BYTES);
			}
			cap *= 2;
			b = realloc(b, cap);
			if (!b) {
				fprintf(stderr, "wmbench: out of memory\n");
				abort();
			}
		}
		r = fread(b + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		int e = errno;

		fclose(f);
		free(b);
		return errf(err, errlen, "%s: cannot read: %s", path, strerror(e));
	}
	fclose(f);
	*buf = b;
	*len = n;
	return 0;
}

int jobfile_load(const char *path, struct run_spec *rs, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	unsigned char *buf = NULL;
	size_t len = 0;
	int have_parser = 0, have_doc = 0, rc = -1;
	struct ctx c = {path, &doc, rs, err, errlen};
	const yaml_node_t *root, *run = NULL, *schemes = NULL, *attacks = NULL;
	yaml_node_pair_t *p;

	memset(rs, 0, sizeof *rs);
	strlcopy(rs->path, path, sizeof rs->path);
	set_run_defaults(rs);
	if (read_file(path, &buf, &len, err, errlen))
		goto out;
	sha256_hex(buf, len, rs->sha256);

	if (!yaml_parser_initialize(&parser)) {
		errf(err, errlen, "%s: cannot initialise the YAML parser", path);
		goto out;
	}
	have_parser = 1;
	yaml_parser_set_input_string(&parser, buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		yaml_err(path, &parser, err, errlen);
		goto out;
	}
	have_doc = 1;
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		errf(err, errlen,
		     "%s:1:1: the job file is empty; expected a mapping with keys run, schemes, "
		     "attacks",
		     path);
		goto out;
	}
	if (!yaml_parser_load(&parser, &extra)) {
		yaml_err(path, &parser, err, errlen);
		goto out;
	}
	if (yaml_document_get_root_node(&extra)) {
		int l = (int)extra.start_mark.line + 1, col = (int)extra.start_mark.column + 1;

		yaml_document_delete(&extra);
		errf(err, errlen, "%s:%d:%d: a second YAML document; expected a single document",
		     path, l, col);
		goto out;
	}
	yaml_document_delete(&extra);

	if (root->type != YAML_MAPPING_NODE) {
		node_err(&c, root,
			 "the job file is %s; expected a mapping with keys run, schemes, attacks",
			 node_kind(root));
		goto out;
	}
	if (check_keys(&c, root, "the job file"))
		goto out;
	for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = get_node(&c, p->key);
		yaml_node_t *v = get_node(&c, p->value);

		if (!strcmp(scalar(k), "run")) {
			run = v;
		} else if (!strcmp(scalar(k), "schemes")) {
			schemes = v;
		} else if (!strcmp(scalar(k), "attacks")) {
			attacks = v;
		} else {
			node_err(
			    &c, k,
			    "unknown top-level key '%s'; expected one of: run, schemes, attacks",
			    scalar(k));
			goto out;
		}
	}
	if (parse_run(&c, run))
		goto out;
	if (schemes && parse_plugins(&c, schemes, 0))
		goto out;
	if (!rs->nschemes) {
		/* default: the clean model only */
		memset(&rs->schemes[0], 0, sizeof rs->schemes[0]);
		strlcopy(rs->schemes[0].name, "none", NAMELEN);
		rs->nschemes = 1;
	}
	if (attacks && parse_plugins(&c, attacks, 1))
		goto out;
	rc = 0;
out:
	if (have_doc)
		yaml_document_delete(&doc);
	if (have_parser)
		yaml_parser_delete(&parser);
	free(buf);
	if (rc)
		jobfile_free(rs);
	return rc;
}

static void free_entries(struct plug_entry *e, int n)
{
	for (int i = 0; i < n; i++) {
		for (int k = 0; k < e[i].nkeys; k++) {
			for (int v = 0; v < e[i].nvals[k]; v++)
				free(e[i].vals[k][v]);
			free(e[i].vals[k]);
			e[i].vals[k] = NULL;
			e[i].nvals[k] = 0;
		}
		e[i].nkeys = 0;
	}
}

void jobfile_free(struct run_spec *rs)
{
	if (!rs)
		return;
	/* Entries being filled when an error struck are counted in n already. */
	free_entries(rs->schemes, rs->nschemes);
	free_entries(rs->attacks, rs->nattacks);
	rs->nschemes = 0;
	rs->nattacks = 0;
}

/* ---- identity ---- */

void job_finalise(struct job *j, const struct run_spec *rs)
{
	char text[8192], hex[65];
	char lr[32], mom[32], wd[32], split[32];
	char sp[PARAM_MAX * (PARAM_KEYLEN + PARAM_VALLEN + 2) + 1];
	char ap[PARAM_MAX * (PARAM_KEYLEN + PARAM_VALLEN + 2) + 1];

	fmt_double(lr, sizeof lr, rs->lr);
	fmt_double(mom, sizeof mom, rs->momentum);
	fmt_double(wd, sizeof wd, rs->weight_decay);
	fmt_double(split, sizeof split, rs->attacker_split);
	param_format(&j->sp, sp, sizeof sp);
	param_format(&j->ap, ap, sizeof ap);
	snprintf(
	    text, sizeof text,
	    "kind=%s;dataset=%s;model=%s;epochs=%d;batch=%d;opt=%s;lr=%s;momentum=%s;wd=%s;train_"
	    "subset=%d;test_subset=%d;split=%s;seed=%ld;scheme=%s{%s};attack=%s{%s};control=%d",
	    job_kind_name(j->kind), rs->dataset, rs->model, rs->epochs, rs->batch, rs->optimizer,
	    lr, mom, wd, rs->train_subset, rs->test_subset, split, j->seed, j->scheme, sp,
	    j->attack, ap, j->control_index);
	/* The id and seed hash the whole text even if the stored copy is cut. */
	strlcopy(j->identity, text, sizeof j->identity);
	sha256_hex(text, strlen(text), hex);
	memcpy(j->id, hex, 16);
	j->id[16] = 0;
	j->rng_seed = seed_derive(rs->run_seed, text);
}

/* ---- expansion ---- */

struct combo {
	const struct plug_entry *e;
	struct param_set ps;
};

/* All parameter combinations of the entries (odometer, last key fastest),
 * completed with defaults; the scheme "none" is left out. */
static int combos(const struct run_spec *rs, const struct plug_entry *es, int n, int attacks,
		  struct combo **out, int *nout, char *err, size_t errlen)
{
	double total = 0;
	struct combo *cs;
	int m = 0;

	for (int i = 0; i < n; i++) {
		double k = 1;

		if (!attacks && !strcmp(es[i].name, "none"))
			continue;
		for (int p = 0; p < es[i].nkeys; p++)
			k *= es[i].nvals[p];
		total += k;
	}
	if (total > MAX_JOBS)
		return errf(err, errlen,
			    "%s: the %s expand to %.0f parameter combinations; expected at most %d "
			    "in all (shorten the value lists)",
			    rs->path, attacks ? "attacks" : "schemes", total, MAX_JOBS);
	cs = xcalloc(total > 0 ? (size_t)total : 1, sizeof *cs);
	for (int i = 0; i < n; i++) {
		const struct plug_entry *e = &es[i];
		const struct param_def *defs;
		const struct atk_attack *a = NULL;
		int idx[PARAM_MAX] = {0};

		if (attacks) {
			a = atk_find(e->name);
			defs = a ? a->params : NULL;
		} else {
			const struct wm_scheme *s = wm_scheme_find(e->name);

			if (!strcmp(e->name, "none"))
				continue;
			defs = s ? s->params : NULL;
			if (!s) {
				free(cs);
				return errf(
				    err, errlen,
				    "%s:%d:%d: unknown scheme '%s'; expected a registered scheme",
				    rs->path, e->line, e->col, e->name);
			}
		}
		if (attacks && !a) {
			free(cs);
			return errf(err, errlen,
				    "%s:%d:%d: unknown attack '%s'; expected a registered attack",
				    rs->path, e->line, e->col, e->name);
		}
		for (;;) {
			struct combo *c = &cs[m++];
			int p;

			c->e = e;
			c->ps.n = 0;
			for (p = 0; p < e->nkeys; p++)
				param_set_put(&c->ps, e->key[p], e->vals[p][idx[p]]);
			param_complete(&c->ps, defs);
			if (a && a->check) {
				char msg[ERRBUF];

				if (a->check(&c->ps, msg, sizeof msg)) {
					free(cs);
					return errf(err, errlen, "%s:%d:%d: %s", rs->path, e->line,
						    e->col, msg);
				}
			}
			for (p = e->nkeys - 1; p >= 0; p--) {
				if (++idx[p] < e->nvals[p])
					break;
				idx[p] = 0;
			}
			if (p < 0)
				break;
		}
	}
	*out = cs;
	*nout = m;
	return 0;
}

/* Rough CPU seconds of training one model of this run. */
static double train_cost(const struct run_spec *rs)
{
	const struct data_source *d = data_find(rs->dataset);
	const struct nn_arch *a = nn_arch_find(rs->model);
	double n = (d ? d : &data_sources[0])->ntrain;
	double per = (a ? a : &nn_archs[0])->cost;

	if (rs->train_subset > 0 && rs->train_subset < n)
		n = rs->train_subset;
	return rs->epochs * n * per;
}

static struct job *new_job(struct job *jobs, int *n, int kind, int parent, long seed)
{
	struct job *j = &jobs[(*n)++];

	memset(j, 0, sizeof *j);
	j->kind = kind;
	j->parent = parent;
	j->seed = seed;
	return j;
}

int jobs_expand(const struct run_spec *rs, struct job **jobs, int *njobs, char *err, size_t errlen)
{
	struct combo *sc = NULL, *ac = NULL;
	int nsc = 0, nac = 0, n = 0, rc = -1;
	struct job *js = NULL;
	double tc = train_cost(rs), total;
	int *train_of = NULL;

	*jobs = NULL;
	*njobs = 0;
	if (combos(rs, rs->schemes, rs->nschemes, 0, &sc, &nsc, err, errlen))
		goto out;
	if (combos(rs, rs->attacks, rs->nattacks, 1, &ac, &nac, err, errlen))
		goto out;
	total =
	    (double)rs->nseeds * (1 + nsc) * (1 + nac) + (double)rs->nseeds * nsc * rs->controls;
	if (total > MAX_JOBS) {
		errf(err, errlen,
		     "%s: the job matrix expands to %.0f jobs; expected at most %d (fewer seeds, "
		     "schemes, attacks or values)",
		     rs->path, total, MAX_JOBS);
		goto out;
	}
	js = xcalloc((size_t)total, sizeof *js);
	train_of = xcalloc((size_t)rs->nseeds, sizeof *train_of);

	/* Clean models first, then marked ones: they gate everything else. */
	for (int s = 0; s < rs->nseeds; s++) {
		struct job *j = new_job(js, &n, JOB_TRAIN, -1, rs->seeds[s]);

		strlcopy(j->scheme, "none", NAMELEN);
		j->cost = tc;
		train_of[s] = n - 1;
	}
	for (int s = 0; s < rs->nseeds; s++)
		for (int k = 0; k < nsc; k++) {
			struct job *j = new_job(js, &n, JOB_EMBED, train_of[s], rs->seeds[s]);

			strlcopy(j->scheme, sc[k].e->name, NAMELEN);
			j->sp = sc[k].ps;
			j->cost = tc;
		}
	/* Attacks of every model job: the clean one and every marked one. */
	for (int m = 0, nmodels = n; m < nmodels; m++)
		for (int k = 0; k < nac; k++) {
			const struct job *pj = &js[m];
			struct job *j = new_job(js, &n, JOB_ATTACK, m, pj->seed);

			strlcopy(j->scheme, pj->scheme, NAMELEN);
			j->sp = pj->sp;
			strlcopy(j->attack, ac[k].e->name, NAMELEN);
			j->ap = ac[k].ps;
			j->cost = 0.2 * tc;
		}
	for (int m = rs->nseeds; m < rs->nseeds * (1 + nsc); m++)
		for (int ci = 1; ci <= rs->controls; ci++) {
			const struct job *pj = &js[m];
			struct job *j = new_job(js, &n, JOB_CONTROL, m, pj->seed);

			strlcopy(j->scheme, pj->scheme, NAMELEN);
			j->sp = pj->sp;
			j->control_index = ci;
			j->cost = tc;
		}
	for (int i = 0; i < n; i++)
		job_finalise(&js[i], rs);
	*jobs = js;
	*njobs = n;
	js = NULL;
	rc = 0;
out:
	free(js);
	free(train_of);
	free(sc);
	free(ac);
	return rc;
}
