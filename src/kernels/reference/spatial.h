// Sliding windows over the spatial dims of [N, C, D1..Dn] tensors: the
// attribute handling (strides, dilations, pads, auto_pad), output sizes and
// index mapping shared by Conv, ConvTranspose, MaxPool and AveragePool.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "octet/kernel.h"

namespace octet::spatial {

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

struct Window {
  Shape kernel, strides, dilations, pads_begin, pads_end;

  size_t rank() const { return kernel.size(); }
  // Input span one window covers in dim d.
  int64_t extent(size_t d) const { return (kernel[d] - 1) * dilations[d] + 1; }
};

inline AutoPad read_auto_pad(const KernelContext& ctx) {
  const std::string value = ctx.node.attr_string("auto_pad", "NOTSET");
  if (value == "NOTSET") return AutoPad::kNotSet;
  if (value == "SAME_UPPER") return AutoPad::kSameUpper;
  if (value == "SAME_LOWER") return AutoPad::kSameLower;
  if (value == "VALID") return AutoPad::kValid;
  ctx.fail("unknown auto_pad '" + value + "'");
}

// Reads strides, dilations and pads (ONNX defaults 1, 1, 0) for a window of
// `kernel`, checking their lengths and signs.
inline Window read_window(const KernelContext& ctx, Shape kernel) {
  const size_t rank = kernel.size();
  auto read = [&](const char* name, Shape fallback, int64_t min_value) {
    Shape values = ctx.node.attr_ints(name, fallback);
    if (values.size() != fallback.size())
      ctx.fail(std::string(name) + " has " + std::to_string(values.size()) + " values, expected " +
               std::to_string(fallback.size()));
    for (int64_t v : values)
      if (v < min_value)
        ctx.fail(std::string(name) + " must be >= " + std::to_string(min_value) + ", got " + shape_str(values));
    return values;
  };
  for (int64_t k : kernel)
    if (k < 1) ctx.fail("kernel_shape must be positive, got " + shape_str(kernel));
  Window w;
  w.strides = read("strides", Shape(rank, 1), 1);
  w.dilations = read("dilations", Shape(rank, 1), 1);
  const Shape pads = read("pads", Shape(2 * rank, 0), 0);
  w.pads_begin.assign(pads.begin(), pads.begin() + rank);
  w.pads_end.assign(pads.begin() + rank, pads.end());
  w.kernel = std::move(kernel);
  return w;
}

// Output sizes of sliding `w` over `input` (spatial dims only). With auto_pad
// SAME_* it fills w's pads; VALID zeroes them. ceil_mode (pools) keeps partial
// windows at the end, but never one that would start inside the end padding.
inline Shape sliding_output_shape(const KernelContext& ctx, Window& w, AutoPad auto_pad,
                                  const Shape& input, bool ceil_mode = false) {
  Shape output(w.rank());
  for (size_t d = 0; d < w.rank(); ++d) {
    const int64_t stride = w.strides[d];
    if (auto_pad == AutoPad::kSameUpper || auto_pad == AutoPad::kSameLower) {
      output[d] = (input[d] + stride - 1) / stride;
      const int64_t total = std::max<int64_t>(0, (output[d] - 1) * stride + w.extent(d) - input[d]);
      const int64_t smaller = total / 2;
      w.pads_begin[d] = auto_pad == AutoPad::kSameUpper ? smaller : total - smaller;
      w.pads_end[d] = total - w.pads_begin[d];
      continue;
    }
    if (auto_pad == AutoPad::kValid) w.pads_begin[d] = w.pads_end[d] = 0;
    const int64_t span = input[d] + w.pads_begin[d] + w.pads_end[d] - w.extent(d);
    if (span < 0)
      ctx.fail("window of extent " + std::to_string(w.extent(d)) + " does not fit spatial dim " +
               std::to_string(d) + " of size " + std::to_string(input[d]) + " with its padding");
    output[d] = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    if (ceil_mode && (output[d] - 1) * stride >= input[d] + w.pads_begin[d]) --output[d];
  }
  return output;
}

// For one kernel tap (row-major index over w.kernel), maps every position g of
// `grid` to the `image` coordinate g*stride - pad_begin + tap*dilation in each
// dim, calling visit(grid_index, image_offset) with row-major indices, and
// image_offset -1 where that coordinate lies outside the image. Conv and pools
// slide over the input (grid = output, image = input); ConvTranspose scatters
// the other way (grid = input, image = output).
template <class Visit>
void for_each_tap_position(const Window& w, int64_t tap, const Shape& grid, const Shape& image,
                           Visit&& visit) {
  const size_t rank = w.rank();
  if (shape_numel(grid) == 0) return;
  Shape tap_offset(rank);  // tap*dilation - pad_begin, per dim
  for (size_t d = rank; d-- > 0;) {
    tap_offset[d] = (tap % w.kernel[d]) * w.dilations[d] - w.pads_begin[d];
    tap /= w.kernel[d];
  }
  const size_t last = rank - 1;
  Shape outer(last, 0);  // position in all grid dims but the last
  for (int64_t grid_index = 0;;) {
    int64_t row_offset = 0;
    bool row_inside = true;
    for (size_t d = 0; d < last; ++d) {
      const int64_t coord = outer[d] * w.strides[d] + tap_offset[d];
      row_inside = row_inside && coord >= 0 && coord < image[d];
      row_offset = row_offset * image[d] + coord;
    }
    row_offset *= image[last];
    for (int64_t g = 0; g < grid[last]; ++g, ++grid_index) {
      const int64_t coord = g * w.strides[last] + tap_offset[last];
      const bool inside = row_inside && coord >= 0 && coord < image[last];
      visit(grid_index, inside ? row_offset + coord : int64_t{-1});
    }
    size_t d = last;
    while (d > 0 && ++outer[d - 1] == grid[d - 1]) outer[--d] = 0;
    if (d == 0) return;
  }
}

// GlobalAveragePool / GlobalMaxPool over NCHW X [N, C, D...]: one value per
// (batch, channel) plane of plane_size elements, Y shaped [N, C, 1, ...].
struct GlobalPool {
  int64_t planes, plane_size;
  Shape output_shape;
};
inline GlobalPool global_pool_geometry(const KernelContext& ctx, const Tensor& x) {
  if (x.rank() < 3) ctx.fail("X must have rank >= 3 ([N, C, D...]), got " + shape_str(x.shape()));
  GlobalPool g{x.dim(0) * x.dim(1), shape_numel(Shape(x.shape().begin() + 2, x.shape().end())),
               Shape(x.shape().size(), 1)};
  if (g.plane_size == 0) ctx.fail("X " + shape_str(x.shape()) + " has empty spatial dims");
  g.output_shape[0] = x.dim(0);
  g.output_shape[1] = x.dim(1);
  return g;
}

}  // namespace octet::spatial
