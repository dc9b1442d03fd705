import Foundation

/// How the CLI writes numbers and sizes for people, reads sizes from arguments, and writes JSON for machines.
enum Format {
    /// `text` safe to print to a terminal: names and values come from strangers' files, so control characters
    /// (other than newline and tab), bidirectional overrides and replaced invalid bytes are shown as `\u{…}`
    /// escapes instead of acting.
    static func terminalSafe(_ text: String, keepingLines: Bool = true) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            let isControl = scalar.properties.generalCategory == .control && !(keepingLines && (scalar == "\n" || scalar == "\t"))
            let isBidi = (0x202A ... 0x202E).contains(scalar.value) || (0x2066 ... 0x2069).contains(scalar.value)
            // U+FFFD stands for bytes that were not UTF-8: shown as an escape, it says so.
            if isControl || isBidi || scalar == "\u{FFFD}" {
                result += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// An error message as one terminal-safe line of at most `limit` characters (a file may name a key with
    /// megabytes of text).
    static func oneLine(_ text: String, limit: Int = 600) -> String {
        let safe = terminalSafe(text, keepingLines: false)
        return safe.count <= limit ? safe : safe.prefix(limit) + "… (\(safe.count - limit) more characters)"
    }

    static func bytes(_ count: Int) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(count)
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
    }

    static func count(_ value: Int) -> String {
        switch value {
        case 1_000_000_000...: String(format: "%.2f B", Double(value) / 1e9)
        case 1_000_000...: String(format: "%.2f M", Double(value) / 1e6)
        case 1000...: String(format: "%.1f K", Double(value) / 1e3)
        default: "\(value)"
        }
    }

    /// Decimal sizes as gguf-split reads them: 500M, 4G, 300K, or plain bytes.
    static func parseSize(_ text: String) -> Int? {
        let multipliers: [Character: Double] = ["K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12]
        let upper = text.uppercased()
        if let last = upper.last, let multiplier = multipliers[last], let number = Double(upper.dropLast()), number > 0 {
            return Int(exactly: (number * multiplier).rounded(.down)).flatMap { $0 > 0 ? $0 : nil }
        }
        return Int(upper).flatMap { $0 > 0 ? $0 : nil }
    }

    /// Pretty JSON with sorted keys; a NaN or infinite number (a score of a model whose states overflow or
    /// vanish) is written as null, since JSON has no such numbers.
    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let marker = "\u{1}non-finite\u{1}"
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: marker, negativeInfinity: marker, nan: marker)
        let text = String(decoding: try encoder.encode(value), as: UTF8.self)
        return text.replacingOccurrences(of: "\"\\u0001non-finite\\u0001\"", with: "null")
    }
}
