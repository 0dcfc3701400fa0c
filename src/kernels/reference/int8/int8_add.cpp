// Int8Add (domain "octet"): Y = A * a_scale + B * b_scale over int8 A and B with
// ONNX multidirectional broadcasting, requantized to int8 with y_scale (or float).
#include <array>
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
  const int8::AddRequantizer r = int8::read_add_requantizer(ctx);
  Tensor& y = ctx.make_output(0, r.output_dtype, out_shape);
  const int8_t* a_data = a.data<int8_t>();
  const int8_t* b_data = b.data<int8_t>();
  const std::array<Shape, 2> in_shapes{a.shape(), b.shape()};
  auto for_each_pair = [&](auto&& store) {
    for_each_segment<2>(out_shape, in_shapes, [&](int64_t pos, const auto& offsets, const auto& steps, int64_t len) {
      for (int64_t i = 0; i < len; ++i) store(pos + i, a_data[offsets[0] + i * steps[0]], b_data[offsets[1] + i * steps[1]]);
    });
  };
  if (r.output_dtype == DType::kInt8) {
    int8_t* out = y.data<int8_t>();
    for_each_pair([&](int64_t i, int8_t va, int8_t vb) { out[i] = r.to_int8(va, vb); });
  } else {
    float* out = y.data<float>();
    for_each_pair([&](int64_t i, int8_t va, int8_t vb) { out[i] = r.to_float(va, vb); });
  }
}

}  // namespace

void register_int8_add_kernels(KernelRegistry& r) {
  r.add(KernelDef{"Int8Add", int8::kDomain, 1, INT64_MAX, "reference", int8_add_kernel});
}

}  // namespace octet
