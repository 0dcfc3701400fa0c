// Every CUDA runtime call octet makes goes through OCTET_CUDA_CHECK: a failure
// throws octet::Error naming the call, the file and line, and CUDA's message.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "octet/error.h"

namespace octet::cuda {

[[noreturn]] inline void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line) {
  throw Error(std::string("CUDA error in ") + call + " (" + file + ":" + std::to_string(line) +
              "): " + cudaGetErrorName(status) + ": " + cudaGetErrorString(status));
}

}  // namespace octet::cuda

#define OCTET_CUDA_CHECK(call)                                                          \
  do {                                                                                  \
    const cudaError_t octet_cuda_status_ = (call);                                      \
    if (octet_cuda_status_ != cudaSuccess)                                              \
      ::octet::cuda::throw_cuda_error(octet_cuda_status_, #call, __FILE__, __LINE__);   \
  } while (0)

// After a kernel launch: the launch's own error (bad configuration, no device code for this GPU).
#define OCTET_CUDA_CHECK_LAUNCH() OCTET_CUDA_CHECK(cudaGetLastError())
