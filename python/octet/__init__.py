"""octet: ONNX -> calibrated INT8 CPU inference engines, with TensorRT's Python API.

See docs/python.md for the API table (TensorRT name -> octet name).
"""
from ._octet import *  # noqa: F401,F403
from ._octet import __version__  # noqa: F401
