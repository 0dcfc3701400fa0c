#include "octet/calibration_data.h"
#include "octet/npy.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "octet/error.h"

// stb_image lives only in this file: static functions keep its symbols out of
// liboctet's exports, and only the formats octet promises are compiled in.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_PNM
#define STBI_ONLY_TGA
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

namespace octet {
namespace fs = std::filesystem;
namespace {

// ---------------------------------------------------------------- .npy

// Reads samples straight from the file, one at a time, so memory stays flat
// however large the calibration set is.
class NpySource : public BatchSource {
 public:
  explicit NpySource(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) throw Error(path + ": cannot open file");
    read_header();
  }

  Shape sample_shape() const override { return {shape_[1], shape_[2], shape_[3]}; }
  int64_t size() const override { return shape_[0]; }
  void read_sample(int64_t index, float* dst) override {
    const auto sample_bytes = static_cast<std::streamsize>(shape_numel(sample_shape()) * sizeof(float));
    in_.seekg(data_offset_ + index * sample_bytes);
    if (!in_.read(reinterpret_cast<char*>(dst), sample_bytes))
      throw Error(path_ + ": cannot read sample " + std::to_string(index));
  }
  std::string describe() const override { return path_; }

 private:
  void read_header() {
    const NpyHeader h = read_npy_header(path_);
    shape_ = h.shape;
    data_offset_ = h.data_offset;
    if (h.dtype != DType::kFloat32 || shape_.size() != 4)
      throw Error(path_ + ": calibration data must be float32 N x C x H x W, found " +
                  std::string(dtype_name(h.dtype)) + " " + shape_str(shape_));
  }

  std::string path_;
  std::ifstream in_;
  Shape shape_;
  int64_t data_offset_ = 0;
};

// ---------------------------------------------------------------- images

constexpr std::array<std::string_view, 8> kImageExtensions = {".png", ".jpg", ".jpeg", ".bmp",
                                                              ".pgm", ".ppm", ".tga", ".pnm"};

std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool has_image_extension(const fs::path& p) {
  const std::string ext = lowercase(p.extension().string());
  return std::find(kImageExtensions.begin(), kImageExtensions.end(), ext) != kImageExtensions.end();
}

std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(first, last - first + 1));
}

std::vector<std::string> images_in_folder(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file() && has_image_extension(entry.path())) files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  if (files.empty())
    throw Error(dir + ": folder holds no images (looked for .png .jpg .jpeg .bmp .pgm .ppm .pnm .tga)");
  return files;
}

std::vector<std::string> images_in_list(const std::string& list_path) {
  std::ifstream in(list_path);
  if (!in) throw Error(list_path + ": cannot open image list");
  const fs::path base = fs::path(list_path).parent_path();
  std::vector<std::string> files;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    const std::string entry = trim(line);
    if (entry.empty() || entry[0] == '#') continue;
    const fs::path p = fs::path(entry).is_absolute() ? fs::path(entry) : base / entry;
    // Checked now, not when the image is decoded, so a typo fails before a long calibration.
    if (!fs::is_regular_file(p))
      throw Error(list_path + ":" + std::to_string(line_no) + ": no such image file '" + p.string() + "'");
    files.push_back(p.string());
  }
  if (files.empty()) throw Error(list_path + ": image list names no images");
  return files;
}

// Bilinear with half-pixel centres and clamped edges, as cv2.resize(INTER_LINEAR)
// and torch's interpolate(align_corners=False) do, so Python preprocessing matches.
struct LinearTap {
  int lo, hi;
  float frac;  // weight of `hi`
};
std::vector<LinearTap> linear_taps(int in_size, int out_size) {
  std::vector<LinearTap> taps(out_size);
  const float ratio = static_cast<float>(in_size) / static_cast<float>(out_size);
  for (int o = 0; o < out_size; ++o) {
    const float src = std::max((static_cast<float>(o) + 0.5f) * ratio - 0.5f, 0.0f);
    const int lo = std::min(static_cast<int>(src), in_size - 1);
    taps[o] = {lo, std::min(lo + 1, in_size - 1), src - static_cast<float>(lo)};
  }
  return taps;
}

// Decodes one image per read_sample call: only the file list stays in memory.
class ImageSource : public BatchSource {
 public:
  ImageSource(std::string origin, std::vector<std::string> files, const ImagePreprocess& pp)
      : origin_(std::move(origin)), files_(std::move(files)), pp_(pp) {
    if (pp_.height == 0 || pp_.width == 0 || pp_.channels == 0) fill_unset_from_first_image();
    if (pp_.channels != 1 && pp_.channels != 3)
      throw Error(origin_ + ": images can be read with 1 or 3 channels, not " + std::to_string(pp_.channels));
    if (pp_.channel_order != "RGB" && pp_.channel_order != "BGR")
      throw Error(origin_ + ": channel order must be RGB or BGR, not '" + pp_.channel_order + "'");
    if (pp_.height < 1 || pp_.width < 1)
      throw Error(origin_ + ": bad image size " + std::to_string(pp_.height) + "x" + std::to_string(pp_.width));
    for (const auto* values : {&pp_.mean, &pp_.std})
      if (values->size() != 1 && values->size() != static_cast<size_t>(pp_.channels))
        throw Error(origin_ + ": preprocessing gives " + std::to_string(values->size()) +
                    " mean/std values for " + std::to_string(pp_.channels) + " channels (give 1 or one per channel)");
  }

  Shape sample_shape() const override { return {pp_.channels, pp_.height, pp_.width}; }
  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  std::string describe() const override {
    return origin_ + " (" + std::to_string(files_.size()) + " images)";
  }

  void read_sample(int64_t index, float* dst) override {
    const std::string& path = files_.at(static_cast<size_t>(index));
    int w = 0, h = 0, n = 0;
    std::unique_ptr<stbi_uc, void (*)(void*)> pixels(stbi_load(path.c_str(), &w, &h, &n, 0), stbi_image_free);
    if (!pixels) throw Error(path + ": cannot decode image (" + stbi_failure_reason() + ")");
    const std::vector<float> planes = to_planes(pixels.get(), w, h, n);
    resize_and_normalize(planes, w, h, dst);
  }

 private:
  // Header-only look at the first image; every image is then resized to its size.
  void fill_unset_from_first_image() {
    int w = 0, h = 0, n = 0;
    if (!stbi_info(files_.front().c_str(), &w, &h, &n))
      throw Error(files_.front() + ": cannot decode image (" + stbi_failure_reason() + ")");
    if (pp_.height == 0) pp_.height = h;
    if (pp_.width == 0) pp_.width = w;
    if (pp_.channels == 0) pp_.channels = n >= 3 ? 3 : 1;
  }

  // Interleaved 8-bit pixels (1-4 channels, alpha ignored) -> pp_.channels float planes in the requested order.
  std::vector<float> to_planes(const stbi_uc* pixels, int w, int h, int n) const {
    const size_t plane = static_cast<size_t>(w) * h;
    std::vector<float> planes(plane * pp_.channels);
    const bool colour = n >= 3;
    const bool bgr = pp_.channel_order == "BGR";
    for (size_t i = 0; i < plane; ++i) {
      const stbi_uc* px = pixels + i * n;
      const float r = px[0], g = colour ? px[1] : px[0], b = colour ? px[2] : px[0];
      if (pp_.channels == 1) {
        planes[i] = colour ? 0.299f * r + 0.587f * g + 0.114f * b : r;
      } else {
        planes[i] = bgr ? b : r;
        planes[plane + i] = g;
        planes[2 * plane + i] = bgr ? r : b;
      }
    }
    return planes;
  }

  void resize_and_normalize(const std::vector<float>& planes, int in_w, int in_h, float* dst) const {
    const std::vector<LinearTap> xs = linear_taps(in_w, pp_.width), ys = linear_taps(in_h, pp_.height);
    for (int c = 0; c < pp_.channels; ++c) {
      const float* src = planes.data() + static_cast<size_t>(c) * in_w * in_h;
      const float mean = pp_.mean.size() == 1 ? pp_.mean[0] : pp_.mean[c];
      const float stddev = pp_.std.size() == 1 ? pp_.std[0] : pp_.std[c];
      for (const LinearTap& y : ys) {
        const float* row_lo = src + static_cast<size_t>(y.lo) * in_w;
        const float* row_hi = src + static_cast<size_t>(y.hi) * in_w;
        for (const LinearTap& x : xs) {
          const float top = row_lo[x.lo] + (row_lo[x.hi] - row_lo[x.lo]) * x.frac;
          const float bottom = row_hi[x.lo] + (row_hi[x.hi] - row_hi[x.lo]) * x.frac;
          const float pixel = top + (bottom - top) * y.frac;
          *dst++ = (pixel * pp_.scale - mean) / stddev;
        }
      }
    }
  }

  std::string origin_;
  std::vector<std::string> files_;
  ImagePreprocess pp_;
};

// ---------------------------------------------------------------- --calib-preprocess

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t end; (end = s.find(sep, start)) != std::string::npos; start = end + 1)
    parts.push_back(s.substr(start, end - start));
  parts.push_back(s.substr(start));
  return parts;
}

template <class T>
T parse_number(const std::string& text, const std::string& item) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    throw Error("--calib-preprocess '" + item + "': '" + text + "' is not a number");
  return value;
}

std::vector<float> parse_channel_values(const std::string& text, const std::string& item) {
  std::vector<float> values;
  for (const std::string& part : split(text, ':')) values.push_back(parse_number<float>(trim(part), item));
  return values;
}

}  // namespace

ImagePreprocess parse_image_preprocess(const std::string& spec) {
  ImagePreprocess pp;
  for (const std::string& raw_item : split(spec, ',')) {
    const std::string item = trim(raw_item);
    if (item.empty()) continue;  // tolerates "" and a trailing comma
    const auto eq = item.find('=');
    if (eq == std::string::npos) throw Error("--calib-preprocess '" + item + "': expected key=value");
    const std::string key = trim(item.substr(0, eq)), value = trim(item.substr(eq + 1));
    if (key == "resize") {
      const auto x = lowercase(value).find('x');
      if (x == std::string::npos) throw Error("--calib-preprocess '" + item + "': expected resize=HEIGHTxWIDTH");
      pp.height = parse_number<int>(value.substr(0, x), item);
      pp.width = parse_number<int>(value.substr(x + 1), item);
      if (pp.height < 1 || pp.width < 1) throw Error("--calib-preprocess '" + item + "': sizes must be positive");
    } else if (key == "channels") {
      pp.channels = parse_number<int>(value, item);
      if (pp.channels != 1 && pp.channels != 3) throw Error("--calib-preprocess '" + item + "': channels must be 1 or 3");
    } else if (key == "order") {
      pp.channel_order = value;
      if (value != "RGB" && value != "BGR") throw Error("--calib-preprocess '" + item + "': order must be RGB or BGR");
    } else if (key == "scale") {
      pp.scale = parse_number<float>(value, item);
    } else if (key == "mean") {
      pp.mean = parse_channel_values(value, item);
    } else if (key == "std") {
      pp.std = parse_channel_values(value, item);
      if (std::find(pp.std.begin(), pp.std.end(), 0.0f) != pp.std.end())
        throw Error("--calib-preprocess '" + item + "': std must not be 0");
    } else {
      throw Error("--calib-preprocess '" + item + "': unknown key '" + key +
                  "' (known: resize, channels, order, scale, mean, std)");
    }
  }
  return pp;
}

std::unique_ptr<BatchSource> open_npy_source(const std::string& path) { return std::make_unique<NpySource>(path); }

std::unique_ptr<BatchSource> open_image_source(const std::string& list_or_dir, const ImagePreprocess& pp) {
  std::vector<std::string> files =
      fs::is_directory(list_or_dir) ? images_in_folder(list_or_dir) : images_in_list(list_or_dir);
  return std::make_unique<ImageSource>(list_or_dir, std::move(files), pp);
}

std::unique_ptr<BatchSource> open_calibration_data(const std::string& path, const ImagePreprocess& pp) {
  if (!fs::exists(path)) throw Error(path + ": calibration data not found");
  if (lowercase(fs::path(path).extension().string()) == ".npy") return open_npy_source(path);
  return open_image_source(path, pp);
}

}  // namespace octet
