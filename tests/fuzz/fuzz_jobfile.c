/* fuzz_jobfile.c - libFuzzer target: the job-file parser (jobfile_load). */
#include "fuzz.h"
#include "job.h"
#include "util.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run_spec rs; /* large: not on the stack */
	char path[256], err[ERRBUF];

	fz_write("job.yaml", data, size, path, sizeof path);
	if (!jobfile_load(path, &rs, err, sizeof err))
		jobfile_free(&rs);
	return 0;
}
