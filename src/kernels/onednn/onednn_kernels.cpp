#include "kernels/onednn/onednn_kernels.h"

#include "kernels/onednn/onednn_extra_kernels.h"

namespace octet {

void register_onednn_kernels(KernelRegistry& r) {
  register_onednn_conv_kernels(r);
  register_onednn_dense_kernels(r);
  register_onednn_pool_kernels(r);
  register_onednn_eltwise_kernels(r);
  register_onednn_transpose_kernels(r);
}

}  // namespace octet
