// Int8Conv (domain "octet"): ONNX Conv over int8 X and per-output-channel int8 W,
// with an int32 bias, int32 accumulation and a requantized int8 (or float) output.
// Same structure as the FP32 reference Conv: im2col per (batch, group), then a GEMM
// (int16-held int8 operands, int32 accumulators), then a per-channel epilogue;
// with a residual input Z, an Int8Add of that output and Z (int8_kernels.h).
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/reference/channels_last.h"
#include "kernels/reference/dense.h"
#include "kernels/reference/int8/int8_kernels.h"
#include "kernels/reference/spatial.h"
#include "octet/parallel.h"

namespace octet {
namespace {

void int8_conv_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  dense::require_dtype(ctx, 0, "X", DType::kInt8);
  dense::require_dtype(ctx, 1, "W", DType::kInt8);
  if (x.rank() < 3) ctx.fail("X must have rank >= 3 ([N, C, D...]), got " + shape_str(x.shape()));
  if (w.rank() != x.rank())
    ctx.fail("W " + shape_str(w.shape()) + " must have the rank of X " + shape_str(x.shape()));

  const int64_t group = ctx.node.attr_int("group", 1);
  if (group < 1) ctx.fail("group must be >= 1, got " + std::to_string(group));
  const int64_t batch = x.dim(0), in_channels = x.dim(1), out_channels = w.dim(0);
  if (w.dim(1) * group != in_channels || out_channels % group != 0)
    ctx.fail("X has " + std::to_string(in_channels) + " channels but W " + shape_str(w.shape()) + " expects " +
             std::to_string(w.dim(1) * group) + " (group " + std::to_string(group) + ")");
  const int32_t* bias = nullptr;
  if (ctx.has_input(2)) {
    dense::require_dtype(ctx, 2, "B", DType::kInt32);
    const Tensor& b = ctx.input(2);
    if (b.rank() != 1 || b.dim(0) != out_channels)
      ctx.fail("B " + shape_str(b.shape()) + " must be [" + std::to_string(out_channels) + "]");
    bias = b.data<int32_t>();
  }
  const Shape kernel(w.shape().begin() + 2, w.shape().end());
  if (ctx.node.has_attr("kernel_shape") && ctx.node.attr_ints("kernel_shape") != kernel)
    ctx.fail("kernel_shape " + shape_str(ctx.node.attr_ints("kernel_shape")) + " does not match W " +
             shape_str(w.shape()));
  const Shape in_spatial(x.shape().begin() + 2, x.shape().end());
  spatial::Window window = spatial::read_window(ctx, kernel);
  const Shape out_spatial = spatial::sliding_output_shape(ctx, window, spatial::read_auto_pad(ctx), in_spatial);

  const int64_t in_plane = shape_numel(in_spatial);
  const int64_t out_plane = shape_numel(out_spatial);
  const int64_t taps = shape_numel(kernel);
  const int64_t in_per_group = in_channels / group;
  const int64_t out_per_group = out_channels / group;
  const int64_t patch = in_per_group * taps;  // one column of the im2col matrix
  const int8::Requantizer rq = int8::read_requantizer(ctx, out_channels);
  int8::require_weight_range(ctx, 1);
  int8::require_depth_fits(ctx, patch);

  Shape out_shape{batch, out_channels};
  out_shape.insert(out_shape.end(), out_spatial.begin(), out_spatial.end());
  // With a residual Z the convolution's int8 output is an intermediate, added to Z at the end.
  const bool residual = ctx.has_input(int8::kResidualInput);
  const int8::AddRequantizer sum = residual ? int8::read_residual_requantizer(ctx) : int8::AddRequantizer{};
  if (residual) {
    dense::require_dtype(ctx, int8::kResidualInput, "Z", DType::kInt8);
    if (ctx.input(int8::kResidualInput).shape() != out_shape)
      ctx.fail("Z " + shape_str(ctx.input(int8::kResidualInput).shape()) + " must have the convolution's output shape " +
               shape_str(out_shape));
  }
  Tensor conv_out = residual ? Tensor(DType::kInt8, out_shape) : Tensor();
  Tensor& y = residual ? conv_out : ctx.make_output(0, rq.output_dtype, out_shape);
  int8_t* y_int8 = rq.output_dtype == DType::kInt8 ? y.data<int8_t>() : nullptr;
  float* y_float = rq.output_dtype == DType::kFloat32 ? y.data<float>() : nullptr;
  const int8_t* x_data = x.data<int8_t>();
  const std::vector<int16_t> w16 = int8::widened(w);

  // Batch*group units run in parallel; with a single unit the GEMM rows do instead
  // (parallel_for runs nested calls inline). Nothing below throws.
  parallel_for(batch * group, [&](int64_t begin, int64_t end) {
    std::vector<int16_t> col(static_cast<size_t>(patch * out_plane));  // [patch x out_plane]
    std::vector<int32_t> acc(static_cast<size_t>(out_per_group * out_plane));
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t n = unit / group, g = unit % group;
      const int8_t* x_group = x_data + (n * in_channels + g * in_per_group) * in_plane;
      for (int64_t row = 0; row < patch; ++row) {
        const int8_t* x_channel = x_group + (row / taps) * in_plane;
        int16_t* col_row = col.data() + row * out_plane;
        // Padding reads the zero point, 0.
        spatial::for_each_tap_position(window, row % taps, out_spatial, in_spatial, [&](int64_t j, int64_t offset) {
          col_row[j] = offset < 0 ? int16_t{0} : int16_t{x_channel[offset]};
        });
      }
      std::fill(acc.begin(), acc.end(), 0);
      parallel_for(out_per_group, [&](int64_t row_begin, int64_t row_end) {
        int8::matmul_accumulate_rows(w16.data() + g * out_per_group * patch, col.data(), acc.data(), patch,
                                     out_plane, row_begin, row_end);
        for (int64_t m = row_begin; m < row_end; ++m) {
          const int64_t channel = g * out_per_group + m;
          const int32_t b = bias ? bias[channel] : 0;
          const int32_t* acc_row = acc.data() + m * out_plane;
          const int64_t out_offset = (n * out_channels + channel) * out_plane;
          if (y_int8) {
            for (int64_t j = 0; j < out_plane; ++j)
              y_int8[out_offset + j] = rq.to_int8(int8::add_bias(acc_row[j], b), channel);
          } else {
            for (int64_t j = 0; j < out_plane; ++j)
              y_float[out_offset + j] = rq.to_float(int8::add_bias(acc_row[j], b), channel);
          }
        }
      });
    }
  });
  if (residual)
    int8::apply_add(sum, conv_out.data<int8_t>(), ctx.input(int8::kResidualInput).data<int8_t>(),
                    ctx.make_output(0, sum.output_dtype, out_shape), conv_out.numel());
}

}  // namespace

void register_int8_conv_kernels(KernelRegistry& r) {
  r.add(KernelDef{"Int8Conv", int8::kDomain, 1, INT64_MAX, "reference",
                  reference::with_channels_last(int8_conv_kernel)});
}

}  // namespace octet
