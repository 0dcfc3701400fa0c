// Int8Conv on octet's own AVX-512 VNNI kernels (vnni.h): channels-last 2-D
// convolutions with group 1, input channels a multiple of 4 and int8 output.
// 1x1 stride-1 ones without padding are one product, each output pixel a row:
// Y[N*H*W x M] = requantize(X[rows x C] . W^T + b). The others run as the FP32
// direct convolution does (direct.cpp): blocks of output rows whose input rows are
// copied, shifted to uint8 and padded with the shifted zero, into a per-thread
// buffer. Bit for bit the reference Int8Conv (tests/kernels/x86/int8_conv_test.cpp);
// kernel selection times them against onednn's.
#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string>

#include "kernels/reference/int8/int8_kernels.h"
#include "kernels/reference/spatial.h"
#include "kernels/x86/vnni.h"
#include "kernels/x86/x86_kernels.h"
#include "octet/parallel.h"

namespace octet::x86 {
namespace {

class Int8Conv1x1Kernel : public PreparedKernel {
 public:
  explicit Int8Conv1x1Kernel(vnni::PackedInt8 weights) : weights_(std::move(weights)) {}

  void run(KernelContext& ctx) const override {
    const int64_t c = weights_.k, m = weights_.n;
    const Tensor& x = channels_last_input(ctx, c, DType::kInt8);
    Tensor& y = ctx.make_output(0, DType::kInt8, {x.dim(0), x.dim(1), x.dim(2), m}, false);
    const int64_t rows = x.dim(0) * x.dim(1) * x.dim(2);
    const int8_t* xd = x.data<int8_t>();
    int8_t* yd = y.data<int8_t>();
    const int64_t step = vnni::kShiftRows;
    share_work((rows + step - 1) / step, rows * c * m, [&](int64_t u0, int64_t u1) {
      const int64_t r0 = u0 * step, r1 = std::min(rows, u1 * step);
      auto* shifted = reinterpret_cast<uint8_t*>(thread_scratch((step * c + 3) / 4));
      vnni::multiply(xd + r0 * c, c, r1 - r0, weights_, shifted, yd + r0 * m, m);
    });
  }

 private:
  vnni::PackedInt8 weights_;
};

class Int8DirectConvKernel : public PreparedKernel {
 public:
  Int8DirectConvKernel(vnni::PackedInt8 weights, int64_t channels, spatial::Window window, spatial::AutoPad auto_pad)
      : weights_(std::move(weights)), channels_(channels), window_(std::move(window)), auto_pad_(auto_pad) {}

  void run(KernelContext& ctx) const override {
    const int64_t c = channels_, m = weights_.n;
    const Tensor& x = channels_last_input(ctx, c, DType::kInt8);
    spatial::Window window = window_;
    const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2);
    const Shape out = spatial::sliding_output_shape(ctx, window, auto_pad_, {h, w});
    const int64_t oh = out[0], ow = out[1];
    Tensor& y = ctx.make_output(0, DType::kInt8, {n, oh, ow, m}, false);
    if (n * oh * ow == 0) return;
    const DirectGeometry g{c,  window.kernel[0], window.kernel[1], window.strides[0], window.strides[1],
                           window.dilations[0], window.dilations[1], ow, (ow - 1) * window.strides[1] + window.extent(1)};
    const int8_t* xd = x.data<int8_t>();
    int8_t* yd = y.data<int8_t>();
    for_each_block(n, oh, direct_blocks(n, oh, ow), n * oh * ow * weights_.k * m, [&](int64_t image, int64_t oy0,
                                                                                     int64_t oy1) {
      const int64_t in_rows = (oy1 - oy0 - 1) * g.sh + window.extent(0);
      auto* padded = reinterpret_cast<int8_t*>(thread_scratch((in_rows * g.wp * c + 3) / 4));
      // x + 128 as uint8 is x with its top bit flipped; the padding is the shifted zero.
      copy_padded_rows(xd, image, h, w, c, oy0 * g.sh - window.pads_begin[0], in_rows, window.pads_begin[1], g.wp,
                       static_cast<int8_t>(-128), [](int8_t v) { return static_cast<int8_t>(v ^ 0x80); }, padded);
      vnni::direct_conv(g, reinterpret_cast<const uint8_t*>(padded), (oy1 - oy0) * ow, weights_,
                        yd + (image * oh + oy0) * ow * m);
    });
  }

 private:
  vnni::PackedInt8 weights_;
  int64_t channels_;
  spatial::Window window_;
  spatial::AutoPad auto_pad_;
};

}  // namespace

std::unique_ptr<PreparedKernel> prepare_int8_conv(const Node& node, const Graph& graph) {
  static const bool vnni_supported = vnni::supported();
  if (!vnni_supported || !node.channels_last() || node.attr_int("group", 1) != 1 ||
      node_has_input(node, int8::kResidualInput))
    return nullptr;
  const Tensor* w = constant_input(node, graph, 1);
  const Tensor* b = constant_input(node, graph, 2);
  if (!w || w->dtype() != DType::kInt8 || w->rank() != 4 || w->dim(1) % 4 != 0) return nullptr;
  if (node_has_input(node, 2) && (!b || b->dtype() != DType::kInt32 || b->shape() != Shape{w->dim(0)})) return nullptr;
  const int64_t m = w->dim(0), c = w->dim(1), kh = w->dim(2), kw = w->dim(3);
  if (node.has_attr("kernel_shape") && node.attr_ints("kernel_shape") != Shape{kh, kw}) return nullptr;
  const KernelContext ctx{node, graph.opset(node.domain), {nullptr, w, b}, {}};
  spatial::Window window = spatial::read_window(ctx, {kh, kw});
  const spatial::AutoPad auto_pad = spatial::read_auto_pad(ctx);
  const int8::Requantizer rq = int8::read_requantizer(ctx, m);
  if (rq.output_dtype != DType::kInt8) return nullptr;
  int8::require_weight_range(ctx, 1);
  const int64_t depth = c * kh * kw;
  int8::require_depth_fits(ctx, depth);
  const int32_t* bias = b ? b->data<int32_t>() : nullptr;
  // The accumulators start at b - 128 * sum(W) and wrap as vpdpbusd adds: exact as long as
  // b + the products cannot leave int32, where the contract saturates instead.
  const int64_t largest_products = 2 * depth * 128 * 128;
  for (int64_t i = 0; bias && i < m; ++i)
    if (std::llabs(bias[i]) + largest_products > std::numeric_limits<int32_t>::max()) return nullptr;
  // Packed rows run over (kernel row, kernel column, channel); W is [M, C, kh, kw].
  const int8_t* wd = w->data<int8_t>();
  vnni::PackedInt8 packed = vnni::pack_int8(
      depth, m,
      [&](int64_t k, int64_t col) {
        const int64_t i = k / (kw * c), j = k / c % kw, ch = k % c;
        return wd[((col * c + ch) * kh + i) * kw + j];
      },
      [&](int64_t col) { return bias ? bias[col] : 0; }, [&](int64_t col) { return rq.multipliers[col]; }, rq.lo,
      rq.hi);
  const auto all = [](const Shape& s, int64_t v) { return std::all_of(s.begin(), s.end(), [v](int64_t e) { return e == v; }); };
  const bool pointwise = kh == 1 && kw == 1 && all(window.strides, 1) && all(window.pads_begin, 0) &&
                         all(window.pads_end, 0) &&
                         (auto_pad == spatial::AutoPad::kNotSet || auto_pad == spatial::AutoPad::kValid);
  if (pointwise) return std::make_unique<Int8Conv1x1Kernel>(std::move(packed));
  return std::make_unique<Int8DirectConvKernel>(std::move(packed), c, std::move(window), auto_pad);
}

}  // namespace octet::x86
