// Elementwise INT8 kernels as plain C++ loops that GCC vectorises; each loop has an
// AVX-512 clone (x86-64-v4) picked at load time, is compiled without FP contraction,
// and runs in blocks across threads.
//
// Int8Add over same-shape inputs, exact to docs/int8_kernels.md. oneDNN's binary
// primitive (source scales, then the sum) is not used: its JIT code may fuse the
// second product and the sum into one FMA and differ from the contract's two
// float roundings.
//
// QuantizeLinear (float32 -> int8 / uint8) and DequantizeLinear (int8 / uint8 ->
// float32) with a per-tensor scale and zero point, bit-identical to the reference
// kernels (kernels/reference/cast_quantize.cpp). Other configurations (per-axis
// parameters, int32) run the reference.
//
// The 8-bit outputs clamp the float value into [lo, hi] (their range, less any zero
// point) before rounding, which equals rounding first (lo and hi are integers and
// rounding is monotone), and round half to even by adding and subtracting
// 1.5 * 2^23: exact for |v| <= 2^22 under the default rounding mode, and
// vectorisable at every ISA level.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "kernels/onednn/onednn_extra_kernels.h"
#include "kernels/onednn/onednn_runtime.h"
#include "kernels/reference/int8/int8_kernels.h"
#include "octet/parallel.h"

namespace octet {
namespace {

#define OCTET_EXACT_LOOP __attribute__((target_clones("default", "arch=x86-64-v4"), optimize("fp-contract=off")))

// Added and subtracted, rounds a float half to even (see the comment at the top).
constexpr float kRoundHalfEven = 12582912.0f;  // 1.5 * 2^23

// Calls body(begin, length) over [0, n) in blocks of whole cache lines, across
// threads; inline up to four blocks (~64 KiB of 8-bit data).
template <class Body>
void for_each_block(int64_t n, Body&& body) {
  constexpr int64_t kBlock = 16384;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  auto run_blocks = [&](int64_t block_begin, int64_t block_end) {
    const int64_t begin = block_begin * kBlock, end = std::min(n, block_end * kBlock);
    if (begin < end) body(begin, end - begin);
  };
  if (blocks <= 4) return run_blocks(0, blocks);
  parallel_for(blocks, run_blocks);
}

// y = saturate(round_half_even(a * ra + b * rb), lo, hi)
OCTET_EXACT_LOOP
void add_to_int8(const int8_t* __restrict a, const int8_t* __restrict b, int8_t* __restrict y, int64_t n,
                 float ra, float rb, float lo, float hi) {
  for (int64_t i = 0; i < n; ++i) {
    const float va = static_cast<float>(a[i]) * ra;
    const float vb = static_cast<float>(b[i]) * rb;
    const float sum = va + vb;
    // The reference's saturate(): NaN ends at lo.
    const float low = sum > lo ? sum : lo;
    const float v = low < hi ? low : hi;
    y[i] = static_cast<int8_t>(static_cast<int32_t>((v + kRoundHalfEven) - kRoundHalfEven));
  }
}

// y = a * sa + b * sb
OCTET_EXACT_LOOP
void add_to_float(const int8_t* __restrict a, const int8_t* __restrict b, float* __restrict y, int64_t n,
                  float sa, float sb) {
  for (int64_t i = 0; i < n; ++i) {
    const float va = static_cast<float>(a[i]) * sa;
    const float vb = static_cast<float>(b[i]) * sb;
    y[i] = va + vb;
  }
}

// y = min(max(a * sa + b * sb, lo), hi), as Activation::apply orders it (relu: lo 0, hi +inf).
OCTET_EXACT_LOOP
void add_to_float_clamped(const int8_t* __restrict a, const int8_t* __restrict b, float* __restrict y, int64_t n,
                          float sa, float sb, float lo, float hi) {
  for (int64_t i = 0; i < n; ++i) {
    const float va = static_cast<float>(a[i]) * sa;
    const float vb = static_cast<float>(b[i]) * sb;
    const float sum = va + vb;
    const float low = sum > lo ? sum : lo;
    y[i] = low < hi ? low : hi;
  }
}

// y = saturate(round_half_even(x / scale) + zero_point), as the reference: it
// divides (a product with 1 / scale rounds differently) and NaN ends at Q's lowest.
// Clamping x / scale into [lo - zero_point, hi - zero_point] first keeps the
// rounding trick exact, and the result equals the reference's even where its
// float sum with the zero point rounds (|x / scale| > 2^24: saturated either way).
template <class Q>
OCTET_EXACT_LOOP
void quantize(const float* __restrict x, Q* __restrict y, int64_t n, float scale, int32_t zero_point) {
  const float lo = static_cast<float>(std::numeric_limits<Q>::min() - zero_point);
  const float hi = static_cast<float>(std::numeric_limits<Q>::max() - zero_point);
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i] / scale;
    const float low = v > lo ? v : lo;
    const float clamped = low < hi ? low : hi;
    y[i] = static_cast<Q>(static_cast<int32_t>((clamped + kRoundHalfEven) - kRoundHalfEven) + zero_point);
  }
}

// y = (x - zero_point) * scale: the difference is exact in int32 and in float, as
// the reference's int64 one.
template <class Q>
OCTET_EXACT_LOOP
void dequantize(const Q* __restrict x, float* __restrict y, int64_t n, float scale, int32_t zero_point) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(static_cast<int32_t>(x[i]) - zero_point) * scale;
}

class Int8AddKernel : public PreparedKernel {
 public:
  explicit Int8AddKernel(const Node& node) {
    const KernelContext ctx{node, 1, {}, {}};
    const int8::AddRequantizer r = int8::read_add_requantizer(ctx);
    output_dtype_ = r.output_dtype;
    sa_ = r.ra, sb_ = r.rb, clamped_ = r.clamped, lo_ = r.lo, hi_ = r.hi;
  }

  void run(KernelContext& ctx) const override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    // Broadcasting (and the dtype errors) as the reference does it.
    if (a.dtype() != DType::kInt8 || b.dtype() != DType::kInt8 || a.shape() != b.shape()) return run_reference_kernel(ctx);
    Tensor& y = ctx.make_output(0, output_dtype_, a.shape(), /*zero_filled=*/false);
    const int64_t n = a.numel();
    const int8_t* a_data = a.data<int8_t>();
    const int8_t* b_data = b.data<int8_t>();
    if (output_dtype_ == DType::kInt8) {
      int8_t* out = y.data<int8_t>();
      for_each_block(n, [&](int64_t i, int64_t len) {
        add_to_int8(a_data + i, b_data + i, out + i, len, sa_, sb_, lo_, hi_);
      });
    } else if (clamped_) {
      float* out = y.data<float>();
      for_each_block(n, [&](int64_t i, int64_t len) {
        add_to_float_clamped(a_data + i, b_data + i, out + i, len, sa_, sb_, lo_, hi_);
      });
    } else {
      float* out = y.data<float>();
      for_each_block(n, [&](int64_t i, int64_t len) { add_to_float(a_data + i, b_data + i, out + i, len, sa_, sb_); });
    }
  }

 private:
  DType output_dtype_ = DType::kInt8;
  float sa_ = 1.0f, sb_ = 1.0f;  // int8 output: the ratios to y_scale; float: the scales
  bool clamped_ = false;         // float output with an activation
  float lo_ = 0.0f, hi_ = 0.0f;  // the int8 bounds, or the float activation's
};

bool is_8bit(DType dtype) { return dtype == DType::kInt8 || dtype == DType::kUInt8; }

// A float32 scale and a zero point (when given) of one element each: what the
// reference applies to the whole tensor.
bool is_per_tensor(const Tensor& scale, const Tensor* zero_point) {
  return scale.dtype() == DType::kFloat32 && scale.numel() == 1 && (!zero_point || zero_point->numel() == 1);
}

// The zero point input, or nullptr when it is omitted (0 of the reference's default dtype).
const Tensor* zero_point_input(const KernelContext& ctx) { return ctx.has_input(2) ? &ctx.input(2) : nullptr; }

int32_t zero_point_value(const Tensor* zero_point) {
  return zero_point ? static_cast<int32_t>(zero_point->get_as_double(0)) : 0;
}

class QuantizeLinearKernel : public PreparedKernel {
 public:
  void run(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& scale = ctx.input(1);
    const Tensor* zero_point = zero_point_input(ctx);
    const DType q = zero_point ? zero_point->dtype() : DType::kUInt8;
    if (x.dtype() != DType::kFloat32 || !is_8bit(q) || !is_per_tensor(scale, zero_point)) return run_reference_kernel(ctx);
    Tensor& y = ctx.make_output(0, q, x.shape(), /*zero_filled=*/false);
    const float* in = x.data<float>();
    const float scale_value = scale.data<float>()[0];
    const int32_t zero_point_int = zero_point_value(zero_point);
    auto quantize_into = [&](auto* out) {
      for_each_block(x.numel(), [&](int64_t i, int64_t len) {
        quantize(in + i, out + i, len, scale_value, zero_point_int);
      });
    };
    if (q == DType::kInt8) quantize_into(y.data<int8_t>());
    else quantize_into(y.data<uint8_t>());
  }
};

class DequantizeLinearKernel : public PreparedKernel {
 public:
  void run(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& scale = ctx.input(1);
    const Tensor* zero_point = zero_point_input(ctx);
    if (!is_8bit(x.dtype()) || (zero_point && zero_point->dtype() != x.dtype()) || !is_per_tensor(scale, zero_point))
      return run_reference_kernel(ctx);
    float* out = ctx.make_output(0, DType::kFloat32, x.shape(), /*zero_filled=*/false).data<float>();
    const float scale_value = scale.data<float>()[0];
    const int32_t zero_point_int = zero_point_value(zero_point);
    auto dequantize_from = [&](const auto* in) {
      for_each_block(x.numel(), [&](int64_t i, int64_t len) {
        dequantize(in + i, out + i, len, scale_value, zero_point_int);
      });
    };
    if (x.dtype() == DType::kInt8) dequantize_from(x.data<int8_t>());
    else dequantize_from(x.data<uint8_t>());
  }
};

// Declines the node when its scale or zero point is an initializer that shows a
// configuration the loops do not cover (per-axis, not float32 / 8-bit).
template <class Kernel>
std::unique_ptr<PreparedKernel> prepare_per_tensor(const Node& node, const Graph& graph) {
  const Tensor* scale = constant_input(node, graph, 1);
  const Tensor* zero_point = constant_input(node, graph, 2);
  const bool scale_covered = !scale || is_per_tensor(*scale, nullptr);
  const bool zero_point_covered = !zero_point || (is_8bit(zero_point->dtype()) && zero_point->numel() == 1);
  if (!scale_covered || !zero_point_covered) return nullptr;
  return std::make_unique<Kernel>();
}

}  // namespace

void register_onednn_eltwise_kernels(KernelRegistry& r) {
  r.add(KernelDef{"Int8Add", int8::kDomain, 1, INT64_MAX, "onednn", {},
                  [](const Node& node, const Graph&) -> std::unique_ptr<PreparedKernel> {
                    return std::make_unique<Int8AddKernel>(node);
                  }});
  r.add(KernelDef{"QuantizeLinear", "", 10, 17, "onednn", {}, prepare_per_tensor<QuantizeLinearKernel>});
  r.add(KernelDef{"DequantizeLinear", "", 10, 17, "onednn", {}, prepare_per_tensor<DequantizeLinearKernel>});
}

}  // namespace octet
