// A fresh temporary folder per test, removed afterwards.
#pragma once
#include <filesystem>
#include <random>
#include <string>

namespace octet::testing {

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("octet-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline const std::string kOnnxTestData = "/usr/share/libonnx-testdata/data";
inline std::string onnx_node_case(const std::string& name) { return kOnnxTestData + "/node/" + name; }

}  // namespace octet::testing
