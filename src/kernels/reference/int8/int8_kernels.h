// Reference INT8 kernels (domain "octet", opset 1..): Int8Conv, Int8MatMul, Int8Add.
// Their numeric contract is docs/int8_kernels.md; requantize.h holds its arithmetic.
// Also the pieces the three share: attribute reading and the int32-accumulating GEMM.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/reference/int8/requantize.h"
#include "octet/kernel.h"

namespace octet {

void register_int8_kernels(KernelRegistry& r);         // int8_kernels.cpp: all of the below
void register_int8_conv_kernels(KernelRegistry& r);    // int8_conv.cpp: Int8Conv
void register_int8_matmul_kernels(KernelRegistry& r);  // int8_matmul.cpp: Int8MatMul
void register_int8_add_kernels(KernelRegistry& r);     // int8_add.cpp: Int8Add

namespace int8 {

inline constexpr const char* kDomain = "octet";

// Required float attribute `name`, which must be finite and > 0.
float read_scale(const KernelContext& ctx, const std::string& name);
// output_dtype: "int8" (default) -> kInt8, "float32" -> kFloat32. `prefix` starts
// every attribute name these readers read ("sum_" for Int8Conv's residual Int8Add).
DType read_output_dtype(const KernelContext& ctx, const std::string& prefix = "");
// activation ("none" default, "relu", "clip" with clip_min / clip_max, which default to -inf / +inf).
Activation read_activation(const KernelContext& ctx, const std::string& prefix = "");

// How the int32 accumulators of a per-channel kernel (Int8Conv, Int8MatMul) become
// outputs, read from x_scale, w_scales, y_scale, output_dtype and the activation.
struct Requantizer {
  DType output_dtype = DType::kInt8;
  Activation activation;
  int32_t lo = kMin, hi = kMax;  // int8 output bounds
  // Per channel: M[m] for int8 output, (float)(x_scale * w_scales[m]) for float output.
  std::vector<float> multipliers;

  int8_t to_int8(int32_t acc, int64_t channel) const { return requantize(acc, multipliers[channel], lo, hi); }
  float to_float(int32_t acc, int64_t channel) const {
    return activation.apply(static_cast<float>(acc) * multipliers[channel]);
  }
};
// `channels` is the number of output channels w_scales must match.
Requantizer read_requantizer(const KernelContext& ctx, int64_t channels);

// Int8Add's arithmetic, read from a_scale, b_scale, y_scale, output_dtype and the
// activation, for kernels that add same-shaped inputs elementwise:
//   int8 output:  y = saturate(round_half_even(fl(a * ra) + fl(b * rb)), lo, hi)
//   float output: y = fl(a * ra) + fl(b * rb), clamped into [lo, hi] when `clamped`
// with ra, rb the ratios to y_scale (int8 output) or the input scales (float).
struct AddRequantizer {
  DType output_dtype = DType::kInt8;
  float ra = 1.0f, rb = 1.0f;
  bool clamped = false;          // float output with an activation (int8 output always clamps)
  float lo = kMin, hi = kMax;    // int8 bounds, or the float activation's (+-inf without one)

  // Each product rounded to float, then their sum (no fused multiply-add).
  int8_t to_int8(int8_t a, int8_t b) const {
    return saturate(round_half_even(scaled(a, ra) + scaled(b, rb)), static_cast<int32_t>(lo), static_cast<int32_t>(hi));
  }
  float to_float(int8_t a, int8_t b) const {
    const float v = scaled(a, ra) + scaled(b, rb);
    if (!clamped) return v;
    const float low = v > lo ? v : lo;  // Activation::apply's form
    return low < hi ? low : hi;
  }
};
AddRequantizer read_add_requantizer(const KernelContext& ctx, const std::string& prefix = "");

// Int8Conv's optional residual input Z (input 3): the convolution's int8 output C
// then goes through an Int8Add with Z whose attributes carry the prefix "sum_"
// (sum_a_scale: C's scale, sum_b_scale: Z's, sum_y_scale, sum_output_dtype,
// sum_activation ...): y = Int8Add(C, Z). Z must have C's shape.
inline constexpr const char* kResidualPrefix = "sum_";
inline constexpr size_t kResidualInput = 3;
// Reads and checks Int8Conv's residual arithmetic; C must be int8 (output_dtype).
AddRequantizer read_residual_requantizer(const KernelContext& ctx);
// y[i] = the add requantizer r applied to (c[i], z[i]), i < n, int8 or float y.
void apply_add(const AddRequantizer& r, const int8_t* c, const int8_t* z, Tensor& y, int64_t n);

// Fails unless every element of the int8 weight input `index` lies in [-127, 127].
void require_weight_range(const KernelContext& ctx, size_t index);
// Fails when a dot product of `depth` int8 terms could overflow int32.
void require_depth_fits(const KernelContext& ctx, int64_t depth);
// The int8 tensor widened to int16 (the GEMM's operand type).
std::vector<int16_t> widened(const Tensor& t);

// y[0..n) += alpha * x[0..n). alpha and x are int8 values held in int16, so each
// product is exact in int16 (|p| <= 128 * 128) and the sum exact in int32. Blocks
// of 8 keep it vectorised under GCC's -O2 cost model (as dense::axpy).
inline void axpy(int16_t alpha, const int16_t* __restrict x, int32_t* __restrict y, int64_t n) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int u = 0; u < 8; ++u) y[j + u] += static_cast<int16_t>(alpha * x[j + u]);
  for (; j < n; ++j) y[j] += static_cast<int16_t>(alpha * x[j]);
}

// c[i, :] += a[i, :] * b for rows i in [row_begin, row_end): a [rows x depth],
// b [depth x cols], c [rows x cols] int32, row-major (i-k-j order).
template <class A>
void matmul_accumulate_rows(const A* a, const int16_t* b, int32_t* c, int64_t depth, int64_t cols,
                            int64_t row_begin, int64_t row_end) {
  for (int64_t i = row_begin; i < row_end; ++i)
    for (int64_t p = 0; p < depth; ++p) {
      const int16_t alpha = a[i * depth + p];
      if (alpha != 0) axpy(alpha, b + p * cols, c + i * cols, cols);  // skips relu zeros
    }
}

}  // namespace int8
}  // namespace octet
