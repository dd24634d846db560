/* jobfile_yaml.c - YAML helpers of the job-file parser: node positions,
 * errors at a node, scalars, key checks and strict numbers. */
#include "jobfile_priv.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int jf_node_line(const yaml_node_t *n)
{
	return n ? (int)n->start_mark.line + 1 : 1;
}

int jf_node_col(const yaml_node_t *n)
{
	return n ? (int)n->start_mark.column + 1 : 1;
}

/* "FILE:LINE:COL: <message>" at node n; always returns -1. */
int jf_node_err(struct jf_ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	size_t off;
	va_list ap;

	if (!c->err || !c->errlen)
		return -1;
	snprintf(c->err, c->errlen, "%s:%d:%d: ", c->path, jf_node_line(n), jf_node_col(n));
	off = strlen(c->err);
	va_start(ap, fmt);
	vsnprintf(c->err + off, c->errlen - off, fmt, ap);
	va_end(ap);
	return -1;
}

yaml_node_t *jf_get_node(struct jf_ctx *c, int id)
{
	return yaml_document_get_node(c->doc, id);
}

const char *jf_scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

int jf_is_null(const yaml_node_t *n)
{
	const char *s;

	if (!n)
		return 1;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	s = jf_scalar(n);
	return !s[0] || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

const char *jf_node_kind(const yaml_node_t *n)
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
int jf_check_keys(struct jf_ctx *c, const yaml_node_t *m, const char *where)
{
	yaml_node_pair_t *p, *q;

	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = jf_get_node(c, p->key);

		if (!k || k->type != YAML_SCALAR_NODE)
			return jf_node_err(c, k, "%s has %s as a key; expected a plain name", where,
					   k ? jf_node_kind(k) : "nothing");
		if (strlen(jf_scalar(k)) != k->data.scalar.length)
			return jf_node_err(
			    c, k, "key in %s contains a NUL byte; expected a plain name", where);
		for (q = m->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *k0 = jf_get_node(c, q->key);

			if (k0 && k0->type == YAML_SCALAR_NODE &&
			    !strcmp(jf_scalar(k0), jf_scalar(k)))
				return jf_node_err(c, k,
						   "duplicate key '%s' in %s (first at line %d, "
						   "column %d); expected each key once",
						   jf_scalar(k), where, jf_node_line(k0),
						   jf_node_col(k0));
		}
	}
	return 0;
}

/* The scalar text of a value node, or an error naming `what`. */
int jf_scalar_text(struct jf_ctx *c, const yaml_node_t *n, const char *what, const char *expect,
		   const char **out)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return jf_node_err(c, n, "%s is %s; expected %s", what,
				   n ? jf_node_kind(n) : "nothing", expect);
	if (strlen(jf_scalar(n)) != n->data.scalar.length)
		return jf_node_err(c, n, "%s contains a NUL byte; expected %s", what, expect);
	*out = jf_scalar(n);
	return 0;
}

/* Strict decimal integer: optional '-', digits, nothing else. */
int jf_parse_ll(const char *s, long long *v)
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

int jf_parse_num(const char *s, double *v)
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
