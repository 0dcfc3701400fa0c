// Plan files: an engine (FP32 or calibrated INT8) survives serialize -> deserialize
// unchanged, and every damaged, foreign or other-version plan is refused with an
// octet::Error that says why, never a crash.
#include <gtest/gtest.h>

#include <optional>

#include <cstring>
#include <fstream>
#include <random>

#include "octet/builder.h"
#include "octet/calibration_data.h"
#include "octet/engine.h"
#include "octet/npy.h"
#include "octet/onnx_importer.h"
#include "support/sample_engines.h"
#include "support/temp_dir.h"

using namespace octet;
using octet::testing::random_images;
using octet::testing::sample_model;
using octet::testing::build_int8_sample_engine;
using octet::testing::TempDir;

namespace {

// The engines are built once for the whole suite.
class EnginePlan : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fp32_ = new Engine(build_engine(import_onnx_file(sample_model("lenet")), BuilderConfig{}));
    int8_ = new Engine(build_int8_sample_engine("lenet", 64));
  }
  static void TearDownTestSuite() {
    delete fp32_;
    delete int8_;
  }

  static Engine* fp32_;
  static Engine* int8_;
};
Engine* EnginePlan::fp32_ = nullptr;
Engine* EnginePlan::int8_ = nullptr;

// Message of the octet::Error that deserializing `bytes` throws ("" if none is thrown).
std::string deserialize_error(const std::string& bytes) {
  try {
    Engine::deserialize(bytes, "test.plan");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

uint64_t read_u64(const std::string& bytes, size_t at) {
  uint64_t v;
  std::memcpy(&v, bytes.data() + at, sizeof v);
  return v;
}

// The plan header (docs/plan_format.md): magic | u32 version | str octet version |
// str target | u64 payload size | u8 n | n zero bytes | payload | u64 checksum; a
// str is u64 length + bytes.
struct PlanLayout {
  std::string octet_version, target;
  size_t rest_at;     // where the payload size starts
  size_t payload_at;  // where the payload starts
};
PlanLayout layout_of(const std::string& plan) {
  PlanLayout l;
  size_t at = 8 + 4;
  const uint64_t version_size = read_u64(plan, at);
  l.octet_version = plan.substr(at + 8, version_size);
  at += 8 + version_size;
  const uint64_t target_size = read_u64(plan, at);
  l.target = plan.substr(at + 8, target_size);
  l.rest_at = at + 8 + target_size;
  l.payload_at = l.rest_at + 8 + 1 + static_cast<unsigned char>(plan.at(l.rest_at + 8));
  return l;
}

// The same plan with its header's octet version and target strings replaced.
std::string with_header(const std::string& plan, const std::string& octet_version, const std::string& target) {
  auto str = [](const std::string& s) {
    std::string out(8, '\0');
    const uint64_t n = s.size();
    std::memcpy(out.data(), &n, sizeof n);
    return out + s;
  };
  return plan.substr(0, 12) + str(octet_version) + str(target) + plan.substr(layout_of(plan).rest_at);
}

// FNV-1a, as the plan's checksum, so tests can damage a payload yet keep it "valid".
uint64_t fnv1a(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

void expect_same_engine(const Engine& a, const Engine& b) {
  EXPECT_EQ(a.info().precision, b.info().precision);
  EXPECT_EQ(a.info().calibration, b.info().calibration);
  EXPECT_EQ(a.info().network_fingerprint, b.info().network_fingerprint);
  ASSERT_EQ(a.graph().nodes.size(), b.graph().nodes.size());
  for (size_t i = 0; i < a.graph().nodes.size(); ++i) {
    const Node& x = a.graph().nodes[i];
    const Node& y = b.graph().nodes[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.op_type, y.op_type);
    EXPECT_EQ(x.domain, y.domain);
    EXPECT_EQ(x.inputs, y.inputs);
    EXPECT_EQ(x.outputs, y.outputs);
    EXPECT_EQ(a.layer_precision(x), b.layer_precision(y)) << x.name;
  }
  EXPECT_EQ(a.graph().fingerprint(), b.graph().fingerprint());
  // Scales compared bit for bit.
  ASSERT_EQ(a.scales().size(), b.scales().size());
  for (const auto& [name, scale] : a.scales()) {
    ASSERT_TRUE(b.scales().count(name)) << name;
    const float other = b.scales().at(name);
    EXPECT_EQ(std::memcmp(&scale, &other, sizeof scale), 0) << name << ": " << scale << " vs " << other;
  }
}

void expect_same_outputs(const Engine& a, const Engine& b) {
  const TensorMap feed = {{"input", random_images(8, 7)}};
  const TensorMap out_a = a.make_executor().run(feed);
  const TensorMap out_b = b.make_executor().run(feed);
  ASSERT_EQ(out_a.size(), out_b.size());
  for (const auto& [name, t] : out_a) {
    const Tensor& u = out_b.at(name);
    ASSERT_EQ(t.dtype(), u.dtype()) << name;
    ASSERT_EQ(t.shape(), u.shape()) << name;
    EXPECT_EQ(std::memcmp(t.raw(), u.raw(), t.nbytes()), 0) << name << " differs";
  }
}

}  // namespace

TEST_F(EnginePlan, Fp32RoundTrip) {
  const std::string plan = fp32_->serialize();
  const Engine back = Engine::deserialize(plan, "fp32.plan");
  EXPECT_EQ(back.info().precision, "fp32");
  EXPECT_TRUE(back.scales().empty());
  expect_same_engine(*fp32_, back);
  expect_same_outputs(*fp32_, back);
  EXPECT_EQ(back.serialize(), plan);
}

TEST_F(EnginePlan, Int8RoundTrip) {
  ASSERT_EQ(int8_->info().precision, "int8");
  ASSERT_FALSE(int8_->scales().empty());
  const std::string plan = int8_->serialize();
  const Engine back = Engine::deserialize(plan, "int8.plan");
  expect_same_engine(*int8_, back);
  expect_same_outputs(*int8_, back);
  EXPECT_EQ(back.serialize(), plan);
}

TEST_F(EnginePlan, SaveAndLoadThroughAFile) {
  TempDir dir;
  int8_->save(dir.file("e.plan"));
  EXPECT_TRUE(is_plan_file(dir.file("e.plan")));
  EXPECT_FALSE(is_plan_file(sample_model("lenet")));
  const Engine back = Engine::load(dir.file("e.plan"));
  expect_same_engine(*int8_, back);
  expect_same_outputs(*int8_, back);
  // Nothing but the plan is left behind (the save is a temporary file and a rename).
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

// Loaded weights are views of the mapped file, each at a multiple of 64 bytes (the
// plan aligns them; heap copies would not all be); they outlive the file's removal
// and the engine they were loaded into.
TEST_F(EnginePlan, LoadedWeightsAreAlignedViewsOfTheMappedFile) {
  TempDir dir;
  const std::string path = dir.file("e.plan");
  int8_->save(path);
  std::optional<Engine> back = Engine::load(path);
  ASSERT_GT(back->graph().initializers.size(), 4u);
  for (const auto& [name, t] : back->graph().initializers)
    if (t.nbytes() > 0) EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % 64, 0u) << name;
  std::filesystem::remove(path);
  const Engine copy = *back;
  back.reset();
  expect_same_outputs(*int8_, copy);
}

TEST_F(EnginePlan, TruncatedPlansAreRefused) {
  const std::string plan = int8_->serialize();
  const PlanLayout l = layout_of(plan);
  // Cut inside the magic, the header fields, the payload and the checksum.
  std::vector<size_t> lengths = {0, 1, 7, 8, 11, 12, 19, 20, l.rest_at - 1, l.rest_at, l.payload_at,
                                 l.payload_at + 1, plan.size() / 2, plan.size() - 9, plan.size() - 8, plan.size() - 1};
  for (size_t n = 0; n < plan.size(); n += plan.size() / 97) lengths.push_back(n);
  for (size_t n : lengths) {
    const std::string message = deserialize_error(plan.substr(0, n));
    EXPECT_TRUE(contains(message, "truncated") || contains(message, "corrupt"))
        << "cut at " << n << " of " << plan.size() << ": '" << message << "'";
    EXPECT_TRUE(contains(message, "test.plan")) << message;
  }
  // Extra bytes after the checksum are as wrong as missing ones.
  const std::string message = deserialize_error(plan + "x");
  EXPECT_TRUE(contains(message, "truncated") || contains(message, "corrupt")) << message;
}

TEST_F(EnginePlan, FlippedBitIsACorruptPlan) {
  const std::string plan = int8_->serialize();
  const PlanLayout l = layout_of(plan);
  std::mt19937 rng(3);
  // Sampled payload bytes (about 500) plus every byte of the trailing checksum.
  std::vector<size_t> positions;
  for (size_t at = l.payload_at; at < plan.size() - 8; at += (plan.size() - l.payload_at) / 500 + 1) positions.push_back(at);
  positions.push_back(plan.size() - 9);
  for (size_t at = plan.size() - 8; at < plan.size(); ++at) positions.push_back(at);
  for (size_t at : positions) {
    std::string damaged = plan;
    damaged[at] = static_cast<char>(damaged[at] ^ (1 << (rng() % 8)));
    const std::string message = deserialize_error(damaged);
    EXPECT_TRUE(contains(message, "corrupt (checksum mismatch)")) << "byte " << at << ": '" << message << "'";
  }
}

// A payload damaged behind a recomputed checksum (a bug, not bit rot) must still
// give an Error or a plan, never a crash or a huge allocation.
TEST_F(EnginePlan, DamagedPayloadWithValidChecksumNeverCrashes) {
  const std::string plan = int8_->serialize();
  const PlanLayout l = layout_of(plan);
  const size_t payload_size = plan.size() - 8 - l.payload_at;
  std::mt19937 rng(5);
  for (int trial = 0; trial < 300; ++trial) {
    std::string damaged = plan;
    // The leading part holds the counts and names, where damage matters most.
    const size_t span = trial % 2 ? payload_size : std::min<size_t>(payload_size, 4096);
    const size_t at = l.payload_at + rng() % span;
    damaged[at] = static_cast<char>(rng());
    const uint64_t checksum = fnv1a(std::string_view(damaged).substr(l.payload_at, payload_size));
    std::memcpy(damaged.data() + plan.size() - 8, &checksum, sizeof checksum);
    try {
      Engine::deserialize(damaged, "test.plan");
    } catch (const Error&) {
    }
  }
}

TEST_F(EnginePlan, OtherFormatVersionIsRefused) {
  std::string plan = fp32_->serialize();
  const uint32_t version = 99;
  std::memcpy(plan.data() + 8, &version, sizeof version);
  const std::string message = deserialize_error(plan);
  EXPECT_TRUE(contains(message, "format version")) << message;
  EXPECT_TRUE(contains(message, "99")) << message;
}

TEST_F(EnginePlan, OtherOctetVersionIsRefused) {
  const std::string plan = fp32_->serialize();
  const PlanLayout l = layout_of(plan);
  const std::string message = deserialize_error(with_header(plan, l.octet_version + "-other", l.target));
  EXPECT_TRUE(contains(message, "built by octet " + l.octet_version + "-other")) << message;
  // The unchanged header is accepted (the helper itself is sound).
  EXPECT_EQ(deserialize_error(with_header(plan, l.octet_version, l.target)), "");
}

TEST_F(EnginePlan, OtherTargetIsRefused) {
  const std::string plan = fp32_->serialize();
  const std::string message = deserialize_error(with_header(plan, layout_of(plan).octet_version, "cpu:sparc"));
  EXPECT_TRUE(contains(message, "built for target 'cpu:sparc'")) << message;
}

// The target lists the CPU features the plan may use ("cpu:x86_64:avx2,avx512f,...").
TEST_F(EnginePlan, MissingCpuFeaturesAreRefusedByName) {
  const std::string plan = fp32_->serialize();
  const PlanLayout l = layout_of(plan);
  const std::string arch = l.target.substr(0, l.target.find(':', 4));
  const std::string features = l.target.size() > arch.size() ? l.target.substr(arch.size() + 1) : "";
  const std::string one_more = arch + ":" + features + (features.empty() ? "" : ",") + "quantum-int3";
  std::string message = deserialize_error(with_header(plan, l.octet_version, one_more));
  EXPECT_TRUE(contains(message, "plan was built for a CPU with quantum-int3; this machine lacks it")) << message;
  message = deserialize_error(with_header(plan, l.octet_version, arch + ":quantum-int3,avx1024"));
  EXPECT_TRUE(contains(message, "a CPU with quantum-int3, avx1024; this machine lacks them")) << message;
}

TEST_F(EnginePlan, PlanFromACpuWithFewerFeaturesLoads) {
  const std::string plan = fp32_->serialize();
  const PlanLayout l = layout_of(plan);
  const std::string arch = l.target.substr(0, l.target.find(':', 4));
  EXPECT_EQ(deserialize_error(with_header(plan, l.octet_version, arch)), "");
  // Every feature but the last.
  const size_t last_comma = l.target.rfind(',');
  if (last_comma != std::string::npos && last_comma > arch.size())
    EXPECT_EQ(deserialize_error(with_header(plan, l.octet_version, l.target.substr(0, last_comma))), "");
}

TEST_F(EnginePlan, NonPlanFilesAreRefused) {
  std::ifstream in(sample_model("lenet"), std::ios::binary);
  const std::string onnx((std::istreambuf_iterator<char>(in)), {});
  EXPECT_TRUE(contains(deserialize_error(onnx), "bad magic"));
  EXPECT_TRUE(contains(deserialize_error("TRT-8601-EntropyCalibration2\ninput: 3c010204\n"), "bad magic"));
  EXPECT_TRUE(contains(deserialize_error(std::string(64, '\0')), "bad magic"));
}

TEST_F(EnginePlan, MissingFileIsRefused) {
  TempDir dir;
  try {
    Engine::load(dir.file("nope.plan"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "nope.plan")) << e.what();
  }
}
