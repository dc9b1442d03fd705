import Foundation
import Graph
import Testing
@testable import Formats
import TestSupport

struct GGUFWriterTests {
    static let singleFiles = Fixtures.expectedFiles.keys.filter { !$0.hasPrefix("split/") }.sorted()

    @Test(arguments: singleFiles)
    func rewritingIsByteIdentical(name: String) throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent(name)
        try GGUF.write(GGUF.readModel(at: Fixtures.url(name)), to: output)
        #expect(try Data(contentsOf: output) == Data(contentsOf: Fixtures.url(name)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == [name])
    }

    @Test func splitOutputJoinsBackToTheSameFile() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = Fixtures.url("tiny-llama.gguf")
        let shards = try GGUF.write(GGUF.readModel(at: source), to: directory.appendingPathComponent("m.gguf"),
                                    maxShardBytes: 100_000)
        #expect(shards.count > 2)
        #expect(shards.first?.lastPathComponent == String(format: "m-00001-of-%05d.gguf", shards.count))
        let shard = try GGUFFile(url: shards[1])
        #expect(shard.metadata.keys == ["split.no", "split.count", "split.tensors.count"])
        #expect(shard.metadata["split.no"] == .uint16(1))

        let joined = directory.appendingPathComponent("joined.gguf")
        try GGUF.write(GGUF.readModel(at: shards[0]), to: joined)
        #expect(try Data(contentsOf: joined) == Data(contentsOf: source))
    }

    @Test func refusesToOverwriteItsInput() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("copy.gguf")
        try FileManager.default.copyItem(at: Fixtures.url("tiny-base.gguf"), to: copy)
        let before = try Data(contentsOf: copy)
        #expect(throws: FormatError.self) { try GGUF.write(GGUF.readModel(at: copy), to: copy) }
        #expect(try Data(contentsOf: copy) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["copy.gguf"])
    }

    @Test func failedWriteLeavesNothingBehind() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try GGUF.readModel(at: Fixtures.url("tiny-base.gguf"))
        let missing = directory.appendingPathComponent("no/such/dir/out.gguf")
        #expect(throws: FormatError.self) { try GGUF.write(model, to: missing) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }
}

/// The real models (fetched by `make models`) rewrite byte for byte; their vocabularies stay encoded.
struct RealModelRewriteTests {
    @Test(arguments: ["SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"])
    func rewritesByteIdentical(name: String) throws {
        let source = try Repository.downloadedModel(name)
        let model = try GGUF.readModel(at: source)
        guard case .encodedArray(let tokens)? = model.metadata["tokenizer.ggml.tokens"] else {
            Issue.record("the vocabulary should stay encoded")
            return
        }
        #expect(tokens.values.count == tokens.count)
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent(name)
        try GGUF.write(model, to: output)
        let (a, b) = (try MappedFile(url: source), try MappedFile(url: output))
        #expect(a.size == b.size && a.bytes.elementsEqual(b.bytes))
    }
}
