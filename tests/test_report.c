/* test_report.c - wmbench report: statistics, summary.csv, controls.csv,
 * figures, gnuplot-injection safety, the bundle and the error messages.
 *
 * The fixture run (2 seeds; schemes none and uchida with 16, 32 and 64 bits,
 * plus a scheme whose name is a gnuplot payload; prune at three rates and
 * quantize at two bit widths; controls; a failed job; a job retried after a
 * failure; labels with quotes, backquotes and system() calls) is written
 * into a temporary directory with result_csv_row, so it always matches the
 * current column layout. The report runs with the bundle and cairolatex. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>

#include "../reports/results.h"
#include "../reports/runjson.h"
#include "../reports/report.h"
#include "../workers/util.h"

/* A scheme parameter value and a run name that try to break out of gnuplot
 * strings: quotes, a backquoted command, a system() call, macros. */
#define HOSTILE_SP "bits=16;tag=it's \"q\" `touch PWNED2` '; system(\"touch PWNED\"); ' @Q"
/* A scheme name (not pretty-printed anywhere) holding the classic payload. */
#define HOSTILE_SCHEME "'; system(\"touch PWNED4\"); '"
#define HOSTILE_NAME_JSON                                                                          \
	"small <b>run</b> '; system(\\\"touch PWNED\\\"); ' `touch PWNED2` $(touch PWNED3)\\nx"

#define HOSTILE_SCHEME_JSON "'; system(\\\"touch PWNED4\\\"); '"

/* The plug-ins as the harness records them in run.json (see
 * reports/runjson.h): the colours and shapes of none and uchida are theirs;
 * the hostile scheme gets a colour no plug-in has, which the figures must
 * take from here. */
#define HOSTILE_COLOUR "#12AB34"
#define PLUGINS_JSON                                                                               \
	"  \"plugins\": [\n"                                                                       \
	"    {\"name\": \"none\", \"kind\": \"scheme\", \"order\": 0, \"colour\": \"#000000\", "   \
	"\"point\": 5, \"unmarked\": true, \"aux_label\": null},\n"                                \
	"    {\"name\": \"uchida\", \"kind\": \"scheme\", \"order\": 1, \"colour\": \"#E69F00\", " \
	"\"point\": 7, \"unmarked\": false, \"aux_label\": null},\n"                               \
	"    {\"name\": \"" HOSTILE_SCHEME_JSON "\", \"kind\": \"scheme\", \"order\": 7, "         \
	"\"colour\": \"" HOSTILE_COLOUR "\", \"point\": 9, \"unmarked\": false, "                  \
	"\"aux_label\": null},\n"                                                                  \
	"    {\"name\": \"prune\", \"kind\": \"attack\", \"params\": {\"rate\": \"fraction of "    \
	"weights zeroed\", \"scope\": \"the marked layer, every layer at the same rate, or one "   \
	"global threshold\"}},\n"                                                                  \
	"    {\"name\": \"quantize\", \"kind\": \"attack\", \"params\": {\"bits\": \"bits per "    \
	"weight\"}}\n"                                                                             \
	"  ]\n"

#define RETRIED_ID "00000000000abcde"

static char tmpdir[256], rundir[512], repdir[600];
static char origdir[1024];
static char testdir[2048]; /* tests/, for layout_check.py */
static int nid;

/* ---------------------------------------------------------------- fixture -- */

static void new_row(struct result_row *r, const char *kind, const char *scheme, const char *sp,
		    const char *attack, const char *ap, long seed)
{
	memset(r, 0, sizeof *r);
	snprintf(r->job_id, sizeof r->job_id, "%016x", ++nid);
	strcpy(r->kind, kind);
	strcpy(r->dataset, "fashion");
	strcpy(r->model, "mlp");
	strcpy(r->scheme, scheme);
	strcpy(r->scheme_params, sp);
	strcpy(r->attack, attack);
	strcpy(r->attack_params, ap);
	r->seed = seed;
	strcpy(r->status, "ok");
	r->metric_before = NAN;
	r->metric = NAN;
	r->pvalue = NAN;
	r->detected = -1;
	r->capacity = NAN;
	r->acc_before = NAN;
	r->acc = NAN;
	r->acc_clean = NAN;
	r->removed = -1;
	r->forged = -1;
	r->success = -1;
	r->aux = NAN;
	r->train_s = NAN;
	r->cpu_s = NAN;
	r->forward = -1;
	r->backward = -1;
	r->rank = 1;
	strcpy(r->host, "node1");
	r->wall_s = 1.5 * seed;
	r->peak_rss_kb = 1000;
}

static void put_row(FILE *f, const struct result_row *r)
{
	char buf[4096];
	int n = result_csv_row(r, buf, sizeof buf);

	assert_true(n > 0);
	assert_int_equal(fwrite(buf, 1, (size_t)n, f), (size_t)n);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

/* An attack row on parent p with strength s (1 = mild); metric and drop
 * scale with s and the seed. */
static void attack_row(FILE *f, const struct result_row *p, const char *attack, const char *ap,
		       double s, struct result_row *out)
{
	struct result_row r;
	/* schemes differ (bits=32 is the reference the tests compute by hand) */
	double k = !strcmp(p->scheme_params, "bits=64")	  ? 0.6
		   : !strcmp(p->scheme_params, "bits=24") ? 1.6
		   : !strcmp(p->scheme_params, "bits=32") ? 1
							  : 0.8;
	double drop = k > 1.5 ? 0.02 * s * p->seed : 0.08 * s * p->seed * (2 - k);

	new_row(&r, "attack", p->scheme, p->scheme_params, attack, ap, p->seed);
	strcpy(r.parent_id, p->job_id);
	r.acc_before = p->acc;
	r.acc = p->acc - drop;
	r.acc_clean = p->acc_clean;
	r.train_s = 0.5;
	/* passes: prune 0.1 of clean training (forward only), quantize 0.4 */
	r.forward = !strcmp(attack, "prune") ? 200000 : 400000;
	r.backward = !strcmp(attack, "prune") ? 0 : 400000;
	if (strcmp(p->scheme, "none")) {
		strcpy(r.metric_name, "ber");
		r.metric_before = p->metric;
		r.metric = 0.2 * s * p->seed * k;
		r.capacity = p->capacity;
		r.detected = r.metric < (k > 1.5 ? 0.3 : 0.25);
		r.pvalue = r.detected ? 1e-5 : 0.2;
		r.removed = p->detected == 1 ? !r.detected : -1;
		r.success = r.removed < 0 ? -1 : r.removed == 1 && drop < 0.05;
	}
	if (out)
		*out = r;
	else
		put_row(f, &r);
}

static void write_fixture(const char *dir)
{
	static const char *const sps[] = {"bits=32", "bits=64", HOSTILE_SP, "bits=24"};
	static const double rates[] = {0.1, 0.5, 0.9};
	char path[700], hdr[1024], ap[64];
	struct result_row train[2], emb[4][2], r;
	FILE *f;

	snprintf(path, sizeof path, "%s/results.csv", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(result_csv_header(hdr, sizeof hdr) > 0);
	assert_true(fputs(hdr, f) >= 0);
	for (int s = 1; s <= 2; s++) {
		struct result_row *t = &train[s - 1];

		new_row(t, "train", "none", "", "", "", s);
		t->acc = s == 1 ? 0.90 : 0.92;
		t->acc_clean = t->acc;
		t->train_s = s == 1 ? 10 : 12;
		t->forward = t->backward = 1000000;
		put_row(f, t);
		for (int k = 0; k < 4; k++) {
			struct result_row *e = &emb[k][s - 1];

			new_row(e, "embed", k == 3 ? HOSTILE_SCHEME : "uchida", sps[k], "", "", s);
			strcpy(e->parent_id, t->job_id);
			strcpy(e->metric_name, "ber");
			e->capacity = k == 0 ? 32 : k == 1 ? 64 : k == 2 ? 16 : 24;
			e->metric = s == 1 ? 0 : 1 / e->capacity;
			e->pvalue = 1e-9;
			e->detected = 1;
			e->acc_clean = t->acc;
			e->acc = t->acc - 0.01 * s;
			e->train_s = s == 1 ? 13 : 16;
			put_row(f, e);
		}
	}
	for (int s = 0; s < 2; s++) {
		const struct result_row *parents[5] = {&train[s], &emb[0][s], &emb[1][s],
						       &emb[2][s], &emb[3][s]};

		for (int p = 0; p < 5; p++) {
			for (int i = 0; i < 3; i++) {
				snprintf(ap, sizeof ap, "rate=%g;scope=layer", rates[i]);
				if (p == 1 && s == 1 && i == 1) {
					/* a failed attempt, then the retry that wins */
					attack_row(f, parents[p], "prune", ap, rates[i], &r);
					strcpy(r.job_id, RETRIED_ID);
					strcpy(r.status, "failed");
					strcpy(r.message, "killed, \"OOM\"");
					r.metric = 0.99;
					put_row(f, &r);
					continue;
				}
				attack_row(f, parents[p], "prune", ap, rates[i], NULL);
			}
			for (int b = 8; b >= 4; b -= 4) {
				snprintf(ap, sizeof ap, "bits=%d", b);
				attack_row(f, parents[p], "quantize", ap, 0.25 * 8 / b, &r);
				if (p == 2 && s == 1 && b == 4) {
					strcpy(r.status, "failed");
					strcpy(r.message, "diverged");
				}
				put_row(f, &r);
			}
		}
	}
	/* controls: bits=32 10 models, 1 detected; bits=64 30 models, none */
	for (int k = 0; k < 2; k++)
		for (int s = 1; s <= 2; s++)
			for (int j = 0; j < (k ? 15 : 5); j++) {
				int idx = (s - 1) * (k ? 15 : 5) + j;

				new_row(&r, "control", "uchida", sps[k], "", "", s);
				strcpy(r.metric_name, "ber");
				r.capacity = k ? 64 : 32;
				r.metric = 0.30 + 0.02 * idx;
				r.detected = !k && idx == 0;
				r.pvalue = r.detected ? 1e-4 : 0.4;
				put_row(f, &r);
			}
	/* the retry of the failed prune job above: same id, last row wins */
	attack_row(f, &emb[0][1], "prune", "rate=0.5;scope=layer", 0.5, &r);
	strcpy(r.job_id, RETRIED_ID);
	put_row(f, &r);
	assert_int_equal(fclose(f), 0);
}

/* ----------------------------------------------------------------- helpers -- */

static int exists(const char *dir, const char *name)
{
	char p[2048];
	struct stat st;

	snprintf(p, sizeof p, "%s/%s", dir, name);
	return !stat(p, &st);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

/* Splits one RFC 4180 record (no line breaks inside) into fields. */
static int csv_split(const char *line, char fields[][512], int max)
{
	int n = 0;
	const char *p = line;

	for (;;) {
		size_t o = 0;

		assert_true(n < max);
		if (*p == '"') {
			p++;
			for (;;) {
				assert_true(*p != 0);
				if (*p == '"' && p[1] == '"') {
					fields[n][o++] = '"';
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					fields[n][o++] = *p++;
				}
			}
		} else {
			while (*p && *p != ',' && *p != '\n' && *p != '\r') {
				assert_true(*p != '"');
				fields[n][o++] = *p++;
			}
		}
		fields[n++][o] = 0;
		if (*p != ',')
			break;
		p++;
	}
	return n;
}

struct table {
	int ncols, nrows;
	char head[80][512];
	char (*row)[80][512];
};

static void table_load(const char *path, struct table *t)
{
	FILE *f = fopen(path, "r");
	char line[16384];

	assert_non_null(f);
	memset(t, 0, sizeof *t);
	assert_non_null(fgets(line, sizeof line, f));
	t->ncols = csv_split(line, t->head, 80);
	t->row = calloc(256, sizeof *t->row);
	assert_non_null(t->row);
	while (fgets(line, sizeof line, f)) {
		assert_true(t->nrows < 256);
		assert_int_equal(csv_split(line, t->row[t->nrows], 80), t->ncols);
		t->nrows++;
	}
	fclose(f);
}

static const char *cell(const struct table *t, int r, const char *col)
{
	for (int c = 0; c < t->ncols; c++)
		if (!strcmp(t->head[c], col))
			return t->row[r][c];
	fail_msg("no column %s", col);
	return NULL;
}

static int find_row(const struct table *t, const char *kind, const char *sp, const char *attack,
		    const char *ap)
{
	for (int r = 0; r < t->nrows; r++)
		if (!strcmp(cell(t, r, "kind"), kind) && !strcmp(cell(t, r, "scheme_params"), sp) &&
		    !strcmp(cell(t, r, "attack"), attack) &&
		    !strcmp(cell(t, r, "attack_params"), ap))
			return r;
	fail_msg("no summary row %s %s %s %s", kind, sp, attack, ap);
	return -1;
}

static void assert_num(const char *s, double want, double tol)
{
	char *end;
	double v;

	assert_true(*s);
	v = strtod(s, &end);
	assert_true(*end == 0);
	if (fabs(v - want) > tol)
		fail_msg("got %s, expected %.9g", s, want);
}

static const char *const figures[] = {
    "robustness_prune", "robustness_quantize", "tradeoff",    "capacity",
    "success_heatmap",	"embedding_cost",      "attack_cost",
};
#define NFIG ((int)(sizeof figures / sizeof figures[0]))

static void check_png(const char *path)
{
	size_t n;
	unsigned char *b = (unsigned char *)slurp(path, &n);
	static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	unsigned w, h;

	if (!b)
		fail_msg("%s missing", path);
	assert_true(n > 33);
	assert_memory_equal(b, sig, 8);
	assert_memory_equal(b + 12, "IHDR", 4);
	w = (unsigned)b[16] << 24 | (unsigned)b[17] << 16 | (unsigned)b[18] << 8 | b[19];
	h = (unsigned)b[20] << 24 | (unsigned)b[21] << 16 | (unsigned)b[22] << 8 | b[23];
	assert_true(w > 100 && h > 100);
	free(b);
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void no_pwned(const char *dir)
{
	static const char *const names[] = {"PWNED", "PWNED2", "PWNED3", "PWNED4"};

	for (int i = 0; i < 4; i++)
		if (exists(dir, names[i]))
			fail_msg("%s/%s was created: a label was executed", dir, names[i]);
}

/* ------------------------------------------------------------------ setup -- */

static int group_setup(void **state)
{
	char err[ERRBUF] = "", path[700], reports[2200];
	char src[1024];
	int rc;

	(void)state;
	assert_non_null(getcwd(origdir, sizeof origdir));
	if (!getenv("WMBENCH_REPORTS")) {
		/* the templates next to this source file */
		char *slash;

		snprintf(src, sizeof src, "%s", __FILE__);
		slash = strrchr(src, '/');
		if (slash)
			*slash = 0;
		else
			strcpy(src, ".");
		if (src[0] == '/')
			snprintf(reports, sizeof reports, "%s/../reports", src);
		else
			snprintf(reports, sizeof reports, "%s/%s/../reports", origdir, src);
		setenv("WMBENCH_REPORTS", reports, 1);
	}
	snprintf(src, sizeof src, "%s", __FILE__);
	if (strrchr(src, '/'))
		*strrchr(src, '/') = 0;
	else
		strcpy(src, ".");
	if (src[0] == '/')
		snprintf(testdir, sizeof testdir, "%s", src);
	else
		snprintf(testdir, sizeof testdir, "%s/%s", origdir, src);
	strcpy(tmpdir, "/tmp/wmreport.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(rundir, sizeof rundir, "%s/run_small", tmpdir);
	snprintf(repdir, sizeof repdir, "%s/report", rundir);
	if (mkdir(rundir, 0755))
		return -1;
	write_fixture(rundir);
	snprintf(path, sizeof path, "%s/run.json", rundir);
	write_text(path,
		   "{\n  \"wmbench_version\": \"0.1.0\",\n  \"job_file\": \"jobs/small.yaml\",\n"
		   "  \"job_file_sha256\": \"abc123\",\n  \"name\": \"" HOSTILE_NAME_JSON "\",\n"
		   "  \"jobs\": 80,\n  \"ranks\": 4,\n  \"start\": \"2024-01-01T00:00:00Z\",\n"
		   "  \"end\": \"2024-01-01T01:00:00Z\",\n  \"libraries\": {\"mpi\": \"x, y\"},\n"
		   "  \"cpu\": \"Test CPU\",\n  \"dataset\": \"fashion\",\n"
		   "  \"dataset_files\": {\n    \"a.gz\": \"00ff\"\n  },\n" PLUGINS_JSON "}\n");
	/* run the report from inside the run directory, where a stray shell
	 * command would leave its file */
	assert_int_equal(chdir(rundir), 0);
	rc = report_run(rundir, REPORT_BUNDLE | REPORT_LATEX, err, sizeof err);
	assert_int_equal(chdir(origdir), 0);
	if (rc) {
		fprintf(stderr, "report_run: %s\n", err);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (tmpdir[0] && !getenv("KEEP_TMP"))
		run("rm -rf '%s'", tmpdir);
	return 0;
}

/* ------------------------------------------------------------------ tests -- */

static void test_stats(void **state)
{
	double lo, hi;

	(void)state;
	report_clopper_pearson(0, 30, &lo, &hi);
	assert_true(lo == 0);
	assert_true(fabs(hi - 0.1157) < 1e-4);
	report_clopper_pearson(1, 10, &lo, &hi);
	assert_true(fabs(lo - 0.00253) < 1e-5);
	assert_true(fabs(hi - 0.4450) < 1e-4);
	report_clopper_pearson(10, 10, &lo, &hi);
	assert_true(fabs(lo - 0.6915) < 1e-4 && hi == 1);
	assert_true(fabs(report_beta_inc(2, 3, 0.4) - 0.5248) < 1e-12);
	assert_true(fabs(report_beta_quantile(0.5248, 2, 3) - 0.4) < 1e-12);
	assert_true(fabs(report_t975(1) - 12.7062) < 1e-3);
	assert_true(fabs(report_t975(4) - 2.7764) < 1e-3);
	assert_true(fabs(report_t975(30) - 2.0423) < 1e-3);
	assert_true(fabs(report_t975(1000) - 1.9623) < 1e-3);
	assert_int_equal(report_binom_threshold(8, 1e-3), -1);
	assert_int_equal(report_binom_threshold(16, 1e-3), 15);
	assert_int_equal(report_binom_threshold(32, 1e-3), 26);
	assert_int_equal(report_binom_threshold(64, 1e-3), 45);
}

/* The calibration pass rule (README "Calibration") on hand-made counts. */
static void test_calib_pass(void **state)
{
	(void)state;
	/* P[Bin(100, 1e-3) >= 3], summed directly */
	double direct = 0;
	for (int x = 3; x <= 100; x++)
		direct += exp(lgamma(101) - lgamma(x + 1) - lgamma(101 - x) + x * log(1e-3) +
			      (100 - x) * log1p(-1e-3));
	assert_true(fabs(report_binom_sf(100, 3, 1e-3) - direct) < 1e-9 * direct);
	assert_true(report_binom_sf(100, 0, 1e-3) == 1);
	assert_true(report_binom_sf(100, 101, 1e-3) == 0);
	/* an exact test at alpha passes: 5 % false positives at alpha 0.05 on each of
	 * 10 models, and 1 in 1,000 at alpha 1e-3 */
	int n10[10], fp10[10];
	for (int i = 0; i < 10; i++)
		n10[i] = 100, fp10[i] = 5;
	assert_int_equal(report_calib_pass(fp10, n10, 10, 10, 1, 0.05), 1);
	int n4[4] = {250, 250, 250, 250}, fp4[4] = {0, 1, 0, 0};
	assert_int_equal(report_calib_pass(fp4, n4, 4, 4, 1, 1e-3), 1);
	/* 3 false positives of 100 at alpha 1e-3 fail */
	int n1[1] = {100}, fp1[1] = {3};
	assert_int_equal(report_calib_pass(fp1, n1, 1, 1, 1, 1e-3), 0);
	/* one model of 20 fails while the pooled trials pass (6 of 2,000 at 0.01):
	 * P[Bin(100, 0.01) >= 6] = 5e-4 < 0.05 / 20 */
	int n20[20], fp20[20];
	for (int i = 0; i < 20; i++)
		n20[i] = 100, fp20[i] = 0;
	fp20[7] = 6;
	assert_true(report_binom_sf(2000, 6, 0.01) > 0.05);
	assert_int_equal(report_calib_pass(fp20, n20, 20, 20, 1, 0.01), 0);
	/* Bonferroni: 4 of 100 (P = 0.018) would fail one model alone, not one of 20 */
	fp20[7] = 4;
	assert_true(report_binom_sf(100, 4, 0.01) < 0.05);
	assert_int_equal(report_calib_pass(fp20, n20, 20, 20, 1, 0.01), 1);
	assert_int_equal(report_calib_pass(fp1, n1, 0, 0, 1, 0.01), -1);
	/* trials that share keys across models (owner-model keys) get no pooled
	 * test: 3 models x 100 trials with 1 false positive each pass per model
	 * (P = 0.26 > 0.05 / 3) but would fail pooled at alpha 1e-3 */
	int n3[3] = {100, 100, 100}, fp3[3] = {1, 1, 1};
	assert_true(report_binom_sf(300, 3, 1e-3) < 0.05);
	assert_int_equal(report_calib_pass(fp3, n3, 3, 3, 1, 1e-3), 0);
	assert_int_equal(report_calib_pass(fp3, n3, 3, 3, 0, 1e-3), 1);
	/* Bonferroni over the models asked for, not those with rows: 4 of 100 at
	 * 0.01 (P = 0.018) fails for 1 model of 1, passes for 1 of 20 */
	int n1b[1] = {100}, fp1b[1] = {4};
	assert_int_equal(report_calib_pass(fp1b, n1b, 1, 1, 0, 0.01), 0);
	assert_int_equal(report_calib_pass(fp1b, n1b, 1, 20, 0, 0.01), 1);
}

static void test_summary(void **state)
{
	char path[700];
	struct table t;
	int r;

	(void)state;
	snprintf(path, sizeof path, "%s/summary.csv", repdir);
	table_load(path, &t);
	assert_string_equal(t.head[0], "scheme");
	assert_string_equal(t.head[t.ncols - 1], "degenerate");
	assert_int_equal(t.ncols, 7 + 9 * 3 + 3);

	/* prune 0.5 on uchida 32: the retry replaced the failed attempt */
	r = find_row(&t, "attack", "bits=32", "prune", "rate=0.5;scope=layer");
	assert_string_equal(cell(&t, r, "n"), "2");
	assert_string_equal(cell(&t, r, "n_failed"), "0");
	assert_num(cell(&t, r, "metric_mean"), 0.15, 1e-9);
	assert_num(cell(&t, r, "metric_sd"), 0.0707106781, 1e-9);
	assert_num(cell(&t, r, "metric_ci95"), 0.635310237, 1e-6);
	assert_num(cell(&t, r, "acc_drop_mean"), 0.06, 1e-9);
	assert_num(cell(&t, r, "acc_drop_sd"), 0.0282842712, 1e-9);
	assert_num(cell(&t, r, "acc_drop_ci95"), 0.254124095, 1e-6);
	assert_num(cell(&t, r, "wall_s_mean"), 2.25, 1e-9);
	assert_string_equal(cell(&t, r, "metric_name"), "ber");
	assert_num(cell(&t, r, "removed_mean"), 0, 1e-12); /* BER 0.1, 0.2: still detected */
	assert_string_equal(cell(&t, r, "forged_mean"), "");
	/* pruning half of the weights costs the unmarked model 4.8 and 9.6 points
	 * (mean 7.2 >= 5): a degenerate setting, flagged on every scheme's row */
	assert_num(cell(&t, r, "unmarked_acc_drop"), 0.072, 1e-9);
	assert_string_equal(cell(&t, r, "degenerate"), "1");
	r = find_row(&t, "attack", "bits=64", "prune", "rate=0.5;scope=layer");
	assert_string_equal(cell(&t, r, "degenerate"), "1");
	r = find_row(&t, "attack", "bits=32", "prune", "rate=0.1;scope=layer");
	assert_num(cell(&t, r, "unmarked_acc_drop"), 0.0144, 1e-9);
	assert_string_equal(cell(&t, r, "degenerate"), "0");
	r = find_row(&t, "attack", "bits=32", "quantize", "bits=8");
	assert_string_equal(cell(&t, r, "degenerate"), "0");
	r = find_row(&t, "attack", "bits=32", "quantize", "bits=4");
	assert_string_equal(cell(&t, r, "degenerate"), "1");

	/* embedding with 64 bits: accuracy cost against the clean model */
	r = find_row(&t, "embed", "bits=64", "", "");
	assert_string_equal(cell(&t, r, "n"), "2");
	assert_num(cell(&t, r, "metric_mean"), 0.0078125, 1e-9);
	assert_num(cell(&t, r, "metric_sd"), 0.0110485435, 1e-9);
	assert_num(cell(&t, r, "metric_ci95"), 0.0992672245, 1e-6);
	assert_num(cell(&t, r, "acc_drop_mean"), 0.015, 1e-9);
	assert_num(cell(&t, r, "acc_drop_ci95"), 0.0635310237, 1e-6);
	assert_num(cell(&t, r, "detected_mean"), 1, 1e-12);
	assert_string_equal(cell(&t, r, "degenerate"), ""); /* not an attack */

	/* one seed failed: n = 1, no sd or interval */
	r = find_row(&t, "attack", "bits=64", "quantize", "bits=4");
	assert_string_equal(cell(&t, r, "n"), "1");
	assert_string_equal(cell(&t, r, "n_failed"), "1");
	assert_string_equal(cell(&t, r, "metric_sd"), "");
	assert_string_equal(cell(&t, r, "metric_ci95"), "");

	/* the unmarked model has no watermark metric: empty, not NaN */
	r = find_row(&t, "attack", "", "prune", "rate=0.9;scope=layer");
	assert_string_equal(cell(&t, r, "scheme"), "none");
	assert_string_equal(cell(&t, r, "metric_mean"), "");
	assert_string_equal(cell(&t, r, "success_mean"), "");

	/* the hostile parameter string survives RFC 4180 quoting */
	r = find_row(&t, "embed", HOSTILE_SP, "", "");
	assert_string_equal(cell(&t, r, "n"), "2");
	free(t.row);
}

static void test_controls(void **state)
{
	char path[700];
	struct table t;
	int r32 = -1, r64 = -1;

	(void)state;
	snprintf(path, sizeof path, "%s/controls.csv", repdir);
	table_load(path, &t);
	assert_int_equal(t.nrows, 2);
	for (int r = 0; r < t.nrows; r++) {
		if (!strcmp(cell(&t, r, "scheme_params"), "bits=32"))
			r32 = r;
		if (!strcmp(cell(&t, r, "scheme_params"), "bits=64"))
			r64 = r;
	}
	assert_true(r32 >= 0 && r64 >= 0);
	assert_string_equal(cell(&t, r32, "n"), "10");
	assert_string_equal(cell(&t, r32, "false_positives"), "1");
	assert_num(cell(&t, r32, "fpr"), 0.1, 1e-12);
	assert_num(cell(&t, r32, "fpr_ci95_low"), 0.00253, 1e-5);
	assert_num(cell(&t, r32, "fpr_ci95_high"), 0.4450, 1e-4);
	assert_num(cell(&t, r32, "threshold_quantile"), 0.05, 1e-12);
	assert_num(cell(&t, r32, "empirical_threshold"), 0.309, 1e-9);
	assert_string_equal(cell(&t, r64, "n"), "30");
	assert_string_equal(cell(&t, r64, "false_positives"), "0");
	assert_num(cell(&t, r64, "fpr_ci95_low"), 0, 1e-12);
	assert_num(cell(&t, r64, "fpr_ci95_high"), 0.1157, 1e-4);
	free(t.row);
}

static void test_figures(void **state)
{
	char path[800];

	(void)state;
	for (int i = 0; i < NFIG; i++) {
		static const char *const ext[] = {"gp", "dat", "pdf", "png", "svg"};
		char *svg;

		for (int e = 0; e < 5; e++) {
			snprintf(path, sizeof path, "%s.%s", figures[i], ext[e]);
			if (!exists(repdir, path))
				fail_msg("%s/%s missing", repdir, path);
		}
		snprintf(path, sizeof path, "%s_latex.tex", figures[i]);
		assert_true(exists(repdir, path));
		snprintf(path, sizeof path, "%s_latex.pdf", figures[i]);
		assert_true(exists(repdir, path));
		assert_int_equal(run("pdfinfo '%s/%s.pdf' >/dev/null 2>&1", repdir, figures[i]), 0);
		/* the PDF carries its text (the cairolatex graphics must not replace it) */
		assert_int_equal(
		    run("pdffonts '%s/%s.pdf' 2>/dev/null | grep -q .", repdir, figures[i]), 0);
		assert_int_equal(
		    run("test -n \"$(pdftotext '%s/%s.pdf' - 2>/dev/null | tr -d '[:space:]')\"",
			repdir, figures[i]),
		    0);
		snprintf(path, sizeof path, "%s/%s.png", repdir, figures[i]);
		check_png(path);
		snprintf(path, sizeof path, "%s/%s.svg", repdir, figures[i]);
		svg = slurp(path, NULL);
		assert_non_null(svg);
		assert_true(!strncmp(svg, "<?xml", 5) || !strncmp(svg, "<svg", 4));
		free(svg);
		/* gnuplot printed no warnings (they would be kept in a .log) */
		snprintf(path, sizeof path, "%s.log", figures[i]);
		if (exists(repdir, path))
			fail_msg("gnuplot warned: see %s/%s", repdir, path);
	}
}

/* Every line of a script that holds hostile text must be an assignment of
 * single-quoted pieces without quotes inside, joined by '.' with Q. */
static void check_script_line(const char *line)
{
	const char *p = strstr(line, " = ");

	if (!p)
		fail_msg("hostile text outside an assignment: %s", line);
	p += 3;
	for (;;) {
		if (*p == 'Q') {
			p++;
		} else if (*p == '\'') {
			p = strchr(p + 1, '\'');
			assert_non_null(p);
			p++;
		} else {
			fail_msg("unexpected token in: %s", line);
		}
		if (*p == '\n' || !*p)
			break;
		if (*p != '.')
			fail_msg("unexpected text after a piece in: %s", line);
		p++;
	}
}

static void test_injection(void **state)
{
	char path[800];
	int found = 0, in_svg = 0, found_scheme = 0, scheme_svg = 0;

	(void)state;
	no_pwned(origdir);
	no_pwned(tmpdir);
	no_pwned(rundir);
	no_pwned(repdir);
	for (int i = 0; i < NFIG; i++) {
		char *text, *line, *save = NULL;

		snprintf(path, sizeof path, "%s/%s.gp", repdir, figures[i]);
		text = slurp(path, NULL);
		assert_non_null(text);
		for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			if (!strstr(line, "PWNED"))
				continue;
			check_script_line(line);
			/* the label text itself, inside single quotes */
			if (strstr(line, "lt_title[") || strstr(line, "row_label[") ||
			    strstr(line, "bar_label["))
				found |=
				    strstr(line, "= 'uchida (bits=16, tag=it'.Q.'s \"q\" `touch "
						 "PWNED2` '.Q.',  system\xe2\x80\xa6'") != NULL;
			found_scheme |=
			    strstr(line, "= Q.'; system(\"touch PWNED4\"); '.Q") != NULL;
		}
		free(text);
		snprintf(path, sizeof path, "%s/%s.svg", repdir, figures[i]);
		text = slurp(path, NULL);
		assert_non_null(text);
		in_svg |=
		    strstr(text, "tag=it's \"q\" `touch PWNED2` ',  system\xe2\x80\xa6") != NULL;
		scheme_svg |= strstr(text, "'; system(\"touch PWNED4\"); '") != NULL;
		free(text);
		/* data files hold numbers only */
		snprintf(path, sizeof path, "%s/%s.dat", repdir, figures[i]);
		text = slurp(path, NULL);
		assert_non_null(text);
		assert_null(strstr(text, "PWNED"));
		assert_null(strchr(text, '\''));
		free(text);
	}
	assert_true(found);
	assert_true(in_svg);
	assert_true(found_scheme);
	assert_true(scheme_svg);
}

static void test_docs(void **state)
{
	char path[800];
	char *md, *html;

	(void)state;
	snprintf(path, sizeof path, "%s/report.md", repdir);
	md = slurp(path, NULL);
	snprintf(path, sizeof path, "%s/report.html", repdir);
	html = slurp(path, NULL);
	assert_non_null(md);
	assert_non_null(html);
	for (int i = 0; i < NFIG; i++) {
		snprintf(path, sizeof path, "](%s.png)", figures[i]);
		assert_non_null(strstr(md, path));
		snprintf(path, sizeof path, "<img src=\"%s.png\"", figures[i]);
		assert_non_null(strstr(html, path));
	}
	/* the run name, escaped; its \n became a space */
	assert_non_null(strstr(
	    html, "<h1>wmbench report: small &lt;b&gt;run&lt;/b&gt; &#39;; system(&quot;touch "
		  "PWNED&quot;); &#39; `touch PWNED2` $(touch PWNED3) x</h1>"));
	assert_null(strstr(html, "<b>run"));
	assert_non_null(strstr(md, "# wmbench report: small \\<b\\>run\\</b\\>"));
	assert_non_null(strstr(md, "- job file SHA-256: abc123\n"));
	assert_non_null(strstr(html, "Test CPU"));
	assert_non_null(strstr(html, "FPR 95% CI"));
	free(md);
	free(html);
}

/* Whether the text of file dir/name holds needle. */
static int file_has(const char *dir, const char *name, const char *needle)
{
	char path[1000];
	char *text;
	int found;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	text = slurp(path, NULL);
	if (!text)
		fail_msg("%s missing", path);
	found = strstr(text, needle) != NULL;
	free(text);
	return found;
}

/* Colours, shapes, order and parameter help come from run.json's plug-ins. */
static void test_plugins(void **state)
{
	(void)state;
	assert_true(file_has(repdir, "capacity.gp", "lt_color[1] = '#E69F00'\nlt_pt[1] = 7\n"));
	/* the hostile scheme: its own colour and point type, after uchida (order 7) */
	assert_true(file_has(repdir, "robustness_prune.gp",
			     "lt_color[5] = '" HOSTILE_COLOUR "'\nlt_pt[5] = 9\n"));
	assert_true(file_has(repdir, "embedding_cost.gp", "= '" HOSTILE_COLOUR "'\n"));
	/* the attack-cost twin: passes against clean training (prune 0.2M forward
	 * of 2M; quantize 0.8M), one bar per attack over its settings */
	assert_true(file_has(repdir, "attack_cost.dat", "\n0 6.06 5.630299802 0.1 "));
	assert_true(file_has(repdir, "attack_cost.dat", " 0.4 "));
	assert_true(file_has(repdir, "attack_cost.gp", "'prune (3 settings)'"));
	assert_true(file_has(repdir, "attack_cost.gp", "'quantize (2 settings)'"));
	assert_true(
	    file_has(repdir, "robustness_prune.gp", "lt_color[1] = '#000000'\nlt_pt[1] = 5\n"));
	assert_true(file_has(repdir, "robustness_prune.gp",
			     "\nxlabel = 'prune rate (fraction of weights zeroed)'\n"));
	assert_true(file_has(repdir, "robustness_quantize.gp",
			     "\nxlabel = 'quantize bits (bits per weight)'\n"));
	assert_false(file_has(repdir, "robustness_prune.gp", "#999999"));
	/* the version of the run */
	assert_true(file_has(repdir, "tradeoff.gp", "a figure of wmbench report 0.1.0 "));
	assert_true(file_has(repdir, "report.md", "- report written by wmbench: 0.1.0\n"));
}

/* run.json as the harness writes it, read back by the report. */
static void test_runjson(void **state)
{
	static const char want[] =
	    "{\n  \"wmbench_version\": \"9.9\",\n  \"job_file\": \"jobs/a \\\"b\\\".yaml\",\n"
	    "  \"job_file_sha256\": \"ab12\",\n  \"name\": \"a\\\\b\\u0009c\",\n  \"alpha\": "
	    "0.001,\n"
	    "  \"run_seed\": 18446744073709551615,\n  \"jobs\": 12,\n  \"ranks\": 3,\n"
	    "  \"openblas_threads_per_rank\": 1,\n  \"start\": \"2024-01-01T00:00:00Z\",\n"
	    "  \"end\": null,\n  \"libraries\": {\n    \"mpi\": \"M\",\n    \"openblas\": \"O\",\n"
	    "    \"openblas_core\": \"C\",\n    \"libarchive\": \"A\",\n    \"libyaml\": \"Y\"\n"
	    "  },\n  \"cpu\": \"P\",\n  \"dataset\": \"mnist\",\n  \"dataset_files\": {\n"
	    "    \"/d/x.gz\": \"00ff\",\n    \"/d/y.gz\": \"unreadable\"\n  },\n  \"plugins\": [\n"
	    "    {\"name\": \"none\", \"kind\": \"scheme\", \"order\": 0, \"colour\": \"#000000\", "
	    "\"point\": 5, \"unmarked\": true, \"aux_label\": null},\n"
	    "    {\"name\": \"nullembed\", \"kind\": \"scheme\", \"order\": 5, \"colour\": "
	    "\"#D55E00\", "
	    "\"point\": 15, \"unmarked\": false, \"aux_label\": \"acc \\\"null\\\"\"},\n"
	    "    {\"name\": \"prune\", \"kind\": \"attack\", \"category\": \"model "
	    "modification\", \"threat\": \"weights\", \"params\": {\"rate\": \"fraction\", "
	    "\"scope\": null}}\n  ]\n}\n";
	struct runjson_plugin pl[3], *got;
	struct runjson rj = {
	    .version = "9.9",
	    .job_file = "jobs/a \"b\".yaml",
	    .job_file_sha256 = "ab12",
	    .name = "a\\b\tc",
	    .alpha = 1e-3,
	    .run_seed = 18446744073709551615ull,
	    .jobs = 12,
	    .ranks = 3,
	    .threads_per_rank = 1,
	    .start = "2024-01-01T00:00:00Z",
	    .mpi = "M",
	    .openblas = "O",
	    .openblas_core = "C",
	    .libarchive = "A",
	    .libyaml = "Y",
	    .cpu = "P",
	    .dataset = "mnist",
	    .nfiles = 2,
	    .files = {{"/d/x.gz", "00ff"}, {"/d/y.gz", "unreadable"}},
	    .nplugins = 3,
	    .plugins = pl,
	};
	char dir[700], path[800], err[ERRBUF], v[64];
	char *text;
	int n;

	(void)state;
	memset(pl, 0, sizeof pl);
	strcpy(pl[0].name, "none");
	strcpy(pl[0].kind, "scheme");
	strcpy(pl[0].colour, "#000000");
	pl[0].point = 5;
	pl[0].unmarked = 1;
	strcpy(pl[1].name, "nullembed");
	strcpy(pl[1].kind, "scheme");
	pl[1].order = 5;
	strcpy(pl[1].colour, "#D55E00");
	pl[1].point = 15;
	strcpy(pl[1].aux_label, "acc \"null\"");
	strcpy(pl[2].name, "prune");
	strcpy(pl[2].kind, "attack");
	strcpy(pl[2].category, "model modification");
	strcpy(pl[2].threat, "weights");
	pl[2].nparams = 2;
	strcpy(pl[2].param_key[0], "rate");
	strcpy(pl[2].param_help[0], "fraction");
	strcpy(pl[2].param_key[1], "scope");

	snprintf(dir, sizeof dir, "%s/runjson", tmpdir);
	assert_int_equal(mkdir(dir, 0755), 0);
	if (runjson_write(dir, &rj, err, sizeof err))
		fail_msg("%s", err);
	snprintf(path, sizeof path, "%s/run.json", dir);
	text = slurp(path, NULL);
	assert_non_null(text);
	assert_string_equal(text, want);

	assert_int_equal(runjson_get(text, "name", v, sizeof v), 0);
	assert_string_equal(v, "a\\b\tc");
	assert_int_equal(runjson_get(text, "end", v, sizeof v), 0);
	assert_string_equal(v, "null");
	assert_int_equal(runjson_get(text, "libraries", v, sizeof v), -1);
	assert_int_equal(runjson_get(text, "nothing", v, sizeof v), -1);
	runjson_plugins(text, &got, &n);
	assert_int_equal(n, 3);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(got[i].name, pl[i].name);
		assert_string_equal(got[i].kind, pl[i].kind);
		assert_string_equal(got[i].colour, pl[i].colour);
		assert_string_equal(got[i].aux_label, pl[i].aux_label);
		assert_string_equal(got[i].category, pl[i].category);
		assert_string_equal(got[i].threat, pl[i].threat);
		assert_int_equal(got[i].point, pl[i].point);
		assert_int_equal(got[i].unmarked, pl[i].unmarked);
		assert_int_equal(got[i].nparams, pl[i].nparams);
		for (int k = 0; k < pl[i].nparams; k++) {
			assert_string_equal(got[i].param_key[k], pl[i].param_key[k]);
			assert_string_equal(got[i].param_help[k], pl[i].param_help[k]);
		}
	}
	assert_int_equal(got[1].order, 5);
	assert_int_equal(got[2].order, RUNJSON_NO_ORDER);
	assert_ptr_equal(runjson_plugin_find(got, n, "attack", "prune"), &got[2]);
	assert_null(runjson_plugin_find(got, n, "scheme", "prune"));
	free(got);
	free(text);

	/* without plug-ins: the section is left out, as in runs before it */
	rj.nplugins = 0;
	if (runjson_write(dir, &rj, err, sizeof err))
		fail_msg("%s", err);
	text = slurp(path, NULL);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"/d/y.gz\": \"unreadable\"\n  }\n}\n"));
	runjson_plugins(text, &got, &n);
	assert_int_equal(n, 0);
	free(got);
	free(text);

	/* what the figures cannot use reads as none: a colour that is not #RRGGBB
	 * (it would be written into a gnuplot string), a point type out of range,
	 * an entry without a name */
	runjson_plugins("{\"plugins\": [{\"name\": \"x\", \"kind\": \"scheme\", \"colour\": "
			"\"#12'; system('ls'); '\", \"point\": 1000, \"order\": \"a\"}, {\"kind\": "
			"\"scheme\"}, 3, {\"name\": \"y\", \"colour\": \"#abcdef\"}]}",
			&got, &n);
	assert_int_equal(n, 2);
	assert_string_equal(got[0].name, "x");
	assert_string_equal(got[0].colour, "");
	assert_int_equal(got[0].point, 0);
	assert_int_equal(got[0].order, RUNJSON_NO_ORDER);
	assert_string_equal(got[1].colour, "#abcdef");
	free(got);
	runjson_plugins("{\"plugins\": [{\"name\": ", &got, &n);
	assert_int_equal(n, 0);
	free(got);
}

static void test_bundle(void **state)
{
	char tarpath[700], unpack[700], udir[800], path[1000];
	struct archive *a;
	struct archive_entry *e;
	int nfiles = 0, r;

	(void)state;
	snprintf(tarpath, sizeof tarpath, "%s/run_small.tar.gz", tmpdir);
	a = archive_read_new();
	assert_non_null(a);
	assert_int_equal(archive_read_support_filter_gzip(a), ARCHIVE_OK);
	assert_int_equal(archive_read_support_format_tar(a), ARCHIVE_OK);
	assert_int_equal(archive_read_open_filename(a, tarpath, 10240), ARCHIVE_OK);
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		mode_t type = archive_entry_filetype(e);

		assert_true(name[0] != '/');
		assert_null(strstr(name, ".."));
		assert_true(!strncmp(name, "run_small/", 10) || !strcmp(name, "run_small"));
		assert_true(type == AE_IFREG || type == AE_IFDIR);
		nfiles += type == AE_IFREG;
	}
	assert_int_equal(r, ARCHIVE_EOF);
	assert_int_equal(archive_read_free(a), ARCHIVE_OK);
	assert_true(nfiles > 6 * NFIG);

	snprintf(unpack, sizeof unpack, "%s/unpack", tmpdir);
	assert_int_equal(mkdir(unpack, 0755), 0);
	assert_int_equal(run("cd '%s' && tar xzf '%s'", unpack, tarpath), 0);
	snprintf(udir, sizeof udir, "%s/run_small/report", unpack);
	assert_true(exists(unpack, "run_small/results.csv"));
	assert_true(exists(unpack, "run_small/run.json"));
	assert_true(exists(udir, "summary.csv"));
	assert_true(exists(udir, "controls.csv"));
	assert_true(exists(udir, "report.md"));
	assert_true(exists(udir, "report.html"));
	for (int i = 0; i < NFIG; i++) {
		snprintf(path, sizeof path, "%s/%s.png", udir, figures[i]);
		assert_int_equal(unlink(path), 0);
		assert_int_equal(run("cd '%s' && gnuplot %s.gp 2>gnuplot.err", udir, figures[i]),
				 0);
		check_png(path);
		snprintf(path, sizeof path, "%s/gnuplot.err", udir);
		{
			size_t n;
			char *msg = slurp(path, &n);

			assert_non_null(msg);
			if (n)
				fail_msg("gnuplot %s.gp: %s", figures[i], msg);
			free(msg);
		}
	}
	no_pwned(unpack);
	no_pwned(udir);
	no_pwned(tmpdir);
}

/* The text of every PDF figure lies on its page and no two horizontal words
 * overlap (tests/layout_check.py, from pdftotext -bbox), and gnuplot printed
 * no warning: once with the fonts that make deps installs (Liberation Sans),
 * once with a fontconfig that offers only DejaVu, as on a bare Debian 12. */
static void check_layout(const char *dir, const char *fonts)
{
	char pdfs[4096] = "", path[800];
	size_t n = 0;

	for (int i = 0; i < NFIG; i++) {
		snprintf(path, sizeof path, "%s.log", figures[i]);
		if (exists(dir, path)) {
			char full[1000], *log;

			snprintf(full, sizeof full, "%s/%s", dir, path);
			log = slurp(full, NULL);
			fail_msg("%s: gnuplot warned (%s): %s", full, fonts, log ? log : "");
		}
		n += (size_t)snprintf(pdfs + n, sizeof pdfs - n, " '%s/%s.pdf'", dir, figures[i]);
		assert_true(n < sizeof pdfs);
	}
	if (run("/usr/bin/python3 '%s/layout_check.py'%s", testdir, pdfs))
		fail_msg("figure text off the page or overlapping with %s (lines above)", fonts);
}

static void test_layout(void **state)
{
	char conf[700], dir[700], path[800], err[ERRBUF];
	FILE *f;

	(void)state;
	if (run("fc-match -f '%%{family}' 'Liberation Sans' | grep -q 'Liberation Sans'"))
		fail_msg(
		    "fontconfig has no Liberation Sans: install fonts-liberation2 (make deps)");
	check_layout(repdir, "Liberation Sans");

	/* only DejaVu, with Debian's rules for aliases and fallbacks */
	snprintf(conf, sizeof conf, "%s/fonts-dejavu.conf", tmpdir);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f,
		"<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"fonts.dtd\">\n"
		"<fontconfig>\n  <dir>/usr/share/fonts/truetype/dejavu</dir>\n"
		"  <cachedir>%s/fc-cache</cachedir>\n"
		"  <include ignore_missing=\"yes\">/etc/fonts/conf.d</include>\n</fontconfig>\n",
		tmpdir);
	assert_int_equal(fclose(f), 0);
	snprintf(dir, sizeof dir, "%s/run_dejavu", tmpdir);
	assert_int_equal(mkdir(dir, 0755), 0);
	write_fixture(dir);
	snprintf(path, sizeof path, "%s/run.json", dir);
	write_text(path, "{\n  \"wmbench_version\": \"0.1.0\",\n  \"name\": \"dejavu\"\n}\n");
	setenv("FONTCONFIG_FILE", conf, 1);
	if (run("fc-match -f '%%{family}' 'Liberation Sans' | grep -q 'DejaVu Sans'")) {
		unsetenv("FONTCONFIG_FILE");
		fail_msg("%s: expected fontconfig to offer DejaVu Sans only", conf);
	}
	if (report_run(dir, REPORT_LATEX, err, sizeof err)) {
		unsetenv("FONTCONFIG_FILE");
		fail_msg("report_run with DejaVu only: %s", err);
	}
	unsetenv("FONTCONFIG_FILE");
	snprintf(path, sizeof path, "%s/report", dir);
	check_layout(path, "DejaVu only");
	/* its run.json has no plug-ins: neutral grey, point type 2, no help */
	assert_true(file_has(path, "capacity.gp", "lt_color[1] = '#999999'\nlt_pt[1] = 2\n"));
	assert_false(file_has(path, "robustness_prune.gp", "#E69F00"));
	assert_true(file_has(path, "robustness_prune.gp", "\nxlabel = 'prune rate'\n"));

	/* wide texts with DejaVu: a scheme named in the widest capitals (key
	 * entries, row names) and a long fixed attack parameter (titles over
	 * 250 characters, which gnuplot's recursion once could not measure) */
	snprintf(dir, sizeof dir, "%s/run_wide", tmpdir);
	assert_int_equal(mkdir(dir, 0755), 0);
	write_fixture(dir);
	snprintf(path, sizeof path, "%s/run.json", dir);
	write_text(path, "{\n  \"wmbench_version\": \"0.1.0\",\n  \"name\": \"wide\"\n}\n");
	assert_int_equal(run("sed -i -e 's/,uchida,/,MWMWMWMWMWMWMWMWMWMWMWMWMWMW,/' -e "
			     "'s/,prune,rate=/,prune,note=%s%s%s;rate=/' '%s/results.csv'",
			     "longparameterlongparameterlongparameterlongparameter",
			     "longparameterlongparameterlongparameterlongparameter",
			     "longparameterlongparameterlongparameter", dir),
			 0);
	setenv("FONTCONFIG_FILE", conf, 1);
	if (report_run(dir, REPORT_LATEX, err, sizeof err)) {
		unsetenv("FONTCONFIG_FILE");
		fail_msg("report_run of wide texts with DejaVu only: %s", err);
	}
	unsetenv("FONTCONFIG_FILE");
	snprintf(path, sizeof path, "%s/report", dir);
	assert_true(file_has(path, "robustness_prune.gp", "MWMWMWMWMWMW"));
	check_layout(path, "DejaVu only, wide texts");
}

static void test_errors(void **state)
{
	char err[ERRBUF], dir[700], path[800], hdr[1024], buf[4096], *oldpath;
	struct result_row r;
	FILE *f;

	(void)state;
	/* not a run directory */
	snprintf(dir, sizeof dir, "%s/nothing", tmpdir);
	assert_int_equal(report_run(dir, 0, err, sizeof err), -1);
	assert_non_null(strstr(err, "nothing/results.csv: cannot open: "));
	assert_non_null(strstr(err, "; expected a run directory written by 'wmbench run'"));

	/* a malformed row names its line */
	snprintf(dir, sizeof dir, "%s/bad", tmpdir);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(path, sizeof path, "%s/results.csv", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(result_csv_header(hdr, sizeof hdr) > 0);
	new_row(&r, "train", "none", "", "", "", 1);
	assert_true(result_csv_row(&r, buf, sizeof buf) > 0);
	assert_true(fprintf(f, "%s%sa,b,c\n", hdr, buf) > 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(report_run(dir, 0, err, sizeof err), -1);
	assert_non_null(strstr(err, "bad/results.csv:3: malformed row; expected 35 columns"));

	/* an interrupted last row is left out; figures without data are skipped */
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fprintf(f, "%s%s%.20s", hdr, buf, buf) > 0);
	assert_int_equal(fclose(f), 0);
	if (report_run(dir, 0, err, sizeof err))
		fail_msg("%s", err);
	{
		char *md;

		snprintf(path, sizeof path, "%s/report/report.md", dir);
		md = slurp(path, NULL);
		assert_non_null(md);
		assert_non_null(strstr(md, "line 3 of results.csv is an incomplete last row"));
		assert_non_null(strstr(md, "Figures left out"));
		assert_non_null(
		    strstr(md, "Robustness curves: the run has no successful attack jobs"));
		free(md);
	}
	/* no bundle unless asked for */
	assert_false(exists(tmpdir, "bad.tar.gz"));

	/* no gnuplot: the message names the script and the package */
	snprintf(dir, sizeof dir, "%s/nognuplot", tmpdir);
	assert_int_equal(mkdir(dir, 0755), 0);
	write_fixture(dir);
	oldpath = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	assert_non_null(oldpath);
	setenv("PATH", tmpdir, 1);
	assert_int_equal(report_run(dir, 0, err, sizeof err), -1);
	setenv("PATH", oldpath, 1);
	free(oldpath);
	assert_non_null(strstr(err, "robustness_prune.gp"));
	assert_non_null(strstr(err, "install gnuplot-nox"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stats),   cmocka_unit_test(test_calib_pass),
	    cmocka_unit_test(test_summary), cmocka_unit_test(test_controls),
	    cmocka_unit_test(test_figures), cmocka_unit_test(test_injection),
	    cmocka_unit_test(test_docs),    cmocka_unit_test(test_plugins),
	    cmocka_unit_test(test_runjson), cmocka_unit_test(test_bundle),
	    cmocka_unit_test(test_layout),  cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
