/* runjson.c - RUNDIR/run.json: the writer (the harness fills a struct
 * runjson) and the reader of the report (see runjson.h). The reader is
 * small and lenient: it decodes strings (escapes, \u with surrogate pairs,
 * NUL and lone surrogates as '?') and skips any value it is not asked
 * about; a malformed file reads as one without the member asked for. */
#include "runjson.h"
#include "../workers/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- writer -- */

/* A JSON string: '"' and '\' escaped, control characters as \u00XX. */
static void put_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* A string, or null when empty. */
static void put_str_or_null(FILE *f, const char *s)
{
	if (s && *s)
		put_str(f, s);
	else
		fputs("null", f);
}

static void put_plugin(FILE *f, const struct runjson_plugin *p)
{
	fputs("    {\"name\": ", f);
	put_str(f, p->name);
	fputs(", \"kind\": ", f);
	put_str(f, p->kind);
	if (!strcmp(p->kind, "scheme")) {
		fprintf(f, ", \"order\": %d, \"colour\": ", p->order);
		put_str_or_null(f, p->colour);
		fprintf(f, ", \"point\": %d, \"unmarked\": %s, \"aux_label\": ", p->point,
			p->unmarked ? "true" : "false");
		put_str_or_null(f, p->aux_label);
	} else {
		fputs(", \"category\": ", f);
		put_str_or_null(f, p->category);
		fputs(", \"threat\": ", f);
		put_str_or_null(f, p->threat);
		fputs(", \"params\": {", f);
		for (int i = 0; i < p->nparams; i++) {
			fputs(i ? ", " : "", f);
			put_str(f, p->param_key[i]);
			fputs(": ", f);
			put_str_or_null(f, p->param_help[i]);
		}
		fputs("}", f);
	}
	fputs("}", f);
}

int runjson_write(const char *rundir, const struct runjson *rj, char *err, size_t errlen)
{
	char path[4096], tmp[4096 + 8];
	FILE *f;

	snprintf(path, sizeof path, "%s/run.json", rundir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return errf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
	fprintf(f, "{\n  \"wmbench_version\": \"%s\",\n  \"job_file\": ", rj->version);
	put_str(f, rj->job_file);
	fprintf(f, ",\n  \"job_file_sha256\": \"%s\",\n  \"name\": ", rj->job_file_sha256);
	put_str(f, rj->name);
	fprintf(f, ",\n  \"alpha\": %.17g,\n  \"run_seed\": %llu", rj->alpha, rj->run_seed);
	fprintf(f, ",\n  \"jobs\": %d,\n  \"ranks\": %d,\n  \"openblas_threads_per_rank\": %d,\n",
		rj->jobs, rj->ranks, rj->threads_per_rank);
	fprintf(f, "  \"start\": \"%s\",\n  \"end\": %s%s%s,\n", rj->start, rj->end ? "\"" : "",
		rj->end ? rj->end : "null", rj->end ? "\"" : "");
	if (rj->have_counts)
		fprintf(f, "  \"ok\": %d,\n  \"failed\": %d,\n  \"skipped\": %d,\n", rj->ok,
			rj->failed, rj->skipped);
	fprintf(f, "  \"libraries\": {\n    \"mpi\": ");
	put_str(f, rj->mpi);
	fprintf(f, ",\n    \"openblas\": ");
	put_str(f, rj->openblas);
	fprintf(f, ",\n    \"openblas_core\": ");
	put_str(f, rj->openblas_core);
	fprintf(f, ",\n    \"libarchive\": ");
	put_str(f, rj->libarchive);
	fprintf(f, ",\n    \"libyaml\": ");
	put_str(f, rj->libyaml);
	fprintf(f, "\n  },\n  \"cpu\": ");
	put_str(f, rj->cpu);
	fprintf(f, ",\n  \"dataset\": ");
	put_str(f, rj->dataset);
	fprintf(f, ",\n  \"dataset_files\": {");
	for (int i = 0; i < rj->nfiles; i++) {
		fprintf(f, "%s\n    ", i ? "," : "");
		put_str(f, rj->files[i].path);
		fprintf(f, ": \"%s\"", rj->files[i].sha256);
	}
	fprintf(f, "\n  }");
	if (rj->nplugins > 0) {
		fprintf(f, ",\n  \"plugins\": [\n");
		for (int i = 0; i < rj->nplugins; i++) {
			put_plugin(f, &rj->plugins[i]);
			fputs(i + 1 < rj->nplugins ? ",\n" : "\n", f);
		}
		fprintf(f, "  ]");
	}
	fprintf(f, "\n}\n");
	if (fclose(f) || rename(tmp, path))
		return errf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
	return 0;
}

/* ---------------------------------------------------------------- reader -- */

static const char *json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static void put_utf8(char *out, size_t len, size_t *o, unsigned cp)
{
	char b[4];
	int n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12);
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | cp >> 18);
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (out && *o + (size_t)n < len) {
		memcpy(out + *o, b, (size_t)n);
		*o += (size_t)n;
	}
}

static int hex4(const char *p, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];

		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

/* A JSON string at p (on its '"') into out (may be NULL); returns the
 * character after it, or NULL if malformed. */
static const char *json_str(const char *p, char *out, size_t len)
{
	size_t o = 0;

	if (*p++ != '"')
		return NULL;
	while (*p != '"') {
		unsigned cp;

		if (!*p)
			return NULL;
		if (*p != '\\') {
			if (out && o + 1 < len)
				out[o++] = *p;
			p++;
			continue;
		}
		p++;
		switch (*p) {
		case 'b':
			cp = '\b';
			break;
		case 'f':
			cp = '\f';
			break;
		case 'n':
			cp = '\n';
			break;
		case 'r':
			cp = '\r';
			break;
		case 't':
			cp = '\t';
			break;
		case 'u':
			if (hex4(p + 1, &cp))
				return NULL;
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && p[1] == '\\' && p[2] == 'u') {
				unsigned lo;

				if (!hex4(p + 3, &lo) && lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					p += 6;
				}
			}
			if ((cp >= 0xd800 && cp < 0xe000) || !cp)
				cp = '?';
			break;
		case 0:
			return NULL;
		default:
			cp = (unsigned char)*p;
		}
		put_utf8(out, len, &o, cp);
		p++;
	}
	if (out && len)
		out[o] = 0;
	return p + 1;
}

static const char *json_skip(const char *p)
{
	int depth = 0;

	do {
		p = json_ws(p);
		if (*p == '"') {
			p = json_str(p, NULL, 0);
			if (!p)
				return NULL;
		} else if (*p == '{' || *p == '[') {
			depth++;
			p++;
		} else if (*p == '}' || *p == ']') {
			depth--;
			p++;
		} else if (*p == ',' || *p == ':') {
			p++;
		} else if (*p) {
			while (*p && !strchr(",:{}[]\" \t\r\n", *p))
				p++;
		} else {
			return NULL;
		}
	} while (depth > 0);
	return p;
}

int runjson_get(const char *js, const char *key, char *out, size_t len)
{
	char k[128];
	const char *p;

	if (!js)
		return -1;
	p = json_ws(js);
	if (*p++ != '{')
		return -1;
	for (;;) {
		p = json_ws(p);
		if (*p != '"')
			return -1;
		p = json_str(p, k, sizeof k);
		if (!p)
			return -1;
		p = json_ws(p);
		if (*p++ != ':')
			return -1;
		p = json_ws(p);
		if (!strcmp(k, key)) {
			if (*p == '"')
				return json_str(p, out, len) ? 0 : -1;
			if (*p == '{' || *p == '[')
				return -1;
			size_t n = strcspn(p, ",} \t\r\n");

			snprintf(out, len, "%.*s", (int)n, p);
			return 0;
		}
		p = json_skip(p);
		if (!p)
			return -1;
		p = json_ws(p);
		if (*p++ != ',')
			return -1;
	}
}

/* The value of member key of the object at p (on its '{'), or NULL. */
static const char *json_member(const char *p, const char *key)
{
	char k[128];

	p = json_ws(p);
	if (*p++ != '{')
		return NULL;
	p = json_ws(p);
	if (*p == '}')
		return NULL;
	for (;;) {
		p = json_ws(p);
		if (*p != '"')
			return NULL;
		p = json_str(p, k, sizeof k);
		if (!p)
			return NULL;
		p = json_ws(p);
		if (*p++ != ':')
			return NULL;
		p = json_ws(p);
		if (!strcmp(k, key))
			return p;
		p = json_skip(p);
		if (!p)
			return NULL;
		p = json_ws(p);
		if (*p++ != ',')
			return NULL;
	}
}

/* Member key of the object at obj as a string into out; 0 if it is one. */
static int member_str(const char *obj, const char *key, char *out, size_t len)
{
	const char *v = json_member(obj, key);

	out[0] = 0;
	return v && *v == '"' && json_str(v, out, len) ? 0 : -1;
}

/* Member key of the object at obj as an integer in [lo, hi]; 0 if it is one. */
static int member_int(const char *obj, const char *key, long lo, long hi, int *out)
{
	const char *v = json_member(obj, key);
	char *end;
	long x;

	if (!v || !(*v == '-' || (*v >= '0' && *v <= '9')))
		return -1;
	errno = 0;
	x = strtol(v, &end, 10);
	if (errno || x < lo || x > hi || !strchr(",} \t\r\n", *end))
		return -1;
	*out = (int)x;
	return 0;
}

static int is_colour(const char *s)
{
	if (s[0] != '#' || strlen(s) != 7)
		return 0;
	for (int i = 1; i < 7; i++)
		if (!strchr("0123456789abcdefABCDEF", s[i]))
			return 0;
	return 1;
}

/* The parameters of an attack: the object {"key": "help" or null, ...}. */
static void read_params(const char *p, struct runjson_plugin *pl)
{
	p = json_ws(p);
	if (*p++ != '{')
		return;
	p = json_ws(p);
	if (*p == '}')
		return;
	while (pl->nparams < RUNJSON_MAXPARAMS) {
		int i = pl->nparams;

		p = json_ws(p);
		if (*p != '"')
			return;
		p = json_str(p, pl->param_key[i], RESULT_KEYLEN);
		if (!p)
			return;
		p = json_ws(p);
		if (*p++ != ':')
			return;
		p = json_ws(p);
		pl->param_help[i][0] = 0;
		if (*p == '"')
			p = json_str(p, pl->param_help[i], RUNJSON_HELPLEN);
		else
			p = json_skip(p);
		if (!p)
			return;
		pl->nparams++;
		p = json_ws(p);
		if (*p++ != ',')
			return;
	}
}

/* One entry of "plugins" (p on its '{'); 0 if it names a plug-in. */
static int read_plugin(const char *p, struct runjson_plugin *pl)
{
	char v[32];
	const char *params;

	memset(pl, 0, sizeof *pl);
	pl->order = RUNJSON_NO_ORDER;
	if (member_str(p, "name", pl->name, sizeof pl->name) || !pl->name[0])
		return -1;
	member_str(p, "kind", pl->kind, sizeof pl->kind);
	member_int(p, "order", INT_MIN + 1, INT_MAX - 1, &pl->order);
	if (!member_str(p, "colour", v, sizeof v) && is_colour(v))
		strlcopy(pl->colour, v, sizeof pl->colour);
	member_int(p, "point", 1, 99, &pl->point);
	params = json_member(p, "unmarked");
	pl->unmarked = params && !strncmp(params, "true", 4);
	member_str(p, "aux_label", pl->aux_label, sizeof pl->aux_label);
	member_str(p, "category", pl->category, sizeof pl->category);
	member_str(p, "threat", pl->threat, sizeof pl->threat);
	params = json_member(p, "params");
	if (params)
		read_params(params, pl);
	return 0;
}

void runjson_plugins(const char *js, struct runjson_plugin **pl, int *n)
{
	const char *p = js ? json_member(js, "plugins") : NULL;
	int cap = 0;

	*pl = NULL;
	*n = 0;
	if (!p || *p++ != '[')
		return;
	for (;;) {
		p = json_ws(p);
		if (*p == ']')
			return;
		if (*p == '{') {
			if (*n == cap) {
				struct runjson_plugin *q;

				cap = cap ? 2 * cap : 16;
				q = realloc(*pl, (size_t)cap * sizeof **pl);
				if (!q) {
					fprintf(stderr,
						"wmbench: out of memory reading run.json\n");
					abort();
				}
				*pl = q;
			}
			if (!read_plugin(p, &(*pl)[*n]))
				(*n)++;
		}
		p = json_skip(p);
		if (!p)
			return;
		p = json_ws(p);
		if (*p++ != ',')
			return;
	}
}

const struct runjson_plugin *runjson_plugin_find(const struct runjson_plugin *pl, int n,
						 const char *kind, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(pl[i].kind, kind) && !strcmp(pl[i].name, name))
			return &pl[i];
	return NULL;
}
