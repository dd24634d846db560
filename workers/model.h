/* model.h - model files (.npz).
 *
 * Array names and layouts (documented in the README, "Model files"):
 *   arch         uint8 text: a model name of nn_archs[] (nn_arch.c) or "custom"
 *   spec         uint8 text: the architecture spec (see nn.h), so the
 *                architecture travels inside the file
 *   input_shape  int32 (3): C, H, W
 *   nclass       int32 (1)
 *   <layer>.weight  float32: dense (OC, C), conv (OC, C, K, K)  (PyTorch layout)
 *   <layer>.bias    float32: (OC)
 * float64 arrays are accepted on load and converted. A PyTorch model whose
 * modules carry the same names exports with
 *   numpy.savez(path, arch=np.frombuffer(b"lenet5", np.uint8), ...,
 *               **{k: v.numpy() for k, v in model.state_dict().items()}). */
#ifndef WM_MODEL_H
#define WM_MODEL_H

#include <stddef.h>

#include "nn.h"
#include "npz.h"

/* Adds the model's arrays into z (so a key or extra arrays can share a file). */
int model_to_npz(const struct nn_model *m, struct npz *z);
int model_save(const struct nn_model *m, const char *path, char *err, size_t errlen);
/* Builds the model from the file's spec and loads every parameter, checking
 * each shape; a mismatch names the array, its shape and the expected one. */
int model_from_npz(struct nn_model *m, const struct npz *z, const char *path, char *err,
		   size_t errlen);
int model_load(struct nn_model *m, const char *path, char *err, size_t errlen);

#endif
