import Foundation
import Graph
import Testing
@testable import Formats

/// Metadata values that contradict a fixture's tensors (or are out of range) are refused by `Model.validate()`
/// with an error naming the key and value; the fixtures themselves pass.
struct ModelValidationTests {
    /// tiny-llama.gguf: 4 blocks, embedding_length 256, 4 heads of 16 (key_length), 2 KV heads, FFN 64, 64 tokens.
    static let cases: [(key: String, value: MetadataValue, fragment: String)] = [
        ("llama.block_count", .uint32(1000), "llama.block_count = 1000 but the tensors describe 4 blocks"),
        ("llama.block_count", .uint32(3), "llama.block_count = 3"),
        ("llama.embedding_length", .uint32(0), "llama.embedding_length = 0 must be an integer from 1"),
        ("llama.embedding_length", .uint64(1 << 40), "llama.embedding_length = 1099511627776"),
        ("llama.embedding_length", .uint32(128), "token_embd.weight"),
        ("llama.attention.head_count", .uint32(0), "llama.attention.head_count = 0 in block 0"),
        ("llama.attention.head_count", .uint32(3), "llama.attention.head_count = 3"),
        ("llama.attention.head_count", .uint32(1 << 31), "llama.attention.head_count = 2147483648 in block 0"),
        ("llama.attention.head_count", .array(.uint32, [.uint32(4), .uint32(4)]), "has 2 entries but the model has 4 blocks"),
        ("llama.attention.head_count_kv", .uint32(0), "llama.attention.head_count_kv = 0 in block 0"),
        ("llama.attention.head_count_kv", .uint32(3), "llama.attention.head_count_kv = 3 does not divide"),
        ("llama.attention.head_count_kv", .uint32(4), "blk.0.attn_k.weight"),
        ("llama.attention.key_length", .uint32(0), "llama.attention.key_length = 0"),
        ("llama.attention.key_length", .uint32(32), "blk.0.attn_q.weight"),
        ("llama.rope.dimension_count", .uint32(18), "llama.rope.dimension_count = 18 must be even and at most the head size 16"),
        ("llama.rope.dimension_count", .uint32(31), "llama.rope.dimension_count = 31"),
        ("llama.feed_forward_length", .uint32(65), "blk.0.ffn_gate.weight"),
        ("llama.feed_forward_length", .int32(-1), "llama.feed_forward_length = -1 in block 0"),
        ("llama.feed_forward_length", .uint32(0), "llama.feed_forward_length = 0 in block 0, which has feed-forward tensors"),
        ("llama.vocab_size", .uint32(65), "llama.vocab_size = 65 but token_embd.weight has 64 rows"),
        ("llama.context_length", .int64(-5), "llama.context_length = -5"),
        ("llama.rope.freq_base", .float32(.nan), "llama.rope.freq_base = nan must be a positive finite number"),
        ("llama.attention.layer_norm_rms_epsilon", .float32(-1), "llama.attention.layer_norm_rms_epsilon = -1.0"),
        ("llama.embedding_length", .string("\u{1b}[31m"), "llama.embedding_length = a string"),
        ("tokenizer.ggml.tokens", .array(.string, [.string("a")]), "tokenizer.ggml.tokens has 1 entries but token_embd.weight has 64 rows"),
    ]

    @Test(arguments: cases.indices)
    func refusesAContradiction(index: Int) throws {
        let (key, value, fragment) = Self.cases[index]
        var model = try GGUF.readModel(at: Fixtures.url("tiny-llama.gguf"))
        model.metadata[key] = value
        do {
            try model.validate()
            Issue.record("\(key) = \(value) was accepted")
        } catch let error as InconsistentModel {
            #expect(error.description.contains(fragment), "\(error)")
            #expect(!error.description.contains("\n") && !error.description.contains("\u{1b}"))
        }
    }

    @Test func everyFixturePasses() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Fixtures.url("").path).filter { $0.hasSuffix(".gguf") }
        #expect(files.count >= 8)
        for name in files {
            try GGUF.readModel(at: Fixtures.url(name)).validate()
        }
        try HuggingFace.readModel(at: Fixtures.url("hf/tiny-llama-hf")).validate()
        try HuggingFace.readModel(at: Fixtures.url("hf/tiny-gemma3-hf")).validate()
    }

    /// The reader reports the problem against the file, in one line.
    @Test func readerNamesTheFile() throws {
        let folder = try Fixtures.temporaryDirectory()
        let config = Fixtures.url("hf/tiny-llama-hf/config.json")
        for name in try FileManager.default.contentsOfDirectory(atPath: config.deletingLastPathComponent().path) {
            try FileManager.default.copyItem(at: config.deletingLastPathComponent().appendingPathComponent(name),
                                             to: folder.appendingPathComponent(name))
        }
        let text = try String(contentsOf: config, encoding: .utf8)
            .replacingOccurrences(of: "\"num_hidden_layers\": 4", with: "\"num_hidden_layers\": 1000")
        #expect(text.contains("1000"))
        try text.write(to: folder.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        #expect(throws: FormatError.malformedModel(file: folder.appendingPathComponent("config.json").path,
                                                  problem: "llama.block_count = 1000 but the tensors describe 4 blocks")) {
            try HuggingFace.readModel(at: folder)
        }
    }
}
