#include "octet/device.h"

#include "octet/error.h"
#include "runtime/device_runner.h"

namespace octet {

const char* device_name(Device device) { return device == Device::kCuda ? "cuda" : "cpu"; }

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::kCpu;
  if (name == "cuda" || name == "gpu") return Device::kCuda;
  throw Error("unknown device '" + name + "' (expected cpu or cuda)");
}

#ifndef OCTET_HAVE_CUDA
// This build has no CUDA backend (configured without nvcc, or -DOCTET_CUDA=OFF).
namespace {
constexpr const char* kNoCudaBackend =
    "this octet was built without the CUDA backend (configure where nvcc is found, with -DOCTET_CUDA=ON)";
}

bool built_with_cuda() { return false; }
std::string why_no_cuda_device() { return kNoCudaBackend; }
std::string cuda_device_target() { throw Error(kNoCudaBackend); }
std::unique_ptr<GpuRunner> make_cuda_runner(const Executor&) { throw Error(kNoCudaBackend); }
#endif

}  // namespace octet
