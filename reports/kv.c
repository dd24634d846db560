/* kv.c - the "k=v;k=v" parameter strings of results.csv (scheme_params,
 * attack_params): items, look-up, removal, labels for people and ordering.
 * Items are scanned by kv_next (workers/util.c), the one k=v scanner. */
#include "report_int.h"
#include "../workers/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The i-th ';'-separated item of params into key and val ("" when the item
 * has no '='); returns 0 past the last item. */
int kv_item(const char *ps, int i, char *key, size_t klen, char *val, size_t vlen)
{
	const char *p = ps, *k, *v;
	size_t kl, vl;

	do
		if (!kv_next(&p, ";", &k, &kl, &v, &vl))
			return 0;
	while (i-- > 0);
	snprintf(key, klen, "%.*s", (int)kl, k);
	snprintf(val, vlen, "%.*s", (int)vl, v ? v : "");
	return 1;
}

/* The value of key in params; 0 if present. */
int kv_get(const char *ps, const char *key, char *val, size_t vlen)
{
	char k[RESULT_VALLEN * 3];

	for (int i = 0; kv_item(ps, i, k, sizeof k, val, vlen); i++)
		if (!strcmp(k, key))
			return 0;
	val[0] = 0;
	return -1;
}

/* params without the item of key. */
void kv_del(const char *ps, const char *key, char *out, size_t len)
{
	const char *p = ps, *k, *v;
	size_t kl, vl, o = 0, n;

	out[0] = 0;
	while (kv_next(&p, ";", &k, &kl, &v, &vl)) {
		n = v ? (size_t)(v - k) + vl : kl;
		if ((kl == strlen(key) && !strncmp(k, key, kl)) || o + n + 2 >= len)
			continue;
		if (o)
			out[o++] = ';';
		memcpy(out + o, k, n);
		o += n;
		out[o] = 0;
	}
}

/* params for people: "a=1;b=2" -> "a=1, b=2", cleaned. */
void kv_pretty(const char *ps, char *out, size_t len)
{
	char tmp[LABELLEN];
	size_t o = 0;

	clean_text(ps, tmp, sizeof tmp);
	for (const char *p = tmp; *p && o + 3 < len; p++) {
		if (*p == ';') {
			out[o++] = ',';
			out[o++] = ' ';
		} else {
			out[o++] = *p;
		}
	}
	out[o] = 0;
}

/* The items of ps whose key has another value in at least one of the n
 * strings others[] (parameters of the same plug-in): what tells it apart. */
void kv_varying(const char *ps, const char *const *others, int n, char *out, size_t len)
{
	char k[RESULT_VALLEN * 3], v[RESULT_VALLEN * 3], w[RESULT_VALLEN * 3], t[LABELLEN];

	out[0] = 0;
	for (int p = 0; p < MAXKEYS && kv_item(ps, p, k, sizeof k, v, sizeof v); p++) {
		int differs = 0;

		for (int j = 0; j < n && !differs; j++)
			differs = kv_get(others[j], k, w, sizeof w) || strcmp(w, v);
		if (differs) {
			snprintf(t, sizeof t, "%s%.100s=%.300s", out[0] ? ";" : "", k, v);
			rp_cat(out, len, t);
		}
	}
}

/* Orders parameter strings item by item, numbers by value. */
int kv_cmp(const char *a, const char *b)
{
	char ka[RESULT_VALLEN * 3], va[RESULT_VALLEN * 3], kb[RESULT_VALLEN * 3],
	    vb[RESULT_VALLEN * 3];

	for (int i = 0;; i++) {
		int ha = kv_item(a, i, ka, sizeof ka, va, sizeof va);
		int hb = kv_item(b, i, kb, sizeof kb, vb, sizeof vb);
		double x, y;
		int c;

		if (!ha || !hb)
			return ha - hb;
		c = strcmp(ka, kb);
		if (c)
			return c;
		if (rp_is_num(va, &x) && rp_is_num(vb, &y)) {
			if (x != y)
				return x < y ? -1 : 1;
			continue;
		}
		c = strcmp(va, vb);
		if (c)
			return c;
	}
}
