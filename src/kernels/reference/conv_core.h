// The reference Conv, callable by kernels that build on it (octet.FusedConv).
#pragma once
#include "octet/kernel.h"

namespace octet::reference {

// ONNX Conv over ctx's inputs X, W and optional B (inputs 0-2) and the node's
// Conv attributes (other attributes are ignored); writes output 0.
void conv_forward(KernelContext& ctx);

}  // namespace octet::reference
