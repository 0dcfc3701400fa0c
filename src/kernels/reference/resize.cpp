// Resize (opset 10..17) and Upsample (opset 7..9).
//
// Every supported mode is separable, so the output is computed one axis at a
// time: each axis gets a table saying, for every output position, which input
// positions it reads with which weights (1 tap for nearest, 2 for linear, 4 for
// cubic) or whether it lies outside the crop box (tf_crop_and_resize). Nearest
// copies whole elements, so it works for every dtype; linear and cubic compute
// in double. Coordinates follow ONNX's reference implementation.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "kernels/reference/reference_kernels.h"

namespace octet {
namespace {

enum class InterpolationMode { kNearest, kLinear, kCubic };
enum class CoordinateMode { kHalfPixel, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixelForNn, kTfCropAndResize };
enum class NearestRounding { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };

struct ResizeAttributes {
  InterpolationMode mode = InterpolationMode::kNearest;
  CoordinateMode coordinates = CoordinateMode::kHalfPixel;
  NearestRounding rounding = NearestRounding::kRoundPreferFloor;
  double cubic_coeff_a = -0.75;
  bool exclude_outside = false;
  double extrapolation_value = 0.0;
};

// What one axis is resized to.
struct AxisTarget {
  int64_t in_len = 0;
  int64_t out_len = 0;
  double scale = 1.0;            // out / in
  double resized_length = 0.0;   // in * scale: not rounded, as ONNX's coordinate formulas use it
  double roi_start = 0.0, roi_end = 1.0;  // tf_crop_and_resize only
};

// For every output position of one axis: `taps` (input index, weight) pairs,
// or a flag saying the position takes the extrapolation value.
struct AxisSampling {
  int64_t taps = 1;
  std::vector<int64_t> index;     // out_len * taps, always inside [0, in_len)
  std::vector<double> weight;     // out_len * taps
  std::vector<bool> extrapolate;  // out_len

  // True when output position j is exactly input position j for every j.
  bool is_identity(int64_t in_len) const {
    const auto out_len = static_cast<int64_t>(extrapolate.size());
    if (out_len != in_len) return false;
    for (int64_t j = 0; j < out_len; ++j) {
      if (extrapolate[j]) return false;
      double on_j = 0.0, elsewhere = 0.0;
      for (int64_t t = 0; t < taps; ++t)
        (index[j * taps + t] == j ? on_j : elsewhere) += std::abs(weight[j * taps + t]);
      if (on_j != 1.0 || elsewhere != 0.0) return false;
    }
    return true;
  }
};

ResizeAttributes parse_attributes(const KernelContext& ctx, bool full) {
  ResizeAttributes a;
  const Node& node = ctx.node;
  const std::string mode = node.attr_string("mode", "nearest");
  if (mode == "nearest") a.mode = InterpolationMode::kNearest;
  else if (mode == "linear") a.mode = InterpolationMode::kLinear;
  else if (mode == "cubic" && full) a.mode = InterpolationMode::kCubic;
  else ctx.unsupported(node.op_type + " mode '" + mode + "'");
  if (!full) {  // Upsample and Resize-10: x_original = x_resized / scale, nearest rounds down
    a.coordinates = CoordinateMode::kAsymmetric;
    a.rounding = NearestRounding::kFloor;
    return a;
  }

  const std::string coordinates = node.attr_string("coordinate_transformation_mode", "half_pixel");
  if (coordinates == "half_pixel") a.coordinates = CoordinateMode::kHalfPixel;
  else if (coordinates == "pytorch_half_pixel") a.coordinates = CoordinateMode::kPytorchHalfPixel;
  else if (coordinates == "align_corners") a.coordinates = CoordinateMode::kAlignCorners;
  else if (coordinates == "asymmetric") a.coordinates = CoordinateMode::kAsymmetric;
  else if (coordinates == "tf_half_pixel_for_nn") a.coordinates = CoordinateMode::kTfHalfPixelForNn;
  else if (coordinates == "tf_crop_and_resize") a.coordinates = CoordinateMode::kTfCropAndResize;
  else ctx.unsupported("Resize coordinate_transformation_mode '" + coordinates + "'");

  const std::string rounding = node.attr_string("nearest_mode", "round_prefer_floor");
  if (rounding == "round_prefer_floor") a.rounding = NearestRounding::kRoundPreferFloor;
  else if (rounding == "round_prefer_ceil") a.rounding = NearestRounding::kRoundPreferCeil;
  else if (rounding == "floor") a.rounding = NearestRounding::kFloor;
  else if (rounding == "ceil") a.rounding = NearestRounding::kCeil;
  else ctx.unsupported("Resize nearest_mode '" + rounding + "'");

  a.cubic_coeff_a = node.attr_float("cubic_coeff_a", -0.75f);
  a.exclude_outside = node.attr_int("exclude_outside", 0) != 0;
  a.extrapolation_value = node.attr_float("extrapolation_value", 0.f);
  return a;
}

// Position in the input axis that output position x maps to.
double original_coordinate(CoordinateMode mode, double x, const AxisTarget& t) {
  switch (mode) {
    case CoordinateMode::kHalfPixel: return (x + 0.5) / t.scale - 0.5;
    case CoordinateMode::kPytorchHalfPixel: return t.resized_length > 1 ? (x + 0.5) / t.scale - 0.5 : 0.0;
    case CoordinateMode::kAlignCorners:
      return t.resized_length == 1 ? 0.0 : x * (t.in_len - 1) / (t.resized_length - 1);
    case CoordinateMode::kAsymmetric: return x / t.scale;
    case CoordinateMode::kTfHalfPixelForNn: return (x + 0.5) / t.scale;
    case CoordinateMode::kTfCropAndResize: {
      const double span = (t.roi_end - t.roi_start) * (t.in_len - 1);
      return t.roi_start * (t.in_len - 1) +
             (t.out_len > 1 ? x * span / (t.out_len - 1) : 0.5 * span);
    }
  }
  return x;
}

// Weights of the input positions floor(x) - 1 .. floor(x) + 2 for fraction r of x.
std::array<double, 4> cubic_weights(double r, double a) {
  auto near = [a](double d) { return ((a + 2) * d - (a + 3)) * d * d + 1; };           // |d| <= 1
  auto far = [a](double d) { return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a; };     // 1 < |d| < 2
  return {far(r + 1), near(r), near(1 - r), far(2 - r)};
}

AxisSampling sample_axis(const ResizeAttributes& a, const AxisTarget& t) {
  AxisSampling s;
  s.taps = a.mode == InterpolationMode::kNearest ? 1 : a.mode == InterpolationMode::kLinear ? 2 : 4;
  s.index.assign(t.out_len * s.taps, 0);
  s.weight.assign(t.out_len * s.taps, 0.0);
  s.extrapolate.assign(t.out_len, false);
  const int64_t last = t.in_len - 1;
  for (int64_t j = 0; j < t.out_len; ++j) {
    const double x = original_coordinate(a.coordinates, static_cast<double>(j), t);
    if (a.coordinates == CoordinateMode::kTfCropAndResize && (x < 0 || x > last)) {
      s.extrapolate[j] = true;
      continue;
    }
    const double base = std::floor(x);
    const double frac = x - base;
    int64_t* index = &s.index[j * s.taps];
    double* weight = &s.weight[j * s.taps];
    if (a.mode == InterpolationMode::kNearest) {
      bool up = false;
      switch (a.rounding) {
        case NearestRounding::kRoundPreferFloor: up = frac > 0.5; break;
        case NearestRounding::kRoundPreferCeil: up = frac >= 0.5; break;
        case NearestRounding::kFloor: up = false; break;
        case NearestRounding::kCeil: up = frac > 0; break;
      }
      index[0] = std::clamp(static_cast<int64_t>(base) + (up ? 1 : 0), int64_t{0}, last);
      weight[0] = 1.0;
      continue;
    }
    // Linear reads floor(x) and floor(x) + 1, cubic floor(x) - 1 .. floor(x) + 2;
    // positions past the ends read the edge element (or, with exclude_outside, nothing).
    const int64_t first = static_cast<int64_t>(base) - (a.mode == InterpolationMode::kCubic ? 1 : 0);
    if (a.mode == InterpolationMode::kLinear) {
      weight[0] = 1 - frac;
      weight[1] = frac;
    } else {
      const auto w = cubic_weights(frac, a.cubic_coeff_a);
      std::copy(w.begin(), w.end(), weight);
    }
    double total = 0.0;
    for (int64_t k = 0; k < s.taps; ++k) {
      const int64_t position = first + k;
      if (a.exclude_outside && (position < 0 || position > last)) weight[k] = 0.0;
      index[k] = std::clamp(position, int64_t{0}, last);
      total += weight[k];
    }
    if (a.exclude_outside)
      for (int64_t k = 0; k < s.taps; ++k) weight[k] /= total;
  }
  return s;
}

// Element counts before and after `axis` of a row-major shape.
std::pair<int64_t, int64_t> outer_inner(const Shape& shape, size_t axis) {
  return {shape_numel(Shape(shape.begin(), shape.begin() + axis)),
          shape_numel(Shape(shape.begin() + axis + 1, shape.end()))};
}

// Nearest: copies whole elements, any dtype.
Tensor resample_nearest(const Tensor& x, const std::vector<AxisTarget>& targets,
                        const std::vector<AxisSampling>& samplings, double extrapolation_value) {
  const size_t elem_size = dtype_size(x.dtype());
  Tensor fill(x.dtype(), {});
  fill.set_from_double(0, extrapolation_value);
  Tensor current = x;
  for (size_t d = 0; d < targets.size(); ++d) {
    const AxisSampling& s = samplings[d];
    if (s.is_identity(targets[d].in_len)) continue;
    Shape next_shape = current.shape();
    next_shape[d] = targets[d].out_len;
    Tensor next(x.dtype(), next_shape);
    const auto [outer, inner] = outer_inner(next_shape, d);
    const size_t row = static_cast<size_t>(inner) * elem_size;
    const auto* src = static_cast<const std::byte*>(current.raw());
    auto* dst = static_cast<std::byte*>(next.raw());
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < targets[d].out_len; ++j, dst += row) {
        if (s.extrapolate[j]) {
          for (int64_t i = 0; i < inner; ++i) std::memcpy(dst + i * elem_size, fill.raw(), elem_size);
        } else {
          std::memcpy(dst, src + (o * targets[d].in_len + s.index[j]) * row, row);
        }
      }
    current = next;
  }
  return current;
}

// Linear and cubic: weighted sums in double, one axis at a time.
void resample_weighted(KernelContext& ctx, const Tensor& x, const std::vector<AxisTarget>& targets,
                       const std::vector<AxisSampling>& samplings, double extrapolation_value) {
  std::vector<double> current(static_cast<size_t>(x.numel()));
  for (int64_t i = 0; i < x.numel(); ++i) current[i] = x.get_as_double(i);
  Shape shape = x.shape();
  for (size_t d = 0; d < targets.size(); ++d) {
    const AxisSampling& s = samplings[d];
    if (s.is_identity(targets[d].in_len)) continue;
    shape[d] = targets[d].out_len;
    std::vector<double> next(static_cast<size_t>(shape_numel(shape)), 0.0);
    const auto [outer, inner] = outer_inner(shape, d);
    double* dst = next.data();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < targets[d].out_len; ++j, dst += inner) {
        if (s.extrapolate[j]) {
          std::fill(dst, dst + inner, extrapolation_value);
          continue;
        }
        for (int64_t t = 0; t < s.taps; ++t) {
          const double w = s.weight[j * s.taps + t];
          if (w == 0.0) continue;
          const double* src = current.data() + (o * targets[d].in_len + s.index[j * s.taps + t]) * inner;
          for (int64_t i = 0; i < inner; ++i) dst[i] += w * src[i];
        }
      }
    current = std::move(next);
  }
  Tensor& out = ctx.make_output(0, x.dtype(), shape);
  for (int64_t i = 0; i < out.numel(); ++i) out.set_from_double(i, current[i]);
}

void resample(KernelContext& ctx, const ResizeAttributes& a, const std::vector<AxisTarget>& targets) {
  const Tensor& x = ctx.input(0);
  std::vector<AxisSampling> samplings;
  for (const AxisTarget& t : targets) {
    if (t.in_len == 0 && t.out_len > 0) ctx.fail("cannot resize an empty axis to " + std::to_string(t.out_len));
    samplings.push_back(sample_axis(a, t));
  }
  if (a.mode == InterpolationMode::kNearest) {
    ctx.outputs[0] = resample_nearest(x, targets, samplings, a.extrapolation_value);
    return;
  }
  const DType dt = x.dtype();
  if (dt != DType::kFloat32 && dt != DType::kFloat64 && dt != DType::kFloat16 && dt != DType::kBFloat16)
    ctx.unsupported(ctx.node.op_type + " mode '" + ctx.node.attr_string("mode", "") + "' on " +
                    std::string(dtype_name(dt)) + " data");
  resample_weighted(ctx, x, targets, samplings, a.extrapolation_value);
}

// Targets from per-axis scales: out = floor(in * scale).
std::vector<AxisTarget> targets_from_scales(const KernelContext& ctx, const Shape& in,
                                            const std::vector<double>& scales) {
  if (scales.size() != in.size())
    ctx.fail("has " + std::to_string(scales.size()) + " scales for input of rank " + std::to_string(in.size()));
  std::vector<AxisTarget> targets(in.size());
  for (size_t d = 0; d < in.size(); ++d) {
    if (!(scales[d] > 0)) ctx.fail("scale " + std::to_string(scales[d]) + " on axis " + std::to_string(d) + " is not positive");
    AxisTarget& t = targets[d];
    t.in_len = in[d];
    t.scale = scales[d];
    t.resized_length = static_cast<double>(in[d]) * scales[d];
    t.out_len = static_cast<int64_t>(std::floor(t.resized_length));
  }
  return targets;
}

std::vector<double> tensor_values(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.get_as_double(i);
  return v;
}

void resize(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const size_t rank = x.shape().size();
  if (ctx.opset < 11) {  // Resize-10: inputs X, scales
    resample(ctx, parse_attributes(ctx, false), targets_from_scales(ctx, x.shape(), tensor_values(ctx.input(1))));
    return;
  }
  const ResizeAttributes a = parse_attributes(ctx, true);
  // roi, scales and sizes are optional; an empty tensor stands for an omitted one.
  auto given = [&](size_t i) { return ctx.has_input(i) && ctx.input(i).numel() > 0; };
  if (given(2) == given(3)) ctx.fail("exactly one of scales and sizes must be given");
  std::vector<AxisTarget> targets;
  if (given(2)) {
    targets = targets_from_scales(ctx, x.shape(), tensor_values(ctx.input(2)));
  } else {
    const std::vector<int64_t> sizes = ctx.input(3).to_int64s();
    if (sizes.size() != rank)
      ctx.fail("has " + std::to_string(sizes.size()) + " sizes for input of rank " + std::to_string(rank));
    targets.resize(rank);
    for (size_t d = 0; d < rank; ++d) {
      if (sizes[d] < 0) ctx.fail("size " + std::to_string(sizes[d]) + " on axis " + std::to_string(d) + " is negative");
      AxisTarget& t = targets[d];
      t.in_len = x.shape()[d];
      t.out_len = sizes[d];
      t.scale = t.in_len > 0 ? static_cast<double>(t.out_len) / t.in_len : 1.0;
      t.resized_length = static_cast<double>(t.out_len);
    }
  }
  if (a.coordinates == CoordinateMode::kTfCropAndResize) {
    if (!given(1)) ctx.fail("tf_crop_and_resize needs roi");
    const std::vector<double> roi = tensor_values(ctx.input(1));
    if (roi.size() != 2 * rank)
      ctx.fail("roi has " + std::to_string(roi.size()) + " values for input of rank " + std::to_string(rank));
    for (size_t d = 0; d < rank; ++d) {
      targets[d].roi_start = roi[d];
      targets[d].roi_end = roi[rank + d];
    }
  }
  resample(ctx, a, targets);
}

void upsample(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  // Scales: an attribute before opset 9, an input from 9.
  std::vector<double> scales;
  if (ctx.opset < 9) {
    const std::vector<float> attr = ctx.node.attr_floats("scales");
    scales.assign(attr.begin(), attr.end());
  } else {
    scales = tensor_values(ctx.input(1));
  }
  resample(ctx, parse_attributes(ctx, false), targets_from_scales(ctx, x.shape(), scales));
}

}  // namespace

void register_resize_kernels(KernelRegistry& r) {
  r.add(KernelDef{"Resize", "", 10, 17, "reference", resize});
  r.add(KernelDef{"Upsample", "", 7, 9, "reference", upsample});
}

}  // namespace octet
