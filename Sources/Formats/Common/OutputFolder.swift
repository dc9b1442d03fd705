#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Graph

/// A folder being written beside its target under a temporary name (`.NAME.tmp-XXXXXX`); `commit()` puts it
/// in place, replacing a previous output folder of that name. Until then the target is untouched, and a
/// failed or interrupted write leaves nothing behind.
public final class OutputFolder {
    public let target: URL
    /// Where the files go before `commit()`.
    public let temporary: URL
    private let inputs: Set<FileIdentity>
    private var committed = false

    /// `inputs` are the files the job reads: the target may not be one of them, nor a folder holding one, nor
    /// lie inside `inputFolder` (the folder a model was read from). An existing folder is replaced only when
    /// `replacing` (the user's `--force`).
    public init(target: URL, inputs: [MappedFile], replacing: Bool = false, inputFolder: URL? = nil) throws {
        self.target = target
        self.inputs = Set(inputs.map(\.identity))
        try Self.check(target, inputs: inputs, replacing: replacing, inputFolder: inputFolder)
        var template = Array(target.deletingLastPathComponent()
            .appendingPathComponent(".\(target.lastPathComponent).tmp-XXXXXX").path.utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw FormatError.output(file: target.path, problem: "cannot create a folder beside it: \(String(cString: strerror(errno)))")
        }
        temporary = URL(fileURLWithPath: String(cString: created))
        PendingOutputs.add(temporary.path)
        // mkdtemp makes the folder private (0700); the output gets the permissions the user's umask gives.
        let mask = umask(0)
        umask(mask)
        chmod(temporary.path, 0o777 & ~mask)
    }

    /// The checks of `init`, for callers to make before long work (scoring) rather than after it.
    public static func check(_ target: URL, inputs: [MappedFile], replacing: Bool, inputFolder: URL?) throws {
        if let inputFolder {
            let folder = inputFolder.resolvingSymlinksInPath().path
            let parent = target.deletingLastPathComponent().resolvingSymlinksInPath().path
            if parent == folder || parent.hasPrefix(folder + "/") {
                throw FormatError.output(file: target.path, problem: "is inside the input folder \(inputFolder.path)")
            }
        }
        var isFolder: ObjCBool = false
        if !replacing, FileManager.default.fileExists(atPath: target.path, isDirectory: &isFolder), isFolder.boolValue {
            try checkReplaceable(target, inputs: Set(inputs.map(\.identity)))
            throw FormatError.output(file: target.path, problem: "exists; give --force to replace it")
        }
        try checkReplaceable(target, inputs: Set(inputs.map(\.identity)))
    }

    deinit {
        if !committed { try? FileManager.default.removeItem(at: temporary) }
        PendingOutputs.remove(temporary.path)
    }

    /// The temporary location of a file of the folder.
    public func url(for name: String) -> URL { temporary.appendingPathComponent(name) }

    /// Renames the folder into place. A previous folder at the target is renamed aside first and removed
    /// once the new one is in; if the swap fails, it is put back.
    public func commit() throws {
        let aside = target.deletingLastPathComponent()
            .appendingPathComponent(".\(target.lastPathComponent).old-\(getpid())")
        let replacing = FileManager.default.fileExists(atPath: target.path)
        if replacing {
            try Self.checkReplaceable(target, inputs: inputs)
            guard rename(target.path, aside.path) == 0 else {
                throw FormatError.output(file: target.path, problem: "cannot move the old folder aside: \(String(cString: strerror(errno)))")
            }
        }
        guard rename(temporary.path, target.path) == 0 else {
            let problem = String(cString: strerror(errno))
            if replacing { _ = rename(aside.path, target.path) }
            throw FormatError.output(file: target.path, problem: "cannot rename into place: \(problem)")
        }
        committed = true
        if replacing { try? FileManager.default.removeItem(at: aside) }
    }

    /// A target may be absent or an existing folder that holds none of the inputs.
    private static func checkReplaceable(_ target: URL, inputs: Set<FileIdentity>) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: target.path, isDirectory: &isFolder) else { return }
        guard isFolder.boolValue else {
            throw FormatError.output(file: target.path, problem: "exists and is not a folder")
        }
        if let identity = FileIdentity(path: target.path), inputs.contains(identity) {
            throw FormatError.output(file: target.path, problem: "refusing to replace an input")
        }
        let contents = FileManager.default.enumerator(atPath: target.path)
        while let relative = contents?.nextObject() as? String {
            if let identity = FileIdentity(path: target.appendingPathComponent(relative).path), inputs.contains(identity) {
                throw FormatError.output(file: target.path, problem: "refusing to replace a folder that holds the input \(relative)")
            }
        }
    }
}
