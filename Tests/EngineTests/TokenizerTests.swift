import Foundation
import Formats
import Graph
import Testing
@testable import Engine
import TestSupport

/// The tokenizers against llama.cpp's own ids (TestModels/tokenizer-golden.json, made by
/// TestModels/generate_tokenizer_golden.py with llama-cpp-python).
struct TokenizerTests {
    struct Golden: Decodable {
        struct Case: Decodable {
            let model: String
            let pre: String?
            let ids: [[Int]]
        }

        let english: [String]
        let strings: [String]
        let cases: [String: Case]
    }

    static let golden: Golden = {
        let data = try! Data(contentsOf: Repository.testModel("tokenizer-golden.json"))
        return try! JSONDecoder().decode(Golden.self, from: data)
    }()

    static let caseNames = ["smollm2", "gemma3", "smollm2-pre-llama-bpe", "smollm2-pre-qwen2", "smollm2-pre-default",
                            "smollm2-pre-gpt-2"]

    /// Each model file's metadata, read once.
    static let metadata: [String: Result<Metadata, any Error>] = {
        var result: [String: Result<Metadata, any Error>] = [:]
        for path in Set(golden.cases.values.map(\.model)) {
            result[path] = Result {
                try GGUF.readModel(at: Repository.existing(Repository.url(path), fetchedBy: "make models")).metadata
            }
        }
        return result
    }()

    /// The metadata of a golden case: the model's, with tokenizer.ggml.pre replaced for the variants.
    static func metadata(forCase name: String) throws -> Metadata {
        let entry = try #require(golden.cases[name])
        var metadata = try #require(Self.metadata[entry.model]).get()
        if let pre = entry.pre { metadata["tokenizer.ggml.pre"] = .string(MetadataString(pre)) }
        return metadata
    }

    @Test func goldenCoversEveryCase() {
        #expect(Set(Self.golden.cases.keys) == Set(Self.caseNames))
        for (name, entry) in Self.golden.cases { #expect(entry.ids.count == Self.golden.strings.count, "\(name)") }
    }

    @Test(arguments: caseNames)
    func idsMatchLlamaCpp(case name: String) throws {
        let tokenizer = try Tokenizers.make(from: Self.metadata(forCase: name))
        let expected = try #require(Self.golden.cases[name]).ids
        var mismatches: [String] = []
        for (text, ids) in zip(Self.golden.strings, expected) {
            let found = tokenizer.encode(text, addSpecial: true)
            if found != ids { mismatches.append("\(text.debugDescription): expected \(ids), got \(found)") }
        }
        let report = mismatches.joined(separator: "\n")
        #expect(mismatches.isEmpty, "\(name): \(mismatches.count) of \(expected.count) differ\n\(report)")
    }

    @Test(arguments: caseNames)
    func englishRoundTrips(case name: String) throws {
        let tokenizer = try Tokenizers.make(from: Self.metadata(forCase: name))
        for text in Self.golden.english {
            #expect(tokenizer.decode(tokenizer.encode(text, addSpecial: false)) == text, "\(name)")
            #expect(tokenizer.decode(tokenizer.encode(text, addSpecial: true)) == text, "\(name), with BOS")
        }
    }

    @Test func specialIDsAndSizes() throws {
        let smollm = try Tokenizers.make(from: Self.metadata(forCase: "smollm2"))
        #expect(smollm.vocabularySize == 49152)
        #expect(smollm.bosID == 1)
        #expect(smollm.eosID == 2)
        let gemma = try Tokenizers.make(from: Self.metadata(forCase: "gemma3"))
        #expect(gemma.vocabularySize == 262_144)
        #expect(gemma.bosID == 2)
        #expect(gemma.eosID == 1)
        #expect(gemma.encode("Hello", addSpecial: true).first == 2)
        #expect(gemma.encode("Hello", addSpecial: false).first != 2)
    }

    @Test func unknownModelIsRefused() throws {
        var metadata = try Self.metadata(forCase: "smollm2")
        metadata["tokenizer.ggml.model"] = .string("t5")
        #expect(throws: EngineError.unsupportedTokenizer(model: "t5")) { try Tokenizers.make(from: metadata) }
    }

    @Test func unknownPreTokenizerIsRefused() throws {
        // llama.cpp refuses to load a gpt2 vocabulary whose tokenizer.ggml.pre it does not know.
        var metadata = try Self.metadata(forCase: "smollm2")
        metadata["tokenizer.ggml.pre"] = .string("no-such-pre")
        #expect(throws: EngineError.self) { try Tokenizers.make(from: metadata) }
    }

    @Test func missingPreTokenizerIsLlamaCppsDefault() throws {
        var metadata = try Self.metadata(forCase: "smollm2")
        metadata["tokenizer.ggml.pre"] = nil
        let tokenizer = try Tokenizers.make(from: metadata)
        let expected = try #require(Self.golden.cases["smollm2-pre-default"]).ids
        for (text, ids) in zip(Self.golden.strings, expected) { #expect(tokenizer.encode(text, addSpecial: true) == ids) }
    }

    /// Synthetic vocabulary without the keys llama.cpp has defaults for.
    @Test func sentencePieceDefaults() throws {
        let tokens = ["<unk>", "<s>", "</s>", "▁", "a", "b", "▁a", "ab", "▁ab"] + (0 ..< 256).map { String(format: "<0x%02X>", $0) }
        let types = [2, 3, 3] + Array(repeating: 1, count: 6) + Array(repeating: 6, count: 256)
        let metadata = Metadata([
            ("tokenizer.ggml.model", .string("llama")),
            ("tokenizer.ggml.tokens", .array(.string, tokens.map { .string(MetadataString($0)) })),
            ("tokenizer.ggml.scores", .array(.float32, tokens.indices.map { .float32(-Float($0)) })),
            ("tokenizer.ggml.token_type", .array(.int32, types.map { .int32(Int32($0)) })),
        ])
        let tokenizer = try Tokenizers.make(from: metadata)
        #expect(tokenizer.bosID == 1)
        #expect(tokenizer.eosID == 2)
        // add_bos and add_space_prefix default to true; "c" has no token and falls back to its byte.
        #expect(tokenizer.encode("ab c", addSpecial: true) == [1, 8, 3, 9 + 0x63])
        #expect(tokenizer.decode([1, 8, 3, 9 + 0x63]) == " ab c")
        #expect(tokenizer.decode([8, 3, 9 + 0x63]) == "ab c")
    }

    @Test func heldOutTextRoundTrips() throws {
        let text = try String(contentsOf: Repository.url("data/held-out.txt"), encoding: .utf8)
        for name in ["smollm2", "gemma3"] {
            let tokenizer = try Tokenizers.make(from: Self.metadata(forCase: name))
            let ids = tokenizer.encode(text, addSpecial: false)
            #expect(ids.count > text.utf8.count / 8, "\(name)")
            #expect(tokenizer.decode(ids) == text, "\(name)")
        }
    }
}
