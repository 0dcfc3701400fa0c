#!/usr/bin/env bash
# Installs what octet needs to build, test and run its sample job on a fresh Debian 12 machine.
#   scripts/setup.sh            build + test dependencies
#   scripts/setup.sh --torch    also Debian's PyTorch, to retrain the sample models
set -euo pipefail

apt_packages=(
  build-essential cmake pkg-config
  libonnx-dev libprotobuf-dev protobuf-compiler   # ONNX import
  libcli11-dev                                    # command line
  libstb-dev                                      # image decoding for calibration data
  libdnnl-dev ocl-icd-opencl-dev                  # the onednn CPU backend (its CMake config looks for OpenCL)
  libgtest-dev googletest                         # tests
  libonnx-testdata                                # ONNX's conformance cases
  dataset-fashion-mnist                           # real labelled images for the sample models
)
[[ ${1:-} == --torch ]] && apt_packages+=(python3-torch python3-torchvision python3-onnx python3-numpy)

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The python3 first on PATH (not Debian's /usr/bin/python3) runs the Python tests
# and benchmarks against onnxruntime, octet's oracle and peer, and its pybind11 (2.12
# or later: Debian's 2.10 cannot run against numpy 2) builds the octet module.
python3 -m pip install -q --disable-pip-version-check -r "$(dirname "$0")/requirements.txt"

# The CUDA backend (built where nvcc is found) compiles its tensor-core kernels
# against NVIDIA's CUTLASS headers, from PyPI's nvidia-cutlass wheel.
cutlass_version=4.2.0.0
cutlass_dir="$HOME/.cache/octet/nvidia-cutlass-${cutlass_version%.0}"
# Its include/ and tools/util/include/ (the convolutions' cutlass/util/packed_stride.hpp) into one folder.
if { command -v nvcc >/dev/null || [[ -x /usr/local/cuda/bin/nvcc ]]; } &&
   [[ ! -f $cutlass_dir/include/cutlass/cutlass.h || ! -f $cutlass_dir/include/cutlass/util/packed_stride.hpp ]]; then
  wheel_dir=$(mktemp -d)
  python3 -m pip download -q --disable-pip-version-check --no-deps "nvidia-cutlass==$cutlass_version" -d "$wheel_dir"
  python3 - "$wheel_dir"/nvidia_cutlass-*.whl "$cutlass_dir" <<'PY'
import os, shutil, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
prefixes = ("cutlass_library/source/include/", "cutlass_library/source/tools/util/include/")
tmp = dest + ".partial"
shutil.rmtree(tmp, ignore_errors=True)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        prefix = next((p for p in prefixes if name.startswith(p)), None)
        if prefix and not name.endswith("/"):
            path = os.path.join(tmp, "include", name[len(prefix):])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with z.open(name) as src, open(path, "wb") as out:
                shutil.copyfileobj(src, out)
shutil.rmtree(dest, ignore_errors=True)
os.rename(tmp, dest)
PY
  rm -rf "$wheel_dir"
fi
