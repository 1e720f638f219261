import CairnBlob
import CairnCasync
import CairnStores

/// What `bucket gc` removed, or would remove.
public struct BucketGCReport: Sendable, Codable {
    /// Builds some ref's last N builds reach.
    public var keptBuilds: [String] = []
    /// Manifests, indexes and images of other builds, older than the grace period.
    public var removedObjects: [String] = []
    public var removedObjectBytes: UInt64 = 0
    /// Build objects no ref reaches but younger than the grace period (a publish in flight).
    public var youngObjects = 0
    public var chunks: GCReport
    public var dryRun: Bool
}

/// Removes what no ref reaches: keeps each ref's last `keep` builds (its current one and those
/// its history names before it) with their manifests, indexes, images and chunks. Nothing
/// modified within the grace period is removed, and every index that young counts as a root,
/// so a publish in flight (which uploads its chunks and index before it moves its ref) keeps
/// everything it needs. A kept build whose index cannot be read stops GC before anything is removed.
public struct BucketGC: Sendable {
    public let walk: BucketWalk
    public let keep: Int
    /// Seconds.
    public let grace: Double

    public init(walk: BucketWalk, keep: Int, grace: Double) { (self.walk, self.keep, self.grace) = (walk, keep, grace) }

    public func run(dryRun: Bool, now: Double) async throws -> BucketGCReport {
        let bucket = walk.bucket, layout = walk.layout
        let cutoff = now - grace

        var kept = Set<String>()
        for ref in try await walk.refs() {
            guard let (pointer, _) = try await Refs.read(ref, layout: layout, from: bucket) else { continue }
            var builds = [String]()
            for entry in [pointer.build] + pointer.history.map(\.build) where !builds.contains(entry) && builds.count < keep {
                builds.append(entry)
            }
            kept.formUnion(builds)
        }

        // Roots: the kept builds' indexes (checked against their manifests) and any young index.
        var roots = [BlobIndex]()
        for build in kept.sorted() {
            let key = layout.manifest(build)
            guard let object = try await bucket.get(key) else { throw ReleaseError.missing(key: key, store: bucket.description) }
            roots.append(try await ComposeManifest(decoding: object.bytes, key: key).index(from: bucket))
        }
        let buildObjects = try await listBuildObjects()
        for object in buildObjects where object.isIndex && object.info.modified >= cutoff {
            guard let bytes = try await bucket.get(object.info.key)?.bytes else { continue }
            do {
                roots.append(try BlobIndex(decoding: bytes))
            } catch {
                throw ReleaseError.malformed(key: object.info.key, problem: "\(error); a young index may belong to a publish in flight, so nothing was removed")
            }
        }

        var report = BucketGCReport(
            keptBuilds: kept.sorted(),
            chunks: try await GarbageCollector(store: bucket.chunkStore(prefix: layout.chunks), grace: grace).run(indexes: roots, dryRun: dryRun, now: now),
            dryRun: dryRun)
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
        if !dryRun { try await bucket.delete(victims) }
        return report
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
