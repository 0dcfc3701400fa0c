#include "kernels/x86/x86_kernels.h"

#include "kernels/workspace.h"

#include <algorithm>
#include <limits>
#include <string>

#include "kernels/pooled_conv.h"
#include "kernels/reference/int8/int8_kernels.h"
#include "octet/parallel.h"

namespace octet {
namespace x86 {

std::optional<ConvNode> read_conv_node(const Node& node, const Graph& graph, int64_t kernel_size, Grouping grouping) {
  if (!node.channels_last()) return std::nullopt;
  ConvNode c;
  c.weights = constant_input(node, graph, 1);
  c.bias = constant_input(node, graph, 2);
  const Tensor* w = c.weights;
  if (!w || w->dtype() != DType::kFloat32 || w->rank() != 4) return std::nullopt;
  const int64_t group = node.attr_int("group", 1);
  if (grouping == Grouping::kDense ? group != 1 : (group != w->dim(0) || w->dim(1) != 1)) return std::nullopt;
  if (kernel_size != kAnyKernelSize && (w->dim(2) != kernel_size || w->dim(3) != kernel_size)) return std::nullopt;
  if (node_has_input(node, 2) && (!c.bias || c.bias->dtype() != DType::kFloat32 || c.bias->shape() != Shape{w->dim(0)}))
    return std::nullopt;
  if (node.has_attr("kernel_shape") && node.attr_ints("kernel_shape") != Shape{w->dim(2), w->dim(3)})
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

const Tensor& channels_last_input(const KernelContext& ctx, int64_t channels, DType dtype) {
  const Tensor& x = ctx.input(0);
  if (x.dtype() != dtype || x.rank() != 4 || x.dim(3) != channels)
    ctx.fail("X " + std::string(dtype_name(x.dtype())) + shape_str(x.shape()) + " must be " + std::string(dtype_name(dtype)) +
             " [N, H, W, " + std::to_string(channels) + "]");
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

DirectBlocks direct_blocks(int64_t batch, int64_t out_rows, int64_t out_cols) {
  constexpr int64_t kBlockPixels = 256, kBlocksPerThread = 4;
  const int64_t min_blocks_per_image = (kBlocksPerThread * num_threads() + batch - 1) / batch;
  int64_t rows = std::clamp<int64_t>(kBlockPixels / out_cols, 1, out_rows);
  rows = std::max<int64_t>(1, std::min(rows, out_rows / min_blocks_per_image));
  return {rows, (out_rows + rows - 1) / rows};
}

float* thread_scratch(int64_t floats) {
  return static_cast<float*>(workspace::buffer(workspace::Slot::kScratch, static_cast<size_t>(floats) * sizeof(float)));
}

}  // namespace x86

namespace {

// One backend, one kernel per op: the preparer picks the kernel that fits the node.
std::unique_ptr<PreparedKernel> prepare_conv(const Node& node, const Graph& graph) {
  if (has_fused_max_pool(node)) return x86::prepare_direct_conv(node, graph);  // the one that pools
  if (node.attr_int("group", 1) != 1) return x86::prepare_depthwise_conv(node, graph);
  if (auto kernel = x86::prepare_conv1x1(node, graph)) return kernel;
  if (auto kernel = x86::prepare_winograd_conv(node, graph)) return kernel;
  return x86::prepare_direct_conv(node, graph);
}

}  // namespace

void register_x86_kernels(KernelRegistry& r) {
  r.add(KernelDef{"Conv", "", 1, 17, "x86", {}, prepare_conv});
  r.add(KernelDef{"FusedConv", "octet", 1, 1, "x86", {}, prepare_conv});
  r.add(KernelDef{"Int8Conv", int8::kDomain, 1, INT64_MAX, "x86", {}, x86::prepare_int8_conv});
}

}  // namespace octet
