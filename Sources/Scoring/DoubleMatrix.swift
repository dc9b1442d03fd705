#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// A square matrix of doubles in column-major order (LAPACK's), for the closed-form recovery fits.
struct DoubleMatrix {
    let size: Int
    var values: [Double]

    init(size: Int, values: [Double]? = nil) {
        self.size = size
        self.values = values ?? [Double](repeating: 0, count: size * size)
    }

    static func identity(_ size: Int, scale: Double = 1) -> DoubleMatrix {
        var matrix = DoubleMatrix(size: size)
        for i in 0 ..< size { matrix.values[i * size + i] = scale }
        return matrix
    }

    subscript(row: Int, column: Int) -> Double {
        get { values[column * size + row] }
        set { values[column * size + row] = newValue }
    }

    var trace: Double { (0 ..< size).reduce(0) { $0 + self[$1, $1] } }

    /// self += Aᵀ·B for `rows` rows of A and B stored row-major, `size` wide (A = B: only the upper triangle).
    mutating func addTransposedProduct(_ a: [Double], _ b: [Double], rows: Int, symmetric: Bool) {
        let n = Int32(size), k = Int32(rows)
        if symmetric {
            cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, n, k, 1, a, n, 1, &values, n)
        } else {
            cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, n, n, k, 1, a, n, b, n, 1, &values, n)
        }
    }

    /// The full matrix from its upper triangle.
    func symmetrized() -> DoubleMatrix {
        var full = self
        for column in 0 ..< size { for row in column + 1 ..< size { full[row, column] = self[column, row] } }
        return full
    }

    static func * (a: DoubleMatrix, b: DoubleMatrix) -> DoubleMatrix { multiply(a, b, transposingFirst: false) }

    static func multiply(_ a: DoubleMatrix, _ b: DoubleMatrix, transposingFirst: Bool) -> DoubleMatrix {
        var c = DoubleMatrix(size: a.size)
        let n = Int32(a.size)
        cblas_dgemm(CblasColMajor, transposingFirst ? CblasTrans : CblasNoTrans, CblasNoTrans, n, n, n, 1,
                    a.values, n, b.values, n, 0, &c.values, n)
        return c
    }

    /// Σ self ∘ other.
    func dot(_ other: DoubleMatrix) -> Double { zip(values, other.values).reduce(0) { $0 + $1.0 * $1.1 } }

    /// X with (self + ridge·I)·X = rhs, self symmetric positive semi-definite (upper triangle read); nil when
    /// not positive definite even with the ridge.
    func solving(_ rhs: DoubleMatrix, ridge: Double) -> DoubleMatrix? {
        var a = values
        for i in 0 ..< size { a[i * size + i] += ridge }
        var b = rhs.values
        var n = Int32(size), nrhs = Int32(size), info: Int32 = 0
        var lda = n, ldb = n
        dposv_("U", &n, &nrhs, &a, &lda, &b, &ldb, &info, 1)
        return info == 0 ? DoubleMatrix(size: size, values: b) : nil
    }

    /// The eigenvectors of the `count` largest eigenvalues of this symmetric matrix, as columns (size × count,
    /// column-major).
    func topEigenvectors(_ count: Int) -> [Double] {
        var a = symmetrized().values
        var n = Int32(size), lda = n, info: Int32 = 0
        var eigenvalues = [Double](repeating: 0, count: size)
        var workSize = 0.0, iworkSize: Int32 = 0, query: Int32 = -1
        dsyevd_("V", "U", &n, &a, &lda, &eigenvalues, &workSize, &query, &iworkSize, &query, &info, 1, 1)
        var lwork = Int32(workSize), liwork = iworkSize
        var work = [Double](repeating: 0, count: Int(lwork)), iwork = [Int32](repeating: 0, count: Int(liwork))
        dsyevd_("V", "U", &n, &a, &lda, &eigenvalues, &work, &lwork, &iwork, &liwork, &info, 1, 1)
        // Ascending eigenvalues: the last columns belong to the largest.
        return Array(a[(size - count) * size ..< size * size])
    }
}
