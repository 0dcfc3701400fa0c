"""Calibrators: TensorRT-style Python subclasses, cache reuse, octet's ready-made ones, and their errors."""
import numpy as np
import pytest

from octet_testing import octet  # the module octet_testing located
from octet_testing import BATCH, RESNET, array_calibrator, int8_config, parse
from octet_testing import builder, calib_data, lenet, logger, test_images  # noqa: F401 (fixtures)

ALGORITHMS = [
    (octet.IInt8EntropyCalibrator2, "EntropyCalibration2"),
    (octet.IInt8EntropyCalibrator, "EntropyCalibration"),
    (octet.IInt8MinMaxCalibrator, "MinMaxCalibration"),
    (octet.IInt8PercentileCalibrator, "PercentileCalibration"),
    (octet.IInt8MseCalibrator, "MSECalibration"),
]


def top1_agreement(a, b):
    return (a["logits"].argmax(1) == b["logits"].argmax(1)).mean()


@pytest.mark.parametrize("base, algorithm", ALGORITHMS, ids=[a for _, a in ALGORITHMS])
def test_subclass_calibrates_with_its_algorithm(builder, lenet, calib_data, test_images, base, algorithm):
    _, data = calib_data
    calibrator = array_calibrator(base, data)
    engine = builder.build_engine(lenet, int8_config(builder, calibrator))
    assert (engine.precision, engine.calibration) == ("int8", algorithm)
    assert calibrator.batches_served == len(data) // BATCH
    assert isinstance(calibrator.cache_out, bytes)
    assert calibrator.cache_out.startswith(f"TRT-8601-{algorithm}\ninput: ".encode())
    assert "/conv1/Conv_output_0: ".encode() in calibrator.cache_out
    assert "/Relu_output_0" in engine.scales
    _, x = test_images
    fp32 = builder.build_engine(lenet, builder.create_builder_config()).create_execution_context().execute({"input": x})
    int8 = engine.create_execution_context().execute({"input": x})
    assert top1_agreement(fp32, int8) > 0.85


def test_generic_calibrator_names_its_algorithm(builder, lenet, calib_data):
    _, data = calib_data
    calibrator = array_calibrator(octet.IInt8Calibrator, data)
    type(calibrator).get_algorithm = lambda self: octet.CalibrationAlgoType.MINMAX_CALIBRATION
    assert builder.build_engine(lenet, int8_config(builder, calibrator)).calibration == "MinMaxCalibration"


def test_percentile_override_changes_the_scales(builder, lenet, calib_data):
    _, data = calib_data
    default = array_calibrator(octet.IInt8PercentileCalibrator, data)
    assert default.get_percentile() == pytest.approx(99.99)
    lower = array_calibrator(octet.IInt8PercentileCalibrator, data)
    type(lower).get_percentile = lambda self: 90.0
    a = builder.build_engine(lenet, int8_config(builder, default)).scales
    b = builder.build_engine(lenet, int8_config(builder, lower)).scales
    assert b["/Relu_output_0"] < a["/Relu_output_0"]


@pytest.mark.parametrize("form", ["list", "tuple", "dict", "bare array"])
def test_get_batch_return_forms(builder, lenet, calib_data, form):
    _, data = calib_data
    reference = array_calibrator(octet.IInt8MinMaxCalibrator, data)
    want = builder.build_engine(lenet, int8_config(builder, reference)).scales
    calibrator = array_calibrator(octet.IInt8MinMaxCalibrator, data)
    as_list = type(calibrator).get_batch

    def get_batch(self, names):
        batch = as_list(self, names)
        if batch is None:
            return None
        return {"list": batch, "tuple": tuple(batch), "dict": {"input": batch[0]}, "bare array": batch[0]}[form]
    type(calibrator).get_batch = get_batch
    assert builder.build_engine(lenet, int8_config(builder, calibrator)).scales == want


def test_cache_reuse_skips_calibration(builder, lenet, calib_data, test_images, capfd):
    _, data = calib_data
    first = array_calibrator(octet.IInt8EntropyCalibrator2, data)
    engine = builder.build_engine(lenet, int8_config(builder, first))
    capfd.readouterr()

    class CacheOnly(octet.IInt8EntropyCalibrator2):
        def get_batch_size(self):
            return BATCH

        def get_batch(self, names):
            raise AssertionError("calibration ran although the cache was valid")

        def read_calibration_cache(self):
            return first.cache_out

    reused = builder.build_engine(lenet, int8_config(builder, CacheOnly()))
    assert "skipping calibration" in capfd.readouterr().err
    assert reused.scales == engine.scales
    _, x = test_images
    assert np.array_equal(engine.create_execution_context().execute({"input": x})["logits"],
                          reused.create_execution_context().execute({"input": x})["logits"])


def test_cache_of_another_algorithm_is_recalibrated(builder, lenet, calib_data, capfd):
    _, data = calib_data
    minmax = array_calibrator(octet.IInt8MinMaxCalibrator, data)
    builder.build_engine(lenet, int8_config(builder, minmax))
    entropy = array_calibrator(octet.IInt8EntropyCalibrator2, data)
    entropy.cache_in = minmax.cache_out
    capfd.readouterr()
    assert builder.build_engine(lenet, int8_config(builder, entropy)).calibration == "EntropyCalibration2"
    assert "made with MinMaxCalibration, not EntropyCalibration2: calibrating again" in capfd.readouterr().err
    assert entropy.batches_served == len(data) // BATCH


def test_ready_made_npy_calibrator_writes_and_reuses_its_cache(builder, lenet, calib_data, tmp_path, capfd):
    path, data = calib_data
    cache = tmp_path / "lenet.cache"
    calibrator = octet.NpyCalibrator(str(path), algorithm=octet.CalibrationAlgoType.MINMAX_CALIBRATION,
                                     batch_size=BATCH, cache_file=str(cache), progress=False)
    assert calibrator.cache_file == str(cache) and calibrator.get_batch_size() == BATCH
    engine = builder.build_engine(lenet, int8_config(builder, calibrator))
    subclass = array_calibrator(octet.IInt8MinMaxCalibrator, data)
    assert builder.build_engine(lenet, int8_config(builder, subclass)).scales == engine.scales
    assert cache.read_bytes() == subclass.cache_out
    assert (tmp_path / "lenet.cache.octet.json").exists()  # the fingerprint sidecar
    capfd.readouterr()
    again = octet.NpyCalibrator(str(path), algorithm=octet.CalibrationAlgoType.MINMAX_CALIBRATION,
                                cache_file=str(cache), progress=False)
    assert builder.build_engine(lenet, int8_config(builder, again)).scales == engine.scales
    assert "skipping calibration" in capfd.readouterr().err


def test_stale_cache_is_refused(builder, logger, lenet, calib_data, tmp_path):
    path, _ = calib_data
    cache = str(tmp_path / "lenet.cache")
    builder.build_engine(lenet, int8_config(builder, octet.NpyCalibrator(str(path), cache_file=cache, progress=False)))
    resnet = parse(builder, logger, RESNET)
    with pytest.raises(octet.OctetError, match="stale calibration cache, made for another network"):
        builder.build_engine(resnet, int8_config(builder, octet.NpyCalibrator(str(path), cache_file=cache, progress=False)))


def test_image_calibrator_matches_the_npy_calibrator(builder, lenet, calib_data, tmp_path):
    import fashion_mnist_npy

    images, _ = fashion_mnist_npy.load_raw("train")
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(images[:256]):
        fashion_mnist_npy.write_pgm(folder / f"{i:04d}.pgm", image)
    (tmp_path / "list.txt").write_text("".join(f"images/{i:04d}.pgm\n" for i in range(256)))
    pp = fashion_mnist_npy.load_meta()["preprocess"]
    preprocess = octet.ImagePreprocess.parse(f"resize=28x28,channels=1,scale={pp['scale']},mean={pp['mean']},std={pp['std']}")
    assert (preprocess.height, preprocess.width, preprocess.channels) == (28, 28, 1)
    algorithm = octet.CalibrationAlgoType.MINMAX_CALIBRATION
    path, _ = calib_data
    want = builder.build_engine(lenet, int8_config(builder, octet.NpyCalibrator(str(path), algorithm, progress=False))).scales
    for source in (folder, tmp_path / "list.txt"):
        calibrator = octet.ImageCalibrator(str(source), preprocess, algorithm, progress=False)
        got = builder.build_engine(lenet, int8_config(builder, calibrator)).scales
        assert got.keys() == want.keys()
        for name in want:  # the same pixels, preprocessed in C++ rather than numpy
            assert got[name] == pytest.approx(want[name], rel=1e-4), name


def test_ready_made_calibrator_errors(builder, lenet, tmp_path):
    with pytest.raises(octet.OctetError, match="missing.npy"):
        octet.NpyCalibrator(str(tmp_path / "missing.npy"))
    with pytest.raises(octet.OctetError, match="no_such_folder"):
        octet.ImageCalibrator(str(tmp_path / "no_such_folder"))
    with pytest.raises(octet.OctetError, match="channels must be 1 or 3"):
        octet.ImagePreprocess.parse("channels=2")
    rgb = tmp_path / "rgb.npy"
    np.save(rgb, np.zeros((64, 3, 28, 28), np.float32))
    calibrator = octet.NpyCalibrator(str(rgb), progress=False)
    with pytest.raises(octet.OctetError, match=r"rgb.npy.*samples have shape \[3,28,28\] but input 'input'"):
        builder.build_engine(lenet, int8_config(builder, calibrator))


# ---- A calibrator's mistakes make the build fail with a message naming the method or input.

def broken_calibrator(data, **overrides):
    calibrator = array_calibrator(octet.IInt8EntropyCalibrator2, data)
    for name, method in overrides.items():
        setattr(type(calibrator), name, method)
    return calibrator


def raise_(error):
    raise error


@pytest.mark.parametrize("overrides, message", [
    ({"get_batch": lambda self, names: raise_(ValueError("camera unplugged"))},
     "ArrayCalibrator.get_batch raised ValueError: camera unplugged"),
    ({"get_batch_size": lambda self: raise_(RuntimeError("no size"))},
     "ArrayCalibrator.get_batch_size raised RuntimeError: no size"),
    ({"read_calibration_cache": lambda self: raise_(OSError("disk gone"))},
     "ArrayCalibrator.read_calibration_cache raised OSError: disk gone"),
    ({"write_calibration_cache": lambda self, cache: raise_(PermissionError("read-only"))},
     "ArrayCalibrator.write_calibration_cache raised PermissionError: read-only"),
])
def test_python_exception_fails_the_build_with_its_message(builder, lenet, calib_data, overrides, message):
    _, data = calib_data
    with pytest.raises(octet.OctetError) as e:
        builder.build_engine(lenet, int8_config(builder, broken_calibrator(data, **overrides)))
    assert message in str(e.value)
    assert isinstance(e.value.__cause__, Exception)  # raised from the calibrator's own exception
    # The builder is still usable: no GIL or state left behind.
    good = array_calibrator(octet.IInt8EntropyCalibrator2, data)
    assert builder.build_engine(lenet, int8_config(builder, good)).precision == "int8"


def test_exception_after_some_batches(builder, lenet, calib_data):
    _, data = calib_data
    calibrator = array_calibrator(octet.IInt8MinMaxCalibrator, data)
    served = type(calibrator).get_batch

    def get_batch(self, names):
        if self.batches_served == 3:
            raise KeyError("batch 4 is missing")
        return served(self, names)
    type(calibrator).get_batch = get_batch
    with pytest.raises(octet.OctetError, match="get_batch raised KeyError: 'batch 4 is missing'"):
        builder.build_engine(lenet, int8_config(builder, calibrator))


def test_keyboard_interrupt_propagates_as_it_is(builder, lenet, calib_data):
    _, data = calib_data
    calibrator = broken_calibrator(data, get_batch=lambda self, names: raise_(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        builder.build_engine(lenet, int8_config(builder, calibrator))


def batch_of(array):
    return lambda self, names: [array]


@pytest.mark.parametrize("overrides, message", [
    ({"get_batch": batch_of(np.zeros((BATCH, 1, 28, 28), np.float64))},
     "ArrayCalibrator.get_batch: input 'input' must be float32, got float64"),
    ({"get_batch": batch_of(np.zeros((16, 1, 28, 28), np.float32))},
     "ArrayCalibrator.get_batch: input 'input' must have shape [32,1,28,28] (batch size 32), got [16,1,28,28]"),
    ({"get_batch": batch_of(np.zeros((BATCH, 28, 28), np.float32))},
     "input 'input' must have shape [32,1,28,28] (batch size 32), got [32,28,28]"),
    ({"get_batch": lambda self, names: [140234567]},
     "input 'input' is an int; octet takes numpy arrays (host memory), not device pointers"),
    ({"get_batch": lambda self, names: [np.zeros((BATCH, 1, 28, 28), np.float32)] * 2},
     "ArrayCalibrator.get_batch returned 2 arrays for 1 inputs"),
    ({"get_batch": lambda self, names: {"image": np.zeros((BATCH, 1, 28, 28), np.float32)}},
     "ArrayCalibrator.get_batch returned no array for input 'input'"),
    ({"get_batch": lambda self, names: None}, "the calibrator returned no batch"),
    ({"get_batch_size": lambda self: "32"}, "ArrayCalibrator.get_batch_size must return an int, got str"),
    ({"read_calibration_cache": lambda self: "TRT-8601-EntropyCalibration2"},
     "ArrayCalibrator.read_calibration_cache must return bytes or None, got str"),
    ({"read_calibration_cache": lambda self: b"not a cache"}, "calibration cache"),
])
def test_calibrator_mistakes_fail_the_build(builder, lenet, calib_data, overrides, message):
    _, data = calib_data
    with pytest.raises(octet.OctetError) as e:
        builder.build_engine(lenet, int8_config(builder, broken_calibrator(data, **overrides)))
    assert message in str(e.value)


def test_missing_overrides(builder, lenet):
    class NoBatches(octet.IInt8MinMaxCalibrator):
        def get_batch_size(self):
            return BATCH

    with pytest.raises(octet.OctetError, match="NoBatches.get_batch is not implemented"):
        builder.build_engine(lenet, int8_config(builder, NoBatches()))

    class NoAlgorithm(octet.IInt8Calibrator):
        def get_batch_size(self):
            return BATCH

    with pytest.raises(octet.OctetError, match="NoAlgorithm.get_algorithm is not implemented"):
        builder.build_engine(lenet, int8_config(builder, NoAlgorithm()))


def test_subclass_must_call_the_base_init():
    class Forgetful(octet.IInt8MinMaxCalibrator):
        def __init__(self):
            pass

    with pytest.raises(TypeError, match="__init__"):
        Forgetful()
