/* test_registry.c - the scheme table as the figures and tables see it: every
 * scheme has a unique name, position, colour and point type (15 schemes and
 * more stay distinguishable in every figure), a summary, a parameter table
 * whose defaults parse, and facts that agree with each other (a scheme with
 * an empirical null has its calibration keys made by owner models). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../schemes/scheme.h"
#include "util.h"

static int nschemes(void)
{
	int n = 0;
	while (wm_schemes[n])
		n++;
	return n;
}

static void test_unique(void **state)
{
	(void)state;
	int n = nschemes();
	assert_true(n >= 15);
	for (int i = 0; i < n; i++) {
		const struct wm_scheme *a = wm_schemes[i];
		assert_non_null(a->summary);
		assert_true(strlen(a->summary) > 10);
		assert_non_null(a->colour);
		assert_int_equal(strlen(a->colour), 7);
		assert_true(a->point >= 1 && a->point <= 15);
		for (int j = i + 1; j < n; j++) {
			const struct wm_scheme *b = wm_schemes[j];
			if (!strcmp(a->name, b->name) || a->order == b->order ||
			    !strcasecmp(a->colour, b->colour) || a->point == b->point)
				fail_msg(
				    "schemes %s and %s share a name, order, colour or point type "
				    "(%d/%d, %s/%s, %d/%d)",
				    a->name, b->name, a->order, b->order, a->colour, b->colour,
				    a->point, b->point);
		}
	}
}

/* defaults parse into the config; settings with an empirical null come with
 * model-made calibration keys or are listed as such by the expansion */
static void test_defaults(void **state)
{
	(void)state;
	char err[ERRBUF];
	for (int i = 0; wm_schemes[i]; i++) {
		const struct wm_scheme *s = wm_schemes[i];
		struct param_set p = {0};
		param_complete(&p, s->params);
		void *cfg = wm_cfg(s, &p, err, sizeof err);
		if (!cfg)
			fail_msg("%s: defaults do not parse: %s", s->name, err);
		if (s->null_fit && s->null_fit(cfg))
			assert_true(s->black_box); /* every shipped one verifies by queries */
		free(cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unique),
	    cmocka_unit_test(test_defaults),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
