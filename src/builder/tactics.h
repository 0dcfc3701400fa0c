// Kernel selection: for every layer, each backend with a kernel for it is timed
// on the layer's real input shapes and the fastest is recorded in Node::backend,
// as TensorRT's builder picks tactics. A timing cache makes rebuilds fast and
// reproducible.
#pragma once
#include <functional>
#include <map>
#include <set>
#include <string>

#include "octet/executor.h"
#include "octet/graph.h"

namespace octet {

// One measurement: milliseconds per run, and the kernel workspace the run asked
// for (kernels/workspace.h; -1: not measured, from a cache written before octet
// metered it). Negative milliseconds: the backend declined the layer.
struct Timing {
  double ms = 0;
  int64_t workspace_bytes = -1;
};

// Measured kernel times by layer signature and backend, loadable and savable as text:
//   <signature>\t<backend>\t<milliseconds>\t<workspace bytes>   (older caches: no workspace)
class TimingCache {
 public:
  void load(const std::string& path);  // a missing file is an empty cache
  void save(const std::string& path) const;
  const Timing* find(const std::string& signature, const std::string& backend) const;
  void add(const std::string& signature, const std::string& backend, Timing t) { times_[{signature, backend}] = t; }
  size_t size() const { return times_.size(); }

 private:
  std::map<std::pair<std::string, std::string>, Timing> times_;
};

struct TacticOptions {
  int64_t batch = 1;  // batch size of the sample inputs the layers are timed on
  std::map<std::string, Shape> shapes;  // or these input shapes (an optimisation profile's opt)
  double min_time_ms = 20;  // each candidate runs at least this long (and at least 3 times)
  // Reduced-precision kernels (KernelDef::reduced_precision) are candidates only when
  // allowed, and never for a layer made of one of full_precision_layers.
  bool allow_bf16 = false;
  // Kernels whose workspace exceeds this many bytes are not chosen (0: no limit); the
  // reference kernels use none, so every layer keeps a kernel.
  size_t workspace_limit = 0;
  std::set<std::string> full_precision_layers;  // node names before fusion ("A + B" is made of A and B)
};

// Seeded random inputs at the options' shapes (or batch), as the layers are timed on.
TensorMap timing_inputs(const Graph& graph, const TacticOptions& options);

// Sets Node::backend of every layer with more than one candidate; returns how many layers it decided.
int select_tactics(Graph& graph, TimingCache& cache, const TacticOptions& options,
                   const std::function<void(const std::string&)>& log);

}  // namespace octet
