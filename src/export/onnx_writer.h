// octet IR -> ONNX protobuf: the reverse of src/import/onnx_importer.cpp.
#pragma once
#include <onnx/onnx_pb.h>

#include <string>

#include "octet/graph.h"

namespace octet {

// The tensor's values as raw_data, named `name`.
onnx::TensorProto tensor_to_proto(const std::string& name, const Tensor& tensor);
// Element type and, when known, the shape (symbolic dimensions by name).
onnx::ValueInfoProto value_info_to_proto(const ValueInfo& value);
// The node with its domain and attributes.
onnx::NodeProto node_to_proto(const Node& node);

}  // namespace octet
