/* fuzz_idx.c - libFuzzer target: the IDX loader (idx_load). An input is a
 * 4-byte little-endian length L, then L bytes of the image file and the
 * rest as the label file; gzip or plain (zlib reads both). */
#include "data.h"
#include "fuzz.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char images[256], labels[256], err[ERRBUF];
	struct dataset d;
	size_t n;

	if (size < 4)
		return 0;
	n = (size_t)(data[0] | data[1] << 8 | data[2] << 16 | (uint32_t)data[3] << 24);
	data += 4;
	size -= 4;
	if (n > size)
		n = size;
	fz_write("images.gz", data, n, images, sizeof images);
	fz_write("labels.gz", data + n, size - n, labels, sizeof labels);
	if (!idx_load(images, labels, &d, err, sizeof err))
		data_free(&d);
	return 0;
}
