// Calibration data that users do not have to load by hand: a preprocessed .npy
// file, or images (PNG, JPEG, BMP, ...) listed in a text file or found in a folder.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "octet/calibrator.h"

namespace octet {

// How images become network input: decode, convert to `channels` (1 = gray,
// 3 = colour in `channel_order`), resize to height x width (bilinear), then
// x = (pixel * scale - mean[c]) / std[c], laid out C x H x W.
struct ImagePreprocess {
  int height = 0, width = 0;            // 0: take from the model's input shape
  int channels = 0;                     // 0: take from the model's input shape
  std::string channel_order = "RGB";    // or "BGR"
  float scale = 1.0f / 255.0f;
  std::vector<float> mean = {0.0f};     // one value, or one per channel
  std::vector<float> std = {1.0f};
};

// Parses the --calib-preprocess syntax, comma-separated key=value pairs:
//   "resize=28x28,channels=1,order=RGB,scale=0.00392157,mean=0.286,std=0.353"
//   (mean/std take one value or values separated by ':' per channel, e.g. mean=0.485:0.456:0.406).
// Throws octet::Error naming the bad item.
ImagePreprocess parse_image_preprocess(const std::string& spec);

// A .npy file holding float32 N x C x H x W, already preprocessed.
std::unique_ptr<BatchSource> open_npy_source(const std::string& path);
// A list file (one image path per line, relative to the list's folder, '#' comments)
// or a folder (every image file in it, sorted by name).
std::unique_ptr<BatchSource> open_image_source(const std::string& list_or_dir, const ImagePreprocess& pp);
// Chooses by the path: *.npy, a folder, or otherwise a list file.
std::unique_ptr<BatchSource> open_calibration_data(const std::string& path, const ImagePreprocess& pp);

}  // namespace octet
