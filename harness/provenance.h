/* provenance.h - what run.json records of a run (harness/provenance.c). */
#ifndef WM_PROVENANCE_H
#define WM_PROVENANCE_H

#include <stddef.h>

#include "job.h"

/* Jobs finished so far, by status. */
struct run_counts {
	int ok, failed, skipped;
};

/* Writes RUNDIR/run.json (atomically): written at the start (end NULL,
 * counts NULL) and again at the end. -1 with a message on error. */
int provenance_write(const char *rundir, const struct run_spec *rs, int ranks, const char *start,
		     const char *end, int njobs, const struct run_counts *counts, char *err,
		     size_t errlen);
/* The current UTC time as ISO 8601 ("2026-01-01T00:00:00Z"). */
void iso_time(char *buf, size_t len);

#endif
