/* runner.h - the job runner: what a rank does with one job: train, embed, attack, verify.
 * Knows nothing of MPI: the coordinator hands it job indices. */
#ifndef WM_PIPELINE_H
#define WM_PIPELINE_H

#include "job.h"
#include "../workers/data.h"
#include "../workers/nn.h"

struct pipeline {
	const struct run_spec *rs;
	const struct job *jobs;
	int njobs;
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

void pipeline_init(struct pipeline *p, const struct run_spec *rs, const struct job *jobs, int njobs,
		   const char *rundir, int rank);
void pipeline_free(struct pipeline *p);
/* Loads the run's dataset (once). -1 with message on error. */
int pipeline_load_data(struct pipeline *p, char *err, size_t errlen);
/* Runs job j and fills row (status ok or failed with a message); never exits. */
void pipeline_run(struct pipeline *p, int j, struct result_row *row);
/* Paths of a job's model and key files inside the run directory. */
void pipeline_model_path(const struct pipeline *p, const struct job *j, char *buf, size_t len);
void pipeline_key_path(const struct pipeline *p, const struct job *j, char *buf, size_t len);
/* A calibration job's trials: RUNDIR/calibration/<job id>.csv. */
void pipeline_calib_path(const struct pipeline *p, const struct job *j, char *buf, size_t len);
/* Checks a model/key before anything is trained: scheme and attack
 * parameters against the model (bits vs layer size, layer names, ...). */
int pipeline_precheck(const struct run_spec *rs, const struct job *jobs, int njobs, char *err,
		      size_t errlen);

#endif
