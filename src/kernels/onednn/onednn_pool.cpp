// MaxPool and AveragePool over 4-D NCHW tensors on oneDNN's pooling_v2 primitive
// (which takes dilations); GlobalAveragePool and GlobalMaxPool as a threaded loop. The geometry (pads,
// auto_pad, ceil_mode, output size) is worked out exactly as the reference does
// (spatial.h); ceil_mode's partial windows become extra padding on the right,
// which max pooling and average pooling without the padding count ignore.
//
// Preparers decline what they cannot map from the attributes alone (MaxPool's
// Indices output, other than 2 spatial dims of kernel_shape, AveragePool with
// count_include_pad and ceil_mode); what only shows at run time (an input dtype
// or rank the primitive does not take) runs the node's reference kernel instead.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/onednn/onednn_extra_kernels.h"
#include "kernels/onednn/onednn_runtime.h"
#include "kernels/reference/spatial.h"
#include "octet/parallel.h"

namespace octet {
namespace {

using dnnl::memory;

enum class PoolKind { kMax, kAverage, kGlobalAverage, kGlobalMax };

bool is_global(PoolKind kind) { return kind == PoolKind::kGlobalAverage || kind == PoolKind::kGlobalMax; }

// Whether int8 / uint8 activations are pooled in NHWC (reordered there and back):
// oneDNN's integer pooling is JIT-compiled for channels-last layouts only, its
// float pooling also for NCHW. See the report in tests/kernels/onednn/pool_test.cpp.
bool pool_in_nhwc(DType dtype) {
  if (const char* forced = std::getenv("OCTET_ONEDNN_POOL_NHWC")) return std::strcmp(forced, "1") == 0;
  return dtype != DType::kFloat32;
}

class PoolKernel : public PreparedKernel {
 public:
  PoolKernel(PoolKind kind, const Node& node) : kind_(kind), op_type_(node.op_type) {
    include_padding_ = kind == PoolKind::kAverage && node.attr_int("count_include_pad", 0) != 0;
  }

  void run(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (!handles(x.dtype()) || (is_global(kind_) ? x.rank() < 3 : x.rank() != 4)) return run_reference(ctx);
    spatial::Window window;
    Shape output_spatial;
    if (is_global(kind_)) return run_global(ctx);
    const Shape input_spatial{x.dim(2), x.dim(3)};
    {
      const Shape kernel = ctx.node.attr_ints("kernel_shape");
      if (kernel.size() != 2)
        ctx.fail("kernel_shape " + shape_str(kernel) + " must have one value per spatial dim of X " +
                 shape_str(x.shape()));
      window = spatial::read_window(ctx, kernel);
      output_spatial = spatial::sliding_output_shape(ctx, window, spatial::read_auto_pad(ctx), input_spatial,
                                                     ctx.node.attr_int("ceil_mode", 0) != 0);
      for (size_t d = 0; d < 2; ++d)
        if (window.pads_begin[d] >= window.extent(d) || window.pads_end[d] >= window.extent(d))
          ctx.fail("pads must be smaller than the window in every dim, got pads " +
                   shape_str(ctx.node.attr_ints("pads")) + " for kernel_shape " + shape_str(kernel));
    }
    Tensor& y = ctx.make_output(0, x.dtype(), {x.dim(0), x.dim(1), output_spatial[0], output_spatial[1]},
                                /*zero_filled=*/false);
    if (x.numel() == 0 || y.numel() == 0) return;
    // oneDNN sizes outputs rounding down: ceil_mode's last, partial window gets the right padding it
    // needs (which average pooling counting the padding would count: declined when preparing).
    for (size_t d = 0; d < 2; ++d) {
      const int64_t span = input_spatial[d] + window.pads_begin[d] + window.pads_end[d] - window.extent(d);
      if (span / window.strides[d] + 1 != output_spatial[d])
        window.pads_end[d] = (output_spatial[d] - 1) * window.strides[d] + window.extent(d) - input_spatial[d] -
                             window.pads_begin[d];
    }

    const std::vector<int64_t> key{x.dim(0),
                                   x.dim(1),
                                   x.dim(2),
                                   x.dim(3),
                                   window.pads_begin[0],
                                   window.pads_begin[1],
                                   window.pads_end[0],
                                   window.pads_end[1],
                                   static_cast<int64_t>(x.dtype()),
                                   onednn::adopt_thread_count()};
    const auto plan = plans_.get(key, [&] { return make_plan(x, window, output_spatial); });
    if (!plan->nhwc) {
      onednn::execute(plan->pool, {{DNNL_ARG_SRC, onednn::wrap(plan->src, x.raw())},
                                   {DNNL_ARG_DST, onednn::wrap(plan->dst, y.raw())}});
      return;
    }
    const memory src_nhwc = onednn::wrap(plan->pool_src, onednn::thread_buffer(onednn::Buffer::kSource,
                                                                                 plan->pool_src.get_size()));
    const memory dst_nhwc = onednn::wrap(plan->pool_dst, onednn::thread_buffer(onednn::Buffer::kDestination,
                                                                                 plan->pool_dst.get_size()));
    onednn::execute(plan->to_nhwc, {{DNNL_ARG_FROM, onednn::wrap(plan->src, x.raw())}, {DNNL_ARG_TO, src_nhwc}});
    onednn::execute(plan->pool, {{DNNL_ARG_SRC, src_nhwc}, {DNNL_ARG_DST, dst_nhwc}});
    onednn::execute(plan->to_nchw, {{DNNL_ARG_FROM, dst_nhwc}, {DNNL_ARG_TO, onednn::wrap(plan->dst, y.raw())}});
  }

 private:
  struct Plan {
    bool nhwc = false;
    onednn::Step pool, to_nhwc, to_nchw;
    memory::desc src, dst;            // NCHW, the executor's layout
    memory::desc pool_src, pool_dst;  // what the pooling runs on
  };

  bool handles(DType dtype) const {
    switch (kind_) {
      case PoolKind::kMax: return dtype == DType::kFloat32 || dtype == DType::kInt8 || dtype == DType::kUInt8;
      case PoolKind::kGlobalMax: return dtype == DType::kFloat32 || dtype == DType::kInt8;
      default: return dtype == DType::kFloat32;
    }
  }

  // The global pools are a pass over memory with a few adds per element: oneDNN's NCHW pooling
  // runs them slower than the reference loop (tests/kernels/onednn/pool_test.cpp times both), so
  // they are that loop, summing in the same order (bit-identical results), split over the threads.
  void run_global(KernelContext& ctx) const {
    const Tensor& x = ctx.input(0);
    const int64_t planes = x.dim(0) * x.dim(1);
    const int64_t plane_size = shape_numel(Shape(x.shape().begin() + 2, x.shape().end()));
    if (plane_size == 0) ctx.fail("X " + shape_str(x.shape()) + " has empty spatial dims");
    Shape out_shape(x.shape().size(), 1);
    out_shape[0] = x.dim(0);
    out_shape[1] = x.dim(1);
    Tensor& y = ctx.make_output(0, x.dtype(), out_shape, /*zero_filled=*/false);
    if (planes == 0) return;
    auto pool = [&](auto* out, const auto* in, auto reduce) {
      parallel_for(planes, [&](int64_t begin, int64_t end) {
        for (int64_t p = begin; p < end; ++p) out[p] = reduce(in + p * plane_size);
      });
    };
    if (kind_ == PoolKind::kGlobalAverage) {
      const float n = static_cast<float>(plane_size);
      return pool(y.data<float>(), x.data<float>(), [&](const float* v) {
        float sum = 0.0f;
        for (int64_t i = 0; i < plane_size; ++i) sum += v[i];
        return sum / n;
      });
    }
    auto max_of = [&](const auto* v) { return *std::max_element(v, v + plane_size); };
    if (x.dtype() == DType::kInt8) return pool(y.data<int8_t>(), x.data<int8_t>(), max_of);
    pool(y.data<float>(), x.data<float>(), max_of);
  }

  void run_reference(KernelContext& ctx) const {
    const KernelDef* def = KernelRegistry::global().find("", op_type_, ctx.opset, "reference");
    if (!def || !def->fn) ctx.unsupported("no reference " + op_type_ + " kernel to fall back on");
    def->fn(ctx);
  }

  Plan make_plan(const Tensor& x, const spatial::Window& w, const Shape& output_spatial) const {
    using tag = memory::format_tag;
    const memory::data_type dt = onednn::data_type(x.dtype() == DType::kUInt8 ? DType::kInt8 : x.dtype());
    const memory::data_type type = x.dtype() == DType::kUInt8 ? memory::data_type::u8 : dt;
    const memory::dims src_dims{x.dim(0), x.dim(1), x.dim(2), x.dim(3)};
    const memory::dims dst_dims{x.dim(0), x.dim(1), output_spatial[0], output_spatial[1]};
    Plan plan;
    plan.nhwc = pool_in_nhwc(x.dtype());
    plan.src = memory::desc(src_dims, type, tag::nchw);
    plan.dst = memory::desc(dst_dims, type, tag::nchw);
    plan.pool_src = plan.nhwc ? memory::desc(src_dims, type, tag::nhwc) : plan.src;
    plan.pool_dst = plan.nhwc ? memory::desc(dst_dims, type, tag::nhwc) : plan.dst;
    const dnnl::algorithm algorithm = kind_ == PoolKind::kMax || kind_ == PoolKind::kGlobalMax
                                          ? dnnl::algorithm::pooling_max
                                      : include_padding_ ? dnnl::algorithm::pooling_avg_include_padding
                                                         : dnnl::algorithm::pooling_avg_exclude_padding;
    const dnnl::pooling_v2_forward::desc desc(dnnl::prop_kind::forward_inference, algorithm, plan.pool_src,
                                              plan.pool_dst, {w.strides[0], w.strides[1]},
                                              {w.kernel[0], w.kernel[1]},
                                              {w.dilations[0] - 1, w.dilations[1] - 1},  // oneDNN's count from 0
                                              {w.pads_begin[0], w.pads_begin[1]}, {w.pads_end[0], w.pads_end[1]});
    const dnnl::pooling_v2_forward::primitive_desc pd(desc, onednn::base_attr(), onednn::engine());
    if (std::getenv("OCTET_ONEDNN_VERBOSE_POOL"))
      std::fprintf(stderr, "onednn %s: %s\n", op_type_.c_str(), pd.impl_info_str());
    plan.pool = onednn::make_step<dnnl::pooling_v2_forward>(pd);
    if (plan.nhwc) {
      plan.to_nhwc = onednn::make_reorder(plan.src, plan.pool_src);
      plan.to_nchw = onednn::make_reorder(plan.pool_dst, plan.dst);
    }
    return plan;
  }

  PoolKind kind_;
  std::string op_type_;
  bool include_padding_ = false;
  onednn::PlanCache<Plan> plans_;
};

std::unique_ptr<PreparedKernel> prepare_pool(PoolKind kind, const Node& node) {
  if (node.outputs.size() > 1 && !node.outputs[1].empty()) return nullptr;  // MaxPool's Indices
  if (!is_global(kind)) {
    if (node.attr_ints("kernel_shape", {}).size() != 2) return nullptr;
    if (kind == PoolKind::kAverage && node.attr_int("count_include_pad", 0) != 0 &&
        node.attr_int("ceil_mode", 0) != 0)
      return nullptr;
  }
  return std::make_unique<PoolKernel>(kind, node);
}

}  // namespace

void register_onednn_pool_kernels(KernelRegistry& r) {
  // MaxPool takes int8 from opset 12 and dilations from 10; opset 8 added storage_order (ignored
  // without the Indices output), 10 ceil_mode and 11 the pads check, the same handling throughout.
  r.add(KernelDef{"MaxPool", "", 1, 17, "onednn", {}, [](const Node& n, const Graph&) {
                    return prepare_pool(PoolKind::kMax, n);
                  }});
  r.add(KernelDef{"AveragePool", "", 1, 17, "onednn", {}, [](const Node& n, const Graph&) {
                    return prepare_pool(PoolKind::kAverage, n);
                  }});
  r.add(KernelDef{"GlobalAveragePool", "", 1, 17, "onednn", {}, [](const Node& n, const Graph&) {
                    return prepare_pool(PoolKind::kGlobalAverage, n);
                  }});
  r.add(KernelDef{"GlobalMaxPool", "", 1, 17, "onednn", {}, [](const Node& n, const Graph&) {
                    return prepare_pool(PoolKind::kGlobalMax, n);
                  }});
}

}  // namespace octet
