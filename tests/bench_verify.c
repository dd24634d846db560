/* bench_verify.c - black-box verification throughput for `make bench`:
 * queries per second of gradsigns' black-box verifier (6,400 queries a
 * check by default) and of a nullembed verification (nverify test images,
 * up to three queries each), on mlp and lenet5 through the plain query path,
 * one thread, against the model's own inference rate at batch 1,024 (the
 * goal: verification runs at that rate). Best of ROUNDS, wall time.
 *
 *   bench_verify [ROUNDS] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "util.h"

/* queries per second of one verification of scheme with params kv on m */
static double verify_rate(const char *scheme, const char *kv, struct nn_model *m,
			  const struct dataset *tr, const struct dataset *te, long *nq)
{
	const struct wm_scheme *s = wm_scheme_find(scheme);
	struct wm_env env;
	struct rng r;
	struct npz key;
	struct param_set p;
	struct wm_query q;
	struct wm_verdict v;
	char err[ERRBUF];
	tl_env_init(&env, &r, 1, tr, te, tl_fashion_all(), 1000);
	rng_seed(&r, 5);
	npz_init(&key);
	memset(&p, 0, sizeof p);
	if (param_parse(&p, kv, ",", scheme, NULL, err, sizeof err))
		goto fail;
	param_complete(&p, s->params);
	if (wm_check(s, &p, m, err, sizeof err) || wm_keygen(s, &p, m, &env, &key, err, sizeof err))
		goto fail;
	wm_query_init(&q, m);
	memset(&v, 0, sizeof v);
	double t0 = now_seconds();
	if (wm_verify(s, &key, NULL, &q, &env, &v, err, sizeof err))
		goto fail;
	double t = now_seconds() - t0;
	npz_free(&key);
	*nq = q.queries;
	return q.queries / t;
fail:
	fprintf(stderr, "bench_verify: %s: %s\n", scheme, err);
	exit(1);
}

static double infer_rate(struct nn_model *m, const struct dataset *te)
{
	int B = 1024, n = 0;
	size_t D = nn_in_size(m);
	float *x = malloc(sizeof(float) * B * D);
	uint32_t *idx = malloc(sizeof *idx * B);
	for (int b = 0; b < B; b++)
		idx[b] = (uint32_t)(b % te->n);
	nn_fill_batch(te->x, te->y, D, idx, B, x, NULL);
	double t0 = now_seconds(), t;
	do {
		nn_forward(m, x, B, 0, NULL);
		n++;
	} while ((t = now_seconds() - t0) < 1.0);
	free(x);
	free(idx);
	return n * B / t;
}

int main(int argc, char **argv)
{
	struct dataset tr, te;
	char err[ERRBUF];
	int rounds = argc > 1 ? atoi(argv[1]) : 3;
	static const char *archs[] = {"mlp", "lenet5"};
	if (rounds < 1) {
		fprintf(stderr, "usage: bench_verify [ROUNDS]\n");
		return 2;
	}
	openblas_set_num_threads(1);
	if (tl_fashion_load(&tr, &te, 1000, 0))
		return 1;
	printf("== black-box verification: queries/s through the plain query path, one thread, "
	       "best of %d ==\n",
	       rounds);
	for (int a = 0; a < 2; a++) {
		struct nn_model m;
		struct rng r;
		rng_seed(&r, 1);
		if (nn_create(&m, archs[a], 1, 28, 28, 10, &r, err, sizeof err)) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		double inf = 0, gs = 0, ne = 0, x;
		long ngs = 0, nne = 0;
		for (int k = 0; k < rounds; k++) {
			if ((x = infer_rate(&m, &te)) > inf)
				inf = x;
			if ((x = verify_rate("gradsigns", "", &m, &tr, &te, &ngs)) > gs)
				gs = x;
			if ((x = verify_rate("nullembed", "", &m, &tr, &te, &nne)) > ne)
				ne = x;
		}
		printf("inference %s, batch 1,024: %.0f samples/s\n", archs[a], inf);
		printf("verify gradsigns %s: %.0f queries/s, %.0f %% of inference (%ld queries a "
		       "check) (goal: the inference rate)\n",
		       archs[a], gs, 100 * gs / inf, ngs);
		printf("verify nullembed %s: %.0f queries/s, %.0f %% of inference (%ld queries a "
		       "check) (goal: the inference rate)\n",
		       archs[a], ne, 100 * ne / inf, nne);
		nn_free(&m);
	}
	tl_fashion_free(&tr, &te);
	return 0;
}
