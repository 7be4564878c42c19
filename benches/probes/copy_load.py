# The load the probes run beside: a grid-stride float4 copy of 256 MiB, `reps` times over
# (blocks that land on SM `avoid_sm` do nothing; ANY_SM avoids none), as CUDA C source to
# append to a probe's module, and its buffers.
import cupy as cp
import numpy as np

COPY_KERNEL = r'''
extern "C" __global__ void copy(const float4 *x, float4 *y, size_t n, int reps, unsigned int avoid_sm) {
    unsigned int smid; asm volatile("mov.u32 %0, %%smid;" : "=r"(smid));
    if (smid == avoid_sm) return;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (int r = 0; r < reps; ++r)
        for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = x[i];
}
'''

# float4 elements in each buffer
N = (256 << 20) // 16

# An `avoid_sm` no SM has.
ANY_SM = np.uint32(0xFFFFFFFF)


def buffers():
    """Source and destination of the copy."""
    x = cp.zeros(N * 4, dtype=cp.float32)
    return x, cp.empty_like(x)
