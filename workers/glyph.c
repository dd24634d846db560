/* glyph.c - glyphs of the DejaVu fonts rendered through FreeType, the
 * out-of-distribution image source of zhang-unrelated and ewe (glyph.h).
 *
 * The faces and scripts are fixed tables: a spec drawn from an RNG names a
 * face, a code point that face covers (FT_Get_Char_Index != 0), a pixel size
 * (16..22 on a 28-pixel canvas, scaled with the canvas), a rotation within
 * +-15 degrees and an offset of up to 3 pixels (scaled). The glyph is
 * rendered anti-aliased (8-bit coverage), rotated by FreeType's transform,
 * and centred on a black canvas; coverage becomes the grey level. */
#include "glyph.h"
#include "util.h"

#include <ft2build.h>
#include FT_FREETYPE_H
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* fonts-dejavu-core (the first six) and fonts-dejavu-extra (the rest) */
static const char *const faces[] = {
    "DejaVuSans.ttf",	      "DejaVuSans-Bold.ttf",	   "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",   "DejaVuSansMono.ttf",	   "DejaVuSansMono-Bold.ttf",
    "DejaVuSans-Oblique.ttf", "DejaVuSans-ExtraLight.ttf", "DejaVuSansCondensed.ttf",
    "DejaVuSerif-Italic.ttf", "DejaVuSerifCondensed.ttf",  "DejaVuSansMono-Oblique.ttf",
};
#define NFACES ((int)(sizeof faces / sizeof faces[0]))

/* Scripts (inclusive ranges): Greek, Cyrillic, Armenian, Hebrew, N'Ko,
 * Georgian, Canadian syllabics, Ogham, Runic, Braille, Tifinagh. */
static const int32_t scripts[][2] = {
    {0x0391, 0x03c9}, {0x0410, 0x044f}, {0x0531, 0x0586}, {0x05d0, 0x05ea},
    {0x07ca, 0x07ea}, {0x10d0, 0x10fa}, {0x1401, 0x166c}, {0x1681, 0x169a},
    {0x16a0, 0x16ea}, {0x2801, 0x28ff}, {0x2d30, 0x2d67},
};
#define NSCRIPTS ((int)(sizeof scripts / sizeof scripts[0]))

static FT_Library lib;
static FT_Face face_of[NFACES];

int glyph_nfaces(void)
{
	return NFACES;
}

const char *glyph_face_name(int face)
{
	return face >= 0 && face < NFACES ? faces[face] : NULL;
}

static int open_face(int face, FT_Face *f, char *err, size_t errlen)
{
	char path[512];
	if (face < 0 || face >= NFACES)
		return errf(err, errlen, "glyph: face %d; expected 0..%d", face, NFACES - 1);
	if (!lib && FT_Init_FreeType(&lib))
		return errf(err, errlen, "glyph: FreeType failed to initialise");
	if (!face_of[face]) {
		snprintf(path, sizeof path, "%s/%s", GLYPH_DIR, faces[face]);
		if (FT_New_Face(lib, path, 0, &face_of[face]))
			return errf(err, errlen,
				    "glyph: cannot open font %s; expected the DejaVu fonts "
				    "(fonts-dejavu-core and fonts-dejavu-extra; run make deps)",
				    path);
	}
	*f = face_of[face];
	return 0;
}

int glyph_draw_spec(struct rng *r, int H, int W, struct glyph_spec *s, char *err, size_t errlen)
{
	double scale = (H < W ? H : W) / 28.0;
	FT_Face f;

	memset(s, 0, sizeof *s);
	s->face = (int32_t)rng_below(r, NFACES);
	if (open_face(s->face, &f, err, errlen))
		return -1;
	/* a code point the face covers: uniform over a script, then over its range */
	for (int tries = 0;; tries++) {
		const int32_t *sc = scripts[rng_below(r, NSCRIPTS)];
		int32_t c = sc[0] + (int32_t)rng_below(r, (uint32_t)(sc[1] - sc[0] + 1));
		if (FT_Get_Char_Index(f, (FT_ULong)c)) {
			s->code = c;
			break;
		}
		if (tries == 10000)
			return errf(err, errlen, "glyph: face %s covers none of the scripts",
				    faces[s->face]);
	}
	s->size = (int32_t)lround((16 + rng_below(r, 7)) * scale);
	s->angle = (float)(-15 + 30 * rng_uniform(r));
	int off = (int)lround(3 * scale);
	s->dx = (int32_t)rng_below(r, (uint32_t)(2 * off + 1)) - off;
	s->dy = (int32_t)rng_below(r, (uint32_t)(2 * off + 1)) - off;
	return 0;
}

int glyph_render(const struct glyph_spec *s, int C, int H, int W, float *img, char *err,
		 size_t errlen)
{
	FT_Face f;
	FT_Matrix mat;
	FT_Vector zero = {0, 0};
	double a = s->angle * M_PI / 180;

	if (open_face(s->face, &f, err, errlen))
		return -1;
	if (s->size < 1 || s->size > 4 * (H > W ? H : W) ||
	    !FT_Get_Char_Index(f, (FT_ULong)s->code))
		return errf(err, errlen,
			    "glyph: spec (face %d, code U+%04X, size %d) is not renderable; "
			    "expected a covered code point and a size of 1..%d",
			    s->face, (unsigned)s->code, s->size, 4 * (H > W ? H : W));
	mat.xx = (FT_Fixed)lround(cos(a) * 65536);
	mat.xy = (FT_Fixed)lround(-sin(a) * 65536);
	mat.yx = (FT_Fixed)lround(sin(a) * 65536);
	mat.yy = (FT_Fixed)lround(cos(a) * 65536);
	if (FT_Set_Pixel_Sizes(f, 0, (FT_UInt)s->size))
		return errf(err, errlen, "glyph: %s refuses pixel size %d", faces[s->face],
			    s->size);
	FT_Set_Transform(f, &mat, &zero);
	if (FT_Load_Char(f, (FT_ULong)s->code, FT_LOAD_RENDER | FT_LOAD_NO_HINTING))
		return errf(err, errlen, "glyph: %s failed to render U+%04X", faces[s->face],
			    (unsigned)s->code);
	const FT_Bitmap *bm = &f->glyph->bitmap;
	size_t HW = (size_t)H * W;
	memset(img, 0, (size_t)C * HW * sizeof(float));
	int top = H / 2 + s->dy - (int)bm->rows / 2;
	int left = W / 2 + s->dx - (int)bm->width / 2;
	for (int i = 0; i < (int)bm->rows; i++)
		for (int j = 0; j < (int)bm->width; j++) {
			int y = top + i, x = left + j;
			if (y < 0 || y >= H || x < 0 || x >= W)
				continue;
			float v = bm->buffer[(size_t)i * bm->pitch + j] / 255.0f;
			for (int c = 0; c < C; c++)
				img[c * HW + (size_t)y * W + x] = v;
		}
	return 0;
}

int glyph_fonts_sha256(char hex[65], char *err, size_t errlen)
{
	crypto_hash_sha256_state st;
	unsigned char out[32], buf[65536];
	char path[512];

	crypto_hash_sha256_init(&st);
	for (int i = 0; i < NFACES; i++) {
		snprintf(path, sizeof path, "%s/%s", GLYPH_DIR, faces[i]);
		FILE *fp = fopen(path, "rb");
		if (!fp)
			return errf(err, errlen,
				    "glyph: cannot read font %s; expected the DejaVu fonts "
				    "(fonts-dejavu-core and fonts-dejavu-extra; run make deps)",
				    path);
		size_t k;
		while ((k = fread(buf, 1, sizeof buf, fp)) > 0)
			crypto_hash_sha256_update(&st, buf, k);
		fclose(fp);
	}
	crypto_hash_sha256_final(&st, out);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", out[i]);
	return 0;
}

int glyph_key_images(struct rng *r, int n, int C, int H, int W, float *x, struct npz *key,
		     const char *prefix, char *err, size_t errlen)
{
	char name[NPZ_NAMELEN], hex[65];
	size_t D = (size_t)C * H * W;
	double *spec = xmalloc((size_t)n * 7 * sizeof *spec);
	int rc = -1;

	if (glyph_fonts_sha256(hex, err, errlen))
		goto out;
	for (int i = 0; i < n; i++) {
		struct glyph_spec s;
		if (glyph_draw_spec(r, H, W, &s, err, errlen) ||
		    glyph_render(&s, C, H, W, x + i * D, err, errlen))
			goto out;
		double row[7] = {s.face, s.code, s.size, s.angle, s.dx, s.dy, 0};
		memcpy(spec + (size_t)i * 7, row, sizeof row);
	}
	int64_t shape[2] = {n, 7};
	snprintf(name, sizeof name, "%s.glyph_spec", prefix);
	npz_add(key, name, NPZ_F64, 2, shape, spec);
	snprintf(name, sizeof name, "%s.glyph_fonts", prefix);
	npz_add_text(key, name, hex);
	rc = 0;
out:
	free(spec);
	return rc;
}

int glyph_key_check(const struct npz *key, const char *prefix, int C, int H, int W, float *x,
		    int *n, char *err, size_t errlen)
{
	char name[NPZ_NAMELEN], want[80], hex[65];
	const struct npz_array *sa;

	snprintf(name, sizeof name, "%s.glyph_fonts", prefix);
	if (npz_get_text(key, name, want, sizeof want))
		return errf(err, errlen, "key: no array '%s'; expected a key with glyph images",
			    name);
	if (glyph_fonts_sha256(hex, err, errlen))
		return -1;
	if (strcmp(want, hex))
		return errf(err, errlen,
			    "key: its glyphs were rendered from fonts with SHA-256 %.16s..., these "
			    "(%s) hash to %.16s...; expected the same DejaVu font files",
			    want, GLYPH_DIR, hex);
	snprintf(name, sizeof name, "%s.glyph_spec", prefix);
	sa = npz_get(key, name);
	if (!sa || sa->dtype != NPZ_F64 || sa->ndim != 2 || sa->shape[1] != 7)
		return errf(err, errlen, "key: array '%s' is missing or not (n, 7) float64", name);
	*n = (int)sa->shape[0];
	if (!x)
		return 0;
	size_t D = (size_t)C * H * W;
	const double *d = sa->data;
	for (int i = 0; i < *n; i++) {
		const double *row = d + (size_t)i * 7;
		struct glyph_spec s = {.face = (int32_t)row[0],
				       .code = (int32_t)row[1],
				       .size = (int32_t)row[2],
				       .angle = (float)row[3],
				       .dx = (int32_t)row[4],
				       .dy = (int32_t)row[5]};
		if (glyph_render(&s, C, H, W, x + i * D, err, errlen))
			return -1;
	}
	return 0;
}
