/* keyreg.c - the key registry of keyreg.h. */
#define _GNU_SOURCE /* strptime, timegm */
#include "keyreg.h"
#include "../workers/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int keyreg_parse_time(const char *s, const char *what, long long *t, char *err, size_t errlen)
{
	char *end;
	struct tm tm;

	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (*s && !*end && !errno && v >= 0) {
		*t = v;
		return 0;
	}
	memset(&tm, 0, sizeof tm);
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return errf(err, errlen,
			    "%s '%s' is not a time; expected seconds since 1970 or UTC ISO 8601 "
			    "(YYYY-MM-DDTHH:MM:SSZ)",
			    what, s);
	*t = (long long)timegm(&tm);
	return 0;
}

/* Each line after the header: 64 hex digits, a space, the unix time, a
 * space, the ISO time, a space, the key file's name. */
static int parse_line(const char *line, char hex[65], long long *t)
{
	char h[65];
	long long v;
	int n = 0;

	if (sscanf(line, "%64s %lld%n", h, &v, &n) != 2 || strlen(h) != 64 ||
	    strspn(h, "0123456789abcdef") != 64 || v < 0)
		return -1;
	memcpy(hex, h, 65);
	*t = v;
	return 0;
}

static int scan(const char *registry, const char *hex, long long *when, char *err, size_t errlen)
{
	FILE *f = fopen(registry, "r");
	char line[2048], h[65];
	int ln = 0, found = 0;
	long long t;

	if (!f) {
		if (errno == ENOENT)
			return 0;
		return errf(err, errlen, "%s: cannot read the registry: %s", registry,
			    strerror(errno));
	}
	while (fgets(line, sizeof line, f)) {
		ln++;
		if (ln == 1 && strncmp(line, KEYREG_HEADER, strlen(KEYREG_HEADER))) {
			fclose(f);
			return errf(err, errlen,
				    "%s:1: not a wmbench key registry; expected the header '%s'",
				    registry, KEYREG_HEADER);
		}
		if (ln == 1 || line[0] == '\n')
			continue;
		if (parse_line(line, h, &t)) {
			fclose(f);
			return errf(err, errlen,
				    "%s:%d: malformed line; expected 'SHA256 UNIX_TIME ISO_TIME "
				    "KEY_FILE' with 64 lower-case hex digits",
				    registry, ln);
		}
		if (!strcmp(h, hex) && (!found || t < *when)) {
			found = 1;
			*when = t;
		}
	}
	fclose(f);
	return found;
}

int keyreg_lookup(const char *registry, const char *keyfile, long long *when, char hex[65],
		  char *err, size_t errlen)
{
	if (sha256_file_hex(keyfile, hex, err, errlen))
		return -1;
	return scan(registry, hex, when, err, errlen);
}

int keyreg_add(const char *registry, const char *keyfile, long long when, char *err, size_t errlen)
{
	char hex[65], line[1400], iso[32];
	long long first;
	time_t tt = (time_t)when;
	struct tm tm;
	int rc = keyreg_lookup(registry, keyfile, &first, hex, err, errlen);

	if (rc < 0)
		return -1;
	if (rc == 1)
		return errf(
		    err, errlen,
		    "%s: key %s (SHA-256 %.16s...) is registered already, at %lld; expected "
		    "a key not yet registered (the first registration counts)",
		    registry, keyfile, hex, first);
	gmtime_r(&tt, &tm);
	strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
	const char *base = strrchr(keyfile, '/');
	int fd = open(registry, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd < 0)
		return errf(err, errlen, "%s: cannot open the registry for appending: %s", registry,
			    strerror(errno));
	off_t end = lseek(fd, 0, SEEK_END);
	int n = 0;
	if (end == 0)
		n = snprintf(line, sizeof line, "%s\n", KEYREG_HEADER);
	n += snprintf(line + n, sizeof line - (size_t)n, "%s %lld %s %s\n", hex, when, iso,
		      base ? base + 1 : keyfile);
	if (n >= (int)sizeof line || write(fd, line, (size_t)n) != n || fsync(fd)) {
		int e = errno;
		if (end >= 0 && ftruncate(fd, end))
			e = errno;
		close(fd);
		return errf(err, errlen, "%s: cannot write the registry: %s", registry,
			    strerror(e));
	}
	close(fd);
	return 0;
}
