// The "x86" backend: octet's own FP32 convolution kernels, AVX-512 with an AVX2
// fallback picked at run time (variant.h). Kernel selection times them
// against the other backends per layer and keeps the fastest.
#pragma once
#include <algorithm>
#include <optional>

#include "kernels/x86/variant.h"
#include "octet/kernel.h"
#include "octet/parallel.h"

namespace octet {

// Conv and FusedConv: conv1x1.cpp (channels-last 1x1), winograd.cpp (channels-last
// 3x3 stride 1, 64 channels or more), direct.cpp (the other channels-last convs).
void register_x86_kernels(KernelRegistry& r);

namespace x86 {

// What the x86 convolutions share. A channels-last 2-D FP32 Conv or FusedConv
// with constant W (and B) of this square kernel size (or any, with kAnyKernelSize)
// and this grouping; nullopt otherwise.
struct ConvNode {
  const Tensor* weights = nullptr;  // [M, C, kh, kw]
  const Tensor* bias = nullptr;     // [M] or null
  bool residual = false;            // FusedConv's input 3
  Epilogue epilogue;                // activation only: the kernel sets the bias
};
constexpr int64_t kAnyKernelSize = 0;
// kDense: group 1; kDepthwise: one output channel per input channel (group = C = M).
enum class Grouping { kDense, kDepthwise };
std::optional<ConvNode> read_conv_node(const Node& node, const Graph& graph, int64_t kernel_size,
                                       Grouping grouping = Grouping::kDense);

// X (input 0) as these kernels take it, [N, H, W, channels] of `dtype`, or an error naming the node.
const Tensor& channels_last_input(const KernelContext& ctx, int64_t channels, DType dtype = DType::kFloat32);
// Y of shape `out` and the residual Z (input 3) when `residual` (else null), checked
// against `out`. A Z no one reads afterwards becomes Y: the kernel adds into it in place.
struct ConvOutput {
  float* y;
  const float* z;
};
ConvOutput conv_output(KernelContext& ctx, bool residual, const Shape& out);
// How a channels-last direct convolution (direct.cpp, int8_conv.cpp) is cut into
// blocks of whole output rows of one image: about 256 output pixels a block (its
// input rows stay in L2 while every panel passes over them), fewer rows when the
// batch alone cannot give every thread four blocks.
struct DirectBlocks {
  int64_t rows_per_block, blocks_per_image;
};
DirectBlocks direct_blocks(int64_t batch, int64_t out_rows, int64_t out_cols);

// Below this many multiply-adds a layer runs on one thread (waking the other costs more).
constexpr int64_t kSerialMultiplyAdds = int64_t{1} << 20;

// parallel_for(units, work), or work(0, units) on the calling thread when the
// layer's `multiply_adds` are too few to be worth waking the others.
template <class Work>
void share_work(int64_t units, int64_t multiply_adds, Work work) {
  if (multiply_adds < kSerialMultiplyAdds)
    work(0, units);
  else
    parallel_for(units, work);
}

// Runs block(image, first_row, end_row) for every block of `out_rows` output rows
// of each of `batch` images (share_work).
template <class Block>
void for_each_block(int64_t batch, int64_t out_rows, const DirectBlocks& blocks, int64_t multiply_adds, Block block) {
  share_work(batch * blocks.blocks_per_image, multiply_adds, [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t first = u % blocks.blocks_per_image * blocks.rows_per_block;
      block(u / blocks.blocks_per_image, first, std::min(out_rows, first + blocks.rows_per_block));
    }
  });
}

// Copies input rows [first_row, first_row + count) of `image` of X (channels-last
// [N, h, w, c]) into dst, `wp` pixels a row, X's columns at [left, left + w): rows and
// columns outside X are `pad`, X's values pass through `convert`.
template <class T, class Convert>
void copy_padded_rows(const T* x, int64_t image, int64_t h, int64_t w, int64_t c, int64_t first_row, int64_t count,
                      int64_t left, int64_t wp, T pad, Convert convert, T* dst) {
  const int64_t first_col = std::min(left, wp), end_col = std::clamp<int64_t>(left + w, first_col, wp);
  for (int64_t r = 0; r < count; ++r, dst += wp * c) {
    const int64_t iy = first_row + r;
    if (iy < 0 || iy >= h) {
      std::fill(dst, dst + wp * c, pad);
      continue;
    }
    std::fill(dst, dst + first_col * c, pad);
    const T* src = x + ((image * h + iy) * w + first_col - left) * c;
    std::transform(src, src + (end_col - first_col) * c, dst + first_col * c, convert);
    std::fill(dst + end_col * c, dst + wp * c, pad);
  }
}

// The calling thread's scratch of at least `floats` floats (64-byte aligned), kept
// between runs; valid until the thread's next call.
float* thread_scratch(int64_t floats);

// The kernels, or nullptr for a node they do not handle.
std::unique_ptr<PreparedKernel> prepare_conv1x1(const Node& node, const Graph& graph);
std::unique_ptr<PreparedKernel> prepare_winograd_conv(const Node& node, const Graph& graph);
std::unique_ptr<PreparedKernel> prepare_direct_conv(const Node& node, const Graph& graph);
std::unique_ptr<PreparedKernel> prepare_depthwise_conv(const Node& node, const Graph& graph);
std::unique_ptr<PreparedKernel> prepare_int8_conv(const Node& node, const Graph& graph);

}  // namespace x86
}  // namespace octet
