#include "calibration/calibrate.h"

#include <optional>

#include "calibration/amax_algorithms.h"
#include "calibration/tensor_statistics.h"
#include "octet/executor.h"

namespace octet {

std::map<std::string, float> calibrate_scales(const Graph& network, IInt8Calibrator& calibrator,
                                              const std::function<void(const std::string&)>& log,
                                              const CalibrationRunner& runner) {
  if (network.inputs.size() != 1 || network.inputs[0].dtype != DType::kFloat32)
    throw Error("calibration supports networks with exactly one float32 input");
  const ValueInfo& input = network.inputs[0];
  const int batch = calibrator.getBatchSize();
  if (batch <= 0) throw Error("calibrator's batch size must be positive, got " + std::to_string(batch));
  const Shape shape = input.shape_at_batch(batch);
  if (!shape.empty() && shape[0] != batch)
    throw Error("input '" + input.name + "' has a fixed batch of " + std::to_string(shape[0]) +
                " but the calibrator's batch size is " + std::to_string(batch));

  if (auto* samples = dynamic_cast<const ICalibrationSampleShape*>(&calibrator)) {
    const std::optional<Shape> sample = samples->calibration_sample_shape();
    const Shape per_sample = shape.empty() ? Shape{} : Shape(shape.begin() + 1, shape.end());
    if (sample && *sample != per_sample)
      throw Error(samples->describe_calibration_data() + ": calibration samples have shape " + shape_str(*sample) +
                  " but input '" + input.name + "' is " + input.shape_str());
  }

  std::optional<Executor> cpu;
  CalibrationRunner run = runner;
  if (!run) {
    cpu.emplace(network);
    run = [&](const TensorMap& inputs, const ValueObserver& observer) { cpu->run(inputs, observer); };
  }
  std::map<std::string, TensorStatistics> stats;
  auto observe = [&](const std::string& name, const Tensor& t) {
    if (t.dtype() == DType::kFloat32) stats[name].add(t.data<float>(), t.numel());
  };
  Tensor binding(DType::kFloat32, shape);
  void* bindings[] = {binding.raw()};
  const char* names[] = {input.name.c_str()};
  int batches = 0;
  while (calibrator.getBatch(bindings, names, 1)) {
    observe(input.name, binding);
    run({{input.name, binding}}, observe);
    ++batches;
  }
  if (batches == 0)
    throw Error("the calibrator returned no batch: nothing to calibrate from (give calibration data, or a valid cache)");

  const CalibrationAlgoType algo = calibrator.getAlgorithm();
  double percentile = 99.99;
  if (auto* p = dynamic_cast<IInt8PercentileCalibrator*>(&calibrator)) percentile = p->getPercentile();
  std::map<std::string, float> scales;
  for (const auto& [name, s] : stats) {
    const float amax = compute_amax(s, algo, percentile);
    // An all-zero tensor quantizes exactly with any scale; keep it finite and positive.
    scales[name] = amax > 0 ? amax / 127.0f : 1.0f / 127.0f;
  }
  log("calibrated " + std::to_string(scales.size()) + " tensors over " + std::to_string(batches) + " batches of " +
      std::to_string(batch) + " (" + std::string(calibration_algo_name(algo)) + ")");
  return scales;
}

}  // namespace octet
