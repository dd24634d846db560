/* nc_trigger.h - Neural Cleanse's trigger reverse engineering (Wang et al.,
 * IEEE S&P 2019; ATTACKS-MORE.md section 6), shared by the attacks nc and
 * launder: per candidate target class a mask and a pattern that send clean
 * images to that class, the anomaly index over the classes' mask norms,
 * stamping a trigger, and the activation differences that pruning and
 * laundering rank units by. Not part of the plug-in interface. */
#ifndef WM_NC_TRIGGER_H
#define WM_NC_TRIGGER_H

#include "../workers/data.h"
#include "../workers/nn.h"
#include "../workers/params.h"
#include "../workers/rng.h"

#include <stddef.h>
#include <stdint.h>

/* How the search runs (the attack's parameters). */
struct nc_opts {
	const char *name; /* the attack, for messages */
	int steps;	  /* at most this many steps per class and seed */
	int batch;	  /* samples per mini-batch (NC: 32) */
	int step_batches; /* mini-batches per step (NC: 1000 samples / 32) */
	double lr;	  /* Adam on mask and pattern (NC: 0.1, betas 0.5, 0.9) */
	int seeds;	  /* runs per class; the norms are averaged */
};

/* The parameter-table rows of the search, shared by nc and launder; type is
 * the attack's config struct with the fields steps, batch, step_samples (int),
 * nc_lr (double) and seeds (int). */
// clang-format off
#define NC_PARAM_ROWS(type)                                                                      \
	{"steps", PT_INT, "300", 1, 100000, NULL,                                                \
	 "at most this many optimisation steps per class (and seed) of the trigger search",      \
	 offsetof(type, steps)},                                                                 \
	{"batch", PT_INT, "32", 1, 4096, NULL,                                                   \
	 "mini-batch size of the trigger search and of the fine-tuning after it",                \
	 offsetof(type, batch)},                                                                 \
	{"step_samples", PT_INT, "1000", 1, 10000000, NULL,                                      \
	 "samples per step of the search (step_samples / batch mini-batches, at least one)",     \
	 offsetof(type, step_samples)},                                                          \
	{"nc_lr", PT_DOUBLE, "0.1", 1e-9, 10, NULL,                                              \
	 "Adam learning rate of the mask and pattern (betas 0.5, 0.9)",                          \
	 offsetof(type, nc_lr)},                                                                 \
	{"seeds", PT_INT, "1", 1, 20, NULL,                                                      \
	 "searches per class from random starts; their norms are averaged",                      \
	 offsetof(type, seeds)}
// clang-format on

/* Fills nc_opts o from such a config c. */
#define NC_OPTS_FROM(o, c, nm)                                                                     \
	do {                                                                                       \
		(o)->name = (nm);                                                                  \
		(o)->steps = (c)->steps;                                                           \
		(o)->batch = (c)->batch;                                                           \
		(o)->step_batches = (c)->step_samples / (c)->batch;                                \
		if ((o)->step_batches < 1)                                                         \
			(o)->step_batches = 1;                                                     \
		(o)->lr = (c)->nc_lr;                                                              \
		(o)->seeds = (c)->seeds;                                                           \
	} while (0)

/* The trigger found for one target class. */
struct nc_trigger {
	int target;
	int c, h, w;
	float *mask;	/* (h*w) in [0, 1], shared by the channels */
	float *pattern; /* (c*h*w) in [0, 1] */
	double norm;	/* |mask|_1, averaged over the seeds */
	double success; /* attack success (batch mean) of the step the mask was kept at */
	double lambda;	/* lambda when the search stopped */
	int found;	/* reached success >= 0.99 in every seed (else: the last mask) */
	int steps;	/* steps run, summed over the seeds */
};

/* The attacker's samples the search for target runs over: those not of
 * class target, and of class source when source >= 0. *out (the caller
 * frees) gets them; returns their number. */
int nc_pool(const struct dataset *d, const uint32_t *idx, int n, int target, int source,
	    uint32_t **out);

/* Reverse-engineers the trigger of class target over samples pool[0..n) of d
 * (pixels scaled to [0, 1]): o->seeds runs from random starts drawn from r;
 * the trigger kept is the smallest-norm mask of the runs, its norm the mean
 * of theirs. m's parameters are untouched (its layers are frozen during the
 * search, then restored). Fills *tr (free it with nc_trigger_free); -1 with
 * a message when there are no samples. */
int nc_reverse(struct nn_model *m, const struct dataset *d, const uint32_t *pool, int n, int target,
	       const struct nc_opts *o, struct rng *r, struct nc_trigger *tr, char *err,
	       size_t errlen);
void nc_trigger_free(struct nc_trigger *tr);

/* nc_reverse for every class t of m (only class target when target >= 0;
 * never class source) over the attacker's samples idx[0..n) of d not of
 * class t (and of class source when source >= 0), in class order from r,
 * into tr[0..nclass); classes not searched get a zeroed entry (mask NULL). Free each entry with
 * nc_trigger_free. -1 with a message when a class has no samples. */
int nc_reverse_classes(struct nn_model *m, const struct dataset *d, const uint32_t *idx, int n,
		       int target, int source, const struct nc_opts *o, struct rng *r,
		       struct nc_trigger *tr, char *err, size_t errlen);

/* NC's outlier test over n norms: median, MAD = 1.4826 median |l - median|
 * and per class the anomaly index |l - median| / MAD (0 when l is the
 * median; INFINITY when MAD is 0 and l is not). Returns the flagged class
 * with the largest index (index > 2 and l below the median), or -1;
 * *nflag gets how many were flagged (may be NULL). */
int nc_anomaly(const double *norm, int n, double *index, double *median, double *mad, int *nflag);

/* Stamps tr onto B images x (B, c*h*w) in place: x' = (1 - m) x + m Delta. */
void nc_stamp(const struct nc_trigger *tr, float *x, int B);

/* The layer whose output is param layer li's activation: the ReLU right
 * after it, else li itself. */
int nc_act_layer(const struct nn_model *m, int li);
/* Per unit of layer ai's output (out_c units), the mean over samples
 * idx[0..n) of its activation on the stamped image minus on the clean one;
 * over the positions of a conv channel the mean (conv_max 0) or the largest
 * of the positions' mean differences (conv_max 1). diff has out_c entries. */
void nc_act_diff(struct nn_model *m, int ai, const struct dataset *d, const uint32_t *idx, int n,
		 const struct nc_trigger *tr, int conv_max, double *diff);
/* Resets unit u of param layer li: zeroes its incoming weights and bias. */
void nc_reset_unit(struct nn_model *m, int li, int u);

#endif
