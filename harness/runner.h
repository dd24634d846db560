/* runner.h - the job runner: what a rank does with one job: train, embed, attack, verify.
 * Knows nothing of MPI: the coordinator hands it a job and its ancestors (pipeline_set_jobs). */
#ifndef WM_PIPELINE_H
#define WM_PIPELINE_H

#include "job.h"
#include "../workers/data.h"
#include "../workers/nn.h"

struct pipeline {
	const struct run_spec *rs;
	/* the job to run and the ancestors it reads (matrix_bundle): a rank
	 * holds these, never the run's matrix */
	int nheld;
	int held_index[3];
	struct job held[3];
	char rundir[PATHLEN];
	int rank;
	char host[64];
	/* data, loaded on first use */
	int loaded;
	struct dataset train, test;
	/* the model this rank holds in memory (the last model it produced or loaded) */
	int cached_job;
	struct nn_model cached;
	/* the "before" numbers of the last parent attacked on this rank (every
	 * attack on one parent shares them) */
	int before_job;
	double before_acc, before_metric;
	int before_detected; /* -1: no mark to verify (the clean model) */
	char before_metric_name[8];
};

void pipeline_init(struct pipeline *p, const struct run_spec *rs, const char *rundir, int rank);
/* Sets the job to run (index j) and its ancestors: jobs[0] is job j, jobs[1]
 * its parent, jobs[2] its parent's parent (matrix_bundle). */
void pipeline_set_jobs(struct pipeline *p, int j, const struct job *jobs, int n);
void pipeline_free(struct pipeline *p);
/* Loads the run's dataset (once). -1 with message on error. */
int pipeline_load_data(struct pipeline *p, char *err, size_t errlen);
/* Runs job j (set by pipeline_set_jobs) and fills row (status ok or failed
 * with a message); never exits. */
void pipeline_run(struct pipeline *p, int j, struct result_row *row);
/* Paths of a job's model and key files inside the run directory. */
void pipeline_model_path(const struct pipeline *p, const char *id, char *buf, size_t len);
void pipeline_key_path(const struct pipeline *p, const char *id, char *buf, size_t len);
/* Control model ci of the seed whose clean model has identity base:
 * RUNDIR/models/control-<16 hex digits of sha256(base;control=ci)>.npz. */
void pipeline_control_path(const struct pipeline *p, const char *base, int ci, char *buf,
			   size_t len);
/* A calibration job's trials: RUNDIR/calibration/<job id>.csv. */
void pipeline_calib_path(const struct pipeline *p, const char *id, char *buf, size_t len);
/* Checks a model/key before anything is trained: scheme and attack
 * parameters against the model (bits vs layer size, layer names, ...). */
int pipeline_precheck(const struct matrix *m, char *err, size_t errlen);

#endif
