extension JSONValue {
    var int: Int? {
        guard case .number(let literal) = self else { return nil }
        return Int(literal) ?? Double(literal).flatMap { $0.rounded() == $0 ? Int(exactly: $0) : nil }
    }

    /// A non-negative integer that fits llama.cpp's UInt32 keys (sizes, counts, token ids); nil otherwise.
    var uint32: UInt32? { int.flatMap { UInt32(exactly: $0) } }

    var double: Double? {
        guard case .number(let literal) = self else { return nil }
        return Double(literal)
    }

    var isNull: Bool { if case .null = self { true } else { false } }

    /// A Float the way Python prints a float32 value widened to double and rounded back (`1e-06`, `10000.0`).
    static func float(_ value: Float) -> JSONValue {
        let text = "\(value)"
        return .number(text.contains(".") || text.contains("e") || text.contains("n") ? text : text + ".0")
    }

    /// The object with `key` set to `value`: replaced where it is, otherwise inserted where sorted order puts
    /// it (transformers writes config.json with sorted keys), or appended when the keys are not sorted.
    func setting(_ key: String, _ value: JSONValue?) -> JSONValue {
        guard var members else { return self }
        if let index = members.firstIndex(where: { $0.key == key }) {
            if let value { members[index].value = value } else { members.remove(at: index) }
        } else if let value {
            let keys = members.map(\.key)
            let position = keys == keys.sorted() ? (keys.firstIndex { $0 > key } ?? keys.count) : keys.count
            members.insert((key, value), at: position)
        }
        return .object(members)
    }
}
