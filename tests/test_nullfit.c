/* test_nullfit.c - the empirical null (schemes/nullfit.c, README "Empirical
 * null"): the moment fit against a hand-computed example, the beta-binomial
 * tail against closed forms and a direct sum, the Jeffreys floor, the rank
 * bound, and the decision from a key (stored fit, no fit, a fit of another
 * key length). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../schemes/scheme.h"
#include "testlib.h"
#include "util.h"

static char err[ERRBUF];

/* counts 2, 4, 6, 8 of 10: mean 5, variance 20/3, so mu 0.5,
 * rho = (20/3 / 2.5 - 1)/9 = 5/27, a = b = 0.5 (27/5 - 1) = 2.2 */
static void test_fit_example(void **state)
{
	(void)state;
	int c[4] = {2, 4, 6, 8};
	struct wm_null f;
	assert_int_equal(wm_null_fit(c, 4, 10, &f), 0);
	assert_float_equal(f.mu, 0.5, 1e-12);
	assert_float_equal(f.rho, 5.0 / 27, 1e-12);
	assert_float_equal(f.a, 2.2, 1e-12);
	assert_float_equal(f.b, 2.2, 1e-12);
	/* under-dispersed counts: rho clipped to 0, the binomial */
	int e[4] = {5, 5, 5, 5};
	assert_int_equal(wm_null_fit(e, 4, 10, &f), 0);
	assert_float_equal(f.rho, 0, 0);
	assert_float_equal(wm_null_tail(&f, 8), binom_tail(10, 8, 0.5), 1e-15);
	/* no match in any control: mu floored at the Jeffreys estimate, p > 0 */
	int z[5] = {0};
	assert_int_equal(wm_null_fit(z, 5, 100, &f), 0);
	assert_float_equal(f.mu, 0.5 / 501, 1e-15);
	assert_true(wm_null_tail(&f, 3) > 0 && wm_null_tail(&f, 3) < 1e-3);
	/* bad input */
	int bad[2] = {3, 11};
	assert_int_equal(wm_null_fit(bad, 2, 10, &f), -1);
	assert_int_equal(wm_null_fit(bad, 0, 10, &f), -1);
}

/* BetaBin(n, 1, 1) is uniform on 0..n: P[X >= m] = (n - m + 1)/(n + 1); and a
 * direct sum of the pmf for other a, b */
static void test_tail(void **state)
{
	(void)state;
	struct wm_null f = {.N = 10, .n = 50, .mu = 0.5, .rho = 1.0 / 3, .a = 1, .b = 1};
	for (int m = 0; m <= 51; m++) {
		double want = m <= 0 ? 1 : m > 50 ? 0 : (50.0 - m + 1) / 51;
		assert_float_equal(wm_null_tail(&f, m), want, 1e-12);
	}
	f = (struct wm_null){.N = 10, .n = 30, .a = 0.7, .b = 5.3};
	f.mu = f.a / (f.a + f.b);
	f.rho = 1 / (f.a + f.b + 1);
	double pmf[31], s = 0;
	for (int k = 0; k <= 30; k++) {
		pmf[k] =
		    exp(lgamma(31) - lgamma(k + 1) - lgamma(31 - k) + lgamma(k + 0.7) +
			lgamma(30 - k + 5.3) - lgamma(36) - lgamma(0.7) - lgamma(5.3) + lgamma(6));
		s += pmf[k];
	}
	assert_float_equal(s, 1, 1e-10);
	double tail = 0;
	for (int m = 30; m >= 1; m--) {
		tail += pmf[m];
		assert_float_equal(wm_null_tail(&f, m), tail, 1e-10 * (1 + tail));
	}
	/* overdispersion makes the tail heavier than the binomial of the same mean */
	assert_true(wm_null_tail(&f, 20) > 1000 * binom_tail(30, 20, f.mu));
}

static void test_rank(void **state)
{
	(void)state;
	int c[9] = {1, 3, 3, 5, 7, 7, 7, 9, 20};
	assert_float_equal(wm_null_rank(c, 9, 7), 6.0 / 10, 1e-15);
	assert_float_equal(wm_null_rank(c, 9, 21), 1.0 / 10, 1e-15);
	assert_float_equal(wm_null_rank(c, 9, 0), 1.0, 1e-15);
}

/* the decision reads the key: no fit, no claim; a stored fit decides; a fit
 * of another length is an error */
static void test_decide(void **state)
{
	(void)state;
	struct npz key;
	struct wm_verdict v;
	int c[6] = {10, 12, 9, 14, 11, 13};
	struct wm_null f;
	npz_init(&key);
	memset(&v, 0, sizeof v);
	assert_int_equal(wm_null_decide(&key, 95, 100, 1e-3, &v, err, sizeof err), 0);
	assert_int_equal(v.count, 95);
	assert_float_equal(v.pvalue, 1, 0);
	assert_false(v.detected);
	assert_true(isnan(v.aux));
	assert_int_equal(wm_null_fit(c, 6, 100, &f), 0);
	wm_null_store(&key, c, &f);
	assert_int_equal(wm_null_decide(&key, 95, 100, 1e-3, &v, err, sizeof err), 0);
	assert_true(v.detected);
	assert_true(v.pvalue < 1e-20);
	assert_float_equal(v.aux, 1.0 / 7, 1e-15); /* the rank bound cannot go lower */
	assert_int_equal(wm_null_decide(&key, 13, 100, 1e-3, &v, err, sizeof err), 0);
	assert_false(v.detected);
	assert_float_equal(v.aux, 3.0 / 7, 1e-15);
	assert_int_equal(wm_null_decide(&key, 13, 50, 1e-3, &v, err, sizeof err), -1);
	assert_non_null(strstr(err, "fitted on 100 trials but the key has 50"));
	npz_free(&key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fit_example),
	    cmocka_unit_test(test_tail),
	    cmocka_unit_test(test_rank),
	    cmocka_unit_test(test_decide),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
