/* nn.h - the neural-network engine: layers, models, training, on OpenBLAS.
 *
 * Conventions (after llm.c): a layer is a pair of plain functions, forward and
 * backward; backward ACCUMULATES into gradient buffers (+=). All parameters
 * live in one block (m->params) and all gradients in another (m->grads), so
 * zeroing is one memset and a checkpoint one write. Dimension letters:
 * B batch, C input channels/features, OC output channels/features, H, W.
 *
 * Layouts. Parameters use PyTorch's layouts: dense weight (OC, C), conv
 * weight (OC, C, K, K), biases (OC). Inputs to the model are (B, C, H, W).
 * Inside the convolutional stack activations are kept channel-major,
 * (C, B, H, W), so that a convolution is one sgemm over the whole batch; the
 * flatten layer turns them back into (B, C*H*W) in PyTorch's (c, h, w) order.
 * Dense-stack activations are (B, C). For 1-channel inputs the two layouts
 * coincide.
 *
 * The engine knows nothing of watermarks. It offers hooks: extra gradient on
 * any parameter (write into nn_grad()), extra gradient on any activation
 * (add into nn_dact(m, i) after nn_zero_act_grads() and before nn_backward()),
 * activation capture (m->acts[i] after nn_forward(); in nn_train() only for
 * hooks that run after the forward pass, see relu_out_unread), input gradients
 * (m->want_dinput), freezing (layer->frozen) and re-initialisation.
 *
 * Files: nn_arch.c (the named models), nn_model.c (building, copying,
 * freeing, views), nn_layers.c (each layer's forward and backward, im2col),
 * nn.c (the driver: forward, losses, backward, predictions), nn_opt.c (the
 * optimisers); nn_internal.h is their private interface. */
#ifndef WM_NN_H
#define WM_NN_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

enum nn_kind { NN_DENSE, NN_CONV, NN_MAXPOOL, NN_RELU, NN_FLATTEN, NN_DROPOUT };

#define NN_NAMELEN   32
#define NN_MAXLAYERS 32
#define NN_MAXCLASS  1024
#define NN_MAXDIM    (1 << 24) /* elements of an input or activation, per sample */
#define NN_MAXPARAMS (1 << 28) /* parameters: 1 GB of floats, and as much for gradients */

struct nn_layer {
	enum nn_kind kind;
	char name[NN_NAMELEN];	 /* "fc1", "conv2", "relu3", ... */
	int in_c, in_h, in_w;	 /* per-sample input shape (dense: in_c features, h = w = 1) */
	int out_c, out_h, out_w; /* per-sample output shape */
	int k, stride, pad;	 /* conv / maxpool */
	float p;		 /* dropout probability */
	int chan_major;		 /* activations of this layer's output are (C, B, H, W) */
	size_t w_off, w_n;	 /* weight view into params/grads (dense, conv) */
	size_t b_off, b_n;	 /* bias view */
	int frozen;		 /* optimiser leaves this layer's parameters unchanged */
};

struct nn_model {
	char arch[NN_NAMELEN]; /* a name of nn_archs[] or "custom" */
	char spec[512];	       /* architecture text, see nn_build_spec() */
	int in_c, in_h, in_w, nclass;
	int nlayers;
	struct nn_layer layers[NN_MAXLAYERS];
	size_t nparams;
	float *params; /* (nparams) */
	float *grads;  /* (nparams) */
	/* Activation buffers, sized for max_b samples (allocated by nn_reserve). */
	int max_b;
	float *input;		   /* copy of the last input, (B, C, H, W) */
	float *acts[NN_MAXLAYERS]; /* output of layer i (read only) */
	/* The buffers of acts[]: a dropout's acts[i] is its input where the
	 * dropout is the identity (evaluation mode, or p = 0). */
	float *acts_buf[NN_MAXLAYERS];
	float *dacts[NN_MAXLAYERS]; /* gradient w.r.t. output of layer i */
	/* dacts[i] is zero when dstale[i] is set, whatever the buffer holds:
	 * nn_zero_act_grads() only sets the flags, nn_dact() zeroes a buffer
	 * for a hook that writes into it, and nn_backward() writes (=) a
	 * stale buffer instead of adding into it. dstale[NN_MAXLAYERS] is
	 * the flag of dinput_cm. */
	unsigned char dstale[NN_MAXLAYERS + 1];
	float *dinput;	 /* gradient w.r.t. the input, (B, C, H, W) */
	int want_dinput; /* nn_backward() fills dinput */
	/* Set by nn_train() for steps that no hook can look into (no
	 * pre_backward, post_backward or epoch_end): a training forward then
	 * does not store the output of a ReLU that runs fused with the max-pool
	 * after it, which only hooks, attacks and the R-operator read (the
	 * fused backward reads the pool's output). acts[] of such a ReLU is
	 * stale until the next forward without it. */
	int relu_out_unread;
	int *pool_idx[NN_MAXLAYERS]; /* argmax positions for max-pool backward */
	uint8_t *drop_mask[NN_MAXLAYERS];
	float
	    *cols[NN_MAXLAYERS]; /* im2col of each conv layer's last forward (reused by backward) */
	float *dcol;		 /* col2im scratch (shared by all conv layers) */
	float *dinput_cm;	 /* input gradient in layer 0's layout */
	/* Direct convolution (conv_direct.h): padded input and scratch of each
	 * layer run that way, and which path the last forward took. */
	float *cpad[NN_MAXLAYERS];
	float *cscratch[NN_MAXLAYERS];
	unsigned char conv_direct[NN_MAXLAYERS]; /* CD_NONE, CD_PLANE, CD_CHAN or CD_WINO */
	/* The same for the input gradient run as a direct convolution of the
	 * padded output gradient (nn_layers.c): its padded buffer, scratch and
	 * kernel. */
	float *dxpad[NN_MAXLAYERS];
	float *dxscratch[NN_MAXLAYERS];
	unsigned char dx_direct[NN_MAXLAYERS];
	size_t col_n;
	int last_b;	      /* batch size of the last forward */
	int training;	      /* last forward was in training mode */
	int relu_out_skipped; /* ... and left fused ReLUs' outputs unstored */
};

/* Architecture text: "CxHxW|layer|layer|..." with layers
 *   dense NAME OC | conv NAME OC K STRIDE PAD | maxpool K STRIDE | relu |
 *   flatten | dropout P */

/* A named model of the zoo (nn_arch.c): its architecture, the default
 * training settings of a run on it, and a rough cost for the scheduler. */
struct nn_arch {
	const char *name;
	const char *spec;      /* architecture text, starting with the input shape */
	int in_c, in_h, in_w;  /* the input shape (the spec's first field) */
	const char *optimizer; /* default training settings of a job file's run */
	double lr, momentum, weight_decay;
	int batch, epochs;
	/* CPU seconds per training sample (forward, backward, update) in a run's
	 * train jobs: the dry run's estimates (jobs_expand.c's cost model) */
	double cost;
};
/* Every named model, ended by an entry with a NULL name; the first one is
 * the default model of a job file. */
extern const struct nn_arch nn_archs[];
/* The named model, or NULL for an unknown name. */
const struct nn_arch *nn_arch_find(const char *name);
/* The architecture text of a named model; NULL for an unknown name. */
const char *nn_arch_spec(const char *arch);
/* The names of the models, in table order, into buf: joined by sep, the last
 * one by last ("a, b or c" with ", " and " or "). With c > 0 only the models
 * taking c x h x w inputs. */
void nn_arch_names(char *buf, size_t len, const char *sep, const char *last, int c, int h, int w);
/* Every model's name, joined by ", ". */
const char *nn_arch_list(void);
/* Builds a model from a spec; parameters zeroed. -1 with message on error:
 * a malformed spec, a dimension or an activation over NN_MAXDIM elements,
 * or more than NN_MAXPARAMS parameters. */
int nn_build_spec(struct nn_model *m, const char *arch, const char *spec, char *err, size_t errlen);
/* nn_build_spec refusing, before it allocates, a spec of more than
 * max_params parameters (a model file's: what its arrays can hold). */
int nn_build_spec_max(struct nn_model *m, const char *arch, const char *spec, size_t max_params,
		      char *err, size_t errlen);
/* nn_build_spec for a network that is not a classifier (reconstruct's
 * autoencoder, whose output is an image): its last dense layer may be wider
 * than NN_MAXCLASS, and m->nclass is then that width. Never hand such a model
 * to nn_loss_xent, nn_loss_soft, nn_predict_proba or a scheme, which keep a
 * row of NN_MAXCLASS logits on the stack; write the loss gradient into
 * m->dacts[m->nlayers - 1] yourself. */
int nn_build_net(struct nn_model *m, const char *arch, const char *spec, char *err, size_t errlen);
/* Builds a named model for inputs of shape (c, h, w) with nclass outputs and
 * initialises its parameters from rng (PyTorch's default: U(+-1/sqrt(fan_in))). */
int nn_create(struct nn_model *m, const char *arch, int c, int h, int w, int nclass, struct rng *r,
	      char *err, size_t errlen);
void nn_free(struct nn_model *m);
/* Deep copy of parameters and structure (no activations). */
void nn_copy(struct nn_model *dst, const struct nn_model *src);
void nn_init_params(struct nn_model *m, struct rng *r);
void nn_reinit_layer(struct nn_model *m, int layer, struct rng *r);
/* Ensures activation buffers for batches of up to b samples. */
void nn_reserve(struct nn_model *m, int b);

int nn_find_layer(const struct nn_model *m, const char *name); /* -1 if absent */
/* The layer that produces the logits' last trainable parameters. */
int nn_last_param_layer(const struct nn_model *m);
/* Named views: "fc1.weight", "fc1.bias". NULL if absent; *n gets the count. */
float *nn_param(struct nn_model *m, const char *name, size_t *n);
float *nn_grad(struct nn_model *m, const char *name, size_t *n);
static inline int nn_has_params(const struct nn_layer *l)
{
	return l->kind == NN_DENSE || l->kind == NN_CONV;
}
static inline size_t nn_out_size(const struct nn_layer *l)
{
	return (size_t)l->out_c * l->out_h * l->out_w;
}
static inline size_t nn_in_size(const struct nn_model *m)
{
	return (size_t)m->in_c * m->in_h * m->in_w;
}

/* Samples through nn_forward and nn_backward in this process so far (the
 * cost columns forward and backward of results.csv). */
struct nn_count {
	long forward, backward;
};
extern struct nn_count nn_count;

/* Per-layer time (seconds, summed over calls) of nn_forward and nn_backward,
 * kept only while on is set (make bench's profile of a training step). */
struct nn_prof {
	int on;
	double fwd[NN_MAXLAYERS], bwd[NN_MAXLAYERS];
};
extern struct nn_prof nn_prof;

/* Forward pass over x (B, C, H, W). training != 0 enables dropout (masks
 * drawn from r, which may be NULL when not training). Returns the logits,
 * (B, nclass), which stay valid until the next forward. */
float *nn_forward(struct nn_model *m, const float *x, int B, int training, struct rng *r);
/* The rest of an evaluation-mode forward pass, layers from..L-1, for B rows
 * whose input to layer `from` is in place (acts[from - 1], B rows, within
 * the buffers' batch): for callers that rearranged the rows of an earlier
 * pass's lower layers (nn_rop_prepare_rows). */
float *nn_forward_from(struct nn_model *m, int from, int B);
/* Layer i is a ReLU that runs fused with the 2x2 max-pool after it (its
 * output is not stored in training steps with relu_out_unread). */
int nn_relu_fused(const struct nn_model *m, int i);
/* Zeroes the activation gradients (every dacts[i]); call between forward and
 * the loss. It only marks them zero (dstale): write into them through
 * nn_dact(), never through m->dacts[i] directly. m->dinput is valid only
 * after an nn_backward() with want_dinput. */
void nn_zero_act_grads(struct nn_model *m);
/* The gradient w.r.t. the output of layer i (B times its output size),
 * zeroed first if nn_zero_act_grads() left it marked: where a hook ADDS
 * extra activation gradient before nn_backward(), and where the losses
 * write theirs. */
float *nn_dact(struct nn_model *m, int i);
/* Softmax cross-entropy over the last logits: returns the mean loss and ADDS
 * scale * d(mean loss)/d(logits) into dacts[last]. */
double nn_loss_xent(struct nn_model *m, const int *y, double scale);
/* Same with soft targets q (B, nclass) (each row sums to 1). */
double nn_loss_soft(struct nn_model *m, const float *q, double scale);
/* Backward pass from dacts[*]: ACCUMULATES parameter gradients into m->grads
 * (frozen layers are skipped) and, if want_dinput, the input gradient. */
void nn_backward(struct nn_model *m);
void nn_zero_grads(struct nn_model *m);
/* Softmax probabilities for x, evaluated in batches of up to 256. */
void nn_predict_proba(struct nn_model *m, const float *x, int n, float *probs);
int nn_argmax(const float *v, int n);

/* How convolutions run: AUTO (the default) uses Winograd (conv_wino.h) for
 * 3x3 layers of stride 1 and pad 1 on even planes with at least 16 input and
 * output channels (cnn's conv2 to conv4), the direct kernels of
 * conv_direct.h where the CPU has them and the layer gains (few taps, wide
 * rows), and im2col + sgemm elsewhere; GEMM always uses im2col + sgemm;
 * DIRECT uses the direct kernels wherever they apply (tests compare the
 * paths); BATCH is DIRECT with every input gradient on the CD_BATCH kernel;
 * WINO is AUTO with Winograd wherever it applies. */
enum nn_conv_mode { NN_CONV_AUTO, NN_CONV_GEMM, NN_CONV_DIRECT, NN_CONV_BATCH, NN_CONV_WINO };
extern enum nn_conv_mode nn_conv_mode;
/* A convolution's input gradient by sgemm and col2im goes through columns
 * of at most nn_conv_dx_floats floats at a time (whole samples, at least
 * one) when the whole batch's columns exceed nn_conv_dx_block_above floats
 * (cnn's conv2 and conv4 at batch 64: 75 and 38 MB); 0: the whole batch at
 * once. Blocks change the input gradient in the last bits (OpenBLAS sums in
 * another order for another N), so smaller column matrices (lenet5 up to
 * 408 samples) keep the whole-batch call and its results. */
#define NN_CONV_DX_FLOATS      (1 << 17)
#define NN_CONV_DX_BLOCK_ABOVE (1 << 23)
extern int nn_conv_dx_floats;
extern size_t nn_conv_dx_block_above; /* NN_CONV_DX_BLOCK_ABOVE; tests lower it */

/* Convolution as GEMM: in (C, B, H, W) -> col (C*K*K, B*OH*OW) for a conv
 * layer l, and col accumulated (+=) back into din (C, B, H, W). */
void nn_im2col(const struct nn_layer *l, int B, const float *in, float *col);
void nn_col2im(const struct nn_layer *l, int B, const float *col, float *din);

/* Optimisers. */
enum nn_opt_kind { OPT_SGD, OPT_ADAM, OPT_RMSPROP };

/* A gradient that is the same vector on every row of one layer's weight
 * (out_c rows of M = w_n / out_c), as uchida's regulariser gives, handed to
 * the optimiser instead of being added into m->grads: the next step adds it
 * to each row as it updates the row (the same floats as adding it into
 * m->grads first) and adds up the updated rows into colsum, in double and in
 * row order (the sums a hook would take of the weight before its next
 * step). That saves two passes over the weight and its gradient a step.
 * Set add and pending from a post_backward hook (train_hooks.rows); after
 * the step, sum_ok says whether colsum holds the new weight's column sums
 * (not with a frozen layer nor a gradient clip, which take the plain path). */
struct nn_opt_rows {
	int layer, M;
	const float *add; /* (M): added to every row of the weight's gradient */
	int pending;	  /* add is waiting for the next step */
	double *colsum;	  /* (M) */
	int sum_ok;
};
void nn_opt_rows_init(struct nn_opt_rows *r, const struct nn_model *m, int layer);
void nn_opt_rows_free(struct nn_opt_rows *r);
/* w (M) = the mean over output units of layer li's weight rows, the rows
 * added in order in double, then divided by out_c: from r's colsum when r
 * (may be NULL) is li's and holds the weight's sums (sum_ok), which are the
 * same additions; else from the weights. */
void nn_row_mean(const struct nn_model *m, int li, const struct nn_opt_rows *r, double *w);

struct nn_opt {
	enum nn_opt_kind kind;
	double lr, momentum, weight_decay;
	int nesterov;
	double beta1, beta2, eps; /* adam; rmsprop uses beta2 as its decay (alpha) */
	double grad_clip;	  /* clip the global gradient norm (0 = off) */
	/* step schedule: lr * gamma^(floor(epoch / step_epochs)) */
	int step_epochs;
	double gamma;
	/* state */
	float *m1, *m2;
	size_t n;
	long t;
	struct nn_opt_rows *rows; /* NULL, or a row gradient for the next step */
};
/* Parses "sgd", "adam", "rmsprop"; sets the usual defaults. -1 if unknown. */
int nn_opt_init(struct nn_opt *o, const char *kind, double lr, size_t nparams);
void nn_opt_free(struct nn_opt *o);
double nn_opt_lr(const struct nn_opt *o, int epoch);
/* One update of every non-frozen parameter from m->grads. */
void nn_opt_step(struct nn_opt *o, struct nn_model *m, int epoch);
/* The squared norm of g (n) in double, as the gradient clip computes it;
 * avx2 = 0 forces the portable code (the result is the same bit for bit). */
double nn_sum_squares(const float *g, size_t n, int avx2);

/* Copies samples idx[0..B) of a uint8 dataset into x (B, C*H*W) scaled to
 * [0,1] and their labels into y (y may be NULL). */
void nn_fill_batch(const uint8_t *xs, const uint8_t *ys, size_t sample_size, const uint32_t *idx,
		   int B, float *x, int *y);

#endif
