#include "kernels/pooled_conv.h"

namespace octet {
namespace {

class ConvThenPoolKernel : public PreparedKernel {
 public:
  ConvThenPoolKernel(std::pair<Node, Node> halves, std::unique_ptr<PreparedKernel> conv,
                     std::unique_ptr<PreparedKernel> pool)
      : halves_(std::move(halves)), conv_(std::move(conv)), pool_(std::move(pool)) {}

  void run(KernelContext& ctx) const override {
    // The unpooled values live on the heap for the run: kernels are shared by contexts.
    KernelContext conv{halves_.first, ctx.opset, ctx.inputs, std::vector<Tensor>(1)};
    conv_->run(conv);
    KernelContext pool{halves_.second, kPooledConvMaxPoolOpset, {&conv.outputs[0]}, std::move(ctx.outputs),
                       ctx.allocator};
    pool_->run(pool);
    ctx.outputs = std::move(pool.outputs);
  }

 private:
  std::pair<Node, Node> halves_;
  std::unique_ptr<PreparedKernel> conv_, pool_;
};

}  // namespace

bool has_fused_max_pool(const Node& node) { return node.has_attr(kPoolKernelShape); }

std::pair<Node, Node> split_fused_max_pool(const Node& node) {
  Node conv = node;
  conv.attributes.erase(kPoolKernelShape);
  conv.attributes.erase(kPoolStrides);
  conv.outputs = {node.outputs.at(0) + "/unpooled"};
  Node pool;
  pool.name = node.name + "/pool";
  pool.op_type = "MaxPool";
  pool.inputs = conv.outputs;
  pool.outputs = {node.outputs.at(0)};
  pool.attributes["kernel_shape"] = node.attr_ints(kPoolKernelShape);
  pool.attributes["strides"] = node.attr_ints(kPoolStrides, Shape(node.attr_ints(kPoolKernelShape).size(), 1));
  if (node.channels_last()) pool.attributes[kLayoutAttribute] = std::string(kChannelsLast);
  return {std::move(conv), std::move(pool)};
}

std::unique_ptr<PreparedKernel> prepare_conv_then_pool(const Node& node, const Graph& graph,
                                                       const std::string& conv_backend,
                                                       const std::string& pool_backend) {
  std::pair<Node, Node> halves = split_fused_max_pool(node);
  const auto& registry = KernelRegistry::global();
  const KernelDef* conv_def = registry.find(node.domain, node.op_type, 1, conv_backend);  // octet.FusedConv has opset 1 only
  const KernelDef* pool_def = registry.find("", "MaxPool", kPooledConvMaxPoolOpset, pool_backend);
  if (!conv_def || !pool_def) return nullptr;
  auto conv = conv_def->bind(halves.first, graph);
  auto pool = pool_def->bind(halves.second, graph);
  if (!conv || !pool) return nullptr;
  return std::make_unique<ConvThenPoolKernel>(std::move(halves), std::move(conv), std::move(pool));
}

}  // namespace octet
