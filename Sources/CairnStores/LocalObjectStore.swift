import CairnIO
import SystemPackage

/// A local directory as an object store: the key `a/b/c` is the file `<root>/a/b/c`, with the
/// bucket's guarantees. Objects appear complete (temporary file, then rename); `absent` writes
/// publish with link(2), which fails if the name exists; `matching` writes compare and rename
/// under an exclusive lock on `<root>/.cairn-lock`. An ETag is the file's inode, modification
/// time and size, which change whenever the object is replaced.
public struct LocalObjectStore: ObjectStore {
    public let root: String
    static let lockName = ".cairn-lock"
    static let temporaryPrefix = ".#"

    public init(root: String) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    public var description: String { root }

    func path(of key: String) throws -> String {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard !key.isEmpty, !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." || $0.hasPrefix(Self.temporaryPrefix) }) else {
            throw ObjectStoreError("\(root): \(key) is not a valid object key")
        }
        return root + "/" + key
    }

    public func get(_ key: String) async throws -> StoredObject? {
        let path = try path(of: key)
        let file: File
        do {
            file = try File.open(path, .readOnly)
        } catch let error as SystemError where error.errno == .noSuchFileOrDirectory || error.errno == .notDirectory {
            return nil
        }
        let version = try file.status().version
        return StoredObject(bytes: try file.readAll(), etag: version)
    }

    public func head(_ key: String) async throws -> ObjectInfo? {
        guard let status = try FileSystem.status(try path(of: key)), status.isRegular else { return nil }
        return ObjectInfo(key: key, size: status.size, etag: status.version, modified: status.modified)
    }

    public func put(_ key: String, bytes: [UInt8], condition: WriteCondition) async throws -> Bool {
        try write(key, condition: condition) { try $0.write(bytes, at: 0) }
    }

    public func upload(file path: String, to key: String, condition: WriteCondition) async throws -> Bool {
        let source = try File.open(path, .readOnly)
        return try write(key, condition: condition) { target in
            var buffer = [UInt8](repeating: 0, count: 8 << 20)
            var offset: UInt64 = 0
            while true {
                let count = try buffer.withUnsafeMutableBytes { try source.read(into: $0, at: offset) }
                if count == 0 { break }
                try buffer.withUnsafeBytes { try target.write(UnsafeRawBufferPointer(rebasing: $0[..<count]), at: offset) }
                offset += UInt64(count)
            }
        }
    }

    private func write(_ key: String, condition: WriteCondition, _ fill: (File) throws -> Void) throws -> Bool {
        let path = try path(of: key)
        try FileSystem.makeDirectories(FileSystem.directory(of: path))
        let temporary = try AtomicFile(path: path)
        try fill(temporary.file)
        switch condition {
        case .none:
            try temporary.commit(durable: true)
            return true
        case .absent:
            try temporary.file.synchronize()
            // The temporary name goes away with `temporary`; the link stays.
            guard try FileSystem.link(temporary.file.path, to: path) else { return false }
            try FileSystem.synchronizeDirectory(containing: path)
            return true
        case .matching(let etag):
            return try FileSystem.withExclusiveLock(root + "/" + Self.lockName) {
                guard let current = try FileSystem.status(path), current.version == etag else { return false }
                try temporary.commit(durable: true)
                return true
            }
        }
    }

    public func list(prefix: String) async throws -> [ObjectInfo] {
        try files(under: prefix, temporary: false).map { ObjectInfo(key: $0.key, size: $0.status.size, etag: $0.status.version, modified: $0.status.modified) }
    }

    public func delete(_ keys: [String]) async throws {
        for key in keys { try FileSystem.remove(try path(of: key)) }
    }

    /// Temporary files (`.#name…`) a killed writer left anywhere under the root.
    public func removeAbandonedWrites(startedBefore cutoff: Double) async throws -> Int {
        let stale = try files(under: "", temporary: true).filter { $0.status.modified < cutoff }
        for file in stale { try FileSystem.remove(root + "/" + file.key) }
        return stale.count
    }

    /// The regular files whose keys start with `prefix`, sorted: objects, or the temporary files
    /// of unfinished writes. Only directories that can hold such keys are walked.
    private func files(under prefix: String, temporary: Bool) throws -> [(key: String, status: FileSystem.Status)] {
        var found = [(key: String, status: FileSystem.Status)]()
        func walk(_ key: String) throws {
            let names: [String]
            do {
                names = try FileSystem.contents(of: key.isEmpty ? root : root + "/" + key)
            } catch let error as SystemError where error.errno == .noSuchFileOrDirectory || error.errno == .notDirectory {
                return
            }
            for name in names where name != Self.lockName {
                let child = key.isEmpty ? name : key + "/" + name
                guard child.hasPrefix(prefix) || prefix.hasPrefix(child + "/") else { continue }
                guard let status = try FileSystem.status(root + "/" + child) else { continue }
                if status.isDirectory {
                    try walk(child)
                } else if status.isRegular, child.hasPrefix(prefix), name.hasPrefix(Self.temporaryPrefix) == temporary {
                    found.append((child, status))
                }
            }
        }
        try walk(prefix.contains("/") ? String(prefix[..<prefix.lastIndex(of: "/")!]) : "")
        return found.sorted { $0.key < $1.key }
    }

    public func chunkStore(prefix: String) -> any WritableChunkStore {
        LocalChunkStore(root: root + "/" + prefix)
    }
}

/// An object key or operation an object store refuses, naming the store and the key.
public struct ObjectStoreError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
