/// What stops a tensor's elements from being decoded. The description is one line naming what to fix.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    case unsupportedType(tensor: String, type: String)

    public var description: String {
        switch self {
        case let .unsupportedType(tensor, type):
            "tensor '\(tensor)' has type \(type), which the engine cannot dequantize"
        }
    }
}
