// MaxPool, AveragePool (any number of spatial dims) and the global pools. Each
// (batch, channel) plane is pooled tap by tap over all output positions.
#include <algorithm>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "kernels/reference/channels_last.h"
#include "kernels/reference/dense.h"
#include "kernels/reference/reference_kernels.h"
#include "kernels/reference/spatial.h"
#include "octet/parallel.h"

namespace octet {
namespace {

struct PoolGeometry {
  spatial::Window window;
  Shape input_spatial, output_spatial;
  Shape output_shape;  // [N, C, output_spatial...]
  int64_t planes = 0;  // N * C
};

PoolGeometry read_pool_geometry(const KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() < 3) ctx.fail("X must have rank >= 3 ([N, C, D...]), got " + shape_str(x.shape()));
  const Shape kernel = ctx.node.attr_ints("kernel_shape");
  if (kernel.size() != static_cast<size_t>(x.rank() - 2))
    ctx.fail("kernel_shape " + shape_str(kernel) + " must have one value per spatial dim of X " +
             shape_str(x.shape()));
  PoolGeometry geo;
  geo.window = spatial::read_window(ctx, kernel);
  geo.input_spatial.assign(x.shape().begin() + 2, x.shape().end());
  geo.output_spatial = spatial::sliding_output_shape(ctx, geo.window, spatial::read_auto_pad(ctx),
                                                     geo.input_spatial, ctx.node.attr_int("ceil_mode", 0) != 0);
  for (size_t d = 0; d < geo.window.rank(); ++d)
    if (geo.window.pads_begin[d] >= geo.window.extent(d) || geo.window.pads_end[d] >= geo.window.extent(d))
      ctx.fail("pads must be smaller than the window in every dim, got pads " +
               shape_str(ctx.node.attr_ints("pads")) + " for kernel_shape " + shape_str(kernel));
  geo.output_shape = {x.dim(0), x.dim(1)};
  geo.output_shape.insert(geo.output_shape.end(), geo.output_spatial.begin(), geo.output_spatial.end());
  geo.planes = x.dim(0) * x.dim(1);
  return geo;
}

// Row-major offset within `dims` -> the column-major offset of the same element.
int64_t column_major_offset(int64_t row_major, const Shape& dims) {
  Shape coords(dims.size());
  for (size_t d = dims.size(); d-- > 0;) {
    coords[d] = row_major % dims[d];
    row_major /= dims[d];
  }
  int64_t offset = 0;
  for (size_t d = dims.size(); d-- > 0;) offset = offset * dims[d] + coords[d];
  return offset;
}

template <class T>
void max_pool(KernelContext& ctx, const PoolGeometry& geo) {
  const int64_t storage_order = ctx.node.attr_int("storage_order", 0);
  if (storage_order != 0 && storage_order != 1)
    ctx.fail("storage_order must be 0 or 1, got " + std::to_string(storage_order));
  const T* x = ctx.input(0).data<T>();
  T* y = ctx.make_output(0, ctx.input(0).dtype(), geo.output_shape).template data<T>();
  const bool want_indices = ctx.node.outputs.size() > 1 && !ctx.node.outputs[1].empty();
  int64_t* indices = want_indices ? ctx.make_output(1, DType::kInt64, geo.output_shape).data<int64_t>() : nullptr;
  const int64_t in_plane = shape_numel(geo.input_spatial);
  const int64_t out_plane = shape_numel(geo.output_spatial);
  const int64_t taps = shape_numel(geo.window.kernel);

  parallel_for(geo.planes, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> argmax(static_cast<size_t>(out_plane));  // offset in the plane, -1: none yet
    for (int64_t plane = begin; plane < end; ++plane) {
      const T* x_plane = x + plane * in_plane;
      T* y_plane = y + plane * out_plane;
      // A window that covers only padding keeps the lowest value and index -1.
      std::fill(y_plane, y_plane + out_plane, std::numeric_limits<T>::lowest());
      std::fill(argmax.begin(), argmax.end(), int64_t{-1});
      // Taps in row-major order and a strict '>' keep the first maximum, as ONNX Runtime does.
      for (int64_t tap = 0; tap < taps; ++tap)
        spatial::for_each_tap_position(geo.window, tap, geo.output_spatial, geo.input_spatial,
                                       [&](int64_t j, int64_t offset) {
                                         if (offset >= 0 && (argmax[j] < 0 || x_plane[offset] > y_plane[j])) {
                                           y_plane[j] = x_plane[offset];
                                           argmax[j] = offset;
                                         }
                                       });
      if (!indices) continue;
      // Indices are flat over the whole input tensor; storage_order 1 orders the spatial dims column-major.
      for (int64_t j = 0; j < out_plane; ++j) {
        const int64_t offset = storage_order == 0 ? argmax[j] : column_major_offset(argmax[j], geo.input_spatial);
        indices[plane * out_plane + j] = argmax[j] < 0 ? -1 : plane * in_plane + offset;
      }
    }
  });
}

// Per output position, how many window taps fall inside [lo, hi) of every
// spatial dim, where that range is the input or, counting the padding, the
// padded input.
std::vector<int64_t> average_pool_divisors(const PoolGeometry& geo, bool count_include_pad) {
  const spatial::Window& w = geo.window;
  std::vector<int64_t> divisors{1};
  for (size_t d = 0; d < w.rank(); ++d) {
    const int64_t lo = count_include_pad ? -w.pads_begin[d] : 0;
    const int64_t hi = geo.input_spatial[d] + (count_include_pad ? w.pads_end[d] : 0);
    std::vector<int64_t> expanded;  // row-major: previous dims, then this one
    for (int64_t previous : divisors)
      for (int64_t o = 0; o < geo.output_spatial[d]; ++o) {
        int64_t inside = 0;
        for (int64_t k = 0; k < w.kernel[d]; ++k) {
          const int64_t coord = o * w.strides[d] - w.pads_begin[d] + k * w.dilations[d];
          inside += coord >= lo && coord < hi;
        }
        expanded.push_back(previous * inside);
      }
    divisors = std::move(expanded);
  }
  return divisors;
}

template <class T>
void average_pool(KernelContext& ctx, const PoolGeometry& geo) {
  const T* x = ctx.input(0).data<T>();
  T* y = ctx.make_output(0, ctx.input(0).dtype(), geo.output_shape).template data<T>();
  const std::vector<int64_t> divisors =
      average_pool_divisors(geo, ctx.node.attr_int("count_include_pad", 0) != 0);
  const int64_t in_plane = shape_numel(geo.input_spatial);
  const int64_t out_plane = shape_numel(geo.output_spatial);
  const int64_t taps = shape_numel(geo.window.kernel);

  parallel_for(geo.planes, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const T* x_plane = x + plane * in_plane;
      T* y_plane = y + plane * out_plane;  // zero-filled
      for (int64_t tap = 0; tap < taps; ++tap)
        spatial::for_each_tap_position(geo.window, tap, geo.output_spatial, geo.input_spatial,
                                       [&](int64_t j, int64_t offset) {
                                         if (offset >= 0) y_plane[j] += x_plane[offset];
                                       });
      for (int64_t j = 0; j < out_plane; ++j) y_plane[j] /= static_cast<T>(divisors[j]);
    }
  });
}

void max_pool_kernel(KernelContext& ctx) {
  const PoolGeometry geo = read_pool_geometry(ctx);
  dense::dispatch_dtype<DType::kFloat32, DType::kFloat64, DType::kInt8, DType::kUInt8>(
      ctx, ctx.input(0).dtype(), [&](auto t) { max_pool<decltype(t)>(ctx, geo); });
}

void average_pool_kernel(KernelContext& ctx) {
  const PoolGeometry geo = read_pool_geometry(ctx);
  dense::dispatch_dtype<DType::kFloat32, DType::kFloat64>(
      ctx, ctx.input(0).dtype(), [&](auto t) { average_pool<decltype(t)>(ctx, geo); });
}

// GlobalAveragePool / GlobalMaxPool: reduce each (batch, channel) plane to one value.
template <class T, class Reduce>
void global_pool(KernelContext& ctx, Reduce reduce) {
  const Tensor& x = ctx.input(0);
  const spatial::GlobalPool g = spatial::global_pool_geometry(ctx, x);
  T* y = ctx.make_output(0, x.dtype(), g.output_shape).template data<T>();
  const T* data = x.data<T>();
  for (int64_t plane = 0; plane < g.planes; ++plane) y[plane] = reduce(data + plane * g.plane_size, g.plane_size);
}

void global_average_pool_kernel(KernelContext& ctx) {
  dense::dispatch_dtype<DType::kFloat32, DType::kFloat64>(ctx, ctx.input(0).dtype(), [&](auto t) {
    using T = decltype(t);
    global_pool<T>(ctx, [](const T* values, int64_t n) { return std::accumulate(values, values + n, T(0)) / static_cast<T>(n); });
  });
}

void global_max_pool_kernel(KernelContext& ctx) {
  dense::dispatch_dtype<DType::kFloat32, DType::kFloat64>(ctx, ctx.input(0).dtype(), [&](auto t) {
    using T = decltype(t);
    global_pool<T>(ctx, [](const T* values, int64_t n) { return *std::max_element(values, values + n); });
  });
}

}  // namespace

void register_pool_kernels(KernelRegistry& r) {
  using reference::with_channels_last;
  r.add(KernelDef{"MaxPool", "", 1, 17, "reference", with_channels_last(max_pool_kernel)});
  r.add(KernelDef{"AveragePool", "", 1, 17, "reference", with_channels_last(average_pool_kernel)});
  r.add(KernelDef{"GlobalAveragePool", "", 1, 17, "reference",
                  with_channels_last(global_average_pool_kernel)});
  r.add(KernelDef{"GlobalMaxPool", "", 1, 17, "reference", with_channels_last(global_max_pool_kernel)});
}

}  // namespace octet
