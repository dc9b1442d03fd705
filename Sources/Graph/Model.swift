import Foundation

/// The common picture of a decoder-only model that every format reads into and writes from:
/// metadata (architecture and hyper-parameters included), global tensors, and an ordered list of blocks.
///
/// Per-block attributes live where the formats keep them, in per-layer metadata arrays; `perBlockKeys`
/// names those arrays and `attributes(ofBlock:)` reads a block's entries.
public struct Model: Sendable {
    public var metadata: Metadata
    /// Tensors outside the blocks (embeddings, final norm, output head), with their full names.
    public var globalTensors: [Tensor]
    public var blocks: [Block]
    /// Where the model came from: writers use it to reproduce format details such as the version.
    public var origin: Origin
    /// Whose conventions the tensor values follow; names and metadata keys are always GGUF's.
    public var layout: WeightLayout

    public init(metadata: Metadata, globalTensors: [Tensor], blocks: [Block], origin: Origin,
                layout: WeightLayout = .llamaCpp) {
        self.metadata = metadata
        self.globalTensors = globalTensors
        self.blocks = blocks
        self.origin = origin
        self.layout = layout
    }

    public var architecture: String { metadata["general.architecture"]?.string ?? "unknown" }

    /// The key `{architecture}.suffix`.
    public func key(_ suffix: String) -> String { "\(architecture).\(suffix)" }

    public var hyperParameters: HyperParameters { HyperParameters(model: self) }

    /// Arrays whose entries describe one block each: `{arch}.*` arrays as long as the block list.
    public var perBlockKeys: [String] { architectureArrayKeys(ofLength: blocks.count) }

    /// `{arch}.*` array keys of the given length, except arrays known to have a fixed length.
    public func architectureArrayKeys(ofLength length: Int) -> [String] {
        let prefix = architecture + "."
        return metadata.entries.compactMap { key, value in
            guard key.hasPrefix(prefix), !Self.fixedLengthArrays.contains(String(key.dropFirst(prefix.count))),
                  value.arrayCount == length else { return nil }
            return key
        }
    }

    /// Arrays of a fixed length that only look per-block when the block count happens to match.
    public static let fixedLengthArrays: Set<String> = ["rope.dimension_sections"]

    public func attributes(ofBlock index: Int) -> [(key: String, value: MetadataValue)] {
        perBlockKeys.compactMap { key in metadata[key]?.array.map { (key, $0[index]) } }
    }

    public var allTensors: [Tensor] {
        globalTensors + blocks.flatMap(\.tensors)
    }

    public var parameterCount: Int { allTensors.reduce(0) { $0 + $1.elementCount } }
    public var byteCount: Int { allTensors.reduce(0) { $0 + $1.byteCount } }
}

/// One decoder block: its tensors by role (the name without the `blk.N.` prefix).
public struct Block: Sendable {
    public var tensors: [Tensor]

    public init(tensors: [Tensor]) { self.tensors = tensors }

    public func tensor(_ role: String) -> Tensor? { tensors.first { $0.name == role } }

    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.elementCount } }
    public var byteCount: Int { tensors.reduce(0) { $0 + $1.byteCount } }
}

public struct Origin: Sendable {
    public var format: String
    public var version: Int
    public var files: [MappedFile]
    /// The folder a Hugging Face model was read from: its other files (tokenizer, configs) travel with it.
    public var folder: URL?

    public init(format: String, version: Int, files: [MappedFile], folder: URL? = nil) {
        self.format = format
        self.version = version
        self.files = files
        self.folder = folder
    }
}
