/* jobfile_priv.h - the job-file parser's private interface between its
 * files: the parse context and YAML helpers (jobfile_yaml.c), the run
 * section (jobfile_run.c), value lists and ranges (jobfile_range.c) and the
 * plug-in entries (jobfile_plugins.c), used by jobfile_load (jobfile.c).
 * Every message points at a node as "FILE:LINE:COL: what was wrong;
 * expected ...". */
#ifndef WM_JOBFILE_PRIV_H
#define WM_JOBFILE_PRIV_H

#include "job.h"

#include <stddef.h>
#include <yaml.h>

/* What a parse works on: the file, its YAML document, the run being filled
 * and the error buffer. */
struct jf_ctx {
	const char *path;
	yaml_document_t *doc;
	struct run_spec *rs;
	char *err;
	size_t errlen;
};

/* ---- YAML helpers (jobfile_yaml.c) ---- */
int jf_node_line(const yaml_node_t *n);
int jf_node_col(const yaml_node_t *n);
/* "FILE:LINE:COL: <message>" at node n; always returns -1. */
int jf_node_err(struct jf_ctx *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
yaml_node_t *jf_get_node(struct jf_ctx *c, int id);
const char *jf_scalar(const yaml_node_t *n);
/* A missing node or a plain empty, ~ or null scalar. */
int jf_is_null(const yaml_node_t *n);
/* "a scalar", "a list", "a mapping" or "nothing", for messages */
const char *jf_node_kind(const yaml_node_t *n);
/* Every key of mapping m must be a plain scalar without NUL bytes, and
 * appear once. `where` names the mapping in messages. */
int jf_check_keys(struct jf_ctx *c, const yaml_node_t *m, const char *where);
/* The scalar text of a value node, or an error naming `what`. */
int jf_scalar_text(struct jf_ctx *c, const yaml_node_t *n, const char *what, const char *expect,
		   const char **out);
/* Strict decimal integer: optional sign, digits, nothing else. */
int jf_parse_ll(const char *s, long long *v);
/* A finite number, nothing after it. */
int jf_parse_num(const char *s, double *v);

/* ---- the run section (jobfile_run.c) ---- */
/* Parses run: (m may be NULL) into c->rs, fills in the model's defaults
 * and checks that the model takes the dataset's inputs. */
int jf_parse_run(struct jf_ctx *c, const yaml_node_t *m);

/* ---- value lists and ranges (jobfile_range.c) ---- */
/* The canonical values of one parameter, after range expansion. */
struct jf_vlist {
	int n, cap;
	char **v;
};

void jf_vlist_free(struct jf_vlist *l);
/* One scalar of parameter d of plug-in `owner`: a single value or, for
 * numeric parameters, a range ('start:stop:step' or 'a..b'), appended to l
 * in canonical form; duplicates are an error. */
int jf_expand_scalar(struct jf_ctx *c, struct jf_vlist *l, const char *owner,
		     const struct param_def *defs, const struct param_def *d, const yaml_node_t *n);

/* ---- plug-in entries (jobfile_plugins.c) ---- */
/* schemes: (attacks = 0) or attacks: (attacks = 1) into c->rs. */
int jf_parse_plugins(struct jf_ctx *c, const yaml_node_t *m, int attacks);

#endif
