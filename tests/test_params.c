/* test_params.c - parameter tables: checking, canonical text, list parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"
#include "util.h"

/* A plug-in's config and its table. */
struct test_cfg {
	double rate;
	int bits;
	char mode[PARAM_VALLEN];
};

static const struct param_def defs[] = {
    {"rate", PT_DOUBLE, "0.5", 0, 1, NULL, "a rate", offsetof(struct test_cfg, rate)},
    {"bits", PT_INT, "8", 1, 16, NULL, "bits", offsetof(struct test_cfg, bits)},
    {"mode", PT_STRING, "a", 0, 0, "a|b", "mode", offsetof(struct test_cfg, mode)},
    {"core", PT_DOUBLE, "1", 0, 1, NULL, "read by the core", PARAM_CORE},
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
	    strstr(err, "unknown parameter 'speed'; expected one of: rate, bits, mode, core"));
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
	assert_string_equal(buf, "bits=8;core=1;mode=b;rate=0.5");
}

/* The table fills the config: values from the set, defaults for the rest,
 * every value checked; PARAM_CORE rows are not written. */
static void test_to_cfg(void **state)
{
	struct param_set ps = {0};
	struct test_cfg c, *n;
	char err[ERRBUF];
	(void)state;
	memset(&c, 0x55, sizeof c);
	assert_int_equal(param_parse(&ps, "bits=12,core=0", ",", "x", defs, err, sizeof err), 0);
	assert_int_equal(param_to_cfg("x", defs, &ps, &c, err, sizeof err), 0);
	assert_true(c.rate == 0.5);
	assert_int_equal(c.bits, 12);
	assert_string_equal(c.mode, "a");
	n = param_cfg_new("x", defs, sizeof *n, NULL, err, sizeof err);
	assert_non_null(n);
	assert_int_equal(n->bits, 8);
	free(n);
	/* a set built by hand gets the job parser's messages */
	struct param_set bad = {0};
	param_set_put(&bad, "bits", "99");
	assert_int_equal(param_to_cfg("plug", defs, &bad, &c, err, sizeof err), -1);
	assert_non_null(strstr(err, "plug: parameter 'bits' = '99' is out of range; expected an "
				    "integer in [1, 16]"));
	struct param_set unknown = {0};
	param_set_put(&unknown, "speed", "1");
	assert_null(param_cfg_new("plug", defs, sizeof c, &unknown, err, sizeof err));
	assert_non_null(strstr(err, "plug: unknown parameter 'speed'"));
	/* a plug-in whose cfg_size is smaller than its table says */
	assert_null(param_cfg_new("plug", defs, sizeof(double), NULL, err, sizeof err));
	assert_non_null(strstr(err, "plug: parameter 'bits' lies outside its config struct"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_canonical),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_complete_sorts),
	    cmocka_unit_test(test_to_cfg),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
