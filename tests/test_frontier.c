/* test_frontier.c - adversarial frontier stitching on Fashion-MNIST with mlp.
 *
 * CI-sized: 6000 training samples, 2 epochs of adam 1e-3 (batch 64), key
 * size 100 (eps 0.03, expand 10, boost 10, fine-tuning at lr 1e-4 for at most
 * 6 epochs: this set has 110 batches per epoch where a 40000-image run has 640). The null is fitted
 * here as the runner does it: the key is verified on 5 unmarked models of other seeds (the
 * controls). Checked: the eps sweep over {0.01, 0.03, 0.1, 0.25} (true/false adversary counts among
 * 1000 candidates of F0); the mark is detected at alpha 1e-3 after
 * embedding; the unmarked model of the same seed and a wrong key (built from
 * another model) are not; the paper's Binomial(n, 1/2) test calls the
 * unmarked controls marked (its rate is printed and must be high) while the
 * shipped decision does not; the key regenerates bit-identically from the
 * seed and F0; bad parameters are refused; eps 0.25 (almost no false
 * adversaries) fails with a message naming eps and the counts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../schemes/scheme.h"
#include "data.h"
#include "nn.h"
#include "testlib.h"
#include "util.h"

#define NTRAIN	   6000
#define NTEST	   2000
#define EPOCHS	   2
#define SEED	   11
#define NCTRL	   5
#define KEYSEED(s) ((s) + 1000)
/* the marked model: 6 fine-tuning epochs, since the 6000-image set gives only
 * 110 batches per epoch (a 40000-image run has 640) */
#define MARK_KV "ft_epochs=6"

extern const struct wm_scheme wm_frontier;
double wm_frontier_binomial_pvalue(int errors, int n);
int wm_frontier_key_from_model(const void *cfg, struct nn_model *m, const struct wm_env *env,
			       struct npz *key, char *err, size_t errlen);

static const struct wm_scheme *fr = &wm_frontier;
static struct dataset train, test;
static char err[ERRBUF];
/* the marked model of SEED and its key */
static struct nn_model marked;
static struct npz mkey;
static int have_marked;

static int group_setup(void **state)
{
	(void)state;
	tl_fashion_load(&train, &test, NTRAIN, NTEST);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (have_marked) {
		nn_free(&marked);
		npz_free(&mkey);
	}
	tl_fashion_free(&train, &test);
	return 0;
}

static uint64_t clean_seed(int i)
{
	return i ? SEED + 7 * (uint64_t)i : SEED;
}

/* unmarked models: 0 the seed SEED (= F0), 1..NCTRL controls of other seeds */
static struct nn_model *get_clean(int i)
{
	return tl_clean_model("mlp", clean_seed(i), EPOCHS);
}

/* keygen with the key stream of seed (as the runner: not the training stream) */
static void keygen(struct npz *key, const struct param_set *p, struct nn_model *m, uint64_t seed)
{
	struct wm_env env;
	struct rng r;
	tl_fashion_env(&env, &r, KEYSEED(seed), EPOCHS);
	npz_init(key);
	if (wm_keygen(fr, p, m, &env, key, err, sizeof err))
		fail_msg("keygen: %s", err);
}

static void get_marked(void)
{
	struct wm_env env;
	struct rng r;
	struct param_set p;
	if (have_marked)
		return;
	tl_scheme_params(fr, &p, MARK_KV);
	tl_fashion_env(&env, &r, SEED, EPOCHS);
	if (nn_create(&marked, "mlp", 1, 28, 28, 10, &r, err, sizeof err))
		fail_msg("nn_create: %s", err);
	keygen(&mkey, &p, &marked, SEED);
	if (wm_check(fr, &p, &marked, err, sizeof err) ||
	    wm_embed(fr, &p, &marked, &mkey, &env, err, sizeof err))
		fail_msg("frontier embed: %s", err);
	have_marked = 1;
}

static void verify_bb(const struct npz *key, struct nn_model *m, struct wm_verdict *v)
{
	struct wm_env env;
	struct rng r;
	tl_fashion_env(&env, &r, 999, EPOCHS);
	tl_verify_bb(fr, key, m, &env, "wm_acc", v);
}

/* Fits the null of key on the controls (skipping control `skip`) and stores it. */
static void fit_null(struct npz *key, int skip)
{
	struct nn_model *ctrl[NCTRL];
	struct wm_env env;
	struct rng r;
	int N = 0;
	for (int i = 1; i <= NCTRL; i++)
		if (i != skip)
			ctrl[N++] = get_clean(i);
	tl_fashion_env(&env, &r, 999, EPOCHS);
	tl_fit_null(fr, key, ctrl, N, &env, "wm_acc", NULL);
}

/* The key of a model (F0 = clean model of seed) built directly: 0 or -1 (err). */
static int key_of(struct npz *key, const char *kv, struct nn_model *m, uint64_t seed)
{
	struct param_set p;
	struct wm_env env;
	struct rng r;
	tl_scheme_params(fr, &p, kv);
	keygen(key, &p, m, seed);
	tl_fashion_env(&env, &r, SEED + 500, EPOCHS);
	void *cfg = wm_cfg(fr, &p, err, sizeof err);
	assert_non_null(cfg);
	int rc = wm_frontier_key_from_model(cfg, m, &env, key, err, sizeof err);
	free(cfg);
	return rc;
}

/* The sweep that chose the default eps: true/false adversaries among 1000 candidates. */
static void test_eps_sweep(void **state)
{
	static const double eps[4] = {0.01, 0.03, 0.1, 0.25};
	int ntrue[4];
	(void)state;
	tl_need_fashion();
	struct nn_model *f0 = get_clean(0);
	printf("frontier: F0 (mlp, %d samples, %d epochs) test acc %.4f\n", NTRAIN, EPOCHS,
	       nn_accuracy(f0, &test, NULL, 0));
	for (int i = 0; i < 4; i++) {
		struct npz key;
		char kv[64];
		snprintf(kv, sizeof kv, "size=100,expand=10,eps=%g", eps[i]);
		int rc = key_of(&key, kv, f0, SEED);
		int t = -1, f = -1;
		if (!rc) {
			const int32_t *c = npz_get(&key, "frontier.counts")->data;
			t = c[0];
			f = c[1];
			assert_true(npz_get(&key, "frontier.eps") != NULL);
		} else {
			printf("frontier eps %g: %s\n", eps[i], err);
			assert_non_null(strstr(err, "frontier: eps = "));
			assert_non_null(strstr(err, "candidates; expected at least size/2 = 50"));
			assert_int_equal(
			    sscanf(strstr(err, "gave"), "gave %d true and %d false", &t, &f), 2);
		}
		printf("frontier eps %g: %d true and %d false adversaries among 1000 candidates\n",
		       eps[i], t, f);
		assert_int_equal(t + f, 1000);
		ntrue[i] = t;
		npz_free(&key);
	}
	/* more eps, more true adversaries; the default 0.03 leaves enough */
	assert_true(ntrue[0] <= ntrue[1] && ntrue[1] <= ntrue[2] && ntrue[2] <= ntrue[3]);
	assert_true(ntrue[1] >= 100 && 1000 - ntrue[1] >= 100);
}

static void test_embed_detect(void **state)
{
	struct wm_verdict v, vc, vw, vctl;
	int called = 0;
	(void)state;
	tl_need_fashion();
	get_marked();
	const int32_t *c = npz_get(&mkey, "frontier.counts")->data;
	const int32_t *ft = npz_get(&mkey, "frontier.finetune")->data;
	double acc_m = nn_accuracy(&marked, &test, NULL, 0),
	       acc_c = nn_accuracy(get_clean(0), &test, NULL, 0);
	printf("frontier: eps 0.03, %d true / %d false among 1000; fine-tuned %d batches, "
	       "stitched %d; test acc marked %.4f clean %.4f cost %+.2f points\n",
	       c[0], c[1], ft[0], ft[1], acc_m, acc_c, 100 * (acc_c - acc_m));

	/* without a null fit no claim is made */
	verify_bb(&mkey, &marked, &v);
	assert_true(v.pvalue == 1 && !v.detected);
	fit_null(&mkey, 0);

	verify_bb(&mkey, &marked, &v);
	verify_bb(&mkey, get_clean(0), &vc);
	printf("frontier marked: wm_acc %.3f true_half %.3f p %.3g detected %d; unmarked same "
	       "seed: wm_acc %.3f true_half %.3f p %.3g detected %d\n",
	       v.metric, v.aux, v.pvalue, v.detected, vc.metric, vc.aux, vc.pvalue, vc.detected);
	assert_true(acc_c - acc_m < 0.03);
	assert_int_equal(v.detected, 1);
	assert_true(v.pvalue < 1e-3);
	assert_true(v.metric >= 0.9 && v.aux >= 0.8);
	assert_true(v.capacity == 100);
	assert_int_equal(vc.detected, 0);
	/* F0 gets the false half right and the true half wrong by construction */
	assert_true(vc.aux == 0);

	/* the paper's test, e ~ Binomial(n, 1/2), on the unmarked controls */
	for (int i = 1; i <= NCTRL; i++) {
		verify_bb(&mkey, get_clean(i), &vctl);
		int e = 100 - vctl.count;
		double pb = wm_frontier_binomial_pvalue(e, 100);
		called += pb < 0.05;
		printf("frontier control %d (seed %d): errors %d true_half %.3f paper p %.3g "
		       "(marked at 0.05: %d); fitted p %.3g detected %d\n",
		       i, (int)clean_seed(i), e, vctl.aux, pb, pb < 0.05, vctl.pvalue,
		       vctl.detected);
		assert_int_equal(vctl.detected, 0);
	}
	printf("frontier: the paper's binomial test calls %d of %d unmarked models marked at "
	       "0.05\n",
	       called, NCTRL);
	assert_true(called >= 3);

	/* a wrong key: made from control 1 (another F0), its null fitted on the others */
	struct npz wrong;
	assert_int_equal(key_of(&wrong, "", get_clean(1), SEED + 1), 0);
	fit_null(&wrong, 1);
	verify_bb(&wrong, &marked, &vw);
	printf("frontier wrong key on the marked model: wm_acc %.3f true_half %.3f p %.3g "
	       "detected %d\n",
	       vw.metric, vw.aux, vw.pvalue, vw.detected);
	assert_int_equal(vw.detected, 0);
	npz_free(&wrong);
}

static void test_paper_binomial(void **state)
{
	(void)state;
	/* SCHEMES-WRT: for n = 100, e <= 41 at 0.05 (P = 0.044), e <= 34 at 1e-3 */
	assert_true(fabs(wm_frontier_binomial_pvalue(41, 100) - 0.0443) < 5e-4);
	assert_true(wm_frontier_binomial_pvalue(42, 100) > 0.05);
	assert_true(wm_frontier_binomial_pvalue(34, 100) < 1e-3);
	assert_true(wm_frontier_binomial_pvalue(35, 100) > 1e-3);
	assert_true(wm_frontier_binomial_pvalue(100, 100) == 1);
	assert_true(fabs(wm_frontier_binomial_pvalue(0, 10) - 1.0 / 1024) < 1e-12);
}

/* The key is a function of the key seed and F0: rebuilt from the unmarked
 * model of the same seed (bit-identical to F0) it equals the embedded key. */
static void test_regenerate(void **state)
{
	struct npz again;
	(void)state;
	tl_need_fashion();
	get_marked();
	assert_int_equal(key_of(&again, MARK_KV, get_clean(0), SEED), 0);
	tl_assert_same_array(&mkey, &again, "frontier.seed");
	tl_assert_same_array(&mkey, &again, "frontier.x");
	tl_assert_same_array(&mkey, &again, "frontier.y");
	tl_assert_same_array(&mkey, &again, "frontier.true");
	tl_assert_same_array(&mkey, &again, "frontier.source");
	tl_assert_same_array(&mkey, &again, "frontier.counts");
	npz_free(&again);
	/* another key seed, another key */
	assert_int_equal(key_of(&again, "", get_clean(0), SEED + 1), 0);
	const struct npz_array *a = npz_get(&mkey, "frontier.source"),
			       *b = npz_get(&again, "frontier.source");
	assert_memory_not_equal(a->data, b->data, a->count * sizeof(int32_t));
	npz_free(&again);
}

static void test_check(void **state)
{
	struct param_set p;
	struct nn_model m;
	(void)state;
	assert_true(fr->black_box && fr->key_from_model && fr->null_fit);
	assert_int_equal(nn_build_spec(&m, "mlp", nn_arch_spec("mlp"), err, sizeof err), 0);
	tl_scheme_params(fr, &p, "");
	assert_int_equal(wm_check(fr, &p, &m, err, sizeof err), 0);
	nn_free(&m);
	tl_expect_check_error(fr, "mlp", "size=7",
			      "frontier: parameter 'size' = 7 is not an even number in [2, 10000]");
	tl_expect_check_error(
	    fr, "mlp", "size=0",
	    "frontier: parameter 'size' = '0' is out of range; expected an integer in [2, 10000]");
	tl_expect_check_error(fr, "mlp", "eps=0", "frontier: parameter 'eps' = '0'");
	tl_expect_check_error(fr, "mlp", "eps=1.5", "frontier: parameter 'eps' = '1.5'");
	tl_expect_check_error(fr, "mlp", "expand=0", "frontier: parameter 'expand' = '0'");
	tl_expect_check_error(fr, "mlp", "size=10000,expand=1000",
			      "ask for 10000000 candidates; expected size * expand <= 1000000");
	tl_expect_check_error(fr, "mlp", "boost=0", "frontier: parameter 'boost' = '0'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check),      cmocka_unit_test(test_paper_binomial),
	    cmocka_unit_test(test_eps_sweep),  cmocka_unit_test(test_embed_detect),
	    cmocka_unit_test(test_regenerate),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
