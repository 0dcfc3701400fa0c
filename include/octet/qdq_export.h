// Export of a built INT8 engine as a standard QDQ ONNX model (QuantizeLinear /
// DequantizeLinear around FP32 ops), which other runtimes such as onnxruntime run.
// The mapping of octet's INT8 ops is described in docs/int8_kernels.md ("QDQ export").
#pragma once
#include <string>

#include "octet/engine.h"

namespace octet {

// Writes `engine`'s network to `path` (atomically) as an ONNX model at opset
// max(network opset, 13), every tensor keeping its name. Throws octet::Error
// naming `path`, or the node that has no QDQ form.
void export_qdq_onnx(const Engine& engine, const std::string& path);

}  // namespace octet
