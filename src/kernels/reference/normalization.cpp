// BatchNormalization (inference), Softmax and ReduceMean.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/reference/dense.h"
#include "kernels/reference/reference_kernels.h"

namespace octet {
namespace {

// ---- BatchNormalization: y = (x - mean) / sqrt(var + epsilon) * scale + B ----

template <class T>
void batch_normalization(KernelContext& ctx, int64_t channels, int64_t inner, int64_t params_per_channel) {
  const Tensor& x = ctx.input(0);
  const T* scale = ctx.input(1).data<T>();
  const T* bias = ctx.input(2).data<T>();
  const T* mean = ctx.input(3).data<T>();
  const T* var = ctx.input(4).data<T>();
  const T epsilon = static_cast<T>(ctx.node.attr_float("epsilon", 1e-5f));
  // Folded into y = x * multiplier + offset, per parameter.
  const int64_t params = channels * params_per_channel;
  std::vector<T> multiplier(static_cast<size_t>(params)), offset(static_cast<size_t>(params));
  for (int64_t p = 0; p < params; ++p) {
    multiplier[p] = scale[p] / std::sqrt(var[p] + epsilon);
    offset[p] = bias[p] - mean[p] * multiplier[p];
  }
  const T* in = x.data<T>();
  T* out = ctx.make_output(0, x.dtype(), x.shape()).template data<T>();
  const int64_t planes = x.dim(0) * channels;
  for (int64_t plane = 0; plane < planes; ++plane) {
    const int64_t first_param = (plane % channels) * params_per_channel;
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t p = first_param + (params_per_channel == 1 ? 0 : i);
      out[plane * inner + i] = in[plane * inner + i] * multiplier[p] + offset[p];
    }
  }
}

void batch_normalization_kernel(KernelContext& ctx) {
  if (ctx.node.attr_int("training_mode", 0) != 0) ctx.unsupported("training_mode=1 is not supported");
  for (size_t i = 1; i < ctx.node.outputs.size(); ++i)
    if (!ctx.node.outputs[i].empty()) ctx.unsupported("training outputs (running mean/var) are not supported");
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) ctx.fail("X must have rank >= 2 ([N, C, ...]), got " + shape_str(x.shape()));
  const int64_t channels = x.dim(1);
  const int64_t inner = shape_numel(Shape(x.shape().begin() + 2, x.shape().end()));
  // Before opset 9, spatial=0 gives every element of a channel its own parameters.
  const int64_t params_per_channel = ctx.node.attr_int("spatial", 1) == 0 ? inner : 1;
  const char* names[] = {"scale", "B", "mean", "var"};
  for (size_t i = 1; i <= 4; ++i) {
    dense::require_dtype(ctx, i, names[i - 1], x.dtype());
    if (ctx.input(i).numel() != channels * params_per_channel)
      ctx.fail(std::string(names[i - 1]) + " " + shape_str(ctx.input(i).shape()) + " does not match the " +
               std::to_string(channels) + " channels of X " + shape_str(x.shape()));
  }
  dense::dispatch_dtype<DType::kFloat32, DType::kFloat64>(ctx, x.dtype(), [&](auto t) {
    batch_normalization<decltype(t)>(ctx, channels, inner, params_per_channel);
  });
}

// Normalises a negative axis against `rank`; fails outside [-rank, max_axis].
int64_t normalize_axis(const KernelContext& ctx, int64_t axis, int64_t rank, int64_t max_axis) {
  if (axis < -rank || axis > max_axis)
    ctx.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

// ---- Softmax ----

// Softmax over `length` elements `stride` apart, for each of the blocks of
// length*stride elements and each of the `stride` offsets within one.
template <class T>
void softmax(const T* in, T* out, int64_t blocks, int64_t length, int64_t stride) {
  if (length == 0) return;  // empty tensor
  for (int64_t block = 0; block < blocks; ++block)
    for (int64_t offset = 0; offset < stride; ++offset) {
      const int64_t first = block * length * stride + offset;
      T max_value = in[first];
      for (int64_t i = 1; i < length; ++i) max_value = std::max(max_value, in[first + i * stride]);
      T sum = 0;
      for (int64_t i = 0; i < length; ++i) {
        // Subtracting the max keeps exp from overflowing.
        out[first + i * stride] = std::exp(in[first + i * stride] - max_value);
        sum += out[first + i * stride];
      }
      for (int64_t i = 0; i < length; ++i) out[first + i * stride] /= sum;
    }
}

void softmax_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Shape& shape = x.shape();
  const int64_t rank = x.rank();
  const bool along_one_axis = ctx.opset >= 13;  // earlier opsets coerce to 2-D at the axis
  const int64_t axis = along_one_axis
                           ? normalize_axis(ctx, ctx.node.attr_int("axis", -1), rank, rank - 1)
                           : normalize_axis(ctx, ctx.node.attr_int("axis", 1), rank, rank);
  const int64_t blocks = shape_numel(Shape(shape.begin(), shape.begin() + axis));
  const int64_t length = along_one_axis ? shape[axis] : shape_numel(Shape(shape.begin() + axis, shape.end()));
  const int64_t stride = along_one_axis ? shape_numel(Shape(shape.begin() + axis + 1, shape.end())) : 1;
  dense::dispatch_dtype<DType::kFloat32, DType::kFloat64>(ctx, x.dtype(), [&](auto t) {
    using T = decltype(t);
    softmax(x.data<T>(), ctx.make_output(0, x.dtype(), shape).template data<T>(), blocks, length, stride);
  });
}

// ---- ReduceMean (axes attribute, opsets before 18) ----

template <class T>
void reduce_mean(const Tensor& x, Tensor& y, const std::vector<bool>& reduced) {
  // Walk the input in row-major order, tracking the output element it adds to.
  const Shape& shape = x.shape();
  Shape out_strides(shape.size(), 0);  // 0 along reduced dims
  for (int64_t d = x.rank() - 1, stride = 1; d >= 0; --d)
    if (!reduced[d]) {
      out_strides[d] = stride;
      stride *= shape[d];
    }
  std::vector<double> sums(static_cast<size_t>(y.numel()), 0.0);
  const T* in = x.data<T>();
  Shape coords(shape.size(), 0);
  for (int64_t i = 0, out_index = 0; i < x.numel(); ++i) {
    sums[out_index] += static_cast<double>(in[i]);
    for (int64_t d = x.rank() - 1; d >= 0; --d) {  // next coordinate, odometer-style
      out_index += out_strides[d];
      if (++coords[d] < shape[d]) break;
      out_index -= coords[d] * out_strides[d];
      coords[d] = 0;
    }
  }
  const double count = static_cast<double>(x.numel()) / static_cast<double>(std::max<int64_t>(1, y.numel()));
  T* out = y.data<T>();
  for (size_t o = 0; o < sums.size(); ++o) out[o] = static_cast<T>(sums[o] / count);
}

void reduce_mean_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t rank = x.rank();
  const Shape axes = ctx.node.attr_ints("axes");
  std::vector<bool> reduced(static_cast<size_t>(rank), axes.empty());  // no axes: reduce all
  for (int64_t axis : axes) {
    const int64_t d = normalize_axis(ctx, axis, rank, rank - 1);
    if (reduced[d]) ctx.fail("axes " + shape_str(axes) + " repeat an axis");
    reduced[d] = true;
  }
  const bool keepdims = ctx.node.attr_int("keepdims", 1) != 0;
  Shape out_shape;
  for (int64_t d = 0; d < rank; ++d)
    if (!reduced[d]) out_shape.push_back(x.dim(d));
    else if (keepdims) out_shape.push_back(1);
  dense::dispatch_dtype<DType::kFloat32, DType::kFloat64>(ctx, x.dtype(), [&](auto t) {
    reduce_mean<decltype(t)>(x, ctx.make_output(0, x.dtype(), out_shape), reduced);
  });
}

}  // namespace

void register_normalization_kernels(KernelRegistry& r) {
  r.add(KernelDef{"BatchNormalization", "", 1, 17, "reference", batch_normalization_kernel});
  r.add(KernelDef{"Softmax", "", 1, 17, "reference", softmax_kernel});
  r.add(KernelDef{"ReduceMean", "", 1, 17, "reference", reduce_mean_kernel});
}

}  // namespace octet
