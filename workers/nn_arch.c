/* nn_arch.c - the model zoo: one table of every named architecture with its
 * layers, input shape, default training settings and cost estimate. Adding a
 * model is one entry here; the job file, the CLI, the attacks' student check
 * and the messages that list the models all read this table. */
#include "nn.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

/* The input shape once, as numbers and as the spec's leading "CxHxW|". */
#define INPUT(c, h, w, layers) .in_c = c, .in_h = h, .in_w = w, .spec = #c "x" #h "x" #w "|" layers

/* The first entry is the default model of a job file. */
const struct nn_arch nn_archs[] = {
    {
	.name = "mlp",
	INPUT(1, 28, 28,
	      "flatten|dense fc1 512|relu|dropout 0.2|dense fc2 512|relu|dropout 0.2|dense fc3 10"),
	.optimizer = "adam",
	.lr = 1e-3,
	.momentum = 0.9,
	.weight_decay = 0,
	.batch = 64,
	.epochs = 5,
	.cost = 8e-5, /* train rows' cpu_s / forward: 7.2e-5 to 9.9e-5 (2 workers, 2 cores) */
    },
    {
	.name = "lenet5",
	INPUT(1, 28, 28,
	      "conv conv1 6 5 1 2|relu|maxpool 2 2|conv conv2 16 5 1 0|relu|maxpool 2 2|flatten|"
	      "dense fc1 120|relu|dense fc2 84|relu|dense fc3 10"),
	.optimizer = "adam",
	.lr = 1e-3,
	.momentum = 0.9,
	.weight_decay = 0,
	.batch = 64,
	.epochs = 5,
	.cost = 6.5e-5, /* the same: 6.2e-5 to 7.0e-5 */
    },
    {
	.name = "cnn",
	INPUT(3, 32, 32,
	      "conv conv1 32 3 1 1|relu|conv conv2 32 3 1 1|relu|maxpool 2 2|conv conv3 64 3 1 1|"
	      "relu|conv conv4 64 3 1 1|relu|maxpool 2 2|flatten|dense fc1 256|relu|dense fc2 10"),
	.optimizer = "sgd",
	.lr = 0.01,
	.momentum = 0.9,
	.weight_decay = 5e-4,
	.batch = 64,
	.epochs = 20,
	.cost = 2.6e-3, /* make bench's training, idle: 375-391 samples/s */
    },
    {0},
};

const struct nn_arch *nn_arch_find(const char *name)
{
	for (const struct nn_arch *a = nn_archs; a->name; a++)
		if (!strcmp(a->name, name))
			return a;
	return NULL;
}

const char *nn_arch_spec(const char *arch)
{
	const struct nn_arch *a = nn_arch_find(arch);

	return a ? a->spec : NULL;
}

/* Appends s to buf (of size len), truncating. */
static void append(char *buf, size_t len, const char *s)
{
	size_t n = strlen(buf);

	if (n + 1 < len)
		strlcopy(buf + n, s, len - n);
}

void nn_arch_names(char *buf, size_t len, const char *sep, const char *last, int c, int h, int w)
{
	const struct nn_arch *a, *pending = NULL;
	int n = 0;

	if (!len)
		return;
	buf[0] = 0;
	for (a = nn_archs;; a++) {
		if (a->name && c > 0 && (a->in_c != c || a->in_h != h || a->in_w != w))
			continue;
		if (pending) {
			if (n++)
				append(buf, len, a->name ? sep : last);
			append(buf, len, pending->name);
		}
		if (!a->name)
			break;
		pending = a;
	}
}

const char *nn_arch_list(void)
{
	static char list[256];

	if (!list[0])
		nn_arch_names(list, sizeof list, ", ", ", ", 0, 0, 0);
	return list;
}
