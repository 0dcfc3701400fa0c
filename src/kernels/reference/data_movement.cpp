// Pure data-movement ops: Concat, Split, Slice, Gather, Transpose, Pad. They
// move whole elements by their byte size, so every dtype works.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "kernels/reference/reference_kernels.h"
#include "kernels/reference/strided_copy.h"

namespace octet {
namespace {

StridedLayout dense_layout(const Shape& shape) { return {0, dense_strides(shape)}; }

void concat(KernelContext& ctx) {
  const Tensor& first = ctx.input(0);
  if (first.rank() == 0) ctx.fail("cannot concatenate scalars");
  const int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis"), first.rank());
  Shape out_shape = first.shape();
  out_shape[axis] = 0;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Tensor& t = ctx.input(i);
    bool fits = t.dtype() == first.dtype() && t.rank() == first.rank();
    for (int64_t d = 0; fits && d < t.rank(); ++d) fits = d == axis || t.shape()[d] == first.shape()[d];
    if (!fits)
      ctx.fail("input " + std::to_string(i) + " (" + std::string(dtype_name(t.dtype())) + " " +
               shape_str(t.shape()) + ") does not match input 0 (" + std::string(dtype_name(first.dtype())) +
               " " + shape_str(first.shape()) + ") outside axis " + std::to_string(axis));
    out_shape[axis] += t.shape()[axis];
  }
  Tensor& out = ctx.make_output(0, first.dtype(), out_shape);
  StridedLayout to = dense_layout(out_shape);
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Tensor& t = ctx.input(i);
    strided_copy(t.raw(), dense_layout(t.shape()), out.raw(), to, t.shape(), dtype_size(t.dtype()));
    to.offset += t.shape()[axis] * to.strides[axis];
  }
}

void split(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() == 0) ctx.fail("cannot split a scalar");
  const int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis", 0), x.rank());
  const int64_t dim = x.shape()[axis];
  const int64_t n_outputs = static_cast<int64_t>(ctx.outputs.size());
  if (n_outputs == 0) ctx.fail("has no outputs");
  // Part sizes: the `split` attribute before opset 13, the optional `split` input from 13.
  std::vector<int64_t> parts;
  if (ctx.opset < 13) parts = ctx.node.attr_ints("split");
  else if (ctx.has_input(1)) parts = ctx.input(1).to_int64s();
  if (parts.empty()) {
    if (dim % n_outputs != 0)
      ctx.fail("axis " + std::to_string(axis) + " of size " + std::to_string(dim) +
               " cannot be split into " + std::to_string(n_outputs) + " equal parts");
    parts.assign(n_outputs, dim / n_outputs);
  }
  if (static_cast<int64_t>(parts.size()) != n_outputs)
    ctx.fail("split has " + std::to_string(parts.size()) + " parts for " + std::to_string(n_outputs) + " outputs");
  if (std::any_of(parts.begin(), parts.end(), [](int64_t p) { return p < 0; }) ||
      std::accumulate(parts.begin(), parts.end(), int64_t{0}) != dim)
    ctx.fail("split parts " + shape_str(parts) + " do not add up to axis " + std::to_string(axis) +
             " of size " + std::to_string(dim));

  StridedLayout from = dense_layout(x.shape());
  for (int64_t i = 0; i < n_outputs; ++i) {
    Shape part_shape = x.shape();
    part_shape[axis] = parts[i];
    Tensor& out = ctx.make_output(i, x.dtype(), part_shape);
    strided_copy(x.raw(), from, out.raw(), dense_layout(part_shape), part_shape, dtype_size(x.dtype()));
    from.offset += parts[i] * from.strides[axis];
  }
}

void slice(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t rank = x.rank();
  // Attributes before opset 10, inputs (with optional steps) from 10.
  std::vector<int64_t> starts, ends, axes, steps;
  if (ctx.opset < 10) {
    starts = ctx.node.attr_ints("starts");
    ends = ctx.node.attr_ints("ends");
    axes = ctx.node.attr_ints("axes");
  } else {
    starts = ctx.input(1).to_int64s();
    ends = ctx.input(2).to_int64s();
    if (ctx.has_input(3)) axes = ctx.input(3).to_int64s();
    if (ctx.has_input(4)) steps = ctx.input(4).to_int64s();
  }
  const size_t n = starts.size();
  if (axes.empty()) {
    axes.resize(n);
    std::iota(axes.begin(), axes.end(), int64_t{0});
  }
  if (steps.empty()) steps.assign(n, 1);
  if (ends.size() != n || axes.size() != n || steps.size() != n)
    ctx.fail("starts, ends, axes and steps have different lengths");

  Shape extent = x.shape();
  StridedLayout from = dense_layout(x.shape());
  std::vector<bool> sliced(rank, false);
  for (size_t k = 0; k < n; ++k) {
    const int64_t axis = normalize_axis(ctx, axes[k], rank);
    if (sliced[axis]) ctx.fail("axis " + std::to_string(axes[k]) + " is sliced twice");
    sliced[axis] = true;
    const int64_t step = steps[k];
    if (step == 0) ctx.fail("step is 0 on axis " + std::to_string(axes[k]));
    const int64_t dim = x.shape()[axis];
    int64_t start = starts[k] < 0 ? starts[k] + dim : starts[k];
    int64_t end = ends[k] < 0 ? ends[k] + dim : ends[k];
    int64_t count;
    // ONNX clamps both to [0, dim] going forward; going backward, start to
    // [0, dim - 1] and end to [-1, dim - 1].
    if (dim == 0) {
      count = 0;
    } else if (step > 0) {
      start = std::clamp(start, int64_t{0}, dim);
      end = std::clamp(end, int64_t{0}, dim);
      count = end > start ? (end - start + step - 1) / step : 0;
    } else {
      start = std::clamp(start, int64_t{0}, dim - 1);
      end = std::clamp(end, int64_t{-1}, dim - 1);
      count = start > end ? (start - end - step - 1) / -step : 0;
    }
    extent[axis] = count;
    from.offset += start * from.strides[axis];
    from.strides[axis] *= step;
  }
  Tensor& out = ctx.make_output(0, x.dtype(), extent);
  strided_copy(x.raw(), from, out.raw(), dense_layout(extent), extent, dtype_size(x.dtype()));
}

void gather(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  if (data.rank() == 0) ctx.fail("cannot gather from a scalar");
  if (indices.dtype() != DType::kInt32 && indices.dtype() != DType::kInt64)
    ctx.unsupported("Gather indices of dtype " + std::string(dtype_name(indices.dtype())));
  const int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis", 0), data.rank());
  const int64_t dim = data.shape()[axis];
  std::vector<int64_t> index = indices.to_int64s();
  for (int64_t& i : index) {
    if (i < -dim || i >= dim)
      ctx.fail("index " + std::to_string(i) + " is out of range for axis " + std::to_string(axis) +
               " of size " + std::to_string(dim));
    if (i < 0) i += dim;
  }

  const Shape& s = data.shape();
  Shape out_shape(s.begin(), s.begin() + axis);
  out_shape.insert(out_shape.end(), indices.shape().begin(), indices.shape().end());
  out_shape.insert(out_shape.end(), s.begin() + axis + 1, s.end());
  Tensor& out = ctx.make_output(0, data.dtype(), out_shape);

  const int64_t outer = shape_numel(Shape(s.begin(), s.begin() + axis));
  const size_t block = static_cast<size_t>(shape_numel(Shape(s.begin() + axis + 1, s.end()))) *
                       dtype_size(data.dtype());
  const auto* src = static_cast<const std::byte*>(data.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i : index) {
      std::memcpy(dst, src + (o * dim + i) * block, block);
      dst += block;
    }
}

void transpose(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t rank = x.rank();
  std::vector<int64_t> reversed(rank);
  std::iota(reversed.rbegin(), reversed.rend(), int64_t{0});
  const std::vector<int64_t> perm = ctx.node.attr_ints("perm", reversed);
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> identity(rank);
  std::iota(identity.begin(), identity.end(), int64_t{0});
  if (sorted != identity)
    ctx.fail("perm " + shape_str(perm) + " is not a permutation of the " + std::to_string(rank) + " axes");

  const Shape out_shape = permuted_shape(x.shape(), perm);
  if (permutation_keeps_data_order(x.shape(), perm)) {
    ctx.outputs[0] = x.reshaped(out_shape);  // a view: no copy
    return;
  }
  copy_permuted(x, perm, ctx.make_output(0, x.dtype(), out_shape, /*zero_filled=*/false));
}

// Position inside an axis of n kept elements that padded position c (relative
// to the first kept element, may be outside [0, n)) copies in edge/reflect mode.
int64_t pad_source_index(int64_t c, int64_t n, bool reflect) {
  if (!reflect || n == 1) return std::clamp(c, int64_t{0}, n - 1);
  const int64_t period = 2 * (n - 1);  // reflection is a triangle wave over the axis
  int64_t m = c % period;
  if (m < 0) m += period;
  return m < n ? m : period - m;
}

void pad(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t rank = x.rank();
  const size_t elem_size = dtype_size(x.dtype());
  const std::string mode = ctx.node.attr_string("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge") ctx.unsupported("Pad mode '" + mode + "'");

  // Pads and the constant value: attributes before opset 11, inputs from 11.
  std::vector<int64_t> pads;
  Tensor fill(x.dtype(), {});
  if (ctx.opset < 11) {
    pads = ctx.node.attr_ints("pads");
    fill.set_from_double(0, ctx.node.attr_float("value", 0.f));
  } else {
    pads = ctx.input(1).to_int64s();
    if (ctx.has_input(2) && ctx.input(2).numel() > 0) {
      const Tensor& value = ctx.input(2);
      if (value.dtype() != x.dtype())
        ctx.fail("constant_value is " + std::string(dtype_name(value.dtype())) + " but the data is " +
                 std::string(dtype_name(x.dtype())));
      std::memcpy(fill.raw(), value.raw(), elem_size);
    }
  }
  if (static_cast<int64_t>(pads.size()) != 2 * rank)
    ctx.fail("has " + std::to_string(pads.size()) + " pads for rank " + std::to_string(rank) +
             " (expected " + std::to_string(2 * rank) + ")");

  // Negative pads crop: `kept` is what remains of each axis, placed at `lead` in the output.
  Shape out_shape(rank), kept(rank);
  std::vector<int64_t> lead(rank);
  StridedLayout from = dense_layout(x.shape());
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t begin = pads[d], end = pads[d + rank];
    kept[d] = x.shape()[d] + std::min<int64_t>(begin, 0) + std::min<int64_t>(end, 0);
    if (kept[d] < 0)
      ctx.fail("pads " + shape_str(pads) + " crop more than axis " + std::to_string(d) + " of " +
               shape_str(x.shape()) + " holds");
    lead[d] = std::max<int64_t>(begin, 0);
    out_shape[d] = kept[d] + lead[d] + std::max<int64_t>(end, 0);
    from.offset += std::max<int64_t>(-begin, 0) * from.strides[d];
  }
  Tensor& out = ctx.make_output(0, x.dtype(), out_shape);
  auto* out_bytes = static_cast<std::byte*>(out.raw());
  const StridedLayout out_layout = dense_layout(out_shape);

  if (mode == "constant") {
    const auto* fill_bytes = static_cast<const std::byte*>(fill.raw());
    if (std::any_of(fill_bytes, fill_bytes + elem_size, [](std::byte b) { return b != std::byte{0}; }))
      for (int64_t i = 0; i < out.numel(); ++i) std::memcpy(out_bytes + i * elem_size, fill_bytes, elem_size);
  }
  StridedLayout interior = out_layout;
  for (int64_t d = 0; d < rank; ++d) interior.offset += lead[d] * out_layout.strides[d];
  strided_copy(x.raw(), from, out.raw(), interior, kept, elem_size);
  if (mode == "constant") return;

  // Edge/reflect padding is separable: fill one axis at a time, copying whole
  // slabs of the output, over the full extent of the axes already filled and the
  // kept extent of those still to come.
  Shape slab = kept;
  StridedLayout slab_base = interior;
  for (int64_t d = 0; d < rank; ++d) {
    if (out_shape[d] == kept[d]) continue;
    if (kept[d] == 0) ctx.fail("cannot " + mode + "-pad axis " + std::to_string(d) + ", which is empty");
    slab[d] = 1;
    slab_base.offset -= lead[d] * out_layout.strides[d];  // slab_base now at position 0 of axis d
    for (int64_t o = 0; o < out_shape[d]; ++o) {
      if (o >= lead[d] && o < lead[d] + kept[d]) continue;
      const int64_t source = lead[d] + pad_source_index(o - lead[d], kept[d], mode == "reflect");
      StridedLayout src = slab_base, dst = slab_base;
      src.offset += source * out_layout.strides[d];
      dst.offset += o * out_layout.strides[d];
      strided_copy(out.raw(), src, out.raw(), dst, slab, elem_size);
    }
    slab[d] = out_shape[d];
  }
}

}  // namespace

void register_data_movement_kernels(KernelRegistry& r) {
  r.add(KernelDef{"Concat", "", 4, 17, "reference", concat});
  r.add(KernelDef{"Split", "", 2, 17, "reference", split});
  r.add(KernelDef{"Slice", "", 1, 17, "reference", slice});
  r.add(KernelDef{"Gather", "", 1, 17, "reference", gather});
  r.add(KernelDef{"Transpose", "", 1, 17, "reference", transpose});
  r.add(KernelDef{"Pad", "", 2, 17, "reference", pad});
}

}  // namespace octet
