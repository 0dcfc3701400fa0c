// FP32 1x1 convolution on channels-last activations as one matrix product: each
// output pixel is a row, Y[N*OH*OW x M] = X[rows x C] . W^T, with the bias,
// FusedConv's residual and its activation applied in the register tiles
// (variant.h). Strided convs first gather their input pixels, a block of
// rows at a time, into a per-thread buffer.
#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "kernels/reference/spatial.h"
#include "kernels/x86/x86_kernels.h"
#include "octet/parallel.h"

namespace octet {
namespace x86 {

std::optional<ConvNode> read_conv_node(const Node& node, const Graph& graph, int64_t kernel_size) {
  if (!node.channels_last() || node.attr_int("group", 1) != 1) return std::nullopt;
  ConvNode c;
  c.weights = constant_input(node, graph, 1);
  c.bias = constant_input(node, graph, 2);
  const Tensor* w = c.weights;
  if (!w || w->dtype() != DType::kFloat32 || w->shape() != Shape{w->dim(0), w->dim(1), kernel_size, kernel_size})
    return std::nullopt;
  if (node_has_input(node, 2) && (!c.bias || c.bias->dtype() != DType::kFloat32 || c.bias->shape() != Shape{w->dim(0)}))
    return std::nullopt;
  if (node.has_attr("kernel_shape") && node.attr_ints("kernel_shape") != Shape{kernel_size, kernel_size})
    return std::nullopt;
  if (node.op_type != "FusedConv") return c;
  c.residual = node_has_input(node, 3);
  // The reference FusedConv's attributes and defaults (src/kernels/reference/fused_conv.cpp).
  const std::string activation = node.attr_string("activation", "none");
  Epilogue& e = c.epilogue;
  if (activation == "relu") {
    e.activation = Activation::kRelu;
  } else if (activation == "clip") {
    e.activation = Activation::kClip;
    e.lo = node.attr_float("clip_min", std::numeric_limits<float>::lowest());
    e.hi = node.attr_float("clip_max", std::numeric_limits<float>::max());
  } else if (activation == "leaky_relu") {
    e.activation = Activation::kLeakyRelu;
    e.alpha = node.attr_float("alpha", 0.01f);
  } else if (activation != "none") {
    return std::nullopt;  // sigmoid, hard_swish: left to the other backends
  }
  return c;
}

const Tensor& channels_last_input(const KernelContext& ctx, int64_t channels) {
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DType::kFloat32 || x.rank() != 4 || x.dim(3) != channels)
    ctx.fail("X " + std::string(dtype_name(x.dtype())) + shape_str(x.shape()) + " must be float32 [N, H, W, " +
             std::to_string(channels) + "]");
  return x;
}

ConvOutput conv_output(KernelContext& ctx, bool residual, const Shape& out) {
  const Tensor* z = residual ? &ctx.input(3) : nullptr;
  if (z && (z->dtype() != DType::kFloat32 || z->shape() != out))
    ctx.fail("residual " + std::string(dtype_name(z->dtype())) + shape_str(z->shape()) + " must be float32 " +
             shape_str(out));
  const bool in_place = z && ctx.can_overwrite_input(3);
  Tensor& y = in_place ? (ctx.outputs[0] = *z) : ctx.make_output(0, DType::kFloat32, out, false);
  return {y.data<float>(), z ? z->data<float>() : nullptr};
}

namespace {

// Below this many multiply-adds a layer runs on one thread (waking the other costs more).
constexpr int64_t kSerialMultiplyAdds = int64_t{1} << 20;
// Rows a strided conv gathers at a time.
constexpr int64_t kGatherRows = 240;

class Conv1x1Kernel : public PreparedKernel {
 public:
  Conv1x1Kernel(const Variant& variant, const ConvNode& conv, spatial::Window window)
      : variant_(variant),
        channels_(conv.weights->dim(1)),
        window_(std::move(window)),
        residual_(conv.residual),
        weights_(pack_columns(variant, channels_, conv.weights->dim(0),
                              [&](int64_t c, int64_t m) { return conv.weights->data<float>()[m * channels_ + c]; })),
        bias_(padded_bias(weights_, conv.bias ? conv.bias->data<float>() : nullptr)),
        epilogue_(conv.epilogue) {
    epilogue_.bias = bias_.data();
  }

  void run(KernelContext& ctx) const override {
    const Tensor& x = channels_last_input(ctx, channels_);
    const int64_t sh = window_.strides[0], sw = window_.strides[1];
    const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), m = weights_.n;
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
        variant_.multiply(xd + r0 * channels_, channels_, r1 - r0, weights_, epilogue_, z ? z + r0 * m : nullptr, m,
                          yd + r0 * m, m);
        return;
      }
      std::vector<float> gathered(kGatherRows * channels_);
      for (int64_t b0 = r0; b0 < r1; b0 += kGatherRows) {
        const int64_t b1 = std::min(r1, b0 + kGatherRows);
        for (int64_t r = b0; r < b1; ++r) {
          const int64_t ox = r % out[2], oy = r / out[2] % out[1], image = r / (out[1] * out[2]);
          const float* pixel = xd + ((image * h + oy * sh) * w + ox * sw) * channels_;
          std::copy(pixel, pixel + channels_, gathered.data() + (r - b0) * channels_);
        }
        variant_.multiply(gathered.data(), channels_, b1 - b0, weights_, epilogue_, z ? z + b0 * m : nullptr, m,
                          yd + b0 * m, m);
      }
    };
    if (rows * channels_ * m < kSerialMultiplyAdds)
      work(0, units);
    else
      parallel_for(units, work);
  }

 private:
  const Variant& variant_;
  int64_t channels_;
  spatial::Window window_;
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
