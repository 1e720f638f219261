import CairnCasync
import CairnStores

/// What `gc` removed, or would remove.
public struct GCReport: Sendable, Codable {
    public var referenced = 0
    public var kept = 0
    public var removed = 0
    public var removedBytes: UInt64 = 0
    /// Unreferenced chunks spared because they are younger than the grace period.
    public var tooYoung = 0
    public var temporaryFilesRemoved = 0
    public var dryRun = false
}

/// `gc`: removes chunks no given index references. A chunk modified within the grace period is
/// kept whatever the indexes say: it may belong to a `make` that has not written its index yet
/// (make refreshes the time of every chunk it reuses, so this holds for old chunks too).
public struct GarbageCollector: Sendable {
    public let store: any WritableChunkStore
    /// Seconds.
    public let grace: Double

    public init(store: any WritableChunkStore, grace: Double) {
        (self.store, self.grace) = (store, grace)
    }

    public func run(indexes: [BlobIndex], dryRun: Bool, now: Double) async throws -> GCReport {
        var (report, victims) = try await plan(indexes: indexes, now: now)
        report.dryRun = dryRun
        if !dryRun { try await store.remove(victims) }
        if !dryRun { report.temporaryFilesRemoved = try await store.removeTemporaryFiles(modifiedBefore: now - grace) }
        return report
    }

    /// What `run` would remove, without removing it.
    public func plan(indexes: [BlobIndex], now: Double) async throws -> (report: GCReport, victims: [ChunkListing]) {
        var referenced = Set<ChunkID>()
        for index in indexes { for chunk in index.chunks { referenced.insert(chunk.id) } }
        var report = GCReport(referenced: referenced.count, dryRun: true)
        let cutoff = now - grace
        var victims = [ChunkListing]()
        for listing in try await store.list() {
            if referenced.contains(listing.id) {
                report.kept += 1
            } else if listing.modified >= cutoff {
                report.tooYoung += 1
                report.kept += 1
            } else {
                victims.append(listing)
                report.removed += 1
                report.removedBytes += listing.size
            }
        }
        return (report, victims)
    }
}
