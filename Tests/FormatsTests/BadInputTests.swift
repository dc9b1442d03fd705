import Foundation
import Graph
import Testing
@testable import Formats

/// Corrupt files (made by the generator from a valid fixture) each fail with the error that names the problem.
struct BadInputTests {
    static let cases: [(String, @Sendable (FormatError) -> Bool)] = [
        ("bad-magic.gguf", { if case .notGGUF = $0 { true } else { false } }),
        ("not-gguf.txt", { if case .notGGUF = $0 { true } else { false } }),
        ("version-1.gguf", { $0 == .unsupportedVersion(file: path("version-1.gguf"), version: 1) }),
        ("version-99.gguf", { $0 == .unsupportedVersion(file: path("version-99.gguf"), version: 99) }),
        ("big-endian.gguf", { $0 == .bigEndian(file: path("big-endian.gguf")) }),
        ("truncated-header.gguf", { if case .implausibleCount = $0 { true } else if case .truncated = $0 { true } else { false } }),
        ("truncated-data.gguf", { if case .tensorOutsideFile = $0 { true } else { false } }),
        ("offset-past-end.gguf", { if case .tensorOutsideFile = $0 { true } else { false } }),
        ("misaligned-offset.gguf", { if case .misalignedTensor = $0 { true } else { false } }),
        ("dims-overflow.gguf", { if case .badDimension = $0 { true } else { false } }),
        ("absurd-tensor-count.gguf", { if case .implausibleCount(_, let what, _, _) = $0 { what == "tensor count" } else { false } }),
        ("absurd-kv-count.gguf", { if case .implausibleCount(_, let what, _, _) = $0 { what == "metadata key count" } else { false } }),
        ("string-past-end.gguf", { if case .truncated = $0 { true } else { false } }),
        ("duplicate-tensor-name.gguf", { if case .duplicateTensor = $0 { true } else { false } }),
        ("unknown-type.gguf", { if case .unknownTensorType(_, _, 200) = $0 { true } else { false } }),
        // Well-formed files whose values contradict the tensors (Model.validate()).
        ("block-count-1000.gguf", malformed("llama.block_count = 1000 but the tensors describe 2 blocks")),
        ("block-count-2e31.gguf", malformed("llama.block_count = 2147483648")),
        ("embedding-length-zero.gguf", malformed("llama.embedding_length = 0")),
        ("embedding-length-huge.gguf", malformed("llama.embedding_length = 4294967295")),
        ("head-count-zero.gguf", malformed("llama.attention.head_count = 0")),
        ("head-count-huge.gguf", malformed("llama.attention.head_count = 2147483648")),
        ("head-count-3.gguf", malformed("head size 10")),
        ("kv-head-count-zero.gguf", malformed("llama.attention.head_count_kv = 0")),
        ("rope-dims-40.gguf", malformed("llama.rope.dimension_count = 40 must be even and at most the head size 16")),
        ("feed-forward-33.gguf", malformed("llama.feed_forward_length = 33")),
        ("vocab-size-17.gguf", malformed("llama.vocab_size = 17 but token_embd.weight has 16 rows")),
    ]

    static func malformed(_ fragment: String) -> @Sendable (FormatError) -> Bool {
        { if case .malformedModel(_, let problem) = $0 { problem.contains(fragment) } else { false } }
    }

    static func path(_ name: String) -> String { Fixtures.url("bad/\(name)").path }

    @Test(arguments: cases.map(\.0))
    func failsWithTheRightError(name: String) throws {
        let check = Self.cases.first { $0.0 == name }!.1
        do {
            _ = try GGUF.readModel(at: Fixtures.url("bad/\(name)"))
            Issue.record("\(name) was accepted")
        } catch let error as FormatError {
            #expect(check(error), "\(name): \(error)")
            #expect(error.description.hasPrefix(Self.path(name)))
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func everyCorruptFixtureIsCovered() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Fixtures.url("bad").path)
        #expect(Set(files) == Set(Self.cases.map(\.0)))
    }
}
