// INT8 GEMM for shallow products on sm_90 (int8_gemm_shallow.cu): octet's own mma.sync
// kernel for int8 outputs with K <= 128, where the epilogue, not the MMAs, sets the
// speed. int8_gemm (int8_gemm.h) takes it first where it applies. (With a residual sum
// CUTLASS's kernels were faster on an H200, so it declines those.)
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/int8_gemm.h"

namespace octet::cuda {

// D [M, N] int8 = int8_gemm's epilogue of A [M, K] · B [N, K]ᵀ. Launches on `stream`
// and returns true, or returns false having launched nothing where it does not apply:
// a residual, K other than 32, 64 or 128, N other than 64, 128 or 256, pointers not
// 16-byte aligned, not an sm_90 device.
bool int8_gemm_shallow(const int8_t* A, const int8_t* B, int8_t* D, int64_t M, int64_t N, int64_t K,
                       const Int8Epilogue& epilogue, cudaStream_t stream);

}  // namespace octet::cuda
