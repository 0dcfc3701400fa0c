// Direct tensor-core INT8 convolution for few input channels (int8_conv.h): an image
// network's stem, where an im2col copy would be 50 times the input. Each CTA holds the
// weights in shared memory and takes output rows (n, oh) in turn: it copies the KH input
// rows that a row of outputs reads into shared memory, and each warp gathers its 16
// pixels' im2col rows from them straight into mma.sync fragments (a table gives each K
// column's byte within the rows), accumulating in int32. The epilogue is int8_gemm's
// arithmetic (int8_math.cuh), so results are the reference Int8Conv's bit for bit.
#include <algorithm>
#include <climits>
#include <cstdint>

#include "kernels/cuda/int8_conv.h"
#include "kernels/cuda/int8_epilogue.cuh"
#include "kernels/cuda/int8_math.cuh"
#include "kernels/cuda/mma_sync.cuh"

namespace octet::cuda {
namespace {

using namespace mma;

constexpr int kWarpPixels = 16;    // output pixels per warp: the m16 of mma.m16n8k32
constexpr int kMaxWarps = 8;
constexpr int kMaxKSteps = 16;     // K up to 512 columns
constexpr int kMaxChannels = 256;  // output channels
// Staged output rows: a block's 64 bytes of channels padded to 80, so the 8 rows a
// store instruction writes fall in different banks, and 16-byte aligned for the copy out.
constexpr int kStagePitch = kBlockColumns + 16;
constexpr int kMaxSharedBytes = 96 * 1024;

struct FewChannelConv {
  const int8_t* x;
  const int8_t* w;  // [M, k_padded], column (r*KW + s)*C + c
  int8_t* y;
  const int32_t* bias;  // [M] or null
  const float* scale;   // [M]
  float lo, hi;         // integers in [-128, 127]
  Conv2d g;
  int k_padded = 0, k_steps = 0;
  int w_pitch = 0;    // bytes per weight row in shared memory
  int row_words = 0;  // 4-byte words per input row in shared memory (a multiple of 4)
  int chunks = 0;     // pixel chunks of 16 * warps per output row
  int span_bytes = 0;  // input bytes per row that a chunk reads
  int items = 0;  // N * OH * chunks
};

struct SharedLayout {
  int weights, offsets, scale, bias, rows, stage, total;
};

__host__ __device__ inline SharedLayout shared_layout(const FewChannelConv& p, int warps) {
  SharedLayout s{};
  s.weights = 0;
  s.offsets = s.weights + static_cast<int>(p.g.m) * p.w_pitch;
  s.scale = s.offsets + p.k_steps * kKStep * 4;
  s.bias = s.scale + static_cast<int>(p.g.m) * 4;
  s.rows = s.bias + static_cast<int>(p.g.m) * 4;
  s.stage = s.rows + 2 * p.g.kh * p.row_words * 4;  // two buffers: one read, one filling
  s.total = s.stage + warps * kWarpPixels * kStagePitch;
  return s;
}

// Four bytes of the input rows as one A-fragment register (first byte lowest).
__device__ __forceinline__ uint32_t gather4(const uint8_t* rows, int base, int4 offsets) {
  return static_cast<uint32_t>(rows[base + offsets.x]) | static_cast<uint32_t>(rows[base + offsets.y]) << 8 |
         static_cast<uint32_t>(rows[base + offsets.z]) << 16 | static_cast<uint32_t>(rows[base + offsets.w]) << 24;
}

// A work item: output row nh = n * OH + oh, pixels from ow0. Its input rows are copied
// from the Unit-aligned byte holding its first tap (iw0, 0) on, `lead` bytes before it.
// 32-bit arithmetic throughout (the host checks the counts): 64-bit division is slow.
struct Item {
  int nh, n, oh, ow0, first_unit, lead, span_units;
};

template <int Unit>
__device__ __forceinline__ Item item_at(const FewChannelConv& p, int item, int warps) {
  const Conv2d& g = p.g;
  Item at{};
  at.nh = item / p.chunks;
  at.ow0 = (item - at.nh * p.chunks) * warps * kWarpPixels;
  at.n = at.nh / static_cast<int>(g.oh);
  at.oh = at.nh - at.n * static_cast<int>(g.oh);
  const int first_byte = (at.ow0 * g.stride_w - g.pad_l) * static_cast<int>(g.c);
  at.first_unit = first_byte >= 0 ? first_byte / Unit : -((Unit - 1 - first_byte) / Unit);
  at.lead = first_byte - at.first_unit * Unit;
  at.span_units = (at.lead + p.span_bytes + Unit - 1) / Unit;
  return at;
}

// Starts copying item `at`'s KH input rows into `rows` (zeros outside the image).
template <int Unit>
__device__ __forceinline__ void load_rows_async(const FewChannelConv& p, const Item& at, uint32_t* rows) {
  const Conv2d& g = p.g;
  const int row_bytes = static_cast<int>(g.w * g.c);  // a multiple of Unit (checked on the host)
  const int h = static_cast<int>(g.h);
  for (int i = static_cast<int>(threadIdx.x); i < g.kh * at.span_units; i += static_cast<int>(blockDim.x)) {
    const int r = i / at.span_units, q = i - r * at.span_units;
    const int ih = at.oh * g.stride_h - g.pad_t + r * g.dil_h;
    const int byte = (at.first_unit + q) * Unit;
    const bool inside = ih >= 0 && ih < h && byte >= 0 && byte < row_bytes;
    copy_async<Unit>(reinterpret_cast<uint8_t*>(rows + r * p.row_words) + q * Unit,
                     inside ? p.x + (static_cast<int64_t>(at.n) * h + ih) * row_bytes + byte : p.x, inside);
  }
  copy_async_commit();
}

template <int Unit>
__global__ void __launch_bounds__(kMaxWarps * 32, 4) few_channel_conv_kernel(FewChannelConv p) {
  extern __shared__ __align__(16) uint8_t smem[];
  const Conv2d& g = p.g;
  const int warps = static_cast<int>(blockDim.x) / 32, warp = static_cast<int>(threadIdx.x) / 32;
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const SharedLayout layout = shared_layout(p, warps);
  uint8_t* weights = smem + layout.weights;
  int* offsets = reinterpret_cast<int*>(smem + layout.offsets);
  float* scale = reinterpret_cast<float*>(smem + layout.scale);
  int32_t* bias = reinterpret_cast<int32_t*>(smem + layout.bias);
  uint32_t* rows = reinterpret_cast<uint32_t*>(smem + layout.rows);
  uint8_t* stage = smem + layout.stage + warp * kWarpPixels * kStagePitch;
  const int m = static_cast<int>(g.m), c = static_cast<int>(g.c), depth = g.kh * g.kw * c;
  const int k_total = p.k_steps * kKStep;

  // Once per CTA: the weights (zero past k_padded), each K column's byte offset in
  // the rows (relative to a pixel's first tap; columns past the depth read any byte,
  // their weights are zero), the per-channel epilogue (whose barrier publishes all three).
  for (int i = threadIdx.x; i < m * (k_total / 4); i += blockDim.x) {
    const int row = i / (k_total / 4), k = i % (k_total / 4) * 4;
    uint32_t word = 0;
    if (k < p.k_padded) word = *reinterpret_cast<const uint32_t*>(p.w + static_cast<int64_t>(row) * p.k_padded + k);
    *reinterpret_cast<uint32_t*>(weights + row * p.w_pitch + k) = word;
  }
  for (int k = threadIdx.x; k < k_total; k += blockDim.x) {
    const int r = k / (g.kw * c), s = k / c % g.kw, ch = k % c;
    offsets[k] = k < depth ? r * p.row_words * 4 + s * g.dil_w * c + ch : 0;
  }
  const bool bias_in_accumulators = load_epilogue_columns(scale, bias, p.scale, p.bias, m, depth);

  int buffer = 0;
  int item = static_cast<int>(blockIdx.x);
  Item at = item_at<Unit>(p, item, warps);
  if (item < p.items) load_rows_async<Unit>(p, at, rows);
  for (; item < p.items; item += static_cast<int>(gridDim.x), buffer ^= 1) {
    copy_async_wait<0>();
    // The rows are in; every thread is done with the other buffer (and on the first
    // item, the tables are written).
    __syncthreads();
    const Item next = item_at<Unit>(p, item + static_cast<int>(gridDim.x), warps);
    if (item + static_cast<int>(gridDim.x) < p.items)
      load_rows_async<Unit>(p, next, rows + (buffer ^ 1) * g.kh * p.row_words);
    const uint8_t* row_bytes_s = reinterpret_cast<const uint8_t*>(rows + buffer * g.kh * p.row_words);
    const int64_t nh = at.nh;
    const int ow0 = at.ow0, lead = at.lead;
    at = next;

    const int pixel0 = warp * kWarpPixels;
    if (ow0 + pixel0 >= g.ow) continue;  // the last chunk's idle warps
    const int group = lane / 4, quad = lane % 4;
    const int base_a = lead + (pixel0 + group) * g.stride_w * c, base_b = base_a + 8 * g.stride_w * c;
    for (int block = 0; block < m; block += kBlockColumns) {
      const int tiles = min(kBlockTiles, (m - block) / 8);
      BlockAccumulators acc;
      start_accumulators(acc, bias + block, tiles, bias_in_accumulators, lane);
      for (int step = 0; step < p.k_steps; ++step) {
        const int k = step * kKStep + quad * 4;
        const int4 lo_cols = *reinterpret_cast<const int4*>(offsets + k);
        const int4 hi_cols = *reinterpret_cast<const int4*>(offsets + k + 16);
        const uint32_t a[4] = {gather4(row_bytes_s, base_a, lo_cols), gather4(row_bytes_s, base_b, lo_cols),
                               gather4(row_bytes_s, base_a, hi_cols), gather4(row_bytes_s, base_b, hi_cols)};
        multiply_block(acc, a, weights + block * p.w_pitch + step * kKStep, p.w_pitch, tiles, lane);
      }
      store_requantized_block(acc, stage, kStagePitch, scale + block, bias + block, tiles, bias_in_accumulators, p.lo,
                              p.hi, lane);
      __syncwarp();
      // The warp's 16 pixels x (up to) 64 channels, 16 bytes per store.
      const int parts = tiles / 2;  // 16-byte pieces per pixel
      for (int i = lane; i < kWarpPixels * parts; i += 32) {
        const int pixel = i / parts, part = i % parts, ow = ow0 + pixel0 + pixel;
        if (ow < g.ow)
          *reinterpret_cast<int4*>(p.y + (nh * g.ow + ow) * m + block + part * 16) =
              *reinterpret_cast<const int4*>(stage + pixel * kStagePitch + part * 16);
      }
      __syncwarp();  // the stage is rewritten by the next channel block
    }
  }
}

// Launches the kernel copying the input in units of Unit bytes; false if its shared
// memory would not fit.
template <int Unit>
bool launch(FewChannelConv p, int warps, int sm_count, cudaStream_t stream) {
  // Up to Unit - 1 bytes before the first tap; rows 16-byte aligned.
  p.row_words = (Unit - 1 + p.span_bytes + 15) / 16 * 4;
  const int shared_bytes = shared_layout(p, warps).total;
  if (shared_bytes > kMaxSharedBytes) return false;
  launch_persistent<few_channel_conv_kernel<Unit>>(p, p.items, warps * 32, shared_bytes, kMaxSharedBytes, sm_count,
                                                   stream);
  return true;
}

}  // namespace

bool int8_conv_few_channels(const int8_t* x, const int8_t* w, int64_t k_padded, int8_t* y, const Conv2d& g,
                            const Int8Epilogue& epilogue, cudaStream_t stream) {
  if (!epilogue.scale) throw Error("INT8 convolution: the epilogue needs a scale vector");
  const int64_t depth = static_cast<int64_t>(g.kh) * g.kw * g.c;
  if (k_padded < depth) throw Error("INT8 convolution: weight rows shorter than KH*KW*C");
  if (epilogue.residual.z || g.group != 1 || g.c >= 16 || g.m % 16 != 0 || g.m > kMaxChannels ||
      depth > kMaxKSteps * kKStep || (g.w * g.c) % 4 != 0 || k_padded % 4 != 0 || !aligned_to(x, 4) ||
      !aligned_to(w, 4) || !aligned_to(y, 16))
    return false;
  if (g.n * g.oh * g.ow * g.m == 0) return true;
  const tensor_core::DeviceInfo device = tensor_core::current_device_info();
  if (!device.is_sm90) return false;

  FewChannelConv p{x, w, y, epilogue.bias, epilogue.scale, epilogue.lo, epilogue.hi, g};
  p.k_padded = static_cast<int>(k_padded);
  p.k_steps = static_cast<int>((depth + kKStep - 1) / kKStep);
  // 16 bytes past a multiple of 32: ldmatrix's 8 row addresses land in different banks.
  p.w_pitch = p.k_steps * kKStep + 16;
  const int warps = static_cast<int>(std::clamp<int64_t>((g.ow + kWarpPixels - 1) / kWarpPixels, 1, kMaxWarps));
  const int64_t chunk_pixels = warps * kWarpPixels;
  p.span_bytes = static_cast<int>(((chunk_pixels - 1) * g.stride_w + (g.kw - 1) * g.dil_w + 1) * g.c);
  p.chunks = static_cast<int>((g.ow + chunk_pixels - 1) / chunk_pixels);
  if (g.n * g.oh * p.chunks > INT_MAX / 2 || g.n * g.h * g.w * g.c > INT_MAX) return false;  // 32-bit item math
  p.items = static_cast<int>(g.n * g.oh * p.chunks);
  // 16-byte copies where the input's rows are 16-byte aligned (an RGB 224 image's are).
  if ((g.w * g.c) % 16 == 0 && aligned_to(x, 16)) return launch<16>(p, warps, device.sm_count, stream);
  return launch<4>(p, warps, device.sm_count, stream);
}

}  // namespace octet::cuda
