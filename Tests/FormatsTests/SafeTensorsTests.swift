import Foundation
import Graph
import Tensors
import Testing
@testable import Formats

/// Fixtures written by `TestModels/safetensors/generate.py` with the reference safetensors package.
enum SafeTensorsFixtures {
    static let root = Fixtures.url("safetensors")
    static func url(_ name: String) -> URL { root.appendingPathComponent(name) }
    static func path(_ name: String) -> String { url(name).path }

    /// What the reference reader read from each valid fixture (`expected.json`).
    nonisolated(unsafe) static let expected: [String: Any] = {
        let data = try! Data(contentsOf: url("expected.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    static var files: [String: [String: Any]] { expected["files"] as! [String: [String: Any]] }

    static func bytes(_ url: URL) throws -> [UInt8] { Array(try Data(contentsOf: url)) }
}

struct SafeTensorsReaderTests {
    @Test(arguments: SafeTensorsFixtures.files.keys.sorted())
    func matchesReference(name: String) throws {
        let expected = SafeTensorsFixtures.files[name]!
        let file = try SafeTensorsFile(url: SafeTensorsFixtures.url(name))
        #expect(file.dataStart == expected["dataStart"] as! Int)
        let metadata = (expected["metadata"] as! [[String]]).map { ($0[0], $0[1]) }
        #expect(file.metadata.map(\.key) == metadata.map(\.0))
        #expect(file.metadata.map(\.value) == metadata.map(\.1))

        let tensors = expected["tensors"] as! [[String: Any]]
        #expect(file.tensors.map(\.name) == tensors.map { $0["name"] as! String })
        for (entry, reference) in zip(file.tensors, tensors) {
            #expect(entry.type.name == reference["dtype"] as! String, "\(name) \(entry.name)")
            #expect(entry.shape == reference["shape"] as! [Int], "\(name) \(entry.name)")
            #expect(entry.data.offset == reference["offset"] as! Int, "\(name) \(entry.name)")
            #expect(entry.data.count == reference["nBytes"] as! Int, "\(name) \(entry.name)")
            #expect(SHA256.hex(entry.data.buffer) == reference["sha256"] as! String, "\(name) \(entry.name)")
        }
    }

    @Test func everyReferenceDtypeIsCovered() {
        let covered = Set(SafeTensorsFixtures.files.values.flatMap { ($0["tensors"] as! [[String: Any]]).map { $0["dtype"] as! String } })
        #expect(covered == Set(SafeTensorsFile.dtypes.map(\.name)))
    }

    @Test func shardedFolderHoldsTheSameTensorsAsTheSingleFile() throws {
        let single = try SafeTensorsFolder(path: SafeTensorsFixtures.path("single"))
        let sharded = try SafeTensorsFolder(path: SafeTensorsFixtures.path("sharded"))
        #expect(single.shards.count == 1 && single.index == nil)
        #expect(sharded.shards.map(\.file.url.lastPathComponent)
            == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])
        // The reference writer orders each file by dtype then name, so a split keeps the single file's order.
        func describe(_ folder: SafeTensorsFolder) -> [String] {
            folder.tensors.map { "\($0.entry.name) \($0.entry.type) \($0.entry.shape) \(SHA256.hex($0.entry.data.buffer))" }
        }
        #expect(describe(sharded) == describe(single))
        let total = single.tensors.reduce(0) { $0 + $1.entry.data.count }
        #expect(sharded.indexMetadata?["total_size"]?.unsignedInteger == UInt64(total))

        let byIndexPath = try SafeTensorsFolder(path: SafeTensorsFixtures.path("sharded/model.safetensors.index.json"))
        #expect(describe(byIndexPath) == describe(sharded))
        let byFilePath = try SafeTensorsFolder(path: SafeTensorsFixtures.path("single/model.safetensors"))
        #expect(describe(byFilePath) == describe(single))
    }

    static let badCases: [(String, @Sendable (FormatError) -> Bool)] = [
        ("too-small.safetensors", { if case .truncated = $0 { true } else { false } }),
        ("header-past-end.safetensors", { if case .truncated = $0 { true } else { false } }),
        ("header-too-large.safetensors", { if case .headerTooLarge(_, 100_000_001, 100_000_000) = $0 { true } else { false } }),
        ("malformed-json.safetensors", { if case .malformedHeader = $0 { true } else { false } }),
        ("not-utf8.safetensors", { if case .malformedHeader(_, "not valid UTF-8") = $0 { true } else { false } }),
        ("not-object.safetensors", { if case .malformedHeader(_, "not a JSON object") = $0 { true } else { false } }),
        ("missing-dtype.safetensors", { if case .malformedHeader(_, "tensor 'a' has no dtype") = $0 { true } else { false } }),
        ("bad-metadata.safetensors", { if case .malformedHeader = $0 { true } else { false } }),
        ("unknown-dtype.safetensors", { if case .unknownDtype(_, "a", "F7") = $0 { true } else { false } }),
        ("lowercase-dtype.safetensors", { if case .unknownDtype(_, "a", "f32") = $0 { true } else { false } }),
        ("overlapping-offsets.safetensors", { if case .badOffsets(_, "b", 8, 24, 16) = $0 { true } else { false } }),
        ("hole.safetensors", { if case .badOffsets(_, "b", 24, 40, 16) = $0 { true } else { false } }),
        ("offsets-past-end.safetensors", { if case .tensorOutsideFile(_, "a", _, 64, _) = $0 { true } else { false } }),
        ("trailing-bytes.safetensors", { if case .uncoveredData(_, 16, 24) = $0 { true } else { false } }),
        ("size-mismatch.safetensors", { if case .sizeMismatch(_, "a", "F32", [2, 3], 24, 20) = $0 { true } else { false } }),
        ("shape-overflow.safetensors", { if case .badDimension(_, "a", _) = $0 { true } else { false } }),
        ("partial-f4.safetensors", { if case .partialBytes(_, "a", 3, "F4") = $0 { true } else { false } }),
        ("duplicate-tensor.safetensors", { if case .duplicateTensor(_, "a") = $0 { true } else { false } }),
        ("missing-shard", { $0 == .missingShard(index: index("missing-shard"), shard: "model-00002-of-00002.safetensors") }),
        ("tensor-not-in-shard", {
            $0 == .tensorNotInShard(index: index("tensor-not-in-shard"), tensor: "b", shard: "model-00002-of-00002.safetensors")
        }),
        ("unlisted-tensor", {
            $0 == .unlistedTensor(index: index("unlisted-tensor"), tensor: "c", shard: "model-00002-of-00002.safetensors")
        }),
        ("duplicate-across-shards", {
            $0 == .tensorInTwoShards(index: index("duplicate-across-shards"), tensor: "a",
                                     shards: ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])
        }),
    ]

    static func index(_ folder: String) -> String {
        SafeTensorsFixtures.url("bad/\(folder)/model.safetensors.index.json").path
    }

    @Test(arguments: badCases.map(\.0))
    func badInputFailsWithItsError(name: String) throws {
        let check = Self.badCases.first { $0.0 == name }!.1
        let path = SafeTensorsFixtures.path("bad/\(name)")
        do {
            _ = try SafeTensorsFolder(path: path)
            Issue.record("\(name) was accepted")
        } catch let error as FormatError {
            #expect(check(error), "\(name): \(error)")
            #expect(error.description.hasPrefix(path), "\(error)")
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func everyBadFixtureIsCovered() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: SafeTensorsFixtures.path("bad"))
        #expect(Set(files) == Set(Self.badCases.map(\.0)))
        #expect(Set(files) == Set((SafeTensorsFixtures.expected["bad"] as! [String: String]).keys))
    }
}

struct SafeTensorsWriterTests {
    /// The entries of a file as writer input, alternating copied and produced (in 5-byte chunks) payloads.
    static func rewrite(_ entries: [SafeTensorsFile.Entry]) -> [SafeTensorsWriter.Tensor] {
        entries.enumerated().map { index, entry in
            let payload: TensorPayload = index % 2 == 0 ? .bytes(entry.data) : .produced(byteCount: entry.data.count) { append in
                let buffer = entry.data.buffer
                for start in stride(from: 0, to: buffer.count, by: 5) {
                    try append(UnsafeRawBufferPointer(rebasing: buffer[start ..< min(start + 5, buffer.count)]))
                }
            }
            return SafeTensorsWriter.Tensor(name: entry.name, type: entry.type, shape: entry.shape, payload: payload)
        }
    }

    /// Files the reference writer wrote (at most one metadata key: it writes several in hash order).
    @Test(arguments: ["dtypes.safetensors", "packed.safetensors", "single/model.safetensors"])
    func rewritingAReferenceFileGivesTheSameBytes(name: String) throws {
        let source = try SafeTensorsFile(url: SafeTensorsFixtures.url(name))
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let writer = SafeTensorsWriter(tensors: Self.rewrite(source.tensors),
                                       metadata: source.metadata.isEmpty ? nil : source.metadata)
        #expect(try writer.write(into: folder) == ["model.safetensors"])
        #expect(try SafeTensorsFixtures.bytes(folder.appendingPathComponent("model.safetensors"))
            == SafeTensorsFixtures.bytes(SafeTensorsFixtures.url(name)))
    }

    @Test func shardsAndIndexMatchTheReferenceSplit() throws {
        let source = try SafeTensorsFile(url: SafeTensorsFixtures.url("single/model.safetensors"))
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let writer = SafeTensorsWriter(tensors: Self.rewrite(source.tensors), metadata: source.metadata, maxShardBytes: 1500)
        let names = try writer.write(into: folder)
        let expected = try FileManager.default.contentsOfDirectory(atPath: SafeTensorsFixtures.path("sharded")).sorted()
        #expect(names.sorted() == expected)
        for name in expected {
            #expect(try SafeTensorsFixtures.bytes(folder.appendingPathComponent(name))
                == SafeTensorsFixtures.bytes(SafeTensorsFixtures.url("sharded/\(name)")), "\(name)")
        }
    }

    @Test func aProducerThatFallsShortFails() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let short = SafeTensorsWriter.Tensor(name: "w", type: .f32, shape: [2], payload: .produced(byteCount: 8) { append in
            try [UInt8](repeating: 0, count: 4).withUnsafeBytes { try append($0) }
        })
        #expect(throws: FormatError.output(file: folder.appendingPathComponent("model.safetensors").path,
                                           problem: "tensor 'w' produced 4 bytes, expected 8")) {
            try SafeTensorsWriter(tensors: [short]).write(into: folder)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
    }

    @Test func refusesWhatSafetensorsCannotHold() throws {
        let gguf = try GGUFFile(url: Fixtures.url("tiny-llama.gguf"))
        let quantized = gguf.tensors.first { !SafeTensorsFile.dtypes.contains($0.type) }!
        let tensor = SafeTensorsWriter.Tensor(name: quantized.name, type: quantized.type, shape: quantized.shape.reversed(),
                                              payload: .bytes(gguf.data(of: quantized)))
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(throws: FormatError.self) { try SafeTensorsWriter(tensors: [tensor]).write(into: folder) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
    }
}

struct OutputFolderTests {
    @Test func commitPutsTheFolderInPlaceAndReplacesAnOldOne() throws {
        let parent = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: parent) }
        let target = parent.appendingPathComponent("out")
        for content in ["first", "second"] {
            let folder = try OutputFolder(target: target, inputs: [], replacing: true)
            #expect(folder.temporary.lastPathComponent.hasPrefix(".out.tmp-"))
            try Data(content.utf8).write(to: folder.url(for: "file.txt"))
            #expect(FileManager.default.fileExists(atPath: folder.temporary.path))
            try folder.commit()
        }
        #expect(try String(contentsOf: target.appendingPathComponent("file.txt"), encoding: .utf8) == "second")
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.path) == ["out"])
    }

    @Test func refusesAnExistingFolderUnlessReplacing() throws {
        let parent = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: parent) }
        let target = parent.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        #expect(throws: FormatError.output(file: target.path, problem: "exists; give --force to replace it")) {
            _ = try OutputFolder(target: target, inputs: [])
        }
        #expect(throws: FormatError.output(file: parent.appendingPathComponent("out/inner").path,
                                           problem: "is inside the input folder \(target.path)")) {
            _ = try OutputFolder(target: target.appendingPathComponent("inner"), inputs: [], inputFolder: target)
        }
        let mask = umask(0o022)
        defer { umask(mask) }
        let folder = try OutputFolder(target: parent.appendingPathComponent("fresh"), inputs: [])
        let mode = try FileManager.default.attributesOfItem(atPath: folder.temporary.path)[.posixPermissions] as? Int
        #expect(mode == 0o755)
    }

    @Test func anUncommittedFolderLeavesNothing() throws {
        let parent = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: parent) }
        do {
            let folder = try OutputFolder(target: parent.appendingPathComponent("out"), inputs: [])
            try Data("x".utf8).write(to: folder.url(for: "file.txt"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.path).isEmpty)
    }

    @Test func refusesToReplaceAFolderHoldingAnInput() throws {
        let parent = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: parent) }
        let target = parent.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        let input = target.appendingPathComponent("model.safetensors")
        try FileManager.default.copyItem(at: SafeTensorsFixtures.url("packed.safetensors"), to: input)
        let mapped = try MappedFile(url: input)
        #expect(throws: FormatError.output(file: target.path,
                                           problem: "refusing to replace a folder that holds the input model.safetensors")) {
            _ = try OutputFolder(target: target, inputs: [mapped])
        }
        #expect(throws: FormatError.output(file: input.path, problem: "exists and is not a folder")) {
            _ = try OutputFolder(target: input, inputs: [])
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.path) == ["model"])
    }
}

struct JSONTests {
    @Test func keepsKeyOrderAndNumberLiterals() throws {
        let text = #"  {"b": [1e-05, -0, 151936, null, true], "a": {"x": "\u00e9\ud83d\ude00\n\"/"}}  "#
        let value = try JSONValue.parse(Array(text.utf8))
        #expect(value.members?.map(\.key) == ["b", "a"])
        #expect(value.serialized(.compact) == #"{"b":[1e-05,-0,151936,null,true],"a":{"x":"é😀\n\"/"}}"#)
    }

    @Test func indentedOutputIsPythonJSONDumps() throws {
        // json.dumps({"b": ["é😀\u007f\u0001", 1.5e-05, None, True], "a": {}}, indent=2)
        let value = try JSONValue.parse(Array(#"{"b": ["é😀\u007f\u0001", 1.5e-05, null, true], "a": {}}"#.utf8))
        #expect(value.serialized(.pythonIndented) == """
        {
          "b": [
            "\\u00e9\\ud83d\\ude00\\u007f\\u0001",
            1.5e-05,
            null,
            true
          ],
          "a": {}
        }
        """)
    }

    @Test(arguments: [#"{"a":1,}"#, "[1 2]", #"{"a":01}"#, "\"\u{01}\"", #""\ud800""#, "{} x", String(repeating: "[", count: 200)])
    func rejectsInvalidText(text: String) {
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(Array(text.utf8)) }
    }
}
