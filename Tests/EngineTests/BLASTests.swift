import Testing
@testable import Engine

struct BLASTests {
    @Test func matchesANaiveProduct() {
        let (m, n, k) = (3, 5, 7)
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
}
