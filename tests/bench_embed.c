/* bench_embed.c - embedding overhead for `make bench`: each scheme's embed
 * (wm_embed, one thread) against clean training (wm_train_owner) of the same
 * model, data and settings, in CPU seconds (steadier than wall time on a
 * shared machine): one epoch of the first SAMPLES Fashion-MNIST samples,
 * batch 64, adam. The schemes run in turn within each round, best
 * of ROUNDS, so that a slow spell of a shared machine hits them alike.
 *
 *   bench_embed [SAMPLES [ROUNDS [ARCH [SCHEME]]]]   (defaults 12,000 and 3)
 *
 * ARCH (mlp or lenet5) and SCHEME keep to that model and scheme (and clean
 * training), for a profile of one scheme.
 *
 * Goals (issue 19): uchida under 3 %, deepsigns under 5 %, adi and
 * nullembed no more than the extra samples they add to each batch, gradsigns
 * under 1.5x (tests/bench_torch_embed.py measures PyTorch's double backprop
 * of the same loss). */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "util.h"

static int nowner = 12000;

struct sch {
	const char *name, *params;
	double extra; /* extra rows per batch of 64 (adi, nullembed, gradsigns) */
	const char *goal;
};

static const struct sch schs[] = {
    {"none", "", 0, NULL},
    {"uchida", "", 0, "3 %"},
    {"deepsigns", "", 0, "5 %"},
    {"adi", "", 2, NULL},		     /* per_batch 2 (default) */
    {"nullembed", "lambda=5", 16 + 2, NULL}, /* null_frac 0.25, true_frac 0.03 of 64 */
    {"gradsigns", "", 6, NULL},		     /* per_batch 10 of 100: round(6.4) */
};
#define NSCH (sizeof schs / sizeof schs[0])

/* Seconds of one embed (or clean training for "none") of arch. */
static double one(const char *arch, const struct sch *s, const struct dataset *tr,
		  const struct dataset *te)
{
	struct wm_env env;
	struct rng r, kr;
	struct nn_model m;
	struct npz key;
	struct param_set p;
	char err[ERRBUF];
	tl_env_init(&env, &r, 1, tr, te, tl_fashion_all(), nowner);
	rng_seed(&r, 1);
	rng_seed(&kr, 1001);
	if (nn_create(&m, arch, 1, 28, 28, 10, &r, err, sizeof err))
		goto fail;
	npz_init(&key);
	memset(&p, 0, sizeof p);
	const struct wm_scheme *sc = wm_scheme_find(s->name);
	if (!sc) {
		snprintf(err, sizeof err, "no scheme %s", s->name);
		goto fail;
	}
	if (param_parse(&p, s->params, ",", s->name, NULL, err, sizeof err))
		goto fail;
	param_complete(&p, sc->params);
	double t0 = 0, t;
	if (sc->unmarked) {
		t0 = cpu_seconds();
		if (wm_train_owner(&m, &env, NULL, 0, err, sizeof err))
			goto fail;
	} else {
		env.rng = &kr;
		if (wm_check(sc, &p, &m, err, sizeof err) ||
		    wm_keygen(sc, &p, &m, &env, &key, err, sizeof err))
			goto fail;
		env.rng = &r;
		t0 = cpu_seconds();
		if (wm_embed(sc, &p, &m, &key, &env, err, sizeof err))
			goto fail;
	}
	t = cpu_seconds() - t0;
	npz_free(&key);
	nn_free(&m);
	return t;
fail:
	fprintf(stderr, "bench_embed: %s %s: %s\n", arch, s->name, err);
	exit(1);
}

static const char *only_arch, *only_scheme;

/* arch and scheme are measured (ARCH and SCHEME arguments; clean training always) */
static int keep(const char *arch, const char *scheme)
{
	return (!only_arch || !strcmp(arch, only_arch)) &&
	       (!only_scheme || !strcmp(scheme, "none") || !strcmp(scheme, only_scheme));
}

int main(int argc, char **argv)
{
	struct dataset tr, te;
	int rounds = argc > 2 ? atoi(argv[2]) : 3;
	nowner = argc > 1 ? atoi(argv[1]) : nowner;
	only_arch = argc > 3 ? argv[3] : NULL;
	only_scheme = argc > 4 ? argv[4] : NULL;
	static const char *archs[] = {"mlp", "lenet5"};
	double best[2][NSCH];
	if (rounds < 1 || nowner < 640 || nowner > 60000) {
		fprintf(stderr,
			"usage: bench_embed [SAMPLES (640..60000) [ROUNDS [ARCH [SCHEME]]]]\n");
		return 2;
	}
	openblas_set_num_threads(1);
	if (tl_fashion_load(&tr, &te, nowner, 1000))
		return 1;
	for (int a = 0; a < 2; a++)
		for (size_t s = 0; s < NSCH; s++)
			best[a][s] = INFINITY;
	one(archs[0], &schs[0], &tr, &te); /* warm-up: page faults, OpenBLAS buffers */
	for (int k = 0; k < rounds; k++)
		for (int a = 0; a < 2; a++)
			for (size_t s = 0; s < NSCH; s++) {
				if (!keep(archs[a], schs[s].name))
					continue;
				double t = one(archs[a], &schs[s], &tr, &te);
				if (t < best[a][s])
					best[a][s] = t;
			}
	printf("== embedding overhead: embed against clean training, one epoch of %d samples, "
	       "batch 64, adam, one thread, CPU time (best of %d) ==\n",
	       nowner, rounds);
	for (int a = 0; a < 2; a++) {
		double c = best[a][0];
		if (!keep(archs[a], "none"))
			continue;
		printf("clean training %s: %.3f s\n", archs[a], c);
		for (size_t s = 1; s < NSCH; s++) {
			double t = best[a][s], ov = 100 * (t / c - 1);
			if (!keep(archs[a], schs[s].name))
				continue;
			char goal[96];
			if (schs[s].goal)
				snprintf(goal, sizeof goal, "under %s", schs[s].goal);
			else if (!strcmp(schs[s].name, "gradsigns"))
				snprintf(goal, sizeof goal,
					 "under 1.5x; PyTorch's double backprop below");
			else
				snprintf(goal, sizeof goal,
					 "at most +%.1f %%, %g extra samples per 64",
					 100 * schs[s].extra / 64, schs[s].extra);
			if (!strcmp(schs[s].name, "gradsigns"))
				printf("embed overhead %s %s: %.2fx clean training (%.3f s) (goal "
				       "%s)\n",
				       schs[s].name, archs[a], t / c, t, goal);
			else
				printf("embed overhead %s %s: %+.1f %% (%.3f s) (goal %s)\n",
				       schs[s].name, archs[a], ov, t, goal);
		}
	}
	tl_fashion_free(&tr, &te);
	return 0;
}
