/* test_forge.c - the forgery (ambiguity) attacks forge_uchida and
 * forge_trigger on Fashion-MNIST with mlp.
 *
 * 12000 training samples split 2/3 owner, 1/3 attacker; 2000 test samples.
 * The target is an unmarked mlp (2 epochs, adam 1e-3 on the owner's part),
 * never marked; the controls are unmarked mlps trained the same way from
 * other seeds (their own initialisation and batch order). Shows:
 * forge_uchida hands uchida's own verify a key in uchida's format that it
 * accepts on the unmarked model (BER 0), the model stays bit-identical, the
 * forged rows are standard normal, the margin option lifts every margin
 * above its quantile, and the same key is not accepted on the controls; on
 * an uchida-marked model both the owner's and the forger's keys verify (the
 * margin tell is printed); deepmarks and deepsigns keys are forged the same
 * way; forge_trigger's PGD trigger set is accepted by adi's verify on the
 * target and followed far less by the controls (asserted loosely: adi's
 * binomial null still calls the controls marked, printed), mode wrong claims
 * misclassified attacker images with labels not their own; a self-signed
 * nullembed key passes the signature but verify refuses the claim; schemes
 * without a forgery give no forger's verdict; bad parameters are refused
 * before any work. Without Fashion-MNIST the tests that need it fail
 * (testlib.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../attacks/attack.h"
#include "data.h"
#include "nn.h"
#include "testlib.h"
#include "util.h"

/* attacks/forge_uchida.c, forge_trigger.c: the key apply verifies */
int atk_forge_uchida_key(const struct param_set *p, struct nn_model *m, const struct atk_env *env,
			 struct npz *key, const struct wm_scheme **s, char *err, size_t errlen);
int atk_forge_trigger_key(const struct param_set *p, struct nn_model *m, const struct atk_env *env,
			  struct npz *key, const struct wm_scheme **s, char *err, size_t errlen);

#define NTRAIN 12000
#define NTEST  2000
#define SEED   23
#define NCTRL  3

static struct dataset train, test;
static uint32_t *owner, *attacker;
static int n_owner, n_attacker, have_data;
static struct nn_model target, ctrl[NCTRL];
static char err[ERRBUF];

static void wenv_init(struct wm_env *w, struct rng *r, uint64_t seed, int epochs)
{
	rng_seed(r, seed);
	tl_env_init(w, r, epochs, &train, &test, owner, n_owner);
	w->attacker_idx = attacker;
	w->n_attacker = n_attacker;
}

static int group_setup(void **state)
{
	struct wm_env w;
	struct rng r;
	(void)state;
	if (tl_fashion_load(&train, &test, NTRAIN, NTEST))
		return 0;
	data_split(train.n, SEED, 1.0 / 3.0, &owner, &n_owner, &attacker, &n_attacker);
	wenv_init(&w, &r, SEED, 2);
	if (tl_train_clean(&target, "mlp", &w))
		return -1;
	printf("# target: unmarked mlp, %d owner / %d attacker samples, 2 epochs, test accuracy "
	       "%.4f\n",
	       n_owner, n_attacker, nn_accuracy(&target, &test, NULL, 0));
	for (int i = 0; i < NCTRL; i++) {
		wenv_init(&w, &r, SEED + 100 + i, 2);
		if (tl_train_clean(&ctrl[i], "mlp", &w))
			return -1;
		printf("# control %d: test accuracy %.4f\n", i,
		       nn_accuracy(&ctrl[i], &test, NULL, 0));
	}
	have_data = 1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (have_data) {
		nn_free(&target);
		for (int i = 0; i < NCTRL; i++)
			nn_free(&ctrl[i]);
	}
	tl_fashion_free(&train, &test);
	free(owner);
	free(attacker);
	return 0;
}

/* The attacker's view of a job against scheme s with its parameters sp
 * (NULL: defaults), the forger's verdict into *second. */
struct actx {
	struct wm_env w; /* owner_idx = the attacker's samples, as the runner sets it */
	struct rng r;
	struct param_set sp;
	struct atk_env e;
	const char *who;
	long queries;
};

static void actx_init(struct actx *c, uint64_t seed, const char *scheme, const char *kv,
		      struct wm_verdict *second)
{
	const struct wm_scheme *s = scheme ? wm_scheme_find(scheme) : NULL;
	wenv_init(&c->w, &c->r, seed, 2);
	c->w.owner_idx = attacker;
	c->w.n_owner = n_attacker;
	memset(&c->sp, 0, sizeof c->sp);
	if (s)
		tl_scheme_params(s, &c->sp, kv);
	memset(&c->e, 0, sizeof c->e);
	c->e.train = &train;
	c->e.attacker_idx = attacker;
	c->e.n_attacker = n_attacker;
	c->e.ts = c->w.ts;
	c->e.scheme = s;
	c->e.scheme_params = s ? &c->sp : NULL;
	c->e.wm = &c->w;
	c->e.rng = &c->r;
	c->who = NULL;
	c->e.second_who = &c->who;
	c->queries = 0;
	c->e.queries = &c->queries;
	if (second) {
		memset(second, 0, sizeof *second);
		second->aux = NAN;
	}
	c->e.second = second;
}

static void aparams(const char *name, struct param_set *p, const char *kv)
{
	const struct atk_attack *a = atk_find(name);
	assert_non_null(a);
	tl_params(a->name, a->params, p, kv, ";");
}

/* Checks and applies attack name with kv to m; the forger's verdict into
 * c's second. */
static void attack(const char *name, const char *kv, struct nn_model *m, struct actx *c)
{
	const struct atk_attack *a = atk_find(name);
	struct param_set p;
	assert_non_null(a);
	aparams(name, &p, kv);
	if (atk_check(a, &p, err, sizeof err))
		fail_msg("%s check: %s", name, err);
	if (atk_apply(a, &p, m, &c->e, err, sizeof err))
		fail_msg("%s apply: %s", name, err);
}

static int same_params(const struct nn_model *a, const struct nn_model *b)
{
	return a->nparams == b->nparams &&
	       !memcmp(a->params, b->params, a->nparams * sizeof(float));
}

/* Verifies key of scheme s on m through the plain query path. */
static void verify_on(const struct wm_scheme *s, const struct npz *key, struct nn_model *m,
		      struct wm_verdict *v)
{
	struct wm_env w;
	struct rng r;
	wenv_init(&w, &r, 1, 1);
	struct wm_query q;
	wm_query_init(&q, m);
	tl_verify(s, key, m, &q, &w, v);
}

/* |X_j . w| / |w| of every row of a uchida key on m (T values into z). */
static int uchida_margins(const struct npz *key, const struct nn_model *m, double *z)
{
	char layer[NN_NAMELEN];
	const struct npz_array *X = npz_get(key, "uchida.X");
	assert_non_null(X);
	assert_int_equal(npz_get_text(key, "layer", layer, sizeof layer), 0);
	int li = nn_find_layer(m, layer);
	assert_true(li >= 0);
	const struct nn_layer *l = &m->layers[li];
	int T = (int)X->shape[0], M = (int)X->shape[1], OC = l->out_c;
	assert_int_equal((size_t)M, l->w_n / OC);
	double *w = calloc((size_t)M, sizeof *w), nw = 0;
	for (int o = 0; o < OC; o++)
		for (int j = 0; j < M; j++)
			w[j] += m->params[l->w_off + (size_t)o * M + j] / OC;
	for (int j = 0; j < M; j++)
		nw += w[j] * w[j];
	nw = sqrt(nw);
	for (int t = 0; t < T; t++) {
		double s = 0;
		for (int j = 0; j < M; j++)
			s += ((const float *)X->data)[(size_t)t * M + j] * w[j];
		z[t] = fabs(s) / nw;
	}
	free(w);
	return T;
}

/* ---- parameters ------------------------------------------------------------ */

/* attack name with key=val is refused, before any work, naming the attack,
 * the parameter, the value and the expected range; applying it changes
 * nothing and runs no pass of the network. */
static void expect_refused(const char *name, const char *key, const char *val, const char *range)
{
	const struct atk_attack *a = atk_find(name);
	struct param_set p = {0};
	assert_non_null(a);
	param_set_put(&p, key, val);
	err[0] = 0;
	assert_int_not_equal(atk_check(a, &p, err, sizeof err), 0);
	printf("# %s %s=%s -> %s\n", name, key, val, err);
	char quoted[64];
	snprintf(quoted, sizeof quoted, "'%s'", key);
	assert_non_null(strstr(err, name));
	assert_non_null(strstr(err, quoted));
	assert_non_null(strstr(err, val));
	assert_non_null(strstr(err, range));
	if (have_data) {
		struct nn_model m;
		struct wm_verdict v;
		struct actx c;
		nn_copy(&m, &target);
		actx_init(&c, 5, "uchida", NULL, &v);
		struct nn_count before = nn_count;
		assert_int_not_equal(atk_apply(a, &p, &m, &c.e, err, sizeof err), 0);
		assert_int_equal(nn_count.forward, before.forward);
		assert_int_equal(nn_count.backward, before.backward);
		assert_true(same_params(&m, &target));
		assert_null(c.who);
		nn_free(&m);
	}
}

static void test_bad_params(void **state)
{
	(void)state;
	expect_refused("forge_uchida", "margin", "1", "[0, 0.999]");
	expect_refused("forge_uchida", "margin", "-0.5", "[0, 0.999]");
	expect_refused("forge_uchida", "bits", "-3", "[0, 1048576]");
	expect_refused("forge_uchida", "scheme", "adi", "same|uchida|deepmarks|deepsigns");
	expect_refused("forge_trigger", "mode", "fgsm", "pgd|wrong");
	expect_refused("forge_trigger", "scheme", "frontier", "same|adi|nullembed");
	expect_refused("forge_trigger", "eps", "0", "[1e-06, 1]");
	expect_refused("forge_trigger", "steps", "0", "[1, 100000]");
	expect_refused("forge_trigger", "T", "-1", "[0, 10000]");
	expect_refused("forge_trigger", "lambda", "-2", "[0, 1000000]");
	/* the table: category ambiguity, a forger's second verdict, defaults pass */
	const char *names[] = {"forge_uchida", "forge_trigger"};
	for (int i = 0; i < 2; i++) {
		const struct atk_attack *a = atk_find(names[i]);
		struct param_set p;
		assert_non_null(a);
		assert_int_equal(a->category, ATK_CAT_AMBIGUITY);
		assert_string_equal(a->second_verdict, "forger");
		assert_true(a->threat & ATK_T_WEIGHTS);
		assert_true(a->threat & ATK_T_ADAPTIVE);
		aparams(names[i], &p, "");
		assert_int_equal(atk_check(a, &p, err, sizeof err), 0);
	}
}

/* ---- forge_uchida ------------------------------------------------------------ */

static void test_uchida_unmarked(void **state)
{
	const struct wm_scheme *uch = wm_scheme_find("uchida"), *s = NULL;
	struct nn_model m;
	struct wm_verdict v, cv;
	struct actx c;
	struct param_set p;
	struct npz key;
	(void)state;
	tl_need_fashion();
	/* the attack through the core: the forger's verdict, the model unchanged */
	nn_copy(&m, &target);
	actx_init(&c, 7, "uchida", NULL, &v);
	struct nn_count before = nn_count;
	attack("forge_uchida", "", &m, &c);
	assert_true(same_params(&m, &target));
	assert_int_equal(nn_count.backward, before.backward); /* no training, no gradient */
	assert_non_null(c.who);
	assert_string_equal(c.who, "forger");
	assert_string_equal(v.metric_name, "ber");
	assert_true(v.metric == 0);
	assert_true(v.capacity == 64);
	assert_true(v.detected);
	assert_true(v.pvalue <= ldexp(1, -64) * 1.0001);
	printf("# forge_uchida on the unmarked mlp: ber %g, p %.3g, detected %d\n", v.metric,
	       v.pvalue, v.detected);

	/* the key itself: uchida's format, Gaussian rows, margins half-normal */
	aparams("forge_uchida", &p, "");
	actx_init(&c, 7, "uchida", NULL, NULL);
	npz_init(&key);
	assert_int_equal(atk_forge_uchida_key(&p, &m, &c.e, &key, &s, err, sizeof err), 0);
	assert_ptr_equal(s, uch);
	assert_true(same_params(&m, &target));
	char text[512];
	assert_int_equal(npz_get_text(&key, "scheme", text, sizeof text), 0);
	assert_string_equal(text, "uchida");
	assert_int_equal(npz_get_text(&key, "params", text, sizeof text), 0);
	assert_non_null(strstr(text, "keytype=random"));
	assert_non_null(strstr(text, "bits=64"));
	const struct npz_array *X = npz_get(&key, "uchida.X"), *b = npz_get(&key, "uchida.b");
	assert_non_null(X);
	assert_non_null(b);
	assert_int_equal(X->dtype, NPZ_F32);
	assert_int_equal(b->dtype, NPZ_U8);
	assert_int_equal(X->shape[0], 64);
	double sum = 0, sq = 0;
	int ones = 0;
	for (size_t i = 0; i < X->count; i++) {
		double x = ((const float *)X->data)[i];
		sum += x;
		sq += x * x;
	}
	for (int t = 0; t < 64; t++)
		ones += ((const uint8_t *)b->data)[t] != 0;
	double mean = sum / X->count, sd = sqrt(sq / X->count - mean * mean);
	printf("# forged X: %lld x %lld, mean %.4f, sd %.4f; %d of 64 target bits are 1\n",
	       (long long)X->shape[0], (long long)X->shape[1], mean, sd, ones);
	assert_true(fabs(mean) < 0.02);
	assert_true(fabs(sd - 1) < 0.03);
	assert_true(ones > 16 && ones < 48);
	double z[64], zmean = 0, zmin = 1e9;
	assert_int_equal(uchida_margins(&key, &m, z), 64);
	for (int t = 0; t < 64; t++) {
		zmean += z[t] / 64;
		zmin = fmin(zmin, z[t]);
	}
	/* half-normal: mean sqrt(2/pi) = 0.798 */
	printf("# plain forged margins |X_j.w|/|w|: mean %.3f (half-normal 0.798), min %.4f\n",
	       zmean, zmin);
	assert_true(zmean > 0.55 && zmean < 1.05);
	/* the same key on independent controls: chance */
	for (int i = 0; i < NCTRL; i++) {
		verify_on(uch, &key, &ctrl[i], &cv);
		printf("# forged uchida key on control %d: ber %.3f, p %.3g, detected %d\n", i,
		       cv.metric, cv.pvalue, cv.detected);
		assert_true(cv.metric > 0.25);
		assert_false(cv.detected);
	}
	npz_free(&key);

	/* margin 0.9: every row above the 0.9 quantile of |N(0,1)|, 1.645 */
	aparams("forge_uchida", &p, "margin=0.9;bits=128");
	actx_init(&c, 8, "uchida", NULL, NULL);
	npz_init(&key);
	assert_int_equal(atk_forge_uchida_key(&p, &m, &c.e, &key, &s, err, sizeof err), 0);
	double z2[128];
	zmean = 0;
	zmin = 1e9;
	assert_int_equal(uchida_margins(&key, &m, z2), 128);
	for (int t = 0; t < 128; t++) {
		zmean += z2[t] / 128;
		zmin = fmin(zmin, z2[t]);
	}
	printf("# margin 0.9 forged margins: mean %.3f, min %.4f (quantile 1.6449)\n", zmean, zmin);
	assert_true(zmin >= 1.6448);
	verify_on(uch, &key, &m, &cv);
	assert_true(cv.metric == 0);
	assert_true(cv.detected);
	npz_free(&key);
	nn_free(&m);
}

/* Mean and minimum of the margins of a uchida key on m. */
static void margin_stats(const struct npz *key, const struct nn_model *m, double *mean, double *min)
{
	const struct npz_array *X = npz_get(key, "uchida.X");
	assert_non_null(X);
	double *z = malloc((size_t)X->shape[0] * sizeof *z);
	int T = uchida_margins(key, m, z);
	*mean = 0;
	*min = 1e300;
	for (int t = 0; t < T; t++) {
		*mean += z[t] / T;
		*min = fmin(*min, z[t]);
	}
	free(z);
}

/* Against the owner's uchida-marked model (the runner's case): both keys
 * verify, the model unchanged; the margin tell measured. */
static void test_uchida_marked(void **state)
{
	const struct wm_scheme *uch = wm_scheme_find("uchida"), *s = NULL;
	struct nn_model marked, m;
	struct wm_env w;
	struct rng r;
	struct npz okey, fkey;
	struct param_set sp, p;
	struct wm_verdict ov, fv;
	struct actx c;
	(void)state;
	tl_need_fashion();
	tl_scheme_params(uch, &sp, NULL);
	wenv_init(&w, &r, SEED, 2);
	npz_init(&okey);
	if (nn_create(&marked, "mlp", 1, 28, 28, 10, &r, err, sizeof err) ||
	    wm_keygen(uch, &sp, &marked, &w, &okey, err, sizeof err) ||
	    wm_embed(uch, &sp, &marked, &okey, &w, err, sizeof err))
		fail_msg("uchida embedding: %s", err);
	verify_on(uch, &okey, &marked, &ov);
	assert_true(ov.detected);
	nn_copy(&m, &marked);
	actx_init(&c, 13, "uchida", NULL, &fv);
	attack("forge_uchida", "", &m, &c);
	assert_true(same_params(&m, &marked));
	verify_on(uch, &okey, &m, &ov);
	printf("# uchida-marked mlp: owner ber %g p %.3g detected %d; forger ber %g p %.3g "
	       "detected %d\n",
	       ov.metric, ov.pvalue, ov.detected, fv.metric, fv.pvalue, fv.detected);
	assert_true(ov.detected);
	assert_true(fv.detected);
	assert_true(fv.metric == 0);
	/* the margin tell: the owner's margins against plain and margin-0.9 forgeries */
	double gm, gmin, pm, pmin, qm, qmin;
	margin_stats(&okey, &marked, &gm, &gmin);
	const char *kv[2] = {"", "margin=0.9"};
	for (int i = 0; i < 2; i++) {
		aparams("forge_uchida", &p, kv[i]);
		actx_init(&c, 13, "uchida", NULL, NULL);
		npz_init(&fkey);
		assert_int_equal(
		    atk_forge_uchida_key(&p, &marked, &c.e, &fkey, &s, err, sizeof err), 0);
		if (i)
			margin_stats(&fkey, &marked, &qm, &qmin);
		else
			margin_stats(&fkey, &marked, &pm, &pmin);
		npz_free(&fkey);
	}
	printf("# margins |X_j.w|/|w| on the marked model: owner mean %.3f min %.3f; forged plain "
	       "mean %.3f min %.4f; forged margin=0.9 mean %.3f min %.3f\n",
	       gm, gmin, pm, pmin, qm, qmin);
	assert_true(qmin >= 1.6448);
	npz_free(&okey);
	nn_free(&marked);
	nn_free(&m);
}

static void test_deepmarks_deepsigns(void **state)
{
	const char *names[] = {"deepmarks", "deepsigns"};
	(void)state;
	tl_need_fashion();
	for (int i = 0; i < 2; i++) {
		struct nn_model m;
		struct wm_verdict v, cv;
		struct actx c;
		struct param_set p;
		struct npz key;
		const struct wm_scheme *s = NULL;
		nn_copy(&m, &target);
		/* scheme=<name> forges that scheme's claim whatever the job's scheme (none) */
		char kv[64];
		snprintf(kv, sizeof kv, "scheme=%s", names[i]);
		actx_init(&c, 9 + i, NULL, NULL, &v);
		attack("forge_uchida", kv, &m, &c);
		assert_true(same_params(&m, &target));
		assert_non_null(c.who);
		printf("# forge_uchida %s on the unmarked mlp: ber %g, p %.3g, aux %.3g, "
		       "detected %d\n",
		       names[i], v.metric, v.pvalue, v.aux, v.detected);
		assert_true(v.metric == 0);
		assert_true(v.detected);
		/* on the controls */
		aparams("forge_uchida", &p, kv);
		actx_init(&c, 9 + i, NULL, NULL, NULL);
		npz_init(&key);
		assert_int_equal(atk_forge_uchida_key(&p, &m, &c.e, &key, &s, err, sizeof err), 0);
		assert_string_equal(s->name, names[i]);
		int det = 0;
		for (int k = 0; k < NCTRL; k++) {
			verify_on(s, &key, &ctrl[k], &cv);
			printf("#   on control %d: ber %.3f, p %.3g, detected %d\n", k, cv.metric,
			       cv.pvalue, cv.detected);
			det += cv.detected;
		}
		assert_true(det <= 1);
		npz_free(&key);
		nn_free(&m);
	}
}

/* Schemes without a forgery, and the unmarked model: nothing changes, no
 * forger's verdict. */
static void test_not_forgeable(void **state)
{
	struct {
		const char *attack, *scheme;
	} cases[] = {{"forge_uchida", NULL},	  {"forge_uchida", "adi"},
		     {"forge_uchida", "none"},	  {"forge_trigger", NULL},
		     {"forge_trigger", "uchida"}, {"forge_trigger", "frontier"}};
	(void)state;
	tl_need_fashion();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct nn_model m;
		struct wm_verdict v;
		struct actx c;
		nn_copy(&m, &target);
		actx_init(&c, 3, cases[i].scheme, NULL, &v);
		struct nn_count before = nn_count;
		attack(cases[i].attack, "", &m, &c);
		assert_true(same_params(&m, &target));
		assert_null(c.who);
		assert_string_equal(v.metric_name, "");
		assert_int_equal(nn_count.forward, before.forward);
		nn_free(&m);
	}
}

/* ---- forge_trigger ------------------------------------------------------------ */

/* forge_trigger with kv against adi on the target: the forger's verdict,
 * the key's acceptance on the controls, the passes it took. */
static void trigger_adi(const char *kv, double *acc_target, double *acc_ctrl, int *det_ctrl, int *T,
			long *bwd, long *queries)
{
	const struct wm_scheme *adi = wm_scheme_find("adi"), *s = NULL;
	struct nn_model m;
	struct wm_verdict v, cv;
	struct actx c;
	struct param_set p;
	struct npz key;
	nn_copy(&m, &target);
	actx_init(&c, 31, "adi", NULL, &v);
	struct nn_count before = nn_count;
	attack("forge_trigger", kv, &m, &c);
	*bwd = nn_count.backward - before.backward;
	*queries = c.queries;
	assert_true(same_params(&m, &target));
	assert_non_null(c.who);
	assert_string_equal(v.metric_name, "wm_acc");
	*acc_target = v.metric;
	*T = (int)v.capacity;
	printf("# forge_trigger %s: T %d, wm_acc on the target %.3f, p %.3g, detected %d; "
	       "%ld backward passes, %ld queries\n",
	       kv, *T, v.metric, v.pvalue, v.detected, *bwd, *queries);
	assert_true(v.detected);
	/* the same key (same stream) on the controls */
	aparams("forge_trigger", &p, kv);
	actx_init(&c, 31, "adi", NULL, NULL);
	npz_init(&key);
	assert_int_equal(atk_forge_trigger_key(&p, &m, &c.e, &key, &s, err, sizeof err), 0);
	assert_ptr_equal(s, adi);
	char text[512];
	assert_int_equal(npz_get_text(&key, "scheme", text, sizeof text), 0);
	assert_string_equal(text, "adi");
	const struct npz_array *x = npz_get(&key, "adi.x");
	assert_non_null(x);
	assert_int_equal(x->ndim, 4);
	assert_int_equal(x->shape[0], *T);
	for (size_t i = 0; i < x->count; i++) {
		float f = ((const float *)x->data)[i];
		assert_true(f >= 0 && f <= 1);
	}
	verify_on(adi, &key, &m, &cv);
	assert_true(cv.metric == v.metric); /* apply verified this key */
	if (strstr(kv, "wrong")) {
		/* each trigger is an attacker image as it is, claimed with a label
		 * that is not its own */
		size_t D = (size_t)x->shape[1] * x->shape[2] * x->shape[3];
		const int32_t *ky = npz_get(&key, "adi.y")->data;
		float *img = malloc(D * sizeof(float));
		int y;
		for (int t = 0; t < *T; t++) {
			int found = -1;
			for (int a = 0; a < n_attacker && found < 0; a++) {
				nn_fill_batch(train.x, train.y, D, attacker + a, 1, img, &y);
				if (!memcmp(img, (const float *)x->data + (size_t)t * D,
					    D * sizeof(float)))
					found = y;
			}
			assert_true(found >= 0);
			assert_int_not_equal(found, ky[t]);
		}
		free(img);
	}
	*acc_ctrl = 0;
	*det_ctrl = 0;
	for (int k = 0; k < NCTRL; k++) {
		verify_on(adi, &key, &ctrl[k], &cv);
		printf("#   on control %d: wm_acc %.3f, p %.3g, detected %d\n", k, cv.metric,
		       cv.pvalue, cv.detected);
		*acc_ctrl += cv.metric / NCTRL;
		*det_ctrl += cv.detected;
	}
	npz_free(&key);
	nn_free(&m);
}

static void test_trigger_pgd(void **state)
{
	double at, ac;
	int det, T;
	long bwd, q;
	(void)state;
	tl_need_fashion();
	trigger_adi("mode=pgd", &at, &ac, &det, &T, &bwd, &q);
	assert_int_equal(T, 100); /* adi's default size */
	assert_true(at >= 0.95);
	assert_int_equal(q, 0); /* white-box: no API queries */
	/* PGD did work: at least one gradient step per claimed image */
	assert_true(bwd >= T);
	printf("# pgd: target %.3f, controls mean %.3f (%d of %d detected), %ld backward passes "
	       "(%.1f per claimed image, failed candidates included)\n",
	       at, ac, det, NCTRL, bwd, (double)bwd / T);
	/* transfer to independent models stays well below the target */
	assert_true(ac < at - 0.3);
}

static void test_trigger_wrong(void **state)
{
	double at, ac;
	int det, T;
	long bwd, q;
	(void)state;
	tl_need_fashion();
	trigger_adi("mode=wrong;T=50", &at, &ac, &det, &T, &bwd, &q);
	assert_int_equal(T, 50);
	assert_true(at == 1);
	assert_int_equal(bwd, 0); /* no gradient */
	assert_true(q >= 50);	  /* one query per image scanned */
	printf("# wrong: target %.3f, controls mean %.3f (%d of %d detected), %ld queries\n", at,
	       ac, det, NCTRL, q);
}

/* nullembed: the forger signs with its own key pair; the signature checks,
 * the claim does not. */
static void test_trigger_nullembed(void **state)
{
	const struct wm_scheme *ne = wm_scheme_find("nullembed"), *s = NULL;
	struct nn_model m;
	struct wm_verdict v;
	struct actx c;
	struct param_set p;
	struct npz key;
	(void)state;
	tl_need_fashion();
	nn_copy(&m, &target);
	actx_init(&c, 41, "nullembed", NULL, &v);
	attack("forge_trigger", "tries=4", &m, &c);
	assert_true(same_params(&m, &target));
	assert_non_null(c.who);
	printf("# forge_trigger nullembed (4 self-signed keys x 10 lambdas): acc_true %.3f, "
	       "acc_null %.3f, p %.3g, detected %d; %ld queries\n",
	       v.metric, v.aux, v.pvalue, v.detected, c.queries);
	assert_false(v.detected);
	assert_true(c.queries > 0);
	/* the key: self-signed, valid, impersonating the owner */
	aparams("forge_trigger", &p, "tries=4");
	actx_init(&c, 41, "nullembed", NULL, NULL);
	npz_init(&key);
	assert_int_equal(atk_forge_trigger_key(&p, &m, &c.e, &key, &s, err, sizeof err), 0);
	assert_ptr_equal(s, ne);
	const struct npz_array *pk = npz_get(&key, "nullembed.pk"),
			       *sig = npz_get(&key, "nullembed.sig");
	char vtext[256], params[512];
	assert_non_null(pk);
	assert_non_null(sig);
	assert_int_equal(npz_get_text(&key, "nullembed.v", vtext, sizeof vtext), 0);
	assert_int_equal(npz_get_text(&key, "params", params, sizeof params), 0);
	assert_string_equal(vtext, "owner;2026-01-01");
	assert_true(sodium_init() >= 0);
	assert_int_equal(
	    crypto_sign_verify_detached(sig->data, (const uint8_t *)vtext, strlen(vtext), pk->data),
	    0);
	printf("# forged nullembed key: signature valid under its own public key; params %s\n",
	       params);
	npz_free(&key);
	nn_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_params),	  cmocka_unit_test(test_uchida_unmarked),
	    cmocka_unit_test(test_uchida_marked), cmocka_unit_test(test_deepmarks_deepsigns),
	    cmocka_unit_test(test_not_forgeable), cmocka_unit_test(test_trigger_pgd),
	    cmocka_unit_test(test_trigger_wrong), cmocka_unit_test(test_trigger_nullembed),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
