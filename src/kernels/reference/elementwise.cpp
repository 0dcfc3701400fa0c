// Elementwise reference kernels: broadcasting binary arithmetic (Add, Sub, Mul,
// Div, Pow, PRelu), activations, Clip and Identity.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "kernels/reference/broadcast.h"
#include "kernels/reference/reference_kernels.h"

namespace octet {
namespace {

constexpr const char* kBackend = "reference";

using PowBaseTypes = DTypes<DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64>;

void require_same_dtype(const KernelContext& ctx, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    ctx.fail("input dtypes differ: " + std::string(dtype_name(a.dtype())) + " and " +
             std::string(dtype_name(b.dtype())));
}

// NaN-propagating clamp (std::clamp would return a bound for NaN).
template <class T>
T clamp_value(T v, T lo, T hi) {
  return std::min(std::max(v, lo), hi);
}

// ---------------------------------------------------------------------------
// Binary ops: out = op(a, b) with numpy broadcasting, out having a's type.

template <class A, class B, class Op>
void broadcast_binary(const Tensor& a, const Tensor& b, Tensor& out, Op op) {
  const A* a_data = a.data<A>();
  const B* b_data = b.data<B>();
  A* out_data = out.data<A>();
  for_each_segment<2>(out.shape(), {a.shape(), b.shape()},
                      [&](int64_t o, const auto& offsets, const auto& steps, int64_t n) {
    const A* x = a_data + offsets[0];
    const B* y = b_data + offsets[1];
    A* z = out_data + o;
    // One loop per step pattern keeps the common cases (same shape, a scalar or
    // per-channel operand) tight loops over contiguous data.
    if (steps[0] && steps[1]) {
      for (int64_t i = 0; i < n; ++i) z[i] = op(x[i], y[i]);
    } else if (steps[0]) {
      const B y0 = *y;
      for (int64_t i = 0; i < n; ++i) z[i] = op(x[i], y0);
    } else if (steps[1]) {
      const A x0 = *x;
      for (int64_t i = 0; i < n; ++i) z[i] = op(x0, y[i]);
    } else {
      std::fill_n(z, n, op(*x, *y));
    }
  });
}

// Integer add/sub/mul wrap around (as in ONNX Runtime); computing them unsigned,
// and at least as wide as unsigned int, avoids signed-overflow UB.
template <class T, class F>
T wrapping(T a, T b, F f) {
  using Wide = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;
  return static_cast<T>(f(static_cast<Wide>(a), static_cast<Wide>(b)));
}

struct AddOp {
  template <class T> T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) return wrapping(a, b, std::plus<>());
    else return a + b;
  }
};
struct SubOp {
  template <class T> T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) return wrapping(a, b, std::minus<>());
    else return a - b;
  }
};
struct MulOp {
  template <class T> T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) return wrapping(a, b, std::multiplies<>());
    else return a * b;
  }
};
// Integer division truncates toward zero like C; zero divisors are rejected
// before the loop, and MIN / -1 (which traps on x86) wraps to MIN.
struct DivOp {
  template <class T> T operator()(T a, T b) const {
    if constexpr (std::is_signed_v<T> && std::is_integral_v<T>) {
      if (b == -1) return wrapping(T{0}, a, std::minus<>());
    }
    return a / b;
  }
};
// The result has the base's type. Integer bases are computed in double, as
// ONNX Runtime does, which is exact while results stay below 2^53.
struct PowOp {
  template <class T, class E> T operator()(T base, E exponent) const {
    if constexpr (std::is_floating_point_v<T>) {
      return static_cast<T>(std::pow(base, exponent));
    } else {
      return convert_value<T>(std::pow(static_cast<double>(base), static_cast<double>(exponent)));
    }
  }
};
struct PReluOp {
  template <class T> T operator()(T x, T slope) const { return x < T{0} ? static_cast<T>(slope * x) : x; }
};

template <class T>
void reject_zero_divisors(const KernelContext& ctx, const Tensor& divisor) {
  const T* d = divisor.data<T>();
  if (std::find(d, d + divisor.numel(), T{0}) != d + divisor.numel())
    ctx.fail("integer division by zero");
}

// `operand` placed within rank `rank` from dimension `axis` on, padded with 1s:
// how opsets before 7 line up a broadcast operand.
Shape align_at_axis(const KernelContext& ctx, const Shape& operand, size_t rank, int64_t axis) {
  if (axis < 0 || axis + operand.size() > rank)
    ctx.fail("axis " + std::to_string(axis) + " cannot place shape " + shape_str(operand) +
             " within rank " + std::to_string(rank));
  Shape aligned(rank, 1);
  std::copy(operand.begin(), operand.end(), aligned.begin() + axis);
  return aligned;
}

// The output shape of a binary op, and the shape its second input is read with.
// Opset 7+ broadcasts numpy-style; earlier opsets broadcast only b to a, and only
// when the `broadcast` attribute is set, lining b up with a at `axis`.
struct BinaryShapes {
  Shape out, b;
};
BinaryShapes binary_shapes(const KernelContext& ctx, const Tensor& a, const Tensor& b) {
  if (ctx.opset >= 7) return {broadcast_shape(ctx, a.shape(), b.shape()), b.shape()};
  if (ctx.node.attr_int("broadcast", 0) == 0) {
    if (a.shape() != b.shape())
      ctx.fail("input shapes " + shape_str(a.shape()) + " and " + shape_str(b.shape()) +
               " differ and the broadcast attribute is not set");
    return {a.shape(), b.shape()};
  }
  const int64_t trailing_axis = a.rank() - b.rank();
  const Shape b_shape =
      align_at_axis(ctx, b.shape(), a.shape().size(), ctx.node.attr_int("axis", trailing_axis));
  require_broadcasts_to(ctx, b_shape, a.shape());
  return {a.shape(), b_shape};
}

// Add, Sub, Mul, Div: both inputs of one numeric type.
template <class Op>
void arithmetic_kernel(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  require_same_dtype(ctx, a, b);
  const BinaryShapes shapes = binary_shapes(ctx, a, b);
  NumericTypes::dispatch(ctx, a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    if constexpr (std::is_same_v<Op, DivOp> && std::is_integral_v<T>) reject_zero_divisors<T>(ctx, b);
    broadcast_binary<T, T>(a, b.reshaped(shapes.b), ctx.make_output(0, a.dtype(), shapes.out), Op{});
  });
}

void pow_kernel(KernelContext& ctx) {
  const Tensor& base = ctx.input(0);
  const Tensor& exponent = ctx.input(1);
  const BinaryShapes shapes = binary_shapes(ctx, base, exponent);
  PowBaseTypes::dispatch(ctx, base.dtype(), [&](auto base_zero) {
    using T = decltype(base_zero);
    NumericTypes::dispatch(ctx, exponent.dtype(), [&](auto exponent_zero) {
      using E = decltype(exponent_zero);
      broadcast_binary<T, E>(base, exponent.reshaped(shapes.b),
                             ctx.make_output(0, base.dtype(), shapes.out), PowOp{});
    });
  });
}

// PRelu: slope broadcasts unidirectionally to X. Before opset 7 a slope of
// more than one element holds one value per channel (axis 1).
void prelu_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& slope = ctx.input(1);
  require_same_dtype(ctx, x, slope);
  const Shape slope_shape = ctx.opset < 7 && slope.numel() != 1
                                ? align_at_axis(ctx, slope.shape(), x.shape().size(), 1)
                                : slope.shape();
  require_broadcasts_to(ctx, slope_shape, x.shape());
  SignedTypes::dispatch(ctx, x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    broadcast_binary<T, T>(x, slope.reshaped(slope_shape), ctx.make_output(0, x.dtype(), x.shape()),
                           PReluOp{});
  });
}

// ---------------------------------------------------------------------------
// Unary ops: y = op(x), same shape and type.

template <class T, class Op>
void map_unary(KernelContext& ctx, const Tensor& x, Op op) {
  const T* in = x.data<T>();
  T* out = ctx.make_output(0, x.dtype(), x.shape()).template data<T>();
  for_each_chunk(x.numel(), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = op(in[i]);
  });
}

// Applies op (a functor with a templated operator()) to input 0 of any dtype in Types.
template <class Types, class Op>
void unary_kernel(KernelContext& ctx, Op op) {
  const Tensor& x = ctx.input(0);
  Types::dispatch(ctx, x.dtype(), [&](auto zero) { map_unary<decltype(zero)>(ctx, x, op); });
}

struct ReluOp {
  template <class T> T operator()(T x) const { return std::max(x, T{0}); }
};
struct LeakyReluOp {
  float alpha;
  template <class T> T operator()(T x) const { return x < T{0} ? static_cast<T>(alpha * x) : x; }
};
struct SigmoidOp {
  template <class T> T operator()(T x) const { return T{1} / (T{1} + std::exp(-x)); }
};
struct TanhOp {
  template <class T> T operator()(T x) const { return std::tanh(x); }
};
struct HardSigmoidOp {
  float alpha, beta;
  template <class T> T operator()(T x) const {
    return clamp_value(static_cast<T>(alpha) * x + static_cast<T>(beta), T{0}, T{1});
  }
};
struct HardSwishOp {
  template <class T> T operator()(T x) const {
    return x * clamp_value(x * static_cast<T>(1.0 / 6.0) + static_cast<T>(0.5), T{0}, T{1});
  }
};

template <class T>
struct ClipOp {
  T lo, hi;
  T operator()(T x) const { return clamp_value(x, lo, hi); }  // lo > hi gives hi, as ONNX specifies
};

// Clip bound from optional input `index` (opset 11+): a one-element tensor of x's type.
template <class T>
T clip_bound(const KernelContext& ctx, size_t index, const char* what, DType dtype, T fallback) {
  if (!ctx.has_input(index)) return fallback;
  const Tensor& bound = ctx.input(index);
  if (bound.dtype() != dtype)
    ctx.fail(std::string(what) + " has dtype " + std::string(dtype_name(bound.dtype())) +
             " but the input is " + std::string(dtype_name(dtype)));
  if (bound.numel() != 1)
    ctx.fail(std::string(what) + " must be a scalar, got shape " + shape_str(bound.shape()));
  return bound.data<T>()[0];
}

void clip_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (ctx.opset < 11) {  // bounds are float attributes
    FloatTypes::dispatch(ctx, x.dtype(), [&](auto zero) {
      using T = decltype(zero);
      const float lo = ctx.node.attr_float("min", std::numeric_limits<float>::lowest());
      const float hi = ctx.node.attr_float("max", std::numeric_limits<float>::max());
      map_unary<T>(ctx, x, ClipOp<T>{lo, hi});
    });
    return;
  }
  NumericTypes::dispatch(ctx, x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T lo = clip_bound<T>(ctx, 1, "min", x.dtype(), std::numeric_limits<T>::lowest());
    const T hi = clip_bound<T>(ctx, 2, "max", x.dtype(), std::numeric_limits<T>::max());
    map_unary<T>(ctx, x, ClipOp<T>{lo, hi});
  });
}

void identity_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor& y = ctx.make_output(0, x.dtype(), x.shape());
  if (x.nbytes()) std::memcpy(y.raw(), x.raw(), x.nbytes());
}

}  // namespace

void register_elementwise_kernels(KernelRegistry& r) {
  // Opsets 1-6 broadcast through the legacy attributes (see binary_shapes).
  r.add({"Add", "", 1, 17, kBackend, arithmetic_kernel<AddOp>});
  r.add({"Sub", "", 1, 17, kBackend, arithmetic_kernel<SubOp>});
  r.add({"Mul", "", 1, 17, kBackend, arithmetic_kernel<MulOp>});
  r.add({"Div", "", 1, 17, kBackend, arithmetic_kernel<DivOp>});
  r.add({"Pow", "", 1, 17, kBackend, pow_kernel});
  r.add({"PRelu", "", 1, 17, kBackend, prelu_kernel});

  // Activations: unchanged semantics since opset 1 (the opset-1 `consumed_inputs` is ignored).
  r.add({"Relu", "", 1, 17, kBackend,
         [](KernelContext& ctx) { unary_kernel<SignedTypes>(ctx, ReluOp{}); }});
  r.add({"LeakyRelu", "", 1, 17, kBackend, [](KernelContext& ctx) {
           unary_kernel<FloatTypes>(ctx, LeakyReluOp{ctx.node.attr_float("alpha", 0.01f)});
         }});
  r.add({"Sigmoid", "", 1, 17, kBackend,
         [](KernelContext& ctx) { unary_kernel<FloatTypes>(ctx, SigmoidOp{}); }});
  r.add({"Tanh", "", 1, 17, kBackend,
         [](KernelContext& ctx) { unary_kernel<FloatTypes>(ctx, TanhOp{}); }});
  r.add({"HardSigmoid", "", 1, 17, kBackend, [](KernelContext& ctx) {
           unary_kernel<FloatTypes>(ctx, HardSigmoidOp{ctx.node.attr_float("alpha", 0.2f),
                                                       ctx.node.attr_float("beta", 0.5f)});
         }});
  r.add({"HardSwish", "", 14, 17, kBackend,
         [](KernelContext& ctx) { unary_kernel<FloatTypes>(ctx, HardSwishOp{}); }});
  r.add({"Clip", "", 1, 17, kBackend, clip_kernel});
  r.add({"Identity", "", 1, 17, kBackend, identity_kernel});
}

}  // namespace octet
