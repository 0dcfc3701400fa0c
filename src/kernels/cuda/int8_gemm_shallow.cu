// INT8 GEMM for shallow products (int8_gemm_shallow.h): ResNet-style 1x1 convolutions
// with K <= 128, where the MMAs are few and the requantizing epilogue sets the speed.
// The CUTLASS kernels run that epilogue on two warpgroups per SM; this one runs it on
// every warp of two CTAs per SM, rounding without the conversion units (int8_math.cuh).
// Each CTA keeps B in shared memory for all its tiles of 128 rows; A tiles arrive by
// cp.async one tile ahead. Arithmetic as int8_gemm.h.
#include "kernels/cuda/int8_gemm_shallow.h"

#include <algorithm>
#include <climits>

#include "kernels/cuda/int8_epilogue.cuh"
#include "kernels/cuda/int8_math.cuh"
#include "kernels/cuda/mma_sync.cuh"

namespace octet::cuda {
namespace {

using namespace mma;

constexpr int kWarps = 8;
constexpr int kWarpRows = 16;  // the m16 of mma.m16n8k32
constexpr int kTileRows = kWarps * kWarpRows;
constexpr int kMaxDepth = 128;
constexpr int kMaxColumns = 256;
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

  // Once per CTA: B and the per-column epilogue.
  copy_rows_async(b_tile, p.b, 0, p.n, p.k, p.n, static_cast<int>(threadIdx.x), kWarps * 32);
  const bool bias_in_accumulators = load_epilogue_columns(scale, bias, p.e.scale, p.e.bias, p.n, p.k);
  int tile = static_cast<int>(blockIdx.x), buffer = 0;
  copy_rows_async(smem + layout.a, p.a, static_cast<int64_t>(tile) * kTileRows, kTileRows, p.k, p.m,
                  static_cast<int>(threadIdx.x), kWarps * 32);
  copy_async_commit();

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

    for (int block = 0; block < p.n; block += kBlockColumns) {
      BlockAccumulators acc;
      start_accumulators(acc, bias + block, kBlockTiles, bias_in_accumulators, lane);
#pragma unroll
      for (int step = 0; step < kMaxDepth / kKStep; ++step) {
        if (step * kKStep >= p.k) break;
        multiply_block(acc, a[step], b_tile + block * a_pitch + step * kKStep, a_pitch, kBlockTiles, lane);
      }
      store_requantized_block(acc, stage + block, stage_pitch, scale + block, bias + block, kBlockTiles,
                              bias_in_accumulators, p.e.lo, p.e.hi, lane);
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

}  // namespace

bool int8_gemm_shallow(const int8_t* A, const int8_t* B, int8_t* D, int64_t M, int64_t N, int64_t K,
                       const Int8Epilogue& epilogue, cudaStream_t stream) {
  // K and N powers of two: the row copies shift instead of dividing.
  const bool depth_fits = K == kKStep || K == 2 * kKStep || K == kMaxDepth;
  const bool columns_fit = N == kBlockColumns || N == 2 * kBlockColumns || N == kMaxColumns;
  if (!depth_fits || !columns_fit || M <= 0 || M > INT_MAX - kTileRows || epilogue.residual.z || !aligned_to(A, 16) ||
      !aligned_to(B, 16) || !aligned_to(D, 16))
    return false;
  const tensor_core::DeviceInfo device = tensor_core::current_device_info();
  if (!device.is_sm90) return false;
  const ShallowGemm p{A, B, D, epilogue, static_cast<int>(M), static_cast<int>(N), static_cast<int>(K),
                      static_cast<int>((M + kTileRows - 1) / kTileRows)};
  const int shared_bytes = shared_layout(p.n, p.k).total;
  launch_persistent<shallow_gemm_kernel>(p, p.tiles, kWarps * 32, shared_bytes,
                                         shared_layout(kMaxColumns, kMaxDepth).total, device.sm_count, stream);
  return true;
}

}  // namespace octet::cuda
