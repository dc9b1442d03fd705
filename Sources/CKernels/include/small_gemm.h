#ifndef MODELSURGERY_SMALL_GEMM_H
#define MODELSURGERY_SMALL_GEMM_H

/// C[m×n] = A[m×k] · Wᵀ (+ beta · C) for few rows of A (generation: one token per sequence) against a panel of
/// n weight rows of k, both in cache: 4×4 blocks of dot products in the widest vectors the CPU has, without the
/// packing a general GEMM does, which costs as much as the arithmetic when A has so few rows.
/// Row strides: lda for A, k for W, ldc for C.
void modelsurgery_rows_times_panel(const float *a, long m, long lda, const float *w, long n, long k,
                                   float *c, long ldc, float beta);

#endif
