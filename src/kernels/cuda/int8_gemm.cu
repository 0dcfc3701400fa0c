// INT8 GEMM (int8_gemm.h): CUTLASS 3 warp-specialised wgmma + TMA kernels on sm_90a
// with octet's requantizing epilogue (int8_epilogue.cuh), octet's mma.sync kernel for
// shallow products with int8 outputs (int8_gemm_shallow.h), and a plain CUDA kernel
// with the same arithmetic for shapes TMA cannot take; all reproduce requantize.h bit for bit.
#include "kernels/cuda/int8_gemm.h"

#include <cutlass/epilogue/collective/collective_builder.hpp>
#include <cutlass/gemm/collective/collective_builder.hpp>
#include <cutlass/gemm/device/gemm_universal_adapter.h>
#include <cutlass/gemm/kernel/gemm_universal.hpp>

#include <climits>
#include <cstdint>
#include <optional>
#include <type_traits>

#include "kernels/cuda/int8_epilogue.cuh"
#include "kernels/cuda/int8_gemm_shallow.h"

namespace octet::cuda {
namespace {

using namespace tensor_core;

// ---------------------------------------------------------------------------
// Tensor-core configurations.

using cute::_1;
using cute::_128;
using cute::_2;
using cute::_256;
using cute::_64;

// The configurations were chosen from timings of ResNet-50's shapes on an H200: with
// shallow products (K <= 256) the epilogue bounds the speed, so those get 64-deep K
// tiles (more pipeline stages, no padding) and wide epilogue subtiles.

// A configuration: CTA tile, cluster, epilogue subtile, and cooperative (two consumer
// warpgroups on one tile) or ping-pong (alternating tiles) schedules.
template <class Tile, class Cluster, class EpiTile, bool Cooperative>
struct TileConfig {
  using TileShape = Tile;
  using ClusterShape = Cluster;
  using EpilogueTile = EpiTile;
  using MainloopSchedule = std::conditional_t<Cooperative, cutlass::gemm::KernelTmaWarpSpecializedCooperative,
                                              cutlass::gemm::KernelTmaWarpSpecializedPingpong>;
  using EpilogueSchedule = std::conditional_t<Cooperative, cutlass::epilogue::TmaWarpSpecializedCooperative,
                                              cutlass::epilogue::TmaWarpSpecialized>;
};
using AutoEpilogueTile = cutlass::epilogue::collective::EpilogueTileAuto;

// Large problems (at least one 128x256 tile per SM) with deep K: clusters of 2 along
// M multicast the B tile.
using LargeTiles = TileConfig<cute::Shape<_128, _256, _128>, cute::Shape<_2, _1, _1>, AutoEpilogueTile, true>;
// Large problems with shallow K: 128x128 epilogue subtiles halve the epilogue's stores.
using WideTiles = TileConfig<cute::Shape<_128, _256, _64>, cute::Shape<_1, _1, _1>, cute::Shape<_128, _128>, true>;
// Large problems with few output columns (the 64- and 128-channel convolutions of
// ResNet-style networks): a 256-wide tile would be mostly empty, so the tile is as wide as N.
template <class TileN>
using NarrowTiles = TileConfig<cute::Shape<_128, TileN, _64>, cute::Shape<_1, _1, _1>, AutoEpilogueTile, true>;
// Smaller problems: 64x128 tiles give more tiles to spread over the SMs, and ping-pong
// overlaps one warpgroup's epilogue with the other's MMAs.
using SmallTiles = TileConfig<cute::Shape<_64, _128, _128>, cute::Shape<_1, _1, _1>, AutoEpilogueTile, false>;
// Candidates for epilogue-bound int8 outputs: ping-pong 128x128 tiles, and cooperative 256x128 ones.
using PingpongTiles = TileConfig<cute::Shape<_128, _128, _64>, cute::Shape<_1, _1, _1>, AutoEpilogueTile, false>;
using TallTiles = TileConfig<cute::Shape<_256, _128, _64>, cute::Shape<_1, _1, _1>, AutoEpilogueTile, true>;

template <class Config, class ElementD, class Epilogue>
struct CutlassGemm {
  using TileShape = typename Config::TileShape;
  using ClusterShape = typename Config::ClusterShape;
  static constexpr int kAlignmentD = kTmaAlignmentBytes / static_cast<int>(sizeof(ElementD));
  using ElementC = typename Epilogue::ElementC;
  static constexpr int kAlignmentC = cute::is_void_v<ElementC> ? kAlignmentD : kTmaAlignmentBytes;

  // C (the residual, or void: none) has D's [M, N] row-major layout.
  using CollectiveEpilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, TileShape, ClusterShape,
      typename Config::EpilogueTile, int32_t, float, ElementC, cutlass::layout::RowMajor, kAlignmentC,
      ElementD, cutlass::layout::RowMajor, kAlignmentD, typename Config::EpilogueSchedule,
      typename Epilogue::template Callbacks<TileShape>>::CollectiveOp;

  // A [M, K] row-major; B [N, K] row-major is K x N column-major: both K-major, as int8 wgmma requires.
  using CollectiveMainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, int8_t, cutlass::layout::RowMajor, kTmaAlignmentBytes,
      int8_t, cutlass::layout::ColumnMajor, kTmaAlignmentBytes, int32_t, TileShape, ClusterShape,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
          sizeof(typename CollectiveEpilogue::SharedStorage))>,
      typename Config::MainloopSchedule>::CollectiveOp;

  using Kernel =
      cutlass::gemm::kernel::GemmUniversal<cute::Shape<int, int, int, int>, CollectiveMainloop, CollectiveEpilogue>;
  using Device = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;
};

template <class Gemm, class Epilogue, class ElementD>
void run_cutlass(const int8_t* A, const int8_t* B, ElementD* D, int64_t M, int64_t N, int64_t K,
                 const Int8Epilogue& epilogue, const DeviceInfo& device, cudaStream_t stream) {
  using Kernel = typename Gemm::Kernel;
  using Device = typename Gemm::Device;
  // Packed strides: rows of K (A, B) and of N (D); one batch.
  typename Kernel::StrideA stride_a = cute::make_stride(K, cute::Int<1>{}, M * K);
  typename Kernel::StrideB stride_b = cute::make_stride(K, cute::Int<1>{}, N * K);
  typename Kernel::StrideD stride_d = cute::make_stride(N, cute::Int<1>{}, M * N);
  typename Kernel::StrideC stride_c = stride_d;  // C, the residual, is laid out as D

  cutlass::KernelHardwareInfo hw_info;
  hw_info.device_id = device.device;
  hw_info.sm_count = device.sm_count;

  typename Device::Arguments arguments{
      cutlass::gemm::GemmUniversalMode::kGemm,
      {static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), 1},
      {A, stride_a, B, stride_b},
      {Epilogue::template arguments<typename Gemm::TileShape>(epilogue), epilogue.residual.z, stride_c, D, stride_d},
      hw_info};

  Device gemm;
  check_cutlass(gemm.can_implement(arguments), "can_implement");
  // The persistent (data-parallel) tile scheduler and these visitor nodes keep no
  // state between tiles, so no workspace: nothing to allocate, nothing shared between streams.
  if (Device::get_workspace_size(arguments) != 0)
    throw Error("INT8 GEMM: the CUTLASS configuration unexpectedly asks for a workspace");
  check_cutlass(gemm.initialize(arguments, nullptr, stream), "initialize");
  check_cutlass(gemm.run(stream), "launch");
}

template <class Epilogue, class ElementD>
void run_tensor_cores(const int8_t* A, const int8_t* B, ElementD* D, int64_t M, int64_t N, int64_t K,
                      const Int8Epilogue& epilogue, const DeviceInfo& device, cudaStream_t stream,
                      std::optional<Int8GemmTile> tile = std::nullopt) {
  auto run = [&](auto config) {
    run_cutlass<CutlassGemm<decltype(config), ElementD, Epilogue>, Epilogue>(A, B, D, M, N, K, epilogue, device, stream);
  };
  if constexpr (std::is_same_v<ElementD, int8_t>) {
    if (tile) switch (*tile) {
      case Int8GemmTile::kLarge128x256x128: return run(LargeTiles{});
      case Int8GemmTile::kWide128x256x64: return run(WideTiles{});
      case Int8GemmTile::kNarrow128x64x64: return run(NarrowTiles<_64>{});
      case Int8GemmTile::kNarrow128x128x64: return run(NarrowTiles<_128>{});
      case Int8GemmTile::kSmall64x128x128: return run(SmallTiles{});
      case Int8GemmTile::kPingpong128x128x64: return run(PingpongTiles{});
      case Int8GemmTile::kCooperative256x128x64: return run(TallTiles{});
    }
  }
  // Whether Config's tiles give every SM at least one.
  auto fills_the_gpu = [&](auto config) {
    using TileShape = typename decltype(config)::TileShape;
    constexpr int64_t tile_m = cute::size<0>(TileShape{}), tile_n = cute::size<1>(TileShape{});
    return (M + tile_m - 1) / tile_m * ((N + tile_n - 1) / tile_n) >= device.sm_count;
  };
  if (N <= 64 && fills_the_gpu(NarrowTiles<_64>{}))
    run(NarrowTiles<_64>{});
  else if (N <= 128 && fills_the_gpu(NarrowTiles<_128>{}))
    run(NarrowTiles<_128>{});
  else if (K <= 256 && fills_the_gpu(WideTiles{}))
    run(WideTiles{});
  else if (fills_the_gpu(LargeTiles{}))
    run(LargeTiles{});
  else
    run(SmallTiles{});
}

// ---------------------------------------------------------------------------
// The plain kernel: 16x16 outputs per block, one per thread, K in chunks of 64 bytes
// staged in shared memory (zero-padded past M, N, K) and summed with dp4a.

constexpr int kPlainTile = 16;
constexpr int kPlainTileK = 64;
constexpr int kPlainRowPitch = kPlainTileK + 4;  // 17 words a row: threads of a warp read distinct banks

struct StoreInt32 {
  int32_t* d;
  int64_t n;
  __device__ void operator()(int64_t row, int64_t col, int32_t acc) const { d[row * n + col] = acc; }
};

// The int8 value c of an accumulator, as an integer-valued float.
__device__ __forceinline__ float requantized(const Int8Epilogue& e, int64_t col, int32_t acc) {
  const int32_t biased = e.bias ? add_bias(acc, e.bias[col]) : acc;
  return requantize_value(__int2float_rn(biased), e.scale[col], e.lo, e.hi);
}

__device__ __forceinline__ float residual_sum(const Int8Residual& r, float c, int64_t at) {
  return int8_sum(c, static_cast<float>(r.z[at]), r.c_ratio, r.z_ratio);
}

struct StoreInt8 {
  int8_t* d;
  int64_t n;
  Int8Epilogue e;
  __device__ void operator()(int64_t row, int64_t col, int32_t acc) const {
    float v = requantized(e, col, acc);
    if (e.residual.z) v = clamp_as_reference(rintf(residual_sum(e.residual, v, row * n + col)), e.residual.lo, e.residual.hi);
    d[row * n + col] = static_cast<int8_t>(__float2int_rn(v));
  }
};

struct StoreFloat {
  float* d;
  int64_t n;
  Int8Epilogue e;
  __device__ void operator()(int64_t row, int64_t col, int32_t acc) const {
    if (e.residual.z) {
      const float sum = residual_sum(e.residual, requantized(e, col, acc), row * n + col);
      d[row * n + col] = clamp_as_reference(sum, e.residual.lo, e.residual.hi);
      return;
    }
    const int32_t biased = e.bias ? add_bias(acc, e.bias[col]) : acc;
    d[row * n + col] = scale_and_clamp(__int2float_rn(biased), e.scale[col], e.lo, e.hi);
  }
};

template <class Store>
__global__ void __launch_bounds__(kPlainTile* kPlainTile)
    plain_int8_gemm_kernel(const int8_t* __restrict__ A, const int8_t* __restrict__ B, int64_t M, int64_t N, int64_t K,
                           Store store) {
  __shared__ alignas(4) int8_t a_tile[kPlainTile][kPlainRowPitch];
  __shared__ alignas(4) int8_t b_tile[kPlainTile][kPlainRowPitch];
  const int tx = threadIdx.x, ty = threadIdx.y;  // tx: column n, ty: row m within the tile
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * kPlainTile;
  const int64_t n0 = static_cast<int64_t>(blockIdx.y) * kPlainTile;
  // Each thread stages 4 consecutive bytes of a 16 x 64 tile of A and of B.
  const int load_row = (ty * kPlainTile + tx) / kPlainTile;
  const int load_col = (ty * kPlainTile + tx) % kPlainTile * 4;
  const bool a_row_in = m0 + load_row < M, b_row_in = n0 + load_row < N;
  const int8_t* a_row = A + (m0 + load_row) * K;
  const int8_t* b_row = B + (n0 + load_row) * K;

  int32_t acc = 0;
  for (int64_t k0 = 0; k0 < K; k0 += kPlainTileK) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t k = k0 + load_col + i;
      a_tile[load_row][load_col + i] = a_row_in && k < K ? a_row[k] : int8_t(0);
      b_tile[load_row][load_col + i] = b_row_in && k < K ? b_row[k] : int8_t(0);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kPlainTileK; kk += 4)
      acc = __dp4a(*reinterpret_cast<const int*>(&a_tile[ty][kk]), *reinterpret_cast<const int*>(&b_tile[tx][kk]), acc);
    __syncthreads();
  }
  if (m0 + ty < M && n0 + tx < N) store(m0 + ty, n0 + tx, acc);
}

template <class Store>
void run_plain(const int8_t* A, const int8_t* B, int64_t M, int64_t N, int64_t K, Store store, cudaStream_t stream) {
  const int64_t row_blocks = (M + kPlainTile - 1) / kPlainTile, col_blocks = (N + kPlainTile - 1) / kPlainTile;
  if (row_blocks > INT_MAX || col_blocks > 65535) throw Error("INT8 GEMM: output too large for the plain kernel");
  const dim3 grid(static_cast<unsigned>(row_blocks), static_cast<unsigned>(col_blocks));
  plain_int8_gemm_kernel<<<grid, dim3(kPlainTile, kPlainTile), 0, stream>>>(A, B, M, N, K, store);
  OCTET_CUDA_CHECK_LAUNCH();
}

// ---------------------------------------------------------------------------

bool tensor_core_shape(int64_t M, int64_t N, int64_t K) {
  return M >= 1 && N >= 1 && K >= 1 && M <= INT_MAX && N <= INT_MAX && K <= INT_MAX && N % 16 == 0 && K % 16 == 0;
}

bool tma_aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % kTmaAlignmentBytes == 0; }  // null is aligned

void check_arguments(int64_t M, int64_t N, int64_t K, const Int8Epilogue* epilogue) {
  if (M < 0 || N < 0 || K < 0) throw Error("INT8 GEMM: negative dimension");
  if (epilogue && !epilogue->scale) throw Error("INT8 GEMM: the epilogue needs a scale vector");
}

// The device, where the tensor-core path takes this GEMM: an sm_90 GPU, the shape,
// and 16-byte aligned A, B, D and residual (TMA; a misaligned view, not what octet's
// allocators hand out, takes the plain kernel).
std::optional<DeviceInfo> tensor_core_device(const int8_t* A, const int8_t* B, const void* D, int64_t M, int64_t N,
                                             int64_t K, const Int8Epilogue& epilogue) {
  if (!tensor_core_shape(M, N, K) || !tma_aligned(A) || !tma_aligned(B) || !tma_aligned(D) ||
      !tma_aligned(epilogue.residual.z))
    return std::nullopt;
  const DeviceInfo device = current_device_info();
  return device.is_sm90 ? std::optional<DeviceInfo>(device) : std::nullopt;
}

template <class Epilogue, class ElementD, class Store>
void dispatch(const int8_t* A, const int8_t* B, ElementD* D, int64_t M, int64_t N, int64_t K,
              const Int8Epilogue& epilogue, Store store, cudaStream_t stream) {
  if (M == 0 || N == 0) return;
  if (const std::optional<DeviceInfo> device = tensor_core_device(A, B, D, M, N, K, epilogue))
    run_tensor_cores<Epilogue>(A, B, D, M, N, K, epilogue, *device, stream);
  else
    run_plain(A, B, M, N, K, store, stream);
}

}  // namespace

const char* int8_gemm_tile_name(Int8GemmTile tile) {
  switch (tile) {
    case Int8GemmTile::kLarge128x256x128: return "128x256x128 cluster 2";
    case Int8GemmTile::kWide128x256x64: return "128x256x64";
    case Int8GemmTile::kNarrow128x64x64: return "128x64x64";
    case Int8GemmTile::kNarrow128x128x64: return "128x128x64";
    case Int8GemmTile::kSmall64x128x128: return "64x128x128 ping-pong";
    case Int8GemmTile::kPingpong128x128x64: return "128x128x64 ping-pong";
    case Int8GemmTile::kCooperative256x128x64: return "256x128x64";
  }
  return "?";
}

bool int8_gemm_tile(const int8_t* A, const int8_t* B, int8_t* D, int64_t M, int64_t N, int64_t K,
                    const Int8Epilogue& epilogue, Int8GemmTile tile, cudaStream_t stream) {
  check_arguments(M, N, K, &epilogue);
  const std::optional<DeviceInfo> device = tensor_core_device(A, B, D, M, N, K, epilogue);
  if (!device) return false;
  if (epilogue.residual.z)
    run_tensor_cores<RequantizeAndAddResidual>(A, B, D, M, N, K, epilogue, *device, stream, tile);
  else
    run_tensor_cores<RequantizeToInt8>(A, B, D, M, N, K, epilogue, *device, stream, tile);
  return true;
}

void int8_gemm(const int8_t* A, const int8_t* B, int8_t* D, int64_t M, int64_t N, int64_t K,
               const Int8Epilogue& epilogue, cudaStream_t stream) {
  check_arguments(M, N, K, &epilogue);
  if (M > 0 && int8_gemm_shallow(A, B, D, M, N, K, epilogue, stream)) return;
  if (epilogue.residual.z)
    dispatch<RequantizeAndAddResidual>(A, B, D, M, N, K, epilogue, StoreInt8{D, N, epilogue}, stream);
  else
    dispatch<RequantizeToInt8>(A, B, D, M, N, K, epilogue, StoreInt8{D, N, epilogue}, stream);
}

void int8_gemm(const int8_t* A, const int8_t* B, float* D, int64_t M, int64_t N, int64_t K,
               const Int8Epilogue& epilogue, cudaStream_t stream) {
  check_arguments(M, N, K, &epilogue);
  // A float output after a residual sum (the builder fuses only int8 sums) takes the plain kernel.
  if (epilogue.residual.z) {
    if (M > 0 && N > 0) run_plain(A, B, M, N, K, StoreFloat{D, N, epilogue}, stream);
    return;
  }
  dispatch<ScaleToFloat>(A, B, D, M, N, K, epilogue, StoreFloat{D, N, epilogue}, stream);
}

void int8_gemm(const int8_t* A, const int8_t* B, int32_t* D, int64_t M, int64_t N, int64_t K, cudaStream_t stream) {
  check_arguments(M, N, K, nullptr);
  dispatch<RawAccumulator>(A, B, D, M, N, K, Int8Epilogue{}, StoreInt32{D, N}, stream);
}

bool int8_gemm_uses_tensor_cores(int64_t M, int64_t N, int64_t K) {
  return tensor_core_shape(M, N, K) && current_device_info().is_sm90;
}

}  // namespace octet::cuda
