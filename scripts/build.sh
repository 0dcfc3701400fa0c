#!/usr/bin/env bash
# Configures and builds octet (Release) into build/, with the Python module in
# build/python (PYTHONPATH=build/python; docs/python.md).
set -euo pipefail
cd "$(dirname "$0")/.."
# nvcc where the CUDA toolkit installs it, when it is not on PATH: CMake then builds the CUDA backend.
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then export CUDACXX=/usr/local/cuda/bin/nvcc; fi
python=$(python3 -c 'import sys; print(sys.executable)')  # the interpreter whose pybind11 (PyPI) builds the module
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DOCTET_PYTHON=ON \
  -DPython_EXECUTABLE="$python" -Dpybind11_DIR="$("$python" -m pybind11 --cmakedir)" > /dev/null
cmake --build build -j"$(nproc)"
