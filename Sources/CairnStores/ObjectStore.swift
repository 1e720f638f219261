/// When a write may happen: always, only where nothing is (immutable objects), or only over the
/// version the writer read (compare-and-swap of a mutable name).
public enum WriteCondition: Sendable, Equatable {
    case none
    /// Only if no object has the key (`If-None-Match: *`).
    case absent
    /// Only if the object still has this ETag (`If-Match`).
    case matching(etag: String)
}

/// An object's bytes and the ETag a compare-and-swap names.
public struct StoredObject: Sendable {
    public var bytes: [UInt8]
    public var etag: String

    public init(bytes: [UInt8], etag: String) { (self.bytes, self.etag) = (bytes, etag) }
}

/// What a listing or HEAD says about an object.
public struct ObjectInfo: Sendable {
    /// Relative to the store's root.
    public var key: String
    public var size: UInt64
    public var etag: String
    /// Seconds since the epoch.
    public var modified: Double

    public init(key: String, size: UInt64, etag: String, modified: Double) {
        (self.key, self.size, self.etag, self.modified) = (key, size, etag, modified)
    }
}

/// Named objects to read: a bucket, a local directory, or a public base URL in front of one.
/// Keys are relative to the store's root (the bucket prefix, the directory).
public protocol ObjectSource: Sendable, CustomStringConvertible {
    /// The object, or nil if there is none.
    func get(_ key: String) async throws -> StoredObject?
    /// The chunk store whose chunks live under `prefix`, for reading.
    func chunkSource(prefix: String) -> any ChunkStore
}

/// Named objects to read and write. Writers make an object visible only when complete.
public protocol ObjectStore: ObjectSource {
    func head(_ key: String) async throws -> ObjectInfo?
    /// Writes an object; returns false when the condition failed (another writer won).
    @discardableResult
    func put(_ key: String, bytes: [UInt8], condition: WriteCondition) async throws -> Bool
    /// Writes a file, however large, as one object; false when the condition failed.
    @discardableResult
    func upload(file path: String, to key: String, condition: WriteCondition) async throws -> Bool
    /// Sends a file's bytes ahead of time, so that making it visible later (`commit`) is quick;
    /// nothing appears under `key` before that.
    func stage(file path: String, to key: String) async throws -> any StagedObject
    /// Every object whose key starts with `prefix`.
    func list(prefix: String) async throws -> [ObjectInfo]
    /// Removes objects; missing ones are fine.
    func delete(_ keys: [String]) async throws
    /// The chunk store whose chunks live under `prefix`.
    func chunkStore(prefix: String) -> any WritableChunkStore
    /// Removes what interrupted writers left behind and that was started before `cutoff`
    /// (seconds since the epoch): open multipart uploads, temporary files. Returns how many.
    func removeAbandonedWrites(startedBefore cutoff: Double) async throws -> Int
}

extension ObjectStore {
    public func chunkSource(prefix: String) -> any ChunkStore { chunkStore(prefix: prefix) }

    /// Stores that write quickly send nothing ahead: the upload happens at commit.
    public func stage(file path: String, to key: String) async throws -> any StagedObject {
        DeferredUpload(store: self, path: path, key: key)
    }
}

/// A file sent to a store but not yet visible under its key.
public protocol StagedObject: Sendable {
    /// Makes the object visible if `condition` holds; false (and the staged bytes dropped) when
    /// it does not.
    func commit(condition: WriteCondition) async throws -> Bool
    /// Drops the staged bytes.
    func discard() async
}

/// Staging that sends everything at commit.
struct DeferredUpload: StagedObject {
    let store: any ObjectStore
    let path: String
    let key: String

    func commit(condition: WriteCondition) async throws -> Bool {
        try await store.upload(file: path, to: key, condition: condition)
    }

    func discard() async {}
}
