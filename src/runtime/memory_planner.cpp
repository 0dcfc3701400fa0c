#include "runtime/memory_planner.h"

#include <algorithm>
#include <cstdint>
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

namespace {
// Whether `p` lies in the `bytes` bytes from `begin`.
bool points_into(const void* p, const void* begin, size_t bytes) {
  const auto at = reinterpret_cast<uintptr_t>(p), start = reinterpret_cast<uintptr_t>(begin);
  return at >= start && at - start < bytes;
}
}  // namespace

OutputRecorder::OutputRecorder(const Graph& graph) : recorded_(graph.nodes.size()) {
  for (size_t i = 0; i < graph.nodes.size(); ++i) recorded_[i].resize(graph.nodes[i].outputs.size());
}

OutputAllocator* OutputRecorder::allocator_for(size_t node) {
  node_ = node;
  return this;
}

Tensor OutputRecorder::allocate(size_t index, DType dtype, const Shape& shape) {
  recorded_[node_][index].from_make_output = true;
  return place(dtype, shape);
}

void OutputRecorder::after_node(size_t node, KernelContext& ctx) {
  for (size_t o = 0; o < ctx.outputs.size(); ++o) {
    const Tensor& out = ctx.outputs[o];
    RecordedOutput& r = recorded_[node][o];
    r.bytes = out.nbytes();
    if (r.from_make_output || out.empty()) continue;
    for (size_t in = 0; in < ctx.num_inputs(); ++in)
      if (ctx.has_input(in) && points_into(out.raw(), ctx.inputs[in]->raw(), ctx.inputs[in]->nbytes()))
        r.aliased_input = static_cast<int>(in);
  }
}

OutputAllocator* ArenaPlacement::allocator_for(size_t node) {
  node_ = node;
  return this;
}

Tensor ArenaPlacement::allocate(size_t index, DType dtype, const Shape& shape) {
  const OutputPlacement& slot = plan_.outputs[node_][index];
  if (slot.bytes == 0) return off_arena(node_, index, dtype, shape);
  // A value-dependent shape may differ from the planned run's: then it goes on the heap.
  if (std::any_of(shape.begin(), shape.end(), [](int64_t d) { return d < 0; }) ||
      static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype) != slot.bytes)
    return {};
  return arena_view(dtype, shape, base_ + slot.offset);
}

void ArenaPlacement::after_node(size_t node, KernelContext& ctx) {
  for (size_t o = 0; o < ctx.outputs.size(); ++o) {
    Tensor& out = ctx.outputs[o];
    if (!points_into(out.raw(), base_, arena_bytes_)) continue;
    const OutputPlacement& slot = plan_.outputs[node][o];
    const bool in_slot = slot.bytes > 0 && out.raw() == base_ + slot.offset;
    const int source = slot.aliased_input;
    const bool planned_view = source >= 0 && ctx.has_input(source) &&
                              points_into(out.raw(), ctx.inputs[source]->raw(), ctx.inputs[source]->nbytes());
    if (!in_slot && !planned_view) misplaced(out);
  }
}

}  // namespace octet
