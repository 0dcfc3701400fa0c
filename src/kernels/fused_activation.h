// The activation octet.FusedConv applies after its convolution (attributes
// "activation", clip_min / clip_max, alpha; written by fuse_conv_activations), read
// once for every backend: the reference kernel and the CUDA float kernels. Plain
// data, so device code takes it by value.
#pragma once
#include <limits>

namespace octet {

struct Node;

struct FusedActivation {
  enum Kind : int { kNone, kRelu, kClip, kLeakyRelu, kSigmoid, kHardSwish };
  Kind kind = kNone;
  float lo = std::numeric_limits<float>::lowest();  // Clip's bounds
  float hi = std::numeric_limits<float>::max();
  float alpha = 0.01f;                              // LeakyRelu's slope
};

// The node's activation attributes; throws octet::Error naming the node for an unknown one.
FusedActivation read_fused_activation(const Node& node);

}  // namespace octet
