// Where an engine runs: the CPU, or an NVIDIA GPU through the CUDA backend
// (`--device cuda`, as TensorRT engines run on the GPU they were built on).
#pragma once
#include <string>

namespace octet {

enum class Device { kCpu, kCuda };

// "cpu" / "cuda".
const char* device_name(Device device);
// Parses "cpu" or "cuda"; throws octet::Error naming the other spellings.
Device parse_device(const std::string& name);
// Whether this build of octet has the CUDA backend.
bool built_with_cuda();
// Empty when a CUDA device can run this build's CUDA kernels (sm_90), else why not.
std::string why_no_cuda_device();
// The plan target of CUDA device 0, "cuda:sm_MAJORMINOR" (e.g. "cuda:sm_90"); throws
// octet::Error saying why_no_cuda_device() when there is none.
std::string cuda_device_target();

}  // namespace octet
