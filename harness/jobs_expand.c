/* jobs_expand.c - from a run_spec to the job DAG: every combination of
 * plug-in parameters, the jobs of every seed, their identity (id and RNG
 * seed) and the cost model (from the model and dataset tables). */
#include "job.h"
#include "../workers/data.h"
#include "../workers/nn.h"
#include "../workers/params.h"
#include "../workers/rng.h"
#include "../workers/util.h"
#include "../schemes/scheme.h"
#include "../attacks/attack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_JOBS 100000 /* jobs one run may expand to */

const char *job_kind_name(int kind)
{
	switch (kind) {
	case JOB_TRAIN:
		return "train";
	case JOB_EMBED:
		return "embed";
	case JOB_ATTACK:
		return "attack";
	case JOB_CONTROL:
		return "control";
	case JOB_CALMODEL:
		return "calmodel";
	case JOB_CALOWNER:
		return "calowner";
	case JOB_CALIB:
		return "calibration";
	case JOB_CTLMODEL:
		return "ctlmodel";
	}
	return "unknown";
}

/* ---- identity ---- */

void job_finalise(struct job *j, const struct run_spec *rs)
{
	char text[8192], hex[65];
	char lr[32], mom[32], wd[32], split[32];
	char sp[PARAM_MAX * (PARAM_KEYLEN + PARAM_VALLEN + 2) + 1];
	char ap[PARAM_MAX * (PARAM_KEYLEN + PARAM_VALLEN + 2) + 1];

	fmt_double(lr, sizeof lr, rs->lr);
	fmt_double(mom, sizeof mom, rs->momentum);
	fmt_double(wd, sizeof wd, rs->weight_decay);
	fmt_double(split, sizeof split, rs->attacker_split);
	param_format(&j->sp, sp, sizeof sp);
	param_format(&j->ap, ap, sizeof ap);
	snprintf(
	    text, sizeof text,
	    "kind=%s;dataset=%s;model=%s;epochs=%d;batch=%d;opt=%s;lr=%s;momentum=%s;wd=%s;train_"
	    "subset=%d;test_subset=%d;split=%s;seed=%ld;scheme=%s{%s};attack=%s{%s};control=%d",
	    job_kind_name(j->kind), rs->dataset, rs->model, rs->epochs, rs->batch, rs->optimizer,
	    lr, mom, wd, rs->train_subset, rs->test_subset, split, j->seed, j->scheme, sp,
	    j->attack, ap, j->control_index);
	/* Calibration jobs append what tells them apart; the texts of the other
	 * kinds are unchanged, and so are their ids and seeds. */
	if (j->kind == JOB_CALMODEL || j->kind == JOB_CALIB) {
		size_t l = strlen(text);
		snprintf(text + l, sizeof text - l, ";calib_model=%d", j->calib_model);
	}
	if (j->kind == JOB_CALIB) {
		size_t l = strlen(text);
		snprintf(text + l, sizeof text - l, ";calib_keys=%d", j->calib_keys);
	}
	if (j->kind == JOB_CALOWNER) {
		size_t l = strlen(text);
		snprintf(text + l, sizeof text - l, ";calib_owner=%d", j->calib_owner);
	}
	/* The id and seed hash the whole text even if the stored copy is cut. */
	strlcopy(j->identity, text, sizeof j->identity);
	sha256_hex(text, strlen(text), hex);
	memcpy(j->id, hex, 16);
	j->id[16] = 0;
	struct seed_scope scope = {.job = text};
	j->rng_seed = seed_stream(rs->run_seed, SEED_JOB, &scope);
}

void job_setting(const struct job *j, const struct run_spec *rs, char *buf, size_t len)
{
	char sp[PARAM_MAX * (PARAM_KEYLEN + PARAM_VALLEN + 2) + 1];

	param_format(&j->sp, sp, sizeof sp);
	snprintf(buf, len, "dataset=%s;model=%s;scheme=%s{%s}", rs->dataset, rs->model, j->scheme,
		 sp);
}

/* ---- expansion ---- */

struct combo {
	const struct plug_entry *e;
	struct param_set ps;
};

/* All parameter combinations of the entries (odometer, last key fastest),
 * completed with defaults (an attack's through atk_canonical, which leaves
 * out late parameters at their default); the unmarked scheme is left out. */
static int combos(const struct run_spec *rs, const struct plug_entry *es, int n, int attacks,
		  struct combo **out, int *nout, char *err, size_t errlen)
{
	double total = 0;
	struct combo *cs;
	int m = 0;

	for (int i = 0; i < n; i++) {
		double k = 1;

		if (!attacks && !strcmp(es[i].name, wm_scheme_unmarked()->name))
			continue;
		for (int p = 0; p < es[i].nkeys; p++)
			k *= es[i].nvals[p];
		total += k;
	}
	if (total > MAX_JOBS)
		return errf(err, errlen,
			    "%s: the %s expand to %.0f parameter combinations; expected at most %d "
			    "in all (shorten the value lists)",
			    rs->path, attacks ? "attacks" : "schemes", total, MAX_JOBS);
	cs = xcalloc(total > 0 ? (size_t)total : 1, sizeof *cs);
	for (int i = 0; i < n; i++) {
		const struct plug_entry *e = &es[i];
		const struct param_def *defs;
		const struct atk_attack *a = NULL;
		int idx[PARAM_MAX] = {0};

		if (attacks) {
			a = atk_find(e->name);
			defs = a ? atk_params(a) : NULL;
		} else {
			const struct wm_scheme *s = wm_scheme_find(e->name);

			if (s && s->unmarked)
				continue;
			defs = s ? s->params : NULL;
			if (!s) {
				free(cs);
				return errf(
				    err, errlen,
				    "%s:%d:%d: unknown scheme '%s'; expected a registered scheme",
				    rs->path, e->line, e->col, e->name);
			}
		}
		if (attacks && !a) {
			free(cs);
			return errf(err, errlen,
				    "%s:%d:%d: unknown attack '%s'; expected a registered attack",
				    rs->path, e->line, e->col, e->name);
		}
		for (;;) {
			struct combo *c = &cs[m++];
			int p;

			c->e = e;
			c->ps.n = 0;
			for (p = 0; p < e->nkeys; p++)
				param_set_put(&c->ps, e->key[p], e->vals[p][idx[p]]);
			if (a)
				atk_canonical(a, &c->ps);
			else
				param_complete(&c->ps, defs);
			if (a) {
				char msg[ERRBUF];

				if (atk_check(a, &c->ps, msg, sizeof msg)) {
					free(cs);
					return errf(err, errlen, "%s:%d:%d: %s", rs->path, e->line,
						    e->col, msg);
				}
			}
			for (p = e->nkeys - 1; p >= 0; p--) {
				if (++idx[p] < e->nvals[p])
					break;
				idx[p] = 0;
			}
			if (p < 0)
				break;
		}
	}
	*out = cs;
	*nout = m;
	return 0;
}

/* Rough CPU seconds of training one model of this run. */
static double train_cost(const struct run_spec *rs)
{
	const struct data_source *d = data_find(rs->dataset);
	const struct nn_arch *a = nn_arch_find(rs->model);
	double n = (d ? d : &data_sources[0])->ntrain;
	double per = (a ? a : &nn_archs[0])->cost;

	if (rs->train_subset > 0 && rs->train_subset < n)
		n = rs->train_subset;
	return rs->epochs * n * per;
}

static struct job *new_job(struct job *jobs, int *n, int kind, int parent, long seed)
{
	struct job *j = &jobs[(*n)++];

	memset(j, 0, sizeof *j);
	j->kind = kind;
	j->parent = parent;
	j->seed = seed;
	j->after = j->wake = -1;
	return j;
}

/* Whether a scheme setting's calibration keys need an owner model each: keys
 * made from a marked model, or decisions by an empirical null fitted on
 * controls after embedding (a bare keygen key holds no fit, so it would make
 * no claim and pass trivially). */
static int key_from_model(const struct combo *c)
{
	const struct wm_scheme *s = wm_scheme_find(c->e->name);

	return s && (s->key_from_model || wm_null_fit_needed(s, &c->ps));
}

/* A query-path attack against a setting verified in the white box cannot
 * act: it is not expanded into a job (README "Schemes and attacks"). */
static int not_applicable(const struct job *model, const char *attack)
{
	const struct atk_attack *a = atk_find(attack);
	const struct wm_scheme *s = wm_scheme_find(model->scheme);

	return a && a->query_path && model->kind == JOB_EMBED && s && !s->unmarked &&
	       !wm_black_box(s, &model->sp);
}

int jobs_not_applicable(const struct run_spec *rs, char *err, size_t errlen)
{
	struct combo *sc = NULL, *ac = NULL;
	int nsc = 0, nac = 0, na = -1;

	if (!combos(rs, rs->schemes, rs->nschemes, 0, &sc, &nsc, err, errlen) &&
	    !combos(rs, rs->attacks, rs->nattacks, 1, &ac, &nac, err, errlen)) {
		na = 0;
		for (int k = 0; k < nsc; k++) {
			struct job m = {.kind = JOB_EMBED, .sp = sc[k].ps};

			strlcopy(m.scheme, sc[k].e->name, NAMELEN);
			for (int a = 0; a < nac; a++)
				na += not_applicable(&m, ac[a].e->name);
		}
		na *= rs->nseeds;
	}
	free(sc);
	free(ac);
	return na;
}

int jobs_expand(const struct run_spec *rs, struct job **jobs, int *njobs, char *err, size_t errlen)
{
	struct combo *sc = NULL, *ac = NULL;
	int nsc = 0, nac = 0, n = 0, rc = -1, nfit = 0;
	struct job *js = NULL;
	double tc = train_cost(rs), total;
	int *train_of = NULL;

	*jobs = NULL;
	*njobs = 0;
	if (combos(rs, rs->schemes, rs->nschemes, 0, &sc, &nsc, err, errlen))
		goto out;
	if (combos(rs, rs->attacks, rs->nattacks, 1, &ac, &nac, err, errlen))
		goto out;
	for (int k = 0; k < nsc; k++)
		nfit += wm_null_fit_needed(wm_scheme_find(sc[k].e->name), &sc[k].ps);
	for (int k = 0; k < nsc; k++)
		if (rs->controls < NULL_MIN_CONTROLS &&
		    wm_null_fit_needed(wm_scheme_find(sc[k].e->name), &sc[k].ps)) {
			errf(err, errlen,
			     "%s:%d:%d: scheme %s decides by an empirical null fitted on the "
			     "run's control models (README \"Empirical null\"), and run.controls "
			     "is %d; expected run.controls >= %d (10 recommended)",
			     rs->path, sc[k].e->line, sc[k].e->col, sc[k].e->name, rs->controls,
			     NULL_MIN_CONTROLS);
			goto out;
		}
	total =
	    (double)rs->nseeds * (1 + nsc) * (1 + nac) + (double)rs->nseeds * nsc * rs->controls;
	if (nfit)
		total += (double)rs->nseeds * rs->controls;
	if (rs->calib_models > 0) {
		total += rs->calib_models + (double)nsc * rs->calib_models;
		for (int k = 0; k < nsc; k++) {
			if (!key_from_model(&sc[k]))
				continue;
			if (rs->calib_owners < CALIB_MIN_OWNERS) {
				errf(err, errlen,
				     "%s:%d:%d: run.calibrate.%s = %d is too few for %s, whose "
				     "keys are made from a marked model (one owner model per key); "
				     "expected at least %d",
				     rs->path, rs->calib_line, rs->calib_col,
				     rs->calib_owners_given ? "owners" : "keys", rs->calib_owners,
				     sc[k].e->name, CALIB_MIN_OWNERS);
				goto out;
			}
			total += rs->calib_owners;
		}
	}
	if (total > MAX_JOBS) {
		errf(err, errlen,
		     "%s: the job matrix expands to %.0f jobs; expected at most %d (fewer seeds, "
		     "schemes, attacks or values)",
		     rs->path, total, MAX_JOBS);
		goto out;
	}
	js = xcalloc((size_t)total, sizeof *js);
	train_of = xcalloc((size_t)rs->nseeds, sizeof *train_of);

	/* Clean models first, then marked ones: they gate everything else. */
	for (int s = 0; s < rs->nseeds; s++) {
		struct job *j = new_job(js, &n, JOB_TRAIN, -1, rs->seeds[s]);

		strlcopy(j->scheme, wm_scheme_unmarked()->name, NAMELEN);
		j->cost = tc;
		train_of[s] = n - 1;
	}
	/* Control models of the seeds, when a scheme's decision needs an empirical
	 * null: its embeds wait for them (README "Empirical null"). */
	int ctl0 = n;
	if (nfit)
		for (int s = 0; s < rs->nseeds; s++)
			for (int ci = 1; ci <= rs->controls; ci++) {
				struct job *j =
				    new_job(js, &n, JOB_CTLMODEL, train_of[s], rs->seeds[s]);

				strlcopy(j->scheme, wm_scheme_unmarked()->name, NAMELEN);
				j->control_index = ci;
				j->cost = tc;
			}
	for (int s = 0; s < rs->nseeds; s++) {
		int emb0 = n;
		for (int k = 0; k < nsc; k++) {
			struct job *j = new_job(js, &n, JOB_EMBED, train_of[s], rs->seeds[s]);

			strlcopy(j->scheme, sc[k].e->name, NAMELEN);
			j->sp = sc[k].ps;
			j->cost = tc;
			if (wm_null_fit_needed(wm_scheme_find(j->scheme), &j->sp)) {
				j->after = ctl0 + s * rs->controls;
				j->nafter = rs->controls;
			}
		}
		if (nfit)
			for (int ci = 0; ci < rs->controls; ci++) {
				js[ctl0 + s * rs->controls + ci].wake = emb0;
				js[ctl0 + s * rs->controls + ci].nwake = nsc;
			}
	}
	/* Attacks of every model job: the clean one and every marked one, except
	 * the pairs where the attack cannot act (not_applicable). */
	for (int m = 0, nmodels = n; m < nmodels; m++)
		for (int k = 0; k < nac && js[m].kind != JOB_CTLMODEL; k++) {
			const struct job *pj = &js[m];
			if (not_applicable(pj, ac[k].e->name))
				continue;
			struct job *j = new_job(js, &n, JOB_ATTACK, m, pj->seed);

			strlcopy(j->scheme, pj->scheme, NAMELEN);
			j->sp = pj->sp;
			strlcopy(j->attack, ac[k].e->name, NAMELEN);
			j->ap = ac[k].ps;
			j->cost = 0.2 * tc;
		}
	for (int m = rs->nseeds;
	     m < ctl0 + (nfit ? rs->nseeds * rs->controls : 0) + rs->nseeds * nsc; m++)
		for (int ci = 1; ci <= rs->controls && js[m].kind == JOB_EMBED; ci++) {
			const struct job *pj = &js[m];
			struct job *j = new_job(js, &n, JOB_CONTROL, m, pj->seed);

			strlcopy(j->scheme, pj->scheme, NAMELEN);
			j->sp = pj->sp;
			j->control_index = ci;
			j->cost = tc;
		}
	/* Calibration: M unmarked models shared by every scheme setting; per setting, the
	 * owner models of model-made keys (K of them), then one job per model verifying
	 * the K keys. Owner jobs precede the jobs that wait for them. */
	if (rs->calib_models > 0) {
		int calmodel0 = n;
		char keys[16];

		for (int m = 1; m <= rs->calib_models; m++) {
			struct job *j = new_job(js, &n, JOB_CALMODEL, -1, m);

			strlcopy(j->scheme, wm_scheme_unmarked()->name, NAMELEN);
			j->calib_model = m;
			j->cost = tc;
		}
		for (int k = 0; k < nsc; k++) {
			int owner0 = n, nowner = 0;
			int nkeys = key_from_model(&sc[k]) ? rs->calib_owners : rs->calib_keys;

			if (key_from_model(&sc[k]))
				for (int o = 1; o <= rs->calib_owners; o++) {
					struct job *j = new_job(js, &n, JOB_CALOWNER, -1, o);

					strlcopy(j->scheme, sc[k].e->name, NAMELEN);
					j->sp = sc[k].ps;
					j->calib_owner = o;
					j->cost = tc;
					nowner++;
				}
			for (int o = owner0; o < owner0 + nowner; o++) {
				js[o].wake = n; /* the calibration jobs below */
				js[o].nwake = rs->calib_models;
			}
			for (int m = 1; m <= rs->calib_models; m++) {
				struct job *j = new_job(js, &n, JOB_CALIB, calmodel0 + m - 1, m);

				strlcopy(j->scheme, sc[k].e->name, NAMELEN);
				j->sp = sc[k].ps;
				j->calib_model = m;
				j->calib_keys = nkeys;
				snprintf(keys, sizeof keys, "%d", nkeys);
				param_set_put(&j->ap, "keys", keys); /* the row's attack_params */
				snprintf(keys, sizeof keys, "%d", rs->calib_models);
				param_set_put(&j->ap, "models", keys);
				if (nowner) {
					j->after = owner0;
					j->nafter = nowner;
				}
				/* a verification per key; a keygen per key if made here */
				j->cost = nkeys * (nowner ? 0.002 : 0.004) * tc;
			}
		}
	}
	for (int i = 0; i < n; i++)
		job_finalise(&js[i], rs);
	/* every value of every search, checked now: a probe is made during the
	 * run, where a bad value would only fail a job */
	for (int e = 0; e < rs->nsearches; e++) {
		int key = search_key(&rs->searches[e]);
		for (int v = 0; key >= 0 && v < rs->searches[e].nvals[key]; v++) {
			struct job probe;
			if (js && n > 0 &&
			    job_search_probe(rs, js, n, 0, &rs->searches[e], v, &probe, err,
					     errlen))
				goto out;
		}
	}
	*jobs = js;
	*njobs = n;
	js = NULL;
	rc = 0;
out:
	free(js);
	free(train_of);
	free(sc);
	free(ac);
	return rc;
}

int search_key(const struct plug_entry *e)
{
	for (int k = 0; k < e->nkeys; k++)
		if (e->nvals[k] > 1)
			return k;
	return -1;
}

int job_search_applies(const struct job *model, const struct plug_entry *e)
{
	const struct wm_scheme *s = wm_scheme_find(model->scheme);

	return model->kind == JOB_EMBED && s && !s->unmarked && !not_applicable(model, e->name);
}

int job_search_probe(const struct run_spec *rs, const struct job *jobs, int njobs, int m,
		     const struct plug_entry *e, int v, struct job *out, char *err, size_t errlen)
{
	const struct atk_attack *a = atk_find(e->name);
	int key = search_key(e), n = 0;
	char msg[ERRBUF];

	if (!a || key < 0 || v < 0 || v >= e->nvals[key] || m < 0 || m >= njobs)
		return errf(err, errlen, "%s:%d:%d: search entry %s: no value %d to probe",
			    rs->path, e->line, e->col, e->name, v);
	new_job(out, &n, JOB_ATTACK, m, jobs[m].seed);
	strlcopy(out->scheme, jobs[m].scheme, NAMELEN);
	out->sp = jobs[m].sp;
	strlcopy(out->attack, e->name, NAMELEN);
	for (int k = 0; k < e->nkeys; k++)
		param_set_put(&out->ap, e->key[k], e->vals[k][k == key ? v : 0]);
	atk_canonical(a, &out->ap); /* as the grid's jobs: the same probe, the same id */
	if (atk_check(a, &out->ap, msg, sizeof msg))
		return errf(err, errlen, "%s:%d:%d: search entry %s: %s", rs->path, e->line, e->col,
			    e->name, msg);
	out->cost = 0.2 * train_cost(rs);
	job_finalise(out, rs);
	return 0;
}
