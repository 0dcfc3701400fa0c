// QDQ export of an engine whose residual Adds are fused into their convolutions (GPU
// engines, fuse_int8_residual_adds): written as the convolution and its Add, the
// model computes what the export of the unfused engine does, bit for bit.
#include <gtest/gtest.h>

#include <algorithm>

#include "octet/executor.h"
#include "octet/onnx_importer.h"
#include "octet/qdq_export.h"
#include "passes/passes.h"
#include "support/expect_identical.h"
#include "support/sample_engines.h"
#include "support/temp_dir.h"

using namespace octet;

TEST(QdqExport, FusedResidualConvolutionsExportAsConvAndAdd) {
  const Engine engine = octet::testing::build_int8_sample_engine("resnet", 32);
  Graph fused = engine.graph();
  ASSERT_GT(fuse_int8_residual_adds(fused), 0);
  const Engine fused_engine(fused, engine.scales(), engine.info());
  octet::testing::TempDir dir;
  export_qdq_onnx(engine, dir.file("unfused.onnx"));
  export_qdq_onnx(fused_engine, dir.file("fused.onnx"));
  const Graph unfused_model = import_onnx_file(dir.file("unfused.onnx"));
  const Graph fused_model = import_onnx_file(dir.file("fused.onnx"));
  // The same FP32 ops between the Q/DQ pairs (the Transposes to and from NCHW may differ).
  for (const char* op : {"Conv", "Add", "Relu", "QuantizeLinear", "DequantizeLinear"}) {
    auto count = [&](const Graph& g) {
      return std::count_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.op_type == op; });
    };
    EXPECT_EQ(count(fused_model), count(unfused_model)) << op;
  }
  const TensorMap feed = {{unfused_model.inputs.at(0).name, octet::testing::random_images(4, 3)}};
  octet::testing::expect_identical(Executor(unfused_model).run(feed), Executor(fused_model).run(feed),
                                   "fused vs unfused export");
}
