/* model.c - saving and loading models as .npz (array names in model.h). */
#include "model.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPEC_SLACK (1 << 20) /* parameters, 4 MB */

int model_to_npz(const struct nn_model *m, struct npz *z)
{
	int32_t shape[3] = {m->in_c, m->in_h, m->in_w}, nc = m->nclass;
	int64_t s3 = 3, s1 = 1;
	char name[NN_NAMELEN + 16];
	if (npz_add_text(z, "arch", m->arch) || npz_add_text(z, "spec", m->spec) ||
	    npz_add(z, "input_shape", NPZ_I32, 1, &s3, shape) ||
	    npz_add(z, "nclass", NPZ_I32, 1, &s1, &nc))
		return -1;
	for (int i = 0; i < m->nlayers; i++) {
		const struct nn_layer *l = &m->layers[i];
		int64_t ws[4], bs = l->out_c;
		int nd;
		if (!nn_has_params(l))
			continue;
		ws[0] = l->out_c;
		ws[1] = l->in_c;
		ws[2] = ws[3] = l->k;
		nd = l->kind == NN_CONV ? 4 : 2;
		snprintf(name, sizeof name, "%s.weight", l->name);
		if (npz_add(z, name, NPZ_F32, nd, ws, m->params + l->w_off))
			return -1;
		snprintf(name, sizeof name, "%s.bias", l->name);
		if (npz_add(z, name, NPZ_F32, 1, &bs, m->params + l->b_off))
			return -1;
	}
	return 0;
}

int model_save(const struct nn_model *m, const char *path, char *err, size_t errlen)
{
	struct npz z;
	int rc;
	npz_init(&z);
	if (model_to_npz(m, &z))
		rc = errf(err, errlen, "%s: cannot assemble model arrays", path);
	else
		rc = npz_write(&z, path, err, errlen);
	npz_free(&z);
	return rc;
}

static void shape_text(const struct npz_array *a, char *buf, size_t len)
{
	size_t off = (size_t)snprintf(buf, len, "(");
	for (int i = 0; i < a->ndim && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%lld", i ? ", " : "",
					(long long)a->shape[i]);
	if (off < len)
		snprintf(buf + off, len - off, ")");
}

static int load_array(float *dst, const struct npz_array *a, int nd, const int64_t *want,
		      const char *path, char *err, size_t errlen)
{
	char got[128], exp[128];
	struct npz_array fake = {.ndim = nd};
	memcpy(fake.shape, want, (size_t)nd * sizeof(int64_t));
	shape_text(&fake, exp, sizeof exp);
	shape_text(a, got, sizeof got);
	int ok = a->ndim == nd;
	for (int i = 0; ok && i < nd; i++)
		ok = a->shape[i] == want[i];
	if (!ok)
		return errf(err, errlen,
			    "%s: array '%s' has shape %s; expected %s for this architecture", path,
			    a->name, got, exp);
	if (a->dtype == NPZ_F32) {
		memcpy(dst, a->data, a->count * sizeof(float));
	} else if (a->dtype == NPZ_F64) {
		const double *s = a->data;
		for (size_t i = 0; i < a->count; i++)
			dst[i] = (float)s[i];
	} else {
		return errf(err, errlen, "%s: array '%s' has dtype %s; expected float32 or float64",
			    path, a->name, npz_dtype_name(a->dtype));
	}
	return 0;
}

int model_from_npz(struct nn_model *m, const struct npz *z, const char *path, char *err,
		   size_t errlen)
{
	char arch[NN_NAMELEN] = "custom", spec[512], name[NN_NAMELEN + 16];
	const struct npz_array *a;

	if (npz_get_text(z, "spec", spec, sizeof spec)) {
		if (npz_get_text(z, "arch", arch, sizeof arch) || !nn_arch_spec(arch))
			return errf(err, errlen,
				    "%s: no 'spec' array and no known 'arch' array; expected a "
				    "wmbench model file (arch one of %s)",
				    path, nn_arch_list());
		strlcopy(spec, nn_arch_spec(arch), sizeof spec);
	} else {
		npz_get_text(z, "arch", arch, sizeof arch);
	}
	/* The parameters must be in the file: a spec may not claim more than its
	 * float arrays hold, plus SPEC_SLACK (so that a model short of a few
	 * arrays gets the message naming the first missing one, below). */
	size_t held = SPEC_SLACK;
	for (int i = 0; i < z->n; i++)
		if (z->a[i].dtype == NPZ_F32 || z->a[i].dtype == NPZ_F64)
			held += z->a[i].count;
	if (nn_build_spec_max(m, arch, spec, held, err, errlen)) {
		char tmp[ERRBUF];
		strlcopy(tmp, err, sizeof tmp);
		return errf(err, errlen, "%s: %s", path, tmp);
	}
	for (int i = 0; i < m->nlayers; i++) {
		const struct nn_layer *l = &m->layers[i];
		int64_t ws[4] = {l->out_c, l->in_c, l->k, l->k}, bs = l->out_c;
		if (!nn_has_params(l))
			continue;
		snprintf(name, sizeof name, "%s.weight", l->name);
		if (!(a = npz_get(z, name))) {
			errf(err, errlen,
			     "%s: missing array '%s'; expected one per parameter of '%s'", path,
			     name, spec);
			goto fail;
		}
		if (load_array(m->params + l->w_off, a, l->kind == NN_CONV ? 4 : 2, ws, path, err,
			       errlen))
			goto fail;
		snprintf(name, sizeof name, "%s.bias", l->name);
		if (!(a = npz_get(z, name))) {
			errf(err, errlen,
			     "%s: missing array '%s'; expected one per parameter of '%s'", path,
			     name, spec);
			goto fail;
		}
		if (load_array(m->params + l->b_off, a, 1, &bs, path, err, errlen))
			goto fail;
	}
	return 0;
fail:
	nn_free(m);
	return -1;
}

int model_load(struct nn_model *m, const char *path, char *err, size_t errlen)
{
	struct npz z;
	npz_init(&z);
	int rc = npz_read(&z, path, err, errlen);
	if (!rc)
		rc = model_from_npz(m, &z, path, err, errlen);
	npz_free(&z);
	return rc;
}
