// Removal of what does not contribute to the graph outputs: Identity nodes,
// nodes whose results nobody reads, and unread initializers.
#include <set>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace octet {

int eliminate_identities(Graph& g) {
  std::vector<bool> removed(g.nodes.size(), false);
  int count = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& node = g.nodes[i];
    if (node.op_type != "Identity" || !node.domain.empty() || node.inputs.size() != 1 || node.outputs.size() != 1)
      continue;
    const std::string x = node.inputs[0], y = node.outputs[0];
    if (!graph_edit::is_graph_output(g, y)) {
      graph_edit::rename_value(g, y, x);  // readers of y read x
    } else {
      // y must keep its name: the producer of x writes y instead, unless x's own
      // name must stay (a graph input or output) or x is an initializer.
      if (graph_edit::is_graph_input(g, x) || graph_edit::is_graph_output(g, x) || graph_edit::find_initializer(g, x))
        continue;
      graph_edit::rename_value(g, x, y);
    }
    removed[i] = true;
    ++count;
  }
  graph_edit::erase_nodes(g, removed);
  return count;
}

int remove_dead_nodes(Graph& g) {
  std::set<std::string> needed;
  for (const auto& v : g.outputs) needed.insert(v.name);
  std::vector<bool> dead(g.nodes.size(), false);
  int count = 0;
  // Backwards: a node is live when a live node (or a graph output) reads one of its outputs.
  for (size_t i = g.nodes.size(); i-- > 0;) {
    const Node& node = g.nodes[i];
    bool live = false;
    for (const auto& o : node.outputs) live |= !o.empty() && needed.count(o);
    if (!live) {
      dead[i] = true;
      ++count;
      continue;
    }
    needed.insert(node.inputs.begin(), node.inputs.end());
  }
  graph_edit::erase_nodes(g, dead);
  return count;
}

int remove_unused_initializers(Graph& g) {
  std::set<std::string> used;
  for (const auto& n : g.nodes) used.insert(n.inputs.begin(), n.inputs.end());
  for (const auto& v : g.outputs) used.insert(v.name);
  int count = 0;
  for (auto it = g.initializers.begin(); it != g.initializers.end();) {
    if (used.count(it->first)) {
      ++it;
    } else {
      it = g.initializers.erase(it);
      ++count;
    }
  }
  return count;
}

}  // namespace octet
