#include "runtime/memory_planner.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <optional>
#include <string>
#include <utility>

namespace octet {
namespace {

size_t round_up(size_t n, size_t alignment) { return (n + alignment - 1) / alignment * alignment; }

bool live_together(const LiveBlock& a, const LiveBlock& b) { return a.first <= b.last && b.first <= a.last; }

}  // namespace

ArenaLayout layout_arena(const std::vector<LiveBlock>& blocks, size_t alignment) {
  std::vector<size_t> order(blocks.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (blocks[a].bytes != blocks[b].bytes) return blocks[a].bytes > blocks[b].bytes;
    return blocks[a].first < blocks[b].first;
  });
  ArenaLayout layout;
  layout.offsets.assign(blocks.size(), 0);
  std::vector<size_t> placed;
  for (size_t b : order) {
    const size_t size = round_up(blocks[b].bytes, alignment);
    std::vector<std::pair<size_t, size_t>> taken;  // [begin, end) of placed blocks live with b
    for (size_t p : placed)
      if (live_together(blocks[p], blocks[b]))
        taken.emplace_back(layout.offsets[p], layout.offsets[p] + round_up(blocks[p].bytes, alignment));
    std::sort(taken.begin(), taken.end());
    size_t offset = 0;
    for (const auto& [begin, end] : taken) {
      if (begin >= offset + size) break;  // the gap before this block fits
      offset = std::max(offset, end);
    }
    layout.offsets[b] = offset;
    layout.bytes = std::max(layout.bytes, offset + size);
    placed.push_back(b);
  }
  return layout;
}

ActivationPlan plan_activations(const Graph& graph, const std::vector<std::vector<RecordedOutput>>& recorded) {
  const auto& nodes = graph.nodes;
  // Every value whose memory a kernel made: a block, first live at its node.
  std::map<std::string, std::pair<size_t, size_t>> producer;  // value -> (node, output)
  std::map<std::string, size_t> block_of;                     // value -> block
  std::vector<LiveBlock> blocks;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (size_t o = 0; o < nodes[i].outputs.size(); ++o) {
      const std::string& name = nodes[i].outputs[o];
      if (name.empty()) continue;
      producer[name] = {i, o};
      const RecordedOutput& r = recorded[i][o];
      if (r.from_make_output && r.bytes > 0) {
        block_of[name] = blocks.size();
        blocks.push_back({r.bytes, i, i});
      }
    }
  // The block holding a value's memory, following views back to their source;
  // none for memory from outside the run (inputs, weights) or the heap.
  auto block_holding = [&](std::string name) -> std::optional<size_t> {
    for (;;) {
      if (auto b = block_of.find(name); b != block_of.end()) return b->second;
      auto p = producer.find(name);
      if (p == producer.end()) return std::nullopt;
      const auto [node, output] = p->second;
      const int aliased = recorded[node][output].aliased_input;
      if (aliased < 0) return std::nullopt;
      name = nodes[node].inputs[aliased];
    }
  };
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& in : nodes[i].inputs)
      if (auto b = block_holding(in)) blocks[*b].last = std::max(blocks[*b].last, i);
  std::vector<bool> outlives_run(blocks.size(), false);
  for (const auto& v : graph.outputs)
    if (auto b = block_holding(v.name)) outlives_run[*b] = true;

  std::vector<LiveBlock> arena_blocks;
  std::vector<size_t> arena_index(blocks.size());
  for (size_t b = 0; b < blocks.size(); ++b)
    if (!outlives_run[b]) arena_index[b] = arena_blocks.size(), arena_blocks.push_back(blocks[b]);
  const ArenaLayout layout = layout_arena(arena_blocks);

  ActivationPlan plan;
  plan.arena_bytes = layout.bytes;
  plan.outputs.resize(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    plan.outputs[i].resize(nodes[i].outputs.size());
    for (size_t o = 0; o < nodes[i].outputs.size(); ++o) {
      OutputPlacement& placement = plan.outputs[i][o];
      placement.aliased_input = recorded[i][o].aliased_input;
      auto b = block_of.find(nodes[i].outputs[o]);
      if (b == block_of.end() || outlives_run[b->second]) continue;
      placement.offset = layout.offsets[arena_index[b->second]];
      placement.bytes = blocks[b->second].bytes;
    }
  }
  return plan;
}

}  // namespace octet
