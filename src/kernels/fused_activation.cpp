#include "kernels/fused_activation.h"

#include <string>

#include "octet/error.h"
#include "octet/graph.h"

namespace octet {

FusedActivation read_fused_activation(const Node& node) {
  const std::string name = node.attr_string("activation", "none");
  FusedActivation a;
  if (name == "none") a.kind = FusedActivation::kNone;
  else if (name == "relu") a.kind = FusedActivation::kRelu;
  else if (name == "clip") a.kind = FusedActivation::kClip;
  else if (name == "leaky_relu") a.kind = FusedActivation::kLeakyRelu;
  else if (name == "sigmoid") a.kind = FusedActivation::kSigmoid;
  else if (name == "hard_swish") a.kind = FusedActivation::kHardSwish;
  else throw Error(node.describe() + ": unknown activation '" + name + "'");
  a.lo = node.attr_float("clip_min", a.lo);
  a.hi = node.attr_float("clip_max", a.hi);
  a.alpha = node.attr_float("alpha", a.alpha);
  return a;
}

}  // namespace octet
