/* jobfile_range.c - a parameter's value list: single values and ranges
 * ('start:stop:step', 'a..b') expanded, canonicalised by the plug-in's
 * parameter table and checked for duplicates. */
#include "jobfile_priv.h"
#include "../workers/params.h"
#include "../workers/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RANGE_VALUES 100000 /* values one parameter may expand to */

void jf_vlist_free(struct jf_vlist *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* Canonicalises one value and appends it; duplicates are an error. */
static int vlist_add(struct jf_ctx *c, struct jf_vlist *l, const char *owner,
		     const struct param_def *defs, const char *key, const char *val,
		     const yaml_node_t *at)
{
	char canon[PARAM_VALLEN], msg[ERRBUF];

	if (param_check(owner, defs, key, val, canon, sizeof canon, msg, sizeof msg))
		return jf_node_err(c, at, "%s", msg);
	for (int i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], canon))
			return jf_node_err(c, at,
					   "%s.%s lists the value '%s' twice (as written: '%s'); "
					   "expected distinct values",
					   owner, key, canon, val);
	if (l->n >= MAX_RANGE_VALUES)
		return jf_node_err(c, at, "%s.%s has more than %d values; expected at most %d",
				   owner, key, MAX_RANGE_VALUES, MAX_RANGE_VALUES);
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
int jf_expand_scalar(struct jf_ctx *c, struct jf_vlist *l, const char *owner,
		     const struct param_def *defs, const struct param_def *d, const yaml_node_t *n)
{
	char expect[160], what[96];
	const char *s = NULL;

	param_expect(d, expect, sizeof expect);
	snprintf(what, sizeof what, "%s.%s", owner, d->key);
	if (jf_is_null(n))
		return jf_node_err(c, n, "%s has no value; expected %s", what, expect);
	if (jf_scalar_text(c, n, what, expect, &s))
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
			return jf_node_err(c, n,
					   "%s = '%.40s...' is not a valid range; expected %s",
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
		if (nf != 3 || jf_parse_num(f[0], &a) || jf_parse_num(f[1], &b) ||
		    jf_parse_num(f[2], &st) || !(st > 0) || a > b)
			return jf_node_err(c, n, "%s = '%s' is not a valid range; expected %s",
					   what, s, range_expect);
		k = (b - a) / st;
		if (!isfinite(k) || k >= MAX_RANGE_VALUES)
			return jf_node_err(c, n,
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
		if (jf_parse_ll(lo, &a) || jf_parse_ll(dots + 2, &b) || a > b)
			return jf_node_err(c, n, "%s = '%s' is not a valid range; expected %s",
					   what, s, range_expect);
		if (b - a >= MAX_RANGE_VALUES)
			return jf_node_err(c, n,
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
