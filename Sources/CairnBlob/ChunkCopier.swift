import CairnCasync
import CairnStores

/// What became of one chunk asked to be copied.
public enum ChunkCopy: Sendable {
    /// Verified and written to the target; the bytes it takes there.
    case copied(storedBytes: Int)
    case missing
    case corrupt(problem: String)
}

/// Copies chunks from one store to another, each decompressed and hashed first: a target such as
/// a bucket never replaces a chunk, so a bad one must never reach it.
public struct ChunkCopier: Sendable {
    public let source: any ChunkStore
    public let target: any WritableChunkStore
    public let digest: DigestAlgorithm

    public init(from source: any ChunkStore, to target: any WritableChunkStore, digest: DigestAlgorithm) {
        (self.source, self.target, self.digest) = (source, target, digest)
    }

    /// One outcome per chunk, in order; `target.concurrentRequests` copies at a time.
    public func copy(_ chunks: [(id: ChunkID, size: Int)]) async throws -> [ChunkCopy] {
        let source = source, target = target, digest = digest
        return try await mapConcurrently(chunks, width: target.concurrentRequests) { chunk in
            guard let stored = try await source.fetch(chunk.id) else { return .missing }
            do {
                _ = try ChunkFetcher.decode(stored, id: chunk.id, size: chunk.size, digest: digest, decompressor: ChunkDecompressor())
            } catch {
                return .corrupt(problem: "\(error)")
            }
            try await target.store(chunk.id, bytes: stored.bytes, isCompressed: stored.isCompressed)
            return .copied(storedBytes: stored.bytes.count)
        }
    }
}
