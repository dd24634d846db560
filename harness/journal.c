/* journal.c - results.csv: appended, flushed, never rewritten in place. */
#include "coord.h"
#include "../reports/results.h"
#include "../workers/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	return 0;
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
	double t0 = now_seconds();
	int bad = fsync(jl->fd);
	jl->fsync_s += now_seconds() - t0;
	if (bad)
		return errf(err, errlen, "%s: fsync failed: %s", jl->path, strerror(errno));
	jl->commits++;
	jl->len = 0;
	jl->nbuf = 0;
	return 0;
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
		jl->t_first = now_seconds();
	return jl->nbuf >= JOURNAL_GROUP_ROWS ? journal_commit(jl, err, errlen) : 0;
}

int journal_tick(struct journal *jl, char *err, size_t errlen)
{
	if (jl->nbuf && 1e3 * (now_seconds() - jl->t_first) >= JOURNAL_GROUP_MS)
		return journal_commit(jl, err, errlen);
	return 0;
}

int journal_close(struct journal *jl, char *err, size_t errlen)
{
	int rc = journal_commit(jl, err, errlen);
	if (jl->fd >= 0)
		close(jl->fd);
	jl->fd = -1;
	free(jl->buf);
	jl->buf = NULL;
	jl->len = jl->cap = 0;
	return rc;
}

int journal_read(const char *rundir, struct result_row **rows, int *n, char *err, size_t errlen)
{
	char path[PATHLEN + 32];
	struct stat st;
	snprintf(path, sizeof path, "%s/results.csv", rundir);
	*rows = NULL;
	*n = 0;
	if (stat(path, &st))
		return 0; /* a new run */
	FILE *f = fopen(path, "r");
	if (!f)
		return errf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
	char *buf = xmalloc((size_t)st.st_size + 1);
	size_t len = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	buf[len] = 0;
	/* a torn last line (no newline) belonged to a job in flight: drop it */
	size_t keep = len;
	while (keep > 0 && buf[keep - 1] != '\n')
		keep--;
	if (keep < len && truncate(path, (off_t)keep)) {
		free(buf);
		return errf(err, errlen, "%s: cannot drop the torn last line: %s", path,
			    strerror(errno));
	}
	buf[keep] = 0;
	int cap = 64, lineno = 0;
	*rows = xmalloc((size_t)cap * sizeof **rows);
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (++lineno == 1) {
			char want[2048];
			int wl = result_csv_header(want, sizeof want);
			if (wl > 0 && want[wl - 1] == '\n')
				want[wl - 1] = 0;
			if (wl > 0 && strcmp(line, want)) {
				free(buf);
				free(*rows);
				*rows = NULL;
				return errf(
				    err, errlen,
				    "%s:1: the header is not this wmbench's (a run directory "
				    "from another version, whose columns differ); expected "
				    "'%.60s...' with %d columns: start a new run directory",
				    path, want, result_csv_ncols());
			}
			continue; /* header */
		}
		if (*n == cap) {
			cap *= 2;
			*rows = realloc(*rows, (size_t)cap * sizeof **rows);
		}
		if (result_csv_parse(line, &(*rows)[*n])) {
			free(buf);
			free(*rows);
			*rows = NULL;
			return errf(
			    err, errlen,
			    "%s:%d: malformed row; expected %s columns as written by wmbench", path,
			    lineno, "the documented");
		}
		(*n)++;
	}
	free(buf);
	return 0;
}
