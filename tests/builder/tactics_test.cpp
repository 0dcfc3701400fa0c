#include "builder/tactics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "octet/kernel.h"
#include "octet/onnx_importer.h"
#include "support/temp_dir.h"

using namespace octet;
using octet::testing::TempDir;

namespace {

// Test backends for Relu: one slower than the reference kernel, one that declines every node.
void register_test_backends() {
  static bool done = false;
  if (done) return;
  done = true;
  auto& registry = KernelRegistry::global();
  const KernelDef* reference = registry.find("", "Relu", 14);
  KernelDef slow = *reference;
  slow.backend = "test_slow";
  slow.fn = [fn = reference->fn](KernelContext& ctx) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    fn(ctx);
  };
  registry.add(slow);
  KernelDef declines = *reference;
  declines.backend = "test_declines";
  declines.prepare = [](const Node&, const Graph&) { return std::unique_ptr<PreparedKernel>(); };
  registry.add(declines);
}

Graph lenet() { return import_onnx_file(std::string(OCTET_SOURCE_DIR) + "/models/lenet.onnx"); }

}  // namespace

TEST(Tactics, PicksTheFastestBackendThatAcceptsTheLayer) {
  register_test_backends();
  Graph g = lenet();
  TimingCache cache;
  TacticOptions options;
  options.min_time_ms = 1;
  const int decided = select_tactics(g, cache, options, [](const std::string&) {});
  int relus = 0;
  for (const auto& n : g.nodes) {
    if (n.op_type != "Relu") continue;
    ++relus;
    EXPECT_EQ(n.backend, "reference") << n.name;
  }
  EXPECT_GE(decided, relus);  // other layers may have several backends too
  EXPECT_GT(relus, 0);
}

TEST(Tactics, TimingCacheMakesRebuildsReproducible) {
  register_test_backends();
  TempDir dir;
  TimingCache first;
  TacticOptions options;
  options.min_time_ms = 1;
  Graph g1 = lenet();
  select_tactics(g1, first, options, [](const std::string&) {});
  first.save(dir.file("timing.cache"));

  TimingCache loaded;
  loaded.load(dir.file("timing.cache"));
  EXPECT_EQ(loaded.size(), first.size());
  std::string message;
  Graph g2 = lenet();
  select_tactics(g2, loaded, options, [&](const std::string& m) { message = m; });
  EXPECT_NE(message.find("from the timing cache"), std::string::npos) << message;
  for (size_t i = 0; i < g1.nodes.size(); ++i) EXPECT_EQ(g1.nodes[i].backend, g2.nodes[i].backend);
}

TEST(Tactics, MalformedTimingCacheNamesFileAndLine) {
  TempDir dir;
  std::ofstream(dir.file("bad.cache")) << "sig\treference\t0.5\nsig\tonednn\tfast\n";
  TimingCache cache;
  try {
    cache.load(dir.file("bad.cache"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.cache:2"), std::string::npos) << e.what();
  }
}

TEST(Tactics, WorkspaceLimitPassesOverKernelsThatNeedMore) {
  TimingCache cache;
  TacticOptions options;
  options.batch = 8;
  options.min_time_ms = 1;
  Graph free = lenet();
  select_tactics(free, cache, options, [](const std::string&) {});
  // Kernels meter their workspace (the x86 direct conv's padded rows, oneDNN's reorders and
  // scratchpads); the cache file keeps it as a fourth column.
  TempDir dir;
  cache.save(dir.file("timing.cache"));
  std::ifstream in(dir.file("timing.cache"));
  int64_t largest = 0;
  for (std::string line; std::getline(in, line);) {
    ASSERT_EQ(std::count(line.begin(), line.end(), '\t'), 3) << line;
    largest = std::max<int64_t>(largest, std::stoll(line.substr(line.rfind('\t') + 1)));
  }
  ASSERT_GT(largest, 1) << "no kernel metered any workspace";

  auto passed_over = [&](size_t limit) {
    options.workspace_limit = limit;
    std::string message;
    Graph g = lenet();
    select_tactics(g, cache, options, [&](const std::string& m) { message = m; });
    const auto at = message.find(" kernels passed over");
    EXPECT_NE(at, std::string::npos) << message;
    return std::stoi(message.substr(message.rfind("; ", at) + 2));
  };
  EXPECT_GT(passed_over(1), 0);
  EXPECT_EQ(passed_over(static_cast<size_t>(largest)), 0);
}
