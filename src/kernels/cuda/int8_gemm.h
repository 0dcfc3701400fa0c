// INT8 GEMM on the GPU with the requantizing epilogue of octet's INT8 numeric
// contract (docs/int8_kernels.md): D = epilogue(A · Bᵀ), int32 accumulation.
// On sm_90 the tensor-core path is a CUTLASS 3 warp-specialised wgmma kernel;
// shapes it cannot take (alignment) run a plain CUDA kernel with the same results.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace octet::cuda {

// Per output column n (the output channel):
//   acc  = saturating int32 sum of A[m,k]*B[n,k] over k, plus bias[n] (saturating; bias may be null)
//   int8 output:  D = clamp(round_half_even((float)acc * scale[n]), lo, hi), lo/hi integers in [-128, 127]
//   float output: D = min(max((float)acc * scale[n], lo), hi)   (lo/hi real units, +-inf for none)
// `scale` is the requantization multiplier (int8 output) or the accumulator scale
// (float output) of requantize.h, one float per column, in device memory.
// Optional residual sum (Int8Conv's input Z, src/kernels/reference/int8/int8_kernels.h):
// with an int8 output, the requantized value c above then goes through Int8Add with Z:
//   int8 output:  D = clamp(round_half_even(fl(c * c_ratio) + fl(z * z_ratio)), lo, hi)
//   float output: D = min(max(fl(c * c_ratio) + fl(z * z_ratio), lo), hi)
// each product correctly rounded to float, then one float add (no FMA).
struct Int8Residual {
  const int8_t* z = nullptr;  // [M, N] row-major like D, device memory; null: no residual
  float c_ratio = 1.0f, z_ratio = 1.0f;
  float lo = -128.0f, hi = 127.0f;  // of D: integers for int8 output, real units (+-inf) for float
};

struct Int8Epilogue {
  const int32_t* bias = nullptr;  // [N], device memory, or null
  const float* scale = nullptr;   // [N], device memory (required)
  float lo = -128.0f, hi = 127.0f;  // of c (int8 bounds) or of a float D without a residual
  Int8Residual residual;
};

// The tensor-core configurations for int8 outputs: CTA tile M x N x K and schedule
// (cooperative: two warpgroups share a tile; ping-pong: each has its own, one's
// epilogue overlapping the other's MMAs). int8_gemm picks by shape, octet's shallow
// kernel (int8_gemm_shallow.h) first where it applies; int8_gemm_tile runs one (Int8Conv's
// GPU kernel times them all as tactics, int8_kernels.cpp).
enum class Int8GemmTile {
  kLarge128x256x128, kWide128x256x64, kNarrow128x64x64, kNarrow128x128x64, kSmall64x128x128,
  kPingpong128x128x64, kCooperative256x128x64
};
inline constexpr Int8GemmTile kInt8GemmTiles[] = {
    Int8GemmTile::kLarge128x256x128, Int8GemmTile::kWide128x256x64, Int8GemmTile::kNarrow128x64x64,
    Int8GemmTile::kNarrow128x128x64, Int8GemmTile::kSmall64x128x128, Int8GemmTile::kPingpong128x128x64,
    Int8GemmTile::kCooperative256x128x64};
const char* int8_gemm_tile_name(Int8GemmTile tile);

// A: [M, K] row-major int8; B: [N, K] row-major int8 (K contiguous: the "TN"
// layout, weights as [out_channels, in_channels]); D: [M, N] row-major; all device
// memory; ldd = N. Asynchronous on `stream`; launch errors throw octet::Error.
void int8_gemm(const int8_t* A, const int8_t* B, int8_t* D, int64_t M, int64_t N, int64_t K,
               const Int8Epilogue& epilogue, cudaStream_t stream);
// The same on one configuration; returns false having launched nothing where it does
// not apply (not an sm_90 device, N or K not a multiple of 16, operands not 16-byte aligned).
bool int8_gemm_tile(const int8_t* A, const int8_t* B, int8_t* D, int64_t M, int64_t N, int64_t K,
                    const Int8Epilogue& epilogue, Int8GemmTile tile, cudaStream_t stream);
void int8_gemm(const int8_t* A, const int8_t* B, float* D, int64_t M, int64_t N, int64_t K,
               const Int8Epilogue& epilogue, cudaStream_t stream);
// Raw accumulators (no bias, no epilogue): for exact checks and benchmarks.
void int8_gemm(const int8_t* A, const int8_t* B, int32_t* D, int64_t M, int64_t N, int64_t K, cudaStream_t stream);

// Whether int8_gemm takes the tensor-core path for this shape on the current device
// (otherwise it runs the plain kernel).
bool int8_gemm_uses_tensor_cores(int64_t M, int64_t N, int64_t K);

}  // namespace octet::cuda
