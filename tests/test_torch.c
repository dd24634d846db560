/* test_torch.c - the nn engine and model files against PyTorch.
 *
 * Usage: test_torch [FIXTURE_DIR]   (default tests/fixtures, written by
 * tests/torch_ref.py). Compares logits, loss, every parameter gradient and
 * the input gradient of a small conv net with PyTorch's; loads a LeNet-5
 * exported from PyTorch with numpy.savez; checks the model_save/model_load
 * round trip and the loader's messages for malformed files. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"
#include "nn.h"
#include "npz.h"
#include "testlib.h"
#include "util.h"

static const char *fixdir = "tests/fixtures";
static char tmpdir[256];

static void fixture(char *buf, size_t len, const char *file)
{
	snprintf(buf, len, "%s/%s", fixdir, file);
}

static void read_npz(struct npz *z, const char *path)
{
	char err[ERRBUF];
	npz_init(z);
	if (npz_read(z, path, err, sizeof err))
		fail_msg("npz_read: %s (/usr/bin/python3 tests/torch_ref.py makes the fixtures)",
			 err);
}

static const struct npz_array *get(const struct npz *z, const char *name, enum npz_dtype dt)
{
	const struct npz_array *a = npz_get(z, name);
	if (!a)
		fail_msg("fixture lacks array '%s'", name);
	if (a->dtype != dt)
		fail_msg("fixture array '%s' is %s; expected %s", name, npz_dtype_name(a->dtype),
			 npz_dtype_name(dt));
	return a;
}

/* got[i] must be within rtol * (|want[i]| + max|want|) of want[i]: relative
 * to the element, with a floor relative to the tensor's scale. */
static void assert_close(const char *what, const float *got, const float *want, size_t n,
			 double rtol)
{
	double amax = 0, worst = 0;
	size_t wi = 0;
	for (size_t i = 0; i < n; i++)
		amax = fmax(amax, fabs(want[i]));
	if (n && amax == 0)
		fail_msg("%s: reference is all zero; the comparison would prove nothing", what);
	for (size_t i = 0; i < n; i++) {
		double e = fabs((double)got[i] - want[i]) / (fabs(want[i]) + amax);
		if (!(e <= worst))
			worst = e, wi = i;
	}
	print_message("  %-18s n=%-4zu max|ref|=%.3g worst rel err=%.2e\n", what, n, amax, worst);
	if (!(worst <= rtol))
		fail_msg("%s[%zu] = %.9g; PyTorch gives %.9g (relative error %.3g > %.1g)", what,
			 wi, got[wi], want[wi], worst, rtol);
}

static void load_model(struct nn_model *m, const struct npz *z, const char *path)
{
	char err[ERRBUF];
	if (model_from_npz(m, z, path, err, sizeof err))
		fail_msg("model_from_npz: %s", err);
}

static void test_tiny_forward_backward(void **state)
{
	struct npz z;
	struct nn_model m;
	char path[1024], name[NN_NAMELEN + 16];
	(void)state;
	fixture(path, sizeof path, "torch_tiny.npz");
	read_npz(&z, path);
	load_model(&m, &z, path);
	assert_string_equal(m.arch, "custom");
	const struct npz_array *sa = get(&z, "input_shape", NPZ_I32),
			       *nc = get(&z, "nclass", NPZ_I32);
	const int32_t *shape = sa->data;
	assert_int_equal(m.in_c, shape[0]);
	assert_int_equal(m.in_h, shape[1]);
	assert_int_equal(m.in_w, shape[2]);
	assert_int_equal(m.nclass, ((const int32_t *)nc->data)[0]);

	const struct npz_array *xa = get(&z, "x", NPZ_F32), *ya = get(&z, "y", NPZ_I32);
	const struct npz_array *la = get(&z, "logits", NPZ_F32), *lo = get(&z, "loss", NPZ_F64);
	int B = (int)xa->shape[0];
	assert_int_equal(xa->ndim, 4);
	assert_int_equal(xa->count, nn_in_size(&m) * (size_t)B);
	assert_int_equal(ya->count, (size_t)B);
	assert_int_equal(la->count, (size_t)B * m.nclass);

	m.want_dinput = 1;
	const float *logits = nn_forward(&m, xa->data, B, 0, NULL);
	assert_close("logits", logits, la->data, la->count, 1e-4);
	nn_zero_act_grads(&m);
	double loss = nn_loss_xent(&m, ya->data, 1.0), want = ((const double *)lo->data)[0];
	print_message("  loss %.9f, PyTorch %.9f\n", loss, want);
	if (fabs(loss - want) > 1e-5 * fabs(want))
		fail_msg("loss %.9g; PyTorch gives %.9g", loss, want);
	nn_zero_grads(&m);
	nn_backward(&m);

	int nparam_arrays = 0;
	for (int i = 0; i < m.nlayers; i++) {
		const struct nn_layer *l = &m.layers[i];
		if (!nn_has_params(l))
			continue;
		for (int t = 0; t < 2; t++) {
			snprintf(name, sizeof name, "grad.%s.%s", l->name, t ? "bias" : "weight");
			const struct npz_array *g = get(&z, name, NPZ_F32);
			size_t n;
			const float *mine = nn_grad(&m, name + 5, &n);
			assert_non_null(mine);
			assert_int_equal(n, g->count);
			assert_close(name, mine, g->data, n, 1e-4);
			nparam_arrays++;
		}
	}
	assert_int_equal(nparam_arrays, 8);
	const struct npz_array *gi = get(&z, "grad.input", NPZ_F32);
	assert_int_equal(gi->count, xa->count);
	assert_close("grad.input", m.dinput, gi->data, gi->count, 1e-4);
	nn_free(&m);
	npz_free(&z);
}

static void test_lenet5_export(void **state)
{
	struct npz z;
	struct nn_model m;
	char path[1024], err[ERRBUF];
	(void)state;
	fixture(path, sizeof path, "torch_lenet5.npz");
	read_npz(&z, path);
	assert_null(npz_get(&z, "spec")); /* the architecture comes from the name */
	if (model_load(&m, path, err, sizeof err))
		fail_msg("model_load: %s", err);
	assert_string_equal(m.arch, "lenet5");
	assert_string_equal(m.spec, nn_arch_spec("lenet5"));
	const struct npz_array *xa = get(&z, "x", NPZ_F32), *la = get(&z, "logits", NPZ_F32);
	int B = (int)xa->shape[0];
	assert_int_equal(xa->count, nn_in_size(&m) * (size_t)B);
	assert_int_equal(la->count, (size_t)B * m.nclass);
	/* every parameter arrived in PyTorch's layout */
	size_t n;
	const float *w = nn_param(&m, "conv2.weight", &n);
	const struct npz_array *wa = get(&z, "conv2.weight", NPZ_F32);
	assert_int_equal(n, wa->count);
	assert_memory_equal(w, wa->data, n * sizeof(float));
	const float *logits = nn_forward(&m, xa->data, B, 0, NULL);
	assert_close("lenet5 logits", logits, la->data, la->count, 1e-4);
	/* and the reference depends on the input (no dead network) */
	const float *lr = la->data;
	double spread = 0;
	for (int b = 1; b < B; b++)
		for (int c = 0; c < m.nclass; c++)
			spread = fmax(spread, fabs(lr[b * m.nclass + c] - lr[c]));
	assert_true(spread > 1e-3);
	/* the same through the batched probability path */
	float *p = xmalloc((size_t)B * m.nclass * sizeof(float));
	nn_predict_proba(&m, xa->data, B, p);
	for (int b = 0; b < B; b++) {
		const float *zb = (const float *)la->data + (size_t)b * m.nclass;
		const float *pb = p + (size_t)b * m.nclass;
		assert_int_equal(nn_argmax(pb, m.nclass), nn_argmax(zb, m.nclass));
		double s = 0;
		for (int c = 0; c < m.nclass; c++)
			s += pb[c];
		assert_true(fabs(s - 1) < 1e-5);
	}
	free(p);
	nn_free(&m);
	npz_free(&z);
}

static void assert_same_model(const struct nn_model *a, const struct nn_model *b)
{
	assert_string_equal(a->arch, b->arch);
	assert_string_equal(a->spec, b->spec);
	assert_int_equal(a->nlayers, b->nlayers);
	assert_int_equal(a->nparams, b->nparams);
	assert_int_equal(a->in_c, b->in_c);
	assert_int_equal(a->in_h, b->in_h);
	assert_int_equal(a->in_w, b->in_w);
	assert_int_equal(a->nclass, b->nclass);
	for (int i = 0; i < a->nlayers; i++)
		assert_string_equal(a->layers[i].name, b->layers[i].name);
	assert_memory_equal(a->params, b->params, a->nparams * sizeof(float));
}

static void round_trip(struct nn_model *m, const float *x, int B, const char *file)
{
	struct nn_model back;
	char path[512], err[ERRBUF];
	size_t nl = (size_t)B * m->nclass;
	snprintf(path, sizeof path, "%s/%s", tmpdir, file);
	if (model_save(m, path, err, sizeof err))
		fail_msg("model_save: %s", err);
	if (model_load(&back, path, err, sizeof err))
		fail_msg("model_load: %s", err);
	assert_same_model(m, &back);
	float *z1 = xmalloc(nl * sizeof(float));
	memcpy(z1, nn_forward(m, x, B, 0, NULL), nl * sizeof(float));
	assert_memory_equal(nn_forward(&back, x, B, 0, NULL), z1, nl * sizeof(float));
	/* the saved file holds the documented arrays */
	struct npz z;
	char text[512];
	read_npz(&z, path);
	assert_int_equal(npz_get_text(&z, "arch", text, sizeof text), 0);
	assert_string_equal(text, m->arch);
	assert_int_equal(npz_get_text(&z, "spec", text, sizeof text), 0);
	assert_string_equal(text, m->spec);
	const struct npz_array *s = get(&z, "input_shape", NPZ_I32),
			       *c = get(&z, "nclass", NPZ_I32);
	assert_int_equal(s->count, 3);
	assert_int_equal(((const int32_t *)s->data)[0], m->in_c);
	assert_int_equal(((const int32_t *)s->data)[1], m->in_h);
	assert_int_equal(((const int32_t *)s->data)[2], m->in_w);
	assert_int_equal(((const int32_t *)c->data)[0], m->nclass);
	npz_free(&z);
	free(z1);
	nn_free(&back);
}

/* Copies every array of src into dst except the one named skip. */
static void copy_npz(struct npz *dst, const struct npz *src, const char *skip)
{
	npz_init(dst);
	for (int i = 0; i < src->n; i++) {
		const struct npz_array *a = &src->a[i];
		if (skip && !strcmp(a->name, skip))
			continue;
		assert_int_equal(npz_add(dst, a->name, a->dtype, a->ndim, a->shape, a->data), 0);
	}
}

static void test_round_trip(void **state)
{
	struct npz z;
	struct nn_model m;
	struct rng r;
	char path[1024], err[ERRBUF];
	(void)state;
	/* the PyTorch-initialised tiny net and the exported LeNet-5 */
	fixture(path, sizeof path, "torch_tiny.npz");
	read_npz(&z, path);
	load_model(&m, &z, path);
	round_trip(&m, get(&z, "x", NPZ_F32)->data, 4, "tiny.npz");
	nn_free(&m);
	npz_free(&z);
	fixture(path, sizeof path, "torch_lenet5.npz");
	read_npz(&z, path);
	load_model(&m, &z, path);
	round_trip(&m, get(&z, "x", NPZ_F32)->data, 4, "lenet5.npz");
	nn_free(&m);
	npz_free(&z);
	/* every named architecture, freshly initialised; odd floats survive */
	static const struct {
		const char *arch;
		int c, h, w;
	} archs[] = {{"mlp", 1, 28, 28}, {"lenet5", 1, 28, 28}, {"cnn", 3, 32, 32}};
	for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++) {
		rng_seed(&r, 100 + i);
		if (nn_create(&m, archs[i].arch, archs[i].c, archs[i].h, archs[i].w, 10, &r, err,
			      sizeof err))
			fail_msg("nn_create(%s): %s", archs[i].arch, err);
		m.params[0] = -0.0f;
		m.params[1] = 1e-40f; /* subnormal */
		size_t d = nn_in_size(&m);
		float *x = xmalloc(2 * d * sizeof(float));
		for (size_t k = 0; k < 2 * d; k++)
			x[k] = (float)rng_uniform(&r);
		char file[64];
		snprintf(file, sizeof file, "%s.npz", archs[i].arch);
		round_trip(&m, x, 2, file);
		/* as exported from PyTorch: arch and parameters only */
		struct npz full, bare;
		struct nn_model back;
		char p2[512];
		npz_init(&full);
		assert_int_equal(model_to_npz(&m, &full), 0);
		copy_npz(&bare, &full, "spec");
		npz_free(&full);
		copy_npz(&full, &bare, "input_shape");
		npz_free(&bare);
		copy_npz(&bare, &full, "nclass");
		npz_free(&full);
		snprintf(p2, sizeof p2, "%s/bare_%s", tmpdir, file);
		if (npz_write(&bare, p2, err, sizeof err) || model_load(&back, p2, err, sizeof err))
			fail_msg("%s without spec: %s", archs[i].arch, err);
		assert_same_model(&m, &back);
		nn_free(&back);
		npz_free(&bare);
		free(x);
		nn_free(&m);
	}
}

static void expect_load_error(const struct npz *z, const char *file, const char **needles)
{
	struct nn_model m;
	char path[512], err[ERRBUF];
	snprintf(path, sizeof path, "%s/%s", tmpdir, file);
	if (npz_write(z, path, err, sizeof err))
		fail_msg("npz_write: %s", err);
	memset(&m, 0, sizeof m);
	err[0] = 0;
	if (!model_load(&m, path, err, sizeof err))
		fail_msg("%s loaded; expected an error", file);
	print_message("  %s: %s\n", file, err);
	assert_non_null(strstr(err, path));
	for (const char **s = needles; *s; s++)
		if (!strstr(err, *s))
			fail_msg("message '%s' lacks '%s'", err, *s);
}

static void test_load_errors(void **state)
{
	struct npz z, bad;
	struct nn_model m;
	char path[1024];
	(void)state;
	fixture(path, sizeof path, "torch_tiny.npz");
	read_npz(&z, path);
	load_model(&m, &z, path);

	/* a wrong shape names the array and both shapes */
	float w[6 * 15] = {0};
	int64_t s2[2] = {6, 15};
	copy_npz(&bad, &z, NULL);
	assert_int_equal(npz_add_f32(&bad, "fc1.weight", 2, s2, w), 0);
	expect_load_error(&bad, "shape.npz",
			  (const char *[]){"'fc1.weight'", "(6, 15)", "(6, 16)", NULL});
	npz_free(&bad);

	/* a wrong rank too */
	int64_t s3[3] = {3, 2, 9};
	float w3[54] = {0};
	copy_npz(&bad, &z, NULL);
	assert_int_equal(npz_add_f32(&bad, "conv1.weight", 3, s3, w3), 0);
	expect_load_error(&bad, "rank.npz",
			  (const char *[]){"'conv1.weight'", "(3, 2, 9)", "(3, 2, 3, 3)", NULL});
	npz_free(&bad);

	/* a missing parameter */
	copy_npz(&bad, &z, "fc2.bias");
	expect_load_error(&bad, "missing.npz", (const char *[]){"'fc2.bias'", "missing", NULL});
	npz_free(&bad);

	/* an integer parameter */
	int32_t ib[3] = {1, 2, 3};
	int64_t s1 = 3;
	copy_npz(&bad, &z, NULL);
	assert_int_equal(npz_add(&bad, "fc2.bias", NPZ_I32, 1, &s1, ib), 0);
	expect_load_error(&bad, "dtype.npz", (const char *[]){"'fc2.bias'", "int32", NULL});
	npz_free(&bad);

	/* no spec and an unknown architecture name */
	copy_npz(&bad, &z, "spec");
	assert_int_equal(npz_add_text(&bad, "arch", "resnet"), 0);
	expect_load_error(&bad, "arch.npz", (const char *[]){"lenet5", NULL});
	npz_free(&bad);

	/* a malformed spec */
	copy_npz(&bad, &z, NULL);
	assert_int_equal(npz_add_text(&bad, "spec", "2x8x8|conv conv1 3"), 0);
	expect_load_error(&bad, "spec.npz", (const char *[]){"conv conv1 3", NULL});
	npz_free(&bad);

	/* float64 parameters are accepted and converted */
	copy_npz(&bad, &z, NULL);
	for (int i = 0; i < z.n; i++) {
		const struct npz_array *a = &z.a[i];
		size_t len = strlen(a->name);
		if (a->dtype != NPZ_F32 || strncmp(a->name, "grad.", 5) == 0 ||
		    !((len > 7 && !strcmp(a->name + len - 7, ".weight")) ||
		      (len > 5 && !strcmp(a->name + len - 5, ".bias"))))
			continue;
		double *d = xmalloc(a->count * sizeof(double));
		for (size_t k = 0; k < a->count; k++)
			d[k] = ((const float *)a->data)[k];
		assert_int_equal(npz_add(&bad, a->name, NPZ_F64, a->ndim, a->shape, d), 0);
		free(d);
	}
	assert_true(npz_get(&bad, "fc1.weight")->dtype == NPZ_F64);
	struct nn_model m64;
	load_model(&m64, &bad, "f64");
	assert_same_model(&m, &m64);
	nn_free(&m64);
	npz_free(&bad);

	nn_free(&m);
	npz_free(&z);
}

static int setup(void **state)
{
	(void)state;
	return tl_tmpdir(tmpdir, sizeof tmpdir, "test_torch");
}

static int teardown(void **state)
{
	(void)state;
	return tl_rmtree(tmpdir);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tiny_forward_backward),
	    cmocka_unit_test(test_lenet5_export),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_load_errors),
	};
	if (argc > 1)
		fixdir = argv[1];
	return cmocka_run_group_tests(tests, setup, teardown);
}
