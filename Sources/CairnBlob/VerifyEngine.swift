import CairnCasync
import CairnIO
import CairnStores

/// The outcome of checking chunks in a store.
public struct VerifyReport: Sendable, Codable {
    public struct BadChunk: Sendable, Codable {
        public var id: String
        public var problem: String
    }
    public var checked = 0
    public var bad: [BadChunk] = []
    public var missing: [String] = []
    public var removed = 0

    public var isClean: Bool { bad.isEmpty && missing.isEmpty }
}

/// `verify`: every chunk decompresses and hashes to its ID. With indexes, the chunks they
/// reference (and any missing ones are reported); without, every chunk in the store.
public struct VerifyEngine: Sendable {
    public let store: any WritableChunkStore
    public let jobs: Int
    public let progress: ProgressCounter?

    public init(store: any WritableChunkStore, jobs: Int, progress: ProgressCounter? = nil) {
        (self.store, self.jobs, self.progress) = (store, jobs, progress)
    }

    /// - Parameters:
    ///   - indexes: restrict the check to their chunks; empty means the whole store.
    ///   - digest: for a whole-store check, the digest chunks are named with; nil tries both, as casync does.
    ///   - repair: remove chunks that fail.
    public func run(indexes: [BlobIndex], digest: DigestAlgorithm?, repair: Bool) async throws -> VerifyReport {
        struct Job: Sendable {
            let id: ChunkID
            let digests: [DigestAlgorithm]
        }
        let jobs: [Job]
        if indexes.isEmpty {
            let digests = digest.map { [$0] } ?? [.sha512_256, .sha256]
            jobs = try await store.list().map { Job(id: $0.id, digests: digests) }
        } else {
            var seen = Set<ChunkID>()
            jobs = indexes.flatMap { index in
                index.chunks.filter { seen.insert($0.id).inserted }.map { Job(id: $0.id, digests: [index.digest]) }
            }
        }
        progress?.setExpected(jobs.count)
        let report = Locked(VerifyReport())
        let next = WorkCounter(count: jobs.count)
        let store = self.store, progress = self.progress
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<Swift.max(1, Swift.min(Swift.max(self.jobs, store.concurrentRequests), jobs.count)) {
                group.addTask {
                    let decompressor = ChunkDecompressor()
                    while true {
                        guard let number = next.take() else { return }
                        let job = jobs[number]
                        defer { progress?.add(1) }
                        guard let stored = try await store.fetch(job.id) else {
                            report.withLock { $0.missing.append(job.id.hex) }
                            continue
                        }
                        var problem: String?
                        for digest in job.digests {
                            do {
                                _ = try ChunkFetcher.decode(stored, id: job.id, size: nil, digest: digest, decompressor: decompressor)
                                problem = nil
                                break
                            } catch {
                                problem = problem ?? "\(error)"
                            }
                        }
                        if let problem {
                            if repair { try await store.remove(job.id, isCompressed: stored.isCompressed) }
                            report.withLock {
                                $0.bad.append(.init(id: job.id.hex, problem: problem))
                                if repair { $0.removed += 1 }
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        return report.withLock {
            $0.checked = jobs.count
            $0.bad.sort { $0.id < $1.id }
            $0.missing.sort()
            return $0
        }
    }
}
