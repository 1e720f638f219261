import CairnCasync

/// A chunk's bytes as a store holds them: compressed (`.cacnk`) or as they are.
public struct StoredChunk: Sendable {
    public var bytes: [UInt8]
    public var isCompressed: Bool

    public init(bytes: [UInt8], isCompressed: Bool) {
        (self.bytes, self.isCompressed) = (bytes, isCompressed)
    }
}

/// One chunk found by listing a store.
public struct ChunkListing: Sendable {
    public var id: ChunkID
    public var isCompressed: Bool
    public var size: UInt64
    /// Seconds since the epoch.
    public var modified: Double
}

/// A place chunks are read from: a local directory now, HTTP and S3 stores later.
/// Stores move bytes only; decompressing and verifying chunks is the caller's job.
public protocol ChunkStore: Sendable, CustomStringConvertible {
    /// The chunk's stored bytes, or nil if the store does not have it.
    func fetch(_ id: ChunkID) async throws -> StoredChunk?
    /// Whether the store has the chunk, without reading it.
    func contains(_ id: ChunkID) async throws -> Bool
    /// How many requests to keep in flight: 1 where calls are quick system calls (more would only
    /// contend in the kernel), more where each call waits on a network round trip.
    var concurrentRequests: Int { get }
}

extension ChunkStore {
    public var concurrentRequests: Int { 1 }
}

/// A store chunks can be written to and removed from.
public protocol WritableChunkStore: ChunkStore {
    /// Makes the chunk visible complete or not at all. Writing a chunk that is there already is harmless.
    func store(_ id: ChunkID, bytes: [UInt8], isCompressed: Bool) async throws
    /// Tells the store an index is about to reference the chunk, so that a concurrent `gc` with a
    /// grace period keeps it. Returns false when the store does not have the chunk.
    func markUsed(_ id: ChunkID) async throws -> Bool
    func remove(_ id: ChunkID, isCompressed: Bool) async throws
    /// Removes many chunks, in batches where the store has a batch operation.
    func remove(_ chunks: [ChunkListing]) async throws
    /// Every chunk in the store.
    func list() async throws -> [ChunkListing]
    /// The IDs of every chunk in the store, when the store holds at most about `limit` objects
    /// and listing them is cheaper than asking about each chunk; nil otherwise. A writer may use
    /// it instead of `markUsed`, so a store whose `markUsed` does more than check existence
    /// must return nil.
    func inventory(ifAtMost limit: Int) async throws -> Set<ChunkID>?
    /// Removes temporary files of interrupted writers last modified before `cutoff` (seconds since
    /// the epoch) and returns how many it removed.
    func removeTemporaryFiles(modifiedBefore cutoff: Double) async throws -> Int
}

extension WritableChunkStore {
    public func inventory(ifAtMost limit: Int) async throws -> Set<ChunkID>? { nil }

    public func remove(_ chunks: [ChunkListing]) async throws {
        for chunk in chunks { try await remove(chunk.id, isCompressed: chunk.isCompressed) }
    }
}
