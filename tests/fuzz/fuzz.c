/* fuzz.c - the temporary files of the libFuzzer targets (fuzz.h). */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

/* At exit: the files the targets wrote (no subdirectories), then dir. */
static void remove_dir(void)
{
	char path[384];
	struct dirent *e;
	DIR *d = opendir(dir);

	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' && snprintf(path, sizeof path, "%s/%s", dir, e->d_name) > 0)
			unlink(path);
	if (d)
		closedir(d);
	rmdir(dir);
}

const char *fz_dir(void)
{
	if (!dir[0]) {
		/* /dev/shm when there is one: a memory file system, no disk I/O */
		strcpy(dir,
		       access("/dev/shm", W_OK) ? "/tmp/wmfuzz.XXXXXX" : "/dev/shm/wmfuzz.XXXXXX");
		if (!mkdtemp(dir)) {
			perror("fuzz: mkdtemp");
			abort();
		}
		atexit(remove_dir);
	}
	return dir;
}

void fz_write(const char *name, const uint8_t *p, size_t n, char *path, size_t len)
{
	FILE *f;

	if ((size_t)snprintf(path, len, "%s/%s", fz_dir(), name) >= len)
		abort();
	f = fopen(path, "wb");
	if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f)) {
		perror(path);
		abort();
	}
}
