// onednn Int8Add against the reference kernel (bit for bit), plus a timing
// printout at ResNet-50's residual-add shapes.
#include <algorithm>
#include <array>
#include <chrono>
#include <string>
#include <vector>

#include "kernels/onednn/onednn_extra_kernels.h"
#include "kernels/onednn/onednn_test_support.h"
#include "octet/parallel.h"

namespace octet::testing {
namespace {

class OnednnInt8AddTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    set_num_threads(2);
  }
};

Node add_node(float a_scale, float b_scale, float y_scale, const std::string& output_dtype,
              const std::string& activation, float clip_min = -1.0f, float clip_max = 1.0f) {
  Node node = make_node("Int8Add", 2, 1,
                        {{"a_scale", a_scale}, {"b_scale", b_scale}, {"y_scale", y_scale},
                         {"output_dtype", output_dtype}, {"activation", activation},
                         {"clip_min", clip_min}, {"clip_max", clip_max}});
  node.domain = "octet";
  return node;
}

TEST_F(OnednnInt8AddTest, MatchesReferenceBitForBit) {
  std::mt19937 rng(1);
  std::vector<Shape> shapes;
  for (int64_t n : {1, 4}) {
    shapes.push_back({n, 256, 56, 56});
    shapes.push_back({n, 512, 28, 28});
    shapes.push_back({n, 1024, 14, 14});
    shapes.push_back({n, 2048, 7, 7});
    shapes.push_back({n, 24, 56, 56});  // MobileNet-v2
    shapes.push_back({n, 96, 7, 7});
  }
  shapes.push_back({17});
  shapes.push_back({3, 5, 7});
  shapes.push_back({1, 16385, 1});
  std::uniform_real_distribution<float> scale(0.005f, 0.1f);
  int64_t elements = 0;
  for (const Shape& shape : shapes)
    for (const char* output_dtype : {"int8", "float32"})
      for (const char* activation : {"none", "relu", "clip"}) {
        const float a_scale = scale(rng), b_scale = scale(rng);
        const float y_scale = (a_scale + b_scale) * 0.7f;
        const Node node = add_node(a_scale, b_scale, y_scale, output_dtype, activation, -40 * y_scale, 90 * y_scale);
        const Tensor a = random_int8(shape, rng), b = random_int8(shape, rng);
        expect_bit_identical(run_node(node, {&a, &b}, 1, "onednn")[0], run_node(node, {&a, &b}, 1)[0],
                             "Int8Add " + shape_str(shape) + " " + output_dtype + " " + activation);
        elements += a.numel();
      }
  std::printf("compared %lld elements, all bit-identical\n", static_cast<long long>(elements));
}

TEST_F(OnednnInt8AddTest, TiesAndSaturationMatchReference) {
  std::mt19937 rng(2);
  // Ratios 0.5 and 0.25 make most sums land on ties; 4.0 saturates; tiny / huge scales.
  const std::vector<std::array<float, 3>> scales{{0.5f, 0.25f, 1.0f}, {0.05f, 0.025f, 0.1f}, {4.0f, 4.0f, 1.0f},
                                                 {1e-30f, 3e-30f, 1e-31f}, {1e30f, 2e30f, 1e29f},
                                                 {0.1f, 0.3f, 0.7f}};
  for (const auto& [a_scale, b_scale, y_scale] : scales)
    for (const char* output_dtype : {"int8", "float32"})
      for (const char* activation : {"none", "relu", "clip"}) {
        const Node node = add_node(a_scale, b_scale, y_scale, output_dtype, activation, -30.5f * y_scale, 60.5f * y_scale);
        const Tensor a = random_int8({4, 33, 31}, rng), b = random_int8({4, 33, 31}, rng);
        expect_bit_identical(run_node(node, {&a, &b}, 1, "onednn")[0], run_node(node, {&a, &b}, 1)[0],
                             "Int8Add scales " + std::to_string(a_scale) + "," + std::to_string(b_scale) + "," +
                                 std::to_string(y_scale) + " " + output_dtype + " " + activation);
      }
}

TEST_F(OnednnInt8AddTest, BroadcastingRunsTheReference) {
  std::mt19937 rng(3);
  const Node node = add_node(0.02f, 0.03f, 0.04f, "int8", "relu");
  const Tensor a = random_int8({2, 8, 5, 5}, rng), b = random_int8({1, 8, 1, 1}, rng);
  expect_bit_identical(run_node(node, {&a, &b}, 1, "onednn")[0], run_node(node, {&a, &b}, 1)[0], "broadcast Int8Add");
  const Tensor f = random_floats({2, 8, 5, 5}, rng);
  EXPECT_THROW(run_node(node, {&f, &a}, 1, "onednn"), Error);
}

// Not an assertion: reference vs onednn over ResNet-50's 16 residual adds, batch 64, 2 threads.
double seconds_per_run(const std::string& backend, const Node& node, const Tensor& a, const Tensor& b, int runs) {
  const KernelDef* def = KernelRegistry::global().find(node.domain, node.op_type, 1, backend);
  const auto kernel = def->bind(node, Graph{});
  std::vector<double> times;
  for (int r = 0; r < runs + 1; ++r) {
    KernelContext ctx{node, 1, {&a, &b}, std::vector<Tensor>(1)};
    const auto start = std::chrono::steady_clock::now();
    kernel->run(ctx);
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (r > 0 || runs == 0) times.push_back(t);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

TEST_F(OnednnInt8AddTest, TimingAtBatch64) {
  set_num_threads(2);
  std::mt19937 rng(4);
  const std::vector<std::pair<Shape, int>> layers{
      {{64, 256, 56, 56}, 3}, {{64, 512, 28, 28}, 4}, {{64, 1024, 14, 14}, 6}, {{64, 2048, 7, 7}, 3}};
  double total_ref = 0, total_dnn = 0;
  for (const auto& [shape, count] : layers) {
    const Tensor a = random_int8(shape, rng), b = random_int8(shape, rng);
    const Node node = add_node(0.03f, 0.05f, 0.06f, "int8", "relu");
    const double ref = seconds_per_run("reference", node, a, b, 1);
    const double dnn = seconds_per_run("onednn", node, a, b, 10);
    std::printf("Int8Add relu %-20s x%d: reference %8.2f ms  onednn %7.2f ms  (x%.1f)\n", shape_str(shape).c_str(),
                count, 1e3 * ref, 1e3 * dnn, ref / dnn);
    total_ref += count * ref;
    total_dnn += count * dnn;
  }
  std::printf("ResNet-50 Int8Add total (16 layers): reference %.1f ms  onednn %.1f ms  (x%.1f)\n", 1e3 * total_ref,
              1e3 * total_dnn, total_ref / total_dnn);
}

}  // namespace
}  // namespace octet::testing
