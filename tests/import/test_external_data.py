"""Weights stored as ONNX external data load from beside the model file."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def make_matmul_model(path, weight):
    w = numpy_helper.from_array(weight, name="W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"], name="matmul")], "ext",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 32])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)


def test_external_data_weights(run_octet, tmp_path):
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((64, 32)).astype(np.float32)
    x = rng.standard_normal((2, 64)).astype(np.float32)
    make_matmul_model(tmp_path / "m.onnx", weight)
    assert (tmp_path / "weights.bin").stat().st_size == weight.nbytes
    np.save(tmp_path / "x.npy", x)
    run_octet("infer", tmp_path / "m.onnx", "--input", tmp_path / "x.npy", "--output-dir", tmp_path / "out")
    np.testing.assert_allclose(np.load(tmp_path / "out" / "y.npy"), x @ weight, rtol=1e-5, atol=1e-5)


def test_missing_external_data_file_is_named(run_octet, tmp_path):
    make_matmul_model(tmp_path / "m.onnx", np.ones((64, 32), np.float32))
    (tmp_path / "weights.bin").unlink()
    proc = run_octet("inspect", tmp_path / "m.onnx", check=False)
    assert proc.returncode != 0
    assert "weights.bin" in proc.stderr and "'W'" in proc.stderr


def test_newer_ir_version_imports(run_octet, tmp_path):
    """pip's onnx writes IR 10+; libonnx 1.12's checker knows IR 8 only."""
    weight = np.eye(64, 32, dtype=np.float32)
    make_matmul_model(tmp_path / "m.onnx", weight)
    model = onnx.load(str(tmp_path / "m.onnx"))
    model.ir_version = 10
    onnx.save_model(model, str(tmp_path / "ir10.onnx"))
    x = np.arange(128, dtype=np.float32).reshape(2, 64)
    np.save(tmp_path / "x.npy", x)
    run_octet("infer", tmp_path / "ir10.onnx", "--input", tmp_path / "x.npy", "--output-dir", tmp_path / "out")
    np.testing.assert_allclose(np.load(tmp_path / "out" / "y.npy"), x @ weight, rtol=1e-6)
