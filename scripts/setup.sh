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
