/* result.c - a job's result row, filled in before the job runs (the row and
 * its CSV form are in reports/results.c). */
#include "job.h"
#include "../workers/params.h"
#include "../workers/util.h"

#include <math.h>
#include <string.h>

void result_row_init(struct result_row *r, const struct job *j, const struct run_spec *rs,
		     const char *parent_id)
{
	memset(r, 0, sizeof *r);
	strlcopy(r->job_id, j->id, sizeof r->job_id);
	if (j->parent >= 0 && parent_id)
		strlcopy(r->parent_id, parent_id, sizeof r->parent_id);
	strlcopy(r->kind, job_kind_name(j->kind), sizeof r->kind);
	strlcopy(r->dataset, rs->dataset, sizeof r->dataset);
	strlcopy(r->model, rs->model, sizeof r->model);
	strlcopy(r->scheme, j->scheme, sizeof r->scheme);
	param_format(&j->sp, r->scheme_params, sizeof r->scheme_params);
	strlcopy(r->attack, j->attack, sizeof r->attack);
	param_format(&j->ap, r->attack_params, sizeof r->attack_params);
	r->seed = j->seed;
	strlcopy(r->status, "ok", sizeof r->status);
	r->metric_before = NAN;
	r->metric = NAN;
	r->pvalue = NAN;
	r->detected = -1;
	r->capacity = NAN;
	r->acc_before = NAN;
	r->acc = NAN;
	r->acc_clean = NAN;
	r->removed = -1;
	r->forged = -1;
	r->success = -1;
	r->queries = 0;
	r->attack_queries = 0;
	r->aux = NAN;
	r->train_s = NAN;
	r->cpu_s = NAN;
	r->forward = -1;
	r->backward = -1;
	r->rank = -1;
	r->wall_s = NAN;
	r->peak_rss_kb = -1;
}
