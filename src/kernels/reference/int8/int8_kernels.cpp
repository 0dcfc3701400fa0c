// Registration of the reference INT8 kernels and the attribute handling they share.
#include "kernels/reference/int8/int8_kernels.h"

#include <cmath>
#include <limits>
#include <string>

#include "octet/parallel.h"

namespace octet {

void register_int8_kernels(KernelRegistry& r) {
  register_int8_conv_kernels(r);
  register_int8_matmul_kernels(r);
  register_int8_add_kernels(r);
}

namespace int8 {

float read_scale(const KernelContext& ctx, const std::string& name) {
  if (!ctx.node.has_attr(name)) ctx.fail("attribute " + name + " is missing");
  const float v = ctx.node.attr_float(name, 0.0f);
  if (!std::isfinite(v) || v <= 0.0f) ctx.fail(name + " must be finite and > 0, got " + std::to_string(v));
  return v;
}

DType read_output_dtype(const KernelContext& ctx, const std::string& prefix) {
  const std::string v = ctx.node.attr_string(prefix + "output_dtype", "int8");
  if (v == "int8") return DType::kInt8;
  if (v == "float32") return DType::kFloat32;
  ctx.fail(prefix + "output_dtype must be \"int8\" or \"float32\", got \"" + v + "\"");
}

Activation read_activation(const KernelContext& ctx, const std::string& prefix) {
  const std::string v = ctx.node.attr_string(prefix + "activation", "none");
  Activation a;
  if (v == "none") {
    a.kind = Activation::kNone;
  } else if (v == "relu") {
    a.kind = Activation::kRelu;
  } else if (v == "clip") {
    a.kind = Activation::kClip;
    a.clip_min = ctx.node.attr_float(prefix + "clip_min", a.clip_min);
    a.clip_max = ctx.node.attr_float(prefix + "clip_max", a.clip_max);
    if (std::isnan(a.clip_min) || std::isnan(a.clip_max) || a.clip_min > a.clip_max)
      ctx.fail(prefix + "clip_min " + std::to_string(a.clip_min) + " and " + prefix + "clip_max " +
               std::to_string(a.clip_max) + " do not form a range");
  } else {
    ctx.fail(prefix + "activation must be \"none\", \"relu\" or \"clip\", got \"" + v + "\"");
  }
  return a;
}

AddRequantizer read_add_requantizer(const KernelContext& ctx, const std::string& prefix) {
  AddRequantizer r;
  r.output_dtype = read_output_dtype(ctx, prefix);
  const Activation activation = read_activation(ctx, prefix);
  const float a_scale = read_scale(ctx, prefix + "a_scale");
  const float b_scale = read_scale(ctx, prefix + "b_scale");
  if (r.output_dtype == DType::kFloat32) {
    r.ra = a_scale;
    r.rb = b_scale;
    r.clamped = activation.kind != Activation::kNone;
    r.lo = activation.kind == Activation::kRelu ? 0.0f : activation.clip_min;
    r.hi = activation.kind == Activation::kRelu ? std::numeric_limits<float>::infinity() : activation.clip_max;
    return r;
  }
  const float y_scale = read_scale(ctx, prefix + "y_scale");
  r.ra = scale_ratio(a_scale, y_scale);
  r.rb = scale_ratio(b_scale, y_scale);
  if (!std::isfinite(r.ra) || !std::isfinite(r.rb))
    ctx.fail(prefix + "a_scale / " + prefix + "y_scale or " + prefix + "b_scale / " + prefix + "y_scale overflows float");
  r.clamped = true;
  r.lo = static_cast<float>(activation.int8_lo(y_scale));
  r.hi = static_cast<float>(activation.int8_hi(y_scale));
  return r;
}

AddRequantizer read_residual_requantizer(const KernelContext& ctx) {
  if (read_output_dtype(ctx) != DType::kInt8)
    ctx.fail("a residual input (Z) needs the convolution's own output_dtype to be int8");
  return read_add_requantizer(ctx, kResidualPrefix);
}

void apply_add(const AddRequantizer& r, const int8_t* c, const int8_t* z, Tensor& y, int64_t n) {
  if (r.output_dtype == DType::kInt8) {
    int8_t* out = y.data<int8_t>();
    for (int64_t i = 0; i < n; ++i) out[i] = r.to_int8(c[i], z[i]);
  } else {
    float* out = y.data<float>();
    for (int64_t i = 0; i < n; ++i) out[i] = r.to_float(c[i], z[i]);
  }
}

Requantizer read_requantizer(const KernelContext& ctx, int64_t channels) {
  Requantizer rq;
  rq.output_dtype = read_output_dtype(ctx);
  rq.activation = read_activation(ctx);
  const float x_scale = read_scale(ctx, "x_scale");
  const std::vector<float> w_scales = ctx.node.attr_floats("w_scales");
  if (static_cast<int64_t>(w_scales.size()) != channels)
    ctx.fail("w_scales has " + std::to_string(w_scales.size()) + " values but there are " +
             std::to_string(channels) + " output channels");
  for (float s : w_scales)
    if (!std::isfinite(s) || s < 0.0f) ctx.fail("w_scales must be finite and >= 0, got " + std::to_string(s));
  const bool int8_output = rq.output_dtype == DType::kInt8;
  const float y_scale = int8_output ? read_scale(ctx, "y_scale") : 1.0f;
  rq.lo = rq.activation.int8_lo(y_scale);
  rq.hi = rq.activation.int8_hi(y_scale);
  for (float s : w_scales) {
    const float m = int8_output ? requant_multiplier(x_scale, s, y_scale) : accumulator_scale(x_scale, s);
    if (!std::isfinite(m))
      ctx.fail("x_scale * w_scale / y_scale overflows float (w_scale " + std::to_string(s) + ")");
    rq.multipliers.push_back(m);
  }
  return rq;
}

void require_weight_range(const KernelContext& ctx, size_t index) {
  const Tensor& w = ctx.input(index);
  const int8_t* data = w.data<int8_t>();
  for (int64_t i = 0; i < w.numel(); ++i)
    if (data[i] < kWeightMin)
      ctx.fail("weight element " + std::to_string(i) + " is " + std::to_string(data[i]) +
               "; int8 weights must lie in [-127, 127]");
}

void require_depth_fits(const KernelContext& ctx, int64_t depth) {
  constexpr int64_t kMaxDepth = INT32_MAX / (128 * 128);
  if (depth > kMaxDepth)
    ctx.fail("dot products of " + std::to_string(depth) + " int8 terms may overflow int32 (max " +
             std::to_string(kMaxDepth) + ")");
}

std::vector<int16_t> widened(const Tensor& t) {
  const int8_t* data = t.data<int8_t>();
  return std::vector<int16_t>(data, data + t.numel());
}

}  // namespace int8
}  // namespace octet
