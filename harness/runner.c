/* runner.c - the job runner: one job (train | embed | attack | control, then
 * verify; or a calibration job) on one rank, calling the plug-ins through the
 * core (wm_*, atk_*). */
#include "runner.h"
#include "../attacks/attack.h"
#include "../schemes/scheme.h"
#include "../workers/model.h"
#include "../workers/util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void pipeline_init(struct pipeline *p, const struct run_spec *rs, const char *rundir, int rank)
{
	memset(p, 0, sizeof *p);
	p->rs = rs;
	strlcopy(p->rundir, rundir, sizeof p->rundir);
	p->rank = rank;
	p->cached_job = -1;
	p->before_job = -1;
	if (gethostname(p->host, sizeof p->host))
		strcpy(p->host, "unknown");
	p->host[sizeof p->host - 1] = 0;
}

void pipeline_set_jobs(struct pipeline *p, int j, const struct job *jobs, int n)
{
	p->nheld = n < 3 ? n : 3;
	for (int i = 0; i < p->nheld; i++) {
		p->held[i] = jobs[i];
		p->held_index[i] = i ? jobs[i - 1].parent : j;
	}
}

/* Job i of the run: the job being run or one of its ancestors set with it. */
static const struct job *pipeline_job(const struct pipeline *p, int i)
{
	for (int k = 0; k < p->nheld; k++)
		if (p->held_index[k] == i)
			return &p->held[k];
	/* the coordinator sends every ancestor a job reads (matrix_bundle) */
	fprintf(stderr, "wmbench: rank %d: job %d is not held (internal error)\n", p->rank, i);
	abort();
}

void pipeline_free(struct pipeline *p)
{
	if (p->loaded) {
		data_free(&p->train);
		data_free(&p->test);
	}
	if (p->cached_job >= 0)
		nn_free(&p->cached);
	p->loaded = 0;
	p->cached_job = -1;
}

int pipeline_load_data(struct pipeline *p, char *err, size_t errlen)
{
	const struct run_spec *rs = p->rs;
	if (p->loaded)
		return 0;
	if (data_load(rs->dataset, rs->data_dir, &p->train, &p->test, err, errlen))
		return -1;
	if (rs->train_subset > 0 && rs->train_subset < p->train.n)
		data_truncate(&p->train, rs->train_subset);
	if (rs->test_subset > 0 && rs->test_subset < p->test.n)
		data_truncate(&p->test, rs->test_subset);
	p->loaded = 1;
	return 0;
}

void pipeline_model_path(const struct pipeline *p, const char *id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/models/%s.npz", p->rundir, id);
}

void pipeline_key_path(const struct pipeline *p, const char *id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/keys/%s.npz", p->rundir, id);
}

void pipeline_control_path(const struct pipeline *p, const char *base, int ci, char *buf,
			   size_t len)
{
	char ident[1200], hex[65];
	snprintf(ident, sizeof ident, "%s;control=%d", base, ci);
	sha256_hex(ident, strlen(ident), hex);
	hex[16] = 0;
	snprintf(buf, len, "%s/models/control-%s.npz", p->rundir, hex);
}

void pipeline_calib_path(const struct pipeline *p, const char *id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/calibration/%s.csv", p->rundir, id);
}

static int is_calibration(int kind)
{
	return kind == JOB_CALMODEL || kind == JOB_CALOWNER || kind == JOB_CALIB;
}

static void settings(const struct run_spec *rs, struct train_settings *ts)
{
	ts->epochs = rs->epochs;
	ts->batch = rs->batch;
	strlcopy(ts->optimizer, rs->optimizer, sizeof ts->optimizer);
	ts->lr = rs->lr;
	ts->momentum = rs->momentum;
	ts->weight_decay = rs->weight_decay;
}

/* Everything a job needs: split, env, RNG. */
struct job_ctx {
	struct rng rng;
	uint32_t *owner, *attacker;
	int n_owner, n_attacker;
	struct wm_env env;
};

static void job_ctx_init(struct pipeline *p, const struct job *j, struct job_ctx *c)
{
	/* calibration jobs share one split (that of seed value 0), so that a
	 * calibration key does not depend on the model it is verified on */
	struct seed_scope split = {.dataset = p->rs->dataset,
				   .n = p->train.n,
				   .seed = is_calibration(j->kind) ? 0 : j->seed};
	memset(c, 0, sizeof *c);
	rng_seed(&c->rng, j->rng_seed);
	data_split(p->train.n, seed_stream(p->rs->run_seed, SEED_SPLIT, &split),
		   p->rs->attacker_split, &c->owner, &c->n_owner, &c->attacker, &c->n_attacker);
	c->env.train = &p->train;
	c->env.test = &p->test;
	c->env.owner_idx = c->owner;
	c->env.n_owner = c->n_owner;
	c->env.attacker_idx = c->attacker;
	c->env.n_attacker = c->n_attacker;
	settings(p->rs, &c->env.ts);
	c->env.alpha = p->rs->alpha;
	c->env.rng = &c->rng;
}

static void job_ctx_free(struct job_ctx *c)
{
	free(c->owner);
	free(c->attacker);
}

/* Keeps a copy of m as this rank's in-memory model for job j. */
static void cache_model(struct pipeline *p, int j, const struct nn_model *m)
{
	if (p->cached_job >= 0)
		nn_free(&p->cached);
	nn_copy(&p->cached, m);
	p->cached_job = j;
}

/* Gets job j's model: from memory if this rank holds it, else from the run directory. */
static int get_model(struct pipeline *p, int j, struct nn_model *m, char *err, size_t errlen)
{
	char path[PATHLEN + 64];
	if (p->cached_job == j) {
		nn_copy(m, &p->cached);
		return 0;
	}
	pipeline_model_path(p, pipeline_job(p, j)->id, path, sizeof path);
	if (model_load(m, path, err, errlen))
		return -1;
	cache_model(p, j, m);
	return 0;
}

static int fresh_model(struct pipeline *p, struct rng *r, struct nn_model *m, char *err,
		       size_t errlen)
{
	return nn_create(m, p->rs->model, p->train.c, p->train.h, p->train.w, p->train.nclass, r,
			 err, errlen);
}

static void put_verdict(struct result_row *row, const struct wm_verdict *v)
{
	strlcopy(row->metric_name, v->metric_name, sizeof row->metric_name);
	row->metric = v->metric;
	row->pvalue = v->pvalue;
	row->detected = v->metric_name[0] ? v->detected : -1;
	row->capacity = v->capacity;
	row->queries = v->queries;
	row->aux = v->aux;
}

static int verify(const struct wm_scheme *s, const struct npz *key, struct nn_model *m,
		  struct wm_query *q, struct job_ctx *c, struct wm_verdict *v, char *err,
		  size_t errlen)
{
	struct wm_query plain;
	memset(v, 0, sizeof *v);
	v->aux = NAN;
	if (!q) {
		wm_query_init(&plain, m);
		q = &plain;
	}
	long q0 = q->queries;
	int rc = wm_verify(s, key, m, q, &c->env, v, err, errlen);
	v->queries = q->queries - q0;
	return rc;
}

/* Records in an owner's key what `wmbench verify` needs to repeat the run's
 * decisions from the key file alone: alpha, the dataset and the test subset
 * the verifier reads (README "Decision rules"). */
static void stamp_verify_context(const struct pipeline *p, struct npz *key)
{
	int64_t one = 1;
	int32_t subset = p->rs->test_subset;
	double alpha = p->rs->alpha;
	npz_add(key, "run.alpha", NPZ_F64, 1, &one, &alpha);
	npz_add_text(key, "run.dataset", p->rs->dataset);
	npz_add(key, "run.test_subset", NPZ_I32, 1, &one, &subset);
}

/* An attacker's own key (piracy, overwrite, forge_*), kept beside the
 * owners' keys as RUNDIR/keys/<attack job>.npz with the run's verification
 * context, for `wmbench verify`. */
struct attacker_key {
	const struct pipeline *p;
	const struct job *j;
};

static int save_attacker_key(void *ctx, const struct npz *key, char *err, size_t errlen)
{
	const struct attacker_key *a = ctx;
	struct npz copy;
	char path[PATHLEN + 64];
	int rc;

	npz_init(&copy);
	for (int i = 0; i < key->n; i++) {
		const struct npz_array *x = &key->a[i];
		if (strncmp(x->name, "run.", 4) &&
		    npz_add(&copy, x->name, x->dtype, x->ndim, x->shape, x->data)) {
			npz_free(&copy);
			return errf(err, errlen, "cannot copy array %s of the key", x->name);
		}
	}
	stamp_verify_context(a->p, &copy);
	pipeline_key_path(a->p, a->j->id, path, sizeof path);
	rc = npz_write(&copy, path, err, errlen);
	npz_free(&copy);
	return rc;
}

static int fit_null(struct pipeline *p, struct job_ctx *c, const struct wm_scheme *s,
		    const struct param_set *sp, const char *base, struct npz *key, char *err,
		    size_t errlen);

/* The cost of a job's main work (README "results.csv"): wall time,
 * CPU-seconds of the process (all its threads), and samples through the
 * network's forward and backward passes. */
struct work {
	double t0, cpu0;
	long fwd0, bwd0;
};

static void work_begin(struct work *w)
{
	w->t0 = now_seconds();
	w->cpu0 = cpu_seconds();
	w->fwd0 = nn_count.forward;
	w->bwd0 = nn_count.backward;
}

static void work_end(const struct work *w, struct result_row *row)
{
	row->train_s = now_seconds() - w->t0;
	row->cpu_s = cpu_seconds() - w->cpu0;
	row->forward = nn_count.forward - w->fwd0;
	row->backward = nn_count.backward - w->bwd0;
}

static int run_train(struct pipeline *p, int ji, struct job_ctx *c, struct result_row *row,
		     char *err, size_t errlen)
{
	const struct job *j = pipeline_job(p, ji);
	const struct wm_scheme *s = wm_scheme_find(j->scheme);
	struct nn_model m;
	struct npz key;
	char path[PATHLEN + 64];
	int rc = -1;

	/* Paired design: the clean and the marked models of a seed start from the
	 * same initial weights and see the same batch order (one RNG stream per
	 * seed); the key comes from the job's own stream. The accuracy cost of a
	 * scheme is then not confounded with the noise of another initialisation. */
	struct seed_scope scope = {
	    .dataset = p->rs->dataset, .model = p->rs->model, .seed = j->seed};
	struct rng train_rng;
	struct wm_env train_env = c->env; /* embedding trains on the seed's stream */
	rng_seed(&train_rng, seed_stream(p->rs->run_seed, SEED_MODEL, &scope));
	train_env.rng = &train_rng;
	npz_init(&key);
	if (fresh_model(p, &train_rng, &m, err, errlen))
		return -1;
	struct work w;
	work_begin(&w);
	if (wm_keygen(s, &j->sp, &m, &c->env, &key, err, errlen))
		goto out;
	rc = wm_embed(s, &j->sp, &m, &key, &train_env, err, errlen);
	if (rc)
		goto out;
	rc = -1;
	work_end(&w, row);
	row->acc = nn_accuracy(&m, &p->test, NULL, 0);
	if (j->kind == JOB_EMBED) {
		struct wm_verdict v;
		if (fit_null(p, c, s, &j->sp, pipeline_job(p, j->parent)->identity, &key, err,
			     errlen))
			goto out;
		if (verify(s, &key, &m, NULL, c, &v, err, errlen))
			goto out;
		put_verdict(row, &v);
		/* say it when the mark did not take, rather than hide it in the numbers */
		if (!strcmp(v.metric_name, "ber") && v.metric > 0)
			snprintf(row->message, sizeof row->message,
				 "embedding incomplete: BER %.4g right after embedding (%g bits; "
				 "capacity exceeded or too few epochs)%s",
				 v.metric, v.capacity, v.detected ? "" : "; not detected");
		else if (!v.detected)
			snprintf(row->message, sizeof row->message,
				 "the mark is not detected right after embedding (%s %.4g, p %.3g)",
				 v.metric_name, v.metric, v.pvalue);
		stamp_verify_context(p, &key);
		pipeline_key_path(p, j->id, path, sizeof path);
		if (npz_write(&key, path, err, errlen))
			goto out;
	}
	pipeline_model_path(p, j->id, path, sizeof path);
	if (model_save(&m, path, err, errlen))
		goto out;
	cache_model(p, ji, &m);
	rc = 0;
out:
	nn_free(&m);
	npz_free(&key);
	return rc;
}

/* Loads the key of model job mj (NULL scheme for the clean model). */
static int load_key(struct pipeline *p, int mj, const struct wm_scheme **s, struct npz *key,
		    char *err, size_t errlen)
{
	char path[PATHLEN + 64];
	const struct job *j = pipeline_job(p, mj);
	*s = wm_scheme_find(j->scheme);
	if (j->kind != JOB_EMBED) {
		*s = NULL;
		return 0;
	}
	pipeline_key_path(p, j->id, path, sizeof path);
	return npz_read(key, path, err, errlen);
}

/* The outcome columns of an attack row (README "results.csv"): removed needs
 * a mark detected before the attack (before: the verdict on the parent, -1
 * when there is no mark); forged is set by the attacker's own verdict;
 * success is (removed or forged) with less than 5 points of test accuracy
 * lost, n/a when neither can be said. */
static void attack_outcome(struct result_row *row, int before)
{
	row->removed = before == 1 ? !row->detected : -1;
	if (row->removed < 0 && row->forged != 1) {
		row->success = -1;
		return;
	}
	row->success = (row->removed == 1 || row->forged == 1) && row->acc_before - row->acc < 0.05;
}

static int run_attack(struct pipeline *p, int ji, struct job_ctx *c, struct result_row *row,
		      char *err, size_t errlen)
{
	const struct job *j = pipeline_job(p, ji);
	const struct atk_attack *a = atk_find(j->attack);
	const struct wm_scheme *s;
	struct nn_model m;
	struct npz key;
	struct wm_verdict v, second;	     /* the attack's own key (piracy) */
	const char *who = NULL;		     /* who filled second, named by its attack */
	char note[sizeof row->message] = ""; /* the attack's words on a finding (nc) */
	struct wm_query plain, outer = {0};
	struct rng qrng;
	int rc = -1, k;
	uint32_t *sub = NULL;
	char parent_spec[sizeof m.spec];

	npz_init(&key);
	if (get_model(p, j->parent, &m, err, errlen))
		return -1;
	if (load_key(p, j->parent, &s, &key, err, errlen))
		goto out;
	strlcopy(parent_spec, m.spec, sizeof parent_spec);
	if (p->before_job != j->parent) {
		/* on a scratch RNG, so that whether it was cached cannot change the
		 * attack's random stream */
		struct job_ctx bc = *c;
		rng_seed(&bc.rng, 0);
		bc.env.rng = &bc.rng;
		p->before_acc = nn_accuracy(&m, &p->test, NULL, 0);
		p->before_metric = NAN;
		p->before_detected = -1;
		p->before_metric_name[0] = 0;
		if (s) {
			if (verify(s, &key, &m, NULL, &bc, &v, err, errlen))
				goto out;
			p->before_metric = v.metric;
			p->before_detected = v.detected;
			strlcopy(p->before_metric_name, v.metric_name,
				 sizeof p->before_metric_name);
		}
		p->before_job = j->parent;
	}
	row->acc_before = p->before_acc;
	row->metric_before = p->before_metric;
	memset(&v, 0, sizeof v);
	strlcopy(v.metric_name, p->before_metric_name, sizeof v.metric_name);
	/* the attacker's data: a seeded fraction of the attacker's part */
	double frac = atk_attacker_data(a, &j->ap);
	k = (int)llround(frac * c->n_attacker);
	sub = xmalloc((size_t)(c->n_attacker ? c->n_attacker : 1) * sizeof *sub);
	memcpy(sub, c->attacker, (size_t)c->n_attacker * sizeof *sub);
	rng_shuffle_u32(&c->rng, sub, (size_t)c->n_attacker);
	struct wm_env aenv = c->env;
	struct attacker_key akey = {p, j};
	aenv.owner_idx = sub; /* a scheme called by the attacker trains on the attacker's data */
	aenv.n_owner = k;
	struct atk_env env = {
	    .train = &p->train,
	    .attacker_idx = sub,
	    .n_attacker = k,
	    .marked_layer = s && s->marked_layer ? s->marked_layer(&key) : NULL,
	    .scheme = s,
	    .scheme_params = &pipeline_job(p, j->parent)->sp,
	    .wm = &aenv,
	    .rng = &c->rng,
	    .second = &second,
	    .second_who = &who,
	    .note = note,
	    .note_len = sizeof note,
	    .queries = &row->attack_queries,
	    .save_key = save_attacker_key,
	    .save_ctx = &akey,
	};
	memset(&second, 0, sizeof second);
	second.aux = NAN;
	settings(p->rs, &env.ts);
	struct work w;
	work_begin(&w);
	wm_query_init(&plain, &m);
	struct wm_query *q = &plain;
	if (a->query_path) {
		struct seed_scope qs = {.job_seed = j->rng_seed};
		rng_seed(&qrng, seed_stream(p->rs->run_seed, SEED_QUERY, &qs));
		memset(&outer, 0, sizeof outer);
		if (atk_wrap(a, &j->ap, &outer, &plain, &env, &qrng, err, errlen))
			goto out;
		q = &outer;
	} else if (atk_apply(a, &j->ap, &m, &env, err, errlen)) {
		goto out;
	}
	work_end(&w, row);
	if (!a->query_path)
		row->acc = nn_accuracy(&m, &p->test, NULL, 0);
	if (s && !wm_black_box(s, &pipeline_job(p, j->parent)->sp) && strcmp(m.spec, parent_spec)) {
		/* a student of another architecture: the owner's white-box check has
		 * no layer to read, so the mark is not detected */
		char name[sizeof v.metric_name];
		strlcopy(name, v.metric_name, sizeof name); /* from the check before the attack */
		memset(&v, 0, sizeof v);
		strlcopy(v.metric_name, name, sizeof v.metric_name);
		v.metric = NAN;
		v.pvalue = 1.0;
		v.aux = NAN;
		put_verdict(row, &v);
		snprintf(row->message, sizeof row->message,
			 "the attacked model is a %s, not the marked %s: white-box verification "
			 "has nothing to read, so not detected",
			 m.arch, p->rs->model);
	} else if (s) {
		if (verify(s, &key, &m, q, c, &v, err, errlen))
			goto out;
		put_verdict(row, &v);
	}
	if (a->query_path) {
		/* accuracy through the path verification queried, after it (so
		 * that its queries and noise draws are the verification's alone) */
		long vq = q->queries;
		if (wm_query_accuracy(q, &p->test, &row->acc)) {
			errf(err, errlen,
			     "the attacked prediction path failed while measuring test accuracy; "
			     "expected probabilities for every query");
			goto out;
		}
		q->queries = vq;
	}
	if (who && second.metric_name[0] && second.detected < 0) {
		/* a finding on the model, not a key (nc): no forgery claimed */
		snprintf(row->message, sizeof row->message, "%s", note[0] ? note : who);
		row->aux = second.metric;
	} else if (who && second.metric_name[0]) {
		/* the attacker's own key on the result (piracy, overwrite, also as a
		 * step of a chain): its metric in aux, the rest in the message */
		int o = snprintf(row->message, sizeof row->message,
				 "%s %s=%.4g, p=%.3g, detected=%d", who, second.metric_name,
				 second.metric, second.pvalue, second.detected);
		if (!isnan(second.aux) && o > 0 && (size_t)o < sizeof row->message)
			snprintf(row->message + o, sizeof row->message - (size_t)o,
				 ", %s aux=%.4g, owner aux=%.4g", who, second.aux, row->aux);
		row->aux = second.metric;
		row->forged = second.detected != 0;
	}
	attack_outcome(row, s ? p->before_detected : -1);
	rc = 0;
out:
	if (outer.release)
		outer.release(&outer);
	free(sub);
	nn_free(&m);
	npz_free(&key);
	return rc;
}

/* Control model ci of the clean training whose identity text is base: an
 * unmarked model on its own stream, from the run directory's cache if there,
 * else trained and written atomically. The control models of a seed depend
 * only on (clean training, seed, index), so every scheme of the seed shares
 * them. *train_s gets the training time (untouched when cached). Unless
 * counted (a ctlmodel job, whose work it is), the training's passes are left
 * out of the job's forward and backward counts: which of a seed's control
 * jobs finds the model untrained depends on the schedule, and counting it
 * there made those columns differ from run to run and with the ranks. */
static int control_model(struct pipeline *p, struct job_ctx *c, const char *base, int ci,
			 int counted, struct nn_model *m, double *train_s, char *err, size_t errlen)
{
	const struct wm_scheme *none = wm_scheme_unmarked();
	char path[PATHLEN + 128];
	struct npz nokey;
	struct rng r;
	int rc = -1;

	pipeline_control_path(p, base, ci, path, sizeof path);
	if (!access(path, R_OK) && !model_load(m, path, err, errlen))
		return 0;
	npz_init(&nokey);
	struct seed_scope cs = {.job = base, .control = ci};
	rng_seed(&r, seed_stream(p->rs->run_seed, SEED_CONTROL, &cs));
	struct wm_env env = c->env;
	env.rng = &r;
	if (fresh_model(p, &r, m, err, errlen))
		goto out;
	double t0 = now_seconds();
	struct nn_count n0 = nn_count;
	int bad =
	    wm_embed(none, NULL, m, &nokey, &env, err, errlen) || model_save(m, path, err, errlen);
	if (!counted)
		nn_count = n0;
	if (bad) {
		nn_free(m);
		goto out;
	}
	*train_s = now_seconds() - t0;
	rc = 0;
out:
	npz_free(&nokey);
	return rc;
}

/* Schemes whose decision rests on an empirical null (README "Empirical
 * null"): the owner's key verified on the run.controls control models of
 * the clean training base, the null fitted to their counts and stored in the
 * key. Nothing for other schemes. */
static int fit_null(struct pipeline *p, struct job_ctx *c, const struct wm_scheme *s,
		    const struct param_set *sp, const char *base, struct npz *key, char *err,
		    size_t errlen)
{
	int N = p->rs->controls, n = -1, rc = -1;
	struct wm_verdict v;
	struct wm_null f;
	double ts = 0;

	if (!wm_null_fit_needed(s, sp))
		return 0;
	if (N < 1)
		return errf(err, errlen,
			    "%s decides by an empirical null, and run.controls is 0; expected "
			    "run.controls >= %d",
			    s->name, NULL_MIN_CONTROLS);
	int *counts = xmalloc((size_t)N * sizeof *counts);
	for (int ci = 1; ci <= N; ci++) {
		struct nn_model cm;
		if (control_model(p, c, base, ci, 0, &cm, &ts, err, errlen))
			goto out;
		int vr = verify(s, key, &cm, NULL, c, &v, err, errlen);
		nn_free(&cm);
		if (vr)
			goto out;
		if (v.count < 0 || v.count > v.capacity || (n >= 0 && n != (int)v.capacity)) {
			errf(err, errlen,
			     "%s: verify reported count %d of %g on control %d; expected a count "
			     "of 0..capacity, the same capacity on every control",
			     s->name, v.count, v.capacity, ci);
			goto out;
		}
		n = (int)v.capacity;
		counts[ci - 1] = v.count;
	}
	if (wm_null_fit(counts, N, n, &f)) {
		errf(err, errlen, "%s: the empirical null cannot be fitted to %d counts of %d",
		     s->name, N, n);
		goto out;
	}
	wm_null_store(key, counts, &f);
	rc = 0;
out:
	free(counts);
	return rc;
}

/* Control model ci of a seed, for the empirical nulls of its embeds. */
static int run_ctlmodel(struct pipeline *p, int ji, struct job_ctx *c, struct result_row *row,
			char *err, size_t errlen)
{
	const struct job *j = pipeline_job(p, ji);
	struct nn_model m;

	if (control_model(p, c, pipeline_job(p, j->parent)->identity, j->control_index, 1, &m,
			  &row->train_s, err, errlen))
		return -1;
	row->acc = nn_accuracy(&m, &p->test, NULL, 0);
	nn_free(&m);
	return 0;
}

static int run_control(struct pipeline *p, int ji, struct job_ctx *c, struct result_row *row,
		       char *err, size_t errlen)
{
	const struct job *j = pipeline_job(p, ji), *emb = pipeline_job(p, j->parent);
	const struct wm_scheme *s;
	struct nn_model m;
	struct npz key;
	struct wm_verdict v;
	int rc = -1;

	npz_init(&key);
	if (load_key(p, j->parent, &s, &key, err, errlen))
		goto out_key;
	if (control_model(p, c, pipeline_job(p, emb->parent)->identity, j->control_index, 0, &m,
			  &row->train_s, err, errlen))
		goto out_key;
	row->acc = nn_accuracy(&m, &p->test, NULL, 0);
	if (verify(s, &key, &m, NULL, c, &v, err, errlen))
		goto out;
	put_verdict(row, &v);
	rc = 0;
out:
	nn_free(&m);
out_key:
	npz_free(&key);
	return rc;
}

/* ---- calibration (README "Calibration") ---- */

/* Calibration model m: an unmarked model on the job's own stream (initial
 * weights and batch order), so it is independent of every seed's models. */
static int run_calmodel(struct pipeline *p, int ji, struct job_ctx *c, struct result_row *row,
			char *err, size_t errlen)
{
	const struct job *j = pipeline_job(p, ji);
	const struct wm_scheme *none = wm_scheme_unmarked();
	struct nn_model m;
	struct npz nokey;
	char path[PATHLEN + 64];
	int rc = -1;

	npz_init(&nokey);
	if (fresh_model(p, &c->rng, &m, err, errlen))
		return -1;
	struct work w;
	work_begin(&w);
	if (wm_embed(none, NULL, &m, &nokey, &c->env, err, errlen))
		goto out;
	work_end(&w, row);
	row->acc = nn_accuracy(&m, &p->test, NULL, 0);
	pipeline_model_path(p, j->id, path, sizeof path);
	if (model_save(&m, path, err, errlen))
		goto out;
	cache_model(p, ji, &m);
	rc = 0;
out:
	nn_free(&m);
	npz_free(&nokey);
	return rc;
}

/* Seeds r with calibration key k of job j's scheme setting: a key of its own
 * for each model m (keys made by keygen; so the M x K null trials are
 * independent), or with m = 0 the owner-model key k that every model shares. */
static void calib_key_rng(const struct pipeline *p, const struct job *j, int k, int m,
			  struct rng *r)
{
	char setting[1024];
	struct seed_scope sc = {.setting = setting, .key = k, .calib_model = m};

	job_setting(j, p->rs, setting, sizeof setting);
	rng_seed(r, seed_stream(p->rs->run_seed, SEED_CALIB_KEY, &sc));
}

/* The clean training whose control models the owner models of calibration
 * share for their empirical nulls: a train job of the run's settings with
 * the seed LONG_MIN, which no user seed is; its models are independent of
 * the calibration models (another stream). */
static int calib_controls_base(const struct pipeline *p, const struct job *owner, char *buf,
			       size_t len)
{
	struct job t = {.kind = JOB_TRAIN, .parent = -1, .seed = LONG_MIN};
	(void)owner;
	strlcopy(t.scheme, wm_scheme_unmarked()->name, NAMELEN);
	job_finalise(&t, p->rs);
	strlcopy(buf, t.identity, len);
	return 0;
}

/* Owner model k of a scheme setting whose keys are made from a marked model:
 * keygen on calibration key k's stream, training on the job's own stream;
 * the model and the completed key are saved like an embed job's. */
static int run_calowner(struct pipeline *p, int ji, struct job_ctx *c, struct result_row *row,
			char *err, size_t errlen)
{
	const struct job *j = pipeline_job(p, ji);
	const struct wm_scheme *s = wm_scheme_find(j->scheme);
	struct nn_model m;
	struct npz key;
	struct wm_verdict v;
	struct rng krng;
	char path[PATHLEN + 64], base[sizeof j->identity];
	int rc = -1;

	npz_init(&key);
	if (fresh_model(p, &c->rng, &m, err, errlen))
		return -1;
	struct wm_env kenv = c->env;
	calib_key_rng(p, j, j->calib_owner, 0, &krng);
	kenv.rng = &krng;
	struct work w;
	work_begin(&w);
	if (wm_keygen(s, &j->sp, &m, &kenv, &key, err, errlen) ||
	    wm_embed(s, &j->sp, &m, &key, &c->env, err, errlen))
		goto out;
	work_end(&w, row);
	row->acc = nn_accuracy(&m, &p->test, NULL, 0);
	if (calib_controls_base(p, j, base, sizeof base) ||
	    fit_null(p, c, s, &j->sp, base, &key, err, errlen))
		goto out;
	if (verify(s, &key, &m, NULL, c, &v, err, errlen))
		goto out;
	put_verdict(row, &v);
	pipeline_key_path(p, j->id, path, sizeof path);
	if (npz_write(&key, path, err, errlen))
		goto out;
	pipeline_model_path(p, j->id, path, sizeof path);
	if (model_save(&m, path, err, errlen))
		goto out;
	rc = 0;
out:
	nn_free(&m);
	npz_free(&key);
	return rc;
}

/* Writes the trials of a calibration job to path, atomically (a temporary
 * name, fsync, rename): key,metric_name,metric,pvalue,detected,aux (aux
 * empty where the scheme reports none; a key whose owner model did not embed
 * is the line "k,,,,-1,"). */
static int write_trials(const char *path, int K, const struct wm_verdict *v, char *err,
			size_t errlen)
{
	char tmp[PATHLEN + 128], a[40], b[40], x[40];
	FILE *f;
	int bad;

	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	f = fopen(tmp, "w");
	if (!f)
		return errf(err, errlen, "%s: cannot write: %s; expected a writable directory", tmp,
			    strerror(errno));
	fputs("key,metric_name,metric,pvalue,detected,aux\n", f);
	for (int k = 0; k < K; k++) {
		if (v[k].detected < 0) { /* an owner model that did not embed */
			fprintf(f, "%d,,,,-1,\n", k + 1);
			continue;
		}
		fmt_double(a, sizeof a, v[k].metric);
		fmt_double(b, sizeof b, v[k].pvalue);
		if (isnan(v[k].aux))
			x[0] = 0;
		else
			fmt_double(x, sizeof x, v[k].aux);
		fprintf(f, "%d,%s,%s,%s,%d,%s\n", k + 1, v[k].metric_name, a, b, v[k].detected, x);
	}
	bad = fflush(f) || ferror(f) || fsync(fileno(f));
	if (fclose(f) || bad || rename(tmp, path)) {
		unlink(tmp);
		return errf(err, errlen,
			    "%s: cannot write the trials: %s; expected a writable "
			    "directory",
			    path, strerror(errno));
	}
	return 0;
}

/* K null trials of a scheme setting on calibration model m (the parent): key k
 * is made by the scheme's keygen on calibration key k's stream (the same key
 * for every m), or is owner model k's key for model-made keys; each is
 * verified on m. The row holds the summary (metric fpr = false positives / K,
 * detected = false positives, pvalue = the smallest p-value), the trials go
 * to RUNDIR/calibration/<job id>.csv before the row is journalled. */
static int run_calib(struct pipeline *p, int ji, struct job_ctx *c, struct result_row *row,
		     char *err, size_t errlen)
{
	const struct job *j = pipeline_job(p, ji);
	const struct wm_scheme *s = wm_scheme_find(j->scheme);
	int K = j->calib_keys, fp = 0, rc = -1;
	struct wm_verdict *v = xcalloc((size_t)K, sizeof *v);
	struct nn_model m;
	char path[PATHLEN + 64];
	double pmin = NAN, capacity = NAN;
	long queries = 0;

	if (get_model(p, j->parent, &m, err, errlen)) {
		free(v);
		return -1;
	}
	row->acc = nn_accuracy(&m, &p->test, NULL, 0);
	struct work w;
	work_begin(&w);
	int nmissing = 0, ntrials = 0;
	char missing[200] = "";
	for (int k = 1; k <= K; k++) {
		struct job_ctx kc = *c;
		struct npz key;

		npz_init(&key);
		calib_key_rng(p, j, k, j->calib_model, &kc.rng);
		kc.env.rng = &kc.rng;
		if (j->nafter) {
			struct job owner; /* the owner model job whose key is key k */
			job_calowner(p->rs, j, k, &owner);
			pipeline_key_path(p, owner.id, path, sizeof path);
			if (access(path, R_OK)) {
				/* the owner model did not embed (its row says why): no
				 * key, no trial; the trial file says so with detected -1 */
				char t[16];
				v[k - 1].detected = -1;
				v[k - 1].metric = v[k - 1].pvalue = v[k - 1].aux = NAN;
				snprintf(t, sizeof t, "%s%d", nmissing++ ? ", " : "", k);
				if (strlen(missing) + strlen(t) < sizeof missing)
					strcat(missing, t);
				continue;
			}
			rc = npz_read(&key, path, err, errlen);
		} else {
			rc = wm_keygen(s, &j->sp, &m, &kc.env, &key, err, errlen);
		}
		rc = rc ? rc : verify(s, &key, &m, NULL, &kc, &v[k - 1], err, errlen);
		npz_free(&key);
		if (rc)
			goto out;
		rc = -1;
		ntrials++;
		fp += v[k - 1].detected == 1;
		if (isnan(pmin) || v[k - 1].pvalue < pmin)
			pmin = v[k - 1].pvalue;
		capacity = v[k - 1].capacity;
		queries += v[k - 1].queries;
	}
	work_end(&w, row);
	if (!ntrials) {
		errf(err, errlen,
		     "calibration: none of the %d owner models of %s embedded (their calowner rows "
		     "say why); expected at least one key to verify",
		     K, j->scheme);
		goto out;
	}
	if (nmissing)
		snprintf(row->message, sizeof row->message,
			 "%d of %d owner keys verified; owner models %s did not embed", ntrials, K,
			 missing);
	strlcopy(row->metric_name, "fpr", sizeof row->metric_name);
	row->metric = (double)fp / ntrials;
	row->detected = fp;
	row->pvalue = pmin;
	row->capacity = capacity;
	row->queries = queries;
	pipeline_calib_path(p, j->id, path, sizeof path);
	if (write_trials(path, K, v, err, errlen))
		goto out;
	rc = 0;
out:
	nn_free(&m);
	free(v);
	return rc;
}

/* What runs a job of each kind. */
typedef int (*job_fn)(struct pipeline *p, int ji, struct job_ctx *c, struct result_row *row,
		      char *err, size_t errlen);
static const job_fn job_fns[] = {
    [JOB_TRAIN] = run_train,	 [JOB_EMBED] = run_train,	[JOB_ATTACK] = run_attack,
    [JOB_CONTROL] = run_control, [JOB_CALMODEL] = run_calmodel, [JOB_CALOWNER] = run_calowner,
    [JOB_CALIB] = run_calib,	 [JOB_CTLMODEL] = run_ctlmodel,
};

void pipeline_run(struct pipeline *p, int ji, struct result_row *row)
{
	const struct job *j = pipeline_job(p, ji);
	char err[ERRBUF] = "";
	struct job_ctx c;
	double t0 = now_seconds();
	struct work whole;
	int rc;

	work_begin(&whole);
	result_row_init(row, j, p->rs, j->parent >= 0 ? pipeline_job(p, j->parent)->id : NULL);
	row->rank = p->rank;
	strlcopy(row->host, p->host, sizeof row->host);
	if (pipeline_load_data(p, err, sizeof err)) {
		rc = -1;
		goto done;
	}
	if (j->kind < 0 || j->kind >= (int)(sizeof job_fns / sizeof job_fns[0]) ||
	    !job_fns[j->kind]) {
		rc = errf(err, sizeof err, "unknown job kind %d", j->kind);
		goto done;
	}
	job_ctx_init(p, j, &c);
	rc = job_fns[j->kind](p, ji, &c, row, err, sizeof err);
	job_ctx_free(&c);
done:
	if (rc) {
		strlcopy(row->status, "failed", sizeof row->status);
		strlcopy(row->message, err, sizeof row->message);
	}
	row->wall_s = now_seconds() - t0;
	if (isnan(row->cpu_s)) {
		/* a job without its own window (control, calibration): the whole job */
		double ts = row->train_s;
		work_end(&whole, row);
		row->train_s = ts;
	}
	row->peak_rss_kb = peak_rss_kb();
}

int pipeline_precheck(const struct matrix *mx, char *err, size_t errlen)
{
	const struct run_spec *rs = mx->rs;
	struct nn_model m;
	const char *spec = nn_arch_spec(rs->model);
	if (!spec)
		return errf(err, errlen, "%s: run.model = '%s' is unknown; expected one of %s",
			    rs->path, rs->model, nn_arch_list());
	if (nn_build_spec(&m, rs->model, spec, err, errlen))
		return -1;
	int rc = 0;
	char sub[ERRBUF];
	/* Every scheme combination is embedded (each seed, or calibration) and
	 * every attack combination attacks the clean models: checked in the
	 * order of their first jobs, schemes first. */
	for (int k = 0; k < mx->nsc && !rc; k++) {
		const struct wm_scheme *s = wm_scheme_find(mx->sc[k].e->name);
		if (wm_check(s, &mx->sc[k].ps, &m, sub, sizeof sub))
			rc = errf(err, errlen, "%s: %s", rs->path, sub);
	}
	for (int k = 0; k < mx->nac && !rc; k++) {
		const struct atk_attack *a = atk_find(mx->ac[k].e->name);
		if (atk_check(a, &mx->ac[k].ps, sub, sizeof sub))
			rc = errf(err, errlen, "%s: %s", rs->path, sub);
	}
	nn_free(&m);
	return rc;
}
