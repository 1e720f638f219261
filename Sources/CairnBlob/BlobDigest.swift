import CairnCasync
import CairnIO
import SystemPackage

/// `casync digest`: the digest of a file's bytes, or of the blob an index describes (casync.md §4).
public enum BlobDigest {
    /// The digest of a file or block device's bytes, read in large blocks.
    public static func ofFile(_ path: String, digest: DigestAlgorithm, progress: ProgressCounter? = nil) throws -> ChunkID {
        try ofFile(path, digests: [digest], progress: progress)[0]
    }

    /// Several digests of a file's bytes from one read of it, in the order asked for.
    public static func ofFile(_ path: String, digests: [DigestAlgorithm], progress: ProgressCounter? = nil) throws -> [ChunkID] {
        let file = try File.open(path, .readOnly)
        progress?.setExpected(Int(try file.size()))
        return try of(file, length: nil, digests: digests, progress: progress)
    }

    /// Digests of the first `length` bytes of an open file (all of it when nil).
    static func of(_ file: File, length: UInt64?, digests: [DigestAlgorithm], progress: ProgressCounter? = nil) throws -> [ChunkID] {
        let hashers = digests.map { $0.makeHasher() }
        let buffer = ByteBlock(capacity: 4 << 20)
        var offset: UInt64 = 0
        while length.map({ offset < $0 }) ?? true {
            let wanted = Int(min(UInt64(buffer.memory.count), (length ?? .max) - offset))
            let count = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer.memory[..<wanted]), at: offset)
            if count == 0 { break }
            for hasher in hashers { hasher.update(buffer.bytes(0..<count)) }
            offset += UInt64(count)
            progress?.add(count)
        }
        return hashers.map { $0.finalize() }
    }

    /// SHA-512/256 of the blob rebuilt from the index's chunks, whatever the index's own digest,
    /// as casync prints it. Chunks are fetched and verified concurrently, hashed in order.
    public static func ofIndex(_ index: BlobIndex, fetcher: ChunkFetcher, jobs: Int, progress: ProgressCounter? = nil) async throws -> ChunkID {
        progress?.setExpected(Int(index.blobSize))
        let hasher = DigestAlgorithm.sha512_256.makeHasher()
        try await ChunkSequence(index: index, fetcher: fetcher, jobs: jobs).forEach { bytes in
            bytes.withUnsafeBytes { hasher.update($0) }
            progress?.add(bytes.count)
        }
        return hasher.finalize()
    }
}

/// The chunks of an index in order, fetched `jobs` at a time ahead of the consumer.
public struct ChunkSequence: Sendable {
    let index: BlobIndex
    let fetcher: ChunkFetcher
    let jobs: Int

    public init(index: BlobIndex, fetcher: ChunkFetcher, jobs: Int) {
        (self.index, self.fetcher, self.jobs) = (index, fetcher, jobs)
    }

    /// Calls `body` with each chunk's bytes in index order; fails on the first missing or corrupt chunk.
    public func forEach(_ body: ([UInt8]) throws -> Void) async throws {
        let chunks = index.chunks
        let window = Swift.max(jobs * 4, fetcher.concurrentRequests, 8)
        try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
            var ready = [Int: [UInt8]]()
            var next = 0, submitted = 0
            func submit() {
                let number = submitted
                let chunk = chunks[number]
                group.addTask {
                    let decompressor = ChunkDecompressor()
                    guard let bytes = try await fetcher.fetch(chunk.id, size: chunk.size, decompressor: decompressor) else {
                        throw BlobError.missingChunks(ids: [chunk.id], stores: fetcher.descriptions)
                    }
                    return (number, bytes)
                }
                submitted += 1
            }
            while submitted < chunks.count && submitted < window { submit() }
            while next < chunks.count {
                while ready[next] == nil {
                    guard let (number, bytes) = try await group.next() else { return }
                    ready[number] = bytes
                    if submitted < chunks.count { submit() }
                }
                try body(ready.removeValue(forKey: next)!)
                next += 1
            }
        }
    }
}
