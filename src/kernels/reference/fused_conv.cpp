// octet.FusedConv (opset 1): what the FP32 fusion pass makes of Conv followed by
// an activation, optionally with a residual Add in between, and optionally a
// MaxPool after it (docs/graph_passes.md):
//   Y = [MaxPool](activation(Conv(X, W, B) + residual))
// The convolution is the reference Conv; the residual add and the activation are
// applied afterwards in one pass over Y, with the same float operations as the
// separate Add and activation kernels, so fused and unfused graphs agree bit for bit.
#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/fused_activation.h"
#include "kernels/pooled_conv.h"
#include "kernels/reference/channels_last.h"
#include "kernels/reference/conv_core.h"
#include "kernels/reference/dense.h"
#include "kernels/reference/reference_kernels.h"
#include "octet/parallel.h"

namespace octet {
namespace {

// NaN-propagating like the activation kernels (std::max(NaN, 0) is NaN).
template <class T>
T activate(T x, const FusedActivation& e) {
  switch (e.kind) {
    case FusedActivation::kNone: return x;
    case FusedActivation::kRelu: return std::max(x, T{0});
    case FusedActivation::kClip: return std::min(std::max(x, static_cast<T>(e.lo)), static_cast<T>(e.hi));
    case FusedActivation::kLeakyRelu: return x < T{0} ? static_cast<T>(e.alpha * x) : x;
    case FusedActivation::kSigmoid: return T{1} / (T{1} + std::exp(-x));
    case FusedActivation::kHardSwish:
      return x * std::min(std::max(x * static_cast<T>(1.0 / 6.0) + static_cast<T>(0.5), T{0}), T{1});
  }
  return x;
}

template <class T>
void apply_epilogue(Tensor& y, const Tensor* residual, const FusedActivation& e) {
  T* out = y.data<T>();
  const T* z = residual ? residual->data<T>() : nullptr;
  parallel_for(y.numel(), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = activate(z ? out[i] + z[i] : out[i], e);
  });
}

void fused_conv_kernel(KernelContext& ctx) {
  const FusedActivation epilogue = read_fused_activation(ctx.node);
  reference::conv_forward(ctx);
  Tensor& y = ctx.outputs[0];
  const Tensor* residual = ctx.has_input(3) ? &ctx.input(3) : nullptr;
  if (residual && (residual->dtype() != y.dtype() || residual->shape() != y.shape()))
    ctx.fail("residual " + std::string(dtype_name(residual->dtype())) + shape_str(residual->shape()) +
             " must have the output's dtype and shape, " + std::string(dtype_name(y.dtype())) + shape_str(y.shape()));
  dense::dispatch_dtype<DType::kFloat32, DType::kFloat64>(
      ctx, y.dtype(), [&](auto t) { apply_epilogue<decltype(t)>(y, residual, epilogue); });
  if (!has_fused_max_pool(ctx.node)) return;
  // Then the reference MaxPool over the finished values, in ONNX's layout as this kernel's.
  Node pool_node = split_fused_max_pool(ctx.node).second;
  pool_node.attributes.erase(kLayoutAttribute);
  const Tensor unpooled = std::move(y);
  KernelContext pool{pool_node, kPooledConvMaxPoolOpset, {&unpooled}, std::vector<Tensor>(1), ctx.allocator};
  run_reference_kernel(pool);
  ctx.outputs[0] = std::move(pool.outputs[0]);
}

}  // namespace

void register_fused_conv_kernels(KernelRegistry& r) {
  // Activations: X and the residual Z.
  r.add(KernelDef{"FusedConv", "octet", 1, 1, "reference", reference::with_channels_last(fused_conv_kernel)});
}

}  // namespace octet
