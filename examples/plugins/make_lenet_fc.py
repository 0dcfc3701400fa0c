#!/usr/bin/env python3
"""Writes lenet_fc.onnx: models/lenet.onnx with its first fully-connected layer
(/fc1/Gemm, 800 -> 128) replaced by the custom op octet.examples::FullyConnected,
whose weights travel as tensor attributes. The function is unchanged, so the
model keeps lenet's accuracy; octet runs the op with the FullyConnected plugin of
liboctet_example_plugins.so (docs/plugins.md). Needs the `onnx` package.

    python3 examples/plugins/make_lenet_fc.py /tmp/lenet_fc.onnx
"""
import os
import sys

import onnx
from onnx import helper, numpy_helper

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOMAIN = "octet.examples"


def make(out_path):
    model = onnx.load(os.path.join(REPO, "models", "lenet.onnx"))
    graph = model.graph
    index, gemm = next((i, n) for i, n in enumerate(graph.node) if n.name == "/fc1/Gemm")
    attrs = {a.name: helper.get_attribute_value(a) for a in gemm.attribute}
    assert attrs.get("transB") == 1 and attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0
    inits = {t.name: t for t in graph.initializer}
    weight, bias = inits[gemm.input[1]], inits[gemm.input[2]]  # [128, 800] (PyTorch Linear), [128]
    fc = helper.make_node("FullyConnected", [gemm.input[0]], [gemm.output[0]], name="/fc1/FullyConnected",
                          domain=DOMAIN, plugin_namespace=DOMAIN,
                          weight=numpy_helper.from_array(numpy_helper.to_array(weight), "weight"),
                          bias=numpy_helper.from_array(numpy_helper.to_array(bias), "bias"))
    graph.node.remove(gemm)
    graph.node.insert(index, fc)
    graph.initializer.remove(weight)
    graph.initializer.remove(bias)
    model.opset_import.append(helper.make_opsetid(DOMAIN, 1))
    onnx.save(model, out_path)
    print(f"wrote {out_path}")


if __name__ == "__main__":
    make(sys.argv[1] if len(sys.argv) > 1 else "lenet_fc.onnx")
