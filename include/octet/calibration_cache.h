// Calibration caches in TensorRT's text format, plus octet's fingerprint sidecar.
//
//   TRT-8601-EntropyCalibration2
//   input: 3c010204
//   conv1_out: 3d8a1b2c
//
// Each line after the header is "<tensor name>: <hex>", the hex being the
// big-endian bits of the float32 scale (= amax / 127). The fingerprint of the
// network and calibration settings lives in "<cache>.octet.json", which
// TensorRT never reads (see docs/calibration_cache.md).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "octet/calibrator.h"

namespace octet {

struct CalibrationCache {
  std::string trt_version = "8601";  // the number in the header, kept as read
  std::string algorithm;             // e.g. "EntropyCalibration2", kept as read
  std::vector<std::pair<std::string, float>> scales;  // tensor name -> scale, in file order

  const float* find(const std::string& tensor) const;
};

// Text in TensorRT's format.
std::string serialize_calibration_cache(const CalibrationCache& cache);
// Throws octet::Error naming `origin` and the line for an unknown header, a
// missing colon, bad hex, a duplicate tensor or a truncated file.
CalibrationCache parse_calibration_cache(std::string_view text, const std::string& origin);

// What a cache was made from: a stale cache (another network, other settings) is refused.
struct CacheFingerprint {
  std::string network;   // hex digest of the network (Graph::fingerprint)
  std::string settings;  // e.g. "algo=EntropyCalibration2;percentile=99.99;data=...;batches=16"
};
std::string serialize_fingerprint(const CacheFingerprint& fp);  // the sidecar's JSON
CacheFingerprint parse_fingerprint(std::string_view json, const std::string& origin);
std::string fingerprint_sidecar_path(const std::string& cache_path);  // "<cache>.octet.json"

// Writes `content` to `path` atomically (temporary file in the same folder, then rename).
void write_file_atomically(const std::string& path, std::string_view content);

}  // namespace octet
