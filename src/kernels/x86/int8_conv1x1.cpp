// Int8Conv on octet's own AVX-512 VNNI product (vnni.h): channels-last 1x1 stride-1
// convolutions without padding, group 1, input channels a multiple of 4 and int8
// output; each output pixel is a row, Y[N*H*W x M] = requantize(X[rows x C] . W^T + b).
// Bit for bit the reference Int8Conv (tests/kernels/x86/int8_conv_test.cpp); kernel
// selection times it against onednn's.
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
    const Tensor& x = ctx.input(0);
    if (x.dtype() != DType::kInt8 || x.rank() != 4 || x.dim(3) != c)
      ctx.fail("X " + std::string(dtype_name(x.dtype())) + shape_str(x.shape()) + " must be int8 [N, H, W, " +
               std::to_string(c) + "]");
    Tensor& y = ctx.make_output(0, DType::kInt8, {x.dim(0), x.dim(1), x.dim(2), m}, false);
    const int64_t rows = x.dim(0) * x.dim(1) * x.dim(2);
    const int8_t* xd = x.data<int8_t>();
    int8_t* yd = y.data<int8_t>();
    const int64_t step = vnni::kShiftRows;
    auto work = [&](int64_t u0, int64_t u1) {
      const int64_t r0 = u0 * step, r1 = std::min(rows, u1 * step);
      auto* shifted = reinterpret_cast<uint8_t*>(thread_scratch((vnni::kShiftRows * c + 3) / 4));
      vnni::multiply(xd + r0 * c, c, r1 - r0, weights_, shifted, yd + r0 * m, m);
    };
    const int64_t units = (rows + step - 1) / step;
    if (rows * c * m < kSerialMultiplyAdds)
      work(0, units);
    else
      parallel_for(units, work);
  }

 private:
  vnni::PackedInt8 weights_;
};

}  // namespace

std::unique_ptr<PreparedKernel> prepare_int8_conv1x1(const Node& node, const Graph& graph) {
  static const bool vnni_supported = vnni::supported();
  if (!vnni_supported || !node.channels_last() || node.attr_int("group", 1) != 1) return nullptr;
  const Tensor* w = constant_input(node, graph, 1);
  const Tensor* b = constant_input(node, graph, 2);
  if (!w || w->dtype() != DType::kInt8 || w->rank() != 4 || w->dim(2) != 1 || w->dim(3) != 1 || w->dim(1) % 4 != 0)
    return nullptr;
  if (node_has_input(node, 2) && (!b || b->dtype() != DType::kInt32 || b->shape() != Shape{w->dim(0)})) return nullptr;
  const KernelContext ctx{node, graph.opset(node.domain), {nullptr, w, b}, {}};
  spatial::Window window = spatial::read_window(ctx, {1, 1});
  const auto all = [](const Shape& s, int64_t v) { return std::all_of(s.begin(), s.end(), [v](int64_t e) { return e == v; }); };
  const spatial::AutoPad auto_pad = spatial::read_auto_pad(ctx);
  if (!all(window.strides, 1) || !all(window.pads_begin, 0) || !all(window.pads_end, 0) ||
      (auto_pad != spatial::AutoPad::kNotSet && auto_pad != spatial::AutoPad::kValid))
    return nullptr;
  const int8::Requantizer rq = int8::read_requantizer(ctx, w->dim(0));
  if (rq.output_dtype != DType::kInt8) return nullptr;
  int8::require_weight_range(ctx, 1);
  const int64_t m = w->dim(0), c = w->dim(1);
  int8::require_depth_fits(ctx, c);
  const int32_t* bias = b ? b->data<int32_t>() : nullptr;
  // The accumulators start at b - 128 * sum(W) and wrap as vpdpbusd adds: exact as long as
  // b + the products cannot leave int32, where the contract saturates instead.
  const int64_t largest_products = 2 * c * 128 * 128;
  for (int64_t i = 0; bias && i < m; ++i)
    if (std::llabs(bias[i]) + largest_products > std::numeric_limits<int32_t>::max()) return nullptr;
  const int8_t* wd = w->data<int8_t>();
  return std::make_unique<Int8Conv1x1Kernel>(vnni::pack_int8(
      c, m, [&](int64_t k, int64_t col) { return wd[col * c + k]; },
      [&](int64_t col) { return bias ? bias[col] : 0; }, [&](int64_t col) { return rq.multipliers[col]; }, rq.lo,
      rq.hi));
}

}  // namespace octet::x86
