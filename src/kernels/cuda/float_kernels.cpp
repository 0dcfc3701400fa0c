// The CUDA backend's float layers, for FP32 engines, FP16 engines
// (convert_to_float16) and the float layers of INT8 engines: Conv and
// octet.FusedConv (channels-last; im2col + cuBLASLt, a plain GEMM for 1x1 stride-1
// layers, the direct kernel when grouped), Gemm and MatMul with constant weights
// (cuBLASLt), activations, Add and Cast. A layer's arithmetic type is its weights'
// type (float32 or float16); activations take their input's. Bias, residual and
// activation run in one pass after the product (float_epilogue).
#include <cuda_fp16.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/float_gemm.h"
#include "kernels/pooled_conv.h"
#include "passes/passes.h"

namespace octet {
namespace cuda {
namespace {

bool is_float(DType t) { return t == DType::kFloat32 || t == DType::kFloat16; }

// A float32 or float16 tensor's values as floats.
std::vector<float> floats_of(const Tensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = static_cast<float>(t.get_as_double(i));
  return out;
}

// A device copy of `values` in `type` (float32 or float16).
std::shared_ptr<void> upload_as(DType type, const std::vector<float>& values) {
  Tensor typed(type, {static_cast<int64_t>(values.size())});
  for (size_t i = 0; i < values.size(); ++i) typed.set_from_double(static_cast<int64_t>(i), values[i]);
  return upload(static_cast<const uint8_t*>(typed.raw()), typed.nbytes());
}

// y = act(x + bias + z) over [rows, cols] in `type`; bias and z may be null.
void epilogue(DType type, const void* x, const void* bias, const void* z, void* y, int64_t rows, int64_t cols,
              const FusedActivation& act, cudaStream_t stream) {
  if (type == DType::kFloat32)
    float_epilogue(static_cast<const float*>(x), static_cast<const float*>(bias), static_cast<const float*>(z),
                   static_cast<float*>(y), rows, cols, act, stream);
  else
    float_epilogue(static_cast<const __half*>(x), static_cast<const __half*>(bias), static_cast<const __half*>(z),
                   static_cast<__half*>(y), rows, cols, act, stream);
}

// Carves one scratch request into 256-byte aligned parts, in the order asked.
class ScratchParts {
 public:
  size_t add(size_t bytes) {
    const size_t at = total_;
    total_ += (bytes + 255) / 256 * 256;
    return at;
  }
  size_t total() const { return total_; }

 private:
  size_t total_ = 0;
};

class FloatConvKernel : public PreparedKernel {
 public:
  FloatConvKernel(const Node& node, const Tensor& w, const Tensor* b)
      : type_(w.dtype()), m_(w.dim(0)), cg_(w.dim(1)), kh_(w.dim(2)), kw_(w.dim(3)), group_(node.attr_int("group", 1)),
        activation_(read_fused_activation(node)) {
    // W [M, C/g, KH, KW] -> [M, KH, KW, C/g]: rows in im2col's column order.
    const std::vector<float> wf = floats_of(w);
    std::vector<float> packed(wf.size());
    for (int64_t o = 0; o < m_; ++o)
      for (int64_t c = 0; c < cg_; ++c)
        for (int64_t i = 0; i < kh_; ++i)
          for (int64_t j = 0; j < kw_; ++j)
            packed[((o * kh_ + i) * kw_ + j) * cg_ + c] = wf[((o * cg_ + c) * kh_ + i) * kw_ + j];
    weights_ = upload_as(type_, packed);
    if (b) bias_ = upload_as(type_, floats_of(*b));
    if (has_fused_max_pool(node)) pool_ = split_fused_max_pool(node).second;
  }

  void run(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const std::string type_name(dtype_name(type_));
    if (x.dtype() != type_ || x.rank() != 4 || x.dim(3) != cg_ * group_)
      ctx.fail("X " + std::string(dtype_name(x.dtype())) + shape_str(x.shape()) + " must be " + type_name +
               " [N, H, W, " + std::to_string(cg_ * group_) + "] (channels-last)");
    const Conv2d g = conv_geometry(ctx, x.shape(), m_, kh_, kw_, group_);
    const Shape conv_shape{g.n, g.oh, g.ow, g.m};
    const void* z = nullptr;
    if (ctx.has_input(3)) {
      const Tensor& zt = ctx.input(3);
      if (zt.dtype() != type_ || zt.shape() != conv_shape)
        ctx.fail("residual " + std::string(dtype_name(zt.dtype())) + shape_str(zt.shape()) + " must be " + type_name +
                 shape_str(conv_shape));
      z = zt.raw();
    }
    const int64_t rows = g.n * g.oh * g.ow, depth = kh_ * kw_ * cg_;
    const size_t element = dtype_size(type_);
    const bool pointwise = group_ == 1 && kh_ == 1 && kw_ == 1 && g.stride_h == 1 && g.stride_w == 1 &&
                           g.pad_t == 0 && g.pad_l == 0 && g.oh == g.h && g.ow == g.w;
    // Scratch, in one request: the im2col copy, cuBLASLt's workspace, the unpooled output.
    ScratchParts parts;
    const size_t cols_at = group_ == 1 && !pointwise ? parts.add(static_cast<size_t>(rows * depth) * element) : 0;
    const size_t workspace_at = group_ == 1 ? parts.add(kFloatGemmWorkspaceBytes) : 0;
    const size_t unpooled_at = pool_ ? parts.add(static_cast<size_t>(rows * m_) * element) : 0;
    Pool2d pool{};
    if (pool_) {
      const KernelContext pool_ctx{*pool_, kPooledConvMaxPoolOpset, {}, {}};
      pool = pool_geometry(pool_ctx, conv_shape);
    }
    Tensor& y = ctx.make_output(0, type_, pool_ ? Shape{pool.n, pool.oh, pool.ow, pool.c} : conv_shape, false);
    if (rows * m_ == 0 || y.numel() == 0) return;
    const cudaStream_t stream = stream_of(ctx);
    char* scratch = parts.total() ? static_cast<char*>(ctx.device_scratch(parts.total())) : nullptr;
    void* conv_out = pool_ ? scratch + unpooled_at : y.raw();
    if (group_ == 1) {
      const void* a = x.raw();
      if (!pointwise) {
        // im2col over bytes: a pixel's C values are C * element contiguous bytes, so the
        // int8 copy of the rows (column (kh, kw, c)) serves every element type.
        Conv2d bytes = g;
        bytes.c = g.c * static_cast<int64_t>(element);
        im2col_nhwc_int8(static_cast<const int8_t*>(x.raw()), reinterpret_cast<int8_t*>(scratch + cols_at), bytes,
                         depth * static_cast<int64_t>(element), stream);
        a = scratch + cols_at;
      }
      float_gemm(type_, a, weights_.get(), conv_out, rows, m_, depth, 1.0f, nullptr, 0.0f, scratch + workspace_at,
                 kFloatGemmWorkspaceBytes, stream);
    } else if (type_ == DType::kFloat32) {
      float_conv_direct(x.data<float>(), static_cast<const float*>(weights_.get()), static_cast<float*>(conv_out), g,
                        stream);
    } else {
      float_conv_direct(x.data<__half>(), static_cast<const __half*>(weights_.get()), static_cast<__half*>(conv_out),
                        g, stream);
    }
    epilogue(type_, conv_out, bias_.get(), z, conv_out, rows, m_, activation_, stream);
    if (!pool_) return;
    if (type_ == DType::kFloat32)
      max_pool_nhwc_f32(static_cast<const float*>(conv_out), y.data<float>(), pool, stream);
    else
      max_pool_nhwc_f16(static_cast<const __half*>(conv_out), y.data<__half>(), pool, stream);
  }

 private:
  DType type_;
  int64_t m_, cg_, kh_, kw_, group_;
  FusedActivation activation_;
  std::shared_ptr<void> weights_, bias_;
  std::optional<Node> pool_;  // the fused MaxPool's half (split_fused_max_pool)
};

// Y [..., n] = alpha * A [..., k] · W^T + bias, W [n, k] and bias [n] constants.
class FloatGemmKernel : public PreparedKernel {
 public:
  FloatGemmKernel(DType type, int64_t n, int64_t k, const std::vector<float>& w_nk, const std::vector<float>* bias,
                  float alpha)
      : type_(type), n_(n), k_(k), alpha_(alpha), weights_(upload_as(type, w_nk)) {
    if (bias) bias_ = upload_as(type, *bias);
  }

  void run(KernelContext& ctx) const override {
    const Tensor& a = ctx.input(0);
    if (a.dtype() != type_ || a.rank() < 1 || a.dim(-1) != k_)
      ctx.fail("A " + std::string(dtype_name(a.dtype())) + shape_str(a.shape()) + " must be " +
               std::string(dtype_name(type_)) + " [..., " + std::to_string(k_) + "]");
    Shape out = a.shape();
    out.back() = n_;
    Tensor& y = ctx.make_output(0, type_, out, false);
    const int64_t rows = a.numel() / std::max<int64_t>(k_, 1);
    if (y.numel() == 0) return;
    const cudaStream_t stream = stream_of(ctx);
    void* workspace = ctx.device_scratch(kFloatGemmWorkspaceBytes);
    float_gemm(type_, a.raw(), weights_.get(), y.raw(), rows, n_, k_, alpha_, nullptr, 0.0f, workspace,
               kFloatGemmWorkspaceBytes, stream);
    if (bias_) epilogue(type_, y.raw(), bias_.get(), nullptr, y.raw(), rows, n_, FusedActivation{}, stream);
  }

 private:
  DType type_;
  int64_t n_, k_;
  float alpha_;
  std::shared_ptr<void> weights_, bias_;
};

std::unique_ptr<PreparedKernel> prepare_conv(const Node& node, const Graph& graph) {
  const Tensor* w = constant_input(node, graph, 1);
  if (!node.channels_last() || !w || !is_float(w->dtype()) || w->rank() != 4) return nullptr;
  const Tensor* b = node_has_input(node, 2) ? constant_input(node, graph, 2) : nullptr;
  if (node_has_input(node, 2) && (!b || b->dtype() != w->dtype() || b->numel() != w->dim(0))) return nullptr;
  return std::make_unique<FloatConvKernel>(node, *w, b);
}

// Gemm with transA = 0, B constant and C a constant broadcast along rows ([N], [1, N] or one value).
std::unique_ptr<PreparedKernel> prepare_gemm(const Node& node, const Graph& graph) {
  const Tensor* b = constant_input(node, graph, 1);
  if (node.attr_int("transA", 0) != 0 || !b || !is_float(b->dtype()) || b->rank() != 2) return nullptr;
  const bool trans_b = node.attr_int("transB", 0) != 0;
  const int64_t k = trans_b ? b->dim(1) : b->dim(0), n = trans_b ? b->dim(0) : b->dim(1);
  const std::vector<float> bf = floats_of(*b);
  std::vector<float> w_nk(bf.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) w_nk[i * k + j] = trans_b ? bf[i * k + j] : bf[j * n + i];
  std::vector<float> bias;
  if (node_has_input(node, 2)) {
    const Tensor* c = constant_input(node, graph, 2);
    if (!c || c->dtype() != b->dtype() || !(c->numel() == n || c->numel() == 1) || (c->rank() == 2 && c->dim(0) != 1))
      return nullptr;
    const float beta = node.attr_float("beta", 1.0f);
    const std::vector<float> cf = floats_of(*c);
    bias.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) bias[i] = beta * cf[cf.size() == 1 ? 0 : i];
  }
  return std::make_unique<FloatGemmKernel>(b->dtype(), n, k, w_nk, bias.empty() ? nullptr : &bias,
                                           node.attr_float("alpha", 1.0f));
}

// MatMul with a constant 2-D B [K, N].
std::unique_ptr<PreparedKernel> prepare_matmul(const Node& node, const Graph& graph) {
  const Tensor* b = constant_input(node, graph, 1);
  if (!b || !is_float(b->dtype()) || b->rank() != 2 || constant_input(node, graph, 0)) return nullptr;
  const int64_t k = b->dim(0), n = b->dim(1);
  const std::vector<float> bf = floats_of(*b);
  std::vector<float> w_nk(bf.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) w_nk[i * k + j] = bf[j * n + i];
  return std::make_unique<FloatGemmKernel>(b->dtype(), n, k, w_nk, nullptr, 1.0f);
}

// Relu, Clip, LeakyRelu, Sigmoid, HardSwish on a float32 or float16 activation.
class ActivationKernel : public PreparedKernel {
 public:
  explicit ActivationKernel(FusedActivation act) : act_(act) {}
  void run(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (!is_float(x.dtype())) ctx.unsupported("the CUDA activations take float32 or float16");
    Tensor& y = ctx.make_output(0, x.dtype(), x.shape(), false);
    epilogue(x.dtype(), x.raw(), nullptr, nullptr, y.raw(), x.numel(), 1, act_, stream_of(ctx));
  }

 private:
  FusedActivation act_;
};

// Add of two same-shaped float32 or float16 activations.
void add(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (!is_float(a.dtype()) || b.dtype() != a.dtype())
    ctx.unsupported("the CUDA Add takes two float32 or two float16 tensors");
  if (a.shape() != b.shape())
    ctx.unsupported("the CUDA Add takes same-shaped inputs, got " + shape_str(a.shape()) + " and " +
                    shape_str(b.shape()));
  Tensor& y = ctx.make_output(0, a.dtype(), a.shape(), false);
  epilogue(a.dtype(), a.raw(), nullptr, b.raw(), y.raw(), a.numel(), 1, FusedActivation{}, stream_of(ctx));
}

// Cast between float32 and float16.
void cast(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const DType to = dtype_from_onnx(static_cast<int>(ctx.node.attr_int("to")));
  if (!is_float(x.dtype()) || !is_float(to)) ctx.unsupported("the CUDA Cast converts between float32 and float16");
  Tensor& y = ctx.make_output(0, to, x.shape(), false);
  const cudaStream_t stream = stream_of(ctx);
  if (to == x.dtype())
    OCTET_CUDA_CHECK(cudaMemcpyAsync(y.raw(), x.raw(), x.nbytes(), cudaMemcpyDeviceToDevice, stream));
  else if (to == DType::kFloat16)
    convert(x.data<float>(), y.data<__half>(), x.numel(), stream);
  else
    convert(x.data<__half>(), y.data<float>(), x.numel(), stream);
}

// Device kernels read activations only: nodes with a constant activation input are left to the CPU.
bool inputs_are_activations(const Node& node, const Graph& graph, size_t count) {
  for (size_t i = 0; i < count && i < node.inputs.size(); ++i)
    if (node_has_input(node, i) && constant_input(node, graph, i)) return false;
  return true;
}

}  // namespace
}  // namespace cuda

void register_cuda_float_kernels(KernelRegistry& r) {
  using namespace cuda;
  r.add(kernel_def("Conv", "", 1, 22, {}, prepare_conv));
  r.add(kernel_def("FusedConv", "octet", 1, 1, {}, prepare_conv));
  r.add(kernel_def("Gemm", "", 1, 21, {}, prepare_gemm));
  r.add(kernel_def("MatMul", "", 1, 21, {}, prepare_matmul));
  for (const char* op : {"Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSwish"})
    r.add(kernel_def(op, "", 1, 22, {}, [](const Node& node, const Graph& graph) -> std::unique_ptr<PreparedKernel> {
      const auto attributes = fused_activation_attributes(graph, node);
      if (!attributes || !inputs_are_activations(node, graph, 1)) return nullptr;
      Node as_fused = node;  // the activation as FusedConv's attributes describe it
      as_fused.attributes = *attributes;
      return std::make_unique<ActivationKernel>(read_fused_activation(as_fused));
    }));
  r.add(kernel_def("Add", "", 7, 22, {}, [](const Node& node, const Graph& graph) -> std::unique_ptr<PreparedKernel> {
    if (!inputs_are_activations(node, graph, 2)) return nullptr;
    return stateless_kernel(add);
  }));
  r.add(kernel_def("Cast", "", 6, 22, {}, [](const Node& node, const Graph& graph) -> std::unique_ptr<PreparedKernel> {
    if (!inputs_are_activations(node, graph, 1)) return nullptr;
    return stateless_kernel(cast);
  }));
}

}  // namespace octet
