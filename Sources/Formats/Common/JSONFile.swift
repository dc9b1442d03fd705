import Foundation
import Graph

/// The JSON files of model folders (config.json, tokenizer files, genai_config.json): read from a mapping,
/// and written as transformers writes its own, `json.dumps(indent=2)` and a final newline.
enum JSONFile {
    /// `url`'s JSON; malformed JSON is reported through `error` (the format's own error for the file).
    static func read(_ url: URL, error: (_ file: String, _ problem: String) -> FormatError) throws -> JSONValue {
        do {
            let file = try MappedFile(url: url)
            return try JSONValue.parse(file.bytes)
        } catch let syntax as JSONSyntaxError {
            throw error(url.path, "malformed JSON: \(syntax)")
        }
    }

    static func write(_ value: JSONValue, to url: URL) throws {
        try write(Array((value.serialized(.pythonIndented) + "\n").utf8), to: url)
    }

    static func write(_ bytes: [UInt8], to url: URL) throws {
        do {
            try Data(bytes).write(to: url)
        } catch {
            throw FormatError.output(file: url.path, problem: error.localizedDescription)
        }
    }
}
