// The "x86" backend: octet's own CPU kernels for layers the library primitives
// run poorly, each compiled for AVX-512, AVX2 and baseline x86-64 and picked at
// load time. Kernel selection times them against the other backends per layer.
#pragma once
#include "octet/kernel.h"

namespace octet {

// small_channel_conv.cpp: channels-last FP32 Conv / FusedConv (relu, clip) of inputs with <= 4 channels.
void register_x86_kernels(KernelRegistry& r);

}  // namespace octet
