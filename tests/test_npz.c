/* test_npz.c - cmocka tests for workers/npz.c.
 *
 * Usage: test_npz [DIR]. Writes DIR/c_written.npz (checked by npz_numpy.py)
 * and reads DIR/np_*.npz written by numpy, when present. Without DIR a
 * temporary directory is used and removed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "npz.h"
#include "util.h"

static char dir[1024];

static void path_in(char *buf, size_t len, const char *file)
{
	snprintf(buf, len, "%s/%s", dir, file);
}

/* Fills the reference arrays that npz_numpy.py also knows. */
static void build_reference(struct npz *z)
{
	float w[6];
	double s = 3.25;
	int32_t i32[4] = {-2, -1, 0, 2147483647};
	int64_t l[8], sh[3];
	uint8_t u[5] = {0, 1, 127, 128, 255};

	for (int i = 0; i < 6; i++)
		w[i] = 0.5f * (float)i - 1.0f;
	for (int i = 0; i < 8; i++)
		l[i] = (int64_t)i * 10000000000LL - 3;
	sh[0] = 2, sh[1] = 3;
	assert_int_equal(npz_add_f32(z, "w", 2, sh, w), 0);
	assert_int_equal(npz_add(z, "s", NPZ_F64, 0, NULL, &s), 0);
	sh[0] = 4;
	assert_int_equal(npz_add(z, "i", NPZ_I32, 1, sh, i32), 0);
	sh[0] = sh[1] = sh[2] = 2;
	assert_int_equal(npz_add(z, "l", NPZ_I64, 3, sh, l), 0);
	sh[0] = 5;
	assert_int_equal(npz_add(z, "u", NPZ_U8, 1, sh, u), 0);
	assert_int_equal(npz_add_text(z, "meta", "hello npz {'shape': ()}"), 0);
	sh[0] = 0;
	assert_int_equal(npz_add_f32(z, "empty", 1, sh, NULL), 0);
}

static void assert_same(const struct npz *a, const struct npz *b)
{
	assert_int_equal(a->n, b->n);
	for (int i = 0; i < a->n; i++) {
		const struct npz_array *x = &a->a[i], *y = npz_get(b, x->name);

		assert_non_null(y);
		assert_int_equal(x->dtype, y->dtype);
		assert_int_equal(x->ndim, y->ndim);
		assert_int_equal(x->count, y->count);
		for (int d = 0; d < x->ndim; d++)
			assert_int_equal(x->shape[d], y->shape[d]);
		if (x->count)
			assert_memory_equal(x->data, y->data, x->count * npz_dtype_size(x->dtype));
	}
}

static void test_roundtrip(void **state)
{
	struct npz z, r;
	char path[1200], err[ERRBUF];
	struct stat st;
	const struct npz_array *a;

	(void)state;
	npz_init(&z);
	npz_init(&r);
	build_reference(&z);
	path_in(path, sizeof(path), "c_written.npz");
	assert_int_equal(npz_write(&z, path, err, sizeof(err)), 0);
	assert_int_equal(npz_read(&r, path, err, sizeof(err)), 0);
	assert_same(&z, &r);
	a = npz_get(&r, "s");
	assert_int_equal(a->ndim, 0);
	assert_int_equal(a->count, 1);
	assert_true(*(double *)a->data == 3.25);
	a = npz_get(&r, "empty");
	assert_int_equal(a->count, 0);
	assert_int_equal(a->shape[0], 0);
	assert_null(npz_get(&r, "nope"));
	assert_string_equal(npz_dtype_name(NPZ_I64), "int64");
	assert_int_equal(npz_dtype_size(NPZ_F64), 8);

	/* no temporary file left behind; the output is reproducible */
	snprintf(path, sizeof(path), "%s/c_written.npz.tmp.%ld", dir, (long)getpid());
	assert_int_not_equal(stat(path, &st), 0);
	{
		char p2[1200], h1[65], h2[65];

		path_in(p2, sizeof(p2), "again.npz");
		path_in(path, sizeof(path), "c_written.npz");
		assert_int_equal(npz_write(&z, p2, err, sizeof(err)), 0);
		assert_int_equal(sha256_file_hex(path, h1, err, sizeof(err)), 0);
		assert_int_equal(sha256_file_hex(p2, h2, err, sizeof(err)), 0);
		assert_string_equal(h1, h2);
		unlink(p2);
	}

	/* reading into a non-empty set replaces same-name arrays, keeps others */
	npz_free(&r);
	assert_int_equal(npz_add_text(&r, "w", "old"), 0);
	assert_int_equal(npz_add_text(&r, "keep", "k"), 0);
	assert_int_equal(npz_read(&r, path, err, sizeof(err)), 0);
	assert_int_equal(r.n, z.n + 1);
	assert_int_equal(npz_get(&r, "w")->dtype, NPZ_F32);
	assert_non_null(npz_get(&r, "keep"));
	npz_free(&z);
	npz_free(&r);
}

static void test_empty_archive(void **state)
{
	struct npz z, r;
	char path[1200], err[ERRBUF];

	(void)state;
	npz_init(&z);
	npz_init(&r);
	path_in(path, sizeof(path), "empty.npz");
	assert_int_equal(npz_write(&z, path, err, sizeof(err)), 0);
	assert_int_equal(npz_read(&r, path, err, sizeof(err)), 0);
	assert_int_equal(r.n, 0);
	unlink(path);
}

static void test_replace(void **state)
{
	struct npz z;
	float f[3] = {1, 2, 3};
	int32_t v = 7;
	int64_t sh[1] = {3};
	const struct npz_array *a;

	(void)state;
	npz_init(&z);
	assert_int_equal(npz_add_f32(&z, "x", 1, sh, f), 0);
	f[0] = 99; /* npz_add copied the data */
	assert_true(((float *)npz_get(&z, "x")->data)[0] == 1.0f);
	assert_int_equal(npz_add_f32(&z, "y", 1, sh, f), 0);
	assert_int_equal(npz_add(&z, "x", NPZ_I32, 0, NULL, &v), 0);
	assert_int_equal(z.n, 2);
	a = npz_get(&z, "x");
	assert_int_equal(a->dtype, NPZ_I32);
	assert_int_equal(a->ndim, 0);
	assert_int_equal(a->count, 1);
	assert_int_equal(*(int32_t *)a->data, 7);
	/* replacing an array with a copy of its own data */
	a = npz_get(&z, "y");
	assert_int_equal(npz_add_f32(&z, "y", 1, a->shape, a->data), 0);
	assert_true(((float *)npz_get(&z, "y")->data)[0] == 99.0f);
	/* many arrays force the table to grow */
	for (int i = 0; i < 40; i++) {
		char name[16];

		snprintf(name, sizeof(name), "a%d", i);
		assert_int_equal(npz_add(&z, name, NPZ_I32, 0, NULL, &i), 0);
	}
	assert_int_equal(z.n, 42);
	assert_int_equal(*(int32_t *)npz_get(&z, "a39")->data, 39);
	npz_free(&z);
	assert_int_equal(z.n, 0);
}

static void test_invalid_add(void **state)
{
	struct npz z;
	char longname[NPZ_NAMELEN + 1];
	int64_t sh[NPZ_MAXDIM + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
	int64_t huge[2] = {INT64_MAX, INT64_MAX};
	float f = 1;

	(void)state;
	npz_init(&z);
	memset(longname, 'a', NPZ_NAMELEN);
	longname[NPZ_NAMELEN] = 0;
	assert_int_equal(npz_add_f32(&z, "", 0, NULL, &f), -1);
	assert_int_equal(npz_add_f32(&z, NULL, 0, NULL, &f), -1);
	assert_int_equal(npz_add_f32(&z, longname, 0, NULL, &f), -1);
	longname[NPZ_NAMELEN - 1] = 0;
	assert_int_equal(npz_add_f32(&z, longname, 0, NULL, &f), 0);
	assert_int_equal(npz_add_f32(&z, "bad\n", 0, NULL, &f), -1);
	assert_int_equal(npz_add_f32(&z, "x", NPZ_MAXDIM + 1, sh, &f), -1);
	assert_int_equal(npz_add_f32(&z, "x", NPZ_MAXDIM, sh, &f), 0);
	assert_int_equal(npz_add_f32(&z, "x", -1, sh, &f), -1);
	sh[0] = -1;
	assert_int_equal(npz_add_f32(&z, "x", 1, sh, &f), -1);
	sh[0] = 2;
	assert_int_equal(npz_add_f32(&z, "x", 1, sh, NULL), -1);
	assert_int_equal(npz_add_f32(&z, "x", 2, huge, &f), -1);
	assert_int_equal(npz_add(&z, "x", (enum npz_dtype)42, 0, NULL, &f), -1);
	assert_int_equal(z.n, 2);
	npz_free(&z);
}

static void test_text(void **state)
{
	struct npz z, r;
	char buf[64], path[1200], err[ERRBUF];
	float f = 0;

	(void)state;
	npz_init(&z);
	npz_init(&r);
	assert_int_equal(npz_add_text(&z, "t", "scheme=foo\nkey=bar"), 0);
	assert_int_equal(npz_add_text(&z, "e", ""), 0);
	assert_int_equal(npz_add_f32(&z, "f", 0, NULL, &f), 0);
	path_in(path, sizeof(path), "text.npz");
	assert_int_equal(npz_write(&z, path, err, sizeof(err)), 0);
	assert_int_equal(npz_read(&r, path, err, sizeof(err)), 0);
	assert_int_equal(npz_get_text(&r, "t", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "scheme=foo\nkey=bar");
	assert_int_equal(npz_get_text(&r, "e", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(npz_get_text(&r, "t", buf, 7), 0);
	assert_string_equal(buf, "scheme");
	assert_int_equal(npz_get_text(&r, "f", buf, sizeof(buf)), -1);
	assert_int_equal(npz_get_text(&r, "absent", buf, sizeof(buf)), -1);
	unlink(path);
	npz_free(&z);
	npz_free(&r);
}

static void assert_fails(const char *path, const char *needle)
{
	struct npz z;
	char err[ERRBUF] = "";
	float f = 5;

	npz_init(&z);
	assert_int_equal(npz_add_f32(&z, "pre", 0, NULL, &f), 0);
	if (npz_read(&z, path, err, sizeof(err)) == 0)
		fail_msg("%s: read succeeded, expected failure with '%s'", path, needle);
	if (!strstr(err, path) || (needle && !strstr(err, needle)))
		fail_msg("message '%s' lacks '%s' or the path", err, needle ? needle : "");
	assert_int_equal(z.n, 1); /* a failed read leaves z unchanged */
	npz_free(&z);
}

static void test_missing(void **state)
{
	char path[1200];

	(void)state;
	path_in(path, sizeof(path), "does_not_exist.npz");
	assert_fails(path, "No such file");
}

static void test_truncated(void **state)
{
	struct npz z;
	char path[1200], err[ERRBUF];
	struct stat st;

	(void)state;
	npz_init(&z);
	build_reference(&z);
	path_in(path, sizeof(path), "trunc.npz");
	assert_int_equal(npz_write(&z, path, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	for (off_t n = st.st_size - 1; n >= 0; n -= (n > 200 ? 7 : 1)) {
		assert_int_equal(truncate(path, n), 0);
		assert_fails(path, NULL);
	}
	unlink(path);
	npz_free(&z);
}

/* Flipping any single byte never crashes; a flip in member data is caught. */
static void test_bitflip(void **state)
{
	struct npz z, r;
	char path[1200], err[ERRBUF];
	unsigned char *buf;
	long n;
	FILE *f;

	(void)state;
	npz_init(&z);
	build_reference(&z);
	path_in(path, sizeof(path), "flip.npz");
	assert_int_equal(npz_write(&z, path, err, sizeof(err)), 0);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = xmalloc((size_t)n);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	for (long i = 0; i < n; i++) {
		buf[i] ^= 0x5a;
		f = fopen(path, "wb");
		fwrite(buf, 1, (size_t)n, f);
		fclose(f);
		npz_init(&r);
		if (npz_read(&r, path, err, sizeof(err)))
			assert_non_null(strstr(err, path));
		npz_free(&r);
		buf[i] ^= 0x5a;
	}
	/* the first stored data byte of member "w" is covered by the CRC */
	for (long i = 0; i + 6 < n; i++) {
		if (!memcmp(buf + i, "\x93NUMPY", 6)) {
			buf[i + 70] ^= 1;
			break;
		}
	}
	f = fopen(path, "wb");
	fwrite(buf, 1, (size_t)n, f);
	fclose(f);
	assert_fails(path, "w.npy");
	free(buf);
	unlink(path);
	npz_free(&z);
}

/* Writes a zip holding one member with the given raw .npy bytes. */
static void write_raw(const char *path, const char *member, const void *p, size_t n)
{
	struct archive *ar = archive_write_new();
	struct archive_entry *e = archive_entry_new();

	assert_int_equal(archive_write_set_format_zip(ar), ARCHIVE_OK);
	assert_int_equal(archive_write_set_bytes_in_last_block(ar, 1), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(ar, path), ARCHIVE_OK);
	archive_entry_set_pathname(e, member);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)n);
	assert_int_equal(archive_write_header(ar, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(ar, p, n), (la_ssize_t)n);
	archive_entry_free(e);
	assert_int_equal(archive_write_close(ar), ARCHIVE_OK);
	archive_write_free(ar);
}

/* Builds a version-1.0 .npy from a header dict and ndata data bytes. */
static size_t make_npy(unsigned char *buf, int version, const char *dict, size_t ndata)
{
	size_t hl = version == 1 ? 2 : 4, n = strlen(dict);

	memcpy(buf, "\x93NUMPY", 6);
	buf[6] = (unsigned char)version;
	buf[7] = 0;
	buf[8] = (unsigned char)(n & 0xff);
	buf[9] = (unsigned char)(n >> 8);
	buf[10] = buf[11] = 0;
	memcpy(buf + 8 + hl, dict, n);
	memset(buf + 8 + hl + n, 0x3f, ndata);
	return 8 + hl + n + ndata;
}

static void test_corrupt_members(void **state)
{
	static const struct {
		int version;
		const char *dict;
		size_t ndata;
		const char *needle;
	} cases[] = {
	    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (100,), }\n", 12, "truncated"},
	    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", 12, "longer"},
	    {1, "{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }\n", 12, "big-endian"},
	    {1, "{'descr': '|O', 'fortran_order': False, 'shape': (3,), }\n", 24, "object"},
	    {1, "{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }\n", 24, "not supported"},
	    {1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }\n", 12,
	     "structured"},
	    {1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }\n", 12, "Fortran"},
	    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }\n", 4,
	     "at most"},
	    {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }\n",
	     8, "overflow"},
	    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n", 8,
	     "absurd"},
	    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}\n", 12,
	     "unknown key"},
	    {1, "{'descr': '<f4', 'shape': (3,), }\n", 12, "lacks"},
	    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,) \n", 12, "malformed"},
	    {1, "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (3,), }\n", 12, "malformed"},
	    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }\n", 12, "malformed"},
	    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), } x\n", 12, "malformed"},
	    {1, "{'descr: '<f4', 'fortran_order': False, 'shape': (3,), }\n", 12, "malformed"},
	    {4, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", 12, "version 4.0"},
	};
	unsigned char buf[512];
	char path[1200], err[ERRBUF];
	struct npz r;
	size_t n;

	(void)state;
	path_in(path, sizeof(path), "bad.npz");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = make_npy(buf, cases[i].version, cases[i].dict, cases[i].ndata);
		write_raw(path, "bad.npy", buf, n);
		assert_fails(path, cases[i].needle);
		assert_fails(path, "bad.npy");
	}
	/* bad magic, header shorter than its stated length, wrong member name */
	n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", 12);
	buf[1] = 'X';
	write_raw(path, "bad.npy", buf, n);
	assert_fails(path, "magic");
	buf[1] = 'N';
	write_raw(path, "bad.npy", buf, 30);
	assert_fails(path, "truncated");
	write_raw(path, "bad.txt", buf, n);
	assert_fails(path, "bad.txt");
	/* version 2.0 and 3.0 headers, 'L' suffixes and a header without a
	 * trailing comma parse fine */
	n = make_npy(buf, 2, "{'descr': '<i8', 'fortran_order': False, 'shape': (1L,)}", 8);
	write_raw(path, "v2.npy", buf, n);
	npz_init(&r);
	assert_int_equal(npz_read(&r, path, err, sizeof(err)), 0);
	assert_int_equal(npz_get(&r, "v2")->count, 1);
	npz_free(&r);
	n = make_npy(buf, 3, "{\"descr\": \"|b1\", \"fortran_order\": False, \"shape\": (2, 1)}",
		     2);
	write_raw(path, "v3.npy", buf, n);
	assert_int_equal(npz_read(&r, path, err, sizeof(err)), 0);
	assert_int_equal(npz_get(&r, "v3")->dtype, NPZ_U8);
	assert_int_equal(npz_get(&r, "v3")->ndim, 2);
	npz_free(&r);
	unlink(path);
}

/* A zip bomb: one deflated member whose .npy header honestly says (1 << 25,)
 * float32, 128 MB of zeros that deflate to about 128 KB. Refused from its
 * header, before 128 MB are allocated or unpacked. */
static void test_zip_bomb(void **state)
{
	static const char dict[] =
	    "{'descr': '<f4', 'fortran_order': False, 'shape': (33554432,), }\n";
	struct archive *ar = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	size_t chunk = 1 << 20, total = (size_t)1 << 27, hn;
	unsigned char hdr[128], *zeros = calloc(chunk, 1);
	char path[1200];

	(void)state;
	path_in(path, sizeof(path), "bomb.npz");
	hn = make_npy(hdr, 1, dict, 0);
	assert_int_equal(archive_write_set_format_zip(ar), ARCHIVE_OK);
	assert_int_equal(archive_write_set_options(ar, "zip:compression=deflate"), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(ar, path), ARCHIVE_OK);
	archive_entry_set_pathname(e, "w.npy");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)(hn + total));
	assert_int_equal(archive_write_header(ar, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(ar, hdr, hn), (la_ssize_t)hn);
	for (size_t n = 0; n < total; n += chunk)
		assert_int_equal(archive_write_data(ar, zeros, chunk), (la_ssize_t)chunk);
	archive_entry_free(e);
	assert_int_equal(archive_write_close(ar), ARCHIVE_OK);
	archive_write_free(ar);
	free(zeros);
	assert_fails(path, "zip bomb");
	assert_fails(path, "w.npy: the .npy header claims");
	unlink(path);
}

/* Two members of the same name: the second would replace the first. */
static void test_duplicate_members(void **state)
{
	static const char dict[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n";
	struct archive *ar = archive_write_new();
	unsigned char buf[256];
	char path[1200];
	size_t n = make_npy(buf, 1, dict, 12);

	(void)state;
	path_in(path, sizeof(path), "dup.npz");
	assert_int_equal(archive_write_set_format_zip(ar), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(ar, path), ARCHIVE_OK);
	for (int i = 0; i < 2; i++) {
		struct archive_entry *e = archive_entry_new();

		archive_entry_set_pathname(e, "fc1.weight.npy");
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)n);
		assert_int_equal(archive_write_header(ar, e), ARCHIVE_OK);
		assert_int_equal(archive_write_data(ar, buf, n), (la_ssize_t)n);
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(ar), ARCHIVE_OK);
	archive_write_free(ar);
	assert_fails(path, "fc1.weight.npy: member appears twice");
	unlink(path);
}

/* Reads the files npz_numpy.py wrote with numpy.savez and savez_compressed. */
/* A write that the system refuses names the cause, not only libarchive's
 * "Write error": a file-size limit (EFBIG, any user), and a full tmpfs
 * (ENOSPC; root only: mount needs it, else skipped). No file is left. */
static void test_write_cause(void **state)
{
	struct npz z;
	char path[1200], err[ERRBUF];
	static float big[256 * 1024];
	int64_t shape = 256 * 1024;
	struct rlimit old, small = {64 * 1024, 64 * 1024};

	(void)state;
	npz_init(&z);
	assert_int_equal(npz_add_f32(&z, "w", 1, &shape, big), 0);
	snprintf(path, sizeof path, "%s/limit.npz", dir);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small.rlim_max = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	int rc = npz_write(&z, path, err, sizeof err);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	printf("# over the file-size limit: %s\n", err);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, strerror(EFBIG)));
	assert_int_equal(access(path, F_OK), -1);
	/* a full disk */
	char mnt[1100];
	snprintf(mnt, sizeof mnt, "%s/small", dir);
	assert_int_equal(mkdir(mnt, 0755), 0);
	if (geteuid() != 0 || mount("tmpfs", mnt, "tmpfs", 0, "size=512k")) {
		printf("# no tmpfs mount here (needs root): the full-disk case is not run\n");
		rmdir(mnt);
		npz_free(&z);
		return;
	}
	snprintf(path, sizeof path, "%s/full.npz", mnt);
	rc = npz_write(&z, path, err, sizeof err);
	printf("# on a full tmpfs: %s\n", err);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, strerror(ENOSPC)));
	assert_int_equal(access(path, F_OK), -1);
	umount(mnt);
	rmdir(mnt);
	npz_free(&z);
}

static void test_numpy_files(void **state)
{
	static const char *const files[] = {"np_savez.npz", "np_savez_compressed.npz"};
	char path[1200], err[ERRBUF];
	const struct npz_array *a;
	struct npz r;
	struct stat st;

	(void)state;
	path_in(path, sizeof(path), files[0]);
	if (stat(path, &st))
		skip();
	for (int k = 0; k < 2; k++) {
		path_in(path, sizeof(path), files[k]);
		npz_init(&r);
		if (npz_read(&r, path, err, sizeof(err)))
			fail_msg("%s", err);
		assert_int_equal(r.n, 7);
		a = npz_get(&r, "f32");
		assert_int_equal(a->dtype, NPZ_F32);
		assert_int_equal(a->ndim, 2);
		assert_int_equal(a->shape[0], 3);
		assert_int_equal(a->shape[1], 4);
		for (int i = 0; i < 12; i++)
			assert_true(((float *)a->data)[i] == (float)i / 4);
		a = npz_get(&r, "f64");
		assert_int_equal(a->dtype, NPZ_F64);
		assert_true(((double *)a->data)[0] == 1.5 && ((double *)a->data)[2] == 1e300);
		a = npz_get(&r, "i32");
		assert_int_equal(a->dtype, NPZ_I32);
		for (int i = 0; i < 6; i++)
			assert_int_equal(((int32_t *)a->data)[i], i - 3);
		a = npz_get(&r, "i64");
		assert_int_equal(a->dtype, NPZ_I64);
		assert_int_equal(((int64_t *)a->data)[0], 1LL << 40);
		assert_int_equal(((int64_t *)a->data)[1], -5);
		a = npz_get(&r, "u8");
		assert_int_equal(a->dtype, NPZ_U8);
		assert_int_equal(a->count, 256);
		for (int i = 0; i < 256; i++)
			assert_int_equal(((uint8_t *)a->data)[i], i);
		a = npz_get(&r, "b");
		assert_int_equal(a->dtype, NPZ_U8);
		assert_memory_equal(a->data, "\1\0\1", 3);
		a = npz_get(&r, "scalar");
		assert_int_equal(a->ndim, 0);
		assert_true(*(double *)a->data == 3.25);
		npz_free(&r);
	}
	path_in(path, sizeof(path), "np_fortran.npz");
	assert_fails(path, "Fortran");
	assert_fails(path, "f.npy");
	path_in(path, sizeof(path), "np_bigendian.npz");
	assert_fails(path, "big-endian");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_empty_archive),
	    cmocka_unit_test(test_replace),
	    cmocka_unit_test(test_invalid_add),
	    cmocka_unit_test(test_text),
	    cmocka_unit_test(test_missing),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_bitflip),
	    cmocka_unit_test(test_corrupt_members),
	    cmocka_unit_test(test_numpy_files),
	    cmocka_unit_test(test_zip_bomb),
	    cmocka_unit_test(test_duplicate_members),
	    cmocka_unit_test(test_write_cause),
	};
	int own = argc < 2, ret;

	if (own) {
		strlcopy(dir, "/tmp/test_npz.XXXXXX", sizeof(dir));
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			return 1;
		}
	} else {
		strlcopy(dir, argv[1], sizeof(dir));
	}
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	if (own) {
		char p[1200];

		path_in(p, sizeof(p), "c_written.npz");
		unlink(p);
		rmdir(dir);
	}
	return ret;
}
