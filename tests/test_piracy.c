/* test_piracy.c - piracy and input clipping against nullembed, measured the
 * way the paper (Li et al., arXiv 1910.01226) measured piracy: the owner
 * builds a null embedding into lenet5 from scratch; the pirate fine-tunes the
 * marked model on its own data to add a null embedding with its own key;
 * we report the accuracy after, the pirate's verdict and the owner's.
 *
 * Fashion-MNIST, 12000 training samples split 2/3 owner, 1/3 attacker (the
 * SoK's split), 2000 test samples, lenet5, adam 1e-3, lambda 2000 (the
 * default), owner 3 epochs, pirate 2 epochs. The unmarked model of the same
 * seed gives the accuracy cost. The paper's claim, asserted here: the
 * pirate does not get a detected mark without losing accuracy (either its
 * mark is not detected or the model loses at least 5 points). Also measured:
 * input_clip (and input_quant) on the owner's verification, reported either
 * way; asserted only that clipping changes what the model sees (acc_true or
 * acc_null moves). Without Fashion-MNIST every test fails (testlib.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../attacks/attack.h"
#include "data.h"
#include "nn.h"
#include "testlib.h"
#include "util.h"

#define NTRAIN	     12000
#define NTEST	     2000
#define SEED	     17
#define OWNER_EPOCHS 10

static struct dataset train, test;
static uint32_t *owner, *attacker;
static int n_owner, n_attacker, have_data;
static const struct wm_scheme *ne;
static struct nn_model marked;
static struct npz key;
static struct param_set sp;
static double acc_clean, acc_marked;
static struct wm_verdict v_marked;
static char err[ERRBUF];

static void wenv_init(struct wm_env *w, struct rng *r, uint64_t seed, int epochs)
{
	rng_seed(r, seed);
	tl_env_init(w, r, epochs, &train, &test, owner, n_owner);
	w->attacker_idx = attacker;
	w->n_attacker = n_attacker;
}

static int verify_q(struct nn_model *m, struct wm_query *q, struct wm_verdict *v)
{
	struct wm_env w;
	struct rng r;
	struct wm_query plain;
	wenv_init(&w, &r, 1, 1);
	memset(v, 0, sizeof *v);
	v->aux = NAN;
	if (!q) {
		wm_query_init(&plain, m);
		q = &plain;
	}
	return wm_verify(ne, &key, m, q, &w, v, err, sizeof err);
}

static int group_setup(void **state)
{
	struct wm_env w;
	struct rng r;
	struct nn_model clean;
	(void)state;
	ne = wm_scheme_find("nullembed");
	npz_init(&key);
	if (!ne)
		return -1;
	/* without the data, the tests (all need it) fail in tl_need_fashion() */
	if (tl_fashion_load(&train, &test, NTRAIN, NTEST))
		return 0;
	data_split(train.n, SEED, 1.0 / 3.0, &owner, &n_owner, &attacker, &n_attacker);
	param_complete(&sp, ne->params);
	/* the unmarked model of the same seed */
	wenv_init(&w, &r, SEED, OWNER_EPOCHS);
	if (tl_train_clean(&clean, "lenet5", &w))
		return -1;
	acc_clean = nn_accuracy(&clean, &test, NULL, 0);
	nn_free(&clean);
	/* the owner's null embedding, from scratch */
	wenv_init(&w, &r, SEED, OWNER_EPOCHS);
	if (nn_create(&marked, "lenet5", 1, 28, 28, 10, &r, err, sizeof err) ||
	    wm_check(ne, &sp, &marked, err, sizeof err) ||
	    wm_keygen(ne, &sp, &marked, &w, &key, err, sizeof err) ||
	    wm_embed(ne, &sp, &marked, &key, &w, err, sizeof err) ||
	    verify_q(&marked, NULL, &v_marked)) {
		fprintf(stderr, "nullembed: %s\n", err);
		return -1;
	}
	acc_marked = nn_accuracy(&marked, &test, NULL, 0);
	printf("# lenet5, %d owner / %d attacker samples, %d epochs: clean %.4f, nullembed %.4f "
	       "(cost %+.4f); owner wm_acc %.4f acc_null %.4f p %.3g detected %d\n",
	       n_owner, n_attacker, OWNER_EPOCHS, acc_clean, acc_marked, acc_marked - acc_clean,
	       v_marked.metric, v_marked.aux, v_marked.pvalue, v_marked.detected);
	have_data = 1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (have_data)
		nn_free(&marked);
	tl_fashion_free(&train, &test);
	npz_free(&key);
	free(owner);
	free(attacker);
	return 0;
}

static void test_marked(void **state)
{
	(void)state;
	tl_need_fashion();
	assert_string_equal(v_marked.metric_name, "wm_acc");
	assert_true(v_marked.detected);
}

static void test_piracy(void **state)
{
	const struct atk_attack *a = atk_find("piracy");
	struct param_set p;
	struct nn_model m;
	struct wm_env w;
	struct wm_verdict pv, ov;
	struct rng r;
	(void)state;
	tl_need_fashion();
	assert_non_null(a);
	memset(&p, 0, sizeof p);
	param_set_put(&p, "epochs", "2");
	param_complete(&p, a->params);
	assert_int_equal(atk_check(a, &p, err, sizeof err), 0);
	wenv_init(&w, &r, SEED + 1, 2);
	w.owner_idx = attacker; /* the pirate trains on the attacker's data */
	w.n_owner = n_attacker;
	struct atk_env e = {
	    .train = &train,
	    .attacker_idx = attacker,
	    .n_attacker = n_attacker,
	    .ts = w.ts,
	    .scheme = ne,
	    .scheme_params = &sp,
	    .wm = &w,
	    .rng = &r,
	    .second = &pv,
	};
	memset(&pv, 0, sizeof pv);
	nn_copy(&m, &marked);
	if (atk_apply(a, &p, &m, &e, err, sizeof err))
		fail_msg("piracy: %s", err);
	double acc = nn_accuracy(&m, &test, NULL, 0);
	if (verify_q(&m, NULL, &ov))
		fail_msg("verify: %s", err);
	printf("# piracy (2 epochs on %d attacker samples): accuracy %.4f -> %.4f (%+.4f)\n",
	       n_attacker, acc_marked, acc, acc - acc_marked);
	printf("#   pirate: wm_acc %.4f acc_null %.4f p %.3g detected %d\n", pv.metric, pv.aux,
	       pv.pvalue, pv.detected);
	printf("#   owner:  wm_acc %.4f acc_null %.4f p %.3g detected %d\n", ov.metric, ov.aux,
	       ov.pvalue, ov.detected);
	assert_string_equal(pv.metric_name, "wm_acc");
	/* the paper's claim: no detected pirate mark at less than 5 points lost */
	assert_false(pv.detected && acc_marked - acc < 0.05);
	nn_free(&m);
}

static void wrapped_verify(const char *name, const char *kv_key, const char *kv_val,
			   struct wm_verdict *v)
{
	const struct atk_attack *a = atk_find(name);
	struct param_set p;
	struct wm_query plain, outer;
	struct rng r;
	assert_non_null(a);
	memset(&p, 0, sizeof p);
	if (kv_key)
		param_set_put(&p, kv_key, kv_val);
	param_complete(&p, a->params);
	assert_int_equal(atk_check(a, &p, err, sizeof err), 0);
	rng_seed(&r, 3);
	wm_query_init(&plain, &marked);
	memset(&outer, 0, sizeof outer);
	if (atk_wrap(a, &p, &outer, &plain, NULL, &r, err, sizeof err))
		fail_msg("%s: %s", name, err);
	if (verify_q(&marked, &outer, v))
		fail_msg("verify through %s: %s", name, err);
	printf("# owner's verification through %s: wm_acc %.4f (before %.4f) acc_null %.4f (before "
	       "%.4f) p %.3g detected %d, %ld queries\n",
	       name, v->metric, v_marked.metric, v->aux, v_marked.aux, v->pvalue, v->detected,
	       outer.queries);
	assert_true(outer.queries > 0);
	outer.release(&outer);
}

static void test_input_clip(void **state)
{
	struct wm_verdict v;
	(void)state;
	tl_need_fashion();
	wrapped_verify("input_clip", NULL, NULL, &v);
	/* the filters are +-2000: clipped to 0/1 the model sees another input */
	assert_true(v.metric != v_marked.metric || v.aux != v_marked.aux);
	wrapped_verify("input_quant", "bits", "4", &v);
	wrapped_verify("input_noise", "sigma", "0.1", &v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_marked),
	    cmocka_unit_test(test_piracy),
	    cmocka_unit_test(test_input_clip),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
