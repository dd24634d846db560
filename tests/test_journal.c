/* test_journal.c - results.csv's group commit (harness/journal.c): rows wait
 * in the open group until JOURNAL_GROUP_ROWS of them or JOURNAL_GROUP_MS,
 * one write per group and an fsync on the journal's own thread; flush and
 * close wait for it; a failed fsync is reported once; a row is never
 * half-written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../harness/coord.h"
#include "../harness/job.h"
#include "../reports/results.h"
#include "../workers/util.h"

static char dir[64];

static int lines_on_disk(void)
{
	char path[128];
	int n = 0, c;
	snprintf(path, sizeof path, "%s/results.csv", dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n - 1; /* the header */
}

static void row(struct result_row *r, int i)
{
	memset(r, 0, sizeof *r);
	snprintf(r->job_id, sizeof r->job_id, "%016x", i);
	strcpy(r->kind, "train");
	strcpy(r->status, "ok");
	r->removed = r->forged = r->success = -1;
}

static void test_group_commit(void **state)
{
	struct journal jl;
	struct result_row r;
	char err[ERRBUF];

	(void)state;
	strcpy(dir, "/tmp/wmjournal.XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(journal_open(&jl, dir, err, sizeof err), 0);
	/* a few rows: buffered, nothing on disk yet, not even after a tick */
	for (int i = 0; i < 5; i++) {
		row(&r, i);
		assert_int_equal(journal_append(&jl, &r, err, sizeof err), 0);
	}
	assert_int_equal(journal_tick(&jl, err, sizeof err), 0);
	assert_int_equal(lines_on_disk(), 0);
	assert_int_equal(jl.commits, 0);
	/* the oldest has waited JOURNAL_GROUP_MS: the tick commits all five */
	struct timespec ts = {0, (long)(1e6 * JOURNAL_GROUP_MS) + 1000000};
	nanosleep(&ts, NULL);
	assert_int_equal(journal_tick(&jl, err, sizeof err), 0);
	assert_int_equal(lines_on_disk(), 5);
	assert_int_equal(jl.commits, 1);
	/* a full group commits by itself, in one write + fsync */
	for (int i = 0; i < JOURNAL_GROUP_ROWS; i++) {
		row(&r, 100 + i);
		assert_int_equal(journal_append(&jl, &r, err, sizeof err), 0);
	}
	assert_int_equal(lines_on_disk(), 5 + JOURNAL_GROUP_ROWS);
	assert_int_equal(jl.commits, 2);
	/* close commits the open group */
	row(&r, 999);
	assert_int_equal(journal_append(&jl, &r, err, sizeof err), 0);
	assert_int_equal(lines_on_disk(), 5 + JOURNAL_GROUP_ROWS);
	assert_int_equal(journal_close(&jl, err, sizeof err), 0);
	assert_int_equal(lines_on_disk(), 6 + JOURNAL_GROUP_ROWS);
	/* every row reads back whole */
	struct result_row *rows;
	int n;
	assert_int_equal(journal_read(dir, &rows, &n, err, sizeof err), 0);
	assert_int_equal(n, 6 + JOURNAL_GROUP_ROWS);
	assert_string_equal(rows[n - 1].job_id, "00000000000003e7");
	free(rows);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* The fsync runs on the journal's thread: journal_flush returns once every
 * written row is fsynced (nothing asked or running, at least one fsync per
 * flush); a failed fsync (the journal's descriptor swapped for a pipe, which
 * cannot be fsynced: EINVAL) is reported by the next flush, once, and makes
 * close fail; the same without the thread. */
static void test_fsync_thread(void **state)
{
	struct journal jl;
	struct result_row r;
	char err[ERRBUF];
	int fds[2];

	(void)state;
	strcpy(dir, "/tmp/wmjournal.XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(journal_open(&jl, dir, err, sizeof err), 0);
	assert_true(jl.th_on);
	for (int k = 0; k < 3; k++) {
		for (int i = 0; i < 7; i++) {
			row(&r, 10 * k + i);
			assert_int_equal(journal_append(&jl, &r, err, sizeof err), 0);
		}
		assert_int_equal(journal_flush(&jl, err, sizeof err), 0);
		pthread_mutex_lock(&jl.mu);
		assert_int_equal(jl.want, 0);
		assert_int_equal(jl.busy, 0);
		assert_true(jl.syncs >= k + 1);
		pthread_mutex_unlock(&jl.mu);
		assert_int_equal(lines_on_disk(), 7 * (k + 1));
	}
	assert_true(journal_fsync_seconds(&jl) >= 0);
	/* a descriptor that cannot be fsynced */
	assert_int_equal(pipe(fds), 0);
	int saved = dup(jl.fd);
	assert_true(saved >= 0);
	assert_true(dup2(fds[1], jl.fd) >= 0);
	row(&r, 100);
	assert_int_equal(journal_append(&jl, &r, err, sizeof err), 0);
	assert_int_equal(journal_flush(&jl, err, sizeof err), -1);
	assert_non_null(strstr(err, "fsync failed"));
	assert_non_null(strstr(err, strerror(EINVAL)));
	/* reported once: back on the file, the next flush is clean; but the
	 * run's close fails, since rows written before it may be lost */
	assert_true(dup2(saved, jl.fd) >= 0);
	close(saved);
	close(fds[0]);
	close(fds[1]);
	row(&r, 101);
	assert_int_equal(journal_append(&jl, &r, err, sizeof err), 0);
	assert_int_equal(journal_flush(&jl, err, sizeof err), 0);
	assert_int_equal(journal_close(&jl, err, sizeof err), -1);
	assert_non_null(strstr(err, "an fsync failed during the run"));
	assert_non_null(strstr(err, strerror(EINVAL)));
	assert_int_equal(lines_on_disk(), 22); /* the pipe got row 100 */
	/* without the thread (an MPI library that allows none): inline fsyncs,
	 * the same reports */
	journal_thread_ok = 0;
	assert_int_equal(journal_open(&jl, dir, err, sizeof err), 0);
	assert_false(jl.th_on);
	row(&r, 200);
	assert_int_equal(journal_append(&jl, &r, err, sizeof err), 0);
	assert_int_equal(journal_flush(&jl, err, sizeof err), 0);
	assert_true(jl.syncs >= 1);
	assert_int_equal(pipe(fds), 0);
	saved = dup(jl.fd);
	assert_true(dup2(fds[1], jl.fd) >= 0);
	row(&r, 201);
	assert_int_equal(journal_append(&jl, &r, err, sizeof err), 0);
	assert_int_equal(journal_flush(&jl, err, sizeof err), -1);
	assert_non_null(strstr(err, "fsync failed"));
	assert_true(dup2(saved, jl.fd) >= 0);
	close(saved);
	close(fds[0]);
	close(fds[1]);
	assert_int_equal(journal_close(&jl, err, sizeof err), -1);
	assert_non_null(strstr(err, "may not be on disk"));
	journal_thread_ok = 1;
	assert_int_equal(lines_on_disk(), 23);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_group_commit),
	    cmocka_unit_test(test_fsync_thread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
