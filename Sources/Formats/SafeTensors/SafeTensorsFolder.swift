import Foundation
import Graph

/// A model's weights as Hugging Face stores them: one `model.safetensors`, or shards that
/// `model.safetensors.index.json` lists in its `weight_map` (tensor name → shard file name).
/// Each shard is opened (mapped) once; every tensor must be in exactly the shard the index names.
public struct SafeTensorsFolder: Sendable {
    public static let singleFileName = "model.safetensors"
    public static let indexFileName = "model.safetensors.index.json"

    /// The shards, sorted by file name (which is their number for `model-0000i-of-0000n.safetensors`).
    public let shards: [SafeTensorsFile]
    /// The index file, when the weights are sharded.
    public let index: URL?
    /// The index's `metadata` object (`total_size`, …), when there is an index.
    public let indexMetadata: JSONValue?

    /// Every tensor with its shard: shard order, then data offset within the shard.
    public var tensors: [(entry: SafeTensorsFile.Entry, shard: SafeTensorsFile)] {
        shards.flatMap { shard in shard.tensors.map { ($0, shard) } }
    }

    /// `path` is a folder holding `model.safetensors` or the index, an index file, or one `.safetensors` file.
    public init(path: String) throws {
        let url = URL(fileURLWithPath: path)
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            let single = url.appendingPathComponent(Self.singleFileName)
            let indexURL = url.appendingPathComponent(Self.indexFileName)
            if FileManager.default.fileExists(atPath: single.path) {
                try self.init(single: single)
            } else if FileManager.default.fileExists(atPath: indexURL.path) {
                try self.init(index: indexURL)
            } else {
                throw FormatError.noSafetensors(folder: path)
            }
        } else if path.hasSuffix(".json") {
            try self.init(index: url)
        } else {
            try self.init(single: url)
        }
    }

    private init(single: URL) throws {
        shards = [try SafeTensorsFile(url: single)]
        index = nil
        indexMetadata = nil
    }

    private init(index url: URL) throws {
        let indexPath = url.path
        let document: JSONValue
        do {
            let text = try MappedFile(url: url)
            guard String(validating: text.bytes, as: UTF8.self) != nil else {
                throw FormatError.malformedIndex(file: indexPath, problem: "not valid UTF-8")
            }
            document = try JSONValue.parse(text.bytes)
        } catch let error as JSONSyntaxError {
            throw FormatError.malformedIndex(file: indexPath, problem: "\(error)")
        }
        guard let weightMap = document["weight_map"]?.members else {
            throw FormatError.malformedIndex(file: indexPath, problem: "no weight_map object")
        }
        var shardOf: [String: String] = [:]
        for (name, value) in weightMap {
            guard let shard = value.string else {
                throw FormatError.malformedIndex(file: indexPath, problem: "weight_map value of '\(name)' is not a string")
            }
            guard !shard.isEmpty, !shard.contains("/"), shard != ".", shard != ".." else {
                throw FormatError.malformedIndex(file: indexPath, problem: "shard '\(shard)' is not a file name")
            }
            guard shardOf.updateValue(shard, forKey: name) == nil else {
                throw FormatError.malformedIndex(file: indexPath, problem: "weight_map lists '\(name)' twice")
            }
        }

        let folder = url.deletingLastPathComponent()
        var shards: [SafeTensorsFile] = []
        var foundIn: [String: String] = [:]
        for shardName in Set(shardOf.values).sorted() {
            let shardURL = folder.appendingPathComponent(shardName)
            guard FileManager.default.fileExists(atPath: shardURL.path) else {
                throw FormatError.missingShard(index: indexPath, shard: shardName)
            }
            let shard = try SafeTensorsFile(url: shardURL)
            for entry in shard.tensors {
                if let other = foundIn.updateValue(shardName, forKey: entry.name) {
                    throw FormatError.tensorInTwoShards(index: indexPath, tensor: entry.name, shards: [other, shardName])
                }
                guard shardOf[entry.name] == shardName else {
                    throw FormatError.unlistedTensor(index: indexPath, tensor: entry.name, shard: shardName)
                }
            }
            shards.append(shard)
        }
        for (name, _) in weightMap where foundIn[name] == nil {
            throw FormatError.tensorNotInShard(index: indexPath, tensor: name, shard: shardOf[name]!)
        }
        self.shards = shards
        index = url
        indexMetadata = document["metadata"]
    }
}
