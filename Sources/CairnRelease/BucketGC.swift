import CairnBlob
import CairnCasync
import CairnStores

/// What `bucket gc` removed, or would remove.
public struct BucketGCReport: Sendable, Codable {
    /// Builds some ref's last N builds reach.
    public var keptBuilds: [String] = []
    /// Older builds in a ref's history whose manifest is already gone (an earlier GC with a smaller --keep).
    public var vanishedBuilds: [String] = []
    /// Manifests, indexes and images of other builds, older than the grace period.
    public var removedObjects: [String] = []
    public var removedObjectBytes: UInt64 = 0
    /// Build objects no ref reaches but younger than the grace period (a publish in flight).
    public var youngObjects = 0
    /// Open multipart uploads and temporary files that interrupted writers left, older than the grace period.
    public var abandonedWrites = 0
    public var chunks: GCReport
    public var dryRun: Bool
}

/// Removes what no ref reaches: keeps each ref's last `keep` builds (its current one and those
/// its history names before it) with their manifests, indexes, images and chunks. Nothing
/// modified within the grace period is removed, and every index that young counts as a root, so
/// a publish that has uploaded its index keeps everything it needs. Just before removing, the
/// refs and young indexes are read again: if a publish or `refs set` changed them meanwhile,
/// nothing is removed. A ref's current build that cannot be read stops GC the same way.
public struct BucketGC: Sendable {
    public let walk: BucketWalk
    public let keep: Int
    /// Seconds.
    public let grace: Double

    public init(walk: BucketWalk, keep: Int, grace: Double) { (self.walk, self.keep, self.grace) = (walk, keep, grace) }

    /// The refs (with their ETags) and the young indexes: what must not change while GC removes.
    private struct Roots: Equatable {
        var refs: [String: String] = [:]
        var youngIndexes: Set<String> = []
    }

    public func run(dryRun: Bool, now: Double) async throws -> BucketGCReport {
        let bucket = walk.bucket, layout = walk.layout
        let cutoff = now - grace

        var roots = Roots()
        var kept = Set<String>(), vanished = Set<String>()
        var indexes = [BlobIndex]()
        for ref in try await walk.refs() {
            guard let (pointer, etag) = try await Refs.read(ref, layout: layout, from: bucket) else { continue }
            roots.refs[ref] = etag
            var builds = [String]()
            for build in [pointer.build] + pointer.history.map(\.build) where !builds.contains(build) && builds.count < keep {
                builds.append(build)
            }
            for build in builds where !kept.contains(build) && !vanished.contains(build) {
                guard let manifest = try await ComposeManifest.read(build, layout: layout, from: bucket) else {
                    // An older build an earlier GC removed is no loss; the current one is.
                    if build == pointer.build { throw ReleaseError.missing(key: layout.manifest(build), store: bucket.description) }
                    vanished.insert(build)
                    continue
                }
                kept.insert(build)
                indexes.append(try await manifest.index(from: bucket))
            }
        }
        let buildObjects = try await listBuildObjects()
        for object in buildObjects where object.isIndex && object.info.modified >= cutoff {
            roots.youngIndexes.insert(object.info.key)
            guard let bytes = try await bucket.get(object.info.key)?.bytes else { continue }
            do {
                indexes.append(try BlobIndex(decoding: bytes))
            } catch {
                throw ReleaseError.malformed(key: object.info.key, problem: "\(error); a young index may belong to a publish in flight, so nothing was removed")
            }
        }

        let chunks = bucket.chunkStore(prefix: layout.chunks)
        let (chunkReport, chunkVictims) = try await GarbageCollector(store: chunks, grace: grace).plan(indexes: indexes, now: now)
        var report = BucketGCReport(keptBuilds: kept.sorted(), vanishedBuilds: vanished.sorted(), chunks: chunkReport, dryRun: dryRun)
        var victims = [String]()
        for object in buildObjects where !kept.contains(object.build) {
            if object.info.modified >= cutoff {
                report.youngObjects += 1
            } else {
                victims.append(object.info.key)
                report.removedObjectBytes += object.info.size
            }
        }
        report.removedObjects = victims.sorted()
        if dryRun { return report }

        guard try await currentRoots(cutoff: cutoff) == roots else {
            throw ReleaseError.integrity("a ref or a young index in \(bucket) changed while GC was planning (a publish or refs set); nothing was removed, run it again")
        }
        try await chunks.remove(chunkVictims)
        try await bucket.delete(victims)
        report.chunks.dryRun = false
        report.chunks.temporaryFilesRemoved = try await chunks.removeTemporaryFiles(modifiedBefore: cutoff)
        report.abandonedWrites = try await bucket.removeAbandonedWrites(startedBefore: cutoff)
        return report
    }

    private func currentRoots(cutoff: Double) async throws -> Roots {
        var roots = Roots()
        for ref in try await walk.refs() {
            if let (_, etag) = try await Refs.read(ref, layout: walk.layout, from: walk.bucket) { roots.refs[ref] = etag }
        }
        for object in try await walk.bucket.list(prefix: walk.layout.indexes.directory)
        where object.modified >= cutoff && walk.layout.indexes.build(ofKey: object.key) != nil {
            roots.youngIndexes.insert(object.key)
        }
        return roots
    }

    /// Manifests, indexes and images, with the build each belongs to.
    private func listBuildObjects() async throws -> [(info: ObjectInfo, build: String, isIndex: Bool)] {
        let layout = walk.layout
        var found = [(info: ObjectInfo, build: String, isIndex: Bool)]()
        for kind in [layout.manifests, layout.indexes, layout.images] {
            for object in try await walk.bucket.list(prefix: kind.directory) {
                if let build = kind.build(ofKey: object.key) { found.append((object, build, kind == layout.indexes)) }
            }
        }
        return found
    }
}
