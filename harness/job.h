/* job.h - the job description, the run specification and the result row.
 *
 * One vocabulary for a job: (kind, parent, dataset, model, training settings,
 * scheme and its parameters, attack and its parameters, seed). Its id and RNG
 * seed derive from the canonical text of that tuple (job_identity), never
 * from its position in the file or the rank that runs it. */
#ifndef WM_JOB_H
#define WM_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "../reports/results.h"
#include "../workers/params.h"

enum job_kind {
	JOB_TRAIN,   /* clean (unmarked) model: scheme "none" */
	JOB_EMBED,   /* marked model + key, verified */
	JOB_ATTACK,  /* attacked copy of a trained/marked model, verified */
	JOB_CONTROL, /* independently trained unmarked model, verified with the owner's key */
	/* calibration (run.calibrate; README "Calibration") */
	JOB_CALMODEL, /* unmarked calibration model m of the run, shared by every scheme */
	JOB_CALOWNER, /* owner model k of a scheme setting whose keys are made from a marked model
		       */
	JOB_CALIB,    /* K fresh keys of a scheme setting verified on calibration model m */
	/* control model ci of a seed, trained once for the empirical nulls of the
	 * seed's embeds (README "Empirical null"); only in runs with such a scheme */
	JOB_CTLMODEL,
};
const char *job_kind_name(int kind);

#define NAMELEN		  32
#define PATHLEN		  1024
#define MAXSEEDS	  256
#define MAXPLUG		  64
#define CALIB_MAX_MODELS  1000
#define CALIB_MAX_KEYS	  100000
#define CALIB_MIN_OWNERS  20 /* owner models asked of model-made keys (issue 12) */
#define NULL_MIN_CONTROLS 5  /* run.controls asked of schemes with an empirical null */

/* The result row (reports/results.h) holds these sizes under its own names. */
_Static_assert(NAMELEN == RESULT_NAMELEN, "NAMELEN must equal RESULT_NAMELEN");
_Static_assert(PARAM_KEYLEN == RESULT_KEYLEN, "PARAM_KEYLEN must equal RESULT_KEYLEN");
_Static_assert(PARAM_VALLEN == RESULT_VALLEN, "PARAM_VALLEN must equal RESULT_VALLEN");

/* One plug-in entry of the job file with value lists per parameter. */
struct plug_entry {
	char name[NAMELEN];
	int line, col; /* where the entry's name is */
	int nkeys;
	char key[PARAM_MAX][PARAM_KEYLEN];
	int key_line[PARAM_MAX], key_col[PARAM_MAX];
	int nvals[PARAM_MAX];
	char **vals[PARAM_MAX]; /* canonical values after range expansion */
};

struct run_spec {
	char path[PATHLEN]; /* job file */
	char sha256[65];    /* of the job file's bytes */
	char name[64];
	char dataset[NAMELEN];	/* a name of data_sources[] (workers/data.c) */
	char data_dir[PATHLEN]; /* "" = the dataset's default */
	char model[NAMELEN];	/* a name of nn_archs[] (workers/nn_arch.c) */
	int epochs, batch;
	char optimizer[16]; /* sgd | adam | rmsprop */
	double lr, momentum, weight_decay;
	int nseeds;
	long seeds[MAXSEEDS];
	uint64_t run_seed; /* base of every job seed */
	double alpha;
	int controls;		       /* unmarked models per seed for empirical FPR */
	int calib_models, calib_keys;  /* run.calibrate: M models, K keys; 0 = no calibration */
	int calib_owners;	       /* owner models of model-made keys (default K) */
	int calib_owners_given;	       /* run.calibrate.owners was written */
	int calib_line, calib_col;     /* where run.calibrate.owners (else .keys) is */
	int threads;		       /* OpenBLAS threads per rank */
	int train_subset, test_subset; /* 0 = all */
	double attacker_split;	       /* fraction of the training set given to the attacker */
	int nschemes, nattacks;
	struct plug_entry schemes[MAXPLUG];
	struct plug_entry attacks[MAXPLUG];
	/* search: attacks whose one parameter with several values is searched
	 * for its weakest removing value (README "Adaptive search"), per marked
	 * model; search_coarse points in the first round */
	int nsearches;
	struct plug_entry searches[MAXPLUG];
	int search_coarse;
};

struct job {
	char id[17]; /* 16 hex chars of SHA-256(identity) */
	int kind;
	int parent;	   /* index into the job array, -1 = none */
	long seed;	   /* the user's seed value */
	uint64_t rng_seed; /* seed_derive(run_seed, identity) */
	char scheme[NAMELEN];
	struct param_set sp;
	char attack[NAMELEN];
	struct param_set ap;
	int control_index; /* JOB_CONTROL, JOB_CTLMODEL: which control model */
	int calib_model;   /* JOB_CALMODEL, JOB_CALIB: which calibration model (1..M) */
	int calib_owner;   /* JOB_CALOWNER: which owner model (1..K) */
	int calib_keys;	   /* JOB_CALIB: keys verified (K) */
	/* Besides its parent, the job waits for jobs [after, after + nafter) to finish, ok
	 * or not (JOB_CALIB of a scheme whose keys come from owner models: the setting's
	 * JOB_CALOWNER jobs; it verifies the keys of the owners that embedded); a job of
	 * such a range releases [wake, wake + nwake) when it finishes, however. */
	int after, nafter, wake, nwake;
	double cost; /* estimated CPU seconds */
	char identity[1024];
};

/* The canonical identity text of a job (see above); also sets id and rng_seed. */
void job_finalise(struct job *j, const struct run_spec *rs);
/* The text naming a scheme setting of the run (dataset, model, scheme and its
 * parameters): the scope of its calibration keys. */
void job_setting(const struct job *j, const struct run_spec *rs, char *buf, size_t len);

void result_row_init(struct result_row *r, const struct job *j, const struct run_spec *rs,
		     const struct job *jobs);

/* Job file: parse + validate (messages "file:line:col: what; expected ..."). */
int jobfile_load(const char *path, struct run_spec *rs, char *err, size_t errlen);
void jobfile_free(struct run_spec *rs);
/* Expands the matrix into the job DAG; parents precede children. */
int jobs_expand(const struct run_spec *rs, struct job **jobs, int *njobs, char *err, size_t errlen);
/* The (model, attack) pairs jobs_expand leaves out because the attack cannot
 * act on that verification (query-path attacks against white-box schemes);
 * -1 with a message on a bad matrix. */
int jobs_not_applicable(const struct run_spec *rs, char *err, size_t errlen);
/* Searches (README "Adaptive search"). The key searched in entry e (its one
 * parameter with several values), -1 if none. */
int search_key(const struct plug_entry *e);
/* Whether search entry e runs on model job `model` (a marked model the
 * attack can act on). */
int job_search_applies(const struct job *model, const struct plug_entry *e);
/* The probe of search entry e at value index v on model job m of jobs[0..
 * njobs): an attack job, finalised (its id hashes its identity, which holds
 * the model's and the value: the same probe gets the same id in every run).
 * -1 with a message for a value the attack refuses. */
int job_search_probe(const struct run_spec *rs, const struct job *jobs, int njobs, int m,
		     const struct plug_entry *e, int v, struct job *out, char *err, size_t errlen);

#endif
