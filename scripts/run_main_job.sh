#!/usr/bin/env bash
# README's main job: installs dependencies, builds octet, then quantizes the
# sample Fashion-MNIST models to INT8 and prints an accuracy table (FP32 vs INT8
# top-1 on the 10,000 test images) and a speed table (octet FP32 / INT8 against
# onnxruntime FP32, batch 1 and 64, 2 threads).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
echo "== INT8 accuracy (octet's default calibrator, 512 calibration images) =="
python3 scripts/int8_accuracy.py --calibrators mse
echo
echo "== Speed (this machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)) =="
python3 scripts/bench_vs_onnxruntime.py --duration-s 3
