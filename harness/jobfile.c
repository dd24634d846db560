/* jobfile.c - the job file: read, parse and validate it into a run_spec.
 *
 * The job file is YAML with three top-level keys: run (training settings,
 * seeds, ...; jobfile_run.c), schemes and attacks (plug-in name -> parameter
 * value lists; jobfile_plugins.c, jobfile_range.c). Everything is checked
 * before any work; every message points at the offending node as
 * "FILE:LINE:COL: what was wrong; expected ..." (jobfile_yaml.c). The
 * matrix is expanded into jobs in jobs_expand.c. */
#include "jobfile_priv.h"
#include "../schemes/scheme.h"
#include "../workers/data.h"
#include "../workers/nn.h"
#include "../workers/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE_BYTES (4L << 20) /* a job file is small; refuse anything huge */

static void set_run_defaults(struct run_spec *rs)
{
	strlcopy(rs->dataset, data_sources[0].name, sizeof rs->dataset);
	strlcopy(rs->model, nn_archs[0].name, sizeof rs->model);
	rs->nseeds = 1;
	rs->seeds = xmalloc(sizeof *rs->seeds);
	rs->seeds[0] = 1;
	rs->run_seed = 0;
	rs->alpha = 1e-3;
	rs->controls = 0;
	rs->threads = 1;
	rs->search_coarse = 3;
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
	struct jf_ctx c = {path, &doc, rs, err, errlen};
	const yaml_node_t *root, *run = NULL, *schemes = NULL, *attacks = NULL, *search = NULL;
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
		jf_node_err(
		    &c, root,
		    "the job file is %s; expected a mapping with keys run, schemes, attacks",
		    jf_node_kind(root));
		goto out;
	}
	if (jf_check_keys(&c, root, "the job file"))
		goto out;
	for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = jf_get_node(&c, p->key);
		yaml_node_t *v = jf_get_node(&c, p->value);

		if (!strcmp(jf_scalar(k), "run")) {
			run = v;
		} else if (!strcmp(jf_scalar(k), "schemes")) {
			schemes = v;
		} else if (!strcmp(jf_scalar(k), "attacks")) {
			attacks = v;
		} else if (!strcmp(jf_scalar(k), "search")) {
			search = v;
		} else {
			jf_node_err(&c, k,
				    "unknown top-level key '%s'; expected one of: run, schemes, "
				    "attacks, search",
				    jf_scalar(k));
			goto out;
		}
	}
	if (jf_parse_run(&c, run))
		goto out;
	if (schemes && jf_parse_plugins(&c, schemes, 0))
		goto out;
	if (!rs->nschemes) {
		/* default: the clean model only */
		memset(&rs->schemes[0], 0, sizeof rs->schemes[0]);
		strlcopy(rs->schemes[0].name, wm_scheme_unmarked()->name, NAMELEN);
		rs->nschemes = 1;
	}
	if (attacks && jf_parse_plugins(&c, attacks, 1))
		goto out;
	if (search && jf_parse_plugins(&c, search, 2))
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
	free_entries(rs->searches, rs->nsearches);
	rs->nschemes = 0;
	rs->nattacks = 0;
	rs->nsearches = 0;
	free(rs->seeds);
	rs->seeds = NULL;
	rs->nseeds = 0;
}
