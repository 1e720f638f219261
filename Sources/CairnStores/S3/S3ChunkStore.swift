import CairnCasync

/// A chunk store in an S3-compatible bucket with desync's keys: `PREFIX/<4 hex>/<64 hex>.cacnk`.
/// Chunks are written with `If-None-Match: *`, so an existing chunk is never overwritten.
public struct S3ChunkStore: WritableChunkStore {
    public let client: S3Client
    /// Requests wait on round trips, so many go at once (the connection pool reuses connections).
    public let concurrentRequests: Int

    public init(client: S3Client, concurrentRequests: Int = 16) {
        (self.client, self.concurrentRequests) = (client, concurrentRequests)
    }

    public var description: String { client.location.description }

    func key(of id: ChunkID) -> String {
        client.location.key("\(id.hex.prefix(4))/\(id.hex).cacnk")
    }

    public func fetch(_ id: ChunkID) async throws -> StoredChunk? {
        try await client.get(key(of: id)).map { StoredChunk(bytes: $0.bytes, isCompressed: true) }
    }

    public func contains(_ id: ChunkID) async throws -> Bool {
        try await client.exists(key(of: id))
    }

    /// Objects cannot be touched cheaply: this only says whether the chunk is there. `gc`'s grace
    /// period therefore protects chunks written recently, not old chunks a running `make` reuses.
    public func markUsed(_ id: ChunkID) async throws -> Bool {
        try await contains(id)
    }

    public func store(_ id: ChunkID, bytes: [UInt8], isCompressed: Bool) async throws {
        guard isCompressed else {
            throw S3Error("\(description): S3 stores hold compressed (.cacnk) chunks only; use --compression zstd")
        }
        // A 412 means another writer stored the same chunk first: the same bytes, so nothing to do.
        try await client.put(key(of: id), bytes: bytes, condition: .absent)
    }

    public func remove(_ id: ChunkID, isCompressed: Bool) async throws {
        try await client.delete(key(of: id))
    }

    public func remove(_ chunks: [ChunkListing]) async throws {
        try await client.delete(keys: chunks.map { key(of: $0.id) })
    }

    public func list() async throws -> [ChunkListing] {
        try await list(ifAtMost: .max) ?? []
    }

    /// One ListObjectsV2 page names 1000 chunks, where asking costs a request per chunk.
    public func inventory(ifAtMost limit: Int) async throws -> Set<ChunkID>? {
        try await list(ifAtMost: limit).map { Set($0.map(\.id)) }
    }

    private func list(ifAtMost limit: Int) async throws -> [ChunkListing]? {
        let prefix = client.location.prefix.isEmpty ? "" : client.location.prefix + "/"
        return try await client.list(prefix: prefix, ifAtMost: limit)?.compactMap { object in
            let name = object.key.dropFirst(prefix.count)
            guard name.count == 4 + 1 + 64 + 6, name.hasSuffix(".cacnk"),
                let id = ChunkID(hex: name.dropFirst(5).dropLast(6)), name.hasPrefix(id.hex.prefix(4) + "/")
            else { return nil }
            return ChunkListing(id: id, isCompressed: true, size: object.size, modified: object.modified)
        }
    }

    /// Uploads are single PUTs: nothing temporary is ever left in the bucket.
    public func removeTemporaryFiles(modifiedBefore cutoff: Double) async throws -> Int { 0 }
}
