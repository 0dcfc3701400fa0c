// Shared by the CUDA tests: skip (with the reason) where no CUDA device runs, as on
// CI, and device buffers that free themselves.
#pragma once
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_check.h"

namespace octet::cuda::testing {

// Empty when a CUDA device can run octet's kernels, else why not.
inline std::string why_no_cuda_device() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) return std::string("no CUDA device (") + cudaGetErrorString(status) + ")";
  if (count == 0) return "no CUDA device";
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return "cannot read the CUDA device's properties";
  if (prop.major != 9) return std::string("octet's CUDA kernels are built for sm_90 (Hopper); device 0 is ") + prop.name;
  return "";
}

#define OCTET_SKIP_WITHOUT_CUDA_DEVICE()                                                   \
  do {                                                                                     \
    const std::string octet_why_ = ::octet::cuda::testing::why_no_cuda_device();           \
    if (!octet_why_.empty()) GTEST_SKIP() << "GPU test skipped: " << octet_why_;           \
  } while (0)

// A device copy of a host vector, freed on destruction.
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t count) : count_(count) { OCTET_CUDA_CHECK(cudaMalloc(&ptr_, bytes() ? bytes() : 1)); }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) {
    OCTET_CUDA_CHECK(cudaMemcpy(ptr_, host.data(), bytes(), cudaMemcpyHostToDevice));
  }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const { return ptr_; }
  size_t bytes() const { return count_ * sizeof(T); }
  // Waits for the device, then copies back.
  std::vector<T> to_host() const {
    std::vector<T> host(count_);
    OCTET_CUDA_CHECK(cudaDeviceSynchronize());
    OCTET_CUDA_CHECK(cudaMemcpy(host.data(), ptr_, bytes(), cudaMemcpyDeviceToHost));
    return host;
  }
  // Fills every byte with `byte` (poison before a kernel writes, to catch unwritten outputs).
  void fill_bytes(int byte) { OCTET_CUDA_CHECK(cudaMemset(ptr_, byte, bytes())); }

 private:
  T* ptr_ = nullptr;
  size_t count_;
};

}  // namespace octet::cuda::testing
