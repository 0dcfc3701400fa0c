// Engines of the committed sample models, for runtime tests that need a real network.
#pragma once
#include <random>
#include <string>

#include "octet/builder.h"
#include "octet/calibration_data.h"
#include "octet/npy.h"
#include "octet/onnx_importer.h"
#include "support/temp_dir.h"

namespace octet::testing {

inline std::string sample_model(const std::string& name) {
  return std::string(OCTET_SOURCE_DIR) + "/models/" + name + ".onnx";
}

// Seeded uniform noise in [-1, 2) of any shape.
inline Tensor random_input(const Shape& shape, uint32_t seed) {
  Tensor t(DType::kFloat32, shape);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 2.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

// N x 1 x 28 x 28 noise (the input of every sample model).
inline Tensor random_images(int64_t n, uint32_t seed) { return random_input({n, 1, 28, 28}, seed); }

// `network` built as an INT8 engine for `device`, calibrated (entropy2, batches of 16) on `calibration`.
inline Engine build_int8_engine(const Graph& network, const Tensor& calibration, Device device = Device::kCpu) {
  TempDir dir;
  write_npy(dir.file("calib.npy"), calibration);
  CalibrationDataOptions options;
  options.batch_size = 16;
  options.progress = false;
  auto calibrator = make_calibrator(CalibrationAlgoType::kENTROPY_CALIBRATION_2,
                                    open_npy_source(dir.file("calib.npy")), options, "");
  BuilderConfig config;
  config.int8 = true;
  config.device = device;
  config.calibrator = calibrator.get();
  return build_engine(network, config);
}

// The sample model built as an INT8 engine for `device`, calibrated on `images` random images.
inline Engine build_int8_sample_engine(const std::string& name, int64_t images, Device device = Device::kCpu) {
  return build_int8_engine(import_onnx_file(sample_model(name)), random_images(images, 1), device);
}

}  // namespace octet::testing
