@preconcurrency import Glibc
import SystemPackage
internal import CCairnLinux

/// Path operations that the stores and engines share.
public enum FileSystem {
    public struct Status: Sendable {
        public let size: UInt64
        public let modified: Double
        public let isRegular: Bool
        public let isBlockDevice: Bool
        public let isDirectory: Bool
        /// Changes whenever the file is replaced or rewritten: inode, modification time in
        /// nanoseconds and size.
        public let version: String

        init(_ s: Glibc.stat) {
            let kind = s.st_mode & S_IFMT
            size = UInt64(s.st_size)
            modified = Double(s.st_mtim.tv_sec) + Double(s.st_mtim.tv_nsec) / 1e9
            (isRegular, isBlockDevice, isDirectory) = (kind == S_IFREG, kind == S_IFBLK, kind == S_IFDIR)
            version = "\(s.st_ino)-\(s.st_mtim.tv_sec)\(String(s.st_mtim.tv_nsec).leftPadded(to: 9))-\(s.st_size)"
        }
    }

    /// The status of `path`, or nil if nothing is there. A final symlink is not followed unless asked.
    public static func status(_ path: String, followingLinks: Bool = false) throws -> Status? {
        var s = Glibc.stat()
        guard (followingLinks ? stat(path, &s) : lstat(path, &s)) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw SystemError("stat", path, Errno(rawValue: errno))
        }
        return Status(s)
    }

    /// Flushes everything written to the file system that holds `path` (`syncfs`): one call makes
    /// a batch of new files durable, where a sync per file would cost a disk flush each.
    public static func synchronizeFileSystem(containing path: String) throws {
        let directory = try File.open(path, .readOnly, options: [.directory])
        guard cairn_syncfs(directory.descriptor.rawValue) == 0 else { throw SystemError("sync the file system of", path, Errno(rawValue: errno)) }
    }

    /// The absolute path with every symlink resolved (`realpath`).
    public static func resolvedPath(_ path: String) throws -> String {
        guard let resolved = realpath(path, nil) else { throw SystemError("resolve", path, Errno(rawValue: errno)) }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Whether anything (even a dangling symlink) is at `path`.
    public static func exists(_ path: String) -> Bool {
        faccessat(AT_FDCWD, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0
    }

    /// Creates a directory and its missing parents; an existing directory is fine.
    public static func makeDirectories(_ path: String, permissions: Glibc.mode_t = 0o777) throws {
        if mkdir(path, permissions) == 0 || errno == EEXIST { return }
        guard errno == ENOENT else { throw SystemError("create directory", path, Errno(rawValue: errno)) }
        let parent = directory(of: path)
        if parent != path { try makeDirectories(parent, permissions: permissions) }
        guard mkdir(path, permissions) == 0 || errno == EEXIST else {
            throw SystemError("create directory", path, Errno(rawValue: errno))
        }
    }

    public static func rename(_ from: String, to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw SystemError("rename \(from) to", to, Errno(rawValue: errno)) }
    }

    /// Gives the file at `from` a second name, unless something already has that name: then
    /// returns false. Atomic, so it can publish a complete file only if nobody else did.
    public static func link(_ from: String, to: String) throws -> Bool {
        if Glibc.link(from, to) == 0 { return true }
        guard errno == EEXIST else { throw SystemError("link \(from) to", to, Errno(rawValue: errno)) }
        return false
    }

    /// Flushes the directory holding `path`, so that a name just created or renamed there
    /// survives a crash.
    public static func synchronizeDirectory(containing path: String) throws {
        try File.open(directory(of: path), .readOnly, options: .directory).synchronize()
    }

    /// Runs `body` holding an exclusive `flock` on `path` (created if needed), which serialises
    /// it with every other process doing the same.
    public static func withExclusiveLock<T>(_ path: String, _ body: () throws -> T) throws -> T {
        let file = try File.open(path, .readWrite, options: [.create], permissions: [.ownerReadWrite, .groupRead, .otherRead])
        try lock(file, exclusive: true)
        return try withExtendedLifetime(file) { try body() }  // closing the file would release the lock
    }

    /// Where the symlink at `path` points, or nil if `path` is no symlink (or nothing).
    public static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let count = readlink(path, &buffer, 4096)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Points the symlink at `path` to `target`, replacing whatever was there in one step (a
    /// new link under a temporary name, renamed over the old one).
    public static func replaceSymlink(at path: String, target: String) throws {
        let temporary = directory(of: path) + "/.#" + lastComponent(of: path) + randomSuffix()
        guard symlink(target, temporary) == 0 else { throw SystemError("create symlink", temporary, Errno(rawValue: errno)) }
        do { try rename(temporary, to: path) } catch {
            try? remove(temporary)
            throw error
        }
    }

    /// Takes a `flock` on `file` (shared or exclusive), waiting for it.
    public static func lock(_ file: File, exclusive: Bool) throws {
        while flock(file.descriptor.rawValue, exclusive ? LOCK_EX : LOCK_SH) != 0 {
            guard errno == EINTR else { throw SystemError("lock", file.path, Errno(rawValue: errno)) }
        }
    }

    /// Removes a file; a file that is already gone is fine.
    public static func remove(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else { throw SystemError("remove", path, Errno(rawValue: errno)) }
    }

    /// Removes `path` and, for a directory, everything under it (symlinks are removed, not
    /// followed); a path that is already gone is fine.
    public static func removeTree(_ path: String) throws { try RawPath.removeTree(Array(path.utf8)) }

    /// Sets an xattr of `path` (not following a final symlink).
    public static func setXattr(_ name: [UInt8], _ value: [UInt8], of path: String) throws {
        let result = (name + [0]).withUnsafeBufferPointer { name in
            value.withUnsafeBytes { cairn_lsetxattr(path, UnsafeRawPointer(name.baseAddress!).assumingMemoryBound(to: CChar.self), $0.baseAddress, $0.count) }
        }
        guard result == 0 else { throw SystemError("set the xattr \(String(decoding: name, as: UTF8.self)) of", path, Errno(rawValue: errno)) }
    }

    public static func makeSymlink(at path: String, target: String) throws {
        guard Glibc.symlink(target, path) == 0 else { throw SystemError("create the symlink", path, Errno(rawValue: errno)) }
    }

    /// Bind-mounts the directory `source` at `target`, read-write but without set-id programs or
    /// device nodes; `target` must be a directory itself, not a symlink to one. Needs root.
    public static func bindMount(_ source: String, at target: String) throws {
        guard try status(target)?.isDirectory == true else { throw SystemError("bind-mount \(source) at", target, .notDirectory) }
        guard Glibc.mount(source, target, nil, UInt(MS_BIND), nil) == 0 else { throw SystemError("bind-mount \(source) at", target, Errno(rawValue: errno)) }
        guard Glibc.mount(nil, target, nil, UInt(MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV), nil) == 0 else {
            let failure = Errno(rawValue: errno)
            umount2(target, 0)
            throw SystemError("make nosuid,nodev the bind mount at", target, failure)
        }
    }

    public static func unmount(_ path: String) throws {
        guard umount2(path, 0) == 0 else { throw SystemError("unmount", path, Errno(rawValue: errno)) }
    }

    /// Removes an empty directory, and says whether it did.
    @discardableResult
    public static func removeEmptyDirectory(_ path: String) -> Bool { rmdir(path) == 0 }

    /// The names in a directory, without "." and "..".
    public static func contents(of path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw SystemError("list", path, Errno(rawValue: errno)) }
        defer { closedir(dir) }
        var names = [String]()
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    public static func lastComponent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// 16 random lowercase hex digits, for temporary file names.
    public static func randomSuffix() -> String {
        String(UInt64.random(in: .min ... .max), radix: 16).leftPadded(to: 16)
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

extension FileSystem {
    /// Mounts the composefs image open as `image` read-only at `target`, as mount.composefs
    /// does: the EROFS image on a loop device, kept detached, under overlayfs with `objects` as
    /// a data-only lower layer. With `requireVerity`, overlayfs checks every file's fs-verity
    /// digest against the one the image names. Needs root (CAP_SYS_ADMIN).
    public static func mountComposefs(image: File, objects: String, at target: String, requireVerity: Bool) throws {
        var step: UnsafePointer<CChar>?
        guard cairn_mount_composefs(image.descriptor.rawValue, objects, target, requireVerity ? 1 : 0, &step) == 0 else {
            throw SystemError(step.map { String(cString: $0) } ?? "mount", target, Errno(rawValue: errno))
        }
    }
}
