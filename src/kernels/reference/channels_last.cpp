#include "kernels/reference/channels_last.h"

#include <string>
#include <utility>

#include "kernels/reference/strided_copy.h"

namespace octet::reference {
namespace {

void run_channels_last(const KernelFn& nchw_kernel, KernelContext& ctx) {
  for (size_t i = 1; i < ctx.node.outputs.size(); ++i)
    if (!ctx.node.outputs[i].empty())
      ctx.fail("a channels-last (layout " + std::string(kChannelsLast) + ") node has output 0 only, but output " +
               std::to_string(i) + " is used");
  std::vector<const Tensor*> inputs = ctx.inputs;
  const std::vector<size_t> activation_inputs = channels_last_inputs(ctx.node);
  std::vector<Tensor> nchw_inputs;
  nchw_inputs.reserve(activation_inputs.size());  // `inputs` points into it
  for (size_t i : activation_inputs) {
    if (!ctx.has_input(i)) continue;
    const Tensor& x = ctx.input(i);
    if (x.rank() != 4)
      ctx.fail("channels-last (layout " + std::string(kChannelsLast) + ") input " + std::to_string(i) +
               " must be 4-D [N, H, W, C], got " + shape_str(x.shape()));
    inputs[i] = &nchw_inputs.emplace_back(permuted(x, kNhwcToNchw));
  }
  // The NCHW result is a temporary on the heap; only the channels-last output takes the caller's memory.
  KernelContext nchw{ctx.node, ctx.opset, std::move(inputs), std::vector<Tensor>(ctx.outputs.size())};
  nchw_kernel(nchw);
  const Tensor& y = nchw.outputs.at(0);
  copy_permuted(y, kNchwToNhwc,
                ctx.make_output(0, y.dtype(), permuted_shape(y.shape(), kNchwToNhwc), /*zero_filled=*/false));
}

}  // namespace

KernelFn with_channels_last(KernelFn nchw_kernel) {
  return [nchw_kernel = std::move(nchw_kernel)](KernelContext& ctx) {
    if (!ctx.node.channels_last()) return nchw_kernel(ctx);
    run_channels_last(nchw_kernel, ctx);
  };
}

}  // namespace octet::reference
