// The "onednn" backend: Conv, Gemm, MatMul and the INT8 Int8Conv / Int8MatMul
// on oneDNN's CPU primitives. Each kernel declines (its preparer returns nullptr)
// the configurations it does not handle, which then run on the reference backend.
#pragma once
#include "octet/kernel.h"

namespace octet {

void register_onednn_kernels(KernelRegistry& r);        // all of the below
void register_onednn_conv_kernels(KernelRegistry& r);   // onednn_conv.cpp: Conv, FusedConv, Int8Conv
void register_onednn_dense_kernels(KernelRegistry& r);  // onednn_dense.cpp: Gemm, MatMul, Int8MatMul

}  // namespace octet
