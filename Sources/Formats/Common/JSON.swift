/// A JSON document that keeps object keys in the order written and numbers as written, so a header or a
/// config.json reads back exactly and can be rewritten without reordering anyone's keys.
public indirect enum JSONValue: Sendable {
    case null
    case bool(Bool)
    /// The literal as it appears in the text (`1e-05`, `151936`), converted only on request.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    public var string: String? { if case .string(let text) = self { text } else { nil } }
    public var boolValue: Bool? { if case .bool(let flag) = self { flag } else { nil } }
    public var array: [JSONValue]? { if case .array(let items) = self { items } else { nil } }
    public var members: [(key: String, value: JSONValue)]? { if case .object(let members) = self { members } else { nil } }

    /// A non-negative integer written without fraction or exponent (what serde reads as `usize`).
    public var unsignedInteger: UInt64? {
        guard case .number(let literal) = self else { return nil }
        return UInt64(literal)
    }

    public static func integer<T: BinaryInteger>(_ value: T) -> JSONValue { .number(String(value)) }
}

public struct JSONSyntaxError: Error, CustomStringConvertible {
    public let offset: Int
    public let problem: String
    public var description: String { "\(problem) at byte \(offset)" }
}

// MARK: - Reading

extension JSONValue {
    /// serde_json's recursion limit, so a hostile file of nested brackets cannot exhaust the stack.
    static let maximumDepth = 128

    /// Parses one JSON value surrounded by optional whitespace (RFC 8259); throws `JSONSyntaxError`.
    /// The caller checks the text is valid UTF-8.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws -> JSONValue {
        var parser = JSONParser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.offset == bytes.count else { throw parser.error("trailing characters") }
        return value
    }

    public static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        try bytes.withUnsafeBytes { try parse($0) }
    }
}

private struct JSONParser {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    func error(_ problem: String) -> JSONSyntaxError { JSONSyntaxError(offset: offset, problem: problem) }

    var current: UInt8? { offset < bytes.count ? bytes[offset] : nil }

    mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { offset += 1 }
    }

    mutating func expect(_ literal: String) throws {
        for byte in literal.utf8 {
            guard current == byte else { throw error("expected '\(literal)'") }
            offset += 1
        }
    }

    mutating func value(depth: Int) throws -> JSONValue {
        guard depth < JSONValue.maximumDepth else { throw error("nested too deeply") }
        guard let byte = current else { throw error("unexpected end") }
        switch byte {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0") ... UInt8(ascii: "9"): return try number()
        default: throw error("unexpected character")
        }
    }

    mutating func object(depth: Int) throws -> JSONValue {
        offset += 1
        var members: [(key: String, value: JSONValue)] = []
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            offset += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a key") }
            let key = try string()
            skipWhitespace()
            try expect(":")
            skipWhitespace()
            members.append((key, try value(depth: depth + 1)))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "}"): offset += 1; return .object(members)
            default: throw error("expected ',' or '}'")
            }
        }
    }

    mutating func array(depth: Int) throws -> JSONValue {
        offset += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            offset += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try value(depth: depth + 1))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "]"): offset += 1; return .array(items)
            default: throw error("expected ',' or ']'")
            }
        }
    }

    mutating func number() throws -> JSONValue {
        let start = offset
        func digits(_ parser: inout JSONParser) -> Int {
            let from = parser.offset
            while let byte = parser.current, (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(byte) { parser.offset += 1 }
            return parser.offset - from
        }
        if current == UInt8(ascii: "-") { offset += 1 }
        if current == UInt8(ascii: "0") {
            offset += 1
        } else if digits(&self) == 0 {
            throw error("invalid number")
        }
        if current == UInt8(ascii: ".") {
            offset += 1
            guard digits(&self) > 0 else { throw error("invalid number") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            offset += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { offset += 1 }
            guard digits(&self) > 0 else { throw error("invalid number") }
        }
        return .number(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start ..< offset]), as: UTF8.self))
    }

    mutating func string() throws -> String {
        offset += 1
        var scalars = String.UnicodeScalarView()
        var runStart = offset
        func flushRun(_ parser: JSONParser) {
            let run = UnsafeRawBufferPointer(rebasing: parser.bytes[runStart ..< parser.offset])
            scalars.append(contentsOf: String(decoding: run, as: UTF8.self).unicodeScalars)
        }
        while true {
            guard let byte = current else { throw error("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                flushRun(self)
                offset += 1
                return String(scalars)
            case UInt8(ascii: "\\"):
                flushRun(self)
                offset += 1
                scalars.append(try escape())
                runStart = offset
            case 0 ..< 0x20:
                throw error("control character in string")
            default:
                offset += 1
            }
        }
    }

    mutating func escape() throws -> Unicode.Scalar {
        guard let byte = current else { throw error("unterminated string") }
        offset += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let unit = try hexUnit()
            if (0xD800 ..< 0xDC00).contains(unit) {
                guard current == UInt8(ascii: "\\") else { throw error("unpaired surrogate") }
                offset += 1
                guard current == UInt8(ascii: "u") else { throw error("unpaired surrogate") }
                offset += 1
                let low = try hexUnit()
                guard (0xDC00 ..< 0xE000).contains(low) else { throw error("unpaired surrogate") }
                return Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))!
            }
            guard let scalar = Unicode.Scalar(unit) else { throw error("unpaired surrogate") }
            return scalar
        default:
            offset -= 1
            throw error("invalid escape")
        }
    }

    mutating func hexUnit() throws -> UInt32 {
        guard offset + 4 <= bytes.count else { throw error("unterminated string") }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset ..< offset + 4]), as: UTF8.self)
        guard text.utf8.allSatisfy({ isHexDigit($0) }), let unit = UInt32(text, radix: 16) else {
            throw error("invalid \\u escape")
        }
        offset += 4
        return unit
    }

    func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a") ... UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A") ... UInt8(ascii: "F")).contains(byte)
    }
}

// MARK: - Writing

extension JSONValue {
    /// How text is laid out, after the two writers whose output we must reproduce byte for byte.
    public enum Style: Sendable {
        /// serde_json's `to_string` (the safetensors header): no spaces, non-ASCII as UTF-8.
        case compact
        /// Python's `json.dumps(indent=2)` (Hugging Face's index and config files): ASCII only,
        /// `", "`-free lines, `": "` between key and value.
        case pythonIndented
    }

    public func serialized(_ style: Style = .compact) -> String {
        var text = ""
        write(to: &text, style: style, indent: 0)
        return text
    }

    private func write(to text: inout String, style: Style, indent: Int) {
        switch self {
        case .null: text += "null"
        case .bool(let flag): text += flag ? "true" : "false"
        case .number(let literal): text += literal
        case .string(let string): Self.writeString(string, to: &text, asciiOnly: style == .pythonIndented)
        case .array(let items):
            writeContainer(items.map { (nil, $0) }, brackets: ("[", "]"), to: &text, style: style, indent: indent)
        case .object(let members):
            writeContainer(members.map { ($0.key, $0.value) }, brackets: ("{", "}"), to: &text, style: style, indent: indent)
        }
    }

    private func writeContainer(_ items: [(String?, JSONValue)], brackets: (String, String), to text: inout String,
                                style: Style, indent: Int) {
        text += brackets.0
        guard !items.isEmpty else {
            text += brackets.1
            return
        }
        let inner = String(repeating: " ", count: indent + 2)
        for (index, (key, value)) in items.enumerated() {
            if index > 0 { text += "," }
            if style == .pythonIndented { text += "\n" + inner }
            if let key {
                Self.writeString(key, to: &text, asciiOnly: style == .pythonIndented)
                text += style == .pythonIndented ? ": " : ":"
            }
            value.write(to: &text, style: style, indent: indent + 2)
        }
        if style == .pythonIndented { text += "\n" + String(repeating: " ", count: indent) }
        text += brackets.1
    }

    private static func writeString(_ string: String, to text: inout String, asciiOnly: Bool) {
        text += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case "\u{08}": text += "\\b"
            case "\u{0C}": text += "\\f"
            default:
                if scalar.value < 0x20 || (asciiOnly && scalar.value >= 0x7F) {
                    for unit in String(scalar).utf16 { text += "\\u" + hex4(unit) }
                } else {
                    text.unicodeScalars.append(scalar)
                }
            }
        }
        text += "\""
    }

    private static func hex4(_ unit: UInt16) -> String {
        let digits = String(unit, radix: 16)
        return String(repeating: "0", count: 4 - digits.count) + digits
    }
}
