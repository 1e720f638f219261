@preconcurrency import Glibc
import SystemPackage
internal import CCairnLinux

/// An open file or block device with positioned, complete reads and writes (`pread`/`pwrite`
/// loops that retry short transfers and interrupts). Errors name the path.
public final class File: @unchecked Sendable {
    public let path: String
    public let descriptor: FileDescriptor

    public init(path: String, descriptor: FileDescriptor) {
        (self.path, self.descriptor) = (path, descriptor)
    }

    public static func open(
        _ path: String, _ mode: FileDescriptor.AccessMode,
        options: FileDescriptor.OpenOptions = [], permissions: FilePermissions? = nil
    ) throws -> File {
        let fd = try attempt("open", path) {
            try FileDescriptor.open(FilePath(path), mode, options: options.union(.closeOnExec), permissions: permissions)
        }
        return File(path: path, descriptor: fd)
    }

    deinit { try? descriptor.close() }

    /// Fills as much of `buffer` as the file has from `offset`; returns the byte count (short only at end of file).
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = try attempt("read", path) {
                try descriptor.read(fromAbsoluteOffset: Int64(offset) + Int64(done), into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Exactly `count` bytes at `offset`, or nil where the file ends sooner.
    public func read(exactly count: Int, at offset: UInt64) throws -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        let got = try bytes.withUnsafeMutableBytes { raw in try read(into: raw, at: offset) }
        return got == count ? bytes : nil
    }

    /// The whole file, as large as `fstat` says it is (for files nobody is still writing).
    public func readAll() throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Int(try size()))
        let got = try bytes.withUnsafeMutableBytes { raw in try read(into: raw, at: 0) }
        bytes.removeLast(bytes.count - got)
        return bytes
    }

    public func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        _ = try attempt("write", path) {
            try descriptor.writeAll(toAbsoluteOffset: Int64(offset), bytes)
        }
    }

    public func write(_ bytes: [UInt8], at offset: UInt64) throws {
        try bytes.withUnsafeBytes { (raw) in try write(raw, at: offset) }
    }

    /// The size of a regular file, or the capacity of a block device.
    public func size() throws -> UInt64 {
        let status = try stat()
        if (status.st_mode & S_IFMT) == S_IFBLK {
            let end = try attempt("seek to the end of", path) { try descriptor.seek(offset: 0, from: .end) }
            return UInt64(end)
        }
        return UInt64(status.st_size)
    }

    public func status() throws -> FileSystem.Status { FileSystem.Status(try stat()) }

    func stat() throws -> Glibc.stat {
        var status = Glibc.stat()
        guard fstat(descriptor.rawValue, &status) == 0 else { throw SystemError("stat", path, Errno(rawValue: Glibc.errno)) }
        return status
    }

    /// Waits until the file's data is on stable storage.
    public func synchronize() throws {
        while fdatasync(descriptor.rawValue) != 0 {
            guard Glibc.errno == EINTR else { throw SystemError("flush", path, Errno(rawValue: Glibc.errno)) }
        }
    }

    public func truncate(to size: UInt64) throws {
        guard ftruncate(descriptor.rawValue, off_t(size)) == 0 else {
            throw SystemError("set the size of", path, Errno(rawValue: Glibc.errno))
        }
    }

    /// Deallocates a range so that it reads as zeros without using disk space.
    /// Returns false where the file system cannot punch holes.
    @discardableResult
    public func punchHole(at offset: UInt64, count: Int) -> Bool {
        cairn_punch_hole(descriptor.rawValue, off_t(offset), off_t(count)) == 0
    }

    /// Everything on standard input, up to end of file.
    public static func readStandardInput() throws -> [UInt8] {
        var bytes = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = try attempt("read", "standard input") {
                try buffer.withUnsafeMutableBytes { try FileDescriptor.standardInput.read(into: $0) }
            }
            if count == 0 { return bytes }
            bytes += buffer[..<count]
        }
    }

    /// Writes all of `bytes` to standard output.
    public static func writeStandardOutput(_ bytes: [UInt8]) throws {
        _ = try attempt("write", "standard output") { try FileDescriptor.standardOutput.writeAll(bytes) }
    }
}
