"""Fixtures and helpers for the Python API tests; test modules import the fixtures they use.

(Not a conftest.py: tests/tools modules `from conftest import ...` the one in tests/, which
a second conftest module would shadow.)

The module is imported from $OCTET_PYTHON_DIR when set, else from
$OCTET_BUILD_DIR/python (scripts/build.sh builds it there), else from wherever
`import octet` finds it (e.g. after `pip install .`). A missing module fails the
tests; it never skips them.
"""
import os
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_module_dir = os.environ.get("OCTET_PYTHON_DIR") or os.path.join(
    os.environ.get("OCTET_BUILD_DIR", os.path.join(REPO, "build")), "python")
if os.path.isdir(os.path.join(_module_dir, "octet")):
    sys.path.insert(0, _module_dir)

try:
    import octet  # noqa: E402
except ImportError as e:  # a collection error fails the run: nothing is skipped silently
    raise ImportError(f"the octet Python module is not importable ({e}); build it with scripts/build.sh "
                      f"(looked in {_module_dir}) or `pip install .`") from e

LENET = os.path.join(REPO, "models", "lenet.onnx")
RESNET = os.path.join(REPO, "models", "resnet.onnx")
BATCH = 32


@pytest.fixture(scope="session")
def logger():
    return octet.Logger(octet.Logger.INFO)


@pytest.fixture
def builder(logger):
    return octet.Builder(logger)


@pytest.fixture
def lenet(builder, logger):
    return parse(builder, logger)


@pytest.fixture(scope="session")
def calib_data(fashion_npy):
    """(path of a .npy of 256 preprocessed Fashion-MNIST training images, the array)."""
    path = fashion_npy("train", 256)
    return path, np.load(path)


@pytest.fixture(scope="session")
def test_images(fashion_npy):
    """(path, array) of 128 preprocessed Fashion-MNIST test images."""
    path = fashion_npy("test", 128)
    return path, np.load(path)


def parse(builder, logger, path=LENET):
    network = builder.create_network()
    octet.OnnxParser(network, logger).parse_from_file(path)
    return network


def int8_config(builder, calibrator):
    config = builder.create_builder_config()
    config.set_flag(octet.BuilderFlag.INT8)
    config.int8_calibrator = calibrator
    return config


def array_calibrator(base, data, batch_size=BATCH):
    """A TensorRT-style subclass of `base` serving `data` in batches and keeping its cache in memory."""

    class ArrayCalibrator(base):
        def __init__(self):
            super().__init__()
            self.next = 0
            self.batches_served = 0
            self.cache_in = None   # what read_calibration_cache returns
            self.cache_out = None  # what write_calibration_cache received

        def get_batch_size(self):
            return batch_size

        def get_batch(self, names):
            assert names == ["input"]
            if self.next + batch_size > len(data):
                return None
            batch = data[self.next:self.next + batch_size]
            self.next += batch_size
            self.batches_served += 1
            return [batch]

        def read_calibration_cache(self):
            return self.cache_in

        def write_calibration_cache(self, cache):
            self.cache_out = cache

    return ArrayCalibrator()
