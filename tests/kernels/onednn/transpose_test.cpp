// onednn Transpose between NCHW and NHWC against the reference Transpose (bit
// for bit), what it declines and what it leaves to the reference, plus a timing
// printout at a ResNet-50 activation shape.
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "kernels/onednn/onednn_test_support.h"
#include "octet/parallel.h"

namespace octet::testing {
namespace {

class OnednnTransposeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { set_num_threads(2); }
};

const Shape kToNhwc{0, 2, 3, 1}, kToNchw{0, 3, 1, 2};

Node transpose_node(const Shape& perm) { return make_node("Transpose", 1, 1, {{"perm", perm}}); }

Tensor random_of(DType dtype, const Shape& shape, std::mt19937& rng) {
  if (dtype == DType::kFloat32) return random_floats(shape, rng);
  if (dtype == DType::kInt8) return random_int8(shape, rng);
  return random_uint8(shape, rng);
}

TEST_F(OnednnTransposeTest, MatchesReferenceBothWaysForEveryDtype) {
  std::mt19937 rng(1);
  for (DType dtype : {DType::kFloat32, DType::kInt8, DType::kUInt8})
    for (const Shape& shape : {Shape{1, 3, 5, 7}, Shape{2, 64, 14, 14}, Shape{3, 17, 1, 9}, Shape{1, 1, 4, 4},
                               Shape{4, 256, 7, 5}, Shape{0, 3, 2, 2}})
      for (const Shape& perm : {kToNhwc, kToNchw}) {
        const Node node = transpose_node(perm);
        const Tensor x = random_of(dtype, shape, rng);
        const std::string what = std::string(dtype_name(dtype)) + " " + shape_str(shape) + " perm " + shape_str(perm);
        expect_bit_identical(run_node(node, {&x}, 17, "onednn", Graph{})[0], run_node(node, {&x}, 17)[0], what);
      }
  // The two perms undo each other.
  const Tensor x = random_floats({2, 5, 6, 7}, rng);
  const Tensor nhwc = run_node(transpose_node(kToNhwc), {&x}, 17, "onednn", Graph{})[0];
  expect_bit_identical(nhwc, to_nhwc(x), "to NHWC");
  expect_bit_identical(run_node(transpose_node(kToNchw), {&nhwc}, 17, "onednn", Graph{})[0], x, "round trip");
}

TEST_F(OnednnTransposeTest, DeclinesOtherPerms) {
  std::mt19937 rng(2);
  const Tensor x = random_floats({1, 2, 3, 4}, rng);
  EXPECT_TRUE(accepts("onednn", transpose_node(kToNhwc), {&x}, 17));
  EXPECT_TRUE(accepts("onednn", transpose_node(kToNchw), {&x}, 17));
  EXPECT_FALSE(accepts("onednn", make_node("Transpose", 1), {&x}, 17));  // no perm: reversed axes
  for (const Shape& perm :
       {Shape{0, 1, 3, 2}, Shape{0, 1, 2, 3}, Shape{1, 0, 2, 3}, Shape{0, 2, 1}, Shape{0, 2, 3, 1, 4}})
    EXPECT_FALSE(accepts("onednn", transpose_node(perm), {&x}, 17)) << shape_str(perm);
}

// Other ranks and dtypes run the reference Transpose: its result, or its error.
TEST_F(OnednnTransposeTest, FallsBackToTheReference) {
  Tensor x64(DType::kFloat64, {2, 3, 4, 5});
  Tensor x32(DType::kInt32, {2, 3, 4, 5});
  for (int64_t i = 0; i < x64.numel(); ++i) {
    x64.set_from_double(i, 0.5 * i);
    x32.set_from_double(i, i);
  }
  for (const Tensor* x : {&x64, &x32})
    expect_bit_identical(run_node(transpose_node(kToNhwc), {x}, 17, "onednn", Graph{})[0],
                         run_node(transpose_node(kToNhwc), {x}, 17)[0], std::string(dtype_name(x->dtype())));

  std::mt19937 rng(3);
  const Tensor x3 = random_floats({2, 3, 4}, rng);
  auto message = [&](const std::string& backend) {
    try {
      run_node(transpose_node(kToNchw), {&x3}, 17, backend, Graph{});
    } catch (const Error& e) {
      return std::string(e.what());
    }
    ADD_FAILURE() << backend << ": expected an error for a 3-D input";
    return std::string();
  };
  EXPECT_EQ(message("onednn"), message("reference"));
  EXPECT_NE(message("onednn").find("is not a permutation of the 3 axes"), std::string::npos) << message("onednn");
}

double milliseconds_per_run(const std::string& backend, const Node& node, const Tensor& x, int runs) {
  const auto kernel = KernelRegistry::global().find("", "Transpose", 17, backend)->bind(node, Graph{});
  std::vector<double> times;
  for (int r = 0; r < runs + 1; ++r) {
    KernelContext ctx{node, 17, {&x}, std::vector<Tensor>(1)};
    const auto start = std::chrono::steady_clock::now();
    kernel->run(ctx);
    const double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (r > 0) times.push_back(t);  // the first run makes the primitive
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Not an assertion: ResNet-50's first block activation at batch 8, 2 threads.
TEST_F(OnednnTransposeTest, Timing) {
  std::mt19937 rng(4);
  const Shape shape{8, 256, 56, 56};
  for (DType dtype : {DType::kFloat32, DType::kInt8})
    for (const Shape& perm : {kToNhwc, kToNchw}) {
      const Tensor x = random_of(dtype, perm == kToNhwc ? shape : Shape{8, 56, 56, 256}, rng);
      const double ref = milliseconds_per_run("reference", transpose_node(perm), x, 3);
      const double dnn = milliseconds_per_run("onednn", transpose_node(perm), x, 5);
      std::printf("Transpose %s %s %s: reference %7.2f ms  onednn %7.2f ms (x%.1f)\n", shape_str(x.shape()).c_str(),
                  std::string(dtype_name(dtype)).c_str(), shape_str(perm).c_str(), ref, dnn, ref / dnn);
    }
}

}  // namespace
}  // namespace octet::testing
