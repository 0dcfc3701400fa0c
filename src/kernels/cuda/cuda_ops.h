// The CUDA backend's elementwise, data-movement, pooling and direct-convolution
// kernels: host functions that launch on a stream, over device memory. Numerics
// follow the reference kernels (src/kernels/reference/) and, for INT8, the contract
// of docs/int8_kernels.md bit for bit. Launch errors throw octet::Error.
#pragma once
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/fused_activation.h"

namespace octet::cuda {

// y = saturate(round_half_even(x / scale), -128, 127)  (float division), n elements.
void quantize_int8(const float* x, int8_t* y, int64_t n, float scale, cudaStream_t stream);
// y = x * scale (float), n elements.
void dequantize_int8(const int8_t* x, float* y, int64_t n, float scale, cudaStream_t stream);

// 4-D transpose of elements of `elem_bytes` bytes (1, 2 or 4): out axis i is in
// axis perm[i]; in_dims are the input's dims.
void transpose4d(const void* x, void* y, const int64_t in_dims[4], const int perm[4], int elem_bytes,
                 cudaStream_t stream);

// Channels-last 2-D pooling over [N, H, W, C] -> [N, OH, OW, C]; pads are
// top, left (then, last, bottom, right); dilations as ONNX.
struct Pool2d {
  int64_t n, h, w, c, oh, ow;
  int kh, kw, stride_h, stride_w, pad_t, pad_l, dil_h, dil_w;
  // Only AveragePool's count_include_pad divisor reads the end pads: with ceil_mode a
  // window can reach past them, and taps there do not count.
  int pad_b, pad_r;
};
void max_pool_nhwc_int8(const int8_t* x, int8_t* y, const Pool2d& p, cudaStream_t stream);
void max_pool_nhwc_f32(const float* x, float* y, const Pool2d& p, cudaStream_t stream);
// AveragePool: count_include_pad as ONNX (padding counts in the divisor when true).
void avg_pool_nhwc_f32(const float* x, float* y, const Pool2d& p, bool count_include_pad, cudaStream_t stream);
// GlobalAveragePool of [N, HW, C] channels-last float -> [N, C]: mean over HW (float
// sum in HW order, then one division, as the reference).
void global_avg_pool_nhwc_f32(const float* x, float* y, int64_t n, int64_t hw, int64_t c, cudaStream_t stream);

// Int8Add of two same-shaped int8 tensors (no broadcasting), n elements:
//   int8 out:  y = clamp(round_half_even(fl(a*ra) + fl(b*rb)), lo, hi), ra = a_scale/y_scale, rb = b_scale/y_scale
//              (each product correctly rounded to float, then one float add: no FMA)
//   float out: y = min(max(fl(a*ra) + fl(b*rb), lo), hi) with ra = a_scale, rb = b_scale
void int8_add(const int8_t* a, const int8_t* b, int8_t* y, int64_t n, float ra, float rb, float lo, float hi,
              cudaStream_t stream);
void int8_add(const int8_t* a, const int8_t* b, float* y, int64_t n, float ra, float rb, float lo, float hi,
              cudaStream_t stream);

// Channels-last INT8 convolution geometry: X [N, H, W, C], W [M, KH, KW, C/group]
// (the CUDA backend's weight layout), Y [N, OH, OW, M].
struct Conv2d {
  int64_t n, h, w, c, m, oh, ow;
  int kh, kw, stride_h, stride_w, pad_t, pad_l, dil_h, dil_w, group;
};
// Direct INT8 convolution of any geometry, int32 accumulation, epilogue as
// Int8Epilogue (int8_gemm.h) per output channel m: bias [M] (or null), scale [M], lo, hi.
void int8_conv_direct(const int8_t* x, const int8_t* w, int8_t* y, const Conv2d& g, const int32_t* bias,
                      const float* scale, float lo, float hi, cudaStream_t stream);
void int8_conv_direct(const int8_t* x, const int8_t* w, float* y, const Conv2d& g, const int32_t* bias,
                      const float* scale, float lo, float hi, cudaStream_t stream);
// im2col for group == 1: cols [N*OH*OW, k_padded] int8, column (kh, kw, c) in that
// order, zeros for padding taps and for columns k >= KH*KW*C up to k_padded. Then
// the convolution is int8_gemm(cols, W as [M, k_padded], ...).
void im2col_nhwc_int8(const int8_t* x, int8_t* cols, const Conv2d& g, int64_t k_padded, cudaStream_t stream);

// ---- Float layers of FP32 and FP16 engines: float and __half values, float arithmetic,
// one rounding to the output type.

// y[r, j] = act(x[r, j] + bias[j] + z[r, j]) over [rows, cols], the sums in that order;
// bias [cols] and z [rows, cols] may be null; y may be x.
void float_epilogue(const float* x, const float* bias, const float* z, float* y, int64_t rows, int64_t cols,
                    const FusedActivation& act, cudaStream_t stream);
void float_epilogue(const __half* x, const __half* bias, const __half* z, __half* y, int64_t rows, int64_t cols,
                    const FusedActivation& act, cudaStream_t stream);
// Cast float <-> half (round to nearest even), n elements.
void convert(const float* x, __half* y, int64_t n, cudaStream_t stream);
void convert(const __half* x, float* y, int64_t n, cudaStream_t stream);
// Direct convolution of any geometry (grouped, depthwise), float accumulation, no bias:
// X [N, H, W, C], W [M, KH, KW, C/group], Y [N, OH, OW, M].
void float_conv_direct(const float* x, const float* w, float* y, const Conv2d& g, cudaStream_t stream);
void float_conv_direct(const __half* x, const __half* w, __half* y, const Conv2d& g, cudaStream_t stream);
void max_pool_nhwc_f16(const __half* x, __half* y, const Pool2d& p, cudaStream_t stream);
void global_avg_pool_nhwc_f16(const __half* x, __half* y, int64_t n, int64_t hw, int64_t c, cudaStream_t stream);

}  // namespace octet::cuda
