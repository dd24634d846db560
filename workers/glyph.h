/* glyph.h - out-of-distribution images: glyphs rendered from the DejaVu
 * fonts through FreeType (README "Out-of-distribution images").
 *
 * A glyph image is a pure function of its spec (face, code point, pixel
 * size, rotation, offset) and of the font files, whose SHA-256 a key stores:
 * verification refuses a key whose fonts differ. White strokes on black, as
 * in Fashion-MNIST. */
#ifndef WM_GLYPH_H
#define WM_GLYPH_H

#include <stddef.h>
#include <stdint.h>

#include "npz.h"
#include "rng.h"

#define GLYPH_DIR "/usr/share/fonts/truetype/dejavu"

struct glyph_spec {
	int32_t face;	/* index into the face table (glyph_face_name) */
	int32_t code;	/* Unicode code point, covered by the face */
	int32_t size;	/* pixel size, 16..22 on a 28-pixel canvas (scaled with it) */
	float angle;	/* rotation in degrees, within +-15 */
	int32_t dx, dy; /* offset of the glyph's centre from the canvas centre, pixels */
};

/* Number of faces and their file names (under GLYPH_DIR). */
int glyph_nfaces(void);
const char *glyph_face_name(int face);
/* Draws a spec from r: a face, a code point the face covers (from the
 * scripts listed in glyph.c), a size, an angle and an offset for an H x W
 * canvas. 0, or -1 with a message (fonts missing: names the package). */
int glyph_draw_spec(struct rng *r, int H, int W, struct glyph_spec *s, char *err, size_t errlen);
/* Renders s into img (C, H, W) in [0, 1], the same grey in every channel.
 * 0, or -1 with a message. */
int glyph_render(const struct glyph_spec *s, int C, int H, int W, float *img, char *err,
		 size_t errlen);
/* SHA-256 (hex) of every face file, in table order. 0, or -1 with a message. */
int glyph_fonts_sha256(char hex[65], char *err, size_t errlen);

/* A key's glyph images: n specs drawn from r, rendered into x (n, C*H*W);
 * the key gets PREFIX.glyph_spec (n x 7 float64: face, code, size, angle,
 * dx, dy, 0) and PREFIX.glyph_fonts (the fonts' SHA-256). */
int glyph_key_images(struct rng *r, int n, int C, int H, int W, float *x, struct npz *key,
		     const char *prefix, char *err, size_t errlen);
/* Checks that a key's glyphs were rendered from these fonts, and re-renders
 * them into x (n, C*H*W) when x is not NULL (n from the key, into *n). */
int glyph_key_check(const struct npz *key, const char *prefix, int C, int H, int W, float *x,
		    int *n, char *err, size_t errlen);

#endif
