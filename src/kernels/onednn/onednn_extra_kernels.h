// More "onednn" backend kernels, registered by register_onednn_kernels (onednn_kernels.cpp).
#pragma once
#include "octet/kernel.h"

namespace octet {

// onednn_pool.cpp: 2-D MaxPool (float32, int8, uint8) and AveragePool (float32) on
// oneDNN's pooling; GlobalAveragePool (float32) and GlobalMaxPool (float32, int8) as a
// threaded loop bit-identical to the reference. NCHW or channels-last.
void register_onednn_pool_kernels(KernelRegistry& r);
// onednn_eltwise.cpp: vectorised, threaded loops: Int8Add over same-shape inputs, exact
// to the contract; QuantizeLinear / DequantizeLinear with a per-tensor scale and zero
// point (float32 <-> int8 / uint8), bit-identical to the reference.
void register_onednn_eltwise_kernels(KernelRegistry& r);
// onednn_transpose.cpp: Transpose NCHW <-> NHWC of 4-D float32, int8 and uint8 tensors as one reorder.
void register_onednn_transpose_kernels(KernelRegistry& r);

}  // namespace octet
