// A built engine: the optimised (and, for INT8, quantized) network with the
// scale of every INT8 tensor, ready to run, and serialisable as a plan file
// (layout: docs/plan_format.md).
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "octet/device.h"
#include "octet/execution_context.h"
#include "octet/executor.h"
#include "octet/graph.h"

namespace octet {

struct EngineInfo {
  std::string precision = "fp32";     // "fp32", "fp16" (GPU engines) or "int8"
  std::string calibration;            // e.g. "MSECalibration", "explicit (Q/DQ)", "" for FP32
  std::string network_fingerprint;    // Graph::fingerprint() of the source network
  OptimizationProfile profile;        // the input shapes it was built for (empty: any)
  int64_t sub_batch = 0;              // its contexts run larger batches in sub-batches of this many samples (0: whole)
  Device device = Device::kCpu;       // where it runs; the plan's target records the CPU or GPU architecture
};

class Engine {
 public:
  Engine(Graph graph, std::map<std::string, float> scales, EngineInfo info);

  const Graph& graph() const { return graph_; }
  // Scale of every INT8 tensor (real = q * scale), by tensor name.
  const std::map<std::string, float>& scales() const { return scales_; }
  const EngineInfo& info() const { return info_; }
  // "int8" for layers running an INT8 kernel or passing INT8 tensors through, "bf16"
  // for FP32 layers on a BF16 kernel (BuilderConfig::bf16), "fp16" for an FP16 GPU
  // engine's layers (float16 weights or outputs), else "fp32".
  std::string layer_precision(const Node& node) const;

  std::string serialize() const;
  // Throws octet::Error naming `origin` for a truncated, corrupt, foreign or
  // other-version plan.
  static Engine deserialize(std::string_view bytes, const std::string& origin);
  void save(const std::string& path) const;  // atomic: temporary file, then rename
  static Engine load(const std::string& path);

  // An executor over this engine's network, with kernels bound anew (it shares the weights).
  Executor make_executor() const { return Executor(graph_, "reference", info_.profile); }
  // A context to run this engine on one thread. All contexts of an engine (and
  // of its copies) share one executor, bound on first use: its kernels, weights
  // and prepared primitives; each owns its activation memory.
  ExecutionContext create_execution_context() const;

 private:
  struct SharedExecutor {
    std::once_flag bound;
    std::shared_ptr<const Executor> executor;
  };

  Graph graph_;
  std::map<std::string, float> scales_;
  EngineInfo info_;
  std::shared_ptr<SharedExecutor> shared_executor_ = std::make_shared<SharedExecutor>();
};

// True when `path` starts with the plan file magic.
bool is_plan_file(const std::string& path);

}  // namespace octet
