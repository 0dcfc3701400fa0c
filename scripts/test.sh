#!/usr/bin/env bash
# README's test command: installs dependencies, builds, then runs every test
# (GoogleTest suites and the ONNX conformance run under CTest, then pytest, whose
# tests/python import the octet module from build/python).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
(cd build && ctest --output-on-failure -j"$(nproc)" -E onnx_conformance)
# Printed in full: the per-op conformance table.
(cd build && ctest -V -R onnx_conformance)
OCTET_BUILD_DIR="$PWD/build" python3 -m pytest -q tests
