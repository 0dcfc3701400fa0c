#!/usr/bin/env python3
"""The engine benchmark: octet FP32/INT8 against onnxruntime FP32/INT8, in one run.

For every model and batch size, with the same thread count and measuring rules:
  octet FP32      `octet build --kernel-timing-batch B` FP32 plan, then `octet bench`
  octet INT8      `octet build --int8 --calib-data <npy> --kernel-timing-batch B` (octet's default
                  calibrator), then `octet bench`
  octet BF16      `octet build --bf16` (BF16 kernels where kernel selection finds them faster), when the
                  CPU multiplies BF16 natively (--bf16 auto|on|off)
An engine is built per batch size B, its kernels chosen at B (as a TensorRT engine is built
for its optimisation profile); the INT8 builds of one model share one calibration (cache).
  onnxruntime FP32  the ONNX model, intra-op threads = --threads, inter-op 1, ORT_ENABLE_ALL
  onnxruntime INT8  onnxruntime's own quantize_static model from the same calibration data,
                    in the form verified to run integer kernels (scripts/onnxruntime_int8.py)
Every measurement runs for at least --duration-s and at least --min-iterations runs after
a warm-up, in --rounds rounds that interleave octet and onnxruntime (the best round is
kept); inputs are uniform [-1, 1) random (as `octet bench` makes them).

Models: the Fashion-MNIST samples in models/ (lenet, resnet, mobilenetv2; 512 training
images calibrate) and torchvision ResNet-50 and MobileNetV2 at 224x224 with random
weights (exported by scripts/export_imagenet_models.py into build/models/imagenet when
missing; 64 random samples calibrate — random weights and data are fine for speed).

Also prints the machine, the measured INT8 VNNI / FP32 FMA peak (octet_vnni_peak, when
built next to octet), each model's INT8 throughput in GOPS against that peak, and the
[engine] milestone's acceptance checks.

    python3 scripts/bench_engine.py [--quick] [--no-imagenet] [--models ...] [--batches 1 64]
        [--threads 2] [--duration-s 3] [--rounds 2] [--octet build/octet] [--markdown FILE] [--write-docs]

--quick: batches 1 and 8, the ImageNet models at batch 1 only. --write-docs replaces the
results section of docs/benchmarks.md; --markdown FILE writes the results to FILE.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fashion_mnist_npy  # noqa: E402
import onnxruntime_int8  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FASHION_MODELS = ["lenet", "resnet", "mobilenetv2"]
IMAGENET_MODELS = ["resnet50", "mobilenet_v2"]
FASHION_CALIBRATION_IMAGES = 512
DOCS = os.path.join(REPO, "docs", "benchmarks.md")
DOCS_BEGIN = "<!-- bench_engine.py results: begin -->"
DOCS_END = "<!-- bench_engine.py results: end -->"
ACCEPTANCE_MODEL = "resnet50"
ACCEPTANCE_BATCH = 64


# ---------------------------------------------------------------- octet

def build_plan(octet, model, plan, batch, threads, calib_data=None, calib_cache=None, flags=()):
    """`octet build` an FP32 plan with kernels chosen at `batch` on `threads` threads, or an INT8
    one when calib_data is given (calibrating once: calib_cache is written by the first build
    and read by the next); `flags` are more `octet build` options (e.g. --bf16)."""
    cmd = [octet, "build", model, "-o", plan, "--kernel-timing-batch", str(batch), "--threads", str(threads),
           "--quiet", *flags]
    if calib_data:
        cmd += ["--int8", "--calib-data", calib_data, "--calib-cache", calib_cache]
    subprocess.run(cmd, check=True)


def bench_octet(octet, model, batch, threads, duration_s, min_iterations=1, warmup_ms=500):
    """`octet bench` -> (samples/s, median latency ms, iterations). octet bench stops after
    --duration-s, so a run that took fewer than min_iterations runs (a slow model) is
    repeated with a duration that covers them."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.json")
        duration = duration_s
        while True:
            subprocess.run([octet, "bench", model, "--batch", str(batch), "--threads", str(threads),
                            "--duration-s", str(duration), "--warmup-ms", str(warmup_ms), "--json", out],
                           check=True, stdout=subprocess.DEVNULL)
            with open(out) as f:
                r = json.load(f)
            if r["iterations"] >= min_iterations:
                return r["throughput_samples_per_s"], r["latency_ms"]["median"], r["iterations"]
            # The loop starts another run while time is left: (n - 1) runs' time gives n runs.
            duration = max(duration, (min_iterations - 0.5) * r["latency_ms"]["median"] / 1e3)
            warmup_ms = 0  # the first attempt warmed up


def vnni_peak(octet, threads):
    """octet_vnni_peak's JSON (built next to octet), or None when it is not built."""
    tool = os.path.join(os.path.dirname(os.path.abspath(octet)), "octet_vnni_peak")
    if not os.path.exists(tool):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "peak.json")
        subprocess.run([tool, "--threads", str(threads), "--json", out], check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            return json.load(f)


def peak_gops(peak, kind, threads):
    for r in (peak or {}).get("results", []):
        if r["kind"] == kind and r["threads"] == threads:
            return r["gops"]
    return None


# ---------------------------------------------------------------- models and data

def macs_by_node(model_path):
    """{node name: multiply-accumulates per sample} for Conv, Gemm and MatMul nodes (shapes at batch 1)."""
    m = onnx.load(model_path)
    for inp in m.graph.input:
        dims = inp.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1
    m = onnx.shape_inference.infer_shapes(m)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(m.graph.value_info) + list(m.graph.output) + list(m.graph.input)}
    shapes.update({t.name: list(t.dims) for t in m.graph.initializer})
    macs = {}
    for n in m.graph.node:
        out, w = shapes.get(n.output[0]), shapes.get(n.input[1]) if len(n.input) > 1 else None
        if not out or not w:
            continue
        if n.op_type == "Conv":  # every output element: C_in/group x kH x kW products
            macs[n.name] = int(np.prod(out)) * int(np.prod(w[1:]))
        elif n.op_type == "Gemm":
            trans_b = next((a.i for a in n.attribute if a.name == "transB"), 0)
            macs[n.name] = int(np.prod(out)) * (w[1] if trans_b else w[0])
        elif n.op_type == "MatMul":
            macs[n.name] = int(np.prod(out)) * w[-2]
    return macs


def compute_macs(model_path):
    """Multiply-accumulates per sample in Conv, Gemm and MatMul nodes."""
    return sum(macs_by_node(model_path).values())


def prepare_imagenet(directory, python):
    """The exported ImageNet models and calibration data, exporting them when missing."""
    wanted = [os.path.join(directory, f) for f in ("resnet50.onnx", "mobilenet_v2.onnx", "calib.npy")]
    if not all(os.path.exists(p) for p in wanted):
        if subprocess.run([python, "-c", "import torch, torchvision, numpy"], capture_output=True).returncode:
            sys.exit(f"bench_engine.py: {python} cannot import torch, torchvision and numpy, which export the "
                     f"ImageNet models into {directory}; run scripts/setup.sh --torch first")
        print(f"exporting the ImageNet models into {directory} ...", flush=True)
        subprocess.run([python, os.path.join(REPO, "scripts", "export_imagenet_models.py"), directory], check=True)


def model_and_calibration(name, args):
    """(model.onnx, calibration .npy) for a model name."""
    if name in IMAGENET_MODELS:
        prepare_imagenet(args.imagenet_dir, args.export_python)
        return os.path.join(args.imagenet_dir, name + ".onnx"), os.path.join(args.imagenet_dir, "calib.npy")
    calib = os.path.join(args.work_dir, "fashion_calib.npy")
    if not os.path.exists(calib):  # deterministic, so written once (keeps cached ORT models valid)
        np.save(calib, fashion_mnist_npy.load("train", FASHION_CALIBRATION_IMAGES)[0])
    return os.path.join(REPO, "models", name + ".onnx"), calib


def ort_int8_model(name, model, calib, args, batch):
    """onnxruntime's INT8 model (cached in --work-dir while newer than model and data)."""
    out = os.path.join(args.work_dir, name + ".ort-int8.onnx")
    fresh = (os.path.exists(out) and os.path.exists(out + ".json")
             and os.path.getmtime(out) > max(os.path.getmtime(model), os.path.getmtime(calib)))
    if fresh and not args.rebuild_ort_int8:
        with open(out + ".json") as f:
            report = json.load(f)
        print(f"onnxruntime INT8 {name}: reusing {out} ({report['chosen']})", flush=True)
    else:
        report = onnxruntime_int8.make_int8_model(model, calib, out, batch=batch, threads=args.threads,
                                                  duration_s=min(args.duration_s, 2.0),
                                                  log=lambda m: print(f"{name}: {m}", flush=True))
    chosen = next(c for c in report["candidates"] if c["form"] == report["chosen"])
    return out, chosen


# ---------------------------------------------------------------- measuring

def bench_model(name, batches, args):
    """All four measurements of one model at each batch -> list of row dicts."""
    model, calib = model_and_calibration(name, args)
    gmacs = compute_macs(model) / 1e9
    kinds = ["fp32", "int8"] + (["bf16"] if args.bf16 else [])
    plans = {b: {kind: os.path.join(args.work_dir, f"{name}.{kind}.b{b}.plan") for kind in kinds} for b in batches}
    calib_cache = os.path.join(args.work_dir, name + ".calib.cache")
    for stale in (calib_cache, calib_cache + ".octet.json"):
        if os.path.exists(stale):
            os.remove(stale)  # calibrate afresh each run; the builds below share it
    print(f"{name}: building octet plans ...", flush=True)
    for b, plan in plans.items():
        build_plan(args.octet, model, plan["fp32"], b, args.threads)
        build_plan(args.octet, model, plan["int8"], b, args.threads, calib, calib_cache)
        if args.bf16:
            build_plan(args.octet, model, plan["bf16"], b, args.threads, flags=["--bf16"])
    ort_int8, ort_int8_form = ort_int8_model(name, model, calib, args, max(batches))

    rows = {b: {"model": name, "batch": b, "gmacs_per_sample": gmacs,
                "ort_int8_form": ort_int8_form["form"],
                "ort_int8_nodes": [ort_int8_form["integer_nodes"], ort_int8_form["float_nodes"]]}
            for b in batches}
    def keep_best(b, key, result):
        """A measurement: (samples/s, median ms, iterations); the round with the highest throughput is kept."""
        if key not in rows[b] or result[0] > rows[b][key][0]:
            rows[b][key] = result
        print(f"{name} batch {b} {key}: {result[0]:.1f} samples/s", flush=True)

    # Rounds interleave octet and onnxruntime, so that a slow spell of a shared machine
    # does not fall on one side only.
    for _ in range(args.rounds):
        for b in batches:
            for kind, plan in plans[b].items():
                keep_best(b, "octet_" + kind,
                          bench_octet(args.octet, plan, b, args.threads, args.duration_s, args.min_iterations))
        # One session per model and precision (created after the octet runs, so no onnxruntime
        # thread pool exists while octet measures).
        for key, path in (("ort_fp32", model), ("ort_int8", ort_int8)):
            sess = onnxruntime_int8.session(path, args.threads)
            for b in batches:
                keep_best(b, key, onnxruntime_int8.time_session(sess, onnxruntime_int8.random_feed(sess, b),
                                                                args.duration_s, args.min_iterations))
            del sess
    return [rows[b] for b in batches]


# ---------------------------------------------------------------- reporting

def lscpu():
    out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line)


def machine_description():
    info = {k.strip(): v.strip() for k, v in lscpu().items()}
    flags = set(info.get("Flags", "").split())
    isa = [f for f in ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
                       "amx_tile", "amx_int8", "amx_bf16") if f in flags]
    cores = int(info.get("Core(s) per socket", 0) or 0) * int(info.get("Socket(s)", 1) or 1)
    return (f"{info.get('Model name', platform.processor())}, {info.get('CPU(s)', os.cpu_count())} CPUs "
            f"({cores} cores x {info.get('Thread(s) per core', '?')} threads), ISA: {' '.join(isa)}")


def octet_revision():
    try:
        return subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def fmt_ratio(a, b):
    if not (a and b):
        return "-"
    return f"{a / b:.2f}x" if a / b >= 0.1 else f"{a / b:.3f}x"


def results_markdown(rows, peak, args, header):
    out = [header, ""]
    if peak:
        out += ["Peak (`octet_vnni_peak`, best of short trials; AMX not counted):", "",
                "| | 1 thread | %d threads |" % args.threads, "|---|---:|---:|",
                "| INT8 vpdpbusd GOPS | %.0f | %.0f |" % (peak_gops(peak, "int8_vpdpbusd", 1) or 0,
                                                         peak_gops(peak, "int8_vpdpbusd", args.threads) or 0),
                "| FP32 FMA GFLOPS | %.0f | %.0f |" % (peak_gops(peak, "fp32_fma", 1) or 0,
                                                      peak_gops(peak, "fp32_fma", args.threads) or 0), ""]
    bf16 = all("octet_bf16" in r for r in rows)
    out += ["Throughput, samples/s (ratios: octet / onnxruntime):", "",
            "| model | batch | octet FP32 | octet INT8 | " + ("octet BF16 | " if bf16 else "") +
            "ORT FP32 | ORT INT8 | octet INT8 / ORT INT8 | octet INT8 / ORT FP32 | octet FP32 / ORT FP32 | " +
            ("octet BF16 / ORT FP32 | " if bf16 else "") + "median ms: octet FP32 / INT8, ORT FP32 / INT8 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if bf16 else "") + "---|"]
    for r in rows:
        of, oi, rf, ri = (r[k] for k in ("octet_fp32", "octet_int8", "ort_fp32", "ort_int8"))
        ob = r.get("octet_bf16")
        out.append(f"| {r['model']} | {r['batch']} | {of[0]:.1f} | {oi[0]:.1f} | " + (f"{ob[0]:.1f} | " if bf16 else "") +
                   f"{rf[0]:.1f} | {ri[0]:.1f} | {fmt_ratio(oi[0], ri[0])} | {fmt_ratio(oi[0], rf[0])} | "
                   f"{fmt_ratio(of[0], rf[0])} | " + (f"{fmt_ratio(ob[0], rf[0])} | " if bf16 else "") +
                   f"{of[1]:.3f} / {oi[1]:.3f}, {rf[1]:.3f} / {ri[1]:.3f} |")
    int8_peak = peak_gops(peak, "int8_vpdpbusd", args.threads)
    out += ["", "INT8 compute rate: Conv/Gemm/MatMul multiply-adds x 2 x samples/s over the whole "
            "network's time (a lower bound for the convolutions alone)"
            + (f"; % of the {args.threads}-thread VNNI peak ({int8_peak:.0f} GOPS)" if int8_peak else "") + ":", "",
            "| model | batch | GMAC/sample | octet INT8 GOPS | ORT INT8 GOPS | octet % of peak | ORT INT8 form |",
            "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        go, gr = (2 * r["gmacs_per_sample"] * r[k][0] for k in ("octet_int8", "ort_int8"))
        pct = f"{100 * go / int8_peak:.2f}%" if int8_peak else "-"
        out.append(f"| {r['model']} | {r['batch']} | {r['gmacs_per_sample']:.3f} | {go:.1f} | {gr:.1f} | {pct} | "
                   f"{r['ort_int8_form']} ({r['ort_int8_nodes'][0]} integer, {r['ort_int8_nodes'][1]} float "
                   f"compute nodes) |")
    out += ["", "Acceptance ([engine] milestone):", ""] + [f"- {line}" for line in acceptance(rows, int8_peak)]
    return "\n".join(out) + "\n"


def acceptance(rows, int8_peak):
    """The milestone's checks as 'PASS/FAIL/not measured: what' lines."""
    by = {(r["model"], r["batch"]): r for r in rows}
    lines = []

    def check(ok, text):
        lines.append(("PASS" if ok else "FAIL") + ": " + text)

    r = by.get((ACCEPTANCE_MODEL, ACCEPTANCE_BATCH))
    where = f"{ACCEPTANCE_MODEL} batch {ACCEPTANCE_BATCH}"
    if r:
        oi, ri, rf = r["octet_int8"][0], r["ort_int8"][0], r["ort_fp32"][0]
        check(oi >= 1.5 * ri, f"{where}: octet INT8 / ORT INT8 = {oi / ri:.2f}x (>= 1.5x)")
        check(oi >= 3 * rf, f"{where}: octet INT8 / ORT FP32 = {oi / rf:.2f}x (>= 3x)")
        if int8_peak:
            pct = 100 * 2 * r["gmacs_per_sample"] * oi / int8_peak
            lines.append(("PASS" if pct >= 50 else "NOT SHOWN") + f": {where}: INT8 convolutions >= 50% of VNNI "
                         f"peak; the whole network reaches {pct:.1f}% (convolutions alone need per-layer times)")
    else:
        lines.append(f"not measured: {where} (INT8 vs ORT INT8 >= 1.5x, vs ORT FP32 >= 3x, >= 50% of VNNI peak)")
    big = [r for r in rows if r["batch"] == ACCEPTANCE_BATCH]
    for r in big:
        of, rf = r["octet_fp32"][0], r["ort_fp32"][0]
        check(of >= rf, f"{r['model']} batch {ACCEPTANCE_BATCH}: octet FP32 / ORT FP32 = {of / rf:.2f}x (>= 1x)")
    if not big:
        lines.append(f"not measured: octet FP32 >= ORT FP32 at batch {ACCEPTANCE_BATCH}")
    for r in (r for r in rows if r["batch"] == 1):
        oi, ri = r["octet_int8"][1], r["ort_int8"][1]
        check(oi <= ri, f"{r['model']} batch 1: INT8 median latency octet {oi:.3f} ms vs ORT {ri:.3f} ms (<=)")
    return lines


def write_docs(results):
    """Replaces the marked results section of docs/benchmarks.md (appends one if absent)."""
    with open(DOCS) as f:
        text = f.read()
    section = f"{DOCS_BEGIN}\n{results}{DOCS_END}"
    if DOCS_BEGIN in text and DOCS_END in text:
        text = text[:text.index(DOCS_BEGIN)] + section + text[text.index(DOCS_END) + len(DOCS_END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with open(DOCS, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", choices=FASHION_MODELS + IMAGENET_MODELS,
                    default=FASHION_MODELS + IMAGENET_MODELS)
    ap.add_argument("--no-imagenet", action="store_true", help="skip resnet50 and mobilenet_v2")
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 64])
    ap.add_argument("--quick", action="store_true",
                    help="batches 1 and 8, the ImageNet models at batch 1 only")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--duration-s", type=float, default=3.0, help="minimum measuring time")
    ap.add_argument("--min-iterations", type=int, default=3, help="minimum measured runs")
    ap.add_argument("--rounds", type=int, default=2,
                    help="measure every configuration this many times, interleaved, and keep the best")
    ap.add_argument("--bf16", choices=["auto", "on", "off"], default="auto",
                    help="also octet BF16 engines (--bf16); auto: when the CPU has avx512_bf16 or amx_bf16")
    ap.add_argument("--octet", default=os.path.join(REPO, "build", "octet"))
    ap.add_argument("--imagenet-dir", default=os.path.join(REPO, "build", "models", "imagenet"))
    ap.add_argument("--export-python", default="/usr/bin/python3", help="python with torch + torchvision")
    ap.add_argument("--work-dir", default=os.path.join(REPO, "build", "bench"),
                    help="plans, calibration data and the cached onnxruntime INT8 models")
    ap.add_argument("--rebuild-ort-int8", action="store_true", help="re-quantize even if cached")
    ap.add_argument("--markdown", help="write the results (Markdown) to this file")
    ap.add_argument("--write-docs", action="store_true", help=f"replace the results section of {DOCS}")
    ap.add_argument("--json", help="write the measurements as JSON")
    args = ap.parse_args()
    if args.quick:
        args.batches = [1, 8]
    cpu_flags = set(lscpu().get("Flags", "").split())
    args.bf16 = args.bf16 == "on" or (args.bf16 == "auto" and bool(cpu_flags & {"avx512_bf16", "amx_bf16"}))
    models = [m for m in args.models if not (args.no_imagenet and m in IMAGENET_MODELS)]
    os.makedirs(args.work_dir, exist_ok=True)

    machine = machine_description()
    revision = octet_revision()
    header = (f"{'Quick run (--quick: batches 1 and 8, ImageNet models at batch 1 only)' if args.quick else 'Full run'}"
              f", {datetime.date.today().isoformat()}: {machine}; octet {revision}; onnxruntime {ort.__version__}; "
              f"{args.threads} threads; >= {args.duration_s:g} s and >= {args.min_iterations} runs per measurement, "
              f"best of {args.rounds} interleaved rounds.")
    print(header, flush=True)
    peak = vnni_peak(args.octet, args.threads)
    if peak is None:
        print("octet_vnni_peak is not built next to octet: no peak figures", flush=True)

    rows = []
    for name in models:
        batches = [1] if args.quick and name in IMAGENET_MODELS else args.batches
        rows += bench_model(name, batches, args)

    results = results_markdown(rows, peak, args, header)
    print("\n" + results)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(results)
    if args.write_docs:
        write_docs(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "octet": revision, "onnxruntime": ort.__version__, "peak": peak,
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
