/* chain.c - several model-modification attacks applied in order.
 *
 * steps: "name:key=value,key=value|name|..." - attacks separated by '|' (or
 * '+', easier to write in YAML), each optionally followed by ':' and its
 * parameters separated by ','; unset parameters take the attack's defaults.
 * Example: "prune:rate=0.5,scope=each|finetune:mode=ftal,epochs=1".
 * Every step is checked against its attack's table and check() before any
 * work. Not allowed in a step: query-path attacks (v1), chain itself, and
 * attacker_data (set it on the chain: all steps share the attacker's data). */
#include "common.h"
#include "../workers/util.h"

#include <stdio.h>
#include <stddef.h>
#include <string.h>

#define CHAIN_MAX 8

/* The parameters, as the plug-in receives them (table below). */
struct chain_cfg {
	char steps[PARAM_VALLEN];
};

static const struct param_def chain_params[] = {
    {"steps", PT_STRING, "", 0, 0, NULL,
     "attacks in order: 'name:key=value,key=value|name|...' ('+' also separates steps)",
     offsetof(struct chain_cfg, steps)},
    {0}};

static const char chain_form[] =
    "attacks separated by '|' or '+', each 'name' or 'name:key=value,key=value' (e.g. "
    "prune:rate=0.5,scope=each|finetune:mode=ftal,epochs=1)";

struct chain_step {
	const struct atk_attack *a;
	struct param_set ps;
};

static void known(char *buf, size_t len)
{
	buf[0] = 0;
	for (int i = 0; atk_attacks[i]; i++) {
		const struct atk_attack *a = atk_attacks[i];
		if (a->query_path || !strcmp(a->name, "chain"))
			continue;
		if (buf[0])
			strncat(buf, ", ", len - strlen(buf) - 1);
		strncat(buf, a->name, len - strlen(buf) - 1);
	}
}

/* Parses and checks steps into st[CHAIN_MAX]; returns the count or -1. */
static int chain_parse(const char *steps, struct chain_step *st, char *err, size_t errlen)
{
	char buf[PARAM_VALLEN], names[400], sub[ERRBUF];
	char *save = NULL, *tok;
	int n = 0;

	if (!steps || !steps[0] || strspn(steps, " |+") == strlen(steps))
		return errf(err, errlen, "chain: parameter 'steps' = '%s' is empty; expected %s",
			    steps ? steps : "", chain_form);
	strlcopy(buf, steps, sizeof buf);
	for (tok = strtok_r(buf, "|+", &save); tok; tok = strtok_r(NULL, "|+", &save)) {
		char *args = strchr(tok, ':');
		while (*tok == ' ')
			tok++;
		if (args)
			*args++ = 0;
		for (char *e = tok + strlen(tok); e > tok && e[-1] == ' '; e--)
			e[-1] = 0;
		if (n == CHAIN_MAX)
			return errf(err, errlen,
				    "chain: parameter 'steps' = '%s' has more than %d steps; "
				    "expected at most %d",
				    steps, CHAIN_MAX, CHAIN_MAX);
		const struct atk_attack *a = atk_find(tok);
		if (!a || a->query_path || !strcmp(tok, "chain")) {
			known(names, sizeof names);
			return errf(err, errlen,
				    "chain: parameter 'steps' = '%s': step %d '%s' is %s; expected "
				    "one of %s",
				    steps, n + 1, tok,
				    !a ? "not a known attack"
				    : a->query_path
					? "a query-path attack (not supported in a chain)"
					: "a chain (chains do not nest)",
				    names);
		}
		st[n].a = a;
		memset(&st[n].ps, 0, sizeof st[n].ps);
		if (args && strstr(args, "attacker_data"))
			return errf(err, errlen,
				    "chain: parameter 'steps' = '%s': step %d sets attacker_data; "
				    "expected attacker_data on the chain itself (all steps share "
				    "the attacker's data)",
				    steps, n + 1);
		if (args && param_parse(&st[n].ps, args, ",", a->name, a->params, sub, sizeof sub))
			return errf(err, errlen, "chain: parameter 'steps' = '%s': step %d: %s",
				    steps, n + 1, sub);
		param_complete(&st[n].ps, a->params);
		if (atk_check(a, &st[n].ps, sub, sizeof sub))
			return errf(err, errlen, "chain: step %d: %s", n + 1, sub);
		n++;
	}
	/* an attack that plants the attacker's mark reports its verdict on the
	 * model it leaves, so no step may change that model after it */
	for (int i = 0; i + 1 < n; i++)
		if (st[i].a->second_verdict)
			return errf(
			    err, errlen,
			    "chain: parameter 'steps' = '%s': step %d '%s' plants the "
			    "attacker's own mark, whose verdict is read on the model it leaves; "
			    "expected it as the last step",
			    steps, i + 1, st[i].a->name);
	return n;
}

static int chain_check(const void *cfg, char *err, size_t errlen)
{
	const struct chain_cfg *p = cfg;
	struct chain_step st[CHAIN_MAX];
	return chain_parse(p->steps, st, err, errlen) < 0 ? -1 : 0;
}

static int chain_apply(const void *cfg, struct nn_model *m, const struct atk_env *env, char *err,
		       size_t errlen)
{
	const struct chain_cfg *p = cfg;
	struct chain_step st[CHAIN_MAX];
	char sub[ERRBUF];
	int n = chain_parse(p->steps, st, err, errlen);
	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (atk_apply(st[i].a, &st[i].ps, m, env, sub, sizeof sub))
			return errf(err, errlen, "chain: step %d (%s): %s", i + 1, st[i].a->name,
				    sub);
	return 0;
}

/* Samples through the passes: the sum of its steps', each on the chain's
 * share of the data (a data-dependent step, regularize's early stop, runs
 * on the model the earlier steps left, so it may differ from the same step
 * alone). */
static void chain_work(const void *cfg, const struct wm_work *w, double *fwd, double *bwd)
{
	const struct chain_cfg *p = cfg;
	struct chain_step st[CHAIN_MAX];
	char err[ERRBUF];
	int n = chain_parse(p->steps, st, err, sizeof err);

	*fwd = *bwd = 0;
	for (int i = 0; i < n; i++) {
		double f, b;
		if (!atk_work_of(st[i].a, &st[i].ps, w, &f, &b, err, sizeof err)) {
			*fwd += f;
			*bwd += b;
		}
	}
}

const struct atk_attack atk_chain = {
    .category = ATK_CAT_COMPOSITE,
    .threat = ATK_T_WEIGHTS | ATK_T_DATA | ATK_T_LABELS | ATK_T_QUERIES,
    .cfg_size = sizeof(struct chain_cfg),
    .uses_attacker_data = 1,
    .name = "chain",
    .summary = "apply a list of model-modification attacks in order",
    .params = chain_params,
    .check = chain_check,
    .apply = chain_apply,
    .work = chain_work,
};
