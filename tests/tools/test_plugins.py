"""Plugins end to end with the example library (examples/plugins, docs/plugins.md):
a custom op builds into a plan that reloads and runs in a new process, clear
errors without the library, FP32-only and INT8 plugins in INT8 networks."""
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from conftest import LENET, REPO, assert_one_line_error

EXAMPLES = os.path.join(REPO, "examples", "plugins")
SWISH_NET = os.path.join(EXAMPLES, "swish_net.onnx")  # Conv -> example::Swish(beta=1.5) -> Conv
SWISH_BETA = 1.5


@pytest.fixture(scope="session")
def plugin_library(octet_cli):
    path = os.path.join(os.path.dirname(octet_cli), "liboctet_example_plugins.so")
    if not os.path.exists(path):
        pytest.fail(f"{path} not found: build the octet_example_plugins target")
    return path


@pytest.fixture(scope="session")
def swish_plan(run_octet, plugin_library, tmp_path_factory):
    plan = tmp_path_factory.mktemp("swish") / "swish.plan"
    run_octet("build", SWISH_NET, "-o", plan, "--plugins", plugin_library)
    return plan


@pytest.fixture(scope="session")
def lenet_fc(tmp_path_factory):
    """lenet with /fc1/Gemm replaced by the custom op octet.examples::FullyConnected."""
    path = tmp_path_factory.mktemp("lenet_fc") / "lenet_fc.onnx"
    subprocess.run([sys.executable, os.path.join(EXAMPLES, "make_lenet_fc.py"), str(path)], check=True,
                   capture_output=True)
    return path


def conv2d(x, w, b, pad):
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = np.lib.stride_tricks.sliding_window_view(x, w.shape[2:], axis=(2, 3))  # N, C, H, W, kh, kw
    return np.einsum("nchwij,ocij->nohw", windows, w) + b[None, :, None, None]


def swish_net_reference(x):
    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(SWISH_NET).graph.initializer}
    h = conv2d(x, weights["conv1.weight"], weights["conv1.bias"], pad=1)
    h = h / (1 + np.exp(-SWISH_BETA * h))
    return conv2d(h, weights["conv2.weight"], weights["conv2.bias"], pad=0)


def test_custom_op_plan_reloads_and_runs_in_a_new_process(swish_plan, plugin_library, infer_outputs, tmp_path):
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    got = infer_outputs(swish_plan, tmp_path / "x.npy", "--plugins", plugin_library)["output"]
    want = swish_net_reference(x)
    assert got.shape == want.shape == (3, 2, 6, 6)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_plan_stores_the_plugin_state_and_inspect_shows_the_layer(run_octet, swish_plan, plugin_library):
    layers = run_octet("inspect", swish_plan, "--plugins", plugin_library).stdout
    lines = layers.splitlines()
    swish = next(line for line in lines if "'/swish/Swish'" in line)
    # Elementwise and channels-last capable: it runs between the NHWC convolutions without Transposes.
    assert "kernel=plugin" in swish and " NHWC " in swish, swish
    assert not any("Transpose" in line and ("(/conv1/Conv_output_0:" in line or "(/swish/Swish_output_0:" in line)
                   for line in lines), layers


def test_build_without_the_library_names_op_node_and_registered_plugins(run_octet, tmp_path):
    proc = run_octet("build", SWISH_NET, "-o", tmp_path / "x.plan", check=False)
    assert_one_line_error(proc, SWISH_NET, "node '/swish/Swish'", "op 'Swish' of domain 'example'",
                          "no plugin 'Swish' (version '1', namespace '') is registered", "registered plugins: none",
                          "--plugins")
    assert not (tmp_path / "x.plan").exists()


@pytest.mark.parametrize("command", ["infer", "inspect", "bench"])
def test_loading_a_plan_without_the_library_names_the_plugin(run_octet, swish_plan, command, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 8, 8), np.float32))
    extra = {"infer": ["--input", tmp_path / "x.npy", "--output-dir", tmp_path], "inspect": [],
             "bench": ["--duration-s", "0.1", "--warmup-ms", "0"]}[command]
    proc = run_octet(command, swish_plan, *extra, check=False)
    assert_one_line_error(proc, str(swish_plan), "node '/swish/Swish'",
                          "plugin 'Swish' (version '1', namespace '') is not registered", "--plugins")


def test_library_errors_name_the_file(run_octet, swish_plan, octet_cli):
    proc = run_octet("inspect", swish_plan, "--plugins", "/nonexistent/libx.so", check=False)
    assert_one_line_error(proc, "/nonexistent/libx.so: cannot load plugin library", "No such file")
    not_plugin = os.path.join(os.path.dirname(octet_cli), "liboctet.so")
    proc = run_octet("inspect", swish_plan, "--plugins", not_plugin, check=False)
    assert_one_line_error(proc, f"{not_plugin}: not an octet plugin library", "octet_register_plugins")


def test_every_command_takes_plugins(run_octet, swish_plan, lenet_fc, plugin_library, fashion_npy):
    # build, infer and inspect are used above.
    run_octet("bench", swish_plan, "--plugins", plugin_library, "--duration-s", "0.1", "--warmup-ms", "0")
    out = run_octet("compare", lenet_fc, lenet_fc, "--data", fashion_npy("test", 50), "--plugins", plugin_library).stdout
    assert "Top-1 agreement: 100.00%" in out, out


def test_fp32_only_plugin_runs_fp32_between_conversions_in_an_int8_network(run_octet, plugin_library,
                                                                           infer_outputs, tmp_path):
    calib = np.random.default_rng(2).standard_normal((64, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "calib.npy", calib)
    plan = tmp_path / "swish_int8.plan"
    run_octet("build", SWISH_NET, "-o", plan, "--int8", "--calib-data", tmp_path / "calib.npy", "--plugins",
              plugin_library)
    layers = [line for line in run_octet("inspect", plan, "--plugins", plugin_library).stdout.splitlines()
              if line.strip().startswith("[")]
    swish = next(line for line in layers if "'/swish/Swish'" in line)
    assert " fp32 " in swish and "-> (/swish/Swish_output_0:float32" in swish, swish
    assert "(/conv1/Conv_output_0:float32" in swish, swish  # conv1 writes FP32 for its FP32 reader
    # Swish's output is quantized for the INT8 conv that reads it.
    assert any("QuantizeLinear" in line and "(/swish/Swish_output_0:float32" in line for line in layers), layers
    assert any("Int8Conv '/conv2/Conv'" in line for line in layers), layers
    got = infer_outputs(plan, tmp_path / "calib.npy", "--plugins", plugin_library)["output"]
    want = swish_net_reference(calib)
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()


def test_fully_connected_plugin_fp32_matches_the_gemm_it_replaces(lenet_fc, plugin_library, fashion_npy,
                                                                   infer_outputs):
    x_npy = fashion_npy("test", 200)
    got = infer_outputs(lenet_fc, x_npy, "--plugins", plugin_library)["logits"]
    want = ort.InferenceSession(LENET, providers=["CPUExecutionProvider"]).run(None, {"input": np.load(x_npy)})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_int8_plugin_gets_int8_tensors_and_keeps_fp32_accuracy(run_octet, lenet_fc, plugin_library, fashion_npy,
                                                               tmp_path):
    import fashion_mnist_npy

    plan = tmp_path / "lenet_fc_int8.plan"
    run_octet("build", lenet_fc, "-o", plan, "--int8", "--calib-data", fashion_npy("train", 512), "--plugins",
              plugin_library)
    layers = run_octet("inspect", plan, "--plugins", plugin_library).stdout
    fc = next(line for line in layers.splitlines() if "'/fc1/FullyConnected'" in line)
    assert " int8 " in fc and "kernel=plugin" in fc, fc
    assert "(/Flatten_output_0:int8[batch,800] scale=" in fc and "-> (/fc1/Gemm_output_0:int8" in fc, fc

    x, y = fashion_mnist_npy.load("test", 10000, 0)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    run_octet("compare", lenet_fc, plan, "--data", tmp_path / "x.npy", "--labels", tmp_path / "y.npy",
              "--json", tmp_path / "acc.json", "--plugins", plugin_library)
    acc = json.loads((tmp_path / "acc.json").read_text())
    with open(os.path.join(REPO, "models", "fashion_mnist.json")) as f:
        lenet_fp32_top1 = json.load(f)["models"]["lenet"]["fp32_top1"]
    # The plugin in FP32 computes lenet's function; in INT8 it stays within 0.5 points of it.
    assert abs(100 * acc["reference_top1"] - lenet_fp32_top1) < 0.02, acc
    assert 100 * acc["engine_top1"] >= 100 * acc["reference_top1"] - 0.5, acc
