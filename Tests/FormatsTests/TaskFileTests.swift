import Foundation
import Graph
import Testing
@testable import Formats

/// The task readers on samples of each public layout (TestModels/tasks, written for the project in those
/// layouts), and their errors on files with one known problem each.
struct TaskFileTests {
    static func url(_ name: String) -> URL { Fixtures.url("tasks/\(name)") }

    @Test(arguments: [("hellaswag-sample.jsonl", [0, 2, 3, 1]), ("llama-hellaswag-sample.txt", [0, 2, 3, 1]),
                      ("arc-sample.jsonl", [0, 1, 1, 2, 0]), ("generic-sample.jsonl", [0, 0, 1, 3])])
    func readsTheLabels(name: String, labels: [Int]) throws {
        let items = try TaskFile.read(Self.url(name))
        #expect(items.map(\.label) == labels)
        #expect(items.enumerated().allSatisfy { $1.source == Self.url(name).path + ":\($0 * (name.hasSuffix(".txt") ? 6 : 1) + 1)" })
    }

    /// lm-evaluation-harness's HellaSwag preprocessing gives what llama.cpp's text files hold.
    @Test func hellaSwagJSONAndLlamaTextAgree() throws {
        let json = try TaskFile.read(Self.url("hellaswag-sample.jsonl"))
        let text = try TaskFile.read(Self.url("llama-hellaswag-sample.txt"))
        #expect(json.map(\.context) == text.map(\.context))
        #expect(json.map(\.endings) == text.map(\.endings))
        #expect(json[0].context == "Making tea: A woman fills a kettle at the sink and sets it on the stove. She takes a cup down from the shelf. She")
        #expect(!json[2].context.contains("[") && !json[2].context.contains("  "))
    }

    @Test func piqaTakesItsLabelsFile() throws {
        let items = try TaskFile.read(Self.url("piqa-sample.jsonl"), labels: Self.url("piqa-sample-labels.lst"))
        #expect(items.map(\.label) == [0, 1, 0, 1])
        #expect(items.allSatisfy { $0.endings.count == 2 && $0.context.hasPrefix("Question: ") && $0.context.hasSuffix("\nAnswer:") })
        #expect(throws: FormatError.self) { try TaskFile.read(Self.url("piqa-sample.jsonl")) }
    }

    @Test func arcChoicesFollowTheirLabels() throws {
        let items = try TaskFile.read(Self.url("arc-sample.jsonl"))
        #expect(items.map(\.endings.count) == [4, 4, 4, 3, 5])
        #expect(items.allSatisfy { $0.context.hasPrefix("Question: ") && $0.context.hasSuffix("\nAnswer:") })
    }

    @Test(arguments: [("missing-label.jsonl", 2, "has no label"), ("label-out-of-range.jsonl", 3, "label 7"),
                      ("empty-endings.jsonl", 1, "0 endings"), ("empty-ending-text.jsonl", 2, "ending 2 is empty"),
                      ("not-json.jsonl", 2, "not JSON"), ("llama-hellaswag-short.txt", 9, "not six per task"),
                      ("llama-hellaswag-bad-label.txt", 8, "label 'x'")])
    func namesTheLineOfAMalformedItem(name: String, line: Int, fragment: String) {
        let path = Self.url("malformed/\(name)").path
        do {
            _ = try TaskFile.read(Self.url("malformed/\(name)"))
            Issue.record("\(name) was accepted")
        } catch let error as FormatError {
            guard case let .tasks(file, reported, problem) = error else { Issue.record("\(error)"); return }
            #expect(file == path && reported == line, "\(error)")
            #expect(problem.contains(fragment), "\(error)")
            #expect(error.description.hasPrefix("\(path):\(line): "))
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func aShortLabelsFileIsRefused() {
        #expect(throws: FormatError.self) {
            try TaskFile.read(Self.url("piqa-sample.jsonl"), labels: Self.url("malformed/piqa-labels-short.lst"))
        }
    }

    @Test func theProjectTaskSetReads() throws {
        let items = try TaskFile.read(Fixtures.url("../data/tasks.jsonl"))
        #expect(items.count >= 200)
        #expect(items.allSatisfy { $0.endings.count == 4 })
    }
}
