#ifndef MODELSURGERY_PACKED_GEMM_H
#define MODELSURGERY_PACKED_GEMM_H

/// Columns per panel of a packed weight matrix.
#define MODELSURGERY_PANEL_WIDTH 32

/// Packs `rows` (at most MODELSURGERY_PANEL_WIDTH) weight rows of k, one after another in `source`, into one
/// panel: k steps of MODELSURGERY_PANEL_WIDTH floats, step q holding element q of each row, zeros for the rows
/// past `rows`. A weight matrix of n rows is ⌈n / 32⌉ such panels, one after another.
void modelsurgery_pack_panel(const float *source, long rows, long k, float *panel);

/// C[m × n] = A[m × k] · Wᵀ + beta · C for the output columns of panels [first_panel, end_panel) of the packed
/// W (n rows of k): with the weights already in the order the kernel reads them, a product packs nothing, where
/// a BLAS sgemm repacks W on every call. `c` points at the first of those columns (column 32 · first_panel of
/// C); beta 0 never reads C. Row strides: lda for A, ldc for C.
void modelsurgery_packed_gemm(const float *a, long m, long lda, const float *packed, long k, long n,
                              long first_panel, long end_panel, float *c, long ldc, float beta);

/// The instruction sets the product has kernels for, best last; `modelsurgery_packed_gemm` takes the best the
/// CPU supports. Tests run each kernel the CPU supports through `modelsurgery_packed_gemm_using`.
enum modelsurgery_kernel_level { MODELSURGERY_GENERIC = 0, MODELSURGERY_AVX2 = 1, MODELSURGERY_AVX512 = 2 };
/// The best level this CPU supports.
int modelsurgery_packed_gemm_best_level(void);
void modelsurgery_packed_gemm_using(int level, const float *a, long m, long lda, const float *packed, long k,
                                    long n, long first_panel, long end_panel, float *c, long ldc, float beta);

#endif
