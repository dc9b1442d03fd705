#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// Matrix products through the platform BLAS (OpenBLAS on Linux, Accelerate on macOS). Row-major throughout.
///
/// OpenBLAS runs single-threaded and the engine spreads work over the cores itself: large products are split
/// by rows here, small ones (one attention head) run side by side from `Kernels.parallel`. Letting OpenBLAS
/// thread inside those workers oversubscribes the cores and was four times slower.
enum BLAS {
    static let singleThreaded: Void = {
        #if !canImport(Accelerate)
        openblas_set_num_threads(1)
        #endif
    }()

    /// C[m×n] = A[m×k] · Bᵀ, where B is [n×k]: the layout of ggml weights, one output row per weight row.
    /// Large products are split by rows over the cores unless `splitting` is false (callers already in a worker).
    /// With `alpha` and `beta`, C = alpha · A · Bᵀ + beta · C: beta 1 adds the product to C (a residual) in the
    /// same pass instead of writing it to a buffer of its own and adding that after.
    static func multiplyTransposed(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
                                   m: Int, n: Int, k: Int, lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil,
                                   alpha: Float = 1, beta: Float = 0, splitting: Bool = true) {
        _ = singleThreaded
        let (lda, ldb, ldc) = (lda ?? k, ldb ?? k, ldc ?? n)
        func rows(_ range: Range<Int>) {
            // One row (a query against a sequence's cached keys in generation) is a matrix-vector product:
            // sgemv reads B once, where sgemm would first pack it.
            if range.count == 1 {
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b, Int32(ldb),
                            a + range.lowerBound * lda, 1, beta, c + range.lowerBound * ldc, 1)
                return
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(range.count), Int32(n), Int32(k),
                        alpha, a + range.lowerBound * lda, Int32(lda), b, Int32(ldb), beta, c + range.lowerBound * ldc,
                        Int32(ldc))
        }
        // Few rows (generation: one token of each sequence) are split by columns: each worker packs only its
        // share of B, where a split by rows would have every worker pack all of it.
        func columns(_ range: Range<Int>) {
            if m == 1 {
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(range.count), Int32(k), alpha, b + range.lowerBound * ldb,
                            Int32(ldb), a, 1, beta, c + range.lowerBound, 1)
                return
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(range.count), Int32(k),
                        alpha, a, Int32(lda), b + range.lowerBound * ldb, Int32(ldb), beta, c + range.lowerBound,
                        Int32(ldc))
        }
        if !splitting || m * n * k < 1 << 22 {
            rows(0 ..< m)
        } else if m < 64 {
            Kernels.parallel(n, minimumChunk: 64, columns)
        } else {
            Kernels.parallel(m, minimumChunk: 4, rows)
        }
    }

    /// C[m×n] = A[m×k] · B[k×n].
    static func multiply(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
                         m: Int, n: Int, k: Int, lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil) {
        if m == 1 { // c = Bᵀ · a: attention's weighted sum of cached values for one query
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), 1, b, Int32(ldb ?? n), a, 1, 0, c, 1)
            return
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    1, a, Int32(lda ?? k), b, Int32(ldb ?? n), 0, c, Int32(ldc ?? n))
    }
}
