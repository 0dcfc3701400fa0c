// MaxPool and AveragePool over 4-D tensors on oneDNN's pooling_v2 primitive
// (which takes dilations); GlobalAveragePool and GlobalMaxPool as a threaded loop. The geometry (pads,
// auto_pad, ceil_mode, output size) is worked out exactly as the reference does
// (spatial.h); ceil_mode's partial windows become extra padding on the right,
// which max pooling and average pooling without the padding count ignore.
// Tensors are NCHW, or NHWC for a channels-last node, which the pooling runs on as they are.
//
// Preparers decline what they cannot map from the attributes alone (MaxPool's
// Indices output, other than 2 spatial dims of kernel_shape, AveragePool with
// count_include_pad and ceil_mode); what only shows at run time (an input dtype
// or rank the primitive does not take) runs the node's reference kernel instead.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "kernels/onednn/onednn_extra_kernels.h"
#include "kernels/onednn/onednn_runtime.h"
#include "kernels/workspace.h"
#include "kernels/reference/spatial.h"
#include "octet/parallel.h"

namespace octet {
namespace {

using dnnl::memory;

enum class PoolKind { kMax, kAverage, kGlobalAverage, kGlobalMax };

bool is_global(PoolKind kind) { return kind == PoolKind::kGlobalAverage || kind == PoolKind::kGlobalMax; }

// Whether int8 / uint8 NCHW activations are pooled in NHWC (reordered there and back):
// oneDNN's integer pooling is JIT-compiled for channels-last layouts only, its
// float pooling also for NCHW. See the report in tests/kernels/onednn/pool_test.cpp.
bool pool_in_nhwc(DType dtype) {
  if (const char* forced = std::getenv("OCTET_ONEDNN_POOL_NHWC")) return std::strcmp(forced, "1") == 0;
  return dtype != DType::kFloat32;
}

class PoolKernel : public PreparedKernel {
 public:
  PoolKernel(PoolKind kind, const Node& node)
      : kind_(kind), layout_(node.channels_last()) {
    include_padding_ = kind == PoolKind::kAverage && node.attr_int("count_include_pad", 0) != 0;
  }

  void run(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    // The NCHW global pools take any spatial rank; channels-last nodes are 4-D (the reference
    // reports any other rank).
    const bool pooled_rank = is_global(kind_) && !layout_.channels_last() ? x.rank() >= 3 : x.rank() == 4;
    if (!handles(x.dtype()) || !pooled_rank) return run_reference_kernel(ctx);
    spatial::Window window;
    Shape output_spatial;
    if (is_global(kind_)) return layout_.channels_last() ? run_global_channels_last(ctx) : run_global(ctx);
    const memory::dims src_dims = layout_.logical_dims(x.shape());  // {N, C, H, W}
    const Shape input_spatial{src_dims[2], src_dims[3]};
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
    const memory::dims dst_dims{src_dims[0], src_dims[1], output_spatial[0], output_spatial[1]};
    Tensor& y = ctx.make_output(0, x.dtype(), layout_.shape_of(dst_dims), /*zero_filled=*/false);
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
                                   onednn::adopt_thread_count(x.numel(), onednn::kSerialElements)};
    const auto plan = plans_.get(key, [&] { return make_plan(x.dtype(), src_dims, dst_dims, window); });
    const memory src = onednn::wrap(plan->src, x.raw()), dst = onednn::wrap(plan->dst, y.raw());
    if (!plan->to_pool_layout) return onednn::execute(plan->pool, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    const memory pool_src = onednn::wrap(plan->pool_src, workspace::buffer(workspace::Slot::kSource,
                                                                                 plan->pool_src.get_size()));
    const memory pool_dst = onednn::wrap(plan->pool_dst, workspace::buffer(workspace::Slot::kDestination,
                                                                                 plan->pool_dst.get_size()));
    onednn::execute(*plan->to_pool_layout, {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, pool_src}});
    onednn::execute(plan->pool, {{DNNL_ARG_SRC, pool_src}, {DNNL_ARG_DST, pool_dst}});
    onednn::execute(*plan->to_graph_layout, {{DNNL_ARG_FROM, pool_dst}, {DNNL_ARG_TO, dst}});
  }

 private:
  struct Plan {
    onednn::Step pool;
    std::optional<onednn::Step> to_pool_layout, to_graph_layout;  // when the pooling runs in another layout
    memory::desc src, dst;            // the graph's layout
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
    const auto [planes, plane_size, out_shape] = spatial::global_pool_geometry(ctx, x);
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

  // Channels-last: each image's spatial positions in order, each combined into the results of
  // a block of channels; per channel the reference's order (bit-identical), vectorised across them.
  void run_global_channels_last(KernelContext& ctx) const {
    const Tensor& x = ctx.input(0);  // [N, H, W, C]
    const int64_t batch = x.dim(0), positions = x.dim(1) * x.dim(2), channels = x.dim(3);
    if (positions == 0) ctx.fail("X " + shape_str(x.shape()) + " has empty spatial dims");
    Tensor& y = ctx.make_output(0, x.dtype(), {batch, 1, 1, channels}, /*zero_filled=*/false);
    constexpr int64_t kChannelBlock = 256;  // its results (1 KiB of floats) stay in L1 across the positions
    const int64_t blocks = (channels + kChannelBlock - 1) / kChannelBlock;
    // out[n, c] = finish(combine(...combine(start(in[n, 0, c]), in[n, 1, c])..., in[n, P - 1, c]))
    auto pool = [&](auto* out, const auto* in, auto start, auto combine, auto finish) {
      parallel_for(batch * blocks, [&](int64_t begin, int64_t end) {
        for (int64_t unit = begin; unit < end; ++unit) {
          const int64_t n = unit / blocks, first = unit % blocks * kChannelBlock;
          const int64_t count = std::min(kChannelBlock, channels - first);
          const auto* image = in + n * positions * channels + first;
          auto* result = out + n * channels + first;
          for (int64_t c = 0; c < count; ++c) result[c] = start(image[c]);
          for (int64_t p = 1; p < positions; ++p) {
            const auto* row = image + p * channels;
            for (int64_t c = 0; c < count; ++c) result[c] = combine(result[c], row[c]);
          }
          for (int64_t c = 0; c < count; ++c) result[c] = finish(result[c]);
        }
      });
    };
    if (kind_ == PoolKind::kGlobalAverage) {
      const float n = static_cast<float>(positions);
      return pool(
          y.data<float>(), x.data<float>(), [](float v) { return 0.0f + v; },  // the reference's sum starts at 0
          [](float sum, float v) { return sum + v; }, [n](float sum) { return sum / n; });
    }
    // std::max_element's choice: a later value replaces the maximum only when greater.
    auto max = [](auto best, auto v) { return best < v ? v : best; };
    auto same = [](auto v) { return v; };
    if (x.dtype() == DType::kInt8) return pool(y.data<int8_t>(), x.data<int8_t>(), same, max, same);
    pool(y.data<float>(), x.data<float>(), same, max, same);
  }

  Plan make_plan(DType dtype, const memory::dims& src_dims, const memory::dims& dst_dims,
                 const spatial::Window& w) const {
    using tag = memory::format_tag;
    const memory::data_type type = onednn::data_type(dtype);
    const tag pool_layout = layout_.channels_last() || pool_in_nhwc(dtype) ? tag::nhwc : tag::nchw;
    Plan plan;
    plan.src = memory::desc(src_dims, type, layout_.tag());
    plan.dst = memory::desc(dst_dims, type, layout_.tag());
    plan.pool_src = memory::desc(src_dims, type, pool_layout);
    plan.pool_dst = memory::desc(dst_dims, type, pool_layout);
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
    plan.pool = onednn::make_step<dnnl::pooling_v2_forward>(pd);
    if (plan.pool_src != plan.src) {
      plan.to_pool_layout = onednn::make_reorder(plan.src, plan.pool_src);
      plan.to_graph_layout = onednn::make_reorder(plan.pool_dst, plan.dst);
    }
    return plan;
  }

  PoolKind kind_;
  onednn::ActivationLayout layout_;  // of X and Y
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
