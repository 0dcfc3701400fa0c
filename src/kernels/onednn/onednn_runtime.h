// What the onednn kernels share: the CPU engine, running primitives from any
// thread with octet's thread count, per-thread temporaries, constant operands
// reordered once per layout, primitives made once per input shape, and the
// attributes that give a primitive octet's INT8 output stage.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "kernels/reference/int8/int8_kernels.h"
#include "octet/kernel.h"

namespace octet::onednn {

const dnnl::engine& engine();

// Makes oneDNN's parallel regions started from the calling thread use
// octet::num_threads() threads, and returns that count. With the OpenMP runtime
// the count is a per-thread setting (so octet::set_num_threads, called on one
// thread, cannot set it for the others) and primitives are generated for the
// count current when they are made: kernels call this before making and before
// running primitives, and key their primitives by it.
// A call whose `work` is below `serial_below` runs on one thread (returns 1):
// starting and joining a parallel region costs microseconds, more than a tiny
// layer gains from a second thread.
int adopt_thread_count(int64_t work, int64_t serial_below);
// Work sizes for adopt_thread_count: multiply-adds of a conv or matmul, elements
// moved by pooling and reorders. On the 28x28 MobileNetV2-like sample at batch 1
// (INT8, 2 threads) `octet bench PLAN --batch 1 --threads 2` gave a median of
// 0.087 ms with every layer parallel (the revision before 7274ad5) and 0.054 ms
// with these thresholds (7274ad5).
inline constexpr int64_t kSerialMultiplyAdds = int64_t{1} << 20;
inline constexpr int64_t kSerialElements = int64_t{1} << 16;

// True when oneDNN's INT8 primitives compute exact int32 sums on this CPU. Without
// VNNI (or AMX) they halve the weights to dodge vpmaddubsw's int16 saturation,
// which breaks the bit-exact INT8 contract, so the INT8 kernels decline.
bool exact_int8_products();
// True when this CPU multiplies BF16 in hardware (avx512_bf16 or AMX); oneDNN
// emulates BF16 elsewhere, slower than FP32, so the BF16 kernels decline there.
bool native_bf16();

// Attributes of every primitive: the caller provides the scratchpad, so one
// primitive may run on several threads at once.
dnnl::primitive_attr base_attr();
// Attributes computing octet's INT8 output stage (docs/int8_kernels.md) from the
// int32 accumulator plus bias: per-channel multipliers as oneDNN output scales on
// dst dim `channel_dim`, then the activation as a clip post-op.
dnnl::primitive_attr requantizer_attr(const int8::Requantizer& rq, int channel_dim);

dnnl::memory::data_type data_type(DType dtype);

// Where a node's 4-D activations keep their channels: NCHW, or [N, H, W, C] for a
// channels-last node (Node::channels_last()). oneDNN's dims stay logical
// {N, C, H, W} either way; the format tag says how they lie in memory.
class ActivationLayout {
 public:
  explicit ActivationLayout(bool channels_last = false) : channels_last_(channels_last) {}
  bool channels_last() const { return channels_last_; }
  dnnl::memory::format_tag tag() const {
    return channels_last_ ? dnnl::memory::format_tag::nhwc : dnnl::memory::format_tag::nchw;
  }
  int channel_axis() const { return channels_last_ ? 3 : 1; }
  // The logical {N, C, H, W} of a 4-D tensor's shape.
  dnnl::memory::dims logical_dims(const Shape& shape) const;
  // The tensor shape of logical dims {N, C, H, W}.
  Shape shape_of(const dnnl::memory::dims& logical) const;
  // How an error names the shape a tensor must have, e.g. "[N, 64, H, W]".
  std::string expected_shape(const std::string& channels) const;

 private:
  bool channels_last_;
};

// Memory of layout `md` over `data`, which the caller keeps alive.
dnnl::memory wrap(const dnnl::memory::desc& md, const void* data);

// One primitive and the scratchpad it needs.
struct Step {
  dnnl::primitive primitive;
  dnnl::memory::desc scratchpad;
};
template <class Primitive>
Step make_step(const typename Primitive::primitive_desc& pd) {
  return Step{Primitive(pd), pd.scratchpad_desc()};
}
// A reorder from `from` to `to`.
Step make_reorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to);


// Executes `step` on the calling thread's stream and waits for it.
void execute(const Step& step, std::unordered_map<int, dnnl::memory> args);

// A constant operand (weights, bias) in the layouts primitives ask for: each
// layout is made (reordered) once, on first request, and kept.
class Constant {
 public:
  Constant(Tensor data, dnnl::memory::desc plain);
  dnnl::memory in_layout(const dnnl::memory::desc& wanted) const;

 private:
  Tensor data_;
  dnnl::memory::desc plain_;
  mutable std::mutex mu_;
  mutable std::vector<std::pair<dnnl::memory::desc, dnnl::memory>> layouts_;
};

// The primitives of one node, made on first use for each key (the input shape
// and thread count they are made for) and shared by concurrent runs.
template <class Plan>
class PlanCache {
 public:
  std::shared_ptr<const Plan> get(const std::vector<int64_t>& key, const std::function<Plan()>& make) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = plans_.find(key);
    if (it == plans_.end()) it = plans_.emplace(key, std::make_shared<const Plan>(make())).first;
    return it->second;
  }

 private:
  mutable std::mutex mu_;
  mutable std::map<std::vector<int64_t>, std::shared_ptr<const Plan>> plans_;
};


}  // namespace octet::onednn
