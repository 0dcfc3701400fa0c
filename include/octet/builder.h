// Builds an Engine from a network: FP32 as imported, or INT8 with calibration
// (or the network's own Q/DQ scales), the way TensorRT's builder does.
#pragma once
#include <functional>
#include <set>
#include <string>

#include "octet/calibrator.h"
#include "octet/engine.h"

namespace octet {

enum class PrecisionConstraints { kNone, kPrefer, kObey };

struct BuilderConfig {
  // Where the engine runs (`--device`): the CPU, or the GPU (CUDA backend).
  Device device = Device::kCpu;
  bool int8 = false;
  // Reduced-precision permissions, as TensorRT's FP16 / BF16 flags: layers may run a
  // BF16 kernel where kernel selection finds it faster (never layers kept FP32 by a
  // constraint). FP16 finds no kernel on CPUs: octet has no FP16 arithmetic there; a
  // GPU engine built without INT8 then computes in FP16 throughout (convert_to_float16).
  bool bf16 = false;
  bool fp16 = false;
  // Supplies batches (and the cache); required for INT8 unless the network
  // carries its own Q/DQ scales.
  IInt8Calibrator* calibrator = nullptr;
  // Where the calibrator's cache lives, for octet's fingerprint sidecar (empty: none).
  std::string calibration_cache_path;
  // Text describing the calibration data and settings, fingerprinted with the
  // cache; empty when the build has no calibration data (it relies on the cache).
  std::string calibration_settings;
  // Use a cache even when its fingerprint says it was made for another network/settings.
  bool force_calibration_cache = false;
  // Per-layer precision constraints (node names), as TensorRT's ILayer::setPrecision:
  std::set<std::string> fp32_layers;  // stay FP32
  std::set<std::string> int8_layers;  // run INT8 (an INT8 build)
  // How they bind, as TensorRT's precision-constraint flags: kPrefer builds a layer
  // that cannot run INT8 in FP32 and logs why; kObey fails naming it; kNone ignores
  // both sets. FP32 constraints can always be met.
  PrecisionConstraints precision_constraints = PrecisionConstraints::kPrefer;
  // Kernel selection: time every backend's kernel per layer and keep the fastest.
  bool select_kernels = true;
  int64_t kernel_timing_batch = 1;  // batch size layers are timed at, without a profile
  // TensorRT's optimisation profile: the input shapes the engine accepts; layers
  // are timed at the opt shapes. Empty: any shape, timed at kernel_timing_batch.
  OptimizationProfile profile;
  std::string timing_cache_path;    // read if present, written after the build (empty: none)
  // TensorRT's workspace memory-pool limit: kernel selection passes over kernels whose
  // per-run scratch (summed over threads) exceeds it; 0: no limit.
  size_t workspace_limit = 0;
  // Sub-batches (src/builder/sub_batch.h): -1 times the sizes with kernel selection
  // and keeps the fastest (whole batches without kernel selection); 0 runs every
  // batch whole; N > 0 runs larger batches in sub-batches of N samples.
  int64_t sub_batch = -1;
  // Progress and decisions ("valid calibration cache found: skipping calibration").
  std::function<void(const std::string&)> log = [](const std::string&) {};
};

Engine build_engine(const Graph& network, const BuilderConfig& config);

}  // namespace octet
