#!/usr/bin/env python3
"""How close octet's INT8 convolutions come to this machine's INT8 VNNI peak.

Runs `octet bench PLAN --profile` (one run's per-layer times), adds up the time of
the Int8Conv layers, counts their multiply-accumulates from the ONNX model's shapes
(2 ops each), and divides the resulting GOPS by the 2-thread vpdpbusd peak measured
by `octet_vnni_peak` (tools/bench/vnni_peak.cpp).

    python3 scripts/conv_efficiency.py MODEL.onnx ENGINE.plan [--batch 64] [--threads 2] [--octet build/octet]
"""
import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_engine import macs_by_node, peak_gops, vnni_peak  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROFILE_LINE = re.compile(r"^\s*([\d.]+)\s+[\d.]+%\s+(\S+)\s+(\S+)\s+(.*)$")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("plan")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--octet", default=os.path.join(REPO, "build", "octet"))
    args = ap.parse_args()

    peak = vnni_peak(args.octet, args.threads)
    if peak is None:
        sys.exit("octet_vnni_peak is not built next to octet: cmake --build build --target octet_vnni_peak")
    peak = peak_gops(peak, "int8_vpdpbusd", args.threads)
    out = subprocess.run([args.octet, "bench", args.plan, "--batch", str(args.batch), "--threads", str(args.threads),
                          "--warmup-ms", "1000", "--duration-s", "1", "--profile"],
                         check=True, capture_output=True, text=True).stdout
    macs = macs_by_node(args.model)
    conv_ms, conv_macs, layers = 0.0, 0, 0
    for line in out.splitlines():
        m = PROFILE_LINE.match(line)
        if not m or m.group(2) != "Int8Conv":
            continue
        name = m.group(4).split(" + ")[0]  # fused activations are appended to the conv's name
        conv_ms += float(m.group(1))
        conv_macs += macs[name] * args.batch
        layers += 1
    gops = 2 * conv_macs / (conv_ms / 1e3) / 1e9
    print(f"{layers} INT8 convolutions: {2 * conv_macs / 1e9:.1f} GOP in {conv_ms:.1f} ms = {gops:.0f} GOPS; "
          f"VNNI peak at {args.threads} threads {peak:.0f} GOPS -> {100 * gops / peak:.1f}% of peak")


if __name__ == "__main__":
    main()
