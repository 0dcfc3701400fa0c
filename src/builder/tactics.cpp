#include "builder/tactics.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include "kernels/workspace.h"
#include "octet/calibration_cache.h"
#include "octet/executor.h"
#include "octet/parallel.h"

namespace octet {

void TimingCache::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::istringstream fields(line);
    std::string signature, backend, ms, workspace;
    if (!std::getline(fields, signature, '\t') || !std::getline(fields, backend, '\t') || !std::getline(fields, ms, '\t'))
      throw Error(path + ":" + std::to_string(number) + ": not a timing cache line (signature, backend, ms, workspace)");
    Timing t;
    try {
      t.ms = std::stod(ms);
    } catch (const std::exception&) {
      throw Error(path + ":" + std::to_string(number) + ": '" + ms + "' is not a time in milliseconds");
    }
    if (std::getline(fields, workspace)) {
      size_t used = 0;
      try {
        t.workspace_bytes = std::stoll(workspace, &used);
      } catch (const std::exception&) {
      }
      if (used == 0 || used != workspace.size() || t.workspace_bytes < 0)
        throw Error(path + ":" + std::to_string(number) + ": '" + workspace + "' is not a workspace size in bytes");
    }
    add(signature, backend, t);
  }
}

void TimingCache::save(const std::string& path) const {
  std::ostringstream out;
  for (const auto& [key, t] : times_) {
    out << key.first << '\t' << key.second << '\t' << t.ms;
    if (t.workspace_bytes >= 0) out << '\t' << t.workspace_bytes;
    out << '\n';
  }
  write_file_atomically(path, out.str());
}

const Timing* TimingCache::find(const std::string& signature, const std::string& backend) const {
  auto it = times_.find({signature, backend});
  return it == times_.end() ? nullptr : &it->second;
}

namespace {

using Clock = std::chrono::steady_clock;

// What a kernel's speed depends on: the op, its attributes, its inputs' types and
// shapes, and the threads it runs on.
std::string layer_signature(const Node& node, const std::vector<const Tensor*>& inputs) {
  Graph one;
  Node n = node;
  n.name.clear();
  n.backend.clear();
  for (auto& in : n.inputs) in = in.empty() ? "" : "x";  // names do not change speed
  for (auto& out : n.outputs) out = "y";
  one.nodes.push_back(n);
  std::string sig = node.domain + "." + node.op_type + "#" + one.fingerprint();
  for (const Tensor* t : inputs)
    sig += t ? "|" + std::string(dtype_name(t->dtype())) + shape_str(t->shape()) : "|-";
  return sig + "@" + std::to_string(num_threads()) + "t";
}

// Gives every timed run the output memory of the previous one, as an execution
// context's arena does; fresh pages each run would be timed otherwise (and their
// faults can outweigh a fast kernel's work).
class ReusedOutputs : public RunMemory, public OutputAllocator {
 public:
  OutputAllocator* allocator_for(size_t) override { return this; }
  void after_node(size_t, KernelContext&) override {}
  Tensor allocate(size_t index, DType dtype, const Shape& shape) override {
    Tensor& buffer = buffers_[index];
    if (buffer.dtype() != dtype || buffer.shape() != shape) buffer = Tensor(dtype, shape);
    return buffer;  // shares the memory
  }

 private:
  std::map<size_t, Tensor> buffers_;
};

// Milliseconds per run of `node` on `backend` with these inputs (best of repeated runs)
// and the workspace a run asks for, or negative milliseconds when that backend declines the node.
Timing time_layer(const Node& node, const std::string& backend, const Graph& graph,
                  const std::map<std::string, Tensor>& values, const TacticOptions& options) {
  Graph one;
  one.opsets = graph.opsets;
  Node n = node;
  n.backend = backend;
  TensorMap feed;
  for (const auto& in : n.inputs) {
    if (in.empty()) continue;
    if (auto it = graph.initializers.find(in); it != graph.initializers.end()) {
      one.initializers[in] = it->second;
    } else if (!feed.count(in)) {
      feed[in] = values.at(in);
      one.inputs.push_back(ValueInfo{in, values.at(in).dtype()});
    }
  }
  for (const auto& out : n.outputs)
    if (!out.empty()) one.outputs.push_back(ValueInfo{out});
  one.nodes.push_back(std::move(n));
  std::unique_ptr<Executor> exec;
  try {
    exec = std::make_unique<Executor>(std::move(one));
  } catch (const UnsupportedError&) {
    return {-1, 0};  // the backend declined this configuration
  }
  ReusedOutputs memory;
  workspace::reset_meter();
  exec->run(feed, {}, &memory);  // warm-up: first-touch memory, library caches
  const auto workspace_bytes = static_cast<int64_t>(workspace::metered_bytes());
  double best = 1e300, spent = 0;
  for (int runs = 0; runs < 3 || spent < options.min_time_ms; ++runs) {
    const auto t0 = Clock::now();
    exec->run(feed, {}, &memory);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    best = std::min(best, ms);
    spent += ms;
  }
  return {best, workspace_bytes};
}

// Whether `node` is, or was fused from, one of `layers` (fused names join theirs with " + ").
bool made_of_any(const Node& node, const std::set<std::string>& layers) {
  for (size_t begin = 0, end; begin <= node.name.size(); begin = end + 3) {
    end = std::min(node.name.find(" + ", begin), node.name.size());
    if (layers.count(node.name.substr(begin, end - begin))) return true;
  }
  return false;
}

}  // namespace

TensorMap timing_inputs(const Graph& graph, const TacticOptions& options) {
  TensorMap inputs;
  for (size_t i = 0; i < graph.inputs.size(); ++i) {
    const ValueInfo& v = graph.inputs[i];
    const auto opt = options.shapes.find(v.name);
    inputs[v.name] = random_tensor(v.dtype, opt != options.shapes.end() ? opt->second : v.shape_at_batch(options.batch),
                                   static_cast<uint32_t>(i));
  }
  return inputs;
}

int select_tactics(Graph& graph, TimingCache& cache, const TacticOptions& options,
                   const std::function<void(const std::string&)>& log) {
  const auto& registry = KernelRegistry::global();
  bool any_choice = false;
  for (const auto& n : graph.nodes) any_choice |= registry.candidates(n.domain, n.op_type, graph.opset(n.domain)).size() > 1;
  if (!any_choice) return 0;

  // Every layer's real inputs come from one run of the network on sample data.
  const TensorMap inputs = timing_inputs(graph, options);
  std::map<std::string, Tensor> values(inputs.begin(), inputs.end());
  Executor(graph).run(inputs, [&](const std::string& name, const Tensor& t) { values[name] = t.clone(); });

  int decided = 0, cached = 0, reduced = 0, over_limit = 0;
  for (auto& node : graph.nodes) {
    std::vector<const KernelDef*> candidates = registry.candidates(node.domain, node.op_type, graph.opset(node.domain));
    const bool full_precision = !options.allow_bf16 || made_of_any(node, options.full_precision_layers);
    candidates.erase(std::remove_if(candidates.begin(), candidates.end(),
                                    [&](const KernelDef* def) {
                                      return full_precision && def->reduced_precision != DType::kUndefined;
                                    }),
                     candidates.end());
    if (candidates.size() < 2) continue;
    std::vector<const Tensor*> node_inputs;
    for (const auto& in : node.inputs) {
      if (in.empty()) node_inputs.push_back(nullptr);
      else if (auto it = graph.initializers.find(in); it != graph.initializers.end()) node_inputs.push_back(&it->second);
      else node_inputs.push_back(&values.at(in));
    }
    const std::string signature = layer_signature(node, node_inputs);
    const KernelDef* best = nullptr;
    double best_ms = 1e300;
    for (const KernelDef* def : candidates) {
      Timing t;
      // A cached timing without a workspace figure is measured again when a limit needs it.
      if (const Timing* known = cache.find(signature, def->backend);
          known && (options.workspace_limit == 0 || known->workspace_bytes >= 0)) {
        t = *known;
        ++cached;
      } else {
        t = time_layer(node, def->backend, graph, values, options);
        cache.add(signature, def->backend, t);
      }
      if (t.ms < 0) continue;
      if (options.workspace_limit > 0 && t.workspace_bytes > static_cast<int64_t>(options.workspace_limit)) {
        ++over_limit;
        continue;
      }
      if (t.ms < best_ms) best_ms = t.ms, best = def;
    }
    node.backend = best ? best->backend : "";
    ++decided;
    reduced += best && best->reduced_precision != DType::kUndefined;
  }
  std::string at = "batch " + std::to_string(options.batch);
  if (!options.shapes.empty()) {
    at = "the profile's opt shapes";
    for (const auto& [name, shape] : options.shapes) at += " " + name + shape_str(shape);
  }
  log("kernel selection: " + std::to_string(decided) + " layers timed at " + at +
      (cached ? " (" + std::to_string(cached) + " timings from the timing cache)" : "") +
      (options.allow_bf16 ? "; " + std::to_string(reduced) + " run in BF16" : "") +
      (options.workspace_limit ? "; " + std::to_string(over_limit) + " kernels passed over for needing more than the " +
                                     std::to_string(options.workspace_limit) + "-byte workspace limit"
                               : ""));
  return decided;
}

}  // namespace octet
