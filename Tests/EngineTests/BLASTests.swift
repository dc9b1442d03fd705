import Testing
@testable import Engine

struct BLASTests {
    /// m = 1 runs as a matrix-vector product (sgemv), larger m as sgemm.
    @Test(arguments: [1, 3])
    func matchesANaiveProduct(m: Int) {
        let (n, k) = (5, 7)
        let a = (0 ..< m * k).map { Float($0 % 5) - 2 }
        let b = (0 ..< n * k).map { Float($0 % 3) * 0.5 }
        var c = [Float](repeating: 0, count: m * n)
        BLAS.multiplyTransposed(a, b, into: &c, m: m, n: n, k: k)
        for i in 0 ..< m {
            for j in 0 ..< n {
                let expected = (0 ..< k).reduce(Float(0)) { $0 + a[i * k + $1] * b[j * k + $1] }
                #expect(c[i * n + j] == expected)
            }
        }
    }

    /// C = A · B (no transpose), as attention weighs cached values; m = 1 is sgemv.
    @Test(arguments: [1, 4])
    func multiplyMatchesANaiveProduct(m: Int) {
        let (n, k) = (6, 9)
        let a = (0 ..< m * k).map { Float($0 % 4) - 1.5 }
        let b = (0 ..< k * n).map { Float($0 % 7) * 0.25 }
        var c = [Float](repeating: 0, count: m * n)
        BLAS.multiply(a, b, into: &c, m: m, n: n, k: k)
        for i in 0 ..< m {
            for j in 0 ..< n {
                let expected = (0 ..< k).reduce(Float(0)) { $0 + a[i * k + $1] * b[$1 * n + j] }
                #expect(abs(c[i * n + j] - expected) <= 1e-5 * max(1, abs(expected)))
            }
        }
    }
}
