/* bundle.c - RUNDIR.tar.gz: results.csv, run.json and report/. */
#include "report_int.h"
#include "../workers/util.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int tar_fail(struct archive *a, const char *path, char *err, size_t errlen)
{
	return errf(err, errlen, "%s: cannot write the bundle: %s", path,
		    archive_error_string(a) ? archive_error_string(a) : "unknown libarchive error");
}

static int tar_dir(struct archive *a, const char *tarpath, const char *name, time_t mtime,
		   char *err, size_t errlen)
{
	struct archive_entry *e = archive_entry_new();
	int rc = 0;

	if (!e)
		return errf(err, errlen, "%s: out of memory", tarpath);
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFDIR);
	archive_entry_set_perm(e, 0755);
	archive_entry_set_mtime(e, mtime, 0);
	if (archive_write_header(a, e) != ARCHIVE_OK)
		rc = tar_fail(a, tarpath, err, errlen);
	archive_entry_free(e);
	return rc;
}

/* Adds the regular file src as name; anything else is left out. */
static int tar_file(struct archive *a, const char *tarpath, const char *src, const char *name,
		    char *err, size_t errlen)
{
	struct archive_entry *e;
	struct stat st;
	char buf[65536];
	FILE *f;
	size_t n;
	int rc = 0;

	if (lstat(src, &st) || !S_ISREG(st.st_mode))
		return 0;
	f = fopen(src, "rb");
	if (!f)
		return errf(err, errlen, "%s: cannot open: %s", src, strerror(errno));
	e = archive_entry_new();
	if (!e) {
		fclose(f);
		return errf(err, errlen, "%s: out of memory", tarpath);
	}
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, st.st_size);
	archive_entry_set_mtime(e, st.st_mtime, 0);
	if (archive_write_header(a, e) != ARCHIVE_OK) {
		rc = tar_fail(a, tarpath, err, errlen);
		goto out;
	}
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		if (archive_write_data(a, buf, n) != (la_ssize_t)n) {
			rc = tar_fail(a, tarpath, err, errlen);
			goto out;
		}
	if (ferror(f))
		rc = errf(err, errlen, "%s: cannot read: %s", src, strerror(errno ? errno : EIO));
out:
	archive_entry_free(e);
	fclose(f);
	return rc;
}

int write_bundle(struct report *R, char *err, size_t errlen)
{
	char abs[PATH_MAX], tarpath[PATH_MAX + 16], tmp[PATH_MAX + 32], src[FILELEN + 300];
	char name[PATH_MAX + 300];
	const char *base;
	struct dirent **ents = NULL;
	struct archive *a;
	int nents, rc = -1;
	time_t now = time(NULL);

	if (!realpath(R->rundir, abs))
		return errf(err, errlen, "%s: cannot resolve: %s", R->rundir, strerror(errno));
	base = strrchr(abs, '/');
	base = base ? base + 1 : abs;
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return errf(err, errlen,
			    "%s: cannot bundle the root directory; expected a run directory",
			    R->rundir);
	snprintf(tarpath, sizeof tarpath, "%s.tar.gz", abs);
	snprintf(tmp, sizeof tmp, "%s.tmp", tarpath);
	a = archive_write_new();
	if (!a)
		return errf(err, errlen, "%s: out of memory", tarpath);
	if (archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
	    archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_open_filename(a, tmp) != ARCHIVE_OK) {
		rc = tar_fail(a, tmp, err, errlen);
		archive_write_free(a);
		return rc;
	}
	nents = scandir(R->repdir, &ents, NULL, alphasort);
	if (nents < 0) {
		errf(err, errlen, "%s: cannot list: %s", R->repdir, strerror(errno));
		goto out;
	}
	if (tar_dir(a, tmp, base, now, err, errlen))
		goto out;
	snprintf(src, sizeof src, "%s/results.csv", R->rundir);
	snprintf(name, sizeof name, "%s/results.csv", base);
	if (tar_file(a, tmp, src, name, err, errlen))
		goto out;
	snprintf(src, sizeof src, "%s/run.json", R->rundir);
	snprintf(name, sizeof name, "%s/run.json", base);
	if (tar_file(a, tmp, src, name, err, errlen))
		goto out;
	snprintf(name, sizeof name, "%s/report", base);
	if (tar_dir(a, tmp, name, now, err, errlen))
		goto out;
	for (int i = 0; i < nents; i++) {
		if (ents[i]->d_name[0] == '.')
			continue;
		snprintf(src, sizeof src, "%s/%s", R->repdir, ents[i]->d_name);
		snprintf(name, sizeof name, "%s/report/%s", base, ents[i]->d_name);
		if (tar_file(a, tmp, src, name, err, errlen))
			goto out;
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		tar_fail(a, tmp, err, errlen);
		goto out;
	}
	if (rename(tmp, tarpath)) {
		errf(err, errlen, "%s: cannot write: %s", tarpath, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	archive_write_free(a);
	if (rc)
		unlink(tmp);
	for (int i = 0; i < nents; i++)
		free(ents[i]);
	free(ents);
	return rc;
}
