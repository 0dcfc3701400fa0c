// Graph optimisation passes. The builder runs them on a copy of the network
// before calibration, so calibration and the engine see the optimised FP32
// graph, as TensorRT does (docs/graph_passes.md says what each matches and why
// it is exact). Each pass rewrites the graph in place, keeps it topologically
// sorted and its graph input/output names intact, and returns how many rewrites
// it made.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "octet/graph.h"

namespace octet {

// Evaluates, with the reference kernels, every deterministic node whose inputs
// are all initializers (and Shape of a value whose dims are all static); its
// outputs become initializers. Returns the number of nodes folded.
int fold_constants(Graph& g);

// Folds a BatchNormalization into the Conv (or Gemm with constant B) that is its
// input's only reader. Returns the number of BatchNormalizations folded.
int fold_batch_normalization(Graph& g);

// Removes Identity nodes, their readers reading the Identity's input instead.
// Returns the number removed.
int eliminate_identities(Graph& g);

// Removes nodes none of whose outputs is read or is a graph output. Returns the number removed.
int remove_dead_nodes(Graph& g);

// Removes initializers no node reads and no graph output names. Returns the number removed.
int remove_unused_initializers(Graph& g);

struct ConvFusionCounts {
  int activations = 0;    // Relu, Clip, LeakyRelu, Sigmoid, HardSwish absorbed
  int residual_adds = 0;  // Adds absorbed as FusedConv's residual input
  int max_pools = 0;      // MaxPools absorbed (kernels/pooled_conv.h)
};

// FusedConv's activation attributes ("activation" and clip_min/clip_max or alpha) that
// compute the activation node `act` (Relu, Clip with constant bounds, LeakyRelu,
// Sigmoid, HardSwish), or nullopt for any other node.
std::optional<std::map<std::string, Attribute>> fused_activation_attributes(const Graph& g, const Node& act);

// Conv [+ residual Add] [+ activation] [+ MaxPool] -> one octet.FusedConv (opset 1).
ConvFusionCounts fuse_conv_activations(Graph& g);

// Switches convolutions and pooling with 4-D activations to channels-last (the
// `layout` attribute, Node::channels_last), along with the elementwise nodes and
// channel Concats between them; Transposes convert where values enter and leave
// NHWC, graph inputs and outputs stay NCHW. Returns the number of nodes switched.
// The builder runs it on the finished network, after calibration and quantization.
int convert_to_channels_last(Graph& g);

// GPU engines: Int8Conv -> Int8Add(·, Z) -> one Int8Conv with the residual input Z
// (int8_kernels.h), run on the quantized, channels-last network. Returns the number fused.
int fuse_int8_residual_adds(Graph& g);

// FP16 GPU engines: a Cast to float16 after each float32 graph input and back before
// each float32 graph output, float32 constants of layers that compute in the
// activations' type converted to float16, float32 intermediates declared float16
// (src/passes/float16.cpp). Run on the finished FP32 network. Returns the Casts added.
int convert_to_float16(Graph& g);

struct PassOptions {
  // Conv + activation (+ residual Add, + MaxPool) -> octet.FusedConv. INT8 builds turn it
  // off: the quantizer fuses Conv + Relu/Clip and Add into its INT8 layers
  // itself and does not know FusedConv.
  bool fuse_fp32_activations = true;
};

struct PassStats {
  size_t nodes_before = 0, nodes_after = 0;
  int folded_constants = 0;
  int folded_batchnorms = 0;
  int removed_identities = 0;
  int removed_dead_nodes = 0;
  int removed_initializers = 0;
  ConvFusionCounts fused;

  bool changed() const;
  // "graph passes: 33 -> 20 nodes (folded 3 BatchNorm, fused 16 activations, ...)"
  std::string summary() const;
};

// Runs every pass (fusion as `options` say) until none changes the graph.
PassStats optimize_graph(Graph& g, const PassOptions& options = {});

}  // namespace octet
