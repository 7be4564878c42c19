# How long a value written into another block's shared memory through distributed shared
# memory (a thread-block cluster of 2, sm_90) takes to be seen there, idle and while a
# device-wide copy runs: the path a cluster-based scan would use instead of global status
# words. Run on a GPU machine with CuPy (results: docs/measurements.md, sixth round).
import time

import cupy as cp
import numpy as np

from copy_load import ANY_SM, COPY_KERNEL, N as n, buffers

src = r'''
#include <cooperative_groups.h>
namespace cg = cooperative_groups;
__device__ unsigned long long now() { unsigned long long t; asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)); return t; }
extern "C" __global__ void __cluster_dims__(2, 1, 1)
pingpong(unsigned long long *sent, unsigned long long *seen, int k, volatile unsigned long long *go) {
    __shared__ unsigned long long slot, ack;
    cg::cluster_group cluster = cg::this_cluster();
    unsigned rank = cluster.block_rank();
    if (threadIdx.x == 0) { slot = 0; ack = 0; }
    cluster.sync();
    unsigned smid; asm volatile("mov.u32 %0, %%smid;" : "=r"(smid));
    if (threadIdx.x == 0) (rank == 0 ? sent : seen)[0] = smid;
    volatile unsigned long long *peer_slot = cluster.map_shared_rank(&slot, 1);
    volatile unsigned long long *peer_ack = cluster.map_shared_rank(&ack, 0);
    volatile unsigned long long *my_slot = &slot, *my_ack = &ack;
    if (threadIdx.x == 0) {
        if (rank == 0) {
            while (*go == 0) {}
            for (int i = 1; i <= k; ++i) {
                sent[i] = now();
                *peer_slot = i;
                while (*my_ack != (unsigned long long)i) {}
            }
        } else {
            for (int i = 1; i <= k; ++i) {
                while (*my_slot != (unsigned long long)i) {}
                seen[i] = now();
                *peer_ack = i;
            }
        }
    }
    cluster.sync();
}
'''
mod = cp.RawModule(code=src + COPY_KERNEL, options=('-std=c++17',))
pingpong, copy = mod.get_function('pingpong'), mod.get_function('copy')
sms = cp.cuda.Device().attributes['MultiProcessorCount']
k = 2000
sent = cp.zeros(k + 1, dtype=cp.uint64); seen = cp.zeros(k + 1, dtype=cp.uint64)
go = cp.zeros(1, dtype=cp.uint64)
x, y = buffers()
sp, sc, sg = (cp.cuda.Stream(non_blocking=True) for _ in range(3))
copy((1,), (32,), (x, y, np.uint64(1), np.int32(1), ANY_SM)); cp.cuda.Device().synchronize()
for copy_on in (False, True, True):
    go.fill(0); cp.cuda.Device().synchronize()
    if copy_on:
        copy((sms * 3,), (512,), (x, y, np.uint64(n), np.int32(300), ANY_SM), stream=sc)
        time.sleep(0.003)
    pingpong((2,), (32,), (sent, seen, np.int32(k), go), stream=sp)
    time.sleep(0.002)
    go.set(np.ones(1, dtype=np.uint64), stream=sg)
    sp.synchronize(); sc.synchronize()
    s_host, r_host = sent.get(), seen.get()
    d = r_host[1:].astype(np.int64) - s_host[1:].astype(np.int64)
    d.sort()
    print(f"DSMEM write → seen, copy {'on ' if copy_on else 'off'}: median {d[len(d)//2]:6d} ns, "
          f"p90 {d[len(d)*9//10]:6d}, max {d[-1]:6d} (SMs {s_host[0]} → {r_host[0]})")
