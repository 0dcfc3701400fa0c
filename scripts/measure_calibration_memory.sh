#!/usr/bin/env bash
# Peak memory (maximum resident set size) of `octet build --int8` on lenet when
# calibrating over 16 vs 160 batches of 32 Fashion-MNIST training images.
# Calibration streams the data and keeps fixed-size histograms, so the peak
# should barely grow with the number of batches.
#
#   scripts/measure_calibration_memory.sh [BUILD_DIR]   (default: build; or $OCTET_BUILD_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-${OCTET_BUILD_DIR:-build}}"
OCTET="$BUILD_DIR/octet"
[[ -x "$OCTET" ]] || { echo "$OCTET not found: build first (scripts/build.sh)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time (GNU time) is needed" >&2; exit 1; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
BATCH=32

# Peak RSS in KiB of one INT8 build over the given .npy.
peak_rss_kib() {
  /usr/bin/time -v "$OCTET" build models/lenet.onnx -o "$WORK/lenet.plan" --int8 --calib-data "$1" \
    --calib-batch "$BATCH" --quiet 2> "$WORK/time.txt"
  awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt"
}

declare -A RSS
for batches in 16 160; do
  python3 scripts/fashion_mnist_npy.py --split train --count $((batches * BATCH)) --out "$WORK/calib_$batches.npy" \
    2> /dev/null
  RSS[$batches]="$(peak_rss_kib "$WORK/calib_$batches.npy")"
  echo "$batches batches of $BATCH: peak RSS ${RSS[$batches]} KiB"
done
awk -v a="${RSS[16]}" -v b="${RSS[160]}" \
  'BEGIN { printf "ratio 160/16 batches: %.3f (growth %+.1f%%)\n", b / a, 100 * (b - a) / a }'
