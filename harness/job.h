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
#define MAX_JOBS	  16000000 /* see below */
#define MAXSEEDS	  MAX_JOBS
#define MAX_COMBOS	  100000
#define MAXPLUG		  64
#define CALIB_MAX_MODELS  1000
#define CALIB_MAX_KEYS	  100000
#define CALIB_MIN_OWNERS  20 /* owner models asked of model-made keys (issue 12) */
#define NULL_MIN_CONTROLS 5  /* run.controls asked of schemes with an empirical null */

/* MAX_JOBS: jobs one run may expand to. Rank 0 holds a 52-byte record of each
 * (struct job_rec) and about 36 bytes of schedule state: 16M jobs are about
 * 1.4 GB (README "Scale"). Seeds are a growing array bounded by the job cap
 * alone. MAX_COMBOS: parameter combinations of the schemes (and of the
 * attacks), each held as a whole parameter set (about 2 KB) for the run. */

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
	long *seeds;	   /* nseeds values, malloc'd */
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

/* The row of job j before it runs; parent_id is its parent's id (NULL: none). */
void result_row_init(struct result_row *r, const struct job *j, const struct run_spec *rs,
		     const char *parent_id);

/* Job file: parse + validate (messages "file:line:col: what; expected ..."). */
int jobfile_load(const char *path, struct run_spec *rs, char *err, size_t errlen);
void jobfile_free(struct run_spec *rs);
/* One parameter combination of a plug-in entry, completed with defaults. */
struct combo {
	const struct plug_entry *e;
	struct param_set ps;
	double cost;	 /* estimated CPU seconds of its embed job */
	double fwd, bwd; /* ... and the samples of its work (the row's forward, backward) */
	double vfwd;	 /* scheme: the forward samples of one verification */
};

/* An attack setting's estimate on a model of one scheme setting. */
struct pair_cost {
	double cost, fwd, bwd;
};

/* The compact record of a job (about 52 bytes instead of the 5 KB of struct
 * job): indices into the run_spec and the matrix's combinations, from which
 * matrix_job makes the whole job again. Rank 0 holds one per job of the run;
 * workers hold none (they get each job whole with its ancestors). */
struct job_rec {
	unsigned char id[8]; /* the 16 hex chars of the id, as bytes */
	int parent;	     /* index, -1 = none */
	int seed;	     /* index into rs->seeds; -1: the seed is ctl (calibration kinds) */
	int sc, ac;	     /* scheme / attack combination, -1 = the unmarked scheme / none */
	int ctl;	     /* control index, calibration model or owner number, by kind */
	int after, nafter, wake, nwake;
	float cost; /* for the ready heap; matrix_job recomputes it in double */
	unsigned char kind;
};

/* The job DAG of a run: parents precede children. Jobs [0, nstatic) come
 * from the job file; jobs [nstatic, n) are grown during the run (the probes
 * of searches) and kept whole in grown[]. */
struct matrix {
	const struct run_spec *rs;
	struct combo *sc, *ac;
	int nsc, nac;
	double tc; /* estimated CPU seconds of training one model */
	double ec; /* ... and of evaluating one on the test set (eval_cost) */
	int nfit;  /* scheme settings whose controls read a seed's ctlmodel jobs */
	/* pair[(k + 1) * nac + a]: attack setting a on scheme setting k's
	 * models (k = -1: the clean model) */
	struct pair_cost *pair;
	struct job_rec *r;
	int n, nstatic, cap;
	struct job *grown;
	/* each combination's parameters formatted (param_format): sfmt[k + 1]
	 * of sc[k], afmt[k + 1] of ac[k], [0] = "" */
	char **sfmt, **afmt, *sbuf, *abuf;
};
/* Expands the job file's matrix; refuses one of more than MAX_JOBS jobs
 * before allocating it. */
int matrix_expand(const struct run_spec *rs, struct matrix *m, char *err, size_t errlen);
void matrix_free(struct matrix *m);
/* Job i whole; with finalise, its identity and rng_seed too (else only the
 * id, from the record, and identity is ""). */
void matrix_job(const struct matrix *m, int i, struct job *out, int finalise);
/* A job id (16 hex chars) as the 8 bytes of job_rec.id; -1 if it is not one. */
int job_id_bytes(const char *id, unsigned char *out);
/* What a listing of job i of the job file shows, without making the whole
 * job: its seed value and cost; its scheme's and attack's formatted
 * parameters (NULL for a calibration job, whose attack parameters are made:
 * matrix_job then). */
long matrix_seed(const struct matrix *m, int i);
double matrix_cost(const struct matrix *m, int i);
/* The samples job i's work is expected to send through the forward and
 * backward passes (its row's forward and backward columns): 0, or -1 for a
 * job grown during the run. */
int matrix_passes(const struct matrix *m, int i, double *fwd, double *bwd);
const char *matrix_params(const struct matrix *m, int i, int attack);
/* Job i's id as text (17 bytes with the NUL). */
void matrix_id(const struct matrix *m, int i, char *id);
/* Appends a grown job (finalised); returns its index. */
int matrix_append(struct matrix *m, const struct job *j);
/* What a rank needs to run job i: the job, its parent and, for a control
 * job, its grandparent (the control model is trained from the seed's clean
 * training's identity), finalised or not (matrix_job); returns how many
 * (1..3). */
int matrix_bundle(const struct matrix *m, int i, struct job *out, int finalise);
/* A job on the wire from rank 0 to a worker: its fields and parameters,
 * without the identity text (the worker makes it again). At most
 * JOB_WIRE_MAX bytes; a few hundred for most jobs. */
#define JOB_WIRE_MAX (256 + 2 * PARAM_MAX * (PARAM_KEYLEN + PARAM_VALLEN))
/* Packs job j into buf (JOB_WIRE_MAX bytes); returns the bytes used. */
size_t job_pack(const struct job *j, unsigned char *buf);
/* Unpacks one job of buf[0..len) and finalises it; *used = its bytes. -1
 * with a message if the bytes are not a job (out: a job of no fields) or its
 * id is not the one rank 0 sent (the job file changed between the ranks'
 * reads; out: the job with rank 0's id). */
int job_unpack(const struct run_spec *rs, const unsigned char *buf, size_t len, struct job *out,
	       size_t *used, char *err, size_t errlen);
/* Expands the matrix into whole jobs (tests and small tools; a run holds
 * the compact matrix). */
int jobs_expand(const struct run_spec *rs, struct job **jobs, int *njobs, char *err, size_t errlen);
/* Owner model k (1..K) of calibration job calib's scheme setting, finalised:
 * the job whose key calib verifies as its key k. */
void job_calowner(const struct run_spec *rs, const struct job *calib, int k, struct job *out);
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
/* The probe of search entry e at value index v on model job `model` (index
 * m): an attack job, finalised (its id hashes its identity, which holds the
 * model's and the value: the same probe gets the same id in every run).
 * -1 with a message for a value the attack refuses. */
int job_search_probe(const struct run_spec *rs, const struct job *model, int m,
		     const struct plug_entry *e, int v, struct job *out, char *err, size_t errlen);

#endif
