// Conv and ConvTranspose over any number of spatial dims. Conv runs im2col per
// (batch, group) followed by a GEMM; ConvTranspose a GEMM followed by col2im.
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/reference/channels_last.h"
#include "kernels/reference/conv_core.h"
#include "kernels/reference/dense.h"
#include "kernels/reference/reference_kernels.h"
#include "kernels/reference/spatial.h"
#include "octet/parallel.h"

namespace octet {
namespace {

// What Conv and ConvTranspose read from X [N, C, D...], W and the attributes.
struct ConvOperands {
  int64_t batch = 0, in_channels = 0, out_channels = 0, group = 1;
  Shape input_spatial;
  spatial::Window window;  // kernel from W's spatial dims
  spatial::AutoPad auto_pad = spatial::AutoPad::kNotSet;
};

// Validates X, W and the optional bias B. Conv weights are [M, C/group, k...],
// ConvTranspose weights [C, M/group, k...].
ConvOperands read_conv_operands(const KernelContext& ctx, bool transpose) {
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  dense::require_dtype(ctx, 1, "W", x.dtype());
  if (x.rank() < 3) ctx.fail("X must have rank >= 3 ([N, C, D...]), got " + shape_str(x.shape()));
  if (w.rank() != x.rank())
    ctx.fail("W " + shape_str(w.shape()) + " must have the rank of X " + shape_str(x.shape()));

  ConvOperands op;
  op.group = ctx.node.attr_int("group", 1);
  op.batch = x.dim(0);
  op.in_channels = x.dim(1);
  if (op.group < 1) ctx.fail("group must be >= 1, got " + std::to_string(op.group));
  const std::string grouping = " (group " + std::to_string(op.group) + ")";
  if (transpose) {
    if (w.dim(0) != op.in_channels || op.in_channels % op.group != 0)
      ctx.fail("X has " + std::to_string(op.in_channels) + " channels but W " + shape_str(w.shape()) +
               " expects " + std::to_string(w.dim(0)) + grouping);
    op.out_channels = w.dim(1) * op.group;
  } else {
    if (w.dim(1) * op.group != op.in_channels || w.dim(0) % op.group != 0)
      ctx.fail("X has " + std::to_string(op.in_channels) + " channels but W " + shape_str(w.shape()) +
               " expects " + std::to_string(w.dim(1) * op.group) + grouping);
    op.out_channels = w.dim(0);
  }
  if (ctx.has_input(2)) {
    dense::require_dtype(ctx, 2, "B", x.dtype());
    const Tensor& b = ctx.input(2);
    if (b.rank() != 1 || b.dim(0) != op.out_channels)
      ctx.fail("B " + shape_str(b.shape()) + " must be [" + std::to_string(op.out_channels) + "]");
  }

  const Shape kernel(w.shape().begin() + 2, w.shape().end());
  if (ctx.node.has_attr("kernel_shape") && ctx.node.attr_ints("kernel_shape") != kernel)
    ctx.fail("kernel_shape " + shape_str(ctx.node.attr_ints("kernel_shape")) +
             " does not match W " + shape_str(w.shape()));
  op.input_spatial.assign(x.shape().begin() + 2, x.shape().end());
  op.window = spatial::read_window(ctx, kernel);
  op.auto_pad = spatial::read_auto_pad(ctx);
  return op;
}

// The sizes a convolution's (or its transpose's) loops share.
struct ConvSizes {
  int64_t in_plane, out_plane, taps, in_per_group, out_per_group;
};
ConvSizes conv_sizes(const ConvOperands& op, const Shape& out_spatial) {
  return {shape_numel(op.input_spatial), shape_numel(out_spatial), shape_numel(op.window.kernel),
          op.in_channels / op.group, op.out_channels / op.group};
}

// Creates Y [N, C_out, out_spatial...] holding the bias, ready to accumulate into.
template <class T>
T* bias_filled_output(KernelContext& ctx, const ConvOperands& op, const Shape& out_spatial) {
  Shape out_shape{op.batch, op.out_channels};
  out_shape.insert(out_shape.end(), out_spatial.begin(), out_spatial.end());
  T* out = ctx.make_output(0, ctx.input(0).dtype(), out_shape).data<T>();
  if (!ctx.has_input(2)) return out;  // outputs start zero-filled
  const T* bias = ctx.input(2).data<T>();
  const int64_t plane = shape_numel(out_spatial);
  for (int64_t block = 0; block < op.batch * op.out_channels; ++block)
    std::fill(out + block * plane, out + (block + 1) * plane, bias[block % op.out_channels]);
  return out;
}

template <class T>
void conv(KernelContext& ctx, ConvOperands op) {
  const Shape out_spatial = spatial::sliding_output_shape(ctx, op.window, op.auto_pad, op.input_spatial);
  const ConvSizes z = conv_sizes(op, out_spatial);
  T* out = bias_filled_output<T>(ctx, op, out_spatial);
  const T* x = ctx.input(0).data<T>();
  const T* w = ctx.input(1).data<T>();
  const int64_t in_plane = z.in_plane, out_plane = z.out_plane, taps = z.taps;
  const int64_t in_per_group = z.in_per_group, out_per_group = z.out_per_group;
  const int64_t patch = in_per_group * taps;  // one column of the im2col matrix

  // Batch*group units run in parallel; with a single unit the GEMM rows do instead
  // (parallel_for runs nested calls inline).
  parallel_for(op.batch * op.group, [&](int64_t begin, int64_t end) {
    std::vector<T> col(static_cast<size_t>(patch * out_plane));  // [patch x out_plane]
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t n = unit / op.group, g = unit % op.group;
      const T* x_group = x + (n * op.in_channels + g * in_per_group) * in_plane;
      for (int64_t row = 0; row < patch; ++row) {
        const T* x_channel = x_group + (row / taps) * in_plane;
        T* col_row = col.data() + row * out_plane;
        spatial::for_each_tap_position(op.window, row % taps, out_spatial, op.input_spatial,
                                       [&](int64_t j, int64_t offset) {
                                         col_row[j] = offset < 0 ? T(0) : x_channel[offset];
                                       });
      }
      const T* w_group = w + g * out_per_group * patch;
      T* y_group = out + (n * op.out_channels + g * out_per_group) * out_plane;
      parallel_for(out_per_group, [&](int64_t row_begin, int64_t row_end) {
        dense::matmul_accumulate_rows(w_group, col.data(), y_group, patch, out_plane, row_begin, row_end);
      });
    }
  });
}

// ConvTranspose output sizes (spatial), filling op.window's pads when they are
// derived from output_shape or auto_pad, as the ONNX spec gives them.
Shape conv_transpose_output_shape(const KernelContext& ctx, ConvOperands& op) {
  spatial::Window& w = op.window;
  const size_t rank = w.rank();
  const Shape output_padding = ctx.node.attr_ints("output_padding", Shape(rank, 0));
  if (output_padding.size() != rank)
    ctx.fail("output_padding has " + std::to_string(output_padding.size()) + " values, expected " +
             std::to_string(rank));
  Shape requested = ctx.node.attr_ints("output_shape");
  if (requested.size() == rank + 2) requested.erase(requested.begin(), requested.begin() + 2);  // [N, C, D...]
  if (!requested.empty() && requested.size() != rank)
    ctx.fail("output_shape " + shape_str(requested) + " does not have " + std::to_string(rank) + " spatial dims");
  const bool same = op.auto_pad == spatial::AutoPad::kSameUpper || op.auto_pad == spatial::AutoPad::kSameLower;

  Shape output(rank);
  for (size_t d = 0; d < rank; ++d) {
    const int64_t full = w.strides[d] * (op.input_spatial[d] - 1) + output_padding[d] + w.extent(d);
    if (!requested.empty() || same) {
      output[d] = requested.empty() ? op.input_spatial[d] * w.strides[d] : requested[d];
      // Negative when output_shape exceeds the full output. Halved rounding down
      // like ONNX's reference, so that the extra (zeros) lands at the end unless SAME_UPPER.
      const int64_t total = full - output[d];
      const int64_t half = total >= 0 ? total / 2 : -((1 - total) / 2);
      w.pads_begin[d] = op.auto_pad == spatial::AutoPad::kSameUpper ? half : total - half;
      w.pads_end[d] = total - w.pads_begin[d];
    } else {
      if (op.auto_pad == spatial::AutoPad::kValid) w.pads_begin[d] = w.pads_end[d] = 0;
      output[d] = full - w.pads_begin[d] - w.pads_end[d];
    }
    if (output[d] < 1) ctx.fail("output spatial dim " + std::to_string(d) + " would be " + std::to_string(output[d]));
  }
  return output;
}

template <class T>
void conv_transpose(KernelContext& ctx, ConvOperands op) {
  const Shape out_spatial = conv_transpose_output_shape(ctx, op);
  const ConvSizes z = conv_sizes(op, out_spatial);
  T* out = bias_filled_output<T>(ctx, op, out_spatial);
  const T* x = ctx.input(0).data<T>();
  const T* w = ctx.input(1).data<T>();
  const int64_t in_plane = z.in_plane, out_plane = z.out_plane, taps = z.taps;
  const int64_t in_per_group = z.in_per_group, out_per_group = z.out_per_group;
  const int64_t patch = out_per_group * taps;  // one column of the col2im matrix

  // Per group, W is [C/group x patch]; the GEMM needs its transpose [patch x C/group].
  std::vector<std::vector<T>> w_transposed(static_cast<size_t>(op.group));
  for (int64_t g = 0; g < op.group; ++g)
    w_transposed[g] = dense::transposed(w + g * in_per_group * patch, in_per_group, patch);

  parallel_for(op.batch * op.group, [&](int64_t begin, int64_t end) {
    std::vector<T> col(static_cast<size_t>(patch * in_plane));  // [patch x in_plane]
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t n = unit / op.group, g = unit % op.group;
      const T* x_group = x + (n * op.in_channels + g * in_per_group) * in_plane;
      std::fill(col.begin(), col.end(), T(0));
      parallel_for(patch, [&](int64_t row_begin, int64_t row_end) {
        dense::matmul_accumulate_rows(w_transposed[g].data(), x_group, col.data(), in_per_group, in_plane,
                                      row_begin, row_end);
      });
      T* y_group = out + (n * op.out_channels + g * out_per_group) * out_plane;
      for (int64_t row = 0; row < patch; ++row) {
        T* y_channel = y_group + (row / taps) * out_plane;
        const T* col_row = col.data() + row * in_plane;
        spatial::for_each_tap_position(op.window, row % taps, op.input_spatial, out_spatial,
                                       [&](int64_t j, int64_t offset) {
                                         if (offset >= 0) y_channel[offset] += col_row[j];
                                       });
      }
    }
  });
}

void conv_transpose_kernel(KernelContext& ctx) {
  ConvOperands op = read_conv_operands(ctx, /*transpose=*/true);
  dense::dispatch_dtype<DType::kFloat32, DType::kFloat64>(
      ctx, ctx.input(0).dtype(), [&](auto t) { conv_transpose<decltype(t)>(ctx, op); });
}

}  // namespace

void reference::conv_forward(KernelContext& ctx) {
  ConvOperands op = read_conv_operands(ctx, /*transpose=*/false);
  dense::dispatch_dtype<DType::kFloat32, DType::kFloat64>(ctx, ctx.input(0).dtype(),
                                                          [&](auto t) { conv<decltype(t)>(ctx, op); });
}

void register_conv_kernels(KernelRegistry& r) {
  r.add(KernelDef{"Conv", "", 1, 17, "reference", reference::with_channels_last(reference::conv_forward)});
  r.add(KernelDef{"ConvTranspose", "", 1, 17, "reference", conv_transpose_kernel});
}

}  // namespace octet
