// The CUDA backend ("cuda", Device::kCuda): kernels over device memory, launched on
// the execution context's stream (KernelContext::stream). Every kernel is tested
// against the reference kernels (tests/kernels/cuda) and reproduces the INT8
// contract (docs/int8_kernels.md) bit for bit.
#pragma once
#include <cuda_runtime.h>

#include "kernels/cuda/cuda_ops.h"
#include "octet/kernel.h"

namespace octet {

void register_cuda_kernels(KernelRegistry& r);         // cuda_kernels.cpp: all of them
void register_cuda_int8_kernels(KernelRegistry& r);    // int8_kernels.cpp: Int8Conv, Int8MatMul
void register_cuda_float_kernels(KernelRegistry& r);   // float_kernels.cpp: FP32 / FP16 layers

namespace cuda {

// A registration of the "cuda" backend (Device::kCuda).
KernelDef kernel_def(const char* op, const char* domain, int64_t since, int64_t end, KernelFn fn,
                     KernelPreparer prepare = {});

// The run's stream; fails naming the node when the kernel runs outside a GPU execution context.
cudaStream_t stream_of(const KernelContext& ctx);

// Channels-last geometry of ctx's convolution node on x [N, H, W, C], with M filters
// of KH x KW in `group` groups (strides, pads, dilations, auto_pad from the node).
Conv2d conv_geometry(const KernelContext& ctx, const Shape& x, int64_t m, int64_t kh, int64_t kw, int64_t group);
// Channels-last pooling geometry of ctx's MaxPool / AveragePool node on x [N, H, W, C].
Pool2d pool_geometry(const KernelContext& ctx, const Shape& x);

}  // namespace cuda
}  // namespace octet
