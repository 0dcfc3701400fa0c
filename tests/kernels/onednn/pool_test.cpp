// onednn MaxPool / AveragePool / GlobalAveragePool / GlobalMaxPool against the
// reference kernels, NCHW and channels-last, plus a timing printout at ResNet-50's shapes.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/onednn/onednn_extra_kernels.h"
#include "kernels/onednn/onednn_test_support.h"
#include "octet/parallel.h"

namespace octet::testing {
namespace {

class OnednnPoolTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    set_num_threads(2);
  }
};

Tensor random_of(DType dtype, Shape shape, std::mt19937& rng) {
  if (dtype == DType::kFloat32) return random_floats(std::move(shape), rng, -3.0f, 3.0f);
  if (dtype == DType::kInt8) return random_int8(std::move(shape), rng);
  return random_uint8(std::move(shape), rng);
}

struct PoolCase {
  Shape x;
  std::map<std::string, Attribute> attrs;
};

std::string describe(const std::string& op, DType dtype, const PoolCase& c) {
  std::string s = op + " " + std::string(dtype_name(dtype)) + " " + shape_str(c.x);
  for (const auto& [name, value] : c.attrs) {
    s += " " + name + "=";
    if (auto v = std::get_if<std::vector<int64_t>>(&value)) s += shape_str(*v);
    if (auto v = std::get_if<int64_t>(&value)) s += std::to_string(*v);
    if (auto v = std::get_if<std::string>(&value)) s += *v;
  }
  return s;
}

std::vector<PoolCase> max_pool_cases() {
  std::vector<PoolCase> cases;
  for (int64_t n : {1, 4}) {
    cases.push_back({{n, 64, 112, 112}, {{"kernel_shape", Shape{3, 3}}, {"strides", Shape{2, 2}}, {"pads", Shape{1, 1, 1, 1}}}});
    cases.push_back({{n, 32, 56, 56}, {{"kernel_shape", Shape{2, 2}}, {"strides", Shape{2, 2}}}});
    cases.push_back({{n, 24, 15, 13}, {{"kernel_shape", Shape{3, 3}}, {"strides", Shape{2, 2}}, {"ceil_mode", int64_t{1}}}});
    cases.push_back({{n, 16, 14, 14}, {{"kernel_shape", Shape{3, 3}}, {"strides", Shape{2, 2}}, {"pads", Shape{1, 1, 1, 1}}, {"ceil_mode", int64_t{1}}}});
  }
  cases.push_back({{2, 8, 17, 19}, {{"kernel_shape", Shape{3, 2}}, {"strides", Shape{1, 2}}, {"pads", Shape{2, 0, 1, 1}}}});
  cases.push_back({{2, 8, 17, 19}, {{"kernel_shape", Shape{3, 3}}, {"dilations", Shape{2, 2}}, {"pads", Shape{1, 2, 2, 1}}}});
  cases.push_back({{2, 8, 17, 19}, {{"kernel_shape", Shape{3, 3}}, {"strides", Shape{2, 2}}, {"dilations", Shape{2, 1}}, {"ceil_mode", int64_t{1}}}});
  cases.push_back({{2, 8, 16, 15}, {{"kernel_shape", Shape{3, 3}}, {"strides", Shape{2, 2}}, {"auto_pad", std::string("SAME_UPPER")}}});
  cases.push_back({{2, 8, 16, 15}, {{"kernel_shape", Shape{4, 4}}, {"strides", Shape{3, 3}}, {"auto_pad", std::string("SAME_LOWER")}}});
  cases.push_back({{2, 8, 16, 15}, {{"kernel_shape", Shape{3, 3}}, {"strides", Shape{2, 2}}, {"auto_pad", std::string("VALID")}, {"pads", Shape{1, 1, 1, 1}}}});
  cases.push_back({{1, 3, 5, 5}, {{"kernel_shape", Shape{5, 5}}}});
  return cases;
}

TEST_F(OnednnPoolTest, MaxPoolMatchesReferenceExactly) {
  std::mt19937 rng(1);
  for (DType dtype : {DType::kFloat32, DType::kInt8, DType::kUInt8})
    for (const PoolCase& c : max_pool_cases()) {
      const Node node = make_node("MaxPool", 1, 1, c.attrs);
      const Tensor x = random_of(dtype, c.x, rng);
      expect_bit_identical(run_node(node, {&x}, 17, "onednn")[0], run_node(node, {&x}, 17)[0], describe("MaxPool", dtype, c));
    }
}

std::vector<PoolCase> average_pool_cases() {
  std::vector<PoolCase> cases;
  for (int64_t n : {1, 4})
    for (int64_t include : {0, 1}) {
      cases.push_back({{n, 64, 56, 56}, {{"kernel_shape", Shape{3, 3}}, {"pads", Shape{1, 1, 1, 1}}, {"count_include_pad", include}}});
      cases.push_back({{n, 32, 28, 28}, {{"kernel_shape", Shape{2, 2}}, {"strides", Shape{2, 2}}, {"count_include_pad", include}}});
      cases.push_back({{n, 16, 17, 19}, {{"kernel_shape", Shape{3, 5}}, {"strides", Shape{2, 3}}, {"pads", Shape{1, 2, 2, 1}}, {"count_include_pad", include}}});
      cases.push_back({{n, 256, 7, 7}, {{"kernel_shape", Shape{7, 7}}, {"count_include_pad", include}}});
      cases.push_back({{n, 8, 16, 15}, {{"kernel_shape", Shape{3, 3}}, {"strides", Shape{2, 2}}, {"auto_pad", std::string("SAME_UPPER")}, {"count_include_pad", include}}});
    }
  cases.push_back({{2, 16, 15, 13}, {{"kernel_shape", Shape{3, 3}}, {"strides", Shape{2, 2}}, {"pads", Shape{1, 0, 0, 1}}, {"ceil_mode", int64_t{1}}}});
  cases.push_back({{2, 8, 17, 19}, {{"kernel_shape", Shape{3, 3}}, {"dilations", Shape{2, 2}}, {"pads", Shape{1, 2, 2, 1}}}});
  return cases;
}

TEST_F(OnednnPoolTest, AveragePoolMatchesReference) {
  std::mt19937 rng(2);
  for (const PoolCase& c : average_pool_cases()) {
    const Node node = make_node("AveragePool", 1, 1, c.attrs);
    const Tensor x = random_floats(c.x, rng);
    expect_close_fp32(run_node(node, {&x}, 17, "onednn")[0], run_node(node, {&x}, 17)[0],
                      describe("AveragePool", DType::kFloat32, c), 1e-6);
  }
}

TEST_F(OnednnPoolTest, GlobalPoolsMatchReference) {
  std::mt19937 rng(3);
  for (const Shape& shape : {Shape{1, 2048, 7, 7}, Shape{4, 2048, 7, 7}, Shape{4, 1280, 7, 7}, Shape{3, 5, 9, 11}, Shape{2, 3, 1, 1}, Shape{2, 6, 10}, Shape{1, 4, 3, 2, 5}}) {
    const Tensor x = random_floats(shape, rng);
    const Node avg = make_node("GlobalAveragePool", 1);
    expect_bit_identical(run_node(avg, {&x}, 17, "onednn")[0], run_node(avg, {&x}, 17)[0], "GlobalAveragePool " + shape_str(shape));
    const Node max = make_node("GlobalMaxPool", 1);
    expect_bit_identical(run_node(max, {&x}, 17, "onednn")[0], run_node(max, {&x}, 17)[0], "GlobalMaxPool " + shape_str(shape));
    // int8 GlobalMaxPool (not an ONNX type; the reference GlobalMaxPool is float only): as MaxPool over the plane.
    const Tensor q = random_int8(shape, rng);
    const Node plane_max = make_node("MaxPool", 1, 1, {{"kernel_shape", Shape(shape.begin() + 2, shape.end())}});
    expect_bit_identical(run_node(max, {&q}, 17, "onednn")[0], run_node(plane_max, {&q}, 17)[0], "int8 GlobalMaxPool " + shape_str(shape));
  }
}

TEST_F(OnednnPoolTest, FallsBackOrDeclines) {
  std::mt19937 rng(4);
  const Tensor x = random_floats({1, 2, 6, 6}, rng);
  // Runs on the reference: float64, and 1-D / 3-D pooling is declined.
  Tensor x64(DType::kFloat64, {1, 2, 6, 6});
  for (int64_t i = 0; i < x64.numel(); ++i) x64.set_from_double(i, x.get_as_double(i));
  const Node max = make_node("MaxPool", 1, 1, {{"kernel_shape", Shape{2, 2}}});
  expect_bit_identical(run_node(max, {&x64}, 17, "onednn")[0], run_node(max, {&x64}, 17)[0], "float64 MaxPool");
  EXPECT_TRUE(accepts("onednn", max, {&x}, 17));
  EXPECT_FALSE(accepts("onednn", make_node("MaxPool", 1, 2, {{"kernel_shape", Shape{2, 2}}}), {&x}, 17));  // Indices
  EXPECT_FALSE(accepts("onednn", make_node("MaxPool", 1, 1, {{"kernel_shape", Shape{2}}}), {&x}, 17));
  EXPECT_FALSE(accepts("onednn", make_node("MaxPool", 1, 1, {{"kernel_shape", Shape{2, 2, 2}}}), {&x}, 17));
  EXPECT_FALSE(accepts("onednn", make_node("AveragePool", 1, 1, {{"kernel_shape", Shape{3, 3}}, {"count_include_pad", int64_t{1}}, {"ceil_mode", int64_t{1}}}), {&x}, 17));
  // Pads as large as the window fail as in the reference.
  const Node bad = make_node("MaxPool", 1, 1, {{"kernel_shape", Shape{2, 2}}, {"pads", Shape{2, 0, 0, 0}}});
  EXPECT_THROW(run_node(bad, {&x}, 17, "onednn"), Error);
}

// Channels-last: X and Y NHWC, pooled as they are; compared transposed back to NCHW.
TEST_F(OnednnPoolTest, ChannelsLastMatchesReference) {
  std::mt19937 rng(6);
  for (DType dtype : {DType::kFloat32, DType::kInt8, DType::kUInt8})
    for (const PoolCase& c : max_pool_cases()) {
      const Node node = make_node("MaxPool", 1, 1, c.attrs);
      const Tensor x = random_of(dtype, c.x, rng);
      expect_bit_identical(run_channels_last(node, {&x}, {0}, 17, "onednn", Graph{}), run_node(node, {&x}, 17)[0],
                           describe("MaxPool", dtype, c) + " NHWC");
    }
  for (const PoolCase& c : average_pool_cases()) {
    const Node node = make_node("AveragePool", 1, 1, c.attrs);
    const Tensor x = random_floats(c.x, rng);
    expect_close_fp32(run_channels_last(node, {&x}, {0}, 17, "onednn", Graph{}), run_node(node, {&x}, 17)[0],
                      describe("AveragePool", DType::kFloat32, c) + " NHWC", 1e-6);
  }
  // 300 channels: a full block of channels and a partial one.
  for (const Shape& shape :
       {Shape{1, 2048, 7, 7}, Shape{4, 1280, 7, 7}, Shape{2, 300, 5, 3}, Shape{3, 5, 9, 11}, Shape{2, 3, 1, 1}}) {
    const Tensor x = random_floats(shape, rng);
    for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"}) {
      const Node node = make_node(op, 1);
      expect_bit_identical(run_channels_last(node, {&x}, {0}, 17, "onednn", Graph{}), run_node(node, {&x}, 17)[0],
                           std::string(op) + " NHWC " + shape_str(shape));
    }
    const Tensor q = random_int8(shape, rng);
    const Node plane_max = make_node("MaxPool", 1, 1, {{"kernel_shape", Shape(shape.begin() + 2, shape.end())}});
    expect_bit_identical(run_channels_last(make_node("GlobalMaxPool", 1), {&q}, {0}, 17, "onednn", Graph{}),
                         run_node(plane_max, {&q}, 17)[0], "int8 GlobalMaxPool NHWC " + shape_str(shape));
  }
}

// What the onednn pools do not run (float64, other ranks) goes to the reference, which handles
// channels-last nodes too, and reports a channels-last X that is not 4-D.
TEST_F(OnednnPoolTest, ChannelsLastFallsBackToTheReference) {
  std::mt19937 rng(7);
  const Tensor x = random_floats({2, 3, 6, 5}, rng);
  Tensor x64(DType::kFloat64, x.shape());
  for (int64_t i = 0; i < x64.numel(); ++i) x64.set_from_double(i, x.get_as_double(i));
  const Node max_pool = make_node("MaxPool", 1, 1, {{"kernel_shape", Shape{2, 2}}});
  for (const Node& node : {max_pool, make_node("GlobalAveragePool", 1)})
    expect_bit_identical(run_channels_last(node, {&x64}, {0}, 17, "onednn", Graph{}), run_node(node, {&x64}, 17)[0],
                         "float64 " + node.op_type + " NHWC");
  const Tensor x3 = random_floats({2, 6, 5}, rng);
  for (const Node& node : {max_pool, make_node("GlobalMaxPool", 1)}) {
    try {
      run_node(channels_last(node), {&x3}, 17, "onednn", Graph{});
      ADD_FAILURE() << node.op_type << ": expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("test_" + node.op_type), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("must be 4-D [N, H, W, C]"), std::string::npos) << e.what();
    }
  }
}

// Not an assertion: reference vs onednn at ResNet-50's pooling shapes, batch 64, 2 threads.
double seconds_per_run(const std::string& backend, const Node& node, const Tensor& x, int runs) {
  const KernelDef* def = KernelRegistry::global().find(node.domain, node.op_type, 17, backend);
  const auto kernel = def->bind(node, Graph{});
  std::vector<double> times;
  for (int r = 0; r < runs + 1; ++r) {
    KernelContext ctx{node, 17, {&x}, std::vector<Tensor>(1)};
    const auto start = std::chrono::steady_clock::now();
    kernel->run(ctx);
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (r > 0) times.push_back(t);  // the first run makes the primitive
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

TEST_F(OnednnPoolTest, TimingAtBatch64) {
  set_num_threads(2);
  std::mt19937 rng(5);
  struct Timed {
    const char* what;
    Node node;
    Shape shape;
    DType dtype;
  };
  const Node stem = make_node("MaxPool", 1, 1, {{"kernel_shape", Shape{3, 3}}, {"strides", Shape{2, 2}}, {"pads", Shape{1, 1, 1, 1}}});
  const std::vector<Timed> timed{
      {"MaxPool 3x3 s2 p1 [64,64,112,112] f32", stem, {64, 64, 112, 112}, DType::kFloat32},
      {"MaxPool 3x3 s2 p1 [64,64,112,112] s8", stem, {64, 64, 112, 112}, DType::kInt8},
      {"GlobalAveragePool [64,2048,7,7] f32", make_node("GlobalAveragePool", 1), {64, 2048, 7, 7}, DType::kFloat32},
      {"GlobalMaxPool [64,2048,7,7] f32", make_node("GlobalMaxPool", 1), {64, 2048, 7, 7}, DType::kFloat32},
  };
  for (const Timed& t : timed) {
    const Tensor x = random_of(t.dtype, t.shape, rng);
    const double ref = seconds_per_run("reference", t.node, x, 3);
    std::printf("%-42s reference %8.2f ms", t.what, 1e3 * ref);
    for (const char* nhwc : {"0", "1"}) {
      if (t.node.op_type != "MaxPool") break;  // the global pools do not use oneDNN
      setenv("OCTET_ONEDNN_POOL_NHWC", nhwc, 1);
      const double dnn = seconds_per_run("onednn", t.node, x, 3);
      std::printf("  onednn %s %7.2f ms (x%.1f)", nhwc[0] == '1' ? "via nhwc" : "nchw", 1e3 * dnn, ref / dnn);
    }
    unsetenv("OCTET_ONEDNN_POOL_NHWC");
    std::printf("  default %7.2f ms", 1e3 * seconds_per_run("onednn", t.node, x, 10));
    const double channels_last_node = seconds_per_run("onednn", channels_last(t.node), to_nhwc(x), 10);
    std::printf("  channels-last node %7.2f ms\n", 1e3 * channels_last_node);
  }
}

}  // namespace
}  // namespace octet::testing
