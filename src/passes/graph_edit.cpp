#include "passes/graph_edit.h"

#include <algorithm>

namespace octet::graph_edit {

Readers readers_of_values(const Graph& g) {
  Readers readers;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& name : g.nodes[i].inputs)
      if (!name.empty()) readers[name].push_back(i);
  return readers;
}

bool is_graph_input(const Graph& g, const std::string& name) {
  return std::any_of(g.inputs.begin(), g.inputs.end(), [&](const ValueInfo& v) { return v.name == name; });
}

bool is_graph_output(const Graph& g, const std::string& name) {
  return std::any_of(g.outputs.begin(), g.outputs.end(), [&](const ValueInfo& v) { return v.name == name; });
}

const Tensor* find_initializer(const Graph& g, const std::string& name) {
  auto it = g.initializers.find(name);
  return it == g.initializers.end() ? nullptr : &it->second;
}

std::optional<size_t> sole_reader(const Graph& g, const Readers& readers, const std::string& value) {
  auto it = readers.find(value);
  if (it == readers.end() || it->second.size() != 1 || is_graph_output(g, value)) return std::nullopt;
  return it->second[0];
}

std::optional<std::vector<Dim>> declared_dims(const Graph& g, const std::string& name) {
  if (const Tensor* t = find_initializer(g, name)) {
    std::vector<Dim> dims;
    for (int64_t d : t->shape()) dims.push_back(Dim{d, ""});
    return dims;
  }
  const ValueInfo* v = g.find_value(name);
  if (!v || !v->has_shape) return std::nullopt;
  return v->dims;
}

bool same_shape(const Graph& g, const std::string& a, const std::string& b) {
  const auto da = declared_dims(g, a), db = declared_dims(g, b);
  if (!da || !db || da->size() != db->size()) return false;
  for (size_t i = 0; i < da->size(); ++i) {
    const Dim &x = (*da)[i], &y = (*db)[i];
    const bool equal = x.known() ? y.known() && x.value == y.value : !x.symbol.empty() && x.symbol == y.symbol;
    if (!equal) return false;
  }
  return true;
}

void rename_value(Graph& g, const std::string& from, const std::string& to) {
  for (auto& node : g.nodes) {
    std::replace(node.inputs.begin(), node.inputs.end(), from, to);
    std::replace(node.outputs.begin(), node.outputs.end(), from, to);
  }
}

std::string unused_name(const Graph& g, const std::string& base) {
  auto used = [&](const std::string& name) {
    if (g.initializers.count(name) || g.value_info.count(name) || is_graph_input(g, name) || is_graph_output(g, name))
      return true;
    for (const auto& n : g.nodes)
      if (std::find(n.outputs.begin(), n.outputs.end(), name) != n.outputs.end() ||
          std::find(n.inputs.begin(), n.inputs.end(), name) != n.inputs.end())
        return true;
    return false;
  };
  std::string name = base;
  for (int suffix = 1; used(name); ++suffix) name = base + "_" + std::to_string(suffix);
  return name;
}

void erase_nodes(Graph& g, const std::vector<bool>& erase) {
  std::vector<Node> kept;
  kept.reserve(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!erase[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
}

}  // namespace octet::graph_edit
