// The command-line tool's contract: outputs written where promised, and one
// clear line on stderr with a non-zero exit for every kind of bad input.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>

#include "octet/npy.h"
#include "support/temp_dir.h"

using namespace octet;
using octet::testing::onnx_node_case;
using octet::testing::TempDir;

namespace {
struct Result {
  int exit_code;
  std::string out, err;
};

Result run_cli(const std::string& args, const TempDir& dir) {
  std::string cmd = std::string(OCTET_CLI) + " " + args + " >" + dir.file("stdout") + " 2>" + dir.file("stderr");
  int status = std::system(cmd.c_str());
  auto slurp = [](const std::string& p) {
    std::ifstream in(p);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  };
  return {WEXITSTATUS(status), slurp(dir.file("stdout")), slurp(dir.file("stderr"))};
}

void expect_one_line_error(const Result& r, const std::string& needle) {
  EXPECT_NE(r.exit_code, 0);
  EXPECT_LT(r.exit_code, 128) << "crashed";
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
}

const std::string kRelu = onnx_node_case("test_relu") + "/model.onnx";  // x: float32[3,4,5]
const std::string kAdd = onnx_node_case("test_add") + "/model.onnx";    // x, y: float32[3,4,5]
}  // namespace

TEST(OctetCli, InferWritesEveryOutput) {
  TempDir dir;
  Tensor x(DType::kFloat32, {3, 4, 5});
  for (int i = 0; i < 60; ++i) x.data<float>()[i] = static_cast<float>(i - 30);
  write_npy(dir.file("x.npy"), x);
  Result r = run_cli("infer " + kRelu + " --input " + dir.file("x.npy") + " --output-dir " + dir.file("out"), dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Tensor y = read_npy(dir.file("out/y.npy"));
  ASSERT_EQ(y.shape(), (Shape{3, 4, 5}));
  EXPECT_EQ(y.data<float>()[0], 0.f);
  EXPECT_EQ(y.data<float>()[59], 29.f);
}

TEST(OctetCli, InferNamedInputs) {
  TempDir dir;
  write_npy(dir.file("x.npy"), Tensor(DType::kFloat32, {3, 4, 5}));
  write_npy(dir.file("y.npy"), Tensor(DType::kFloat32, {3, 4, 5}));
  Result r = run_cli("infer " + kAdd + " --input x=" + dir.file("x.npy") + " --input y=" + dir.file("y.npy") +
                         " --output-dir " + dir.file("out"), dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir.file("out/sum.npy")));
}

TEST(OctetCli, MissingModel) {
  TempDir dir;
  expect_one_line_error(run_cli("inspect " + dir.file("nope.onnx"), dir), "nope.onnx: no such file");
}

TEST(OctetCli, TruncatedAndGarbageModels) {
  TempDir dir;
  std::ifstream in(std::string(OCTET_SOURCE_DIR) + "/models/lenet.onnx", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(dir.file("t.onnx"), std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  expect_one_line_error(run_cli("inspect " + dir.file("t.onnx"), dir), "t.onnx: not a valid ONNX model");
  std::ofstream(dir.file("g.onnx"), std::ios::binary) << "\x08\x07garbage garbage garbage";
  expect_one_line_error(run_cli("bench " + dir.file("g.onnx"), dir), "g.onnx");
}

TEST(OctetCli, UnsupportedOpNamesNodeAndOpType) {
  TempDir dir;
  write_npy(dir.file("x.npy"), Tensor(DType::kFloat32, {3, 4, 5}));
  Result r = run_cli("infer " + onnx_node_case("test_abs") + "/model.onnx --input " + dir.file("x.npy") +
                         " --output-dir " + dir.file("out"), dir);
  expect_one_line_error(r, "(Abs)");
}

TEST(OctetCli, WrongShape) {
  TempDir dir;
  write_npy(dir.file("x.npy"), Tensor(DType::kFloat32, {2, 2}));
  expect_one_line_error(run_cli("infer " + kRelu + " --input " + dir.file("x.npy") + " --output-dir " + dir.file("o"), dir),
                        "input 'x' must have shape [3,4,5], got [2,2]");
}

TEST(OctetCli, WrongDtype) {
  TempDir dir;
  write_npy(dir.file("x.npy"), Tensor(DType::kInt64, {3, 4, 5}));
  expect_one_line_error(run_cli("infer " + kRelu + " --input " + dir.file("x.npy") + " --output-dir " + dir.file("o"), dir),
                        "input 'x' must be float32, got int64");
}

TEST(OctetCli, MissingInput) {
  TempDir dir;
  write_npy(dir.file("x.npy"), Tensor(DType::kFloat32, {3, 4, 5}));
  expect_one_line_error(run_cli("infer " + kAdd + " --input x=" + dir.file("x.npy") + " --output-dir " + dir.file("o"), dir),
                        "missing input 'y'");
}

TEST(OctetCli, UnreadableNpy) {
  TempDir dir;
  std::ofstream(dir.file("bad.npy")) << "not numpy at all";
  expect_one_line_error(run_cli("infer " + kRelu + " --input " + dir.file("bad.npy") + " --output-dir " + dir.file("o"), dir),
                        "bad.npy: not a .npy file");
  expect_one_line_error(run_cli("infer " + kRelu + " --input " + dir.file("absent.npy") + " --output-dir " + dir.file("o"), dir),
                        "absent.npy: cannot open file");
}

TEST(OctetCli, BenchPrintsTrtexecStyleSummary) {
  TempDir dir;
  Result r = run_cli("bench " + std::string(OCTET_SOURCE_DIR) + "/models/lenet.onnx --batch 4 --warmup-ms 10 "
                     "--duration-s 0.2 --json " + dir.file("b.json"), dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* key : {"inferences/s", "samples/s", "min", "mean", "median", "p90", "p95", "p99", "max"})
    EXPECT_NE(r.out.find(key), std::string::npos) << key;
  std::ifstream js(dir.file("b.json"));
  std::string json((std::istreambuf_iterator<char>(js)), {});
  EXPECT_NE(json.find("\"batch\": 4"), std::string::npos) << json;
  EXPECT_NE(json.find("throughput_samples_per_s"), std::string::npos) << json;
}

TEST(OctetCli, InspectListsLayersAndParameters) {
  TempDir dir;
  Result r = run_cli("inspect " + std::string(OCTET_SOURCE_DIR) + "/models/lenet.onnx", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("input:float32[batch,1,28,28]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Conv"), std::string::npos);
  EXPECT_NE(r.out.find("Parameters:"), std::string::npos);
}
