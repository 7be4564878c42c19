# Prototypes of the scan's look-back, in CUDA C through CuPy, to measure designs before one
# is built in gpu-kernels (results: docs/measurements.md, seventh round). The kernel is the
# shipped design — one look-back warp and four data warps per block, two staged 16 KiB
# tiles, groups of 32 tiles and super-groups of 32 groups — over u32 (so every output is
# checked exactly against NumPy), with switches:
#   CL      a thread-block cluster of CL blocks (sm_90) claims a unit of CL consecutive
#           tiles; its blocks hand their aggregates to rank 0 through distributed shared
#           memory, rank 0's look-back warp looks back over units and hands the prefixes
#           back the same way (CL = 1: no cluster, the shipped design);
#   ONEHOP  group sums not published yet are summed from the group's aggregates (CL = 1);
#   DUP     every status word is also kept in a second line, readers take the first in;
#   SWARP   a sixth warp publishes group and super-group sums as soon as their
#           aggregates are in, off the look-back warp's path (CL = 1);
#   LB2     two look-back warps, one per staged tile (CL = 1);
#   FLAT    groups of 32·FLAT tiles, FLAT per look-back lane (1: 8), instead of 32 (CL = 1);
#   STRIDE  status words STRIDE words apart (16: one per 128-byte line);
#   BACKOFF nanoseconds a look-back spin sleeps before re-loading (__nanosleep).
# The shipped kernel's own PTX runs beside them when its path is given. With TIMELINE set,
# the CL = 1 variants also record %globaltimer at each step of every tile and print the
# distributions (claim → published → look-back phases → written).
# Usage: python scan_prototypes.py [riptide_kernels.sm_90.ptx | -] [CL,ONEHOP,DUP,SWARP,LB2,FLAT,STRIDE,BACKOFF ...]
# Environment: PER_SM (the shipped kernel's blocks per SM, default 4,5,6), PROTO_PER_SM
# (default 6), ROUNDS (default 3), TIMELINE.
import sys

import cupy as cp
import numpy as np

SRC = r'''
#include <cooperative_groups.h>
namespace cg = cooperative_groups;
typedef unsigned long long u64;
#define TILE 4096
#define DT 128
#define ROUNDS 8
#define NO_TILE 0xffffffffu

__device__ __forceinline__ u64 ld_one(const u64 *p) {
    u64 v; asm volatile("ld.relaxed.gpu.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory"); return v; }
__device__ __forceinline__ void st_one(u64 *p, u64 v) {
    asm volatile("st.relaxed.gpu.global.u64 [%0], %1;" :: "l"(p), "l"(v) : "memory"); }
// Status words. With DUP, every word is also kept DUP_OFF words further on (another
// line, likely another L2 slice): published to both, read from both, the newer tag wins
// (this launch's tags are the largest the scratch holds).
#ifndef DUP_OFF
#define DUP_OFF ((1 << 17) + 80)
#endif
// STRIDE: status word i lives at word STRIDE·i of the scratch (16: one word per 128-byte
// line), so the lines being polled and published spread over more L2 slices.
__device__ u64 *g_status_base;
__device__ __forceinline__ const u64 *spread(const u64 *p) {
    return STRIDE == 1 ? p : g_status_base + (p - g_status_base) * STRIDE; }
__device__ __forceinline__ u64 ld_relaxed(const u64 *p) {
    p = spread(p);
#if DUP
    u64 a = ld_one(p), b = ld_one(p + DUP_OFF);
    return (a >> 32) >= (b >> 32) ? a : b;
#else
    return ld_one(p);
#endif
}
__device__ __forceinline__ void st_relaxed(u64 *p, u64 v) {
    p = (u64 *)spread(p);
    st_one(p, v);
#if DUP
    st_one(p + DUP_OFF, v);
#endif
}
// BACKOFF: nanoseconds a look-back spin sleeps before re-loading the words still missing.
__device__ __forceinline__ void backoff() { if (BACKOFF > 0) __nanosleep(BACKOFF); }
__device__ __forceinline__ unsigned scan_incl(unsigned v, unsigned lane) {
    #pragma unroll
    for (int d = 1; d < 32; d <<= 1) { unsigned o = __shfl_up_sync(~0u, v, d); if (lane >= d) v += o; }
    return v; }
__device__ __forceinline__ unsigned wsum(unsigned v) {
    #pragma unroll
    for (int d = 16; d >= 1; d >>= 1) v += __shfl_xor_sync(~0u, v, d);
    return v; }
__device__ __forceinline__ u64 pack(unsigned tag, unsigned v) { return ((u64)tag << 32) | v; }
__device__ __forceinline__ bool has(u64 w, unsigned tag) { return (unsigned)(w >> 32) == tag; }

// The shared::cluster address of a shared address of this block, in rank 0's block.
__device__ __forceinline__ unsigned mapa(unsigned a) {
    unsigned r; asm volatile("mapa.shared::cluster.u32 %0, %1, 0;" : "=r"(r) : "r"(a)); return r; }

struct St { u64 *units, *groups, *prefixes; unsigned at, gt, pt; };

// Sum of complete group `gg`: its published word if `w` (already loaded) carries it, else
// the butterfly of its 32 aggregates (the same bits), which it then publishes.
__device__ unsigned group_sum_any(unsigned gg, u64 w, unsigned lane, St st) {
    if (has(w, st.gt)) return (unsigned)w;
    u64 a = ld_relaxed(st.units + gg * 32 + lane);
    while (!__all_sync(~0u, has(a, st.at))) { if (!has(a, st.at)) a = ld_relaxed(st.units + gg * 32 + lane); }
    unsigned sum = wsum((unsigned)a);
    if (lane == 0) st_relaxed(st.groups + gg, pack(st.gt, sum));
    return sum;
}

// Group sums of lanes `< n` (groups base + lane) in `words`: those not published yet are
// computed from their aggregates, one group at a time.
__device__ unsigned fill_groups(unsigned base, unsigned n, u64 words, unsigned lane, St st) {
    unsigned v = (unsigned)words;
    unsigned missing = __ballot_sync(~0u, lane < n && !has(words, st.gt));
    while (missing) {
        unsigned l = __ffs(missing) - 1;
        missing &= missing - 1;
        unsigned sum = group_sum_any(base + l, __shfl_sync(~0u, words, l), lane, st);
        if (lane == l) v = sum;
    }
    return lane < n ? v : 0u;
}

// Lane `lane`'s view of super-group `sup - 32 + lane`'s prefix word; super-group -1 is the
// carry (0 here), earlier ones are never published.
struct PrefixWord { bool ok = false; unsigned value = 0; };
__device__ __forceinline__ PrefixWord load_prefix(unsigned sup, unsigned lane, St st) {
    int h = (int)sup - 32 + (int)lane;
    if (h >= 0) { u64 w = ld_relaxed(st.prefixes + h); return {has(w, st.pt), (unsigned)w}; }
    return {h == -1, 0u};
}

// H_{sup-1}: the newest published prefix among the 32 super-groups before `sup` (lane 31's
// `pw` already holds H_{sup-1}'s word), spinning until one is, then the super-group sums
// `ss(next)` after it folded on in order, each prefix published on the way.
template <typename SuperSum>
__device__ unsigned prefix_before(unsigned sup, unsigned lane, St st, PrefixWord pw, SuperSum ss) {
    if (sup == 0) return 0;
    unsigned acc, next;
    for (;;) {
        unsigned found = __ballot_sync(~0u, pw.ok);
        if (found) { unsigned l = 31 - __clz(found); acc = __shfl_sync(~0u, pw.value, l); next = sup + l + 1 - 32; break; }
        pw = load_prefix(sup, lane, st);
    }
    for (; next < sup; ++next) {
        acc += ss(next);
        if (lane == 0) st_relaxed(st.prefixes + next, pack(st.pt, acc));
    }
    return acc;
}

__device__ __forceinline__ u64 now() { u64 t; asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)); return t; }
// TIMELINE: per tile, globaltimer at claim (and, in word 7, when the ticket was asked for), aggregate published, look-back start, own
// group's aggregates seen (E), group sums seen (F), prefix known, tile written.
__device__ __forceinline__ void mark(u64 *rec, int k, unsigned lane) { if (rec && lane == 0) rec[k] = now(); }

// The shipped kernel's look-back (gpu-kernels/src/kernels/scan/lookback.rs), over units.
__device__ unsigned unit_prefix(unsigned unit, unsigned agg, unsigned lane, St st, u64 *rec = nullptr) {
    unsigned group = unit / 32, pos = unit % 32, sup = group / 32, gpos = group % 32;
    auto own_word = [&]() -> u64 {
        if (lane < pos) return ld_relaxed(st.units + group * 32 + lane);
        return pack(st.at, lane == pos ? agg : 0u); };
    auto group_word = [&]() -> u64 {
        if (lane < gpos) return ld_relaxed(st.groups + sup * 32 + lane);
        return pack(st.gt, 0u); };
    u64 own = own_word(), groups = group_word();
    PrefixWord pw;
    if (sup > 0 && lane == 31) pw = load_prefix(sup, lane, st);
    unsigned within_group = 0, group_sum = 0;
    if (pos > 0) {
        while (!__all_sync(~0u, has(own, st.at))) { backoff(); if (!has(own, st.at)) own = own_word(); }
        within_group = __shfl_sync(~0u, scan_incl((unsigned)own, lane), pos - 1);
        if (pos == 31) {
            group_sum = wsum((unsigned)own);
            if (lane == 0) st_relaxed(st.groups + group, pack(st.gt, group_sum));
        }
    }
    mark(rec, 3, lane);
    unsigned within_sup = 0;
#if ONEHOP
    unsigned gvals = 0;
    if (gpos > 0) {
        gvals = fill_groups(sup * 32, gpos, groups, lane, st);
        within_sup = __shfl_sync(~0u, scan_incl(gvals, lane), gpos - 1);
    }
    if (pos == 31 && gpos == 31 && lane == 31) gvals = group_sum;
    groups = pack(st.gt, gvals);
    if (0) {
#else
    if (gpos > 0) {
#endif
        while (!__all_sync(~0u, has(groups, st.gt))) { backoff(); if (!has(groups, st.gt)) groups = group_word(); }
        within_sup = __shfl_sync(~0u, scan_incl((unsigned)groups, lane), gpos - 1);
    }
    mark(rec, 4, lane);
    bool ends_sup = pos == 31 && gpos == 31;
    unsigned sup_sum = ends_sup ? wsum(lane == 31 ? group_sum : (unsigned)groups) : 0u;
    unsigned before = prefix_before(sup, lane, st, pw, [&](unsigned next) {
        u64 w = ld_relaxed(st.groups + next * 32 + lane);
#if ONEHOP
        return wsum(fill_groups(next * 32, 32, w, lane, st));
#else
        while (!__all_sync(~0u, has(w, st.gt))) { backoff(); if (!has(w, st.gt)) w = ld_relaxed(st.groups + next * 32 + lane); }
        return wsum((unsigned)w);
#endif
    });
    if (ends_sup && lane == 0) st_relaxed(st.prefixes + sup, pack(st.pt, before + sup_sum));
    return before + within_sup + within_group;
}

// FLAT: groups of 256 tiles (8 per look-back lane: lane l holds tiles 8l .. 8l + 7), so a
// tile's own group covers the ~200 tiles whose aggregates are still in flight when it
// looks back, and the group before it, when its sum is not out yet, is summed from its
// 256 aggregates (published as soon as they are in): one wait on other SMs per tile in
// the usual case instead of two. Sums are fixed trees: per lane a left fold of 8, then a
// butterfly (group sum) or a Kogge-Stone scan (prefix inside the group).
#define PL (FLAT > 1 ? FLAT : 8)
#define GT (32 * PL)
__device__ __forceinline__ unsigned fold8(const u64 (&w)[PL], unsigned n) {
    unsigned s = 0;
    #pragma unroll
    for (int j = 0; j < PL; ++j) if (j < n) s += (unsigned)w[j];
    return s;
}
// Loads the first `n` aggregates of lane `lane`'s 8 in group `g` and spins until all are in.
__device__ __forceinline__ void load8(u64 (&w)[PL], unsigned g, unsigned n, unsigned lane, St st) {
    const u64 *base = st.units + (size_t)g * GT + PL * lane;
    #pragma unroll
    for (int j = 0; j < PL; ++j) w[j] = j < n ? ld_relaxed(base + j) : pack(st.at, 0u);
    for (;;) {
        bool miss = false;
        #pragma unroll
        for (int j = 0; j < PL; ++j) miss |= !has(w[j], st.at);
        if (!__any_sync(~0u, miss)) break;
        #pragma unroll
        for (int j = 0; j < PL; ++j) if (!has(w[j], st.at)) w[j] = ld_relaxed(base + j);
    }
}
// S_gg from its published word `word`, else from its 256 aggregates (then published).
__device__ unsigned group256_sum(unsigned gg, u64 word, unsigned lane, St st) {
    if (has(word, st.gt)) return (unsigned)word;
    u64 w[PL];
    load8(w, gg, PL, lane, st);
    unsigned sum = wsum(fold8(w, PL));
    if (lane == 0) st_relaxed(st.groups + gg, pack(st.gt, sum));
    return sum;
}
// Group sums of lanes < n (groups base + lane), filling in those not published yet.
__device__ unsigned fill256(unsigned base, unsigned n, u64 words, unsigned lane, St st) {
    unsigned v = (unsigned)words;
    unsigned missing = __ballot_sync(~0u, lane < n && !has(words, st.gt));
    while (missing) {
        unsigned l = 31 - __clz(missing);   // newest first: the older ones may appear meanwhile
        missing &= ~(1u << l);
        u64 wl = __shfl_sync(~0u, words, l);
        if (!has(wl, st.gt)) wl = ld_relaxed(st.groups + base + l);
        unsigned sum = group256_sum(base + l, __shfl_sync(~0u, wl, 0), lane, st);
        if (lane == l) v = sum;
    }
    return lane < n ? v : 0u;
}
__device__ unsigned prefix256(unsigned tile, unsigned agg, unsigned lane, St st, u64 *rec) {
    unsigned group = tile / GT, k = tile % GT, sup = group / 32, gpos = group % 32;
    unsigned lk = k / PL, pk = k % PL;
    u64 gw = lane < gpos ? ld_relaxed(st.groups + sup * 32 + lane) : pack(st.gt, 0u);
    PrefixWord pw;
    if (sup > 0 && lane == 31) pw = load_prefix(sup, lane, st);
    u64 w[PL];
    load8(w, group, lane < lk ? PL : (lane == lk ? pk : 0), lane, st);
    unsigned lsum = fold8(w, PL);
    unsigned within_group = __shfl_sync(~0u, scan_incl(lsum, lane), lk);
    mark(rec, 3, lane);
    if (k == GT - 1) {
        unsigned sum = wsum(lane == 31 ? lsum + agg : lsum);
        if (lane == 0) st_relaxed(st.groups + group, pack(st.gt, sum));
        if (lane == 31) gw = pack(st.gt, sum);
    }
    unsigned gvals = fill256(sup * 32, gpos, gw, lane, st);
    unsigned within_sup = gpos > 0 ? __shfl_sync(~0u, scan_incl(gvals, lane), gpos - 1) : 0u;
    mark(rec, 4, lane);
    bool ends_sup = k == GT - 1 && gpos == 31;
    unsigned sup_sum = ends_sup ? wsum(lane == 31 ? (unsigned)gw : gvals) : 0u;
    unsigned before = prefix_before(sup, lane, st, pw, [&](unsigned next) {
        return wsum(fill256(next * 32, 32, ld_relaxed(st.groups + next * 32 + lane), lane, st));
    });
    if (ends_sup && lane == 0) st_relaxed(st.prefixes + sup, pack(st.pt, before + sup_sum));
    return before + within_sup + within_group;
}

struct Hdr {
    u64 gather[2][CL];   // rank 0: the cluster's tile aggregates of claim j, slot j % 2
    u64 mailbox[2];      // this block's prefix of claim j
    u64 claimbox[2];     // this block's unit of claim j
    unsigned count[2];   // rank 0: tile aggregates of claims j ≡ parity (mod 2) handed in so far
    unsigned claim, pad;
    unsigned ring[16];   // SWARP: groups whose last tile this block reduced, for the group-sum warp
    unsigned head, tail, done, pad2;
    u64 t_claim, t_ask;
    unsigned tile_slot[2], agg_slot[2];
    unsigned totals[32];
    unsigned in_tile[2][32];
    unsigned fin[2][32];
};
#define HDR_BYTES ((sizeof(Hdr) + 15) / 16 * 16)

__device__ __forceinline__ void data_sync() { asm volatile("barrier.sync 1, 128;" ::: "memory"); }
// The look-back warp and the data warps (not the group-sum warp).
__device__ __forceinline__ void block_sync() { asm volatile("barrier.sync 2, 160;" ::: "memory"); }
#define SW ((SWARP || LB2) ? 32 : 0)
// LB2: two look-back warps, one per staged buffer, each starting a tile's look-back as
// soon as its aggregate is published; hand-overs through named barriers (2 + b: tile in
// buffer b staged; 4 + b: its prefix known).
__device__ __forceinline__ void bar_arrive(unsigned id) { asm volatile("barrier.arrive %0, 160;" :: "r"(id) : "memory"); }
__device__ __forceinline__ void bar_wait(unsigned id) { asm volatile("barrier.sync %0, 160;" :: "r"(id) : "memory"); }

// SWARP: the group-sum warp publishes S_g for each group whose last tile this block
// reduced, as soon as the group's aggregates are in, and H_s when the group ends a
// super-group (waiting for H_{s-1}): off the look-back warp's path.
__device__ void group_sum_warp(Hdr *h, unsigned lane, St st) {
    unsigned tail = 0;
    for (;;) {
        unsigned head = *(volatile unsigned *)&h->head;
        if (tail == head) {
            if (*(volatile unsigned *)&h->done) {
                __threadfence_block();
                if (*(volatile unsigned *)&h->head == tail) return;
            }
            continue;
        }
        __threadfence_block();
        unsigned g = *(volatile unsigned *)&h->ring[tail % 16];
        u64 a = ld_relaxed(st.units + g * 32 + lane);
        while (!__all_sync(~0u, has(a, st.at))) { if (!has(a, st.at)) a = ld_relaxed(st.units + g * 32 + lane); }
        unsigned sum = wsum((unsigned)a);
        if (lane == 0) st_relaxed(st.groups + g, pack(st.gt, sum));
        if (g % 32 == 31) {
            unsigned sup = g / 32;
            auto word = [&]() -> u64 { return lane == 31 ? pack(st.gt, sum) : ld_relaxed(st.groups + sup * 32 + lane); };
            u64 w = word();
            while (!__all_sync(~0u, has(w, st.gt))) { if (!has(w, st.gt)) w = word(); }
            unsigned ss = wsum((unsigned)w);
            unsigned hp = 0;
            if (sup > 0) {
                u64 p = 0;
                if (lane == 0) { do { p = ld_relaxed(st.prefixes + sup - 1); } while (!has(p, st.pt)); }
                hp = __shfl_sync(~0u, (unsigned)p, 0);
            }
            if (lane == 0) st_relaxed(st.prefixes + sup, pack(st.pt, hp + ss));
        }
        ++tail;
        __syncwarp();
        if (lane == 0) *(volatile unsigned *)&h->tail = tail;
    }
}

extern "C" __global__ void __cluster_dims__(CL, 1, 1) __launch_bounds__(160 + SW)
scan_prototype(const unsigned *x, unsigned *y, size_t len, unsigned *scratch32, u64 *scratch, unsigned epoch, u64 *tl) {
    extern __shared__ __align__(16) unsigned char smem[];
    Hdr *h = (Hdr *)smem;
    if (threadIdx.x == 0) g_status_base = scratch;
    unsigned stage0 = (unsigned)__cvta_generic_to_shared(smem + HDR_BYTES);
    cg::cluster_group cluster = cg::this_cluster();
    unsigned rank = cluster.block_rank();
    unsigned tid = threadIdx.x, lane = tid % 32;
    size_t tiles = len / TILE;               // the prototype takes whole units only
    unsigned units = (unsigned)(tiles / CL);
    unsigned nclusters = gridDim.x / CL;
    St st;
    unsigned group_tiles = FLAT ? GT : 32;
    st.units = scratch + 1; st.groups = st.units + units;
    st.prefixes = st.groups + (units + group_tiles - 1) / group_tiles;
    st.at = epoch << 2 | 1; st.gt = epoch << 2 | 2; st.pt = epoch << 2 | 3;
    if (tid < 2) { h->mailbox[tid] = 0; h->claimbox[tid] = 0; h->count[tid] = 0; }
    if (tid == 0) { h->head = 0; h->tail = 0; h->done = 0; }
    if (tid < 2 * CL) h->gather[tid / CL][tid % CL] = 0;
    cluster.sync();
    if (SWARP && tid >= 32 && tid < 64) {
        group_sum_warp(h, lane, st);
    } else if (LB2 && tid < 64) {
        unsigned b = tid / 32;
        for (;;) {
            bar_wait(2 + b);
            unsigned unit = h->tile_slot[b];
            if (unit == NO_TILE) break;
            u64 *rec = tl ? tl + 8 * (size_t)unit : nullptr;
            mark(rec, 2, lane);
            unsigned prefix = FLAT ? prefix256(unit, h->agg_slot[b], lane, st, rec)
                                   : unit_prefix(unit, h->agg_slot[b], lane, st, rec);
            mark(rec, 5, lane);
            h->fin[b][lane] = prefix + h->in_tile[b][lane];
            bar_arrive(4 + b);
        }
    } else if (tid < 32) {
        // look-back warp
        unsigned before = NO_TILE;
        for (unsigned i = 0;; ++i) {
            block_sync();
            if (i > 0 && before == NO_TILE) break;
            unsigned b = i % 2;
            unsigned unit = h->tile_slot[b];
            if (unit != NO_TILE) {
                unsigned off = h->in_tile[b][lane];
                unsigned prefix;
                if (CL == 1) {
                    u64 *rec = tl ? tl + 8 * (size_t)unit : nullptr;
                    mark(rec, 2, lane);
                    prefix = FLAT ? prefix256(unit, h->agg_slot[b], lane, st, rec)
                                  : unit_prefix(unit, h->agg_slot[b], lane, st, rec);
                    mark(rec, 5, lane);
                } else if (rank == 0) {
                    u64 w = 0;
                    if (lane < CL) { volatile u64 *g = &h->gather[b][lane]; while (((w = *g) >> 32) != i + 1) {} }
                    __syncwarp();
                    unsigned a = lane < CL ? (unsigned)w : 0u;
                    unsigned incl = scan_incl(a, lane);
                    unsigned uagg = __shfl_sync(~0u, incl, 31);
                    unsigned q = unit_prefix(unit, uagg, lane, st);
                    // The unit's last block reads every rank's slot to publish the unit's
                    // aggregate; no rank may reuse its slot before that (its next use
                    // follows this prefix).
                    if (lane == 0) { while (!has(ld_relaxed(st.units + unit), st.at)) {} }
                    __syncwarp();
                    if (lane > 0 && lane < CL) {
                        volatile u64 *m = (volatile u64 *)cluster.map_shared_rank(&h->mailbox[b], lane);
                        *m = pack(i + 1, q + incl - a);
                    }
                    prefix = q;
                } else {
                    u64 w = 0;
                    if (lane == 0) { volatile u64 *m = &h->mailbox[b]; while (((w = *m) >> 32) != i + 1) {} }
                    prefix = __shfl_sync(~0u, (unsigned)w, 0);
                }
                h->fin[b][lane] = prefix + off;
            }
            before = unit;
        }
    } else {
        unsigned t = tid - 32 - SW, warp = t / 32;
        auto staged = [&](unsigned buf, unsigned r) { return stage0 + 4 * TILE * buf + 16 * (DT * r + t); };
        auto claim = [&](unsigned buf, unsigned j) -> unsigned {
            if (t == 0) {
                if (CL == 1) {
                    u64 t_ask = tl ? now() : 0;
                    unsigned ticket = atomicAdd(scratch32, 1u);
                    if (ticket == units + nclusters - 1) *(volatile unsigned *)scratch32 = 0;
                    h->claim = ticket < units ? ticket : NO_TILE;
                    if (tl) { h->t_claim = now(); h->t_ask = t_ask; }
                    if (SWARP && ticket >= units) { __threadfence_block(); *(volatile unsigned *)&h->done = 1; }
                } else if (rank == 0) {
                    unsigned ticket = atomicAdd(scratch32, 1u);
                    if (ticket == units + nclusters - 1) *(volatile unsigned *)scratch32 = 0;
                    unsigned v = ticket < units ? ticket : NO_TILE;
                    for (unsigned r = 1; r < CL; ++r) {
                        volatile u64 *c = (volatile u64 *)cluster.map_shared_rank(&h->claimbox[j % 2], r);
                        *c = pack(j + 1, v);
                    }
                    h->claim = v;
                } else {
                    volatile u64 *c = &h->claimbox[j % 2];
                    u64 w; while (((w = *c) >> 32) != j + 1) {}
                    h->claim = (unsigned)w;
                }
            }
            data_sync();
            unsigned unit = h->claim;
            if (unit == NO_TILE) { if (t == 0) h->tile_slot[buf] = NO_TILE; return NO_TILE; }
            size_t base = ((size_t)unit * CL + rank) * TILE;
            #pragma unroll
            for (unsigned r = 0; r < ROUNDS; ++r)
                asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" :: "r"(staged(buf, r)), "l"(x + base + 4 * (DT * r + t)) : "memory");
            asm volatile("cp.async.wait_all;" ::: "memory");
            #pragma unroll
            for (unsigned r = 0; r < ROUNDS; ++r) {
                uint4 a; asm volatile("ld.shared.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(a.x), "=r"(a.y), "=r"(a.z), "=r"(a.w) : "r"(staged(buf, r)));
                unsigned incl = scan_incl(a.x + a.y + a.z + a.w, lane);
                if (lane == 31) h->totals[r * 4 + warp] = incl;
            }
            data_sync();
            if (warp == 0) {
                unsigned v = h->totals[lane];
                unsigned incl = scan_incl(v, lane);
                h->in_tile[buf][lane] = incl - v;
                unsigned aggregate = __shfl_sync(~0u, incl, 31);
                if (lane == 0) {
                    h->agg_slot[buf] = aggregate;
                    h->tile_slot[buf] = unit;
                  if (CL == 1) {
                    st_relaxed(st.units + unit, pack(st.at, aggregate));
                    if (tl) {
                        tl[8 * (size_t)unit + 1] = now();
                        tl[8 * (size_t)unit] = h->t_claim;
                        tl[8 * (size_t)unit + 7] = h->t_ask;
                    }
                    if (SWARP && unit % 32 == 31) {
                        unsigned hd = h->head;
                        while (hd - *(volatile unsigned *)&h->tail >= 16) {}
                        *(volatile unsigned *)&h->ring[hd % 16] = unit / 32;
                        __threadfence_block();
                        *(volatile unsigned *)&h->head = hd + 1;
                    }
                  } else {
                    // Hand the aggregate to rank 0; the last block of the cluster to do so
                    // publishes the unit's aggregate (no block waits for another here).
                    unsigned g = mapa((unsigned)__cvta_generic_to_shared(&h->gather[j % 2][rank]));
                    asm volatile("st.shared::cluster.u64 [%0], %1;" :: "r"(g), "l"(pack(j + 1, aggregate)) : "memory");
                    unsigned c = mapa((unsigned)__cvta_generic_to_shared(&h->count[j % 2])), old;
                    asm volatile("atom.acq_rel.cluster.shared::cluster.add.u32 %0, [%1], 1;" : "=r"(old) : "r"(c) : "memory");
                    if (old % CL == CL - 1) {
                        unsigned uagg = 0;
                        for (unsigned r = 0; r < CL; ++r) {
                            u64 w; unsigned gr = mapa((unsigned)__cvta_generic_to_shared(&h->gather[j % 2][r]));
                            asm volatile("ld.shared::cluster.u64 %0, [%1];" : "=l"(w) : "r"(gr) : "memory");
                            uagg += (unsigned)w;
                        }
                        st_relaxed(st.units + unit, pack(st.at, uagg));
                    }
                  }
                }
            }
            return unit;
        };
        auto write = [&](unsigned unit, unsigned buf) {
            size_t base = ((size_t)unit * CL + rank) * TILE;
            #pragma unroll
            for (unsigned r = 0; r < ROUNDS; ++r) {
                uint4 a; asm volatile("ld.shared.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(a.x), "=r"(a.y), "=r"(a.z), "=r"(a.w) : "r"(staged(buf, r)));
                unsigned s1 = a.x + a.y, s2 = s1 + a.z, s3 = s2 + a.w;
                unsigned incl = scan_incl(s3, lane);
                unsigned off = h->fin[buf][r * 4 + warp] + incl - s3;
                uint4 o = make_uint4(off + a.x, off + s1, off + s2, off + s3);
                *(uint4 *)(y + base + 4 * (DT * r + t)) = o;
            }
        };
        if (LB2) {
            unsigned tb[2];
            bool more = true;
            for (unsigned b = 0; b < 2; ++b) {
                tb[b] = more ? claim(b, b) : NO_TILE;
                if (tb[b] == NO_TILE) { more = false; if (t == 0) h->tile_slot[b] = NO_TILE; }
                bar_arrive(2 + b);
            }
            for (unsigned i = 0;; ++i) {
                unsigned b = i % 2;
                if (tb[b] == NO_TILE) break;
                bar_wait(4 + b);
                write(tb[b], b);
                if (tl && t == 0) tl[8 * (size_t)tb[b] + 6] = now();
                tb[b] = more ? claim(b, i + 2) : NO_TILE;
                if (tb[b] == NO_TILE) { more = false; if (t == 0) h->tile_slot[b] = NO_TILE; }
                bar_arrive(2 + b);
            }
        } else {
        unsigned before = NO_TILE, current = claim(0, 0);
        for (unsigned i = 0;; ++i) {
            block_sync();
            if (i > 0 && before == NO_TILE) break;
            unsigned b = (i + 1) % 2;
            if (before != NO_TILE) {
                write(before, b);
                if (tl && t == 0) tl[8 * (size_t)before + 6] = now();
            }
            unsigned next = current != NO_TILE ? claim(b, i + 1) : NO_TILE;
            before = current; current = next;
        }
        }
    }
    cluster.sync();
}
'''

N = 64 << 20
TILE = 4096
dev = cp.cuda.Device()
sms = dev.attributes['MultiProcessorCount']
name = cp.cuda.runtime.getDeviceProperties(0)['name'].decode()
rng = np.random.default_rng(1)
x_host = rng.integers(0, 1 << 32, N, dtype=np.uint32)
expect = np.cumsum(x_host, dtype=np.uint32)
x = cp.asarray(x_host)
y = cp.empty_like(x)
scratch = cp.zeros(1 << 21, dtype=cp.uint64)  # status words, their duplicates or spread
total = cp.zeros(1, dtype=cp.uint32)
carry = cp.zeros(1, dtype=cp.uint32)
epoch = [0]
tl_arg = [np.uint64(0)]  # a timeline buffer's pointer, or null


def timed(launch, reps=20):
    ts = []
    for _ in range(reps):
        a, b = cp.cuda.Event(), cp.cuda.Event()
        a.record(); launch(); b.record(); b.synchronize()
        ts.append(cp.cuda.get_elapsed_time(a, b))
    ts.sort()
    return ts[len(ts) // 2]


def copy():
    cp.cuda.runtime.memcpyAsync(y.data.ptr, x.data.ptr, 4 * N, cp.cuda.runtime.memcpyDeviceToDevice, 0)


SHIPPED_PER_SM = [int(v) for v in __import__('os').environ.get('PER_SM', '4,5,6').split(',')]
ROUNDS = int(__import__('os').environ.get('ROUNDS', '3'))
# (cluster size, 1 = group sums not yet published are computed from the aggregates)
CONFIGS = [tuple(map(int, (c + ',0,0,0,0,0,0,0').split(',')[:8])) for c in sys.argv[2:] if c != 'none'] if len(sys.argv) > 2 else [(1, 0, 0, 0, 0, 0, 16, 0), (1, 0, 0, 0, 0, 4, 16, 0), (4, 0, 0, 0, 0, 0, 16, 0), (8, 0, 0, 0, 0, 0, 16, 0)]
variants = []
if len(sys.argv) > 1 and sys.argv[1] != '-':
    shipped = cp.RawModule(path=sys.argv[1]).get_function('riptide_scan_inclusive_u32')
    shared = 4 * (8 + 32 + 64 + 64) + 2 * 4 * TILE

    def run_shipped(blocks_per_sm=6):
        epoch[0] += 1
        shipped((blocks_per_sm * sms,), (160,), (x, y, np.uint64(N), carry, total, scratch, np.uint32(epoch[0])),
                shared_mem=shared)
    for per_sm in SHIPPED_PER_SM:
        variants.append((f'shipped kernel ({per_sm}/SM)', lambda per_sm=per_sm: run_shipped(per_sm)))
for cl, onehop, dup, swarp, lb2, flat, stride, backoff in CONFIGS:
    assert cl == 1 or not (onehop or swarp or lb2 or flat), 'these switches take CL = 1'
    assert not (dup and stride > 1)
    kern = cp.RawModule(code=SRC, options=('-std=c++17', f'-DCL={cl}', f'-DONEHOP={onehop}', f'-DDUP={dup}',
                                           f'-DSWARP={swarp}', f'-DLB2={lb2}', f'-DFLAT={flat}',
                                           f'-DSTRIDE={stride or 1}', f'-DBACKOFF={backoff}')).get_function("scan_prototype")
    hdr = 16 * ((8 * 2 * cl + 16 + 16 + 8 + 8 + 16 + 64 + 16 + 16 + 128 + 256 + 256 + 15) // 16)
    for per_sm in [int(v) for v in __import__('os').environ.get('PROTO_PER_SM', '6').split(',')]:
        grid = (per_sm * sms) // cl * cl

        def run(kern=kern, grid=grid, hdr=hdr, threads=160 + 32 * (swarp or lb2)):
            epoch[0] += 1
            kern((grid,), (threads,), (x, y, np.uint64(N), scratch, scratch, np.uint32(epoch[0]), tl_arg[0]),
                 shared_mem=hdr + 2 * 4 * TILE)
        variants.append((f'cluster {cl}{" one-hop" if onehop else ""}{" dup" if dup else ""}{" S-warp" if swarp else ""}{" two look-back warps" if lb2 else ""}{f" groups of {32 * (flat if flat > 1 else 8)}" if flat else ""}{f" stride {stride}" if stride > 1 else ""}{f" backoff {backoff} ns" if backoff else ""} ({per_sm}/SM)', run))

for label, run in variants:
    print('checking', label, flush=True)
    y.fill(0); run(); dev.synchronize()
    ok = np.array_equal(y.get(), expect) and int(scratch[0].get()) == 0
    variants[variants.index((label, run))] = (label, run, ok)
print(f'{name}, {N >> 20} Mi u32, median of 20 (% of the device copy in the same round)')
for rnd in range(ROUNDS):
    t_copy = timed(copy)
    row = []
    for label, run, ok in variants:
        t = timed(run)
        print(f'round {rnd}: {label}: {t * 1e3:.1f} us {100 * t_copy / t:.1f}% of copy ({t_copy * 1e3:.1f} us)'
              f'{"" if ok else " WRONG"}', flush=True)

if __import__('os').environ.get('TIMELINE'):
    units = N // TILE
    tl = cp.zeros(units * 8, dtype=cp.uint64)
    for label, run, ok in variants:
        if not label.startswith('cluster 1 ') or 'dup' in label or 'S-warp' in label or 'one-hop' in label:
            continue
        tl_arg[0] = np.uint64(tl.data.ptr)
        for _ in range(3):
            run()
        dev.synchronize()
        tl_arg[0] = np.uint64(0)
        t = tl.get().reshape(units, 8).astype(np.int64)
        t -= t[:, 0].min()
        pos = np.arange(units) % 32

        def q(v):
            v = np.sort(v)
            return f'{v[len(v) // 2] / 1e3:5.2f} / {v[len(v) * 9 // 10] / 1e3:5.2f} / {v[-1] / 1e3:5.2f}'
        print(f'timeline of {label} (µs, median / p90 / max over {units} tiles):')
        print('  ticket asked → drawn (atomic on the counter)', q(t[:, 0] - t[:, 7]))
        print('  claim → aggregate published (load, reduce)', q(t[:, 1] - t[:, 0]))
        print('  published → look-back starts             ', q(t[:, 2] - t[:, 1]))
        print('  look-back: own group\'s aggregates (E)   ', q(t[:, 3] - t[:, 2]))
        print('  look-back: group sums (F)                ', q(t[:, 4] - t[:, 3]))
        print('  look-back: super-group prefix (H)        ', q(t[:, 5] - t[:, 4]))
        print('  look-back total                          ', q(t[:, 5] - t[:, 2]))
        print('  prefix known → tile written             ', q(t[:, 6] - t[:, 5]))
        print('  claim → written (residency)              ', q(t[:, 6] - t[:, 0]))
        pub = t[:, 1].reshape(-1, 32)
        latest = np.maximum.accumulate(pub, axis=1)  # latest publication among tiles ≤ p
        seen = t[:, 3].reshape(-1, 32)
        e_vis = (seen[:, 1:] - latest[:, :-1]).ravel()
        print('  E seen − latest predecessor published    ', q(e_vis))
        order = np.argsort(t[:, 0])
        print('  claim-order inversions (tiles claimed before a lower tile)', int((np.diff(t[order, 0]) < 0).sum()))
        span = (t[:, 6].max()) / 1e3
        print(f'  span {span:.1f} µs for {units} tiles: {units / span:.1f} tiles/µs')
