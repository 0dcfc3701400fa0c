// Int8Add over same-shape inputs, exact to docs/int8_kernels.md. oneDNN's binary
// primitive (source scales, then the sum) is not used: its JIT code may fuse the
// second product and the sum into one FMA and differ from the contract's two
// float roundings. The loops below are plain C++ that GCC vectorises; each has an
// AVX-512 clone (x86-64-v4) picked at load time, compiled without FP contraction.
//
// The int8 output clamps the float sum into [lo, hi] before rounding, which equals
// rounding first (lo and hi are integers and rounding is monotone), and rounds half
// to even by adding and subtracting 1.5 * 2^23: exact for |v| <= 2^22 under the
// default rounding mode, and vectorisable at every ISA level.
#include <cmath>
#include <limits>
#include <string>

#include "kernels/onednn/onednn_extra_kernels.h"
#include "kernels/reference/int8/int8_kernels.h"
#include "octet/parallel.h"

namespace octet {
namespace {

#define OCTET_EXACT_LOOP __attribute__((target_clones("default", "arch=x86-64-v4"), optimize("fp-contract=off")))

// y = saturate(round_half_even(a * ra + b * rb), lo, hi)
OCTET_EXACT_LOOP
void add_to_int8(const int8_t* __restrict a, const int8_t* __restrict b, int8_t* __restrict y, int64_t n,
                 float ra, float rb, float lo, float hi) {
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
  for (int64_t i = 0; i < n; ++i) {
    const float va = static_cast<float>(a[i]) * ra;
    const float vb = static_cast<float>(b[i]) * rb;
    const float sum = va + vb;
    // The reference's saturate(): NaN ends at lo.
    const float low = sum > lo ? sum : lo;
    const float v = low < hi ? low : hi;
    y[i] = static_cast<int8_t>(static_cast<int32_t>((v + kRound) - kRound));
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

class Int8AddKernel : public PreparedKernel {
 public:
  explicit Int8AddKernel(const Node& node) {
    const KernelContext ctx{node, 1, {}, {}};
    output_dtype_ = int8::read_output_dtype(ctx);
    const int8::Activation activation = int8::read_activation(ctx);
    const float a_scale = int8::read_scale(ctx, "a_scale");
    const float b_scale = int8::read_scale(ctx, "b_scale");
    if (output_dtype_ == DType::kFloat32) {
      sa_ = a_scale;
      sb_ = b_scale;
      clamped_ = activation.kind != int8::Activation::kNone;
      lo_ = activation.kind == int8::Activation::kRelu ? 0.0f : activation.clip_min;
      hi_ = activation.kind == int8::Activation::kRelu ? std::numeric_limits<float>::infinity() : activation.clip_max;
      return;
    }
    const float y_scale = int8::read_scale(ctx, "y_scale");
    sa_ = static_cast<float>(static_cast<double>(a_scale) / y_scale);
    sb_ = static_cast<float>(static_cast<double>(b_scale) / y_scale);
    if (!std::isfinite(sa_) || !std::isfinite(sb_)) ctx.fail("a_scale / y_scale or b_scale / y_scale overflows float");
    lo_ = static_cast<float>(activation.int8_lo(y_scale));
    hi_ = static_cast<float>(activation.int8_hi(y_scale));
  }

  void run(KernelContext& ctx) const override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    if (a.dtype() != DType::kInt8 || b.dtype() != DType::kInt8 || a.shape() != b.shape()) {
      // Broadcasting (and the dtype errors) as the reference does it.
      const KernelDef* def = KernelRegistry::global().find(int8::kDomain, "Int8Add", ctx.opset, "reference");
      if (!def || !def->fn) ctx.unsupported("no reference Int8Add kernel to fall back on");
      return def->fn(ctx);
    }
    Tensor& y = ctx.make_output(0, output_dtype_, a.shape(), /*zero_filled=*/false);
    const int64_t n = a.numel();
    const int8_t* a_data = a.data<int8_t>();
    const int8_t* b_data = b.data<int8_t>();
    // Chunks of whole cache lines; inline below ~64 KiB of input.
    constexpr int64_t kBlock = 16384;
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    auto range = [&](int64_t block_begin, int64_t block_end, auto&& body) {
      const int64_t begin = block_begin * kBlock, end = std::min(n, block_end * kBlock);
      if (begin < end) body(begin, end - begin);
    };
    auto run_blocks = [&](auto&& body) {
      if (blocks <= 4) return range(0, blocks, body);
      parallel_for(blocks, [&](int64_t begin, int64_t end) { range(begin, end, body); });
    };
    if (output_dtype_ == DType::kInt8) {
      int8_t* out = y.data<int8_t>();
      run_blocks([&](int64_t i, int64_t len) { add_to_int8(a_data + i, b_data + i, out + i, len, sa_, sb_, lo_, hi_); });
    } else if (clamped_) {
      float* out = y.data<float>();
      run_blocks([&](int64_t i, int64_t len) {
        add_to_float_clamped(a_data + i, b_data + i, out + i, len, sa_, sb_, lo_, hi_);
      });
    } else {
      float* out = y.data<float>();
      run_blocks([&](int64_t i, int64_t len) { add_to_float(a_data + i, b_data + i, out + i, len, sa_, sb_); });
    }
  }

 private:
  DType output_dtype_ = DType::kInt8;
  float sa_ = 1.0f, sb_ = 1.0f;  // int8 output: the ratios to y_scale; float: the scales
  bool clamped_ = false;         // float output with an activation
  float lo_ = 0.0f, hi_ = 0.0f;  // the int8 bounds, or the float activation's
};

}  // namespace

void register_onednn_eltwise_kernels(KernelRegistry& r) {
  r.add(KernelDef{"Int8Add", int8::kDomain, 1, INT64_MAX, "onednn", {},
                  [](const Node& node, const Graph&) -> std::unique_ptr<PreparedKernel> {
                    return std::make_unique<Int8AddKernel>(node);
                  }});
}

}  // namespace octet
