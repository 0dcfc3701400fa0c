// Shared by the CUDA kernel tests: the GPU skip (support/gpu_skip.h) and device
// buffers that free themselves.
#pragma once
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "support/gpu_skip.h"

namespace octet::cuda::testing {

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
