/* bench_train.c - engine throughput for `make bench` (tests/bench.sh): the
 * cblas_sgemm GFLOP/s ceiling, then for mlp, lenet5 and cnn a training step
 * (batch 64, SGD with momentum) and inference (forward only, batch 1,024),
 * in samples/s, with each model's multiply-add work per sample so that
 * bench.sh can print GFLOP/s for wmbench and PyTorch alike.
 *
 *   bench_train [SECS [THREADS [MODE [ARCH]]]]   MODE: all, train, infer, dx or paired
 *
 * paired measures ARCH's training (lenet5 by default) as a fraction of the
 * sgemm ceiling with the two taking turns in chunks (8 training steps, then 4
 * sgemms of 512x512x512, about 30 ms each) for SECS seconds: a slow spell of
 * this shared machine then slows both alike, where the separate runs of the
 * ceiling and of training can land in different spells. It prints the
 * fraction from the two totals and the median and range over the chunk pairs.
 *
 * dx times each stride-1 convolution's input gradient of lenet5 and cnn
 * alone, sgemm against the default path, best of SECS rounds.
 *
 * mlp and lenet5 train on Fashion-MNIST batches, cnn on random 3x32x32
 * inputs (as tests/bench_torch.py does for every model). With
 * WMBENCH_PROFILE=1 it also prints where a training step's time goes, per
 * layer, forward and backward, and which convolution path each layer took;
 * WMBENCH_DX_FLOATS=N sets nn_conv_dx_floats (0: no blocks). */
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

/* Floating-point operations (a multiply-add counts 2) per sample of the
 * convolutions and dense layers: forward, and a training step (forward,
 * weight gradients, and input gradients of all but the first such layer,
 * which nobody asks for). Pooling, ReLU and the loss are left out. */
static void model_flops(const struct nn_model *m, double *fwd, double *train)
{
	int first = 1;
	*fwd = *train = 0;
	for (int i = 0; i < m->nlayers; i++) {
		const struct nn_layer *l = &m->layers[i];
		double f;
		if (l->kind == NN_DENSE)
			f = 2.0 * l->in_c * l->out_c;
		else if (l->kind == NN_CONV)
			f = 2.0 * l->out_c * l->in_c * l->k * l->k * l->out_h * l->out_w;
		else
			continue;
		*fwd += f;
		*train += (first ? 2 : 3) * f;
		first = 0;
	}
}

struct input {
	const struct dataset *d; /* Fashion-MNIST, or NULL for random inputs */
	float *rx;		 /* random inputs (n samples) */
	int *ry, n;
};

static void fill(const struct input *in, size_t dim, long from, int B, float *x, int *y)
{
	uint32_t *idx = malloc(sizeof *idx * B);
	if (in->d) {
		for (int b = 0; b < B; b++)
			idx[b] = (uint32_t)((from + b) % in->d->n);
		nn_fill_batch(in->d->x, in->d->y, dim, idx, B, x, y);
	} else {
		for (int b = 0; b < B; b++) {
			int s = (int)((from + b) % in->n);
			memcpy(x + (size_t)b * dim, in->rx + (size_t)s * dim, dim * sizeof(float));
			if (y)
				y[b] = in->ry[s];
		}
	}
	free(idx);
}

/* the convolution paths, by the kernel kinds of conv_direct.h */
static const char *path[] = {"sgemm", "direct (plane)", "direct (channels)", "direct (samples)",
			     "winograd"};

static void profile_print(const struct nn_model *m, long steps)
{
	double tf = 0, tb = 0;
	printf("profile %s: ms per training step of 64 (forward, backward)\n", m->arch);
	for (int i = 0; i < m->nlayers; i++) {
		const struct nn_layer *l = &m->layers[i];
		char how[96] = "";
		if (l->kind == NN_CONV)
			snprintf(how, sizeof how,
				 "  forward and weight gradient: %s; input gradient: %s",
				 path[m->conv_direct[i]], i ? path[m->dx_direct[i]] : "not needed");
		/* a ReLU and a 2x2 max-pool run with the layer before them (nn.c) */
		int fused_f = (l->kind == NN_RELU || l->kind == NN_MAXPOOL) && !nn_prof.fwd[i];
		int fused_b = l->kind == NN_RELU && !nn_prof.bwd[i] && i + 1 < m->nlayers &&
			      m->layers[i + 1].kind == NN_MAXPOOL;
		if (fused_f || fused_b)
			snprintf(how, sizeof how, "  %s%s%s",
				 fused_f ? "forward in the layer above" : "",
				 fused_f && fused_b ? "; " : "",
				 fused_b ? "backward in the max-pool below" : "");
		printf("profile %s %-8s %7.3f %7.3f%s\n", m->arch, l->name,
		       1e3 * nn_prof.fwd[i] / steps, 1e3 * nn_prof.bwd[i] / steps, how);
		tf += nn_prof.fwd[i];
		tb += nn_prof.bwd[i];
	}
	printf("profile %s total    %7.3f %7.3f\n", m->arch, 1e3 * tf / steps, 1e3 * tb / steps);
}

/* MODE dx: each stride-1 convolution of arch alone (a model of that layer,
 * frozen, then flatten and a dense layer of 3), the backward pass that takes
 * its input gradient, batch 64, im2col + sgemm (NN_CONV_GEMM) against the
 * default path; CPU time, best of `reps` alternating runs. */
static void bench_dx(const char *arch, int reps)
{
	struct nn_model a;
	struct rng r;
	char err[ERRBUF], spec[160];
	const struct nn_arch *ar = nn_arch_find(arch);
	rng_seed(&r, 3);
	if (nn_create(&a, arch, ar->in_c, ar->in_h, ar->in_w, 10, &r, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	for (int i = 0; i < a.nlayers; i++) {
		const struct nn_layer *l = &a.layers[i];
		if (l->kind != NN_CONV || l->stride != 1)
			continue;
		struct nn_model m;
		snprintf(spec, sizeof spec, "%dx%dx%d|conv c %d %d 1 %d|flatten|dense f 3", l->in_c,
			 l->in_h, l->in_w, l->out_c, l->k, l->pad);
		if (nn_build_spec(&m, "custom", spec, err, sizeof err)) {
			fprintf(stderr, "%s\n", err);
			exit(1);
		}
		nn_init_params(&m, &r);
		m.layers[0].frozen = 1;
		m.want_dinput = 1;
		int B = 64, y[64];
		size_t nx = (size_t)B * nn_in_size(&m);
		float *x = malloc(nx * sizeof(float));
		for (size_t k = 0; k < nx; k++)
			x[k] = (float)rng_uniform(&r) - 0.3f;
		for (int b = 0; b < B; b++)
			y[b] = b % 3;
		double best[2] = {1e30, 1e30};
		int kind = 0;
		for (int rep = 0; rep < reps; rep++)
			for (int md = 0; md < 2; md++) {
				nn_conv_mode = md ? NN_CONV_AUTO : NN_CONV_GEMM;
				nn_forward(&m, x, B, 0, NULL);
				nn_zero_act_grads(&m);
				nn_loss_xent(&m, y, 1.0);
				double c0 = cpu_seconds();
				nn_backward(&m);
				double t = cpu_seconds() - c0;
				best[md] = t < best[md] ? t : best[md];
				if (md)
					kind = m.dx_direct[0];
			}
		nn_conv_mode = NN_CONV_AUTO;
		printf(
		    "dx %s %s input gradient alone (batch 64): sgemm %.3f ms, %s %.3f ms, %.2fx\n",
		    arch, l->name, 1e3 * best[0], path[kind], 1e3 * best[1], best[0] / best[1]);
		free(x);
		nn_free(&m);
	}
	nn_free(&a);
}

/* A model of arch, seeded as every measurement here does; exits on failure. */
static void make_model(struct nn_model *m, const char *arch, struct rng *r)
{
	char err[ERRBUF];
	const struct nn_arch *a = nn_arch_find(arch);
	rng_seed(r, 1);
	if (nn_create(m, arch, a->in_c, a->in_h, a->in_w, 10, r, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
}

/* One training step of batch B (the step number picks the batch), as
 * nn_train() runs one without hooks (so the fused ReLUs' outputs are not
 * stored: relu_out_unread). */
static void train_step(struct nn_model *m, const struct input *in, size_t dim, long step, int B,
		       float *x, int *y, struct rng *r, struct nn_opt *opt)
{
	m->relu_out_unread = 1;
	fill(in, dim, step * B, B, x, y);
	nn_forward(m, x, B, 1, r);
	nn_zero_act_grads(m);
	nn_loss_xent(m, y, 1.0);
	nn_zero_grads(m);
	nn_backward(m);
	nn_opt_step(opt, m, 0);
}

static void bench(const char *arch, const struct input *in, double secs, int threads,
		  const char *mode)
{
	struct nn_model m;
	struct rng r;
	struct nn_opt opt;
	int B = 64, BI = 1024, y[64];
	make_model(&m, arch, &r);
	size_t dim = nn_in_size(&m);
	double ffwd, ftrain;
	model_flops(&m, &ffwd, &ftrain);
	printf("flops train %s %.0f\nflops infer %s %.0f\n", arch, ftrain, arch, ffwd);
	float *x = malloc(sizeof(float) * BI * dim);
	nn_opt_init(&opt, "sgd", 0.01, m.nparams);
	opt.momentum = 0.9;
	long steps = 0;
	double t0 = 0, t = 0, c0 = 0;
	int prof = getenv("WMBENCH_PROFILE") && atoi(getenv("WMBENCH_PROFILE"));
	if (strcmp(mode, "infer")) {
		for (int phase = 0; phase < 2; phase++) { /* warm-up, then timed */
			steps = 0;
			memset(&nn_prof, 0, sizeof nn_prof);
			nn_prof.on = phase && prof;
			t0 = now_seconds();
			c0 = cpu_seconds();
			do
				train_step(&m, in, dim, steps++, B, x, y, &r, &opt);
			while ((t = now_seconds() - t0) < (phase ? secs : 0.5));
		}
		nn_prof.on = 0;
		printf("wmbench train %-7s %9.0f samples/s  %5.1f GFLOP/s  (%ld steps of batch %d "
		       "in %.2f s, %d thread%s; %.0f samples per CPU second)\n",
		       arch, steps * B / t, steps * B * ftrain / t / 1e9, steps, B, t, threads,
		       threads > 1 ? "s" : "", steps * B / (cpu_seconds() - c0));
		if (prof)
			profile_print(&m, steps);
	}
	if (strcmp(mode, "train")) {
		fill(in, dim, 0, BI, x, NULL);
		for (int phase = 0; phase < 2; phase++) {
			steps = 0;
			t0 = now_seconds();
			c0 = cpu_seconds();
			do {
				nn_forward(&m, x, BI, 0, NULL);
				steps++;
			} while ((t = now_seconds() - t0) < (phase ? secs : 0.5));
		}
		printf("wmbench infer %-7s %9.0f samples/s  %5.1f GFLOP/s  (%ld forwards of batch "
		       "%d in %.2f s, %d thread%s; %.0f samples per CPU second)\n",
		       arch, steps * BI / t, steps * BI * ffwd / t / 1e9, steps, BI, t, threads,
		       threads > 1 ? "s" : "", steps * BI / (cpu_seconds() - c0));
	}
	nn_opt_free(&opt);
	nn_free(&m);
	free(x);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* MODE paired (top comment) */
static void bench_paired(const char *arch, const struct input *in, double secs)
{
	struct nn_model m;
	struct rng r;
	struct nn_opt opt;
	int B = 64, y[64], n = 512, NS = 8, NG = 4, cap = 100000, k = 0;
	make_model(&m, arch, &r);
	size_t dim = nn_in_size(&m);
	double ffwd, ftrain;
	model_flops(&m, &ffwd, &ftrain);
	float *x = malloc(sizeof(float) * B * dim);
	float *ga = malloc(sizeof(float) * n * n), *gb = malloc(sizeof(float) * n * n);
	float *gc = calloc((size_t)n * n, sizeof(float));
	double *ratio = malloc(sizeof(double) * cap), tt = 0, tg = 0;
	for (int i = 0; i < n * n; i++)
		ga[i] = gb[i] = (float)(i % 7) * 0.1f;
	nn_opt_init(&opt, "sgd", 0.01, m.nparams);
	opt.momentum = 0.9;
	long steps = 0, gemms = 0;
	double t_end = now_seconds() + secs + 0.5, warm = now_seconds() + 0.5;
	while ((now_seconds() < t_end || k == 0) && k < cap) { /* at least one timed pair */
		double t0 = now_seconds();
		for (int s = 0; s < NS; s++)
			train_step(&m, in, dim, steps++, B, x, y, &r, &opt);
		double t1 = now_seconds();
		for (int g = 0; g < NG; g++)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, ga, n,
				    gb, n, 0, gc, n);
		double t2 = now_seconds();
		if (t0 < warm) { /* warm-up: page faults, OpenBLAS buffers */
			steps = 0;
			continue;
		}
		double ft = NS * B * ftrain / (t1 - t0),
		       fg = NG * 2.0 * n * n * (double)n / (t2 - t1);
		ratio[k++] = ft / fg;
		tt += t1 - t0;
		tg += t2 - t1;
		gemms += NG;
	}
	double ft = steps * B * ftrain / tt / 1e9, fg = gemms * 2.0 * n * n * (double)n / tg / 1e9;
	qsort(ratio, (size_t)k, sizeof *ratio, cmp_double);
	printf("paired %s: training %.1f GFLOP/s and sgemm %.1f GFLOP/s taking turns, %.1f %% of "
	       "the ceiling (median over %d chunk pairs %.1f %%, range %.1f to %.1f %%)\n",
	       arch, ft, fg, 100 * ft / fg, k,
	       100 * (k % 2 ? ratio[k / 2] : (ratio[k / 2 - 1] + ratio[k / 2]) / 2), 100 * ratio[0],
	       100 * ratio[k - 1]);
	nn_opt_free(&opt);
	nn_free(&m);
	free(x);
	free(ga);
	free(gb);
	free(gc);
	free(ratio);
}

int main(int argc, char **argv)
{
	struct dataset train, test;
	char err[ERRBUF];
	double secs = argc > 1 ? atof(argv[1]) : 3.0;
	int threads = argc > 2 ? atoi(argv[2]) : 1;
	const char *mode = argc > 3 ? argv[3] : "all", *only = argc > 4 ? argv[4] : NULL;
	if (secs <= 0 || threads < 1 ||
	    (strcmp(mode, "all") && strcmp(mode, "train") && strcmp(mode, "infer") &&
	     strcmp(mode, "dx") && strcmp(mode, "paired")) ||
	    (only && !nn_arch_find(only))) {
		fprintf(stderr,
			"usage: bench_train [SECS [THREADS [all|train|infer|dx|paired [%s]]]]\n",
			nn_arch_list());
		return 2;
	}
	openblas_set_num_threads(threads);
	if (!strcmp(mode, "dx")) { /* SECS: rounds of each path */
		for (int i = 0; i < 2; i++)
			if (!only || !strcmp(only, i ? "cnn" : "lenet5"))
				bench_dx(i ? "cnn" : "lenet5", secs < 1 ? 1 : (int)secs);
		return 0;
	}
	if (getenv("WMBENCH_DX_FLOATS")) /* to compare block sizes of the input gradient */
		nn_conv_dx_floats = atoi(getenv("WMBENCH_DX_FLOATS"));
	if (getenv("WMBENCH_DX_ABOVE"))
		nn_conv_dx_block_above = (size_t)atol(getenv("WMBENCH_DX_ABOVE"));
	if (data_load("fashion", "", &train, &test, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (!strcmp(mode, "paired")) {
		struct input f = {.d = &train};
		if (only && strcmp(only, "mlp") && strcmp(only, "lenet5")) {
			fprintf(stderr, "bench_train: paired takes mlp or lenet5\n");
			return 2;
		}
		bench_paired(only ? only : "lenet5", &f, secs);
		data_free(&train);
		data_free(&test);
		return 0;
	}
	printf("sgemm ceiling: %.1f GFLOP/s (%d thread%s, 512x512x512; OpenBLAS core %s)\n",
	       sgemm_gflops(512), threads, threads > 1 ? "s" : "", openblas_get_corename());
	struct input fashion = {.d = &train}, rnd = {.n = 1024};
	struct rng r;
	rng_seed(&r, 2);
	rnd.rx = malloc(sizeof(float) * rnd.n * 3 * 32 * 32);
	rnd.ry = malloc(sizeof(int) * rnd.n);
	for (int i = 0; i < rnd.n * 3 * 32 * 32; i++)
		rnd.rx[i] = (float)rng_uniform(&r);
	for (int i = 0; i < rnd.n; i++)
		rnd.ry[i] = (int)(rng_u64(&r) % 10);
	static const char *archs[] = {"mlp", "lenet5", "cnn"};
	for (int i = 0; i < 3; i++)
		if (!only || !strcmp(only, archs[i]))
			bench(archs[i], i < 2 ? &fashion : &rnd, secs, threads, mode);
	free(rnd.rx);
	free(rnd.ry);
	data_free(&train);
	data_free(&test);
	return 0;
}
