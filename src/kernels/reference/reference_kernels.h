// Registration entry points of the reference (plain C++) kernels, one per source file.
#pragma once
#include "octet/kernel.h"

namespace octet {

void register_conv_kernels(KernelRegistry& r);           // conv.cpp: Conv, ConvTranspose
void register_fused_conv_kernels(KernelRegistry& r);     // fused_conv.cpp: FusedConv (domain "octet")
void register_pool_kernels(KernelRegistry& r);           // pool.cpp: MaxPool, AveragePool, Global*Pool
void register_gemm_kernels(KernelRegistry& r);           // gemm.cpp: Gemm, MatMul
void register_normalization_kernels(KernelRegistry& r);  // normalization.cpp: BatchNormalization, Softmax, ReduceMean
void register_elementwise_kernels(KernelRegistry& r);    // elementwise.cpp: binary ops, activations, Clip, PRelu, Identity
void register_cast_quantize_kernels(KernelRegistry& r);  // cast_quantize.cpp: Cast, QuantizeLinear, DequantizeLinear
void register_shape_kernels(KernelRegistry& r);          // shape.cpp: Flatten, Reshape, Squeeze, Unsqueeze, Shape, Constant
void register_data_movement_kernels(KernelRegistry& r);  // data_movement.cpp: Concat, Split, Slice, Gather, Transpose, Pad
void register_resize_kernels(KernelRegistry& r);         // resize.cpp: Resize
void register_int8_kernels(KernelRegistry& r);           // int8/int8_kernels.cpp: Int8Conv, Int8MatMul, Int8Add (domain "octet")

inline void register_reference_kernels(KernelRegistry& r) {
  register_conv_kernels(r);
  register_fused_conv_kernels(r);
  register_pool_kernels(r);
  register_gemm_kernels(r);
  register_normalization_kernels(r);
  register_elementwise_kernels(r);
  register_cast_quantize_kernels(r);
  register_shape_kernels(r);
  register_data_movement_kernels(r);
  register_resize_kernels(r);
  register_int8_kernels(r);
}

}  // namespace octet
