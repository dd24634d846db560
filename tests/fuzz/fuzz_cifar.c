/* fuzz_cifar.c - libFuzzer target: the CIFAR-10 tar loader (cifar10_load);
 * an input is the archive, a tar.gz or a plain tar. */
#include "data.h"
#include "fuzz.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[256], err[ERRBUF];
	struct dataset train, test;

	fz_write("cifar-10-binary.tar.gz", data, size, path, sizeof path);
	if (!cifar10_load(path, &train, &test, err, sizeof err)) {
		data_free(&train);
		data_free(&test);
	}
	return 0;
}
