#include "export/onnx_writer.h"

namespace octet {
namespace {

onnx::AttributeProto attribute_to_proto(const std::string& name, const Attribute& value) {
  onnx::AttributeProto ap;
  ap.set_name(name);
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          ap.set_type(onnx::AttributeProto::INT), ap.set_i(v);
        } else if constexpr (std::is_same_v<T, float>) {
          ap.set_type(onnx::AttributeProto::FLOAT), ap.set_f(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          ap.set_type(onnx::AttributeProto::STRING), ap.set_s(v);
        } else if constexpr (std::is_same_v<T, Tensor>) {
          ap.set_type(onnx::AttributeProto::TENSOR), *ap.mutable_t() = tensor_to_proto("", v);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          ap.set_type(onnx::AttributeProto::INTS), ap.mutable_ints()->Add(v.begin(), v.end());
        } else if constexpr (std::is_same_v<T, std::vector<float>>) {
          ap.set_type(onnx::AttributeProto::FLOATS), ap.mutable_floats()->Add(v.begin(), v.end());
        } else {
          ap.set_type(onnx::AttributeProto::STRINGS);
          for (const auto& s : v) ap.add_strings(s);
        }
      },
      value);
  return ap;
}

}  // namespace

onnx::TensorProto tensor_to_proto(const std::string& name, const Tensor& tensor) {
  onnx::TensorProto tp;
  tp.set_name(name);
  // DType's values are the ONNX TensorProto data type codes.
  tp.set_data_type(static_cast<int32_t>(tensor.dtype()));
  for (int64_t d : tensor.shape()) tp.add_dims(d);
  tp.set_raw_data(tensor.raw(), tensor.nbytes());
  return tp;
}

onnx::ValueInfoProto value_info_to_proto(const ValueInfo& value) {
  onnx::ValueInfoProto vp;
  vp.set_name(value.name);
  auto* type = vp.mutable_type()->mutable_tensor_type();
  type->set_elem_type(static_cast<int32_t>(value.dtype));
  if (value.has_shape) {
    auto* shape = type->mutable_shape();
    for (const Dim& d : value.dims) {
      auto* dim = shape->add_dim();
      if (d.known()) dim->set_dim_value(d.value);
      else if (!d.symbol.empty()) dim->set_dim_param(d.symbol);
    }
  }
  return vp;
}

onnx::NodeProto node_to_proto(const Node& node) {
  onnx::NodeProto np;
  np.set_name(node.name);
  np.set_op_type(node.op_type);
  np.set_domain(node.domain);
  for (const auto& in : node.inputs) np.add_input(in);
  for (const auto& out : node.outputs) np.add_output(out);
  for (const auto& [key, value] : node.attributes) *np.add_attribute() = attribute_to_proto(key, value);
  return np;
}

}  // namespace octet
