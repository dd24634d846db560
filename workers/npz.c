/* npz.c - NumPy .npz archives (a zip of .npy arrays), through libarchive. */
#include "npz.h"
#include "util.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npz.c stores array data as-is and needs a little-endian host"
#endif

#define NPY_MAXHDR (1 << 20) /* sanity bound on a .npy header dict */
#define EXP_HDR	   "expected {'descr': '<f4', 'fortran_order': False, 'shape': (...), }"

static const struct {
	const char *descr, *name;
	size_t size;
} dtypes[] = {
    [NPZ_F32] = {"<f4", "float32", 4}, [NPZ_F64] = {"<f8", "float64", 8},
    [NPZ_I32] = {"<i4", "int32", 4},   [NPZ_I64] = {"<i8", "int64", 8},
    [NPZ_U8] = {"|u1", "uint8", 1},
};

size_t npz_dtype_size(enum npz_dtype dt)
{
	return (unsigned)dt <= NPZ_U8 ? dtypes[dt].size : 0;
}

const char *npz_dtype_name(enum npz_dtype dt)
{
	return (unsigned)dt <= NPZ_U8 ? dtypes[dt].name : "invalid";
}

void npz_init(struct npz *z)
{
	memset(z, 0, sizeof(*z));
}

void npz_free(struct npz *z)
{
	for (int i = 0; i < z->n; i++)
		free(z->a[i].data);
	free(z->a);
	npz_init(z);
}

/* Element count of a shape; -1 if a dim is negative or bytes overflow. */
static int shape_count(int ndim, const int64_t *shape, size_t itemsize, size_t *count)
{
	size_t c = 1;

	if (ndim < 0 || ndim > NPZ_MAXDIM || !itemsize)
		return -1;
	for (int i = 0; i < ndim; i++) {
		if (shape[i] < 0 || (uint64_t)shape[i] > SIZE_MAX)
			return -1;
		if (shape[i] && c > SIZE_MAX / itemsize / (size_t)shape[i])
			return -1;
		c *= (size_t)shape[i];
	}
	*count = c;
	return 0;
}

static int name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (!n || n >= NPZ_NAMELEN)
		return 0;
	for (; *name; name++)
		if ((unsigned char)*name < 0x20 || *name == 0x7f)
			return 0;
	return 1;
}

/* Stores an array whose data buffer z now owns, replacing one of that name. */
static void put(struct npz *z, const char *name, enum npz_dtype dt, int ndim, const int64_t *shape,
		size_t count, void *data)
{
	struct npz_array *a = (struct npz_array *)npz_get(z, name);

	if (a) {
		free(a->data);
	} else {
		if (z->n == z->cap) {
			int cap = z->cap ? 2 * z->cap : 8;
			struct npz_array *na = xcalloc((size_t)cap, sizeof(*na));

			if (z->n)
				memcpy(na, z->a, (size_t)z->n * sizeof(*na));
			free(z->a);
			z->a = na;
			z->cap = cap;
		}
		a = &z->a[z->n++];
	}
	memset(a, 0, sizeof(*a));
	strlcopy(a->name, name, sizeof(a->name));
	a->dtype = dt;
	a->ndim = ndim;
	if (ndim)
		memcpy(a->shape, shape, (size_t)ndim * sizeof(*shape));
	a->count = count;
	a->data = data;
}

int npz_add(struct npz *z, const char *name, enum npz_dtype dt, int ndim, const int64_t *shape,
	    const void *data)
{
	size_t count, nbytes;
	void *copy;

	if (!name_ok(name) || (unsigned)dt > NPZ_U8 || (ndim && !shape) ||
	    shape_count(ndim, shape, npz_dtype_size(dt), &count))
		return -1;
	nbytes = count * npz_dtype_size(dt);
	if (nbytes && !data)
		return -1;
	copy = xmalloc(nbytes);
	if (nbytes)
		memcpy(copy, data, nbytes);
	put(z, name, dt, ndim, shape, count, copy);
	return 0;
}

int npz_add_text(struct npz *z, const char *name, const char *text)
{
	int64_t n;

	if (!text)
		return -1;
	n = (int64_t)strlen(text);
	return npz_add(z, name, NPZ_U8, 1, &n, text);
}

int npz_add_f32(struct npz *z, const char *name, int ndim, const int64_t *shape, const float *d)
{
	return npz_add(z, name, NPZ_F32, ndim, shape, d);
}

const struct npz_array *npz_get(const struct npz *z, const char *name)
{
	for (int i = 0; i < z->n; i++)
		if (!strcmp(z->a[i].name, name))
			return &z->a[i];
	return NULL;
}

int npz_get_text(const struct npz *z, const char *name, char *buf, size_t len)
{
	const struct npz_array *a = npz_get(z, name);
	size_t n;

	if (!a || a->dtype != NPZ_U8 || !len)
		return -1;
	n = a->count < len - 1 ? a->count : len - 1;
	if (n)
		memcpy(buf, a->data, n);
	buf[n] = 0;
	return 0;
}

/* ---- writing ---- */

/* Builds a version 1.0 .npy header whose length is a multiple of 64. */
static size_t npy_header(const struct npz_array *a, char *buf, size_t len)
{
	char shape[NPZ_MAXDIM * 24 + 8];
	size_t n = 0, hlen;
	int i;

	n += (size_t)snprintf(shape + n, sizeof(shape) - n, "(");
	for (i = 0; i < a->ndim; i++)
		n += (size_t)snprintf(shape + n, sizeof(shape) - n, "%s%lld", i ? ", " : "",
				      (long long)a->shape[i]);
	snprintf(shape + n, sizeof(shape) - n, "%s)", a->ndim == 1 ? "," : "");
	n = (size_t)snprintf(buf + 10, len - 10,
			     "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
			     dtypes[a->dtype].descr, shape);
	hlen = (n + 10 + 1 + 63) / 64 * 64 - 10;
	memset(buf + 10 + n, ' ', hlen - n - 1);
	buf[10 + hlen - 1] = '\n';
	memcpy(buf, "\x93NUMPY\x01\x00", 8);
	buf[8] = (char)(hlen & 0xff);
	buf[9] = (char)(hlen >> 8);
	return 10 + hlen;
}

/* libarchive's message with the system's cause when it has one ("Write
 * error" alone does not say that the disk is full). Valid until the next
 * call. */
static const char *ar_why(struct archive *ar)
{
	static char buf[400];
	const char *s = archive_error_string(ar);
	int e = archive_errno(ar);

	if (e > 0 && (!s || !strstr(s, strerror(e))))
		snprintf(buf, sizeof buf, "%s: %s", s ? s : "error", strerror(e));
	else
		snprintf(buf, sizeof buf, "%s", s ? s : "unknown error");
	return buf;
}

static int write_all(struct archive *ar, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		la_ssize_t w = archive_write_data(ar, c, n);

		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int write_members(struct archive *ar, const struct npz *z, const char *path, char *err,
			 size_t errlen)
{
	char hdr[512], member[NPZ_NAMELEN + 8];

	for (int i = 0; i < z->n; i++) {
		const struct npz_array *a = &z->a[i];
		size_t hl, nbytes = a->count * npz_dtype_size(a->dtype);
		struct archive_entry *e;
		int r;

		snprintf(member, sizeof(member), "%s.npy", a->name);
		if ((unsigned)a->dtype > NPZ_U8 || a->ndim < 0 || a->ndim > NPZ_MAXDIM)
			return errf(
			    err, errlen,
			    "%s: %s: array has dtype %d, ndim %d; expected one built by npz_add",
			    path, member, (int)a->dtype, a->ndim);
		hl = npy_header(a, hdr, sizeof(hdr));
		e = archive_entry_new();
		archive_entry_set_pathname(e, member);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)(hl + nbytes));
		archive_entry_set_mtime(e, 315532800 + 86400, 0); /* fixed: reproducible bytes */
		r = archive_write_header(ar, e);
		archive_entry_free(e);
		if (r != ARCHIVE_OK || write_all(ar, hdr, hl) || write_all(ar, a->data, nbytes))
			return errf(err, errlen,
				    "%s: %s: cannot write member (libarchive: %s); expected a "
				    "writable zip stream",
				    path, member, ar_why(ar));
	}
	return 0;
}

int npz_write(const struct npz *z, const char *path, char *err, size_t errlen)
{
	char tmp[4096];
	struct archive *ar = NULL;
	int fd, ret = -1;

	/* mkstemp: unique even for ranks on different hosts with the same pid */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp))
		return errf(err, errlen, "%s: path is too long; expected at most %zu bytes", path,
			    sizeof(tmp) - 32);
	fd = mkstemp(tmp);
	if (fd >= 0)
		fchmod(fd, 0644);
	if (fd < 0)
		return errf(
		    err, errlen,
		    "%s: cannot create temporary file %s: %s; expected a writable directory", path,
		    tmp, strerror(errno));
	ar = archive_write_new();
	if (archive_write_set_format_zip(ar) != ARCHIVE_OK ||
	    archive_write_set_options(ar, "zip:compression=store") != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(ar, 1) != ARCHIVE_OK ||
	    archive_write_open_fd(ar, fd) != ARCHIVE_OK) {
		errf(err, errlen,
		     "%s: cannot set up the zip writer (libarchive: %s); expected libarchive with "
		     "zip support",
		     path, archive_error_string(ar));
		goto out;
	}
	if (write_members(ar, z, path, err, errlen))
		goto out;
	if (archive_write_close(ar) != ARCHIVE_OK) {
		errf(err, errlen,
		     "%s: cannot finish the zip archive (libarchive: %s); expected a writable file",
		     path, ar_why(ar));
		goto out;
	}
	if (fsync(fd)) {
		errf(err, errlen, "%s: fsync of %s failed: %s; expected a working filesystem", path,
		     tmp, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	archive_write_free(ar);
	if (close(fd) && !ret) {
		ret = errf(err, errlen, "%s: close of %s failed: %s; expected a working filesystem",
			   path, tmp, strerror(errno));
	}
	if (!ret && rename(tmp, path))
		ret = errf(err, errlen,
			   "%s: cannot rename %s over it: %s; expected a writable directory", path,
			   tmp, strerror(errno));
	if (ret)
		unlink(tmp);
	return ret;
}

/* ---- reading ---- */

struct npy_hdr {
	char descr[32];
	int fortran, ndim;
	int64_t shape[NPZ_MAXDIM];
};

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	return s;
}

static const char *parse_str(const char *s, char *out, size_t n)
{
	char q = *s;
	size_t i = 0;

	if (q != '\'' && q != '"')
		return NULL;
	for (s++; *s && *s != q; s++) {
		if (*s == '\\' || i + 1 >= n)
			return NULL;
		out[i++] = *s;
	}
	out[i] = 0;
	return *s == q ? s + 1 : NULL;
}

/* Parses "(d0, d1, ...)"; sets *why on failure. */
static const char *parse_shape(const char *s, struct npy_hdr *h, const char **why)
{
	if (*s != '(')
		return NULL;
	for (s = skip_ws(s + 1); *s != ')'; s = skip_ws(s)) {
		int64_t v = 0;

		if (*s < '0' || *s > '9')
			return NULL;
		for (; *s >= '0' && *s <= '9'; s++) {
			if (v > (INT64_MAX - 9) / 10) {
				*why = "a dimension in 'shape' is absurdly large; expected a shape "
				       "whose byte size fits in memory";
				return NULL;
			}
			v = v * 10 + (*s - '0');
		}
		if (*s == 'L') /* Python 2 long */
			s++;
		if (h->ndim == NPZ_MAXDIM) {
			*why =
			    "'shape' has more than 8 dimensions; expected at most NPZ_MAXDIM (8)";
			return NULL;
		}
		h->shape[h->ndim++] = v;
		s = skip_ws(s);
		if (*s == ',')
			s++;
		else if (*s != ')')
			return NULL;
	}
	return s + 1;
}

/* Parses the header dict; returns NULL or "what was wrong; expected ...". */
static const char *parse_header(const char *s, struct npy_hdr *h)
{
	const char *why = "the header dict is malformed; " EXP_HDR;
	char key[32];
	int seen = 0;

	memset(h, 0, sizeof(*h));
	s = skip_ws(s);
	if (*s++ != '{')
		return why;
	for (s = skip_ws(s); *s != '}'; s = skip_ws(s)) {
		if (!(s = parse_str(s, key, sizeof(key))))
			return why;
		s = skip_ws(s);
		if (*s++ != ':')
			return why;
		s = skip_ws(s);
		if (!strcmp(key, "descr")) {
			if (*s == '[')
				return "the dtype is structured (a record list); expected a plain "
				       "numeric dtype";
			s = parse_str(s, h->descr, sizeof(h->descr));
			seen |= 1;
		} else if (!strcmp(key, "fortran_order")) {
			h->fortran = !strncmp(s, "True", 4);
			if (h->fortran)
				s += 4;
			else
				s = strncmp(s, "False", 5) ? NULL : s + 5;
			seen |= 2;
		} else if (!strcmp(key, "shape")) {
			s = parse_shape(s, h, &why);
			seen |= 4;
		} else {
			return "the header dict has an unknown key; expected only 'descr', "
			       "'fortran_order' and 'shape'";
		}
		if (!s)
			return why;
		s = skip_ws(s);
		if (*s == ',')
			s++;
		else if (*s != '}')
			return why;
	}
	if (seen != 7)
		return "the header dict lacks 'descr', 'fortran_order' or 'shape'; " EXP_HDR;
	return *skip_ws(s + 1) ? why : NULL;
}

/* Reads exactly n bytes of the current member: 0, 1 if it ends first, -1 on error. */
static int get(struct archive *ar, void *buf, size_t n)
{
	for (size_t got = 0; got < n;) {
		la_ssize_t r = archive_read_data(ar, (char *)buf + got, n - got);

		if (r <= 0)
			return r < 0 ? -1 : 1;
		got += (size_t)r;
	}
	return 0;
}

#define FAIL(fmt, ...)                                                                             \
	do {                                                                                       \
		errf(err, errlen, "%s: %s: " fmt, path, member, ##__VA_ARGS__);                    \
		goto out;                                                                          \
	} while (0)

/* Reads one member into z; *left is what the archive of fsize bytes may
 * still unpack to (unpack_max), checked against the .npy header's claims
 * before anything is allocated. */
static int read_member(struct archive *ar, struct archive_entry *e, struct npz *z, const char *path,
		       const char *member, int64_t fsize, uint64_t *left, char *err, size_t errlen)
{
	size_t mlen = strlen(member), count, nbytes = 0, hlen, hl;
	uint64_t msize;
	unsigned char pre[12] = {0};
	char name[NPZ_NAMELEN], *text = NULL;
	const char *why;
	struct npy_hdr h;
	void *data = NULL;
	int i, r, ret = -1;

	if (mlen < 5 || mlen - 4 >= NPZ_NAMELEN || strcmp(member + mlen - 4, ".npy"))
		FAIL(
		    "member is not <name>.npy; expected an array name of 1..%d bytes plus \".npy\"",
		    NPZ_NAMELEN - 1);
	memcpy(name, member, mlen - 4);
	name[mlen - 4] = 0;
	if (!name_ok(name))
		FAIL("array name contains control characters; expected a printable name");
	if (npz_get(z, name))
		FAIL("member appears twice in the archive; expected each array once (a second "
		     "copy would silently replace the first)");
	if ((r = get(ar, pre, 10)))
		goto rd;
	if (memcmp(pre, "\x93NUMPY", 6))
		FAIL("not a .npy array (bad magic); expected data starting with \\x93NUMPY");
	if (pre[6] < 1 || pre[6] > 3 || pre[7] != 0)
		FAIL(".npy format version %d.%d is not supported; expected 1.0, 2.0 or 3.0", pre[6],
		     pre[7]);
	hl = pre[6] == 1 ? 2 : 4;
	if (hl == 4 && (r = get(ar, pre + 10, 2)))
		goto rd;
	hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
	if (hlen > NPY_MAXHDR)
		FAIL(".npy header length %zu is absurd; expected at most %d bytes", hlen,
		     NPY_MAXHDR);
	if (hlen + 12 > *left)
		goto bomb;
	text = xmalloc(hlen + 1);
	if ((r = get(ar, text, hlen)))
		goto rd;
	text[hlen] = 0;
	if (strlen(text) != hlen)
		FAIL("the .npy header contains a NUL byte; " EXP_HDR);
	if ((why = parse_header(text, &h)))
		FAIL("%s", why);
	for (i = 0; i <= NPZ_U8 && strcmp(h.descr, dtypes[i].descr); i++)
		;
	if (!strcmp(h.descr, "|b1"))
		i = NPZ_U8;
	if (i > NPZ_U8)
		FAIL("dtype '%s' is %s; expected one of '<f4' '<f8' '<i4' '<i8' '|u1' '|b1'",
		     h.descr,
		     h.descr[0] == '>' ? "big-endian (save a.astype(a.dtype.newbyteorder('<')))"
		     : strchr(h.descr, 'O') ? "an object array"
					    : "not supported");
	if (h.fortran)
		FAIL("array is stored in Fortran order; expected C order (save "
		     "np.ascontiguousarray(a))");
	if (shape_count(h.ndim, h.shape, dtypes[i].size, &count))
		FAIL("shape is too large (its byte size overflows); expected a shape that fits in "
		     "memory");
	nbytes = count * dtypes[i].size;
	msize = archive_entry_size_is_set(e) ? (uint64_t)archive_entry_size(e) : 0;
	if (msize && msize != (uint64_t)(8 + hl + hlen) + nbytes)
		FAIL("member is %s (%llu bytes); expected %zu header + %zu data bytes "
		     "(product(shape) x itemsize)",
		     msize < 8 + hl + hlen + nbytes ? "truncated" : "longer than its shape says",
		     (unsigned long long)msize, 8 + hl + hlen, nbytes);
	if (nbytes > *left - (8 + hl + hlen))
		goto bomb;
	*left -= 8 + hl + hlen + nbytes;
	if (!(data = malloc(nbytes ? nbytes : 1)))
		FAIL("cannot allocate %zu bytes; expected an array that fits in memory", nbytes);
	if ((r = get(ar, data, nbytes)))
		goto rd;
	if ((r = get(ar, pre, 1)) <= 0) {
		if (!r)
			FAIL("data is longer than its shape says; expected exactly %zu bytes",
			     nbytes);
		goto rd;
	}
	put(z, name, (enum npz_dtype)i, h.ndim, h.shape, count, data);
	data = NULL;
	ret = 0;
	goto out;
bomb:
	FAIL("the .npy header claims %zu bytes, more than the %llu the archive may still unpack "
	     "to; expected the members of a %lld-byte file to unpack to at most %dx its size plus "
	     "%llu MB (a zip bomb, or a corrupt header?)",
	     12 + hlen + nbytes, (unsigned long long)*left, (long long)fsize, UNPACK_RATIO,
	     UNPACK_FREE >> 20);
rd:
	if (r < 0)
		FAIL("cannot read member data (libarchive: %s); expected an intact zip member",
		     archive_error_string(ar));
	FAIL("member is truncated; expected a complete .npy (header + product(shape) x itemsize "
	     "bytes)");
out:
	free(text);
	free(data);
	return ret;
}

int npz_read(struct npz *z, const char *path, char *err, size_t errlen)
{
	struct archive *ar = archive_read_new();
	struct archive_entry *e;
	struct npz tmp;
	struct stat st;
	uint64_t left;
	char eocd[23];
	int fd, r, ret = -1;

	npz_init(&tmp);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		errf(err, errlen, "%s: cannot open: %s; expected a readable .npz file", path,
		     strerror(errno));
		goto out;
	}
	/* libarchive rejects a zip with no members: accept a lone end record */
	if (pread(fd, eocd, sizeof(eocd), 0) == 22 && !memcmp(eocd, "PK\5\6", 4)) {
		ret = 0;
		goto out;
	}
	if (fstat(fd, &st)) {
		errf(err, errlen, "%s: cannot stat: %s; expected a readable .npz file", path,
		     strerror(errno));
		goto out;
	}
	left = unpack_max(st.st_size);
	archive_read_support_format_zip_seekable(ar);
	if (archive_read_open_fd(ar, fd, 65536) != ARCHIVE_OK) {
		errf(err, errlen,
		     "%s: not a readable zip archive (libarchive: %s); expected a .npz written by "
		     "numpy.savez or npz_write",
		     path, archive_error_string(ar));
		goto out;
	}
	while ((r = archive_read_next_header(ar, &e)) == ARCHIVE_OK) {
		const char *m = archive_entry_pathname(e);

		if (read_member(ar, e, &tmp, path, m ? m : "(unnamed member)", st.st_size, &left,
				err, errlen))
			goto out;
	}
	if (r != ARCHIVE_EOF) {
		errf(err, errlen,
		     "%s: corrupt zip archive (libarchive: %s); expected a .npz written by "
		     "numpy.savez or npz_write",
		     path, archive_error_string(ar));
		goto out;
	}
	for (int i = 0; i < tmp.n; i++) {
		struct npz_array *a = &tmp.a[i];

		put(z, a->name, a->dtype, a->ndim, a->shape, a->count, a->data);
		a->data = NULL;
	}
	ret = 0;
out:
	archive_read_free(ar);
	if (fd >= 0)
		close(fd);
	npz_free(&tmp);
	return ret;
}
