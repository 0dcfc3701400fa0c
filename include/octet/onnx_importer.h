// ONNX -> octet IR. Runs ONNX's checker and shape inference, resolves
// external-data weights relative to the model file, folds Constant nodes into
// initializers and sorts the nodes topologically.
#pragma once
#include <string>

#include "octet/graph.h"

namespace octet {

// Throws octet::Error naming the file for a missing, truncated or invalid model.
Graph import_onnx_file(const std::string& path);
// base_dir resolves external-data locations.
Graph import_onnx_bytes(const std::string& bytes, const std::string& origin,
                        const std::string& base_dir = ".");

// Reads a serialized onnx.TensorProto (.pb, as in ONNX's test data sets).
Tensor read_onnx_tensor_file(const std::string& path);

}  // namespace octet
