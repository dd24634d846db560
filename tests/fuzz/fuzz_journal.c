/* fuzz_journal.c - libFuzzer target: the results.csv reader that resume
 * uses (journal_read); an input is the file. */
#include "coord.h"
#include "fuzz.h"
#include "util.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[256], err[ERRBUF];
	struct result_row *rows = NULL;
	int n = 0;

	fz_write("results.csv", data, size, path, sizeof path);
	if (!journal_read(fz_dir(), &rows, &n, err, sizeof err))
		free(rows);
	return 0;
}
