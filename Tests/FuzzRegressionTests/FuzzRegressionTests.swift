import Foundation
import FuzzEntry
import Testing
import TestSupport

/// Every committed input of TestModels/fuzz-regressions/<folder>/ (the seeds that matter and every input the
/// fuzzers of `make fuzz` found crashing) runs through the fuzz targets that replay that folder: each must end in a result or a
/// thrown error, never a trap. A trap stops the test run; `.build-fuzz/release/fuzz-<target> FILE` (after
/// `make fuzz`) runs one input alone and names it.
struct FuzzRegressionTests {
    static let folder = Repository.testModel("fuzz-regressions")

    @Test(arguments: FuzzTargets.all.map(\.name))
    func committedInputsRunWithoutTrapping(target: String) throws {
        let entry = try #require(FuzzTargets.all.first { $0.name == target })
        let directory = Self.folder.appendingPathComponent(entry.regressions)
        let names = try #require(try? FileManager.default.contentsOfDirectory(atPath: directory.path),
                                 "\(directory.path) is missing: every fuzz target needs its regression inputs")
        let files = names.filter { !$0.hasPrefix(".") }.sorted()
        try #require(!files.isEmpty, "\(directory.path) is empty: every fuzz target needs its regression inputs")
        for name in files {
            let data = try Data(contentsOf: directory.appendingPathComponent(name))
            data.withUnsafeBytes { entry.run($0) }
        }
    }

    @Test func everyFolderBelongsToATarget() throws {
        let folders = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path).filter { !$0.hasPrefix(".") }
        #expect(Set(folders) == Set(FuzzTargets.all.map(\.regressions)))
    }
}
