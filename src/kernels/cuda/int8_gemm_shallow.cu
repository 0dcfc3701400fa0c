// INT8 GEMM for shallow products (int8_gemm_shallow.h): ResNet-style 1x1 convolutions
// with K <= 128, where the MMAs are few and the requantizing epilogue sets the speed.
// The CUTLASS kernels run that epilogue on two warpgroups per SM; this one runs it on
// every warp of two CTAs per SM, rounding without the conversion units (int8_math.cuh).
// Each CTA keeps B in shared memory for all its tiles of 128 rows; A tiles arrive by
// cp.async one tile ahead. Arithmetic as int8_gemm.h.
#include "kernels/cuda/int8_gemm_shallow.h"

#include <algorithm>
#include <climits>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/int8_epilogue.cuh"
#include "kernels/cuda/int8_math.cuh"
#include "kernels/cuda/mma_sync.cuh"

namespace octet::cuda {
namespace {

using namespace mma;

constexpr int kWarps = 8;
constexpr int kWarpRows = 16;  // the m16 of mma.m16n8k32
constexpr int kTileRows = kWarps * kWarpRows;
constexpr int kKStep = 32;
constexpr int kMaxDepth = 128;
constexpr int kMaxColumns = 256;
constexpr int kColumnBlock = 64;  // columns a warp accumulates at once: 8 n8 tiles
constexpr int kTiles = kColumnBlock / 8;
// Rows of A and B in shared memory are 16 bytes longer than K, of the stage 16 bytes
// longer than N: the 8 rows an ldmatrix (or a fragment store) touches fall in different banks.
constexpr int kRowPad = 16;

struct ShallowGemm {
  const int8_t* a;  // [M, K]
  const int8_t* b;  // [N, K]
  int8_t* d;        // [M, N]
  Int8Epilogue e;
  int m, n, k, tiles;
};

struct SharedLayout {
  int b, a, scale, bias, stage, total;
};

__host__ __device__ inline SharedLayout shared_layout(int n, int k) {
  SharedLayout s{};
  s.b = 0;
  s.a = s.b + n * (k + kRowPad);
  s.scale = s.a + 2 * kTileRows * (k + kRowPad);  // two A tiles: one read, one filling
  s.bias = s.scale + n * 4;
  s.stage = s.bias + n * 4;
  s.total = s.stage + kWarps * kWarpRows * (n + kRowPad);
  return s;
}

// Copies rows [row0, row0 + rows) of the [M, width] matrix src into dst (pitch
// width + kRowPad) in 16-byte pieces, zeros past M, spread over `threads` threads.
// width / 16 is a power of two (2^pieces_log2): shifts, not divisions.
__device__ __forceinline__ void copy_rows_async(uint8_t* dst, const int8_t* src, int64_t row0, int rows, int width,
                                                int64_t m, int thread, int threads) {
  const int pieces_log2 = __ffs(width / 16) - 1, pieces = 1 << pieces_log2;
  for (int i = thread; i < rows * pieces; i += threads) {
    const int r = i >> pieces_log2, piece = i & (pieces - 1);
    const bool inside = row0 + r < m;
    copy_async<16>(dst + r * (width + kRowPad) + piece * 16, inside ? src + (row0 + r) * width + piece * 16 : src,
                   inside);
  }
}

__global__ void __launch_bounds__(kWarps * 32) shallow_gemm_kernel(ShallowGemm p) {
  extern __shared__ __align__(16) uint8_t smem[];
  const SharedLayout layout = shared_layout(p.n, p.k);
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int a_pitch = p.k + kRowPad, stage_pitch = p.n + kRowPad;
  uint8_t* b_tile = smem + layout.b;
  float* scale = reinterpret_cast<float*>(smem + layout.scale);
  int32_t* bias = reinterpret_cast<int32_t*>(smem + layout.bias);
  uint8_t* stage = smem + layout.stage + warp * kWarpRows * stage_pitch;

  // Once per CTA: B and the per-column epilogue. Where no bias is within K * 128^2 of
  // the int32 limits, no sum of it and the products can saturate: the accumulators then
  // start from the bias (the exact sum, no saturating add in the epilogue).
  copy_rows_async(b_tile, p.b, 0, p.n, p.k, p.n, static_cast<int>(threadIdx.x), kWarps * 32);
  const int32_t bias_limit = INT_MAX - p.k * 128 * 128;
  bool saturable = false;
  for (int i = threadIdx.x; i < p.n; i += blockDim.x) {
    scale[i] = p.e.scale[i];
    bias[i] = p.e.bias ? p.e.bias[i] : 0;
    saturable |= bias[i] > bias_limit || bias[i] < -bias_limit;
  }
  const bool bias_in_accumulators = !__syncthreads_or(saturable);
  int tile = static_cast<int>(blockIdx.x), buffer = 0;
  copy_rows_async(smem + layout.a, p.a, static_cast<int64_t>(tile) * kTileRows, kTileRows, p.k, p.m,
                  static_cast<int>(threadIdx.x), kWarps * 32);
  copy_async_commit();

  const int group = lane / 4, quad = lane % 4;
  for (; tile < p.tiles; tile += static_cast<int>(gridDim.x), buffer ^= 1) {
    copy_async_wait<0>();
    // This tile's A (and B, the epilogue) are in; every warp is done with the other A buffer.
    __syncthreads();
    const int64_t row0 = static_cast<int64_t>(tile) * kTileRows + warp * kWarpRows;
    const int next = tile + static_cast<int>(gridDim.x);
    if (next < p.tiles)
      copy_rows_async(smem + layout.a + (buffer ^ 1) * kTileRows * a_pitch, p.a, static_cast<int64_t>(next) * kTileRows,
                      kTileRows, p.k, p.m, static_cast<int>(threadIdx.x), kWarps * 32);
    copy_async_commit();

    // The warp's A fragments for all of K: ldmatrix.x4 matrices (rows 0-7, 8-15) x (K bytes +0, +16).
    const uint8_t* a_rows = smem + layout.a + buffer * kTileRows * a_pitch + warp * kWarpRows * a_pitch;
    uint32_t a[kMaxDepth / kKStep][4];
#pragma unroll
    for (int step = 0; step < kMaxDepth / kKStep; ++step)
      if (step * kKStep < p.k)
        ldmatrix_x4(a[step], a_rows + (lane % 16) * a_pitch + step * kKStep + lane / 16 * 16);

    for (int block = 0; block < p.n; block += kColumnBlock) {
      // Fragment (t, i): row group + 8 * (i / 2), column block + 8t + 2 * quad + i % 2.
      int32_t acc[kTiles][4];
#pragma unroll
      for (int t = 0; t < kTiles; ++t) {
        const int2 start = bias_in_accumulators ? *reinterpret_cast<const int2*>(bias + block + t * 8 + quad * 2)
                                                : make_int2(0, 0);
        acc[t][0] = acc[t][2] = start.x;
        acc[t][1] = acc[t][3] = start.y;
      }
      // ldmatrix.x4 of B: lanes 0-7 / 8-15 address tile t's rows at K bytes +0 / +16,
      // lanes 16-31 tile t+1's.
      const uint8_t* b_rows = b_tile + (block + lane / 16 * 8 + lane % 8) * a_pitch + (lane / 8) % 2 * 16;
#pragma unroll
      for (int step = 0; step < kMaxDepth / kKStep; ++step) {
        if (step * kKStep >= p.k) break;
#pragma unroll
        for (int t = 0; t < kTiles; t += 2) {
          uint32_t b[4];
          ldmatrix_x4(b, b_rows + t * 8 * a_pitch + step * kKStep);
          mma_s8(acc[t], a[step], b[0], b[1]);
          mma_s8(acc[t + 1], a[step], b[2], b[3]);
        }
      }
#pragma unroll
      for (int t = 0; t < kTiles; ++t) {
        const int col = block + t * 8 + quad * 2;
        const float2 s = *reinterpret_cast<const float2*>(scale + col);
        const int2 bb = *reinterpret_cast<const int2*>(bias + col);
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          uint16_t* out = reinterpret_cast<uint16_t*>(stage + (group + 8 * half) * stage_pitch + col);
          int32_t a0 = acc[t][2 * half], a1 = acc[t][2 * half + 1];
          if (!bias_in_accumulators) a0 = add_bias(a0, bb.x), a1 = add_bias(a1, bb.y);
          *out = pack_biased_pair(requantize_biased(a0, s.x, p.e.lo, p.e.hi), requantize_biased(a1, s.y, p.e.lo, p.e.hi));
        }
      }
    }
    __syncwarp();
    // The warp's 16 output rows, 16 bytes per store.
    const int pieces_log2 = __ffs(p.n / 16) - 1;
    for (int i = lane; i < kWarpRows << pieces_log2; i += 32) {
      const int row = i >> pieces_log2, piece = i & ((1 << pieces_log2) - 1);
      if (row0 + row < p.m)
        *reinterpret_cast<int4*>(p.d + (row0 + row) * p.n + piece * 16) =
            *reinterpret_cast<const int4*>(stage + row * stage_pitch + piece * 16);
    }
  }
  copy_async_wait<0>();
}

bool aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

}  // namespace

bool int8_gemm_shallow(const int8_t* A, const int8_t* B, int8_t* D, int64_t M, int64_t N, int64_t K,
                       const Int8Epilogue& epilogue, cudaStream_t stream) {
  const auto power_of_two = [](int64_t v) { return v > 0 && (v & (v - 1)) == 0; };
  if (K % kKStep != 0 || K > kMaxDepth || !power_of_two(K) || N % kColumnBlock != 0 || N > kMaxColumns ||
      !power_of_two(N) || M <= 0 ||
      M > INT_MAX - kTileRows || epilogue.residual.z || !aligned16(A) || !aligned16(B) || !aligned16(D))
    return false;
  const tensor_core::DeviceInfo device = tensor_core::current_device_info();
  if (!device.is_sm90) return false;
  const ShallowGemm p{A, B, D, epilogue, static_cast<int>(M), static_cast<int>(N), static_cast<int>(K),
                      static_cast<int>((M + kTileRows - 1) / kTileRows)};
  const int shared_bytes = shared_layout(p.n, p.k).total;
  static const bool configured = [] {
    OCTET_CUDA_CHECK(cudaFuncSetAttribute(shallow_gemm_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          shared_layout(kMaxColumns, kMaxDepth).total));
    return true;
  }();
  (void)configured;
  int per_sm = 0;
  OCTET_CUDA_CHECK(
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, shallow_gemm_kernel, kWarps * 32, shared_bytes));
  const int blocks = std::clamp(p.tiles, 1, std::max(per_sm, 1) * device.sm_count);
  shallow_gemm_kernel<<<blocks, kWarps * 32, shared_bytes, stream>>>(p);
  OCTET_CUDA_CHECK_LAUNCH();
  return true;
}

}  // namespace octet::cuda
