// FP32 1x1 convolution on channels-last activations as one matrix product: each
// output pixel is a row, Y[N*OH*OW x M] = X[rows x C] . W^T, with the bias,
// FusedConv's residual and its activation applied in the register tiles
// (variant.h). Strided convs first gather their input pixels, a block of
// rows at a time, into a per-thread buffer.
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/reference/spatial.h"
#include "kernels/x86/x86_kernels.h"
#include "octet/parallel.h"

namespace octet {
namespace x86 {

namespace {

// Rows a strided conv gathers at a time.
constexpr int64_t kGatherRows = 240;

class Conv1x1Kernel : public PreparedKernel {
 public:
  Conv1x1Kernel(const Variant& variant, const ConvNode& conv, spatial::Window window)
      : variant_(variant),
        strides_(window.strides),
        residual_(conv.residual),
        weights_(pack_columns(variant, conv.weights->dim(1), conv.weights->dim(0),
                              [&](int64_t c, int64_t m) {
                                return conv.weights->data<float>()[m * conv.weights->dim(1) + c];
                              })),
        bias_(padded_bias(weights_, conv.bias ? conv.bias->data<float>() : nullptr)),
        epilogue_(conv.epilogue) {
    epilogue_.bias = bias_.data();
  }

  void run(KernelContext& ctx) const override {
    const int64_t channels = weights_.k, m = weights_.n;
    const Tensor& x = channels_last_input(ctx, channels);
    const int64_t sh = strides_[0], sw = strides_[1];
    const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2);
    const Shape out{n, (h - 1) / sh + 1, (w - 1) / sw + 1, m};
    const ConvOutput io = conv_output(ctx, residual_, out);
    float* yd = io.y;
    const float* z = io.z;
    const int64_t rows = out[0] * out[1] * out[2];
    if (rows == 0) return;
    const float* xd = x.data<float>();
    const bool strided = sh != 1 || sw != 1;

    const int64_t step = variant_.row_step;
    const int64_t units = (rows + step - 1) / step;
    auto work = [&](int64_t u0, int64_t u1) {
      const int64_t r0 = u0 * step, r1 = std::min(rows, u1 * step);
      if (!strided) {
        variant_.multiply(xd + r0 * channels, channels, r1 - r0, weights_, epilogue_, z ? z + r0 * m : nullptr, m,
                          yd + r0 * m, m);
        return;
      }
      float* gathered = thread_scratch(kGatherRows * channels);
      for (int64_t b0 = r0; b0 < r1; b0 += kGatherRows) {
        const int64_t b1 = std::min(r1, b0 + kGatherRows);
        // The block's first pixel by division, the others by stepping: no divisions per row.
        int64_t ox = b0 % out[2], oy = b0 / out[2] % out[1], image = b0 / (out[1] * out[2]);
        for (int64_t r = b0; r < b1; ++r) {
          const float* pixel = xd + ((image * h + oy * sh) * w + ox * sw) * channels;
          std::copy(pixel, pixel + channels, gathered + (r - b0) * channels);
          if (++ox == out[2]) {
            ox = 0;
            if (++oy == out[1]) oy = 0, ++image;
          }
        }
        variant_.multiply(gathered, channels, b1 - b0, weights_, epilogue_, z ? z + b0 * m : nullptr, m,
                          yd + b0 * m, m);
      }
    };
    share_work(units, rows * channels * m, work);
  }

 private:
  const Variant& variant_;
  Shape strides_;
  bool residual_;
  PackedMatrix weights_;
  std::vector<float> bias_;
  Epilogue epilogue_;
};

}  // namespace

std::unique_ptr<PreparedKernel> prepare_conv1x1(const Node& node, const Graph& graph) {
  if (supported_variants().empty()) return nullptr;
  const std::optional<ConvNode> conv = read_conv_node(node, graph, 1);
  if (!conv) return nullptr;
  const KernelContext ctx{node, graph.opset(node.domain), {nullptr, conv->weights, conv->bias}, {}};
  spatial::Window window = spatial::read_window(ctx, {1, 1});
  const spatial::AutoPad auto_pad = spatial::read_auto_pad(ctx);
  // Pads and SAME auto-padding would add zero rows; those convs are left to the other backends.
  const bool no_pads = std::all_of(window.pads_begin.begin(), window.pads_begin.end(), [](int64_t p) { return p == 0; }) &&
                       std::all_of(window.pads_end.begin(), window.pads_end.end(), [](int64_t p) { return p == 0; });
  if (!no_pads || (auto_pad != spatial::AutoPad::kNotSet && auto_pad != spatial::AutoPad::kValid)) return nullptr;
  return std::make_unique<Conv1x1Kernel>(*supported_variants().front(), *conv, std::move(window));
}

}  // namespace x86
}  // namespace octet
