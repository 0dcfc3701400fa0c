// The building blocks of octet's own tensor-core kernels (int8_conv_few_channels.cu,
// int8_gemm_shallow.cu): PTX wrappers for mma.sync on int8 with int32 accumulation,
// ldmatrix and cp.async; a warp's 16-row x 64-column block of accumulators, started
// from the bias, multiplied against B in shared memory and requantized into a staging
// area (int8_math.cuh's arithmetic); and the persistent launch both kernels use.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/int8_math.cuh"

namespace octet::cuda::mma {

__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// d += a (16x32 int8, row-major fragment) * b (32x8 int8, column-major fragment), int32.
__device__ __forceinline__ void mma_s8(int32_t (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Four 8x16-byte matrices from shared memory; lane l gives the address of row l % 8 of matrix l / 8.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&m)[4], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(m[0]), "=r"(m[1]), "=r"(m[2]), "=r"(m[3])
               : "r"(shared_address(row)));
}

// cp.async of Bytes (4 or 16) bytes, or Bytes zeros where !valid (src is then not read).
template <int Bytes>
__device__ __forceinline__ void copy_async(void* dst, const void* src, bool valid) {
  static_assert(Bytes == 4 || Bytes == 16, "cp.async copies 4 or 16 bytes here");
  const uint32_t address = shared_address(dst);
  const int src_bytes = valid ? Bytes : 0;
  if constexpr (Bytes == 16)
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(address), "l"(src), "r"(src_bytes));
  else
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(address), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void copy_async_commit() { asm volatile("cp.async.commit_group;"); }
// Waits until at most Pending of this thread's committed copy groups are still in flight.
template <int Pending>
__device__ __forceinline__ void copy_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(Pending) : "memory");
}

// ---------------------------------------------------------------------------
// A warp's block of accumulators: 16 rows x 64 columns, 8 n8 tiles of mma.m16n8k32.
// Fragment (t, i) of a lane is row group + 8 * (i / 2), column 8t + 2 * quad + i % 2
// of the block (group = lane / 4, quad = lane % 4; `lane` is the thread's lane). Only the first `tiles` n8 tiles
// exist where the columns end inside the block.

constexpr int kKStep = 32;  // the k32 of mma.m16n8k32
constexpr int kBlockColumns = 64;
constexpr int kBlockTiles = kBlockColumns / 8;
using BlockAccumulators = int32_t[kBlockTiles][4];

// Loads `columns` per-column scales and biases (null: zeros) into shared memory, and
// returns for the whole CTA (a barrier) whether the accumulators may start from the
// bias: no bias lies within depth * 128^2 of the int32 limits, so no sum of it and the
// products can saturate, and the saturating add of the epilogue is the plain sum.
__device__ __forceinline__ bool load_epilogue_columns(float* scale_s, int32_t* bias_s, const float* scale,
                                                      const int32_t* bias, int columns, int depth) {
  const int32_t bias_limit = INT_MAX - depth * 128 * 128;
  bool saturable = false;
  for (int i = threadIdx.x; i < columns; i += blockDim.x) {
    scale_s[i] = scale[i];
    bias_s[i] = bias ? bias[i] : 0;
    saturable |= bias_s[i] > bias_limit || bias_s[i] < -bias_limit;
  }
  return !__syncthreads_or(saturable);
}

// The block's accumulators at the start: its columns' biases (bias_s points at the
// block's first column) or zeros.
__device__ __forceinline__ void start_accumulators(BlockAccumulators& acc, const int32_t* bias_s, int tiles,
                                                   bool from_bias, int lane) {
  const int quad = lane % 4;
#pragma unroll
  for (int t = 0; t < kBlockTiles; ++t) {
    const int2 start = from_bias && t < tiles ? *reinterpret_cast<const int2*>(bias_s + t * 8 + quad * 2)
                                              : make_int2(0, 0);
    acc[t][0] = acc[t][2] = start.x;
    acc[t][1] = acc[t][3] = start.y;
  }
}

// acc += a (the warp's 16 x 32 A fragment of one K step) times the block's 32 x 64 of B.
// B is in shared memory, rows = columns of the product, K contiguous, `pitch` bytes
// apart; b_k is the block's first row at this K step. ldmatrix.x4: lanes 0-7 / 8-15
// address tile t's rows at K bytes +0 / +16, lanes 16-31 tile t+1's.
__device__ __forceinline__ void multiply_block(BlockAccumulators& acc, const uint32_t (&a)[4], const uint8_t* b_k,
                                               int pitch, int tiles, int lane) {
  const int row = lane / 16 * 8 + lane % 8, col = (lane / 8) % 2 * 16;
#pragma unroll
  for (int t = 0; t < kBlockTiles; t += 2) {
    if (t >= tiles) break;
    uint32_t b[4];
    ldmatrix_x4(b, b_k + (row + t * 8) * pitch + col);
    mma_s8(acc[t], a, b[0], b[1]);
    mma_s8(acc[t + 1], a, b[2], b[3]);
  }
}

// Requantizes the block into the warp's staging rows (`pitch` bytes apart; stage points
// at the block's first column) as int8 pairs: requantize_biased with the columns'
// scales, after a saturating add of their biases unless the accumulators started from them.
__device__ __forceinline__ void store_requantized_block(const BlockAccumulators& acc, uint8_t* stage, int pitch,
                                                        const float* scale_s, const int32_t* bias_s, int tiles,
                                                        bool bias_added, float lo, float hi, int lane) {
  const int group = lane / 4, quad = lane % 4;
#pragma unroll
  for (int t = 0; t < kBlockTiles; ++t) {
    if (t >= tiles) break;
    const int col = t * 8 + quad * 2;
    const float2 s = *reinterpret_cast<const float2*>(scale_s + col);
    const int2 b = *reinterpret_cast<const int2*>(bias_s + col);
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      int32_t a0 = acc[t][2 * half], a1 = acc[t][2 * half + 1];
      if (!bias_added) a0 = add_bias(a0, b.x), a1 = add_bias(a1, b.y);
      *reinterpret_cast<uint16_t*>(stage + (group + 8 * half) * pitch + col) =
          pack_biased_pair(requantize_biased(a0, s.x, lo, hi), requantize_biased(a1, s.y, lo, hi));
    }
  }
}

// ---------------------------------------------------------------------------
// Host side

inline bool aligned_to(const void* p, int bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// Launches Kernel(params) persistently: as many CTAs of `threads` as fit on the SMs at
// once (at most `items`), each looping over work items. The first launch allows the
// kernel max_shared_bytes of dynamic shared memory.
template <auto Kernel, class Params>
void launch_persistent(const Params& params, int items, int threads, int shared_bytes, int max_shared_bytes,
                       int sm_count, cudaStream_t stream) {
  static const bool configured = [max_shared_bytes] {
    OCTET_CUDA_CHECK(cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, max_shared_bytes));
    return true;
  }();
  (void)configured;
  int per_sm = 0;
  OCTET_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, Kernel, threads, shared_bytes));
  const int blocks = std::clamp(items, 1, std::max(per_sm, 1) * sm_count);
  Kernel<<<blocks, threads, shared_bytes, stream>>>(params);
  OCTET_CUDA_CHECK_LAUNCH();
}

}  // namespace octet::cuda::mma
