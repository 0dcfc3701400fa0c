// Queries and edits the graph passes share.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "octet/graph.h"

namespace octet::graph_edit {

// The nodes reading each value, one entry per input slot that reads it.
using Readers = std::map<std::string, std::vector<size_t>>;
Readers readers_of_values(const Graph& g);

bool is_graph_input(const Graph& g, const std::string& name);
bool is_graph_output(const Graph& g, const std::string& name);
const Tensor* find_initializer(const Graph& g, const std::string& name);

// The node reading `value`, when exactly one input slot of one node reads it and
// it is not a graph output: the value then exists only for that node.
std::optional<size_t> sole_reader(const Graph& g, const Readers& readers, const std::string& value);

// The value's dims when they are static enough to compare: the initializer's
// shape, or its declared/inferred shape (a symbolic dim stands for itself).
std::optional<std::vector<Dim>> declared_dims(const Graph& g, const std::string& name);
// Whether both values certainly have the same shape.
bool same_shape(const Graph& g, const std::string& a, const std::string& b);

// Renames `from` to `to` wherever a node reads or writes it.
void rename_value(Graph& g, const std::string& from, const std::string& to);
// `base`, or base with a numeric suffix, when base already names a value.
std::string unused_name(const Graph& g, const std::string& base);
// Drops the nodes marked in `erase`, keeping the others in order.
void erase_nodes(Graph& g, const std::vector<bool>& erase);

}  // namespace octet::graph_edit
