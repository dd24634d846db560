/* test_params.c - parameter tables: checking, canonical text, list parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "params.h"
#include "util.h"

static const struct param_def defs[] = {{"rate", PT_DOUBLE, "0.5", 0, 1, NULL, "a rate"},
					{"bits", PT_INT, "8", 1, 16, NULL, "bits"},
					{"mode", PT_STRING, "a", 0, 0, "a|b", "mode"},
					{0}};

static void test_parse_canonical(void **state)
{
	struct param_set ps = {0};
	char err[ERRBUF];
	(void)state;
	assert_int_equal(
	    param_parse(&ps, "rate=1e-3,bits=04,mode=b", ",", "x", defs, err, sizeof err), 0);
	assert_string_equal(param_get(&ps, "rate"), "0.001");
	assert_string_equal(param_get(&ps, "bits"), "4");
	assert_string_equal(param_get(&ps, "mode"), "b");
	/* without a table only the syntax is checked, values kept as written */
	struct param_set raw = {0};
	assert_int_equal(param_parse(&raw, "k=v w=1e-3", " ", "x", NULL, err, sizeof err), 0);
	assert_string_equal(param_get(&raw, "w"), "1e-3");
	assert_int_equal(raw.n, 2);
}

static void test_parse_errors(void **state)
{
	struct param_set ps = {0};
	char err[ERRBUF];
	(void)state;
	assert_int_equal(param_parse(&ps, "rate=0.1,oops", ",", "prune", defs, err, sizeof err),
			 -1);
	assert_non_null(strstr(err, "prune: item 'oops' is not key=value; expected key=value"));
	assert_int_equal(param_parse(&ps, "=3", ",", "prune", NULL, err, sizeof err), -1);
	assert_int_equal(param_parse(&ps, "rate=", ",", "prune", NULL, err, sizeof err), -1);
	assert_int_equal(param_parse(&ps, "rate=2", ",", "prune", defs, err, sizeof err), -1);
	assert_non_null(strstr(err, "'rate' = '2' is out of range; expected a number in [0, 1]"));
	assert_int_equal(param_parse(&ps, "speed=2", ",", "prune", defs, err, sizeof err), -1);
	assert_non_null(
	    strstr(err, "unknown parameter 'speed'; expected one of: rate, bits, mode"));
	/* more items than a set holds */
	char many[1024] = "";
	for (int i = 0; i <= PARAM_MAX; i++) {
		char t[16];
		snprintf(t, sizeof t, "%sk%d=1", i ? "," : "", i);
		strcat(many, t);
	}
	struct param_set full = {0};
	assert_int_equal(param_parse(&full, many, ",", "x", NULL, err, sizeof err), -1);
	assert_non_null(strstr(err, "more than 16 parameters"));
}

static void test_complete_sorts(void **state)
{
	struct param_set ps = {0};
	char buf[256], err[ERRBUF];
	(void)state;
	assert_int_equal(param_parse(&ps, "mode=b", ",", "x", defs, err, sizeof err), 0);
	param_complete(&ps, defs);
	param_format(&ps, buf, sizeof buf);
	assert_string_equal(buf, "bits=8;mode=b;rate=0.5");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_canonical),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_complete_sorts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
