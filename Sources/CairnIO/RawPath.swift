@preconcurrency import Glibc
import SystemPackage
internal import CCairnLinux

/// File system calls on paths given as raw bytes: Linux file names are bytes, not necessarily
/// UTF-8, and an image must keep them exactly. Errors name the path (decoded for display).
public enum RawPath {
    /// What `lstat` says of a path.
    public struct Metadata: Sendable, Equatable {
        public let mode: UInt32
        public let uid: UInt32
        public let gid: UInt32
        public let rdev: UInt64
        public let size: UInt64
        public let seconds: Int64
        public let nanoseconds: UInt32
        public let device: UInt64
        public let inode: UInt64

        public var isDirectory: Bool { mode & S_IFMT == S_IFDIR }
        public var isRegular: Bool { mode & S_IFMT == S_IFREG }
        public var isSymlink: Bool { mode & S_IFMT == S_IFLNK }
    }

    public static func display(_ path: [UInt8]) -> String { String(decoding: path, as: UTF8.self) }

    /// `a/b` from `a` and `b` (no doubled slash).
    public static func join(_ directory: [UInt8], _ name: [UInt8]) -> [UInt8] {
        var path = directory
        while path.count > 1, path.last == UInt8(ascii: "/") { path.removeLast() }
        if path != [UInt8(ascii: "/")] { path.append(UInt8(ascii: "/")) }
        return path + name
    }

    static func withCPath<T>(_ path: [UInt8], _ body: (UnsafePointer<CChar>) throws -> T) rethrows -> T {
        try (path + [0]).withUnsafeBufferPointer { bytes in
            try bytes.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) }
        }
    }

    /// The path's own status (a final symlink is not followed).
    public static func status(_ path: [UInt8]) throws -> Metadata {
        var s = Glibc.stat()
        guard withCPath(path, { lstat($0, &s) }) == 0 else { throw SystemError("stat", display(path), Errno(rawValue: errno)) }
        return Metadata(
            mode: s.st_mode, uid: s.st_uid, gid: s.st_gid, rdev: UInt64(s.st_rdev), size: UInt64(s.st_size),
            seconds: Int64(s.st_mtim.tv_sec), nanoseconds: UInt32(s.st_mtim.tv_nsec),
            device: UInt64(s.st_dev), inode: UInt64(s.st_ino))
    }

    /// The names in a directory, without "." and "..", in the order the file system gives.
    public static func entries(_ path: [UInt8]) throws -> [[UInt8]] {
        guard let directory = withCPath(path, { opendir($0) }) else { throw SystemError("list", display(path), Errno(rawValue: errno)) }
        defer { closedir(directory) }
        var names = [[UInt8]]()
        while true {
            errno = 0
            guard let entry = readdir(directory) else {
                if errno != 0 { throw SystemError("list", display(path), Errno(rawValue: errno)) }
                return names
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if name != [UInt8(ascii: ".")] && name != [UInt8(ascii: "."), UInt8(ascii: ".")] { names.append(name) }
        }
    }

    /// Removes `path` and, for a directory, everything under it, whatever bytes the names are
    /// (symlinks are removed, not followed); a path that is already gone is fine.
    public static func removeTree(_ path: [UInt8]) throws {
        let metadata: Metadata
        do { metadata = try status(path) } catch let error as SystemError where error.errno == .noSuchFileOrDirectory { return }
        if metadata.isDirectory {
            for name in try entries(path) { try removeTree(join(path, name)) }
            guard withCPath(path, { rmdir($0) }) == 0 || errno == ENOENT else { throw SystemError("remove the directory", display(path), Errno(rawValue: errno)) }
        } else {
            guard withCPath(path, { unlink($0) }) == 0 || errno == ENOENT else { throw SystemError("remove", display(path), Errno(rawValue: errno)) }
        }
    }

    /// A symlink's target.
    public static func readLink(_ path: [UInt8]) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = withCPath(path) { cPath in
            buffer.withUnsafeMutableBufferPointer { readlink(cPath, UnsafeMutableRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), $0.count) }
        }
        guard count >= 0 else { throw SystemError("readlink", display(path), Errno(rawValue: errno)) }
        return Array(buffer[..<count])
    }

    /// The path's xattrs (of a symlink itself, not its target), in the file system's order.
    public static func xattrs(_ path: [UInt8]) throws -> [(name: [UInt8], value: [UInt8])] {
        let names: [UInt8] = try withCPath(path) { cPath in
            try readGrowing("listxattr", path) { buffer, size in cairn_llistxattr(cPath, buffer, size) }
        }
        return try names.split(separator: 0).map { name in
            let name = Array(name)
            let value = try withCPath(path) { cPath in
                try withCPath(name) { cName in
                    try readGrowing("getxattr", path) { buffer, size in cairn_lgetxattr(cPath, cName, buffer, size) }
                }
            }
            return (name, value)
        }
    }

    /// Calls `read` with a buffer large enough for what it reports (retrying if it grew meanwhile).
    private static func readGrowing(_ operation: String, _ path: [UInt8], _ read: (UnsafeMutablePointer<CChar>?, Int) -> Int) throws -> [UInt8] {
        while true {
            let size = read(nil, 0)
            guard size >= 0 else { throw SystemError(operation, display(path), Errno(rawValue: errno)) }
            if size == 0 { return [] }
            var buffer = [UInt8](repeating: 0, count: size)
            let got = buffer.withUnsafeMutableBufferPointer { read(UnsafeMutableRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), size) }
            if got >= 0 { return Array(buffer[..<got]) }
            guard errno == ERANGE else { throw SystemError(operation, display(path), Errno(rawValue: errno)) }
        }
    }

    public static func open(_ path: [UInt8], _ mode: FileDescriptor.AccessMode) throws -> File {
        let descriptor = try withCPath(path) { cPath in
            try attempt("open", display(path)) {
                try FileDescriptor.open(FilePath(platformString: cPath), mode, options: [.closeOnExec, .noFollow])
            }
        }
        return File(path: display(path), descriptor: descriptor)
    }
}
