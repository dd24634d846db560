/* jpeg.c - query-path attack: every query goes through a JPEG round trip
 * (encode at a quality, decode) before the model sees it, which removes the
 * fine, high-frequency detail that noise-like or adversarial triggers live
 * in. Input pre-processing in the SoK's taxonomy (Lukas et al., IEEE S&P
 * 2022, "JPEG compression"); WRT's CIFAR-10 configs use quality 95, 65, 45,
 * ATTACKS-MORE.md section 4 suggests 95, 75, 50, 25, 10 for Fashion-MNIST.
 *
 * No codec: the entropy coding of baseline JPEG is lossless, so the decoded
 * image is the lossy part alone, done here per query:
 *  - pixels to 8 bits: inputs are clamped to [0, 1], then cast = trunc
 *    (default) takes (int)(x * 255) in float, as WRT's x*255 cast to uint8
 *    does; cast = round takes the nearest grey level. Inputs on the data's
 *    grid k/255 give k either way (checked for every k with the engine's
 *    1/255 scaling); off-grid values (noise, triggers) lose up to a grey
 *    level under trunc, as in WRT. The clamp is ours: WRT's uint8 cast wraps
 *    values outside [0, 1] around, which is an artefact, not JPEG.
 *  - for 3-channel inputs (the cnn's 3x32x32) JFIF YCbCr, rounded to integers
 *    as libjpeg does (Cb and Cr ties down); chroma = 420 (default, PIL's and
 *    libjpeg's default) halves Cb and Cr both ways by averaging 2x2 blocks
 *    and restores them on decoding with libjpeg's "fancy" triangle filter
 *    (3/4, 1/4 per axis, edge samples repeated), both with libjpeg's
 *    alternating rounding bias; chroma = 444 keeps full resolution. Grey
 *    inputs are one luminance plane (PIL's mode L).
 *  - per plane: shift by -128, 8x8 DCT-II per block, divide by the quality's
 *    table and round half away from zero (libjpeg's quantiser), multiply
 *    back, inverse DCT, shift back, round, clamp to 0..255. A partial block
 *    at the right or bottom edge (28 = 3 * 8 + 4) is padded by repeating the
 *    edge pixel, as libjpeg pads; the padding is dropped after decoding.
 *  - tables: the IJG base tables (JPEG standard Annex K, luminance for Y and
 *    grey, chrominance for Cb and Cr) scaled by s = 5000 / q (integer
 *    division) below 50, else 200 - 2q, entry floor((base s + 50) / 100)
 *    clamped to [1, 255] (libjpeg's jpeg_set_quality with force_baseline,
 *    as PIL calls it).
 *  - the result is divided by 255.
 * The DCTs are in double precision, libjpeg's (islow) in fixed point: a
 * coefficient within a few hundredths of a quantiser boundary may round the
 * other way there and move its whole block by up to a quarter of its step
 * (15 grey levels once at q50 in the fixtures); other blocks agree within a
 * level. Over 200 Fashion-MNIST test images the mean change per quality
 * matches libjpeg's within 0.4 % from q95 down (q100: 0.055 against 0.059
 * grey levels), the largest change exactly (tests/test_ipattacks.c;
 * fixtures from libjpeg itself,
 * tests/fixtures/jpeg_ref.c). Exact ties (frequent with integer pixels) are
 * rounded as libjpeg's exact integer arithmetic rounds them (JPEG_TIE).
 * The model and the verifier's key are untouched; cost: two small DCTs per
 * 8x8 block and query, no extra model pass. */
#include "common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The parameters, as the plug-in receives them (table below). */
struct jpeg_cfg {
	int quality;
	char chroma[PARAM_VALLEN];
	char cast[PARAM_VALLEN];
};

static const struct param_def jpeg_params[] = {
    {"quality", PT_INT, "75", 1, 100, NULL, "JPEG quality (libjpeg's scale: 100 = finest tables)",
     offsetof(struct jpeg_cfg, quality)},
    {"chroma", PT_STRING, "420", 0, 0, "420|444",
     "colour inputs: 2x2 chroma subsampling (420, libjpeg's default) or none (444)",
     offsetof(struct jpeg_cfg, chroma)},
    {"cast", PT_STRING, "trunc", 0, 0, "trunc|round",
     "pixels to 8 bits by truncating x*255 (as WRT) or by rounding",
     offsetof(struct jpeg_cfg, cast)},
    {0}};

/* The IJG base tables in natural (row-major) order. */
static const int jpeg_base_lum[64] = {16,  11,	10,  16,  24, 40, 51,  61,  12,	 12,  14,  19,	26,
				      58,  60,	55,  14,  13, 16, 24,  40,  57,	 69,  56,  14,	17,
				      22,  29,	51,  87,  80, 62, 18,  22,  37,	 56,  68,  109, 103,
				      77,  24,	35,  55,  64, 81, 104, 113, 92,	 49,  64,  78,	87,
				      103, 121, 120, 101, 72, 92, 95,  98,  112, 100, 103, 99};
static const int jpeg_base_chroma[64] = {
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99,
    99, 99, 47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99};

struct jpeg_state {
	int C, H, W;
	int sub;   /* 2x2 chroma subsampling (3-channel inputs) */
	int trunc; /* cast by truncation */
	double qlum[64], qchroma[64];
	double dct[8][8]; /* D[u][x] = c(u)/2 cos((2x+1) u pi / 16): F = D b D^T */
	double *plane[3]; /* Y (or grey), Cb, Cr of one sample, as integers 0..255 */
	double *half[2];  /* subsampled Cb, Cr */
};

static void jpeg_free_state(void *p)
{
	struct jpeg_state *s = p;
	if (!s)
		return;
	for (int i = 0; i < 3; i++)
		free(s->plane[i]);
	for (int i = 0; i < 2; i++)
		free(s->half[i]);
	free(s);
}

/* libjpeg's scaling of a base table to quality q (force_baseline). */
static void jpeg_table(const int *base, int q, double *out)
{
	int s = q < 50 ? 5000 / q : 200 - 2 * q;
	for (int i = 0; i < 64; i++) {
		long t = ((long)base[i] * s + 50) / 100;
		out[i] = (double)(t < 1 ? 1 : t > 255 ? 255 : t);
	}
}

static double clamp255(double v)
{
	return v < 0 ? 0 : v > 255 ? 255 : v;
}

/* Exact ties are common here (sums of integer pixels over a DC step, DC-only
 * blocks): libjpeg's integer arithmetic sees them exactly and rounds them
 * away from zero (quantiser) or up (inverse DCT output); double rounding
 * noise would break them either way, so values within JPEG_TIE of a half
 * count as halves. */
#define JPEG_TIE 1e-6

/* v rounded half away from zero. */
static double round_away(double v)
{
	return v < 0 ? -floor(-v + 0.5 + JPEG_TIE) : floor(v + 0.5 + JPEG_TIE);
}

/* The JPEG round trip of one h x w plane p of integer samples 0..255, in
 * place, with quantisation table qt. */
static void jpeg_plane(const struct jpeg_state *s, double *p, int h, int w, const double *qt)
{
	double b[8][8], t[8][8];
	for (int by = 0; by < h; by += 8)
		for (int bx = 0; bx < w; bx += 8) {
			/* the block, the edge pixel repeated past the border */
			for (int i = 0; i < 8; i++) {
				int y = by + i < h ? by + i : h - 1;
				for (int j = 0; j < 8; j++) {
					int x = bx + j < w ? bx + j : w - 1;
					b[i][j] = p[(size_t)y * w + x] - 128;
				}
			}
			/* F = D b D^T, then quantise and dequantise */
			for (int i = 0; i < 8; i++)
				for (int v = 0; v < 8; v++) {
					double a = 0;
					for (int j = 0; j < 8; j++)
						a += b[i][j] * s->dct[v][j];
					t[i][v] = a;
				}
			for (int u = 0; u < 8; u++)
				for (int v = 0; v < 8; v++) {
					double a = 0;
					for (int i = 0; i < 8; i++)
						a += s->dct[u][i] * t[i][v];
					double q = qt[u * 8 + v];
					b[u][v] = round_away(a / q) * q;
				}
			/* b = D^T F D */
			for (int u = 0; u < 8; u++)
				for (int j = 0; j < 8; j++) {
					double a = 0;
					for (int v = 0; v < 8; v++)
						a += b[u][v] * s->dct[v][j];
					t[u][j] = a;
				}
			for (int i = 0; i < 8 && by + i < h; i++)
				for (int j = 0; j < 8 && bx + j < w; j++) {
					double a = 0;
					for (int u = 0; u < 8; u++)
						a += s->dct[u][i] * t[u][j];
					p[(size_t)(by + i) * w + bx + j] =
					    clamp255(floor(a + 128 + 0.5 + JPEG_TIE));
				}
		}
}

/* Chroma plane p (h x w) averaged over 2x2 blocks into o ((h+1)/2 x (w+1)/2),
 * the edge repeated for odd sizes, rounded to an integer with libjpeg's
 * ordered bias: a sum ending in .5 after the division goes down in even and
 * up in odd output columns (so that ties do not shift the mean). */
static void jpeg_down(const double *p, int h, int w, double *o)
{
	int hh = (h + 1) / 2, hw = (w + 1) / 2;
	for (int y = 0; y < hh; y++)
		for (int x = 0; x < hw; x++) {
			int y0 = 2 * y, x0 = 2 * x, y1 = y0 + 1 < h ? y0 + 1 : h - 1,
			    x1 = x0 + 1 < w ? x0 + 1 : w - 1;
			double a = p[(size_t)y0 * w + x0] + p[(size_t)y0 * w + x1] +
				   p[(size_t)y1 * w + x0] + p[(size_t)y1 * w + x1];
			o[(size_t)y * hw + x] = floor((a + (x % 2 ? 2 : 1)) / 4);
		}
}

/* libjpeg's h2v2 "fancy" upsampling of o back to p (h x w): each output
 * sample weighs its nearest input sample 3/4 and the next nearest 1/4 per
 * axis (so 9, 3, 3, 1 sixteenths), the edge sample standing in beyond the
 * border; a tie rounds up in even and down in odd output columns. */
static void jpeg_up(const double *o, int h, int w, double *p)
{
	int hh = (h + 1) / 2, hw = (w + 1) / 2;
	for (int y = 0; y < h; y++) {
		int n = y / 2, f = y % 2 ? n + 1 : n - 1;
		f = f < 0 ? 0 : f >= hh ? hh - 1 : f;
		for (int x = 0; x < w; x++) {
			int m = x / 2, g = x % 2 ? m + 1 : m - 1;
			g = g < 0 ? 0 : g >= hw ? hw - 1 : g;
			double near = 3 * o[(size_t)n * hw + m] + o[(size_t)f * hw + m];
			double far = 3 * o[(size_t)n * hw + g] + o[(size_t)f * hw + g];
			p[(size_t)y * w + x] = floor((3 * near + far + (x % 2 ? 7 : 8)) / 16);
		}
	}
}

static int jpeg_predict(struct wm_query *q, const float *x, int n, float *probs)
{
	struct atk_qctx *c = q->ctx;
	struct jpeg_state *s = c->state;
	size_t hw = (size_t)s->H * s->W, D = hw * s->C;
	float *xx = atk_wrap_buf(c, (size_t)n * D);

	for (int b = 0; b < n; b++) {
		const float *in = x + (size_t)b * D;
		float *out = xx + (size_t)b * D;
		for (int ch = 0; ch < s->C; ch++)
			for (size_t i = 0; i < hw; i++) {
				float v = in[ch * hw + i];
				v = v > 0 ? (v < 1 ? v : 1) : 0; /* NaN becomes 0 */
				v *= 255.0f;
				s->plane[ch][i] =
				    s->trunc ? (double)(int)v : floor((double)v + 0.5);
			}
		if (s->C == 1) {
			jpeg_plane(s, s->plane[0], s->H, s->W, s->qlum);
			for (size_t i = 0; i < hw; i++)
				out[i] = (float)(s->plane[0][i] / 255.0);
			continue;
		}
		/* RGB -> JFIF YCbCr, each rounded to an integer sample */
		for (size_t i = 0; i < hw; i++) {
			double r = s->plane[0][i], g = s->plane[1][i], bl = s->plane[2][i];
			s->plane[0][i] = clamp255(floor(0.299 * r + 0.587 * g + 0.114 * bl + 0.5));
			/* chroma ties (0.5 b, 0.5 r) round down, as in libjpeg */
			s->plane[1][i] = clamp255(floor(-0.168735892 * r - 0.331264108 * g +
							0.5 * bl + 128.5 - JPEG_TIE));
			s->plane[2][i] = clamp255(
			    floor(0.5 * r - 0.418687589 * g - 0.081312411 * bl + 128.5 - JPEG_TIE));
		}
		jpeg_plane(s, s->plane[0], s->H, s->W, s->qlum);
		for (int k = 1; k < 3; k++) {
			if (!s->sub) {
				jpeg_plane(s, s->plane[k], s->H, s->W, s->qchroma);
				continue;
			}
			jpeg_down(s->plane[k], s->H, s->W, s->half[k - 1]);
			jpeg_plane(s, s->half[k - 1], (s->H + 1) / 2, (s->W + 1) / 2, s->qchroma);
			jpeg_up(s->half[k - 1], s->H, s->W, s->plane[k]);
		}
		for (size_t i = 0; i < hw; i++) {
			double y = s->plane[0][i], cb = s->plane[1][i] - 128,
			       cr = s->plane[2][i] - 128;
			double rgb[3] = {y + 1.402 * cr, y - 0.344136286 * cb - 0.714136286 * cr,
					 y + 1.772 * cb};
			for (int ch = 0; ch < 3; ch++)
				out[ch * hw + i] = (float)(clamp255(floor(rgb[ch] + 0.5)) / 255.0);
		}
	}
	q->queries += n;
	return q->inner->predict(q->inner, xx, n, probs);
}

static int jpeg_wrap(const void *cfg, struct wm_query *outer, struct wm_query *inner,
		     const struct atk_env *env, struct rng *r, char *err, size_t errlen)
{
	const struct jpeg_cfg *p = cfg;
	int C, H, W;
	(void)env;

	if (atk_wrap_shape(inner, "jpeg", &C, &H, &W, err, errlen))
		return -1;
	if (C != 1 && C != 3)
		return errf(err, errlen,
			    "jpeg: queries of %d channels (%dx%dx%d); expected 1 (grey) or 3 (RGB)",
			    C, C, H, W);
	struct jpeg_state *s = xcalloc(1, sizeof *s);
	s->C = C, s->H = H, s->W = W;
	s->sub = C == 3 && !strcmp(p->chroma, "420");
	s->trunc = !strcmp(p->cast, "trunc");
	jpeg_table(jpeg_base_lum, p->quality, s->qlum);
	jpeg_table(jpeg_base_chroma, p->quality, s->qchroma);
	for (int u = 0; u < 8; u++)
		for (int x = 0; x < 8; x++)
			s->dct[u][x] =
			    (u ? 0.5 : 0.5 / sqrt(2.0)) * cos((2 * x + 1) * u * M_PI / 16);
	for (int i = 0; i < C; i++)
		s->plane[i] = xmalloc((size_t)H * W * sizeof(double));
	if (s->sub)
		for (int i = 0; i < 2; i++)
			s->half[i] =
			    xmalloc((size_t)((H + 1) / 2) * ((W + 1) / 2) * sizeof(double));
	struct atk_qctx *c = atk_wrap_init(outer, inner, r, jpeg_predict);
	c->state = s;
	c->free_state = jpeg_free_state;
	return 0;
}

const struct atk_attack atk_jpeg = {
    .category = ATK_CAT_INPUT,
    .threat = 0,
    .cfg_size = sizeof(struct jpeg_cfg),
    .name = "jpeg",
    .summary = "query path: JPEG round trip (DCT quantisation at a quality) of every query",
    .params = jpeg_params,
    .query_path = 1,
    .wrap = jpeg_wrap,
};
