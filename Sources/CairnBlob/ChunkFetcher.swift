import CairnCasync
import CairnStores

/// Gets chunks from an ordered list of stores and returns their verified, uncompressed bytes.
/// A chunk that fails to decompress or hash is fetched once more, then looked for in the next
/// store; only if no store has a good copy is it reported corrupt, naming the first bad store.
public struct ChunkFetcher: Sendable {
    public let stores: [any ChunkStore]
    public let digest: DigestAlgorithm

    public init(stores: [any ChunkStore], digest: DigestAlgorithm) {
        (self.stores, self.digest) = (stores, digest)
    }

    /// The chunk's bytes, or nil if no store has it.
    public func fetch(_ id: ChunkID, size: Int?, decompressor: ChunkDecompressor) async throws -> [UInt8]? {
        var corruption: BlobError?
        for store in stores {
            // A bad copy is fetched twice: over a network it may have been a damaged transfer.
            for _ in 0..<2 {
                guard let stored = try await store.fetch(id) else { break }
                do {
                    return try Self.decode(stored, id: id, size: size, digest: digest, decompressor: decompressor)
                } catch let problem as ChunkDecodingError {
                    corruption = corruption ?? .corruptChunk(id: id, store: store.description, problem: problem.description)
                }
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
