import Foundation
import Graph
import Testing
@testable import Formats

/// Both directions of the tokenizer conversion on small inline inputs; the real models are checked against
/// llama.cpp and Hugging Face's tokenizers library in ScoringTests/HuggingFaceTokenizerTests.swift.
struct HuggingFaceTokenizerUnitTests {
    static func json(_ text: String) throws -> JSONValue { try JSONValue.parse(Array(text.utf8)) }

    static func strings(_ value: MetadataValue?) -> [String]? { value?.array?.map { $0.string ?? "?" } }
    static func ints(_ value: MetadataValue?) -> [Int]? { value?.array?.map { $0.int ?? -1 } }

    // MARK: tokenizer.json → GGUF keys

    static let byteLevelJSON = """
        {"added_tokens": [
           {"id": 4, "content": "<|endoftext|>", "special": true},
           {"id": 5, "content": "<tool>", "special": false},
           {"id": 6, "content": "<|im_start|>", "special": false}],
         "normalizer": null,
         "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
           {"type": "Digits", "individual_digits": true},
           {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}]},
         "post_processor": {"type": "TemplateProcessing",
           "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
           "pair": [], "special_tokens": {}},
         "decoder": {"type": "ByteLevel"},
         "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3}, "merges": ["a b", ["Ġ", "a b"]]}}
        """

    @Test func byteLevelBecomesGPT2Keys() throws {
        let config = try Self.json("""
            {"bos_token": "<|endoftext|>", "eos_token": {"content": "<|im_start|>"}, "add_eos_token": false,
             "chat_template": "{{ messages }}"}
            """)
        let keys = try HuggingFaceTokenizer.ggufMetadata(
            tokenizerJSON: Self.json(Self.byteLevelJSON), tokenizerConfig: config,
            modelConfig: Self.json(#"{"vocab_size": 8, "pad_token_id": 3}"#), file: "folder")
        #expect(keys.map(\.key) == [
            "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
            "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.padding_token_id", "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token",
            "tokenizer.chat_template",
        ])
        let metadata = Metadata(keys)
        #expect(metadata["tokenizer.ggml.model"] == .string("gpt2"))
        #expect(metadata["tokenizer.ggml.pre"] == .string("smollm"))
        #expect(Self.strings(metadata["tokenizer.ggml.tokens"]) == ["a", "b", "ab", "Ġ", "<|endoftext|>", "<tool>", "<|im_start|>", "[PAD7]"])
        #expect(Self.ints(metadata["tokenizer.ggml.token_type"]) == [1, 1, 1, 1, 3, 4, 3, 5])
        #expect(Self.strings(metadata["tokenizer.ggml.merges"]) == ["a b", "Ġ aĠb"])
        #expect(metadata["tokenizer.ggml.bos_token_id"] == .uint32(4))
        #expect(metadata["tokenizer.ggml.eos_token_id"] == .uint32(6))
        #expect(metadata["tokenizer.ggml.padding_token_id"] == .uint32(3))
        #expect(metadata["tokenizer.ggml.add_bos_token"] == .bool(true))
        #expect(metadata["tokenizer.ggml.add_eos_token"] == .bool(false))
        #expect(metadata["tokenizer.chat_template"] == .string("{{ messages }}"))
    }

    @Test func chatTemplateFromJinjaWhenConfigHasNone() throws {
        let keys = try HuggingFaceTokenizer.ggufMetadata(
            tokenizerJSON: Self.json(Self.byteLevelJSON), tokenizerConfig: Self.json("{}"), chatTemplate: "jinja", file: "folder")
        #expect(Metadata(keys)["tokenizer.chat_template"] == .string("jinja"))
    }

    @Test func llamaThreeSplitIsLlamaBPE() throws {
        let regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"#
        let text = """
            {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
               {"type": "Split", "pattern": {"Regex": "\(regex)"}, "behavior": "Isolated", "invert": false},
               {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},
             "decoder": {"type": "ByteLevel"},
             "model": {"type": "BPE", "ignore_merges": true, "vocab": {"a": 0}, "merges": []}}
            """
        let keys = try HuggingFaceTokenizer.ggufMetadata(tokenizerJSON: Self.json(text), tokenizerConfig: nil, file: "folder")
        #expect(Metadata(keys)["tokenizer.ggml.pre"] == .string("llama-bpe"))
    }

    @Test func unknownPreTokenizerIsAnError() throws {
        let text = """
            {"pre_tokenizer": {"type": "Whitespace"}, "decoder": {"type": "ByteLevel"},
             "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}
            """
        #expect {
            try HuggingFaceTokenizer.ggufMetadata(tokenizerJSON: Self.json(text), tokenizerConfig: nil, file: "some/folder")
        } throws: { error in
            let message = "\(error)"
            return message.hasPrefix("some/folder: tokenizer.json: pre_tokenizer not recognized") && !message.contains("\n")
        }
    }

    @Test func wordPieceIsAnError() throws {
        let text = #"{"model": {"type": "WordPiece", "vocab": {"a": 0}}}"#
        #expect(throws: FormatError.tokenizer(file: "f", problem: "tokenizer.json: model type WordPiece is not supported (BPE only)")) {
            try HuggingFaceTokenizer.ggufMetadata(tokenizerJSON: Self.json(text), tokenizerConfig: nil, file: "f")
        }
    }

    @Test func byteFallbackBecomesSentencePieceKeys() throws {
        let text = """
            {"added_tokens": [
               {"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true},
               {"id": 2, "content": "</s>", "special": true}, {"id": 9, "content": "▁▁", "special": false}],
             "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
             "pre_tokenizer": null,
             "decoder": {"type": "Sequence", "decoders": []},
             "model": {"type": "BPE", "byte_fallback": true,
               "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x41>": 3, "▁": 4, "a": 5, "▁a": 6, "aa": 7, "▁aa": 8, "▁▁": 9},
               "merges": [["▁", "a"], ["a", "a"], ["▁a", "a"], ["▁", "aa"]]}}
            """
        let config = try Self.json(#"{"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": true}"#)
        let metadata = Metadata(try HuggingFaceTokenizer.ggufMetadata(tokenizerJSON: Self.json(text), tokenizerConfig: config, file: "f"))
        #expect(metadata["tokenizer.ggml.model"] == .string("llama"))
        #expect(metadata["tokenizer.ggml.pre"] == .string("default"))
        #expect(Self.strings(metadata["tokenizer.ggml.tokens"]) == ["<unk>", "<s>", "</s>", "<0x41>", "▁", "a", "▁a", "aa", "▁aa", "  "])
        #expect(Self.ints(metadata["tokenizer.ggml.token_type"]) == [3, 3, 3, 6, 1, 1, 1, 1, 1, 4])
        #expect(metadata["tokenizer.ggml.scores"]?.array?.map { $0.double ?? 1 } == [-1000, -1000, -1000, 0, -4, -4, 0, -1, -2, -1000])
        #expect(metadata["tokenizer.ggml.add_space_prefix"] == .bool(false))
        #expect(metadata["tokenizer.ggml.bos_token_id"] == .uint32(1))
        #expect(metadata["tokenizer.ggml.eos_token_id"] == .uint32(2))
        #expect(metadata["tokenizer.ggml.unknown_token_id"] == .uint32(0))
        #expect(metadata["tokenizer.ggml.add_bos_token"] == .bool(true))
    }

    // MARK: GGUF keys → tokenizer.json

    static func tokens(_ texts: [String]) -> MetadataValue { .array(.string, texts.map { .string(MetadataString($0)) }) }

    static func files(_ metadata: Metadata) throws -> (tokenizer: JSONValue, config: JSONValue) {
        let files = try HuggingFaceTokenizer.files(from: metadata, file: "model.gguf")
        #expect(files.map(\.name) == ["tokenizer.json", "tokenizer_config.json"])
        return (try JSONValue.parse(files[0].contents), try JSONValue.parse(files[1].contents))
    }

    @Test func gpt2BecomesByteLevelTokenizerJSON() throws {
        let metadata = Metadata([
            ("general.architecture", .string("llama")), ("llama.context_length", .uint32(2048)),
            ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string("gpt-2")),
            ("tokenizer.ggml.tokens", Self.tokens(["a", "b", "ab", "<|endoftext|>", "<tool>", "[PAD5]"])),
            ("tokenizer.ggml.token_type", .array(.int32, [1, 1, 1, 3, 4, 5].map { .int32($0) })),
            ("tokenizer.ggml.merges", Self.tokens(["a b"])),
            ("tokenizer.ggml.bos_token_id", .uint32(3)), ("tokenizer.ggml.eos_token_id", .uint32(3)),
            ("tokenizer.ggml.add_bos_token", .bool(true)), ("tokenizer.chat_template", .string("t")),
        ])
        let (tokenizer, config) = try Self.files(metadata)
        let model = try #require(tokenizer["model"])
        #expect(model["vocab"]?.members?.map(\.key) == ["a", "b", "ab", "<|endoftext|>", "<tool>"])
        #expect(model["merges"]?.serialized() == #"[["a","b"]]"#)
        #expect(model["byte_fallback"]?.boolValue == false)
        #expect(tokenizer["added_tokens"]?.array?.map { $0["content"]?.string ?? "" } == ["<|endoftext|>", "<tool>"])
        #expect(tokenizer["added_tokens"]?.array?.map { $0["special"]?.boolValue ?? false } == [true, false])
        let passes = try #require(tokenizer["pre_tokenizer"]?["pretokenizers"]?.array)
        #expect(passes.first?["pattern"]?["Regex"]?.string == PreTokenizerRegexes.gpt2Regex)
        #expect(passes.last?["type"]?.string == "ByteLevel" && passes.last?["use_regex"]?.boolValue == false)
        let template = try #require(tokenizer["post_processor"]?["processors"]?.array?.last)
        #expect(template["single"]?.serialized() == #"[{"SpecialToken":{"id":"<|endoftext|>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}]"#)

        #expect(config.members?.map(\.key) == [
            "add_bos_token", "add_eos_token", "added_tokens_decoder", "bos_token", "chat_template",
            "clean_up_tokenization_spaces", "eos_token", "model_max_length", "tokenizer_class",
        ])
        #expect(config["bos_token"]?.string == "<|endoftext|>")
        #expect(config["model_max_length"]?.unsignedInteger == 2048)
        #expect(config["added_tokens_decoder"]?["4"]?["special"]?.boolValue == false)

        // And back: the same keys but the unused token, which becomes the converter's [PAD5] again.
        let back = Metadata(try HuggingFaceTokenizer.ggufMetadata(
            tokenizerJSON: tokenizer, tokenizerConfig: config, modelConfig: Self.json(#"{"vocab_size": 6}"#), file: "f"))
        for key in ["tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
                    "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.add_bos_token",
                    "tokenizer.chat_template"] {
            #expect(back[key]?.description == metadata[key]?.description && Self.strings(back[key]) == Self.strings(metadata[key]), "\(key)")
        }
    }

    @Test func sentencePieceMergesFollowScores() throws {
        let metadata = Metadata([
            ("tokenizer.ggml.model", .string("llama")),
            ("tokenizer.ggml.tokens", Self.tokens(["<unk>", "<s>", "</s>", "▁", "a", "▁a", "aa", "▁aa"])),
            ("tokenizer.ggml.scores", .array(.float32, [0, 0, 0, -1, -2, -3, -4, -5].map { .float32($0) })),
            ("tokenizer.ggml.token_type", .array(.int32, [2, 3, 3, 1, 1, 1, 1, 1].map { .int32($0) })),
            ("tokenizer.ggml.unknown_token_id", .uint32(0)), ("tokenizer.ggml.bos_token_id", .uint32(1)),
        ])
        let (tokenizer, config) = try Self.files(metadata)
        let model = try #require(tokenizer["model"])
        #expect(model["merges"]?.serialized() == #"[["▁","a"],["a","a"],["▁","aa"],["▁a","a"]]"#)
        #expect(model["byte_fallback"]?.boolValue == true)
        #expect(model["unk_token"]?.string == "<unk>")
        // add_space_prefix defaults to true for SentencePiece: Prepend ▁, and BOS by default.
        #expect(tokenizer["normalizer"]?["normalizers"]?.array?.first?["type"]?.string == "Prepend")
        #expect(tokenizer["post_processor"]?["type"]?.string == "TemplateProcessing")
        #expect(config["add_bos_token"]?.boolValue == true)
        #expect(config["unk_token"]?.string == "<unk>")
    }

    @Test func unsupportedModelsAreErrors() throws {
        #expect(throws: FormatError.tokenizer(file: "m.gguf", problem: "tokenizer.ggml.model \"bert\" cannot be written as tokenizer.json (gpt2 and llama only)")) {
            try HuggingFaceTokenizer.files(from: Metadata([("tokenizer.ggml.model", .string("bert"))]), file: "m.gguf")
        }
        let unknownPre = Metadata([("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string("tekken"))])
        #expect(throws: FormatError.self) { try HuggingFaceTokenizer.files(from: unknownPre, file: "m.gguf") }
    }
}
