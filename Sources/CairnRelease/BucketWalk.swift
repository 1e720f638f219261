import CairnCasync
import CairnStores

/// The state of one ref's current build.
public struct RefStatus: Sendable, Codable {
    public var ref: String
    public var check: BuildCheck
}

/// Walks from the refs of a bucket to their builds: the basis of verify, repair and GC.
public struct BucketWalk: Sendable {
    public let bucket: any ObjectStore
    public let layout: BucketLayout

    public init(bucket: any ObjectStore, layout: BucketLayout) { (self.bucket, self.layout) = (bucket, layout) }

    /// Every ref with a `latest.json`, sorted.
    public func refs() async throws -> [String] {
        try await bucket.list(prefix: layout.refs).compactMap { object -> String? in
            let rest = object.key.dropFirst(layout.refs.count)
            guard rest.hasSuffix("/latest.json") else { return nil }
            let ref = rest.dropLast("/latest.json".count)
            return ref.contains("/") || ref.isEmpty ? nil : String(ref)
        }.sorted()
    }

    /// The chunks in the bucket.
    public func heldChunks() async throws -> Set<ChunkID> {
        Set(try await bucket.chunkStore(prefix: layout.chunks).list().map(\.id))
    }

    /// Checks each ref's current build is complete; `deep` also downloads its chunks, verifies
    /// each, and checks that they rebuild the image the manifest describes (its casync digest).
    public func verify(refs: [String], deep: Bool, jobs: Int) async throws -> [RefStatus] {
        let held = try await heldChunks()
        var statuses = [RefStatus]()
        for ref in refs {
            let pointer = try await Refs.current(ref, layout: layout, from: bucket)
            var check = try await BuildChecker.check(pointer.build, layout: layout, in: bucket, held: held)
            if deep { await BuildChecker.checkRebuild(&check, layout: layout, in: bucket, jobs: jobs) }
            statuses.append(RefStatus(ref: ref, check: check))
        }
        return statuses
    }
}
