"""The Python API over FP32 builds: parser, network, builder, runtime, engine, execution context, errors."""
import os

import numpy as np
import onnxruntime as ort
import pytest

from octet_testing import octet  # the module octet_testing located
from octet_testing import LENET, REPO, array_calibrator, int8_config, parse
from octet_testing import builder, calib_data, lenet, logger, test_images  # noqa: F401 (fixtures)


def test_network_describes_the_parsed_model(lenet):
    assert (lenet.num_inputs, lenet.num_outputs) == (1, 1)
    x, logits = lenet.get_input(0), lenet.get_output(0)
    assert (x.name, x.shape, x.dtype) == ("input", (-1, 1, 28, 28), np.float32)
    assert (logits.name, logits.shape) == ("logits", (-1, 10))
    types = [lenet.get_layer(i).type for i in range(lenet.num_layers)]
    assert types.count("Conv") == 2 and types.count("Gemm") == 3
    with pytest.raises(IndexError):
        lenet.get_layer(lenet.num_layers)


def test_fp32_engine_matches_onnxruntime(builder, lenet, test_images):
    _, x = test_images
    engine = builder.build_engine(lenet, builder.create_builder_config())
    assert (engine.precision, engine.calibration, engine.scales) == ("fp32", "", {})
    got = engine.create_execution_context().execute({"input": x})
    want = ort.InferenceSession(LENET, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    assert list(got) == ["logits"] and got["logits"].dtype == np.float32
    np.testing.assert_allclose(got["logits"], want, rtol=1e-4, atol=1e-4)


def test_plan_round_trip_gives_identical_outputs(builder, lenet, logger, test_images, tmp_path):
    _, x = test_images
    plan = builder.build_serialized_network(lenet, builder.create_builder_config())
    assert isinstance(plan, bytes)
    runtime = octet.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(plan)
    again = runtime.deserialize_engine(engine.serialize())  # TensorRT's name and octet's alias
    assert engine.serialize() == plan
    engine.save(tmp_path / "lenet.plan")
    assert (tmp_path / "lenet.plan").read_bytes() == plan
    a = engine.create_execution_context().execute({"input": x})["logits"]
    b = again.create_execution_context().execute({"input": x})["logits"]
    assert np.array_equal(a, b)


def test_engine_io_tensors(builder, lenet):
    engine = builder.build_engine(lenet, builder.create_builder_config())
    assert engine.num_io_tensors == 2
    assert [engine.get_tensor_name(i) for i in range(2)] == ["input", "logits"]
    assert engine.get_tensor_mode("input") == octet.TensorIOMode.INPUT
    assert engine.get_tensor_mode("logits") == octet.TensorIOMode.OUTPUT
    assert engine.get_tensor_shape("input") == (-1, 1, 28, 28)
    assert engine.get_tensor_dtype("logits") == np.float32
    with pytest.raises(KeyError, match="'nope' is not an input or output"):
        engine.get_tensor_shape("nope")
    with pytest.raises(IndexError):
        engine.get_tensor_name(2)


def test_outputs_survive_later_runs_and_inputs_are_untouched(builder, lenet, test_images):
    _, x = test_images
    context = builder.build_engine(lenet, builder.create_builder_config()).create_execution_context()
    x_before = x.copy()
    first = context.execute({"input": x[:8]})["logits"]
    first_copy = first.copy()
    context.execute({"input": x[8:16]})
    assert np.array_equal(first, first_copy), "a later run overwrote an earlier output array"
    assert np.array_equal(x, x_before), "the engine wrote into its input array"


def test_strided_and_read_only_inputs(builder, lenet, test_images):
    _, x = test_images
    context = builder.build_engine(lenet, builder.create_builder_config()).create_execution_context()
    strided = x[::2]  # not contiguous: copied to C order
    want = context.execute({"input": np.ascontiguousarray(strided)})["logits"]
    assert np.array_equal(context.execute({"input": strided})["logits"], want)
    read_only = np.frombuffer(np.ascontiguousarray(strided).tobytes(), np.float32).reshape(strided.shape)
    assert not read_only.flags.writeable
    assert np.array_equal(context.execute({"input": read_only})["logits"], want)


@pytest.mark.parametrize("inputs, message", [
    ({"input": np.zeros((2, 1, 28, 28), np.float64)}, "input 'input' must be float32, got float64"),
    ({"input": np.zeros((2, 28, 28), np.float32)}, "input 'input' must have shape [batch,1,28,28], got [2,28,28]"),
    ({"input": np.zeros((2, 1, 28, 27), np.float32)}, "input 'input' must have shape [batch,1,28,28], got [2,1,28,27]"),
    ({}, "missing input 'input'"),
    ({"input": np.zeros((1, 1, 28, 28), np.float32), "extra": np.zeros(1, np.float32)}, "unknown input 'extra'"),
    ({"input": np.zeros((1, 1, 28, 28), np.complex64)}, "input 'input': numpy dtype complex64 has no octet equivalent"),
    ({"input": "pixels"}, "input 'input': numpy dtype <U6 has no octet equivalent"),
])
def test_execute_rejects_bad_inputs(builder, lenet, inputs, message):
    context = builder.build_engine(lenet, builder.create_builder_config()).create_execution_context()
    with pytest.raises(octet.OctetError) as e:
        context.execute(inputs)
    assert message in str(e.value)


def test_parse_errors_name_the_file(builder, logger, tmp_path):
    missing = tmp_path / "missing.onnx"
    with pytest.raises(octet.OctetError, match="missing.onnx"):
        parse(builder, logger, str(missing))
    network = builder.create_network()
    with pytest.raises(octet.OctetError, match="garbage.onnx"):
        octet.OnnxParser(network, logger).parse(b"not a model", str(tmp_path / "garbage.onnx"))


def test_parse_bytes_then_refuse_a_second_model(builder, logger):
    network = builder.create_network()
    parser = octet.OnnxParser(network, logger)
    with open(LENET, "rb") as f:
        assert parser.parse(f.read()) is True
    assert network.num_layers > 0
    with pytest.raises(octet.OctetError, match="already holds ONNX model bytes"):
        parser.parse_from_file(LENET)


def test_corrupt_plan_is_refused(builder, lenet, logger):
    plan = builder.build_serialized_network(lenet, builder.create_builder_config())
    runtime = octet.Runtime(logger)
    with pytest.raises(octet.OctetError, match="serialized engine"):
        runtime.deserialize_cuda_engine(plan[: len(plan) // 2])
    with pytest.raises(octet.OctetError, match="serialized engine"):
        runtime.deserialize_cuda_engine(b"garbage" * 10)


def test_build_errors(builder, lenet):
    with pytest.raises(octet.OctetError, match="the network is empty"):
        builder.build_engine(builder.create_network(), builder.create_builder_config())
    config = builder.create_builder_config()
    config.set_flag(octet.BuilderFlag.INT8)
    with pytest.raises(octet.OctetError, match="needs calibration data"):
        builder.build_engine(lenet, config)
    with pytest.raises(TypeError, match="int8_calibrator must be an octet calibrator"):
        config.int8_calibrator = "calib.npy"


def test_builder_flags(builder):
    config = builder.create_builder_config()
    assert not config.get_flag(octet.BuilderFlag.INT8)
    config.set_flag(octet.BuilderFlag.INT8)
    assert config.get_flag(octet.BuilderFlag.INT8)
    config.clear_flag(octet.BuilderFlag.INT8)
    assert not config.get_flag(octet.BuilderFlag.INT8)
    for flag in octet.BuilderFlag.BF16, octet.BuilderFlag.FP16:
        assert not config.get_flag(flag)
        config.set_flag(flag)
        assert config.get_flag(flag) and not config.get_flag(octet.BuilderFlag.INT8)


def test_layer_precision_constraint_keeps_a_layer_in_fp32(builder, lenet, calib_data):
    _, data = calib_data
    conv = next(lenet.get_layer(i) for i in range(lenet.num_layers) if lenet.get_layer(i).type == "Conv")

    def precision_of(engine, name):  # an INT8 layer may be fused, e.g. "/conv1/Conv + /Relu"
        return next(p for layer, _, p in engine.layers if layer.split(" + ")[0] == name)

    free = builder.build_engine(lenet, int8_config(builder, array_calibrator(octet.IInt8MinMaxCalibrator, data)))
    assert precision_of(free, conv.name) == "int8"
    assert conv.precision is None and not conv.precision_is_set
    conv.precision = octet.float32
    assert conv.precision == octet.DataType.FLOAT and conv.precision_is_set
    pinned = builder.build_engine(lenet, int8_config(builder, array_calibrator(octet.IInt8MinMaxCalibrator, data)))
    assert precision_of(pinned, conv.name) == "fp32"
    conv.reset_precision()
    assert not conv.precision_is_set


def test_int8_precision_constraint_prefer_and_obey(builder, lenet, calib_data):
    _, data = calib_data
    layers = {lenet.get_layer(i).name: lenet.get_layer(i) for i in range(lenet.num_layers)}
    layers["/conv1/Conv"].precision = octet.float32
    layers["/Relu"].precision = octet.int8  # its input comes from an FP32 layer: it cannot run INT8
    assert layers["/Relu"].precision == octet.DataType.INT8
    config = int8_config(builder, array_calibrator(octet.IInt8MinMaxCalibrator, data))
    assert config.get_flag(octet.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
    assert builder.build_engine(lenet, config).precision == "int8"  # prefer: built, /Relu in FP32
    config = int8_config(builder, array_calibrator(octet.IInt8MinMaxCalibrator, data))  # a calibrator serves one build
    config.set_flag(octet.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    assert not config.get_flag(octet.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
    with pytest.raises(octet.OctetError, match="layer '/Relu' cannot run INT8"):
        builder.build_engine(lenet, config)


def test_logger_severity(builder, lenet, calib_data, capfd):
    _, data = calib_data
    config = int8_config(builder, array_calibrator(octet.IInt8MinMaxCalibrator, data))
    builder.build_engine(lenet, config)
    assert "octet: calibrated" in capfd.readouterr().err
    quiet = octet.Builder(octet.Logger(octet.Logger.WARNING))
    quiet.build_engine(lenet, int8_config(quiet, array_calibrator(octet.IInt8MinMaxCalibrator, data)))
    assert capfd.readouterr().err == ""


def test_num_threads():
    before = octet.get_num_threads()
    try:
        octet.set_num_threads(2)
        assert octet.get_num_threads() == 2
    finally:
        octet.set_num_threads(before)


def test_plugin_library_loads_and_its_custom_op_builds(builder, logger, tmp_path):
    """--plugins from Python: the example library registers Swish; the custom-op model builds, and its plan
    (holding the plugin's state) reloads with the same outputs."""
    build_dir = os.environ.get("OCTET_BUILD_DIR", os.path.join(REPO, "build"))
    library = os.path.join(build_dir, "liboctet_example_plugins.so")
    swish_net = os.path.join(REPO, "examples", "plugins", "swish_net.onnx")
    with pytest.raises(octet.OctetError, match="nonexistent.so"):
        octet.load_plugin_library(str(tmp_path / "nonexistent.so"))
    octet.load_plugin_library(library)
    assert "Swish" in octet.registered_plugins()
    engine = builder.build_engine(parse(builder, logger, swish_net), builder.create_builder_config())
    x = np.random.default_rng(0).uniform(-1, 1, (2, 1, 8, 8)).astype(np.float32)
    feed = {engine.get_tensor_name(0): x}
    out = engine.create_execution_context().execute(feed)
    again = octet.Runtime(logger).deserialize_engine(engine.serialize()).create_execution_context().execute(feed)
    (name,) = out
    assert out[name].shape[0] == 2 and np.abs(out[name]).max() > 0
    np.testing.assert_array_equal(again[name], out[name])


def test_optimization_profile_bounds_the_engines_inputs(builder, lenet, test_images):
    _, x = test_images
    profile = builder.create_optimization_profile()
    profile.set_shape("input", (1, 1, 28, 28), (4, 1, 28, 28), (8, 1, 28, 28))
    assert profile.get_shape("input") == ([1, 1, 28, 28], [4, 1, 28, 28], [8, 1, 28, 28])
    config = builder.create_builder_config()
    assert config.add_optimization_profile(profile) == 0
    context = builder.build_engine(lenet, config).create_execution_context()
    assert context.execute({"input": x[:8]})["logits"].shape == (8, 10)
    with pytest.raises(octet.OctetError, match=r"outside the engine's optimisation profile"):
        context.execute({"input": x[:9]})


def test_sub_batches_give_the_whole_batch_outputs(builder, lenet, test_images):
    _, x = test_images
    whole_config, split_config = builder.create_builder_config(), builder.create_builder_config()
    whole_config.sub_batch = 0
    split_config.sub_batch = 3
    for config in whole_config, split_config:
        config.select_kernels = False  # the same (reference) kernels in both, for identical outputs
    assert (whole_config.sub_batch, split_config.sub_batch) == (0, 3)
    whole = builder.build_engine(lenet, whole_config).create_execution_context().execute({"input": x})["logits"]
    split = builder.build_engine(lenet, split_config).create_execution_context().execute({"input": x})["logits"]
    assert x.shape[0] > 3 and np.array_equal(whole, split)
    with pytest.raises(ValueError, match="sub_batch"):
        whole_config.sub_batch = -2


def test_gpu_device_type_without_a_gpu_fails_saying_why(builder, lenet, calib_data):
    """DeviceType.GPU builds on the CUDA backend; where no CUDA device runs (CI) the build fails naming the reason."""
    config = int8_config(builder, octet.NpyCalibrator(calib_data[0], batch_size=16))
    assert config.default_device_type == octet.DeviceType.CPU
    config.default_device_type = octet.DeviceType.GPU
    assert config.default_device_type == octet.DeviceType.GPU
    if os.path.exists("/dev/nvidia0"):
        pytest.skip("this machine has an NVIDIA GPU")
    with pytest.raises(octet.OctetError, match="no CUDA device|without the CUDA backend"):
        builder.build_serialized_network(lenet, config)
