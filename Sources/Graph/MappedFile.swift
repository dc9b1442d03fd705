#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A read-only file mapped into memory. Pages load only when touched, so opening a 40 GB model costs
/// nothing; `Data(contentsOf:options:.mappedIfSafe)` would read it all on Linux.
public final class MappedFile: @unchecked Sendable {
    public let url: URL
    public let size: Int
    public let descriptor: Int32
    public let bytes: UnsafeRawBufferPointer

    public var path: String { url.path }

    public convenience init(url: URL) throws {
        // Non-blocking, so a FIFO named as a model is refused below instead of waiting for a writer forever.
        let fd = open(url.path, O_RDONLY | O_NONBLOCK)
        guard fd >= 0 else { throw FileAccessError(path: url.path, problem: String(cString: strerror(errno))) }
        try self.init(descriptor: fd, url: url)
    }

    /// Maps the regular file open as `fd`, which the mapping then owns (and closes, also on failure).
    init(descriptor fd: Int32, url: URL) throws {
        self.url = url
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let problem = String(cString: strerror(errno))
            close(fd)
            throw FileAccessError(path: url.path, problem: problem)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw FileAccessError(path: url.path, problem: "not a regular file")
        }
        descriptor = fd
        size = Int(info.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            let problem = String(cString: strerror(errno))
            close(fd)
            throw FileAccessError(path: url.path, problem: "cannot map: \(problem)")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    /// Bytes made in memory (weights that surgery computes) in the same clothes as a file, so tensors hold them
    /// like any other; `name` stands for the path in messages. There is no descriptor (-1): writers copy them
    /// from `bytes`.
    public init(name: String, contents: [UInt8]) {
        let count = contents.count
        url = URL(fileURLWithPath: "/(memory)/\(name)")
        size = count
        descriptor = -1
        guard count > 0, let base = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              base != MAP_FAILED else {
            // Computed tensors are a few MB at most (recovery maps); running out of memory here is fatal anyway.
            precondition(count == 0, "cannot allocate \(count) bytes for \(name)")
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        contents.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: count) }
        bytes = UnsafeRawBufferPointer(start: base, count: count)
    }

    public var isInMemory: Bool { descriptor < 0 }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), size) }
        if descriptor >= 0 { close(descriptor) }
    }

    /// Identity of the file on disk, to refuse writing over an input (none for bytes in memory).
    public var identity: FileIdentity {
        guard descriptor >= 0 else { return FileIdentity(device: 0, inode: 0) }
        var info = stat()
        fstat(descriptor, &info)
        return FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }
}

public struct FileIdentity: Hashable, Sendable {
    public let device: UInt64
    public let inode: UInt64

    /// The identity of the file at `path`, or nil when nothing is there.
    public init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        self.init(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }
}

public struct FileAccessError: Error, CustomStringConvertible {
    public let path: String
    public let problem: String
    public var description: String { "\(path): \(problem)" }
}
