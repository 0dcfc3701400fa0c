// Timing GPU work with CUDA events: what Int8Conv's tactic selection and the CUDA
// benchmarks (tools/bench) measure with.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "kernels/cuda/cuda_check.h"

namespace octet::cuda {

// The median milliseconds of `runs` calls of launch(i), i = 0, 1, ..., each between
// two events on `stream` and waited for (so not inside a stream capture).
inline float median_launch_ms(const std::function<void(int)>& launch, int runs, cudaStream_t stream) {
  cudaEvent_t start = nullptr, stop = nullptr;
  OCTET_CUDA_CHECK(cudaEventCreate(&start));
  std::vector<float> times;
  try {
    OCTET_CUDA_CHECK(cudaEventCreate(&stop));
    for (int i = 0; i < runs; ++i) {
      OCTET_CUDA_CHECK(cudaEventRecord(start, stream));
      launch(i);
      OCTET_CUDA_CHECK(cudaEventRecord(stop, stream));
      OCTET_CUDA_CHECK(cudaEventSynchronize(stop));
      times.push_back(0);
      OCTET_CUDA_CHECK(cudaEventElapsedTime(&times.back(), start, stop));
    }
  } catch (...) {
    cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    throw;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
}

}  // namespace octet::cuda
