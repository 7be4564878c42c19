# How long a value published with st / atom.exch / red.add (.relaxed.gpu) takes to become
# visible to a poller on another SM, idle and while a device-wide copy runs, with the
# publisher alone on its SM or sharing it with copy blocks. Run on a GPU machine with CuPy
# (results: docs/measurements.md, sixth round).
import time

import cupy as cp
import numpy as np

from copy_load import ANY_SM, COPY_KERNEL, N as n, buffers
src = r'''
__device__ unsigned long long now() { unsigned long long t; asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)); return t; }
__device__ unsigned long long ld(unsigned long long *p) { unsigned long long v; asm volatile("ld.relaxed.gpu.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory"); return v; }
__device__ void st(unsigned long long *p, unsigned long long v) { asm volatile("st.relaxed.gpu.global.u64 [%0], %1;" :: "l"(p), "l"(v) : "memory"); }
extern "C" __global__ void publisher(unsigned long long *word, unsigned long long *ack, unsigned long long *sent, int k, int how, unsigned long long *go) {
    extern __shared__ unsigned char pad[];
    if (threadIdx.x != 0) return;
    while (ld(go) == 0) {}
    for (int i = 1; i <= k; ++i) {
        sent[i] = now();
        unsigned long long old;
        if (how == 0) st(word, i);
        else if (how == 1) asm volatile("atom.relaxed.gpu.global.exch.b64 %0, [%1], %2;" : "=l"(old) : "l"(word), "l"((unsigned long long)i) : "memory");
        else asm volatile("red.relaxed.gpu.global.add.u64 [%0], 1;" :: "l"(word) : "memory");
        while (ld(ack) != (unsigned long long)i) {}
    }
}
extern "C" __global__ void watcher(unsigned long long *word, unsigned long long *ack, unsigned long long *seen, int k) {
    extern __shared__ unsigned char pad[];
    if (threadIdx.x != 0) return;
    for (int i = 1; i <= k; ++i) {
        while (ld(word) != (unsigned long long)i) {}
        seen[i] = now();
        st(ack, i);
    }
}
'''
mod = cp.RawModule(code=src + COPY_KERNEL)
pub, wat, copy = (mod.get_function(k) for k in ('publisher', 'watcher', 'copy'))
big = 200 * 1024
pub.max_dynamic_shared_size_bytes = big; wat.max_dynamic_shared_size_bytes = big
sms = cp.cuda.Device().attributes['MultiProcessorCount']
k = 2000
word = cp.zeros(1, dtype=cp.uint64); ack = cp.zeros(64, dtype=cp.uint64)[32:33]
sent = cp.zeros(k + 1, dtype=cp.uint64); seen = cp.zeros(k + 1, dtype=cp.uint64)
x, y = buffers()
sp, sw, sc, sg = (cp.cuda.Stream(non_blocking=True) for _ in range(4))
copy((1,), (32,), (x, y, np.uint64(1), np.int32(1), ANY_SM)); cp.cuda.Device().synchronize()
go = cp.zeros(64, dtype=cp.uint64)[16:17]
def trial(label, copy_on, pub_smem, how=0, copy_block=512, copy_grid=3):
    word.fill(0); ack.fill(0); go.fill(0); cp.cuda.Device().synchronize()
    # The watcher and (if isolated) the publisher take an SM each before the copy starts.
    wat((1,), (32,), (word, ack, seen, np.int32(k)), shared_mem=big, stream=sw)
    if pub_smem:
        pub((1,), (32,), (word, ack, sent, np.int32(k), np.int32(how), go), shared_mem=pub_smem, stream=sp)
    if copy_on:
        time.sleep(0.001)
        copy((sms * copy_grid,), (copy_block,), (x, y, np.uint64(n), np.int32(300), ANY_SM), stream=sc)
        time.sleep(0.003)
    if not pub_smem:
        pub((1,), (32,), (word, ack, sent, np.int32(k), np.int32(how), go), shared_mem=0, stream=sp)
    time.sleep(0.002); go.set(np.ones(1, dtype=np.uint64), stream=sg)
    sp.synchronize(); sw.synchronize(); sc.synchronize()
    d = (seen.get()[1:].astype(np.int64) - sent.get()[1:].astype(np.int64))
    d.sort()
    print(f"{label:52s} store→seen median {d[len(d)//2]:6d} ns, p90 {d[len(d)*9//10]:6d}, max {d[-1]:6d}")
for how, name in ((0, "st.relaxed.gpu"), (1, "atom.exch.relaxed.gpu"), (2, "red.add.relaxed.gpu")):
    trial(f"{name}: no copy", False, big, how)
    trial(f"{name}: copy on, publisher alone on its SM", True, big, how)
    trial(f"{name}: copy on, publisher shares an SM with copy", True, 0, how)
