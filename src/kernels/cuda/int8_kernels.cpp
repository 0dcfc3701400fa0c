// Int8Conv (channels-last) and Int8MatMul on the GPU. Both become one INT8 GEMM
// on the tensor cores (int8_gemm.h) with the requantizing epilogue fused: a 1x1
// stride-1 convolution directly over the activations, other ungrouped convolutions
// as an implicit GEMM (int8_conv.h) where it applies (int8 output, channels in
// multiples of 16), few-channel stems by a direct tensor-core kernel, else over an
// im2col copy in scratch memory; grouped (depthwise) convolutions run the direct
// kernel. A residual input Z (int8_kernels.h) is summed in the GEMM's epilogue.
// Each ungrouped convolution times its tactics (those kernels in each of their
// tensor-core configurations) on its first run with a new input shape, as TensorRT's
// builder times tactics and cuDNN's benchmark mode its algorithms, and keeps the fastest.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/event_timing.h"
#include "kernels/cuda/int8_conv.h"
#include "kernels/cuda/int8_gemm.h"
#include "kernels/reference/int8/int8_kernels.h"

namespace octet {
namespace cuda {
namespace {

// The tensor-core GEMM wants K in multiples of 16 bytes.
constexpr int64_t kDepthAlignment = 16;
int64_t aligned_depth(int64_t k) { return (k + kDepthAlignment - 1) / kDepthAlignment * kDepthAlignment; }

// A kernel's requantization on the device: per-channel scales and bias, bounds,
// and for Int8Conv with a residual input Z the residual sum's ratios and bounds.
struct DeviceEpilogue {
  DType output_dtype = DType::kInt8;
  std::shared_ptr<float> scale;
  std::shared_ptr<int32_t> bias;  // null: none
  float lo = 0, hi = 0;
  std::optional<int8::AddRequantizer> sum;

  DeviceEpilogue(const int8::Requantizer& rq, const Tensor* b, std::optional<int8::AddRequantizer> residual_sum = {})
      : output_dtype(residual_sum ? residual_sum->output_dtype : rq.output_dtype), sum(residual_sum) {
    scale = upload(rq.multipliers.data(), rq.multipliers.size());
    if (b) bias = upload(b->data<int32_t>(), static_cast<size_t>(b->numel()));
    if (rq.output_dtype == DType::kInt8) {
      lo = static_cast<float>(rq.lo), hi = static_cast<float>(rq.hi);
    } else {
      const float inf = std::numeric_limits<float>::infinity();
      const int8::Activation& a = rq.activation;
      lo = a.kind == int8::Activation::kRelu ? 0.0f : a.kind == int8::Activation::kClip ? a.clip_min : -inf;
      hi = a.kind == int8::Activation::kClip ? a.clip_max : inf;
    }
  }
  // z: the residual input's device data when the kernel has one.
  Int8Epilogue get(const int8_t* z = nullptr) const {
    Int8Epilogue e{bias.get(), scale.get(), lo, hi};
    if (sum) e.residual = Int8Residual{z, sum->ra, sum->rb, sum->lo, sum->hi};
    return e;
  }

  // y [rows, n] = epilogue(a [rows, k] · w [n, k]ᵀ) (+ the residual z [rows, n]).
  void gemm(const int8_t* a, const int8_t* w, Tensor& y, int64_t rows, int64_t n, int64_t k, const int8_t* z,
            cudaStream_t s) const {
    if (output_dtype == DType::kInt8)
      int8_gemm(a, w, y.data<int8_t>(), rows, n, k, get(z), s);
    else
      int8_gemm(a, w, y.data<float>(), rows, n, k, get(z), s);
  }
};

// Checks the bias input (int32 [channels] or absent) and returns it.
const Tensor* bias_input(const Node& node, const Graph& graph, int64_t channels) {
  const Tensor* b = constant_input(node, graph, 2);
  if (node_has_input(node, 2) && (!b || b->dtype() != DType::kInt32 || b->shape() != Shape{channels})) return nullptr;
  return b;
}

// One way to run an ungrouped convolution on the GPU (a tactic, in TensorRT's word):
// the kernel, and its tensor-core configuration. Every tactic computes the same
// bits; they differ only in speed, which depends on the shape and the GPU.
struct ConvTactic {
  enum Kind { kGemm, kImplicitGemm, kFewChannels, kIm2colGemm } kind;
  std::optional<Int8GemmTile> gemm_tile;  // of kGemm and kIm2colGemm (int8 outputs); none: int8_gemm's choice
  ImplicitConvTile conv_tile = ImplicitConvTile::k128x64Deep;  // of kImplicitGemm

  std::string name() const {
    const std::string tile = gemm_tile ? std::string(" ") + int8_gemm_tile_name(*gemm_tile) : "";
    switch (kind) {
      case kGemm: return "gemm" + tile;
      case kImplicitGemm: return std::string("implicit gemm ") + implicit_conv_tile_name(conv_tile);
      case kFewChannels: return "few-channel";
      case kIm2colGemm: return "im2col + gemm" + tile;
    }
    return "?";
  }
};
constexpr int kTacticTimings = 5;

// The tactic timed fastest for each input shape (N, H, W) of one layer, shared by
// the engine's execution contexts.
class TacticChoices {
 public:
  std::optional<ConvTactic> chosen(int64_t n, int64_t h, int64_t w) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = chosen_.find({n, h, w});
    return it == chosen_.end() ? std::nullopt : std::optional<ConvTactic>(it->second);
  }
  void choose(int64_t n, int64_t h, int64_t w, const ConvTactic& t) {
    std::lock_guard<std::mutex> lock(mutex_);
    chosen_.insert_or_assign(std::array<int64_t, 3>{n, h, w}, t);
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::array<int64_t, 3>, ConvTactic> chosen_;
};

class Int8ConvKernel : public PreparedKernel {
 public:
  Int8ConvKernel(const Node& node, const Tensor& w, const Tensor* b, const int8::Requantizer& rq,
                 std::optional<int8::AddRequantizer> residual_sum)
      : epilogue_(rq, b, residual_sum),
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
    const Conv2d g = conv_geometry(ctx, x.shape(), m_, kh_, kw_, group_);
    const Shape out_shape{g.n, g.oh, g.ow, g.m};
    const int8_t* z = nullptr;
    if (epilogue_.sum) {
      const Tensor& zt = ctx.input(int8::kResidualInput);
      if (zt.dtype() != DType::kInt8 || zt.shape() != out_shape)
        ctx.fail("Z " + shape_str(zt.shape()) + " must be int8 with the convolution's output shape " + shape_str(out_shape));
      z = zt.data<int8_t>();
    }
    Tensor& y = ctx.make_output(0, epilogue_.output_dtype, out_shape, false);
    if (g.n * g.oh * g.ow == 0) return;
    const Launch work{ctx, x, g, z, y, stream_of(ctx)};
    if (group_ != 1) return run_direct(work);
    if (std::optional<ConvTactic> chosen = tactics_.chosen(g.n, g.h, g.w); chosen && launch(*chosen, work)) return;
    // No tactic chosen for this shape yet: time the candidates, unless the stream is
    // being captured into a graph (no synchronising there), and keep the fastest.
    const std::vector<ConvTactic> candidates = tactics(g);
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    OCTET_CUDA_CHECK(cudaStreamIsCapturing(work.stream, &capturing));
    if (capturing == cudaStreamCaptureStatusNone && candidates.size() > 1) {
      const std::optional<ConvTactic> fastest = time_tactics(candidates, work);
      if (fastest && launch(*fastest, work)) return;
    }
    for (const ConvTactic& t : candidates)
      if (launch(t, work)) return;
    ctx.fail("no CUDA kernel took this convolution");
  }

 private:
  // What one launch of the layer works on.
  struct Launch {
    KernelContext& ctx;
    const Tensor& x;
    const Conv2d& g;
    const int8_t* z;
    Tensor& y;
    cudaStream_t stream;
    mutable int8_t* cols = nullptr;  // the im2col copy in scratch, once asked for
  };

  // The tactics that may run this (ungrouped) convolution, the shape rules' choice first.
  std::vector<ConvTactic> tactics(const Conv2d& g) const {
    std::vector<ConvTactic> list;
    const bool int8_out = epilogue_.output_dtype == DType::kInt8;
    const bool pointwise = kh_ == 1 && kw_ == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_t == 0 &&
                           g.pad_l == 0 && g.oh == g.h && g.ow == g.w && padded_depth_ == depth_;
    // A GEMM over the activations, or over an im2col copy, in each configuration.
    auto add_gemms = [&](ConvTactic::Kind kind) {
      list.push_back({kind});
      if (int8_out)
        for (Int8GemmTile tile : kInt8GemmTiles) list.push_back({kind, tile});
    };
    if (pointwise) {
      add_gemms(ConvTactic::kGemm);
      return list;
    }
    if (int8_out && !epilogue_.sum) {
      // Unpadded weight rows are [M, KH, KW, C] as the implicit GEMM reads them.
      if (padded_depth_ == depth_) {
        const ImplicitConvTile first = implicit_conv_tile_for(g);
        list.push_back({ConvTactic::kImplicitGemm, {}, first});
        for (ImplicitConvTile tile : kImplicitConvTiles)
          if (tile != first) list.push_back({ConvTactic::kImplicitGemm, {}, tile});
      }
      list.push_back({ConvTactic::kFewChannels});
    }
    add_gemms(ConvTactic::kIm2colGemm);
    return list;
  }

  // y = epilogue(a [rows, k] · W) with tactic t's GEMM configuration; false where it declines.
  bool gemm(const ConvTactic& t, const int8_t* a, int64_t k, const Launch& l) const {
    const int64_t rows = l.g.n * l.g.oh * l.g.ow;
    if (t.gemm_tile)
      return int8_gemm_tile(a, weights_.get(), l.y.data<int8_t>(), rows, m_, k, epilogue_.get(l.z), *t.gemm_tile,
                            l.stream);
    epilogue_.gemm(a, weights_.get(), l.y, rows, m_, k, l.z, l.stream);
    return true;
  }

  // Runs tactic t; false, having launched nothing, where its kernel declines the layer.
  bool launch(const ConvTactic& t, const Launch& l) const {
    const int8_t* xd = l.x.data<int8_t>();
    switch (t.kind) {
      case ConvTactic::kGemm:
        return gemm(t, xd, depth_, l);
      case ConvTactic::kImplicitGemm:
        return int8_conv_implicit_gemm(xd, weights_.get(), l.y.data<int8_t>(), l.g, epilogue_.get(), l.stream,
                                       t.conv_tile);
      case ConvTactic::kFewChannels:
        return int8_conv_few_channels(xd, weights_.get(), padded_depth_, l.y.data<int8_t>(), l.g, epilogue_.get(),
                                      l.stream);
      case ConvTactic::kIm2colGemm: {
        // Scratch once per run: a first run's scratch is a fresh allocation each time it is asked for.
        if (!l.cols)
          l.cols = static_cast<int8_t*>(l.ctx.device_scratch(static_cast<size_t>(l.g.n * l.g.oh * l.g.ow * padded_depth_)));
        im2col_nhwc_int8(xd, l.cols, l.g, padded_depth_, l.stream);
        return gemm(t, l.cols, padded_depth_, l);
      }
    }
    return false;
  }

  // Times each candidate that takes the layer (the median of a few launches after
  // one untimed) and records the fastest for this shape; the output is rewritten after.
  std::optional<ConvTactic> time_tactics(const std::vector<ConvTactic>& candidates, const Launch& l) const {
    std::optional<ConvTactic> fastest;
    float best_ms = 0;
    for (const ConvTactic& t : candidates) {
      if (!launch(t, l)) continue;
      const float ms = median_launch_ms([&](int) { launch(t, l); }, kTacticTimings, l.stream);
      if (std::getenv("OCTET_CUDA_TACTICS_LOG"))
        std::fprintf(stderr, "%s %s: %s %.4f ms\n", l.ctx.node.name.c_str(), shape_str(l.x.shape()).c_str(),
                     t.name().c_str(), ms);
      if (!fastest || ms < best_ms) fastest = t, best_ms = ms;
    }
    if (fastest) tactics_.choose(l.g.n, l.g.h, l.g.w, *fastest);
    return fastest;
  }

  // Grouped convolutions: the direct kernel, then (with a residual) Int8Add of its int8 output and Z.
  void run_direct(const Launch& l) const {
    const Conv2d& g = l.g;
    const Int8Epilogue e = epilogue_.get();
    const int8_t* xd = l.x.data<int8_t>();
    if (l.z) {
      const int64_t count = g.n * g.oh * g.ow * g.m;
      auto* c = static_cast<int8_t*>(l.ctx.device_scratch(static_cast<size_t>(count)));
      int8_conv_direct(xd, weights_.get(), c, g, e.bias, e.scale, e.lo, e.hi, l.stream);
      const int8::AddRequantizer& r = *epilogue_.sum;
      if (r.output_dtype == DType::kInt8)
        int8_add(c, l.z, l.y.data<int8_t>(), count, r.ra, r.rb, r.lo, r.hi, l.stream);
      else
        int8_add(c, l.z, l.y.data<float>(), count, r.ra, r.rb, r.lo, r.hi, l.stream);
    } else if (epilogue_.output_dtype == DType::kInt8) {
      int8_conv_direct(xd, weights_.get(), l.y.data<int8_t>(), g, e.bias, e.scale, e.lo, e.hi, l.stream);
    } else {
      int8_conv_direct(xd, weights_.get(), l.y.data<float>(), g, e.bias, e.scale, e.lo, e.hi, l.stream);
    }
  }

  DeviceEpilogue epilogue_;
  int64_t m_, cg_, kh_, kw_, group_;
  int64_t depth_ = 0, padded_depth_ = 0;
  std::shared_ptr<int8_t> weights_;
  mutable TacticChoices tactics_;
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
    if (rows > 0) epilogue_.gemm(a.data<int8_t>(), weights_.get(), y, rows, n_, k_, nullptr, stream_of(ctx));
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
  std::optional<int8::AddRequantizer> residual_sum;
  if (node_has_input(node, int8::kResidualInput)) residual_sum = int8::read_residual_requantizer(ctx);
  return std::make_unique<Int8ConvKernel>(node, *w, b, rq, residual_sum);
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
