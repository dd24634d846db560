/* fuzz_npz.c - libFuzzer target: the .npz reader (npz_read, which reads
 * keys) and the model loader on what it read (model_from_npz, the rest of
 * model_load, with the architecture spec parser).
 *
 * An input whose first byte is not 0x01 is the .npz file itself. Zip
 * members carry a CRC-32, so most mutations of a member stop at the CRC
 * check; to reach the .npy header and model parsers, an input starting with
 * 0x01 is a list of members instead, each a name length byte, the name, a
 * 2-byte little-endian data length and the data (inputs are at most 64 KB),
 * which this target packs into a valid zip (stored, correct CRCs) first. */
#include "fuzz.h"
#include "model.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void le16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
	le16(p, v & 0xffff);
	le16(p + 2, v >> 16);
}

/* Packs the member list in (p, n) into a stored zip, model.npz (local headers,
 * data, central directory, end record; written here rather than by
 * libarchive, whose writer leaks on a failed header). 0, or -1 if the list
 * is malformed. */
static int pack(const uint8_t *p, size_t n)
{
	/* a member takes 3 + nl + dl input bytes, 30 + nl + dl zip and 46 + nl
	 * directory bytes: 16 times the input bounds each, and the zip gets the
	 * directory and the end record appended */
	uint8_t *zip = malloc(32 * n + 64), *cd = malloc(16 * n + 64);
	size_t zn = 0, cn = 0, count = 0;
	char unused[256];
	int ret = -1;

	while (n) {
		size_t nl = p[0], dl;
		uint32_t crc;
		uint8_t *h;

		if (n < 1 + nl + 2 || count == 0xffff)
			goto out;
		dl = (size_t)(p[1 + nl] | p[2 + nl] << 8);
		if (dl > n - 3 - nl)
			dl = n - 3 - nl;
		crc = (uint32_t)crc32(0, p + 3 + nl, (uInt)dl);
		h = zip + zn; /* local file header */
		memset(h, 0, 30);
		le32(h, 0x04034b50);
		le16(h + 4, 20);
		le32(h + 14, crc);
		le32(h + 18, (uint32_t)dl);
		le32(h + 22, (uint32_t)dl);
		le16(h + 26, nl);
		memcpy(h + 30, p + 1, nl);
		memcpy(h + 30 + nl, p + 3 + nl, dl);
		h = cd + cn; /* its central directory entry */
		memset(h, 0, 46);
		le32(h, 0x02014b50);
		le16(h + 4, 20);
		le16(h + 6, 20);
		le32(h + 16, crc);
		le32(h + 20, (uint32_t)dl);
		le32(h + 24, (uint32_t)dl);
		le16(h + 28, nl);
		le32(h + 42, (uint32_t)zn);
		memcpy(h + 46, p + 1, nl);
		zn += 30 + nl + dl;
		cn += 46 + nl;
		count++;
		p += 3 + nl + dl;
		n -= 3 + nl + dl;
	}
	memcpy(zip + zn, cd, cn);
	memset(zip + zn + cn, 0, 22); /* end of central directory */
	le32(zip + zn + cn, 0x06054b50);
	le16(zip + zn + cn + 8, count);
	le16(zip + zn + cn + 10, count);
	le32(zip + zn + cn + 12, (uint32_t)cn);
	le32(zip + zn + cn + 16, (uint32_t)zn);
	fz_write("model.npz", zip, zn + cn + 22, unused, sizeof unused);
	ret = 0;
out:
	free(zip);
	free(cd);
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[256], err[ERRBUF];
	struct nn_model m;
	struct npz z;

	if (size && data[0] == 1) {
		fz_write("model.npz", NULL, 0, path, sizeof path);
		if (pack(data + 1, size - 1))
			return 0;
	} else {
		fz_write("model.npz", data, size, path, sizeof path);
	}
	npz_init(&z);
	if (!npz_read(&z, path, err, sizeof err) && !model_from_npz(&m, &z, path, err, sizeof err))
		nn_free(&m);
	npz_free(&z);
	return 0;
}
