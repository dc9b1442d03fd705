#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CFileCopy
import Foundation
import Graph
import Tensors

/// Temporary files being written right now, so an interrupted run can remove them on its way out.
public enum PendingOutputs {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var paths: Set<String> = []

    static func add(_ path: String) { lock.withLock { _ = paths.insert(path) } }
    static func remove(_ path: String) { lock.withLock { _ = paths.remove(path) } }

    /// Deletes every temporary file and folder still pending (for a signal handler: the targets stay untouched).
    public static func removeAll() {
        lock.withLock {
            for path in paths where unlink(path) != 0 { try? FileManager.default.removeItem(atPath: path) }
            paths.removeAll()
        }
    }
}

/// A file being written beside its target under a temporary name; `commit()` renames it into place.
/// Until then the target is untouched, and a failed write leaves nothing behind.
final class OutputFile {
    let target: URL
    let temporary: URL
    private let descriptor: Int32
    private var committed = false
    private(set) var bytesWritten = 0

    init(target: URL) throws {
        self.target = target
        let name = ".\(target.lastPathComponent).\(getpid()).modelsurgery-tmp"
        temporary = target.deletingLastPathComponent().appendingPathComponent(name)
        descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else {
            throw FormatError.output(file: target.path, problem: "cannot create: \(String(cString: strerror(errno)))")
        }
        PendingOutputs.add(temporary.path)
    }

    deinit {
        close(descriptor)
        if !committed { unlink(temporary.path) }
        PendingOutputs.remove(temporary.path)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let written = systemWrite(descriptor, bytes.baseAddress! + done, bytes.count - done)
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                throw FormatError.output(file: target.path, problem: "write failed: \(String(cString: strerror(errno)))")
            }
            done += written
        }
        bytesWritten += done
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    func writeZeros(_ count: Int) throws {
        guard count > 0 else { return }
        try write([UInt8](repeating: 0, count: count))
    }

    /// Whether the kernel can copy between these files; cleared at the first refusal (another file system,
    /// an old kernel, macOS).
    private var kernelCopy = true

    /// Copies `source` inside the kernel (copy_file_range, as `cp` does), or else through `buffer` with pread;
    /// either way memory stays bounded and the source mapping is never paged in whole.
    func copy(_ source: TensorBytes, through buffer: UnsafeMutableRawBufferPointer) throws {
        if source.file.isInMemory { return try write(source.buffer) }
        var done = 0
        while kernelCopy && done < source.count {
            var offset = off_t(source.offset + done)
            let copied = modelsurgery_copy_file_range(source.file.descriptor, &offset, descriptor, source.count - done)
            if copied > 0 {
                done += copied
                bytesWritten += copied
            } else if copied < 0 && errno == EINTR {
                continue
            } else if copied < 0 && [EXDEV, EINVAL, ENOSYS, EOPNOTSUPP, EBADF, EPERM].contains(errno) {
                kernelCopy = false
            } else {
                throw FormatError.output(file: target.path, problem: copied == 0
                    ? "\(source.file.path) ended early"
                    : "copying from \(source.file.path) failed: \(String(cString: strerror(errno)))")
            }
        }
        while done < source.count {
            let chunk = min(buffer.count, source.count - done)
            let got = pread(source.file.descriptor, buffer.baseAddress!, chunk, off_t(source.offset + done))
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else {
                throw FormatError.output(file: target.path,
                                         problem: "reading \(source.file.path) failed: \(String(cString: strerror(errno)))")
            }
            try write(UnsafeRawBufferPointer(rebasing: buffer[0 ..< got]))
            done += got
        }
    }

    func commit() throws {
        guard rename(temporary.path, target.path) == 0 else {
            throw FormatError.output(file: target.path, problem: "cannot rename into place: \(String(cString: strerror(errno)))")
        }
        committed = true
    }
}

/// The checks a writer makes of a file target, made before any work (scoring takes minutes): not one of the
/// model's files, and its folder exists and can be written.
public func checkOutputFile(_ target: URL, of model: Model) throws {
    try checkNotOverwritingInput([target], of: model)
    let folder = target.deletingLastPathComponent().path
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue,
          access(folder, W_OK) == 0 else {
        throw FormatError.output(file: target.path, problem: "cannot write into \(folder)")
    }
}

/// Refuses targets that are one of the model's own source files.
func checkNotOverwritingInput(_ targets: [URL], of model: Model) throws {
    try checkNotOverwriting(model.origin.files, with: targets)
}

/// Refuses targets that are one of `inputs`.
func checkNotOverwriting(_ inputs: [MappedFile], with targets: [URL]) throws {
    let inputs = Set(inputs.map(\.identity))
    for target in targets {
        if let identity = FileIdentity(path: target.path), inputs.contains(identity) {
            throw FormatError.output(file: target.path, problem: "refusing to overwrite an input file")
        }
    }
}

#if canImport(Glibc)
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
private let systemWrite = Darwin.write
#endif

extension OutputFile {
    /// Appends a tensor's bytes: copied from its mapping, or taken from its producer and counted.
    func write(_ payload: TensorPayload, of tensor: String, through buffer: UnsafeMutableRawBufferPointer) throws {
        switch payload {
        case .bytes(let bytes):
            try copy(bytes, through: buffer)
        case .produced(let byteCount, let produce):
            var written = 0
            func mismatch(_ count: String) -> FormatError {
                .output(file: target.path, problem: "tensor '\(tensor)' produced \(count) bytes, expected \(byteCount)")
            }
            try produce { chunk in
                guard written + chunk.count <= byteCount else { throw mismatch("more than \(byteCount)") }
                try write(chunk)
                written += chunk.count
            }
            guard written == byteCount else { throw mismatch("\(written)") }
        }
    }
}
