#include "kernels/onednn/onednn_runtime.h"

#include "kernels/workspace.h"

#include <cstdlib>
#include <limits>

#if DNNL_CPU_RUNTIME == DNNL_RUNTIME_OMP
#include <omp.h>
#elif DNNL_CPU_RUNTIME != DNNL_RUNTIME_SEQ
#error "the onednn backend sets oneDNN's thread count for the OpenMP and sequential runtimes only"
#endif

#include "octet/parallel.h"

namespace octet::onednn {

const dnnl::engine& engine() {
  static const dnnl::engine cpu(dnnl::engine::kind::cpu, 0);
  return cpu;
}

int adopt_thread_count(int64_t work, int64_t serial_below) {
  const int threads = work < serial_below ? 1 : num_threads();
#if DNNL_CPU_RUNTIME == DNNL_RUNTIME_OMP
  if (omp_get_max_threads() != threads) omp_set_num_threads(threads);
#endif
  return threads;
}

bool exact_int8_products() {
  using dnnl::cpu_isa;
  const cpu_isa isa = dnnl::get_effective_cpu_isa();
  return isa == cpu_isa::avx512_core_vnni || isa == cpu_isa::avx512_core_bf16 ||
         isa == cpu_isa::avx512_core_amx || isa == cpu_isa::avx2_vnni;
}

bool native_bf16() {
  using dnnl::cpu_isa;
  const cpu_isa isa = dnnl::get_effective_cpu_isa();
  return isa == cpu_isa::avx512_core_bf16 || isa == cpu_isa::avx512_core_amx;
}

dnnl::primitive_attr base_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::primitive_attr requantizer_attr(const int8::Requantizer& rq, int channel_dim) {
  dnnl::primitive_attr attr = base_attr();
  attr.set_output_scales(1 << channel_dim, rq.multipliers);
  dnnl::post_ops ops;
  if (rq.output_dtype == DType::kInt8) {
    // oneDNN rounds half to even and saturates when it stores int8; clamping to the
    // integer bounds [lo, hi] before rounding equals clamping after it.
    if (rq.lo > int8::kMin || rq.hi < int8::kMax)
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, static_cast<float>(rq.lo), static_cast<float>(rq.hi));
  } else if (rq.activation.kind == int8::Activation::kRelu) {
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  } else if (rq.activation.kind == int8::Activation::kClip) {
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, rq.activation.clip_min, rq.activation.clip_max);
  }
  attr.set_post_ops(ops);
  return attr;
}

dnnl::memory::data_type data_type(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return dnnl::memory::data_type::f32;
    case DType::kInt8: return dnnl::memory::data_type::s8;
    case DType::kUInt8: return dnnl::memory::data_type::u8;
    case DType::kInt32: return dnnl::memory::data_type::s32;
    case DType::kBFloat16: return dnnl::memory::data_type::bf16;
    default: throw Error("onednn: no oneDNN data type for " + std::string(dtype_name(dtype)));
  }
}

dnnl::memory::dims ActivationLayout::logical_dims(const Shape& shape) const {
  if (channels_last_) return {shape[0], shape[3], shape[1], shape[2]};
  return {shape[0], shape[1], shape[2], shape[3]};
}

Shape ActivationLayout::shape_of(const dnnl::memory::dims& logical) const {
  if (channels_last_) return {logical[0], logical[2], logical[3], logical[1]};
  return {logical[0], logical[1], logical[2], logical[3]};
}

std::string ActivationLayout::expected_shape(const std::string& channels) const {
  return channels_last_ ? "[N, H, W, " + channels + "]" : "[N, " + channels + ", H, W]";
}

dnnl::memory wrap(const dnnl::memory::desc& md, const void* data) {
  // oneDNN takes a mutable handle; inputs are only read.
  return dnnl::memory(md, engine(), const_cast<void*>(data));
}

Step make_reorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to) {
  return make_step<dnnl::reorder>(dnnl::reorder::primitive_desc(engine(), from, engine(), to, base_attr()));
}


void execute(const Step& step, std::unordered_map<int, dnnl::memory> args) {
  thread_local dnnl::stream stream(engine());
  if (const size_t bytes = step.scratchpad.get_size())
    args.emplace(DNNL_ARG_SCRATCHPAD, wrap(step.scratchpad, workspace::buffer(workspace::Slot::kPrimitive, bytes)));
  step.primitive.execute(stream, args);
  stream.wait();
}

Constant::Constant(Tensor data, dnnl::memory::desc plain) : data_(std::move(data)), plain_(std::move(plain)) {}

dnnl::memory Constant::in_layout(const dnnl::memory::desc& wanted) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [md, memory] : layouts_)
    if (md == wanted) return memory;
  dnnl::memory memory = wrap(plain_, data_.raw());
  if (wanted != plain_) {
    dnnl::memory reordered(wanted, engine());  // allocated and owned by oneDNN
    execute(make_reorder(plain_, wanted), {{DNNL_ARG_FROM, memory}, {DNNL_ARG_TO, reordered}});
    memory = reordered;
  }
  layouts_.emplace_back(wanted, memory);
  return memory;
}

}  // namespace octet::onednn
