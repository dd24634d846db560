/* params.h - named parameters of schemes and attacks.
 *
 * A plug-in declares its parameters once, in a table of struct param_def:
 * name, type, default, range, help and the offset of the field in the
 * plug-in's own config struct. A job carries the values as a struct
 * param_set (text in canonical form: its identity, the key file's record);
 * param_to_cfg turns that into the config struct the plug-in receives, once
 * per call, checking every value against the table. The job file parser
 * checks the same table and reports file:line:column on error. Field types:
 * PT_INT int, PT_DOUBLE double, PT_STRING char[PARAM_VALLEN]. */
#ifndef WM_PARAMS_H
#define WM_PARAMS_H

#include <stddef.h>

enum param_type { PT_INT, PT_DOUBLE, PT_STRING };

struct param_def {
	const char *key;
	enum param_type type;
	const char *def;     /* default value as text */
	double min, max;     /* inclusive valid range for PT_INT / PT_DOUBLE */
	const char *choices; /* PT_STRING: "a|b|c", or NULL for free text */
	const char *help;
	size_t off; /* offsetof the field in the config struct; PARAM_CORE: read by the core */
};

/* A parameter the core reads itself (attacker_data), not in the plug-in's config. */
#define PARAM_CORE ((size_t)-1)

#define PARAM_MAX    16
#define PARAM_KEYLEN 32
#define PARAM_VALLEN 96

struct param_set {
	int n;
	char key[PARAM_MAX][PARAM_KEYLEN];
	char val[PARAM_MAX][PARAM_VALLEN];
};

/* Checks and canonicalises one value: numbers are rewritten in their shortest
 * round-trip form (so 1e-3 and 0.001 are equal). On error, writes
 * "<owner>: parameter '<key>' = '<val>' <what>; expected <range/choices>". */
int param_check(const char *owner, const struct param_def *defs, const char *key, const char *val,
		char *canon, size_t canonlen, char *err, size_t errlen);
/* Adds the items of a "k=v<sep>k=v..." list (separators: any char of seps) to
 * ps. With defs, each value is checked and canonicalised by param_check (owner
 * names the plug-in in messages); without, only the syntax is checked. On
 * error: "<owner>: item '<item>' ...; expected key=value ...". */
int param_parse(struct param_set *ps, const char *text, const char *seps, const char *owner,
		const struct param_def *defs, char *err, size_t errlen);
/* Fills in defaults for keys not set and sorts keys, giving a canonical set. */
void param_complete(struct param_set *ps, const struct param_def *defs);
int param_set_put(struct param_set *ps, const char *key, const char *val);
/* The text of a key in a set, NULL if absent (for the core and tests; a
 * plug-in reads its config struct instead). */
const char *param_get(const struct param_set *ps, const char *key);
/* Fills the config struct cfg from ps: every value is checked against defs
 * (param_check: unknown keys, types, ranges, choices; owner names the
 * plug-in in messages), keys not in ps take the table's default. Fields of
 * PARAM_CORE rows are not written. -1 with a message on error. */
int param_to_cfg(const char *owner, const struct param_def *defs, const struct param_set *ps,
		 void *cfg, char *err, size_t errlen);
/* The same, into a new zeroed struct of size bytes (free it); NULL on error. */
void *param_cfg_new(const char *owner, const struct param_def *defs, size_t size,
		    const struct param_set *ps, char *err, size_t errlen);
/* "k1=v1;k2=v2" in key order; empty string for an empty set. */
void param_format(const struct param_set *ps, char *buf, size_t len);
/* The expected-range text of a definition, e.g. "an integer in [1, 4096]". */
void param_expect(const struct param_def *d, char *buf, size_t len);

#endif
