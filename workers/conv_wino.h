/* conv_wino.h - Winograd F(2x2, 3x3) convolution for 3x3 layers of stride 1
 * and pad 1 on even planes, such as cnn's conv2, conv3 and conv4 (Lavin and
 * Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016).
 *
 * Each 2x2 block of outputs (a tile) is A^T [(G g G^T) . (B^T d B)] A, for d
 * the 4x4 input patch around it and g a 3x3 filter: in the transformed domain
 * the 36 multiplications of the four outputs become 16, and the sum over the
 * input channels is 16 sgemms, one per transformed position xi:
 *   M[xi] (OC, T) = U[xi] (OC, C) . V[xi] (C, T),  U = G g G^T, V = B^T d B.
 * The backward pass is the adjoint of the same maps: dM = A dY A^T, then
 *   dU[xi] += dM[xi] . V[xi]^T (the weight gradient, dg = G^T dU G) and
 *   dV[xi]  = U[xi]^T . dM[xi] (the input gradient, dd = B dV B^T, added
 *   over the overlapping patches).
 * So a layer's weight and input gradients share one transform of the output
 * gradient, and every product is an sgemm with K = C, OC or the tiles.
 *
 * Tiles go through in chunks of whole samples, so that a chunk's transformed
 * input and output (16 x channels x tiles floats each) stay in cache between
 * the transforms and the sgemms. The chunk depends on the layer's shape only,
 * so a batch gives the same bits however it is run. Winograd agrees with the
 * direct sum to float rounding (the transforms add up to 9 terms first), not
 * bit for bit. It needs no particular CPU: the transforms are plain C. */
#ifndef WM_CONV_WINO_H
#define WM_CONV_WINO_H

#include <stddef.h>

#include "nn.h"

/* 1 if layer l can run this way: a conv with K = 3, stride 1, pad 1 and an
 * even input height and width. */
int cw_ok(const struct nn_layer *l);
/* Scratch floats cw_forward and cw_backward need for layer l (independent of
 * the batch size); allocate with cd_alloc_floats or any float array. */
size_t cw_scratch_floats(const struct nn_layer *l);
/* out (OC, B, H, W) = bias + the convolution of in (C, B, H, W) by w
 * (OC, C, 3, 3). */
void cw_forward(const struct nn_layer *l, int B, const float *in, const float *w, const float *bias,
		float *out, float *scratch);
/* For the output gradient dout (OC, B, H, W) of the forward pass of in:
 * if dw, dw (OC, C, 3, 3) += the weight gradient; if din, din (C, B, H, W)
 * += the input gradient (the bias gradient is left to the caller). */
void cw_backward(const struct nn_layer *l, int B, const float *in, const float *w,
		 const float *dout, float *dw, float *din, float *scratch);

#endif
