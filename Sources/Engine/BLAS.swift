#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// Attention's small products through the platform BLAS (OpenBLAS on Linux, Accelerate on macOS). Row-major
/// throughout. Weight products run in the engine's own kernel (`PackedMatrix`).
///
/// OpenBLAS runs single-threaded: attention calls these from `Kernels.parallel` workers, one sequence and head
/// each, and letting OpenBLAS thread inside those workers oversubscribes the cores (four times slower).
enum BLAS {
    static let singleThreaded: Void = {
        #if !canImport(Accelerate)
        openblas_set_num_threads(1)
        #endif
    }()

    /// C[m×n] = alpha · A[m×k] · Bᵀ, where B is [n×k]: queries against the keys they may see.
    static func multiplyTransposed(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
                                   m: Int, n: Int, k: Int, lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil,
                                   alpha: Float = 1) {
        _ = singleThreaded
        let (lda, ldb, ldc) = (lda ?? k, ldb ?? k, ldc ?? n)
        // One row (a query against a sequence's cached keys in generation) is a matrix-vector product: sgemv
        // reads B once, where sgemm would first pack it.
        if m == 1 {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b, Int32(ldb), a, 1, 0, c, 1)
            return
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), 0, c, Int32(ldc))
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
