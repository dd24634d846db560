/* test_glyph.c - the glyph renderer (workers/glyph.c): specs drawn from a
 * seed are reproducible and cover the scripts, images are non-empty strokes
 * on black, a key's glyphs re-render bit-identically from their specs, and a
 * key whose fonts hash differently is refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glyph.h"
#include "testlib.h"
#include "util.h"

static char err[ERRBUF];

/* same seed, same specs and pixels; another seed, other specs */
static void test_reproducible(void **state)
{
	(void)state;
	enum { N = 64, H = 28, W = 28 };
	struct rng a, b, c;
	float x[H * W], y[H * W];
	int differ = 0, faces[32] = {0}, lit_min = H * W;
	rng_seed(&a, 7);
	rng_seed(&b, 7);
	rng_seed(&c, 8);
	for (int i = 0; i < N; i++) {
		struct glyph_spec s, t, u;
		assert_int_equal(glyph_draw_spec(&a, H, W, &s, err, sizeof err), 0);
		assert_int_equal(glyph_draw_spec(&b, H, W, &t, err, sizeof err), 0);
		assert_int_equal(glyph_draw_spec(&c, H, W, &u, err, sizeof err), 0);
		assert_memory_equal(&s, &t, sizeof s);
		differ += s.code != u.code;
		assert_true(s.size >= 16 && s.size <= 22);
		assert_true(fabsf(s.angle) <= 15);
		faces[s.face]++;
		assert_int_equal(glyph_render(&s, 1, H, W, x, err, sizeof err), 0);
		assert_int_equal(glyph_render(&t, 1, H, W, y, err, sizeof err), 0);
		assert_memory_equal(x, y, sizeof x);
		int lit = 0;
		for (int k = 0; k < H * W; k++) {
			assert_true(x[k] >= 0 && x[k] <= 1);
			lit += x[k] > 0.5f;
		}
		lit_min = lit < lit_min ? lit : lit_min;
	}
	assert_true(differ > N / 2);
	int used = 0;
	for (int f = 0; f < glyph_nfaces(); f++)
		used += faces[f] > 0;
	assert_true(used >= glyph_nfaces() / 2);
	/* every glyph has strokes; a glyph is far from filling the canvas */
	assert_true(lit_min >= 3);
}

/* three channels carry the same grey; a larger canvas scales the size */
static void test_channels(void **state)
{
	(void)state;
	struct rng r;
	struct glyph_spec s;
	float x[3 * 32 * 32];
	rng_seed(&r, 3);
	assert_int_equal(glyph_draw_spec(&r, 32, 32, &s, err, sizeof err), 0);
	assert_true(s.size >= 18 && s.size <= 25);
	assert_int_equal(glyph_render(&s, 3, 32, 32, x, err, sizeof err), 0);
	assert_memory_equal(x, x + 1024, 1024 * sizeof(float));
	assert_memory_equal(x, x + 2048, 1024 * sizeof(float));
	/* an uncovered code point is refused, with the spec */
	s.code = 0xE000; /* private use: no DejaVu face covers it */
	assert_int_equal(glyph_render(&s, 3, 32, 32, x, err, sizeof err), -1);
	assert_non_null(strstr(err, "U+E000"));
}

/* a key's glyphs: specs and the fonts' hash; a changed hash is refused */
static void test_key(void **state)
{
	(void)state;
	enum { N = 20, D = 28 * 28 };
	struct rng r;
	struct npz key;
	float *x = xmalloc(N * D * sizeof(float)), *y = xmalloc(N * D * sizeof(float));
	int n = 0;
	rng_seed(&r, 11);
	npz_init(&key);
	assert_int_equal(glyph_key_images(&r, N, 1, 28, 28, x, &key, "k", err, sizeof err), 0);
	assert_int_equal(glyph_key_check(&key, "k", 1, 28, 28, y, &n, err, sizeof err), 0);
	assert_int_equal(n, N);
	assert_memory_equal(x, y, N * D * sizeof(float));
	npz_add_text(&key, "k.glyph_fonts", "00112233445566778899aabbccddeeff");
	assert_int_equal(glyph_key_check(&key, "k", 1, 28, 28, y, &n, err, sizeof err), -1);
	assert_non_null(strstr(err, "SHA-256 0011223344556677"));
	assert_non_null(strstr(err, "expected the same DejaVu font files"));
	assert_int_equal(glyph_key_check(&key, "nope", 1, 28, 28, y, &n, err, sizeof err), -1);
	assert_non_null(strstr(err, "nope.glyph_fonts"));
	npz_free(&key);
	free(x);
	free(y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reproducible),
	    cmocka_unit_test(test_channels),
	    cmocka_unit_test(test_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
