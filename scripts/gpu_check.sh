#!/usr/bin/env bash
# Everything GPU in one command, on a GPU machine (H100 / H200): the CUDA kernel
# tests, compute-sanitizer memcheck and racecheck over them and over a GPU engine's
# runs, the GPU engine tests (tests/runtime/test_cuda_engine.py: GPU vs CPU INT8
# engines of the sample models), the INT8 GEMM benchmark (8192^3, exact check),
# ResNet-50's convolutions on every CUDA path (octet_cuda_int8_conv) and ResNet-50
# INT8 against PyTorch eager (scripts/gpu_bench.py).
#   scripts/gpu_bundle.sh                      on the development machine (builds nothing there)
#   bash scripts/gpu_check.sh [BUNDLE.tar.xz]  on the GPU machine, from the repository root
# Logs go to gpu_logs.tar.gz in $OUT (or the current folder); the last lines printed are the summary.
set -uo pipefail
cd "$(dirname "$0")/.."
bundle=${1:-gpu_bundle/octet-gpu.tar.xz}
logs=$(mktemp -d)
root=$(mktemp -d)
tar -C "$root" -xJf "$bundle" || exit 1
export LD_LIBRARY_PATH="$root/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export OCTET_BUILD_DIR="$root/bin" FASHION_MNIST_DIR="$root/data" PYTHONUNBUFFERED=1
summary=()
step() {  # step NAME COMMAND...: runs it, logs it, records pass/fail
  local name=$1; shift
  echo "=== $name: $*"
  local t0=$SECONDS
  "$@" 2>&1 | tee "$logs/$name.log"
  local rc=${PIPESTATUS[0]}
  summary+=("$(printf '%-28s %s (%ds)' "$name" "$([[ $rc == 0 ]] && echo ok || echo "FAILED rc=$rc")" $((SECONDS - t0)))")
}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "$logs/gpu.txt"

for t in "$root"/bin/*_test; do step "$(basename "$t")" "$t"; done
step int8_gemm_8192 "$root/bin/octet_cuda_int8_gemm"
step resnet50_convolutions "$root/bin/octet_cuda_int8_conv"
step resnet50 python3 scripts/gpu_bench.py --octet "$root/bin/octet" --batch 256 --json "$logs/resnet50.json" \
  --profile "$logs/resnet50_profile.txt"
step engine_tests python3 -m pytest -q -s tests/runtime/test_cuda_engine.py
# Small GPU engines (INT8, FP16) for the sanitizers' engine runs; each sanitizer run is capped at 3 minutes.
python3 scripts/fashion_mnist_npy.py --split train --count 512 --out "$root/calib.npy" > /dev/null
"$root/bin/octet" build models/resnet.onnx --int8 --calib-data "$root/calib.npy" --device cuda -o "$root/int8.plan" --quiet
"$root/bin/octet" build models/resnet.onnx --fp16 --device cuda -o "$root/fp16.plan" --quiet
# The engine runs time every tactic of every layer (the kernels an engine may pick)
# and then run the graph. racecheck's host memory grows with the grids it tracks:
# on the H100's 128 GiB host the OOM killer stopped it at batch 64 (peak RSS, by
# `/usr/bin/time -v` around this command: 9 GiB at --batch 1, 57 GiB at --batch 8),
# so it runs the engine at batch 1.
for tool in memcheck racecheck; do
  for t in "$root"/bin/kernels_cuda_*_test; do
    step "$tool-$(basename "$t")" timeout 180 compute-sanitizer --tool "$tool" --error-exitcode 1 "$t"
  done
  batch=$([[ $tool == racecheck ]] && echo 1 || echo 64)
  for precision in int8 fp16; do
    step "$tool-engine-$precision" timeout 180 compute-sanitizer --tool "$tool" --error-exitcode 1 \
      "$root/bin/octet" bench "$root/$precision.plan" --device cuda --batch "$batch" --warmup-ms 0 --duration-s 0.01 \
      --min-iterations 3
  done
done

echo; echo "=== Summary ($(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)) ==="
printf '%s\n' "${summary[@]}"
grep -h " | " "$logs/int8_gemm_8192.log"
grep -h "^ResNet-50's convolutions\|FAILED" "$logs/resnet50_convolutions.log"
grep -h "^|" "$logs/resnet50.log"
grep -h -o -E "(lenet|resnet|mobilenetv2): (CPU (INT8|FP32) top-1|[0-9]+ tensors calibrated).*" "$logs/engine_tests.log"
tar -C "$logs" -czf "${OUT:-.}/gpu_logs.tar.gz" .
