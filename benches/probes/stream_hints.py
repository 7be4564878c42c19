# What a one-in, one-out streaming kernel reaches against the device copy (cudaMemcpy), with
# each cache hint on its loads and stores and 1, 2 or 4 float4 accesses in flight per thread:
# the ceiling for map_chain, the stencil and the transpose on a card (results:
# docs/measurements.md, seventh round). Kernel names are map_<load>_<store>_<in flight>:
# loads 0 plain, 1 .cs, 2 .nc.L1::no_allocate, 3 the same with an L2::256B prefetch; stores
# 0 plain, 1 .cs, 2 .L1::no_allocate. Run on a GPU machine with CuPy.
import cupy as cp
import numpy as np
SRC = r'''
template <int LD>
__device__ __forceinline__ float4 ld(const float4 *p) {
    float4 v;
    if (LD == 0) asm volatile("ld.global.v4.f32 {%0,%1,%2,%3}, [%4];" : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w) : "l"(p));
    else if (LD == 1) asm volatile("ld.global.cs.v4.f32 {%0,%1,%2,%3}, [%4];" : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w) : "l"(p));
    else if (LD == 2) asm volatile("ld.global.nc.L1::no_allocate.v4.f32 {%0,%1,%2,%3}, [%4];" : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w) : "l"(p));
    else asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.f32 {%0,%1,%2,%3}, [%4];" : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w) : "l"(p));
    return v;
}
template <int ST>
__device__ __forceinline__ void st(float4 *p, float4 v) {
    if (ST == 0) asm volatile("st.global.v4.f32 [%0], {%1,%2,%3,%4};" :: "l"(p), "f"(v.x), "f"(v.y), "f"(v.z), "f"(v.w) : "memory");
    else if (ST == 1) asm volatile("st.global.cs.v4.f32 [%0], {%1,%2,%3,%4};" :: "l"(p), "f"(v.x), "f"(v.y), "f"(v.z), "f"(v.w) : "memory");
    else asm volatile("st.global.L1::no_allocate.v4.f32 [%0], {%1,%2,%3,%4};" :: "l"(p), "f"(v.x), "f"(v.y), "f"(v.z), "f"(v.w) : "memory");
}
__device__ __forceinline__ float f(float x) { float t = fmaf(x, 0.5f, 0.25f); t = t < -10.f ? -10.f : (t > 10.f ? 10.f : t); float r; asm("ex2.approx.f32 %0, %1;" : "=f"(r) : "f"(t)); return r; }
__device__ __forceinline__ float4 f4(float4 v) { return make_float4(f(v.x), f(v.y), f(v.z), f(v.w)); }
template <int LD, int ST, int U>
__device__ void body(const float4 *x, float4 *y, size_t n) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    for (; i + (U - 1) * stride < n; i += U * stride) {
        float4 v[U];
        #pragma unroll
        for (int u = 0; u < U; ++u) v[u] = ld<LD>(x + i + u * stride);
        #pragma unroll
        for (int u = 0; u < U; ++u) st<ST>(y + i + u * stride, f4(v[u]));
    }
    for (; i < n; i += stride) st<ST>(y + i, f4(ld<LD>(x + i)));
}
#define K(LD, ST, U) extern "C" __global__ void map_##LD##_##ST##_##U(const float4 *x, float4 *y, size_t n) { body<LD, ST, U>(x, y, n); }
K(0,0,2) K(0,1,2) K(1,1,2) K(2,0,2) K(2,1,2) K(3,1,2) K(0,2,2) K(2,0,4) K(2,1,4) K(0,0,1) K(2,1,1)
'''
mod = cp.RawModule(code=SRC)
n = 64 << 20  # floats
x = cp.random.random(n, dtype=cp.float32); y = cp.empty_like(x)
sms = cp.cuda.Device().attributes['MultiProcessorCount']
name = cp.cuda.runtime.getDeviceProperties(0)['name'].decode()
def timed(fn, reps=20):
    ts = []
    for _ in range(reps):
        a, b = cp.cuda.Event(), cp.cuda.Event(); a.record(); fn(); b.record(); b.synchronize(); ts.append(cp.cuda.get_elapsed_time(a, b))
    ts.sort(); return ts[len(ts)//2]
copy = lambda: cp.cuda.runtime.memcpyAsync(y.data.ptr, x.data.ptr, 4 * n, cp.cuda.runtime.memcpyDeviceToDevice, 0)
names = ['map_0_0_2', 'map_0_1_2', 'map_1_1_2', 'map_2_0_2', 'map_2_1_2', 'map_3_1_2', 'map_0_2_2', 'map_2_0_4', 'map_2_1_4', 'map_0_0_1', 'map_2_1_1']
print(name)
for rnd in range(3):
    tc = timed(copy)
    row = []
    for nm in names:
        k = mod.get_function(nm)
        for per_sm in (8,):
            t = timed(lambda: k((per_sm * sms,), (256,), (x, y, np.uint64(n // 4))))
            row.append(f'{nm}:{100 * tc / t:.1f}')
    print(f'round {rnd} copy {tc*1e3:.1f} us: ' + ' '.join(row), flush=True)
