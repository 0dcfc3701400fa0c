// Type conversion reference kernels: Cast, QuantizeLinear, DequantizeLinear.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "kernels/reference/broadcast.h"
#include "kernels/reference/reference_kernels.h"
#include "kernels/reference/strided_copy.h"

namespace octet {
namespace {

constexpr const char* kBackend = "reference";

// ---------------------------------------------------------------------------
// Cast

// Names of the ONNX element types octet does not hold, for error messages.
std::string onnx_type_name(int64_t code) {
  switch (code) {
    case 8: return "string";
    case 14: return "complex64";
    case 15: return "complex128";
    case 17: return "float8e4m3fn";
    case 18: return "float8e4m3fnuz";
    case 19: return "float8e5m2";
    case 20: return "float8e5m2fnuz";
    default: return "ONNX element type " + std::to_string(code);
  }
}

// The types with a C++ counterpart; float16 and bfloat16 are cast through float32.
using CastTypes = DTypes<DType::kFloat32, DType::kFloat64, DType::kInt8, DType::kUInt8,
                         DType::kInt16, DType::kUInt16, DType::kInt32, DType::kUInt32,
                         DType::kInt64, DType::kUInt64, DType::kBool>;

bool is_16bit_float(DType t) { return t == DType::kFloat16 || t == DType::kBFloat16; }

// Exact widening of a float16 / bfloat16 tensor.
Tensor widen_to_float32(const Tensor& x) {
  Tensor wide(DType::kFloat32, x.shape());
  const uint16_t* in = x.data<uint16_t>();
  float* out = wide.data<float>();
  const bool bfloat = x.dtype() == DType::kBFloat16;
  for_each_chunk(x.numel(), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = bfloat ? bfloat16_to_float(in[i]) : half_to_float(in[i]);
  });
  return wide;
}

// float32 -> float16 / bfloat16 (`out`'s dtype), rounding to nearest even.
void narrow_from_float32(const Tensor& x, Tensor& out) {
  const float* in = x.data<float>();
  uint16_t* bits = out.data<uint16_t>();
  const bool bfloat = out.dtype() == DType::kBFloat16;
  for_each_chunk(x.numel(), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) bits[i] = bfloat ? float_to_bfloat16(in[i]) : float_to_half(in[i]);
  });
}

// Casts between two CastTypes, into `out` (already shaped).
void cast_values(const KernelContext& ctx, const Tensor& x, Tensor& out) {
  CastTypes::dispatch(ctx, x.dtype(), [&](auto from_zero) {
    CastTypes::dispatch(ctx, out.dtype(), [&](auto to_zero) {
      using From = decltype(from_zero);
      using To = decltype(to_zero);
      const From* in = x.data<From>();
      To* values = out.data<To>();
      for_each_chunk(x.numel(), [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) values[i] = convert_value<To>(in[i]);
      });
    });
  });
}

void cast_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t to_code = ctx.node.attr_int("to");
  const DType to = dtype_from_onnx(static_cast<int>(to_code));
  if (to == DType::kUndefined) ctx.unsupported("cast to " + onnx_type_name(to_code) + " is not supported");
  Tensor& y = ctx.make_output(0, to, x.shape());
  if (x.dtype() == to) {
    if (x.nbytes()) std::memcpy(y.raw(), x.raw(), x.nbytes());
    return;
  }
  const Tensor source = is_16bit_float(x.dtype()) ? widen_to_float32(x) : x;
  if (!is_16bit_float(to)) {
    cast_values(ctx, source, y);
  } else if (source.dtype() == DType::kFloat32) {
    narrow_from_float32(source, y);
  } else {
    // Through float32. For float64 this rounds twice, which differs from one
    // rounding only when the float32 value lands exactly half-way between two
    // float16 values; ONNX's float64 -> float16 cases agree.
    Tensor wide(DType::kFloat32, x.shape());
    cast_values(ctx, source, wide);
    narrow_from_float32(wide, y);
  }
}

// ---------------------------------------------------------------------------
// QuantizeLinear / DequantizeLinear

// Checks scale and zero point against x and returns the shape they broadcast
// with against x: [] per tensor, or [C, 1, ..., 1] per slice along `axis` (opset 13+).
Shape quantization_param_shape(const KernelContext& ctx, const Tensor& x, const Tensor& scale,
                               const Tensor* zero_point) {
  if (scale.dtype() != DType::kFloat32)
    ctx.unsupported("scale dtype " + std::string(dtype_name(scale.dtype())) + " is not supported");
  if (zero_point && zero_point->numel() != scale.numel())
    ctx.fail("zero point shape " + shape_str(zero_point->shape()) + " does not match scale shape " +
             shape_str(scale.shape()));
  if (scale.numel() == 1) return {};
  if (ctx.opset < 13 || scale.rank() != 1)
    ctx.fail(std::string("scale must be a scalar") + (ctx.opset >= 13 ? " or a 1-D tensor" : "") +
             ", got shape " + shape_str(scale.shape()));
  const int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis", 1), x.rank());
  if (scale.numel() != x.shape()[axis])
    ctx.fail("scale has " + std::to_string(scale.numel()) + " elements but axis " +
             std::to_string(axis) + " of input shape " + shape_str(x.shape()) + " has " +
             std::to_string(x.shape()[axis]));
  Shape shape(x.rank() - axis, 1);
  shape[0] = scale.numel();
  return shape;
}

// The zero point input, or zeros of `dtype` shaped like the scale when it is omitted.
Tensor zero_point_or_default(const KernelContext& ctx, size_t index, DType dtype, const Tensor& scale) {
  return ctx.has_input(index) ? ctx.input(index) : Tensor(dtype, scale.shape());
}

// y = saturate(round_half_even(x / scale) + zero_point), y of type Q.
void quantize_linear_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor zero_point = zero_point_or_default(ctx, 2, DType::kUInt8, scale);
  const Shape param_shape = quantization_param_shape(ctx, x, scale, &zero_point);
  DTypes<DType::kFloat32, DType::kInt32>::dispatch(ctx, x.dtype(), [&](auto x_zero) {
    DTypes<DType::kUInt8, DType::kInt8>::dispatch(ctx, zero_point.dtype(), [&](auto q_zero) {
      using X = decltype(x_zero);
      using Q = decltype(q_zero);
      const X* in = x.data<X>();
      const float* scales = scale.data<float>();
      const Q* zero_points = zero_point.data<Q>();
      Q* out = ctx.make_output(0, zero_point.dtype(), x.shape()).template data<Q>();
      constexpr float lo = std::numeric_limits<Q>::min(), hi = std::numeric_limits<Q>::max();
      for_each_segment<2>(x.shape(), {x.shape(), param_shape},
                          [&](int64_t o, const auto& offsets, const auto& steps, int64_t n) {
        for (int64_t i = 0; i < n; ++i) {
          const int64_t p = offsets[1] + i * steps[1];
          // nearbyint rounds half to even in the default rounding mode; fmax maps NaN to lo.
          const float q = std::nearbyint(static_cast<float>(in[o + i]) / scales[p]) + zero_points[p];
          out[o + i] = static_cast<Q>(std::fmin(std::fmax(q, lo), hi));
        }
      });
    });
  });
}

// y = (x - zero_point) * scale, y float32.
void dequantize_linear_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor zero_point = zero_point_or_default(ctx, 2, x.dtype(), scale);
  if (zero_point.dtype() != x.dtype())
    ctx.fail("zero point dtype " + std::string(dtype_name(zero_point.dtype())) +
             " differs from input dtype " + std::string(dtype_name(x.dtype())));
  const Shape param_shape = quantization_param_shape(ctx, x, scale, &zero_point);
  DTypes<DType::kUInt8, DType::kInt8, DType::kInt32>::dispatch(ctx, x.dtype(), [&](auto q_zero) {
    using Q = decltype(q_zero);
    const Q* in = x.data<Q>();
    const float* scales = scale.data<float>();
    const Q* zero_points = zero_point.data<Q>();
    float* out = ctx.make_output(0, DType::kFloat32, x.shape()).template data<float>();
    for_each_segment<2>(x.shape(), {x.shape(), param_shape},
                        [&](int64_t o, const auto& offsets, const auto& steps, int64_t n) {
      for (int64_t i = 0; i < n; ++i) {
        const int64_t p = offsets[1] + i * steps[1];
        out[o + i] = static_cast<float>(int64_t{in[o + i]} - zero_points[p]) * scales[p];
      }
    });
  });
}

}  // namespace

void register_cast_quantize_kernels(KernelRegistry& r) {
  // Opsets 1-5 name the target type with a string; not covered.
  r.add({"Cast", "", 6, 17, kBackend, cast_kernel});
  r.add({"QuantizeLinear", "", 10, 17, kBackend, quantize_linear_kernel});
  r.add({"DequantizeLinear", "", 10, 17, kBackend, dequantize_linear_kernel});
}

}  // namespace octet
