/* testlib.c - fixtures shared by the cmocka tests; see testlib.h. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nn.h"
#include "testlib.h"
#include "util.h"

/* what the last tl_fashion_load did: 1 loaded, -1 failed (why in fashion_err), 0 not called */
static int fashion_state;
static char fashion_err[ERRBUF + 256];
static uint32_t *fashion_all; /* 0 .. train->n - 1 */
/* what tl_fashion_load was handed; the split of tl_fashion_split */
static struct dataset *fashion_train, *fashion_test;
static uint32_t *split_owner, *split_attacker;
static int n_split_owner, n_split_attacker;
/* the models of tl_clean_model */
#define TL_CLEAN_MAX 16
static struct clean_model {
	char arch[32];
	uint64_t seed;
	int epochs;
	struct nn_model m;
} cleans[TL_CLEAN_MAX];
static int n_cleans;

int tl_dataset_missing(const char *dir, const char *package, char *msg, size_t msglen)
{
	struct stat st;
	if (!stat(dir, &st))
		return 0;
	snprintf(msg, msglen,
		 "data set missing: %s: %s. It is a dependency of the tests: install the Debian "
		 "package %s (make deps installs it)",
		 dir, strerror(errno), package);
	return 1;
}

int tl_fashion_load(struct dataset *train, struct dataset *test, int ntrain, int ntest)
{
	char err[ERRBUF];
	fashion_state = -1;
	fashion_train = train;
	fashion_test = test;
	if (!tl_dataset_missing(FASHION_DIR, TL_FASHION_PACKAGE, fashion_err, sizeof fashion_err)) {
		if (data_load("fashion", FASHION_DIR, train, test, err, sizeof err)) {
			snprintf(fashion_err, sizeof fashion_err, "Fashion-MNIST did not load: %s",
				 err);
		} else {
			if (ntrain)
				data_truncate(train, ntrain);
			if (ntest)
				data_truncate(test, ntest);
			fashion_all = xmalloc((size_t)train->n * sizeof *fashion_all);
			for (int i = 0; i < train->n; i++)
				fashion_all[i] = (uint32_t)i;
			fashion_state = 1;
			return 0;
		}
	}
	fprintf(stderr, "%s\n", fashion_err);
	return -1;
}

void tl_fashion_free(struct dataset *train, struct dataset *test)
{
	if (fashion_state != 1)
		return;
	for (int i = 0; i < n_cleans; i++)
		nn_free(&cleans[i].m);
	n_cleans = 0;
	free(split_owner);
	free(split_attacker);
	split_owner = split_attacker = NULL;
	n_split_owner = n_split_attacker = 0;
	data_free(train);
	data_free(test);
	free(fashion_all);
	fashion_all = NULL;
	fashion_state = 0;
}

int tl_fashion_split(uint64_t seed, double frac)
{
	if (fashion_state != 1)
		return -1;
	data_split(fashion_train->n, seed, frac, &split_owner, &n_split_owner, &split_attacker,
		   &n_split_attacker);
	return 0;
}

void tl_fashion_env(struct wm_env *env, struct rng *r, uint64_t seed, int epochs)
{
	rng_seed(r, seed);
	if (split_owner) {
		tl_env_init(env, r, epochs, fashion_train, fashion_test, split_owner,
			    n_split_owner);
		env->attacker_idx = split_attacker;
		env->n_attacker = n_split_attacker;
	} else {
		tl_env_init(env, r, epochs, fashion_train, fashion_test, tl_fashion_all(),
			    fashion_train ? fashion_train->n : 0);
	}
}

struct nn_model *tl_clean_model(const char *arch, uint64_t seed, int epochs)
{
	struct wm_env env;
	struct rng r;
	for (int i = 0; i < n_cleans; i++)
		if (!strcmp(cleans[i].arch, arch) && cleans[i].seed == seed &&
		    cleans[i].epochs == epochs)
			return &cleans[i].m;
	tl_need_fashion();
	if (n_cleans == TL_CLEAN_MAX || strlen(arch) >= sizeof cleans[0].arch)
		fail_msg("tl_clean_model: more than %d models, or arch '%s' too long", TL_CLEAN_MAX,
			 arch);
	struct clean_model *c = &cleans[n_cleans];
	tl_fashion_env(&env, &r, seed, epochs);
	if (tl_train_clean(&c->m, arch, &env))
		fail_msg("unmarked %s of seed %llu (%d epochs) did not train", arch,
			 (unsigned long long)seed, epochs);
	strcpy(c->arch, arch);
	c->seed = seed;
	c->epochs = epochs;
	n_cleans++;
	return &c->m;
}

void tl_need_fashion(void)
{
	if (fashion_state == 1)
		return;
	if (fashion_state == 0 &&
	    !tl_dataset_missing(FASHION_DIR, TL_FASHION_PACKAGE, fashion_err, sizeof fashion_err))
		return;
	fail_msg("%s", fashion_err);
}

const uint32_t *tl_fashion_all(void)
{
	return fashion_state == 1 ? fashion_all : NULL;
}

void tl_env_init(struct wm_env *env, struct rng *r, int epochs, const struct dataset *train,
		 const struct dataset *test, const uint32_t *owner, int n_owner)
{
	memset(env, 0, sizeof *env);
	env->train = train;
	env->test = test;
	env->owner_idx = owner;
	env->n_owner = n_owner;
	env->ts.epochs = epochs;
	env->ts.batch = 64;
	strcpy(env->ts.optimizer, "adam");
	env->ts.lr = 1e-3;
	env->ts.momentum = 0.9;
	env->alpha = 1e-3;
	env->rng = r;
}

int tl_train_clean(struct nn_model *m, const char *arch, const struct wm_env *env)
{
	char err[ERRBUF];
	if (nn_create(m, arch, 1, 28, 28, 10, env->rng, err, sizeof err) ||
	    wm_train_owner(m, env, NULL, 0, err, sizeof err)) {
		fprintf(stderr, "unmarked %s: %s\n", arch, err);
		return -1;
	}
	return 0;
}

static int hidden_predict(struct wm_query *q, const float *x, int n, float *probs)
{
	nn_predict_proba(q->ctx, x, n, probs);
	q->queries += n;
	return 0;
}

/* the plain query path, with the model moved from q->model to q->ctx */
void tl_hidden_query(struct wm_query *q, struct nn_model *m)
{
	wm_query_init(q, m);
	q->predict = hidden_predict;
	q->model = NULL;
	q->ctx = m;
}

void tl_verify(const struct wm_scheme *s, const struct npz *key, struct nn_model *m,
	       struct wm_query *q, const struct wm_env *env, struct wm_verdict *v)
{
	char err[ERRBUF];
	memset(v, 0, sizeof *v);
	v->aux = NAN;
	if (wm_verify(s, key, m, q, env, v, err, sizeof err))
		fail_msg("%s verify: %s", s->name, err);
}

void tl_verify_bb(const struct wm_scheme *s, const struct npz *key, struct nn_model *m,
		  const struct wm_env *env, const char *metric, struct wm_verdict *v)
{
	struct wm_query q;
	tl_hidden_query(&q, m);
	tl_verify(s, key, NULL, &q, env, v);
	v->queries = q.queries;
	if (metric && strcmp(v->metric_name, metric))
		fail_msg("%s verify: metric '%s', expected '%s'", s->name, v->metric_name, metric);
	if (q.queries <= 0)
		fail_msg("%s verify: no query through the query path", s->name);
}

int tl_fit_null(const struct wm_scheme *s, struct npz *key, struct nn_model *const *models,
		int n_models, const struct wm_env *env, const char *metric, struct wm_verdict *vs)
{
	struct wm_null f;
	struct wm_verdict v;
	int *counts = xmalloc((size_t)n_models * sizeof *counts), n = 0;
	for (int i = 0; i < n_models; i++) {
		/* each control from env's RNG as it was handed */
		struct rng r;
		struct wm_env e = *env;
		if (env->rng) {
			r = *env->rng;
			e.rng = &r;
		}
		tl_verify_bb(s, key, models[i], &e, metric, &v);
		if (i && (int)v.capacity != n)
			fail_msg("%s null: control %d has capacity %g, control 0 %d", s->name, i,
				 v.capacity, n);
		n = (int)v.capacity;
		counts[i] = v.count;
		if (vs)
			vs[i] = v;
	}
	if (wm_null_fit(counts, n_models, n, &f))
		fail_msg("%s null: wm_null_fit refused %d counts of %d (a count outside [0, n]?)",
			 s->name, n_models, n);
	wm_null_store(key, counts, &f);
	printf("%s null on %d controls: counts", s->name, n_models);
	for (int i = 0; i < n_models; i++)
		printf(" %d", counts[i]);
	printf(" of %d; mu %.4f rho %.4f\n", n, f.mu, f.rho);
	free(counts);
	return n;
}

void tl_scheme_params(const struct wm_scheme *s, struct param_set *p, const char *kv)
{
	tl_params(s->name, s->params, p, kv, ",");
}

void tl_assert_same_array(const struct npz *a, const struct npz *b, const char *name)
{
	const struct npz_array *x = npz_get(a, name), *y = npz_get(b, name);
	assert_non_null(x);
	assert_non_null(y);
	assert_int_equal(x->dtype, y->dtype);
	assert_int_equal(x->count, y->count);
	assert_memory_equal(x->data, y->data, x->count * npz_dtype_size(x->dtype));
}

int tl_tmpdir(char *dir, size_t len, const char *prefix)
{
	if ((size_t)snprintf(dir, len, "/tmp/%s.XXXXXX", prefix) >= len)
		return -1;
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int tl_rmtree(const char *dir)
{
	return nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) ? -1 : 0;
}

void tl_params(const char *owner, const struct param_def *defs, struct param_set *ps,
	       const char *kv, const char *seps)
{
	char e[ERRBUF];

	memset(ps, 0, sizeof *ps);
	if (param_parse(ps, kv ? kv : "", seps, owner, NULL, e, sizeof e))
		fail_msg("%s", e);
	param_complete(ps, defs);
}

void tl_expect_check_error(const struct wm_scheme *s, const char *arch, const char *kv,
			   const char *needle)
{
	struct param_set p;
	struct nn_model m;
	char e[ERRBUF] = "";

	assert_int_equal(nn_build_spec(&m, arch, nn_arch_spec(arch), e, sizeof e), 0);
	tl_scheme_params(s, &p, kv);
	assert_int_equal(wm_check(s, &p, &m, e, sizeof e), -1);
	printf("%s check(%s): %s\n", s->name, kv, e);
	if (!strstr(e, needle))
		fail_msg("%s check(%s): message '%s' lacks '%s'", s->name, kv, e, needle);
	nn_free(&m);
}
