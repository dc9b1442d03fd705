import Foundation
import Graph
import Testing
@testable import Formats

/// Our reader against what the reference reader (gguf.GGUFReader) recorded in expected.json.
struct GGUFReaderTests {
    static let fixtureNames = Fixtures.expectedFiles.keys.sorted()

    @Test(arguments: fixtureNames)
    func headerAndMetadataMatchReference(name: String) throws {
        let expected = Fixtures.expectedFiles[name]!
        let file = try GGUFFile(url: Fixtures.url(name))
        #expect(Int(file.version) == expected["version"] as! Int)
        #expect(file.alignment == expected["alignment"] as! Int)
        #expect(file.dataStart == expected["dataOffset"] as! Int)
        #expect(file.metadata.count == expected["kvCount"] as! Int)

        let entries = expected["kv"] as! [[String: Any]]
        #expect(file.metadata.keys == entries.map { $0["key"] as! String })
        for (entry, (key, value)) in zip(entries, file.metadata.entries) {
            #expect(value.type.description == entry["type"] as! String, "\(name) \(key)")
            if let itemType = value.arrayElementType {
                #expect(itemType.description == entry["itemType"] as? String, "\(name) \(key)")
                #expect(value.arrayCount == entry["length"] as? Int, "\(name) \(key)")
                #expect(value.array?.count == entry["length"] as? Int, "\(name) \(key)")
            }
            if let digest = entry["rawSha256"] as? String {
                var encoder = GGUFEncoder()
                for item in value.array ?? [] { encoder.append(value: item) }
                #expect(SHA256.hex(encoder.bytes) == digest, "\(name) \(key)")
            } else {
                #expect(Self.matches(value, entry["value"] as Any), "\(name) \(key): \(value)")
            }
        }
    }

    @Test(arguments: fixtureNames)
    func tensorsMatchReference(name: String) throws {
        let expected = Fixtures.expectedFiles[name]!["tensors"] as! [[String: Any]]
        let file = try GGUFFile(url: Fixtures.url(name))
        #expect(file.tensors.count == expected.count)
        for (info, reference) in zip(file.tensors, expected) {
            #expect(info.name == reference["name"] as! String)
            #expect(info.type.name == reference["type"] as! String)
            #expect(info.shape == reference["shape"] as! [Int])
            #expect(file.dataStart + info.relativeOffset == reference["offset"] as! Int)
            #expect(info.byteCount == reference["nBytes"] as! Int)
            #expect(SHA256.hex(file.data(of: info).buffer) == reference["sha256"] as! String, "\(name) \(info.name)")
        }
    }

    private static func matches(_ value: MetadataValue, _ reference: Any) -> Bool {
        switch value {
        case .string(let text): return reference as? String == text.description
        case .bool(let flag): return reference as? Bool == flag
        case .array, .encodedArray:
            let items = value.array!
            guard let list = reference as? [Any], list.count == items.count else { return false }
            return zip(items, list).allSatisfy { matches($0, $1) }
        default:
            guard let number = reference as? NSNumber else { return false }
            if let int = value.int { return number.int64Value == Int64(int) && number.doubleValue == Double(int) }
            return number.doubleValue == value.double
        }
    }

    @Test func splitModelReadsAsTheWholeModel() throws {
        let split = try GGUF.readModel(at: Fixtures.url("split/tiny-split-00001-of-00003.gguf"))
        let whole = try GGUF.readModel(at: Fixtures.url("tiny-split-whole.gguf"))
        #expect(split.origin.files.count == 3)
        #expect(!split.metadata.keys.contains { $0.hasPrefix("split.") })
        #expect(split.metadata.keys == whole.metadata.keys)
        let splitTensors = GGUF.namedTensors(of: split)
        let wholeTensors = GGUF.namedTensors(of: whole)
        #expect(splitTensors.map(\.name) == wholeTensors.map(\.name))
        for (a, b) in zip(splitTensors, wholeTensors) {
            #expect(Array(a.tensor.data.buffer) == Array(b.tensor.data.buffer), "\(a.name)")
        }
    }

    @Test func laterShardIsRefusedWithAPointerToTheFirst() throws {
        #expect {
            try GGUF.readModel(at: Fixtures.url("split/tiny-split-00002-of-00003.gguf"))
        } throws: { error in
            (error as? FormatError)?.description.contains("pass the first shard") == true
        }
    }

    @Test func blocksCarryTheirTensorsByRole() throws {
        let model = try GGUF.readModel(at: Fixtures.url("tiny-llama.gguf"))
        #expect(model.architecture == "llama")
        #expect(model.blocks.count == 4)
        #expect(model.blocks[2].tensor("attn_q.weight") != nil)
        #expect(model.globalTensors.map(\.name).contains("token_embd.weight"))
        #expect(model.hyperParameters.hiddenSize == 256)
    }
}
