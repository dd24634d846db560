/* params.c - parameter tables, validation and canonical text. */
#include "params.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct param_def *find_def(const struct param_def *defs, const char *key)
{
	for (; defs && defs->key; defs++)
		if (!strcmp(defs->key, key))
			return defs;
	return NULL;
}

/* whole numbers in full (10000, not 1e+04), others in shortest form */
static void num_text(char *buf, size_t len, double v)
{
	if (v == floor(v) && fabs(v) < 1e15)
		snprintf(buf, len, "%.0f", v);
	else
		fmt_double(buf, len, v);
}

void param_expect(const struct param_def *d, char *buf, size_t len)
{
	char lo[32], hi[32];
	num_text(lo, sizeof lo, d->min);
	num_text(hi, sizeof hi, d->max);
	switch (d->type) {
	case PT_INT:
		snprintf(buf, len, "an integer in [%s, %s]", lo, hi);
		break;
	case PT_DOUBLE:
		snprintf(buf, len, "a number in [%s, %s]", lo, hi);
		break;
	case PT_STRING:
		if (d->choices)
			snprintf(buf, len, "one of %s", d->choices);
		else
			snprintf(buf, len, "a non-empty string");
		break;
	}
}

static int in_choices(const char *choices, const char *v)
{
	size_t n = strlen(v);
	const char *p = choices;
	while (*p) {
		const char *e = strchr(p, '|');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l == n && !strncmp(p, v, n))
			return 1;
		if (!e)
			break;
		p = e + 1;
	}
	return 0;
}

int param_check(const char *owner, const struct param_def *defs, const char *key, const char *val,
		char *canon, size_t canonlen, char *err, size_t errlen)
{
	const struct param_def *d = find_def(defs, key);
	char exp[160];
	if (!d) {
		char known[400] = "";
		for (const struct param_def *p = defs; p && p->key; p++) {
			if (known[0])
				strncat(known, ", ", sizeof known - strlen(known) - 1);
			strncat(known, p->key, sizeof known - strlen(known) - 1);
		}
		return errf(err, errlen, "%s: unknown parameter '%s'; expected one of: %s", owner,
			    key, known[0] ? known : "(this plug-in takes no parameters)");
	}
	param_expect(d, exp, sizeof exp);
	if (d->type == PT_STRING) {
		if (!val[0] || (d->choices && !in_choices(d->choices, val)))
			return errf(err, errlen,
				    "%s: parameter '%s' = '%s' is not valid; expected %s", owner,
				    key, val, exp);
		if (strlen(val) >= canonlen || strlen(val) >= PARAM_VALLEN)
			return errf(err, errlen,
				    "%s: parameter '%s' value is too long (max %d chars)", owner,
				    key, PARAM_VALLEN - 1);
		strlcopy(canon, val, canonlen);
		return 0;
	}
	char *end;
	errno = 0;
	double v = strtod(val, &end);
	if (end == val || *end || errno == ERANGE || !isfinite(v))
		return errf(err, errlen, "%s: parameter '%s' = '%s' is not a number; expected %s",
			    owner, key, val, exp);
	if (d->type == PT_INT && v != floor(v))
		return errf(err, errlen, "%s: parameter '%s' = '%s' is not an integer; expected %s",
			    owner, key, val, exp);
	if (v < d->min || v > d->max)
		return errf(err, errlen, "%s: parameter '%s' = '%s' is out of range; expected %s",
			    owner, key, val, exp);
	if (d->type == PT_INT)
		snprintf(canon, canonlen, "%lld", (long long)v);
	else
		fmt_double(canon, canonlen, v);
	return 0;
}

int param_set_put(struct param_set *ps, const char *key, const char *val)
{
	for (int i = 0; i < ps->n; i++)
		if (!strcmp(ps->key[i], key)) {
			strlcopy(ps->val[i], val, PARAM_VALLEN);
			return 0;
		}
	if (ps->n >= PARAM_MAX)
		return -1;
	strlcopy(ps->key[ps->n], key, PARAM_KEYLEN);
	strlcopy(ps->val[ps->n], val, PARAM_VALLEN);
	ps->n++;
	return 0;
}

static const char *value_of(const struct param_set *ps, const char *key)
{
	for (int i = 0; i < ps->n; i++)
		if (!strcmp(ps->key[i], key))
			return ps->val[i];
	return NULL;
}

const char *param_get(const struct param_set *ps, const char *key)
{
	return value_of(ps, key);
}

void param_complete(struct param_set *ps, const struct param_def *defs)
{
	for (const struct param_def *d = defs; d && d->key; d++)
		if (!value_of(ps, d->key))
			param_set_put(ps, d->key, d->def);
	/* insertion sort by key */
	for (int i = 1; i < ps->n; i++)
		for (int j = i; j > 0 && strcmp(ps->key[j - 1], ps->key[j]) > 0; j--) {
			char tk[PARAM_KEYLEN], tv[PARAM_VALLEN];
			memcpy(tk, ps->key[j], PARAM_KEYLEN);
			memcpy(tv, ps->val[j], PARAM_VALLEN);
			memcpy(ps->key[j], ps->key[j - 1], PARAM_KEYLEN);
			memcpy(ps->val[j], ps->val[j - 1], PARAM_VALLEN);
			memcpy(ps->key[j - 1], tk, PARAM_KEYLEN);
			memcpy(ps->val[j - 1], tv, PARAM_VALLEN);
		}
}

int param_to_cfg(const char *owner, const struct param_def *defs, const struct param_set *ps,
		 void *cfg, char *err, size_t errlen)
{
	char canon[PARAM_VALLEN];
	for (int i = 0; ps && i < ps->n; i++) {
		const struct param_def *d = find_def(defs, ps->key[i]);
		/* a table's own default is taken as it is: a plug-in whose
		 * parameter has no usable default (chain's steps) says why in
		 * its check */
		if (d && !strcmp(ps->val[i], d->def))
			continue;
		if (param_check(owner, defs, ps->key[i], ps->val[i], canon, sizeof canon, err,
				errlen))
			return -1;
	}
	for (const struct param_def *d = defs; d && d->key; d++) {
		const char *v = ps ? value_of(ps, d->key) : NULL;
		char *field;
		if (d->off == PARAM_CORE)
			continue;
		field = (char *)cfg + d->off;
		if (!v)
			v = d->def;
		switch (d->type) {
		case PT_INT:
			*(int *)(void *)field = (int)strtod(v, NULL);
			break;
		case PT_DOUBLE:
			*(double *)(void *)field = strtod(v, NULL);
			break;
		case PT_STRING:
			strlcopy(field, v, PARAM_VALLEN);
			break;
		}
	}
	return 0;
}

/* Bytes a field of type t takes in a config struct. */
static size_t field_size(enum param_type t)
{
	return t == PT_INT ? sizeof(int) : t == PT_DOUBLE ? sizeof(double) : PARAM_VALLEN;
}

void *param_cfg_new(const char *owner, const struct param_def *defs, size_t size,
		    const struct param_set *ps, char *err, size_t errlen)
{
	void *cfg;
	for (const struct param_def *d = defs; d && d->key; d++)
		if (d->off != PARAM_CORE && d->off + field_size(d->type) > size) {
			errf(err, errlen,
			     "%s: parameter '%s' lies outside its config struct of %zu bytes; "
			     "expected cfg_size = sizeof the struct its table describes",
			     owner, d->key, size);
			return NULL;
		}
	cfg = xcalloc(1, size ? size : 1);
	if (param_to_cfg(owner, defs, ps, cfg, err, errlen)) {
		free(cfg);
		return NULL;
	}
	return cfg;
}

void param_format(const struct param_set *ps, char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = 0;
	for (int i = 0; i < ps->n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s=%s", i ? ";" : "", ps->key[i],
					ps->val[i]);
}

int param_parse(struct param_set *ps, const char *text, const char *seps, const char *owner,
		const struct param_def *defs, char *err, size_t errlen)
{
	char buf[PARAM_MAX * (PARAM_KEYLEN + PARAM_VALLEN + 2)], canon[PARAM_VALLEN];
	const char *p = text, *k, *v;
	size_t kl, vl;
	if (strlen(text) >= sizeof buf)
		return errf(
		    err, errlen,
		    "%s: parameter list '%.60s...' is too long; expected at most %zu characters",
		    owner, text, sizeof buf - 1);
	while (kv_next(&p, seps, &k, &kl, &v, &vl)) {
		char tok[sizeof buf];
		if (!v || !kl || !vl) {
			snprintf(tok, sizeof tok, "%.*s", (int)(v ? (size_t)(v - k) + vl : kl), k);
			return errf(err, errlen,
				    "%s: item '%s' is not key=value; expected key=value items",
				    owner, tok);
		}
		snprintf(tok, sizeof tok, "%.*s", (int)(kl + 1 + vl), k);
		tok[kl] = 0;
		const char *val = tok + kl + 1;
		if (defs) {
			if (param_check(owner, defs, tok, val, canon, sizeof canon, err, errlen))
				return -1;
			val = canon;
		}
		if (strlen(tok) >= PARAM_KEYLEN || strlen(val) >= PARAM_VALLEN)
			return errf(err, errlen,
				    "%s: item '%s' is too long; expected keys under %d and values "
				    "under %d characters",
				    owner, tok, PARAM_KEYLEN, PARAM_VALLEN);
		if (param_set_put(ps, tok, val))
			return errf(err, errlen, "%s: more than %d parameters; expected at most %d",
				    owner, PARAM_MAX, PARAM_MAX);
	}
	return 0;
}
