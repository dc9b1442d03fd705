#include "small_gemm.h"
#include <string.h>

typedef float v16 __attribute__((vector_size(64)));

#if defined(__x86_64__) && defined(__linux__)
#define WIDEST __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define WIDEST
#endif

#define LOAD(p) ({ v16 v_; memcpy(&v_, (p), sizeof v_); v_; })
#define SUM(v) ({ v16 w_ = (v); float s_ = 0; for (int k_ = 0; k_ < 16; k_++) s_ += w_[k_]; s_; })

// One output: the dot product of a row of A and a row of W, 16 lanes at a time, then the tail.
#define DOT(x, y, k) ({ \
    v16 s_ = {0}; long q_ = 0; \
    for (; q_ + 16 <= (k); q_ += 16) s_ += LOAD((x) + q_) * LOAD((y) + q_); \
    float t_ = SUM(s_); \
    for (; q_ < (k); q_++) t_ += (x)[q_] * (y)[q_]; \
    t_; \
})

WIDEST void modelsurgery_rows_times_panel(const float *a, long m, long lda, const float *w, long n, long k,
                                         float *c, long ldc, float beta) {
    long k16 = k / 16 * 16;
    long i = 0;
    // 4 rows of A against 4 rows of W: 16 accumulators, 8 loads per 16 multiply-adds.
    for (; i + 4 <= m; i += 4) {
        long j = 0;
        for (; j + 4 <= n; j += 4) {
            v16 acc[4][4] = {{{0}}};
            for (long q = 0; q < k16; q += 16) {
                v16 wv[4], av[4];
                for (int r = 0; r < 4; r++) wv[r] = LOAD(w + (j + r) * k + q);
                for (int r = 0; r < 4; r++) av[r] = LOAD(a + (i + r) * lda + q);
                for (int x = 0; x < 4; x++)
                    for (int y = 0; y < 4; y++) acc[x][y] += av[x] * wv[y];
            }
            for (int x = 0; x < 4; x++) {
                for (int y = 0; y < 4; y++) {
                    float sum = SUM(acc[x][y]);
                    for (long q = k16; q < k; q++) sum += a[(i + x) * lda + q] * w[(j + y) * k + q];
                    float *out = c + (i + x) * ldc + j + y;
                    *out = beta == 0 ? sum : beta * *out + sum;
                }
            }
        }
        for (; j < n; j++) {
            for (int x = 0; x < 4; x++) {
                float sum = DOT(a + (i + x) * lda, w + j * k, k);
                float *out = c + (i + x) * ldc + j;
                *out = beta == 0 ? sum : beta * *out + sum;
            }
        }
    }
    for (; i < m; i++) {
        for (long j = 0; j < n; j++) {
            float sum = DOT(a + i * lda, w + j * k, k);
            float *out = c + i * ldc + j;
            *out = beta == 0 ? sum : beta * *out + sum;
        }
    }
}
