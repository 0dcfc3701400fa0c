#include "octet/graph.h"

#include <cstdio>
#include <queue>
#include <set>
#include <sstream>

namespace octet {

std::string ValueInfo::shape_str() const {
  if (!has_shape) return "?";
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) os << ',';
    if (dims[i].known()) os << dims[i].value;
    else os << (dims[i].symbol.empty() ? "?" : dims[i].symbol);
  }
  os << ']';
  return os.str();
}

Shape ValueInfo::shape_at_batch(int64_t batch) const {
  if (!has_shape) throw Error("input '" + name + "' has no declared shape");
  Shape shape;
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d].known()) shape.push_back(dims[d].value);
    else if (d == 0) shape.push_back(batch);
    else throw Error("input '" + name + "' " + shape_str() + " has a dynamic dimension " + std::to_string(d) +
                     " other than the batch");
  }
  return shape;
}

namespace {
template <class T>
const T* attr_as(const Node& n, const std::string& key) {
  auto it = n.attributes.find(key);
  if (it == n.attributes.end()) return nullptr;
  const T* v = std::get_if<T>(&it->second);
  if (!v) throw Error(n.describe() + ": attribute '" + key + "' has an unexpected type");
  return v;
}
}  // namespace

int64_t Node::attr_int(const std::string& key, int64_t fallback) const {
  const auto* v = attr_as<int64_t>(*this, key);
  return v ? *v : fallback;
}
int64_t Node::attr_int(const std::string& key) const {
  const auto* v = attr_as<int64_t>(*this, key);
  if (!v) throw Error(describe() + ": required attribute '" + key + "' is missing");
  return *v;
}
float Node::attr_float(const std::string& key, float fallback) const {
  const auto* v = attr_as<float>(*this, key);
  return v ? *v : fallback;
}
std::string Node::attr_string(const std::string& key, const std::string& fallback) const {
  const auto* v = attr_as<std::string>(*this, key);
  return v ? *v : fallback;
}
std::vector<int64_t> Node::attr_ints(const std::string& key, std::vector<int64_t> fallback) const {
  const auto* v = attr_as<std::vector<int64_t>>(*this, key);
  return v ? *v : fallback;
}
std::vector<float> Node::attr_floats(const std::string& key, std::vector<float> fallback) const {
  const auto* v = attr_as<std::vector<float>>(*this, key);
  return v ? *v : fallback;
}
const Tensor& Node::attr_tensor(const std::string& key) const {
  const auto* v = attr_as<Tensor>(*this, key);
  if (!v) throw Error(describe() + ": required attribute '" + key + "' is missing");
  return *v;
}
bool Node::channels_last() const { return attr_string(kLayoutAttribute, "NCHW") == kChannelsLast; }

std::vector<size_t> channels_last_inputs(const Node& n) {
  if (!n.domain.empty() && n.domain != "octet") return {};
  const std::string& op = n.op_type;
  if (op == "Conv") return {0};
  // Input 3 of FusedConv and Int8Conv is the residual, an activation like X.
  if (op == "FusedConv" || op == "Int8Conv")
    return n.inputs.size() > 3 && !n.inputs[3].empty() ? std::vector<size_t>{0, 3} : std::vector<size_t>{0};
  // MaxPool's optional Indices output counts NCHW positions.
  if (op == "MaxPool" && n.outputs.size() > 1 && !n.outputs[1].empty()) return {};
  if (op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool" || op == "GlobalMaxPool") return {0};
  return {};
}

std::string Node::describe() const {
  return "node '" + (name.empty() ? (outputs.empty() ? std::string("?") : outputs[0]) : name) +
         "' (" + (domain.empty() ? "" : domain + ".") + op_type + ")";
}

int64_t Graph::opset(const std::string& domain) const {
  auto it = opsets.find(domain);
  if (it == opsets.end() && domain == "ai.onnx") it = opsets.find("");
  return it == opsets.end() ? 0 : it->second;
}

const ValueInfo* Graph::find_value(const std::string& n) const {
  for (const auto& v : inputs)
    if (v.name == n) return &v;
  for (const auto& v : outputs)
    if (v.name == n) return &v;
  auto it = value_info.find(n);
  return it == value_info.end() ? nullptr : &it->second;
}

void Graph::sort_topologically() {
  std::map<std::string, size_t> producer;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& o : nodes[i].outputs)
      if (!o.empty()) producer[o] = i;
  std::set<std::string> available;
  for (const auto& v : inputs) available.insert(v.name);
  for (const auto& [k, v] : initializers) available.insert(k);

  std::vector<int> pending(nodes.size(), 0);
  std::vector<std::vector<size_t>> consumers(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::set<size_t> deps;
    for (const auto& in : nodes[i].inputs) {
      if (in.empty() || available.count(in)) continue;
      auto it = producer.find(in);
      if (it == producer.end())
        throw Error(nodes[i].describe() + " reads '" + in +
                    "', which is neither a graph input, an initializer nor a node output");
      deps.insert(it->second);
    }
    pending[i] = static_cast<int>(deps.size());
    for (size_t d : deps) consumers[d].push_back(i);
  }
  // Kahn's algorithm; the queue is ordered by original index so a sorted graph keeps its order.
  std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (pending[i] == 0) ready.push(i);
  std::vector<Node> sorted;
  sorted.reserve(nodes.size());
  while (!ready.empty()) {
    size_t i = ready.top();
    ready.pop();
    sorted.push_back(nodes[i]);
    for (size_t c : consumers[i])
      if (--pending[c] == 0) ready.push(c);
  }
  if (sorted.size() != nodes.size()) {
    for (size_t i = 0; i < nodes.size(); ++i)
      if (pending[i] > 0) throw Error("graph has a cycle through " + nodes[i].describe());
  }
  nodes = std::move(sorted);
}

int64_t Graph::parameter_count() const {
  int64_t n = 0;
  for (const auto& [k, t] : initializers) n += t.numel();
  return n;
}

}  // namespace octet

namespace octet {
namespace {
// FNV-1a, 64-bit: fast, dependency-free, and stable across platforms.
class Fnv1a {
 public:
  void bytes(const void* p, size_t n) {
    auto* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) h_ = (h_ ^ b[i]) * 0x100000001b3ull;
  }
  void str(const std::string& s) {
    uint64_t n = s.size();
    bytes(&n, sizeof n);
    bytes(s.data(), s.size());
  }
  template <class T> void pod(const T& v) { bytes(&v, sizeof v); }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h_));
    return buf;
  }

 private:
  uint64_t h_ = 0xcbf29ce484222325ull;
};

void hash_tensor(Fnv1a& h, const Tensor& t) {
  h.pod(t.dtype());
  for (int64_t d : t.shape()) h.pod(d);
  h.bytes(t.raw(), t.nbytes());
}
}  // namespace

std::string Graph::fingerprint() const {
  Fnv1a h;
  for (const auto& [domain, version] : opsets) h.str(domain), h.pod(version);
  for (const auto& v : inputs) h.str(v.name), h.pod(v.dtype);
  for (const auto& v : outputs) h.str(v.name);
  for (const auto& [name, t] : initializers) h.str(name), hash_tensor(h, t);
  for (const auto& n : nodes) {
    h.str(n.op_type), h.str(n.domain);
    for (const auto& s : n.inputs) h.str(s);
    for (const auto& s : n.outputs) h.str(s);
    for (const auto& [key, value] : n.attributes) {
      h.str(key);
      h.pod(value.index());
      std::visit([&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, Tensor>) hash_tensor(h, v);
        else if constexpr (std::is_same_v<V, std::string>) h.str(v);
        else if constexpr (std::is_same_v<V, std::vector<std::string>>) for (const auto& s : v) h.str(s);
        else if constexpr (std::is_same_v<V, std::vector<int64_t>> || std::is_same_v<V, std::vector<float>>)
          h.bytes(v.data(), v.size() * sizeof(v[0]));
        else h.pod(v);
      }, value);
    }
  }
  return h.hex();
}

}  // namespace octet
