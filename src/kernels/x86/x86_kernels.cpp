#include "kernels/x86/x86_kernels.h"

namespace octet {
namespace {

// One backend, one kernel per op: the preparer picks the kernel that fits the node.
std::unique_ptr<PreparedKernel> prepare_conv(const Node& node, const Graph& graph) {
  if (auto kernel = x86::prepare_conv1x1(node, graph)) return kernel;
  return x86::prepare_winograd_conv(node, graph);
}

}  // namespace

void register_x86_kernels(KernelRegistry& r) {
  r.add(KernelDef{"Conv", "", 1, 17, "x86", {}, prepare_conv});
  r.add(KernelDef{"FusedConv", "octet", 1, 1, "x86", {}, prepare_conv});
}

}  // namespace octet
