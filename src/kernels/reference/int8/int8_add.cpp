// Int8Add (domain "octet"): Y = A * a_scale + B * b_scale over int8 A and B with
// ONNX multidirectional broadcasting, requantized to int8 with y_scale (or float).
#include <array>
#include <cmath>
#include <string>

#include "kernels/reference/broadcast.h"
#include "kernels/reference/int8/int8_kernels.h"

namespace octet {
namespace {

void int8_add_kernel(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  dense::require_dtype(ctx, 0, "A", DType::kInt8);
  dense::require_dtype(ctx, 1, "B", DType::kInt8);
  const Shape out_shape = broadcast_shape(ctx, a.shape(), b.shape());
  const DType output_dtype = int8::read_output_dtype(ctx);
  const int8::Activation activation = int8::read_activation(ctx);
  const float a_scale = int8::read_scale(ctx, "a_scale");
  const float b_scale = int8::read_scale(ctx, "b_scale");
  Tensor& y = ctx.make_output(0, output_dtype, out_shape);
  const int8_t* a_data = a.data<int8_t>();
  const int8_t* b_data = b.data<int8_t>();
  const std::array<Shape, 2> in_shapes{a.shape(), b.shape()};

  if (output_dtype == DType::kFloat32) {
    float* out = y.data<float>();
    for_each_segment<2>(out_shape, in_shapes, [&](int64_t pos, const auto& offsets, const auto& steps, int64_t len) {
      for (int64_t i = 0; i < len; ++i) {
        const float va = int8::scaled(a_data[offsets[0] + i * steps[0]], a_scale);
        const float vb = int8::scaled(b_data[offsets[1] + i * steps[1]], b_scale);
        out[pos + i] = activation.apply(va + vb);
      }
    });
    return;
  }
  const float y_scale = int8::read_scale(ctx, "y_scale");
  const float a_ratio = int8::scale_ratio(a_scale, y_scale);
  const float b_ratio = int8::scale_ratio(b_scale, y_scale);
  if (!std::isfinite(a_ratio) || !std::isfinite(b_ratio)) ctx.fail("a_scale / y_scale or b_scale / y_scale overflows float");
  const int32_t lo = activation.int8_lo(y_scale), hi = activation.int8_hi(y_scale);
  int8_t* out = y.data<int8_t>();
  for_each_segment<2>(out_shape, in_shapes, [&](int64_t pos, const auto& offsets, const auto& steps, int64_t len) {
    for (int64_t i = 0; i < len; ++i) {
      // Each product rounded to float, then their sum (no fused multiply-add).
      const float va = int8::scaled(a_data[offsets[0] + i * steps[0]], a_ratio);
      const float vb = int8::scaled(b_data[offsets[1] + i * steps[1]], b_ratio);
      out[pos + i] = int8::saturate(int8::round_half_even(va + vb), lo, hi);
    }
  });
}

}  // namespace

void register_int8_add_kernels(KernelRegistry& r) {
  r.add(KernelDef{"Int8Add", int8::kDomain, 1, INT64_MAX, "reference", int8_add_kernel});
}

}  // namespace octet
