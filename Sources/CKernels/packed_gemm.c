#include "packed_gemm.h"
#include <stdlib.h>
#include <string.h>

#define NR MODELSURGERY_PANEL_WIDTH
// Steps of k per chunk and bytes of A per block of rows (see modelsurgery_packed_gemm_using).
#define STEP_CHUNK 1024
#define A_BLOCK_BYTES (512 << 10)

#if defined(__x86_64__)
#include <immintrin.h>

// Eight rows by eight steps of k at a time, transposed in registers: a step-by-step copy reads 32 rows for each
// step and ran at a quarter of the speed of decoding.
__attribute__((target("avx2"))) static void pack_full_panel_avx2(const float *source, long k, float *panel) {
    long q = 0;
    for (; q + 8 <= k; q += 8) {
        for (long j = 0; j < NR; j += 8) {
            __m256 r[8], t[8];
            for (int x = 0; x < 8; x++) r[x] = _mm256_loadu_ps(source + (j + x) * k + q);
            for (int x = 0; x < 8; x += 2) {
                t[x] = _mm256_unpacklo_ps(r[x], r[x + 1]);
                t[x + 1] = _mm256_unpackhi_ps(r[x], r[x + 1]);
            }
            for (int x = 0; x < 8; x += 4) {
                r[x] = _mm256_shuffle_ps(t[x], t[x + 2], 0x44);
                r[x + 1] = _mm256_shuffle_ps(t[x], t[x + 2], 0xEE);
                r[x + 2] = _mm256_shuffle_ps(t[x + 1], t[x + 3], 0x44);
                r[x + 3] = _mm256_shuffle_ps(t[x + 1], t[x + 3], 0xEE);
            }
            for (int x = 0; x < 4; x++) {
                t[x] = _mm256_permute2f128_ps(r[x], r[x + 4], 0x20);
                t[x + 4] = _mm256_permute2f128_ps(r[x], r[x + 4], 0x31);
            }
            for (int x = 0; x < 8; x++) _mm256_storeu_ps(panel + (q + x) * NR + j, t[x]); // step q + x of rows j …
        }
    }
    for (; q < k; q++)
        for (long j = 0; j < NR; j++) panel[q * NR + j] = source[j * k + q];
}
#endif

void modelsurgery_pack_panel(const float *source, long rows, long k, float *panel) {
#if defined(__x86_64__)
    if (rows == NR && __builtin_cpu_supports("avx2")) {
        pack_full_panel_avx2(source, k, panel);
        return;
    }
#endif
    for (long q = 0; q < k; q++) {
        float *step = panel + q * NR;
        long j = 0;
        for (; j < rows; j++) step[j] = source[j * k + q];
        for (; j < NR; j++) step[j] = 0;
    }
}

// Every kernel computes C[mr × columns] = A[mr × k] · panel + beta · C, one panel (columns ≤ 32 of its 32) and
// mr rows of A at a time, with the tile's accumulators in registers for the whole of k: each step of k loads
// the panel's 32 weights once and multiplies them by each row's element of A, broadcast. A's element (i, q) is
// a[i · rs + q · ss]: rows where they are (rs = lda, ss = 1) or a copied tile (rs = 1, ss = mr).
typedef void (*tile_kernel)(const float *a, long rs, long ss, const float *panel, long k, float *c, long ldc,
                            long columns, float beta);

// Portable vectors (NEON on arm64, SSE2 on other x86-64), for CPUs without the instruction sets below.
typedef float v16 __attribute__((vector_size(64)));
#define GENERIC_ROWS 4
static inline void generic_tile(int mr, const float *a, long rs, long ss, const float *panel, long k, float *c, long ldc,
                                long columns, float beta) {
    v16 acc[GENERIC_ROWS][2] = {{{0}}};
    for (long q = 0; q < k; q++) {
        v16 b0, b1;
        memcpy(&b0, panel + q * NR, sizeof b0);
        memcpy(&b1, panel + q * NR + 16, sizeof b1);
        for (int i = 0; i < mr; i++) {
            acc[i][0] += a[i * rs + q * ss] * b0;
            acc[i][1] += a[i * rs + q * ss] * b1;
        }
    }
    for (int i = 0; i < mr; i++) {
        float row[NR];
        memcpy(row, acc[i], sizeof row);
        for (long j = 0; j < columns; j++) c[i * ldc + j] = beta == 0 ? row[j] : row[j] + beta * c[i * ldc + j];
    }
}
#define GENERIC(MR) \
    static void generic_##MR(const float *a, long rs, long ss, const float *p, long k, float *c, long ldc, long cols, float beta) { \
        generic_tile(MR, a, rs, ss, p, k, c, ldc, cols, beta); \
    }
GENERIC(1) GENERIC(2) GENERIC(3) GENERIC(4)
static const tile_kernel generic_kernels[GENERIC_ROWS + 1] = {0, generic_1, generic_2, generic_3, generic_4};

#if defined(__x86_64__)
// AVX-512: 12 rows × 32 columns, 24 accumulators of 16 floats (of 32 registers).
#define AVX512 __attribute__((target("avx512f,fma")))
#define AVX512_ROWS 12
#define AVX512_TILE(MR) \
    AVX512 static void avx512_##MR(const float *a, long rs, long ss, const float *p, long k, float *c, long ldc, long cols, \
                                   float beta) { \
        __m512 acc[MR][2]; \
        _Pragma("clang loop unroll(full)") for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps(); \
        for (long q = 0; q < k; q++) { \
            __m512 b0 = _mm512_loadu_ps(p + q * NR), b1 = _mm512_loadu_ps(p + q * NR + 16); \
            _Pragma("clang loop unroll(full)") for (int i = 0; i < MR; i++) { \
                __m512 x = _mm512_set1_ps(a[i * rs + q * ss]); \
                acc[i][0] = _mm512_fmadd_ps(x, b0, acc[i][0]); \
                acc[i][1] = _mm512_fmadd_ps(x, b1, acc[i][1]); \
            } \
        } \
        __mmask16 low = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1); \
        __mmask16 high = cols >= 32 ? 0xFFFF : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1); \
        _Pragma("clang loop unroll(full)") for (int i = 0; i < MR; i++) { \
            float *out = c + i * ldc; \
            if (beta != 0) { \
                __m512 s = _mm512_set1_ps(beta); \
                acc[i][0] = _mm512_fmadd_ps(s, _mm512_maskz_loadu_ps(low, out), acc[i][0]); \
                acc[i][1] = _mm512_fmadd_ps(s, _mm512_maskz_loadu_ps(high, out + 16), acc[i][1]); \
            } \
            _mm512_mask_storeu_ps(out, low, acc[i][0]); \
            _mm512_mask_storeu_ps(out + 16, high, acc[i][1]); \
        } \
    }
AVX512_TILE(1) AVX512_TILE(2) AVX512_TILE(3) AVX512_TILE(4) AVX512_TILE(5) AVX512_TILE(6)
AVX512_TILE(7) AVX512_TILE(8) AVX512_TILE(9) AVX512_TILE(10) AVX512_TILE(11) AVX512_TILE(12)
static const tile_kernel avx512_kernels[AVX512_ROWS + 1] = {
    0, avx512_1, avx512_2, avx512_3, avx512_4, avx512_5, avx512_6, avx512_7, avx512_8, avx512_9, avx512_10,
    avx512_11, avx512_12};

// AVX2 (16 registers of 8 floats): 6 rows × 16 columns, 12 accumulators, each half of the panel in turn.
#define AVX2 __attribute__((target("avx2,fma")))
#define AVX2_ROWS 6
AVX2 static inline void avx2_half(int mr, const float *a, long rs, long ss, const float *p, long k, float *c, long ldc,
                                  long cols, float beta) {
    __m256 acc[AVX2_ROWS][2];
    for (int i = 0; i < mr; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (long q = 0; q < k; q++) {
        __m256 b0 = _mm256_loadu_ps(p + q * NR), b1 = _mm256_loadu_ps(p + q * NR + 8);
        for (int i = 0; i < mr; i++) {
            __m256 x = _mm256_broadcast_ss(a + i * rs + q * ss);
            acc[i][0] = _mm256_fmadd_ps(x, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(x, b1, acc[i][1]);
        }
    }
    for (int i = 0; i < mr; i++) {
        float row[16];
        _mm256_storeu_ps(row, acc[i][0]);
        _mm256_storeu_ps(row + 8, acc[i][1]);
        float *out = c + i * ldc;
        for (long j = 0; j < cols; j++) out[j] = beta == 0 ? row[j] : row[j] + beta * out[j];
    }
}
#define AVX2_TILE(MR) \
    AVX2 static void avx2_##MR(const float *a, long rs, long ss, const float *p, long k, float *c, long ldc, long cols, \
                               float beta) { \
        avx2_half(MR, a, rs, ss, p, k, c, ldc, cols < 16 ? cols : 16, beta); \
        if (cols > 16) avx2_half(MR, a, rs, ss, p + 16, k, c + 16, ldc, cols - 16, beta); \
    }
AVX2_TILE(1) AVX2_TILE(2) AVX2_TILE(3) AVX2_TILE(4) AVX2_TILE(5) AVX2_TILE(6)
static const tile_kernel avx2_kernels[AVX2_ROWS + 1] = {0, avx2_1, avx2_2, avx2_3, avx2_4, avx2_5, avx2_6};
#endif

int modelsurgery_packed_gemm_best_level(void) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f")) return MODELSURGERY_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return MODELSURGERY_AVX2;
#endif
    return MODELSURGERY_GENERIC;
}

void modelsurgery_packed_gemm_using(int level, const float *a, long m, long lda, const float *packed, long k,
                                    long n, long first_panel, long end_panel, float *c, long ldc, float beta) {
    const tile_kernel *kernels = generic_kernels;
    int rows = GENERIC_ROWS;
#if defined(__x86_64__)
    if (level == MODELSURGERY_AVX512) { kernels = avx512_kernels; rows = AVX512_ROWS; }
    if (level == MODELSURGERY_AVX2) { kernels = avx2_kernels; rows = AVX2_ROWS; }
#endif
    // Steps of k go in chunks and rows in blocks: a block's rows of A (about 512 KB) stay in the core's cache
    // while every panel passes them, and each panel's chunk stays in cache while the block's rows pass it.
    // Rows longer than a chunk are copied, a block at a time, into tiles in the order the kernel reads them (a
    // step of every row of the tile after another): a dozen rows a page or more apart cost the kernel a tenth
    // of its speed on 4096-long rows. Shorter rows are read where they are.
    long chunk = k < STEP_CHUNK ? (k > 0 ? k : 1) : STEP_CHUNK;
    long block = (A_BLOCK_BYTES) / (4 * chunk) / rows * rows;
    if (block < rows) block = rows;
    int copy = k > chunk;
    float *tiles = copy ? malloc(sizeof(float) * (size_t)(block * chunk)) : NULL;
    if (copy && !tiles) abort();
    for (long q = 0; q < k || q == 0; q += chunk) {
        long steps = k - q < chunk ? k - q : chunk;
        float scale = q == 0 ? beta : 1; // later chunks add to the first's sums
        for (long first = 0; first < m; first += block) {
            long end = first + block < m ? first + block : m;
            for (long i = first; copy && i < end; i += rows) {
                long mr = end - i < rows ? end - i : rows;
                float *tile = tiles + (i - first) * steps;
                const float *rows_of_a = a + i * lda + q;
                for (long t = 0; t < steps; t++)
                    for (long x = 0; x < mr; x++) tile[t * mr + x] = rows_of_a[x * lda + t];
            }
            for (long p = first_panel; p < end_panel; p++) {
                long columns = n - p * NR < NR ? n - p * NR : NR;
                const float *panel = packed + (p * k + q) * NR;
                float *out = c + (p - first_panel) * NR;
                for (long i = first; i < end; i += rows) {
                    long mr = end - i < rows ? end - i : rows;
                    if (copy) kernels[mr](tiles + (i - first) * steps, 1, mr, panel, steps, out + i * ldc, ldc, columns, scale);
                    else kernels[mr](a + i * lda + q, lda, 1, panel, steps, out + i * ldc, ldc, columns, scale);
                }
            }
        }
        if (k == 0) break;
    }
    free(tiles);
}

void modelsurgery_packed_gemm(const float *a, long m, long lda, const float *packed, long k, long n,
                              long first_panel, long end_panel, float *c, long ldc, float beta) {
    modelsurgery_packed_gemm_using(modelsurgery_packed_gemm_best_level(), a, m, lda, packed, k, n, first_panel, end_panel, c, ldc, beta);
}
