#include <sstream>
#include <vector>

#include "passes/passes.h"

namespace octet {

bool PassStats::changed() const {
  return nodes_before != nodes_after || removed_initializers != 0;
}

std::string PassStats::summary() const {
  std::vector<std::string> parts;
  auto add = [&](const char* verb, int n, const char* what) {
    if (n) parts.push_back(std::string(verb) + " " + std::to_string(n) + " " + what);
  };
  add("folded", folded_constants, "constant nodes");
  add("folded", folded_batchnorms, "BatchNorm");
  add("removed", removed_identities, "Identity");
  add("fused", fused.activations, "activations");
  add("fused", fused.residual_adds, "residual Adds");
  add("fused", fused.max_pools, "MaxPools");
  add("removed", removed_dead_nodes, "dead nodes");
  add("removed", removed_initializers, "unused initializers");
  std::ostringstream s;
  s << "graph passes: " << nodes_before << " -> " << nodes_after << " nodes";
  for (size_t i = 0; i < parts.size(); ++i) s << (i ? ", " : " (") << parts[i];
  if (!parts.empty()) s << ")";
  return s.str();
}

PassStats optimize_graph(Graph& g, const PassOptions& options) {
  PassStats stats;
  stats.nodes_before = g.nodes.size();
  // One rewrite can enable another (a removed dead reader leaves a Conv's output
  // to a BatchNormalization alone; folded BN leaves Conv + Relu adjacent), so the
  // passes repeat until a round removes no node. Every rewrite removes one, so this ends.
  for (size_t before = g.nodes.size() + 1; g.nodes.size() < before;) {
    before = g.nodes.size();
    stats.removed_identities += eliminate_identities(g);
    stats.folded_constants += fold_constants(g);
    stats.removed_dead_nodes += remove_dead_nodes(g);
    stats.folded_batchnorms += fold_batch_normalization(g);
    if (options.fuse_fp32_activations) {
      const ConvFusionCounts fused = fuse_conv_activations(g);
      stats.fused.activations += fused.activations;
      stats.fused.residual_adds += fused.residual_adds;
      stats.fused.max_pools += fused.max_pools;
    }
  }
  stats.removed_initializers = remove_unused_initializers(g);
  stats.nodes_after = g.nodes.size();
  return stats;
}

}  // namespace octet
