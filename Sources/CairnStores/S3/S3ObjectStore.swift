/// An S3 bucket (under the location's prefix) as an object store.
public struct S3ObjectStore: ObjectStore {
    public let client: S3Client
    /// Requests in flight for the chunk stores it hands out.
    public let concurrentRequests: Int

    public init(client: S3Client, concurrentRequests: Int = 16) {
        (self.client, self.concurrentRequests) = (client, concurrentRequests)
    }

    public var description: String { client.location.description }

    public func get(_ key: String) async throws -> StoredObject? {
        try await client.get(client.location.key(key))
    }

    public func head(_ key: String) async throws -> ObjectInfo? {
        try await client.head(client.location.key(key)).map { relative($0) }
    }

    public func put(_ key: String, bytes: [UInt8], condition: WriteCondition) async throws -> Bool {
        try await client.put(client.location.key(key), bytes: bytes, condition: condition)
    }

    public func upload(file path: String, to key: String, condition: WriteCondition) async throws -> Bool {
        try await client.upload(file: path, to: client.location.key(key), condition: condition)
    }

    /// A large file goes up as multipart parts now and is assembled at commit.
    public func stage(file path: String, to key: String) async throws -> any StagedObject {
        guard let staged = try await client.stage(file: path, to: client.location.key(key)) else {
            return DeferredUpload(store: self, path: path, key: key)
        }
        return StagedMultipartUpload(client: client, staged: staged)
    }

    public func list(prefix: String) async throws -> [ObjectInfo] {
        try await client.list(prefix: client.location.key(prefix)).map { relative($0) }
    }

    public func delete(_ keys: [String]) async throws {
        try await client.delete(keys: keys.map { client.location.key($0) })
    }

    public func chunkStore(prefix: String) -> any WritableChunkStore {
        S3ChunkStore(client: client.under(prefix), concurrentRequests: concurrentRequests)
    }

    public func removeAbandonedWrites(startedBefore cutoff: Double) async throws -> Int {
        let prefix = client.location.prefix.isEmpty ? "" : client.location.prefix + "/"
        let stale = try await client.pendingUploads(prefix: prefix).filter { $0.initiated < cutoff }
        for upload in stale { try await client.abortMultipartUpload(upload.key, uploadID: upload.uploadID) }
        return stale.count
    }

    private func relative(_ object: ObjectInfo) -> ObjectInfo {
        var object = object
        if !client.location.prefix.isEmpty { object.key = String(object.key.dropFirst(client.location.prefix.count + 1)) }
        return object
    }
}

struct StagedMultipartUpload: StagedObject {
    let client: S3Client
    let staged: S3Client.StagedUpload

    func commit(condition: WriteCondition) async throws -> Bool {
        try await client.complete(staged, condition: condition)
    }

    func discard() async {
        try? await client.abortMultipartUpload(staged.key, uploadID: staged.uploadID)
    }
}
