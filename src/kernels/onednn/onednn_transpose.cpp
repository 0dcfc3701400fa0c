// Transpose between NCHW and NHWC (perm [0, 2, 3, 1] or [0, 3, 1, 2]) of 4-D
// float32, int8 and uint8 tensors, as one oneDNN reorder (abcd <-> acdb) over the
// logical dims {N, C, H, W}: what the layout pass puts at the edges of a
// channels-last region. Other perms are declined; other ranks and dtypes run the
// reference Transpose.
#include <string>
#include <vector>

#include "kernels/onednn/onednn_extra_kernels.h"
#include "kernels/onednn/onednn_runtime.h"
#include "kernels/reference/strided_copy.h"

namespace octet {
namespace {

using dnnl::memory;

class NchwNhwcTransposeKernel : public PreparedKernel {
 public:
  explicit NchwNhwcTransposeKernel(bool to_channels_last)
      : from_(!to_channels_last), to_(to_channels_last), perm_(to_channels_last ? kNchwToNhwc : kNhwcToNchw) {}

  void run(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const DType dtype = x.dtype();
    // Other dtypes and ranks, and permutations that move no data (one channel, 1x1 pixels: a view), are the reference's.
    if (x.rank() != 4 || (dtype != DType::kFloat32 && dtype != DType::kInt8 && dtype != DType::kUInt8) ||
        permutation_keeps_data_order(x.shape(), perm_))
      return run_reference_kernel(ctx);
    const memory::dims dims = from_.logical_dims(x.shape());  // {N, C, H, W}
    Tensor& y = ctx.make_output(0, dtype, to_.shape_of(dims), /*zero_filled=*/false);
    if (y.numel() == 0) return;
    std::vector<int64_t> key(dims.begin(), dims.end());
    key.push_back(static_cast<int64_t>(dtype));
    key.push_back(onednn::adopt_thread_count(x.numel(), onednn::kSerialElements));
    const auto plan = plans_.get(key, [&] {
      const memory::data_type type = onednn::data_type(dtype);
      const memory::desc from(dims, type, from_.tag()), to(dims, type, to_.tag());
      return Plan{onednn::make_reorder(from, to), from, to};
    });
    onednn::execute(plan->reorder, {{DNNL_ARG_FROM, onednn::wrap(plan->from, x.raw())},
                                    {DNNL_ARG_TO, onednn::wrap(plan->to, y.raw())}});
  }

 private:
  struct Plan {
    onednn::Step reorder;
    memory::desc from, to;
  };

  onednn::ActivationLayout from_, to_;
  std::vector<int64_t> perm_;
  onednn::PlanCache<Plan> plans_;
};

std::unique_ptr<PreparedKernel> prepare_transpose(const Node& node, const Graph&) {
  const std::vector<int64_t> perm = node.attr_ints("perm");
  if (perm == kNchwToNhwc) return std::make_unique<NchwNhwcTransposeKernel>(true);
  if (perm == kNhwcToNchw) return std::make_unique<NchwNhwcTransposeKernel>(false);
  return nullptr;
}

}  // namespace

void register_onednn_transpose_kernels(KernelRegistry& r) {
  r.add(KernelDef{"Transpose", "", 1, 17, "onednn", {}, prepare_transpose});
}

}  // namespace octet
