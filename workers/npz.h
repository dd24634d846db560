/* npz.h - NumPy .npz archives (a zip of .npy arrays), through libarchive.
 *
 * Models and keys are stored as .npz so that numpy.load() opens them and a
 * model trained elsewhere can be exported with numpy.savez(). Text metadata
 * travels as 1-d uint8 arrays (read in Python with bytes(a).decode()). */
#ifndef WM_NPZ_H
#define WM_NPZ_H

#include <stddef.h>
#include <stdint.h>

enum npz_dtype { NPZ_F32, NPZ_F64, NPZ_I32, NPZ_I64, NPZ_U8 };

#define NPZ_MAXDIM  8
#define NPZ_NAMELEN 128

struct npz_array {
	char name[NPZ_NAMELEN]; /* without the ".npy" suffix */
	enum npz_dtype dtype;
	int ndim;
	int64_t shape[NPZ_MAXDIM];
	size_t count; /* product of shape (1 for ndim == 0) */
	void *data;   /* count elements of dtype, C order, native little-endian */
};

struct npz {
	int n, cap;
	struct npz_array *a;
};

void npz_init(struct npz *z);
void npz_free(struct npz *z);
size_t npz_dtype_size(enum npz_dtype dt);
const char *npz_dtype_name(enum npz_dtype dt); /* "float32", ... */
/* Adds a copy of data (count = product of shape elements). Replaces an array of
 * the same name. Returns 0, or -1 if the name or shape is invalid. */
int npz_add(struct npz *z, const char *name, enum npz_dtype dt, int ndim, const int64_t *shape,
	    const void *data);
int npz_add_text(struct npz *z, const char *name, const char *text);
int npz_add_f32(struct npz *z, const char *name, int ndim, const int64_t *shape, const float *d);
const struct npz_array *npz_get(const struct npz *z, const char *name); /* NULL if absent */
/* Copies a text array into buf (NUL-terminated); -1 if absent or not uint8. */
int npz_get_text(const struct npz *z, const char *name, char *buf, size_t len);
/* Writes PATH.tmp.<pid> then renames it over PATH (atomic on one filesystem). */
int npz_write(const struct npz *z, const char *path, char *err, size_t errlen);
/* Reads every array. Accepts numpy.savez and savez_compressed output, .npy
 * format versions 1.0/2.0/3.0, dtypes <f4 <f8 <i4 <i8 |u1 (and |b1 as u8).
 * Rejects big-endian, Fortran order, object arrays, truncated or corrupt
 * members with a message naming the file and the member. */
int npz_read(struct npz *z, const char *path, char *err, size_t errlen);

#endif
