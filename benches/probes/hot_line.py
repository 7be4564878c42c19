# Is a status line that hundreds of warps poll a hot spot? Latency of one L2-hit load
# (pointer chase, one thread) to the polled line and to another line, while W warps spin
# on that line with 32-lane ld.relaxed.gpu loads (as the scan's look-back warps do), with and
# without a device-wide copy running. Run on a GPU machine with CuPy (results:
# docs/measurements.md, sixth round).
import time

import cupy as cp
import numpy as np

from copy_load import ANY_SM, COPY_KERNEL, N as n, buffers
src = r'''
extern "C" __global__ void ping(unsigned long long *word, unsigned long long *out, int iters) {
    if (threadIdx.x != 0) return;
    unsigned long long v = 0, g0, g1;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(g0));
    for (int i = 0; i < iters; ++i)
        asm volatile("ld.relaxed.gpu.global.u64 %0, [%1];" : "=l"(v) : "l"(word + v) : "memory");
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(g1));
    out[0] = g1 - g0; out[1] = v;
}
extern "C" __global__ void poll(unsigned long long *line, int lanes, unsigned long long *stop, unsigned long long *sink) {
    unsigned long long acc = 0, v = 0;
    int lane = threadIdx.x & 31;
    for (;;) {
        if (lane < lanes)
            asm volatile("ld.relaxed.gpu.global.u64 %0, [%1];" : "=l"(v) : "l"(line + lane + (v & 0x100000000ull)) : "memory");
        acc += v;
        unsigned long long s;
        asm volatile("ld.relaxed.gpu.global.u64 %0, [%1];" : "=l"(s) : "l"(stop) : "memory");
        if (__all_sync(0xffffffffu, s != 0)) break;
    }
    if (acc == 12345) sink[0] = acc;
}
'''
mod = cp.RawModule(code=src + COPY_KERNEL)
ping, poll, copy = (mod.get_function(k) for k in ('ping', 'poll', 'copy'))
sms = cp.cuda.Device().attributes['MultiProcessorCount']
mem = cp.zeros(1 << 20, dtype=cp.uint64)   # line at [0..32), far word at [1<<19]
stop = cp.zeros(1, dtype=cp.uint64); sink = cp.zeros(1, dtype=cp.uint64); out = cp.zeros(2, dtype=cp.uint64)
x, y = buffers()
sp, sc, sg = (cp.cuda.Stream(non_blocking=True) for _ in range(3))
iters = 2000
def lat(word_index):
    ping((1,), (32,), (mem[word_index:], out, np.int32(iters)), stream=sp); sp.synchronize()
    return int(out.get(stream=sp)[0]) / iters
# Load every kernel before anything spins (loading a module may wait for running work).
stop.fill(1); poll((1,), (32,), (mem, np.int32(1), stop, sink)); copy((1,), (32,), (x, y, np.uint64(1), np.int32(1), ANY_SM))
one = np.ones(1, dtype=np.uint64); zero = np.zeros(1, dtype=np.uint64)
cp.cuda.Device().synchronize()
print(f"idle: same line {lat(0):.0f} ns, other line {lat(1 << 19):.0f} ns")
for warps_per_sm, lanes, with_copy in ((6, 32, False), (6, 1, False), (12, 32, False), (6, 32, True), (6, 1, True), (0, 0, True)):
    stop.set(zero); cp.cuda.Device().synchronize()
    if warps_per_sm:
        poll((warps_per_sm * sms,), (32,), (mem, np.int32(lanes), stop, sink), stream=sg)
    if with_copy:
        copy((sms * 3,), (512,), (x, y, np.uint64(n), np.int32(200), ANY_SM), stream=sc)
    time.sleep(0.003)
    a, b = lat(0), lat(1 << 19)
    stop.set(one, stream=sp); cp.cuda.Device().synchronize()
    print(f"{warps_per_sm * sms:5d} warps polling the line with {lanes:2d} lanes, copy {'on ' if with_copy else 'off'}: "
          f"same line {a:6.0f} ns, other line {b:6.0f} ns")
