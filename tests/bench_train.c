/* bench_train.c - training throughput (samples/s, one thread, batch 64) of
 * mlp and lenet5 on Fashion-MNIST batches, and the single-thread cblas_sgemm
 * GFLOP/s ceiling. Prints what it measured; `make bench` compares with PyTorch. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "nn.h"
#include "util.h"

static double sgemm_gflops(int n)
{
	float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n);
	float *c = calloc((size_t)n * n, sizeof(float));
	for (int i = 0; i < n * n; i++)
		a[i] = b[i] = (float)(i % 7) * 0.1f;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
	int reps = 0;
	double t0 = now_seconds(), t;
	do {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c,
			    n);
		reps++;
	} while ((t = now_seconds() - t0) < 1.0);
	free(a);
	free(b);
	free(c);
	return 2.0 * n * n * (double)n * reps / t / 1e9;
}

static void bench(const char *arch, const struct dataset *d, double secs)
{
	struct nn_model m;
	struct rng r;
	struct nn_opt opt;
	char err[ERRBUF];
	int B = 64, y[64];
	uint32_t idx[64];
	float *x = malloc(sizeof(float) * B * 784);
	rng_seed(&r, 1);
	if (nn_create(&m, arch, 1, 28, 28, 10, &r, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	nn_opt_init(&opt, "sgd", 0.01, m.nparams);
	opt.momentum = 0.9;
	long steps = 0;
	double t0 = 0, t = 0;
	for (int phase = 0; phase < 2; phase++) { /* warm-up, then timed */
		steps = 0;
		t0 = now_seconds();
		do {
			for (int b = 0; b < B; b++)
				idx[b] = (uint32_t)((steps * B + b) % d->n);
			nn_fill_batch(d->x, d->y, 784, idx, B, x, y);
			nn_forward(&m, x, B, 1, &r);
			nn_zero_act_grads(&m);
			nn_loss_xent(&m, y, 1.0);
			nn_zero_grads(&m);
			nn_backward(&m);
			nn_opt_step(&opt, &m, 0);
			steps++;
		} while ((t = now_seconds() - t0) < (phase ? secs : 0.5));
	}
	printf("wmbench %-7s %9.0f samples/s  (%ld steps of batch %d in %.2f s, 1 thread)\n", arch,
	       steps * B / t, steps, B, t);
	nn_opt_free(&opt);
	nn_free(&m);
	free(x);
}

int main(int argc, char **argv)
{
	struct dataset train, test;
	char err[ERRBUF];
	double secs = argc > 1 ? atof(argv[1]) : 3.0;
	openblas_set_num_threads(1);
	if (data_load("fashion", "", &train, &test, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("sgemm ceiling: %.1f GFLOP/s (1 thread, 512x512x512; OpenBLAS core %s)\n",
	       sgemm_gflops(512), openblas_get_corename());
	bench("mlp", &train, secs);
	bench("lenet5", &train, secs);
	data_free(&train);
	data_free(&test);
	return 0;
}
