"""The Python path and the CLI agree bit for bit: same model, data and settings give the
same calibration cache bytes, the same scales, the same plan and the same outputs."""
import numpy as np
import pytest

from octet_testing import octet  # the module octet_testing located
from octet_testing import BATCH, LENET, array_calibrator, int8_config, parse
from octet_testing import builder, calib_data, lenet, logger, test_images  # noqa: F401 (fixtures)

# CLI --calibrator spec -> (ready-made algorithm, subclass base, percentile)
CALIBRATORS = {
    "mse": (octet.CalibrationAlgoType.MSE_CALIBRATION, octet.IInt8MseCalibrator),
    "entropy2": (octet.CalibrationAlgoType.ENTROPY_CALIBRATION_2, octet.IInt8EntropyCalibrator2),
    "minmax": (octet.CalibrationAlgoType.MINMAX_CALIBRATION, octet.IInt8MinMaxCalibrator),
    "percentile=99.9": (octet.CalibrationAlgoType.PERCENTILE_CALIBRATION, octet.IInt8PercentileCalibrator),
}


@pytest.mark.parametrize("spec", CALIBRATORS)
def test_python_and_cli_builds_are_identical(spec, run_octet, infer_outputs, builder, logger, calib_data,
                                             test_images, tmp_path):
    algorithm, base = CALIBRATORS[spec]
    data_path, data = calib_data
    x_path, x = test_images
    timing_cache = tmp_path / "timing.cache"  # the same kernels for both builds
    run_octet("build", LENET, "-o", tmp_path / "cli.plan", "--int8", "--calibrator", spec,
              "--calib-data", data_path, "--calib-batch", BATCH, "--calib-cache", tmp_path / "cli.cache",
              "--timing-cache", timing_cache, "--quiet")
    cli_cache = (tmp_path / "cli.cache").read_bytes()
    cli_plan = (tmp_path / "cli.plan").read_bytes()
    cli_engine = octet.Runtime(logger).deserialize_cuda_engine(cli_plan)

    network = parse(builder, logger)
    ready_made = octet.NpyCalibrator(data_path, algorithm, batch_size=BATCH, cache_file=tmp_path / "py.cache",
                                     percentile=99.9, progress=False)
    subclass = array_calibrator(base, data)
    if spec.startswith("percentile"):
        type(subclass).get_percentile = lambda self: 99.9
    outputs = {}
    for name, calibrator in (("ready-made", ready_made), ("subclass", subclass)):
        config = int8_config(builder, calibrator)
        config.timing_cache_path = timing_cache
        plan = builder.build_serialized_network(network, config)
        (tmp_path / f"{name}.plan").write_bytes(plan)
        engine = octet.Runtime(logger).deserialize_cuda_engine(plan)
        outputs[name] = engine.create_execution_context().execute({"input": x})["logits"]
        assert engine.scales == cli_engine.scales, name
        assert engine.layers == cli_engine.layers, name
        assert plan == cli_plan, name
    assert (tmp_path / "py.cache").read_bytes() == cli_cache
    assert subclass.cache_out == cli_cache

    cli_logits = infer_outputs(tmp_path / "cli.plan", x_path)["logits"]
    assert np.array_equal(outputs["ready-made"], cli_logits)
    assert np.array_equal(outputs["subclass"], cli_logits)
    # And the CLI runs the Python plan to the same outputs.
    assert np.array_equal(infer_outputs(tmp_path / "subclass.plan", x_path)["logits"], cli_logits)


def test_python_reuses_a_cli_cache(run_octet, builder, logger, calib_data, tmp_path, capfd):
    data_path, data = calib_data
    run_octet("build", LENET, "-o", tmp_path / "cli.plan", "--int8", "--calib-data", data_path,
              "--calib-cache", tmp_path / "cli.cache", "--quiet")
    calibrator = octet.NpyCalibrator(data_path, cache_file=tmp_path / "cli.cache", progress=False)
    engine = builder.build_engine(parse(builder, logger), int8_config(builder, calibrator))
    assert "valid calibration cache" in capfd.readouterr().err
    cli_engine = octet.Runtime(logger).deserialize_cuda_engine((tmp_path / "cli.plan").read_bytes())
    assert engine.scales == cli_engine.scales
