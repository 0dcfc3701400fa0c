// octet.FusedConv with max pooling (attributes pool_kernel_shape, pool_strides):
// the FP32 fusion pass absorbs a MaxPool without padding after a Conv (and its
// activation), so the convolution's full-size output need never be written out
// and read back (docs/graph_passes.md). The x86 direct convolution pools each block
// as it computes it; the other backends run the two halves one after the other.
#pragma once
#include <memory>
#include <string>
#include <utility>

#include "octet/kernel.h"

namespace octet {

inline constexpr const char* kPoolKernelShape = "pool_kernel_shape";
inline constexpr const char* kPoolStrides = "pool_strides";
// The opset the MaxPool half is run at (its attributes mean the same from 1 on).
inline constexpr int64_t kPooledConvMaxPoolOpset = 12;

// Whether `node` also max-pools its result.
bool has_fused_max_pool(const Node& node);
// Its halves: the FusedConv without pooling, writing `<Y>/unpooled`, and the MaxPool reading it.
std::pair<Node, Node> split_fused_max_pool(const Node& node);
// The two halves on those backends' kernels, or nullptr where either declines its half.
std::unique_ptr<PreparedKernel> prepare_conv_then_pool(const Node& node, const Graph& graph,
                                                       const std::string& conv_backend, const std::string& pool_backend);

}  // namespace octet
