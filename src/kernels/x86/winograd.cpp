// FP32 3x3 stride-1 convolution on channels-last activations by Winograd
// F(2x2, 3x3): each 2x2 output tile is 16 multiply-adds per (input, output)
// channel pair instead of 36, 2.25x fewer. Per chunk of tiles: the input
// transform writes 16 matrices V [tiles x C], 16 products V . U (U = G g G^T,
// the transformed weights, packed once) run on the x86 product's register
// tiles, and the output transform adds the bias and the residual and applies
// the activation as it writes Y. A chunk's V and products stay in cache.
//
// Numerics: the transforms add and subtract (and G halves), so results differ
// from a direct convolution by rounding only; tests/kernels/x86/conv_test.cpp
// holds them to the reference within 1e-4 of the output's magnitude.
#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "kernels/reference/spatial.h"
#include "kernels/x86/x86_kernels.h"
#include "octet/parallel.h"

namespace octet::x86 {
namespace {

// The scratch (V and the products) a chunk of tiles aims at, and the chunk's bounds in
// row steps. The timing test's 32->32 layer (below): 1.21 ms with 1 MiB chunks, 0.93
// with 256 KiB, against onednn's 1.07 (AMD EPYC).
constexpr int64_t kChunkBytes = 1 << 18;
constexpr int64_t kMinChunkSteps = 4, kMaxChunkSteps = 8;
// The fewest input and output channels this kernel takes on.
constexpr int64_t kMinChannels = 16;

// U = G g G^T for one 3x3 filter g, G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1].
std::array<float, 16> transformed_filter(const float* g) {
  static constexpr double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  double t[4][3] = {};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) t[i][j] += G[i][k] * g[k * 3 + j];
  std::array<float, 16> u{};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      double sum = 0;
      for (int k = 0; k < 3; ++k) sum += t[i][k] * G[j][k];
      u[i * 4 + j] = static_cast<float>(sum);
    }
  return u;
}

class WinogradConvKernel : public PreparedKernel {
 public:
  WinogradConvKernel(const Variant& variant, const ConvNode& conv, spatial::Window window, spatial::AutoPad auto_pad)
      : variant_(variant),
        window_(std::move(window)),
        auto_pad_(auto_pad),
        residual_(conv.residual),
        epilogue_(conv.epilogue) {
    const int64_t outputs = conv.weights->dim(0), channels = conv.weights->dim(1);
    std::vector<std::array<float, 16>> u(outputs * channels);
    const float* w = conv.weights->data<float>();
    for (int64_t i = 0; i < outputs * channels; ++i) u[i] = transformed_filter(w + i * 9);
    for (int xi = 0; xi < 16; ++xi)
      transformed_.push_back(pack_columns(variant, channels, outputs,
                                          [&](int64_t c, int64_t m) { return u[m * channels + c][xi]; }));
    bias_ = padded_bias(transformed_[0], conv.bias ? conv.bias->data<float>() : nullptr);
    epilogue_.bias = bias_.data();
  }

  void run(KernelContext& ctx) const override {
    const int64_t channels = transformed_[0].k;
    const Tensor& x = channels_last_input(ctx, channels);
    spatial::Window window = window_;
    const Shape out = spatial::sliding_output_shape(ctx, window, auto_pad_, {x.dim(1), x.dim(2)});
    const WinogradGeometry g{x.dim(0), x.dim(1), x.dim(2), channels, transformed_[0].n, window.pads_begin[0],
                             window.pads_begin[1], out[0], out[1]};
    // Each tile's outputs are written once, after its Z is read: Z may be Y.
    const ConvOutput io = conv_output(ctx, residual_, {g.n, g.oh, g.ow, g.m});
    float* yd = io.y;
    const float* z = io.z;
    const int64_t tiles = g.tiles();
    if (tiles == 0) return;

    // Chunks as large as the cache budget allows within the bounds, one share of them per thread.
    const int64_t step = variant_.row_step;
    const int64_t target = std::clamp(kChunkBytes / (16 * 4 * (g.c + g.m)) / step * step, kMinChunkSteps * step,
                                      kMaxChunkSteps * step);
    const int64_t threads = num_threads();
    const int64_t parts = threads * ((tiles + target * threads - 1) / (target * threads));
    const int64_t chunk = ((tiles + parts - 1) / parts + step - 1) / step * step;
    const float* xd = x.data<float>();
    const Epilogue product;  // the 16 products: no bias, no activation
    parallel_for((tiles + chunk - 1) / chunk, [&](int64_t c0, int64_t c1) {
      float* v = thread_scratch(16 * chunk * (g.c + g.m));
      for (int64_t first = c0 * chunk; first < std::min(tiles, c1 * chunk); first += chunk) {
        const int64_t count = std::min(chunk, tiles - first);
        float* p = v + 16 * count * g.c;
        variant_.winograd_input(g, xd, first, count, v, count * g.c);
        for (int xi = 0; xi < 16; ++xi)
          variant_.multiply(v + xi * count * g.c, g.c, count, transformed_[xi], product, nullptr, 0,
                            p + xi * count * g.m, g.m);
        variant_.winograd_output(g, p, count * g.m, first, count, epilogue_, z, yd);
      }
    });
  }

 private:
  const Variant& variant_;
  spatial::Window window_;
  spatial::AutoPad auto_pad_;
  bool residual_;
  std::vector<PackedMatrix> transformed_;  // U for each of the 16 tile positions, [C x M] (k = C, n = M)
  std::vector<float> bias_;
  Epilogue epilogue_;
};

}  // namespace

std::unique_ptr<PreparedKernel> prepare_winograd_conv(const Node& node, const Graph& graph) {
  if (supported_variants().empty()) return nullptr;
  const std::optional<ConvNode> conv = read_conv_node(node, graph, 3);
  // With fewer channels the transforms and the short products cost more than they
  // save. The floor was 64 while chunks were 1 MiB (32->32 at 14x14, batch 64: 0.80 ms
  // against onednn's 0.64, the timing test in tests/kernels/x86/conv_test.cpp at commit
  // a725d73); with 256 KiB chunks the same layer runs 0.93 against 1.07 ms (commit
  // 9af9799, AMD EPYC), so 16.
  if (!conv || conv->weights->dim(0) < kMinChannels || conv->weights->dim(1) < kMinChannels) return nullptr;
  const KernelContext ctx{node, graph.opset(node.domain), {nullptr, conv->weights, conv->bias}, {}};
  spatial::Window window = spatial::read_window(ctx, {3, 3});
  if (window.strides != Shape{1, 1} || window.dilations != Shape{1, 1}) return nullptr;
  return std::make_unique<WinogradConvKernel>(*supported_variants().front(), *conv, std::move(window),
                                              spatial::read_auto_pad(ctx));
}

}  // namespace octet::x86
