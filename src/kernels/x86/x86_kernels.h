// The "x86" backend: octet's own FP32 convolution kernels, AVX-512 with an AVX2
// fallback picked at run time (variant.h). Kernel selection times them
// against the other backends per layer and keeps the fastest.
#pragma once
#include <optional>

#include "kernels/x86/variant.h"
#include "octet/kernel.h"

namespace octet {

// Conv and FusedConv: conv1x1.cpp (channels-last 1x1), winograd.cpp (channels-last
// 3x3 stride 1, 64 channels or more), direct.cpp (the other channels-last convs).
void register_x86_kernels(KernelRegistry& r);

namespace x86 {

// What the x86 convolutions share. A channels-last 2-D FP32 Conv or FusedConv
// with group 1 and constant W (and B) of this square kernel size (or any, with
// kAnyKernelSize); nullopt otherwise.
struct ConvNode {
  const Tensor* weights = nullptr;  // [M, C, kh, kw]
  const Tensor* bias = nullptr;     // [M] or null
  bool residual = false;            // FusedConv's input 3
  Epilogue epilogue;                // activation only: the kernel sets the bias
};
constexpr int64_t kAnyKernelSize = 0;
std::optional<ConvNode> read_conv_node(const Node& node, const Graph& graph, int64_t kernel_size);

// X (input 0) as these kernels take it, float32 [N, H, W, channels], or an error naming the node.
const Tensor& channels_last_input(const KernelContext& ctx, int64_t channels);
// Y of shape `out` and the residual Z (input 3) when `residual` (else null), checked
// against `out`. A Z no one reads afterwards becomes Y: the kernel adds into it in place.
struct ConvOutput {
  float* y;
  const float* z;
};
ConvOutput conv_output(KernelContext& ctx, bool residual, const Shape& out);
// Below this many multiply-adds a layer runs on one thread (waking the other costs more).
constexpr int64_t kSerialMultiplyAdds = int64_t{1} << 20;
// The calling thread's scratch of at least `floats` floats (64-byte aligned), kept
// between runs; valid until the thread's next call.
float* thread_scratch(int64_t floats);

// The kernels, or nullptr for a node they do not handle.
std::unique_ptr<PreparedKernel> prepare_conv1x1(const Node& node, const Graph& graph);
std::unique_ptr<PreparedKernel> prepare_winograd_conv(const Node& node, const Graph& graph);
std::unique_ptr<PreparedKernel> prepare_direct_conv(const Node& node, const Graph& graph);
std::unique_ptr<PreparedKernel> prepare_int8_conv1x1(const Node& node, const Graph& graph);

}  // namespace x86
}  // namespace octet
