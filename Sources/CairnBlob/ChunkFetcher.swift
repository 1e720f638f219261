import CairnCasync
import CairnStores

/// Gets chunks from an ordered list of stores and returns their verified, uncompressed bytes.
/// A chunk that fails to decompress or hash is fetched once more, then looked for in the next
/// store; only if no store has a good copy is it reported corrupt, naming the first bad store.
///
/// With a cache, the cache is asked first and every chunk fetched from a store is written to it,
/// only after it verified: a damaged download never poisons the cache. A bad cached copy is
/// removed and fetched again. The cache is an optimisation: a full or read-only cache does not
/// fail the fetch.
public struct ChunkFetcher: Sendable {
    public let stores: [any ChunkStore]
    public let cache: (any WritableChunkStore)?
    public let digest: DigestAlgorithm

    public init(stores: [any ChunkStore], cache: (any WritableChunkStore)? = nil, digest: DigestAlgorithm) {
        (self.stores, self.cache, self.digest) = (stores, cache, digest)
    }

    /// The places a chunk is looked for, in order, for messages.
    public var descriptions: [String] {
        (cache.map { ["\($0) (cache)"] } ?? []) + stores.map(\.description)
    }

    /// Requests worth keeping in flight: the most any of the stores wants.
    public var concurrentRequests: Int {
        stores.map(\.concurrentRequests).max() ?? 1
    }

    /// The chunk's bytes, or nil if no store has it.
    public func fetch(_ id: ChunkID, size: Int?, decompressor: ChunkDecompressor) async throws -> [UInt8]? {
        if let cache, let stored = try await cache.fetch(id) {
            if let bytes = try? Self.decode(stored, id: id, size: size, digest: digest, decompressor: decompressor) {
                return bytes
            }
            try? await cache.remove(id, isCompressed: stored.isCompressed)
        }
        var corruption: BlobError?
        for store in stores {
            // A bad copy is fetched twice: over a network it may have been a damaged transfer.
            for _ in 0..<2 {
                guard let stored = try await store.fetch(id) else { break }
                let bytes: [UInt8]
                do {
                    bytes = try Self.decode(stored, id: id, size: size, digest: digest, decompressor: decompressor)
                } catch let problem as ChunkDecodingError {
                    corruption = corruption ?? .corruptChunk(id: id, store: store.description, problem: problem.description)
                    continue
                }
                try? await cache?.store(id, bytes: stored.bytes, isCompressed: stored.isCompressed)
                return bytes
            }
        }
        if let corruption { throw corruption }
        return nil
    }

    /// Decompresses (when needed) and checks size and digest; problems are `ChunkDecodingError`s.
    public static func decode(
        _ stored: StoredChunk, id: ChunkID, size: Int?, digest: DigestAlgorithm, decompressor: ChunkDecompressor
    ) throws -> [UInt8] {
        let bytes = try stored.isCompressed
            ? stored.bytes.withUnsafeBytes { try decompressor.decompress($0, expectedSize: size) }
            : stored.bytes
        if let size, bytes.count != size {
            throw ChunkDecodingError("it holds \(bytes.count) bytes where the index says \(size)")
        }
        let actual = digest.hash(bytes)
        guard actual == id else { throw ChunkDecodingError("its content hashes to \(actual) with \(digest.rawValue)") }
        return bytes
    }
}
