#include "octet/kernel.h"

#include <cstring>
#include <set>
#include <utility>

#include "kernels/onednn/onednn_kernels.h"
#include "kernels/reference/reference_kernels.h"
#include "kernels/x86/x86_kernels.h"
#ifdef OCTET_HAVE_CUDA
#include "kernels/cuda/cuda_kernels.h"
#endif

namespace octet {

const Tensor& KernelContext::input(size_t i) const {
  if (!has_input(i)) fail("required input " + std::to_string(i) + " is missing");
  return *inputs[i];
}

Tensor& KernelContext::make_output(size_t i, DType dtype, Shape shape, bool zero_filled) {
  if (i >= outputs.size()) fail("has no output " + std::to_string(i));
  Tensor placed = allocator ? allocator->allocate(i, dtype, shape) : Tensor();
  if (placed.empty()) placed = Tensor::uninitialized(dtype, std::move(shape));
  // Most reference kernels accumulate into their outputs.
  if (zero_filled) std::memset(placed.raw(), 0, placed.nbytes());
  outputs[i] = std::move(placed);
  return outputs[i];
}

void KernelContext::unsupported(const std::string& what) const {
  throw UnsupportedError(node.describe() + ": " + what);
}

void KernelContext::fail(const std::string& what) const {
  throw Error(node.describe() + ": " + what);
}

bool node_has_input(const Node& node, size_t index) {
  return index < node.inputs.size() && !node.inputs[index].empty();
}

const Tensor* constant_input(const Node& node, const Graph& graph, size_t index) {
  if (!node_has_input(node, index)) return nullptr;
  auto it = graph.initializers.find(node.inputs[index]);
  return it == graph.initializers.end() ? nullptr : &it->second;
}

void run_reference_kernel(KernelContext& ctx) {
  const KernelDef* def = KernelRegistry::global().find(ctx.node.domain, ctx.node.op_type, ctx.opset, "reference");
  if (!def || !def->fn) ctx.unsupported("no reference " + ctx.node.op_type + " kernel to fall back on");
  def->fn(ctx);
}

KernelRegistry& KernelRegistry::global() {
  static KernelRegistry* registry = [] {
    auto* r = new KernelRegistry;
    register_reference_kernels(*r);
    register_onednn_kernels(*r);
    register_x86_kernels(*r);
#ifdef OCTET_HAVE_CUDA
    register_cuda_kernels(*r);
#endif
    return r;
  }();
  return *registry;
}

void KernelRegistry::add(KernelDef def) { defs_.push_back(std::move(def)); }

const KernelDef* KernelRegistry::find(const std::string& domain, const std::string& op_type,
                                      int64_t opset, const std::string& backend) const {
  const std::string d = domain == "ai.onnx" ? "" : domain;
  for (const auto& k : defs_)
    if (k.op_type == op_type && k.domain == d && k.backend == backend &&
        opset >= k.since_version && opset <= k.end_version)
      return &k;
  return nullptr;
}

namespace {
class StatelessKernel : public PreparedKernel {
 public:
  explicit StatelessKernel(KernelFn fn) : fn_(std::move(fn)) {}
  void run(KernelContext& ctx) const override { fn_(ctx); }

 private:
  KernelFn fn_;
};
}  // namespace

std::unique_ptr<PreparedKernel> stateless_kernel(KernelFn fn) { return std::make_unique<StatelessKernel>(std::move(fn)); }

std::unique_ptr<PreparedKernel> KernelDef::bind(const Node& node, const Graph& graph) const {
  if (prepare) return prepare(node, graph);
  return stateless_kernel(fn);
}

std::vector<const KernelDef*> KernelRegistry::candidates(const std::string& domain, const std::string& op_type,
                                                         int64_t opset, Device device) const {
  const std::string d = domain == "ai.onnx" ? "" : domain;
  std::vector<const KernelDef*> found;
  for (const auto& k : defs_)
    if (k.op_type == op_type && k.domain == d && k.device == device && opset >= k.since_version &&
        opset <= k.end_version)
      found.push_back(&k);
  return found;
}

std::vector<std::string> KernelRegistry::op_types(const std::string& backend) const {
  std::set<std::string> s;
  for (const auto& k : defs_)
    if (k.backend == backend) s.insert(k.op_type);
  return {s.begin(), s.end()};
}

}  // namespace octet
