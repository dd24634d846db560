/* test_search.c - the bisection of harness/search.c on synthetic strength
 * responses: it finds a known threshold in O(log n) probes, handles the
 * weakest and the strongest value, a response that never removes, a mark
 * that was never detected, a failed probe, and a non-monotone response. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "../harness/search.h"

/* A response: the outcome of a probe at index i. */
typedef int (*response_fn)(int i, const void *ctx);

static int threshold(int i, const void *ctx)
{
	return i >= *(const int *)ctx ? SEARCH_REMOVED : SEARCH_KEPT;
}

/* Runs a search to its end, answering each round at once; returns the
 * probes used. */
static int drive(struct search *s, response_fn f, const void *ctx)
{
	int idx[SEARCH_MAXPROBES], used = 0;

	for (;;) {
		int k = search_next(s, idx, SEARCH_MAXPROBES);
		if (!k)
			break;
		used += k;
		for (int i = 0; i < k; i++)
			search_outcome(s, idx[i], f(idx[i], ctx));
	}
	return used;
}

static int ceil_log2(int n)
{
	int b = 0;
	while ((1 << b) < n)
		b++;
	return b;
}

static void test_threshold_log_n(void **state)
{
	(void)state;
	/* 1025 values (a continuous range cut into 2^10 steps) */
	for (int t = 1; t < 1025; t += 37) {
		struct search s;
		search_init(&s, 1025, 2);
		int used = drive(&s, threshold, &t);
		assert_int_equal(s.status, SEARCH_FOUND);
		assert_int_equal(s.hi, t);
		assert_int_equal(s.lo, t - 1);
		/* the two ends, then one probe per halving: 2 + log2(1024) */
		assert_true(used <= 2 + ceil_log2(1024));
	}
	/* a discrete list of 7 values, with 3 coarse points */
	for (int t = 0; t <= 7; t++) {
		struct search s;
		search_init(&s, 7, 3);
		int used = drive(&s, threshold, &t);
		if (t == 7) {
			assert_int_equal(s.status, SEARCH_NOT_REMOVED);
			assert_int_equal(s.lo, 6);
			assert_int_equal(used, 3);
		} else {
			assert_int_equal(s.status, SEARCH_FOUND);
			assert_int_equal(s.hi, t);
			assert_true(used <= 3 + 2);
		}
	}
}

static void test_ends(void **state)
{
	struct search s;
	int t = 0;

	(void)state;
	/* the weakest value already removes: two probes, no bisection */
	search_init(&s, 100, 2);
	assert_int_equal(drive(&s, threshold, &t), 2);
	assert_int_equal(s.status, SEARCH_FOUND);
	assert_int_equal(s.hi, 0);
	assert_int_equal(s.lo, -1);
	/* one value only */
	search_init(&s, 1, 2);
	t = 1;
	assert_int_equal(drive(&s, threshold, &t), 1);
	assert_int_equal(s.status, SEARCH_NOT_REMOVED);
	t = 0;
	search_init(&s, 1, 2);
	drive(&s, threshold, &t);
	assert_int_equal(s.status, SEARCH_FOUND);
	assert_int_equal(s.hi, 0);
}

static int not_detected(int i, const void *ctx)
{
	(void)i, (void)ctx;
	return SEARCH_NA;
}

static int fails_at(int i, const void *ctx)
{
	return i == *(const int *)ctx ? SEARCH_FAILED : threshold(i, &(int){50});
}

static void test_na_and_failure(void **state)
{
	struct search s;
	int where = 50;

	(void)state;
	search_init(&s, 100, 2);
	assert_int_equal(drive(&s, not_detected, NULL), 2);
	assert_int_equal(s.status, SEARCH_NOT_DETECTED);
	/* 0..99 with ends 0 and 99: the first bisection probe is 49 */
	where = 49;
	search_init(&s, 100, 2);
	drive(&s, fails_at, &where);
	assert_int_equal(s.status, SEARCH_ABORTED);
	assert_int_equal(search_probed(&s, 49), SEARCH_FAILED);
	/* each index is handed out once, and nothing while probes are out */
	int idx[4];
	search_init(&s, 10, 2);
	assert_int_equal(search_next(&s, idx, 4), 2);
	assert_int_equal(search_next(&s, idx, 4), 0);
	search_outcome(&s, 0, SEARCH_KEPT);
	assert_int_equal(search_next(&s, idx, 4), 0);
	search_outcome(&s, 9, SEARCH_REMOVED);
	assert_int_equal(search_next(&s, idx, 4), 1);
	assert_int_equal(idx[0], 4);
}

/* Removed in [200, 300) and from 700 on: not monotone. */
static int dip(int i, const void *ctx)
{
	(void)ctx;
	return (i >= 200 && i < 300) || i >= 700 ? SEARCH_REMOVED : SEARCH_KEPT;
}

static void test_non_monotone(void **state)
{
	struct search s;

	(void)state;
	/* 5 coarse points 0, 256, 512, 768, 1024: 256 removes, so the answer is
	 * the first removing value above 0 within (0, 256] */
	search_init(&s, 1025, 5);
	drive(&s, dip, NULL);
	assert_int_equal(s.status, SEARCH_FOUND);
	assert_int_equal(s.hi, 200);
	/* the two ends only: the dip is not seen; the bisection between 0 and
	 * 1024 lands on a boundary (512 kept, then 768 removed, ...) */
	search_init(&s, 1025, 2);
	drive(&s, dip, NULL);
	assert_int_equal(s.status, SEARCH_FOUND);
	assert_int_equal(s.hi, 700);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_threshold_log_n),
	    cmocka_unit_test(test_ends),
	    cmocka_unit_test(test_na_and_failure),
	    cmocka_unit_test(test_non_monotone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
