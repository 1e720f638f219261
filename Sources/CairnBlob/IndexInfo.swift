import CairnCasync
import CairnStores

/// Figures about an index: sizes, dedupe, what a store lacks, what another index shares.
public struct IndexInfo: Sendable, Codable {
    public var digest: String
    public var featureFlags: String
    public var chunkSizeMin: Int, chunkSizeAvg: Int, chunkSizeMax: Int
    public var blobSize: UInt64
    public var chunks: Int
    public var uniqueChunks: Int
    /// Bytes of the blob counted once per unique chunk: what a store holds before compression.
    public var uniqueBytes: UInt64
    public var smallestChunk: Int
    public var largestChunk: Int
    public var meanChunk: Int
    /// With a store: chunks it lacks, and (where the store can be listed) its size of the chunks it has.
    public var missingChunks: Int?
    public var missingChunkIDs: [String]?
    public var storedBytes: UInt64?
    /// With another index: unique chunks both have, and the bytes of this blob they cover.
    public var sharedChunks: Int?
    public var sharedBytes: UInt64?

    public init(index: BlobIndex) {
        var unique = Set<ChunkID>()
        var uniqueBytes: UInt64 = 0
        for chunk in index.chunks where unique.insert(chunk.id).inserted { uniqueBytes += UInt64(chunk.size) }
        let sizes = index.chunks.map(\.size)
        digest = index.digest.rawValue
        featureFlags = "0x" + String(index.flags.rawValue, radix: 16)
        (chunkSizeMin, chunkSizeAvg, chunkSizeMax) = (index.sizes.min, index.sizes.avg, index.sizes.max)
        blobSize = index.blobSize
        chunks = index.chunks.count
        uniqueChunks = unique.count
        self.uniqueBytes = uniqueBytes
        smallestChunk = sizes.min() ?? 0
        largestChunk = sizes.max() ?? 0
        meanChunk = sizes.isEmpty ? 0 : Int(index.blobSize) / sizes.count
    }

    /// Counts the chunks `store` lacks and the bytes it holds for the others.
    public mutating func compare(with store: any ChunkStore, index: BlobIndex) async throws {
        var missing = [String]()
        var seen = Set<ChunkID>()
        for chunk in index.chunks where seen.insert(chunk.id).inserted {
            if !(try await store.contains(chunk.id)) { missing.append(chunk.id.hex) }
        }
        missingChunks = missing.count
        missingChunkIDs = missing
        if let listable = store as? any WritableChunkStore {
            storedBytes = try await listable.list().filter { seen.contains($0.id) }.reduce(0) { $0 + $1.size }
        }
    }

    /// Counts what this index shares with `other`.
    public mutating func compare(with other: BlobIndex, index: BlobIndex) {
        let theirs = Set(other.chunks.map(\.id))
        var counted = Set<ChunkID>()
        var bytes: UInt64 = 0
        for chunk in index.chunks where theirs.contains(chunk.id) {
            bytes += UInt64(chunk.size)
            counted.insert(chunk.id)
        }
        sharedChunks = counted.count
        sharedBytes = bytes
    }
}
