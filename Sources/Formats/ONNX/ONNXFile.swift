import Foundation
import Graph
import SwiftProtobuf

/// An ONNX model file as the jobs need it: the protobuf skeleton (every message but the initializers' raw
/// bytes) parsed by swift-protobuf, and where each initializer's bytes are: a range of the mapped model file
/// (inline `raw_data`) or of a mapped external data file. Weights are never copied, whatever their layout.
struct ONNXFile {
    let file: MappedFile
    /// The model, with `raw_data` left out of the initializers whose bytes `tensorBytes` locates.
    var model: Onnx_ModelProto
    /// Initializer name → its bytes (inline or external); initializers stored in typed fields are absent.
    var tensorBytes: [String: TensorBytes]
    /// External data files, one mapping each.
    let externalFiles: [MappedFile]

    var path: String { file.path }
    /// Every file the model's bytes come from.
    var inputs: [MappedFile] { [file] + externalFiles }

    init(url: URL) throws {
        file = try MappedFile(url: url)
        let path = file.path
        func fail(_ problem: String) -> FormatError { .onnx(file: path, problem: problem) }
        let (skeleton, rawRanges): ([UInt8], [Range<Int>?])
        do {
            (skeleton, rawRanges) = try Self.skeleton(of: file.bytes)
        } catch let error as ProtobufWireError {
            throw fail("not an ONNX model: \(error.problem) at byte \(error.offset)")
        }
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 64
            model = try Onnx_ModelProto(serializedBytes: skeleton, options: options)
        } catch {
            throw fail("not an ONNX model: \(error)")
        }
        guard model.hasGraph, !model.graph.node.isEmpty else { throw fail("not an ONNX model: it has no graph nodes") }
        guard model.irVersion > 0 else { throw fail("not an ONNX model: ir_version is missing") }

        var externalFiles: [String: MappedFile] = [:]
        var tensorBytes: [String: TensorBytes] = [:]
        for (tensor, raw) in zip(model.graph.initializer, rawRanges) {
            let name = tensor.name
            guard !name.isEmpty else { throw fail("an initializer has no name") }
            guard tensorBytes[name] == nil else { throw fail("initializer '\(name)' is defined twice") }
            let expected = try ONNXElementType.byteCount(of: tensor, file: path)
            if let raw {
                guard raw.count == expected else {
                    throw fail("initializer '\(name)' has \(raw.count) bytes of raw_data; its shape \(tensor.dims) needs \(expected)")
                }
                tensorBytes[name] = TensorBytes(file: file, offset: raw.lowerBound, count: raw.count)
            } else if tensor.dataLocation == .external {
                let location = try ExternalLocation(tensor, expected: expected, file: path)
                if externalFiles[location.file] == nil {
                    let url = url.deletingLastPathComponent().appendingPathComponent(location.file)
                    guard FileManager.default.fileExists(atPath: url.path) else {
                        throw fail("initializer '\(name)': external data file '\(location.file)' is missing")
                    }
                    externalFiles[location.file] = try MappedFile(url: url)
                }
                let data = externalFiles[location.file]!
                guard location.offset <= data.size, expected <= data.size - location.offset else {
                    throw fail("initializer '\(name)': \(expected) bytes at offset \(location.offset) run past the end "
                        + "of '\(location.file)' (\(data.size) bytes)")
                }
                tensorBytes[name] = TensorBytes(file: data, offset: location.offset, count: expected)
            } else {
                try ONNXElementType.checkTypedData(of: tensor, file: path)
            }
        }
        self.tensorBytes = tensorBytes
        self.externalFiles = externalFiles.keys.sorted().map { externalFiles[$0]! }
    }

    /// The model's bytes with each top-level initializer's `raw_data` left out, and where each of those
    /// `raw_data` fields was (in `graph.initializer` order; nil for an initializer without one).
    private static func skeleton(of bytes: UnsafeRawBufferPointer) throws -> ([UInt8], [Range<Int>?]) {
        let modelFields = try ProtobufWire.fields(of: bytes, in: 0 ..< bytes.count)
        let graphs = modelFields.filter { $0.number == 7 && $0.wireType == .lengthDelimited }
        guard graphs.count == 1 else {
            throw ProtobufWireError(offset: 0, problem: graphs.isEmpty ? "no graph" : "\(graphs.count) graph fields")
        }
        var graph: [UInt8] = []
        var rawRanges: [Range<Int>?] = []
        for field in try ProtobufWire.fields(of: bytes, in: graphs[0].payload) {
            guard field.number == 5, field.wireType == .lengthDelimited else {
                graph += bytes[field.range]
                continue
            }
            var tensor: [UInt8] = []
            var raw: Range<Int>?
            for tensorField in try ProtobufWire.fields(of: bytes, in: field.payload) {
                if tensorField.number == 9 && tensorField.wireType == .lengthDelimited {
                    raw = tensorField.payload
                } else {
                    tensor += bytes[tensorField.range]
                }
            }
            rawRanges.append(raw)
            graph += ProtobufWire.lengthDelimitedHeader(number: 5, length: tensor.count) + tensor
        }
        var model: [UInt8] = []
        for field in modelFields {
            model += field.number == 7 ? ProtobufWire.lengthDelimitedHeader(number: 7, length: graph.count) + graph
                : Array(bytes[field.range])
        }
        return (model, rawRanges)
    }
}

/// An initializer's `external_data` entries, checked: a file beside the model (no absolute path, no `..`),
/// an offset, and a length that, when given, is what the shape needs.
private struct ExternalLocation {
    let file: String
    let offset: Int

    init(_ tensor: Onnx_TensorProto, expected: Int, file path: String) throws {
        func fail(_ problem: String) -> FormatError { .onnx(file: path, problem: "initializer '\(tensor.name)': \(problem)") }
        var entries: [String: String] = [:]
        for entry in tensor.externalData { entries[entry.key] = entry.value }
        guard let location = entries["location"], !location.isEmpty else { throw fail("external data has no location") }
        let components = location.split(separator: "/", omittingEmptySubsequences: false)
        guard !location.hasPrefix("/"), !components.contains(where: { $0 == ".." || $0.isEmpty }) else {
            throw fail("external data location '\(location)' is not a file beside the model")
        }
        file = location
        guard let offset = Int(entries["offset"] ?? "0"), offset >= 0 else {
            throw fail("external data offset '\(entries["offset"] ?? "")' is not a byte offset")
        }
        self.offset = offset
        if let length = entries["length"] {
            guard Int(length) == expected else {
                throw fail("external data length \(length) does not match the \(expected) bytes its shape \(tensor.dims) needs")
            }
        }
    }
}
