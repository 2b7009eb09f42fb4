/* Energy and input gradient of a fully connected energy (ebmlab.models.MLPEnergy) for a
 * batch of points, fused into one pass per block of 32 rows, on one CPU core.
 *
 *   a_0 = x * inv_scale;  z_i = a_{i-1} W_i^T + b_i;  a_i = act(z_i)   (i = 1..L)
 *   E = a_L . w_out + b_out
 *   delta_L = w_out * act'(z_L);  delta_{i-1} = (delta_i W_i) * act'(z_{i-1})
 *   grad_x E = (delta_1 W_1) * inv_scale
 *
 * Layer 1 (in_dim is small, e.g. 2) and the output layer are AVX-512 loops. The
 * hidden-to-hidden products run on AMX tiles: bf16 inputs, fp32 accumulation and fp32
 * outputs (no rounding of the outputs to bf16). passes = 3 splits every operand into
 * bf16 hi + lo parts and accumulates hi*hi + lo*hi + hi*lo in the same fp32 tile,
 * which is accurate to about 2^-16 relative (used for the energies a Metropolis test
 * compares). Hidden widths must be multiples of 32.
 *
 * Weights arrive pre-packed (see ebmlab/engine/native.py): for C = A B with B (K x N),
 * tile (kc, nc) holds B[32 kc + 2 r + j][16 nc + c] at [r][c][j], 16 x 16 x 2 bf16.
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#define BM 32 /* rows per block: two 16-row tiles */
#define MAXL 8

enum { ACT_SILU = 0, ACT_RELU = 1, ACT_LEAKY = 2, ACT_TANH = 3, ACT_ELU = 4 };

typedef struct {
    uint8_t palette_id, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tilecfg_t;

int ebm_amx_init(void) {
    /* ask the kernel for the AMX tile state (Linux >= 5.16); 0 on success */
    long r = syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */);
    return r == 0 ? 0 : -1;
}

static void config_tiles(void) {
    tilecfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1;
    for (int t = 0; t < 8; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }
    _tile_loadconfig(&cfg);
}

/* 2^t (t <= 126; NaN propagates): t = n + f with |f| <= 1/2, a fit of 2^f, scaled by 2^n.
 * Degree 5: relative error 2.5e-7; fast (degree 3): 1e-4, for layers whose outputs are
 * rounded to bf16 anyway. */
static inline __attribute__((always_inline)) __m512 exp2_ps(__m512 t, const int fast) {
    t = _mm512_min_ps(_mm512_set1_ps(126.0f), t);
    __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(t, n);
    __m512 p;
    if (fast) {
        p = _mm512_set1_ps(0.055922120809555054f);
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.2426406890153885f));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.6931210160255432f));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.9999244213104248f));
    } else {
        p = _mm512_set1_ps(0.0013400441966950893f);
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.009676046669483185f));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.05550327152013779f));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.2402210682630539f));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.6931471824645996f));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0000001192092896f));
    }
    return _mm512_scalef_ps(p, n);
}

#define LOG2E 1.44269504088896341f

/* 1 / d for d >= 1: rcp14 plus one Newton step (about 2^-28 relative; vdivps is slow).
 * d = inf would give NaN, which exp2_ps's clamp rules out. */
static inline __m512 recip_ps(__m512 d) {
    __m512 y = _mm512_rcp14_ps(d);
    return _mm512_mul_ps(y, _mm512_fnmadd_ps(d, y, _mm512_set1_ps(2.0f)));
}

/* activation value and slope; fast: ~1e-4 relative (exp2 of degree 3, rcp14 without a Newton
 * step), used where the products are single bf16 passes (their inputs carry 2^-9 anyway) */
static inline __attribute__((always_inline)) void act_ps(int act, int fast, __m512 z, __m512 *a, __m512 *d) {
    const __m512 one = _mm512_set1_ps(1.0f);
    switch (act) {
    case ACT_SILU: {
        __m512 t = _mm512_mul_ps(z, _mm512_set1_ps(-LOG2E));
        __m512 s = fast ? _mm512_rcp14_ps(_mm512_add_ps(one, exp2_ps(t, 1)))
                        : recip_ps(_mm512_add_ps(one, exp2_ps(t, 0)));
        __m512 v = _mm512_mul_ps(z, s);
        *a = v;
        *d = _mm512_fmadd_ps(s, _mm512_sub_ps(one, v), v); /* s (1 + z (1 - s)) */
        break;
    }
    case ACT_RELU: {
        __mmask16 m = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_GT_OQ);
        *a = _mm512_maskz_mov_ps(m, z);
        *d = _mm512_maskz_mov_ps(m, one);
        break;
    }
    case ACT_LEAKY: {
        __mmask16 m = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_GT_OQ);
        __m512 k = _mm512_mask_mov_ps(_mm512_set1_ps(0.2f), m, one);
        *a = _mm512_mul_ps(z, k);
        *d = k;
        break;
    }
    case ACT_TANH: {
        /* tanh z = 1 - 2 / (1 + exp(2 z)) */
        __m512 t = _mm512_fnmadd_ps(_mm512_set1_ps(2.0f), recip_ps(_mm512_add_ps(one, exp2_ps(_mm512_mul_ps(z, _mm512_set1_ps(2 * LOG2E)), 0))), one);
        *a = t;
        *d = _mm512_fnmadd_ps(t, t, one);
        break;
    }
    default: { /* ELU, alpha = 1 */
        __mmask16 m = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_GT_OQ);
        __m512 e = exp2_ps(_mm512_mul_ps(_mm512_min_ps(_mm512_setzero_ps(), z), _mm512_set1_ps(LOG2E)), 0);
        *a = _mm512_mask_mov_ps(_mm512_sub_ps(e, one), m, z);
        *d = _mm512_mask_mov_ps(e, m, one);
        break;
    }
    }
}

/* round 16 floats to bf16 (round to nearest even), and the remainder to a second bf16 */
static inline void split_store(__m512 v, uint16_t *hi, uint16_t *lo) {
    __m256bh h = _mm512_cvtneps_pbh(v);
    _mm256_storeu_si256((__m256i *)hi, (__m256i)h);
    if (lo) {
        __m512 hv = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)h), 16));
        __m256bh l = _mm512_cvtneps_pbh(_mm512_sub_ps(v, hv));
        _mm256_storeu_si256((__m256i *)lo, (__m256i)l);
    }
}

/* One block of BM = 32 rows. Scratch lives in a per-call workspace. */
typedef struct {
    int L, in_dim, act, fwd_passes, bwd_passes, want_grad;
    const int *widths;
    const float *const *bias;
    const float *w_out, *w1t;
    float *slopes[MAXL];       /* act'(z_i), BM x H_i, fp32 */
    uint16_t *act_hi[MAXL];    /* a_i rounded to bf16 (and the remainder), BM x H_i */
    uint16_t *act_lo[MAXL];
    uint16_t *dhi[2], *dlo[2]; /* delta ping-pong, bf16 hi/lo, BM x hmax */
    float *eacc;               /* BM x 16 partial energies */
    float *gacc;               /* BM x in_dim x 16 partial gradients */
    float patch[2][32 * 32] __attribute__((aligned(64))); /* two 32 x 32 product patches */
} block_t;

enum { EPI_FWD_HIDDEN, EPI_FWD_LAST, EPI_BWD_HIDDEN, EPI_BWD_FIRST };

/* apply the epilogue to the 32 x 32 patch at columns nc..nc+31 of layer `layer` (width N).
 * kind and act are compile-time constants at every call (the kernel is specialised). */
static inline __attribute__((always_inline)) void epilogue(block_t *b, const int kind, const int act, const int fast,
                                                           int layer, int N, int nc, int pp, const float *patch) {
    const int in_dim = b->in_dim, lo = (kind <= EPI_FWD_LAST ? b->fwd_passes : b->bwd_passes) == 3;
    float *restrict slopes = b->slopes[layer];
    const float *restrict bias = b->bias[layer];
    const float *restrict w_out = b->w_out;
    const float *restrict w1t = b->w1t;
    uint16_t *restrict ahi = kind == EPI_FWD_HIDDEN ? b->act_hi[layer] : b->dhi[kind == EPI_FWD_LAST ? 0 : pp];
    uint16_t *restrict alo = kind == EPI_FWD_HIDDEN ? b->act_lo[layer] : b->dlo[kind == EPI_FWD_LAST ? 0 : pp];
    float *restrict eacc = b->eacc, *restrict gacc = b->gacc;
    const int want_grad = b->want_grad;
    for (int r = 0; r < 32; r++) {
        for (int h = 0; h < 32; h += 16) {
            const int j = nc + h;
            const size_t o = (size_t)r * N + j;
            __m512 c = _mm512_load_ps(patch + r * 32 + h);
            if (kind == EPI_FWD_HIDDEN || kind == EPI_FWD_LAST) {
                __m512 a, d;
                act_ps(act, fast, _mm512_add_ps(c, _mm512_loadu_ps(bias + j)), &a, &d);
                if (kind == EPI_FWD_HIDDEN) {
                    _mm512_store_ps(slopes + o, d);  /* the last layer's slope is used right here */
                    split_store(a, ahi + o, lo ? alo + o : NULL);
                } else {
                    /* energy partials, and delta_L = w_out * d_L as the first backward operand */
                    __m512 w = _mm512_loadu_ps(w_out + j);
                    _mm512_store_ps(eacc + r * 16, _mm512_fmadd_ps(a, w, _mm512_load_ps(eacc + r * 16)));
                    if (want_grad)
                        split_store(_mm512_mul_ps(w, d), ahi + o, b->bwd_passes == 3 ? alo + o : NULL);
                }
            } else {
                __m512 v = _mm512_mul_ps(c, _mm512_load_ps(slopes + o));
                if (kind == EPI_BWD_HIDDEN) {
                    split_store(v, ahi + o, lo ? alo + o : NULL);
                } else {
                    for (int k = 0; k < in_dim; k++) {
                        float *ga = gacc + (r * in_dim + k) * 16;
                        _mm512_store_ps(ga, _mm512_fmadd_ps(v, _mm512_loadu_ps(w1t + (size_t)k * N + j),
                                                            _mm512_load_ps(ga)));
                    }
                }
            }
        }
    }
}

/* C (32 x N) = A (32 x K, bf16, row stride K) B (packed K x N), one 32-column panel at a
 * time, each panel handed to the epilogue while it is in L1. passes 3 adds Alo Bhi + Ahi Blo.
 * The epilogue of panel p-1 sits between the tile products of panel p and their stores, so
 * the out-of-order core may run it while the AMX unit multiplies (little overlap measured). */
#define LOAD_A(A) do { _tile_loadd(4, (A) + kc * 32, K * 2); \
                       _tile_loadd(5, (A) + (size_t)16 * K + kc * 32, K * 2); } while (0)
#define LOAD_B(B) do { _tile_loadd(6, (B) + bo, 64); _tile_loadd(7, (B) + bo + 512, 64); } while (0)
#define DP4() do { _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(1, 4, 7); \
                   _tile_dpbf16ps(2, 5, 6); _tile_dpbf16ps(3, 5, 7); } while (0)
static inline __attribute__((always_inline)) void gemm_block(block_t *b, int K, int N, const uint16_t *Ahi, const uint16_t *Alo,
                       const uint16_t *Bhi, const uint16_t *Blo, int passes,
                       const int kind, const int act, const int fast, int layer, int pp) {
    const int nt = N / 16;
    for (int nc = 0; nc < N; nc += 32) {
        _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
        for (int kc = 0; kc < K / 32; kc++) {
            const size_t bo = ((size_t)(kc * nt + nc / 16)) * 512;
            LOAD_A(Ahi); LOAD_B(Bhi); DP4();
            if (passes == 3) {  /* + lo x hi + hi x lo */
                LOAD_A(Alo); DP4();
                LOAD_A(Ahi); LOAD_B(Blo); DP4();
            }
        }
        const int q = (nc / 32) & 1;
        if (nc > 0) epilogue(b, kind, act, fast, layer, N, nc - 32, pp, b->patch[1 - q]);
        float *patch = b->patch[q];
        _tile_stored(0, patch, 128);
        _tile_stored(1, patch + 16, 128);
        _tile_stored(2, patch + 16 * 32, 128);
        _tile_stored(3, patch + 16 * 32 + 16, 128);
    }
    epilogue(b, kind, act, fast, layer, N, N - 32, pp, b->patch[((N - 32) / 32) & 1]);
}
#undef LOAD_A
#undef LOAD_B
#undef DP4

/* Arguments (arrays contiguous, fp32 unless said otherwise):
 *   n, in_dim (<= 16), L (1..8), widths[L] (multiples of 32); x (n x in_dim); inv_scale
 *   w1t (in_dim x H_1): first-layer weights, transposed; bias[L]: hidden biases
 *   fwd_hi/fwd_lo[L-1]: packed W_{i+1}^T (H_i x H_{i+1}), bf16 (lo only read when passes = 3)
 *   bwd_hi/bwd_lo[L-1]: packed W_{i+1} (H_{i+1} x H_i)
 *   w_out (H_L), b_out; act; fwd_passes, bwd_passes (1 or 3); want_grad
 *   out: e (n), g (n x in_dim, when want_grad)
 * Returns 0, -1 for unsupported shapes, -2 when out of memory.
 */
static inline __attribute__((always_inline)) int
mlp_impl(int64_t n, int in_dim, int L, const int *widths, const float *x, float inv_scale,
         const float *w1t, const float *const *bias,
         const uint16_t *const *fwd_hi, const uint16_t *const *fwd_lo,
         const uint16_t *const *bwd_hi, const uint16_t *const *bwd_lo,
         const float *w_out, float b_out,
         const int act, const int fast, int fwd_passes, int bwd_passes, int want_grad,
         float *e_out, float *g_out) {
    if (L < 1 || L > MAXL || in_dim < 1 || in_dim > 16) return -1;
    int hmax = 0;
    size_t tot = 0;
    for (int i = 0; i < L; i++) {
        if (widths[i] <= 0 || widths[i] % 32 != 0) return -1;
        if (widths[i] > hmax) hmax = widths[i];
        tot += widths[i];
    }
    /* workspace: slopes (4 B), a hi/lo (2 + 2 B) per hidden unit, 2 x delta hi/lo, accumulators */
    size_t bytes = sizeof(block_t) + 64 + (size_t)BM * tot * 8 + (size_t)BM * hmax * 8
                 + (size_t)BM * 16 * 4 * (1 + in_dim) + 64 * 8;
    char *ws = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!ws) return -2;
    block_t *b = (block_t *)ws;
    char *p = ws + (sizeof(block_t) + 63) / 64 * 64;
#define TAKE(ptr, type, count) do { ptr = (type *)p; p += ((count) * sizeof(type) + 63) / 64 * 64; } while (0)
    for (int i = 0; i < L; i++) {
        TAKE(b->slopes[i], float, (size_t)BM * widths[i]);
        TAKE(b->act_hi[i], uint16_t, (size_t)BM * widths[i]);
        TAKE(b->act_lo[i], uint16_t, (size_t)BM * widths[i]);
    }
    for (int q = 0; q < 2; q++) {
        TAKE(b->dhi[q], uint16_t, (size_t)BM * hmax);
        TAKE(b->dlo[q], uint16_t, (size_t)BM * hmax);
    }
    TAKE(b->eacc, float, (size_t)BM * 16);
    TAKE(b->gacc, float, (size_t)BM * 16 * in_dim);
#undef TAKE
    b->L = L; b->in_dim = in_dim; b->act = act; b->fwd_passes = fwd_passes; b->bwd_passes = bwd_passes;
    b->want_grad = want_grad; b->widths = widths; b->bias = bias; b->w_out = w_out; b->w1t = w1t;
    (void)b->act;
    const int H1 = widths[0];
    if (L > 1) config_tiles();

    for (int64_t r0 = 0; r0 < n; r0 += BM) {
        const int rows = (int)((n - r0) < BM ? (n - r0) : BM);
        memset(b->eacc, 0, sizeof(float) * BM * 16);
        memset(b->gacc, 0, sizeof(float) * BM * 16 * in_dim);
        /* layer 1 on AVX-512 (padded rows use x = 0); with L = 1 it is also the last layer */
        {
            float *restrict slopes = b->slopes[0];
            uint16_t *restrict ahi = L > 1 ? b->act_hi[0] : b->dhi[0];
            uint16_t *restrict alo = L > 1 ? b->act_lo[0] : b->dlo[0];
            const float *restrict b1 = bias[0];
            const int lo = fwd_passes == 3;
            for (int r = 0; r < BM; r++) {
                __m512 xs[16];
                for (int k = 0; k < in_dim; k++)
                    xs[k] = _mm512_set1_ps(r < rows ? x[(r0 + r) * in_dim + k] * inv_scale : 0.0f);
                for (int j = 0; j < H1; j += 16) {
                    __m512 z = _mm512_loadu_ps(b1 + j);
                    for (int k = 0; k < in_dim; k++)
                        z = _mm512_fmadd_ps(xs[k], _mm512_loadu_ps(w1t + (size_t)k * H1 + j), z);
                    __m512 a, d;
                    act_ps(act, fast, z, &a, &d);
                    const size_t o = (size_t)r * H1 + j;
                    _mm512_store_ps(slopes + o, d);
                    if (L > 1) {
                        split_store(a, ahi + o, lo ? alo + o : NULL);
                    } else {
                        __m512 w = _mm512_loadu_ps(w_out + j);
                        _mm512_store_ps(b->eacc + r * 16, _mm512_fmadd_ps(a, w, _mm512_load_ps(b->eacc + r * 16)));
                        __m512 v = _mm512_mul_ps(w, d);
                        for (int k = 0; k < in_dim; k++) {
                            float *ga = b->gacc + (r * in_dim + k) * 16;
                            _mm512_store_ps(ga, _mm512_fmadd_ps(v, _mm512_loadu_ps(w1t + (size_t)k * H1 + j),
                                                                _mm512_load_ps(ga)));
                        }
                    }
                }
            }
        }
        /* hidden-to-hidden layers on AMX; the last one also accumulates E and delta_L */
        for (int i = 1; i < L - 1; i++)
            gemm_block(b, widths[i - 1], widths[i], b->act_hi[i - 1], b->act_lo[i - 1], fwd_hi[i - 1],
                       fwd_lo[i - 1], fwd_passes, EPI_FWD_HIDDEN, act, fast, i, 0);
        if (L > 1)
            gemm_block(b, widths[L - 2], widths[L - 1], b->act_hi[L - 2], b->act_lo[L - 2], fwd_hi[L - 2],
                       fwd_lo[L - 2], fwd_passes, EPI_FWD_LAST, act, fast, L - 1, 0);
        for (int r = 0; r < rows; r++)
            e_out[r0 + r] = _mm512_reduce_add_ps(_mm512_load_ps(b->eacc + r * 16)) + b_out;
        if (!want_grad) continue;
        /* backward products, ping-ponging the delta buffers */
        int src = 0;
        for (int i = L - 1; i >= 2; i--) {
            gemm_block(b, widths[i], widths[i - 1], b->dhi[src], b->dlo[src], bwd_hi[i - 1],
                       bwd_lo[i - 1], bwd_passes, EPI_BWD_HIDDEN, act, fast, i - 1, 1 - src);
            src = 1 - src;
        }
        if (L > 1)
            gemm_block(b, widths[1], widths[0], b->dhi[src], b->dlo[src], bwd_hi[0],
                       bwd_lo[0], bwd_passes, EPI_BWD_FIRST, act, fast, 0, 1 - src);
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < in_dim; k++)
                g_out[(r0 + r) * in_dim + k] =
                    _mm512_reduce_add_ps(_mm512_load_ps(b->gacc + (r * in_dim + k) * 16)) * inv_scale;
    }
    if (L > 1) _tile_release();
    free(ws);
    return 0;
}

/* one specialised copy of the kernel per activation (the activation is in the inner loops) */
#define MLP_ARGS n, in_dim, L, widths, x, inv_scale, w1t, bias, fwd_hi, fwd_lo, bwd_hi, bwd_lo, w_out, b_out
int ebm_mlp_energy_grad(int64_t n, int in_dim, int L, const int *widths, const float *x, float inv_scale,
                        const float *w1t, const float *const *bias,
                        const uint16_t *const *fwd_hi, const uint16_t *const *fwd_lo,
                        const uint16_t *const *bwd_hi, const uint16_t *const *bwd_lo,
                        const float *w_out, float b_out,
                        int act, int fwd_passes, int bwd_passes, int want_grad,
                        float *e_out, float *g_out) {
    /* single bf16 passes everywhere: fast activations; flush denormals (tiny sigmoid tails) */
    const int fast = fwd_passes == 1;
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040);
    int rc;
#define CASE(A) \
    case A: rc = fast ? mlp_impl(MLP_ARGS, A, 1, fwd_passes, bwd_passes, want_grad, e_out, g_out) \
                      : mlp_impl(MLP_ARGS, A, 0, fwd_passes, bwd_passes, want_grad, e_out, g_out); break;
    switch (act) {
    CASE(ACT_SILU) CASE(ACT_RELU) CASE(ACT_LEAKY) CASE(ACT_TANH) CASE(ACT_ELU)
    default: rc = -1;
    }
#undef CASE
    _mm_setcsr(csr);
    return rc;
}
#undef MLP_ARGS

/* The same, with every weight in one byte buffer laid out by ebmlab/engine/native.py
 * (offsets in bytes from the start of the buffer). */
typedef struct {
    int64_t magic, L, in_dim, act, widths[MAXL], w1t, w_out, bias[MAXL];
    int64_t fwd_hi[MAXL - 1], fwd_lo[MAXL - 1], bwd_hi[MAXL - 1], bwd_lo[MAXL - 1];
    double inv_scale, b_out;
} blob_header_t;

#define BLOB_MAGIC 0xEB3701

int ebm_mlp_blob(const char *blob, int64_t n, const float *x, float *e_out, float *g_out,
                 int want_grad, int fwd_passes, int bwd_passes) {
    const blob_header_t *h = (const blob_header_t *)blob;
    if (h->magic != BLOB_MAGIC || h->L < 1 || h->L > MAXL) return -1;
    int widths[MAXL];
    const float *bias[MAXL];
    const uint16_t *fh[MAXL], *fl[MAXL], *bh[MAXL], *bl[MAXL];
    for (int i = 0; i < h->L; i++) {
        widths[i] = (int)h->widths[i];
        bias[i] = (const float *)(blob + h->bias[i]);
    }
    for (int i = 0; i + 1 < h->L; i++) {
        fh[i] = (const uint16_t *)(blob + h->fwd_hi[i]);
        fl[i] = (const uint16_t *)(blob + h->fwd_lo[i]);
        bh[i] = (const uint16_t *)(blob + h->bwd_hi[i]);
        bl[i] = (const uint16_t *)(blob + h->bwd_lo[i]);
    }
    return ebm_mlp_energy_grad(n, (int)h->in_dim, (int)h->L, widths, x, (float)h->inv_scale,
                               (const float *)(blob + h->w1t), bias, fh, fl, bh, bl,
                               (const float *)(blob + h->w_out), (float)h->b_out, (int)h->act,
                               fwd_passes, bwd_passes, want_grad, e_out, g_out);
}
