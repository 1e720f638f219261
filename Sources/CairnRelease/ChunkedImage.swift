import CairnBlob
import CairnCasync
import CairnErofs
import Dispatch
import Foundation
import Synchronization

/// An image read by random access straight out of a chunk store, through its index: a read
/// fetches (and verifies) only the chunks that hold the bytes asked for, keeping the most recent
/// ones, so a gate can read an EROFS image's metadata and a few files without downloading it.
///
/// `ImageBytes` reads are synchronous: call them from a thread of your own (`ChunkedImage.run`),
/// never from a task of the cooperative pool, which the fetches themselves need.
final class ChunkedImage: ImageBytes, @unchecked Sendable {
    let index: BlobIndex
    let fetcher: ChunkFetcher
    /// Chunks kept, most recently used last, at most `budget` bytes of them.
    private let cache = Mutex<[(id: ChunkID, bytes: [UInt8])]>([])
    private let budget = 64 << 20
    private let fetchedIDs = Mutex<Set<ChunkID>>([])

    init(index: BlobIndex, fetcher: ChunkFetcher) { (self.index, self.fetcher) = (index, fetcher) }

    var size: UInt64 { index.blobSize }

    /// Distinct chunks fetched so far, of `index.chunks.count`.
    var chunksFetched: Int { fetchedIDs.withLock { $0.count } }

    func read(_ count: Int, at offset: UInt64) throws -> [UInt8] {
        guard count > 0 else { return [] }
        guard offset + UInt64(count) <= size else { throw ErofsError.io("the image is \(size) bytes; \(count) at \(offset) is past its end") }
        var result = [UInt8]()
        result.reserveCapacity(count)
        var position = offset
        // The first chunk whose end lies past `position`.
        var low = 0, high = index.chunks.count
        while low < high {
            let middle = (low + high) / 2
            if index.chunks[middle].end <= position { low = middle + 1 } else { high = middle }
        }
        var chunkIndex = low
        while result.count < count {
            let chunk = index.chunks[chunkIndex]
            let bytes = try bytes(of: chunk)
            let start = Int(position - chunk.start)
            let take = min(count - result.count, bytes.count - start)
            result += bytes[start..<(start + take)]
            position += UInt64(take)
            chunkIndex += 1
        }
        return result
    }

    private func bytes(of chunk: BlobIndex.Chunk) throws -> [UInt8] {
        if let cached = cache.withLock({ cache -> [UInt8]? in
            guard let found = cache.firstIndex(where: { $0.id == chunk.id }) else { return nil }
            let entry = cache.remove(at: found)
            cache.append(entry)
            return entry.bytes
        }) {
            return cached
        }
        let fetcher = self.fetcher
        let fetched = try Self.wait {
            try await fetcher.fetch(chunk.id, size: chunk.size, decompressor: ChunkDecompressor())
        }
        guard let bytes = fetched else { throw BlobError.missingChunks(ids: [chunk.id], stores: fetcher.descriptions) }
        fetchedIDs.withLock { _ = $0.insert(chunk.id) }
        cache.withLock { cache in
            cache.append((chunk.id, bytes))
            var held = cache.reduce(0) { $0 + $1.bytes.count }
            while held > budget, cache.count > 1 { held -= cache.removeFirst().bytes.count }
        }
        return bytes
    }

    /// Runs an async operation to completion from a thread outside the cooperative pool.
    private static func wait<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) throws -> T {
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<T, any Error>?>(nil)
        Task {
            let result: Result<T, any Error>
            do { result = .success(try await operation()) } catch { result = .failure(error) }
            outcome.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        return try outcome.withLock { $0! }.get()
    }

    /// Runs `body` (which reads images like this one) on a thread of its own.
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
    }
}
