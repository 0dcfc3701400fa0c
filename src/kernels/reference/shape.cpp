// Shape-only ops: Flatten, Reshape, Squeeze, Unsqueeze, Shape, Constant. They
// never touch element values, so they work for every dtype and the reshaping
// ones return views sharing the input's buffer.
#include <algorithm>
#include <optional>

#include "kernels/reference/reference_kernels.h"
#include "kernels/reference/strided_copy.h"

namespace octet {
namespace {

// Normalises a list of axes against `rank`, failing on duplicates.
std::vector<int64_t> normalize_axes(const KernelContext& ctx, const std::vector<int64_t>& axes,
                                    int64_t rank) {
  std::vector<int64_t> out;
  for (int64_t a : axes) {
    int64_t axis = normalize_axis(ctx, a, rank);
    if (std::find(out.begin(), out.end(), axis) != out.end())
      ctx.fail("axis " + std::to_string(a) + " is listed twice");
    out.push_back(axis);
  }
  return out;
}

// Squeeze/Unsqueeze take `axes` as an attribute before opset 13 and as an input from 13.
std::optional<std::vector<int64_t>> axes_from_attr_or_input(const KernelContext& ctx) {
  if (ctx.opset < 13) {
    if (!ctx.node.has_attr("axes")) return std::nullopt;
    return ctx.node.attr_ints("axes");
  }
  if (!ctx.has_input(1)) return std::nullopt;
  return ctx.input(1).to_int64s();
}

void flatten(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t rank = x.rank();
  int64_t axis = ctx.node.attr_int("axis", 1);
  // Flatten's axis may equal the rank (everything goes into the outer dimension).
  if (axis < -rank || axis > rank)
    ctx.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  if (axis < 0) axis += rank;
  const Shape& s = x.shape();
  const int64_t outer = shape_numel(Shape(s.begin(), s.begin() + axis));
  const int64_t inner = shape_numel(Shape(s.begin() + axis, s.end()));
  ctx.outputs[0] = x.reshaped({outer, inner});
}

void reshape(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Shape requested = ctx.input(1).to_int64s();
  const bool allow_zero = ctx.opset >= 14 && ctx.node.attr_int("allowzero", 0) != 0;
  auto fail_shape = [&](const std::string& why) {
    ctx.fail("cannot reshape " + shape_str(x.shape()) + " (" + std::to_string(x.numel()) +
             " elements) to " + shape_str(requested) + ": " + why);
  };

  Shape out = requested;
  int64_t inferred_axis = -1;
  int64_t known_numel = 1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      if (inferred_axis >= 0) fail_shape("more than one dimension is -1");
      inferred_axis = static_cast<int64_t>(i);
      continue;
    }
    if (out[i] < -1) fail_shape("dimension " + std::to_string(i) + " is negative");
    if (out[i] == 0 && !allow_zero) {
      if (i >= x.shape().size()) fail_shape("dimension " + std::to_string(i) + " is 0 but the input has no such dimension to copy");
      out[i] = x.shape()[i];
    }
    known_numel *= out[i];
  }
  if (inferred_axis >= 0) {
    if (known_numel == 0 || x.numel() % known_numel != 0) fail_shape("the element count does not fit");
    out[inferred_axis] = x.numel() / known_numel;
  } else if (known_numel != x.numel()) {
    fail_shape("the element count does not fit");
  }
  ctx.outputs[0] = x.reshaped(out);
}

void squeeze(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const auto axes = axes_from_attr_or_input(ctx);
  Shape out;
  if (!axes || axes->empty()) {  // no axes (or an empty list, as ONNX Runtime reads it): drop every 1-dimension
    for (int64_t d : x.shape())
      if (d != 1) out.push_back(d);
  } else {
    const auto squeezed = normalize_axes(ctx, *axes, x.rank());
    for (int64_t a : squeezed)
      if (x.shape()[a] != 1)
        ctx.fail("cannot squeeze axis " + std::to_string(a) + " of shape " + shape_str(x.shape()) +
                 ": its size is not 1");
    for (int64_t d = 0; d < x.rank(); ++d)
      if (std::find(squeezed.begin(), squeezed.end(), d) == squeezed.end()) out.push_back(x.shape()[d]);
  }
  ctx.outputs[0] = x.reshaped(out);
}

void unsqueeze(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const auto axes = axes_from_attr_or_input(ctx);
  if (!axes) ctx.fail("axes are required");
  const int64_t out_rank = x.rank() + static_cast<int64_t>(axes->size());
  const auto inserted = normalize_axes(ctx, *axes, out_rank);
  Shape out;
  auto next_input_dim = x.shape().begin();
  for (int64_t d = 0; d < out_rank; ++d)
    out.push_back(std::find(inserted.begin(), inserted.end(), d) != inserted.end() ? 1 : *next_input_dim++);
  ctx.outputs[0] = x.reshaped(out);
}

void shape(KernelContext& ctx) {
  const Shape& dims = ctx.input(0).shape();
  const int64_t rank = static_cast<int64_t>(dims.size());
  // start/end (opset 15+) are clamped to [0, rank] after adding rank to negatives.
  auto clamp_bound = [rank](int64_t v) { return std::clamp(v < 0 ? v + rank : v, int64_t{0}, rank); };
  const int64_t start = ctx.opset >= 15 ? clamp_bound(ctx.node.attr_int("start", 0)) : 0;
  const int64_t end = ctx.opset >= 15 ? clamp_bound(ctx.node.attr_int("end", rank)) : rank;
  const int64_t n = std::max<int64_t>(0, end - start);
  Tensor& out = ctx.make_output(0, DType::kInt64, {n});
  std::copy(dims.begin() + start, dims.begin() + start + n, out.data<int64_t>());
}

void constant(KernelContext& ctx) {
  const Node& node = ctx.node;
  if (node.has_attr("value")) {
    ctx.outputs[0] = node.attr_tensor("value");
  } else if (node.has_attr("value_float")) {
    ctx.make_output(0, DType::kFloat32, {}).data<float>()[0] = node.attr_float("value_float", 0.f);
  } else if (node.has_attr("value_floats")) {
    const auto values = node.attr_floats("value_floats");
    Tensor& out = ctx.make_output(0, DType::kFloat32, {static_cast<int64_t>(values.size())});
    std::copy(values.begin(), values.end(), out.data<float>());
  } else if (node.has_attr("value_int")) {
    ctx.make_output(0, DType::kInt64, {}).data<int64_t>()[0] = node.attr_int("value_int");
  } else if (node.has_attr("value_ints")) {
    const auto values = node.attr_ints("value_ints");
    Tensor& out = ctx.make_output(0, DType::kInt64, {static_cast<int64_t>(values.size())});
    std::copy(values.begin(), values.end(), out.data<int64_t>());
  } else {
    for (const char* other : {"sparse_value", "value_string", "value_strings"})
      if (node.has_attr(other)) ctx.unsupported(std::string("Constant attribute '") + other + "'");
    ctx.fail("has none of the attributes value, value_float(s), value_int(s)");
  }
}

}  // namespace

void register_shape_kernels(KernelRegistry& r) {
  r.add(KernelDef{"Flatten", "", 1, 17, "reference", flatten});
  r.add(KernelDef{"Reshape", "", 5, 17, "reference", reshape});
  r.add(KernelDef{"Squeeze", "", 1, 17, "reference", squeeze});
  r.add(KernelDef{"Unsqueeze", "", 1, 17, "reference", unsqueeze});
  r.add(KernelDef{"Shape", "", 1, 17, "reference", shape});
  r.add(KernelDef{"Constant", "", 1, 17, "reference", constant});
}

}  // namespace octet
