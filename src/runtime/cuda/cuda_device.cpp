// The CUDA device octet runs on (device 0) and the plan target it records.
#include <cuda_runtime.h>

#include "kernels/cuda/cuda_check.h"
#include "octet/device.h"

namespace octet {

bool built_with_cuda() { return true; }

std::string why_no_cuda_device() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) return std::string("no CUDA device (") + cudaGetErrorString(status) + ")";
  if (count == 0) return "no CUDA device";
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return "cannot read CUDA device 0's properties";
  // The kernels are built for sm_90a only (cmake/cuda.cmake): wgmma and TMA.
  if (prop.major != 9 || prop.minor != 0)
    return std::string("octet's CUDA kernels are built for sm_90 (H100, H200); device 0 is ") + prop.name + " (sm_" +
           std::to_string(prop.major) + std::to_string(prop.minor) + ")";
  return "";
}

std::string cuda_device_target() {
  const std::string why = why_no_cuda_device();
  if (!why.empty()) throw Error(why);
  cudaDeviceProp prop{};
  OCTET_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  return "cuda:sm_" + std::to_string(prop.major) + std::to_string(prop.minor);
}

}  // namespace octet
