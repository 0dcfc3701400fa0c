#include "octet/onnx_importer.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "octet/kernel.h"
#include "plugins/plugin_node.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Reads an external-data tensor's bytes from the file named in its external_data entries.
std::string read_external(const onnx::TensorProto& tp, const std::string& base_dir,
                          const std::string& origin) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : tp.external_data()) {
    if (kv.key() == "location") location = kv.value();
    else if (kv.key() == "offset") offset = std::stoll(kv.value());
    else if (kv.key() == "length") length = std::stoll(kv.value());
  }
  if (location.empty())
    throw Error(origin + ": tensor '" + tp.name() + "' has external data without a location");
  fs::path rel(location);
  if (rel.is_absolute() || location.find("..") != std::string::npos)
    throw Error(origin + ": tensor '" + tp.name() + "' has external data outside the model folder: " +
                location);
  std::string path = (fs::path(base_dir) / rel).string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(origin + ": tensor '" + tp.name() + "': cannot open external data file " + path);
  in.seekg(0, std::ios::end);
  int64_t size = in.tellg();
  if (length < 0) length = size - offset;
  if (offset < 0 || offset + length > size)
    throw Error(origin + ": tensor '" + tp.name() + "': external data " + path +
                " is shorter than offset+length");
  std::string bytes(static_cast<size_t>(length), '\0');
  in.seekg(offset);
  in.read(bytes.data(), length);
  return bytes;
}

Tensor tensor_from_proto(const onnx::TensorProto& tp, const std::string& base_dir,
                         const std::string& origin) {
  DType dt = dtype_from_onnx(tp.data_type());
  if (dt == DType::kUndefined)
    throw UnsupportedError(origin + ": tensor '" + tp.name() + "' has ONNX data type " +
                           std::to_string(tp.data_type()) + ", which octet does not support");
  Shape shape(tp.dims().begin(), tp.dims().end());
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d > 0 && numel > (int64_t{1} << 40) / d))
      throw Error(origin + ": tensor '" + tp.name() + "' has an invalid shape " + shape_str(shape));
    numel *= d;
  }
  Tensor t(dt, shape);
  const size_t n = static_cast<size_t>(numel);
  auto size_error = [&](size_t got) {
    return Error(origin + ": tensor '" + tp.name() + "' of shape " + shape_str(shape) + " holds " +
                 std::to_string(got) + " values");
  };
  if (tp.data_location() == onnx::TensorProto::EXTERNAL) {
    std::string bytes = read_external(tp, base_dir, origin);
    if (bytes.size() != t.nbytes()) throw size_error(bytes.size() / dtype_size(dt));
    std::memcpy(t.raw(), bytes.data(), bytes.size());
  } else if (tp.has_raw_data()) {
    if (tp.raw_data().size() != t.nbytes()) throw size_error(tp.raw_data().size() / dtype_size(dt));
    std::memcpy(t.raw(), tp.raw_data().data(), t.nbytes());
  } else {
    // Typed fields: which one holds the values depends on the element type.
    switch (dt) {
      case DType::kFloat32:
        if (size_t(tp.float_data_size()) != n) throw size_error(tp.float_data_size());
        std::copy(tp.float_data().begin(), tp.float_data().end(), t.data<float>());
        break;
      case DType::kFloat64:
        if (size_t(tp.double_data_size()) != n) throw size_error(tp.double_data_size());
        std::copy(tp.double_data().begin(), tp.double_data().end(), t.data<double>());
        break;
      case DType::kInt64:
        if (size_t(tp.int64_data_size()) != n) throw size_error(tp.int64_data_size());
        std::copy(tp.int64_data().begin(), tp.int64_data().end(), t.data<int64_t>());
        break;
      case DType::kUInt32: case DType::kUInt64:
        if (size_t(tp.uint64_data_size()) != n) throw size_error(tp.uint64_data_size());
        for (size_t i = 0; i < n; ++i) t.set_from_double(i, static_cast<double>(tp.uint64_data(i)));
        break;
      case DType::kFloat16: case DType::kBFloat16:
        // Stored as raw 16-bit patterns in int32_data.
        if (size_t(tp.int32_data_size()) != n) throw size_error(tp.int32_data_size());
        for (size_t i = 0; i < n; ++i) t.data<uint16_t>()[i] = static_cast<uint16_t>(tp.int32_data(i));
        break;
      default:  // int32, int16, int8, uint16, uint8, bool all live in int32_data
        if (size_t(tp.int32_data_size()) != n) throw size_error(tp.int32_data_size());
        for (size_t i = 0; i < n; ++i) t.set_from_double(i, tp.int32_data(i));
        break;
    }
  }
  return t;
}

ValueInfo value_info_from_proto(const onnx::ValueInfoProto& vp) {
  ValueInfo v;
  v.name = vp.name();
  if (vp.has_type() && !vp.type().has_tensor_type())
    throw UnsupportedError("value '" + vp.name() + "' is a sequence, map or optional; octet supports tensors only");
  if (vp.type().has_tensor_type()) {
    const auto& tt = vp.type().tensor_type();
    v.dtype = dtype_from_onnx(tt.elem_type());
    if (tt.has_shape()) {
      v.has_shape = true;
      for (const auto& d : tt.shape().dim()) {
        Dim dim;
        if (d.has_dim_value()) dim.value = d.dim_value();
        else if (d.has_dim_param()) dim.symbol = d.dim_param();
        v.dims.push_back(dim);
      }
    }
  }
  return v;
}

Attribute attribute_from_proto(const onnx::AttributeProto& ap, const std::string& base_dir,
                               const std::string& origin) {
  switch (ap.type()) {
    case onnx::AttributeProto::INT: return ap.i();
    case onnx::AttributeProto::FLOAT: return ap.f();
    case onnx::AttributeProto::STRING: return ap.s();
    case onnx::AttributeProto::TENSOR: return tensor_from_proto(ap.t(), base_dir, origin);
    case onnx::AttributeProto::INTS: return std::vector<int64_t>(ap.ints().begin(), ap.ints().end());
    case onnx::AttributeProto::FLOATS: return std::vector<float>(ap.floats().begin(), ap.floats().end());
    case onnx::AttributeProto::STRINGS:
      return std::vector<std::string>(ap.strings().begin(), ap.strings().end());
    default:
      throw UnsupportedError("attribute '" + ap.name() + "' has a type octet does not support (" +
                             onnx::AttributeProto::AttributeType_Name(ap.type()) + ")");
  }
}

// Constant nodes become initializers, evaluated by the Constant kernel itself.
void fold_constant_nodes(Graph& g) {
  std::vector<Node> kept;
  for (auto& node : g.nodes) {
    if (node.op_type != "Constant" || !node.domain.empty()) {
      kept.push_back(std::move(node));
      continue;
    }
    const KernelDef* def = KernelRegistry::global().find("", "Constant", g.opset());
    if (!def) throw UnsupportedError(node.describe() + ": Constant is not supported at opset " +
                                     std::to_string(g.opset()));
    KernelContext ctx{node, g.opset(), {}, std::vector<Tensor>(1)};
    def->bind(node, g)->run(ctx);
    g.initializers[node.outputs.at(0)] = std::move(ctx.outputs[0]);
  }
  g.nodes = std::move(kept);
}

// A node whose op has no built-in kernel on any backend runs a registered plugin
// of that name. In graph order, so a plugin sees the shapes declared for the plugins before it.
void map_plugin_nodes(Graph& g) {
  for (auto& node : g.nodes)
    if (KernelRegistry::global().candidates(node.domain, node.op_type, g.opset(node.domain)).empty())
      map_to_plugin(node, g);
}

Graph graph_from_model(onnx::ModelProto& model, const std::string& origin,
                       const std::string& base_dir) {
  Graph g;
  for (const auto& op : model.opset_import())
    g.opsets[op.domain() == "ai.onnx" ? "" : op.domain()] = op.version();
  if (model.ir_version() < 3 && g.opsets.empty()) g.opsets[""] = 1;

  const auto& gp = model.graph();
  g.name = gp.name();
  for (const auto& init : gp.initializer())
    g.initializers[init.name()] = tensor_from_proto(init, base_dir, origin);
  try {
    for (const auto& in : gp.input())
      if (!g.initializers.count(in.name())) g.inputs.push_back(value_info_from_proto(in));
    for (const auto& out : gp.output()) g.outputs.push_back(value_info_from_proto(out));
    for (const auto& vi : gp.value_info())
      if (vi.type().has_tensor_type()) g.value_info[vi.name()] = value_info_from_proto(vi);
  } catch (const UnsupportedError& e) {
    throw UnsupportedError(origin + ": " + e.what());
  }

  for (int i = 0; i < gp.node_size(); ++i) {
    const auto& np = gp.node(i);
    Node n;
    n.name = np.name();
    n.op_type = np.op_type();
    n.domain = np.domain() == "ai.onnx" ? "" : np.domain();
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    for (const auto& ap : np.attribute()) {
      if (ap.type() == onnx::AttributeProto::GRAPH || ap.type() == onnx::AttributeProto::GRAPHS)
        continue;  // control flow: the op itself is reported unsupported when bound
      try {
        n.attributes[ap.name()] = attribute_from_proto(ap, base_dir, origin);
      } catch (const UnsupportedError& e) {
        throw UnsupportedError(origin + ": " + n.describe() + ": " + e.what());
      }
    }
    g.nodes.push_back(std::move(n));
  }
  try {
    fold_constant_nodes(g);
    g.sort_topologically();
    map_plugin_nodes(g);
  } catch (const UnsupportedError& e) {
    throw UnsupportedError(origin + ": " + e.what());
  } catch (const Error& e) {
    throw Error(origin + ": " + e.what());
  }
  return g;
}

// Complaints the checker makes that octet reports better itself are not fatal:
// unknown ops (a plugin may run them; otherwise binding names the node) and
// external data (the checker looks relative to the working directory, octet
// relative to the model file).
bool is_deferred_complaint(const std::string& what) {
  for (const char* deferred : {"No Op registered", "No opset import for domain",
                               "is not a registered function/op", "should be stored in"})
    if (what.find(deferred) != std::string::npos) return true;
  return false;
}

}  // namespace

Graph import_onnx_bytes(const std::string& bytes, const std::string& origin,
                        const std::string& base_dir) {
  if (bytes.empty()) throw Error(origin + ": file is empty, not an ONNX model");
  onnx::ModelProto model;
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !model.ParseFromString(bytes))
    throw Error(origin + ": not a valid ONNX model (protobuf parse failed; truncated or not ONNX?)");
  if (!model.has_graph() || model.ir_version() == 0)
    throw Error(origin + ": not a valid ONNX model (no graph or IR version)");
  // Newer exporters write IR versions this libonnx does not know (it stops at 8) for
  // the same ops; the checker refuses those outright, so the model is checked as
  // IR 8 and every node is still validated against its opset.
  if (model.ir_version() > onnx::IR_VERSION) model.set_ir_version(onnx::IR_VERSION);
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    if (!is_deferred_complaint(e.what()))
      throw Error(origin + ": ONNX checker rejected the model: " + std::string(e.what()));
  }
  // ONNX's shape inference fills value_info for intermediates; when it cannot
  // (custom ops, dynamic shapes) octet still runs, with shapes found at run time.
  try {
    onnx::ShapeInferenceOptions options{/*check_type=*/false, /*error_mode=*/0, /*data_prop=*/true};
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), options);
  } catch (const std::exception&) {
  }
  return graph_from_model(model, origin, base_dir);
}

Tensor read_onnx_tensor_file(const std::string& path) {
  onnx::TensorProto tp;
  std::string bytes = read_file(path);
  if (!tp.ParseFromString(bytes)) throw Error(path + ": not a serialized ONNX TensorProto");
  std::string base = fs::path(path).parent_path().string();
  return tensor_from_proto(tp, base.empty() ? "." : base, path);
}

Graph import_onnx_file(const std::string& path) {
  if (!fs::exists(path)) throw Error(path + ": no such file");
  if (fs::is_directory(path)) throw Error(path + ": is a directory, not an ONNX model");
  std::string base = fs::path(path).parent_path().string();
  return import_onnx_bytes(read_file(path), path, base.empty() ? "." : base);
}

}  // namespace octet
