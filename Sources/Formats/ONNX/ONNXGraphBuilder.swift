import Foundation
import Tensors

/// Assembles an ONNX graph node by node: each node's output is named after the node (`NAME/output_0`, as
/// onnxruntime-genai's builder names them), weights become initializers whose bytes the writer streams from
/// their payloads, and small constants are shared initializers made once.
struct ONNXGraphBuilder {
    typealias DataType = Onnx_TensorProto.DataType

    private(set) var graph = Onnx_GraphProto()
    private(set) var payloads: [String: TensorPayload] = [:]
    private var constants: Set<String> = []

    /// A dimension of a graph input or output: fixed, or named and set at run time.
    enum Dimension {
        case fixed(Int)
        case symbolic(String)
    }

    init(name: String) { graph.name = name }

    /// Adds a node with `outputs` outputs; returns their names.
    @discardableResult
    mutating func node(_ opType: String, _ inputs: [String], name: String, outputs: Int = 1, domain: String = "",
                       attributes: [Onnx_AttributeProto] = []) -> [String] {
        var node = Onnx_NodeProto()
        node.opType = opType
        node.name = name
        node.domain = domain
        node.input = inputs
        node.output = (0 ..< outputs).map { "\(name)/output_\($0)" }
        node.attribute = attributes
        graph.node.append(node)
        return node.output
    }

    /// A node with a single output.
    mutating func apply(_ opType: String, _ inputs: [String], name: String, domain: String = "",
                        attributes: [Onnx_AttributeProto] = []) -> String {
        node(opType, inputs, name: name, domain: domain, attributes: attributes)[0]
    }

    /// Renames the output `output` of the last node that made it to `name` (a graph output's name).
    mutating func rename(output: String, to name: String) {
        guard let index = graph.node.lastIndex(where: { $0.output.contains(output) }) else { return }
        graph.node[index].output = graph.node[index].output.map { $0 == output ? name : $0 }
    }

    /// An initializer whose bytes come from `payload` (innermost dimension last, as ONNX orders them).
    @discardableResult
    mutating func initializer(_ name: String, type: DataType, dims: [Int], payload: TensorPayload) -> String {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dataType = Int32(type.rawValue)
        tensor.dims = dims.map(Int64.init)
        graph.initializer.append(tensor)
        payloads[name] = payload
        return name
    }

    /// A float initializer made from `values` now (small tensors: caches, norms).
    mutating func floats(_ name: String, _ values: [Float], dims: [Int]) -> String {
        let bytes = values.withUnsafeBytes { [UInt8]($0) }
        return initializer(name, type: .float, dims: dims, payload: Self.payload(bytes))
    }

    /// A shared int64 constant (a shape, axes, a bound), named after its values.
    mutating func int64s(_ values: [Int], scalar: Bool = false) -> String {
        let name = "const_int64_" + values.map { String($0).replacingOccurrences(of: "-", with: "m") }.joined(separator: "_")
            + (scalar ? "_scalar" : "")
        guard constants.insert(name).inserted else { return name }
        let bytes = values.map { Int64($0).littleEndian }.withUnsafeBytes { [UInt8]($0) }
        return initializer(name, type: .int64, dims: scalar ? [] : [values.count], payload: Self.payload(bytes))
    }

    /// A shared float scalar constant.
    mutating func floatScalar(_ value: Float, name: String) -> String {
        guard constants.insert(name).inserted else { return name }
        return initializer(name, type: .float, dims: [], payload: Self.payload(withUnsafeBytes(of: value) { [UInt8]($0) }))
    }

    mutating func input(_ name: String, type: DataType, shape: [Dimension]) {
        graph.input.append(Self.valueInfo(name, type: type, shape: shape))
    }

    mutating func output(_ name: String, type: DataType, shape: [Dimension]) {
        graph.output.append(Self.valueInfo(name, type: type, shape: shape))
    }

    private static func valueInfo(_ name: String, type: DataType, shape: [Dimension]) -> Onnx_ValueInfoProto {
        var tensorType = Onnx_TypeProto.Tensor()
        tensorType.elemType = Int32(type.rawValue)
        tensorType.shape.dim = shape.map { dimension in
            var dim = Onnx_TensorShapeProto.Dimension()
            switch dimension {
            case .fixed(let size): dim.dimValue = Int64(size)
            case .symbolic(let name): dim.dimParam = name
            }
            return dim
        }
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type.tensorType = tensorType
        return info
    }

    private static func payload(_ bytes: [UInt8]) -> TensorPayload {
        .produced(byteCount: bytes.count) { append in try bytes.withUnsafeBytes(append) }
    }
}

/// Node attributes by kind.
extension Onnx_AttributeProto {
    static func int(_ name: String, _ value: Int) -> Self {
        var attribute = Self()
        attribute.name = name
        attribute.type = .int
        attribute.i = Int64(value)
        return attribute
    }

    static func float(_ name: String, _ value: Float) -> Self {
        var attribute = Self()
        attribute.name = name
        attribute.type = .float
        attribute.f = value
        return attribute
    }

    static func string(_ name: String, _ value: String) -> Self {
        var attribute = Self()
        attribute.name = name
        attribute.type = .string
        attribute.s = Data(value.utf8)
        return attribute
    }
}
