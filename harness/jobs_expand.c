/* jobs_expand.c - from a run_spec to the job DAG: every combination of
 * plug-in parameters, the jobs of every seed, their identity (id and RNG
 * seed) and the cost model (from the model and dataset tables). The DAG is
 * held compact (struct job_rec) and each job made whole on demand; jobs go
 * to workers packed (job_pack). */
#include "job.h"
#include "../workers/data.h"
#include "../workers/nn.h"
#include "../workers/params.h"
#include "../workers/rng.h"
#include "../workers/util.h"
#include "../schemes/scheme.h"
#include "../attacks/attack.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

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

/* What a job's identity text says of the run (training settings): the same
 * for every job, so the matrix formats it once. */
static void identity_prefix(const struct run_spec *rs, char *buf, size_t len)
{
	char lr[32], mom[32], wd[32], split[32];

	fmt_double(lr, sizeof lr, rs->lr);
	fmt_double(mom, sizeof mom, rs->momentum);
	fmt_double(wd, sizeof wd, rs->weight_decay);
	fmt_double(split, sizeof split, rs->attacker_split);
	snprintf(buf, len,
		 "dataset=%s;model=%s;epochs=%d;batch=%d;opt=%s;lr=%s;momentum=%s;wd=%s;train_"
		 "subset=%d;test_subset=%d;split=%s",
		 rs->dataset, rs->model, rs->epochs, rs->batch, rs->optimizer, lr, mom, wd,
		 rs->train_subset, rs->test_subset, split);
}

/* The canonical identity text of job j (see job.h) into text, from the
 * run's prefix and the job's formatted parameters. */
static void identity_compose(const struct job *j, const char *prefix, const char *sp,
			     const char *ap, char *text, size_t len)
{
	int l = snprintf(text, len, "kind=%s;%s;seed=%ld;scheme=%s{%s};attack=%s{%s};control=%d",
			 job_kind_name(j->kind), prefix, j->seed, j->scheme, sp, j->attack, ap,
			 j->control_index);
	size_t n = l < 0 ? 0 : (size_t)l < len ? (size_t)l : len - 1;

	/* Calibration jobs append what tells them apart; the texts of the other
	 * kinds are unchanged, and so are their ids and seeds. */
	if (j->kind == JOB_CALMODEL || j->kind == JOB_CALIB)
		n += (size_t)snprintf(text + n, len - n, ";calib_model=%d", j->calib_model);
	if (n < len && j->kind == JOB_CALIB)
		n += (size_t)snprintf(text + n, len - n, ";calib_keys=%d", j->calib_keys);
	if (n < len && j->kind == JOB_CALOWNER)
		snprintf(text + n, len - n, ";calib_owner=%d", j->calib_owner);
}

static void identity_text(const struct job *j, const struct run_spec *rs, char *text, size_t len)
{
	char prefix[1024];
	char sp[PARAM_MAX * (PARAM_KEYLEN + PARAM_VALLEN + 2) + 1];
	char ap[PARAM_MAX * (PARAM_KEYLEN + PARAM_VALLEN + 2) + 1];

	identity_prefix(rs, prefix, sizeof prefix);
	param_format(&j->sp, sp, sizeof sp);
	param_format(&j->ap, ap, sizeof ap);
	identity_compose(j, prefix, sp, ap, text, len);
}

void job_finalise(struct job *j, const struct run_spec *rs)
{
	char text[8192], hex[65];

	identity_text(j, rs, text, sizeof text);
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
	if (total > MAX_COMBOS)
		return errf(err, errlen,
			    "%s: the %s expand to %.0f parameter combinations; expected at most %d "
			    "in all (shorten the value lists)",
			    rs->path, attacks ? "attacks" : "schemes", total, MAX_COMBOS);
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

/* ---- the cost model ----
 * A job's estimate is the samples it sends through the network's forward and
 * backward passes (the forward and backward columns of its row), at the
 * model's cost per training sample (nn_archs[].cost, forward, backward and
 * update) split a third to the forward pass and two thirds to the backward
 * (two products per layer against one), plus its evaluations. The plug-ins
 * give their work from their parameters (wm_scheme.work, atk_attack.work). */

/* The run's sizes as the plug-ins' work functions read them. */
static struct wm_work run_work(const struct run_spec *rs)
{
	const struct data_source *d = data_find(rs->dataset);
	struct wm_work w;
	int n;

	if (!d)
		d = &data_sources[0];
	n = rs->train_subset > 0 && rs->train_subset < d->ntrain ? rs->train_subset : d->ntrain;
	memset(&w, 0, sizeof w);
	w.n_attacker = (int)llround(rs->attacker_split * n); /* data_split's rounding */
	w.n_owner = n - w.n_attacker;
	w.n = w.n_attacker;
	w.n_test = rs->test_subset > 0 && rs->test_subset < d->ntest ? rs->test_subset : d->ntest;
	w.batch = rs->batch;
	w.epochs = rs->epochs;
	w.nclass = d->nclass;
	w.in_size = d->c * d->h * d->w;
	return w;
}

/* CPU seconds of fwd forward and bwd backward samples. */
static double pass_cost(const struct run_spec *rs, double fwd, double bwd)
{
	const struct nn_arch *a = nn_arch_find(rs->model);
	double per = (a ? a : &nn_archs[0])->cost;

	return per * (fwd + 2 * bwd) / 3;
}

/* Rough CPU seconds of training one model of this run: epochs over the
 * owner's part of the training data. */
static double train_cost(const struct run_spec *rs)
{
	struct wm_work w = run_work(rs);

	return pass_cost(rs, (double)w.epochs * w.n_owner, (double)w.epochs * w.n_owner);
}

/* Rough CPU seconds of one pass over the test set (forward only). A control
 * job and an attack that trains nothing are an evaluation and a
 * verification, about this much: in quick.yaml (mlp, 5,000 test images)
 * 0.10-0.26 s against 0.13 s estimated. */
static double eval_cost(const struct run_spec *rs)
{
	struct wm_work w = run_work(rs);

	return pass_cost(rs, w.n_test, 0);
}

/* An embedding with scheme setting (name, p): its work, then the marked
 * model's evaluation and verification. */
static double embed_cost(const struct run_spec *rs, const char *name, const struct param_set *p,
			 double *fwd, double *bwd)
{
	const struct wm_scheme *s = wm_scheme_find(name);
	struct wm_work w = run_work(rs);
	char err[ERRBUF];
	double f = (double)w.epochs * w.n_owner, b = f, u = 0;

	w.uncounted = &u;
	if (s && wm_work_of(s, p, &w, &f, &b, err, sizeof err))
		f = b = (double)w.epochs * w.n_owner; /* the job fails its check */
	if (fwd) {
		*fwd = f;
		*bwd = b;
	}
	/* with its uncounted passes (training samples), then the marked
	 * model's evaluation and verification */
	return pass_cost(rs, f + u, b + u) + eval_cost(rs) +
	       (s ? pass_cost(rs, wm_verify_work_of(s, p, &w), 0) : 0);
}

/* An attack with parameters p on a model of scheme setting (scheme, sp)
 * (NULL: the clean model): its work on its share of the attacker's data,
 * then the attacked model's evaluation and verification. */
static double attack_cost(const struct run_spec *rs, const char *attack, const struct param_set *p,
			  const char *scheme, const struct param_set *sp, double *fwd, double *bwd)
{
	const struct atk_attack *a = atk_find(attack);
	struct wm_work w = run_work(rs);
	char err[ERRBUF];
	double f = 0, b = 0, u = 0;

	w.scheme = scheme ? wm_scheme_find(scheme) : NULL;
	w.scheme_params = sp;
	w.uncounted = &u; /* an attacker's own embedding's */
	if (a) {
		w.n = (int)llround(atk_attacker_data(a, p) * w.n_attacker); /* the runner's share */
		if (atk_work_of(a, p, &w, &f, &b, err, sizeof err))
			f = b = u = 0; /* the job fails its check */
	}
	if (fwd) {
		*fwd = f;
		*bwd = b;
	}
	return pass_cost(rs, f + u, b + u) + eval_cost(rs) +
	       (w.scheme && sp ? pass_cost(rs, wm_verify_work_of(w.scheme, sp, &w), 0) : 0);
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

/* ---- the compact matrix ---- */

static struct job_rec *new_rec(struct matrix *m, int kind, int parent, int seed, int sc)
{
	struct job_rec *r = &m->r[m->n++];

	memset(r, 0, sizeof *r);
	r->kind = (unsigned char)kind;
	r->parent = parent;
	r->seed = seed;
	r->sc = sc;
	r->ac = -1;
	r->after = r->wake = -1;
	return r;
}

/* The keys a calibration job of scheme combination sc verifies, and whether
 * they are owner models' keys. */
static int calib_nkeys(const struct matrix *m, int sc, int *owners)
{
	*owners = key_from_model(&m->sc[sc]);
	return *owners ? m->rs->calib_owners : m->rs->calib_keys;
}

static double rec_cost(const struct matrix *m, const struct job_rec *r)
{
	int own, nkeys;

	switch (r->kind) {
	case JOB_ATTACK:
		return m->pair[(r->sc + 1) * m->nac + r->ac].cost;
	case JOB_CONTROL:
		/* an evaluation and a verification of a control model, which the
		 * seed's ctlmodel jobs train, or else the first of the seed's controls
		 * to need it (one training per scheme setting's worth of controls) */
		return m->ec + pass_cost(m->rs, m->sc[r->sc].vfwd, 0) +
		       (m->nfit ? 0 : m->tc / (m->nsc > 0 ? m->nsc : 1));
	case JOB_CALIB:
		/* a verification per key, and its keygen (about 1/2000 of a training:
		 * uchida's 200 keys took 0.2 s of CPU against 2.6 s for the model) */
		nkeys = calib_nkeys(m, r->sc, &own);
		return nkeys * (0.0005 * m->tc + pass_cost(m->rs, m->sc[r->sc].vfwd, 0));
	case JOB_EMBED:
	case JOB_CALOWNER: /* an owner model: an embedding */
		return m->sc[r->sc].cost;
	default: /* a clean training and its evaluation */
		return m->tc + m->ec;
	}
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A 16-hex-char id as 8 bytes; -1 if it is not one. */
static int id_bytes(const char *id, unsigned char *out)
{
	for (int i = 0; i < 8; i++) {
		int a = hexval((unsigned char)id[2 * i]),
		    b = a < 0 ? -1 : hexval((unsigned char)id[2 * i + 1]);
		if (a < 0 || b < 0)
			return -1;
		out[i] = (unsigned char)(a << 4 | b);
	}
	return id[16] ? -1 : 0;
}

int job_id_bytes(const char *id, unsigned char *out)
{
	return id_bytes(id, out);
}

void matrix_id(const struct matrix *m, int i, char *id)
{
	static const char hex[] = "0123456789abcdef";

	for (int k = 0; k < 8; k++) {
		id[2 * k] = hex[m->r[i].id[k] >> 4];
		id[2 * k + 1] = hex[m->r[i].id[k] & 15];
	}
	id[16] = 0;
}

void matrix_job(const struct matrix *m, int i, struct job *out, int finalise)
{
	const struct run_spec *rs = m->rs;
	const struct job_rec *r = &m->r[i];
	char v[16];

	if (i >= m->nstatic) {
		*out = m->grown[i - m->nstatic];
		return;
	}
	/* all but the identity text, written below */
	memset(out, 0, offsetof(struct job, identity));
	out->identity[0] = 0;
	out->kind = r->kind;
	out->parent = r->parent;
	out->seed = r->seed >= 0 ? rs->seeds[r->seed] : r->ctl;
	if (r->sc >= 0) {
		strlcopy(out->scheme, m->sc[r->sc].e->name, NAMELEN);
		out->sp = m->sc[r->sc].ps;
	} else {
		strlcopy(out->scheme, wm_scheme_unmarked()->name, NAMELEN);
	}
	if (r->ac >= 0) {
		strlcopy(out->attack, m->ac[r->ac].e->name, NAMELEN);
		out->ap = m->ac[r->ac].ps;
	}
	switch (r->kind) {
	case JOB_CONTROL:
	case JOB_CTLMODEL:
		out->control_index = r->ctl;
		break;
	case JOB_CALMODEL:
		out->calib_model = r->ctl;
		break;
	case JOB_CALOWNER:
		out->calib_owner = r->ctl;
		break;
	case JOB_CALIB: {
		int own;
		out->calib_model = r->ctl;
		out->calib_keys = calib_nkeys(m, r->sc, &own);
		snprintf(v, sizeof v, "%d", out->calib_keys);
		param_set_put(&out->ap, "keys", v); /* the row's attack_params */
		snprintf(v, sizeof v, "%d", rs->calib_models);
		param_set_put(&out->ap, "models", v);
		break;
	}
	}
	out->after = r->after;
	out->nafter = r->nafter;
	out->wake = r->wake;
	out->nwake = r->nwake;
	out->cost = rec_cost(m, r);
	if (finalise)
		job_finalise(out, rs);
	else
		matrix_id(m, i, out->id);
}

int matrix_append(struct matrix *m, const struct job *j)
{
	int n = m->n;

	if (n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 16;
		m->r = xrealloc(m->r, (size_t)m->cap * sizeof *m->r);
	}
	if (!((n - m->nstatic) & (n - m->nstatic - 1)))
		m->grown = xrealloc(m->grown, (size_t)(n - m->nstatic ? 2 * (n - m->nstatic) : 1) *
						  sizeof *m->grown);
	m->grown[n - m->nstatic] = *j;
	new_rec(m, j->kind, j->parent, -1, -1);
	m->r[n].after = j->after;
	m->r[n].nafter = j->nafter;
	m->r[n].wake = j->wake;
	m->r[n].nwake = j->nwake;
	m->r[n].cost = (float)j->cost;
	id_bytes(j->id, m->r[n].id);
	return n;
}

int matrix_bundle(const struct matrix *m, int i, struct job *out, int finalise)
{
	int n = 1;

	matrix_job(m, i, &out[0], finalise);
	if (out[0].parent >= 0) {
		matrix_job(m, out[0].parent, &out[n++], finalise);
		if (out[0].kind == JOB_CONTROL && out[1].parent >= 0)
			matrix_job(m, out[1].parent, &out[n++], finalise);
	}
	return n;
}

/* The fixed part of a job on the wire; its parameters follow as
 * "key\0value\0" pairs, the scheme's then the attack's. */
struct job_wire {
	char id[17];
	unsigned char kind, nsp, nap;
	int parent, control_index, calib_model, calib_owner, calib_keys;
	int after, nafter, wake, nwake;
	long seed;
	double cost;
	char scheme[NAMELEN], attack[NAMELEN];
};
_Static_assert(sizeof(struct job_wire) <= 256, "JOB_WIRE_MAX assumes a small head");

static size_t pack_params(const struct param_set *ps, unsigned char *buf)
{
	size_t at = 0;

	for (int k = 0; k < ps->n; k++) {
		size_t a = strlen(ps->key[k]) + 1, b = strlen(ps->val[k]) + 1;
		memcpy(buf + at, ps->key[k], a);
		memcpy(buf + at + a, ps->val[k], b);
		at += a + b;
	}
	return at;
}

size_t job_pack(const struct job *j, unsigned char *buf)
{
	struct job_wire w;
	size_t at = sizeof w;

	memset(&w, 0, sizeof w);
	memcpy(w.id, j->id, sizeof w.id);
	w.kind = (unsigned char)j->kind;
	w.nsp = (unsigned char)j->sp.n;
	w.nap = (unsigned char)j->ap.n;
	w.parent = j->parent;
	w.control_index = j->control_index;
	w.calib_model = j->calib_model;
	w.calib_owner = j->calib_owner;
	w.calib_keys = j->calib_keys;
	w.after = j->after;
	w.nafter = j->nafter;
	w.wake = j->wake;
	w.nwake = j->nwake;
	w.seed = j->seed;
	w.cost = j->cost;
	memcpy(w.scheme, j->scheme, NAMELEN);
	memcpy(w.attack, j->attack, NAMELEN);
	memcpy(buf, &w, sizeof w);
	at += pack_params(&j->sp, buf + at);
	at += pack_params(&j->ap, buf + at);
	return at;
}

/* One NUL-terminated string of at most cap bytes (NUL included) at *at. */
static int unpack_str(const unsigned char *buf, size_t len, size_t *at, char *out, size_t cap)
{
	const unsigned char *z = *at < len ? memchr(buf + *at, 0, len - *at) : NULL;
	size_t n = z ? (size_t)(z - (buf + *at)) + 1 : 0;

	if (!z || n > cap)
		return -1;
	memcpy(out, buf + *at, n);
	*at += n;
	return 0;
}

static int unpack_params(const unsigned char *buf, size_t len, size_t *at, int n,
			 struct param_set *ps)
{
	if (n > PARAM_MAX)
		return -1;
	ps->n = n;
	for (int k = 0; k < n; k++)
		if (unpack_str(buf, len, at, ps->key[k], PARAM_KEYLEN) ||
		    unpack_str(buf, len, at, ps->val[k], PARAM_VALLEN))
			return -1;
	return 0;
}

int job_unpack(const struct run_spec *rs, const unsigned char *buf, size_t len, struct job *out,
	       size_t *used, char *err, size_t errlen)
{
	struct job_wire w;
	size_t at = sizeof w;

	if (len < sizeof w)
		return errf(err, errlen, "a job message of %zu bytes; expected at least %zu", len,
			    sizeof w);
	memcpy(&w, buf, sizeof w);
	memset(out, 0, offsetof(struct job, identity));
	if (w.id[16] || w.scheme[NAMELEN - 1] || w.attack[NAMELEN - 1] ||
	    unpack_params(buf, len, &at, w.nsp, &out->sp) ||
	    unpack_params(buf, len, &at, w.nap, &out->ap)) {
		memset(out, 0, offsetof(struct job, identity));
		out->parent = -1;
		return errf(err, errlen, "a malformed job message; expected one packed by rank 0");
	}
	out->kind = w.kind;
	out->parent = w.parent;
	out->control_index = w.control_index;
	out->calib_model = w.calib_model;
	out->calib_owner = w.calib_owner;
	out->calib_keys = w.calib_keys;
	out->after = w.after;
	out->nafter = w.nafter;
	out->wake = w.wake;
	out->nwake = w.nwake;
	out->seed = w.seed;
	out->cost = w.cost;
	memcpy(out->scheme, w.scheme, NAMELEN);
	memcpy(out->attack, w.attack, NAMELEN);
	job_finalise(out, rs);
	if (strcmp(out->id, w.id)) {
		errf(err, errlen,
		     "job %s is job %s here: %s differs between rank 0 and this rank; expected "
		     "the same job file on every rank",
		     w.id, out->id, rs->path);
		memcpy(out->id, w.id, sizeof w.id); /* rank 0's job, for its failed row */
		return -1;
	}
	*used = at;
	return 0;
}

void matrix_free(struct matrix *m)
{
	free(m->sc);
	free(m->ac);
	free(m->pair);
	free(m->r);
	free(m->grown);
	free(m->sfmt);
	free(m->afmt);
	free(m->sbuf);
	free(m->abuf);
	memset(m, 0, sizeof *m);
}

void job_calowner(const struct run_spec *rs, const struct job *calib, int k, struct job *out)
{
	memset(out, 0, sizeof *out);
	out->kind = JOB_CALOWNER;
	out->parent = -1;
	out->seed = k;
	out->after = out->wake = -1;
	strlcopy(out->scheme, calib->scheme, NAMELEN);
	out->sp = calib->sp;
	out->calib_owner = k;
	out->cost = embed_cost(rs, calib->scheme, &calib->sp, NULL, NULL);
	job_finalise(out, rs);
}

/* The parameters of each combination, formatted once (a million jobs share
 * a few hundred combinations); *buf holds them. */
static char **format_combos(const struct combo *c, int n, char **buf)
{
	char one[PARAM_MAX * (PARAM_KEYLEN + PARAM_VALLEN + 2) + 1];
	char **f = xmalloc((size_t)(n + 1) * sizeof *f);
	size_t len = 1, at = 1;

	for (int i = 0; i < n; i++) {
		param_format(&c[i].ps, one, sizeof one);
		len += strlen(one) + 1;
	}
	*buf = xmalloc(len);
	(*buf)[0] = 0;
	f[0] = *buf; /* f[0]: no combination (""), f[i + 1]: combination i */
	for (int i = 0; i < n; i++) {
		param_format(&c[i].ps, one, sizeof one);
		f[i + 1] = *buf + at;
		memcpy(f[i + 1], one, strlen(one) + 1);
		at += strlen(one) + 1;
	}
	return f;
}

long matrix_seed(const struct matrix *m, int i)
{
	const struct job_rec *r = &m->r[i];

	return i >= m->nstatic ? m->grown[i - m->nstatic].seed
	       : r->seed >= 0  ? m->rs->seeds[r->seed]
			       : r->ctl;
}

double matrix_cost(const struct matrix *m, int i)
{
	return i >= m->nstatic ? m->grown[i - m->nstatic].cost : rec_cost(m, &m->r[i]);
}

int matrix_passes(const struct matrix *m, int i, double *fwd, double *bwd)
{
	const struct job_rec *r = &m->r[i];
	struct wm_work w = run_work(m->rs);

	*fwd = *bwd = 0;
	if (i >= m->nstatic)
		return -1;
	switch (r->kind) {
	case JOB_ATTACK:
		*fwd = m->pair[(r->sc + 1) * m->nac + r->ac].fwd;
		*bwd = m->pair[(r->sc + 1) * m->nac + r->ac].bwd;
		return 0;
	case JOB_EMBED:
	case JOB_CALOWNER:
		*fwd = m->sc[r->sc].fwd;
		*bwd = m->sc[r->sc].bwd;
		return 0;
	case JOB_TRAIN:
	case JOB_CALMODEL:
		*fwd = *bwd = (double)w.epochs * w.n_owner;
		return 0;
	case JOB_CONTROL: /* its evaluation and verification */
		*fwd = w.n_test + m->sc[r->sc].vfwd;
		return 0;
	case JOB_CALIB: { /* a verification per key */
		int own;
		*fwd = calib_nkeys(m, r->sc, &own) * m->sc[r->sc].vfwd;
		return 0;
	}
	case JOB_CTLMODEL: /* its row counts the control model's test accuracy too */
		*fwd = *bwd = (double)w.epochs * w.n_owner;
		*fwd += w.n_test;
		return 0;
	}
	return -1;
}

const char *matrix_params(const struct matrix *m, int i, int attack)
{
	if (i >= m->nstatic || m->r[i].kind == JOB_CALIB)
		return NULL;
	return attack ? m->afmt[m->r[i].ac + 1] : m->sfmt[m->r[i].sc + 1];
}

/* The ids of the jobs: the hash of each identity text (rng_seed is made
 * when a job is materialised to run). The text is composed from the run's
 * prefix and the formatted combinations, as job_finalise composes it. */
static void matrix_ids(struct matrix *m)
{
	struct job *j = xmalloc(sizeof *j);
	char prefix[1024], text[8192], hex[65];
	char **sf = m->sfmt, **af = m->afmt;
	const char *none = wm_scheme_unmarked()->name;

	identity_prefix(m->rs, prefix, sizeof prefix);
	for (int i = 0; i < m->n; i++) {
		struct job_rec *r = &m->r[i];

		if (r->kind == JOB_CALIB) {
			/* its attack parameters are made, not a combination */
			matrix_job(m, i, j, 0);
			identity_text(j, m->rs, text, sizeof text);
		} else {
			j->kind = r->kind;
			j->seed = r->seed >= 0 ? m->rs->seeds[r->seed] : r->ctl;
			strlcopy(j->scheme, r->sc >= 0 ? m->sc[r->sc].e->name : none, NAMELEN);
			strlcopy(j->attack, r->ac >= 0 ? m->ac[r->ac].e->name : "", NAMELEN);
			j->control_index =
			    r->kind == JOB_CONTROL || r->kind == JOB_CTLMODEL ? r->ctl : 0;
			j->calib_model = r->kind == JOB_CALMODEL ? r->ctl : 0;
			j->calib_owner = r->kind == JOB_CALOWNER ? r->ctl : 0;
			identity_compose(j, prefix, sf[r->sc + 1], af[r->ac + 1], text,
					 sizeof text);
		}
		sha256_hex(text, strlen(text), hex);
		hex[16] = 0;
		id_bytes(hex, r->id);
		r->cost = (float)rec_cost(m, r);
	}
	free(j);
}

int matrix_expand(const struct run_spec *rs, struct matrix *m, char *err, size_t errlen)
{
	int nfit = 0;
	double total;
	unsigned char *na = NULL;

	memset(m, 0, sizeof *m);
	m->rs = rs;
	m->tc = train_cost(rs);
	m->ec = eval_cost(rs);
	if (combos(rs, rs->schemes, rs->nschemes, 0, &m->sc, &m->nsc, err, errlen) ||
	    combos(rs, rs->attacks, rs->nattacks, 1, &m->ac, &m->nac, err, errlen))
		goto fail;
	const struct combo *sc = m->sc;
	int nsc = m->nsc, nac = m->nac;
	for (int k = 0; k < nsc; k++)
		nfit += wm_null_fit_needed(wm_scheme_find(sc[k].e->name), &sc[k].ps);
	m->nfit = nfit;
	for (int k = 0; k < nsc; k++)
		if (rs->controls < NULL_MIN_CONTROLS &&
		    wm_null_fit_needed(wm_scheme_find(sc[k].e->name), &sc[k].ps)) {
			errf(err, errlen,
			     "%s:%d:%d: scheme %s decides by an empirical null fitted on the "
			     "run's control models (README \"Empirical null\"), and run.controls "
			     "is %d; expected run.controls >= %d (10 recommended)",
			     rs->path, sc[k].e->line, sc[k].e->col, sc[k].e->name, rs->controls,
			     NULL_MIN_CONTROLS);
			goto fail;
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
				goto fail;
			}
			total += rs->calib_owners;
		}
	}
	/* before anything the size of the matrix is allocated */
	if (total > MAX_JOBS) {
		errf(err, errlen,
		     "%s: the job matrix expands to %.0f jobs; expected at most %d (fewer seeds, "
		     "schemes, attacks or values)",
		     rs->path, total, MAX_JOBS);
		goto fail;
	}
	m->cap = total > 0 ? (int)total : 1;
	m->r = xmalloc((size_t)m->cap * sizeof *m->r);
	/* each setting's cost once, not per job (after the size check: at most
	 * (nsc + 1) x nac pairs of a matrix under MAX_JOBS) */
	for (int k = 0; k < m->nsc; k++) {
		struct wm_work w = run_work(rs);
		m->sc[k].cost =
		    embed_cost(rs, m->sc[k].e->name, &m->sc[k].ps, &m->sc[k].fwd, &m->sc[k].bwd);
		m->sc[k].vfwd =
		    wm_verify_work_of(wm_scheme_find(m->sc[k].e->name), &m->sc[k].ps, &w);
	}
	/* an attack's cost per model setting (the clean model first): an
	 * attacker's own embedding costs what the scheme under attack's does */
	m->pair = xmalloc((size_t)(m->nsc + 1) * (m->nac ? m->nac : 1) * sizeof *m->pair);
	for (int k = -1; k < m->nsc; k++)
		for (int a = 0; a < m->nac; a++) {
			struct pair_cost *pc = &m->pair[(k + 1) * m->nac + a];
			pc->cost = attack_cost(rs, m->ac[a].e->name, &m->ac[a].ps,
					       k < 0 ? NULL : m->sc[k].e->name,
					       k < 0 ? NULL : &m->sc[k].ps, &pc->fwd, &pc->bwd);
		}
	/* which attacks cannot act on each marked setting (not_applicable) */
	na = xcalloc((size_t)nsc * (size_t)nac + 1, 1);
	{
		struct job *mj = xcalloc(1, sizeof *mj);
		mj->kind = JOB_EMBED;
		for (int k = 0; k < nsc; k++) {
			strlcopy(mj->scheme, sc[k].e->name, NAMELEN);
			mj->sp = sc[k].ps;
			for (int a = 0; a < nac; a++)
				na[k * nac + a] =
				    (unsigned char)not_applicable(mj, m->ac[a].e->name);
		}
		free(mj);
	}

	/* Clean models first (job s is seed s's), then marked ones: they gate
	 * everything else. */
	for (int s = 0; s < rs->nseeds; s++)
		new_rec(m, JOB_TRAIN, -1, s, -1);
	/* Control models of the seeds, when a scheme's decision needs an empirical
	 * null: its embeds wait for them (README "Empirical null"), and so do the
	 * seed's other embeds, whose control jobs would otherwise find a control
	 * model untrained, train it uncounted and leave the ctlmodel job a cached
	 * model: its row's forward and backward would depend on the schedule. */
	int ctl0 = m->n;
	if (nfit)
		for (int s = 0; s < rs->nseeds; s++)
			for (int ci = 1; ci <= rs->controls; ci++)
				new_rec(m, JOB_CTLMODEL, s, s, -1)->ctl = ci;
	for (int s = 0; s < rs->nseeds; s++) {
		int emb0 = m->n;
		for (int k = 0; k < nsc; k++) {
			struct job_rec *r = new_rec(m, JOB_EMBED, s, s, k);

			if (nfit) {
				r->after = ctl0 + s * rs->controls;
				r->nafter = rs->controls;
			}
		}
		if (nfit)
			for (int ci = 0; ci < rs->controls; ci++) {
				m->r[ctl0 + s * rs->controls + ci].wake = emb0;
				m->r[ctl0 + s * rs->controls + ci].nwake = nsc;
			}
	}
	/* Attacks of every model job: the clean one and every marked one, except
	 * the pairs where the attack cannot act (not_applicable). */
	for (int mo = 0, nmodels = m->n; mo < nmodels; mo++)
		for (int k = 0; k < nac && m->r[mo].kind != JOB_CTLMODEL; k++) {
			int msc = m->r[mo].sc;
			if (m->r[mo].kind == JOB_EMBED && na[msc * nac + k])
				continue;
			new_rec(m, JOB_ATTACK, mo, m->r[mo].seed, msc)->ac = k;
		}
	for (int mo = rs->nseeds;
	     mo < ctl0 + (nfit ? rs->nseeds * rs->controls : 0) + rs->nseeds * nsc; mo++)
		for (int ci = 1; ci <= rs->controls && m->r[mo].kind == JOB_EMBED; ci++)
			new_rec(m, JOB_CONTROL, mo, m->r[mo].seed, m->r[mo].sc)->ctl = ci;
	/* Calibration: M unmarked models shared by every scheme setting; per setting, the
	 * owner models of model-made keys (K of them), then one job per model verifying
	 * the K keys. Owner jobs precede the jobs that wait for them. */
	if (rs->calib_models > 0) {
		int calmodel0 = m->n;

		for (int mm = 1; mm <= rs->calib_models; mm++)
			new_rec(m, JOB_CALMODEL, -1, -1, -1)->ctl = mm;
		for (int k = 0; k < nsc; k++) {
			int owner0 = m->n, nowner = 0;

			if (key_from_model(&sc[k]))
				for (int o = 1; o <= rs->calib_owners; o++) {
					new_rec(m, JOB_CALOWNER, -1, -1, k)->ctl = o;
					nowner++;
				}
			for (int o = owner0; o < owner0 + nowner; o++) {
				m->r[o].wake = m->n; /* the calibration jobs below */
				m->r[o].nwake = rs->calib_models;
			}
			for (int mm = 1; mm <= rs->calib_models; mm++) {
				struct job_rec *r =
				    new_rec(m, JOB_CALIB, calmodel0 + mm - 1, -1, k);
				r->ctl = mm;
				if (nowner) {
					r->after = owner0;
					r->nafter = nowner;
				}
			}
		}
	}
	m->nstatic = m->n;
	m->sfmt = format_combos(m->sc, m->nsc, &m->sbuf);
	m->afmt = format_combos(m->ac, m->nac, &m->abuf);
	matrix_ids(m);
	/* every value of every search, checked now: a probe is made during the
	 * run, where a bad value would only fail a job */
	if (m->n > 0 && rs->nsearches > 0) {
		struct job *j0 = xmalloc(2 * sizeof *j0);
		int bad = 0;
		matrix_job(m, 0, &j0[0], 1);
		for (int e = 0; e < rs->nsearches && !bad; e++) {
			int key = search_key(&rs->searches[e]);
			for (int v = 0; key >= 0 && v < rs->searches[e].nvals[key] && !bad; v++)
				bad = job_search_probe(rs, &j0[0], 0, &rs->searches[e], v, &j0[1],
						       err, errlen) != 0;
		}
		free(j0);
		if (bad)
			goto fail;
	}
	free(na);
	return 0;
fail:
	free(na);
	matrix_free(m);
	return -1;
}

int jobs_expand(const struct run_spec *rs, struct job **jobs, int *njobs, char *err, size_t errlen)
{
	struct matrix m;

	*jobs = NULL;
	*njobs = 0;
	if (matrix_expand(rs, &m, err, errlen))
		return -1;
	*jobs = xmalloc((size_t)(m.n ? m.n : 1) * sizeof **jobs);
	for (int i = 0; i < m.n; i++)
		matrix_job(&m, i, &(*jobs)[i], 1);
	*njobs = m.n;
	matrix_free(&m);
	return 0;
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

int job_search_probe(const struct run_spec *rs, const struct job *model, int m,
		     const struct plug_entry *e, int v, struct job *out, char *err, size_t errlen)
{
	const struct atk_attack *a = atk_find(e->name);
	int key = search_key(e);
	char msg[ERRBUF];

	if (!a || key < 0 || v < 0 || v >= e->nvals[key] || m < 0)
		return errf(err, errlen, "%s:%d:%d: search entry %s: no value %d to probe",
			    rs->path, e->line, e->col, e->name, v);
	memset(out, 0, sizeof *out);
	out->kind = JOB_ATTACK;
	out->parent = m;
	out->seed = model->seed;
	out->after = out->wake = -1;
	strlcopy(out->scheme, model->scheme, NAMELEN);
	out->sp = model->sp;
	strlcopy(out->attack, e->name, NAMELEN);
	for (int k = 0; k < e->nkeys; k++)
		param_set_put(&out->ap, e->key[k], e->vals[k][k == key ? v : 0]);
	atk_canonical(a, &out->ap); /* as the grid's jobs: the same probe, the same id */
	if (atk_check(a, &out->ap, msg, sizeof msg))
		return errf(err, errlen, "%s:%d:%d: search entry %s: %s", rs->path, e->line, e->col,
			    e->name, msg);
	out->cost = attack_cost(rs, e->name, &out->ap, model->scheme, &model->sp, NULL, NULL);
	job_finalise(out, rs);
	return 0;
}
