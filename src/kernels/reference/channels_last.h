// Channels-last nodes (Node::channels_last(), set by the layout pass) on the
// reference backend: the NCHW kernels run unchanged between two transposes. This
// is the executable spec of the layout contract that the onednn kernels meet
// without any transpose.
#pragma once
#include <cstddef>
#include <vector>

#include "octet/kernel.h"

namespace octet::reference {

// `nchw_kernel` extended to channels-last nodes. For such a node its activation
// inputs (channels_last_inputs, those present) must be 4-D [N, H, W, C]; they are
// transposed to NCHW, `nchw_kernel` runs on them, and its output 0 is written
// back as [N, H, W, C] through ctx.make_output. The node must have no other
// output. Other nodes run `nchw_kernel` directly.
KernelFn with_channels_last(KernelFn nchw_kernel);

}  // namespace octet::reference
