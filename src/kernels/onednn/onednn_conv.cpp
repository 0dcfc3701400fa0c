// Conv (FP32), octet.FusedConv (FP32) and Int8Conv on oneDNN's convolution
// primitive, 2-D spatial only. Weights are constant: they are reordered once into
// the layout the primitive prefers. Activations are in the node's layout: a
// channels-last node's X, Z and Y are NHWC and the primitive runs on them as they
// are. NCHW activations are reordered around the primitive when it prefers
// another layout, except for 1x1 FP32 convs, which run on NCHW directly (see
// read_fp32_conv_config). FusedConv's residual and activation are post-ops: sum
// (dst starts as the residual), then eltwise.
#include <limits>
#include <optional>
#include <string>

#include "kernels/onednn/onednn_kernels.h"
#include "kernels/pooled_conv.h"
#include "kernels/onednn/onednn_runtime.h"
#include "kernels/workspace.h"
#include "kernels/reference/spatial.h"

namespace octet {
namespace {

using dnnl::memory;

// What a Conv or Int8Conv node fixes, read once when the kernel is prepared.
struct ConvConfig {
  DType src_dtype = DType::kFloat32, dst_dtype = DType::kFloat32;
  // What the primitive multiplies: src_dtype, or bf16 for an FP32 conv computed in
  // BF16 (X converted on the way in, the weights once; FP32 accumulation and Y).
  DType compute_dtype = DType::kFloat32;
  Shape weight_shape;  // [M, C/group, kh, kw]
  int64_t group = 1;
  spatial::Window window;
  spatial::AutoPad auto_pad = spatial::AutoPad::kNotSet;
  dnnl::primitive_attr attr;
  // X, Z and Y as the graph holds them.
  onednn::ActivationLayout layout;
  // The activation layout the primitive is made for: `any` lets oneDNN pick its
  // preferred (blocked) one, X, Z and Y then being reordered into it and back;
  // layout.tag() (see read_conv_config, read_fp32_conv_config) uses them as they are.
  memory::format_tag primitive_layout = memory::format_tag::any;
  // FusedConv's residual Z (input 3): dst is initialised with Z and `attr` has a
  // sum post-op, so the primitive computes conv + b + Z.
  bool residual = false;
};

class ConvKernel : public PreparedKernel {
 public:
  ConvKernel(ConvConfig config, const Tensor& weights, const Tensor* bias)
      : config_(std::move(config)), weights_(weights, weights_desc(config_)) {
    if (bias) {
      bias_desc_ = memory::desc({bias->dim(0)}, onednn::data_type(bias->dtype()), memory::format_tag::x);
      bias_.emplace(*bias, bias_desc_);
    }
  }

  void run(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.dtype() != config_.src_dtype)
      ctx.fail("X has dtype " + std::string(dtype_name(x.dtype())) + " but " +
               std::string(dtype_name(config_.src_dtype)) + " is expected");
    const int64_t channels = config_.weight_shape[1] * config_.group;
    if (x.rank() != 4 || x.dim(config_.layout.channel_axis()) != channels)
      ctx.fail("X " + shape_str(x.shape()) + " must be " + config_.layout.expected_shape(std::to_string(channels)) +
               " for W " + shape_str(config_.weight_shape) + " (group " + std::to_string(config_.group) + ")");

    Shape key = x.shape();
    // Multiply-adds, counting the output as the input's size over the strides.
    const Shape& w = config_.weight_shape;
    const int64_t macs = x.numel() / channels * w[0] * w[1] * w[2] * w[3] /
                         (config_.window.strides[0] * config_.window.strides[1]);
    key.push_back(onednn::adopt_thread_count(macs, onednn::kSerialMultiplyAdds));
    const auto plan = plans_.get(key, [&] { return make_plan(ctx, x.shape()); });
    const Tensor* residual = config_.residual ? &ctx.input(3) : nullptr;
    if (residual && (residual->dtype() != config_.dst_dtype || residual->shape() != plan->output_shape))
      ctx.fail("residual " + std::string(dtype_name(residual->dtype())) + shape_str(residual->shape()) +
               " must have the output's dtype and shape, " + std::string(dtype_name(config_.dst_dtype)) +
               shape_str(plan->output_shape));
    // A residual no one reads afterwards becomes Y: the sum post-op adds the conv
    // into it in place, saving a copy of Z (as large as Y) per run.
    const bool in_place = residual && !plan->dst_reorder && ctx.can_overwrite_input(3);
    Tensor& y = in_place ? (ctx.outputs[0] = *residual)
                         : ctx.make_output(0, config_.dst_dtype, plan->output_shape, /*zero_filled=*/false);

    memory src = onednn::wrap(plan->src_plain, x.raw());
    memory dst = onednn::wrap(plan->dst_plain, y.raw());
    if (plan->src_reorder) {
      memory converted = onednn::wrap(plan->src, workspace::buffer(workspace::Slot::kSource, plan->src.get_size()));
      onednn::execute(*plan->src_reorder, {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, converted}});
      src = converted;
    }
    memory conv_dst = plan->dst_reorder ? onednn::wrap(plan->dst, workspace::buffer(workspace::Slot::kDestination,
                                                                                        plan->dst.get_size()))
                                        : dst;
    // The sum post-op adds what dst holds: Z, in the primitive's dst layout.
    if (residual && !in_place)
      onednn::execute(*plan->residual_reorder, {{DNNL_ARG_FROM, onednn::wrap(plan->dst_plain, residual->raw())},
                                                {DNNL_ARG_TO, conv_dst}});
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, plan->weights}, {DNNL_ARG_DST, conv_dst}};
    if (bias_) args.emplace(DNNL_ARG_BIAS, plan->bias);
    onednn::execute(plan->conv, std::move(args));
    if (plan->dst_reorder) onednn::execute(*plan->dst_reorder, {{DNNL_ARG_FROM, conv_dst}, {DNNL_ARG_TO, dst}});
  }

 private:
  // The primitives for one input shape.
  struct Plan {
    onednn::Step conv;
    std::optional<onednn::Step> src_reorder, dst_reorder;  // the graph's layout <-> the primitive's
    std::optional<onednn::Step> residual_reorder;         // Z -> dst's layout (a copy when they agree)
    memory::desc src_plain, dst_plain, src, dst;
    memory weights, bias;
    Shape output_shape;
  };

  static memory::desc weights_desc(const ConvConfig& c) {
    const Shape& w = c.weight_shape;
    const memory::data_type type = onednn::data_type(c.src_dtype);  // as stored: the conversion is a reorder
    if (c.group == 1) return memory::desc({w[0], w[1], w[2], w[3]}, type, memory::format_tag::oihw);
    return memory::desc({c.group, w[0] / c.group, w[1], w[2], w[3]}, type, memory::format_tag::goihw);
  }

  Plan make_plan(const KernelContext& ctx, const Shape& x_shape) const {
    spatial::Window window = config_.window;
    const memory::dims src_dims = config_.layout.logical_dims(x_shape);  // {N, C, H, W}
    const Shape out_spatial = spatial::sliding_output_shape(ctx, window, config_.auto_pad, {src_dims[2], src_dims[3]});
    const memory::dims dst_dims{src_dims[0], config_.weight_shape[0], out_spatial[0], out_spatial[1]};
    Plan plan;
    plan.output_shape = config_.layout.shape_of(dst_dims);
    const memory::data_type src_type = onednn::data_type(config_.src_dtype);
    const memory::data_type dst_type = onednn::data_type(config_.dst_dtype);
    const memory::data_type compute_type = onednn::data_type(config_.compute_dtype);
    plan.src_plain = memory::desc(src_dims, src_type, config_.layout.tag());
    plan.dst_plain = memory::desc(dst_dims, dst_type, config_.layout.tag());
    const memory::desc weights_any(weights_desc(config_).dims(), compute_type, memory::format_tag::any);
    memory::dims dilations;  // oneDNN counts the gaps: ONNX's dilation - 1
    for (int64_t d : window.dilations) dilations.push_back(d - 1);
    const dnnl::convolution_forward::desc desc(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
        memory::desc(src_dims, compute_type, config_.primitive_layout), weights_any, bias_desc_,
        memory::desc(dst_dims, dst_type, config_.primitive_layout), window.strides, dilations, window.pads_begin,
        window.pads_end);
    const dnnl::convolution_forward::primitive_desc pd(desc, config_.attr, onednn::engine());

    plan.conv = onednn::make_step<dnnl::convolution_forward>(pd);
    plan.src = pd.src_desc();
    plan.dst = pd.dst_desc();
    if (plan.src != plan.src_plain) plan.src_reorder = onednn::make_reorder(plan.src_plain, plan.src);
    if (plan.dst != plan.dst_plain) plan.dst_reorder = onednn::make_reorder(plan.dst, plan.dst_plain);
    if (config_.residual) plan.residual_reorder = onednn::make_reorder(plan.dst_plain, plan.dst);
    plan.weights = weights_.in_layout(pd.weights_desc());
    if (bias_) plan.bias = bias_->in_layout(pd.bias_desc());
    return plan;
  }

  ConvConfig config_;
  onednn::Constant weights_;
  memory::desc bias_desc_;  // empty without a bias
  std::optional<onednn::Constant> bias_;
  onednn::PlanCache<Plan> plans_;
};

// The configuration shared by Conv and Int8Conv, or nullopt when the node is not
// one this backend handles: 2-D spatial, W (and B) constant with dtypes
// `weight_dtype` (and `bias_dtype`). Invalid attributes are reported as errors.
std::optional<ConvConfig> read_conv_config(const Node& node, const Graph& graph, DType weight_dtype,
                                           DType bias_dtype) {
  const Tensor* w = constant_input(node, graph, 1);
  const Tensor* b = constant_input(node, graph, 2);
  if (!w || w->dtype() != weight_dtype || w->rank() != 4) return std::nullopt;
  if (node_has_input(node, 2) && (!b || b->dtype() != bias_dtype)) return std::nullopt;

  const KernelContext ctx{node, graph.opset(node.domain), {nullptr, w, b}, {}};
  ConvConfig c;
  c.weight_shape = w->shape();
  c.group = node.attr_int("group", 1);
  if (c.group < 1 || c.weight_shape[0] % c.group != 0)
    ctx.fail("group " + std::to_string(c.group) + " does not divide W's " + std::to_string(c.weight_shape[0]) +
             " output channels");
  if (b && (b->rank() != 1 || b->dim(0) != c.weight_shape[0]))
    ctx.fail("B " + shape_str(b->shape()) + " must be [" + std::to_string(c.weight_shape[0]) + "]");
  const Shape kernel(c.weight_shape.begin() + 2, c.weight_shape.end());
  if (node.has_attr("kernel_shape") && node.attr_ints("kernel_shape") != kernel)
    ctx.fail("kernel_shape " + shape_str(node.attr_ints("kernel_shape")) + " does not match W " +
             shape_str(c.weight_shape));
  c.window = spatial::read_window(ctx, kernel);
  c.auto_pad = spatial::read_auto_pad(ctx);
  c.src_dtype = c.compute_dtype = weight_dtype;
  c.attr = onednn::base_attr();
  c.layout = onednn::ActivationLayout(node.channels_last());
  // oneDNN's convolutions run on NHWC directly (brgconv, jit), so a channels-last
  // node's activations are used as they are, without the reorders blocked layouts need.
  if (c.layout.channels_last()) c.primitive_layout = memory::format_tag::nhwc;
  return c;
}

// The configuration of an FP32 Conv (or FusedConv's convolution), or nullopt
// when this backend declines it.
std::optional<ConvConfig> read_fp32_conv_config(const Node& node, const Graph& graph) {
  std::optional<ConvConfig> config = read_conv_config(node, graph, DType::kFloat32, DType::kFloat32);
  if (!config) return std::nullopt;
  config->residual = node_has_input(node, 3);  // FusedConv's Z
  // A 1x1 FP32 conv on NCHW is one GEMM per image (oneDNN's gemm convolution):
  // faster than the blocked direct conv once the reorders of its (memory-bound)
  // activations are counted, e.g. 296 vs 194 GOPS for 256->64 1x1 56x56 at batch 1
  // and 54 vs 40 for 64->256 at batch 64 (2 threads). Larger kernels win blocked, and
  // so does a 1x1 with a residual: the GEMM convolution's sum post-op rereads the
  // whole NCHW output (3x slower for ResNet-50's 64->256 1x1 at batch 64).
  if (!config->layout.channels_last() && config->window.kernel == Shape{1, 1} && !config->residual)
    config->primitive_layout = memory::format_tag::nchw;
  return config;
}

std::unique_ptr<PreparedKernel> prepare_conv(const Node& node, const Graph& graph) {
  std::optional<ConvConfig> config = read_fp32_conv_config(node, graph);
  if (!config) return nullptr;
  return std::make_unique<ConvKernel>(std::move(*config), *constant_input(node, graph, 1),
                                      constant_input(node, graph, 2));
}

// octet.FusedConv: activation(Conv(X, W, B) + Z) as the FP32 Conv with post-ops,
// sum (when Z is given) before eltwise, so the activation applies to the sum.
std::optional<ConvConfig> read_fused_conv_config(const Node& node, const Graph& graph) {
  std::optional<ConvConfig> config = read_fp32_conv_config(node, graph);
  if (!config) return std::nullopt;
  const KernelContext ctx{node, graph.opset(node.domain), {}, {}};
  dnnl::post_ops ops;
  if (config->residual) ops.append_sum(1.0f);
  // The reference FusedConv's attributes and defaults (src/kernels/reference/fused_conv.cpp).
  using dnnl::algorithm;
  const std::string activation = node.attr_string("activation", "none");
  if (activation == "relu") {
    ops.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);
  } else if (activation == "clip") {
    ops.append_eltwise(1.0f, algorithm::eltwise_clip, node.attr_float("clip_min", std::numeric_limits<float>::lowest()),
                       node.attr_float("clip_max", std::numeric_limits<float>::max()));
  } else if (activation == "leaky_relu") {
    ops.append_eltwise(1.0f, algorithm::eltwise_relu, node.attr_float("alpha", 0.01f), 0.0f);
  } else if (activation == "sigmoid") {
    ops.append_eltwise(1.0f, algorithm::eltwise_logistic, 0.0f, 0.0f);
  } else if (activation == "hard_swish") {
    // x * relu6(x + 3) / 6 (oneDNN 2.x ignores alpha and beta), the ONNX HardSwish.
    ops.append_eltwise(1.0f, algorithm::eltwise_hardswish, 0.0f, 0.0f);
  } else if (activation != "none") {
    ctx.fail("unknown activation '" + activation + "'");
  }
  config->attr.set_post_ops(ops);
  return config;
}

std::unique_ptr<PreparedKernel> prepare_fused_conv(const Node& node, const Graph& graph) {
  // oneDNN has no pooling post-op: a pooled FusedConv runs as the conv, then oneDNN's MaxPool.
  if (has_fused_max_pool(node)) return prepare_conv_then_pool(node, graph, "onednn", "onednn");
  std::optional<ConvConfig> config = read_fused_conv_config(node, graph);
  if (!config) return nullptr;
  return std::make_unique<ConvKernel>(std::move(*config), *constant_input(node, graph, 1),
                                      constant_input(node, graph, 2));
}

// Conv and FusedConv computed in BF16, where the CPU multiplies BF16 natively
// (avx512_bf16, AMX): half the FP32 FMA work per multiply-add, results within
// BF16's 8-bit mantissa of the FP32 kernels'.
std::unique_ptr<PreparedKernel> prepare_bf16_conv(const Node& node, const Graph& graph) {
  if (!onednn::native_bf16()) return nullptr;
  if (has_fused_max_pool(node)) return prepare_conv_then_pool(node, graph, "onednn-bf16", "onednn");
  std::optional<ConvConfig> config =
      node.op_type == "FusedConv" ? read_fused_conv_config(node, graph) : read_fp32_conv_config(node, graph);
  if (!config) return nullptr;
  config->compute_dtype = DType::kBFloat16;
  // oneDNN's BF16 convolutions are blocked or NHWC, not the plain NCHW gemm path.
  if (config->primitive_layout == memory::format_tag::nchw) config->primitive_layout = memory::format_tag::any;
  return std::make_unique<ConvKernel>(std::move(*config), *constant_input(node, graph, 1),
                                      constant_input(node, graph, 2));
}

std::unique_ptr<PreparedKernel> prepare_int8_conv(const Node& node, const Graph& graph) {
  // A residual input (Z, GPU builds' fusion) is the reference's and the CUDA kernel's.
  if (!onednn::exact_int8_products() || node_has_input(node, int8::kResidualInput)) return nullptr;
  std::optional<ConvConfig> config = read_conv_config(node, graph, DType::kInt8, DType::kInt32);
  if (!config) return nullptr;
  const Tensor& w = *constant_input(node, graph, 1);
  const Tensor* b = constant_input(node, graph, 2);
  const KernelContext ctx{node, graph.opset(node.domain), {nullptr, &w, b}, {}};
  const int8::Requantizer rq = int8::read_requantizer(ctx, w.dim(0));
  int8::require_weight_range(ctx, 1);
  int8::require_depth_fits(ctx, w.numel() / w.dim(0));
  config->dst_dtype = rq.output_dtype;
  config->attr = onednn::requantizer_attr(rq, /*channel_dim=*/1);
  return std::make_unique<ConvKernel>(std::move(*config), w, b);
}

}  // namespace

void register_onednn_conv_kernels(KernelRegistry& r) {
  r.add(KernelDef{"Conv", "", 1, 17, "onednn", {}, prepare_conv});
  r.add(KernelDef{"FusedConv", "octet", 1, 1, "onednn", {}, prepare_fused_conv});
  r.add(KernelDef{"Int8Conv", int8::kDomain, 1, INT64_MAX, "onednn", {}, prepare_int8_conv});
  r.add(KernelDef{"Conv", "", 1, 17, "onednn-bf16", {}, prepare_bf16_conv, DType::kBFloat16});
  r.add(KernelDef{"FusedConv", "octet", 1, 1, "onednn-bf16", {}, prepare_bf16_conv, DType::kBFloat16});
}

}  // namespace octet
