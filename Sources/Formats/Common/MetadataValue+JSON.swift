import Graph

extension MetadataValue {
    /// The value as JSON: numbers, strings, booleans and arrays of them (floats written so that they parse
    /// back to the same float); nil for nothing representable.
    var jsonValue: JSONValue? {
        switch self {
        case .bool(let flag): return .bool(flag)
        case .string(let text): return .string(text.description)
        case .float32(let number): return .float(number)
        case .float64(let number): return .number("\(number)")
        case .array, .encodedArray: return array.map { .array($0.compactMap(\.jsonValue)) }
        default: return int.map { .integer($0) }
        }
    }
}
