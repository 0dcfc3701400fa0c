#!/usr/bin/env bash
# Packs what scripts/gpu_check.sh needs on a GPU machine that cannot build octet
# (no package registry there): the CUDA-enabled build's tools and GPU tests, the
# shared libraries they load that such a machine lacks (from ldd), and the
# Fashion-MNIST files the tests read. Writes gpu_bundle/octet-gpu.tar.xz (git-ignored).
#   scripts/gpu_bundle.sh            after scripts/build.sh on a machine with nvcc
set -euo pipefail
cd "$(dirname "$0")/.."
grep -q "OCTET_CUDA:BOOL=ON" build/CMakeCache.txt || { echo "build/ has no CUDA backend: run scripts/build.sh where nvcc is found" >&2; exit 1; }
stage=$(mktemp -d)
mkdir -p "$stage/bin" "$stage/lib" "$stage/data"
tools=(build/octet build/octet_cuda_int8_gemm build/octet_cuda_int8_conv build/kernels_cuda_int8_gemm_test build/kernels_cuda_cuda_ops_test
       build/tests/runtime_cuda_execution_context_test build/tests/runtime_cuda_float_engine_test)
cp "${tools[@]}" "$stage/bin/"
cp build/liboctet.so "$stage/lib/"
# The libraries from Debian's -dev packages (the GPU machine has its own libc, libstdc++ and CUDA driver).
ldd "${tools[@]}" build/liboctet.so | awk '/=> \//{print $3}' | sort -u |
  grep -E "/lib(onnx|onnx_proto|protobuf|dnnl|gomp|OpenCL)\." | xargs -r cp -L -t "$stage/lib/"
# The Fashion-MNIST test split, and the first 512 training images (the calibration set) as an IDX file of their own.
src=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
cp "$src"/t10k-images-idx3-ubyte.gz "$src"/t10k-labels-idx1-ubyte.gz "$stage/data/"
python3 - "$src" "$stage/data" <<'PY'
import gzip, struct, sys
src, dest = sys.argv[1], sys.argv[2]
count = 512
for name, item in (("train-images-idx3-ubyte.gz", 28 * 28), ("train-labels-idx1-ubyte.gz", 1)):
    data = gzip.open(f"{src}/{name}").read()
    ndim = data[3]
    header = bytearray(data[:4 + 4 * ndim])
    header[4:8] = struct.pack(">I", count)
    with gzip.open(f"{dest}/{name}", "wb") as out:
        out.write(bytes(header) + data[4 + 4 * ndim:4 + 4 * ndim + count * item])
PY
mkdir -p gpu_bundle
tar -C "$stage" -cJf gpu_bundle/octet-gpu.tar.xz .
rm -rf "$stage"
ls -la gpu_bundle/octet-gpu.tar.xz
