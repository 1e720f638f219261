import SystemPackage

/// A new file that appears at its path only when complete: written under a temporary name in
/// the same directory (`.#<name><16 hex>`, as casync names it) and renamed into place by
/// `commit()`. Without a commit, the temporary file is removed.
public final class AtomicFile: @unchecked Sendable {
    public let path: String
    public let file: File
    private var committed = false

    public init(path: String, permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead]) throws {
        self.path = path
        let temporary = FileSystem.directory(of: path) + "/.#" + FileSystem.lastComponent(of: path) + FileSystem.randomSuffix()
        file = try File.open(temporary, .readWrite, options: [.create, .exclusiveCreate], permissions: permissions)
    }

    /// Renames the file into place. `durable` first flushes its data, and afterwards the
    /// directory entry, so that after a crash the name holds either the old file or the complete
    /// new one, never an empty or partial file (what an updater writing an OS image needs).
    public func commit(durable: Bool = false) throws {
        if durable { try file.synchronize() }
        try FileSystem.rename(file.path, to: path)
        committed = true
        if durable { try FileSystem.synchronizeDirectory(containing: path) }
    }

    deinit {
        if !committed { try? FileSystem.remove(file.path) }
    }

    /// Writes `bytes` to `path` atomically.
    public static func write(_ bytes: [UInt8], to path: String, durable: Bool = false) throws {
        let atomic = try AtomicFile(path: path)
        try atomic.file.write(bytes, at: 0)
        try atomic.commit(durable: durable)
    }
}
