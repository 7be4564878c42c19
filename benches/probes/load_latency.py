# Latency of an L2-resident global load (ld.relaxed.gpu) as seen from one SM, while a
# device-wide copy saturates memory: from an SM the copy does not use, and from one it does.
# Run on a GPU machine with CuPy: python3 benches/probes/load_latency.py
# (results: docs/measurements.md, sixth round).
import time

import cupy as cp
import numpy as np

from copy_load import ANY_SM, COPY_KERNEL, N as n, buffers

src = r'''
extern "C" __global__ void ping(unsigned long long *word, unsigned long long *out, int iters) {
    if (threadIdx.x != 0) return;
    unsigned int smid; asm volatile("mov.u32 %0, %%smid;" : "=r"(smid));
    unsigned long long v = 0, g0, g1, worst = 0;
    long long c0 = clock64(), cprev = c0;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(g0));
    for (int i = 0; i < iters; ++i) {
        asm volatile("ld.relaxed.gpu.global.u64 %0, [%1];" : "=l"(v) : "l"(word + v) : "memory");
        long long c;
        asm volatile("{ .reg .u64 t; add.u64 t, %1, 0; mov.u64 %0, %%clock64; }" : "=l"(c) : "l"(v));
        if ((unsigned long long)(c - cprev) > worst) worst = c - cprev;
        cprev = c;
    }
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(g1));
    out[0] = g1 - g0; out[1] = worst; out[2] = smid; out[3] = v;
}
'''
mod = cp.RawModule(code=src + COPY_KERNEL, options=('-std=c++17',))
ping, copy = mod.get_function('ping'), mod.get_function('copy')
dev = cp.cuda.Device()
sms = dev.attributes['MultiProcessorCount']
x, y = buffers()
word = cp.zeros(2, dtype=cp.uint64); out = cp.zeros(4, dtype=cp.uint64)
big = 200 * 1024  # dynamic shared memory that keeps anything else off the SM
ping.max_dynamic_shared_size_bytes = big
copy.max_dynamic_shared_size_bytes = big
iters = 2000
def run_ping(stream, smem):
    ping((1,), (32,), (word, out, np.int32(iters)), shared_mem=smem, stream=stream)
s1, s2 = cp.cuda.Stream(non_blocking=True), cp.cuda.Stream(non_blocking=True)
def report(tag):
    o = out.get(); print(f"{tag:58s} mean {o[0]/iters:7.0f} ns  worst {o[1]:7d} cycles  (SM {o[2]})")
# 1: alone
run_ping(s1, big); s1.synchronize(); report("ping alone")
# 2: during a copy that fills every SM but the ping's (ping first, holding its SM)
for label, ping_smem, copy_smem, block in (
    ("ping on its own SM, copy on the others", big, 0, 512),
    ("ping sharing SMs with the copy", 0, 0, 512),
):
    run_ping(s1, ping_smem); s1.synchronize(); sm = int(out.get()[2])
    avoid = np.uint32(sm) if ping_smem else ANY_SM
    copy((sms * 3,), (block,), (x, y, np.uint64(n), np.int32(100), avoid), shared_mem=copy_smem, stream=s2)
    time.sleep(0.002)
    run_ping(s1, ping_smem)
    s1.synchronize(); s2.synchronize()
    report(label)
# copy bandwidth for reference
e0, e1 = cp.cuda.Event(), cp.cuda.Event()
e0.record(s2); copy((sms * 3,), (512,), (x, y, np.uint64(n), np.int32(10), ANY_SM), stream=s2); e1.record(s2); e1.synchronize()
print(f"copy {2 * 10 * n * 16 / cp.cuda.get_elapsed_time(e0, e1) / 1e6:.0f} GB/s (read + write)")
