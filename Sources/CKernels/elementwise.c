#include "elementwise.h"
#include <math.h>
#include <string.h>

typedef float v16 __attribute__((vector_size(64)));
typedef int i16 __attribute__((vector_size(64)));

#if defined(__x86_64__) && defined(__linux__)
#define WIDEST __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define WIDEST
#endif

// Helpers are macros, not functions: a function passing 64-byte vectors by value would need one ABI per
// clone (clang refuses it), and macros inline into each clone's own instruction set.
#define SPLAT(x) ((v16){0} + (float)(x))
#define LOAD(p) ({ v16 v_; memcpy(&v_, (p), sizeof v_); v_; })
#define STORE(p, v) do { v16 s_ = (v); memcpy((p), &s_, sizeof s_); } while (0)
#define SELECT(mask, a, b) ((v16)(((i16)(a) & (mask)) | ((i16)(b) & ~(mask))))

// e^x (Cephes expf): x = n·ln 2 + r, |r| ≤ ln 2 / 2, e^r by a polynomial, 2^n written into the exponent bits.
// Adding 1.5·2^23 rounds x·log2(e) to the integer n, which then sits in the low mantissa bits of t.
#define VEXP(input) ({ \
    v16 x_ = (input); \
    const v16 low_ = SPLAT(-87.33654f), high_ = SPLAT(88.37626f); \
    x_ = SELECT(x_ < low_, low_, x_); \
    x_ = SELECT(x_ > high_, high_, x_); \
    const v16 magic_ = SPLAT(12582912.0f); \
    v16 t_ = x_ * 1.44269504f + magic_; \
    v16 n_ = t_ - magic_; \
    v16 r_ = x_ - n_ * 0.693359375f + n_ * 2.1219444e-4f; \
    v16 p_ = SPLAT(1.98756915e-4f); \
    p_ = p_ * r_ + 1.39819995e-3f; \
    p_ = p_ * r_ + 8.3334519e-3f; \
    p_ = p_ * r_ + 4.16657959e-2f; \
    p_ = p_ * r_ + 1.66666655e-1f; \
    p_ = p_ * r_ + 5.00000012e-1f; \
    p_ = p_ * (r_ * r_) + r_ + 1.0f; \
    p_ * (v16)(((i16)t_ + 127) << 23); \
})

// The n < 16 tail elements, padded with `fill`.
#define LOAD_TAIL(p, n, fill) ({ v16 v_ = SPLAT(fill); for (long k_ = 0; k_ < (n); k_++) v_[k_] = (p)[k_]; v_; })

#define SUM(v) ({ v16 w_ = (v); float s_ = 0; for (int k_ = 0; k_ < 16; k_++) s_ += w_[k_]; s_; })

// SiLU, or GELU's tanh approximation with tanh(u) = 1 − 2 / (e^2u + 1).
#define ACTIVATE(input, gelu) ({ \
    v16 g_ = (input), a_; \
    if (gelu) { \
        v16 u_ = 0.79788456f * g_ * (1.0f + 0.044715f * g_ * g_); \
        a_ = 0.5f * g_ * (2.0f - 2.0f / (VEXP(2.0f * u_) + 1.0f)); \
    } else { \
        a_ = g_ / (1.0f + VEXP(-g_)); \
    } \
    a_; \
})

WIDEST void modelsurgery_gated_activation(float *gate, const float *up, long count, int gelu) {
    long i = 0;
    for (; i + 16 <= count; i += 16) STORE(gate + i, ACTIVATE(LOAD(gate + i), gelu) * LOAD(up + i));
    if (i < count) {
        v16 a = ACTIVATE(LOAD_TAIL(gate + i, count - i, 0), gelu) * LOAD_TAIL(up + i, count - i, 0);
        for (long j = 0; j < count - i; j++) gate[i + j] = a[j];
    }
}

WIDEST float modelsurgery_sum_of_exponentials(const float *x, long count, float shift) {
    v16 sums = SPLAT(0);
    long i = 0;
    for (; i + 16 <= count; i += 16) sums += VEXP(LOAD(x + i) - shift);
    float s = SUM(sums);
    if (i < count) {
        v16 e = VEXP(LOAD_TAIL(x + i, count - i, shift) - shift);
        for (long j = 0; j < count - i; j++) s += e[j];
    }
    return s;
}

WIDEST float modelsurgery_exponentials(float *x, long count, float shift) {
    v16 sums = SPLAT(0);
    long i = 0;
    for (; i + 16 <= count; i += 16) {
        v16 e = VEXP(LOAD(x + i) - shift);
        STORE(x + i, e);
        sums += e;
    }
    float s = SUM(sums);
    if (i < count) {
        v16 e = VEXP(LOAD_TAIL(x + i, count - i, shift) - shift);
        for (long j = 0; j < count - i; j++) {
            x[i + j] = e[j];
            s += e[j];
        }
    }
    return s;
}
