// FP32 convolution of an input with few channels (C <= 4: a network's first
// layer, images with 1 or 3 channels) on channels-last activations, for Conv and
// octet.FusedConv without a residual. oneDNN's kernels vectorise over input
// channels and run such layers at a third of the FMA peak (LeNet's 1 -> 16 5x5
// conv at batch 64: 155 GFLOPS of 483); here each tap broadcasts one input value
// against 16 output channels, and 8 output pixels accumulate at once so that 8
// independent FMA chains keep both FMA ports busy.
//
// Plain C++ loops that GCC vectorises, compiled for AVX-512, AVX2 and baseline
// x86-64 with the variant picked at load time (target_clones): one 16-float
// block is one zmm register on AVX-512 and two ymm on AVX2.
#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/reference/spatial.h"
#include "kernels/x86/x86_kernels.h"
#include "octet/parallel.h"

namespace octet {
namespace {

constexpr int64_t kMaxChannels = 4;
constexpr int kBlock = 16;   // output channels per accumulator
constexpr int kPixels = 8;   // output pixels accumulated at once

#define OCTET_X86_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

struct Geometry {
  int64_t n, h, w, c;     // input [N, H, W, C]
  int64_t oh, ow, m;      // output [N, OH, OW, M]
  int64_t kh, kw;
  int64_t sh, sw, dh, dw, pt, pl;
  int64_t m_blocks;       // M rounded up to whole blocks
};

struct Epilogue {
  float lo = std::numeric_limits<float>::lowest(), hi = std::numeric_limits<float>::max();
  bool clamp = false;
};

// Output pixels [ow0, ow0 + kPixels) of row `oh`, all of whose taps lie inside
// the row horizontally, for output-channel block `mb`. `taps_h` lists the kernel
// rows inside the input.
OCTET_X86_CLONES
void interior_pixels(const Geometry& g, const float* __restrict x_image, const float* __restrict packed,
                     const float* __restrict bias, int64_t oh, int64_t ow0, int64_t mb, const int64_t* taps_h,
                     int64_t n_taps_h, float* __restrict acc_out) {
  float acc[kPixels][kBlock];
  for (int p = 0; p < kPixels; ++p)
    for (int j = 0; j < kBlock; ++j) acc[p][j] = bias[mb * kBlock + j];
  for (int64_t t = 0; t < n_taps_h; ++t) {
    const int64_t ky = taps_h[t];
    const float* row = x_image + (oh * g.sh - g.pt + ky * g.dh) * g.w * g.c;
    for (int64_t kx = 0; kx < g.kw; ++kx) {
      const float* px = row + (ow0 * g.sw - g.pl + kx * g.dw) * g.c;
      for (int64_t ch = 0; ch < g.c; ++ch) {
        const float* wv = packed + (((ky * g.kw + kx) * g.c + ch) * g.m_blocks + mb) * kBlock;
#pragma GCC unroll 8
        for (int p = 0; p < kPixels; ++p) {
          const float v = px[p * g.sw * g.c + ch];
#pragma GCC unroll 16
          for (int j = 0; j < kBlock; ++j) acc[p][j] += v * wv[j];
        }
      }
    }
  }
  std::memcpy(acc_out, acc, sizeof(acc));
}

// One output pixel anywhere (borders included): taps outside the input are skipped.
void any_pixel(const Geometry& g, const float* x_image, const float* packed, const float* bias, int64_t oh,
               int64_t ow, int64_t mb, float* acc) {
  for (int j = 0; j < kBlock; ++j) acc[j] = bias[mb * kBlock + j];
  for (int64_t ky = 0; ky < g.kh; ++ky) {
    const int64_t iy = oh * g.sh - g.pt + ky * g.dh;
    if (iy < 0 || iy >= g.h) continue;
    for (int64_t kx = 0; kx < g.kw; ++kx) {
      const int64_t ix = ow * g.sw - g.pl + kx * g.dw;
      if (ix < 0 || ix >= g.w) continue;
      const float* px = x_image + (iy * g.w + ix) * g.c;
      for (int64_t ch = 0; ch < g.c; ++ch) {
        const float* wv = packed + (((ky * g.kw + kx) * g.c + ch) * g.m_blocks + mb) * kBlock;
        for (int j = 0; j < kBlock; ++j) acc[j] += px[ch] * wv[j];
      }
    }
  }
}

// Applies the activation and stores the block's real channels of one pixel.
void store(const Geometry& g, const float* acc, int64_t mb, const Epilogue& e, float* y_pixel) {
  const int64_t count = std::min<int64_t>(kBlock, g.m - mb * kBlock);
  for (int64_t j = 0; j < count; ++j) {
    const float v = acc[j];
    y_pixel[mb * kBlock + j] = e.clamp ? std::min(std::max(v, e.lo), e.hi) : v;
  }
}

class SmallChannelConvKernel : public PreparedKernel {
 public:
  SmallChannelConvKernel(const Tensor& w, const Tensor* b, spatial::Window window, spatial::AutoPad auto_pad,
                         Epilogue epilogue)
      : m_(w.dim(0)), c_(w.dim(1)), kh_(w.dim(2)), kw_(w.dim(3)), window_(std::move(window)), auto_pad_(auto_pad),
        epilogue_(epilogue) {
    // Weights [M, C, kh, kw] -> [kh][kw][C][M rounded up to kBlock], zero-padded.
    m_blocks_ = (m_ + kBlock - 1) / kBlock;
    packed_.assign(kh_ * kw_ * c_ * m_blocks_ * kBlock, 0.0f);
    bias_.assign(m_blocks_ * kBlock, 0.0f);
    const float* src = w.data<float>();
    for (int64_t o = 0; o < m_; ++o)
      for (int64_t ch = 0; ch < c_; ++ch)
        for (int64_t ky = 0; ky < kh_; ++ky)
          for (int64_t kx = 0; kx < kw_; ++kx)
            packed_[((ky * kw_ + kx) * c_ + ch) * m_blocks_ * kBlock + o] = src[((o * c_ + ch) * kh_ + ky) * kw_ + kx];
    if (b) std::copy(b->data<float>(), b->data<float>() + m_, bias_.begin());
  }

  void run(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.dtype() != DType::kFloat32 || x.rank() != 4 || x.dim(3) != c_)
      ctx.fail("X " + std::string(dtype_name(x.dtype())) + shape_str(x.shape()) + " must be float32 [N, H, W, " +
               std::to_string(c_) + "]");
    spatial::Window window = window_;
    const Shape out = spatial::sliding_output_shape(ctx, window, auto_pad_, {x.dim(1), x.dim(2)});
    Geometry g{x.dim(0), x.dim(1), x.dim(2), c_, out[0], out[1], m_, kh_, kw_,
               window.strides[0], window.strides[1], window.dilations[0], window.dilations[1],
               window.pads_begin[0], window.pads_begin[1], m_blocks_};
    Tensor& y = ctx.make_output(0, DType::kFloat32, {g.n, g.oh, g.ow, g.m}, /*zero_filled=*/false);
    if (y.numel() == 0) return;
    // Output columns whose every tap lies inside the input row.
    const int64_t first_inside = std::min(g.ow, (g.pl + g.sw - 1) / g.sw);
    const int64_t last_tap = (g.kw - 1) * g.dw;
    const int64_t room = g.w - 1 - last_tap + g.pl;  // the last column a tap may start from, + pl
    const int64_t end_inside = room < 0 ? first_inside : std::max(first_inside, std::min(g.ow, room / g.sw + 1));
    const float* x_data = x.data<float>();
    float* y_data = y.data<float>();
    parallel_for(g.n * g.oh, [&](int64_t begin, int64_t end) {
      std::vector<int64_t> taps_h;
      float acc[kPixels * kBlock];
      for (int64_t row = begin; row < end; ++row) {
        const int64_t image = row / g.oh, oh = row % g.oh;
        const float* x_image = x_data + image * g.h * g.w * g.c;
        float* y_row = y_data + row * g.ow * g.m;
        taps_h.clear();
        for (int64_t ky = 0; ky < g.kh; ++ky) {
          const int64_t iy = oh * g.sh - g.pt + ky * g.dh;
          if (iy >= 0 && iy < g.h) taps_h.push_back(ky);
        }
        for (int64_t mb = 0; mb < g.m_blocks; ++mb) {
          int64_t ow = 0;
          for (; ow < first_inside; ++ow) one_pixel(g, x_image, mb, oh, ow, acc, y_row);
          for (; ow + kPixels <= end_inside; ow += kPixels) {
            interior_pixels(g, x_image, packed_.data(), bias_.data(), oh, ow, mb, taps_h.data(),
                            static_cast<int64_t>(taps_h.size()), acc);
            for (int p = 0; p < kPixels; ++p) store(g, acc + p * kBlock, mb, epilogue_, y_row + (ow + p) * g.m);
          }
          for (; ow < g.ow; ++ow) one_pixel(g, x_image, mb, oh, ow, acc, y_row);
        }
      }
    });
  }

 private:
  void one_pixel(const Geometry& g, const float* x_image, int64_t mb, int64_t oh, int64_t ow, float* acc,
                 float* y_row) const {
    any_pixel(g, x_image, packed_.data(), bias_.data(), oh, ow, mb, acc);
    store(g, acc, mb, epilogue_, y_row + ow * g.m);
  }

  int64_t m_, c_, kh_, kw_, m_blocks_ = 0;
  spatial::Window window_;
  spatial::AutoPad auto_pad_;
  Epilogue epilogue_;
  std::vector<float> packed_, bias_;
};

// The kernel for a channels-last 2-D FP32 Conv / FusedConv with C <= 4, group 1,
// constant W (and B), no residual and no activation but relu or clip; else nullptr.
std::unique_ptr<PreparedKernel> prepare_small_channel_conv(const Node& node, const Graph& graph) {
  if (!node.channels_last() || node.attr_int("group", 1) != 1) return nullptr;
  const Tensor* w = constant_input(node, graph, 1);
  const Tensor* b = constant_input(node, graph, 2);
  if (!w || w->dtype() != DType::kFloat32 || w->rank() != 4 || w->dim(1) > kMaxChannels) return nullptr;
  if (node_has_input(node, 2) && (!b || b->dtype() != DType::kFloat32 || b->numel() != w->dim(0))) return nullptr;
  Epilogue epilogue;
  if (node.op_type == "FusedConv") {
    if (node_has_input(node, 3)) return nullptr;
    const std::string activation = node.attr_string("activation", "none");
    if (activation == "relu") {
      epilogue = {0.0f, std::numeric_limits<float>::infinity(), true};
    } else if (activation == "clip") {
      epilogue = {node.attr_float("clip_min", std::numeric_limits<float>::lowest()),
                  node.attr_float("clip_max", std::numeric_limits<float>::max()), true};
    } else if (activation != "none") {
      return nullptr;
    }
  }
  const KernelContext ctx{node, graph.opset(node.domain), {nullptr, w, b}, {}};
  const Shape kernel(w->shape().begin() + 2, w->shape().end());
  if (node.has_attr("kernel_shape") && node.attr_ints("kernel_shape") != kernel)
    ctx.fail("kernel_shape " + shape_str(node.attr_ints("kernel_shape")) + " does not match W " + shape_str(w->shape()));
  return std::make_unique<SmallChannelConvKernel>(*w, b, spatial::read_window(ctx, kernel), spatial::read_auto_pad(ctx),
                                                  epilogue);
}

}  // namespace

void register_x86_kernels(KernelRegistry& r) {
  r.add(KernelDef{"Conv", "", 1, 17, "x86", {}, prepare_small_channel_conv});
  r.add(KernelDef{"FusedConv", "octet", 1, 1, "x86", {}, prepare_small_channel_conv});
}

}  // namespace octet
