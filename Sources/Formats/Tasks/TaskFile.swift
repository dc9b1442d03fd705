import Foundation
import Graph

/// Multiple-choice task files in the formats people already have, read into `MultipleChoiceItem`s:
/// JSON lines in the project's own layout (`ctx`, `endings`, `label`), HellaSwag's (`ctx_a`, `ctx_b`,
/// `activity_label`), PIQA's (`goal`, `sol1`, `sol2`, labels in a separate file) and ARC's (`question.stem`,
/// `question.choices`, `answerKey`); and llama-perplexity's `--hellaswag` text (six lines per task: context,
/// label, four endings). Contexts and endings are built as lm-evaluation-harness builds them for each task.
public enum TaskFile {
    /// The items of `url`; `labels` is PIQA's separate answer file (one 0/1 per line).
    public static func read(_ url: URL, labels: URL? = nil) throws -> [MultipleChoiceItem] {
        let text = try contents(of: url)
        let items = url.pathExtension.lowercased() == "txt"
            ? try llamaHellaSwag(text, file: url.path)
            : try jsonLines(text, file: url.path, labels: try labels.map { try labelLines(of: $0) })
        guard !items.isEmpty else { throw FormatError.tasks(file: url.path, line: nil, problem: "holds no items") }
        return items
    }

    private static func contents(of url: URL) throws -> String {
        let file = try MappedFile(url: url)
        guard let text = String(bytes: file.bytes, encoding: .utf8) else {
            throw FormatError.tasks(file: url.path, line: nil, problem: "is not UTF-8 text")
        }
        return text
    }

    /// llama-perplexity's format: context, gold index, then exactly four endings, for every task.
    static func llamaHellaSwag(_ text: String, file: String) throws -> [MultipleChoiceItem] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        guard lines.count % 6 == 0 else {
            throw FormatError.tasks(file: file, line: lines.count, problem: "\(lines.count) lines are not six per task "
                                    + "(context, label, four endings)")
        }
        return try stride(from: 0, to: lines.count, by: 6).map { start in
            guard let label = Int(lines[start + 1]), (0 ..< 4).contains(label) else {
                throw FormatError.tasks(file: file, line: start + 2, problem: "label '\(lines[start + 1].prefix(20))' is not 0 to 3")
            }
            return try item(context: lines[start], endings: Array(lines[start + 2 ..< start + 6]), label: label,
                            file: file, line: start + 1)
        }
    }

    private static func jsonLines(_ text: String, file: String, labels: [String]?) throws -> [MultipleChoiceItem] {
        var items: [MultipleChoiceItem] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let number = index + 1
            let object: JSONValue
            do {
                object = try JSONValue.parse(Array(line.utf8))
            } catch {
                throw FormatError.tasks(file: file, line: number, problem: "not JSON: \(error)")
            }
            let fields = TaskFields(object: object, file: file, line: number)
            let separateLabel = labels.map { $0.indices.contains(items.count) ? $0[items.count] : nil }
            items.append(try fields.item(separateLabel: separateLabel))
        }
        if let labels, labels.count != items.count {
            throw FormatError.tasks(file: file, line: nil, problem: "has \(items.count) items but the labels file has \(labels.count) labels")
        }
        return items
    }

    private static func labelLines(of url: URL) throws -> [String] {
        try contents(of: url).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// An item whose endings are non-empty and whose label names one of them.
    static func item(context: String, endings: [String], label: Int, file: String, line: Int) throws -> MultipleChoiceItem {
        func fail(_ problem: String) -> FormatError { .tasks(file: file, line: line, problem: problem) }
        guard endings.count >= 2 else { throw fail("has \(endings.count) endings; a choice needs at least 2") }
        if let empty = endings.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw fail("ending \(empty) is empty")
        }
        guard endings.indices.contains(label) else { throw fail("label \(label) is not one of the \(endings.count) endings") }
        guard !context.trimmingCharacters(in: .whitespaces).isEmpty else { throw fail("the context is empty") }
        return MultipleChoiceItem(context: context, endings: endings, label: label, source: "\(file):\(line)")
    }
}

/// One JSON line, whichever task's fields it has.
private struct TaskFields {
    let object: JSONValue
    let file: String
    let line: Int

    func fail(_ problem: String) -> FormatError { .tasks(file: file, line: line, problem: problem) }

    func item(separateLabel: String??) throws -> MultipleChoiceItem {
        guard object.members != nil else { throw fail("is not a JSON object") }
        let (context, endings, label): (String, [String], Int)
        if let goal = object["goal"]?.string {
            (context, endings) = ("Question: \(goal)\nAnswer:", try strings(["sol1", "sol2"].map { object[$0] }, "sol1/sol2"))
            label = try index(object["label"] ?? separateLabel.flatMap { $0 }.map { .number($0) }, count: 2, field: "label")
        } else if let question = object["question"], question.members != nil {
            (context, endings, label) = try arc(question)
        } else if object["ctx_a"] != nil {
            (context, endings, label) = try hellaSwag()
        } else {
            guard let text = object["ctx"]?.string else { throw fail("has no \"ctx\" (nor HellaSwag's, PIQA's or ARC's fields)") }
            endings = try strings(object["endings"]?.array ?? [], "endings")
            (context, label) = (text, try index(object["label"], count: endings.count, field: "label"))
        }
        return try TaskFile.item(context: context, endings: endings, label: label, file: file, line: line)
    }

    /// lm-evaluation-harness's HellaSwag: "activity: ctx_a Ctx_b", brackets of WikiHow removed.
    private func hellaSwag() throws -> (String, [String], Int) {
        let activity = object["activity_label"]?.string ?? ""
        let before = object["ctx_a"]?.string ?? "", after = object["ctx_b"]?.string ?? ""
        let context = Self.preprocess(activity + ": " + before + " " + Self.pythonCapitalized(after))
        let endings = try strings(object["endings"]?.array ?? [], "endings").map(Self.preprocess)
        return (context, endings, try index(object["label"], count: endings.count, field: "label"))
    }

    /// lm-evaluation-harness's ARC: "Question: stem\nAnswer:", the choice whose label is answerKey.
    private func arc(_ question: JSONValue) throws -> (String, [String], Int) {
        guard let stem = question["stem"]?.string, let choices = question["choices"]?.array else {
            throw fail("question lacks \"stem\" or \"choices\"")
        }
        let endings = try strings(choices.map { $0["text"] }, "choices[].text")
        let labels = choices.map { $0["label"]?.string }
        guard let key = object["answerKey"]?.string, let label = labels.firstIndex(of: key) else {
            throw fail("answerKey '\(object["answerKey"]?.string ?? "")' names none of the choices")
        }
        return ("Question: \(stem)\nAnswer:", endings, label)
    }

    private func strings(_ values: [JSONValue?], _ field: String) throws -> [String] {
        try values.map { value in
            guard let text = value?.string else { throw fail("\(field) must be strings") }
            return text
        }
    }

    /// A label given as a number or as a string of digits (HellaSwag's files have both).
    private func index(_ value: JSONValue?, count: Int, field: String) throws -> Int {
        guard let value, !value.isNull else { throw fail("has no \(field)") }
        guard let label = value.int ?? value.string.flatMap({ Int($0) }) else { throw fail("\(field) is not an integer") }
        guard (0 ..< count).contains(label) else { throw fail("\(field) \(label) is not one of the \(count) endings") }
        return label
    }

    /// lm-evaluation-harness's `preprocess`: trimmed, " [title]" → ". ", other [bracketed] text removed, double spaces single.
    static func preprocess(_ text: String) -> String {
        var result = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: " [title]", with: ". ")
        result = result.replacingOccurrences(of: "\\[.*?\\]", with: "", options: .regularExpression)
        return result.replacingOccurrences(of: "  ", with: " ")
    }

    /// Python's `str.capitalize()`: the first character upper case, the rest lower case.
    static func pythonCapitalized(_ text: String) -> String {
        guard let first = text.first else { return text }
        return first.uppercased() + text.dropFirst().lowercased()
    }
}
