// Gemm (transA = 0), MatMul with a constant 2-D B, and Int8MatMul on oneDNN's
// matmul primitive: A's leading dims flatten into rows, so every case is one
// [rows, K] x [K, N] product with the constant weights reordered once into the
// primitive's preferred layout, and a bias broadcast over the rows.
#include <optional>
#include <string>

#include "kernels/onednn/onednn_kernels.h"
#include "kernels/onednn/onednn_runtime.h"

namespace octet {
namespace {

using dnnl::memory;

struct DenseConfig {
  DType src_dtype = DType::kFloat32, dst_dtype = DType::kFloat32;
  int64_t k = 0, n = 0;
  dnnl::primitive_attr attr;
};

class DenseKernel : public PreparedKernel {
 public:
  // `weights` holds the [K, N] operand in layout `weights_tag` (ab, or ba for
  // Gemm's transposed B); `bias` is [N].
  DenseKernel(DenseConfig config, const Tensor& weights, memory::format_tag weights_tag, const Tensor* bias)
      : config_(std::move(config)),
        weights_(weights, memory::desc({config_.k, config_.n}, onednn::data_type(weights.dtype()), weights_tag)) {
    if (bias) {
      bias_desc_ = memory::desc({1, config_.n}, onednn::data_type(bias->dtype()), memory::format_tag::ab);
      bias_.emplace(*bias, bias_desc_);
    }
  }

  void run(KernelContext& ctx) const override {
    const Tensor& a = ctx.input(0);
    if (a.dtype() != config_.src_dtype)
      ctx.fail("A has dtype " + std::string(dtype_name(a.dtype())) + " but " +
               std::string(dtype_name(config_.src_dtype)) + " is expected");
    if (a.rank() < 1 || a.dim(-1) != config_.k)
      ctx.fail("A " + shape_str(a.shape()) + " must be [..., " + std::to_string(config_.k) + "]");
    Shape out_shape = a.shape();
    out_shape.back() = config_.n;
    Tensor& y = ctx.make_output(0, config_.dst_dtype, out_shape, /*zero_filled=*/false);
    const int64_t rows = a.numel() / config_.k;
    if (rows == 0 || config_.n == 0) return;

    const int threads = onednn::adopt_thread_count(rows * config_.k * config_.n, onednn::kSerialMultiplyAdds);
    const auto plan = plans_.get({rows, threads}, [&] { return make_plan(rows); });
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, onednn::wrap(plan->src, a.raw())},
                                         {DNNL_ARG_WEIGHTS, plan->weights},
                                         {DNNL_ARG_DST, onednn::wrap(plan->dst, y.raw())}};
    if (bias_) args.emplace(DNNL_ARG_BIAS, plan->bias);
    onednn::execute(plan->matmul, std::move(args));
  }

 private:
  struct Plan {
    onednn::Step matmul;
    memory::desc src, dst;
    memory weights, bias;
  };

  Plan make_plan(int64_t rows) const {
    Plan plan;
    plan.src = memory::desc({rows, config_.k}, onednn::data_type(config_.src_dtype), memory::format_tag::ab);
    plan.dst = memory::desc({rows, config_.n}, onednn::data_type(config_.dst_dtype), memory::format_tag::ab);
    const memory::desc weights_any({config_.k, config_.n}, onednn::data_type(config_.src_dtype),
                                   memory::format_tag::any);
    const dnnl::matmul::desc desc(plan.src, weights_any, bias_desc_, plan.dst);
    const dnnl::matmul::primitive_desc pd(desc, config_.attr, onednn::engine());
    plan.matmul = onednn::make_step<dnnl::matmul>(pd);
    plan.weights = weights_.in_layout(pd.weights_desc());
    if (bias_) plan.bias = bias_->in_layout(pd.bias_desc());
    return plan;
  }

  DenseConfig config_;
  onednn::Constant weights_;
  memory::desc bias_desc_;  // empty without a bias
  std::optional<onednn::Constant> bias_;
  onednn::PlanCache<Plan> plans_;
};

// Y = alpha * A * op(B) + beta * C, with B and C constant and C the same for every
// row (a scalar, [N] or [1, N]): alpha folds into the weights, beta * C into the bias.
std::unique_ptr<PreparedKernel> prepare_gemm(const Node& node, const Graph& graph) {
  const Tensor* b = constant_input(node, graph, 1);
  if (node.attr_int("transA", 0) != 0 || !b || b->dtype() != DType::kFloat32 || b->rank() != 2) return nullptr;
  const bool trans_b = node.attr_int("transB", 0) != 0;
  DenseConfig config;
  config.k = b->dim(trans_b ? 1 : 0);
  config.n = b->dim(trans_b ? 0 : 1);
  config.attr = onednn::base_attr();

  std::optional<Tensor> bias;
  if (node_has_input(node, 2)) {
    const Tensor* c = constant_input(node, graph, 2);
    const bool row_broadcast =
        c && c->rank() <= 2 && (c->numel() == 1 || (c->numel() == config.n && c->dim(-1) == config.n));
    if (!row_broadcast || c->dtype() != DType::kFloat32) return nullptr;
    const float beta = node.attr_float("beta", 1.0f);
    bias = Tensor(DType::kFloat32, {config.n});
    for (int64_t j = 0; j < config.n; ++j) bias->data<float>()[j] = beta * c->data<float>()[c->numel() == 1 ? 0 : j];
  }
  Tensor weights = *b;
  if (const float alpha = node.attr_float("alpha", 1.0f); alpha != 1.0f) {
    weights = b->clone();
    for (int64_t i = 0; i < weights.numel(); ++i) weights.data<float>()[i] *= alpha;
  }
  return std::make_unique<DenseKernel>(std::move(config), weights,
                                       trans_b ? memory::format_tag::ba : memory::format_tag::ab,
                                       bias ? &*bias : nullptr);
}

std::unique_ptr<PreparedKernel> prepare_matmul(const Node& node, const Graph& graph) {
  const Tensor* b = constant_input(node, graph, 1);
  if (!b || b->dtype() != DType::kFloat32 || b->rank() != 2) return nullptr;
  DenseConfig config;
  config.k = b->dim(0);
  config.n = b->dim(1);
  config.attr = onednn::base_attr();
  return std::make_unique<DenseKernel>(std::move(config), *b, memory::format_tag::ab, nullptr);
}

std::unique_ptr<PreparedKernel> prepare_int8_matmul(const Node& node, const Graph& graph) {
  const Tensor* w = constant_input(node, graph, 1);
  const Tensor* bias = constant_input(node, graph, 2);
  if (!onednn::exact_int8_products() || !w || w->dtype() != DType::kInt8 || w->rank() != 2) return nullptr;
  if (node_has_input(node, 2) && (!bias || bias->dtype() != DType::kInt32)) return nullptr;
  const KernelContext ctx{node, graph.opset(node.domain), {nullptr, w, bias}, {}};
  DenseConfig config;
  config.src_dtype = DType::kInt8;
  config.k = w->dim(0);
  config.n = w->dim(1);
  if (bias && (bias->rank() != 1 || bias->dim(0) != config.n))
    ctx.fail("B " + shape_str(bias->shape()) + " must be [" + std::to_string(config.n) + "]");
  const int8::Requantizer rq = int8::read_requantizer(ctx, config.n);
  int8::require_weight_range(ctx, 1);
  int8::require_depth_fits(ctx, config.k);
  config.dst_dtype = rq.output_dtype;
  config.attr = onednn::requantizer_attr(rq, /*channel_dim=*/1);
  return std::make_unique<DenseKernel>(std::move(config), *w, memory::format_tag::ab, bias);
}

}  // namespace

void register_onednn_dense_kernels(KernelRegistry& r) {
  r.add(KernelDef{"Gemm", "", 1, 17, "onednn", {}, prepare_gemm});
  r.add(KernelDef{"MatMul", "", 1, 17, "onednn", {}, prepare_matmul});
  r.add(KernelDef{"Int8MatMul", int8::kDomain, 1, INT64_MAX, "onednn", {}, prepare_int8_matmul});
}

}  // namespace octet
