#!/usr/bin/env python3
"""The peer side of riptide's peer comparison: the same workloads as
riptide's `bench::workloads` and pipeline, run with PyTorch and CuPy on the same GPU.

Kernels are timed with CUDA events (median of --iters after warm-up), the pipeline
with host wall time around issue + synchronize (best over 1..4 streams). Writes JSON:
{"card", "versions": {...}, "results": [{"peer", "workload", "elements"|"bytes", "ms", "note"}]}
A peer that is not installed is reported in "skipped" rather than failing the run.
"""
import argparse
import json
import math
import statistics
import sys
import time


def median_event_ms(torch, fn, iters, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def torch_peer(n, pipeline_bytes, chunks, iters):
    import torch

    dev = torch.device("cuda")
    x = (torch.arange(n, device=dev, dtype=torch.float32) % 1021 - 510) / 512
    y = x.clone()
    bins = (torch.arange(n, device=dev, dtype=torch.int64) * 2654435761 % (1 << 32) >> 8 >> 16).to(torch.int32)
    side = math.isqrt(n)
    sq = x[: side * side].view(side, side)
    out_sq = torch.empty(side, side, device=dev, dtype=torch.float32)
    res = []

    def add(workload, ms, note=""):
        res.append({"peer": "pytorch", "workload": workload, "elements": n, "ms": ms, "note": note})

    add("copy", median_event_ms(torch, lambda: y.copy_(x), iters))
    add("saxpy", median_event_ms(torch, lambda: y.add_(x, alpha=2.0), iters), "y.add_(x, alpha=2)")
    add("sum", median_event_ms(torch, lambda: x.sum(), iters))
    add("cumsum", median_event_ms(torch, lambda: torch.cumsum(x, 0, out=y), iters))
    add("histogram", median_event_ms(torch, lambda: torch.bincount(bins, minlength=256), iters),
        "bincount of values pre-shifted to their bin")
    add("transpose", median_event_ms(torch, lambda: out_sq.copy_(sq.t()), iters), f"{side}x{side}")
    res.append(torch_pipeline(torch, pipeline_bytes, chunks))
    return res, {"torch": torch.__version__}, torch.cuda.get_device_name(0)


def torch_pipeline(torch, total_bytes, chunks):
    n = total_bytes // 4
    h_in = torch.empty(n, dtype=torch.float32, pin_memory=True)
    h_in.copy_((torch.arange(n, dtype=torch.float32) % 4093 - 2046) / 512)
    h_out = torch.empty(n, dtype=torch.float32, pin_memory=True)
    per = n // chunks
    best = None
    for nstreams in (1, 2, 3, 4):
        streams = [torch.cuda.Stream() for _ in range(nstreams)]
        bufs = [torch.empty(per, device="cuda") for _ in range(2 * nstreams)]
        times = []
        for rep in range(3):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for c in range(chunks):
                s = streams[c % nstreams]
                d = bufs[c % len(bufs)]
                with torch.cuda.stream(s):
                    lo = c * per
                    d.copy_(h_in[lo : lo + per], non_blocking=True)
                    d.mul_(2.0).add_(1.0)
                    h_out[lo : lo + per].copy_(d, non_blocking=True)
            torch.cuda.synchronize()
            times.append((time.perf_counter() - t0) * 1e3)
        ms = min(times[1:])
        if best is None or ms < best[0]:
            best = (ms, nstreams)
    return {"peer": "pytorch", "workload": "pipeline", "bytes": total_bytes, "ms": best[0],
            "note": f"{chunks} chunks, best of 1-4 streams: {best[1]}; host wall time"}


def cupy_peer(n, iters):
    import cupy as cp

    def med(fn):
        for _ in range(3):
            fn()
        cp.cuda.Device().synchronize()
        times = []
        for _ in range(iters):
            a, b = cp.cuda.Event(), cp.cuda.Event()
            a.record()
            fn()
            b.record()
            b.synchronize()
            times.append(cp.cuda.get_elapsed_time(a, b))
        return statistics.median(times)

    x = (cp.arange(n, dtype=cp.float32) % 1021 - 510) / 512
    y = x.copy()
    bins = ((cp.arange(n, dtype=cp.uint64) * 2654435761 % (1 << 32)) >> 24).astype(cp.int32)
    saxpy = cp.ElementwiseKernel("float32 x", "float32 y", "y = 2.0f * x + y", "riptide_saxpy")
    side = math.isqrt(n)
    sq = x[: side * side].reshape(side, side)
    out_sq = cp.empty((side, side), dtype=cp.float32)
    res = []

    def add(workload, ms, note=""):
        res.append({"peer": "cupy", "workload": workload, "elements": n, "ms": ms, "note": note})

    add("copy", med(lambda: cp.copyto(y, x)))
    add("saxpy", med(lambda: saxpy(x, y)), "ElementwiseKernel y = 2x + y")
    add("sum", med(lambda: x.sum()))
    add("cumsum", med(lambda: cp.cumsum(x, out=y)))
    add("histogram", med(lambda: cp.bincount(bins, minlength=256)),
        "bincount of values pre-shifted to their bin")
    add("transpose", med(lambda: cp.copyto(out_sq, sq.T)), f"{side}x{side}")
    return res, {"cupy": cp.__version__}


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--elements", type=int, default=64 << 20)
    p.add_argument("--pipeline-bytes", type=int, default=512 << 20)
    p.add_argument("--chunks", type=int, default=16)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--json", required=True)
    a = p.parse_args()
    out = {"card": None, "versions": {}, "results": [], "skipped": {}}
    try:
        res, ver, card = torch_peer(a.elements, a.pipeline_bytes, a.chunks, a.iters)
        out["results"] += res
        out["versions"].update(ver)
        out["card"] = card
    except Exception as e:  # a missing or broken peer is reported, not fatal
        out["skipped"]["pytorch"] = f"{type(e).__name__}: {e}"
    try:
        res, ver = cupy_peer(a.elements, a.iters)
        out["results"] += res
        out["versions"].update(ver)
        if out["card"] is None:
            import cupy as cp
            out["card"] = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
    except Exception as e:
        out["skipped"]["cupy"] = f"{type(e).__name__}: {e}"
    with open(a.json, "w") as f:
        json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
