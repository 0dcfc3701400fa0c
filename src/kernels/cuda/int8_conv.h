// Implicit-GEMM INT8 convolution on the tensor cores (sm_90a): CUTLASS 3's wgmma
// kernel whose TMA loads gather the activations' im2col tiles straight from X, so
// no im2col copy is written. Same requantizing epilogue as int8_gemm (int8_gemm.h).
#pragma once
#include <cuda_runtime.h>

#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/int8_gemm.h"

namespace octet::cuda {

// The implicit GEMM's CTA tiles (output pixels x output channels) and pipelines.
// CUTLASS's sm_90 convolutions run one CTA per tile, so a CTA's prologue and epilogue
// overlap another's main loop only when several CTAs fit on an SM: the "Shared"
// configurations keep 4 pipeline stages (and few registers) for that; the "Deep" ones
// take all of the shared memory for stages (one CTA per SM). kAuto picks by shape;
// Int8Conv's GPU kernel times them all as tactics (int8_kernels.cpp).
enum class ImplicitConvTile { kAuto, k128x64Deep, k128x128Deep, k128x64Shared, k64x128Shared, k64x64Shared };
inline constexpr ImplicitConvTile kImplicitConvTiles[] = {
    ImplicitConvTile::k128x64Deep, ImplicitConvTile::k128x128Deep, ImplicitConvTile::k128x64Shared,
    ImplicitConvTile::k64x128Shared, ImplicitConvTile::k64x64Shared};
const char* implicit_conv_tile_name(ImplicitConvTile tile);
// The tile kAuto stands for: the shape rule drawn from H200 timings.
ImplicitConvTile implicit_conv_tile_for(const Conv2d& g);

// Y [N, OH, OW, M] int8 = epilogue(conv(X [N, H, W, C], W [M, KH, KW, C])), group 1,
// with `epilogue` as int8_gemm's (int8 output, no residual). Launches on `stream` and
// returns true, or returns false having launched nothing when the device, the
// geometry (C and M multiples of 16, TMA's limits on padding and filter extent) or
// the alignment of the pointers does not fit; the caller then uses im2col + int8_gemm.
bool int8_conv_implicit_gemm(const int8_t* x, const int8_t* w, int8_t* y, const Conv2d& g,
                             const Int8Epilogue& epilogue, cudaStream_t stream,
                             ImplicitConvTile tile = ImplicitConvTile::kAuto);

// The same for few input channels (C < 16: an image network's stem), where the
// implicit GEMM does not apply and an im2col copy would be many times the input: a
// direct tensor-core kernel (mma.sync) that gathers each output row's im2col tiles in
// shared memory. W is [M, k_padded] with column (r*KW + s)*C + c and zeros from
// KH*KW*C on. Returns false having launched nothing where it does not fit (C >= 16,
// M not a multiple of 16 or over 256, K over 512, W*C not a multiple of 4, pointers
// misaligned, a residual, not an sm_90 device); the caller then uses im2col + int8_gemm.
bool int8_conv_few_channels(const int8_t* x, const int8_t* w, int64_t k_padded, int8_t* y, const Conv2d& g,
                            const Int8Epilogue& epilogue, cudaStream_t stream);

}  // namespace octet::cuda
