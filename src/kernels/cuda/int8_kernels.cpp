// Int8Conv (channels-last) and Int8MatMul on the GPU. Both become one INT8 GEMM
// on the tensor cores (int8_gemm.h) with the requantizing epilogue fused: a 1x1
// stride-1 convolution directly over the activations, other ungrouped
// convolutions over an im2col copy in scratch memory; grouped (depthwise)
// convolutions run the direct kernel.
#include <limits>
#include <memory>
#include <vector>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/int8_gemm.h"
#include "kernels/reference/int8/int8_kernels.h"
#include "kernels/reference/spatial.h"

namespace octet {
namespace cuda {
namespace {

// The tensor-core GEMM wants K in multiples of 16 bytes.
constexpr int64_t kDepthAlignment = 16;
int64_t aligned_depth(int64_t k) { return (k + kDepthAlignment - 1) / kDepthAlignment * kDepthAlignment; }

// A kernel's requantization on the device: per-channel scales and bias, and bounds.
struct DeviceEpilogue {
  DType output_dtype = DType::kInt8;
  std::shared_ptr<float> scale;
  std::shared_ptr<int32_t> bias;  // null: none
  float lo = 0, hi = 0;

  DeviceEpilogue(const int8::Requantizer& rq, const Tensor* b) : output_dtype(rq.output_dtype) {
    scale = upload(rq.multipliers.data(), rq.multipliers.size());
    if (b) bias = upload(b->data<int32_t>(), static_cast<size_t>(b->numel()));
    if (output_dtype == DType::kInt8) {
      lo = static_cast<float>(rq.lo), hi = static_cast<float>(rq.hi);
    } else {
      const float inf = std::numeric_limits<float>::infinity();
      const int8::Activation& a = rq.activation;
      lo = a.kind == int8::Activation::kRelu ? 0.0f : a.kind == int8::Activation::kClip ? a.clip_min : -inf;
      hi = a.kind == int8::Activation::kClip ? a.clip_max : inf;
    }
  }
  Int8Epilogue get() const { return Int8Epilogue{bias.get(), scale.get(), lo, hi}; }

  // y [rows, n] = epilogue(a [rows, k] · w [n, k]ᵀ).
  void gemm(const int8_t* a, const int8_t* w, Tensor& y, int64_t rows, int64_t n, int64_t k, cudaStream_t s) const {
    if (output_dtype == DType::kInt8)
      int8_gemm(a, w, y.data<int8_t>(), rows, n, k, get(), s);
    else
      int8_gemm(a, w, y.data<float>(), rows, n, k, get(), s);
  }
};

// Checks the bias input (int32 [channels] or absent) and returns it.
const Tensor* bias_input(const Node& node, const Graph& graph, int64_t channels) {
  const Tensor* b = constant_input(node, graph, 2);
  if (node_has_input(node, 2) && (!b || b->dtype() != DType::kInt32 || b->shape() != Shape{channels})) return nullptr;
  return b;
}

class Int8ConvKernel : public PreparedKernel {
 public:
  Int8ConvKernel(const Node& node, const Graph& graph, const Tensor& w, const Tensor* b, const int8::Requantizer& rq)
      : epilogue_(rq, b),
        m_(w.dim(0)), cg_(w.dim(1)), kh_(w.dim(2)), kw_(w.dim(3)),
        group_(node.attr_int("group", 1)) {
    // W [M, C/g, KH, KW] -> [M, KH, KW, C/g], rows padded to a multiple of 16 for the GEMM.
    depth_ = kh_ * kw_ * cg_;
    padded_depth_ = group_ == 1 ? aligned_depth(depth_) : depth_;
    std::vector<int8_t> packed(static_cast<size_t>(m_ * padded_depth_), 0);
    const int8_t* wd = w.data<int8_t>();
    for (int64_t o = 0; o < m_; ++o)
      for (int64_t c = 0; c < cg_; ++c)
        for (int64_t i = 0; i < kh_; ++i)
          for (int64_t j = 0; j < kw_; ++j)
            packed[o * padded_depth_ + (i * kw_ + j) * cg_ + c] = wd[((o * cg_ + c) * kh_ + i) * kw_ + j];
    weights_ = upload(packed.data(), packed.size());
  }

  void run(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.dtype() != DType::kInt8 || x.rank() != 4 || x.dim(3) != cg_ * group_)
      ctx.fail("X " + shape_str(x.shape()) + " must be int8 [N, H, W, " + std::to_string(cg_ * group_) + "] (channels-last)");
    spatial::Window window = spatial::read_window(ctx, {kh_, kw_});
    const Shape out = spatial::sliding_output_shape(ctx, window, spatial::read_auto_pad(ctx), {x.dim(1), x.dim(2)});
    const Conv2d g{x.dim(0), x.dim(1), x.dim(2), x.dim(3), m_, out[0], out[1],
                   static_cast<int>(kh_), static_cast<int>(kw_),
                   static_cast<int>(window.strides[0]), static_cast<int>(window.strides[1]),
                   static_cast<int>(window.pads_begin[0]), static_cast<int>(window.pads_begin[1]),
                   static_cast<int>(window.dilations[0]), static_cast<int>(window.dilations[1]),
                   static_cast<int>(group_)};
    Tensor& y = ctx.make_output(0, epilogue_.output_dtype, {g.n, g.oh, g.ow, g.m}, false);
    const int64_t rows = g.n * g.oh * g.ow;
    if (rows == 0) return;
    const cudaStream_t s = stream_of(ctx);
    if (group_ != 1) {
      const Int8Epilogue e = epilogue_.get();
      if (epilogue_.output_dtype == DType::kInt8)
        int8_conv_direct(x.data<int8_t>(), weights_.get(), y.data<int8_t>(), g, e.bias, e.scale, e.lo, e.hi, s);
      else
        int8_conv_direct(x.data<int8_t>(), weights_.get(), y.data<float>(), g, e.bias, e.scale, e.lo, e.hi, s);
      return;
    }
    const bool pointwise = kh_ == 1 && kw_ == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_t == 0 &&
                           g.pad_l == 0 && g.oh == g.h && g.ow == g.w && padded_depth_ == depth_;
    if (pointwise) return epilogue_.gemm(x.data<int8_t>(), weights_.get(), y, rows, m_, depth_, s);
    auto* cols = static_cast<int8_t*>(ctx.device_scratch(static_cast<size_t>(rows * padded_depth_)));
    im2col_nhwc_int8(x.data<int8_t>(), cols, g, padded_depth_, s);
    epilogue_.gemm(cols, weights_.get(), y, rows, m_, padded_depth_, s);
  }

 private:
  DeviceEpilogue epilogue_;
  int64_t m_, cg_, kh_, kw_, group_;
  int64_t depth_ = 0, padded_depth_ = 0;
  std::shared_ptr<int8_t> weights_;
};

class Int8MatMulKernel : public PreparedKernel {
 public:
  Int8MatMulKernel(const Tensor& w, const Tensor* b, const int8::Requantizer& rq)
      : epilogue_(rq, b), k_(w.dim(0)), n_(w.dim(1)) {
    // W [K, N] -> [N, K]: the GEMM's B operand, K contiguous.
    std::vector<int8_t> transposed(static_cast<size_t>(k_ * n_));
    const int8_t* wd = w.data<int8_t>();
    for (int64_t i = 0; i < k_; ++i)
      for (int64_t j = 0; j < n_; ++j) transposed[j * k_ + i] = wd[i * n_ + j];
    weights_ = upload(transposed.data(), transposed.size());
  }

  void run(KernelContext& ctx) const override {
    const Tensor& a = ctx.input(0);
    if (a.dtype() != DType::kInt8 || a.rank() < 1 || a.dim(-1) != k_)
      ctx.fail("A " + shape_str(a.shape()) + " must be int8 [..., " + std::to_string(k_) + "]");
    Shape out = a.shape();
    out.back() = n_;
    Tensor& y = ctx.make_output(0, epilogue_.output_dtype, out, false);
    const int64_t rows = a.numel() / k_;
    if (rows > 0) epilogue_.gemm(a.data<int8_t>(), weights_.get(), y, rows, n_, k_, stream_of(ctx));
  }

 private:
  DeviceEpilogue epilogue_;
  int64_t k_, n_;
  std::shared_ptr<int8_t> weights_;
};

std::unique_ptr<PreparedKernel> prepare_int8_conv(const Node& node, const Graph& graph) {
  const Tensor* w = constant_input(node, graph, 1);
  if (!node.channels_last() || !w || w->dtype() != DType::kInt8 || w->rank() != 4) return nullptr;
  const Tensor* b = bias_input(node, graph, w->dim(0));
  if (node_has_input(node, 2) && !b) return nullptr;
  if (node.has_attr("kernel_shape") && node.attr_ints("kernel_shape") != Shape{w->dim(2), w->dim(3)}) return nullptr;
  const int64_t group = node.attr_int("group", 1);
  if (group < 1 || w->dim(0) % group != 0) return nullptr;
  const KernelContext ctx{node, graph.opset(node.domain), {nullptr, w, b}, {}};
  const int8::Requantizer rq = int8::read_requantizer(ctx, w->dim(0));
  int8::require_weight_range(ctx, 1);
  int8::require_depth_fits(ctx, w->dim(1) * w->dim(2) * w->dim(3));
  return std::make_unique<Int8ConvKernel>(node, graph, *w, b, rq);
}

std::unique_ptr<PreparedKernel> prepare_int8_matmul(const Node& node, const Graph& graph) {
  const Tensor* w = constant_input(node, graph, 1);
  if (!w || w->dtype() != DType::kInt8 || w->rank() != 2) return nullptr;
  const Tensor* b = bias_input(node, graph, w->dim(1));
  if (node_has_input(node, 2) && !b) return nullptr;
  const KernelContext ctx{node, graph.opset(node.domain), {nullptr, w, b}, {}};
  const int8::Requantizer rq = int8::read_requantizer(ctx, w->dim(1));
  int8::require_weight_range(ctx, 1);
  int8::require_depth_fits(ctx, w->dim(0));
  return std::make_unique<Int8MatMulKernel>(*w, b, rq);
}

}  // namespace
}  // namespace cuda

void register_cuda_int8_kernels(KernelRegistry& r) {
  r.add(cuda::kernel_def("Int8Conv", int8::kDomain, 1, INT64_MAX, {}, cuda::prepare_int8_conv));
  r.add(cuda::kernel_def("Int8MatMul", int8::kDomain, 1, INT64_MAX, {}, cuda::prepare_int8_matmul));
}

}  // namespace octet
