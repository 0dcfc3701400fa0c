// Runs the FP32 network over the calibrator's batches and turns the collected
// statistics into one scale per tensor (amax / 127).
#pragma once
#include <functional>
#include <map>
#include <string>

#include "octet/calibrator.h"
#include "octet/executor.h"
#include "octet/graph.h"

namespace octet {

// Runs the network on one batch, passing every value it computes to the observer,
// in host memory: the CPU's Executor, or an FP32 GPU engine of the network.
using CalibrationRunner = std::function<void(const TensorMap& inputs, const ValueObserver& observer)>;

// Every float tensor the network computes (and its input) gets a scale. Throws
// octet::Error when the calibrator yields no batch or batches of the wrong shape.
// Runs the network with `runner`, or, when it is empty, with the CPU's reference Executor.
std::map<std::string, float> calibrate_scales(const Graph& network, IInt8Calibrator& calibrator,
                                              const std::function<void(const std::string&)>& log,
                                              const CalibrationRunner& runner = {});

}  // namespace octet
