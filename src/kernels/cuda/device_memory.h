// Device and pinned host allocations as shared_ptr owners (what Tensor::view keeps
// alive), freed when the last holder lets go.
#pragma once
#include <cuda_runtime.h>

#include <memory>

#include "kernels/cuda/cuda_check.h"

namespace octet::cuda {

inline std::shared_ptr<void> device_alloc(size_t bytes) {
  void* p = nullptr;
  OCTET_CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1));
  return std::shared_ptr<void>(p, [](void* q) { cudaFree(q); });
}

inline std::shared_ptr<void> pinned_alloc(size_t bytes) {
  void* p = nullptr;
  OCTET_CUDA_CHECK(cudaMallocHost(&p, bytes ? bytes : 1));
  return std::shared_ptr<void>(p, [](void* q) { cudaFreeHost(q); });
}

// A device copy of a host tensor (weights, at kernel preparation), owning its memory.
template <class T>
std::shared_ptr<T> upload(const T* host, size_t count) {
  std::shared_ptr<void> memory = device_alloc(count * sizeof(T));
  OCTET_CUDA_CHECK(cudaMemcpy(memory.get(), host, count * sizeof(T), cudaMemcpyHostToDevice));
  return std::shared_ptr<T>(memory, static_cast<T*>(memory.get()));
}

}  // namespace octet::cuda
