// Implicit-GEMM INT8 convolution (int8_conv.h): CUTLASS 3's sm_90 fprop kernel (TMA
// im2col loads of X, wgmma, int32 accumulators) with octet's requantizing epilogue
// (int8_epilogue.cuh), so results are the reference Int8Conv's bit for bit.
#include "kernels/cuda/int8_conv.h"

#include <cute/tensor.hpp>
#include <cutlass/kernel_hardware_info.hpp>
#include <cutlass/conv/collective/collective_builder.hpp>
#include <cutlass/conv/convnd_problem_shape.hpp>
#include <cutlass/conv/device/conv_universal_adapter.hpp>
#include <cutlass/conv/kernel/conv_universal.hpp>
#include <cutlass/epilogue/collective/collective_builder.hpp>

#include <climits>
#include <type_traits>

#include "kernels/cuda/int8_epilogue.cuh"

namespace octet::cuda {
namespace {

using namespace tensor_core;
using cute::_1;
using cute::_128;
using cute::_64;

// TileM output pixels x TileN output channels per CTA, 64-deep K steps, `Stages`
// pipeline stages (0: as many as the shared memory holds).
template <class TileM, class TileN, int Stages>
struct ImplicitConv {
  using TileShape = cute::Shape<TileM, TileN, cute::Shape<_64>>;
  using ClusterShape = cute::Shape<_1, _1, _1>;
  using Epilogue = RequantizeToInt8;
  using CollectiveEpilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, TileShape, ClusterShape,
      cutlass::epilogue::collective::EpilogueTileAuto, int32_t, float, void, cutlass::layout::TensorNHWC,
      kTmaAlignmentBytes, int8_t, cutlass::layout::TensorNHWC, kTmaAlignmentBytes,
      cutlass::epilogue::TmaWarpSpecialized, typename Epilogue::template Callbacks<TileShape>>::CollectiveOp;
  using CollectiveMainloop = typename cutlass::conv::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, cutlass::conv::Operator::kFprop, int8_t,
      cutlass::layout::TensorNHWC, kTmaAlignmentBytes, int8_t, cutlass::layout::TensorNHWC, kTmaAlignmentBytes,
      int32_t, TileShape, ClusterShape,
      std::conditional_t<Stages == 0,
                         cutlass::conv::collective::StageCountAutoCarveout<static_cast<int>(
                             sizeof(typename CollectiveEpilogue::SharedStorage))>,
                         cutlass::conv::collective::StageCount<Stages>>,
      cutlass::conv::collective::KernelScheduleAuto>::CollectiveOp;
  using ProblemShape = cutlass::conv::ConvProblemShape<CollectiveMainloop::DispatchPolicy::ConvOp,
                                                       CollectiveMainloop::DispatchPolicy::NumSpatialDimensions>;
  using Kernel = cutlass::conv::kernel::ConvUniversal<ProblemShape, CollectiveMainloop, CollectiveEpilogue>;
  using Device = cutlass::conv::device::ConvUniversalAdapter<Kernel>;
};

template <class Conv>
bool run_implicit(const int8_t* x, const int8_t* w, int8_t* y, const Conv2d& g, int pad_b, int pad_r,
                  const Int8Epilogue& epilogue, const DeviceInfo& device, cudaStream_t stream) {
  using Kernel = typename Conv::Kernel;
  using ProblemShape = typename Conv::ProblemShape;
  const ProblemShape problem(cutlass::conv::Mode::kCrossCorrelation,
                             {static_cast<int>(g.n), static_cast<int>(g.h), static_cast<int>(g.w), static_cast<int>(g.c)},
                             {static_cast<int>(g.m), g.kh, g.kw, static_cast<int>(g.c)}, {g.pad_t, g.pad_l},
                             {pad_b, pad_r}, {g.stride_h, g.stride_w}, {g.dil_h, g.dil_w}, 1);
  // CUTLASS derives the output extent from the pads; it must be ours.
  if (problem.shape_C[1] != g.oh || problem.shape_C[2] != g.ow) return false;
  // D (and the unused C) are packed [N, OH, OW, M]: the M mode's strides are (OW, OH, N)'s.
  typename Kernel::StrideD stride_d{};
  typename Kernel::StrideC stride_c{};
  cute::for_each(cute::make_seq<cute::rank<0>(typename Kernel::StrideD{})>{}, [&](auto i) {
    cute::get<0, i>(stride_d) = problem.stride_C[ProblemShape::RankT - 2 - i];
    cute::get<0, i>(stride_c) = problem.stride_C[ProblemShape::RankT - 2 - i];
  });
  cutlass::KernelHardwareInfo hw_info;
  hw_info.device_id = device.device;
  hw_info.sm_count = device.sm_count;
  typename Conv::Device::Arguments arguments{
      problem,
      {x, w},
      {Conv::Epilogue::template arguments<typename Conv::TileShape>(epilogue), nullptr, stride_c, y, stride_d},
      hw_info};
  typename Conv::Device conv;
  if (conv.can_implement(arguments) != cutlass::Status::kSuccess) return false;
  if (Conv::Device::get_workspace_size(arguments) != 0)
    throw Error("INT8 convolution: the CUTLASS configuration unexpectedly asks for a workspace");
  check_cutlass(conv.initialize(arguments, nullptr, stream), "initialize");
  check_cutlass(conv.run(stream), "launch");
  return true;
}

bool aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % kTmaAlignmentBytes == 0; }

constexpr int kDeep = 0, kShared = 4;

}  // namespace

ImplicitConvTile implicit_conv_tile_for(const Conv2d& g) {
  return g.m <= 64 ? ImplicitConvTile::k128x64Deep : ImplicitConvTile::k128x128Deep;
}

const char* implicit_conv_tile_name(ImplicitConvTile tile) {
  switch (tile) {
    case ImplicitConvTile::kAuto: return "auto";
    case ImplicitConvTile::k128x64Deep: return "128x64 deep";
    case ImplicitConvTile::k128x128Deep: return "128x128 deep";
    case ImplicitConvTile::k128x64Shared: return "128x64 shared";
    case ImplicitConvTile::k64x128Shared: return "64x128 shared";
    case ImplicitConvTile::k64x64Shared: return "64x64 shared";
  }
  return "?";
}

bool int8_conv_implicit_gemm(const int8_t* x, const int8_t* w, int8_t* y, const Conv2d& g,
                             const Int8Epilogue& epilogue, cudaStream_t stream, ImplicitConvTile tile) {
  if (!epilogue.scale) throw Error("INT8 convolution: the epilogue needs a scale vector");
  if (epilogue.residual.z || g.group != 1 || g.c % 16 != 0 || g.m % 16 != 0 || !aligned(x) || !aligned(w) ||
      !aligned(y))
    return false;
  if (g.n * g.h * g.w * g.c > INT_MAX || g.n * g.oh * g.ow * g.m > INT_MAX) return false;
  const DeviceInfo device = current_device_info();
  if (!device.is_sm90) return false;
  // The end pads that give exactly OH x OW outputs (ONNX's end pads may leave some unused).
  const int pad_b = static_cast<int>((g.oh - 1) * g.stride_h + (g.kh - 1) * g.dil_h + 1 - g.h - g.pad_t);
  const int pad_r = static_cast<int>((g.ow - 1) * g.stride_w + (g.kw - 1) * g.dil_w + 1 - g.w - g.pad_l);
  auto run = [&](auto conv) {
    return run_implicit<decltype(conv)>(x, w, y, g, std::max(pad_b, 0), std::max(pad_r, 0), epilogue, device, stream);
  };
  switch (tile == ImplicitConvTile::kAuto ? implicit_conv_tile_for(g) : tile) {
    case ImplicitConvTile::k128x64Deep: return run(ImplicitConv<_128, _64, kDeep>{});
    case ImplicitConvTile::k128x128Deep: return run(ImplicitConv<_128, _128, kDeep>{});
    case ImplicitConvTile::k128x64Shared: return run(ImplicitConv<_128, _64, kShared>{});
    case ImplicitConvTile::k64x128Shared: return run(ImplicitConv<_64, _128, kShared>{});
    case ImplicitConvTile::k64x64Shared: return run(ImplicitConv<_64, _64, kShared>{});
    case ImplicitConvTile::kAuto: break;
  }
  throw Error("INT8 convolution: unknown implicit GEMM tile");
}

}  // namespace octet::cuda
