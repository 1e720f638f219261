import CairnCasync
import CairnIO
import SystemPackage
import CairnStores

/// Settings for `make`, with casync's defaults.
public struct MakeOptions: Sendable {
    public var sizes: ChunkSizes = .default
    public var digest: DigestAlgorithm = .sha512_256
    public var compression: ChunkCompression = .zstd
    /// How many batches of chunks are hashed, compressed and stored at once.
    public var jobs: Int = defaultJobs
    /// More digests of the whole input, computed in the same pass (a manifest's SHA-256).
    public var alsoDigests: [DigestAlgorithm] = []

    public init() {}

    /// Options that cut a file as `index`'s blob was cut, so that equal chunks get equal IDs.
    public init(chunkingLike index: BlobIndex, jobs: Int) {
        (sizes, digest, self.jobs) = (index.sizes, index.digest, jobs)
    }
}

/// The default concurrency: one job per core, at least two.
public let defaultJobs = Swift.max(2, System.coreCount)

/// What `make` did.
public struct MakeSummary: Sendable, Codable {
    /// The digest of the whole input, which `casync make` prints.
    public var blobDigest: String
    public var blobSize: UInt64
    public var chunks: Int
    public var uniqueChunks: Int
    /// Chunks written to the store by this run, their size before and after compression.
    public var newChunks: Int
    public var newChunkBytes: UInt64
    public var storedBytes: UInt64
    /// The input's `MakeOptions.alsoDigests`, in that order.
    public var otherDigests: [String] = []
}

/// Chunks a file or block device into a store and writes its index (casync `make`).
///
/// The pipeline: this task reads the input in large blocks and cuts chunks (the chunker is
/// serial by nature); batch tasks hash, compress and store the chunks of a block on every core;
/// each batch also feeds its block into the blob digest, in order, through a turnstile. At most
/// `jobs + 2` blocks are alive at once, so memory stays bounded whatever the input size.
public struct MakeEngine: Sendable {
    public let options: MakeOptions
    public let store: (any WritableChunkStore)?
    public let progress: ProgressCounter?

    public init(options: MakeOptions, store: (any WritableChunkStore)?, progress: ProgressCounter? = nil) {
        (self.options, self.store, self.progress) = (options, store, progress)
    }

    public func run(input: String, index indexPath: String) async throws -> MakeSummary {
        let indexFile = try AtomicFile(path: indexPath)
        try indexFile.file.write(BlobIndex.header(flags: .blobDefault(digest: options.digest), sizes: options.sizes), at: 0)
        var writer = IndexItemWriter(file: indexFile.file)
        let summary = try await run(input: input, writer: &writer)
        try indexFile.file.write(BlobIndex.tail(count: writer.count), at: writer.nextOffset)
        try indexFile.commit()
        return summary
    }

    /// The index of `input` without writing it anywhere (`chunk`).
    public func chunks(of input: String) async throws -> BlobIndex {
        var writer = IndexItemWriter(file: nil)
        _ = try await run(input: input, writer: &writer)
        return BlobIndex(flags: .blobDefault(digest: options.digest), sizes: options.sizes, chunks: writer.collected)
    }

    private func run(input: String, writer indexWriter: inout IndexItemWriter) async throws -> MakeSummary {
        let file = try File.open(input, .readOnly)
        let status = try file.status()
        guard status.isRegular || status.isBlockDevice else {
            throw BlobError.invalidInput("\(input) is neither a regular file nor a block device")
        }
        let inputSize = try file.size()
        progress?.setExpected(Int(inputSize))

        let shared = SharedState(digest: options.digest, alsoDigests: options.alsoDigests, inventory: startInventory(expectedChunks: Int(inputSize / UInt64(options.sizes.avg)) + 1))
        defer { shared.inventory?.cancel() }
        let chunker = Chunker(sizes: options.sizes)
        let readSize = Swift.max(8 << 20, options.sizes.max)
        let carry = ByteBlock(capacity: options.sizes.max)
        var carryCount = 0
        var fileOffset: UInt64 = 0
        var sequence = 0
        var summary = MakeSummary(blobDigest: "", blobSize: 0, chunks: 0, uniqueChunks: 0, newChunks: 0, newChunkBytes: 0, storedBytes: 0)

        // Blocks and compressors are recycled: freed 8 MiB blocks would otherwise pile up in
        // malloc's per-thread arenas and inflate the peak memory far beyond what is live.
        var freeBlocks = [ByteBlock]()
        var freeCompressors = [ChunkCompressor]()
        try await withThrowingTaskGroup(of: BatchResult.self) { group in
            var inFlight = 0
            func collect() async throws {
                guard let result = try await group.next() else { return }
                inFlight -= 1
                freeBlocks.append(result.block)
                freeCompressors.append(result.compressor)
                indexWriter.add(result)
                try indexWriter.flushInOrder()
                summary.merge(result)
            }
            var atEnd = false
            while !atEnd {
                // Block layout: the previous block's unfinished chunk, then newly read bytes.
                let block = freeBlocks.popLast() ?? ByteBlock(capacity: options.sizes.max + readSize)
                block.memory.copyMemory(from: carry.bytes(0..<carryCount))
                let read = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: block.memory[carryCount..<(carryCount + readSize)]), at: fileOffset)
                atEnd = read < readSize
                let filled = carryCount + read
                let blockStart = fileOffset - UInt64(carryCount)
                fileOffset += UInt64(read)

                var cuts = [Range<Int>]()
                var position = 0
                while position < filled,
                    let length = chunker.boundary(in: block.bytes(position..<filled), atEnd: atEnd)
                {
                    cuts.append(position..<(position + length))
                    position += length
                }
                carryCount = filled - position
                carry.memory.copyMemory(from: block.bytes(position..<filled))

                let batch = Batch(
                    sequence: sequence, block: block, blockStart: blockStart, cuts: cuts, newBytes: (filled - read)..<filled,
                    compressor: freeCompressors.popLast() ?? ChunkCompressor())
                sequence += 1
                if inFlight >= options.jobs + 1 { try await collect() }
                inFlight += 1
                group.addTask { try await self.process(batch, shared) }
            }
            while inFlight > 0 { try await collect() }
        }

        let digests = shared.blobDigests()
        summary.blobDigest = digests[0].hex
        summary.otherDigests = digests.dropFirst().map(\.hex)
        summary.blobSize = fileOffset
        summary.uniqueChunks = shared.uniqueCount
        return summary
    }

    /// Lists the store in the background when that costs fewer requests than asking about each
    /// chunk. One listing page names 1000 objects but takes longer than one question and cannot
    /// be sent concurrently, so listing pays while the store holds at most a few times more
    /// chunks than the input. A listing that fails (a key allowed to read and write objects but
    /// not to list them) only means asking about each chunk.
    private func startInventory(expectedChunks: Int) -> Task<Set<ChunkID>?, Never>? {
        guard let store, store.concurrentRequests > 1 else { return nil }
        return Task { try? await store.inventory(ifAtMost: 4 * expectedChunks + 1000) }
    }

    /// Hashes, compresses and stores one block's chunks, then adds the block to the blob digest.
    private func process(_ batch: Batch, _ shared: SharedState) async throws -> BatchResult {
        var result = BatchResult(sequence: batch.sequence, block: batch.block, compressor: batch.compressor)
        var failure: (any Error)?
        do {
            try await storeChunks(of: batch, shared, into: &result)
        } catch {
            failure = error
        }
        // The turn is passed even after a failure: later batches wait for it, and the task group
        // waits for every batch before it reports the error.
        await shared.turnstile.wait(for: batch.sequence)
        if failure == nil { shared.hashBlob(batch.block.bytes(batch.newBytes)) }
        await shared.turnstile.pass()
        if let failure { throw failure }
        progress?.add(batch.newBytes.count)
        return result
    }

    /// Names the block's chunks, then stores the ones this run claims and the store lacks: asking
    /// and uploading `store.concurrentRequests` at a time, compressing in between on this task.
    private func storeChunks(of batch: Batch, _ shared: SharedState, into result: inout BatchResult) async throws {
        result.items.reserveCapacity(batch.cuts.count)
        var claimed = [(cut: Range<Int>, id: ChunkID)]()
        for cut in batch.cuts {
            try Task.checkCancellation()
            let bytes = batch.block.bytes(cut)
            let id = ZeroChunks.isAllZero(bytes) ? shared.zeroChunks.id(length: cut.count) : options.digest.hash(bytes)
            result.items.append((end: batch.blockStart + UInt64(cut.upperBound), id: id))
            if store != nil, shared.claim(id) { claimed.append((cut, id)) }
        }
        guard let store, !claimed.isEmpty else { return }
        let width = store.concurrentRequests
        let present: [Bool]
        if let known = await shared.inventory?.value {
            present = claimed.map { known.contains($0.id) }
        } else {
            present = try await mapConcurrently(claimed.map(\.id), width: width) { try await store.markUsed($0) }
        }
        let isCompressed = options.compression != .none
        let uploads = zip(claimed, present).filter { !$0.1 }.map { chunk, _ in
            let bytes = batch.block.bytes(chunk.cut)
            return (id: chunk.id, size: chunk.cut.count, stored: isCompressed ? batch.compressor.compress(bytes) : Array(bytes))
        }
        _ = try await mapConcurrently(uploads, width: width) { try await store.store($0.id, bytes: $0.stored, isCompressed: isCompressed) }
        for upload in uploads {
            result.newChunks += 1
            result.newChunkBytes += UInt64(upload.size)
            result.storedBytes += UInt64(upload.stored.count)
        }
    }
}

private struct Batch: Sendable {
    let sequence: Int
    let block: ByteBlock
    /// Input offset of the block's first byte.
    let blockStart: UInt64
    let cuts: [Range<Int>]
    /// The part of the block read from the input (not carried over), in input order.
    let newBytes: Range<Int>
    let compressor: ChunkCompressor
}

private struct BatchResult: Sendable {
    let sequence: Int
    /// Handed back for reuse.
    let block: ByteBlock
    let compressor: ChunkCompressor
    var items: [(end: UInt64, id: ChunkID)] = []
    var newChunks = 0
    var newChunkBytes: UInt64 = 0
    var storedBytes: UInt64 = 0
}

/// What the batches of one run share: the blob digest (fed in order), the IDs already claimed
/// for storing, known all-zero chunk IDs and the store's chunks when it was listed.
private final class SharedState: Sendable {
    let turnstile = Turnstile()
    let zeroChunks: ZeroChunks
    let inventory: Task<Set<ChunkID>?, Never>?
    /// The blob digest first, then the other digests asked for.
    private let hashers: TurnOrdered<[StreamingHasher]>
    private let claimed = Locked<Set<ChunkID>>([])

    init(digest: DigestAlgorithm, alsoDigests: [DigestAlgorithm], inventory: Task<Set<ChunkID>?, Never>?) {
        zeroChunks = ZeroChunks(digest: digest)
        self.inventory = inventory
        hashers = TurnOrdered(([digest] + alsoDigests).map { $0.makeHasher() })
    }

    /// True for the first batch to see `id` in this run; that batch stores it.
    func claim(_ id: ChunkID) -> Bool { claimed.withLock { $0.insert(id).inserted } }
    var uniqueCount: Int { claimed.withLock { $0.count } }

    /// Call only while holding the turnstile's turn, which serialises all calls.
    func hashBlob(_ bytes: UnsafeRawBufferPointer) { for hasher in hashers.value { hasher.update(bytes) } }
    func blobDigests() -> [ChunkID] { hashers.value.map { $0.finalize() } }
}

/// A value that only the holder of a turnstile's turn touches, so it needs no lock.
private final class TurnOrdered<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// Appends index items to the temporary index (or to `collected`, without a file) in input
/// order as batches finish in any order.
private struct IndexItemWriter {
    let file: File?
    private(set) var collected: [BlobIndex.Chunk] = []
    private var pending: [Int: [(end: UInt64, id: ChunkID)]] = [:]
    private var nextSequence = 0
    private(set) var count = 0
    private(set) var nextOffset: UInt64 = 64

    init(file: File?) { self.file = file }

    mutating func add(_ result: BatchResult) { pending[result.sequence] = result.items }

    mutating func flushInOrder() throws {
        while let items = pending.removeValue(forKey: nextSequence) {
            nextSequence += 1
            count += items.count
            guard let file else {
                for item in items { collected.append(.init(id: item.id, start: collected.last?.end ?? 0, end: item.end)) }
                continue
            }
            var bytes = [UInt8]()
            bytes.reserveCapacity(items.count * 40)
            for item in items { BlobIndex.appendItem(end: item.end, id: item.id, to: &bytes) }
            try file.write(bytes, at: nextOffset)
            nextOffset += UInt64(bytes.count)
        }
    }
}

extension MakeSummary {
    fileprivate mutating func merge(_ result: BatchResult) {
        chunks += result.items.count
        newChunks += result.newChunks
        newChunkBytes += result.newChunkBytes
        storedBytes += result.storedBytes
    }
}
