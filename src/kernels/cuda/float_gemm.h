// Float matrix products of the FP32 and FP16 GPU engines on cuBLASLt: FP32 in FP32
// arithmetic (no TF32, as TensorRT without its TF32 flag), FP16 on the tensor cores
// with FP32 accumulation.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "octet/dtype.h"

namespace octet::cuda {

// Workspace cuBLASLt may use per product (split-K and the like): kernels ask their
// execution context's scratch for it.
inline constexpr size_t kFloatGemmWorkspaceBytes = size_t{4} << 20;

// D [rows, n] = alpha * A [rows, k] · W^T (+ beta * C [rows, n] when c is not null),
// all row-major, W [n, k] (K contiguous: how the convolution and Gemm kernels store
// weights). type is kFloat32 or kFloat16 for A, W, C and D alike; alpha and beta are float.
void float_gemm(DType type, const void* a, const void* w, void* d, int64_t rows, int64_t n, int64_t k, float alpha,
                const void* c, float beta, void* workspace, size_t workspace_bytes, cudaStream_t stream);

}  // namespace octet::cuda
