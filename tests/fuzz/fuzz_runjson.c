/* fuzz_runjson.c - libFuzzer target: the run.json reader that reports use
 * (runjson_get on the keys the report reads, runjson_plugins); an input is
 * the file's text. */
#include "../../reports/runjson.h"

#include <stdint.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {"name",    "alpha",	  "wmbench_version", "jobs",
					   "ranks",   "run_seed", "start",	     "end",
					   "dataset", "files"};
	char *js = malloc(size + 1), v[256];
	struct runjson_plugin *pl = NULL;
	int n = 0;

	if (!js)
		return 0;
	memcpy(js, data, size);
	js[size] = 0;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		runjson_get(js, keys[i], v, sizeof v);
	runjson_plugins(js, &pl, &n);
	if (n > 0)
		runjson_plugin_find(pl, n, "scheme", "uchida");
	free(pl);
	free(js);
	return 0;
}
