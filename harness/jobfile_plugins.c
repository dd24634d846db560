/* jobfile_plugins.c - the schemes and attacks sections of a job file:
 * each entry names a registered plug-in and lists values per parameter. */
#include "jobfile_priv.h"
#include "../workers/params.h"
#include "../workers/util.h"
#include "../schemes/scheme.h"
#include "../attacks/attack.h"

#include <stdio.h>
#include <string.h>

static const struct param_def *find_def(const struct param_def *defs, const char *key)
{
	for (; defs && defs->key; defs++)
		if (!strcmp(defs->key, key))
			return defs;
	return NULL;
}

static int parse_entry_params(struct jf_ctx *c, struct plug_entry *e, const struct param_def *defs,
			      const yaml_node_t *m)
{
	char where[96];
	yaml_node_pair_t *p;

	if (jf_is_null(m))
		return 0;
	if (m->type != YAML_MAPPING_NODE)
		return jf_node_err(
		    c, m, "%s is followed by %s; expected a mapping of its parameters (or nothing)",
		    e->name, jf_node_kind(m));
	snprintf(where, sizeof where, "the parameters of %s", e->name);
	if (jf_check_keys(c, m, where))
		return -1;
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = jf_get_node(c, p->key);
		yaml_node_t *v = jf_get_node(c, p->value);
		const struct param_def *d = find_def(defs, jf_scalar(k));
		struct jf_vlist l = {0, 0, NULL};
		int i = e->nkeys;

		if (!d) {
			char canon[PARAM_VALLEN], msg[ERRBUF];

			param_check(e->name, defs, jf_scalar(k), "", canon, sizeof canon, msg,
				    sizeof msg);
			return jf_node_err(c, k, "%s", msg);
		}
		if (e->nkeys >= PARAM_MAX)
			return jf_node_err(c, k,
					   "%s has more than %d parameters; expected at most %d",
					   e->name, PARAM_MAX, PARAM_MAX);
		if (v->type == YAML_SEQUENCE_NODE) {
			yaml_node_item_t *it;

			if (v->data.sequence.items.top == v->data.sequence.items.start) {
				char expect[160];

				param_expect(d, expect, sizeof expect);
				return jf_node_err(
				    c, v, "%s.%s is an empty list; expected at least one value, %s",
				    e->name, d->key, expect);
			}
			for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
			     it++)
				if (jf_expand_scalar(c, &l, e->name, defs, d,
						     jf_get_node(c, *it))) {
					jf_vlist_free(&l);
					return -1;
				}
		} else if (jf_expand_scalar(c, &l, e->name, defs, d, v)) {
			jf_vlist_free(&l);
			return -1;
		}
		strlcopy(e->key[i], d->key, PARAM_KEYLEN);
		e->key_line[i] = jf_node_line(k);
		e->key_col[i] = jf_node_col(k);
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
/* A search entry names one parameter with several values: the strength
 * searched, weakest first. */
static int check_search_entry(struct jf_ctx *c, const struct plug_entry *e)
{
	int many = 0;
	char keys[400] = "";

	for (int k = 0; k < e->nkeys; k++)
		if (e->nvals[k] > 1) {
			many++;
			if (keys[0])
				strlcopy(keys + strlen(keys), ", ", sizeof keys - strlen(keys));
			strlcopy(keys + strlen(keys), e->key[k], sizeof keys - strlen(keys));
		}
	if (many == 1)
		return 0;
	errf(c->err, c->errlen,
	     "%s:%d:%d: search entry %s has %s; expected exactly one parameter with a list or "
	     "range of values (the strength searched, weakest first) and single values for the "
	     "others",
	     c->path, e->line, e->col, e->name,
	     many ? "several parameters with several values" : "no parameter with several values");
	if (many) {
		size_t l = strlen(c->err);
		snprintf(c->err + l, c->errlen - l, " (%s)", keys);
	}
	return -1;
}

/* attacks: 0 the schemes section, 1 attacks, 2 search (attack entries). */
int jf_parse_plugins(struct jf_ctx *c, const yaml_node_t *m, int attacks)
{
	const char *section = attacks == 2 ? "search" : attacks ? "attacks" : "schemes";
	struct plug_entry *entries = attacks == 2 ? c->rs->searches
				     : attacks	  ? c->rs->attacks
						  : c->rs->schemes;
	int *count = attacks == 2 ? &c->rs->nsearches
		     : attacks	  ? &c->rs->nattacks
				  : &c->rs->nschemes;
	yaml_node_pair_t *p;

	*count = 0;
	if (jf_is_null(m))
		return 0;
	if (m->type != YAML_MAPPING_NODE)
		return jf_node_err(c, m,
				   "%s is %s; expected a mapping of %s names to their parameters",
				   section, jf_node_kind(m), attacks ? "attack" : "scheme");
	if (jf_check_keys(c, m, section))
		return -1;
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = jf_get_node(c, p->key);
		yaml_node_t *v = jf_get_node(c, p->value);
		const struct param_def *defs;
		struct plug_entry *e;
		char known[600];

		if (attacks) {
			const struct atk_attack *a = atk_find(jf_scalar(k));

			if (!a) {
				known_attacks(known, sizeof known);
				return jf_node_err(c, k, "unknown attack '%s'; expected one of: %s",
						   jf_scalar(k), known);
			}
			defs = atk_params(a);
		} else {
			const struct wm_scheme *s = wm_scheme_find(jf_scalar(k));

			if (!s) {
				known_schemes(known, sizeof known);
				return jf_node_err(c, k, "unknown scheme '%s'; expected one of: %s",
						   jf_scalar(k), known);
			}
			defs = s->params;
		}
		if (strlen(jf_scalar(k)) >= NAMELEN)
			return jf_node_err(c, k,
					   "%s name '%s' is too long; expected at most %d bytes",
					   section, jf_scalar(k), NAMELEN - 1);
		if (*count >= MAXPLUG)
			return jf_node_err(c, k, "%s has more than %d entries; expected at most %d",
					   section, MAXPLUG, MAXPLUG);
		e = &entries[(*count)++];
		memset(e, 0, sizeof *e);
		strlcopy(e->name, jf_scalar(k), NAMELEN);
		e->line = jf_node_line(k);
		e->col = jf_node_col(k);
		if (parse_entry_params(c, e, defs, v))
			return -1;
		if (attacks == 2 && check_search_entry(c, e))
			return -1;
	}
	return 0;
}
