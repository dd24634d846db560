/* journal.c - results.csv: appended, flushed, never rewritten in place. */
#include "coord.h"
#include "../reports/results.h"
#include "../workers/util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int journal_thread_ok = 1;

/* The fsync thread: one fsync per wake-up, covering every group written
 * before it; ends when asked to, after the sync it was asked for. */
static void *sync_main(void *arg)
{
	struct journal *jl = arg;
	pthread_mutex_lock(&jl->mu);
	for (;;) {
		while (!jl->want && !jl->stop)
			pthread_cond_wait(&jl->ask, &jl->mu);
		if (!jl->want)
			break;
		jl->want = 0;
		jl->busy = 1;
		pthread_mutex_unlock(&jl->mu);
		double t0 = now_seconds();
		int bad = fsync(jl->fd), e = errno;
		double dt = now_seconds() - t0;
		pthread_mutex_lock(&jl->mu);
		jl->fsync_s += dt;
		jl->syncs++;
		if (bad)
			jl->sync_errno = jl->sync_failed = e;
		jl->busy = 0;
		pthread_cond_broadcast(&jl->done);
	}
	pthread_mutex_unlock(&jl->mu);
	return NULL;
}

int journal_open(struct journal *jl, const char *rundir, char *err, size_t errlen)
{
	struct stat st;
	memset(jl, 0, sizeof *jl);
	snprintf(jl->path, sizeof jl->path, "%s/results.csv", rundir);
	jl->fd = open(jl->path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (jl->fd < 0)
		return errf(err, errlen, "%s: cannot open for appending: %s", jl->path,
			    strerror(errno));
	if (fstat(jl->fd, &st) == 0 && st.st_size == 0) {
		char head[1024];
		int n = result_csv_header(head, sizeof head);
		if (write(jl->fd, head, (size_t)n) != n || fsync(jl->fd))
			return errf(err, errlen, "%s: cannot write the header: %s", jl->path,
				    strerror(errno));
	}
	pthread_mutex_init(&jl->mu, NULL);
	pthread_cond_init(&jl->ask, NULL);
	pthread_cond_init(&jl->done, NULL);
	/* without the thread (not allowed, or it could not start), commits
	 * fsync inline; the thread blocks every signal, so that SIGTERM and
	 * SIGINT reach the coordinator's thread, as before */
	if (journal_thread_ok) {
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		jl->th_on = !pthread_create(&jl->th, NULL, sync_main, jl);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	return 0;
}

/* An fsync of what was written: asked of the thread, or (no thread) done
 * here; with wait, returns after it. Either way reports, once, an earlier
 * fsync that failed. */
static int journal_sync(struct journal *jl, int wait, char *err, size_t errlen)
{
	int e;
	if (!jl->th_on) {
		double t0 = now_seconds();
		int bad = fsync(jl->fd);
		e = bad ? errno : 0;
		jl->fsync_s += now_seconds() - t0;
		jl->syncs++;
		if (e)
			jl->sync_failed = e;
	} else {
		pthread_mutex_lock(&jl->mu);
		jl->want = 1;
		pthread_cond_signal(&jl->ask);
		while (wait && (jl->want || jl->busy))
			pthread_cond_wait(&jl->done, &jl->mu);
		e = jl->sync_errno;
		jl->sync_errno = 0;
		pthread_mutex_unlock(&jl->mu);
	}
	return e ? errf(err, errlen, "%s: fsync failed: %s", jl->path, strerror(e)) : 0;
}

int journal_commit(struct journal *jl, char *err, size_t errlen)
{
	if (!jl->nbuf || jl->fd < 0)
		return 0;
	off_t end = lseek(jl->fd, 0, SEEK_END);
	ssize_t w = write(jl->fd, jl->buf, jl->len);
	if (w != (ssize_t)jl->len) {
		int e = w < 0 ? errno : ENOSPC; /* a short write: the disk filled up */
		/* never leave a fragment that later rows would be appended to */
		if (end >= 0 && ftruncate(jl->fd, end))
			e = errno;
		return errf(err, errlen, "%s: cannot write %d rows (kept for the next commit): %s",
			    jl->path, jl->nbuf, strerror(e));
	}
	jl->commits++;
	jl->len = 0;
	jl->nbuf = 0;
	return journal_sync(jl, 0, err, errlen);
}

/* The clock of the group window: the real one, or the simulated one of
 * harness/coord_sim.c. */
static double journal_now(const struct journal *jl)
{
	return jl->clock ? jl->clock(jl->clock_ctx) : now_seconds();
}

int journal_append(struct journal *jl, const struct result_row *r, char *err, size_t errlen)
{
	char line[4096];
	int n = result_csv_row(r, line, sizeof line);
	if (n <= 0 || n >= (int)sizeof line || line[n - 1] != '\n')
		return errf(err, errlen, "%s: row for job %s does not fit in one line", jl->path,
			    r->job_id);
	if (jl->len + (size_t)n > jl->cap) {
		jl->cap = jl->cap ? 2 * jl->cap : 64 * 1024;
		while (jl->cap < jl->len + (size_t)n)
			jl->cap *= 2;
		jl->buf = xrealloc(jl->buf, jl->cap);
	}
	memcpy(jl->buf + jl->len, line, (size_t)n);
	jl->len += (size_t)n;
	if (!jl->nbuf++)
		jl->t_first = journal_now(jl);
	return jl->nbuf >= JOURNAL_GROUP_ROWS ? journal_commit(jl, err, errlen) : 0;
}

int journal_tick(struct journal *jl, char *err, size_t errlen)
{
	if (jl->nbuf && 1e3 * (journal_now(jl) - jl->t_first) >= JOURNAL_GROUP_MS)
		return journal_commit(jl, err, errlen);
	return 0;
}

int journal_flush(struct journal *jl, char *err, size_t errlen)
{
	char e2[PATHLEN + 128];
	int rc = journal_commit(jl, err, errlen);
	if (jl->fd >= 0 && journal_sync(jl, 1, e2, sizeof e2)) {
		size_t n = rc && err ? strlen(err) : 0;
		if (!rc)
			errf(err, errlen, "%s", e2);
		else if (err && n + 3 < errlen) /* both messages */
			snprintf(err + n, errlen - n, "; %s", e2);
		rc = -1;
	}
	return rc;
}

double journal_fsync_seconds(struct journal *jl)
{
	double t;
	if (!jl->th_on)
		return jl->fsync_s;
	pthread_mutex_lock(&jl->mu);
	t = jl->fsync_s;
	pthread_mutex_unlock(&jl->mu);
	return t;
}

int journal_close(struct journal *jl, char *err, size_t errlen)
{
	int rc = journal_flush(jl, err, errlen);
	if (jl->th_on) { /* idle after the flush: stop it, then its fields are ours */
		pthread_mutex_lock(&jl->mu);
		jl->stop = 1;
		pthread_cond_signal(&jl->ask);
		pthread_mutex_unlock(&jl->mu);
		pthread_join(jl->th, NULL);
		jl->th_on = 0;
		pthread_mutex_destroy(&jl->mu);
		pthread_cond_destroy(&jl->ask);
		pthread_cond_destroy(&jl->done);
	}
	/* a failed fsync was reported when it happened; the run still ends
	 * with an error, since rows written before it may not be on disk */
	if (jl->sync_failed && !rc)
		rc = errf(err, errlen,
			  "%s: an fsync failed during the run (%s), so rows written before it "
			  "may not be on disk; run the same command again to resume",
			  jl->path, strerror(jl->sync_failed));
	if (jl->fd >= 0)
		close(jl->fd);
	jl->fd = -1;
	free(jl->buf);
	jl->buf = NULL;
	jl->len = jl->cap = 0;
	return rc;
}

/* The length of path's bytes up to its last newline (a torn last line, no
 * newline, belonged to a job in flight), read from the end. */
static int whole_length(FILE *f, off_t size, off_t *keep)
{
	char buf[4096];
	off_t end = size;

	while (end > 0) {
		size_t n = end < (off_t)sizeof buf ? (size_t)end : sizeof buf;
		if (fseeko(f, end - (off_t)n, SEEK_SET) || fread(buf, 1, n, f) != n)
			return -1;
		for (size_t k = n; k > 0; k--)
			if (buf[k - 1] == '\n') {
				*keep = end - (off_t)(n - k);
				return 0;
			}
		end -= (off_t)n;
	}
	*keep = 0;
	return 0;
}

int journal_scan(const char *rundir, int (*fn)(void *ctx, const struct result_row *r), void *ctx,
		 char *err, size_t errlen)
{
	char path[PATHLEN + 32], want[2048];
	struct stat st;
	struct result_row *row;
	char *line = NULL;
	size_t cap = 0;
	off_t keep, at = 0;
	int lineno = 0, rc = 0;

	snprintf(path, sizeof path, "%s/results.csv", rundir);
	if (stat(path, &st))
		return 0; /* a new run */
	FILE *f = fopen(path, "r");
	if (!f)
		return errf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
	if (whole_length(f, st.st_size, &keep)) {
		fclose(f);
		return errf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
	}
	if (keep < st.st_size && truncate(path, keep)) {
		fclose(f);
		return errf(err, errlen, "%s: cannot drop the torn last line: %s", path,
			    strerror(errno));
	}
	int wl = result_csv_header(want, sizeof want);
	if (wl > 0 && want[wl - 1] == '\n')
		want[wl - 1] = 0;
	row = xmalloc(sizeof *row);
	rewind(f);
	/* one line at a time: memory does not grow with the journal */
	while (!rc && at < keep) {
		ssize_t n = getline(&line, &cap, f);
		if (n <= 0)
			break;
		at += n;
		if (line[n - 1] == '\n')
			line[--n] = 0;
		if (!n)
			continue; /* empty lines are neither counted nor rows */
		if (++lineno == 1) {
			if (wl > 0 && strcmp(line, want))
				rc = errf(err, errlen,
					  "%s:1: the header is not this wmbench's (a run directory "
					  "from another version, whose columns differ); expected "
					  "'%.60s...' with %d columns: start a new run directory",
					  path, want, result_csv_ncols());
			continue;
		}
		if (result_csv_parse(line, row))
			rc = errf(err, errlen,
				  "%s:%d: malformed row; expected %s columns as written by wmbench",
				  path, lineno, "the documented");
		else
			rc = fn(ctx, row);
	}
	free(line);
	free(row);
	fclose(f);
	return rc;
}

struct read_ctx {
	struct result_row *rows;
	int n, cap;
};

static int collect(void *ctx, const struct result_row *r)
{
	struct read_ctx *c = ctx;

	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->rows = xrealloc(c->rows, (size_t)c->cap * sizeof *c->rows);
	}
	c->rows[c->n++] = *r;
	return 0;
}

int journal_read(const char *rundir, struct result_row **rows, int *n, char *err, size_t errlen)
{
	struct read_ctx c = {NULL, 0, 0};

	*rows = NULL;
	*n = 0;
	if (journal_scan(rundir, collect, &c, err, errlen)) {
		free(c.rows);
		return -1;
	}
	*rows = c.rows ? c.rows : xmalloc(sizeof **rows);
	*n = c.n;
	return 0;
}
