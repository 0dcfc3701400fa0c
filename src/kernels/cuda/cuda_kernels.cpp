// Registration of the CUDA backend, and its kernels for the layers around the INT8
// convolutions and matrix products: quantize / dequantize, layout transposes,
// pooling, Int8Add, and the shape-only ops (views, as on the CPU).
#include "kernels/cuda/cuda_kernels.h"

#include <cmath>

#include "kernels/cuda/cuda_ops.h"
#include "kernels/reference/int8/int8_kernels.h"
#include "kernels/reference/spatial.h"

namespace octet {
namespace cuda {

cudaStream_t stream_of(const KernelContext& ctx) {
  if (!ctx.stream) ctx.fail("a CUDA kernel ran outside a GPU execution context");
  return static_cast<cudaStream_t>(ctx.stream);
}

KernelDef kernel_def(const char* op, const char* domain, int64_t since, int64_t end, KernelFn fn, KernelPreparer prepare) {
  KernelDef def{op, domain, since, end, "cuda", std::move(fn), std::move(prepare)};
  def.device = Device::kCuda;
  return def;
}

namespace {

// The scalar float scale of a per-tensor QuantizeLinear / DequantizeLinear with a
// zero zero point (what octet's quantizer writes); false for any other.
struct PerTensorQuantization {
  float scale;
};
bool read_per_tensor(const Node& node, const Graph& graph, DType zero_point_dtype, PerTensorQuantization& q) {
  const Tensor* scale = constant_input(node, graph, 1);
  const Tensor* zero = constant_input(node, graph, 2);
  if (!scale || scale->dtype() != DType::kFloat32 || scale->numel() != 1) return false;
  if (!zero || zero->dtype() != zero_point_dtype || zero->numel() != 1 || zero->data<int8_t>()[0] != 0) return false;
  q.scale = scale->data<float>()[0];
  return std::isfinite(q.scale) && q.scale > 0;
}

class QuantizeKernel : public PreparedKernel {
 public:
  explicit QuantizeKernel(float scale) : scale_(scale) {}
  void run(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.dtype() != DType::kFloat32) ctx.unsupported("the CUDA QuantizeLinear takes float32 input");
    Tensor& y = ctx.make_output(0, DType::kInt8, x.shape(), false);
    quantize_int8(x.data<float>(), y.data<int8_t>(), x.numel(), scale_, stream_of(ctx));
  }

 private:
  float scale_;
};

class DequantizeKernel : public PreparedKernel {
 public:
  explicit DequantizeKernel(float scale) : scale_(scale) {}
  void run(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.dtype() != DType::kInt8) ctx.unsupported("the CUDA DequantizeLinear takes int8 input");
    Tensor& y = ctx.make_output(0, DType::kFloat32, x.shape(), false);
    dequantize_int8(x.data<int8_t>(), y.data<float>(), x.numel(), scale_, stream_of(ctx));
  }

 private:
  float scale_;
};

void transpose(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() != 4) ctx.unsupported("the CUDA Transpose takes 4-D tensors");
  const Shape perm = ctx.node.attr_ints("perm", {3, 2, 1, 0});
  if (perm.size() != 4) ctx.fail("perm " + shape_str(perm) + " must have 4 entries");
  Shape out(4);
  int p[4];
  for (int i = 0; i < 4; ++i) {
    if (perm[i] < 0 || perm[i] > 3) ctx.fail("perm " + shape_str(perm) + " is not a permutation of 0..3");
    p[i] = static_cast<int>(perm[i]);
    out[i] = x.dim(p[i]);
  }
  const int elem = static_cast<int>(dtype_size(x.dtype()));
  if (elem != 1 && elem != 2 && elem != 4) ctx.unsupported("the CUDA Transpose takes 1-, 2- or 4-byte elements");
  Tensor& y = ctx.make_output(0, x.dtype(), out, false);
  transpose4d(x.raw(), y.raw(), x.shape().data(), p, elem, stream_of(ctx));
}

}  // namespace

Conv2d conv_geometry(const KernelContext& ctx, const Shape& x, int64_t m, int64_t kh, int64_t kw, int64_t group) {
  spatial::Window window = spatial::read_window(ctx, {kh, kw});
  const Shape out = spatial::sliding_output_shape(ctx, window, spatial::read_auto_pad(ctx), {x[1], x[2]});
  return Conv2d{x[0], x[1], x[2], x[3], m, out[0], out[1], static_cast<int>(kh), static_cast<int>(kw),
                static_cast<int>(window.strides[0]), static_cast<int>(window.strides[1]),
                static_cast<int>(window.pads_begin[0]), static_cast<int>(window.pads_begin[1]),
                static_cast<int>(window.dilations[0]), static_cast<int>(window.dilations[1]), static_cast<int>(group)};
}

Pool2d pool_geometry(const KernelContext& ctx, const Shape& x) {
  if (!ctx.node.channels_last() || x.size() != 4) ctx.unsupported("the CUDA pools take channels-last 4-D input");
  spatial::Window window = spatial::read_window(ctx, ctx.node.attr_ints("kernel_shape", {}));
  if (window.rank() != 2) ctx.fail("kernel_shape must have 2 entries");
  const Shape out = spatial::sliding_output_shape(ctx, window, spatial::read_auto_pad(ctx), {x[1], x[2]},
                                                  ctx.node.attr_int("ceil_mode", 0) != 0);
  return Pool2d{x[0], x[1], x[2], x[3], out[0], out[1],
                static_cast<int>(window.kernel[0]), static_cast<int>(window.kernel[1]),
                static_cast<int>(window.strides[0]), static_cast<int>(window.strides[1]),
                static_cast<int>(window.pads_begin[0]), static_cast<int>(window.pads_begin[1]),
                static_cast<int>(window.dilations[0]), static_cast<int>(window.dilations[1]),
                static_cast<int>(window.pads_end[0]), static_cast<int>(window.pads_end[1])};
}

namespace {

void max_pool(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (ctx.node.outputs.size() > 1 && !ctx.node.outputs[1].empty()) ctx.unsupported("MaxPool's Indices output");
  const Pool2d p = pool_geometry(ctx, x.shape());
  Tensor& y = ctx.make_output(0, x.dtype(), {p.n, p.oh, p.ow, p.c}, false);
  if (x.dtype() == DType::kInt8)
    max_pool_nhwc_int8(x.data<int8_t>(), y.data<int8_t>(), p, stream_of(ctx));
  else if (x.dtype() == DType::kFloat32)
    max_pool_nhwc_f32(x.data<float>(), y.data<float>(), p, stream_of(ctx));
  else if (x.dtype() == DType::kFloat16)
    max_pool_nhwc_f16(x.data<__half>(), y.data<__half>(), p, stream_of(ctx));
  else
    ctx.unsupported("the CUDA MaxPool takes int8, float32 or float16");
}

void average_pool(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DType::kFloat32) ctx.unsupported("the CUDA AveragePool takes float32");
  const Pool2d p = pool_geometry(ctx, x.shape());
  Tensor& y = ctx.make_output(0, x.dtype(), {p.n, p.oh, p.ow, p.c}, false);
  avg_pool_nhwc_f32(x.data<float>(), y.data<float>(), p, ctx.node.attr_int("count_include_pad", 0) != 0,
                    stream_of(ctx));
}

void global_average_pool(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (!ctx.node.channels_last() || x.rank() != 4)
    ctx.unsupported("the CUDA GlobalAveragePool takes channels-last 4-D input");
  Tensor& y = ctx.make_output(0, x.dtype(), {x.dim(0), 1, 1, x.dim(3)}, false);
  const int64_t n = x.dim(0), hw = x.dim(1) * x.dim(2), c = x.dim(3);
  if (x.dtype() == DType::kFloat32)
    global_avg_pool_nhwc_f32(x.data<float>(), y.data<float>(), n, hw, c, stream_of(ctx));
  else if (x.dtype() == DType::kFloat16)
    global_avg_pool_nhwc_f16(x.data<__half>(), y.data<__half>(), n, hw, c, stream_of(ctx));
  else
    ctx.unsupported("the CUDA GlobalAveragePool takes float32 or float16");
}

class Int8AddKernel : public PreparedKernel {
 public:
  explicit Int8AddKernel(int8::AddRequantizer r) : r_(r) {}
  void run(KernelContext& ctx) const override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    if (a.dtype() != DType::kInt8 || b.dtype() != DType::kInt8) ctx.fail("A and B must be int8");
    if (a.shape() != b.shape())
      ctx.unsupported("the CUDA Int8Add takes same-shaped inputs, got " + shape_str(a.shape()) + " and " +
                      shape_str(b.shape()));
    if (r_.output_dtype == DType::kInt8) {
      Tensor& y = ctx.make_output(0, DType::kInt8, a.shape(), false);
      int8_add(a.data<int8_t>(), b.data<int8_t>(), y.data<int8_t>(), a.numel(), r_.ra, r_.rb, r_.lo, r_.hi,
               stream_of(ctx));
    } else {
      Tensor& y = ctx.make_output(0, DType::kFloat32, a.shape(), false);
      int8_add(a.data<int8_t>(), b.data<int8_t>(), y.data<float>(), a.numel(), r_.ra, r_.rb, r_.lo, r_.hi,
               stream_of(ctx));
    }
  }

 private:
  int8::AddRequantizer r_;
};

}  // namespace
}  // namespace cuda

void register_cuda_kernels(KernelRegistry& r) {
  using namespace cuda;
  r.add(kernel_def("QuantizeLinear", "", 10, 21, {}, [](const Node& node, const Graph& graph) -> std::unique_ptr<PreparedKernel> {
    PerTensorQuantization q;
    if (!read_per_tensor(node, graph, DType::kInt8, q)) return nullptr;
    return std::make_unique<QuantizeKernel>(q.scale);
  }));
  r.add(kernel_def("DequantizeLinear", "", 10, 21, {}, [](const Node& node, const Graph& graph) -> std::unique_ptr<PreparedKernel> {
    PerTensorQuantization q;
    if (!read_per_tensor(node, graph, DType::kInt8, q)) return nullptr;
    return std::make_unique<DequantizeKernel>(q.scale);
  }));
  r.add(kernel_def("Transpose", "", 1, 21, transpose));
  r.add(kernel_def("MaxPool", "", 1, 22, max_pool));
  r.add(kernel_def("AveragePool", "", 1, 22, average_pool));
  r.add(kernel_def("GlobalAveragePool", "", 1, 22, global_average_pool));
  r.add(kernel_def("Int8Add", int8::kDomain, 1, INT64_MAX, {}, [](const Node& node, const Graph& graph) -> std::unique_ptr<PreparedKernel> {
    const KernelContext ctx{node, graph.opset(node.domain), {}, {}};
    return std::make_unique<Int8AddKernel>(int8::read_add_requantizer(ctx));
  }));
  // Shape-only ops make views (Tensor::reshaped), as valid over device memory: the
  // reference kernels serve, where their shape and axes inputs are constants (read on the host).
  for (const char* op : {"Flatten", "Reshape", "Squeeze", "Unsqueeze"}) {
    const KernelDef* ref = r.find("", op, 13, "reference");
    r.add(kernel_def(op, "", ref->since_version, ref->end_version, {},
                      [fn = ref->fn](const Node& node, const Graph& graph) -> std::unique_ptr<PreparedKernel> {
                        for (size_t i = 1; i < node.inputs.size(); ++i)
                          if (node_has_input(node, i) && !constant_input(node, graph, i)) return nullptr;
                        return stateless_kernel(fn);  // the reference view
                      }));
  }
  register_cuda_int8_kernels(r);
  register_cuda_float_kernels(r);
}

}  // namespace octet
