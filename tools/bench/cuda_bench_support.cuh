// Helpers of the CUDA benchmarks (tools/bench/cuda_*.cu): device arrays, seeded
// random int8 data filled on the GPU, and median event timings.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/event_timing.h"
#include "octet/error.h"

namespace octet::bench {

// Parses `--flag value` pairs into the integers `flags` points to; an unknown flag
// or a missing value throws, naming the flags there are.
inline void parse_int_flags(int argc, char** argv, const std::map<std::string, int64_t*>& flags) {
  std::string known;
  for (const auto& [name, value] : flags) known += " " + name;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto it = flags.find(flag);
    if (it == flags.end()) throw Error("unknown option " + flag + " (options:" + known + ")");
    if (i + 1 >= argc) throw Error("missing value after " + flag);
    *it->second = std::atoll(argv[++i]);
  }
}

template <class T>
struct DeviceArray {
  T* ptr = nullptr;
  explicit DeviceArray(size_t count) { OCTET_CUDA_CHECK(cudaMalloc(&ptr, std::max<size_t>(count, 1) * sizeof(T))); }
  ~DeviceArray() { cudaFree(ptr); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
};

template <class T>
std::vector<T> to_host(const T* device, size_t count) {
  std::vector<T> host(count);
  OCTET_CUDA_CHECK(cudaMemcpy(host.data(), device, count * sizeof(T), cudaMemcpyDeviceToHost));
  return host;
}

// Pseudo-random int8 in [-127, 127] from a hash of (seed, index): fast to fill on the GPU.
__global__ void fill_random_int8(int8_t* data, size_t count, uint64_t seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count; i += size_t(gridDim.x) * blockDim.x) {
    uint64_t z = seed + i * 0x9E3779B97F4A7C15ull;  // splitmix64
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    data[i] = static_cast<int8_t>(static_cast<int>(z % 255) - 127);
  }
}

// Median milliseconds of run(set) over `iters` runs after `warmup`, alternating input sets.
inline double median_ms(const std::function<void(int)>& run, int sets, int iters, int warmup, cudaStream_t stream) {
  for (int i = 0; i < warmup; ++i) run(i % sets);
  return cuda::median_launch_ms([&](int i) { run(i % sets); }, iters, stream);
}

}  // namespace octet::bench
