// Runs the FP32 network over the calibrator's batches and turns the collected
// statistics into one scale per tensor (amax / 127).
#pragma once
#include <functional>
#include <map>
#include <string>

#include "octet/calibrator.h"
#include "octet/graph.h"

namespace octet {

// Every float tensor the network computes (and its input) gets a scale. Throws
// octet::Error when the calibrator yields no batch or batches of the wrong shape.
std::map<std::string, float> calibrate_scales(const Graph& network, IInt8Calibrator& calibrator,
                                              const std::function<void(const std::string&)>& log);

}  // namespace octet
