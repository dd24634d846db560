/* results.h - the results.csv row: fixed, documented columns (README
 * "results.csv") and their CSV form. The harness fills rows (result_row_init
 * in harness/result.c) and appends them to the journal; the report reads them
 * back. A row travels from a worker to rank 0 as one fixed-size message. */
#ifndef WM_RESULTS_H
#define WM_RESULTS_H

#include <stddef.h>

/* Sizes the row's text needs; the harness's NAMELEN, PARAM_KEYLEN and
 * PARAM_VALLEN equal them (checked in harness/job.h). */
#define RESULT_NAMELEN 32 /* a dataset, model, scheme or attack name */
#define RESULT_KEYLEN  32 /* a key of the k=v items in scheme_params and attack_params */
#define RESULT_VALLEN  96 /* a value of those items */

struct result_row {
	char job_id[17];
	char parent_id[17];
	char kind[12];
	char dataset[RESULT_NAMELEN];
	char model[RESULT_NAMELEN];
	char scheme[RESULT_NAMELEN];
	char scheme_params[256];
	char attack[RESULT_NAMELEN];
	char attack_params[256];
	long seed;
	char status[12]; /* ok | failed | skipped */
	char message[400];
	char metric_name[8];	      /* ber | wm_acc */
	double metric_before, metric; /* NAN when not applicable */
	double pvalue;
	int detected; /* -1 when not applicable */
	double capacity;
	double acc_before, acc; /* test accuracy before/after the attack */
	double acc_clean;	/* test accuracy of the unmarked model of this seed */
	/* Attack outcomes (README "results.csv"); -1 is n/a, an empty field. */
	int removed;	     /* the owner's mark was detected before and is not after */
	int forged;	     /* the attacker's own mark verifies on the attacked model */
	int success;	     /* (removed or forged) with less than 5 points lost */
	long queries;	     /* queries of the verification */
	long attack_queries; /* queries the attack itself made to the marked model */
	double aux;
	double train_s; /* wall time of the job's main work */
	double cpu_s;	/* CPU-seconds of that work (all threads of the process) */
	long forward;	/* samples through forward passes in that work */
	long backward;	/* samples through backward passes in that work */
	int rank;
	char host[64];
	double wall_s;
	long peak_rss_kb;
};

/* Writes the CSV header line / one row (with '\n') into buf; returns length. */
int result_csv_header(char *buf, size_t len);
/* The number of columns. */
int result_csv_ncols(void);
int result_csv_row(const struct result_row *r, char *buf, size_t len);
/* Parses one CSV line written by result_csv_row (for resume and report). */
int result_csv_parse(const char *line, struct result_row *r);

#endif
