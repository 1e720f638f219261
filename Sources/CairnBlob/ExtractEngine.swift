import CairnCasync
import CairnIO
import SystemPackage
import CairnStores

/// A seed: an earlier blob and its index. Chunks the seed shares with the target are read from
/// the seed's blob (and verified) instead of fetched from a store; nothing is re-chunked.
public struct Seed: Sendable {
    public let index: BlobIndex
    public let blobPath: String

    public init(index: BlobIndex, blobPath: String) {
        (self.index, self.blobPath) = (index, blobPath)
    }
}

public struct ExtractOptions: Sendable {
    /// Where chunks come from that no seed has; its digest must be the index's.
    public var fetcher: ChunkFetcher
    public var seeds: [Seed] = []
    /// Write into an existing output file, skipping chunks it already holds. Block devices are
    /// always written in place. A failure leaves an in-place target partly updated; running the
    /// extract again finishes it.
    public var inPlace = false
    public var jobs = defaultJobs
    /// The whole blob's SHA-256 when known (from a manifest): checked before a new output is
    /// renamed into place, and after an in-place one is written.
    public var expectedSHA256: ChunkID?
    /// Flush the output to stable storage before it replaces OUT (and after writing in place).
    public var durable = false

    public init(fetcher: ChunkFetcher) { self.fetcher = fetcher }
}

/// Where the bytes of an extracted blob came from.
public struct ExtractSummary: Sendable, Codable {
    public var blobSize: UInt64 = 0
    public var chunks = 0
    public var fromStore = 0
    public var fromSeed = 0
    /// Uncompressed bytes of the chunks fetched from stores (downloaded) and read from seeds (reused).
    public var bytesFromStore: UInt64 = 0
    public var bytesFromSeed: UInt64 = 0
    /// Chunks the in-place target already held.
    public var alreadyInPlace = 0
    /// All-zero chunks left as holes (or found already zero in place).
    public var zeroChunks = 0
    /// Seed chunks whose bytes no longer matched the seed's index, fetched from a store instead.
    public var invalidSeedChunks = 0
    public var bytesWritten: UInt64 = 0
}

/// Rebuilds a blob from its index (casync `extract`).
///
/// Each unique chunk is produced once, by one of `jobs` workers, and written to every offset
/// where the index has it. A new output is written under a temporary name, sized up front (so
/// zeros cost nothing: they stay holes) and renamed into place only when complete.
public struct ExtractEngine: Sendable {
    public let options: ExtractOptions
    public let progress: ProgressCounter?

    public init(options: ExtractOptions, progress: ProgressCounter? = nil) {
        (self.options, self.progress) = (options, progress)
    }

    public func run(index: BlobIndex, output: String) async throws -> ExtractSummary {
        let target = try Target(path: output, blobSize: index.blobSize, inPlace: options.inPlace, durable: options.durable)
        progress?.setExpected(Int(index.blobSize))
        let plan = Plan(index: index, seeds: options.seeds)
        let seedFiles = try options.seeds.map { try File.open($0.blobPath, .readOnly) }
        let shared = Shared(
            plan: plan, target: target, seedFiles: seedFiles, maxChunkSize: index.sizes.max,
            fetcher: options.fetcher, progress: progress)

        let summaries = try await withThrowingTaskGroup(of: ExtractSummary.self) { group in
            // Network stores want more requests in flight than there are cores.
            let workers = Swift.max(options.jobs, options.fetcher.concurrentRequests)
            for _ in 0..<Swift.min(workers, Swift.max(plan.jobs.count, 1)) {
                group.addTask { try await shared.work() }
            }
            return try await group.reduce(into: [ExtractSummary]()) { $0.append($1) }
        }
        let missing = shared.missing.withLock { $0 }
        if !missing.isEmpty {
            throw BlobError.missingChunks(ids: missing, stores: options.fetcher.descriptions)
        }
        if let expected = options.expectedSHA256 {
            let actual = try target.digest(.sha256)
            guard actual == expected else {
                throw BlobError.invalidInput("the blob rebuilt into \(output) has SHA-256 \(actual), not the expected \(expected)")
            }
        }
        try target.finish()
        var summary = summaries.reduce(into: ExtractSummary()) { $0.add($1) }
        summary.blobSize = index.blobSize
        summary.chunks = index.chunks.count
        return summary
    }
}

/// The output: a temporary new file renamed at the end, or an existing file or device written in place.
private final class Target: Sendable {
    let file: File
    /// Everything reads as zero before we write (a new, truncated file).
    let isBlank: Bool
    private let atomic: AtomicFile?
    private let blobSize: UInt64
    private let truncateAtEnd: Bool
    private let durable: Bool

    init(path: String, blobSize: UInt64, inPlace: Bool, durable: Bool) throws {
        (self.blobSize, self.durable) = (blobSize, durable)
        let existing = try FileSystem.status(path, followingLinks: true)
        if let existing, existing.isBlockDevice || (inPlace && existing.isRegular) {
            file = try File.open(path, .readWrite)
            atomic = nil
            isBlank = false
            truncateAtEnd = existing.isRegular
            if existing.isBlockDevice, try file.size() < blobSize {
                throw BlobError.invalidInput("block device \(path) holds \(try file.size()) bytes, less than the blob's \(blobSize)")
            }
        } else {
            if let existing, !existing.isRegular {
                throw BlobError.invalidInput("\(path) exists and is neither a regular file nor a block device")
            }
            let atomic = try AtomicFile(path: path)
            try atomic.file.truncate(to: blobSize)
            (self.atomic, file, isBlank, truncateAtEnd) = (atomic, atomic.file, true, false)
        }
    }

    /// The digest of the blob's bytes as written so far.
    func digest(_ algorithm: DigestAlgorithm) throws -> ChunkID {
        try BlobDigest.of(file, length: blobSize, digests: [algorithm])[0]
    }

    func finish() throws {
        if truncateAtEnd { try file.truncate(to: blobSize) }
        if let atomic {
            try atomic.commit(durable: durable)
        } else if durable {
            try file.synchronize()
        }
    }
}

/// The work: unique chunks in index order, each with every offset it occupies.
private struct Plan: Sendable {
    struct Job: Sendable {
        let id: ChunkID
        let size: Int
        var offsets: [UInt64]
        /// Where a seed has this chunk: seed number and offset in its blob.
        var seed: (seed: Int, offset: UInt64)?
    }
    var jobs: [Job] = []

    init(index: BlobIndex, seeds: [Seed]) {
        var position = [ChunkID: Int]()
        for chunk in index.chunks {
            if let at = position[chunk.id] {
                jobs[at].offsets.append(chunk.start)
            } else {
                position[chunk.id] = jobs.count
                jobs.append(Job(id: chunk.id, size: chunk.size, offsets: [chunk.start]))
            }
        }
        for (number, seed) in seeds.enumerated() where seed.index.digest == index.digest {
            for chunk in seed.index.chunks {
                guard let at = position[chunk.id], jobs[at].seed == nil else { continue }
                jobs[at].seed = (number, chunk.start)
            }
        }
    }
}

private final class Shared: Sendable {
    let plan: Plan
    let target: Target
    let seedFiles: [File]
    let zeroChunks: ZeroChunks
    let maxChunkSize: Int
    let fetcher: ChunkFetcher
    let progress: ProgressCounter?
    let next: WorkCounter
    let missing = Locked<[ChunkID]>([])

    init(plan: Plan, target: Target, seedFiles: [File], maxChunkSize: Int, fetcher: ChunkFetcher, progress: ProgressCounter?) {
        (self.plan, self.target, self.seedFiles, self.maxChunkSize, self.fetcher, self.progress) =
            (plan, target, seedFiles, maxChunkSize, fetcher, progress)
        zeroChunks = ZeroChunks(digest: fetcher.digest)
        next = WorkCounter(count: plan.jobs.count)
    }

    /// One worker: takes jobs until none are left.
    func work() async throws -> ExtractSummary {
        var summary = ExtractSummary()
        let decompressor = ChunkDecompressor()
        while true {
            guard let number = next.take() else { return summary }
            try Task.checkCancellation()  // another worker failed
            let job = plan.jobs[number]
            try await produce(job, into: &summary, decompressor: decompressor)
            progress?.add(job.size * job.offsets.count)
        }
    }

    private func produce(_ job: Plan.Job, into summary: inout ExtractSummary, decompressor: ChunkDecompressor) async throws {
        let digest = fetcher.digest
        // Zero runs are cut into max-size chunks: known by ID, they are never fetched.
        if job.size == maxChunkSize, job.id == zeroChunks.id(length: job.size) {
            summary.zeroChunks += job.offsets.count
            if !target.isBlank { try zeroFill(job) }
            return
        }
        var pending = job.offsets
        var bytes: [UInt8]?
        if !target.isBlank {
            // In place: keep what is already right, and reuse it for the other offsets.
            pending = try job.offsets.filter { offset in
                let current = try target.file.read(exactly: job.size, at: offset)
                guard let current, digest.hash(current) == job.id else { return true }
                bytes = current
                return false
            }
            summary.alreadyInPlace += job.offsets.count - pending.count
            if pending.isEmpty { return }
        }
        if bytes == nil, let (seed, offset) = job.seed {
            let candidate = try seedFiles[seed].read(exactly: job.size, at: offset)
            if let candidate, digest.hash(candidate) == job.id {
                bytes = candidate
                summary.fromSeed += 1
                summary.bytesFromSeed += UInt64(job.size)
            } else {
                summary.invalidSeedChunks += 1
            }
        }
        if bytes == nil {
            bytes = try await fetcher.fetch(job.id, size: job.size, decompressor: decompressor)
            guard bytes != nil else {
                missing.withLock { $0.append(job.id) }
                return
            }
            summary.fromStore += 1
            summary.bytesFromStore += UInt64(job.size)
        }
        if target.isBlank, bytes!.withUnsafeBytes(ZeroChunks.isAllZero) {
            summary.zeroChunks += pending.count
            return
        }
        for offset in pending {
            try target.file.write(bytes!, at: offset)
            summary.bytesWritten += UInt64(job.size)
        }
    }

    /// Makes the chunk's ranges zero in an existing target: holes where the file system can.
    private func zeroFill(_ job: Plan.Job) throws {
        var zeros: [UInt8]?
        for offset in job.offsets {
            if let current = try target.file.read(exactly: job.size, at: offset),
                current.withUnsafeBytes(ZeroChunks.isAllZero)
            {
                continue
            }
            if !target.file.punchHole(at: offset, count: job.size) {
                zeros = zeros ?? [UInt8](repeating: 0, count: job.size)
                try target.file.write(zeros!, at: offset)
            }
        }
    }
}

extension ExtractSummary {
    fileprivate mutating func add(_ other: ExtractSummary) {
        fromStore += other.fromStore
        fromSeed += other.fromSeed
        bytesFromStore += other.bytesFromStore
        bytesFromSeed += other.bytesFromSeed
        alreadyInPlace += other.alreadyInPlace
        zeroChunks += other.zeroChunks
        invalidSeedChunks += other.invalidSeedChunks
        bytesWritten += other.bytesWritten
    }
}
