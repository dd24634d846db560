/* runjson.h - RUNDIR/run.json: the run's provenance and the facts of its
 * plug-ins, written by the harness (runjson_write) and read by the report
 * (runjson_get, runjson_plugins). The report learns scheme colours, order,
 * point shapes and attack parameter help from here, not by linking the
 * plug-ins. */
#ifndef WM_RUNJSON_H
#define WM_RUNJSON_H

#include <limits.h>
#include <stddef.h>

#include "results.h"

#define RUNJSON_MAXFILES  8	  /* dataset files */
#define RUNJSON_MAXPARAMS 16	  /* parameters of one attack */
#define RUNJSON_HELPLEN	  256	  /* help text of one parameter */
#define RUNJSON_NO_ORDER  INT_MAX /* a plug-in without an order */

/* One plug-in of the run: a scheme (order, colour, point, unmarked,
 * aux_label) or an attack (its parameters with their help texts). */
struct runjson_plugin {
	char name[RESULT_NAMELEN];
	char kind[8];	     /* "scheme" | "attack" */
	int order;	     /* position in tables and keys; RUNJSON_NO_ORDER if none */
	char colour[8];	     /* "#RRGGBB", "" if none */
	int point;	     /* gnuplot point type, 0 if none */
	int unmarked;	     /* the unmarked baseline */
	char aux_label[128]; /* what the aux column holds, "" if unused */
	char category[32];   /* attacks: "model modification", ... ("" if not known) */
	char threat[96];     /* attacks: what the attacker needs ("weights, data") */
	int nparams;
	char param_key[RUNJSON_MAXPARAMS][RESULT_KEYLEN];
	char param_help[RUNJSON_MAXPARAMS][RUNJSON_HELPLEN]; /* "" if none */
};

struct runjson_file {
	const char *path;
	char sha256[65]; /* or "unreadable" */
};

/* What run.json records, as plain values filled in by the harness. */
struct runjson {
	const char *version; /* of wmbench */
	const char *job_file, *job_file_sha256, *name;
	double alpha;
	unsigned long long run_seed;
	int jobs, ranks, threads_per_rank;
	const char *start, *end; /* ISO 8601; end NULL while the run goes on */
	int have_counts;	 /* ok, failed and skipped are known */
	int ok, failed, skipped;
	const char *mpi, *openblas, *openblas_core, *libarchive, *libyaml; /* versions */
	const char *cpu, *dataset;
	int nfiles;
	struct runjson_file files[RUNJSON_MAXFILES];
	int nplugins; /* 0: no "plugins" section */
	const struct runjson_plugin *plugins;
};

/* Writes RUNDIR/run.json atomically (through run.json.tmp). */
int runjson_write(const char *rundir, const struct runjson *rj, char *err, size_t errlen);

/* A top-level member of the run.json text js as text (strings decoded, other
 * scalars verbatim); 0 if found, -1 if absent, not a scalar or malformed. */
int runjson_get(const char *js, const char *key, char *out, size_t len);

/* The "plugins" section of js into *pl (malloc'd, *n entries; free it). A
 * run.json without one (runs before it was recorded) gives *n = 0. Entries
 * that are not objects with a name are left out; a colour that is not
 * "#RRGGBB" or a point type outside 1..99 reads as none. */
void runjson_plugins(const char *js, struct runjson_plugin **pl, int *n);

/* The plug-in of that kind and name in pl, or NULL. */
const struct runjson_plugin *runjson_plugin_find(const struct runjson_plugin *pl, int n,
						 const char *kind, const char *name);

#endif
