// FP32 direct convolution on channels-last activations, for the convs the other
// x86 kernels leave: any kernel size, stride, dilation and padding (group 1), such
// as stems with one to three input channels, strided 3x3s, 5x5s and 3x3s with few
// channels. Work is cut into blocks of whole output rows of one image; a block
// first copies the input rows it reads, zero-padded, into a per-thread buffer, and
// then runs the register tiles of direct_tiles.h over its pixels with the bias,
// FusedConv's residual and its activation applied in registers. A FusedConv with
// max pooling (kernels/pooled_conv.h) computes a block's convolution rows into
// the buffer and pools them from there: only pooled values reach Y.
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/pooled_conv.h"
#include "kernels/reference/spatial.h"
#include "kernels/x86/x86_kernels.h"
#include "octet/parallel.h"

namespace octet::x86 {
namespace {

class DirectConvKernel : public PreparedKernel {
 public:
  DirectConvKernel(const Variant& variant, const ConvNode& conv, spatial::Window window, spatial::AutoPad auto_pad,
                   std::optional<PoolWindow> pool)
      : variant_(variant),
        window_(std::move(window)),
        auto_pad_(auto_pad),
        pool_(pool),
        residual_(conv.residual),
        channels_(conv.weights->dim(1)),
        weights_(pack_columns(variant, conv.weights->dim(1) * conv.weights->dim(2) * conv.weights->dim(3),
                              conv.weights->dim(0),
                              [&](int64_t k, int64_t m) {
                                // k runs over (kernel row, kernel column, channel); W is [M, C, kh, kw].
                                const int64_t c = channels_, kw = conv.weights->dim(3);
                                const int64_t i = k / (kw * c), j = k / c % kw, ch = k % c;
                                return conv.weights->data<float>()[((m * c + ch) * conv.weights->dim(2) + i) * kw + j];
                              })),
        bias_(padded_bias(weights_, conv.bias ? conv.bias->data<float>() : nullptr)),
        epilogue_(conv.epilogue) {
    epilogue_.bias = bias_.data();
  }

  void run(KernelContext& ctx) const override {
    const Tensor& x = channels_last_input(ctx, channels_);
    spatial::Window window = window_;
    const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = channels_, m = weights_.n;
    const Shape conv_out = spatial::sliding_output_shape(ctx, window, auto_pad_, {h, w});
    const int64_t oh = conv_out[0], ow = conv_out[1];
    // Y's rows and columns: the pooled ones, or the convolution's.
    const PoolWindow pool = pool_.value_or(PoolWindow{1, 1, 1, 1});
    if (pool_ && (oh < pool.kh || ow < pool.kw))
      ctx.fail("max pooling window " + shape_str({pool.kh, pool.kw}) + " does not fit the convolution's output " +
               shape_str(conv_out));
    const int64_t ph = (oh - pool.kh) / pool.sh + 1, pw = (ow - pool.kw) / pool.sw + 1;
    const ConvOutput io = conv_output(ctx, residual_, {n, ph, pw, m});
    if (n * ph * pw == 0) return;
    const int64_t kh = window.kernel[0], kw = window.kernel[1];
    const DirectGeometry g{c,  kh, kw, window.strides[0], window.strides[1], window.dilations[0], window.dilations[1],
                           ow, (ow - 1) * window.strides[1] + window.extent(1)};
    const int64_t top = window.pads_begin[0], left = window.pads_begin[1];

    const float* xd = x.data<float>();
    for_each_block(n, ph, direct_blocks(n, ph, pw), n * oh * ow * weights_.k * m, [&](int64_t image, int64_t y0,
                                                                                      int64_t y1) {
      // The convolution rows the block's Y rows need.
      const int64_t oy0 = y0 * pool.sh, oy1 = (y1 - 1) * pool.sh + pool.kh;
      const int64_t in_rows = (oy1 - oy0 - 1) * g.sh + window.extent(0);
      // Padded input rows, then (pooled) the unpooled convolution rows, 64-byte aligned.
      const int64_t input_floats = (in_rows * g.wp * c + 15) / 16 * 16;
      float* padded = thread_scratch(input_floats + (pool_ ? (oy1 - oy0) * ow * m : 0));
      copy_padded_rows(xd, image, h, w, c, oy0 * g.sh - top, in_rows, left, g.wp, 0.0f, [](float v) { return v; },
                       padded);
      const int64_t first_pixel = (image * ph + y0) * pw;
      if (!pool_) {
        variant_.direct_conv(g, padded, (oy1 - oy0) * ow, weights_, epilogue_, io.z ? io.z + first_pixel * m : nullptr,
                             io.y + first_pixel * m);
        return;
      }
      float* unpooled = padded + input_floats;
      variant_.direct_conv(g, padded, (oy1 - oy0) * ow, weights_, epilogue_, nullptr, unpooled);
      variant_.max_pool(unpooled, ow, y1 - y0, pw, m, *pool_, io.y + first_pixel * m);
    });
  }

 private:
  const Variant& variant_;
  spatial::Window window_;
  spatial::AutoPad auto_pad_;
  std::optional<PoolWindow> pool_;  // FusedConv's max pooling
  bool residual_;
  int64_t channels_;
  PackedMatrix weights_;  // [kh * kw * C x M]
  std::vector<float> bias_;
  Epilogue epilogue_;
};

}  // namespace

std::unique_ptr<PreparedKernel> prepare_direct_conv(const Node& node, const Graph& graph) {
  if (supported_variants().empty()) return nullptr;
  const std::optional<ConvNode> conv = read_conv_node(node, graph, kAnyKernelSize);
  if (!conv) return nullptr;
  const KernelContext ctx{node, graph.opset(node.domain), {nullptr, conv->weights, conv->bias}, {}};
  spatial::Window window = spatial::read_window(ctx, {conv->weights->dim(2), conv->weights->dim(3)});
  std::optional<PoolWindow> pool;
  if (has_fused_max_pool(node)) {
    const Node half = split_fused_max_pool(node).second;
    const Shape kernel = half.attr_ints("kernel_shape"), strides = half.attr_ints("strides");
    // Pools the reference MaxPool would refuse, and pooling after a residual, are left to it.
    const auto positive = [](const Shape& s) { return std::all_of(s.begin(), s.end(), [](int64_t v) { return v > 0; }); };
    if (conv->residual || kernel.size() != 2 || strides.size() != 2 || !positive(kernel) || !positive(strides))
      return nullptr;
    pool = PoolWindow{kernel[0], kernel[1], strides[0], strides[1]};
  }
  return std::make_unique<DirectConvKernel>(*supported_variants().front(), *conv, std::move(window),
                                            spatial::read_auto_pad(ctx), pool);
}

}  // namespace octet::x86
