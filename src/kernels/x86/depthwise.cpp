// FP32 depthwise convolution on channels-last activations (group = C = M: each
// output channel its input channel's own window; MobileNets' 3x3s), any kernel size,
// stride, dilation and padding, with the bias, FusedConv's residual and its
// activation applied in registers. Blocked as the direct convolution is (direct.cpp):
// whole output rows of one image, whose input rows are first copied zero-padded into
// a per-thread buffer; vectors run along channels, contiguous in NHWC.
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/reference/spatial.h"
#include "kernels/x86/x86_kernels.h"
#include "octet/parallel.h"

namespace octet::x86 {
namespace {

class DepthwiseConvKernel : public PreparedKernel {
 public:
  DepthwiseConvKernel(const Variant& variant, const ConvNode& conv, spatial::Window window, spatial::AutoPad auto_pad)
      : variant_(variant),
        window_(std::move(window)),
        auto_pad_(auto_pad),
        residual_(conv.residual),
        channels_(conv.weights->dim(0)),
        epilogue_(conv.epilogue) {
    // W [C, 1, kh, kw] as taps x channels, each tap's row whole vectors (zero-padded).
    const int64_t taps = conv.weights->dim(2) * conv.weights->dim(3);
    const int64_t stride = (channels_ + variant.lanes - 1) / variant.lanes * variant.lanes;
    weights_.assign(taps * stride, 0.0f);
    bias_.assign(stride, 0.0f);
    const float* w = conv.weights->data<float>();
    for (int64_t ch = 0; ch < channels_; ++ch)
      for (int64_t t = 0; t < taps; ++t) weights_[t * stride + ch] = w[ch * taps + t];
    if (conv.bias) std::copy(conv.bias->data<float>(), conv.bias->data<float>() + channels_, bias_.begin());
    epilogue_.bias = bias_.data();
  }

  void run(KernelContext& ctx) const override {
    const Tensor& x = channels_last_input(ctx, channels_);
    spatial::Window window = window_;
    const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = channels_;
    const Shape out = spatial::sliding_output_shape(ctx, window, auto_pad_, {h, w});
    const int64_t oh = out[0], ow = out[1];
    const ConvOutput io = conv_output(ctx, residual_, {n, oh, ow, c});
    if (n * oh * ow == 0) return;
    const DirectGeometry g{c,  window.kernel[0], window.kernel[1], window.strides[0], window.strides[1],
                           window.dilations[0], window.dilations[1], ow, (ow - 1) * window.strides[1] + window.extent(1)};
    const float* xd = x.data<float>();
    for_each_block(n, oh, direct_blocks(n, oh, ow), n * oh * ow * c * g.kh * g.kw, [&](int64_t image, int64_t oy0,
                                                                                        int64_t oy1) {
      const int64_t in_rows = (oy1 - oy0 - 1) * g.sh + window.extent(0);
      float* padded = thread_scratch(in_rows * g.wp * c);
      copy_padded_rows(xd, image, h, w, c, oy0 * g.sh - window.pads_begin[0], in_rows, window.pads_begin[1], g.wp, 0.0f,
                       [](float v) { return v; }, padded);
      const int64_t first_pixel = (image * oh + oy0) * ow;
      variant_.depthwise_conv(g, padded, (oy1 - oy0) * ow, weights_.data(), epilogue_,
                              io.z ? io.z + first_pixel * c : nullptr, io.y + first_pixel * c);
    });
  }

 private:
  const Variant& variant_;
  spatial::Window window_;
  spatial::AutoPad auto_pad_;
  bool residual_;
  int64_t channels_;
  std::vector<float> weights_, bias_;
  Epilogue epilogue_;
};

}  // namespace

std::unique_ptr<PreparedKernel> prepare_depthwise_conv(const Node& node, const Graph& graph) {
  if (supported_variants().empty()) return nullptr;
  const std::optional<ConvNode> conv = read_conv_node(node, graph, kAnyKernelSize, Grouping::kDepthwise);
  if (!conv) return nullptr;
  const KernelContext ctx{node, graph.opset(node.domain), {nullptr, conv->weights, conv->bias}, {}};
  spatial::Window window = spatial::read_window(ctx, {conv->weights->dim(2), conv->weights->dim(3)});
  return std::make_unique<DepthwiseConvKernel>(*supported_variants().front(), *conv, std::move(window),
                                               spatial::read_auto_pad(ctx));
}

}  // namespace octet::x86
