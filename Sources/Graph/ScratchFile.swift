#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Bytes a reader computes (weights it transposes or dequantizes), appended to a file that is unlinked as soon
/// as it is made: the kernel's page cache holds them, not anonymous memory, and nothing is left behind.
/// `mapped()` maps what was written, once, for tensors to point into like any input file.
public final class ScratchFile {
    private let descriptor: Int32
    private let url: URL
    public private(set) var size = 0

    /// A scratch file in `folder` (for instance $TMPDIR); `name` is what messages call it.
    public init(in folder: URL, name: String) throws {
        var template = Array(folder.appendingPathComponent("\(name)-XXXXXX").path.utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw FileAccessError(path: folder.path, problem: "cannot make a scratch file: \(String(cString: strerror(errno)))")
        }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        unlink(path)
        descriptor = fd
        url = URL(fileURLWithPath: path)
    }

    deinit { close(descriptor) }

    /// Appends `bytes` and returns the offset they start at.
    @discardableResult
    public func append(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        let offset = size
        var done = 0
        while done < bytes.count {
            let written = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            guard written > 0 else {
                throw FileAccessError(path: url.path, problem: "cannot write scratch data: \(String(cString: strerror(errno)))")
            }
            done += written
        }
        size += bytes.count
        return offset
    }

    /// The bytes written so far, mapped read-only; the mapping keeps the file alive after this object goes.
    public func mapped() throws -> MappedFile {
        let copy = dup(descriptor)
        guard copy >= 0 else { throw FileAccessError(path: url.path, problem: String(cString: strerror(errno))) }
        return try MappedFile(descriptor: copy, url: url)
    }
}
