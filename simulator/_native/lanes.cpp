// The compiled step with SIMD across replicates: eight replicates in the eight lanes of a 512-bit vector.
//
// It advances chunks of 8 consecutive replicates by `nsteps` steps with the semantics of
// simulator/_numba_kernel.py::_step_block (the numba kernel; read it beside this file): every operation
// there is repeated here on lane vectors, in the same order, branches on per-lane values becoming
// element-wise selects that give the same values, segment sums adding in numpy's pairwise order (_ss,
// _pw, _pairwise of _numba_parts.py). Compiled with -ffp-contract=off and without -ffast-math, so
// results are those of the numba kernel to the last bit.
//
// Per chunk, the eight rows of every [R, X] array the step uses are transposed into lane-major scratch
// [X][8] at the start of the call and back at its end (only the real lanes: R need not be a multiple
// of 8); the arrival ring is already chunk-major [n_chunks, rows, 8]. Index arithmetic (perm arrays,
// segment starts) is the same for all lanes. The rare paths that differ per lane (order shares when
// links are re-routed or plants are not online yet, delayed shipments' ring rows) run per lane in
// scalar code. The numba kernel's per-block re-route cache (rr_* controls) is not used here. Traced
// lanes (origin tags) record what the tag operations read during the lane pass; the tags are then
// updated replicate by replicate, in numba's order (tag_steps below).
//
// Built by simulator/_native_step.py with -O3 -march=native -ffp-contract=off -fno-fast-math.

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

typedef double V __attribute__((vector_size(64)));
typedef int64_t VI __attribute__((vector_size(64)));
typedef double VU __attribute__((vector_size(64), aligned(8)));  // a lane vector at any address
typedef int64_t i64;
typedef uint64_t u64;
typedef uint8_t b8;

static constexpr int L = 8;  // lanes (replicates) of a chunk
static constexpr double SHORT = 0.99;
static constexpr double RECOVERED = 0.99;
static constexpr double TRIGGER_TIE = 1e-9;

static inline V bc(double x) { V v = {x, x, x, x, x, x, x, x}; return v; }
static inline VI bci(i64 x) { VI v = {x, x, x, x, x, x, x, x}; return v; }
static inline bool any(VI m) {
#ifdef __AVX512F__
    __m512i x;
    std::memcpy(&x, &m, sizeof(x));
    return _mm512_test_epi64_mask(x, x) != 0;
#else
    i64 r = 0;
    for (int l = 0; l < L; l++) r |= m[l];
    return r != 0;
#endif
}
static inline V sel(VI m, V a, V b) { return m ? a : b; }
static inline VI seli(VI m, VI a, VI b) { return m ? a : b; }

// --------------------------------------------------------------------------- arguments
// One struct of sizes, flags and pointers; simulator/_native_step.py fills a ctypes Structure with
// exactly these fields in this order (and checks sizeof through reesim_lanes_args_size).
struct Args {
    // sizes
    i64 R, H, E, F, D, M, Q, W, NC, n_dst, n_src, n_out, n_in, n_chp, n_ph, n_ql, n_cl, n_prod, NW, NB2;
    i64 ring_rows, n_rel, n_hc, cap_rows, P;
    // the call
    i64 t0, nsteps, ch_lo, ch_hi, blk, nb;
    // flags
    i64 use_lead_re, off_check, use_pat, pat_any, scrap;
    double step_days, closed_below;
    // S: state
    double *on_hand, *backlog, *in_transit, *pipe, *backorder, *exp_use, *fg_target, *order_up_to, *quota,
        *closed_for, *short_run, *adopt_at;
    b8 *triggered, *new_trig;
    // N: network
    const u64 *src_perm, *src_starts, *src_ends, *src_uniq, *dst_perm, *dst_starts, *dst_ends, *dst_uniq;
    const i64 *ring_off, *ring_len;
    const double *ship_mask;
    const u64 *out_hold;
    const double *out_coef;
    const u64 *out_ptr, *in_hold;
    const double *in_coef;
    const u64 *in_ptr, *dem_hold, *dem_market;
    const b8 *dem_bo;
    const u64 *dem_prod, *out_prod, *in_prod;
    const i64 *hold_dem;
    const u64 *link_src, *link_dst, *d_ident, *mkt_starts, *mkt_ends;
    const double *out_per_act, *wnorm, *base_seg, *static_shares, *lead1;
    const i64 *link_fac;
    const double *online_step, *cv, *sub_fraction, *sub_after, *sub_adopt, *sub_threshold;
    const b8 *has_sub;
    const u64 *ch_pile, *ch_recv;
    const double *ch_cover, *ch_max;
    const u64 *chp_perm, *chp_starts, *chp_ends, *chp_uniq, *pile_of_q, *pile_h, *pile_of_h;
    const double *pile_cost;
    const u64 *rec_hold;
    const i64 *ref_step;
    // O: the per-step output that outlives the step
    double *consumed;
    // A: accumulators and tracker
    double *flows, *a_output, *a_act, *a_cap, *a_surplus, *a_shipped, *a_subst, *a_released, *a_hcost;
    double *tr_demand, *tr_served, *tr_int_d, *tr_int_s, *tr_maxsf, *tr_ring_d, *tr_ring_s, *tr_roll_d, *tr_roll_s;
    i64 *tr_short, *tr_recover, *tr_dip;
    // K: controls of the batch
    const double *CAP, *GOT, *COLL, *demand_factor, *noise, *link_open;
    const i64 *lead_re;
    const double *added_capacity, *pol_release, *pol_sub, *reroute_steps, *G;
    const u64 *AR, *DR;
    const double *pat_shares;
    const u64 *quota_links, *closing_links;
    double *win;
    const b8 *win_on;
    double *cons_k;
    const double *base_w;
    // T: origin tags of the first Rt replicates (Rt may be 0, C may be 0), and N's tag tables
    i64 Rt, C, single_input;
    double *hold_tag, *pipe_tag, *dep, *dep_int;  // [Rt, H, C], [Rt, E, C], [Rt, M, C], [Rt, M, C]
    const double *c_keep, *c_onehot, *c_none;      // [F, C], [F, C], [C]
};

extern "C" i64 reesim_lanes_args_size() { return (i64)sizeof(Args); }
extern "C" i64 reesim_lanes_lanes() { return L; }

// --------------------------------------------------------------------------- sums in numpy's order
// x(i) gives the value at column i (a lane vector or a double); T its type.

template <class T> static inline T neg0();
template <> inline V neg0<V>() { return bc(-0.0); }
template <> inline double neg0<double>() { return -0.0; }

template <class T, class X>
static inline T pw(const X& x, const u64* perm, u64 a, u64 n) {
    if (n < 8) {
        T res = neg0<T>();
        for (u64 i = 0; i < n; i++) res += x(perm[a + i]);
        return res;
    }
    T r0 = x(perm[a]), r1 = x(perm[a + 1]), r2 = x(perm[a + 2]), r3 = x(perm[a + 3]);
    T r4 = x(perm[a + 4]), r5 = x(perm[a + 5]), r6 = x(perm[a + 6]), r7 = x(perm[a + 7]);
    u64 i = 8;
    while (i < n - (n % 8)) {
        r0 += x(perm[a + i]);
        r1 += x(perm[a + i + 1]);
        r2 += x(perm[a + i + 2]);
        r3 += x(perm[a + i + 3]);
        r4 += x(perm[a + i + 4]);
        r5 += x(perm[a + i + 5]);
        r6 += x(perm[a + i + 6]);
        r7 += x(perm[a + i + 7]);
        i += 8;
    }
    T res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
    while (i < n) {
        res += x(perm[a + i]);
        i += 1;
    }
    return res;
}

template <class T, class X>
static T pairwise(const X& x, const u64* perm, u64 a, u64 n) {
    if (n <= 128) return pw<T>(x, perm, a, n);
    u64 n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise<T>(x, perm, a, n2) + pairwise<T>(x, perm, a + n2, n - n2);
}

// x[perm[a]] + pairwise(x[perm[a+1:b]]): a segment's sum as np.add.reduceat adds it
template <class T, class X>
static inline T ss(const X& x, const u64* perm, u64 a, u64 b) {
    T x0 = x(perm[a]);
    u64 n = b - a;
    if (n == 1) return x0;
    if (n - 1 > 128) return x0 + pairwise<T>(x, perm, a + 1, n - 1);
    return x0 + pw<T>(x, perm, a + 1, n - 1);
}

// --------------------------------------------------------------------------- transpositions
// out[k][l] = rows[l][k]: an 8x8 transpose in three rounds of two-source shuffles
static inline void transpose8(const V* rows, V* out) {
    V a[L], b[L];
    for (int l = 0; l < L; l += 2) {
        a[l] = __builtin_shuffle(rows[l], rows[l + 1], (VI){0, 8, 2, 10, 4, 12, 6, 14});
        a[l + 1] = __builtin_shuffle(rows[l], rows[l + 1], (VI){1, 9, 3, 11, 5, 13, 7, 15});
    }
    for (int l = 0; l < L; l += 4) {
        for (int k = 0; k < 2; k++) {
            b[l + k] = __builtin_shuffle(a[l + k], a[l + k + 2], (VI){0, 1, 8, 9, 4, 5, 12, 13});
            b[l + k + 2] = __builtin_shuffle(a[l + k], a[l + k + 2], (VI){2, 3, 10, 11, 6, 7, 14, 15});
        }
    }
    for (int k = 0; k < 4; k++) {
        out[k] = __builtin_shuffle(b[k], b[k + 4], (VI){0, 1, 2, 3, 8, 9, 10, 11});
        out[k + 4] = __builtin_shuffle(b[k], b[k + 4], (VI){4, 5, 6, 7, 12, 13, 14, 15});
    }
}

// dst[x][l] = src[(r0 + l) * X + x] for the nl real lanes; the other lanes get 0.

static void tin(V* dst, const double* src, i64 X, i64 r0, int nl) {
    if (X <= 0) return;
    if (nl == L) {
        const double* s0 = src + r0 * X;
        i64 x = 0;
        for (; x + 8 <= X; x += 8) {
            V rows[L];
            for (int l = 0; l < L; l++) std::memcpy(&rows[l], s0 + l * X + x, sizeof(V));
            transpose8(rows, dst + x);
        }
        for (; x < X; x++) {
            V v;
            for (int l = 0; l < L; l++) v[l] = s0[l * X + x];
            dst[x] = v;
        }
        return;
    }
    for (i64 x = 0; x < X; x++) {
        V v = bc(0.0);
        for (int l = 0; l < nl; l++) v[l] = src[(r0 + l) * X + x];
        dst[x] = v;
    }
}

static void tlog(double* dst, i64 stride, const V* src, i64 X, int nl);

static void tout(double* dst, const V* src, i64 X, i64 r0, int nl) { tlog(dst + r0 * X, X, src, X, nl); }

// columns idx[0..n) only: dst[j][l] = src[(r0 + l) * X + idx[j]]
static void tin_idx(V* dst, const double* src, i64 X, const u64* idx, i64 n, i64 r0, int nl) {
    for (i64 j = 0; j < n; j++) {
        V v = bc(0.0);
        for (int l = 0; l < nl; l++) v[l] = src[(r0 + l) * X + idx[j]];
        dst[j] = v;
    }
}
static void tout_idx(double* dst, const V* src, i64 X, const u64* idx, i64 n, i64 r0, int nl) {
    for (i64 j = 0; j < n; j++) {
        V v = src[j];
        for (int l = 0; l < nl; l++) dst[(r0 + l) * X + idx[j]] = v[l];
    }
}
static void tin_i(VI* dst, const i64* src, i64 X, i64 r0, int nl) {
    for (i64 x = 0; x < X; x++) {
        VI v = bci(0);
        for (int l = 0; l < nl; l++) v[l] = src[(r0 + l) * X + x];
        dst[x] = v;
    }
}
static void tout_i(i64* dst, const VI* src, i64 X, i64 r0, int nl) {
    for (i64 x = 0; x < X; x++) {
        VI v = src[x];
        for (int l = 0; l < nl; l++) dst[(r0 + l) * X + x] = v[l];
    }
}
static void tin_b(VI* dst, const b8* src, i64 X, i64 r0, int nl) {
    for (i64 x = 0; x < X; x++) {
        VI v = bci(0);
        for (int l = 0; l < nl; l++) v[l] = src[(r0 + l) * X + x] ? -1 : 0;
        dst[x] = v;
    }
}
static void tout_b(b8* dst, const VI* src, i64 X, i64 r0, int nl) {
    for (i64 x = 0; x < X; x++) {
        VI v = src[x];
        for (int l = 0; l < nl; l++) dst[(r0 + l) * X + x] = v[l] != 0;
    }
}

// --------------------------------------------------------------------------- scratch

template <class T>
struct Buf {
    T* p = nullptr;
    size_t n = 0;
    T* get(size_t k) {
        if (k > n) {
            std::free(p);
            size_t bytes = ((k * sizeof(T) + 63) / 64) * 64;
            p = static_cast<T*>(std::aligned_alloc(64, bytes ? bytes : 64));
            n = k;
        }
        return p;
    }
    ~Buf() { std::free(p); }
};

struct Scratch {
    Buf<V> v;
    Buf<VI> vi;
    Buf<double> d;
    Buf<double> lg;  // the traced lanes' record of a batch
};
static thread_local Scratch scratch;

// Order shares worked out for a set of re-routed closing links (the key: one byte per closing link),
// within one call (one batch: the same base weights and closing links): most replicates share them,
// step after step (as the numba kernel's per-block rr_* rows).
struct Shares {
    std::vector<uint8_t> key;
    std::vector<double> sh;
    std::vector<u64> zeroed;  // links whose backlog the re-routing cancels
};
struct SharesCache {
    std::vector<Shares> ent;
    size_t next = 0;
    static constexpr size_t CAP = 8;
    void clear() { ent.clear(); next = 0; }
};
static thread_local SharesCache shares_cache;

// --------------------------------------------------------------------------- origin tags
// A traced replicate's tag rows are its own rows of the [Rt, X, C] arrays (row-major, as Python holds
// them): the tag operations run lane by lane, each over the C tag columns in vectors of 8 columns (the
// last one masked), every column with the scalar operations of numba's kernel in its order.

struct Cols {
    int n;  // columns in this block (1..8)
#ifdef __AVX512F__
    __mmask8 k;
#endif
};
static inline V cld(const double* p, Cols m) {
    V v;
#ifdef __AVX512F__
    __m512d x = _mm512_maskz_loadu_pd(m.k, p);
    std::memcpy(&v, &x, sizeof(v));
#else
    if (m.n == L) {
        std::memcpy(&v, p, sizeof(v));
    } else {
        v = bc(0.0);
        for (int i = 0; i < m.n; i++) v[i] = p[i];
    }
#endif
    return v;
}
static inline void cst(double* p, V v, Cols m) {
#ifdef __AVX512F__
    __m512d x;
    std::memcpy(&x, &v, sizeof(x));
    _mm512_mask_storeu_pd(p, m.k, x);
#else
    if (m.n == L) {
        std::memcpy(p, &v, sizeof(v));
    } else {
        for (int i = 0; i < m.n; i++) p[i] = v[i];
    }
#endif
}
// f(c, m) for the blocks of columns c .. c + m.n - 1
template <class Fn>
static inline void cols(i64 C, Fn f) {
    for (i64 c = 0; c < C; c += L) {
        Cols m;
        m.n = (int)(C - c < L ? C - c : L);
#ifdef __AVX512F__
        m.k = (__mmask8)((1u << m.n) - 1u);
#endif
        f(c, m);
    }
}
// _mix: d[c] = d[c] + (s[c] - d[c]) * w
static inline void tmix(double* d, const double* s, double w, i64 C) {
    cols(C, [&](i64 c, Cols m) {
        V x = cld(d + c, m);
        cst(d + c, x + (cld(s + c, m) - x) * w, m);
    });
}

// dst[l * stride + x] = src[x][l] for the first nl lanes (tout: the state back into its rows; the
// lane-major record of the traced lanes)
static void tlog(double* dst, i64 stride, const V* src, i64 X, int nl) {
    if (X <= 0) return;
    i64 x = 0;
    if (nl == L) {
        for (; x + 8 <= X; x += 8) {  // the transpose is its own inverse
            V cols[L];
            transpose8(src + x, cols);
            for (int l = 0; l < L; l++) std::memcpy(dst + l * stride + x, &cols[l], sizeof(V));
        }
    }
    for (; x < X; x++) {
        V v = src[x];
        for (int l = 0; l < nl; l++) dst[l * stride + x] = v[l];
    }
}

// (tag_steps for any number of columns: rows through memory.) The tag operations of numba's kernel (the `if tr` sections of arrive, produce, release, ship, consume)
// for traced replicate r through the batch's steps, after the vector pass: they read only values the
// step computed (recorded per step at rec0 + js * stride, offsets as run_chunk's f_*) and nothing else
// reads the tags, so running them afterwards, replicate by replicate as numba does, gives the same
// values, with one replicate's tags (not eight) in cache. acc: C doubles (numba's tag_acc row).
static void tag_steps_any(const Args& A, i64 r, const double* rec0, i64 stride, double* acc) {
    const i64 H = A.H, E = A.E, F = A.F, D = A.D, M = A.M, Q = A.Q, C = A.C;
    const i64 n_dst = A.n_dst, n_out = A.n_out, n_in = A.n_in;
    const i64 f_arr = 0, f_ohd = f_arr + E, f_made = f_ohd + n_dst, f_used = f_made + n_out, f_bout = f_used + n_in,
              f_rel = f_bout + n_out, f_rb = f_rel + Q, f_shp = f_rb + Q, f_it = f_shp + E, f_cons = f_it + E;
    double* const ht = A.hold_tag + r * H * C;
    double* const pt = A.pipe_tag + r * E * C;
    double* const dp = A.dep + r * M * C;
    double* const di = A.dep_int + r * M * C;
    for (i64 js = 0; js < A.nsteps; js++) {
        const double* const rec = rec0 + js * stride;
        const double *arr = rec + f_arr, *ohd = rec + f_ohd, *made = rec + f_made, *used = rec + f_used,
                     *bout = rec + f_bout, *rel = rec + f_rel, *rb = rec + f_rb, *shp = rec + f_shp, *it = rec + f_it,
                     *cons = rec + f_cons;
        // ---- arrive: arrivals' tags (mass-weighted) into the buyers' stock
        for (i64 u = 0; u < n_dst && E > 0; u++) {
            const u64 a0 = A.dst_starts[u], b0 = A.dst_ends[u], h = A.dst_uniq[u];
            if (b0 - a0 == 1) {
                const u64 e = A.dst_perm[a0];
                const double s = arr[e];
                if (!(s > 0.0)) continue;
                double old = ohd[u] - s;
                if (old < 0.0) old = 0.0;
                tmix(ht + h * C, pt + e * C, s / (old + s), C);
                continue;
            }
            double s = 0.0;
            for (u64 j = a0; j < b0; j++) s += arr[A.dst_perm[j]];
            if (!(s > 0.0)) continue;
            for (i64 c = 0; c < C; c++) acc[c] = 0.0;
            for (u64 j = a0; j < b0; j++) {
                const u64 e = A.dst_perm[j];
                const double ae = arr[e];
                if (ae != 0.0) {
                    const double* src = pt + e * C;
                    cols(C, [&](i64 c, Cols m) { cst(acc + c, cld(acc + c, m) + ae * cld(src + c, m), m); });
                }
            }
            double old = ohd[u] - s;
            if (old < 0.0) old = 0.0;
            const double w = s / (old + s);
            double* d = ht + h * C;
            cols(C, [&](i64 c, Cols m) {
                V x = cld(d + c, m);
                cst(d + c, x + (cld(acc + c, m) / s - x) * w, m);
            });
        }
        // ---- produce: what each producer made, tagged from the inputs it used
        for (i64 f = 0; f < F; f++) {
            const u64 o0 = A.out_ptr[f], o1 = A.out_ptr[f + 1];
            bool moved = false;
            for (u64 o = o0; o < o1; o++)
                if (made[o] > 0.0) moved = true;
            if (!moved) continue;
            const u64 i0 = A.in_ptr[f], i1 = A.in_ptr[f + 1];
            if (i1 == i0) {
                for (i64 c = 0; c < C; c++) acc[c] = A.c_none[c];
            } else if (A.single_input) {
                const double* src = ht + A.in_hold[i0] * C;
                for (i64 c = 0; c < C; c++) acc[c] = src[c];
            } else {
                double tot = 0.0;
                for (u64 i = i0; i < i1; i++) tot += used[i];
                if (tot > 0.0) {
                    for (i64 c = 0; c < C; c++) acc[c] = 0.0;
                    for (u64 i = i0; i < i1; i++) {
                        const double ui = used[i];
                        if (ui != 0.0) {
                            const double* src = ht + A.in_hold[i] * C;
                            cols(C, [&](i64 c, Cols m) { cst(acc + c, cld(acc + c, m) + ui * cld(src + c, m), m); });
                        }
                    }
                    cols(C, [&](i64 c, Cols m) { cst(acc + c, cld(acc + c, m) / tot, m); });
                } else {
                    for (i64 c = 0; c < C; c++) acc[c] = A.c_none[c];
                }
            }
            const double *kp = A.c_keep + f * C, *oh1 = A.c_onehot + f * C;
            cols(C, [&](i64 c, Cols m) { cst(acc + c, cld(acc + c, m) * cld(kp + c, m) + cld(oh1 + c, m), m); });
            for (u64 o = o0; o < o1; o++) {
                const double mo = made[o];
                if (!(mo > 0.0)) continue;
                const double tot = bout[o] + mo;
                tmix(ht + A.out_hold[o] * C, acc, mo / (tot > 0.0 ? tot : 1.0), C);
            }
        }
        // ---- release: releases' tags into the receivers, channel by channel
        for (i64 q = 0; q < Q; q++) {
            const double add = rel[q];
            if (!(add > 0.0)) continue;
            const u64 h = A.ch_recv[q];
            double before = rb[q];  // the receiver's mass after earlier channels into it
            for (i64 q2 = 0; q2 < q; q2++)
                if (A.ch_recv[q2] == h) before = before + rel[q2];
            const double tot = before + add;
            tmix(ht + h * C, ht + A.ch_pile[q] * C, add / (tot > 0.0 ? tot : 1.0), C);
        }
        // ---- ship: shipments (the supplier's tag) into each link's pipeline
        for (i64 e = 0; e < E; e++) {
            const double s = shp[e];
            if (!(s > 0.0)) continue;
            const double tot = it[e] + s;
            tmix(pt + e * C, ht + A.link_src[e] * C, s / (tot > 0.0 ? tot : 1.0), C);
        }
        // ---- consume: each market's consumption by tag
        for (i64 d = 0; d < D; d++) {
            const double x = cons[d];
            if (x == 0.0) continue;
            const double* src = ht + A.dem_hold[d] * C;
            const u64 m = A.dem_market[d];
            cols(C, [&](i64 c, Cols k) {
                V v = x * cld(src + c, k);
                cst(dp + m * C + c, cld(dp + m * C + c, k) + v, k);
                cst(di + m * C + c, cld(di + m * C + c, k) + v, k);
            });
        }
    }
}

// A row of C <= 8 * NB tag columns in NB vectors (registers): the last one masked.
template <int NB>
struct Row {
    V v[NB];
};
// With C >= 8 the last vector holds columns C - 8 .. C - 1 (overlapping the one before it, whose shared
// columns it computes to the same values): unmasked loads and stores that end at the row's end. A masked
// store's 64 bytes reach into the next row, and a load of that row waits for the store to retire.
template <int NB>
static inline Row<NB> ldr(const double* p, Cols t) {
    Row<NB> x;
    for (int b = 0; b + 1 < NB; b++) std::memcpy(&x.v[b], p + b * L, sizeof(V));
    if (NB > 1 || t.n == L)
        std::memcpy(&x.v[NB - 1], p + (NB - 1) * L + t.n - L, sizeof(V));
    else
        x.v[NB - 1] = cld(p, t);
    return x;
}
template <int NB>
static inline void str(double* p, const Row<NB>& x, Cols t) {
    for (int b = 0; b + 1 < NB; b++) std::memcpy(p + b * L, &x.v[b], sizeof(V));
    if (NB > 1 || t.n == L)
        std::memcpy(p + (NB - 1) * L + t.n - L, &x.v[NB - 1], sizeof(V));
    else
        cst(p, x.v[NB - 1], t);
}
template <int NB>
static inline Row<NB> zr() {
    Row<NB> x;
    for (int b = 0; b < NB; b++) x.v[b] = bc(0.0);
    return x;
}

// tag_steps for C in (8 * (NB - 1), 8 * NB]: the same operations, with a row being mixed or summed kept
// in registers (a sum through memory waits on its masked store at every term)
template <int NB>
static void tag_steps_nb(const Args& A, i64 r, const double* rec0, i64 stride) {
    const i64 H = A.H, E = A.E, F = A.F, D = A.D, M = A.M, Q = A.Q, C = A.C;
    const i64 n_dst = A.n_dst, n_out = A.n_out, n_in = A.n_in;
    const i64 f_arr = 0, f_ohd = f_arr + E, f_made = f_ohd + n_dst, f_used = f_made + n_out, f_bout = f_used + n_in,
              f_rel = f_bout + n_out, f_rb = f_rel + Q, f_shp = f_rb + Q, f_it = f_shp + E, f_cons = f_it + E;
    Cols t;
    t.n = (int)(C - (NB - 1) * L);
#ifdef __AVX512F__
    t.k = (__mmask8)((1u << t.n) - 1u);
#endif
    double* const ht = A.hold_tag + r * H * C;
    double* const pt = A.pipe_tag + r * E * C;
    double* const dp = A.dep + r * M * C;
    double* const di = A.dep_int + r * M * C;
    auto mix = [&](double* d, const Row<NB>& sv, double w) {  // _mix
        Row<NB> x = ldr<NB>(d, t);
        for (int b = 0; b < NB; b++) x.v[b] = x.v[b] + (sv.v[b] - x.v[b]) * w;
        str<NB>(d, x, t);
    };
    for (i64 js = 0; js < A.nsteps; js++) {
        const double* const rec = rec0 + js * stride;
        const double *arr = rec + f_arr, *ohd = rec + f_ohd, *made = rec + f_made, *used = rec + f_used,
                     *bout = rec + f_bout, *rel = rec + f_rel, *rb = rec + f_rb, *shp = rec + f_shp, *it = rec + f_it,
                     *cons = rec + f_cons;
        // ---- arrive: arrivals' tags (mass-weighted) into the buyers' stock
        for (i64 u = 0; u < n_dst && E > 0; u++) {
            const u64 a0 = A.dst_starts[u], b0 = A.dst_ends[u], h = A.dst_uniq[u];
            if (b0 - a0 == 1) {
                const u64 e = A.dst_perm[a0];
                const double s = arr[e];
                if (!(s > 0.0)) continue;
                double old = ohd[u] - s;
                if (old < 0.0) old = 0.0;
                mix(ht + h * C, ldr<NB>(pt + e * C, t), s / (old + s));
                continue;
            }
            double s = 0.0;
            for (u64 j = a0; j < b0; j++) s += arr[A.dst_perm[j]];
            if (!(s > 0.0)) continue;
            Row<NB> acc = zr<NB>();
            for (u64 j = a0; j < b0; j++) {
                const u64 e = A.dst_perm[j];
                const double ae = arr[e];
                if (ae != 0.0) {
                    Row<NB> x = ldr<NB>(pt + e * C, t);
                    for (int b = 0; b < NB; b++) acc.v[b] = acc.v[b] + ae * x.v[b];
                }
            }
            double old = ohd[u] - s;
            if (old < 0.0) old = 0.0;
            const double w = s / (old + s);
            double* d = ht + h * C;
            Row<NB> x = ldr<NB>(d, t);
            for (int b = 0; b < NB; b++) x.v[b] = x.v[b] + (acc.v[b] / s - x.v[b]) * w;
            str<NB>(d, x, t);
        }
        // ---- produce: what each producer made, tagged from the inputs it used
        const Row<NB> none = ldr<NB>(A.c_none, t);
        for (i64 f = 0; f < F; f++) {
            const u64 o0 = A.out_ptr[f], o1 = A.out_ptr[f + 1];
            bool moved = false;
            for (u64 o = o0; o < o1; o++)
                if (made[o] > 0.0) moved = true;
            if (!moved) continue;
            const u64 i0 = A.in_ptr[f], i1 = A.in_ptr[f + 1];
            Row<NB> acc;
            if (i1 == i0) {
                acc = none;
            } else if (A.single_input) {
                acc = ldr<NB>(ht + A.in_hold[i0] * C, t);
            } else {
                double tot = 0.0;
                for (u64 i = i0; i < i1; i++) tot += used[i];
                if (tot > 0.0) {
                    acc = zr<NB>();
                    for (u64 i = i0; i < i1; i++) {
                        const double ui = used[i];
                        if (ui != 0.0) {
                            Row<NB> x = ldr<NB>(ht + A.in_hold[i] * C, t);
                            for (int b = 0; b < NB; b++) acc.v[b] = acc.v[b] + ui * x.v[b];
                        }
                    }
                    for (int b = 0; b < NB; b++) acc.v[b] = acc.v[b] / tot;
                } else {
                    acc = none;
                }
            }
            const Row<NB> kp = ldr<NB>(A.c_keep + f * C, t), oh1 = ldr<NB>(A.c_onehot + f * C, t);
            for (int b = 0; b < NB; b++) acc.v[b] = acc.v[b] * kp.v[b] + oh1.v[b];
            for (u64 o = o0; o < o1; o++) {
                const double mo = made[o];
                if (!(mo > 0.0)) continue;
                const double tot = bout[o] + mo;
                mix(ht + A.out_hold[o] * C, acc, mo / (tot > 0.0 ? tot : 1.0));
            }
        }
        // ---- release: releases' tags into the receivers, channel by channel
        for (i64 q = 0; q < Q; q++) {
            const double add = rel[q];
            if (!(add > 0.0)) continue;
            const u64 h = A.ch_recv[q];
            double before = rb[q];  // the receiver's mass after earlier channels into it
            for (i64 q2 = 0; q2 < q; q2++)
                if (A.ch_recv[q2] == h) before = before + rel[q2];
            const double tot = before + add;
            mix(ht + h * C, ldr<NB>(ht + A.ch_pile[q] * C, t), add / (tot > 0.0 ? tot : 1.0));
        }
        // ---- ship: shipments (the supplier's tag) into each link's pipeline
        for (i64 e = 0; e < E; e++) {
            const double s = shp[e];
            if (!(s > 0.0)) continue;
            const double tot = it[e] + s;
            mix(pt + e * C, ldr<NB>(ht + A.link_src[e] * C, t), s / (tot > 0.0 ? tot : 1.0));
        }
        // ---- consume: each market's consumption by tag (a market's rows held while its entries follow)
        i64 mc = -1;
        Row<NB> xp, xi;
        for (i64 d = 0; d < D; d++) {
            const double x = cons[d];
            if (x == 0.0) continue;
            const i64 m = (i64)A.dem_market[d];
            if (m != mc) {
                if (mc >= 0) {
                    str<NB>(dp + mc * C, xp, t);
                    str<NB>(di + mc * C, xi, t);
                }
                mc = m;
                xp = ldr<NB>(dp + m * C, t);
                xi = ldr<NB>(di + m * C, t);
            }
            const Row<NB> src = ldr<NB>(ht + A.dem_hold[d] * C, t);
            for (int b = 0; b < NB; b++) {
                V v = x * src.v[b];
                xp.v[b] = xp.v[b] + v;
                xi.v[b] = xi.v[b] + v;
            }
        }
        if (mc >= 0) {
            str<NB>(dp + mc * C, xp, t);
            str<NB>(di + mc * C, xi, t);
        }
    }
}

static void tag_steps(const Args& A, i64 r, const double* rec0, i64 stride, double* acc) {
    switch ((A.C + L - 1) / L) {
        case 1: return tag_steps_nb<1>(A, r, rec0, stride);
        case 2: return tag_steps_nb<2>(A, r, rec0, stride);
        case 3: return tag_steps_nb<3>(A, r, rec0, stride);
        case 4: return tag_steps_nb<4>(A, r, rec0, stride);
        default: return tag_steps_any(A, r, rec0, stride, acc);
    }
}

// --------------------------------------------------------------------------- per-lane order shares
// _reroute_shares of _numba_parts.py for lane l: w (weights with left-out links zeroed) and fl (1 on
// re-routed links) on entry; the lane's backlogs of re-routed links are cancelled; shares into sh.
static void reroute_lane(const Args& A, int l, double* w, double* fl, V* bl, double* sh,
                         std::vector<u64>* zeroed = nullptr) {
    const i64 n_dst = A.n_dst, E = A.E;
    for (i64 u = 0; u < n_dst; u++) {
        u64 a0 = A.dst_starts[u], b0 = A.dst_ends[u];
        double wsum = ss<double>([&](u64 e) { return w[e]; }, A.dst_perm, a0, b0);
        bool keep = wsum <= 0.0;
        for (u64 j = a0; j < b0; j++) {
            u64 e = A.dst_perm[j];
            if (fl[e] > 0.0 && !keep) {
                bl[e][l] = 0.0;
                if (zeroed) zeroed->push_back(e);
            }
            double eff;
            if (keep) {
                double bs = A.base_seg[u];
                eff = A.wnorm[e] / (bs > 0 ? bs : 1.0);
            } else {
                eff = w[e] / (wsum > 0 ? wsum : 1.0);
            }
            w[e] = A.wnorm[e] > 0 ? eff : 0.0;
        }
    }
    for (i64 e = 0; e < E; e++) fl[e] = w[e] * A.lead1[e];  // x of position_shares
    for (i64 u = 0; u < n_dst; u++) {
        u64 a0 = A.dst_starts[u], b0 = A.dst_ends[u];
        double tot = ss<double>([&](u64 e) { return fl[e]; }, A.dst_perm, a0, b0);
        for (u64 j = a0; j < b0; j++) {
            u64 e = A.dst_perm[j];
            double x = fl[e];
            sh[e] = x > 0 ? x / (tot > 0 ? tot : 1.0) : 0.0;
        }
    }
}

static inline double pymax1(double x) { return x > 1.0 ? x : 1.0; }  // max(1.0, x) as Python's max

// --------------------------------------------------------------------------- one chunk

static void run_chunk(const Args& A, i64 ch) {
    const i64 R = A.R, H = A.H, E = A.E, F = A.F, D = A.D, M = A.M, Q = A.Q, W = A.W, NC = A.NC;
    const i64 n_dst = A.n_dst, n_src = A.n_src, n_out = A.n_out, n_in = A.n_in, n_chp = A.n_chp,
              n_ph = A.n_ph, n_ql = A.n_ql, n_cl = A.n_cl, n_prod = A.n_prod, NW = A.NW, NB2 = A.NB2, P = A.P;
    const i64 r0 = ch * L;
    const int nl = (int)((R - r0) < L ? (R - r0) : L);
    const i64 nsteps = A.nsteps, t0 = A.t0;
    const i64 capJ = A.cap_rows;
    VI live;
    for (int l = 0; l < L; l++) live[l] = l < nl ? -1 : 0;
    // lanes 0 .. ntr-1 are traced replicates (the first Rt), with tags
    const i64 C = A.C;
    const int ntr = C > 0 && A.Rt > r0 ? (int)(A.Rt - r0 < nl ? A.Rt - r0 : nl) : 0;

    // ---- scratch layout (lane vectors)
    i64 nv = 0;
    auto take = [&](i64 k) { i64 o = nv; nv += k > 0 ? k : 0; return o; };
    const i64 o_oh = take(H), o_bl = take(E), o_it = take(E), o_bo = take(D), o_eu = take(Q ? H : 0),
              o_fg = take(H), o_ou = take(H), o_qt = take(n_ql), o_cf = take(n_cl), o_srun = take(D),
              o_adopt = take(D), o_dfac = take(D), o_lo = take(n_cl), o_rs = take(n_cl), o_cap = take(capJ * F),
              o_noise = take(nsteps * D), o_flows = take(P), o_aout = take(F), o_aact = take(F), o_acap = take(F),
              o_asur = take(P), o_ashp = take(E), o_asub = take(M), o_arel = take(A.n_rel), o_ahc = take(A.n_hc),
              o_tdem = take(M), o_tsrv = take(M), o_tid = take(M), o_tis = take(M), o_tmax = take(M),
              o_trd = take(M), o_trs = take(M), o_ringd = take(M), o_rings = take(M), o_win = take(NW * M * 2),
              o_cons = take(D), o_arr = take(E), o_blo = take(H), o_act = take(F), o_used = take(n_in),
              o_made = take(n_out), o_extra = take(n_out), o_rel = take(Q), o_shp = take(E), o_want = take(E),
              o_dem = take(D), o_srv = take(D), o_rsub = take(D), o_blk = take(H), o_sh = take(E),
              o_pol = take(2), o_bout = take(ntr ? n_out : 0), o_rb = take(ntr ? Q : 0),
              o_ohd = take(ntr ? n_dst : 0);
    i64 nvi = 0;
    auto takei = [&](i64 k) { i64 o = nvi; nvi += k > 0 ? k : 0; return o; };
    const i64 o_trig = takei(Q), o_ntrig = takei(Q), o_short = takei(M), o_rec = takei(M), o_dip = takei(M),
              o_lead = takei(A.use_lead_re ? E : 0), o_ref = takei(1);
    V* const base = scratch.v.get((size_t)nv);
    VI* const basei = scratch.vi.get((size_t)nvi);
    double* const dsc = scratch.d.get((size_t)(3 * E + 1 + n_cl / 8 + 1 + C));
    V *oh = base + o_oh, *bl = base + o_bl, *it = base + o_it, *bo = base + o_bo, *eu = base + o_eu,
      *fg = base + o_fg, *ou = base + o_ou, *qt = base + o_qt, *cf = base + o_cf, *srun = base + o_srun,
      *adopt = base + o_adopt, *dfac = base + o_dfac, *lo = base + o_lo, *rsteps = base + o_rs, *cap = base + o_cap,
      *nz = base + o_noise, *flows = base + o_flows, *aout = base + o_aout, *aact = base + o_aact,
      *acap = base + o_acap, *asur = base + o_asur, *ashp = base + o_ashp, *asub = base + o_asub,
      *arel = base + o_arel, *ahc = base + o_ahc, *tdem = base + o_tdem, *tsrv = base + o_tsrv,
      *tid = base + o_tid, *tis = base + o_tis, *tmax = base + o_tmax, *trd = base + o_trd, *trs = base + o_trs,
      *ringd = base + o_ringd, *rings = base + o_rings, *win = base + o_win, *cons = base + o_cons,
      *arr = base + o_arr, *blo = base + o_blo, *act = base + o_act, *used = base + o_used, *made = base + o_made,
      *extra = base + o_extra, *rel = base + o_rel, *shp = base + o_shp, *want = base + o_want, *dem = base + o_dem,
      *srv = base + o_srv, *rsub = base + o_rsub, *blk = base + o_blk, *shl = base + o_sh, *pol = base + o_pol,
      *bout = base + o_bout, *rb = base + o_rb, *ohd = base + o_ohd;
    VI *trig = basei + o_trig, *ntrig = basei + o_ntrig, *tshort = basei + o_short, *trec = basei + o_rec,
       *tdip = basei + o_dip, *lead = basei + o_lead, *ref = basei + o_ref;
    double *wl = dsc, *fll = dsc + E, *shs = dsc + 2 * E;
    uint8_t* kbuf = reinterpret_cast<uint8_t*>(dsc + 3 * E);  // n_cl bytes
    double* const acc = dsc + 3 * E + 1 + n_cl / 8 + 1;  // C: a tag being mixed (numba's tag_acc row)
    // the traced lanes' record of each step: [nsteps][L][X], X values per lane and step at offsets f_*
    const i64 f_arr = 0, f_ohd = f_arr + E, f_made = f_ohd + n_dst, f_used = f_made + n_out, f_bout = f_used + n_in,
              f_rel = f_bout + n_out, f_rb = f_rel + Q, f_shp = f_rb + Q, f_it = f_shp + E, f_cons = f_it + E,
              X = f_cons + D;
    double* const logb = ntr ? scratch.lg.get((size_t)(nsteps * L * X)) : nullptr;

    // ---- in: the chunk's rows, lane-major
    tin(oh, A.on_hand, H, r0, nl);
    tin(bl, A.backlog, E, r0, nl);
    tin(it, A.in_transit, E, r0, nl);
    tin(bo, A.backorder, D, r0, nl);
    if (Q) tin(eu, A.exp_use, H, r0, nl);
    tin(fg, A.fg_target, H, r0, nl);
    tin(ou, A.order_up_to, H, r0, nl);
    tin_idx(qt, A.quota, E, A.quota_links, n_ql, r0, nl);
    tin_idx(cf, A.closed_for, E, A.closing_links, n_cl, r0, nl);
    tin(srun, A.short_run, D, r0, nl);
    tin(adopt, A.adopt_at, D, r0, nl);
    tin(dfac, A.demand_factor, D, r0, nl);
    tin_idx(lo, A.link_open, E, A.closing_links, n_cl, r0, nl);
    tin_idx(rsteps, A.reroute_steps, E, A.closing_links, n_cl, r0, nl);
    for (i64 j = 0; j < capJ; j++) tin(cap + j * F, A.CAP + j * R * F, F, r0, nl);
    for (i64 x = 0; x < nsteps * D; x++) nz[x] = bc(0.0);
    i64 slots[64];
    for (i64 js = 0; js < nsteps && js < 64; js++) slots[js] = (t0 + js) % NB2;
    for (int l = 0; l < nl; l++) {  // each lane's row of the noise ring in its order
        const double* row = A.noise + (r0 + l) * D * NB2;
        for (i64 d = 0; d < D; d++, row += NB2)
            for (i64 js = 0; js < nsteps; js++) nz[js * D + d][l] = row[js < 64 ? slots[js] : (t0 + js) % NB2];
    }
    tin(flows, A.flows, P, r0, nl);
    tin(aout, A.a_output, F, r0, nl);
    tin(aact, A.a_act, F, r0, nl);
    tin(acap, A.a_cap, F, r0, nl);
    tin(asur, A.a_surplus, P, r0, nl);
    tin(ashp, A.a_shipped, E, r0, nl);
    tin(asub, A.a_subst, M, r0, nl);
    tin(arel, A.a_released, A.n_rel, r0, nl);
    tin(ahc, A.a_hcost, A.n_hc, r0, nl);
    tin(tdem, A.tr_demand, M, r0, nl);
    tin(tsrv, A.tr_served, M, r0, nl);
    tin(tid, A.tr_int_d, M, r0, nl);
    tin(tis, A.tr_int_s, M, r0, nl);
    tin(tmax, A.tr_maxsf, M, r0, nl);
    tin(trd, A.tr_roll_d, M, r0, nl);
    tin(trs, A.tr_roll_s, M, r0, nl);
    tin_i(tshort, A.tr_short, M, r0, nl);
    tin_i(trec, A.tr_recover, M, r0, nl);
    tin_i(tdip, A.tr_dip, M, r0, nl);
    for (i64 wi = 0; wi < NW; wi++)
        if (A.win_on[wi]) tin(win + wi * M * 2, A.win + wi * R * M * 2, M * 2, r0, nl);
    tin_b(trig, A.triggered, Q, r0, nl);
    tin_b(ntrig, A.new_trig, Q, r0, nl);
    if (A.use_lead_re) tin_i(lead, A.lead_re, E, r0, nl);
    {
        V pr = bc(0.0), ps = bc(0.0);
        VI rf = bci(0);
        for (int l = 0; l < nl; l++) {
            pr[l] = A.pol_release[r0 + l];
            ps[l] = A.pol_sub[r0 + l];
            rf[l] = A.ref_step[r0 + l];
        }
        pol[0] = pr;
        pol[1] = ps;
        ref[0] = rf;
    }
    for (i64 h = 0; h < H; h++) {
        blo[h] = bc(0.0);  // entries other than the suppliers' stay 0 (as the numba kernel's block row)
        blk[h] = bc(0.0);
    }
    const V pol_release = pol[0], pol_sub = pol[1];
    const VI ref_step = ref[0];
    VU* const pipe = reinterpret_cast<VU*>(A.pipe + ch * A.ring_rows * L);  // the chunk's [rows] of lanes

    const bool special = A.off_check && !A.use_pat;
    const double* common = (A.use_pat && A.pat_any) ? A.pat_shares : A.static_shares;

    for (i64 js = 0; js < nsteps; js++) {
        const i64 t = t0 + js;
        const double tf = (double)t;
        double* const lg = logb + js * L * X;  // the step's record of the traced lanes
        const VI tv = bci(t);
        const i64 jc = capJ > 1 ? js : 0;
        const V* capj = cap + jc * F;
        // ------------------------------------------------------------ 1. release triggers raised last step
        VI use_block = bci(0);
        for (i64 q = 0; q < Q; q++) {
            VI tq = ntrig[q];
            trig[q] = tq;
            use_block |= tq;
        }
        const bool any_block = any(use_block);
        if (any_block) {
            for (i64 q = 0; q < Q; q++) blk[A.ch_pile[q]] = bc(0.0);
            for (i64 q = 0; q < Q; q++) blk[A.ch_pile[q]] = sel(trig[q], bc(1.0), blk[A.ch_pile[q]]);
        }
        // ------------------------------------------------------------ 2. arrive, scrap
        const u64* ARj = A.AR + js * E;
        // the ring rows of the next step (or of this block's next chunk's first step) are fetched while
        // this step runs: each is a line of L3 or memory, read once per chunk and step
        // (fetching the next chunk's rows instead was slower: 0.90 -> 0.93 s a chunk)
        const u64* ARn = js + 1 < nsteps ? ARj + E : A.AR;
        const double* pn = js + 1 < nsteps ? A.pipe + ch * A.ring_rows * L
                                           : (ch + A.nb < A.ch_hi ? A.pipe + (ch + A.nb) * A.ring_rows * L : nullptr);
        for (i64 e = 0; e < E; e++) {
            if (pn) __builtin_prefetch(pn + ARn[e] * L, 1, 3);
            u64 row = ARj[e];
            V a = pipe[row];
            arr[e] = a;
            VI m = a != 0.0;
            pipe[row] = sel(m, bc(0.0), a);  // written back also when nothing arrives: the line is at hand
            V v = it[e] - a;
            v = sel(v < 0.0, bc(0.0), v);
            it[e] = sel(m, v, it[e]);
        }
        for (i64 u = 0; u < n_dst; u++) {
            V s = ss<V>([&](u64 e) { return arr[e]; }, A.dst_perm, A.dst_starts[u], A.dst_ends[u]);
            u64 h = A.dst_uniq[u];
            oh[h] = sel(s != 0.0, oh[h] + s, oh[h]);
        }
        if (ntr) {  // the buyers' stock after arrivals
            for (i64 u = 0; u < n_dst; u++) ohd[u] = oh[A.dst_uniq[u]];
            tlog(lg + f_ohd, X, ohd, n_dst, ntr);
        }
        for (i64 kc = 0; kc < NC; kc++) {
            V g = bc(0.0);
            for (int l = 0; l < nl; l++) g[l] = A.GOT[(js * R + r0 + l) * NC + kc];
            oh[A.rec_hold[kc]] += g;
        }
        // ------------------------------------------------------------ 3. produce
        if (ntr)
            for (i64 o = 0; o < n_out; o++) bout[o] = oh[A.out_hold[o]];
        for (i64 u = 0; u < n_src; u++)
            blo[A.src_uniq[u]] = 0.0 + ss<V>([&](u64 e) { return bl[e]; }, A.src_perm, A.src_starts[u], A.src_ends[u]);
        for (i64 f = 0; f < F; f++) {
            const u64 o0 = A.out_ptr[f], o1 = A.out_ptr[f + 1];
            V need = bc(-INFINITY);
            for (u64 o = o0; o < o1; o++) {
                u64 h = A.out_hold[o];
                V wv = (blo[h] + fg[h] - oh[h]) / A.out_coef[o];
                need = (o == o0) ? wv : sel(wv > need, wv, need);
            }
            V limit = bc(INFINITY);
            for (u64 i = A.in_ptr[f]; i < A.in_ptr[f + 1]; i++) {
                V q = oh[A.in_hold[i]] / A.in_coef[i];
                limit = sel(q < limit, q, limit);
            }
            V a = capj[f];
            a = sel(limit < a, limit, a);
            a = sel(need < a, need, a);
            a = sel(a <= 0.0, bc(0.0), a);
            act[f] = a;
            for (u64 i = A.in_ptr[f]; i < A.in_ptr[f + 1]; i++) {
                u64 h = A.in_hold[i];
                V before = oh[h];
                V after = before - a * A.in_coef[i];
                after = sel(after <= 0.0, bc(0.0), after);
                used[i] = before - after;
                oh[h] = after;
            }
            for (u64 o = o0; o < o1; o++) {
                u64 h = A.out_hold[o];
                V m = a * A.out_coef[o];
                made[o] = m;
                V nw = oh[h] + m;
                V x = nw - fg[h] - blo[h];
                x = sel(x <= 0.0, bc(0.0), x);
                extra[o] = x;
                oh[h] = nw - x;
            }
        }
        // ------------------------------------------------------------ 4. release
        if (Q > 0) {
            if (ntr)
                for (i64 q = 0; q < Q; q++) rb[q] = oh[A.ch_recv[q]];
            for (i64 q = 0; q < Q; q++) {
                u64 h = A.ch_recv[q];
                V gap = A.ch_cover[q] * eu[h] - oh[h];
                gap = sel(gap <= 0.0, bc(0.0), gap);
                V cm = bc(A.ch_max[q]);
                V wq = sel(cm <= gap, cm, gap);
                rel[q] = wq * sel(trig[q], bc(1.0), bc(0.0)) * pol_release;
            }
            for (i64 u = 0; u < n_chp; u++) {
                V tot = ss<V>([&](u64 q) { return rel[q]; }, A.chp_perm, A.chp_starts[u], A.chp_ends[u]);
                u64 h = A.chp_uniq[u];
                V av = oh[h];
                V give = sel(tot <= av, tot, av);
                V ratio = sel(tot > 0.0, give / tot, bc(0.0));
                for (u64 j = A.chp_starts[u]; j < A.chp_ends[u]; j++) {
                    u64 q = A.chp_perm[j];
                    rel[q] = rel[q] * ratio;
                }
                oh[h] = av - give;
            }
            for (i64 q = 0; q < Q; q++) oh[A.ch_recv[q]] += rel[q];
        }
        // ------------------------------------------------------------ ship, dispatch
        for (i64 e = 0; e < E; e++) want[e] = bl[e] * A.ship_mask[e];
        for (i64 j = 0; j < n_ql; j++) {
            u64 e = A.quota_links[j];
            V b = bl[e], qv = qt[j];
            want[e] = sel(b <= qv, b, qv) * A.ship_mask[e];
        }
        for (i64 u = 0; u < n_src; u++) {
            const u64 a0 = A.src_starts[u], b0 = A.src_ends[u];
            V total = ss<V>([&](u64 e) { return want[e]; }, A.src_perm, a0, b0);
            u64 h = A.src_uniq[u];
            V avail = oh[h];
            V sent = sel(total <= avail, total, avail);
            V ratio = sel(total > 0.0, sent / total, bc(0.0));
            for (u64 j = a0; j < b0; j++) {
                u64 e = A.src_perm[j];
                V s = want[e] * ratio;
                shp[e] = s;
                V v = bl[e] - s;
                bl[e] = sel(v < 0.0, bc(0.0), v);
            }
            oh[h] = avail - sent;
        }
        if (ntr) tlog(lg + f_it, X, it, E, ntr);  // in transit before the shipments
        const u64* DRj = A.DR + js * E;
        const u64* DRn = js + 1 < nsteps ? DRj + E : A.DR;
        for (i64 e = 0; e < E; e++) {
            if (pn && !A.use_lead_re) __builtin_prefetch(pn + DRn[e] * L, 1, 3);
            V s = shp[e];
            VI m = (s != 0.0) & live;
            it[e] = sel(m, it[e] + s, it[e]);
            if (A.use_lead_re) {  // row ring_off + (t + lead) % ring_len, per lane
                for (int l = 0; l < nl; l++) {
                    if (!m[l]) continue;
                    i64 row = (i64)ARj[e] + lead[e][l];
                    if (row >= A.ring_off[e] + A.ring_len[e]) row -= A.ring_len[e];
                    pipe[row][l] += s[l];
                }
            } else {
                u64 row = DRj[e];
                pipe[row] = sel(m, pipe[row] + s, pipe[row]);
            }
        }
        // ------------------------------------------------------------ 5. demand, consume
        const V* nzj = nz + js * D;
        if (ch + A.nb < A.ch_hi) {  // the next chunk's noise rows (memory: the draws wrote them a while ago)
            const i64 rn = (ch + A.nb) * L;
            const i64 s0 = t0 % NB2, s1 = (t0 + nsteps - 1) % NB2;
            for (int l = (int)js; l < L; l += (int)nsteps) {
                if (rn + l >= R) break;
                const double* row = A.noise + (rn + l) * D * NB2;
                for (i64 d = 0; d < D; d++) {
                    __builtin_prefetch(row + d * NB2 + s0, 0, 2);
                    if (s1 / 8 != s0 / 8) __builtin_prefetch(row + d * NB2 + s1, 0, 2);
                }
            }
        }
        for (i64 d = 0; d < D; d++) {
            V x = A.G[js * D + d] * dfac[d];
            V y = 1.0 + A.cv[d] * nzj[d];
            x = x * sel(y > 0.0, y, bc(0.0));  // max(0.0, y)
            V since = (tf - adopt[d]) + 1.0;
            V rp = A.sub_adopt[d] > 0 ? since / A.sub_adopt[d] : bc(1.0);
            V shv = sel(since >= 1.0, A.sub_fraction[d] * sel(rp <= 1.0, rp, bc(1.0)), bc(0.0));
            rsub[d] = x * shv;
            dem[d] = x * (1.0 - shv);
        }
        for (i64 d = 0; d < D; d++) {
            u64 h = A.dem_hold[d];
            V ohv = oh[h];
            V back = bc(0.0);
            if (A.dem_bo[d]) {
                V bov = bo[d];
                back = sel(ohv <= bov, ohv, bov);
            }
            ohv = ohv - back;
            V dm = dem[d];
            V sv = sel(ohv <= dm, ohv, dm);
            oh[h] = ohv - sv;
            V unmet = A.dem_bo[d] ? dm - sv : bc(0.0);
            bo[d] = (bo[d] - back) + unmet;
            srv[d] = sv;
            cons[d] = back + sv;
        }
        // ------------------------------------------------------------ market metrics (MarketTracker.update)
        const i64 k = t % W;
        tin(ringd, A.tr_ring_d + k * R * M, M, r0, nl);
        tin(rings, A.tr_ring_s + k * R * M, M, r0, nl);
        for (i64 m = 0; m < M; m++) {
            const u64 a0 = A.mkt_starts[m];
            u64 b0 = A.mkt_ends[m];
            if (b0 <= a0) b0 = a0 + 1;
            V sv = ss<V>([&](u64 d) { return srv[d]; }, A.d_ident, a0, b0);
            V dm = ss<V>([&](u64 d) { return dem[d]; }, A.d_ident, a0, b0);
            tdem[m] += dm;
            tsrv[m] += sv;
            tid[m] += dm;
            tis[m] += sv;
            V fill = sel(dm > 0.0, sv / dm, bc(1.0));
            V sf = 1.0 - fill;
            tmax[m] = sel((sf > tmax[m]) | (sf != sf), sf, tmax[m]);
            trd[m] += dm - ringd[m];
            trs[m] += sv - rings[m];
            ringd[m] = dm;
            rings[m] = sv;
            for (i64 wi = 0; wi < NW; wi++) {
                if (A.win_on[wi]) {
                    win[(wi * M + m) * 2] += sv;
                    win[(wi * M + m) * 2 + 1] += dm;
                }
            }
            VI c1 = (ref_step >= 0) & (tv >= ref_step) & (tshort[m] < 0) & (fill < SHORT);
            tshort[m] = seli(c1, tv, tshort[m]);
            VI open = (tshort[m] >= 0) & (trec[m] < 0);
            if (any(open)) {
                V rd = trd[m];
                V roll = sel(rd > 1e-12, trs[m] / rd, bc(1.0));
                VI low = roll < RECOVERED;
                VI nd = open & low & (tdip[m] < 0);
                VI nr = open & ~low & (tv > tshort[m]) & (tdip[m] >= 0);
                tdip[m] = seli(nd, tv, tdip[m]);
                trec[m] = seli(nr, tv, trec[m]);
            }
            asub[m] += ss<V>([&](u64 d) { return rsub[d]; }, A.d_ident, a0, b0);
        }
        tout(A.tr_ring_d + k * R * M, ringd, M, r0, nl);
        tout(A.tr_ring_s + k * R * M, rings, M, r0, nl);
        // ------------------------------------------------------------ substitution, release triggers
        for (i64 d = 0; d < D; d++) {
            V dm = dem[d];
            V fill = sel(dm > 0.0, srv[d] / dm, bc(1.0));
            VI shortm = (fill < A.sub_threshold[d]) & (dm > 0.0);
            srun[d] = sel(shortm, srun[d] + 1.0, bc(0.0));
            if (A.has_sub[d]) {
                V ad = adopt[d];
                VI c = (pol_sub > 0.0) & ((ad == INFINITY) | (ad == -INFINITY)) & shortm &
                       (srun[d] * A.step_days >= A.sub_after[d]);
                adopt[d] = sel(c, bc((double)(t + 1)), ad);
            }
        }
        for (i64 q = 0; q < Q; q++) {
            u64 h = A.ch_recv[q];
            V thr = A.ch_cover[q] * eu[h];
            ntrig[q] = (oh[h] < thr - thr * TRIGGER_TIE) | (rel[q] > 0.0);
        }
        // ------------------------------------------------------------ 6. re-route, order
        VI any_rer = bci(0);
        for (i64 j = 0; j < n_cl; j++) {
            u64 e = A.closing_links[j];
            V c = sel(lo[j] < A.closed_below, cf[j] + 1.0, bc(0.0));
            cf[j] = c;
            V mx = sel(rsteps[j] > 1.0, rsteps[j], bc(1.0));
            if (A.wnorm[e] > 0) any_rer |= c >= mx;
        }
        bool lane_shares = false;  // some lane has shares of its own in shl
        const double* uni = common;  // else the shares of every lane
        if (special) {
            for (int l = 0; l < nl; l++) {  // plants not online yet, told apart per replicate
                for (i64 e = 0; e < E; e++) {
                    wl[e] = A.wnorm[e];
                    fll[e] = 0.0;
                }
                bool any_ex = false;
                for (i64 j = 0; j < n_cl; j++) {  // re-routed: only closing links (elsewhere closed_for is 0)
                    u64 e = A.closing_links[j];
                    if (cf[j][l] >= pymax1(rsteps[j][l]) && A.wnorm[e] > 0) fll[e] = 1.0;
                }
                for (i64 e = 0; e < E; e++) {
                    bool rer = fll[e] > 0.0;
                    bool ex = rer;
                    if (!rer && A.wnorm[e] > 0 && A.link_fac[e] >= 0) {
                        i64 fl = A.link_fac[e];
                        ex = tf < A.online_step[fl] && A.added_capacity[(jc * R + r0 + l) * F + fl] <= 0.0;
                    }
                    wl[e] = ex ? 0.0 : A.wnorm[e];
                    if (ex) any_ex = true;
                }
                if (!any_ex) continue;  // the static shares (common: use_pat is false here)
                if (!lane_shares) {
                    for (i64 e = 0; e < E; e++) shl[e] = bc(common[e]);
                    lane_shares = true;
                }
                reroute_lane(A, l, wl, fll, bl, shs);
                for (i64 e = 0; e < E; e++) shl[e][l] = shs[e];
            }
        } else if (any(any_rer & live)) {
            int ent[L];
            uint8_t* key = kbuf;
            for (int l = 0; l < nl; l++) {
                ent[l] = -1;
                if (!any_rer[l]) continue;
                for (i64 j = 0; j < n_cl; j++) {
                    u64 e = A.closing_links[j];
                    key[j] = (cf[j][l] >= pymax1(rsteps[j][l]) && A.wnorm[e] > 0) ? 1 : 0;
                }
                int hit = -1;
                for (size_t c = 0; c < shares_cache.ent.size(); c++) {
                    if (std::memcmp(shares_cache.ent[c].key.data(), key, (size_t)n_cl) == 0) {
                        hit = (int)c;
                        break;
                    }
                }
                if (hit >= 0) {
                    for (u64 e : shares_cache.ent[hit].zeroed) bl[e][l] = 0.0;
                } else {
                    for (i64 e = 0; e < E; e++) {
                        wl[e] = A.base_w[e];
                        fll[e] = 0.0;
                    }
                    for (i64 j = 0; j < n_cl; j++) {
                        if (key[j]) {
                            u64 e = A.closing_links[j];
                            wl[e] = 0.0;
                            fll[e] = 1.0;
                        }
                    }
                    if (shares_cache.ent.size() < SharesCache::CAP) {
                        hit = (int)shares_cache.ent.size();
                        shares_cache.ent.emplace_back();
                    } else {
                        hit = (int)shares_cache.next;
                        shares_cache.next = (shares_cache.next + 1) % SharesCache::CAP;
                    }
                    Shares& sc = shares_cache.ent[hit];
                    sc.key.assign(key, key + n_cl);
                    sc.sh.resize((size_t)E);
                    sc.zeroed.clear();
                    reroute_lane(A, l, wl, fll, bl, sc.sh.data(), &sc.zeroed);
                }
                ent[l] = hit;
            }
            bool same = true;
            for (int l = 1; l < nl; l++) same = same && ent[l] == ent[0];
            if (same) {
                if (ent[0] >= 0) uni = shares_cache.ent[ent[0]].sh.data();
            } else {
                lane_shares = true;
                for (i64 e = 0; e < E; e++) {
                    V v;
                    for (int l = 0; l < L; l++) {
                        int c = l < nl ? ent[l] : -1;
                        v[l] = c >= 0 ? shares_cache.ent[c].sh[e] : common[e];
                    }
                    shl[e] = v;
                }
            }
        }
        for (i64 e = 0; e < E; e++) {
            V sh = lane_shares ? shl[e] : bc(uni[e]);
            const u64 h = A.link_dst[e];
            if (any_block) sh = sel(use_block, sh * (1.0 - blk[h]), sh);
            V gp = ou[h] - oh[h];
            const i64 dd = A.hold_dem[h];
            if (dd >= 0) gp = gp + bo[dd];
            V o = sh * gp - it[e] - bl[e];
            o = sel(o <= 0.0, bc(0.0), o);
            o = o * sel(sh > 0.0, bc(1.0), bc(0.0));
            bl[e] += o;
        }
        // ------------------------------------------------------------ 8. record
        for (i64 f = 0; f < F; f++) {
            V a = act[f];
            aout[f] += a * A.out_per_act[f];
            aact[f] += a;
            acap[f] += capj[f];
        }
        for (i64 o = 0; o < n_out; o++) {
            u64 p = A.out_prod[o];
            flows[p] += made[o] - extra[o];
            asur[p] += extra[o];
        }
        for (i64 i = 0; i < n_in; i++) flows[A.in_prod[i]] -= used[i];
        for (i64 d = 0; d < D; d++) flows[A.dem_prod[d]] -= cons[d];
        for (i64 e = 0; e < E; e++) ashp[e] += shp[e];
        for (i64 q = 0; q < Q; q++) arel[A.pile_of_q[q]] += rel[q];
        for (i64 j = 0; j < n_ph; j++) {
            u64 h = A.pile_h[j];
            ahc[A.pile_of_h[j]] += oh[h] * A.pile_cost[h];
        }
        if (A.scrap) {
            for (i64 p = 0; p < n_prod; p++) {
                V c = bc(0.0);
                for (int l = 0; l < nl; l++) c[l] = A.COLL[(js * R + r0 + l) * n_prod + p];
                flows[p] += c;
            }
            tout(A.cons_k + js * R * D, cons, D, r0, nl);
        }
        if (ntr) {  // the rest of what the tag operations read (final for the step by now)
            tlog(lg + f_arr, X, arr, E, ntr);
            tlog(lg + f_made, X, made, n_out, ntr);
            tlog(lg + f_used, X, used, n_in, ntr);
            tlog(lg + f_bout, X, bout, n_out, ntr);
            tlog(lg + f_rel, X, rel, Q, ntr);
            tlog(lg + f_rb, X, rb, Q, ntr);
            tlog(lg + f_shp, X, shp, E, ntr);
            tlog(lg + f_cons, X, cons, D, ntr);
        }
    }
    for (int l = 0; l < ntr; l++) tag_steps(A, r0 + l, logb + l * X, L * X, acc);

    // ---- out: the lanes back into the chunk's rows
    tout(A.on_hand, oh, H, r0, nl);
    tout(A.backlog, bl, E, r0, nl);
    tout(A.in_transit, it, E, r0, nl);
    tout(A.backorder, bo, D, r0, nl);
    tout_idx(A.closed_for, cf, E, A.closing_links, n_cl, r0, nl);
    tout(A.short_run, srun, D, r0, nl);
    tout(A.adopt_at, adopt, D, r0, nl);
    tout(A.flows, flows, P, r0, nl);
    tout(A.a_output, aout, F, r0, nl);
    tout(A.a_act, aact, F, r0, nl);
    tout(A.a_cap, acap, F, r0, nl);
    tout(A.a_surplus, asur, P, r0, nl);
    tout(A.a_shipped, ashp, E, r0, nl);
    tout(A.a_subst, asub, M, r0, nl);
    tout(A.a_released, arel, A.n_rel, r0, nl);
    tout(A.a_hcost, ahc, A.n_hc, r0, nl);
    tout(A.tr_demand, tdem, M, r0, nl);
    tout(A.tr_served, tsrv, M, r0, nl);
    tout(A.tr_int_d, tid, M, r0, nl);
    tout(A.tr_int_s, tis, M, r0, nl);
    tout(A.tr_maxsf, tmax, M, r0, nl);
    tout(A.tr_roll_d, trd, M, r0, nl);
    tout(A.tr_roll_s, trs, M, r0, nl);
    tout_i(A.tr_short, tshort, M, r0, nl);
    tout_i(A.tr_recover, trec, M, r0, nl);
    tout_i(A.tr_dip, tdip, M, r0, nl);
    for (i64 wi = 0; wi < NW; wi++)
        if (A.win_on[wi]) tout(A.win + wi * R * M * 2, win + wi * M * 2, M * 2, r0, nl);
    tout_b(A.triggered, trig, Q, r0, nl);
    tout_b(A.new_trig, ntrig, Q, r0, nl);
    tout(A.consumed, cons, D, r0, nl);
}

// Chunks ch_lo + blk, ch_lo + blk + nb, ... below ch_hi.
extern "C" int reesim_lanes_step(const Args* a) {
    const Args& A = *a;
    shares_cache.clear();  // its shares are those of this batch's base weights and closing links
    for (i64 ch = A.ch_lo + A.blk; ch < A.ch_hi; ch += A.nb) run_chunk(A, ch);
    return 0;
}
